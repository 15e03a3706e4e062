//! Local sources: an OCI layout directory (`oci:`), an OCI archive
//! (`oci-archive:`) and a `docker save` archive (`docker-archive:`), opened
//! once and read in place (an archive is indexed first).

use super::*;

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
pub(super) trait Files: Send + Sync + 'static {
    /// The path the source resolved to when it was opened.
    fn real(&self) -> &Path;
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>>;
    /// A metadata file (index, manifest, config), size-capped.
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        read_metadata(self.open(path)?, path)
    }
    fn has(&self, path: &str) -> bool;
}

pub(super) struct DirFiles(Pinned);

impl DirFiles {
    pub(super) fn open(path: &Path) -> Result<DirFiles> {
        Ok(DirFiles(Pinned::open(path)?))
    }
}

impl Files for DirFiles {
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
pub(super) struct TarFiles {
    path: PathBuf,
    file: Pinned,
    members: HashMap<String, (u64, u64)>,
}

/// The most members an image archive's index holds.
const ARCHIVE_MEMBERS_MAX: usize = 1 << 16;

impl TarFiles {
    pub(super) fn index(path: &Path) -> Result<TarFiles> {
        let file = Pinned::open(path)?;
        let f = File::open(file.at()).with_context(|| format!("opening {}", path.display()))?;
        // Through the guard, as every tar the tool reads.
        let mut a = tar::Archive::new(crate::image::targuard::TarGuard::new(
            std::io::BufReader::new(f),
        ));
        let mut members = HashMap::new();
        for e in a
            .entries()
            .with_context(|| format!("reading {}", path.display()))?
        {
            let e = e.with_context(|| format!("reading {}", path.display()))?;
            let raw = e.path_bytes();
            if raw.len() > crate::image::import::PATH_MAX {
                bail!(
                    "{} has a member name of {} bytes, longer than {}",
                    path.display(),
                    raw.len(),
                    crate::image::import::PATH_MAX
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
        Ok(TarFiles {
            path: path.to_path_buf(),
            file,
            members,
        })
    }
}

impl Files for TarFiles {
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

struct FileBlobs<S: Files>(S);

fn blob_path(digest: &str) -> Result<String> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| anyhow!("invalid digest {digest}"))?;
    if alg != "sha256" || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("unsupported digest {digest}");
    }
    Ok(format!("blobs/sha256/{hex}"))
}

impl<S: Files> Blobs for FileBlobs<S> {
    fn open(&self, layer: &Descriptor) -> Result<Box<dyn Read + Send>> {
        self.0.open(&blob_path(layer.digest().as_ref())?)
    }
}

pub(super) fn oci_layout<S: Files>(
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
    Ok((fetched, Box::new(FileBlobs(store))))
}

/// Layers of a docker archive, by the digests of the synthesised manifest.
struct DockerBlobs {
    store: TarFiles,
    paths: HashMap<String, String>,
}

impl Blobs for DockerBlobs {
    fn open(&self, layer: &Descriptor) -> Result<Box<dyn Read + Send>> {
        let path = &self.paths[&layer.digest().to_string()];
        self.store.open(path)
    }
}

pub(super) fn docker_archive(path: &Path) -> Result<(Fetched, Box<dyn Blobs>)> {
    let shown = path.display();
    let store = TarFiles::index(path)?;
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

#[cfg(test)]
mod tests {
    use super::super::{open, ImageSource};
    use super::*;
    use crate::fixture::{Compression, Config, Image, Layer};

    fn image() -> Image {
        Image::new(
            vec![
                Layer::parse("d etc\nf etc/greeting = hello\\n\n", Compression::Gzip),
                Layer::parse("f etc/second 0600 = two\n", Compression::Zstd),
            ],
            Config {
                cmd: vec!["/bin/true".into()],
                ..Default::default()
            },
        )
    }

    /// The image, written as an OCI layout, the same layout as a tar, and
    /// a `docker save` archive.
    fn sources(dir: &Path) -> (crate::fixture::Written, Vec<ImageSource>) {
        let layout = dir.join("layout");
        let written = image().write_oci(&layout, "1.0");
        let archive = dir.join("layout.tar");
        let mut b = tar::Builder::new(File::create(&archive).unwrap());
        b.append_dir_all(".", &layout).unwrap();
        b.into_inner().unwrap();
        let docker = dir.join("docker.tar");
        image().write_docker_archive(&docker, "greeter:1.0");
        let tag = Some("1.0".to_string());
        let sources = vec![
            ImageSource::OciLayout {
                path: layout,
                tag: tag.clone(),
            },
            ImageSource::OciArchive { path: archive, tag },
            ImageSource::DockerArchive(docker),
        ];
        (written, sources)
    }

    #[test]
    fn every_local_transport_reads_the_image_its_manifest_names() {
        let t = tempfile::tempdir().unwrap();
        let (written, sources) = sources(t.path());
        for src in sources {
            let (fetched, blobs) = open(&src, None, &|_| None).unwrap();
            assert_eq!(sha256_hex(&fetched.config_raw), written.image_id, "{src:?}");
            assert_eq!(fetched.local_path.as_deref().map(Path::exists), Some(true));
            let layers = fetched.manifest.layers();
            assert_eq!(layers.len(), 2, "{src:?}");
            for layer in layers {
                let mut data = Vec::new();
                blobs.open(layer).unwrap().read_to_end(&mut data).unwrap();
                assert_eq!(
                    format!("sha256:{}", sha256_hex(&data)),
                    layer.digest().to_string(),
                    "{src:?}: a layer is what its descriptor says"
                );
            }
        }
    }

    #[test]
    fn a_missing_tag_or_a_changed_config_is_an_error_naming_it() {
        let t = tempfile::tempdir().unwrap();
        let (written, sources) = sources(t.path());
        let ImageSource::OciLayout { path, .. } = &sources[0] else {
            unreachable!()
        };
        let err = open(
            &ImageSource::OciLayout {
                path: path.clone(),
                tag: Some("2.0".into()),
            },
            None,
            &|_| None,
        )
        .err()
        .unwrap();
        assert!(format!("{err:#}").contains("2.0"), "{err:#}");
        let config = path.join("blobs/sha256").join(&written.image_id);
        std::fs::write(&config, b"{\"changed\": true}").unwrap();
        let err = format!("{:#}", open(&sources[0], None, &|_| None).err().unwrap());
        assert!(err.contains(&written.image_id[..12]), "{err}");
    }
}
