//! `--rpm=spec`: the spec file (rendered from `spec-templates/`) and its
//! source, a tar of the payload, so rpmbuild rebuilds the same package.

use super::payload::{Content, EntryKind};
use super::{scriptlets, PreparedPackage};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The spec template `--rpm=spec` renders.
pub const SPEC_TEMPLATE: &str = include_str!("../../spec-templates/atomic-container.spec.in");

/// `value` as spec text: `%` doubled, so rpm expands nothing the image
/// chose (`%(cmd)`, `%{lua:...}`); a control character is refused.
fn text(what: &str, value: &str) -> Result<String> {
    if value.chars().any(char::is_control) {
        bail!("{what} {value:?} has a control character, which a spec cannot hold");
    }
    Ok(value.replace('%', "%%"))
}

/// `value` as the body of a section (`%description`, `%changelog`): as
/// [`text`], and no line may start with `%` once expanded, since rpm then
/// reads it as the start of another section and expands its options a
/// second time (`%files -f %{lua:...}`).
fn body(what: &str, value: &str) -> Result<String> {
    if value.lines().any(|l| l.trim_start().starts_with('%')) {
        bail!("{what} {value:?} has a line starting with %, which rpmbuild would read as a section of the spec; --rpm=build packages it");
    }
    text(what, value)
}

/// A payload path as `%files` takes it, quoted. `rpmbuild -bb` expands
/// `%files` lines twice (a doubled `%` is a single one the second time),
/// so no escaping keeps a `%` literal there: a path with one is refused,
/// as are quotes, backslashes and glob characters, which `%files` would
/// interpret, and control characters.
fn path(p: &str) -> Result<String> {
    if p.chars()
        .any(|c| c.is_control() || "%\"\\*?[]{}".contains(c))
    {
        bail!("the file {p:?} cannot be named in a spec (it has a %, a quote, a backslash, a glob or a control character, which rpmbuild would interpret); --rpm=build packages it");
    }
    Ok(p.to_string())
}

/// A user or group name as `%attr` in `%files` takes it: expanded twice
/// there too, so a `%` (or anything but a plain name) is refused.
fn owner(what: &str, name: &str) -> Result<String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        bail!("{what} {name:?} cannot be named in a spec's %attr; --rpm=build packages it");
    }
    Ok(name.to_string())
}

