//! Where a registry image's signatures are, as `containers-registries.d(5)`
//! says it: the YAML files of `/etc/containers/registries.d` (or a user's
//! own `~/.config/containers/registries.d`) name, per docker scope or
//! `default-docker`, a `lookaside` store of simple-signing signatures
//! (`file:` or `http(s):` URLs, laid out as `REPOSITORY@sha256=HEX/
//! signature-N`) and whether to read sigstore attachments from the
//! registry (`use-sigstore-attachments`).

use super::name::RegistryRef;
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The system's registries.d.
pub const SYSTEM_DIR: &str = "/etc/containers/registries.d";

/// How many signatures of one image are read at most.
const MAX_SIGNATURES: usize = 64;

/// How long reading one image's signatures from a lookaside may take.
const LOOKASIDE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
struct Entry {
    lookaside: Option<String>,
    /// The old name of `lookaside`.
    sigstore: Option<String>,
    use_sigstore_attachments: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct File {
    default_docker: Option<Entry>,
    #[serde(default)]
    docker: BTreeMap<String, Entry>,
}

/// Where the signatures of one registry image are.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SignatureConfig {
    pub lookaside: Option<String>,
    pub use_sigstore_attachments: bool,
}

/// The user's own registries.d for a user other than root when it exists,
/// else the system's.
fn default_dir() -> PathBuf {
    crate::host::user::own_config("containers/registries.d")
        .unwrap_or_else(|| PathBuf::from(SYSTEM_DIR))
}

/// The configuration for `r`: its most specific docker scope (`scopes`,
/// as the policy orders them), else `default-docker`.
pub fn config_for(r: &RegistryRef, scopes: &[String]) -> Result<SignatureConfig> {
    config_in(&default_dir(), r, scopes)
}

fn config_in(dir: &Path, r: &RegistryRef, scopes: &[String]) -> Result<SignatureConfig> {
    let mut docker: BTreeMap<String, (Entry, PathBuf)> = BTreeMap::new();
    let mut default: Option<(Entry, PathBuf)> = None;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SignatureConfig::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let f: File =
            serde_saphyr::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        if let Some(d) = f.default_docker {
            if let Some((_, first)) = &default {
                bail!(
                    "default-docker is set in both {} and {}",
                    first.display(),
                    path.display()
                );
            }
            default = Some((d, path.clone()));
        }
        for (scope, e) in f.docker {
            if let Some((_, first)) = docker.get(&scope) {
                bail!(
                    "docker scope {scope} is set in both {} and {}",
                    first.display(),
                    path.display()
                );
            }
            docker.insert(scope, (e, path.clone()));
        }
    }
    // Each setting from the most specific entry that has it, as the
    // containers tools read them.
    let order: Vec<&(Entry, PathBuf)> = scopes
        .iter()
        .filter_map(|s| docker.get(s))
        .chain(default.as_ref())
        .collect();
    let lookaside = order.iter().find_map(|(e, path)| {
        e.lookaside
            .clone()
            .or_else(|| e.sigstore.clone())
            .map(|l| (l, path))
    });
    if let Some((l, path)) = &lookaside {
        let file = l
            .strip_prefix("file://")
            .is_some_and(|p| p.starts_with('/'));
        if !(file || l.starts_with("http://") || l.starts_with("https://")) {
            bail!(
                "{}: the lookaside of {} is {l:?}, not a file:///PATH, http: or https: URL",
                path.display(),
                r.name()
            );
        }
    }
    Ok(SignatureConfig {
        lookaside: lookaside.map(|(l, _)| l),
        use_sigstore_attachments: order
            .iter()
            .find_map(|(e, _)| e.use_sigstore_attachments)
            .unwrap_or(false),
    })
}

