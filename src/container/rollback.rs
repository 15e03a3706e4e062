//! `containers rollback`: back to the other slot, as it was deployed.

use super::delivery::{Delivery, Replacing};
use super::layout::SlotDir;
use super::state;
use super::steps::{activate, stop_running};
use super::{txn, Ctx, Name};
use anyhow::{anyhow, Context, Result};

pub fn rollback(ctx: &Ctx, name: &Name) -> Result<()> {
    txn::recover(ctx, name)?;
    let (active, current) = ctx.current(name)?;
    let target = active.other();
    let dir = ctx.layout.slot(name, target);
    let info = state::read_optional(&dir)?
        .ok_or_else(|| anyhow!("container {name} has no previous deployment to roll back to"))?;
    let delivery = current.delivery();
    let mut prepared = delivery.reopen(&dir, info)?;
    let unit = SlotDir(&dir).unit(name);
    let unit = match std::fs::read_to_string(&unit) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", unit.display())),
    };
    Delivery::check_aliases(ctx, name, unit.as_deref())?;
    ctx.note_relocated();
    let active_dir = ctx.layout.slot(name, active);
    let outcome = || {
        format!(
            "rolling back {name}; it is still on {}",
            active_dir.display()
        )
    };
    txn::run(ctx, name, "rollback", outcome, |j| {
        let placement = delivery.plan(ctx, name, &dir, &mut prepared, Some(&current))?;
        stop_running(ctx, name, &current, j)?;
        let replacing = Replacing {
            dir: &active_dir,
            info: &current,
            older: true,
        };
        placement.place(ctx, name, &dir, &mut prepared, Some(replacing), j)?;
        activate(ctx, name, target, &prepared.info, false, j)
    })?;
    ctx.report
        .note(delivery.rolled_back_message(name, &dir, &prepared.info));
    Ok(())
}
