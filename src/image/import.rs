//! Streams one layer into OSTree: blob -> digest -> decompressor -> digest ->
//! tar filter -> content objects and a tree, committed only when both the
//! blob digest and the diff_id match. No temporary copy, no whole layer in
//! memory.

use super::targuard::TarGuard;
use crate::host::hashing::Hashing;
use anyhow::{anyhow, bail, Context, Result};
use ostree::gio;
use ostree::glib;
use ostree::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// What a layer import wrote.
#[derive(Debug)]
pub struct Imported {
    /// The layer's commit checksum.
    pub commit: String,
    /// Bytes of the blob as shipped.
    pub size: u64,
    /// Bytes of the uncompressed tar.
    pub uncompressed_size: u64,
    /// Entries skipped (device nodes, fifos, sockets), by path.
    pub skipped: Vec<String>,
    /// Files stored without their setuid/setgid bits or file capabilities
    /// (see [`import_layer`]'s `unprivileged`), by path.
    pub stripped: Vec<String>,
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// The compression a layer media type announces; other types are refused.
pub fn compression_of(media_type: &str) -> Result<Compression> {
    Ok(match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Compression::None,
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => Compression::Gzip,
        "application/vnd.oci.image.layer.v1.tar+zstd" => Compression::Zstd,
        other => bail!("unsupported layer media type {other}"),
    })
}

/// Metadata of a layer commit, and how to check it.
pub struct LayerSpec<'a> {
    pub digest: &'a str,
    pub diff_id: &'a str,
    pub media_type: &'a str,
}

/// Chunks of decompressed layer bytes handed from the decompressing
/// thread to the importing one.
const CHUNK: usize = 256 * 1024;
const CHUNKS_IN_FLIGHT: usize = 8;

/// The digests and sizes of a fully read layer: (blob, tar).
type Digests = ((String, u64), (String, u64));

/// Decompresses `blob` and hashes both streams, sending the tar bytes on.
fn decompress(
    blob: impl Read,
    compression: Compression,
    tx: &SyncSender<std::io::Result<Vec<u8>>>,
) -> std::io::Result<Digests> {
    let mut outer = Hashing::new(blob);
    let inner_digest = {
        let buffered = BufReader::with_capacity(CHUNK, &mut outer);
        let decompressed: Box<dyn Read> = match compression {
            Compression::None => Box::new(buffered),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Compression::Zstd => Box::new(zstd::Decoder::with_buffer(buffered)?),
        };
        let mut inner = Hashing::new(decompressed);
        loop {
            let mut chunk = vec![0; CHUNK];
            let mut filled = 0;
            while filled < CHUNK {
                match inner.read(&mut chunk[filled..])? {
                    0 => break,
                    n => filled += n,
                }
            }
            if filled == 0 {
                break;
            }
            chunk.truncate(filled);
            if tx.send(Ok(chunk)).is_err() {
                // The importer stopped (it found a bad entry): no digest needed.
                return Err(std::io::Error::other("import stopped"));
            }
        }
        inner.finish()?
    };
    Ok((outer.finish()?, inner_digest))
}

