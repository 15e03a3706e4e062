//! RPM mode: the deployment a plain install renders (bundle, unit, tmpfiles,
//! host files) written instead into a generated package that rpm-ostree,
//! dnf or rpm install and track, built in-process with the `rpm` crate.

pub mod rules;

use crate::bundle::{self, Fixed, HostKind};
use crate::exports::Manifest;
use crate::paths::HostPaths;
use crate::store::{Store, StoredImage};
use anyhow::{anyhow, bail, Context, Result};
use rules::Placement;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where a package puts the bundle of container `name`.
pub fn bundle_dir(name: &str) -> PathBuf {
    Path::new("/usr/lib/containers/atomic").join(name)
}

/// The package's identity and metadata, from the image labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub version: String,
    pub release: String,
    pub summary: String,
    pub license: String,
    pub url: Option<String>,
    pub description: String,
    pub requires: Vec<String>,
    pub conflicts: Vec<String>,
    pub provides: Vec<String>,
}

impl Identity {
    /// `atomic-container-NAME-V-R.noarch.rpm`.
    pub fn file_name(&self) -> String {
        format!("{}-{}-{}.noarch.rpm", self.name, self.version, self.release)
    }
}

/// Splits a dependency label (`a, b >= 1.0`) into checked entries.
fn deps(labels: &BTreeMap<String, String>, key: &str) -> Result<Vec<String>> {
    let Some(v) = labels.get(key) else {
        return Ok(Vec::new());
    };
    v.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            parse_dep(d)
                .map(|_| d.to_string())
                .with_context(|| format!("label {key}: invalid dependency {d:?}"))
        })
        .collect()
}

/// A dependency as the `rpm` crate takes it.
pub fn parse_dep(d: &str) -> Result<rpm::Dependency> {
    let words: Vec<&str> = d.split_whitespace().collect();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+-()/:".contains(c))
            && !n.starts_with(['-', '.'])
    };
    let version_ok = |v: &str| {
        !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+~:-^".contains(c))
    };
    match words.as_slice() {
        [n] if name_ok(n) => Ok(rpm::Dependency::any(*n)),
        [n, op, v] if name_ok(n) && version_ok(v) => Ok(match *op {
            "=" | "==" => rpm::Dependency::eq(*n, *v),
            ">=" => rpm::Dependency::greater_eq(*n, *v),
            ">" => rpm::Dependency::greater(*n, *v),
            "<=" => rpm::Dependency::less_eq(*n, *v),
            "<" => rpm::Dependency::less(*n, *v),
            other => bail!("unknown operator {other}"),
        }),
        _ => bail!("expected NAME or NAME OP VERSION"),
    }
}

/// The identity of the package of `name` from `img`, release `serial`.
pub fn identity(img: &StoredImage, name: &str, serial: u32) -> Result<Identity> {
    let labels = img.labels();
    let label = |k: &str| labels.get(k).filter(|v| !v.trim().is_empty()).cloned();
    let version = label("atomic.version")
        .or_else(|| label("org.opencontainers.image.version"))
        .unwrap_or_else(|| "1".into());
    if !version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._+~^".contains(c))
    {
        bail!("label atomic.version: {version:?} is not a valid RPM version");
    }
    let summary = label("atomic.summary").unwrap_or_else(|| format!("System container {name}"));
    let mut provides = deps(&labels, "atomic.provides")?;
    provides.push(format!("atomic-container({name})"));
    Ok(Identity {
        name: format!("atomic-container-{name}"),
        version,
        release: format!("{serial}.{}", &img.id[..12]),
        description: label("atomic.description").unwrap_or_else(|| summary.clone()),
        summary,
        license: label("atomic.license").unwrap_or_else(|| "Unknown".into()),
        url: label("atomic.url"),
        requires: deps(&labels, "atomic.requires")?,
        conflicts: deps(&labels, "atomic.conflicts")?,
        provides,
    })
}

