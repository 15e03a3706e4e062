//! Reading an image from any source: its manifest, its config and a stream
//! of each layer blob. Registry blobs stream over HTTP; local archives are
//! indexed once and read in place.

use super::name::{self, RegistryRef, Source};
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
    source: &Source,
    creds: Option<&Creds>,
    known: KnownConfig,
) -> Result<(Fetched, Box<dyn Blobs>)> {
    match source {
        Source::Registry {
            reference,
            insecure,
        } => registry::open(reference, *insecure, creds, known),
        Source::OciLayout { path, tag } => {
            let store = DirStore(Pinned::open(path)?);
            oci_layout(store, path, tag.as_deref())
        }
        Source::OciArchive { path, tag } => {
            let store = TarStore::index(path)?;
            oci_layout(store, path, tag.as_deref())
        }
        Source::DockerArchive(path) => docker_archive(path),
        Source::DockerEngine(name) => engine::open(name),
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

/// A local source's file or directory, opened once: every later read goes
/// through this descriptor (as `/proc/self/fd/N`), so a symlink or a
/// directory its owner swaps after the open changes nothing that is read,
/// and the path it resolved to is the one the policy judges.
struct Pinned {
    fd: std::os::fd::OwnedFd,
    /// The path the kernel resolved, for the policy's scopes.
    real: PathBuf,
}

impl Pinned {
    fn open(path: &Path) -> Result<Pinned> {
        use std::os::fd::AsRawFd as _;
        let fd = rustix::fs::open(
            path,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .with_context(|| format!("opening {}", path.display()))?;
        let real = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .with_context(|| format!("resolving {}", path.display()))?;
        Ok(Pinned { fd, real })
    }

    /// A path that names the opened file or directory itself.
    fn at(&self) -> PathBuf {
        use std::os::fd::AsRawFd as _;
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

/// Files of a local image: a directory or an indexed tar.
trait Store: Send + Sync + 'static {
    /// The path the source resolved to when it was opened.
    fn real(&self) -> &Path;
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>>;
    /// A metadata file (index, manifest, config), size-capped.
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        read_metadata(self.open(path)?, path)
    }
    fn has(&self, path: &str) -> bool;
}

struct DirStore(Pinned);

impl Store for DirStore {
    fn real(&self) -> &Path {
        &self.0.real
    }
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>> {
        Ok(Box::new(File::open(self.0.at().join(path)).with_context(
            || format!("opening {}", self.0.real.join(path).display()),
        )?))
    }
    fn has(&self, path: &str) -> bool {
        self.0.at().join(path).exists()
    }
}

/// A tar archive indexed by member name, read in place.
struct TarStore {
    path: PathBuf,
    file: Pinned,
    members: HashMap<String, (u64, u64)>,
}

/// The most members an image archive's index holds.
const ARCHIVE_MEMBERS_MAX: usize = 1 << 16;

impl TarStore {
    fn index(path: &Path) -> Result<TarStore> {
        let file = Pinned::open(path)?;
        let f = File::open(file.at()).with_context(|| format!("opening {}", path.display()))?;
        // Through the guard, as every tar the tool reads.
        let mut a = tar::Archive::new(super::targuard::TarGuard::new(std::io::BufReader::new(f)));
        let mut members = HashMap::new();
        for e in a
            .entries()
            .with_context(|| format!("reading {}", path.display()))?
        {
            let e = e.with_context(|| format!("reading {}", path.display()))?;
            let raw = e.path_bytes();
            if raw.len() > super::import::PATH_MAX {
                bail!(
                    "{} has a member name of {} bytes, longer than {}",
                    path.display(),
                    raw.len(),
                    super::import::PATH_MAX
                );
            }
            let name = String::from_utf8_lossy(&raw)
                .trim_start_matches("./")
                .to_string();
            if members.len() >= ARCHIVE_MEMBERS_MAX {
                bail!(
                    "{} has more than {ARCHIVE_MEMBERS_MAX} members; an image archive has a few per layer",
                    path.display()
                );
            }
            members.insert(name, (e.raw_file_position(), e.size()));
        }
        Ok(TarStore {
            path: path.to_path_buf(),
            file,
            members,
        })
    }
}

impl Store for TarStore {
    fn real(&self) -> &Path {
        &self.file.real
    }
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>> {
        let (offset, size) = *self
            .members
            .get(path)
            .ok_or_else(|| anyhow!("{} has no {path}", self.path.display()))?;
        let mut f = File::open(self.file.at())
            .with_context(|| format!("opening {}", self.path.display()))?;
        f.seek(SeekFrom::Start(offset))?;
        Ok(Box::new(f.take(size)))
    }
    fn has(&self, path: &str) -> bool {
        self.members.contains_key(path)
    }
}

struct StoreBlobs<S: Store>(S);

fn blob_path(digest: &str) -> Result<String> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| anyhow!("invalid digest {digest}"))?;
    if alg != "sha256" || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("unsupported digest {digest}");
    }
    Ok(format!("blobs/sha256/{hex}"))
}