/// The simple-signing signatures of the manifest `digest` of `r` in the
/// lookaside store `base`: `signature-1`, `signature-2`, ... until the
/// first that is missing.
pub fn simple_signatures(base: &str, r: &RegistryRef, digest: &str) -> Result<Vec<Vec<u8>>> {
    let (algo, hex) = digest
        .split_once(':')
        .ok_or_else(|| anyhow!("manifest digest {digest} has no algorithm"))?;
    let dir = format!(
        "{}/{}@{algo}={hex}",
        base.trim_end_matches('/'),
        r.repository
    );
    let limit = super::signature::SIGNATURE_LIMIT;
    let mut out = Vec::new();
    let client = if base.starts_with("file://") {
        None
    } else {
        Some(
            reqwest::blocking::Client::builder()
                .build()
                .context("making an HTTP client")?,
        )
    };
    let start = std::time::Instant::now();
    for n in 1..=MAX_SIGNATURES {
        let url = format!("{dir}/signature-{n}");
        let left = LOOKASIDE_DEADLINE.saturating_sub(start.elapsed());
        if left.is_zero() {
            bail!("reading the signatures in {dir} took longer than {LOOKASIDE_DEADLINE:?}");
        }
        let data = match &client {
            None => {
                let path = url.trim_start_matches("file://");
                match std::fs::File::open(path) {
                    Ok(f) => read_at_most(f, limit).with_context(|| format!("reading {path}"))?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) => return Err(e).with_context(|| format!("reading {path}")),
                }
            }
            Some(c) => {
                let resp = c
                    .get(&url)
                    .timeout(left)
                    .send()
                    .with_context(|| format!("fetching {url}"))?;
                if resp.status() == reqwest::StatusCode::NOT_FOUND {
                    break;
                }
                if !resp.status().is_success() {
                    bail!("fetching {url}: {}", resp.status());
                }
                read_at_most(resp, limit).with_context(|| format!("fetching {url}"))?
            }
        };
        out.push(data);
    }
    Ok(out)
}

fn read_at_most(r: impl Read, limit: u64) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    r.take(limit + 1).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        bail!("larger than {limit} bytes");
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> RegistryRef {
        RegistryRef {
            registry: "r.example.com".into(),
            repository: "team/app".into(),
            tag: Some("1".into()),
            digest: None,
        }
    }

    #[test]
    fn the_most_specific_scope_then_default_docker() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("a.yaml"),
            "default-docker:\n  lookaside: file:///srv/sigs\ndocker:\n  r.example.com/team:\n    use-sigstore-attachments: true\n",
        )
        .unwrap();
        std::fs::write(
            t.path().join("b.yaml"),
            "docker:\n  r.example.com:\n    sigstore: https://sigs.example.com\n",
        )
        .unwrap();
        let scopes = super::super::policy::docker_scopes(&reg());
        let c = config_in(t.path(), &reg(), &scopes).unwrap();
        assert_eq!(
            c,
            SignatureConfig {
                lookaside: Some("https://sigs.example.com".into()),
                use_sigstore_attachments: true
            },
            "each setting from the most specific entry that has it"
        );
        let other = RegistryRef {
            repository: "other/app".into(),
            ..reg()
        };
        let c = config_in(
            t.path(),
            &other,
            &super::super::policy::docker_scopes(&other),
        )
        .unwrap();
        assert_eq!(c.lookaside.as_deref(), Some("https://sigs.example.com"));
        let elsewhere = RegistryRef {
            registry: "q.example.org".into(),
            ..reg()
        };
        let c = config_in(t.path(), &elsewhere, &[]).unwrap();
        assert_eq!(c.lookaside.as_deref(), Some("file:///srv/sigs"));
        std::fs::write(
            t.path().join("c.yaml"),
            "docker:\n  r.example.com:\n    lookaside: x\n",
        )
        .unwrap();
        let err = config_in(t.path(), &reg(), &scopes)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("docker scope r.example.com is set in both"),
            "{err}"
        );
    }

    #[test]
    fn file_lookaside_layout() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("team/app@sha256=abcd");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("signature-1"), "one").unwrap();
        std::fs::write(dir.join("signature-2"), "two").unwrap();
        std::fs::write(dir.join("signature-4"), "after a gap").unwrap();
        let base = format!("file://{}", t.path().display());
        let sigs = simple_signatures(&base, &reg(), "sha256:abcd").unwrap();
        assert_eq!(sigs, [b"one".to_vec(), b"two".to_vec()]);
        assert!(simple_signatures(&base, &reg(), "sha256:ffff")
            .unwrap()
            .is_empty());
    }
}
