//! `atomic pull --storage ostree`: fetch an image's manifest and config,
//! stream every layer not yet in the repository into it, then record the
//! image under its name.

use crate::image::import::{compression_of, LayerSpec};
use crate::image::name::{self, RegistriesConf};
use crate::image::source::{self, Creds};
use crate::paths::HostPaths;
use crate::store::{Store, StoredImage};
use anyhow::{anyhow, bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Read};

/// How many layer downloads run at once (the one importing included).
const FETCH_AHEAD: usize = 2;

/// Parses `--src-creds USER[:PASS]`; a missing password is read from stdin.
pub fn parse_creds(s: &str) -> Result<Creds> {
    let (user, password) = match s.split_once(':') {
        Some((u, p)) => (u.to_string(), p.to_string()),
        None => {
            eprint!("Password for {s}: ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the registry password")?;
            (
                s.to_string(),
                line.trim_end_matches(['\r', '\n']).to_string(),
            )
        }
    };
    if user.is_empty() {
        bail!("--src-creds needs a user name");
    }
    Ok(Creds { user, password })
}

/// Reports bytes read to a progress bar.
struct Progress<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Pulls `image` into the repository and returns the stored image.
pub fn pull(
    paths: &HostPaths,
    image: &str,
    creds: Option<&Creds>,
    quiet: bool,
) -> Result<StoredImage> {
    let conf = RegistriesConf::load()?;
    let source = name::parse(image, &conf)?;
    let (fetched, blobs) = source::open(&source, creds)?;
    let name = fetched.name.clone();
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

    let store = Store::open_or_create(paths)?;
    let multi = MultiProgress::with_draw_target(if quiet || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    });
    let style =
        ProgressStyle::with_template("{msg:20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .map_err(|e| anyhow!("{e}"))?
            .progress_chars("=> ");
    let missing: Vec<_> = layers
        .iter()
        .zip(&diff_ids)
        .filter(
            |(layer, _)| match store.blob_commit(layer.digest().digest()) {
                Ok(Some(_)) => {
                    tracing::info!("reusing fetched layer {}", layer.digest());
                    false
                }
                _ => true,
            },
        )
        .collect();
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
        let hex = layer.digest().digest();
        let bar = multi.add(ProgressBar::new(layer.size()));
        bar.set_style(style.clone());
        bar.set_message(hex[..12.min(hex.len())].to_string());
        let spec = LayerSpec {
            digest: &digest,
            diff_id,
            media_type: layer.media_type().as_ref(),
        };
        let imported = store
            .import_layer(
                Progress {
                    inner: blob,
                    bar: bar.clone(),
                },
                &spec,
            )
            .with_context(|| format!("image {name}"))?;
        bar.finish();
        for path in &imported.skipped {
            eprintln!("warning: layer {digest}: skipped special file {path}");
        }
    }
    store.write_image(&fetched)?;
    store
        .image(&name)?
        .ok_or_else(|| anyhow!("image {name} vanished after the pull"))
}
