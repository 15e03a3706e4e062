//! Plain delivery: the slot keeps the bundle and the rendered unit and
//! tmpfiles file, which go to `/etc/systemd/system` and `/etc/tmpfiles.d`;
//! the image's host files go to their paths, tracked by checksum so that a
//! file the admin changed is kept (the ledger). Host file changes are planned first,
//! then applied under the journal.

use super::ledger::{apply_host_files, plan_host_files, HostPlan};
use super::{stored_values, PreparedSlot, SlotRequest};
use crate::container::journal::{failpoint, Journal, Step};
use crate::container::layout::SlotDir;
use crate::container::state::{self, Delivered, Deployment, Ledger};
use crate::container::{Ctx, Name};
use crate::host::fs::{self, write_file, Rooted};
use crate::render::bundle::{self, Fixed};
use crate::render::exports::Manifest;
use crate::render::health::HealthCheck;
use crate::render::hostfs::{self, HostFile};
use crate::render::summary::HostFacing;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub(super) fn prepare(ctx: &Ctx, req: &SlotRequest) -> Result<PreparedSlot> {
    let name = req.name;
    let destdir = ctx.paths.in_target(&ctx.layout.slot(name, req.slot));
    let fixed = Fixed {
        name: name.as_str(),
        destdir: &destdir.display().to_string(),
        runtime: req.runtime,
        image_name: &req.img.name,
        image_id: &req.img.id,
        rootless: ctx.target.rootless(),
    };
    let slot = SlotDir(req.dir);
    let bundle::CheckedOut {
        manifest,
        values,
        rendered,
    } = bundle::checkout_and_render(
        req.store,
        req.img,
        &slot.rootfs(),
        &stored_values(req),
        req.set,
        &fixed,
    )?;
    for w in manifest
        .warnings()
        .into_iter()
        .chain(rendered.warnings.clone())
    {
        ctx.report.warn(w);
    }
    if ctx.target.is_user() {
        if let Some(n) = req.store.files(req.img)?.not_root_owned()? {
            ctx.report.warn(format!(
                "{} files and directories of the image are not root's, the first {} (uid {}, gid {}); \
                 in your checkout they are owned by you, root in the container (--user)",
                n.count, n.path, n.uid, n.gid
            ));
        }
    }
    failpoint("render")?;
    if let Some(c) = &rendered.config {
        write_file(&slot.config(), c.as_bytes(), 0o644)?;
    }
    if let Some(u) = &rendered.unit {
        write_file(&slot.unit(name), u.as_bytes(), 0o644)?;
    }
    if let Some(s) = &rendered.socket {
        write_file(&slot.socket(name), s.as_bytes(), 0o644)?;
    }
    if let Some(t) = &rendered.tmpfiles {
        write_file(&slot.tmpfiles(name), t.as_bytes(), 0o644)?;
    }
    let mut info = Deployment::new(
        req.img,
        values,
        rendered.unit.is_some(),
        req.runtime,
        Delivered::Files(Ledger {
            templates: manifest.installed_files_template.clone(),
            renames: manifest.rename_files.clone(),
            ..Ledger::default()
        }),
    );
    info.has_socket = rendered.socket.is_some();
    info.health_check = HealthCheck::of(manifest.health_check.as_ref(), &req.img.config)?;
    Ok(PreparedSlot {
        info,
        host_facing: HostFacing::of_rendered(&rendered),
        unit: rendered.unit,
        socket: rendered.socket,
        host_files: rendered.host_files,
    })
}

/// The host files of the existing slot at `dir`, to place them again.
pub(super) fn reopen(dir: &Path, mut info: Deployment) -> Result<PreparedSlot> {
    let rootfs = Rooted::open(&SlotDir(dir).rootfs())?;
    let manifest = Manifest::load(&rootfs)?;
    let host_files = hostfs::host_files(&rootfs, &manifest, &info.values)?;
    let ledger = ledger_mut(&mut info)?;
    ledger.files.clear();
    ledger.checksums.clear();
    Ok(PreparedSlot {
        info,
        unit: None,
        socket: None,
        host_facing: HostFacing::default(),
        host_files,
    })
}

/// Everything placing a prepared slot does to the host, decided before
/// any of it is done.
#[derive(Debug)]
pub(super) struct PlacePlan {
    host: HostPlan,
    /// The unit and the tmpfiles file: where each goes, what becomes of it.
    files: Vec<(PathBuf, FileChange)>,
    /// Whether `systemd-tmpfiles --create` applies the new tmpfiles file.
    create_tmpfiles: bool,
}

/// What becomes of a file the deployment owns on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FileChange {
    /// Written where nothing is.
    Write(Vec<u8>),
    /// Written over the previous deployment's.
    Replace(Vec<u8>),
    /// The previous deployment's, which this one does not have, removed.
    Remove,
    /// Neither has one.
    Nothing,
}

