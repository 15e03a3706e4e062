//! Undo journal of a mutating operation: each change is recorded (on disk,
//! before the next step) with how to undo it, so a failure undoes what the
//! operation wrote and a crash is undone by the next command on the same
//! container, which then starts from the old deployment, whole.

use super::state::Deployment;
use super::{Ctx, Layout, Name};
use crate::host::packages::Manager;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One recorded change and how to undo it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Step {
    /// A file or symlink that did not exist: remove it.
    Created(PathBuf),
    /// A directory that did not exist: remove it if empty.
    CreatedDir(PathBuf),
    /// A directory tree that did not exist: remove it whole.
    CreatedTree(PathBuf),
    /// A file that was replaced or removed; the old one is kept at `backup`.
    Replaced { path: PathBuf, backup: PathBuf },
    /// A symlink that pointed at `target` (or did not exist) before.
    Link {
        path: PathBuf,
        target: Option<PathBuf>,
    },
    /// A unit that was enabled: disable it.
    Enabled(String),
    /// A unit that was disabled: enable it again.
    Disabled(String),
    /// A unit that was started: stop it.
    Started(String),
    /// A unit that was stopped: start it again.
    Stopped(String),
    /// Package `name` was installed over `previous` (a package file to go
    /// back to) or over nothing (erase it).
    Package {
        name: String,
        previous: Option<PathBuf>,
    },
}

#[derive(Serialize, Deserialize)]
struct Record {
    operation: String,
    steps: Vec<Step>,
    /// For an uninstall, which goes forward after a crash rather than
    /// back: the deployment being removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    removing: Option<Deployment>,
}

/// The journal of one operation on one container.
pub struct Journal {
    path: PathBuf,
    backups: PathBuf,
    record: Record,
}

pub use crate::host::failpoint::failpoint;

impl Journal {
    /// Starts the journal of `operation` on `name`.
    pub fn begin(layout: &Layout, name: &Name, operation: &str) -> Result<Journal> {
        // Without a journal, backups are what a committed operation left.
        crate::host::fs::remove_tree(&layout.backups(name))?;
        let j = Journal {
            path: layout.journal(name),
            backups: layout.backups(name),
            record: Record {
                operation: operation.to_string(),
                steps: Vec::new(),
                removing: None,
            },
        };
        j.save()?;
        Ok(j)
    }

    /// Starts the journal of uninstalling `name`, whose deployment is
    /// `info` (if it could be read): a crash is followed by finishing it.
    pub fn begin_uninstall(
        layout: &Layout,
        name: &Name,
        info: Option<&Deployment>,
    ) -> Result<Journal> {
        let j = Journal {
            path: layout.journal(name),
            backups: layout.backups(name),
            record: Record {
                operation: UNINSTALL.to_string(),
                steps: Vec::new(),
                removing: info.cloned(),
            },
        };
        j.save()?;
        Ok(j)
    }

    /// Writes the record durably: a step is on disk before it acts.
    fn save(&self) -> Result<()> {
        crate::host::fs::write_file(&self.path, &serde_json::to_vec(&self.record)?, 0o600)
    }

    /// Records a change that has been made.
    pub fn push(&mut self, step: Step) -> Result<()> {
        self.record.steps.push(step);
        self.save()
    }

    /// Moves `path` aside into the backups, recording how to put it back.
    pub fn set_aside(&mut self, path: &Path) -> Result<()> {
        std::fs::create_dir_all(&self.backups)
            .with_context(|| format!("creating {}", self.backups.display()))?;
        let backup = self.backups.join(self.record.steps.len().to_string());
        // Recorded first: undo puts back a backup only if it exists.
        self.push(Step::Replaced {
            path: path.to_path_buf(),
            backup: backup.clone(),
        })?;
        failpoint("set-aside")?;
        crate::host::fs::move_aside(path, &backup)
            .with_context(|| format!("moving {} aside", path.display()))
    }

    /// Whether this operation stopped `unit`.
    pub fn stopped(&self, unit: &str) -> bool {
        self.record
            .steps
            .iter()
            .any(|s| matches!(s, Step::Stopped(u) if u == unit))
    }

    /// The operation succeeded: forget the journal and the backups.
    /// Removing the journal is the commit point; backups left after it are
    /// only disk space, and the next operation's journal replaces them.
    pub fn commit(self) -> Result<()> {
        std::fs::remove_file(&self.path)
            .with_context(|| format!("removing {}", self.path.display()))?;
        crate::host::fs::sync_parent(&self.path)?;
        failpoint("commit")?;
        if let Err(e) = crate::host::fs::remove_tree(&self.backups) {
            tracing::warn!("{e:#}");
        }
        Ok(())
    }

