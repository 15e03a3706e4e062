//! Writes an RPM file whose payload streams from disk to disk. The `rpm`
//! crate lays out the header from the files' metadata (added with empty
//! contents); this module writes the cpio payload through zstd into a scratch
//! file, completes the header with the file digests and sizes and the payload
//! digests, and writes lead, signature, header and payload.
//!
//! rpm 0.30's `PackageBuilder::build` compresses the whole payload into a
//! `Vec` and returns it in the `Package`, so a 200 MB image cost the size of
//! its compressed payload in memory; here memory does not grow with it.

use crate::host::hashing::Hashing;
use anyhow::{bail, Context, Result};
use rpm::{
    FileFlags, Header, HeaderEntry, IndexData, IndexSignatureTag, IndexTag, PackageMetadata,
    RpmFormat, SignatureHeaderBuilder,
};
use std::collections::HashMap;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Where a regular file's bytes come from.
pub enum FileData<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

/// The file arrays of a header, indexed like the header's own.
#[derive(Default)]
struct Files {
    paths: Vec<String>,
    modes: Vec<u16>,
    mtimes: Vec<u32>,
    inodes: Vec<u32>,
    flags: Vec<u32>,
    linktos: Vec<String>,
    sizes: Vec<u32>,
    digests: Vec<String>,
}

const S_IFMT: u16 = 0o170000;
const S_IFREG: u16 = 0o100000;
const S_IFLNK: u16 = 0o120000;

impl Files {
    fn read(h: &Header<IndexTag>) -> Result<Files> {
        if !h.entry_is_present(IndexTag::RPMTAG_BASENAMES) {
            return Ok(Files::default());
        }
        let strings = |t| -> Result<Vec<String>> {
            Ok(h.get_entry_data_as_string_array(t)?
                .into_iter()
                .map(str::to_string)
                .collect())
        };
        let dirs = h.get_entry_data_as_string_array(IndexTag::RPMTAG_DIRNAMES)?;
        let paths = h
            .get_entry_data_as_u32_array(IndexTag::RPMTAG_DIRINDEXES)?
            .into_iter()
            .zip(h.get_entry_data_as_string_array(IndexTag::RPMTAG_BASENAMES)?)
            .map(|(d, base)| format!("{}{base}", dirs[d as usize]))
            .collect();
        Ok(Files {
            paths,
            modes: h.get_entry_data_as_u16_array(IndexTag::RPMTAG_FILEMODES)?,
            mtimes: h.get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEMTIMES)?,
            inodes: h.get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEINODES)?,
            flags: h.get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEFLAGS)?,
            linktos: strings(IndexTag::RPMTAG_FILELINKTOS)?,
            sizes: h.get_entry_data_as_u32_array(IndexTag::RPMTAG_FILESIZES)?,
            digests: strings(IndexTag::RPMTAG_FILEDIGESTS)?,
        })
    }

    fn is_regular(&self, i: usize) -> bool {
        self.modes[i] & S_IFMT == S_IFREG
    }
}

/// Writes one SVR4 "new ascii" cpio header with its name.
/// What a cpio member header says besides its name.
struct Member {
    ino: u32,
    mode: u32,
    /// Numeric owner and group.
    ids: (u32, u32),
    nlink: u32,
    mtime: u32,
    size: u32,
}

fn cpio_header(w: &mut impl Write, name: &str, m: &Member) -> io::Result<()> {
    let mut h = String::with_capacity(112 + name.len());
    h.push_str("070701");
    let (uid, gid) = m.ids;
    for field in [
        m.ino, m.mode, uid, gid, m.nlink, m.mtime, m.size, 0, 0, 0, 0,
    ] {
        h.push_str(&format!("{field:08x}"));
    }
    h.push_str(&format!("{:08x}{:08x}", name.len() + 1, 0));
    h.push_str(name);
    h.push('\0');
    w.write_all(h.as_bytes())?;
    pad(w, h.len() as u64)
}

fn pad(w: &mut impl Write, len: u64) -> io::Result<()> {
    w.write_all(&[0; 3][..((4 - len % 4) % 4) as usize])
}