impl<S: Store> Blobs for StoreBlobs<S> {
    fn open(&self, layer: &Descriptor) -> Result<Box<dyn Read + Send>> {
        self.0.open(&blob_path(layer.digest().as_ref())?)
    }
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

fn oci_layout<S: Store>(
    store: S,
    path: &Path,
    tag: Option<&str>,
) -> Result<(Fetched, Box<dyn Blobs>)> {
    let shown = path.display();
    if !store.has("index.json") {
        bail!("{shown} is not an OCI image layout: no index.json");
    }
    let index: Value = serde_json::from_slice(&store.read("index.json")?)
        .with_context(|| format!("parsing {shown}/index.json"))?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let ref_name = |m: &Value| {
        m["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .map(str::to_string)
    };
    let entry = match tag {
        Some(t) => manifests
            .iter()
            .find(|m| ref_name(m).as_deref() == Some(t))
            .ok_or_else(|| anyhow!("OCI layout {shown} has no image tagged {t:?}"))?,
        None if manifests.len() == 1 => &manifests[0],
        None => bail!(
            "OCI layout {shown} holds {} images: name one with :TAG",
            manifests.len()
        ),
    };
    let mut digest = entry["digest"].as_str().unwrap_or_default().to_string();
    let mut raw = store.read(&blob_path(&digest)?)?;
    verify("manifest", &raw, &digest)?;
    let mut index_digest = None;
    if is_index(entry["mediaType"].as_str().unwrap_or_default()) {
        let nested: Value = serde_json::from_slice(&raw).context("parsing the image index")?;
        index_digest = Some(digest.clone());
        digest = pick_platform(&nested)?;
        raw = store.read(&blob_path(&digest)?)?;
        verify("manifest", &raw, &digest)?;
    }
    let manifest = ImageManifest::from_reader(&raw[..])
        .with_context(|| format!("parsing manifest {digest}"))?;
    let config_digest = manifest.config().digest().to_string();
    let config_raw = store.read(&blob_path(&config_digest)?)?;
    verify("config", &config_raw, &config_digest)?;
    let name = name::local(&match ref_name(entry) {
        Some(n) if n.contains('/') => n,
        _ => name::local_name(path, tag),
    });
    let fetched = Fetched {
        name,
        manifest_raw: raw,
        manifest,
        manifest_digest: digest,
        config_raw,
        index_digest,
        local_path: Some(store.real().to_path_buf()),
    };
    Ok((fetched, Box::new(StoreBlobs(store))))
}

/// Layers of a docker archive, by the digests of the synthesised manifest.
struct DockerBlobs {
    store: TarStore,
    paths: HashMap<String, String>,
}

impl Blobs for DockerBlobs {
    fn open(&self, layer: &Descriptor) -> Result<Box<dyn Read + Send>> {
        let path = &self.paths[&layer.digest().to_string()];
        self.store.open(path)
    }
}

fn docker_archive(path: &Path) -> Result<(Fetched, Box<dyn Blobs>)> {
    let shown = path.display();
    let store = TarStore::index(path)?;
    if !store.has("manifest.json") {
        bail!("{shown} is not a docker archive: no manifest.json");
    }
    let list: Value = serde_json::from_slice(&store.read("manifest.json")?)
        .with_context(|| format!("parsing manifest.json of {shown}"))?;
    let entry = list
        .get(0)
        .ok_or_else(|| anyhow!("manifest.json of {shown} lists no image"))?;
    let config_path = entry["Config"]
        .as_str()
        .ok_or_else(|| anyhow!("manifest.json of {shown} names no Config"))?;
    let config_raw = store.read(config_path)?;
    let config: Value = serde_json::from_slice(&config_raw)
        .with_context(|| format!("parsing {config_path} in {shown}"))?;
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let layers = entry["Layers"].as_array().cloned().unwrap_or_default();
    if layers.len() != diff_ids.len() {
        bail!(
            "{shown}: {} layers but {} diff_ids in the config",
            layers.len(),
            diff_ids.len()
        );
    }
    let mut paths = HashMap::new();
    let mut descs = Vec::new();
    for (layer, diff_id) in layers.iter().zip(&diff_ids) {
        let p = layer.as_str().unwrap_or_default().to_string();
        let size = store
            .members
            .get(&p)
            .map(|m| m.1)
            .ok_or_else(|| anyhow!("{shown} has no {p}"))?;
        // Layers stored under their blob digest may be compressed; the
        // classic `<id>/layer.tar` ones are the uncompressed tar itself.
        let digest = match p.strip_prefix("blobs/sha256/") {
            Some(hex) => format!("sha256:{hex}"),
            None => diff_id.as_str().unwrap_or_default().to_string(),
        };
        descs.push(serde_json::json!({
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar",
            "digest": digest, "size": size,
        }));
        paths.insert(digest, p);
    }
    let manifest_raw = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": format!("sha256:{}", sha256_hex(&config_raw)),
            "size": config_raw.len(),
        },
        "layers": descs,
    }))?;
    let manifest = ImageManifest::from_reader(&manifest_raw[..])?;
    let name = name::local(&match entry["RepoTags"].get(0).and_then(Value::as_str) {
        Some(tag) => name::parse_reference(tag, &name::RegistriesConf::load()?)
            .map(|r| r.name())
            .unwrap_or_else(|_| tag.to_string()),
        None => name::local_name(path, None),
    });
    let fetched = Fetched {
        name,
        manifest_digest: format!("sha256:{}", sha256_hex(&manifest_raw)),
        manifest_raw,
        manifest,
        config_raw,
        index_digest: None,
        local_path: Some(store.real().to_path_buf()),
    };
    Ok((fetched, Box::new(DockerBlobs { store, paths })))
}

