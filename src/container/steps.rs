//! The steps the verbs share, whatever the delivery: stage a slot, stop the
//! service, flip the `NAME` link and start the service, remove the slots.

use super::journal::{failpoint, Journal, Step};
use super::layout::Layout;
use super::state::Deployment;
use super::{Ctx, Name, Slot};
use crate::host::fs;
use anyhow::{anyhow, bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// An empty directory in which slot `target` of `name` is prepared, so the
/// slot it replaces (the one rollback would use) goes only once the new one
/// is complete; recorded for undo.
pub fn staging_slot(ctx: &Ctx, name: &Name, target: Slot, j: &mut Journal) -> Result<PathBuf> {
    let staging = ctx.layout.staging(name, target);
    fs::remove_tree(&staging)?;
    j.push(Step::CreatedTree(staging.clone()))?;
    fs::private_dir(&staging)?;
    Ok(staging)
}

/// Puts the prepared `staging` directory in the place of slot `target`.
/// The deployment that was there (the one a rollback goes to) is set aside,
/// not removed, until the operation commits: undone, it is back.
pub fn replace_slot(
    ctx: &Ctx,
    name: &Name,
    target: Slot,
    staging: &Path,
    j: &mut Journal,
) -> Result<PathBuf> {
    let slot = ctx.layout.slot(name, target);
    if fs::exists(&slot)? {
        j.set_aside(&slot)?;
    }
    j.push(Step::CreatedTree(slot.clone()))?;
    std::fs::rename(staging, &slot)
        .with_context(|| format!("moving {} to {}", staging.display(), slot.display()))?;
    Ok(slot)
}

/// Makes way for the deployment replacing `current`: with `in_place`
/// (its unit stops the running service the same way), the service goes on
/// running until [`activate`] restarts it in one job, so only that restart
/// is the window without service; otherwise it is stopped now. Either way
/// the journal says so first, and undoing it restarts the old deployment.
pub fn make_way(
    ctx: &Ctx,
    name: &Name,
    current: &Deployment,
    in_place: bool,
    j: &mut Journal,
) -> Result<()> {
    let unit = name.unit();
    if in_place && current.has_container_service && ctx.is_active(&unit)? {
        failpoint("stop")?;
        j.push(Step::Stopped(unit))?;
        return Ok(());
    }
    stop_running(ctx, name, current, j)
}

/// Stops the service of `current` if it runs. The stop is journaled before
/// it is asked for: a crash after systemd got the request but before the
/// journal said so would leave the service stopped for good.
pub fn stop_running(ctx: &Ctx, name: &Name, current: &Deployment, j: &mut Journal) -> Result<()> {
    let unit = name.unit();
    if current.has_container_service && ctx.is_active(&unit)? {
        failpoint("stop")?;
        j.push(Step::Stopped(unit.clone()))?;
        ctx.target
            .systemd()
            .ok_or_else(|| anyhow!("{unit} is active but no service manager is connected"))?
            .stop(&unit)?;
        clear_runtime_state(ctx, &current.runtime, name)?;
    }
    Ok(())
}

/// Deletes what the runtime still keeps of the stopped container `name`.
/// A foreground `runtime run` that a stop timeout killed leaves its state
/// behind (the catalog's units have no `ExecStopPost`), and the next start
/// would fail with "container with given ID already exists".
pub fn clear_runtime_state(ctx: &Ctx, runtime: &str, name: &Name) -> Result<()> {
    if runtime_status(ctx, runtime, name)?.is_some() {
        tracing::info!("deleting the runtime state {name} left behind");
        crate::host::command::run(ctx.runtime_command(runtime).args([
            "delete",
            "--force",
            name.as_str(),
        ]))?;
    }
    Ok(())
}

/// The status `runtime` gives the container `name` (`running`,
/// `stopped`, ...), or None when it does not know the container. Any other
/// failure of `runtime state` is an error naming it, never "not running".
pub fn runtime_status(ctx: &Ctx, runtime: &str, name: &Name) -> Result<Option<String>> {
    let out = ctx
        .runtime_command(runtime)
        .env("LC_ALL", "C")
        .args(["state", name.as_str()])
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running {runtime} state {name}"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        // runc: "container does not exist"; crun: its status file is not there.
        if said.contains("does not exist") || said.contains("No such file or directory") {
            return Ok(None);
        }
        bail!(
            "{runtime} state {name} failed ({}): {}",
            out.status,
            said.trim()
        );
    }
    let state: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("parsing the output of {runtime} state {name}"))?;
    match state["status"].as_str() {
        Some(s) => Ok(Some(s.to_string())),
        None => bail!("{runtime} state {name} gave no status"),
    }
}

/// How an update or rollback changes the container's socket unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketChange {
    /// The same socket unit, or none before and after.
    Same,
    Added,
    Removed,
    Changed,
}

impl SocketChange {
    /// The change from the socket unit `old` to `new` (their texts).
    pub fn between(old: Option<&str>, new: Option<&str>) -> SocketChange {
        match (old, new) {
            (None, Some(_)) => SocketChange::Added,
            (Some(_), None) => SocketChange::Removed,
            (Some(o), Some(n)) if o != n => SocketChange::Changed,
            _ => SocketChange::Same,
        }
    }
}

