//! `containers list`: every deployment with its service state (one D-Bus
//! round trip for all), as rows for the CLI to print.

use super::health::Health;
use super::layout::SlotDir;
use super::state::Deployment;
use super::{Ctx, Name};
use crate::host::fs;
use anyhow::{bail, Context, Result};
use serde_json::Value;

/// One row of `containers list`.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: Name,
    pub info: Deployment,
    /// The container's command line (its config.json's process.args).
    pub command: String,
    /// `running`, `failed`, `inactive` or `no service`.
    pub state: String,
    /// Whether it works: its unit, and its health check when it has one.
    pub health: Health,
}

/// The filters `containers list -f` takes.
pub const FILTERS: &[&str] = &["container", "name", "image", "state", "runtime", "backend"];

fn command_of(path: &std::path::Path) -> Result<String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        // An image that only ships host files has no bundle to run.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let config: Value =
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))?;
    Ok(config["process"]["args"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default())
}

/// The rows, filtered by `KEY=VALUE` pairs; without `all`, containers
/// whose service is inactive are left out (those without one are kept).
pub fn list(ctx: &Ctx, filter: &[(String, String)], all: bool) -> Result<Vec<Row>> {
    for (k, _) in filter {
        if !FILTERS.contains(&k.as_str()) {
            bail!("unknown filter {k}; use container=, image=, state=, runtime= or backend=");
        }
    }
    let names = ctx.layout.names()?;
    let units: Vec<String> = names.iter().map(Name::unit).collect();
    let states = match ctx.target.systemd() {
        Some(s) if !units.is_empty() => s.states(&units)?,
        _ => Default::default(),
    };
    let mut rows = Vec::new();
    for name in names {
        // A broken container must not hide the others: say so, list them.
        let (slot, info) = match ctx.current(&name) {
            Ok(c) => c,
            Err(e) => {
                ctx.report.warn(format!("container {name}: {e:#}"));
                continue;
            }
        };
        let delivery = info.delivery();
        let state = if info.staged() && !fs::exists(&delivery.unit_on_disk(ctx, &name))? {
            "staged"
        } else if !info.has_container_service {
            "no service"
        } else {
            match states.get(&name.unit()).map(String::as_str) {
                Some("active" | "activating" | "reloading") => "running",
                Some("failed") => "failed",
                _ => "inactive",
            }
        };
        // A broken bundle must not hide the other containers: say so, list it.
        let bundle = delivery.bundle_dir(ctx, &name, &ctx.layout.slot(&name, slot));
        let command = bundle
            .and_then(|b| command_of(&SlotDir(&b).config()))
            .unwrap_or_else(|e| {
                ctx.report.warn(format!("container {name}: {e:#}"));
                String::new()
            });
        let health = super::health::now(ctx, &name, &info, state).unwrap_or_else(|e| {
            ctx.report.warn(format!("container {name}: {e:#}"));
            Health::Unhealthy(format!("{e:#}"))
        });
        rows.push(Row {
            command,
            state: state.to_string(),
            health,
            name,
            info,
        });
    }
    rows.retain(|r| {
        filter.iter().all(|(k, v)| match k.as_str() {
            "container" | "name" => r.name.as_str().contains(v.as_str()),
            "image" => r.info.image.contains(v.as_str()),
            "state" => r.state == *v,
            "runtime" => r.info.runtime.contains(v.as_str()),
            _ => v == "ostree",
        })
    });
    if !all {
        rows.retain(|r| r.state != "inactive" || r.info.has_container_service);
    }
    Ok(rows)
}
