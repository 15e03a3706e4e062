//! The deployment record, `info` in each slot (the same JSON the original
//! tool wrote), and the list of every deployment's image.

use super::layout::SlotDir;
use super::Layout;
use crate::host::fs::write_file;
use crate::image::catalog::InUse;
use crate::image::store::StoredImage;
use crate::render::health::HealthCheck;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One deployment of a container: what was deployed, and how it reached
/// the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Record", into = "Record")]
pub struct Deployment {
    pub image: String,
    /// The image id.
    pub revision: String,
    pub ostree_commit: String,
    /// Seconds since the epoch.
    pub created: u64,
    pub values: BTreeMap<String, String>,
    pub has_container_service: bool,
    pub runtime: String,
    pub delivered: Delivered,
    /// A socket unit (`NAME.socket`) holds the service's sockets.
    pub has_socket: bool,
    /// How to tell the service works, when the image says.
    pub health_check: Option<HealthCheck>,
    /// What the last update or rollback that ended on this deployment did.
    pub last_update: Option<LastUpdate>,
}

/// The outcome of an update or rollback, kept on the deployment it left
/// active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUpdate {
    /// `updated`, `rolled back` (by the tool, the new deployment being
    /// unhealthy) or `rollback` (asked for).
    pub outcome: String,
    /// Why it was rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Seconds since the epoch.
    pub time: u64,
}

/// How a deployment reached the host, with what only that way has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// As files: its unit, tmpfiles file and the host files in the ledger.
    Files(Ledger),
    /// As the package `nvr`. `staged`: on an image-based host, the package
    /// is in the next boot's deployment only (its live apply failed), so
    /// its unit is not on disk yet.
    Package { nvr: String, staged: bool },
}

/// The host files a plain deployment put on the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// The host files installed, as the host sees them.
    pub files: Vec<String>,
    /// Their checksums when installed: a file changed since is kept.
    pub checksums: BTreeMap<String, String>,
    /// The image's files rendered as templates (its manifest's list).
    pub templates: Vec<String>,
    /// The image's renames of host files (its manifest's).
    pub renames: BTreeMap<String, String>,
    /// Directories created on the host for the host files.
    pub directories: Vec<String>,
}

impl Deployment {
    /// The record of a new deployment of `img`, delivered as `delivered`.
    pub fn new(
        img: &StoredImage,
        values: BTreeMap<String, String>,
        has_service: bool,
        runtime: &str,
        delivered: Delivered,
    ) -> Deployment {
        Deployment {
            image: img.name.clone(),
            revision: img.id.clone(),
            ostree_commit: img.commit.clone(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            values,
            has_container_service: has_service,
            runtime: runtime.to_string(),
            delivered,
            has_socket: false,
            health_check: None,
            last_update: None,
        }
    }

    /// The host-file ledger of a plain deployment (none for a package).
    pub fn ledger(&self) -> Option<&Ledger> {
        match &self.delivered {
            Delivered::Files(l) => Some(l),
            Delivered::Package { .. } => None,
        }
    }

    /// Whether its package is staged for the next boot only, its unit not
    /// on disk yet.
    pub fn staged(&self) -> bool {
        matches!(self.delivered, Delivered::Package { staged: true, .. })
    }

    /// The package it was delivered as, if any.
    pub fn package(&self) -> Option<&str> {
        match &self.delivered {
            Delivered::Package { nvr, .. } => Some(nvr),
            Delivered::Files(_) => None,
        }
    }
}

/// How a container reaches the host: the mode a deployment was delivered
/// in, chosen once at install and kept by update and rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Units, tmpfiles and host files written to `/etc` and the host paths.
    Files,
    /// A generated RPM package that the host's package manager installs.
    Package,
}

impl Deployment {
    /// How this deployment was delivered.
    pub fn delivery(&self) -> Delivery {
        match self.delivered {
            Delivered::Files(_) => Delivery::Files,
            Delivered::Package { .. } => Delivery::Package,
        }
    }
}