/// The scriptlets of the package: reload and tmpfiles on install (what
/// rpm-ostree runs), stop+disable on erase and try-restart on upgrade (what
/// classic hosts run).
pub fn scriptlets(name: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "post",
            format!(
                "systemctl daemon-reload >/dev/null 2>&1 || :\n\
                 systemctl preset {name}.service >/dev/null 2>&1 || :\n\
                 systemd-tmpfiles --create /usr/lib/tmpfiles.d/{name}.conf >/dev/null 2>&1 || :\n"
            ),
        ),
        (
            "preun",
            format!(
                "if [ $1 -eq 0 ]; then\n\
                 systemctl --no-reload disable --now {name}.service >/dev/null 2>&1 || :\n\
                 fi\n"
            ),
        ),
        (
            "postun",
            format!(
                "systemctl daemon-reload >/dev/null 2>&1 || :\n\
                 if [ $1 -ge 1 ]; then\n\
                 systemctl try-restart {name}.service >/dev/null 2>&1 || :\n\
                 fi\n"
            ),
        ),
    ]
}

/// User and group names of an image's owners, from its /etc/passwd and
/// /etc/group (rpm payloads carry names, not ids).
struct Owners {
    users: BTreeMap<u32, String>,
    groups: BTreeMap<u32, String>,
}

impl Owners {
    fn read(rootfs: &Path) -> Owners {
        let table = |file: &str| -> BTreeMap<u32, String> {
            std::fs::read_to_string(rootfs.join(file))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    Some((f.get(2)?.parse().ok()?, f[0].to_string()))
                })
                .collect()
        };
        Owners {
            users: table("etc/passwd"),
            groups: table("etc/group"),
        }
    }
    fn user(&self, uid: u32) -> String {
        self.users.get(&uid).cloned().unwrap_or_else(|| {
            if uid == 0 {
                "root".into()
            } else {
                uid.to_string()
            }
        })
    }
    fn group(&self, gid: u32) -> String {
        self.groups.get(&gid).cloned().unwrap_or_else(|| {
            if gid == 0 {
                "root".into()
            } else {
                gid.to_string()
            }
        })
    }
}

/// What to package: the container's name, the release serial, the
/// `--set` values and the runtime its unit runs.
pub struct Request<'a> {
    pub name: &'a str,
    pub serial: u32,
    pub set: &'a [(String, String)],
    pub runtime: &'a str,
}

