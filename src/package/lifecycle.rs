//! Containers installed as packages (`install --rpm`): the package, built
//! into the slot and kept there, is installed with the host's package
//! manager; updates install the next release, rollback reinstalls the other
//! slot's package, uninstall erases it. The service runs from the package's
//! files (`/usr/lib/systemd/system/NAME.service`).

use super::{Manager, Request};
use crate::deploy::{self, point_link, read_info, validate_name, Ctx, Info, InstallArgs, Updated};
use crate::journal::{failpoint, recover, Journal, Step};
use crate::store::{Store, StoredImage};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The package file a slot keeps.
fn slot_package(slot: &Path) -> Result<PathBuf> {
    std::fs::read_dir(slot)
        .with_context(|| format!("reading {}", slot.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "rpm"))
        .ok_or_else(|| anyhow!("{} keeps no package", slot.display()))
}

/// The release serial of an installed package (`3.0123456789ab` -> 3).
fn serial(info: &Info) -> u32 {
    info.rpm_installed
        .as_deref()
        .and_then(|nvr| nvr.rsplit('-').next())
        .and_then(|release| release.split('.').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Builds the package for slot `n` of `name` and records the deployment.
#[allow(clippy::too_many_arguments)]
fn build_into(
    ctx: &Ctx,
    store: &Store,
    img: &StoredImage,
    name: &str,
    slot: &Path,
    serial: u32,
    stored: &BTreeMap<String, String>,
    set: &[(String, String)],
    runtime: &str,
) -> Result<(PathBuf, Info)> {
    let req = Request {
        name,
        serial,
        stored,
        set,
        runtime,
    };
    let prepared = super::prepare(ctx.paths, store, img, &req)?;
    let file = prepared.write_rpm(slot)?;
    let id = &prepared.id;
    let mut info = Info::new(img, prepared.values.clone(), prepared.has_service, runtime);
    info.rpm_installed = Some(format!("{}-{}-{}", id.name, id.version, id.release));
    info.system_package = "yes".into();
    deploy::write_file(
        &slot.join("info"),
        &serde_json::to_vec_pretty(&info)?,
        0o644,
    )?;
    Ok((file, info))
}

pub fn install(ctx: &Ctx, args: &InstallArgs) -> Result<()> {
    let name = args
        .name
        .map_or_else(|| deploy::default_name(args.image), str::to_string);
    validate_name(&name)?;
    recover(ctx.paths, &name, ctx.systemd.as_ref())?;
    if std::fs::symlink_metadata(ctx.link(&name)).is_ok() {
        bail!("container {name} is already installed");
    }
    let package = format!("atomic-container-{name}");
    if let Some(nvr) = super::installed(ctx.paths, &package) {
        bail!("package {nvr} is already installed and was not installed by atomic for {name}; not replacing it");
    }
    let packaged_unit = ctx.paths.host_file(Path::new(&format!(
        "/usr/lib/systemd/system/{name}.service"
    )));
    for f in [ctx.unit_file(&name), packaged_unit] {
        if f.exists() {
            bail!(
                "{} already exists and was not written by atomic for {name}; not overwriting it",
                f.display()
            );
        }
    }
    let runtime = deploy::resolve_runtime(args.runtime)?;
    let store = Store::open_or_create(ctx.paths)?;
    let img = match crate::images::lookup(&store, args.image) {
        Ok(img) => img,
        Err(_) => crate::pull::pull(ctx.paths, args.image, None, false)?,
    };
    ctx.note_relocated();
    let mut j = Journal::begin(ctx.paths, &name, "install")?;
    let result = (|| -> Result<Info> {
        let slot = ctx.slot(&name, 0);
        if slot.exists() {
            std::fs::remove_dir_all(&slot)?;
        }
        std::fs::create_dir_all(&slot)?;
        j.push(Step::CreatedTree(slot.clone()))?;
        let (file, info) = build_into(
            ctx,
            &store,
            &img,
            &name,
            &slot,
            1,
            &BTreeMap::new(),
            args.set,
            &runtime,
        )?;
        failpoint("package")?;
        j.push(Step::Package {
            name: package.clone(),
            previous: None,
        })?;
        Manager::of(ctx.paths).install(ctx.paths, &file, false)?;
        point_link(&ctx.link(&name), Path::new(&format!("{name}.0")))?;
        j.push(Step::Link {
            path: ctx.link(&name),
            target: None,
        })?;
        start(ctx, &name, &info, &mut j, true)?;
        Ok(info)
    })();
    match result {
        Ok(info) => {
            j.commit()?;
            println!(
                "Installed {name} from {} as package {}",
                img.name,
                info.rpm_installed.unwrap_or_default()
            );
            Ok(())
        }
        Err(e) => {
            j.undo(ctx.paths, ctx.systemd.as_ref());
            Err(e.context(format!("installing {name}; nothing was changed")))
        }
    }
}

/// Reloads units and starts the service: on install enabled first, on
/// update and rollback only if the operation stopped it.
fn start(ctx: &Ctx, name: &str, info: &Info, j: &mut Journal, install: bool) -> Result<()> {
    let Some(s) = &ctx.systemd else { return Ok(()) };
    s.reload()?;
    let unit = format!("{name}.service");
    if !info.has_container_service || !(install || j.stopped(&unit)) {
        return Ok(());
    }
    if install {
        j.push(Step::Enabled(unit.clone()))?;
        s.enable(&unit)?;
    }
    j.push(Step::Started(unit.clone()))?;
    s.start(&unit)
}

/// Installs the package of `slot` over the one of `active`, flips the link.
fn switch(
    ctx: &Ctx,
    name: &str,
    active: &Path,
    slot: &Path,
    older: bool,
    info: &Info,
    j: &mut Journal,
) -> Result<()> {
    let current = read_info(active)?;
    deploy::stop_running(ctx, name, &current, j)?;
    j.push(Step::Package {
        name: format!("atomic-container-{name}"),
        previous: Some(slot_package(active)?),
    })?;
    Manager::of(ctx.paths).install(ctx.paths, &slot_package(slot)?, older)?;
    let link = ctx.link(name);
    let old = std::fs::read_link(&link).ok();
    point_link(&link, Path::new(slot.file_name().unwrap()))?;
    j.push(Step::Link {
        path: link,
        target: old,
    })?;
    start(ctx, name, info, j, false)
}

pub fn update(
    ctx: &Ctx,
    name: &str,
    store: &Store,
    img: &StoredImage,
    active: u8,
    current: &Info,
    set: &[(String, String)],
) -> Result<Updated> {
    let target = 1 - active;
    let other = read_info(&ctx.slot(name, target)).ok();
    let next = serial(current).max(other.as_ref().map_or(0, serial)) + 1;
    let mut j = Journal::begin(ctx.paths, name, "update")?;
    let result = (|| -> Result<Info> {
        let slot = ctx.slot(name, target);
        let staging = deploy::staging_slot(ctx, name, target, &mut j)?;
        let (_, info) = build_into(
            ctx,
            store,
            img,
            name,
            &staging,
            next,
            &current.values,
            set,
            &current.runtime,
        )?;
        failpoint("prepare")?;
        if slot.exists() {
            std::fs::remove_dir_all(&slot)?;
        }
        std::fs::rename(&staging, &slot)?;
        j.push(Step::CreatedTree(slot.clone()))?;
        switch(
            ctx,
            name,
            &ctx.slot(name, active),
            &slot,
            false,
            &info,
            &mut j,
        )?;
        Ok(info)
    })();
    match result {
        Ok(info) => {
            j.commit()?;
            println!(
                "Updated {name} to package {}",
                info.rpm_installed.unwrap_or_default()
            );
            Ok(Updated::Done)
        }
        Err(e) => {
            j.undo(ctx.paths, ctx.systemd.as_ref());
            Err(e.context(format!(
                "updating {name}; it is back on {}",
                ctx.slot(name, active).display()
            )))
        }
    }
}

pub fn rollback(ctx: &Ctx, name: &str, active: u8) -> Result<()> {
    let slot = ctx.slot(name, 1 - active);
    let info = read_info(&slot)
        .map_err(|_| anyhow!("container {name} has no previous deployment to roll back to"))?;
    let mut j = Journal::begin(ctx.paths, name, "rollback")?;
    match switch(
        ctx,
        name,
        &ctx.slot(name, active),
        &slot,
        true,
        &info,
        &mut j,
    ) {
        Ok(()) => {
            j.commit()?;
            println!(
                "Rolled back {name} to package {}",
                info.rpm_installed.unwrap_or_default()
            );
            Ok(())
        }
        Err(e) => {
            j.undo(ctx.paths, ctx.systemd.as_ref());
            Err(e.context(format!(
                "rolling back {name}; it is still on {}",
                ctx.slot(name, active).display()
            )))
        }
    }
}

pub fn uninstall(ctx: &Ctx, name: &str, info: &Info) -> Result<()> {
    let unit = format!("{name}.service");
    if let Some(s) = &ctx.systemd {
        if info.has_container_service {
            if s.state(&unit)? != "inactive" {
                s.stop(&unit)?;
            }
            s.disable(&unit)?;
        }
    }
    let package = format!("atomic-container-{name}");
    if super::installed(ctx.paths, &package).is_some() {
        Manager::of(ctx.paths).erase(ctx.paths, &package)?;
    }
    deploy::remove_deployments(ctx, name)?;
    println!("Uninstalled {name} and its package {package}");
    Ok(())
}
