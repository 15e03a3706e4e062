//! `run` and `stop`: start or stop a container's service, or run a command
//! in the running container (or in a one-off container from the same
//! bundle when it is stopped).

use super::layout::SlotDir;
use super::steps::{clear_runtime_state, runtime_status};
use super::{Ctx, Name};
use crate::host::fs::write_file;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// `stop NAME`: stop the service, and delete what the runtime kept of it.
pub fn stop(ctx: &Ctx, name: &Name) -> Result<()> {
    let (_, info) = ctx.current(name)?;
    let Some(s) = ctx.target.systemd() else {
        bail!("--root given: there is no service to stop");
    };
    s.stop(&name.unit())?;
    clear_runtime_state(ctx, &info.runtime, name)
}

/// `run NAME`: start the service. `run NAME CMD...`: run CMD with the
/// terminal of the caller.
pub fn run(ctx: &Ctx, name: &Name, cmd: &[String]) -> Result<()> {
    let (slot, info) = ctx.current(name)?;
    if cmd.is_empty() {
        let Some(s) = ctx.target.systemd() else {
            bail!("--root given: there is no service to start");
        };
        return s.start(&name.unit());
    }
    let runtime = &info.runtime;
    let status = match runtime_status(ctx, runtime, name)?.as_deref() {
        Some("running") => ctx
            .runtime_command(runtime)
            .args(["exec", name.as_str()])
            .args(cmd)
            .status(),
        Some(other @ ("created" | "creating" | "paused")) => bail!(
            "container {name} is {other} in {runtime}, neither running nor stopped; \
             `{runtime} delete --force {name}` clears it"
        ),
        // Stopped or unknown: a one-off container of its own id.
        _ => {
            // The bundle the service runs: the slot's, or the package's.
            let bundle = info
                .delivery()
                .bundle_dir(ctx, name, &ctx.layout.slot(name, slot))?;
            let scratch = ctx.layout.run_scratch(name)?;
            let config_path = SlotDir(&bundle).config();
            let mut config: Value = serde_json::from_slice(
                &std::fs::read(&config_path)
                    .with_context(|| format!("reading {}", config_path.display()))?,
            )
            .with_context(|| format!("parsing {}", config_path.display()))?;
            config["process"]["args"] = json!(cmd);
            config["process"]["terminal"] = false.into();
            config["root"]["path"] = json!(SlotDir(&bundle).rootfs());
            write_file(
                &SlotDir(scratch.path()).config(),
                &serde_json::to_vec(&config)?,
                0o644,
            )?;
            let id = format!("{name}-run-{}", std::process::id());
            ctx.runtime_command(runtime)
                .args(["run", "--bundle"])
                .arg(scratch.path())
                .arg(&id)
                .status()
        }
    }
    .with_context(|| format!("running {runtime}"))?;
    if !status.success() {
        bail!("{} in {name} exited with {status}", cmd.join(" "));
    }
    Ok(())
}
