//! `--rpm=spec`: the spec file (rendered from `spec-templates/`) and its
//! source, a tar of the payload, so rpmbuild rebuilds the same package.

use super::payload::{Content, Kind};
use super::{scriptlets, Prepared};
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

/// A payload path as `%files` takes it, quoted: `%` doubled; quotes,
/// backslashes and glob characters, which `%files` would interpret, are
/// refused.
fn path(p: &str) -> Result<String> {
    if p.chars()
        .any(|c| c.is_control() || "\"\\*?[]{}".contains(c))
    {
        bail!("the file {p:?} cannot be named in a spec (it has a quote, a backslash, a glob or a control character); --rpm=build packages it");
    }
    Ok(p.replace('%', "%%"))
}

impl Prepared {
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
            text("the changelog", &what)?
        ))
    }

    /// Writes the spec (rendered from `template`) and its source, a tar of
    /// the payload, into `output`, so rpmbuild rebuilds the same package.
    pub fn write_spec(&self, template: &str, output: &Path) -> Result<PathBuf> {
        let id = &self.id;
        std::fs::create_dir_all(output)
            .with_context(|| format!("creating {}", output.display()))?;
        let source = format!("{}-payload.tar", self.name);
        let mut tar = tar::Builder::new(std::fs::File::create(output.join(&source))?);
        let mut files = String::new();
        for e in &self.entries {
            let rel = e.path.trim_start_matches('/');
            let mut h = tar::Header::new_gnu();
            h.set_mode(e.mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            match &e.kind {
                Kind::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    tar.append_data(&mut h, format!("{rel}/"), std::io::empty())?;
                }
                Kind::Symlink(t) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    tar.append_link(&mut h, rel, t)?;
                }
                Kind::File(Content::Path { path: p, .. }) => {
                    let f = std::fs::File::open(p)?;
                    h.set_size(f.metadata()?.len());
                    tar.append_data(&mut h, rel, f)?;
                }
                Kind::File(Content::Bytes(d)) => {
                    h.set_size(d.len() as u64);
                    tar.append_data(&mut h, rel, &d[..])?;
                }
            }
            let (user, group) = (
                text("a user name", &e.user)?,
                text("a group name", &e.group)?,
            );
            let attr = if matches!(e.kind, Kind::Symlink(_)) {
                format!("%attr(-,{user},{group})")
            } else {
                format!("%attr({:04o},{user},{group})", e.mode)
            };
            let prefix = match (&e.kind, e.config) {
                (Kind::Dir, _) => "%dir ",
                (_, true) => "%config(noreplace) ",
                _ => "",
            };
            files.push_str(&format!("{prefix}{attr} \"{}\"\n", path(&e.path)?));
        }
        tar.finish()?;
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
            scriptlets(&self.name)
                .into_iter()
                .find(|(kind, _)| *kind == k)
                .map(|(_, b)| b)
                .unwrap_or_default()
        };
        let spec = template
            .replace("@NAME@", &self.name)
            .replace("@VERSION@", &text("the version", &id.version)?)
            .replace("@RELEASE@", &text("the release", &id.release)?)
            .replace("@SUMMARY@", &text("the summary", &id.summary)?)
            .replace("@LICENSE@", &text("the license", &id.license)?)
            .replace(
                "@URL@",
                &text(
                    "the URL",
                    id.url
                        .as_deref()
                        .unwrap_or("https://github.com/projectatomic/atomic"),
                )?,
            )
            // Checked by parse_dep: no `%`, no control character.
            .replace("@DEPENDENCIES@", deps.trim_end())
            .replace("@DESCRIPTION@", &text("the description", &id.description)?)
            .replace("@POST@", script("post").trim_end())
            .replace("@PREUN@", script("preun").trim_end())
            .replace("@POSTUN@", script("postun").trim_end())
            .replace("@FILES@", files.trim_end())
            .replace("@CHANGELOG@", &self.spec_changelog()?);
        let file = output.join(format!("{}.spec", id.name));
        std::fs::write(&file, spec).with_context(|| format!("writing {}", file.display()))?;
        Ok(file)
    }
}
