//! Plain delivery: the slot keeps the bundle and the rendered unit and
//! tmpfiles file, which go to `/etc/systemd/system` and `/etc/tmpfiles.d`;
//! the image's host files go to their paths, tracked by checksum so that a
//! file the admin changed is kept. Host file changes are planned first,
//! then applied under the journal.

use super::{stored_values, Prepared, Request};
use crate::container::journal::{failpoint, Journal, Step};
use crate::container::layout::SlotDir;
use crate::container::state::{self, Delivered, Deployment, Ledger};
use crate::container::{Ctx, Name};
use crate::host::fs::{self, write_file, Rooted};
use crate::host::paths::HostPaths;
use crate::render::bundle::{self, Fixed};
use crate::render::exports::Manifest;
use crate::render::hostfs::{self, HostFile, HostKind};
use crate::render::summary::HostFacing;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub(super) fn prepare(ctx: &Ctx, req: &Request) -> Result<Prepared> {
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
    if let Some(t) = &rendered.tmpfiles {
        write_file(&slot.tmpfiles(name), t.as_bytes(), 0o644)?;
    }
    let info = Deployment::new(
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
    Ok(Prepared {
        info,
        host_facing: HostFacing::of_rendered(&rendered),
        unit: rendered.unit,
        host_files: rendered.host_files,
    })
}

/// The host files of the existing slot at `dir`, to place them again.
pub(super) fn reopen(dir: &Path, mut info: Deployment) -> Result<Prepared> {
    let rootfs = Rooted::open(&SlotDir(dir).rootfs())?;
    let manifest = Manifest::load(&rootfs)?;
    let host_files = hostfs::host_files(&rootfs, &manifest, &info.values)?;
    let ledger = ledger_mut(&mut info)?;
    ledger.files.clear();
    ledger.checksums.clear();
    Ok(Prepared {
        info,
        unit: None,
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
/// deployment `previous`.
pub(super) fn plan_place(
    ctx: &Ctx,
    name: &Name,
    dir: &Path,
    files: Vec<HostFile>,
    previous: Option<&Ledger>,
) -> Result<PlacePlan> {
    let host = plan_host_files(ctx.paths, name, files, previous)?;
    let slot = SlotDir(dir);
    let unit = read_optional(&slot.unit(name))?;
    let tmpfiles = read_optional(&slot.tmpfiles(name))?;
    let create_tmpfiles = tmpfiles.is_some();
    let mut changes = Vec::new();
    for (data, on_host) in [
        (unit, ctx.layout.unit_file(name)),
        (tmpfiles, ctx.layout.tmpfiles_file(name)),
    ] {
        let change = match (data, fs::exists(&on_host)?) {
            (Some(d), false) => FileChange::Write(d),
            (Some(d), true) => FileChange::Replace(d),
            (None, true) => FileChange::Remove,
            (None, false) => FileChange::Nothing,
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
    prepared: &mut Prepared,
    plan: PlacePlan,
    j: &mut Journal,
) -> Result<()> {
    failpoint("hostfiles")?;
    apply_host_files(ctx, dir, &plan.host, &mut prepared.info, j)?;
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

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
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
pub(super) fn remove(ctx: &Ctx, name: &Name, ledger: &Ledger) -> Result<()> {
    fs::remove_file(&ctx.layout.unit_file(name))?;
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
    remove(ctx, name, &Ledger::default())?;
    ctx.report.warn(format!(
        "the host files of {name} are not known without its record; any it installed stay"
    ));
    Ok(())
}

/// One change to the host's files, decided before any is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HostAction {
    /// Create the directory (which does not exist) for the host files.
    MakeDir { path: String, mode: u32 },
    /// Write the host file `file` (an index into the files) where nothing is.
    Create { file: usize },
    /// Write it over the previous deployment's copy, unchanged since.
    Replace { file: usize },
    /// Keep the previous deployment's copy, which the admin changed.
    KeepChanged { path: String, sum: String },
    /// Set aside a file of the previous deployment this one does not have.
    Remove { path: String },
    /// Leave such a file, which the admin changed.
    LeaveChanged { path: String },
}

/// The host side of a deployment's files, as a plan.
#[derive(Debug)]
pub(super) struct HostPlan {
    files: Vec<HostFile>,
    actions: Vec<HostAction>,
    /// Directories the previous deployment created, still to be tracked.
    kept_dirs: Vec<String>,
}

/// Decides what placing `files` for `name` does, given the ledger of the
/// deployment it replaces (`previous`, none on install). Refuses, before
/// anything changes, a host file that exists and is not the previous
/// deployment's, a directory that is a file, or a file whose directory
/// neither exists nor is created by the plan.
pub(super) fn plan_host_files(
    paths: &HostPaths,
    name: &Name,
    files: Vec<HostFile>,
    previous: Option<&Ledger>,
) -> Result<HostPlan> {
    let prev_sums = previous.map(|p| &p.checksums);
    let mut actions = Vec::new();
    let mut planned_dirs = BTreeSet::new();
    let mut placed = BTreeSet::new();
    for (i, f) in files.iter().enumerate() {
        let host = match f.kind {
            HostKind::Dir => paths.resolve_dir(&f.path)?,
            _ => paths.resolve(&f.path)?,
        };
        let shown = f.path.display().to_string();
        if let HostKind::Dir = f.kind {
            // A host directory may be a link to one (`/var/run -> ../run`).
            match std::fs::metadata(&host) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => bail!("host path {shown} exists and is not a directory"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    planned_dirs.insert(f.path.clone());
                    actions.push(HostAction::MakeDir {
                        path: shown,
                        mode: f.mode,
                    });
                }
                Err(e) => return Err(e).with_context(|| format!("looking at host path {shown}")),
            }
            continue;
        }
        placed.insert(shown.clone());
        if fs::exists(&host)? {
            match prev_sums.and_then(|s| s.get(&shown)) {
                Some(sum) if fs::sha256_file(&host)?.as_ref() != Some(sum) => {
                    actions.push(HostAction::KeepChanged {
                        path: shown,
                        sum: sum.clone(),
                    });
                }
                Some(_) => actions.push(HostAction::Replace { file: i }),
                None => bail!(
                    "host file {shown} exists and was not installed by {name}; not overwriting it"
                ),
            }
        } else {
            let parent = host.parent().unwrap_or(Path::new("/"));
            let planned = f.path.parent().is_some_and(|p| planned_dirs.contains(p));
            if !planned && !fs::exists(parent)? {
                // A file renameFiles moved gets the directories of its new
                // place (`$CONF_DIRECTORY/$NAME/`); any other must find them.
                if f.path.display().to_string() == f.image_path {
                    bail!(
                        "cannot install host file {shown}: {} does not exist",
                        parent.display()
                    );
                }
                let mut missing = Vec::new();
                for dir in f.path.ancestors().skip(1) {
                    if planned_dirs.contains(dir) || fs::exists(&paths.resolve_dir(dir)?)? {
                        break;
                    }
                    missing.push(dir.to_path_buf());
                }
                for dir in missing.into_iter().rev() {
                    actions.push(HostAction::MakeDir {
                        path: dir.display().to_string(),
                        mode: 0o755,
                    });
                    planned_dirs.insert(dir);
                }
            }
            actions.push(HostAction::Create { file: i });
        }
    }
    if let Some(prev) = previous {
        for (path, sum) in &prev.checksums {
            if placed.contains(path) {
                continue;
            }
            let host = paths.resolve(Path::new(path))?;
            match fs::sha256_file(&host)? {
                Some(s) if s == *sum => actions.push(HostAction::Remove { path: path.clone() }),
                Some(_) => actions.push(HostAction::LeaveChanged { path: path.clone() }),
                None => {}
            }
        }
    }
    Ok(HostPlan {
        files,
        actions,
        kept_dirs: previous.map(|p| p.directories.clone()).unwrap_or_default(),
    })
}

/// Carries out `plan` under the journal and fills the ledger in `info`.
/// `useLinks` files are hard links to the slot's own copy under `hostfs/`,
/// never to the checkout, whose files share their inodes with the
/// repository.
fn apply_host_files(
    ctx: &Ctx,
    dir: &Path,
    plan: &HostPlan,
    info: &mut Deployment,
    j: &mut Journal,
) -> Result<()> {
    let ledger = ledger_mut(info)?;
    let mut dirs = plan.kept_dirs.clone();
    for action in &plan.actions {
        match action {
            HostAction::MakeDir { path, mode } => {
                let host = ctx.paths.resolve_dir(Path::new(path))?;
                if let Some(parent) = host.parent() {
                    fs::check_not_shared(parent, &format!("host directory {path}"))?;
                }
                // Recorded first: a crash between the two leaves nothing unknown.
                j.push(Step::CreatedDir(host.clone()))?;
                fs::make_dir(&host, *mode)
                    .with_context(|| format!("creating host directory {path}"))?;
                dirs.push(path.clone());
            }
            HostAction::Create { file } | HostAction::Replace { file } => {
                let f = &plan.files[*file];
                let host = ctx.paths.resolve(&f.path)?;
                if let Some(parent) = host.parent() {
                    fs::check_not_shared(parent, &format!("host file {}", f.path.display()))?;
                }
                if matches!(action, HostAction::Replace { .. }) {
                    j.set_aside(&host)?;
                } else {
                    j.push(Step::Created(host.clone()))?;
                }
                write_host_file(dir, f, &host)?;
                let shown = f.path.display().to_string();
                let sum = fs::sha256_file(&host)?.unwrap_or_default();
                ledger.checksums.insert(shown.clone(), sum);
                ledger.files.push(shown);
            }
            HostAction::KeepChanged { path, sum } => {
                ctx.report.note(format!(
                    "keeping {path}: it was changed since it was installed"
                ));
                ledger.checksums.insert(path.clone(), sum.clone());
                ledger.files.push(path.clone());
            }
            HostAction::Remove { path } => j.set_aside(&ctx.paths.resolve(Path::new(path))?)?,
            HostAction::LeaveChanged { path } => ctx.report.note(format!(
                "keeping {path}: it was changed since it was installed"
            )),
        }
    }
    dirs.sort();
    dirs.dedup();
    ledger.directories = dirs;
    Ok(())
}

fn write_host_file(dir: &Path, f: &HostFile, host: &PathBuf) -> Result<()> {
    let shown = f.path.display();
    match &f.kind {
        HostKind::File(data) => write_file(host, data, f.mode),
        HostKind::Link(_) => {
            // The image's file in this slot (the path rendering saw was the
            // staging directory's, renamed to the slot since).
            let src = SlotDir(dir)
                .rootfs()
                .join("exports/hostfs")
                .join(f.image_path.trim_start_matches('/'));
            let own = SlotDir(dir).hostfs(&f.path);
            let parent = own.parent().expect("under the slot");
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
            fs::copy_file(&src, &own, f.mode)
                .with_context(|| format!("copying {shown} into {}", dir.display()))?;
            fs::link_or_copy(&own, host, f.mode)
                .with_context(|| format!("installing host file {shown}"))
        }
        HostKind::Symlink(t) => std::os::unix::fs::symlink(t, host)
            .with_context(|| format!("installing host file {shown}")),
        HostKind::Dir => unreachable!("directories are planned as MakeDir"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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

    fn file(path: &str, data: &str) -> HostFile {
        HostFile {
            path: path.into(),
            image_path: path.into(),
            mode: 0o644,
            kind: HostKind::File(data.as_bytes().to_vec()),
        }
    }

    fn dir(path: &str) -> HostFile {
        HostFile {
            path: path.into(),
            image_path: path.into(),
            mode: 0o755,
            kind: HostKind::Dir,
        }
    }

    fn previous(files: &[(&str, &str)], dirs: &[&str]) -> Ledger {
        Ledger {
            directories: dirs.iter().map(|d| d.to_string()).collect(),
            checksums: files
                .iter()
                .map(|(p, d)| {
                    (
                        p.to_string(),
                        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(d)),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            ..Ledger::default()
        }
    }

    struct Host {
        t: tempfile::TempDir,
        paths: HostPaths,
    }

    impl Host {
        fn new() -> Host {
            let t = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(t.path().join("etc")).unwrap();
            let paths = HostPaths::new(Some(t.path()), None, None);
            Host { t, paths }
        }
        fn write(&self, path: &str, data: &str) {
            std::fs::write(self.t.path().join(path.trim_start_matches('/')), data).unwrap();
        }
        fn plan(&self, files: &[HostFile], prev: Option<&Ledger>) -> Result<Vec<HostAction>> {
            let name = Name::new("g").unwrap();
            plan_host_files(&self.paths, &name, files.to_vec(), prev).map(|p| p.actions)
        }
    }

    #[test]
    fn the_unit_and_tmpfiles_file_are_planned_from_the_slot_and_the_host() {
        let h = Host::new();
        let ctx = Ctx::new(&h.paths, crate::report::Reporter::silent()).unwrap();
        let name = Name::new("g").unwrap();
        let slot = h.t.path().join("slot");
        std::fs::create_dir_all(&slot).unwrap();
        std::fs::write(SlotDir(&slot).unit(&name), "[Service]\n").unwrap();
        let plan = plan_place(&ctx, &name, &slot, Vec::new(), None).unwrap();
        assert_eq!(
            plan.files,
            [
                (
                    ctx.layout.unit_file(&name),
                    FileChange::Write(b"[Service]\n".to_vec())
                ),
                (ctx.layout.tmpfiles_file(&name), FileChange::Nothing),
            ]
        );
        assert!(!plan.create_tmpfiles);
        // An update whose image dropped its tmpfiles file and changed its unit.
        for f in [ctx.layout.unit_file(&name), ctx.layout.tmpfiles_file(&name)] {
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, "old").unwrap();
        }
        let plan = plan_place(&ctx, &name, &slot, Vec::new(), None).unwrap();
        assert_eq!(
            plan.files[0].1,
            FileChange::Replace(b"[Service]\n".to_vec())
        );
        assert_eq!(plan.files[1].1, FileChange::Remove);
        std::fs::write(SlotDir(&slot).tmpfiles(&name), "d /run/g\n").unwrap();
        let plan = plan_place(&ctx, &name, &slot, Vec::new(), None).unwrap();
        assert_eq!(plan.files[1].1, FileChange::Replace(b"d /run/g\n".to_vec()));
        assert!(plan.create_tmpfiles);
    }

    #[test]
    fn install_creates_directories_then_their_files() {
        let h = Host::new();
        let files = [
            dir("/etc/g"),
            file("/etc/g/a.conf", "a"),
            file("/etc/b.conf", "b"),
        ];
        assert_eq!(
            h.plan(&files, None).unwrap(),
            [
                HostAction::MakeDir {
                    path: "/etc/g".into(),
                    mode: 0o755
                },
                HostAction::Create { file: 1 },
                HostAction::Create { file: 2 },
            ]
        );
    }

    #[test]
    fn install_refuses_what_it_does_not_own_before_changing_anything() {
        let h = Host::new();
        h.write("/etc/b.conf", "admin's");
        let err = h
            .plan(&[file("/etc/b.conf", "b")], None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "host file /etc/b.conf exists and was not installed by g; not overwriting it"
        );
        let err = h
            .plan(&[file("/opt/x/y", "y")], None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot install host file /opt/x/y: "),
            "{err}"
        );
        assert!(err.ends_with("/opt/x does not exist"), "{err}");
        h.write("/etc/d", "a file");
        let err = h.plan(&[dir("/etc/d")], None).unwrap_err().to_string();
        assert_eq!(err, "host path /etc/d exists and is not a directory");
    }

    #[test]
    fn update_replaces_unchanged_keeps_changed_and_drops_gone_files() {
        let h = Host::new();
        h.write("/etc/same.conf", "v1");
        h.write("/etc/edited.conf", "edited by the admin");
        h.write("/etc/gone.conf", "v1");
        h.write("/etc/gone-edited.conf", "edited");
        let prev = previous(
            &[
                ("/etc/same.conf", "v1"),
                ("/etc/edited.conf", "v1"),
                ("/etc/gone.conf", "v1"),
                ("/etc/gone-edited.conf", "v1"),
                ("/etc/gone-missing.conf", "v1"),
            ],
            &["/etc/kept"],
        );
        let files = [file("/etc/edited.conf", "v2"), file("/etc/same.conf", "v2")];
        let plan = plan_host_files(
            &h.paths,
            &Name::new("g").unwrap(),
            files.to_vec(),
            Some(&prev),
        )
        .unwrap();
        assert_eq!(
            plan.actions,
            [
                HostAction::KeepChanged {
                    path: "/etc/edited.conf".into(),
                    sum: prev.checksums["/etc/edited.conf"].clone()
                },
                HostAction::Replace { file: 1 },
                HostAction::LeaveChanged {
                    path: "/etc/gone-edited.conf".into()
                },
                HostAction::Remove {
                    path: "/etc/gone.conf".into()
                },
            ]
        );
        assert_eq!(plan.kept_dirs, ["/etc/kept"]);
    }
}