/// Reads the chunks the decompressing thread sends.
struct Chunks {
    rx: Receiver<std::io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.current = chunk?;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Imports the layer read from `blob` into `repo` (inside the caller's
/// transaction) and returns its commit; fails, having set no ref, when the
/// blob or its tar does not match its digests or the tar is hostile.
///
/// Decompression and both digests run on a second thread while this one
/// parses the tar and writes objects, so the two halves overlap.
///
/// With `unprivileged`, files are stored without setuid/setgid bits and
/// file capabilities, as a `bare-user-only` repository stores them: for a
/// repository whose objects other users can reach, where an image's
/// setuid-root file would be anyone's way to root.
pub fn import_layer(
    repo: &ostree::Repo,
    blob: impl Read + Send,
    spec: &LayerSpec,
    unprivileged: bool,
) -> Result<Imported> {
    let compression = compression_of(spec.media_type)?;
    let (tx, rx) = sync_channel(CHUNKS_IN_FLIGHT);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let r = decompress(blob, compression, &tx);
            if let Err(e) = &r {
                let _ = tx.send(Err(std::io::Error::new(e.kind(), e.to_string())));
            }
            r
        });
        let mut chunks = Chunks {
            rx,
            current: Vec::new(),
            pos: 0,
        };
        let mut writer = TreeWriter::new(repo, unprivileged)?;
        let parsed = (|| -> Result<()> {
            let mut archive = tar::Archive::new(TarGuard::new(&mut chunks));
            for entry in archive.entries().context("reading the layer tar")? {
                let entry = entry.context("reading the layer tar")?;
                writer.add(entry)?;
            }
            std::io::copy(&mut chunks, &mut std::io::sink()).context("reading the layer tar")?;
            Ok(())
        })();
        drop(chunks);
        let digests = producer
            .join()
            .map_err(|_| anyhow!("the decompressing thread panicked"))?;
        parsed?;
        let ((digest, size), (uncompressed_digest, uncompressed_size)) =
            digests.context("reading the layer blob")?;
        if digest != spec.digest {
            bail!(
                "blob does not match its digest: expected {}, got {digest}",
                spec.digest
            );
        }
        if uncompressed_digest != spec.diff_id {
            bail!(
                "uncompressed layer does not match its diff_id: expected {}, got {uncompressed_digest}",
                spec.diff_id
            );
        }
        let commit = writer.commit(spec, size, uncompressed_size)?;
        Ok(Imported {
            commit,
            size,
            uncompressed_size,
            skipped: writer.skipped,
            stripped: writer.stripped,
        })
    })
}

/// The extended attributes of a layer entry that a checkout keeps, as
/// libostree's `a(ayay)` (names with their terminating NUL): only
/// `security.capability`, so that a binary given file capabilities in its
/// image (`ping`) keeps them. SELinux labels and other namespaces are the
/// host's business, not the image's.
fn kept_xattrs<R: Read>(entry: &mut tar::Entry<R>, shown: &str) -> Result<Option<glib::Variant>> {
    const KEPT: &[u8] = b"SCHILY.xattr.security.capability";
    let Some(pax) = entry.pax_extensions().context("reading the PAX header")? else {
        return Ok(None);
    };
    let mut kept = Vec::new();
    for ext in pax {
        let ext = ext.context("reading the PAX header")?;
        if ext.key_bytes() == KEPT {
            let value = ext.value_bytes();
            if !is_capability_set(value) {
                bail!(
                    "entry {shown}: security.capability is not a capability set ({} bytes)",
                    value.len()
                );
            }
            let name = b"security.capability\0".to_vec();
            kept.push((name, value.to_vec()));
        }
    }
    Ok((!kept.is_empty()).then(|| kept.to_variant()))
}

/// Whether `v` is a `vfs_cap_data` the kernel takes: revision 1 (12
/// bytes), 2 (20) or 3 (24, with a root id), little-endian.
fn is_capability_set(v: &[u8]) -> bool {
    let Some(magic) = v.get(..4) else {
        return false;
    };
    let revision = u32::from_le_bytes(magic.try_into().expect("four bytes")) & 0xff00_0000;
    matches!(
        (revision, v.len()),
        (0x0100_0000, 12) | (0x0200_0000, 20) | (0x0300_0000, 24)
    )
}

/// Normalises a tar member name to its components below the root, refusing
/// names that would leave it.
pub fn components(raw: &[u8]) -> Result<Vec<String>> {
    let name = std::str::from_utf8(raw).map_err(|_| anyhow!("entry name {raw:?} is not UTF-8"))?;
    if name.chars().any(char::is_control) {
        bail!("entry {name:?} has a control character in its name");
    }
    if name.len() > PATH_MAX {
        bail!(
            "entry {:?}... has a name of {} bytes, longer than PATH_MAX ({PATH_MAX})",
            name.chars().take(64).collect::<String>(),
            name.len()
        );
    }
    if name.starts_with('/') {
        bail!("entry {name} has an absolute path");
    }
    let mut out = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => bail!("entry {name} leaves the image root"),
            c => out.push(c.to_string()),
        }
    }
    if out.len() > DEPTH_MAX {
        bail!(
            "entry {:?}... is {} directories deep, more than {DEPTH_MAX}",
            name.chars().take(64).collect::<String>(),
            out.len()
        );
    }
    Ok(out)
}

/// The longest entry name or link target taken, in bytes (Linux's
/// PATH_MAX): a path no program on the host could open.
pub const PATH_MAX: usize = 4096;

