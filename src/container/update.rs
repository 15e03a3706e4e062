//! `containers update`: the newest image (or `--rebase`, or new `--set`
//! values) in the other slot, then the link flips; `--all` updates each
//! container, one that fails being rolled back by its own journal.

use super::delivery::{Delivery, Replacing, SlotRequest};
use super::journal::failpoint;
use super::steps::{activate, replace_slot, staging_slot, stop_running};
use super::{txn, Ctx, Name};
use crate::image::lookup::find_or_pull;
use crate::image::pull::PullOptions;
use crate::image::store::Store;
use anyhow::{anyhow, Result};

/// The outcome of updating one container.
#[derive(Debug, PartialEq, Eq)]
pub enum Updated {
    Done,
    Unchanged,
}

pub fn update(
    ctx: &Ctx,
    name: &Name,
    set: &[(String, String)],
    rebase: Option<&str>,
    pull: &PullOptions,
) -> Result<Updated> {
    txn::recover(ctx, name)?;
    let (active, current) = ctx.current(name)?;
    let store = Store::open_or_create(ctx.paths)?;
    let img = match rebase {
        Some(r) => find_or_pull(ctx.paths, &store, r, pull, &ctx.report)?,
        None => store.image(&current.image)?.ok_or_else(|| {
            anyhow!("image {} of container {name} is no longer in the repository; pull it or use --rebase", current.image)
        })?,
    };
    if img.id == current.revision && set.iter().all(|(k, v)| current.values.get(k) == Some(v)) {
        ctx.report.note("Latest version already installed.");
        return Ok(Updated::Unchanged);
    }
    ctx.note_relocated();
    let delivery = current.delivery();
    let target = active.other();
    let active_dir = ctx.layout.slot(name, active);
    let runtime = current.runtime.clone();
    let outcome = || format!("updating {name}; it is back on {}", active_dir.display());
    let (dir, info) = txn::run(ctx, name, "update", outcome, |j| {
        let staging = staging_slot(ctx, name, target, j)?;
        failpoint("checkout")?;
        let req = SlotRequest {
            store: &store,
            img: &img,
            name,
            slot: target,
            dir: &staging,
            current: Some(&current),
            set,
            runtime: &runtime,
        };
        let mut prepared = delivery.prepare(ctx, &req)?;
        Delivery::check_aliases(ctx, name, prepared.unit.as_deref())?;
        let placement = delivery.plan(ctx, name, &staging, &mut prepared, Some(&current))?;
        failpoint("prepare")?;
        let dir = replace_slot(ctx, name, target, &staging, j)?;
        stop_running(ctx, name, &current, j)?;
        let replacing = Replacing {
            dir: &active_dir,
            info: &current,
            older: false,
        };
        placement.place(ctx, name, &dir, &mut prepared, Some(replacing), j)?;
        activate(ctx, name, target, &prepared.info, false, j)?;
        Ok((dir, prepared.info))
    })?;
    ctx.report.note(delivery.updated_message(name, &dir, &info));
    Ok(Updated::Done)
}

/// `containers update --all`: each container's name and what happened to
/// it (an error means it was rolled back).
pub fn update_all(ctx: &Ctx) -> Result<Vec<(Name, Result<Updated>)>> {
    Ok(ctx
        .layout
        .names()?
        .into_iter()
        .map(|name| {
            let r = update(ctx, &name, &[], None, &PullOptions::default());
            (name, r)
        })
        .collect())
}
