//! `containers rollback`: back to the other slot, as it was deployed; it
//! too must become healthy in time, or the tool goes back again.

use super::delivery::{Delivery, Replacing};
use super::health::{self, Gate};
use super::journal::failpoint;
use super::layout::SlotDir;
use super::state;
use super::steps::{activate, make_way, SocketChange};
use super::update::{back_on, last_update, socket_change, units_stop_alike, went_back};
use super::{txn, Ctx, Name};
use crate::host::fs::read_text_optional;
use anyhow::{anyhow, Result};

pub fn rollback(ctx: &Ctx, name: &Name, gate: &Gate) -> Result<()> {
    txn::recover(ctx, name)?;
    let (active, current) = ctx.current(name)?;
    let target = active.other();
    let dir = ctx.layout.slot(name, target);
    let info = state::read_optional(&dir)?
        .ok_or_else(|| anyhow!("container {name} has no previous deployment to roll back to"))?;
    let delivery = current.delivery();
    let mut prepared = delivery.reopen(&dir, info)?;
    let unit = read_text_optional(&SlotDir(&dir).unit(name))?;
    let socket = read_text_optional(&SlotDir(&dir).socket(name))?;
    Delivery::check_aliases(ctx, name, unit.as_deref(), socket.as_deref())?;
    ctx.note_relocated();
    let active_dir = ctx.layout.slot(name, active);
    let outcome = |e: &anyhow::Error| {
        let otherwise = format!(
            "rolling back {name}; it is still on {}",
            active_dir.display()
        );
        back_on(name, &active_dir, &current, e, otherwise)
    };
    let socket = socket_change(
        name,
        delivery,
        (&active_dir, &current),
        (&dir, &prepared.info),
    )?;
    let in_place = delivery == Delivery::Files
        && socket == SocketChange::Same
        && units_stop_alike(name, &active_dir, &dir)?;
    let result = txn::run(ctx, name, "rollback", outcome, |j| {
        let placement = delivery.plan(ctx, name, &dir, &mut prepared, Some(&current))?;
        make_way(ctx, name, &current, in_place, j)?;
        let replacing = Replacing {
            dir: &active_dir,
            info: &current,
            older: true,
        };
        placement.place(ctx, name, &dir, &mut prepared, Some(replacing), j)?;
        activate(ctx, name, target, &prepared.info, false, socket, j)?;
        failpoint("health")?;
        if j.stopped(&name.unit()) {
            health::wait(ctx, name, &prepared.info, gate)?;
        }
        Ok(())
    });
    result.map_err(|e| went_back(ctx, name, active, &current, gate, e))?;
    // Recorded once it is done: an undone rollback leaves the record as it was.
    prepared.info.last_update = Some(last_update("rollback", None));
    state::write(&dir, &prepared.info)?;
    ctx.report
        .note(delivery.rolled_back_message(name, &dir, &prepared.info));
    Ok(())
}
