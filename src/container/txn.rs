//! The one transaction wrapper every mutating verb runs in (begin the
//! journal, run the steps, then commit, or undo what they did and say in
//! the error what state the container is in), and recovery from the
//! journal a crash left.

use super::journal::Journal;
use super::{steps, Ctx, Name};
use anyhow::{Context, Result};

/// The context of an error after which the undo did not put everything
/// back: the container is neither old nor new.
#[derive(Debug)]
pub struct UndoFailed(String);

impl std::fmt::Display for UndoFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What recovery found and did.
#[derive(Debug, PartialEq, Eq)]
pub enum Recovered {
    /// No interrupted operation.
    Nothing,
    /// An interrupted operation, undone.
    Undone,
    /// An interrupted uninstall, finished.
    Uninstalled,
}

/// Undoes an operation on `name` that a crash interrupted (or finishes an
/// interrupted uninstall): the first thing every verb does, so it starts
/// from a whole deployment. An unreadable journal is an error.
pub fn recover(ctx: &Ctx, name: &Name) -> Result<Recovered> {
    match Journal::load(ctx, name)? {
        Some(j) => resume(ctx, name, j),
        None => Ok(Recovered::Nothing),
    }
}

/// Recovery before an uninstall: an unreadable journal is discarded, with
/// a warning, since what it recorded is removed with the rest.
pub fn recover_or_discard(ctx: &Ctx, name: &Name) -> Result<Recovered> {
    match Journal::load(ctx, name) {
        Ok(Some(j)) => resume(ctx, name, j),
        Ok(None) => Ok(Recovered::Nothing),
        Err(e) => {
            ctx.report.warn(format!("{e:#}; discarding it"));
            crate::host::fs::remove_file(&ctx.layout.journal(name))?;
            crate::host::fs::remove_tree(&ctx.layout.backups(name))?;
            Ok(Recovered::Nothing)
        }
    }
}

/// Undoes the interrupted operation `j`, or finishes an interrupted
/// uninstall.
fn resume(ctx: &Ctx, name: &Name, j: Journal) -> Result<Recovered> {
    if let Some(removing) = j.uninstalling() {
        ctx.report
            .info(format!("finishing an interrupted uninstall of {name}"));
        steps::remove_container(ctx, name, removing)?;
        j.commit()?;
        return Ok(Recovered::Uninstalled);
    }
    let operation = j.operation().to_string();
    ctx.report
        .info(format!("undoing an interrupted {operation} of {name}"));
    j.undo(ctx)
        .with_context(|| format!("undoing the interrupted {operation} of {name}"))?;
    Ok(Recovered::Undone)
}

/// Runs `steps` as operation `operation` on `name`. On failure every
/// recorded step is undone and the error gets `outcome` (what the container
/// is left as: "installing NAME; nothing was changed").
pub fn run<T>(
    ctx: &Ctx,
    name: &Name,
    operation: &str,
    outcome: impl FnOnce(&anyhow::Error) -> String,
    steps: impl FnOnce(&mut Journal) -> Result<T>,
) -> Result<T> {
    let mut j = Journal::begin(&ctx.layout, name, operation)?;
    match steps(&mut j) {
        Ok(v) => {
            j.commit()?;
            Ok(v)
        }
        Err(e) => match j.undo(ctx) {
            Ok(()) => {
                let said = outcome(&e);
                Err(e.context(said))
            }
            // Not back where it was: say that, not the outcome.
            Err(undo) => Err(e.context(UndoFailed(format!(
                "{operation} of {name} failed, and {undo:#}"
            )))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::journal::Step;
    use crate::host::paths::HostPaths;
    use crate::report::{Event, Reporter};
    use anyhow::bail;

    fn host() -> (tempfile::TempDir, HostPaths) {
        let t = tempfile::tempdir().unwrap();
        let paths = HostPaths::new(Some(t.path()), None, None);
        std::fs::create_dir_all(paths.checkout_root()).unwrap();
        (t, paths)
    }

    #[test]
    fn a_failure_undoes_every_step_and_says_so() {
        let (t, paths) = host();
        let ctx = Ctx::new(&paths, Reporter::silent()).unwrap();
        let name = Name::new("c").unwrap();
        let kept = t.path().join("kept");
        std::fs::write(&kept, "old").unwrap();
        let created = t.path().join("created");
        let err = run(
            &ctx,
            &name,
            "install",
            |_| "installing c; nothing was changed".into(),
            |j| -> Result<()> {
                j.set_aside(&kept)?;
                std::fs::write(&kept, "new")?;
                j.push(Step::Created(created.clone()))?;
                std::fs::write(&created, "x")?;
                bail!("the third step failed")
            },
        )
        .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "installing c; nothing was changed: the third step failed"
        );
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "old");
        assert!(!created.exists());
        assert!(!ctx.layout.journal(&name).exists());
        assert!(!ctx.layout.backups(&name).exists());
    }

    #[test]
    fn success_forgets_the_journal_and_backups() {
        let (t, paths) = host();
        let ctx = Ctx::new(&paths, Reporter::silent()).unwrap();
        let name = Name::new("c").unwrap();
        let f = t.path().join("f");
        std::fs::write(&f, "old").unwrap();
        let v = run(
            &ctx,
            &name,
            "update",
            |_| String::new(),
            |j| {
                assert!(
                    ctx.layout.journal(&name).exists(),
                    "saved before the steps run"
                );
                j.set_aside(&f)?;
                std::fs::write(&f, "new")?;
                Ok(7)
            },
        )
        .unwrap();
        assert_eq!(v, 7);
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new");
        assert!(!ctx.layout.journal(&name).exists());
        assert!(!ctx.layout.backups(&name).exists());
    }

    #[test]
    fn recovery_undoes_what_a_crash_left_and_reports_it() {
        let (t, paths) = host();
        let (tx, rx) = std::sync::mpsc::channel();
        let ctx = Ctx::new(&paths, Reporter::new(tx)).unwrap();
        let name = Name::new("c").unwrap();
        let created = t.path().join("created");
        // A crash: the journal is on disk, the operation never finished.
        let mut j = Journal::begin(&ctx.layout, &name, "update").unwrap();
        j.push(Step::Created(created.clone())).unwrap();
        std::fs::write(&created, "x").unwrap();
        std::mem::forget(j);
        recover(&ctx, &name).unwrap();
        assert!(!created.exists());
        assert!(!ctx.layout.journal(&name).exists());
        drop(ctx);
        let events: Vec<Event> = rx.iter().collect();
        assert_eq!(
            events,
            [Event::Info {
                text: "undoing an interrupted update of c".into()
            }]
        );
        // Nothing to recover is not an error.
        let ctx = Ctx::new(&paths, Reporter::silent()).unwrap();
        recover(&ctx, &name).unwrap();
    }

    #[test]
    fn a_corrupt_journal_is_an_error_naming_it() {
        let (_t, paths) = host();
        let ctx = Ctx::new(&paths, Reporter::silent()).unwrap();
        let name = Name::new("c").unwrap();
        std::fs::write(ctx.layout.journal(&name), "{\"operation\": ").unwrap();
        let err = format!("{:#}", recover(&ctx, &name).unwrap_err());
        assert!(
            err.starts_with(&format!(
                "reading the journal {}",
                ctx.layout.journal(&name).display()
            )),
            "{err}"
        );
    }
}
