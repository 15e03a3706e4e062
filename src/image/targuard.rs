//! Passes a tar stream through while reading its headers, so that an
//! extended header (PAX, GNU long name or link) larger than 1 MiB — which
//! the tar reader would otherwise buffer whole — is refused before it is
//! read (Go's archive/tar has the same limit).

use std::io::{self, Read};

/// The largest extended header accepted.
pub const EXTENSION_LIMIT: u64 = 1 << 20;

const BLOCK: usize = 512;

/// Where the stream is: in a header block, or in an entry's data.
enum State {
    /// `filled` bytes of the next header block have passed.
    Header { filled: usize },
    /// `left` bytes of data (and padding) remain; an extension's data is
    /// kept to read the size a PAX header gives the next entry.
    Data { left: u64, keep: Option<Vec<u8>> },
}

pub struct TarGuard<R> {
    inner: R,
    header: [u8; BLOCK],
    state: State,
    /// The size a PAX header gave the next entry.
    pax_size: Option<u64>,
}

impl<R> TarGuard<R> {
    pub fn new(inner: R) -> Self {
        TarGuard {
            inner,
            header: [0; BLOCK],
            state: State::Header { filled: 0 },
            pax_size: None,
        }
    }

    /// Follows the bytes `data` that just passed.
    fn track(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match &mut self.state {
                State::Header { filled } => {
                    let n = (BLOCK - *filled).min(data.len());
                    self.header[*filled..*filled + n].copy_from_slice(&data[..n]);
                    *filled += n;
                    data = &data[n..];
                    if *filled == BLOCK {
                        self.state = self.next_state()?;
                    }
                }
                State::Data { left, keep } => {
                    let n = (*left).min(data.len() as u64) as usize;
                    if let Some(k) = keep {
                        k.extend_from_slice(&data[..n]);
                    }
                    *left -= n as u64;
                    data = &data[n..];
                    if *left == 0 {
                        if let Some(k) = keep.take() {
                            self.pax_size = pax_size(&k).or(self.pax_size);
                        }
                        self.state = State::Header { filled: 0 };
                    }
                }
            }
        }
        Ok(())
    }

    /// What follows the header block just read.
    fn next_state(&mut self) -> io::Result<State> {
        let h = &self.header;
        if h.iter().all(|&b| b == 0) {
            return Ok(State::Header { filled: 0 });
        }
        let kind = h[156];
        let size = parse_size(&h[124..136])
            .ok_or_else(|| io::Error::other("a tar header has an invalid size"))?;
        let extension = matches!(kind, b'x' | b'g' | b'L' | b'K');
        if extension && size > EXTENSION_LIMIT {
            return Err(io::Error::other(format!(
                "an extended tar header of {size} bytes is larger than {EXTENSION_LIMIT}"
            )));
        }
        let size = if extension {
            size
        } else {
            self.pax_size.take().unwrap_or(size)
        };
        // Links, directories and devices have no data whatever the header says.
        let size = if matches!(kind, b'1' | b'2' | b'3' | b'4' | b'5' | b'6') {
            0
        } else {
            size
        };
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        if padded == 0 {
            return Ok(State::Header { filled: 0 });
        }
        // Only a PAX header's records matter later; keep at most its size
        // plus padding, which the limit above bounds.
        let keep = (kind == b'x').then(|| Vec::with_capacity(padded as usize));
        Ok(State::Data { left: padded, keep })
    }
}

/// A header's size field: octal digits, or base-256 with the high bit set.
fn parse_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

/// The `size` record of PAX header data (`LEN size=VALUE\n` records).
fn pax_size(data: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(data);
    text.split('\n')
        .rev()
        .filter_map(|r| r.split_once(' ').map(|(_, kv)| kv))
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "size")
        .find_map(|(_, v)| v.parse().ok())
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
        // The header says 0; the data is 2048 bytes, as the PAX header says.
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_path("big").unwrap();
        h.set_cksum();
        let mut tar = b.into_inner().unwrap();
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
        assert_eq!(parse_size(b"           \0"), Some(0));
        let mut f = [0u8; 12];
        f[0] = 0x80;
        f[11] = 5;
        f[10] = 1;
        assert_eq!(parse_size(&f), Some(261));
        assert_eq!(parse_size(b"9999999999x\0"), None);
    }
}