    /// Undoes every recorded change, newest first, as far as possible.
    /// A step that cannot be undone is reported and the others still are:
    /// stopping half-way would leave more of the operation in place. When
    /// a file could not be put back, its backup and the journal are kept
    /// (and the error says so): the next command on the container tries
    /// again, and goes no further until it can; nothing that was there
    /// before is lost.
    pub fn undo(self, ctx: &Ctx) -> Result<()> {
        let mut unrestored = Vec::new();
        for step in self.record.steps.iter().rev() {
            if let Err(e) = undo_step(step, ctx) {
                ctx.report.warn(format!("undoing {step:?}: {e:#}"));
                if let Step::Replaced { backup, .. } = step {
                    unrestored.push(backup.display().to_string());
                }
            }
        }
        if let Some(s) = ctx.target.systemd() {
            if let Err(e) = s.reload() {
                ctx.report
                    .warn(format!("reloading systemd after the undo: {e:#}"));
            }
        }
        if !unrestored.is_empty() {
            anyhow::bail!(
                "kept the journal {} and the backups {} that could not be put back; \
                 the next command on this container tries again",
                self.path.display(),
                unrestored.join(", ")
            );
        }
        for r in [
            crate::host::fs::remove_tree(&self.backups),
            crate::host::fs::remove_file(&self.path),
        ] {
            if let Err(e) = r {
                ctx.report.warn(format!("{e:#}"));
            }
        }
        Ok(())
    }
}

fn undo_step(step: &Step, ctx: &Ctx) -> Result<()> {
    let systemd = ctx.target.systemd();
    let gone = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    match step {
        Step::Created(p) => gone(std::fs::remove_file(p))?,
        Step::CreatedDir(p) => {
            // Removed only if empty: something else may have been put there since.
            if let Err(e) = std::fs::remove_dir(p) {
                tracing::info!("leaving {}: {e}", p.display());
            }
        }
        Step::CreatedTree(p) => gone(std::fs::remove_dir_all(p))?,
        Step::Replaced { path, backup } => {
            // Recorded before the move: no backup means nothing was moved.
            if crate::host::fs::exists(backup)? {
                crate::host::fs::restore(backup, path)?;
            }
        }
        Step::Link { path, target } => match target {
            Some(t) => crate::host::fs::point_link(path, t)?,
            None => gone(std::fs::remove_file(path))?,
        },
        Step::Enabled(u) => {
            if let Some(s) = systemd {
                s.disable(u)?;
            }
        }
        Step::Disabled(u) => {
            if let Some(s) = systemd {
                s.reload()?;
                s.enable(u)?;
            }
        }
        Step::Started(u) => {
            if let Some(s) = systemd {
                s.stop(u)?;
            }
        }
        Step::Stopped(u) => {
            // Restarted rather than started: whatever runs now (the new
            // deployment, which failed its health, or one a socket
            // activated meanwhile) makes way for the old one.
            if let Some(s) = systemd {
                s.reload()?;
                s.restart(u)?;
            }
        }
        Step::Package { name, previous } => {
            let m = Manager::of(ctx.paths);
            let applied = match previous {
                Some(file) => m.install(ctx.paths, file, true)?,
                None => m.erase(ctx.paths, name)?,
            };
            if let crate::host::packages::Applied::Staged(why) = applied {
                ctx.report.warn(format!(
                    "putting back {name} is staged for the next boot only: {why}"
                ));
            }
        }
    }
    Ok(())
}

/// The operation name of an uninstall's journal.
const UNINSTALL: &str = "uninstall";

impl Journal {
    /// The journal an interrupted operation on `name` left, if any.
    pub fn load(ctx: &Ctx, name: &Name) -> Result<Option<Journal>> {
        let path = ctx.layout.journal(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("reading the journal {}", path.display()))
            }
        };
        let record: Record = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "reading the journal {} of an interrupted operation; `atomic uninstall {name}` removes the container",
                path.display()
            )
        })?;
        Ok(Some(Journal {
            path,
            backups: ctx.layout.backups(name),
            record,
        }))
    }

    /// The operation the journal records (`install`, `update`, ...).
    pub fn operation(&self) -> &str {
        &self.record.operation
    }

    /// For an uninstall: the deployment being removed, when its record
    /// could be read.
    pub fn uninstalling(&self) -> Option<Option<&Deployment>> {
        (self.record.operation == UNINSTALL).then_some(self.record.removing.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::paths::HostPaths;
    use crate::report::Reporter;

    #[test]
    fn a_backup_that_cannot_be_looked_at_is_not_taken_for_none() {
        let t = tempfile::tempdir().unwrap();
        let paths = HostPaths::new(Some(t.path()), None, None);
        std::fs::create_dir_all(paths.checkout_root()).unwrap();
        let ctx = Ctx::new(&paths, Reporter::silent()).unwrap();
        let name = Name::new("c").unwrap();
        // The backup's directory is a file: looking for it fails (ENOTDIR).
        let blocked = t.path().join("blocked");
        std::fs::write(&blocked, "").unwrap();
        let mut j = Journal::begin(&ctx.layout, &name, "update").unwrap();
        j.push(Step::Replaced {
            path: t.path().join("f"),
            backup: blocked.join("0"),
        })
        .unwrap();
        let err = format!("{:#}", j.undo(&ctx).unwrap_err());
        assert!(err.starts_with("kept the journal"), "{err}");
        assert!(ctx.layout.journal(&name).exists());
    }
}
