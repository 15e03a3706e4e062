//! `containers rollback`: back to the other slot, as it was deployed; it
//! too must become healthy in time, or the tool goes back again.

use super::delivery::{Delivery, Replacing};
use super::health::{self, Gate};
use super::layout::SlotDir;
use super::state;
use super::steps::{activate, make_way};
use super::update::{back_on, last_update, restarts, units_stop_alike, went_back};
use super::{txn, Ctx, Name};
use anyhow::{anyhow, Context, Result};

pub fn rollback(ctx: &Ctx, name: &Name, gate: &Gate) -> Result<()> {
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
    let restarts = restarts(ctx, name)?;
    let outcome = |e: &anyhow::Error| {
        let otherwise = format!(
            "rolling back {name}; it is still on {}",
            active_dir.display()
        );
        back_on(name, &active_dir, &current, e, otherwise)
    };
    let in_place = delivery == Delivery::Files && units_stop_alike(name, &active_dir, &dir)?;
    prepared.info.last_update = Some(last_update("rollback", None));
    let result = txn::run(ctx, name, "rollback", outcome, |j| {
        let placement = delivery.plan(ctx, name, &dir, &mut prepared, Some(&current))?;
        make_way(ctx, name, &current, in_place, j)?;
        let replacing = Replacing {
            dir: &active_dir,
            info: &current,
            older: true,
        };
        placement.place(ctx, name, &dir, &mut prepared, Some(replacing), j)?;
        activate(ctx, name, target, &prepared.info, false, j)?;
        failpoint_health()?;
        if j.stopped(&name.unit()) {
            health::wait(ctx, name, &prepared.info, gate, restarts)?;
        }
        state::write(&dir, &prepared.info)
    });
    result.map_err(|e| went_back(ctx, name, active, &current, gate, e))?;
    ctx.report
        .note(delivery.rolled_back_message(name, &dir, &prepared.info));
    Ok(())
}

fn failpoint_health() -> Result<()> {
    super::journal::failpoint("health")
}
