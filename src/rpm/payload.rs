//! What a package holds: the bundle under /usr/lib/containers/atomic/NAME,
//! the unit, the tmpfiles file and the host files, as payload entries
//! checked against the layering rules.

use super::rules::{self, Placement};
use crate::host::fs::Rooted;
use crate::render::bundle;
use crate::render::exports::TEMPLATE_LIMIT;
use crate::render::hostfs::HostKind;
use anyhow::{anyhow, bail, Context, Result};
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

pub enum EntryKind {
    Dir,
    File(Content),
    Symlink(String),
}

/// One payload entry, as both outputs (the package, the spec) write it.
pub struct Entry {
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub user: String,
    pub group: String,
    /// The numeric owner, for the cpio payload (rpm itself goes by name).
    pub ids: (u32, u32),
    /// File capabilities (`cap_net_raw=ep`), as `%caps` writes them.
    pub caps: Option<String>,
    pub config: bool,
}

impl Entry {
    fn new(path: impl Into<String>, kind: EntryKind, mode: u32) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode: mode & 0o7777,
            user: "root".into(),
            group: "root".into(),
            ids: (0, 0),
            caps: None,
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
    let mut out = vec![Entry::new(
        dest.display().to_string(),
        EntryKind::Dir,
        0o700,
    )];
    if let Some(c) = &rendered.config {
        let p = dest.join("config.json").display().to_string();
        out.push(Entry::new(
            p,
            EntryKind::File(Content::Bytes(c.clone().into_bytes())),
            0o644,
        ));
    }
    add_tree(&mut out, rootfs, &dest.join("rootfs"), &owners)?;
    for (unit, suffix) in [(&rendered.unit, "service"), (&rendered.socket, "socket")] {
        if let Some(unit) = unit {
            let p = format!("/usr/lib/systemd/system/{name}.{suffix}");
            out.push(Entry::new(
                p,
                EntryKind::File(Content::Bytes(unit.clone().into_bytes())),
                0o644,
            ));
        }
    }
    let mut tmpfiles = rendered.tmpfiles.clone().unwrap_or_default();
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
                    HostKind::Dir => EntryKind::Dir,
                    HostKind::File(data) => EntryKind::File(Content::Bytes(data.clone())),
                    HostKind::Link(src) => {
                        let meta = std::fs::metadata(src)
                            .with_context(|| format!("reading {}", src.display()))?;
                        EntryKind::File(Content::path(src, &meta))
                    }
                    HostKind::Symlink(t) => EntryKind::Symlink(t.display().to_string()),
                };
                let mut e = Entry::new(path, kind, f.mode);
                e.config = f.path.starts_with("/etc") && matches!(e.kind, EntryKind::File(_));
                out.push(e);
            }
        }
    }
    // The file as the package ships it is what is checked, not the template.
    for line in tmpfiles.lines() {
        rules::check_tmpfiles_line(line)?;
    }
    if !tmpfiles.is_empty() {
        let p = format!("/usr/lib/tmpfiles.d/{name}.conf");
        out.push(Entry::new(
            p,
            EntryKind::File(Content::Bytes(tmpfiles.into_bytes())),
            0o644,
        ));
    }
    Ok(out)
}

/// The file capabilities of `file` (its `security.capability`), in the
/// text form of `%caps`; None when it has none.
fn file_caps(file: &Path) -> Result<Option<String>> {
    let mut raw = [0u8; 64];
    match rustix::fs::lgetxattr(file, "security.capability", &mut raw) {
        Ok(n) => caps_text(&raw[..n])
            .map(Some)
            .with_context(|| format!("{}: security.capability", file.display())),
        Err(rustix::io::Errno::NODATA) | Err(rustix::io::Errno::NOTSUP) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading the capabilities of {}", file.display())),
    }
}

/// `vfs_cap_data` (revision 1, 2 or 3; little-endian) as `%caps` text:
/// `cap_net_raw=ep`, with inheritable ones as `cap_x+i`.
fn caps_text(raw: &[u8]) -> Result<String> {
    let word = |i: usize| -> Result<u32> {
        raw.get(i * 4..i * 4 + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("four bytes")))
            .ok_or_else(|| anyhow!("{} bytes, too short for its revision", raw.len()))
    };
    let magic = word(0)?;
    let sets = match magic & 0xff00_0000 {
        0x0100_0000 => 1,
        0x0200_0000 | 0x0300_0000 => 2,
        other => bail!("unknown revision {:#x}", other >> 24),
    };
    let (mut permitted, mut inheritable) = (0u64, 0u64);
    for s in 0..sets {
        permitted |= u64::from(word(1 + 2 * s)?) << (32 * s);
        inheritable |= u64::from(word(2 + 2 * s)?) << (32 * s);
    }
    let names = |mask: u64| -> Result<String> {
        (0..64)
            .filter(|b| mask & (1 << b) != 0)
            .map(|b| {
                crate::render::config::ALL_CAPS
                    .get(b)
                    .map(|c| c.to_lowercase())
                    .ok_or_else(|| anyhow!("unknown capability {b}"))
            })
            .collect::<Result<Vec<_>>>()
            .map(|v| v.join(","))
    };
    let mut clauses = Vec::new();
    if permitted != 0 {
        let flags = if magic & 1 != 0 { "ep" } else { "p" };
        clauses.push(format!("{}={flags}", names(permitted)?));
    }
    if inheritable != 0 {
        clauses.push(format!("{}+i", names(inheritable)?));
    }
    Ok(clauses.join(" "))
}

/// Adds the tree at `src` under `dest`, keeping modes, owners, symlinks and
/// empty directories.
fn add_tree(out: &mut Vec<Entry>, src: &Path, dest: &Path, owners: &Owners) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(src).with_context(|| format!("reading {}", src.display()))?;
    let kind = if meta.is_dir() {
        EntryKind::Dir
    } else if meta.file_type().is_symlink() {
        EntryKind::Symlink(std::fs::read_link(src)?.display().to_string())
    } else if meta.is_file() {
        EntryKind::File(Content::path(src, &meta))
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
    if meta.is_file() {
        e.caps = file_caps(src)?;
    }
    let is_dir = matches!(e.kind, EntryKind::Dir);
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

#[cfg(test)]
mod tests {
    use super::caps_text;

    fn raw(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn file_capabilities_read_as_caps_text() {
        // Revision 2, effective: CAP_NET_RAW (13) and CAP_BPF (39, word 2).
        assert_eq!(
            caps_text(&raw(&[0x0200_0001, 1 << 13, 0, 1 << 7, 0])).unwrap(),
            "cap_net_raw,cap_bpf=ep"
        );
        // Revision 1, not effective, one inheritable.
        assert_eq!(
            caps_text(&raw(&[0x0100_0000, 1 << 10, 1 << 5])).unwrap(),
            "cap_net_bind_service=p cap_kill+i"
        );
        // Revision 3 (a namespaced root id after the sets).
        assert_eq!(
            caps_text(&raw(&[0x0300_0001, 1, 0, 0, 0, 1000])).unwrap(),
            "cap_chown=ep"
        );
        assert!(caps_text(&raw(&[0x0400_0000, 0, 0]))
            .unwrap_err()
            .to_string()
            .contains("unknown revision"));
        assert!(caps_text(&raw(&[0x0200_0001, 1]))
            .unwrap_err()
            .to_string()
            .contains("too short"));
        assert!(caps_text(&raw(&[0x0200_0001, 0, 0, 1 << 30, 0]))
            .unwrap_err()
            .to_string()
            .contains("unknown capability 62"));
    }
}
