//! `atomic pull --storage ostree`: fetch an image's manifest and config,
//! stream every layer not yet in the repository into it, then record the
//! image under its name. Progress goes out as events.

use super::import::{compression_of, LayerSpec};
use super::lookaside;
use super::name::{self, RegistriesConf, RegistryRef};
use super::policy::{Policy, Signatures, Subject};
use super::signature::SigstoreSig;
use super::source::{self, Creds};
use super::store::{Store, StoredImage};
use crate::host::paths::HostPaths;
use crate::report::{Event, Reporter};
use anyhow::{anyhow, bail, Context, Result};
use std::io::Read;
use std::path::PathBuf;

/// How many layer downloads run at once (the one importing included).
const FETCH_AHEAD: usize = 2;

/// How many bytes a progress event reports at least (the last one of a
/// layer aside), so a fast stream does not flood the channel.
const PROGRESS_STEP: u64 = 256 * 1024;

/// Reports the bytes read from a layer blob, and refuses more than its
/// descriptor states: a source that sends more is broken or hostile.
struct Progress<'a, R> {
    inner: R,
    layer: &'a str,
    report: &'a Reporter,
    unreported: u64,
    /// Bytes the descriptor allows that have not arrived yet.
    left: u64,
}

impl<R> Progress<'_, R> {
    fn flush(&mut self) {
        if self.unreported > 0 {
            self.report.send(Event::LayerBytes {
                layer: self.layer.to_string(),
                bytes: self.unreported,
            });
            self.unreported = 0;
        }
    }
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One byte more than allowed is enough to tell.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(
                    "the source sent more bytes than the layer's descriptor states",
                )),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        self.unreported += n as u64;
        if self.unreported >= PROGRESS_STEP || n == 0 {
            self.flush();
        }
        Ok(n)
    }
}

/// The signatures of the image being pulled, fetched when the policy asks.
struct Found<'a> {
    subject: &'a Subject,
    digest: &'a str,
    blobs: &'a dyn source::Blobs,
    /// registries.d's settings for the image, read once.
    config: Option<lookaside::SignatureConfig>,
}

impl Found<'_> {
    fn config(&mut self) -> Result<Option<(&RegistryRef, lookaside::SignatureConfig)>> {
        let Some(r) = &self.subject.reference else {
            return Ok(None);
        };
        if self.config.is_none() {
            self.config = Some(lookaside::config_for(r, &self.subject.scopes)?);
        }
        Ok(self.config.clone().map(|c| (r, c)))
    }
}

