//! File helpers every write to the host goes through (atomic replacement,
//! the symlink flip, content hashes), and [`Rooted`]: a directory handle
//! under which paths resolve as if it were `/` (`openat2` with
//! `RESOLVE_IN_ROOT`), so symlinks inside an image or a `--root` target
//! cannot lead out of it.

use anyhow::{bail, Context, Result};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Replaces `path` with `data` (mode `mode`) atomically and durably: a
/// temporary file beside it, flushed to disk, renamed over it, and the
/// directory flushed, so after a power loss `path` is the old file or the
/// new one, whole. The temporary file is created exclusively under a name
/// nobody can guess (`O_CREAT|O_EXCL`: a symlink planted beside the target
/// is never followed) and its mode set through its descriptor, never
/// through a path.
pub fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::io::Write as _;
    let mut tmp = temp_beside(path, mode)?;
    tmp.write_all(data)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    sync_parent(path)
}

/// A new, empty file of mode `mode` in the directory of `path`, created
/// exclusively, removed again if it is dropped before it is persisted.
/// Warns when that directory is writable by someone other than its owner
/// or owned by another user than this process's: they could move what is
/// written there.
pub fn temp_beside(path: &Path, mode: u32) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    warn_if_shared(dir);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file beside {}", path.display()))?;
    // The umask applied at creation; the mode asked for is set exactly.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", tmp.path().display()))?;
    Ok(tmp)
}

/// Warns when another user can rename entries of `dir` (it is theirs, or
/// group/other-writable without the sticky bit): a file written there
/// can be replaced by them once it is in place.
fn warn_if_shared(dir: &Path) {
    if let Ok(Some(owner)) = shared_with(dir) {
        tracing::warn!("{}: they can replace what is written there", owner);
    }
}

/// Who else can move entries of the directory `dir` (it is theirs, or
/// group/other-writable without the sticky bit), said as a sentence naming
/// it; None when only this process's user can.
fn shared_with(dir: &Path) -> Result<Option<String>> {
    use std::os::unix::fs::MetadataExt as _;
    let m =
        std::fs::symlink_metadata(dir).with_context(|| format!("looking at {}", dir.display()))?;
    let me = rustix::process::geteuid().as_raw();
    let open_to_others = m.mode() & 0o022 != 0 && m.mode() & 0o1000 == 0;
    Ok((m.uid() != me || open_to_others).then(|| {
        format!(
            "{} belongs to uid {} (mode {:o}) and another user could move what is written there",
            dir.display(),
            m.uid(),
            m.mode() & 0o7777
        )
    }))
}

/// Moves the file or symlink `path` to `backup` durably, whatever the
/// mounts: a rename where both are on one filesystem, otherwise a copy of
/// the same type, bytes, mode and owner flushed to disk before `path` is
/// removed (so a full disk fails the copy and leaves `path` untouched).
pub fn move_aside(path: &Path, backup: &Path) -> Result<()> {
    match std::fs::rename(path, backup) {
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            copy_entry(path, backup)?;
            std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        }
        r => r.with_context(|| format!("moving {} to {}", path.display(), backup.display()))?,
    }
    sync_parent(backup)?;
    sync_parent(path)
}

/// Puts `backup` back at `path` durably, whatever the mounts: a rename, or
/// a copy into a temporary file in `path`'s directory renamed over it. The
/// backup is left where it is after a copy; removing it is the caller's,
/// once every restore is done.
pub fn restore(backup: &Path, path: &Path) -> Result<()> {
    match std::fs::rename(backup, path) {
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => copy_entry(backup, path),
        r => {
            r.with_context(|| format!("putting {} back", path.display()))?;
            sync_parent(path)
        }
    }
}