/// The deepest entry taken, in path components: far beyond any real
/// image, and shallow enough that nothing that walks a tree recursively
/// (libostree's checkout, a copy) runs out of stack.
pub const DEPTH_MAX: usize = 256;

/// Builds a layer's tree in a `MutableTree` while writing content objects.
struct TreeWriter<'r> {
    repo: &'r ostree::Repo,
    root: ostree::MutableTree,
    dirmeta: HashMap<(u32, u32, u32), String>,
    /// Content object headers by owner and mode (no xattrs).
    headers: HashMap<(u32, u32, u32), Vec<u8>>,
    skipped: Vec<String>,
    /// Store files without setuid/setgid bits and capabilities.
    unprivileged: bool,
    stripped: Vec<String>,
    buf: Vec<u8>,
}

/// The header libostree puts before a regular file's bytes in a content
/// object stream: the length-prefixed, 8-byte aligned `(uuuusa(ayay))`
/// variant of uid, gid and mode (big-endian), rdev 0, no link target and no
/// xattrs. A content object's checksum is the SHA-256 of header and bytes.
fn content_header(uid: u32, gid: u32, mode: u32) -> Vec<u8> {
    let xattrs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let v = (uid.to_be(), gid.to_be(), mode.to_be(), 0u32, "", xattrs).to_variant();
    let data = v.data();
    let len = u32::try_from(data.len()).expect("a small header");
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(data);
    out
}

const NONE: Option<&gio::Cancellable> = None;
/// Files up to this size are read whole and checksummed here (SHA-256 with
/// the CPU's instructions) before libostree writes them as trusted: its own
/// checksum is GLib's portable SHA-256, most of an import's time. Larger
/// files stream through libostree, which checksums them itself.
const BUFFERED_MAX: u64 = 16 * 1024 * 1024;
/// The read buffer for files streamed through libostree.
const CHUNK_MAX: usize = 64 * 1024;

impl<'r> TreeWriter<'r> {
    fn new(repo: &'r ostree::Repo, unprivileged: bool) -> Result<Self> {
        let mut w = TreeWriter {
            repo,
            root: ostree::MutableTree::new(),
            dirmeta: HashMap::new(),
            headers: HashMap::new(),
            skipped: Vec::new(),
            unprivileged,
            stripped: Vec::new(),
            buf: vec![0; CHUNK_MAX],
        };
        let meta = w.dirmeta(0, 0, 0o755)?;
        w.root.set_metadata_checksum(&meta);
        Ok(w)
    }

    fn dirmeta(&mut self, uid: u32, gid: u32, mode: u32) -> Result<String> {
        if let Some(c) = self.dirmeta.get(&(uid, gid, mode)) {
            return Ok(c.clone());
        }
        let info = gio::FileInfo::new();
        info.set_attribute_uint32("unix::uid", uid);
        info.set_attribute_uint32("unix::gid", gid);
        info.set_attribute_uint32("unix::mode", 0o040000 | mode);
        let v = ostree::create_directory_metadata(&info, None);
        let c = self
            .repo
            .write_metadata(ostree::ObjectType::DirMeta, None, &v, NONE)?
            .to_hex();
        self.dirmeta.insert((uid, gid, mode), c.clone());
        Ok(c)
    }

    /// The directory holding `path`, created (root-owned, 0755) as needed;
    /// refuses to go through anything that is not a directory.
    fn parent(&mut self, path: &[String]) -> Result<ostree::MutableTree> {
        let mut dir = self.root.clone();
        for (i, c) in path[..path.len() - 1].iter().enumerate() {
            dir = match dir.lookup(c) {
                Ok((Some(_), _)) => bail!(
                    "entry {} goes through {}, which is not a directory",
                    path.join("/"),
                    path[..=i].join("/")
                ),
                Ok((None, Some(sub))) => sub,
                _ => {
                    let sub = dir.ensure_dir(c)?;
                    let meta = self.dirmeta(0, 0, 0o755)?;
                    sub.set_metadata_checksum(&meta);
                    sub
                }
            };
        }
        Ok(dir)
    }

