//! What an image's `/exports` will do to the host, in a few lines: the
//! commands its unit runs, its tmpfiles.d lines, its host files, the binds
//! and capabilities of its bundle. An image that ships `/exports` runs as
//! root on the host, as with the original tool: this is what an operator
//! trusts it with, shown by `images info` for the stored image and by
//! `install` for the deployment it renders.

use super::bundle::Rendered;
use super::exports::{TEMPLATES, TEMPLATE_LIMIT};
use super::hostfs::HostKind;
use super::template::{self, pieces, Piece};
use super::unit::commands;
use crate::image::store::{ImageFiles, Store, StoredImage};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The host-facing parts of a deployment or an image.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HostFacing {
    /// `Exec*=` lines of the unit.
    pub commands: Vec<String>,
    /// What its socket unit listens on and runs (`ListenStream=...`).
    pub socket: Vec<String>,
    /// tmpfiles.d lines, as type and path.
    pub tmpfiles: Vec<String>,
    /// Host files and directories, by path.
    pub host_files: Vec<String>,
    /// Bind mounts of the bundle, `SOURCE -> DESTINATION`.
    pub binds: Vec<String>,
    /// Capabilities the bundle's process may hold.
    pub capabilities: Vec<String>,
}

impl HostFacing {
    /// The parts of a rendered deployment, exactly.
    pub fn of_rendered(r: &Rendered) -> HostFacing {
        let mut h = HostFacing {
            commands: r.unit.as_deref().map(commands).unwrap_or_default(),
            socket: r.socket.as_deref().map(socket_parts).unwrap_or_default(),
            tmpfiles: r.tmpfiles.as_deref().map(tmpfiles).unwrap_or_default(),
            host_files: r
                .host_files
                .iter()
                .filter(|f| !matches!(f.kind, HostKind::Dir))
                .map(|f| f.path.display().to_string())
                .collect(),
            ..HostFacing::default()
        };
        if let Some(Ok(config)) = r.config.as_deref().map(serde_json::from_str::<Value>) {
            (h.binds, h.capabilities) = bundle_parts(&config);
        }
        h
    }

    /// The parts of a stored image, read from its templates as they are
    /// (variables shown by name).
    pub fn of_image(files: &ImageFiles) -> Result<HostFacing> {
        let text = |name: &str| -> Result<Option<String>> {
            Ok(files
                .read(&format!("exports/{name}"), super::exports::TEMPLATE_LIMIT)?
                .map(|d| String::from_utf8_lossy(&d).into_owned()))
        };
        let mut h = HostFacing {
            commands: commands(
                text("service.template")?
                    .as_deref()
                    .unwrap_or(super::bundle::DEFAULT_UNIT),
            ),
            socket: text("socket.template")?
                .as_deref()
                .map(socket_parts)
                .unwrap_or_default(),
            tmpfiles: text("tmpfiles.template")?
                .as_deref()
                .map(tmpfiles)
                .unwrap_or_default(),
            host_files: files
                .walk("exports/hostfs")?
                .into_iter()
                .map(|p| p.trim_start_matches("exports/hostfs").to_string())
                .collect(),
            ..HostFacing::default()
        };
        let config = match text("config.json.template")? {
            Some(t) => Some(placeholders(&t)),
            None => text("config.json")?,
        };
        if let Some(config) = config {
            match serde_json::from_str::<Value>(&config) {
                Ok(v) => (h.binds, h.capabilities) = bundle_parts(&v),
                Err(_) => h
                    .binds
                    .push("(the config template is JSON only once rendered)".into()),
            }
        }
        Ok(h)
    }

    /// The summary as lines (`  label: a, b, c (+2 more)`), empty parts left out.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (label, items) in [
            ("unit runs", &self.commands),
            ("socket", &self.socket),
            ("tmpfiles.d", &self.tmpfiles),
            ("host files", &self.host_files),
            ("binds", &self.binds),
            ("capabilities", &self.capabilities),
        ] {
            if items.is_empty() {
                continue;
            }
            const SHOWN: usize = 8;
            let mut line = items
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if items.len() > SHOWN {
                line.push_str(&format!(" (+{} more)", items.len() - SHOWN));
            }
            out.push(format!("  {label}: {}", crate::report::printable(&line)));
        }
        out
    }
}

/// What a socket unit listens on and runs: its `Listen*=` and `Exec*=`
/// entries.
fn socket_parts(unit: &str) -> Vec<String> {
    super::unit::entries(unit)
        .into_iter()
        .filter(|e| e.key.starts_with("Listen") || e.key.starts_with("Exec"))
        .map(|e| format!("{}={}", e.key, e.value))
        .collect()
}

/// The type and path of each tmpfiles.d line.
fn tmpfiles(text: &str) -> Vec<String> {
    super::tmpfiles::lines(text)
        .map(|l| l.fields[..l.fields.len().min(2)].join(" "))
        .collect()
}

/// A template with each variable replaced by its name, so that a JSON
/// template can be read before it is rendered.
fn placeholders(text: &str) -> String {
    pieces(text)
        .into_iter()
        .map(|p| match p {
            Piece::Text(t) => t.to_string(),
            Piece::Var(v) => format!("${v}"),
        })
        .collect()
}