/// Replaces `dst` with a copy of the file or symlink `src` (a symlink is
/// copied as a symlink; a file with its bytes, permission bits and owner),
/// made in `dst`'s directory and renamed over it, flushed.
fn copy_entry(src: &Path, dst: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let meta =
        std::fs::symlink_metadata(src).with_context(|| format!("reading {}", src.display()))?;
    if meta.file_type().is_symlink() {
        let target =
            std::fs::read_link(src).with_context(|| format!("reading {}", src.display()))?;
        let tmp = temp_beside(dst, 0o600)?.into_temp_path();
        let tmp_path = tmp.to_path_buf();
        // The name is ours: replace the placeholder file with the link.
        std::fs::remove_file(&tmp_path)
            .and_then(|()| std::os::unix::fs::symlink(&target, &tmp_path))
            .and_then(|()| std::fs::rename(&tmp_path, dst))
            .with_context(|| {
                format!("copying the symlink {} to {}", src.display(), dst.display())
            })?;
        std::mem::forget(tmp);
        return sync_parent(dst);
    }
    if !meta.file_type().is_file() {
        bail!(
            "{} is not a file or a symlink; not copying it",
            src.display()
        );
    }
    let mut from = open_nofollow(src)?;
    // Made 0600 and set to the owner before the mode: never, even for a
    // moment, a setuid file of root's with someone else's bytes.
    let mut tmp = temp_beside(dst, 0o600)?;
    std::io::copy(&mut from, &mut tmp)
        .and_then(|_| {
            rustix::fs::fchown(
                tmp.as_file(),
                Some(rustix::fs::Uid::from_raw(meta.uid())),
                Some(rustix::fs::Gid::from_raw(meta.gid())),
            )
            .map_err(std::io::Error::from)
        })
        // chown clears setuid/setgid bits: set the mode once more after it.
        .and_then(|()| {
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        })
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    tmp.persist(dst)
        .map_err(|e| e.error)
        .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    sync_parent(dst)
}

/// Puts a copy of the regular file `src` (not followed if it is a link)
/// at `dst` with mode `mode`: a new file beside `dst`, renamed over it.
pub fn copy_file(src: &Path, dst: &Path, mode: u32) -> Result<()> {
    let mut from = open_nofollow(src)?;
    let mut tmp = temp_beside(dst, mode)?;
    std::io::copy(&mut from, &mut tmp)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    tmp.persist(dst)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", dst.display()))?;
    sync_parent(dst)
}

/// Puts the file `src` at `dst` as a hard link (a copy when they are on
/// different filesystems): made under a new name beside `dst` and renamed
/// over it, so whatever is at `dst` (a link someone planted) is replaced,
/// never followed.
pub fn link_or_copy(src: &Path, dst: &Path, mode: u32) -> Result<()> {
    let tmp = temp_beside(dst, 0o600)?.into_temp_path();
    let at = tmp.to_path_buf();
    // The name is ours: the placeholder goes and the link takes its place.
    std::fs::remove_file(&at).with_context(|| format!("removing {}", at.display()))?;
    match std::fs::hard_link(src, &at) {
        Ok(()) => {
            std::fs::rename(&at, dst).with_context(|| format!("writing {}", dst.display()))?;
            std::mem::forget(tmp);
            sync_parent(dst)
        }
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            drop(tmp);
            copy_file(src, dst, mode)
        }
        Err(e) => Err(e).with_context(|| format!("linking {} to {}", dst.display(), src.display())),
    }
}

/// Creates the directory `path` with mode `mode` (set through its own
/// descriptor, not followed through a link put in its place).
pub fn make_dir(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .with_context(|| format!("creating {}", path.display()))?;
    let fd = rustix::fs::open(
        path,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening {}", path.display()))?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// Refuses a directory that root is about to write a host file into when
/// another user could move things in it: theirs, or writable by group or
/// others without the sticky bit. Such a user could put a link where root
/// then writes, or swap the directory itself.
pub fn check_not_shared(dir: &Path, what: &str) -> Result<()> {
    if std::fs::symlink_metadata(dir)
        .with_context(|| format!("looking at {}", dir.display()))?
        .file_type()
        .is_symlink()
    {
        bail!(
            "{what}: {} is a symlink; not writing through it",
            dir.display()
        );
    }
    if let Some(owner) = shared_with(dir)? {
        bail!(
            "{what}: {owner}; not writing into it as uid {}",
            rustix::process::geteuid().as_raw()
        );
    }
    Ok(())
}

/// Removes the tree `rel` under `root` without following a symlink on the
/// way to it (`RESOLVE_NO_SYMLINKS`) or inside it; true if it existed. A
/// path through a symlink is an error naming it.
pub fn remove_tree_beneath(root: &Path, rel: &Path) -> Result<bool> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        bail!("not removing {}: it is the root", root.display());
    };
    let shown = root.join(rel);
    let rootfd = rustix::fs::open(
        root,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening {}", root.display()))?;
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let dir = match rustix::fs::openat2(
        &rootfd,
        parent,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(false),
        Err(rustix::io::Errno::LOOP) => {
            bail!("not removing {}: a symlink is on its path", shown.display())
        }
        Err(e) => return Err(e).with_context(|| format!("opening {}", shown.display())),
    };
    match remove_at(&dir, name, 0) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {}", shown.display())),
    }
}