/// Plans placing the slot at `dir` (whose host files are `files`) over the
/// deployment `previous` (its ledger, and whether it had a socket unit).
pub(super) fn plan_place(
    ctx: &Ctx,
    name: &Name,
    dir: &Path,
    files: Vec<HostFile>,
    previous: Option<&Ledger>,
    previous_socket: bool,
) -> Result<PlacePlan> {
    let host = plan_host_files(ctx.paths, name, files, previous)?;
    let slot = SlotDir(dir);
    let read = |p: PathBuf| fs::read_text_optional(&p).map(|t| t.map(String::into_bytes));
    let unit = read(slot.unit(name))?;
    let socket = read(slot.socket(name))?;
    let tmpfiles = read(slot.tmpfiles(name))?;
    let create_tmpfiles = tmpfiles.is_some();
    let mut changes = Vec::new();
    for (data, on_host, ours) in [
        (unit, ctx.layout.unit_file(name), true),
        // A socket unit is the deployment's only if the record says so.
        (socket, ctx.layout.socket_file(name), previous_socket),
        (tmpfiles, ctx.layout.tmpfiles_file(name), true),
    ] {
        let change = match (data, fs::exists(&on_host)?) {
            (Some(d), false) => FileChange::Write(d),
            (Some(d), true) if ours => FileChange::Replace(d),
            (Some(_), true) => bail!(
                "{} already exists and was not written by atomic for {name}; not overwriting it",
                on_host.display()
            ),
            (None, true) if ours => FileChange::Remove,
            (None, _) => FileChange::Nothing,
        };
        changes.push((on_host, change));
    }
    Ok(PlacePlan {
        host,
        files: changes,
        create_tmpfiles,
    })
}

/// Places the host files, writes the record, then puts the unit and the
/// tmpfiles file in place and applies the tmpfiles file: the plan, carried
/// out under the journal.
pub(super) fn place(
    ctx: &Ctx,
    name: &Name,
    dir: &Path,
    prepared: &mut PreparedSlot,
    plan: PlacePlan,
    j: &mut Journal,
) -> Result<()> {
    failpoint("hostfiles")?;
    apply_host_files(ctx, dir, &plan.host, ledger_mut(&mut prepared.info)?, j)?;
    state::write(dir, &prepared.info)?;
    failpoint("unit")?;
    for (path, change) in &plan.files {
        match change {
            FileChange::Write(d) => {
                j.push(Step::Created(path.clone()))?;
                write_new(path, d)?;
            }
            FileChange::Replace(d) => {
                j.set_aside(path)?;
                write_new(path, d)?;
            }
            FileChange::Remove => j.set_aside(path)?,
            FileChange::Nothing => {}
        }
    }
    if plan.create_tmpfiles {
        ctx.tmpfiles("--create", &ctx.layout.tmpfiles_file(name))?;
    }
    Ok(())
}

/// The ledger of a plain deployment's record, to fill in.
fn ledger_mut(info: &mut Deployment) -> Result<&mut Ledger> {
    match &mut info.delivered {
        Delivered::Files(l) => Ok(l),
        Delivered::Package { nvr, .. } => {
            bail!("the deployment of package {nvr} has no host-file ledger")
        }
    }
}

/// Writes a unit or tmpfiles file, creating its directory.
fn write_new(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_file(path, data, 0o644)
}

/// Removes the unit, the tmpfiles file (after `systemd-tmpfiles --remove`)
/// and the host files of the deployment that are unchanged since install.
pub(super) fn remove(ctx: &Ctx, name: &Name, ledger: &Ledger, socket: bool) -> Result<()> {
    fs::remove_file(&ctx.layout.unit_file(name))?;
    if socket {
        fs::remove_file(&ctx.layout.socket_file(name))?;
    }
    let tmpfiles = ctx.layout.tmpfiles_file(name);
    if fs::exists(&tmpfiles)? {
        ctx.tmpfiles("--remove", &tmpfiles)?;
        let lines = std::fs::read_to_string(&tmpfiles)
            .with_context(|| format!("reading {}", tmpfiles.display()))?;
        for dir in tmpfiles_dirs(&lines) {
            if is_runtime(&dir) {
                // Never through a link: a directory on the way may be the
                // service's, and so its user's to swap.
                if let Err(e) = fs::remove_tree_beneath(ctx.paths.root(), &dir) {
                    ctx.report.warn(format!("{e:#}"));
                }
            } else if fs::exists(&ctx.paths.resolve(&dir)?)? {
                ctx.report.note(format!(
                    "keeping {}: state and configuration outlive the container",
                    dir.display()
                ));
            }
        }
        fs::remove_file(&tmpfiles)?;
    }
    for (path, sum) in &ledger.checksums {
        let host = ctx.paths.resolve(Path::new(path))?;
        match fs::sha256_file(&host)? {
            Some(s) if s == *sum => {
                std::fs::remove_file(&host).with_context(|| format!("removing {path}"))?;
            }
            Some(_) => ctx.report.note(format!(
                "keeping {path}: it was changed since it was installed"
            )),
            None => {}
        }
    }
    for dir in ledger.directories.iter().rev() {
        // Only if empty: the admin may have put files of their own there.
        if let Err(e) = std::fs::remove_dir(ctx.paths.resolve_dir(Path::new(dir))?) {
            tracing::info!("leaving host directory {dir}: {e}");
        }
    }
    Ok(())
}