/// What streaming the payload learnt: the header's file sizes and digests
/// with the regular files' filled in, the installed size, and the payload's
/// digests.
struct Streamed {
    sizes: Vec<u32>,
    digests: Vec<String>,
    installed: u64,
    archive_sha256: String,
    /// Bytes of the uncompressed cpio archive.
    archive_len: u64,
    payload_sha256: String,
    payload_len: u64,
}

/// Writes the cpio payload of `files` through zstd at `level` into `out`:
/// in header order, hard-link members last with the bytes on the last one,
/// as rpmbuild orders them.
fn stream_payload(
    files: &Files,
    contents: &HashMap<&str, FileData>,
    ids: &HashMap<&str, (u32, u32)>,
    level: i32,
    out: &mut std::fs::File,
) -> Result<Streamed> {
    let mut links: HashMap<u32, Vec<usize>> = HashMap::new();
    for i in (0..files.paths.len()).filter(|&i| files.is_regular(i)) {
        links.entry(files.inodes[i]).or_default().push(i);
    }
    let linked = |i: usize| files.is_regular(i) && links[&files.inodes[i]].len() > 1;
    let live = |i: &usize| files.flags[*i] & FileFlags::GHOST.bits() == 0;
    let order: Vec<usize> = (0..files.paths.len())
        .filter(|&i| !linked(i))
        .chain((0..files.paths.len()).filter(|&i| linked(i)))
        .filter(live)
        .collect();

    let compressed = Hashing::new(BufWriter::with_capacity(1 << 20, out));
    let mut archive = Hashing::new(zstd::Encoder::new(compressed, level)?);
    let mut sizes = files.sizes.clone();
    let mut digests = files.digests.clone();
    let mut installed = 0;
    for i in order {
        let path = &files.paths[i];
        let name = format!(".{path}");
        let mode = files.modes[i];
        let mut member = Member {
            ino: files.inodes[i],
            mode: mode.into(),
            ids: ids.get(path.as_str()).copied().unwrap_or((0, 0)),
            nlink: 1,
            mtime: files.mtimes[i],
            size: 0,
        };
        if mode & S_IFMT == S_IFLNK {
            let target = files.linktos[i].as_bytes();
            member.size = len32(path, target.len() as u64)?;
            cpio_header(&mut archive, &name, &member)?;
            archive.write_all(target)?;
            pad(&mut archive, target.len() as u64)?;
            continue;
        }
        if mode & S_IFMT != S_IFREG {
            cpio_header(&mut archive, &name, &member)?;
            continue;
        }
        // The members of a hard-link set before the last carry no bytes;
        // the last one is read once for all of them.
        let set = &links[&member.ino];
        member.nlink = set.len() as u32;
        if set.last() != Some(&i) {
            cpio_header(&mut archive, &name, &member)?;
            continue;
        }
        let source = contents
            .get(path.as_str())
            .with_context(|| format!("{path}: no contents to package"))?;
        let (reader, size): (Box<dyn Read>, u64) = match source {
            FileData::File(p) => {
                let f =
                    std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
                let size = f.metadata()?.len();
                (Box::new(f), size)
            }
            FileData::Bytes(b) => (Box::new(*b), b.len() as u64),
        };
        let size32 = len32(path, size)?;
        member.size = size32;
        cpio_header(&mut archive, &name, &member)?;
        let mut reader = Hashing::new(reader);
        let copied = io::copy(&mut reader, &mut archive)
            .with_context(|| format!("packaging the contents of {path}"))?;
        if copied != size {
            bail!("{path}: changed while it was packaged ({size} bytes, then {copied})");
        }
        pad(&mut archive, size)?;
        installed += size;
        let (_, digest, _) = reader.into_parts();
        for &member in set {
            sizes[member] = size32;
            digests[member] = digest.clone();
        }
    }
    let trailer = Member {
        ino: 0,
        mode: 0,
        ids: (0, 0),
        nlink: 1,
        mtime: 0,
        size: 0,
    };
    cpio_header(&mut archive, "TRAILER!!!", &trailer)?;
    let (encoder, archive_sha256, archive_len) = archive.into_parts();
    let (mut w, payload_sha256, payload_len) = encoder.finish()?.into_parts();
    w.flush()?;
    Ok(Streamed {
        sizes,
        digests,
        installed,
        archive_sha256,
        archive_len,
        payload_sha256,
        payload_len,
    })
}