    fn add<R: Read>(&mut self, mut entry: tar::Entry<R>) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let path = components(&raw)?;
        let shown = path.join("/");
        let h = entry.header();
        let uid = h.uid()? as u32;
        let gid = h.gid()? as u32;
        let mode = h.mode()? & 0o7777;
        let kind = h.entry_type();
        if path.is_empty() {
            if kind.is_dir() {
                let meta = self.dirmeta(uid, gid, mode)?;
                self.root.set_metadata_checksum(&meta);
            }
            return Ok(());
        }
        let name = path.last().unwrap().clone();
        use tar::EntryType as E;
        match kind {
            E::Directory => {
                let parent = self.parent(&path)?;
                if let Ok((Some(_), _)) = parent.lookup(&name) {
                    parent.remove(&name, false)?;
                }
                let dir = parent.ensure_dir(&name)?;
                let meta = self.dirmeta(uid, gid, mode)?;
                dir.set_metadata_checksum(&meta);
            }
            E::Regular | E::Continuous => {
                let parent = self.parent(&path)?;
                let size = entry.size();
                let mut xattrs = kept_xattrs(&mut entry, &shown)?;
                let mut mode = mode;
                if self.unprivileged && (mode & 0o6000 != 0 || xattrs.is_some()) {
                    mode &= !0o6000;
                    xattrs = None;
                    self.stripped.push(shown.clone());
                }
                // Files with xattrs are rare (an image's `ping`): libostree
                // checksums them, as it does the largest files.
                let checksum = if xattrs.is_none() && size <= BUFFERED_MAX {
                    self.write_buffered(&mut entry, uid, gid, 0o100000 | mode, size)?
                } else {
                    let w = self.repo.write_regfile(
                        None,
                        uid,
                        gid,
                        0o100000 | mode,
                        size,
                        xattrs.as_ref(),
                    )?;
                    let mut remaining = size;
                    while remaining > 0 {
                        let n = remaining.min(self.buf.len() as u64) as usize;
                        entry.read_exact(&mut self.buf[..n])?;
                        w.write_all(&self.buf[..n], NONE)?;
                        remaining -= n as u64;
                    }
                    w.finish(NONE)?.to_string()
                };
                replace(&parent, &name, &checksum)?;
            }
            E::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| anyhow!("symlink {shown} has no target"))?;
                let target = String::from_utf8(target.into_owned())
                    .map_err(|_| anyhow!("symlink {shown} has a non UTF-8 target"))?;
                if target.chars().any(char::is_control) || target.len() > PATH_MAX {
                    bail!(
                        "symlink {shown} has a target with a control character or longer than {PATH_MAX} bytes"
                    );
                }
                let parent = self.parent(&path)?;
                let checksum = self
                    .repo
                    .write_symlink(None, uid, gid, None, &target, NONE)?;
                replace(&parent, &name, &checksum)?;
            }
            E::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| anyhow!("hard link {shown} has no target"))?;
                let target = components(&target).with_context(|| format!("hard link {shown}"))?;
                let checksum = self.file_checksum(&target).ok_or_else(|| {
                    anyhow!(
                        "hard link {shown} points to {}, which is not a file earlier in the layer",
                        target.join("/")
                    )
                })?;
                let parent = self.parent(&path)?;
                replace(&parent, &name, &checksum)?;
            }
            E::Char | E::Block | E::Fifo => {
                self.skipped.push(shown);
            }
            E::XGlobalHeader | E::XHeader | E::GNULongName | E::GNULongLink => {}
            _ => self.skipped.push(shown),
        }
        Ok(())
    }

    /// Writes a regular file read whole from `entry` as a trusted content
    /// object, checksummed here, and returns its checksum.
    fn write_buffered(
        &mut self,
        entry: &mut impl Read,
        uid: u32,
        gid: u32,
        mode: u32,
        size: u64,
    ) -> Result<String> {
        let header = self
            .headers
            .entry((uid, gid, mode))
            .or_insert_with(|| content_header(uid, gid, mode));
        let mut object = Vec::with_capacity(header.len() + size as usize);
        object.extend_from_slice(header);
        let start = object.len();
        object.resize(start + size as usize, 0);
        entry.read_exact(&mut object[start..])?;
        let checksum = hex::encode(Sha256::digest(&object));
        let length = object.len() as u64;
        let input = gio::MemoryInputStream::from_bytes(&glib::Bytes::from_owned(object));
        self.repo
            .write_content_trusted(&checksum, &input, length, NONE)?;
        Ok(checksum)
    }

    /// The content checksum of a file (not a directory) already in the tree.
    fn file_checksum(&self, path: &[String]) -> Option<String> {
        let (last, dirs) = path.split_last()?;
        let mut dir = self.root.clone();
        for c in dirs {
            match dir.lookup(c) {
                Ok((None, Some(sub))) => dir = sub,
                _ => return None,
            }
        }
        match dir.lookup(last) {
            Ok((Some(checksum), None)) => Some(checksum.to_string()),
            _ => None,
        }
    }

    fn commit(&self, spec: &LayerSpec, size: u64, uncompressed_size: u64) -> Result<String> {
        let root = self.repo.write_mtree(&self.root, NONE)?;
        let root = root
            .downcast::<ostree::RepoFile>()
            .map_err(|_| anyhow!("write_mtree returned no RepoFile"))?;
        let meta = glib::VariantDict::new(None);
        meta.insert("layer.digest", spec.digest);
        meta.insert("layer.diff_id", spec.diff_id);
        meta.insert("layer.media_type", spec.media_type);
        // Integers as libostree keeps them in metadata (big-endian), so that
        // `ostree show` prints them right; both sizes, as the digests.
        meta.insert("layer.size", size.to_be());
        meta.insert("layer.uncompressed_size", uncompressed_size.to_be());
        meta.insert("layer.skipped", self.skipped.clone());
        let commit = self.repo.write_commit_with_time(
            None,
            Some(spec.digest),
            None,
            Some(&meta.end()),
            &root,
            0,
            NONE,
        )?;
        Ok(commit.to_string())
    }
}

