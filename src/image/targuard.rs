//! Passes a tar stream through while reading its headers, so that an
//! extended header (PAX, GNU long name or link) larger than 1 MiB — which
//! the tar reader would otherwise buffer whole — is refused before it is
//! read (Go's archive/tar has the same limit).
//!
//! The guard and the tar reader behind it must agree on where every header
//! starts, or a header the guard takes for data is one the reader buffers
//! unbounded. So the guard follows the reader's rules (tar-rs: a header's
//! size counts for every entry type; extensions are recognised only in
//! ustar or GNU headers; PAX records are length-prefixed) and refuses
//! whatever it does not model: a header without ustar or GNU magic, a
//! link, directory or device with a size, GNU sparse files, an extension
//! right after a PAX header, a malformed PAX record or two `size` records.
//! [`TarGuard::entry_offsets`] lists the headers it saw, for the
//! differential check against the reader (`differential`).

use std::io::{self, Read};

/// The largest extended header accepted.
pub const EXTENSION_LIMIT: u64 = 1 << 20;

const BLOCK: usize = 512;

/// Where the stream is: in a header block, or in an entry's data.
enum State {
    /// `filled` bytes of the next header block have passed.
    Header { filled: usize },
    /// `left` bytes of data (and padding) remain; a PAX header's data (its
    /// `size` bytes, not the padding, as the tar reader reads it) is kept
    /// to read the size it gives the next entry.
    Data {
        left: u64,
        keep: Option<(Vec<u8>, usize)>,
    },
    /// Past the end-of-archive block: the tar reader reads no further.
    End,
}

pub struct TarGuard<R> {
    inner: R,
    header: [u8; BLOCK],
    state: State,
    /// Bytes passed so far.
    offset: u64,
    /// A PAX header was read; its size, if it gave one, is the next entry's.
    pax: Option<Option<u64>>,
    /// Offsets of the entry headers passed (extensions excluded).
    entries: Vec<u64>,
}

fn refuse<T>(why: String) -> io::Result<T> {
    Err(io::Error::new(io::ErrorKind::InvalidData, why))
}

impl<R> TarGuard<R> {
    pub fn new(inner: R) -> Self {
        TarGuard {
            inner,
            header: [0; BLOCK],
            state: State::Header { filled: 0 },
            offset: 0,
            pax: None,
            entries: Vec::new(),
        }
    }

    /// The offsets of the entry headers (not extension headers) that have
    /// passed, in order: where the tar reader must find its entries.
    pub fn entry_offsets(&self) -> &[u64] {
        &self.entries
    }