mod registry {
    //! The OCI distribution API through [`Session`]: metadata capped and
    //! within a deadline, layers as plain blocking streams at a minimum rate.
    use super::*;
    use crate::image::distribution::{Limits, Session};

    const ACCEPT: &[&str] = &[
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ];

    pub(super) struct RegistryBlobs {
        session: Session,
    }

    /// The annotation of a sigstore attachment's layer that holds its
    /// signature.
    const COSIGN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";

    /// The tag or digest `r` names.
    fn reference(r: &RegistryRef) -> String {
        match (&r.tag, &r.digest) {
            (_, Some(d)) => d.clone(),
            (Some(t), None) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    pub(super) fn open(
        r: &RegistryRef,
        insecure: bool,
        creds: Option<&Creds>,
        known: KnownConfig,
    ) -> Result<(Fetched, Box<dyn Blobs>)> {
        let name = r.name();
        let session = Session::new(
            &r.registry,
            &r.repository,
            insecure,
            creds.map(|c| (c.user.clone(), c.password.clone())),
            Limits::from_env()?,
        )?;
        let manifest = |reference: &str| -> Result<Vec<u8>> {
            session
                .manifest(reference, ACCEPT, METADATA_LIMIT)?
                .ok_or_else(|| anyhow!("the registry has no manifest {reference}"))
        };
        let raw = manifest(&reference(r))
            .with_context(|| format!("fetching the manifest of {name} from {}", r.registry))?;
        let v: Value = serde_json::from_slice(&raw)
            .with_context(|| format!("parsing the manifest of {name}"))?;
        let (raw, digest, index_digest) = if is_index(v["mediaType"].as_str().unwrap_or_default()) {
            // The index as served is what signatures sign.
            let index_digest = format!("sha256:{}", sha256_hex(&raw));
            if r.digest.as_ref().is_some_and(|d| *d != index_digest) {
                bail!("image {name}: the registry sent an index of digest {index_digest}");
            }
            let d = pick_platform(&v).with_context(|| format!("image {name}"))?;
            let raw = manifest(&d).with_context(|| format!("fetching manifest {d} of {name}"))?;
            (raw, d, Some(index_digest))
        } else {
            let digest = match &r.digest {
                Some(d) => d.clone(),
                None => format!("sha256:{}", sha256_hex(&raw)),
            };
            (raw, digest, None)
        };
        verify("manifest", &raw, &digest).with_context(|| format!("image {name}"))?;
        let manifest = ImageManifest::from_reader(&raw[..])
            .with_context(|| format!("parsing the manifest of {name}"))?;
        let config = manifest.config();
        if config.size() > METADATA_LIMIT {
            bail!(
                "the config of {name} is {} bytes, more than {METADATA_LIMIT}",
                config.size()
            );
        }
        let config_raw = match known(config.digest().digest()) {
            Some(c) => c,
            None => {
                let c = session
                    .small_blob(config.digest().as_ref(), config.size())
                    .with_context(|| format!("fetching the config of {name}"))?;
                verify("config", &c, config.digest().as_ref())
                    .with_context(|| format!("image {name}"))?;
                c
            }
        };
        let fetched = Fetched {
            name,
            manifest_raw: raw,
            manifest,
            manifest_digest: digest,
            config_raw,
            index_digest,
            local_path: None,
        };
        Ok((fetched, Box::new(RegistryBlobs { session })))
    }

    impl Blobs for RegistryBlobs {
        fn sigstore_attachments(&self, digest: &str) -> Result<Vec<SigstoreSig>> {
            let limit = super::super::signature::SIGNATURE_LIMIT;
            let tag = format!("{}.sig", digest.replacen(':', "-", 1));
            let what = || format!("the sigstore signatures of {digest} (tag {tag})");
            let Some(raw) = self
                .session
                .manifest(
                    &tag,
                    &["application/vnd.oci.image.manifest.v1+json"],
                    METADATA_LIMIT,
                )
                .with_context(|| format!("fetching {}", what()))?
            else {
                return Ok(Vec::new());
            };
            let m: Value = serde_json::from_slice(&raw)
                .with_context(|| format!("parsing the manifest of {}", what()))?;
            let mut out = Vec::new();
            for layer in m["layers"].as_array().into_iter().flatten().take(64) {
                let Some(sig) = layer["annotations"][COSIGN_SIGNATURE].as_str() else {
                    continue;
                };
                let digest = layer["digest"]
                    .as_str()
                    .ok_or_else(|| anyhow!("{}: a layer has no digest", what()))?;
                let payload = self.session.small_blob(digest, limit).with_context(what)?;
                verify("blob", &payload, digest).with_context(what)?;
                out.push(SigstoreSig {
                    payload,
                    signature_b64: sig.to_string(),
                });
            }
            Ok(out)
        }

        fn open(&self, layer: &Descriptor) -> Result<Box<dyn Read + Send>> {
            self.session.blob(layer.digest().as_ref())
        }
    }
}

mod engine {
    //! `docker:IMAGE` through a Docker-compatible engine API socket
    //! (`DOCKER_HOST=unix://PATH`, else `/var/run/docker.sock`): the engine's
    //! `docker save` stream, kept in a temporary file so that the archive can
    //! be indexed, then read like `dockertar:`.
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
            Ok(h) if !h.is_empty() => {
                h.strip_prefix("unix://").map(PathBuf::from).ok_or_else(|| {
                    anyhow!("DOCKER_HOST={h}: only unix:// engine sockets are supported")
                })
            }
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
}
