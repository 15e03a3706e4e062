//! `uninstall`: stop and disable the service, remove what the delivery put
//! on the host (unchanged host files, the package), then both slots.

use super::steps::{remove_deployments, stop_and_disable};
use super::{txn, Ctx, Name};
use anyhow::Result;

pub fn uninstall(ctx: &Ctx, name: &Name) -> Result<()> {
    txn::recover(ctx, name)?;
    let (_, info) = ctx.current(name)?;
    ctx.note_relocated();
    let delivery = info.delivery();
    stop_and_disable(ctx, name, &info)?;
    delivery.remove(ctx, name, &info)?;
    remove_deployments(ctx, name)?;
    ctx.report.note(delivery.uninstalled_message(name));
    Ok(())
}
