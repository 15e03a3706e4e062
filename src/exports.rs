//! The `/exports` directory of a system container image: `manifest.json`
//! and the templates and host files next to it.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// `/exports/manifest.json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
}

impl Manifest {
    /// Reads the manifest of a checked-out image; an image without one
    /// gets the defaults.
    pub fn load(rootfs: &Path) -> Result<Manifest> {
        let path = rootfs.join("exports/manifest.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| "/exports/manifest.json of the image is malformed".to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_manifest_means_defaults_and_malformed_is_a_clear_error() {
        let t = tempfile::tempdir().unwrap();
        assert!(!Manifest::load(t.path()).unwrap().no_container_service);
        std::fs::create_dir_all(t.path().join("exports")).unwrap();
        std::fs::write(
            t.path().join("exports/manifest.json"),
            "{ \"defaultValues\": [1] ",
        )
        .unwrap();
        let err = format!("{:#}", Manifest::load(t.path()).unwrap_err());
        assert!(
            err.starts_with("/exports/manifest.json of the image is malformed: "),
            "{err}"
        );
        std::fs::write(
            t.path().join("exports/manifest.json"),
            r#"{"version": "1.0", "defaultValues": {"A": "1"}, "renameFiles": {"x": "y-$NAME"}, "useLinks": true}"#,
        )
        .unwrap();
        let m = Manifest::load(t.path()).unwrap();
        assert_eq!(m.default_values["A"], "1");
        assert_eq!(m.rename_files["x"], "y-$NAME");
        assert!(m.use_links);
    }
}
