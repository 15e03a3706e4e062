//! `uninstall`: stop and disable the service, remove what the delivery put
//! on the host (unchanged host files, the package), then both slots.
//! Journaled forward: after a crash the next command finishes it. A
//! container whose record is unreadable is still removed, as far as it can
//! be found.

use super::journal::Journal;
use super::state::{Delivery, Deployment};
use super::steps::remove_container;
use super::txn::{self, Recovered};
use super::{Ctx, Name, Slot};
use crate::host::fs;
use anyhow::Result;

pub fn uninstall(ctx: &Ctx, name: &Name) -> Result<()> {
    if txn::recover_or_discard(ctx, name)? == Recovered::Uninstalled {
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
    remove_container(ctx, name, info.as_ref())?;
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
