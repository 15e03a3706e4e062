//! The deployment record, `info` in each slot (the same JSON the original
//! tool wrote), and the list of every deployment's image.

use super::delivery::Delivery;
use super::layout::SlotDir;
use super::Layout;
use crate::host::fs::write_file;
use crate::image::catalog::InUse;
use crate::image::store::StoredImage;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The `info` file of a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub image: String,
    /// The image id.
    pub revision: String,
    #[serde(rename = "ostree-commit")]
    pub ostree_commit: String,
    /// Seconds since the epoch.
    pub created: u64,
    pub values: BTreeMap<String, String>,
    #[serde(rename = "has-container-service")]
    pub has_container_service: bool,
    #[serde(rename = "installed-files")]
    pub installed_files: Vec<String>,
    #[serde(rename = "installed-files-checksum")]
    pub installed_files_checksum: BTreeMap<String, String>,
    #[serde(rename = "installed-files-template")]
    pub installed_files_template: Vec<String>,
    #[serde(rename = "rename-installed-files")]
    pub rename_installed_files: BTreeMap<String, String>,
    /// Directories created on the host for the host files.
    #[serde(rename = "installed-directories", default)]
    pub installed_directories: Vec<String>,
    #[serde(rename = "rpm-installed")]
    pub rpm_installed: Option<String>,
    /// On an image-based host: the package is in the next boot's deployment
    /// only (its live apply failed), so its unit is not on disk yet.
    #[serde(
        rename = "rpm-staged",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub rpm_staged: bool,
    /// How the deployment was delivered: `yes` as a package, `no` as files.
    #[serde(rename = "system-package")]
    pub system_package: String,
    pub runtime: String,
}

impl Info {
    /// The record of a new deployment of `img`, delivered as `delivery`: no
    /// host files yet, no package yet.
    pub fn new(
        img: &StoredImage,
        values: BTreeMap<String, String>,
        has_service: bool,
        runtime: &str,
        delivery: Delivery,
    ) -> Info {
        Info {
            image: img.name.clone(),
            revision: img.id.clone(),
            ostree_commit: img.commit.clone(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            values,
            has_container_service: has_service,
            installed_files: Vec::new(),
            installed_files_checksum: BTreeMap::new(),
            installed_files_template: Vec::new(),
            rename_installed_files: BTreeMap::new(),
            installed_directories: Vec::new(),
            rpm_installed: None,
            rpm_staged: false,
            system_package: delivery.recorded().to_string(),
            runtime: runtime.to_string(),
        }
    }

    /// How this deployment was delivered, as recorded at install.
    pub fn delivery(&self) -> Delivery {
        if self.rpm_installed.is_some() {
            Delivery::Package
        } else {
            Delivery::from_recorded(&self.system_package)
        }
    }
}

/// Reads the record of the slot at `slot`.
pub fn read(slot: &Path) -> Result<Info> {
    let path = SlotDir(slot).info();
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Reads the record of the slot at `slot`, or None when it has none.
pub fn read_optional(slot: &Path) -> Result<Option<Info>> {
    if crate::host::fs::exists(&SlotDir(slot).info())? {
        read(slot).map(Some)
    } else {
        Ok(None)
    }
}

/// Writes the record of the slot at `slot`.
pub fn write(slot: &Path, info: &Info) -> Result<()> {
    // It keeps the --set values, which may be secrets.
    write_file(
        &SlotDir(slot).info(),
        &serde_json::to_vec_pretty(info)?,
        0o600,
    )
}

/// The image (and image commit) of every deployment under the checkout root.
pub fn all_deployed(layout: &Layout) -> Result<Vec<InUse>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(layout.root()) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("reading {}", layout.root().display())),
    };
    for e in entries {
        let e = e.with_context(|| format!("reading {}", layout.root().display()))?;
        if e.file_type()?.is_symlink() {
            continue;
        }
        let info_path = SlotDir(&e.path()).info();
        let text = match std::fs::read(&info_path) {
            Ok(t) => t,
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                continue
            }
            Err(err) => {
                return Err(err).with_context(|| format!("reading {}", info_path.display()))
            }
        };
        let info: serde_json::Value = serde_json::from_slice(&text)
            .with_context(|| format!("parsing {}", info_path.display()))?;
        if let (Some(image), Some(commit)) =
            (info["image"].as_str(), info["ostree-commit"].as_str())
        {
            out.push(InUse {
                image: image.to_string(),
                commit: commit.to_string(),
                dir: e.path(),
            });
        }
    }
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(out)
}
