//! The `atomic containers` commands and `run`/`stop`: listing deployments
//! with their service state (one D-Bus round trip for all), updating every
//! container with automatic rollback, and running commands in a container.

use crate::cli::ListOpts;
use crate::deploy::{self, Ctx, Info, Updated};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// Names of installed containers (the symlinks of the checkout root).
pub fn names(ctx: &Ctx) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(ctx.paths.checkout_root()) else {
        return Ok(out);
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && e.file_type().map(|t| t.is_symlink()).unwrap_or(false) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

struct Row {
    name: String,
    info: Info,
    command: String,
    state: String,
}

fn command_of(slot: &Path) -> String {
    std::fs::read(slot.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|c| {
            c["process"]["args"].as_array().map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        })
        .unwrap_or_default()
}

fn rows(ctx: &Ctx) -> Result<Vec<Row>> {
    let names = names(ctx)?;
    let units: Vec<String> = names.iter().map(|n| format!("{n}.service")).collect();
    let states = match &ctx.systemd {
        Some(s) if !units.is_empty() => s.states(&units)?,
        _ => Default::default(),
    };
    let mut rows = Vec::new();
    for name in names {
        let (n, info) = ctx.current(&name)?;
        let state = if !info.has_container_service {
            "no service".to_string()
        } else {
            match states.get(&format!("{name}.service")).map(String::as_str) {
                Some("active" | "activating" | "reloading") => "running",
                Some("failed") => "failed",
                _ => "inactive",
            }
            .to_string()
        };
        rows.push(Row {
            command: command_of(&ctx.slot(&name, n)),
            name,
            info,
            state,
        });
    }
    Ok(rows)
}

fn created(secs: u64) -> String {
    // Civil date from days since the epoch (proleptic Gregorian).
    let days = (secs / 86400) as i64;
    let (h, m) = ((secs % 86400) / 3600, (secs % 3600) / 60);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}")
}

fn trunc(s: &str, n: usize, no_trunc: bool) -> String {
    if no_trunc || s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect()
    }
}

pub fn list(ctx: &Ctx, opts: &ListOpts, no_trunc: bool) -> Result<()> {
    let mut rows = rows(ctx)?;
    for (k, v) in &opts.filter {
        rows.retain(|r| match k.as_str() {
            "container" | "name" => r.name.contains(v.as_str()),
            "image" => r.info.image.contains(v.as_str()),
            "state" => r.state == *v,
            "runtime" => r.info.runtime.contains(v.as_str()),
            "backend" => v == "ostree",
            _ => true,
        });
        if !["container", "name", "image", "state", "runtime", "backend"].contains(&k.as_str()) {
            bail!("unknown filter {k}; use container=, image=, state=, runtime= or backend=");
        }
    }
    if !opts.all {
        rows.retain(|r| r.state != "inactive" || r.info.has_container_service);
    }
    if opts.quiet {
        for r in &rows {
            println!("{}", r.name);
        }
    } else if opts.json {
        let v: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({"id": r.name, "image": r.info.image, "name": r.name, "command": r.command,
                       "created": created(r.info.created), "state": r.state, "backend": "ostree",
                       "runtime": r.info.runtime, "rpm": r.info.rpm_installed})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{:<16} {:<30} {:<16} {:<24} {:<16} {:<10} {:<8} RUNTIME",
            "CONTAINER ID", "IMAGE", "NAME", "COMMAND", "CREATED", "STATE", "BACKEND"
        );
        for r in &rows {
            println!(
                "{:<16} {:<30} {:<16} {:<24} {:<16} {:<10} {:<8} {}",
                trunc(&r.name, 16, no_trunc),
                trunc(&r.info.image, 30, no_trunc),
                r.name,
                trunc(&r.command, 24, no_trunc),
                created(r.info.created),
                r.state,
                "ostree",
                r.info.runtime
            );
        }
    }
    Ok(())
}

/// `containers update --all`: updates each container; one whose service
/// fails to start is rolled back by its update's journal. Prints a summary.
pub fn update_all(ctx: &Ctx) -> Result<()> {
    let mut results = Vec::new();
    for name in names(ctx)? {
        let r = match deploy::update(ctx, &name, &[], None) {
            Ok(Updated::Done) => "updated".to_string(),
            Ok(Updated::Unchanged) => "already latest".to_string(),
            Err(e) => format!("rolled back: {e:#}"),
        };
        results.push((name, r));
    }
    println!("{:<24} RESULT", "CONTAINER");
    for (name, r) in &results {
        println!("{name:<24} {r}");
    }
    if results.iter().any(|(_, r)| r.starts_with("rolled back")) {
        bail!("some containers failed to update and were rolled back");
    }
    Ok(())
}

pub fn stop(ctx: &Ctx, name: &str) -> Result<()> {
    ctx.current(name)?;
    let Some(s) = &ctx.systemd else {
        bail!("--root given: there is no service to stop");
    };
    s.stop(&format!("{name}.service"))
}

/// `run NAME`: start the service. `run NAME CMD...`: run CMD in the running
/// container, or in a one-off container from the same bundle when stopped.
pub fn run(ctx: &Ctx, name: &str, cmd: &[String]) -> Result<()> {
    let (n, info) = ctx.current(name)?;
    if cmd.is_empty() {
        let Some(s) = &ctx.systemd else {
            bail!("--root given: there is no service to start");
        };
        return s.start(&format!("{name}.service"));
    }
    let running = Command::new(&info.runtime)
        .args(["state", name])
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("\"running\""))
        .unwrap_or(false);
    let status = if running {
        Command::new(&info.runtime)
            .args(["exec", name])
            .args(cmd)
            .status()
    } else {
        let slot = ctx.slot(name, n);
        let bundle = tempfile::Builder::new()
            .prefix(&format!(".{name}-run-"))
            .tempdir_in(ctx.paths.checkout_root())?;
        let mut config: Value = serde_json::from_slice(&std::fs::read(slot.join("config.json"))?)?;
        config["process"]["args"] = json!(cmd);
        config["process"]["terminal"] = false.into();
        config["root"]["path"] = json!(slot.join("rootfs"));
        std::fs::write(
            bundle.path().join("config.json"),
            serde_json::to_vec(&config)?,
        )?;
        let id = format!("{name}-run-{}", std::process::id());
        Command::new(&info.runtime)
            .args(["run", "--bundle"])
            .arg(bundle.path())
            .arg(&id)
            .status()
    }
    .with_context(|| format!("running {}", info.runtime))?;
    if !status.success() {
        bail!("{} in {name} exited with {status}", cmd.join(" "));
    }
    Ok(())
}
