//! Reading an image from any source: its manifest, its config and a stream
//! of each layer blob. Registry blobs stream over HTTP; local archives are
//! indexed once and read in place.

mod archive;
mod engine;
mod registry;

use super::name::{self, ImageSource, RegistryRef};
use super::signature::SigstoreSig;
use anyhow::{anyhow, bail, Context, Result};
use oci_spec::image::{Descriptor, ImageManifest};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// An image's metadata, fetched and verified.
#[derive(Debug)]
pub struct Fetched {
    /// The name the image is stored under.
    pub name: String,
    /// The manifest as served (an OCI image manifest or Docker schema 2).
    pub manifest_raw: Vec<u8>,
    pub manifest: ImageManifest,
    /// `sha256:` digest of `manifest_raw`.
    pub manifest_digest: String,
    /// The config blob; its sha256 is the image id.
    pub config_raw: Vec<u8>,
    /// When the name resolved to an image index: the `sha256:` digest of
    /// the index as served, which listed `manifest_digest`.
    pub index_digest: Option<String>,
    /// For a local source: the path of the file or directory everything
    /// was read from, as the kernel resolved it once when it was opened
    /// (see [`Pinned`]). The policy's path scopes are judged on it.
    pub local_path: Option<PathBuf>,
}

impl Fetched {
    /// The digest signatures are for, as containers/image verifies them:
    /// the top-level manifest's (the index when the name resolved to one;
    /// `cosign sign` and `skopeo copy --all --sign-by` sign it).
    pub fn signed_digest(&self) -> &str {
        self.index_digest
            .as_deref()
            .unwrap_or(&self.manifest_digest)
    }

    /// The image id: sha256 hex of the config blob.
    pub fn image_id(&self) -> String {
        sha256_hex(&self.config_raw)
    }
}

/// Opens a layer blob as a stream of its bytes, as shipped.
pub trait Blobs: Send + Sync {
    fn open(&self, layer: &Descriptor) -> Result<Box<dyn Read + Send>>;

    /// The sigstore signatures the source attaches to the manifest
    /// `digest`: a registry's `sha256-HEX.sig` tag; none elsewhere.
    fn sigstore_attachments(&self, _digest: &str) -> Result<Vec<SigstoreSig>> {
        Ok(Vec::new())
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Checks `data` against a `sha256:HEX` digest.
fn verify(what: &str, data: &[u8], digest: &str) -> Result<()> {
    let got = format!("sha256:{}", sha256_hex(data));
    if got != digest {
        bail!("{what} does not match its digest: expected {digest}, got {got}");
    }
    Ok(())
}

/// Registry credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creds {
    pub user: String,
    pub password: String,
}

/// A config blob already at hand, by its sha256 hex digest.
pub type KnownConfig<'a> = &'a dyn Fn(&str) -> Option<Vec<u8>>;

/// Opens `source` and fetches its manifest and config; a registry is not
/// asked for a config that `known` has (an unchanged re-pull fetches no
/// blob at all).
pub fn open(
    source: &ImageSource,
    creds: Option<&Creds>,
    known: KnownConfig,
) -> Result<(Fetched, Box<dyn Blobs>)> {
    match source {
        ImageSource::Registry {
            reference,
            insecure,
        } => registry::open(reference, *insecure, creds, known),
        ImageSource::OciLayout { path, tag } => {
            archive::oci_layout(archive::DirFiles::open(path)?, path, tag.as_deref())
        }
        ImageSource::OciArchive { path, tag } => {
            archive::oci_layout(archive::TarFiles::index(path)?, path, tag.as_deref())
        }
        ImageSource::DockerArchive(path) => archive::docker_archive(path),
        ImageSource::DockerEngine(name) => engine::open(name),
    }
}

/// The largest manifest, index or config read whole (containers/image's
/// limit).
pub const METADATA_LIMIT: u64 = 4 << 20;

/// Reads at most [`METADATA_LIMIT`] bytes of `what` from `r`.
fn read_metadata(mut r: impl Read, what: &str) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    (&mut r)
        .take(METADATA_LIMIT + 1)
        .read_to_end(&mut v)
        .with_context(|| format!("reading {what}"))?;
    if v.len() as u64 > METADATA_LIMIT {
        bail!("{what} is larger than {METADATA_LIMIT} bytes");
    }
    Ok(v)
}

/// The Go-style architecture name of this host.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Picks this host's entry of an image index.
fn pick_platform(index: &Value) -> Result<String> {
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    manifests
        .iter()
        .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == host_arch())
        .and_then(|m| m["digest"].as_str().map(str::to_string))
        .ok_or_else(|| anyhow!("the image index has no manifest for linux/{}", host_arch()))
}

fn is_index(media_type: &str) -> bool {
    media_type.contains("index") || media_type.contains("manifest.list")
}