impl Signatures for Found<'_> {
    fn simple(&mut self) -> Result<Vec<Vec<u8>>> {
        let digest = self.digest;
        match self.config()? {
            Some((
                r,
                lookaside::SignatureConfig {
                    lookaside: Some(base),
                    ..
                },
            )) => lookaside::simple_signatures(&base, r, digest),
            _ => Ok(Vec::new()),
        }
    }

    fn sigstore(&mut self) -> Result<Vec<SigstoreSig>> {
        match self.config()? {
            Some((_, c)) if c.use_sigstore_attachments => {
                self.blobs.sigstore_attachments(self.digest)
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// Every setting of a pull, by name, as the command line gives them.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `--signature-policy`: the policy file instead of the default.
    pub policy: Option<PathBuf>,
    /// `--src-creds`: the registry credentials to use.
    pub creds: Option<Creds>,
    /// `--authfile`: read before the containers tools' own files.
    pub auth_file: Option<PathBuf>,
}

/// Pulls `image` into the repository and returns the stored image.
pub fn pull(
    paths: &HostPaths,
    image: &str,
    opts: &PullOptions,
    report: &Reporter,
) -> Result<StoredImage> {
    let conf = RegistriesConf::load()?;
    let source = name::parse(image, &conf)?;
    let store = Store::open_or_create(paths)?;
    let known = |hex: &str| match store.config_blob(hex) {
        Ok(c) => c,
        Err(e) => {
            tracing::info!("fetching the config {hex} again: {e:#}");
            None
        }
    };
    // Credentials given, else where the containers tools keep them.
    let found = match (&source, &opts.creds) {
        (name::ImageSource::Registry { reference, .. }, None) => super::auth::find(
            &reference.registry,
            &reference.repository,
            opts.auth_file.as_deref(),
        )?,
        _ => None,
    };
    let creds = opts.creds.as_ref().or(found.as_ref().map(|f| &f.creds));
    let (fetched, blobs) = source::open(&source, creds, &known)?;
    let name = fetched.name.clone();
    // Before anything is written: a refused image leaves the repository as it was.
    let subject = Subject::of(&source, fetched.local_path.as_deref());
    let policy = Policy::load(opts.policy.as_deref())?;
    let verdict = policy
        .evaluate(
            &subject,
            fetched.signed_digest(),
            &mut Found {
                subject: &subject,
                digest: fetched.signed_digest(),
                blobs: blobs.as_ref(),
                config: None,
            },
        )
        .with_context(|| format!("image {name}"))?;
    // A local source's image is stored as `localhost/NAME` (see
    // `name::local`): no registry reference finds it, so its own scope is
    // the only one it needs to pass.
    tracing::info!("image {name} accepted: {}", verdict.describe());
    let layers = fetched.manifest.layers();
    for l in layers {
        compression_of(l.media_type().as_ref())
            .with_context(|| format!("image {name}: layer {}", l.digest()))?;
    }
    let config: serde_json::Value = serde_json::from_slice(&fetched.config_raw)
        .with_context(|| format!("image {name}: parsing its config"))?;
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if diff_ids.len() != layers.len() {
        bail!(
            "image {name}: the manifest lists {} layers but the config {} diff_ids",
            layers.len(),
            diff_ids.len()
        );
    }

    let mut missing = Vec::new();
    for (layer, diff_id) in layers.iter().zip(&diff_ids) {
        let digest = layer.digest().to_string();
        if store.blob_commit(layer.digest().digest())?.is_some() {
            tracing::info!("reusing fetched layer {digest}");
            report.send(Event::LayerReused { layer: digest });
        } else {
            missing.push((layer, diff_id));
        }
    }
    // Each opened blob starts fetching at once into its own bounded
    // buffer, so the next layers download while this one imports, without
    // a copy on disk or a whole layer in memory.
    let mut opened = std::collections::VecDeque::new();
    for (i, (layer, diff_id)) in missing.iter().enumerate() {
        while opened.len() < FETCH_AHEAD && i + opened.len() < missing.len() {
            let next = missing[i + opened.len()].0;
            opened.push_back(
                blobs
                    .open(next)
                    .with_context(|| format!("image {name}: fetching layer {}", next.digest()))?,
            );
        }
        let blob = opened.pop_front().expect("opened above");
        let digest = layer.digest().to_string();
        report.send(Event::LayerStarted {
            layer: digest.clone(),
            size: layer.size(),
        });
        let spec = LayerSpec {
            digest: &digest,
            diff_id,
            media_type: layer.media_type().as_ref(),
        };
        let mut progress = Progress {
            inner: blob,
            layer: &digest,
            report,
            unreported: 0,
            left: layer.size(),
        };
        let imported = store
            .import_layer(&mut progress, &spec)
            .with_context(|| format!("image {name}"))?;
        progress.flush();
        report.send(Event::LayerDone {
            layer: digest.clone(),
        });
        for path in &imported.skipped {
            report.warn(format!("layer {digest}: skipped special file {path}"));
        }
        for path in &imported.stripped {
            report.warn(format!(
                "layer {digest}: {path} is stored without its setuid/setgid bits and file \
                 capabilities: other users can reach the objects of the shared repository {}",
                store.path().display()
            ));
        }
    }
    store.write_image(&fetched, &verdict.describe())?;
    store
        .image(&name)?
        .ok_or_else(|| anyhow!("image {name} vanished after the pull"))
}

/// Pulling fixture images into a repository any user can write: what the
/// image layer's own tests start from.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::fixture::Image;
    use std::path::Path;

    /// A host under `dir` whose repository is bare-user, as a user's own
    /// containers have (no root needed to write or check it out).
    pub fn user_paths(dir: &Path) -> HostPaths {
        let repo = dir.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        ostree::Repo::new_for_path(&repo)
            .create(ostree::RepoMode::BareUser, ostree::gio::Cancellable::NONE)
            .unwrap();
        HostPaths::new(Some(&dir.join("root")), Some(repo), None)
    }

    /// Options that accept any image (a policy file of its own).
    pub fn accept_anything(dir: &Path) -> PullOptions {
        let policy = dir.join("policy.json");
        std::fs::write(
            &policy,
            r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
        )
        .unwrap();
        PullOptions {
            policy: Some(policy),
            ..PullOptions::default()
        }
    }

    /// Writes `img` as the OCI layout `dir/NAME` tagged `tag` and pulls it.
    pub fn pull_image(
        paths: &HostPaths,
        dir: &Path,
        name: &str,
        img: &Image,
        tag: &str,
    ) -> Result<StoredImage> {
        let layout = dir.join(name);
        img.write_oci(&layout, tag);
        pull(
            paths,
            &format!("oci:{}:{tag}", layout.display()),
            &accept_anything(dir),
            &Reporter::silent(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::fixture::{Compression, Config, Image, Layer};

    fn greeter(greeting: &str) -> Image {
        Image::new(
            vec![
                Layer::parse(
                    "d usr\nd usr/bin\nf usr/bin/greet 0755 = #!/bin/sh\\n\n",
                    Compression::Gzip,
                ),
                Layer::parse(
                    &format!("d etc\nf etc/greeting = {greeting}\\n\n"),
                    Compression::Zstd,
                ),
            ],
            Config {
                cmd: vec!["/usr/bin/greet".into()],
                ..Default::default()
            },
        )
    }

    #[test]
    fn a_local_image_is_stored_under_localhost_one_commit_a_layer() {
        let t = tempfile::tempdir().unwrap();
        let paths = user_paths(t.path());
        let img = pull_image(&paths, t.path(), "greeter", &greeter("hi"), "1.0").unwrap();
        assert_eq!(img.name, "localhost/greeter:1.0");
        let verified = img.verified.clone().unwrap();
        assert!(
            verified.starts_with("insecureAcceptAnything under default of "),
            "{verified}"
        );
        let store = Store::open_existing(&paths).unwrap().unwrap();
        for layer in img.manifest.layers() {
            let hex = layer.digest().to_string().replace("sha256:", "");
            assert!(store.blob_commit(&hex).unwrap().is_some(), "{hex}");
        }
        assert_eq!(
            store.image("localhost/greeter:1.0").unwrap().unwrap().id,
            img.id
        );
    }

    #[test]
    fn a_second_version_stores_only_its_new_layer() {
        let t = tempfile::tempdir().unwrap();
        let paths = user_paths(t.path());
        let one = pull_image(&paths, t.path(), "greeter", &greeter("hi"), "1.0").unwrap();
        let two = pull_image(&paths, t.path(), "greeter", &greeter("hello"), "2.0").unwrap();
        let (l1, l2) = (one.manifest.layers(), two.manifest.layers());
        assert_eq!(l1[0].digest(), l2[0].digest(), "the shared layer");
        assert_ne!(l1[1].digest(), l2[1].digest());
        let store = Store::open_existing(&paths).unwrap().unwrap();
        assert_eq!(store.images().unwrap().len(), 2);
    }

    #[test]
    fn a_policy_that_rejects_leaves_the_repository_as_it_was() {
        let t = tempfile::tempdir().unwrap();
        let paths = user_paths(t.path());
        let layout = t.path().join("greeter");
        greeter("hi").write_oci(&layout, "1.0");
        let policy = t.path().join("reject.json");
        std::fs::write(&policy, r#"{"default": [{"type": "reject"}]}"#).unwrap();
        let opts = PullOptions {
            policy: Some(policy),
            ..PullOptions::default()
        };
        let err = pull(
            &paths,
            &format!("oci:{}:1.0", layout.display()),
            &opts,
            &Reporter::silent(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("reject"), "{err:#}");
        let store = Store::open_existing(&paths).unwrap().unwrap();
        assert!(store.images().unwrap().is_empty());
        let layer = greeter("hi").layers[0].blob();
        assert_eq!(
            store
                .blob_commit(&crate::fixture::sha256_hex(&layer))
                .unwrap(),
            None
        );
    }
}