/// The record as it is stored: the original tool's flat `info` file.
#[derive(Serialize, Deserialize)]
struct Record {
    image: String,
    revision: String,
    #[serde(rename = "ostree-commit")]
    ostree_commit: String,
    created: u64,
    values: BTreeMap<String, String>,
    #[serde(rename = "has-container-service")]
    has_container_service: bool,
    #[serde(rename = "installed-files", default)]
    installed_files: Vec<String>,
    #[serde(rename = "installed-files-checksum", default)]
    installed_files_checksum: BTreeMap<String, String>,
    #[serde(rename = "installed-files-template", default)]
    installed_files_template: Vec<String>,
    #[serde(rename = "rename-installed-files", default)]
    rename_installed_files: BTreeMap<String, String>,
    #[serde(rename = "installed-directories", default)]
    installed_directories: Vec<String>,
    #[serde(rename = "rpm-installed", default)]
    rpm_installed: Option<String>,
    #[serde(
        rename = "rpm-staged",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    rpm_staged: bool,
    /// `yes` for a package, `no` for files.
    #[serde(rename = "system-package", default)]
    system_package: String,
    runtime: String,
    #[serde(
        rename = "has-socket",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    has_socket: bool,
    #[serde(
        rename = "health-check",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    health_check: Option<HealthCheck>,
    #[serde(
        rename = "last-update",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    last_update: Option<LastUpdate>,
}

impl TryFrom<Record> for Deployment {
    type Error = anyhow::Error;

    fn try_from(r: Record) -> Result<Deployment> {
        let ledger_empty = r.installed_files.is_empty()
            && r.installed_files_checksum.is_empty()
            && r.installed_directories.is_empty();
        let delivered = match (r.rpm_installed, r.system_package.as_str()) {
            (Some(nvr), _) if nvr.is_empty() => bail!("rpm-installed names no package"),
            (Some(_), _) if !ledger_empty => {
                bail!("it records both a package (rpm-installed) and host files it installed")
            }
            (Some(nvr), _) => Delivered::Package {
                nvr,
                staged: r.rpm_staged,
            },
            (None, "yes") => bail!("system-package is \"yes\" but rpm-installed names no package"),
            _ => Delivered::Files(Ledger {
                files: r.installed_files,
                checksums: r.installed_files_checksum,
                templates: r.installed_files_template,
                renames: r.rename_installed_files,
                directories: r.installed_directories,
            }),
        };
        Ok(Deployment {
            image: r.image,
            revision: r.revision,
            ostree_commit: r.ostree_commit,
            created: r.created,
            values: r.values,
            has_container_service: r.has_container_service,
            runtime: r.runtime,
            delivered,
            has_socket: r.has_socket,
            health_check: r
                .health_check
                .map(|c| c.checked("health-check"))
                .transpose()?,
            last_update: r.last_update,
        })
    }
}

impl From<Deployment> for Record {
    fn from(d: Deployment) -> Record {
        let (ledger, rpm_installed, rpm_staged, system_package) = match d.delivered {
            Delivered::Files(l) => (l, None, false, "no"),
            Delivered::Package { nvr, staged } => (Ledger::default(), Some(nvr), staged, "yes"),
        };
        Record {
            image: d.image,
            revision: d.revision,
            ostree_commit: d.ostree_commit,
            created: d.created,
            values: d.values,
            has_container_service: d.has_container_service,
            installed_files: ledger.files,
            installed_files_checksum: ledger.checksums,
            installed_files_template: ledger.templates,
            rename_installed_files: ledger.renames,
            installed_directories: ledger.directories,
            rpm_installed,
            rpm_staged,
            system_package: system_package.to_string(),
            runtime: d.runtime,
            has_socket: d.has_socket,
            health_check: d.health_check,
            last_update: d.last_update,
        }
    }
}

/// The largest record read: thousands of host files fit in far less.
const RECORD_LIMIT: u64 = 16 << 20;