/// Removes `name` in `dir`, a directory recursively, following no link.
fn remove_at(dir: &OwnedFd, name: &std::ffi::OsStr, depth: usize) -> std::io::Result<()> {
    use rustix::fs::AtFlags;
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(rustix::io::Errno::ISDIR) | Err(rustix::io::Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    if depth > 1024 {
        return Err(std::io::Error::other(
            "a directory tree more than 1024 deep",
        ));
    }
    let sub = rustix::fs::openat(
        dir,
        name,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(&sub)? {
        let entry = entry?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(std::ffi::OsString::from_vec(n.to_vec()));
        }
    }
    for n in names {
        remove_at(&sub, &n, depth + 1)?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    Ok(())
}

/// Opens the file `path` for reading, refusing a symlink in its last
/// component (`O_NOFOLLOW`).
fn open_nofollow(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("reading {}", path.display()))
}

/// Flushes the directory holding `path`, so a rename or a new entry in it
/// survives a power loss.
pub fn sync_parent(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("flushing {}", dir.display()))
}

/// Points the symlink `path` at `target` atomically (new link + rename).
pub fn point_link(path: &Path, target: &Path) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.link",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    remove_file(&tmp)?;
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("switching {}", path.display()))?;
    sync_parent(path)
}

/// Creates the directory `path` (and its parents) if missing and makes it
/// reachable by root alone: what is below it (setuid files of images,
/// `--set` values) is no unprivileged user's business.
pub fn private_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// Removes the file or symlink `path`; true if it existed.
pub fn remove_file(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// Removes the directory tree `path`; true if it existed.
pub fn remove_tree(path: &Path) -> Result<bool> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// The text of the file at `path`, or None when there is none.
pub fn read_text_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Whether anything (a dangling symlink included) is at `path`.
pub fn exists(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("looking at {}", path.display())),
    }
}

/// The target of the symlink `path`, or None when nothing is there.
pub fn read_link(path: &Path) -> Result<Option<PathBuf>> {
    match std::fs::read_link(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading the link {}", path.display())),
    }
}

/// The SHA-256 (hex) of what is at `path`: a file's bytes, or for a
/// symlink the bytes of its target string (the link is never followed:
/// it may lead anywhere, `/dev/zero` included); None when nothing, or a
/// directory, is there. Anything else (a device, a FIFO, a socket) is
/// refused: it has no content to hash and reading it may never end.
pub fn sha256_file(path: &Path) -> Result<Option<String>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let ft = meta.file_type();
    if ft.is_dir() {
        return Ok(None);
    }
    if ft.is_symlink() {
        let target =
            std::fs::read_link(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok(Some(hex::encode(Sha256::digest(
            target.into_os_string().into_vec(),
        ))));
    }
    if !ft.is_file() {
        bail!(
            "{} is not a regular file, a symlink or a directory; not reading it",
            path.display()
        );
    }
    let mut f = open_nofollow(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Some(hex::encode(h.finalize())))
}

