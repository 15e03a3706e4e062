//! The host files of a plain deployment: what placing them does, planned
//! against the ledger of the deployment replaced before anything changes
//! (a file the admin changed is kept, one that is not the container's is
//! refused), then carried out under the journal, filling in the new ledger.

use crate::container::journal::{Journal, Step};
use crate::container::layout::SlotDir;
use crate::container::state::Ledger;
use crate::container::{Ctx, Name};
use crate::host::fs::{self, write_file};
use crate::host::paths::HostPaths;
use crate::render::hostfs::{HostFile, HostKind};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One change to the host's files, decided before any is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HostAction {
    /// Create the directory (which does not exist) for the host files.
    MakeDir { path: String, mode: u32 },
    /// Write the host file `file` (an index into the files) where nothing is.
    Create { file: usize },
    /// Write it over the previous deployment's copy, unchanged since.
    Replace { file: usize, sum: String },
    /// Keep the previous deployment's copy, which the admin changed.
    KeepChanged { path: String, sum: String },
    /// Set aside a file of the previous deployment this one does not have.
    Remove { path: String, sum: String },
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
                Some(sum) => actions.push(HostAction::Replace {
                    file: i,
                    sum: sum.clone(),
                }),
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
                Some(s) if s == *sum => actions.push(HostAction::Remove {
                    path: path.clone(),
                    sum: sum.clone(),
                }),
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

/// Carries out `plan` under the journal and fills in `ledger`.
/// `useLinks` files are hard links to the slot's own copy under `hostfs/`,
/// never to the checkout, whose files share their inodes with the
/// repository.
pub(super) fn apply_host_files(
    ctx: &Ctx,
    dir: &Path,
    plan: &HostPlan,
    ledger: &mut Ledger,
    j: &mut Journal,
) -> Result<()> {
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
            HostAction::Create { file } | HostAction::Replace { file, .. } => {
                let f = &plan.files[*file];
                let shown = f.path.display().to_string();
                let host = ctx.paths.resolve(&f.path)?;
                if let Some(parent) = host.parent() {
                    fs::check_not_shared(parent, &format!("host file {shown}"))?;
                }
                // Planned before the service stopped: what changed since
                // is looked at again now.
                let now = fs::sha256_file(&host)?;
                match (action, now) {
                    (HostAction::Replace { sum, .. }, Some(now)) if now != *sum => {
                        ctx.report.note(format!(
                            "keeping {shown}: it was changed since it was installed"
                        ));
                        ledger.checksums.insert(shown.clone(), sum.clone());
                        ledger.files.push(shown);
                        continue;
                    }
                    (HostAction::Replace { .. }, Some(_)) => j.set_aside(&host)?,
                    (_, None) if fs::exists(&host)? => {
                        bail!("host file {shown} is no longer a file; not overwriting it")
                    }
                    (_, None) => j.push(Step::Created(host.clone()))?,
                    (_, Some(_)) => bail!(
                        "host file {shown} appeared while the change was under way, \
                         and was not installed by this container; not overwriting it"
                    ),
                }
                write_host_file(dir, f, &host)?;
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
            HostAction::Remove { path, sum } => {
                let host = ctx.paths.resolve(Path::new(path))?;
                match fs::sha256_file(&host)? {
                    Some(now) if now == *sum => j.set_aside(&host)?,
                    Some(_) => ctx.report.note(format!(
                        "keeping {path}: it was changed since it was installed"
                    )),
                    None => {}
                }
            }
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
                HostAction::Replace {
                    file: 1,
                    sum: prev.checksums["/etc/same.conf"].clone()
                },
                HostAction::LeaveChanged {
                    path: "/etc/gone-edited.conf".into()
                },
                HostAction::Remove {
                    path: "/etc/gone.conf".into(),
                    sum: prev.checksums["/etc/gone.conf"].clone()
                },
            ]
        );
        assert_eq!(plan.kept_dirs, ["/etc/kept"]);
    }

    #[test]
    fn what_changes_between_the_plan_and_its_application_is_looked_at_again() {
        let h = Host::new();
        std::fs::create_dir_all(h.paths.checkout_root()).unwrap();
        let ctx = Ctx::new(&h.paths, crate::report::Reporter::silent()).unwrap();
        let name = Name::new("g").unwrap();
        h.write("/etc/same.conf", "v1");
        h.write("/etc/gone.conf", "v1");
        let prev = previous(&[("/etc/same.conf", "v1"), ("/etc/gone.conf", "v1")], &[]);
        let plan = plan_host_files(
            &h.paths,
            &name,
            vec![file("/etc/same.conf", "v2"), file("/etc/new.conf", "new")],
            Some(&prev),
        )
        .unwrap();
        // The admin edits both files the plan would replace and remove
        // while the service stops.
        h.write("/etc/same.conf", "edited meanwhile");
        h.write("/etc/gone.conf", "edited meanwhile");
        let mut ledger = Ledger::default();
        let mut j = Journal::begin(&ctx.layout, &name, "update").unwrap();
        apply_host_files(&ctx, h.t.path(), &plan, &mut ledger, &mut j).unwrap();
        let read = |p: &str| std::fs::read_to_string(h.t.path().join(p)).unwrap();
        assert_eq!(read("etc/same.conf"), "edited meanwhile");
        assert_eq!(read("etc/gone.conf"), "edited meanwhile");
        assert_eq!(read("etc/new.conf"), "new");
        assert_eq!(
            ledger.checksums["/etc/same.conf"],
            prev.checksums["/etc/same.conf"]
        );
        j.commit().unwrap();
        // A file that appears where the plan creates one is refused.
        let plan =
            plan_host_files(&h.paths, &name, vec![file("/etc/late.conf", "x")], None).unwrap();
        h.write("/etc/late.conf", "someone else's");
        let mut j = Journal::begin(&ctx.layout, &name, "update").unwrap();
        let err = apply_host_files(&ctx, h.t.path(), &plan, &mut Ledger::default(), &mut j)
            .unwrap_err()
            .to_string();
        assert!(err.contains("host file /etc/late.conf appeared"), "{err}");
        assert_eq!(read("etc/late.conf"), "someone else's");
    }
}