/// Flips the `NAME` link to `slot`; on install the service (or the socket
/// that activates it) is enabled, on update and rollback the socket follows
/// `socket` and the service is restarted if it ran before.
pub fn activate(
    ctx: &Ctx,
    name: &Name,
    slot: Slot,
    info: &Deployment,
    install: bool,
    socket: SocketChange,
    j: &mut Journal,
) -> Result<()> {
    failpoint("symlink")?;
    let link = ctx.layout.link(name);
    let old = fs::read_link(&link)?;
    // Recorded first: putting back the old target is harmless if the flip
    // never happened.
    j.push(Step::Link {
        path: link.clone(),
        target: old,
    })?;
    fs::point_link(&link, &Layout::link_target(name, slot))?;
    failpoint("flipped")?;
    let Some(s) = ctx.target.systemd() else {
        return Ok(());
    };
    if info.staged() {
        // Its unit is in the next boot's deployment, not on disk.
        return Ok(());
    }
    s.reload()?;
    if !info.has_container_service {
        return Ok(());
    }
    let unit = name.unit();
    if install {
        let enabled = if info.has_socket {
            name.socket()
        } else {
            unit.clone()
        };
        j.push(Step::Enabled(enabled.clone()))?;
        s.enable(&enabled)?;
    }
    let sock = name.socket();
    match socket {
        SocketChange::Same => {}
        SocketChange::Removed => {
            if s.state(&sock)? != "inactive" {
                j.push(Step::Stopped(sock.clone()))?;
                s.stop(&sock)?;
            }
            j.push(Step::Disabled(sock.clone()))?;
            s.disable(&sock)?;
        }
        SocketChange::Changed => {
            // Listening where the new unit says: the old socket goes.
            j.push(Step::Stopped(sock.clone()))?;
            s.restart(&sock)?;
        }
        SocketChange::Added => {
            j.push(Step::Enabled(sock.clone()))?;
            s.enable(&sock)?;
            j.push(Step::Started(sock.clone()))?;
            s.start(&sock)?;
        }
    }
    failpoint("start")?;
    if !install && j.stopped(&unit) {
        j.push(Step::Started(unit.clone()))?;
        // A deployment that does not even start is not healthy.
        s.restart(&unit)
            .map_err(|e| super::health::Unhealthy(format!("{e:#}")))?;
    }
    Ok(())
}

/// Stops and disables the container's service, if it has one (uninstall),
/// and deletes what `runtime` kept of it; a unit whose file is gone
/// already is only stopped.
pub fn stop_and_disable(
    ctx: &Ctx,
    name: &Name,
    has_service: bool,
    has_socket: bool,
    runtime: &str,
) -> Result<()> {
    let (Some(s), true) = (ctx.target.systemd(), has_service) else {
        return Ok(());
    };
    // The socket first: it would start the service again.
    let socket = name.socket();
    if has_socket && s.state(&socket)? != "inactive" {
        s.stop(&socket)?;
    }
    let unit = name.unit();
    if s.state(&unit)? != "inactive" {
        s.stop(&unit)?;
    }
    clear_runtime_state(ctx, runtime, name)?;
    if has_socket
        && (fs::exists(&ctx.layout.socket_file(name))?
            || fs::exists(&ctx.layout.packaged_socket(name))?)
    {
        s.disable(&socket)?;
    }
    if fs::exists(&ctx.layout.unit_file(name))? || fs::exists(&ctx.layout.packaged_unit(name))? {
        s.disable(&unit)?;
    }
    Ok(())
}

/// Removes the `NAME` symlink and both slots, then reloads systemd: the
/// last step of every uninstall.
pub fn remove_deployments(ctx: &Ctx, name: &Name) -> Result<()> {
    fs::remove_file(&ctx.layout.link(name))?;
    for slot in [Slot::Zero, Slot::One] {
        fs::remove_tree(&ctx.layout.slot(name, slot))?;
    }
    if let Some(s) = ctx.target.systemd() {
        s.reload()?;
    }
    Ok(())
}

/// Removes the container `name`, whose deployment is `info` when it could
/// be read: its service, what its delivery put on the host, its slots.
/// Every step does nothing when what it removes is gone already, so a
/// crashed uninstall is finished by running this again.
pub fn remove_container(ctx: &Ctx, name: &Name, info: Option<&Deployment>) -> Result<()> {
    // A container whose record is unreadable ran with the default runtime
    // as far as anyone can tell.
    let runtime = match info {
        Some(i) => i.runtime.clone(),
        None => resolve_runtime(None).unwrap_or_else(|_| "runc".to_string()),
    };
    stop_and_disable(
        ctx,
        name,
        info.is_none_or(|i| i.has_container_service),
        info.is_none_or(|i| i.has_socket),
        &runtime,
    )?;
    failpoint("uninstall-host")?;
    match info {
        Some(i) => super::delivery::remove(ctx, name, i)?,
        None => super::delivery::Delivery::remove_unknown(ctx, name)?,
    }
    failpoint("uninstall-slots")?;
    remove_deployments(ctx, name)
}

/// The runtime to run bundles with: `--runtime`, else runc from PATH.
pub fn resolve_runtime(runtime: Option<&Path>) -> Result<String> {
    let found = match runtime {
        Some(p) if p.components().count() > 1 => p.to_path_buf(),
        Some(p) => {
            fs::which(p).ok_or_else(|| anyhow!("runtime {} not found in PATH", p.display()))?
        }
        None => fs::which(Path::new("runc")).ok_or_else(|| {
            anyhow!("runtime runc not found in PATH; install runc or pass --runtime")
        })?,
    };
    let meta = std::fs::metadata(&found)
        .with_context(|| format!("runtime {} does not exist", found.display()))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        bail!("runtime {} is not an executable file", found.display());
    }
    Ok(found.display().to_string())
}