/// The first `name` on `PATH` that is a file.
pub fn which(name: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    // As execvp searches: a file nobody may execute is passed over.
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// A directory that paths are resolved under as if it were the root: `..`
/// stops at it and absolute symlinks start from it (an image's rootfs, a
/// `--root` target). The path is kept beside the handle for messages.
#[derive(Debug)]
pub struct Rooted {
    path: PathBuf,
    fd: OwnedFd,
}

impl Rooted {
    /// Opens the directory `path`.
    pub fn open(path: &Path) -> Result<Rooted> {
        let fd = rustix::fs::open(
            path,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("opening {}", path.display()))?;
        Ok(Rooted {
            path: path.to_path_buf(),
            fd,
        })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How `rel` (relative, or absolute inside this root) is shown in
    /// messages: as the full path on the host.
    pub fn display(&self, rel: &Path) -> String {
        self.path
            .join(rel.strip_prefix("/").unwrap_or(rel))
            .display()
            .to_string()
    }

    fn open_in(&self, rel: &Path, flags: OFlags) -> std::io::Result<OwnedFd> {
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        loop {
            match rustix::fs::openat2(
                &self.fd,
                rel,
                flags | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            ) {
                // A rename elsewhere raced the lookup: the kernel asks to retry.
                Err(rustix::io::Errno::AGAIN) => continue,
                Err(rustix::io::Errno::NOSYS) => {
                    return Err(std::io::Error::other(
                        "openat2 is not available: atomic needs Linux 5.6 or later",
                    ))
                }
                r => return r.map_err(std::io::Error::from),
            }
        }
    }

    /// Opens the directory `rel` inside this root, as a root of its own.
    pub fn open_dir(&self, rel: &Path) -> Result<Option<Rooted>> {
        match self.open_in(rel, OFlags::DIRECTORY | OFlags::RDONLY) {
            Ok(fd) => Ok(Some(Rooted {
                path: PathBuf::from(self.display(rel)),
                fd,
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("opening {}", self.display(rel))),
        }
    }

    /// The contents of the regular file `rel`, or None when it does not
    /// exist; a file over `limit` bytes, or anything but a regular file, is
    /// an error naming it.
    pub fn read(&self, rel: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
        let shown = || self.display(rel);
        let fd = match self.open_in(rel, OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK) {
            Ok(fd) => fd,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("opening {}", shown())),
        };
        let file = File::from(fd);
        let meta = file
            .metadata()
            .with_context(|| format!("reading {}", shown()))?;
        if !meta.is_file() {
            bail!("{} is not a regular file", shown());
        }
        if meta.len() > limit {
            bail!("{} is larger than {limit} bytes", shown());
        }
        let mut data = Vec::with_capacity(meta.len() as usize);
        file.take(limit + 1)
            .read_to_end(&mut data)
            .with_context(|| format!("reading {}", shown()))?;
        if data.len() as u64 > limit {
            bail!("{} is larger than {limit} bytes", shown());
        }
        Ok(Some(data))
    }

    /// Whether `rel` is a symlink that leads to nothing inside this root
    /// (dangling, or pointing out of it: `/dev/zero` in an image).
    pub fn is_dangling(&self, rel: &Path) -> Result<bool> {
        match self.open_in(rel, OFlags::PATH | OFlags::NOFOLLOW) {
            Ok(fd) => {
                let meta = File::from(fd)
                    .metadata()
                    .with_context(|| format!("reading {}", self.display(rel)))?;
                Ok(meta.file_type().is_symlink() && self.open_in(rel, OFlags::PATH).is_err())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("opening {}", self.display(rel))),
        }
    }

    /// Like [`Rooted::read`], as UTF-8 text.
    pub fn read_string(&self, rel: &Path, limit: u64) -> Result<Option<String>> {
        self.read(rel, limit)?
            .map(|d| {
                String::from_utf8(d)
                    .with_context(|| format!("{} is not UTF-8 text", self.display(rel)))
            })
            .transpose()
    }

    /// The entries of this directory, sorted by name, with their metadata
    /// (symlinks not followed).
    pub fn entries(&self) -> Result<Vec<(String, std::fs::Metadata)>> {
        let dir = rustix::fs::Dir::read_from(&self.fd)
            .with_context(|| format!("reading {}", self.path.display()))?;
        let mut out = Vec::new();
        for entry in dir {
            let entry = entry.with_context(|| format!("reading {}", self.path.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "." || name == ".." {
                continue;
            }
            let meta = rustix::fs::openat(
                &self.fd,
                entry.file_name(),
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(std::io::Error::from)
            .and_then(|fd| File::from(fd).metadata())
            .with_context(|| format!("reading {}", self.path.join(&name).display()))?;
            out.push((name, meta));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Where `rel` is on the host, every existing directory on its way
    /// resolved inside this root (a target's `/var/run -> /run` leads to the
    /// target's `/run`); the last component is not followed.
    pub fn resolve(&self, rel: &Path) -> Result<PathBuf> {
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        match rel.file_name() {
            Some(name) => Ok(self
                .resolve_dir(rel.parent().unwrap_or(Path::new("")))?
                .join(name)),
            None => Ok(self.path.clone()),
        }
    }

    /// Where the directory `rel` is on the host, every existing directory
    /// of it, the last one included, resolved inside this root.
    pub fn resolve_dir(&self, rel: &Path) -> Result<PathBuf> {
        let mut existing = rel.strip_prefix("/").unwrap_or(rel).to_path_buf();
        let mut missing = Vec::new();
        let dir = loop {
            // What is missing, or not a directory, is left as named: the
            // caller finds it so and says so.
            match self.open_in(&existing, OFlags::DIRECTORY | OFlags::RDONLY) {
                Ok(fd) => break fd,
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("opening {}", self.display(&existing)))
                }
            }
            match existing.file_name() {
                Some(c) => missing.push(c.to_owned()),
                None => bail!("{} does not exist", self.path.display()),
            }
            existing.pop();
        };
        let mut out =
            real_path(&dir).with_context(|| format!("resolving {}", self.display(&existing)))?;
        out.extend(missing.iter().rev());
        Ok(out)
    }

    /// The target of the symlink `name`, an entry of this directory.
    pub fn read_link(&self, name: &str) -> Result<PathBuf> {
        let target = rustix::fs::readlinkat(&self.fd, name, Vec::new())
            .with_context(|| format!("reading the link {}", self.path.join(name).display()))?;
        Ok(PathBuf::from(std::ffi::OsString::from_vec(
            target.into_bytes(),
        )))
    }

    /// Where the entry `name` of this directory really is on the host, with
    /// the links that led to this directory resolved.
    pub fn real_path(&self, name: &str) -> Result<PathBuf> {
        Ok(real_path(&self.fd)
            .with_context(|| format!("resolving {}", self.path.display()))?
            .join(name))
    }
}

/// The path of the directory `fd` is open on, as the kernel knows it.
fn real_path(fd: &OwnedFd) -> std::io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooted_reads_resolve_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("secret");
        std::fs::write(&outside, "host secret").unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/secret"), "image file").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../secret", root.join("etc/rel")).unwrap();
        let r = Rooted::open(&root).unwrap();
        // An absolute link to the host's file reads the image's file of that path, if any.
        let secret_in_root = outside.strip_prefix("/").unwrap();
        std::fs::create_dir_all(root.join(secret_in_root.parent().unwrap())).unwrap();
        std::fs::write(root.join(secret_in_root), "image copy").unwrap();
        assert_eq!(
            r.read(Path::new("abs"), 100).unwrap().unwrap(),
            b"image copy"
        );
        // `..` stops at the root.
        assert_eq!(r.read(Path::new("etc/rel"), 100).unwrap(), None);
        assert_eq!(
            r.read(Path::new("/etc/secret"), 100).unwrap().unwrap(),
            b"image file"
        );
        assert_eq!(r.read(Path::new("missing"), 100).unwrap(), None);
    }

    #[test]
    fn rooted_reads_refuse_special_and_large_files() {
        let t = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/zero", t.path().join("zero")).unwrap();
        std::fs::write(t.path().join("big"), vec![b'x'; 101]).unwrap();
        std::fs::create_dir(t.path().join("dir")).unwrap();
        let r = Rooted::open(t.path()).unwrap();
        // /dev/zero inside the root does not exist.
        assert_eq!(r.read(Path::new("zero"), 100).unwrap(), None);
        let err = r.read(Path::new("big"), 100).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}/big is larger than 100 bytes", t.path().display())
        );
        let err = r.read(Path::new("dir"), 100).unwrap_err().to_string();
        assert!(err.ends_with("/dir is not a regular file"), "{err}");
    }

    #[test]
    fn entries_do_not_follow_links() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("b"), "").unwrap();
        std::os::unix::fs::symlink("/etc", t.path().join("a")).unwrap();
        let r = Rooted::open(t.path()).unwrap();
        let e = r.entries().unwrap();
        assert_eq!(
            e.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(e[0].1.file_type().is_symlink());
        assert_eq!(r.read_link("a").unwrap(), Path::new("/etc"));
    }

    #[test]
    fn resolve_follows_directory_links_inside_the_root_only() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("run")).unwrap();
        std::fs::create_dir_all(root.join("var")).unwrap();
        std::os::unix::fs::symlink("/run", root.join("var/run")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("up")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("run/link")).unwrap();
        let r = Rooted::open(&root).unwrap();
        let real = std::fs::canonicalize(&root).unwrap();
        assert_eq!(
            r.resolve(Path::new("/var/run/x/y.conf")).unwrap(),
            real.join("run/x/y.conf")
        );
        assert_eq!(
            r.resolve(Path::new("/up/etc/shadow")).unwrap(),
            real.join("etc/shadow")
        );
        // The last component is the link itself, not its target.
        assert_eq!(
            r.resolve(Path::new("/run/link")).unwrap(),
            real.join("run/link")
        );
        assert_eq!(r.resolve(Path::new("/")).unwrap(), root);
        assert_eq!(
            r.resolve_dir(Path::new("/var/run")).unwrap(),
            real.join("run")
        );
        assert_eq!(
            r.resolve(Path::new("/var/run")).unwrap(),
            real.join("var/run")
        );
    }

    #[test]
    fn missing_things_are_none_not_errors() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("nothing");
        assert!(!exists(&p).unwrap());
        assert_eq!(read_link(&p).unwrap(), None);
        assert_eq!(sha256_file(&p).unwrap(), None);
        assert!(!remove_file(&p).unwrap());
        assert!(!remove_tree(&p).unwrap());
        std::fs::write(&p, "x").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap().unwrap(),
            "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
        );
    }
}