/// The directories a tmpfiles.d file creates (`d`, `D`, `v`, `q`, `Q`
/// lines), in its order.
fn tmpfiles_dirs(text: &str) -> Vec<PathBuf> {
    crate::render::tmpfiles::lines(text)
        .filter(|l| l.creates_dir())
        .filter_map(|l| l.path().filter(|p| p.starts_with('/')).map(PathBuf::from))
        .collect()
}

/// Whether `dir` is runtime state, under `/run` (or `/var/run`), which goes
/// with the container; anything else (`/var/lib`, `/etc`) is kept.
fn is_runtime(dir: &Path) -> bool {
    if dir
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return false;
    }
    let clean: PathBuf = dir.components().collect();
    [Path::new("/run"), Path::new("/var/run")]
        .iter()
        .any(|r| clean.starts_with(r) && clean != *r)
}

/// Removes the unit and the tmpfiles file of `name`, whose record is lost;
/// its host files are not known, so they stay: says so.
pub(super) fn remove_unknown(ctx: &Ctx, name: &Name) -> Result<()> {
    remove(ctx, name, &Ledger::default(), true)?;
    ctx.report.warn(format!(
        "the host files of {name} are not known without its record; any it installed stay"
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::paths::HostPaths;

    #[test]
    fn uninstall_removes_runtime_directories_only() {
        let lines = "d /var/lib/etcd 0700 0 0 - -\nZ /var/lib/etcd/x 0700 0 0 - -\n\
                     d /run/etcd2 - - - - -\nD! /var/run/x/y\nf /run/file\n# d /run/c\n";
        let dirs = tmpfiles_dirs(lines);
        assert_eq!(
            dirs,
            ["/var/lib/etcd", "/run/etcd2", "/var/run/x/y"].map(PathBuf::from)
        );
        let runtime: Vec<bool> = dirs.iter().map(|d| is_runtime(d)).collect();
        assert_eq!(runtime, [false, true, true]);
        for kept in ["/run", "/run/../etc", "/var/run", "/runx/a", "/etc/run"] {
            assert!(!is_runtime(Path::new(kept)), "{kept}");
        }
    }

    #[test]
    fn the_unit_and_tmpfiles_file_are_planned_from_the_slot_and_the_host() {
        let t = tempfile::tempdir().unwrap();
        let paths = HostPaths::new(Some(t.path()), None, None);
        let ctx = Ctx::new(&paths, crate::report::Reporter::silent()).unwrap();
        let name = Name::new("g").unwrap();
        let slot = t.path().join("slot");
        std::fs::create_dir_all(&slot).unwrap();
        std::fs::write(SlotDir(&slot).unit(&name), "[Service]\n").unwrap();
        let plan = plan_place(&ctx, &name, &slot, Vec::new(), None, false).unwrap();
        assert_eq!(
            plan.files,
            [
                (
                    ctx.layout.unit_file(&name),
                    FileChange::Write(b"[Service]\n".to_vec())
                ),
                (ctx.layout.socket_file(&name), FileChange::Nothing),
                (ctx.layout.tmpfiles_file(&name), FileChange::Nothing),
            ]
        );
        assert!(!plan.create_tmpfiles);
        // An update whose image dropped its tmpfiles file and changed its unit.
        for f in [ctx.layout.unit_file(&name), ctx.layout.tmpfiles_file(&name)] {
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, "old").unwrap();
        }
        let plan = plan_place(&ctx, &name, &slot, Vec::new(), None, false).unwrap();
        assert_eq!(
            plan.files[0].1,
            FileChange::Replace(b"[Service]\n".to_vec())
        );
        assert_eq!(plan.files[2].1, FileChange::Remove);
        std::fs::write(SlotDir(&slot).tmpfiles(&name), "d /run/g\n").unwrap();
        std::fs::write(SlotDir(&slot).socket(&name), "[Socket]\n").unwrap();
        let plan = plan_place(&ctx, &name, &slot, Vec::new(), None, false).unwrap();
        assert_eq!(plan.files[1].1, FileChange::Write(b"[Socket]\n".to_vec()));
        // A socket unit of that name the deployment did not write is not
        // its to replace.
        std::fs::write(ctx.layout.socket_file(&name), "the admin's").unwrap();
        let err = plan_place(&ctx, &name, &slot, Vec::new(), None, false)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.ends_with(
                "g.socket already exists and was not written by atomic for g; not overwriting it"
            ),
            "{err}"
        );
        std::fs::remove_file(SlotDir(&slot).socket(&name)).unwrap();
        let plan = plan_place(&ctx, &name, &slot, Vec::new(), None, false).unwrap();
        assert_eq!(plan.files[1].1, FileChange::Nothing, "nor to remove");
        std::fs::remove_file(ctx.layout.socket_file(&name)).unwrap();
        assert_eq!(plan.files[2].1, FileChange::Replace(b"d /run/g\n".to_vec()));
        assert!(plan.create_tmpfiles);
    }
}
