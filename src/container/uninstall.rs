//! `uninstall`: stop and disable the service, remove what the delivery put
//! on the host (unchanged host files, the package), then both slots.
//! Journaled forward: after a crash the next command finishes it. A
//! container whose record is unreadable is still removed, as far as it can
//! be found.

use super::delivery::Delivery;
use super::journal::{self, failpoint, Journal, Recovered};
use super::state::Deployment;
use super::steps::{remove_deployments, resolve_runtime, stop_and_disable};
use super::{Ctx, Name, Slot};
use crate::host::fs;
use anyhow::Result;

pub fn uninstall(ctx: &Ctx, name: &Name) -> Result<()> {
    let recovered = match Journal::load(ctx, name) {
        Ok(Some(j)) => j.resume(ctx, name)?,
        Ok(None) => Recovered::Nothing,
        // What it recorded cannot be undone; uninstalling removes it all.
        Err(e) => {
            journal::discard(ctx, name, &e)?;
            Recovered::Nothing
        }
    };
    if recovered == Recovered::Uninstalled {
        ctx.report.note(format!("Uninstalled {name}"));
        return Ok(());
    }
    let info = match ctx.current(name) {
        Ok((_, info)) => Some(info),
        Err(e) if !leftovers(ctx, name)? => return Err(e),
        Err(e) => {
            ctx.report.warn(format!(
                "container {name} is broken ({e:#}); removing what can be found of it"
            ));
            None
        }
    };
    ctx.note_relocated();
    let j = Journal::begin_uninstall(&ctx.layout, name, info.as_ref())?;
    finish(ctx, name, info.as_ref())?;
    j.commit()?;
    let delivery = info.as_ref().map_or(Delivery::Files, Deployment::delivery);
    ctx.report.note(delivery.uninstalled_message(name));
    Ok(())
}

/// Whether anything of `name` is under the checkout root.
fn leftovers(ctx: &Ctx, name: &Name) -> Result<bool> {
    for p in [
        ctx.layout.link(name),
        ctx.layout.slot(name, Slot::Zero),
        ctx.layout.slot(name, Slot::One),
    ] {
        if fs::exists(&p)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Removes the container `name`, whose deployment is `info` when it could
/// be read; every step does nothing when what it removes is gone already,
/// so a crashed uninstall is finished by running this again.
pub fn finish(ctx: &Ctx, name: &Name, info: Option<&Deployment>) -> Result<()> {
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
        &runtime,
    )?;
    failpoint("uninstall-host")?;
    match info {
        Some(i) => super::delivery::remove(ctx, name, i)?,
        None => Delivery::remove_unknown(ctx, name)?,
    }
    failpoint("uninstall-slots")?;
    remove_deployments(ctx, name)
}