/// Puts a file into `dir`, replacing a file or directory of that name.
fn replace(dir: &ostree::MutableTree, name: &str, checksum: &str) -> Result<()> {
    if let Ok((None, Some(_))) = dir.lookup(name) {
        dir.remove(name, false)?;
    }
    dir.replace_file(name, checksum)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_and_escapes_refused() {
        assert_eq!(components(b"./usr//bin/sh").unwrap(), ["usr", "bin", "sh"]);
        assert!(components(b"./").unwrap().is_empty());
        assert_eq!(
            components(b"../escape").unwrap_err().to_string(),
            "entry ../escape leaves the image root"
        );
        assert_eq!(
            components(b"a/../../b").unwrap_err().to_string(),
            "entry a/../../b leaves the image root"
        );
        assert_eq!(
            components(b"/etc/passwd").unwrap_err().to_string(),
            "entry /etc/passwd has an absolute path"
        );
    }

    #[test]
    fn buffered_files_get_the_checksum_libostree_computes() {
        let dir = tempfile::tempdir().unwrap();
        let repo = ostree::Repo::new_for_path(dir.path());
        repo.create(ostree::RepoMode::BareUser, NONE).unwrap();
        repo.prepare_transaction(NONE).unwrap();
        let big = vec![7u8; 70_000];
        let cases: [(u32, u32, u32, &[u8]); 4] = [
            (0, 0, 0o100644, b""),
            (0, 0, 0o100755, b"#!/bin/sh\necho hi\n"),
            (1000, 100, 0o104755, &big),
            (65534, 65534, 0o100600, b"secret"),
        ];
        let mut writer = TreeWriter::new(&repo, false).unwrap();
        for (uid, gid, mode, data) in cases {
            // Ours first, so that the object read back below is the one
            // written as trusted.
            let ours = writer
                .write_buffered(&mut &data[..], uid, gid, mode, data.len() as u64)
                .unwrap();
            let theirs = repo
                .write_regfile_inline(None, uid, gid, mode, None, data, NONE)
                .unwrap()
                .to_string();
            assert_eq!(ours, theirs, "uid {uid} gid {gid} mode {mode:o}");
            let (stream, info, _) = repo.load_file(&ours, NONE).unwrap();
            assert_eq!(info.size() as usize, data.len());
            let mut back = Vec::new();
            stream.unwrap().into_read().read_to_end(&mut back).unwrap();
            assert_eq!(back, data);
        }
        repo.commit_transaction(NONE).unwrap();
    }

    #[test]
    fn media_types() {
        assert_eq!(
            compression_of("application/vnd.oci.image.layer.v1.tar+zstd").unwrap(),
            Compression::Zstd
        );
        assert_eq!(
            compression_of("application/vnd.oci.image.layer.v1.tar+bzip2")
                .unwrap_err()
                .to_string(),
            "unsupported layer media type application/vnd.oci.image.layer.v1.tar+bzip2"
        );
    }
}