/// Reads the record of the slot at `slot`.
pub fn read(slot: &Path) -> Result<Deployment> {
    use std::io::Read as _;
    let path = SlotDir(slot).info();
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(RECORD_LIMIT + 1).read_to_end(&mut bytes))
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > RECORD_LIMIT {
        bail!("{} is larger than {RECORD_LIMIT} bytes", path.display());
    }
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Reads the record of the slot at `slot`, or None when it has none.
pub fn read_optional(slot: &Path) -> Result<Option<Deployment>> {
    if crate::host::fs::exists(&SlotDir(slot).info())? {
        read(slot).map(Some)
    } else {
        Ok(None)
    }
}

/// Writes the record of the slot at `slot`.
pub fn write(slot: &Path, info: &Deployment) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of each delivery as this tool and the original wrote it.
    const FILES: &str = r#"{
  "image": "greeter:1.0",
  "revision": "abc",
  "ostree-commit": "c1",
  "created": 1700000000,
  "values": {
    "PORT": "8081"
  },
  "has-container-service": true,
  "installed-files": [
    "/etc/g.conf"
  ],
  "installed-files-checksum": {
    "/etc/g.conf": "00ff"
  },
  "installed-files-template": [
    "/etc/g.conf"
  ],
  "rename-installed-files": {
    "a": "b"
  },
  "installed-directories": [
    "/etc/g"
  ],
  "rpm-installed": null,
  "system-package": "no",
  "runtime": "/usr/bin/runc"
}"#;

    const PACKAGE: &str = r#"{
  "image": "greeter:1.0",
  "revision": "abc",
  "ostree-commit": "c1",
  "created": 1700000000,
  "values": {},
  "has-container-service": true,
  "installed-files": [],
  "installed-files-checksum": {},
  "installed-files-template": [],
  "rename-installed-files": {},
  "installed-directories": [],
  "rpm-installed": "atomic-container-g-1.0-2.abc",
  "rpm-staged": true,
  "system-package": "yes",
  "runtime": "/usr/bin/runc"
}"#;

    #[test]
    fn records_load_typed_and_are_written_back_as_they_were() {
        let files: Deployment = serde_json::from_str(FILES).unwrap();
        assert_eq!(files.delivery(), Delivery::Files);
        let ledger = files.ledger().unwrap();
        assert_eq!(ledger.files, ["/etc/g.conf"]);
        assert_eq!(ledger.directories, ["/etc/g"]);
        assert_eq!(ledger.renames["a"], "b");
        assert!(!files.staged());
        let package: Deployment = serde_json::from_str(PACKAGE).unwrap();
        assert_eq!(
            package.delivered,
            Delivered::Package {
                nvr: "atomic-container-g-1.0-2.abc".into(),
                staged: true
            }
        );
        assert!(package.ledger().is_none());
        for (d, text) in [(files, FILES), (package, PACKAGE)] {
            assert_eq!(serde_json::to_string_pretty(&d).unwrap(), text);
        }
    }

    #[test]
    fn a_health_check_a_record_holds_is_checked_like_the_images() {
        let bad = PACKAGE.replace(
            "\"runtime\": \"/usr/bin/runc\"",
            "\"runtime\": \"/usr/bin/runc\", \"health-check\": {\"command\": [], \"interval\": 1e308, \"timeout\": -1, \"retries\": 1, \"start-period\": -5}",
        );
        let err = serde_json::from_str::<Deployment>(&bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("health-check: the command is empty"),
            "{err}"
        );
    }

    #[test]
    fn older_records_still_load() {
        // Before installed-directories and rpm-staged were written.
        let old = r#"{"image": "i", "revision": "r", "ostree-commit": "c", "created": 0,
            "values": {}, "has-container-service": false, "installed-files": [],
            "installed-files-checksum": {}, "installed-files-template": [],
            "rename-installed-files": {}, "rpm-installed": null, "system-package": "no",
            "runtime": "runc"}"#;
        let d: Deployment = serde_json::from_str(old).unwrap();
        assert_eq!(d.delivered, Delivered::Files(Ledger::default()));
        let err = serde_json::from_str::<Deployment>(&old.replace("\"no\"", "\"yes\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("system-package is \"yes\" but rpm-installed names no package"),
            "{err}"
        );
    }
}