    /// Follows the bytes `data` that just passed.
    fn track(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match &mut self.state {
                State::End => return Ok(()),
                State::Header { filled } => {
                    let n = (BLOCK - *filled).min(data.len());
                    self.header[*filled..*filled + n].copy_from_slice(&data[..n]);
                    *filled += n;
                    data = &data[n..];
                    self.offset += n as u64;
                    if *filled == BLOCK {
                        self.state = self.next_state()?;
                    }
                }
                State::Data { left, keep } => {
                    let n = (*left).min(data.len() as u64) as usize;
                    if let Some((k, size)) = keep {
                        let take = n.min(*size - k.len());
                        k.extend_from_slice(&data[..take]);
                    }
                    *left -= n as u64;
                    data = &data[n..];
                    self.offset += n as u64;
                    if *left == 0 {
                        if let Some((k, _)) = keep.take() {
                            self.pax = Some(pax_size(&k)?);
                        }
                        self.state = State::Header { filled: 0 };
                    }
                }
            }
        }
        Ok(())
    }

    /// What follows the header block just read (at `offset - BLOCK`).
    fn next_state(&mut self) -> io::Result<State> {
        let at = self.offset - BLOCK as u64;
        let h = &self.header;
        // tar-rs ends the archive at the first zero block.
        if h.iter().all(|&b| b == 0) {
            return Ok(State::End);
        }
        let magic = &h[257..265];
        if magic != b"ustar\x0000" && magic != b"ustar  \0" {
            return refuse(format!(
                "the tar header at byte {at} is neither ustar nor GNU; not reading it"
            ));
        }
        let kind = h[156];
        let size = parse_size(&h[124..136]).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the tar header at byte {at} has an invalid size"),
            )
        })?;
        // Extensions the tar reader buffers; a global PAX header (`g`) it
        // yields as an entry of its own, and skips.
        let extension = matches!(kind, b'x' | b'g' | b'L' | b'K');
        let yielded = !matches!(kind, b'x' | b'L' | b'K');
        if kind == b'S' {
            return refuse(format!(
                "the tar entry at byte {at} is a GNU sparse file, which is not taken"
            ));
        }
        let pax = self.pax.take();
        if extension && size > EXTENSION_LIMIT {
            return refuse(format!(
                "an extended tar header of {size} bytes is larger than {EXTENSION_LIMIT}"
            ));
        }
        if pax.is_some() && extension {
            return refuse(format!(
                "the tar header at byte {at} is an extension right after a PAX header"
            ));
        }
        if yielded {
            self.entries.push(at);
        }
        // The size tar-rs uses: the PAX header's when it gave one.
        let size = pax.flatten().unwrap_or(size);
        if matches!(kind, b'1' | b'2' | b'3' | b'4' | b'5' | b'6') && size != 0 {
            return refuse(format!(
                "the tar entry at byte {at} (type {}) has a size of {size}, which it cannot hold",
                kind as char
            ));
        }
        let padded = size.checked_next_multiple_of(BLOCK as u64).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "a tar entry size overflows")
        })?;
        if padded == 0 {
            if kind == b'x' {
                self.pax = Some(None);
            }
            return Ok(State::Header { filled: 0 });
        }
        // Only a PAX header's records matter later; keep at most its size
        // plus padding, which the limit above bounds.
        let keep = (kind == b'x').then(|| (Vec::with_capacity(size as usize), size as usize));
        Ok(State::Data { left: padded, keep })
    }
}

/// A header's size field, read exactly as tar-rs reads it: base-256 (the
/// high bit set; the last 8 bytes), or octal digits up to the first NUL,
/// whitespace trimmed.
fn parse_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        return Some(
            field[field.len() - 8..]
                .iter()
                .fold(0u64, |v, &b| (v << 8) | u64::from(b)),
        );
    }
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    let s = std::str::from_utf8(&field[..end]).ok()?;
    u64::from_str_radix(s.trim(), 8).ok()
}

/// The `size` record of PAX header data: records `LEN key=value\n`, each
/// one line of exactly LEN bytes. tar-rs reads them line by line and stops
/// at the first it cannot parse; any record it might read otherwise than
/// this (a newline inside, a bad length, trailing bytes) or a second
/// `size` is refused rather than guessed at.
fn pax_size(data: &[u8]) -> io::Result<Option<u64>> {
    let bad = |why: &str| refuse(format!("a PAX header has {why}"));
    let mut rest = data;
    let mut size = None;
    while !rest.is_empty() {
        let Some(space) = rest.iter().position(|&b| b == b' ') else {
            return bad("a record without a length");
        };
        let len: usize = match std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|l| l.parse().ok())
        {
            Some(l) if l > space + 1 && l <= rest.len() => l,
            _ => return bad("a record of a bad length"),
        };
        let record = &rest[space + 1..len];
        let Some(record) = record.strip_suffix(b"\n") else {
            return bad("a record that does not end its line");
        };
        if record.contains(&b'\n') {
            return bad("a record with a newline inside");
        }
        let Some(eq) = record.iter().position(|&b| b == b'=') else {
            return bad("a record without '='");
        };
        if &record[..eq] == b"size" {
            if size.is_some() {
                return bad("two size records");
            }
            let v = std::str::from_utf8(&record[eq + 1..])
                .ok()
                .and_then(|v| v.parse::<u64>().ok());
            match v {
                Some(v) => size = Some(v),
                None => return bad("a size record that is not a number"),
            }
        }
        rest = &rest[len..];
    }
    Ok(size)
}

