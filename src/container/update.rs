//! `containers update`: the newest image (or `--rebase`, or new `--set`
//! values) in the other slot, then the link flips; `--all` updates each
//! container, one that fails being rolled back by its own journal. The new
//! deployment must become healthy in time, or the tool goes back to the old
//! one itself.

use super::delivery::{Delivery, Replacing, SlotRequest};
use super::health::{self, Gate};
use super::journal::failpoint;
use super::layout::SlotDir;
use super::state::{self, Deployment, LastUpdate};
use super::steps::{activate, make_way, replace_slot, staging_slot, SocketChange};
use super::{txn, Ctx, Name, Slot};
use crate::host::fs::read_text_optional;
use crate::image::lookup::find_or_pull;
use crate::image::pull::PullOptions;
use crate::image::store::Store;
use anyhow::{anyhow, Result};
use std::path::Path;

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
    gate: &Gate,
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
    let outcome = |e: &anyhow::Error| {
        let otherwise = format!("updating {name}; it is back on {}", active_dir.display());
        back_on(name, &active_dir, &current, e, otherwise)
    };
    let result = txn::run(ctx, name, "update", outcome, |j| {
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
        Delivery::check_aliases(
            ctx,
            name,
            prepared.unit.as_deref(),
            prepared.socket.as_deref(),
        )?;
        let placement = delivery.plan(ctx, name, &staging, &mut prepared, Some(&current))?;
        prepared.info.last_update = Some(last_update("updated", None));
        failpoint("prepare")?;
        let socket = socket_change(
            name,
            delivery,
            (&active_dir, &current),
            (&staging, &prepared.info),
        )?;
        let in_place = delivery == Delivery::Files
            && socket == SocketChange::Same
            && units_stop_alike(name, &active_dir, &staging)?;
        let dir = replace_slot(ctx, name, target, &staging, j)?;
        make_way(ctx, name, &current, in_place, j)?;
        let replacing = Replacing {
            dir: &active_dir,
            info: &current,
            older: false,
        };
        placement.place(ctx, name, &dir, &mut prepared, Some(replacing), j)?;
        activate(ctx, name, target, &prepared.info, false, socket, j)?;
        failpoint("health")?;
        if j.stopped(&name.unit()) {
            health::wait(ctx, name, &prepared.info, gate)?;
        }
        state::write(&dir, &prepared.info)?;
        Ok((dir, prepared.info))
    });
    let (dir, info) = result.map_err(|e| went_back(ctx, name, active, &current, gate, e))?;
    ctx.report.note(delivery.updated_message(name, &dir, &info));
    Ok(Updated::Done)
}

/// Whether the unit of the slot prepared in `new` stops the service the
/// one of `old` runs the same way, so it can take over by a restart.
pub(super) fn units_stop_alike(name: &Name, old: &Path, new: &Path) -> Result<bool> {
    let read = |dir: &Path| read_text_optional(&SlotDir(dir).unit(name));
    Ok(match (read(old)?, read(new)?) {
        (Some(o), Some(n)) => crate::render::unit::stops_alike(&o, &n),
        _ => false,
    })
}

/// How the socket unit changes from the deployment in `old` to the one
/// prepared in `new` (each: its directory and record). A package keeps its
/// units inside it: only whether it has one is compared.
pub(super) fn socket_change(
    name: &Name,
    delivery: Delivery,
    old: (&Path, &Deployment),
    new: (&Path, &Deployment),
) -> Result<SocketChange> {
    if delivery == Delivery::Package {
        let has = |d: &Deployment| d.has_socket.then_some("");
        return Ok(SocketChange::between(has(old.1), has(new.1)));
    }
    let read = |dir: &Path| read_text_optional(&SlotDir(dir).socket(name));
    let (o, n) = (read(old.0)?, read(new.0)?);
    Ok(SocketChange::between(o.as_deref(), n.as_deref()))
}

/// The outcome of an update or rollback, now.
pub(super) fn last_update(outcome: &str, reason: Option<String>) -> LastUpdate {
    LastUpdate {
        outcome: outcome.to_string(),
        reason,
        time: crate::host::clock::now(),
    }
}

/// What a failed update or rollback says once its journal put `current`
/// (in `dir`) back: that it rolled back, when the new deployment was not
/// healthy, else `otherwise`.
pub(super) fn back_on(
    name: &Name,
    dir: &Path,
    current: &Deployment,
    e: &anyhow::Error,
    otherwise: String,
) -> String {
    if e.downcast_ref::<health::Unhealthy>().is_none() {
        return otherwise;
    }
    match current.package() {
        Some(nvr) => format!("rolled back {name} to package {nvr}"),
        None => format!("rolled back {name} to {}", dir.display()),
    }
}

/// After a failed update or rollback whose journal put `current` (slot
/// `active`) back: when the new deployment was unhealthy, waits for the old
/// one to be healthy again (saying so if it is not) and records why it was
/// rolled back on it. Returns the error to report.
pub(super) fn went_back(
    ctx: &Ctx,
    name: &Name,
    active: Slot,
    current: &Deployment,
    gate: &Gate,
    e: anyhow::Error,
) -> anyhow::Error {
    let Some(why) = e.downcast_ref::<health::Unhealthy>() else {
        return e;
    };
    if e.downcast_ref::<txn::UndoFailed>().is_some() {
        return e;
    }
    let dir = ctx.layout.slot(name, active);
    let mut back = current.clone();
    back.last_update = Some(last_update("rolled back", Some(why.0.clone())));
    if let Err(w) = state::write(&dir, &back) {
        ctx.report
            .warn(format!("recording the rollback of {name}: {w:#}"));
    }
    if let Err(w) = health::wait(ctx, name, current, gate) {
        ctx.report.warn(format!(
            "{name} is back on {}, and that is not healthy either: {w:#}",
            dir.display()
        ));
    }
    e
}

/// `containers update --all`: each container's name and what happened to
/// it (an error means it was rolled back).
pub fn update_all(ctx: &Ctx, gate: &Gate) -> Result<Vec<(Name, Result<Updated>)>> {
    Ok(ctx
        .layout
        .names()?
        .into_iter()
        .map(|name| {
            let r = update(ctx, &name, &[], None, &PullOptions::default(), gate);
            (name, r)
        })
        .collect())
}
