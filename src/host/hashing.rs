//! A reader or writer that hashes (SHA-256) and counts the bytes passing
//! through it: layer blobs and their tars on import, package payloads on
//! build.

use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};

pub struct Hashing<T> {
    inner: T,
    hash: Sha256,
    count: u64,
}

impl<T> Hashing<T> {
    pub fn new(inner: T) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            count: 0,
        }
    }

    /// The wrapped reader or writer, the hex digest and the byte count of
    /// what has passed so far.
    pub fn into_parts(self) -> (T, String, u64) {
        (self.inner, hex::encode(self.hash.finalize()), self.count)
    }
}

impl<R: Read> Hashing<R> {
    /// Reads to the end, then returns the `sha256:` digest and byte count.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let (_, hex, count) = self.into_parts();
        Ok((format!("sha256:{hex}"), count))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