/// Builds the package of `req.name` from `img` and writes it into `output`.
pub fn build(
    paths: &HostPaths,
    store: &Store,
    img: &StoredImage,
    req: &Request,
    output: &Path,
) -> Result<(Identity, PathBuf)> {
    let Request {
        name,
        serial,
        set,
        runtime,
    } = *req;
    let id = identity(img, name, serial)?;
    let work = tempfile::Builder::new()
        .prefix(&format!(".{name}.rpm-"))
        .tempdir_in(paths.checkout_root())?;
    let rootfs = work.path().join("rootfs");
    store.checkout(img, &rootfs)?;
    let manifest = Manifest::load(&rootfs)?;
    let dest = bundle_dir(name);
    let values = bundle::values(
        &manifest,
        &BTreeMap::new(),
        set,
        &Fixed {
            name,
            destdir: &dest.display().to_string(),
            runtime,
            image_name: &img.name,
            image_id: &img.id,
        },
    )?;
    let rendered = bundle::render(&rootfs, &img.config, &manifest, &values)?;
    let owners = Owners::read(&rootfs);

    let mut b = rpm::PackageBuilder::new(&id.name, &id.version, &id.license, "noarch", &id.summary);
    b.release(id.release.clone())
        .description(id.description.clone())
        .packager("atomic")
        .group("System Environment/Daemons")
        .build_host(hostname());
    if let Some(u) = &id.url {
        b.url(u.clone());
    }
    for d in &id.requires {
        b.requires(parse_dep(d)?);
    }
    for d in &id.conflicts {
        b.conflicts(parse_dep(d)?);
    }
    for d in &id.provides {
        b.provides(parse_dep(d)?);
    }
    for (kind, body) in scriptlets(name) {
        rules::check_scriptlet(kind, "/bin/sh", &body)?;
        match kind {
            "post" => b.post_install_script(body),
            "preun" => b.pre_uninstall_script(body),
            _ => b.post_uninstall_script(body),
        };
    }
    let mut tmpfiles = rendered.tmpfiles.clone().unwrap_or_default();

    // The bundle: config.json and the rootfs, as in the image.
    b.with_dir_entry(rpm::FileOptions::dir(dest.display().to_string()).permissions(0o755))?;
    if let Some(c) = &rendered.config {
        let p = dest.join("config.json").display().to_string();
        b.with_file_contents(c.clone(), rpm::FileOptions::new(p).permissions(0o644))?;
    }
    add_tree(&mut b, &rootfs, &dest.join("rootfs"), &owners)?;
    if let Some(unit) = &rendered.unit {
        let p = format!("/usr/lib/systemd/system/{name}.service");
        b.with_file_contents(unit.clone(), rpm::FileOptions::new(p).permissions(0o644))?;
    }
    // Host files, under the layering rules.
    for f in &rendered.host_files {
        let (is_dir, mode) = (matches!(f.kind, HostKind::Dir), f.mode);
        if is_dir && rules::is_system_dir(&f.path) {
            continue;
        }
        let path = f.path.display().to_string();
        match rules::place(&f.path, is_dir, mode, "root", "root")? {
            Placement::Tmpfiles(line) => {
                tmpfiles.push_str(&line);
                tmpfiles.push('\n');
            }
            Placement::Payload => {
                let etc = f.path.starts_with("/etc");
                match &f.kind {
                    HostKind::Dir => {
                        b.with_dir_entry(rpm::FileOptions::dir(path).permissions(mode as u16))?;
                    }
                    HostKind::File(data) => {
                        let mut o = rpm::FileOptions::new(path).permissions(mode as u16);
                        if etc {
                            o = o.config().noreplace();
                        }
                        b.with_file_contents(data.clone(), o)?;
                    }
                    HostKind::Link(src) => {
                        let mut o = rpm::FileOptions::new(path).permissions(mode as u16);
                        if etc {
                            o = o.config().noreplace();
                        }
                        b.with_file(src, o)?;
                    }
                    HostKind::Symlink(t) => {
                        b.with_symlink(rpm::FileOptions::symlink(path, t.display().to_string()))?;
                    }
                }
            }
        }
    }
    if !tmpfiles.is_empty() {
        b.with_file_contents(
            tmpfiles,
            rpm::FileOptions::new(format!("/usr/lib/tmpfiles.d/{name}.conf")).permissions(0o644),
        )?;
    }
    let pkg = b
        .build()
        .with_context(|| format!("building {}", id.file_name()))?;
    std::fs::create_dir_all(output).with_context(|| format!("creating {}", output.display()))?;
    let file = output.join(id.file_name());
    pkg.write_file(&file)
        .with_context(|| format!("writing {}", file.display()))?;
    Ok((id, file))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Adds the tree at `src` to the payload under `dest`, keeping modes,
/// owners, symlinks and empty directories.
fn add_tree(b: &mut rpm::PackageBuilder, src: &Path, dest: &Path, owners: &Owners) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(src).with_context(|| format!("reading {}", src.display()))?;
    let path = dest.display().to_string();
    let perm = (meta.mode() & 0o7777) as u16;
    let (user, group) = (owners.user(meta.uid()), owners.group(meta.gid()));
    if meta.is_dir() {
        b.with_dir_entry(
            rpm::FileOptions::dir(path)
                .permissions(perm)
                .user(&user)
                .group(&group),
        )?;
        let mut entries: Vec<_> = std::fs::read_dir(src)?.collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            add_tree(b, &e.path(), &dest.join(e.file_name()), owners)?;
        }
    } else if meta.file_type().is_symlink() {
        let target = std::fs::read_link(src)?;
        b.with_symlink(
            rpm::FileOptions::symlink(path, target.display().to_string())
                .user(&user)
                .group(&group),
        )?;
    } else if meta.is_file() {
        b.with_file(
            src,
            rpm::FileOptions::new(path)
                .permissions(perm)
                .user(&user)
                .group(&group),
        )?;
    } else {
        return Err(anyhow!(
            "{}: not a file, directory or symlink",
            src.display()
        ));
    }
    Ok(())
}