/// Reads `tar` with tar-rs through the guard and checks that both found
/// the same entries: when neither refuses, every entry tar-rs yields
/// starts where the guard saw an entry header, and no other. An `Err`
/// names the disagreement: a way to make the guard bound one thing while
/// the reader buffers another. The fuzz target and the differential test
/// run it over mutated archives.
pub fn differential(tar: &[u8]) -> Result<(), String> {
    let mut archive = tar::Archive::new(TarGuard::new(tar));
    let mut seen = Vec::new();
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(_) => return Ok(()),
    };
    for entry in entries {
        let Ok(mut entry) = entry else {
            return Ok(());
        };
        seen.push(entry.raw_header_position());
        // Extensions are read by tar-rs before it yields the entry; the
        // entry's own data is skipped or read, never buffered here.
        if std::io::copy(&mut entry, &mut std::io::sink()).is_err() {
            return Ok(());
        }
    }
    let guard = archive.into_inner();
    if guard.entry_offsets() != seen.as_slice() {
        return Err(format!(
            "tar-rs found entries at {seen:?}, the guard saw headers at {:?}",
            guard.entry_offsets()
        ));
    }
    Ok(())
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.track(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(tar: &[u8]) -> io::Result<usize> {
        let mut out = Vec::new();
        TarGuard::new(tar).read_to_end(&mut out)
    }

    fn entry(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_path(name).unwrap();
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    #[test]
    fn ordinary_archives_pass_whole() {
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, tar::EntryType::Regular, "a", &[7; 1000]);
        // A long name: the tar crate writes a GNU long-name entry.
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, "d/".repeat(200) + "f", &b"abc"[..])
            .unwrap();
        let tar = b.into_inner().unwrap();
        assert_eq!(pass(&tar).unwrap(), tar.len());
    }

    #[test]
    fn a_pax_size_decides_where_the_next_header_is() {
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("size", &b"2048"[..])]).unwrap();
        // Without the end-of-archive blocks the builder adds.
        let mut tar = b.into_inner().unwrap();
        tar.truncate(tar.len() - 1024);
        // The header says 0; the data is 2048 bytes, as the PAX header says.
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_path("big").unwrap();
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        tar.extend_from_slice(&[1; 2048]);
        // A hostile-looking header right after, in what is data.
        let mut huge = tar::Header::new_ustar();
        huge.set_entry_type(tar::EntryType::XHeader);
        huge.set_size(EXTENSION_LIMIT + 1);
        huge.set_cksum();
        let mut after = tar.clone();
        after.extend_from_slice(huge.as_bytes());
        assert!(pass(&tar).is_ok());
        let err = pass(&after).unwrap_err().to_string();
        assert!(err.contains("larger than 1048576"), "{err}");
    }

    #[test]
    fn oversized_extensions_are_refused_before_they_are_read() {
        for kind in [tar::EntryType::XHeader, tar::EntryType::GNULongName] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(EXTENSION_LIMIT + 1);
            h.set_cksum();
            // Only the header: the refusal comes before any data is needed.
            let err = pass(h.as_bytes()).unwrap_err().to_string();
            assert_eq!(
                err,
                format!(
                    "an extended tar header of {} bytes is larger than {EXTENSION_LIMIT}",
                    EXTENSION_LIMIT + 1
                )
            );
        }
    }

    #[test]
    fn sizes_in_octal_and_base_256() {
        assert_eq!(parse_size(b"00000001750\0"), Some(1000));
        assert_eq!(
            parse_size(b"           \0"),
            None,
            "tar-rs reads no number there"
        );
        let mut f = [0u8; 12];
        f[0] = 0x80;
        f[11] = 5;
        f[10] = 1;
        assert_eq!(parse_size(&f), Some(261));
        assert_eq!(parse_size(b"9999999999x\0"), None);
    }
}
