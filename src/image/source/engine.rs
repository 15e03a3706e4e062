//! `docker:IMAGE` through a Docker-compatible engine API socket
//! (`DOCKER_HOST=unix://PATH`, else `/var/run/docker.sock`): the engine's
//! `docker save` stream, kept in a temporary file so that the archive can
//! be indexed, then read like `dockertar:`.

use super::archive::docker_archive;
use super::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

/// The archive's layers, and the temporary file they live in.
struct EngineBlobs {
    inner: Box<dyn Blobs>,
    _file: tempfile::NamedTempFile,
}

impl Blobs for EngineBlobs {
    fn open(&self, layer: &Descriptor) -> Result<Box<dyn Read + Send>> {
        self.inner.open(layer)
    }
}

fn socket() -> Result<PathBuf> {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.is_empty() => h
            .strip_prefix("unix://")
            .map(PathBuf::from)
            .ok_or_else(|| anyhow!("DOCKER_HOST={h}: only unix:// engine sockets are supported")),
        _ => Ok(PathBuf::from("/var/run/docker.sock")),
    }
}

fn encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(super) fn open(name: &str) -> Result<(Fetched, Box<dyn Blobs>)> {
    let path = socket()?;
    let mut s = UnixStream::connect(&path)
        .with_context(|| format!("connecting to the Docker engine at {}", path.display()))?;
    write!(
        s,
        "GET /images/{}/get HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
        encode(name)
    )?;
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status)?;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            chunked |= k.eq_ignore_ascii_case("transfer-encoding")
                && v.trim().eq_ignore_ascii_case("chunked");
        }
    }
    let mut file = tempfile::Builder::new()
        .prefix(".atomic-docker-")
        .tempfile_in("/var/tmp")?;
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .with_context(|| {
                    format!("the Docker engine at {} sent a bad chunk", path.display())
                })?;
            if n == 0 {
                break;
            }
            std::io::copy(&mut (&mut r).take(n as u64), &mut file)?;
            r.read_line(&mut String::new())?;
        }
    } else {
        std::io::copy(&mut r, &mut file)?;
    }
    if status.split_whitespace().nth(1) != Some("200") {
        // The body is only shown; a body that is not text shows as such.
        let body = String::from_utf8_lossy(&std::fs::read(file.path())?).into_owned();
        bail!(
            "the Docker engine at {} has no image {name}: {} {}",
            path.display(),
            status.trim(),
            body.trim()
        );
    }
    file.flush()?;
    let (fetched, inner) = docker_archive(file.path())
        .with_context(|| format!("reading the image {name} the Docker engine exported"))?;
    Ok((fetched, Box::new(EngineBlobs { inner, _file: file })))
}