/// The bind mounts and the capabilities of a runtime config.
fn bundle_parts(config: &Value) -> (Vec<String>, Vec<String>) {
    let binds = config["mounts"]
        .as_array()
        .map(|mounts| {
            mounts
                .iter()
                .filter(|m| {
                    m["type"] == "bind"
                        || m["options"]
                            .as_array()
                            .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"))
                })
                .map(|m| {
                    format!(
                        "{} -> {}",
                        m["source"].as_str().unwrap_or("?"),
                        m["destination"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let caps = &config["process"]["capabilities"];
    let mut all = BTreeSet::new();
    let mut add = |v: &Value| {
        for c in v.as_array().into_iter().flatten().filter_map(Value::as_str) {
            all.insert(c.to_string());
        }
    };
    if caps.is_array() {
        add(caps);
    } else if let Some(sets) = caps.as_object() {
        sets.values().for_each(&mut add);
    }
    (binds, all.into_iter().collect())
}

/// What `images info` shows of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub name: String,
    pub id: String,
    pub labels: BTreeMap<String, String>,
    /// Variables with a default (the image's, else the tool's), by name.
    pub defaults: Vec<(String, String)>,
    /// Variables the templates use that have no default.
    pub required: Vec<String>,
    /// Variables the tool always sets.
    pub set_by_tool: Vec<String>,
    /// What its /exports will do to the host.
    pub host_facing: HostFacing,
    /// What the signature policy accepted it by, when it was pulled.
    pub verified: Option<String>,
}

/// Reads what `images info` shows from the stored image, without a checkout.
pub fn describe(store: &Store, img: &StoredImage) -> Result<ImageInfo> {
    let files = store.files(img)?;
    let manifest: Value = match files.read("exports/manifest.json", TEMPLATE_LIMIT)? {
        Some(bytes) => serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "image {}: /exports/manifest.json is not valid JSON",
                img.name
            )
        })?,
        None => json!({}),
    };
    let image_defaults: BTreeMap<String, String> = manifest["defaultValues"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut templates: Vec<String> = TEMPLATES.iter().map(|t| format!("exports/{t}")).collect();
    if let Some(files) = manifest["installedFilesTemplate"].as_array() {
        templates.extend(
            files
                .iter()
                .filter_map(Value::as_str)
                .map(|f| format!("exports/hostfs/{}", f.trim_start_matches('/'))),
        );
    }
    let mut used = BTreeSet::new();
    for t in &templates {
        if let Some(bytes) = files.read(t, TEMPLATE_LIMIT)? {
            used.extend(template::variables(&String::from_utf8_lossy(&bytes)));
        }
    }
    let mut defaults: Vec<(String, String)> = image_defaults
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in template::TOOL_DEFAULT_VALUES {
        if used.contains(*k) && !image_defaults.contains_key(*k) {
            defaults.push((k.to_string(), v.to_string()));
        }
    }
    let required = used
        .iter()
        .filter(|k| {
            !image_defaults.contains_key(*k)
                && !template::TOOL_DEFAULT_VALUES.iter().any(|(d, _)| d == k)
                && !template::SET_BY_TOOL.contains(&k.as_str())
        })
        .cloned()
        .collect();
    Ok(ImageInfo {
        name: img.name.clone(),
        id: img.id.clone(),
        verified: img.verified.clone(),
        labels: img.labels(),
        defaults,
        required,
        set_by_tool: template::SET_BY_TOOL
            .iter()
            .map(|s| s.to_string())
            .collect(),
        host_facing: HostFacing::of_image(&files)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_parts_an_operator_trusts() {
        assert_eq!(
            commands("[Service]\nType=forking\nExecStart=/x run\n ExecStopPost=-/x rm\nEnvironment=A=1\n"),
            ["ExecStart=/x run", "ExecStopPost=-/x rm"]
        );
        assert_eq!(
            tmpfiles("# c\n\nd /run/x 0755 root root -\nL+ /etc/y - - - - /z\n"),
            ["d /run/x", "L+ /etc/y"]
        );
        let (binds, caps) = bundle_parts(&json!({
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/etc/x", "type": "bind", "source": "/etc/x", "options": ["ro"]},
                {"destination": "/var/y", "source": "/var/y", "options": ["rbind", "rw"]}
            ],
            "process": {"capabilities": {"bounding": ["CAP_KILL", "CAP_SYS_ADMIN"], "effective": ["CAP_KILL"]}}
        }));
        assert_eq!(binds, ["/etc/x -> /etc/x", "/var/y -> /var/y"]);
        assert_eq!(caps, ["CAP_KILL", "CAP_SYS_ADMIN"]);
        let (_, caps) = bundle_parts(&json!({"process": {"capabilities": ["CAP_CHOWN"]}}));
        assert_eq!(caps, ["CAP_CHOWN"], "the pre-1.0 list form");
        assert_eq!(
            placeholders(r#"{"a": "$A", "b": ${B}}"#),
            r#"{"a": "$A", "b": $B}"#
        );
    }

    #[test]
    fn long_lists_stay_on_one_line() {
        let h = HostFacing {
            host_files: (0..10).map(|i| format!("/etc/f{i}")).collect(),
            ..HostFacing::default()
        };
        assert_eq!(
            h.lines(),
            ["  host files: /etc/f0, /etc/f1, /etc/f2, /etc/f3, /etc/f4, /etc/f5, /etc/f6, /etc/f7 (+2 more)"]
        );
    }
}
