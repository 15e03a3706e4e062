//! What a package holds: the bundle under /usr/lib/containers/atomic/NAME,
//! the unit, the tmpfiles file and the host files, as payload entries
//! checked against the layering rules.

use super::rules::{self, Placement};
use crate::host::fs::Rooted;
use crate::render::bundle::{self, HostKind};
use crate::render::exports::TEMPLATE_LIMIT;
use anyhow::{anyhow, Context, Result};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where a package puts the bundle of container `name`.
pub fn bundle_dir(name: &str) -> PathBuf {
    Path::new("/usr/lib/containers/atomic").join(name)
}

/// The name of owner `id` in `table`: the image's name when it is a plain
/// one, else `root` for 0 and the id itself for others.
fn name_of(table: &BTreeMap<u32, String>, id: u32) -> String {
    match table.get(&id).filter(|n| valid_owner(n)) {
        Some(n) => n.clone(),
        None if id == 0 => "root".into(),
        None => id.to_string(),
    }
}

/// Whether an image's user or group name can go into a package as it is
/// (the characters of useradd's names); any other is written as its id.
fn valid_owner(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// User and group names of an image's owners, from its /etc/passwd and
/// /etc/group (rpm payloads carry names, not ids).
struct Owners {
    users: BTreeMap<u32, String>,
    groups: BTreeMap<u32, String>,
}

impl Owners {
    /// Reads the tables through a handle on the rootfs, so an image's
    /// `/etc/passwd` that is a link resolves inside the image.
    fn read(rootfs: &Path) -> Result<Owners> {
        let root = Rooted::open(rootfs)?;
        let table = |file: &str| -> Result<BTreeMap<u32, String>> {
            let text = root
                .read(Path::new(file), TEMPLATE_LIMIT)?
                .unwrap_or_default();
            Ok(String::from_utf8_lossy(&text)
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    Some((f.get(2)?.parse().ok()?, f[0].to_string()))
                })
                .collect())
        };
        Ok(Owners {
            users: table("etc/passwd")?,
            groups: table("etc/group")?,
        })
    }
    fn user(&self, uid: u32) -> String {
        name_of(&self.users, uid)
    }
    fn group(&self, gid: u32) -> String {
        name_of(&self.groups, gid)
    }
}

/// Where a payload file's bytes come from.
pub enum Content {
    /// A file on disk, with its modification time and its (device, inode):
    /// the image's paths that share an inode become one hard-link set.
    Path {
        path: PathBuf,
        mtime: u32,
        inode: (u64, u64),
    },
    Bytes(Vec<u8>),
}

impl Content {
    fn path(path: &Path, meta: &std::fs::Metadata) -> Content {
        Content::Path {
            path: path.to_path_buf(),
            mtime: u32::try_from(meta.mtime()).unwrap_or(0),
            inode: (meta.dev(), meta.ino()),
        }
    }
}

pub enum Kind {
    Dir,
    File(Content),
    Symlink(String),
}

/// One payload entry, as both outputs (the package, the spec) write it.
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub user: String,
    pub group: String,
    /// The numeric owner, for the cpio payload (rpm itself goes by name).
    pub ids: (u32, u32),
    pub config: bool,
}

impl Entry {
    fn new(path: impl Into<String>, kind: Kind, mode: u32) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode: mode & 0o7777,
            user: "root".into(),
            group: "root".into(),
            ids: (0, 0),
            config: false,
        }
    }
}

/// The payload of container `name`: the bundle under
/// /usr/lib/containers/atomic/NAME, the unit, the tmpfiles file and the host
/// files, checked against the layering rules.
pub fn payload(rootfs: &Path, rendered: &bundle::Rendered, name: &str) -> Result<Vec<Entry>> {
    let dest = bundle_dir(name);
    let owners = Owners::read(rootfs)?;
    // Root's alone, as the checkout root of a plain install: no user
    // reaches the image's setuid files through it.
    let mut out = vec![Entry::new(dest.display().to_string(), Kind::Dir, 0o700)];
    if let Some(c) = &rendered.config {
        let p = dest.join("config.json").display().to_string();
        out.push(Entry::new(
            p,
            Kind::File(Content::Bytes(c.clone().into_bytes())),
            0o644,
        ));
    }
    add_tree(&mut out, rootfs, &dest.join("rootfs"), &owners)?;
    if let Some(unit) = &rendered.unit {
        let p = format!("/usr/lib/systemd/system/{name}.service");
        out.push(Entry::new(
            p,
            Kind::File(Content::Bytes(unit.clone().into_bytes())),
            0o644,
        ));
    }
    let mut tmpfiles = rendered.tmpfiles.clone().unwrap_or_default();
    for line in tmpfiles.lines() {
        rules::check_tmpfiles_line(line)?;
    }
    for f in &rendered.host_files {
        let is_dir = matches!(f.kind, HostKind::Dir);
        if is_dir && rules::is_system_dir(&f.path) {
            continue;
        }
        let path = f.path.display().to_string();
        match rules::place(&f.path, is_dir, f.mode, "root", "root")? {
            Placement::Tmpfiles(line) => {
                tmpfiles.push_str(&line);
                tmpfiles.push('\n');
            }
            Placement::Payload => {
                let kind = match &f.kind {
                    HostKind::Dir => Kind::Dir,
                    HostKind::File(data) => Kind::File(Content::Bytes(data.clone())),
                    HostKind::Link(src) => {
                        let meta = std::fs::metadata(src)
                            .with_context(|| format!("reading {}", src.display()))?;
                        Kind::File(Content::path(src, &meta))
                    }
                    HostKind::Symlink(t) => Kind::Symlink(t.display().to_string()),
                };
                let mut e = Entry::new(path, kind, f.mode);
                e.config = f.path.starts_with("/etc") && matches!(e.kind, Kind::File(_));
                out.push(e);
            }
        }
    }
    if !tmpfiles.is_empty() {
        let p = format!("/usr/lib/tmpfiles.d/{name}.conf");
        out.push(Entry::new(
            p,
            Kind::File(Content::Bytes(tmpfiles.into_bytes())),
            0o644,
        ));
    }
    Ok(out)
}

/// Adds the tree at `src` under `dest`, keeping modes, owners, symlinks and
/// empty directories.
fn add_tree(out: &mut Vec<Entry>, src: &Path, dest: &Path, owners: &Owners) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(src).with_context(|| format!("reading {}", src.display()))?;
    let kind = if meta.is_dir() {
        Kind::Dir
    } else if meta.file_type().is_symlink() {
        Kind::Symlink(std::fs::read_link(src)?.display().to_string())
    } else if meta.is_file() {
        Kind::File(Content::path(src, &meta))
    } else {
        return Err(anyhow!(
            "{}: not a file, directory or symlink",
            src.display()
        ));
    };
    let mut e = Entry::new(dest.display().to_string(), kind, meta.mode());
    e.user = owners.user(meta.uid());
    e.group = owners.group(meta.gid());
    e.ids = (meta.uid(), meta.gid());
    let is_dir = matches!(e.kind, Kind::Dir);
    out.push(e);
    if is_dir {
        let mut entries: Vec<_> = std::fs::read_dir(src)?.collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for child in entries {
            add_tree(out, &child.path(), &dest.join(child.file_name()), owners)?;
        }
    }
    Ok(())
}
