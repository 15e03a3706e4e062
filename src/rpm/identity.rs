//! The package's identity from the image labels: name, version, release
//! (serial and image id), summary, license and the dependency labels.

use crate::image::store::StoredImage;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

/// The package's identity and metadata, from the image labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageIdentity {
    pub name: String,
    pub version: String,
    pub release: String,
    pub summary: String,
    pub license: String,
    pub url: Option<String>,
    pub description: String,
    pub requires: Vec<String>,
    pub conflicts: Vec<String>,
    pub provides: Vec<String>,
}

impl PackageIdentity {
    /// `atomic-container-NAME-V-R.noarch.rpm`.
    pub fn file_name(&self) -> String {
        format!("{}-{}-{}.noarch.rpm", self.name, self.version, self.release)
    }
}

/// The labels a package is made from.
const LABELS: &[&str] = &[
    "atomic.version",
    "org.opencontainers.image.version",
    "atomic.summary",
    "atomic.description",
    "atomic.license",
    "atomic.url",
    "atomic.requires",
    "atomic.conflicts",
    "atomic.provides",
];

/// Splits a dependency label (`a, b >= 1.0`) into checked entries.
fn deps(labels: &BTreeMap<String, String>, key: &str) -> Result<Vec<String>> {
    let Some(v) = labels.get(key) else {
        return Ok(Vec::new());
    };
    v.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            parse_dep(d)
                .map(|_| d.to_string())
                .with_context(|| format!("label {key}: invalid dependency {d:?}"))
        })
        .collect()
}

/// A dependency as the `rpm` crate takes it.
pub fn parse_dep(d: &str) -> Result<rpm::Dependency> {
    let words: Vec<&str> = d.split_whitespace().collect();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+-()/:".contains(c))
            && !n.starts_with(['-', '.'])
    };
    let version_ok = |v: &str| {
        !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+~:-^".contains(c))
    };
    match words.as_slice() {
        [n] if name_ok(n) => Ok(rpm::Dependency::any(*n)),
        [n, op, v] if name_ok(n) && version_ok(v) => Ok(match *op {
            "=" | "==" => rpm::Dependency::eq(*n, *v),
            ">=" => rpm::Dependency::greater_eq(*n, *v),
            ">" => rpm::Dependency::greater(*n, *v),
            "<=" => rpm::Dependency::less_eq(*n, *v),
            "<" => rpm::Dependency::less(*n, *v),
            other => bail!("unknown operator {other}"),
        }),
        _ => bail!("expected NAME or NAME OP VERSION"),
    }
}

/// The identity of the package of `name` from `img`, release `serial`.
pub fn identity(img: &StoredImage, name: &str, serial: u32) -> Result<PackageIdentity> {
    let labels = img.labels();
    for k in LABELS {
        if let Some(v) = labels.get(*k) {
            if v.chars().any(char::is_control) {
                bail!("label {k}: {v:?} has a newline or another control character, which a package header cannot hold");
            }
        }
    }
    let label = |k: &str| labels.get(k).filter(|v| !v.trim().is_empty()).cloned();
    let version = label("atomic.version")
        .or_else(|| label("org.opencontainers.image.version"))
        .unwrap_or_else(|| "1".into());
    if !version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._+~^".contains(c))
    {
        bail!("label atomic.version: {version:?} is not a valid RPM version");
    }
    let summary = label("atomic.summary").unwrap_or_else(|| format!("System container {name}"));
    let mut provides = deps(&labels, "atomic.provides")?;
    provides.push(format!("atomic-container({name})"));
    Ok(PackageIdentity {
        name: format!("atomic-container-{name}"),
        version,
        release: format!("{serial}.{}", &img.id[..12]),
        description: label("atomic.description").unwrap_or_else(|| summary.clone()),
        summary,
        license: label("atomic.license").unwrap_or_else(|| "Unknown".into()),
        url: match label("atomic.url") {
            Some(u) if u.contains(char::is_whitespace) => {
                bail!("label atomic.url: {u:?} is not a URL (it has whitespace)")
            }
            u => u,
        },
        requires: deps(&labels, "atomic.requires")?,
        conflicts: deps(&labels, "atomic.conflicts")?,
        provides,
    })
}
