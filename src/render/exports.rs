//! The `/exports` directory of a system container image: `manifest.json`
//! and the templates and host files next to it.

use crate::host::fs::Rooted;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The largest `/exports` file read whole: the manifest and the templates.
pub const TEMPLATE_LIMIT: u64 = 4 << 20;

/// The templates `/exports` may hold besides host files.
pub const TEMPLATES: &[&str] = &[
    "config.json.template",
    "service.template",
    "socket.template",
    "tmpfiles.template",
];

/// `/exports/manifest.json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    #[serde(default)]
    pub version: Option<String>,
    /// Values of template variables the image chose.
    #[serde(default)]
    pub default_values: BTreeMap<String, String>,
    /// Host files (absolute paths) that are templates.
    #[serde(default)]
    pub installed_files_template: Vec<String>,
    /// Path components of host files to rename; values are templates.
    #[serde(default)]
    pub rename_files: BTreeMap<String, String>,
    /// The image only ships host files; no service runs it.
    #[serde(default)]
    pub no_container_service: bool,
    /// Hard-link host files from the deployment instead of copying them.
    #[serde(default)]
    pub use_links: bool,
    /// How to tell the service works (over the image config's Healthcheck).
    #[serde(default)]
    pub health_check: Option<super::health::ManifestHealth>,
    /// Keys this tool does not know (other tools' manifests have more):
    /// ignored, with a warning.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

impl Manifest {
    /// A warning for each key of the manifest this tool ignores.
    pub fn warnings(&self) -> Vec<String> {
        self.unknown
            .keys()
            .map(|k| format!("/exports/manifest.json: unknown key {k:?}, ignored"))
            .collect()
    }

    /// Reads the manifest of a checked-out image; an image without one
    /// gets the defaults.
    pub fn load(rootfs: &Rooted) -> Result<Manifest> {
        match read(rootfs, "manifest.json")? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| "/exports/manifest.json of the image is malformed".to_string()),
            None => Ok(Manifest::default()),
        }
    }
}

/// Reads `/exports/NAME` of the image through the handle on its rootfs: a
/// regular file of at most [`TEMPLATE_LIMIT`] bytes, or None when there is
/// none; a link that leads to nothing inside the image is an error.
pub fn read(rootfs: &Rooted, name: &str) -> Result<Option<Vec<u8>>> {
    let rel = Path::new("exports").join(name);
    match rootfs.read(&rel, TEMPLATE_LIMIT)? {
        Some(data) => Ok(Some(data)),
        None if rootfs.is_dangling(&rel)? => {
            bail!("/exports/{name} is a link to nothing in the image")
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_manifest_means_defaults_and_malformed_is_a_clear_error() {
        let t = tempfile::tempdir().unwrap();
        let root = Rooted::open(t.path()).unwrap();
        assert!(!Manifest::load(&root).unwrap().no_container_service);
        std::fs::create_dir_all(t.path().join("exports")).unwrap();
        std::fs::write(
            t.path().join("exports/manifest.json"),
            "{ \"defaultValues\": [1] ",
        )
        .unwrap();
        let err = format!("{:#}", Manifest::load(&root).unwrap_err());
        assert!(
            err.starts_with("/exports/manifest.json of the image is malformed: "),
            "{err}"
        );
        std::fs::write(
            t.path().join("exports/manifest.json"),
            r#"{"version": "1.0", "defaultValues": {"A": "1"}, "renameFiles": {"x": "y-$NAME"}, "useLinks": true}"#,
        )
        .unwrap();
        let m = Manifest::load(&root).unwrap();
        assert!(m.warnings().is_empty());
        assert_eq!(m.default_values["A"], "1");
        assert_eq!(m.rename_files["x"], "y-$NAME");
        assert!(m.use_links);
    }

    #[test]
    fn keys_of_other_tools_manifests_are_ignored_with_a_warning() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("exports")).unwrap();
        std::fs::write(
            t.path().join("exports/manifest.json"),
            r#"{"version": "1.0", "defaultValues": {"A": "1"}, "runtime": "docker", "labels": {}}"#,
        )
        .unwrap();
        let m = Manifest::load(&Rooted::open(t.path()).unwrap()).unwrap();
        assert_eq!(m.default_values["A"], "1");
        assert_eq!(
            m.warnings(),
            [
                "/exports/manifest.json: unknown key \"labels\", ignored",
                "/exports/manifest.json: unknown key \"runtime\", ignored"
            ]
        );
    }
}