/// A size as the 32-bit fields this writer emits hold it.
fn len32(path: &str, size: u64) -> Result<u32> {
    u32::try_from(size).with_context(|| {
        format!("{path}: {size} bytes; files of 4 GiB and more are not supported in packages")
    })
}

/// The header `h` with the streamed sizes and digests put in.
fn complete(h: &Header<IndexTag>, st: &Streamed) -> Result<Header<IndexTag>> {
    let total = u64::from(h.get_entry_data_as_u32(IndexTag::RPMTAG_SIZE)?) + st.installed;
    let total = u32::try_from(total)
        .with_context(|| format!("{total} bytes: packages of 4 GiB and more are not supported"))?;
    let region = IndexTag::RPMTAG_HEADERIMMUTABLE as u32;
    let entries = h
        .get_all_entries()?
        .into_iter()
        .filter(|(tag, _)| *tag != region)
        .map(|(tag, data)| {
            let is = |t: IndexTag| tag == t as u32;
            let data = if is(IndexTag::RPMTAG_FILESIZES) {
                IndexData::Int32(st.sizes.clone())
            } else if is(IndexTag::RPMTAG_FILEDIGESTS) {
                IndexData::StringArray(st.digests.clone())
            } else if is(IndexTag::RPMTAG_SIZE) {
                IndexData::Int32(vec![total])
            } else if is(IndexTag::RPMTAG_PAYLOADSHA256) {
                IndexData::StringArray(vec![st.payload_sha256.clone()])
            } else if is(IndexTag::RPMTAG_PAYLOADSHA256ALT) {
                IndexData::StringArray(vec![st.archive_sha256.clone()])
            } else {
                data
            };
            HeaderEntry::new(tag, data)
        });
    Ok(Header::from_entries(
        entries,
        IndexTag::RPMTAG_HEADERIMMUTABLE,
    ))
}

/// Builds `builder`, whose regular files were added with empty contents,
/// and writes the package to `file` with each regular file's bytes taken
/// from `contents` (by package path), its numeric owner in the cpio payload
/// from `ids` (root when absent), and the payload compressed with zstd at
/// `level`, the level `builder` was configured with. The file appears whole
/// or not at all.
pub fn write(
    mut builder: rpm::PackageBuilder,
    contents: &HashMap<&str, FileData>,
    ids: &HashMap<&str, (u32, u32)>,
    level: i32,
    file: &Path,
) -> Result<()> {
    let pkg = builder.build()?;
    let files = Files::read(&pkg.metadata.header)?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut scratch = tempfile::tempfile_in(dir)
        .with_context(|| format!("creating a scratch file in {}", dir.display()))?;
    let st = stream_payload(&files, contents, ids, level, &mut scratch)?;
    let header = complete(&pkg.metadata.header, &st)?;
    let mut metadata = PackageMetadata {
        lead: pkg.metadata.lead,
        signature: Header::new_empty(),
        header,
    };
    let header_bytes = metadata.header_bytes()?;
    let signature = SignatureHeaderBuilder::new()
        .format(RpmFormat::V4)
        .set_content_length(header_bytes.len() as u64 + st.payload_len)
        .calculate_digests(&header_bytes)
        .build()?;
    // The uncompressed payload's size, as rpmbuild records it: rpm2cpio
    // checks what it unpacks against it (and exits 1 without it).
    let region = IndexSignatureTag::HEADER_SIGNATURES as u32;
    let mut entries: Vec<HeaderEntry> = signature
        .get_all_entries()?
        .into_iter()
        .filter(|(tag, _)| *tag != region)
        .map(|(tag, data)| HeaderEntry::new(tag, data))
        .collect();
    entries.push(match u32::try_from(st.archive_len) {
        Ok(len) => HeaderEntry::new(
            IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE as u32,
            IndexData::Int32(vec![len]),
        ),
        Err(_) => HeaderEntry::new(
            IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE as u32,
            IndexData::Int64(vec![st.archive_len]),
        ),
    });
    metadata.signature = Header::from_entries(entries, IndexSignatureTag::HEADER_SIGNATURES);
    let mut out = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    {
        let mut w = BufWriter::new(out.as_file_mut());
        metadata.write(&mut w)?;
        w.flush()?;
    }
    scratch.rewind()?;
    io::copy(&mut scratch, out.as_file_mut())?;
    out.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    out.persist(file)
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(())
}