/// `template` with each `@KEY@` replaced by its value, in one pass: a
/// value that holds `@KEY@` itself is copied as it is, never filled in.
fn fill(template: &str, values: &[(&str, String)]) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let key = after
            .find('@')
            .map(|end| &after[..end])
            .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        match key {
            Some(k) => {
                let (_, v) = values
                    .iter()
                    .find(|(name, _)| *name == k)
                    .with_context(|| {
                        format!("the spec template names @{k}@, which has no value")
                    })?;
                out.push_str(v);
                rest = &after[k.len() + 1..];
            }
            None => {
                out.push('@');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

impl PreparedPackage {
    /// The `%changelog` of the spec: the same entry as the package's.
    fn spec_changelog(&self) -> Result<String> {
        const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let c = crate::host::clock::civil(self.built);
        let (who, what) = self.changelog();
        Ok(format!(
            "* {} {} {:02} {} {}\n{}",
            DAYS[c.weekday as usize],
            MONTHS[c.month as usize - 1],
            c.day,
            c.year,
            text("the changelog", &who)?,
            body("the changelog", &what)?
        ))
    }

    /// Writes the spec (rendered from `template`) and its source, a tar of
    /// the payload, into `output`, so rpmbuild rebuilds the same package.
    pub fn write_spec(&self, template: &str, output: &Path) -> Result<PathBuf> {
        let id = &self.id;
        std::fs::create_dir_all(output)
            .with_context(|| format!("creating {}", output.display()))?;
        let source = format!("{}-payload.tar", self.name);
        let source_path = output.join(&source);
        // Written as every output is: a new file of ours, renamed into place.
        let mut tar = tar::Builder::new(crate::host::fs::temp_beside(&source_path, 0o644)?);
        let mut files = String::new();
        for e in &self.entries {
            let rel = e.path.trim_start_matches('/');
            let mut h = tar::Header::new_gnu();
            h.set_mode(e.mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            match &e.kind {
                EntryKind::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    tar.append_data(&mut h, format!("{rel}/"), std::io::empty())?;
                }
                EntryKind::Symlink(t) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    tar.append_link(&mut h, rel, t)?;
                }
                EntryKind::File(Content::Path { path: p, .. }) => {
                    let f = std::fs::File::open(p)?;
                    h.set_size(f.metadata()?.len());
                    tar.append_data(&mut h, rel, f)?;
                }
                EntryKind::File(Content::Bytes(d)) => {
                    h.set_size(d.len() as u64);
                    tar.append_data(&mut h, rel, &d[..])?;
                }
            }
            let (user, group) = (
                owner("the user name", &e.user)?,
                owner("the group name", &e.group)?,
            );
            let attr = if matches!(e.kind, EntryKind::Symlink(_)) {
                format!("%attr(-,{user},{group})")
            } else {
                format!("%attr({:04o},{user},{group})", e.mode)
            };
            let prefix = match (&e.kind, e.config) {
                (EntryKind::Dir, _) => "%dir ",
                (_, true) => "%config(noreplace) ",
                _ => "",
            };
            files.push_str(&format!("{prefix}{attr} \"{}\"\n", path(&e.path)?));
        }
        let tmp = tar
            .into_inner()
            .with_context(|| format!("writing {}", source_path.display()))?;
        let mut deps = String::new();
        if self.entries.iter().any(|e| e.config) {
            // What rpmbuild's automatic dependencies add for %config files.
            for tag in ["Provides", "Requires"] {
                deps.push_str(&format!(
                    "{tag}: config({}) = {}-{}\n",
                    id.name, id.version, id.release
                ));
            }
        }
        for (tag, list) in [
            ("Requires", &id.requires),
            ("Conflicts", &id.conflicts),
            ("Provides", &id.provides),
        ] {
            for d in list.iter().filter(|d| !d.starts_with("atomic-container(")) {
                deps.push_str(&format!("{tag}: {d}\n"));
            }
        }
        let script = |k: &str| {
            scriptlets(&self.name, self.has_socket)
                .into_iter()
                .find(|(kind, _)| *kind == k)
                .map(|(_, b)| b)
                .unwrap_or_default()
        };
        let spec = fill(
            template,
            &[
                ("NAME", self.name.to_string()),
                ("VERSION", text("the version", &id.version)?),
                ("RELEASE", text("the release", &id.release)?),
                ("SUMMARY", text("the summary", &id.summary)?),
                ("LICENSE", text("the license", &id.license)?),
                (
                    "URL",
                    text(
                        "the URL",
                        id.url
                            .as_deref()
                            .unwrap_or("https://github.com/projectatomic/atomic"),
                    )?,
                ),
                // Checked by parse_dep: no `%`, no control character.
                ("DEPENDENCIES", deps.trim_end().to_string()),
                ("DESCRIPTION", body("the description", &id.description)?),
                ("POST", script("post").trim_end().to_string()),
                ("PREUN", script("preun").trim_end().to_string()),
                ("POSTUN", script("postun").trim_end().to_string()),
                ("FILES", files.trim_end().to_string()),
                ("CHANGELOG", self.spec_changelog()?),
            ],
        )?;
        // Both outputs only once the spec is whole: a refusal writes nothing.
        tmp.as_file()
            .sync_all()
            .with_context(|| format!("writing {}", source_path.display()))?;
        tmp.persist(&source_path)
            .map_err(|e| e.error)
            .with_context(|| format!("writing {}", source_path.display()))?;
        let file = output.join(format!("{}.spec", id.name));
        crate::host::fs::write_file(&file, spec.as_bytes(), 0o644)?;
        Ok(file)
    }
}
