//! The command line: the dispatch from a parsed command (`args`) to the
//! code that runs it, and all output (`output` prints results, `progress`
//! prints events).

mod args;
mod docs;
mod output;
mod progress;

pub use args::*;

use crate::container::delivery::Choice;
use crate::container::install::{self, InstallArgs};
use crate::container::{self, Ctx, Name};
use crate::host::lock::Lock;
use crate::host::paths::HostPaths;
use crate::host::user::UserDirs;
use crate::image::pull::PullOptions;
use crate::image::store::Store;
use crate::image::{catalog, lookup};
use crate::report::Reporter;
use anyhow::{bail, Context, Result};
use clap::Parser;
use std::ffi::OsString;
use std::process::ExitCode;

/// Parses `args` and runs the command; errors go to stderr as one line.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let opt = match Opt::try_parse_from(args) {
        Ok(opt) => opt,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(opt.verbose);
    match run(opt) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}

/// Runs a parsed command, printing what it reports as it goes.
pub fn run(opt: Opt) -> Result<()> {
    // The tool's own documentation: nothing of the host is involved.
    match &opt.command {
        Command::Man { dir } => {
            for file in docs::write_man_pages(dir)? {
                println!("Wrote {}", file.display());
            }
            return Ok(());
        }
        Command::Completions { shell } => {
            docs::completions(*shell);
            return Ok(());
        }
        _ => {}
    }
    let mode = match &opt.command {
        Command::Pull(p) if p.progress == ProgressMode::Json => progress::Mode::Json,
        Command::Pull(p) if p.quiet => progress::Mode::Text { bars: false },
        _ => progress::Mode::Text { bars: true },
    };
    let printer = progress::Printer::start(mode);
    let result = dispatch(opt, printer.reporter());
    let printed = printer.finish();
    result.and(printed)
}

/// The layout of the host, or of the calling user's own containers with
/// `--user` or when not root.
fn host_paths(opt: &Opt) -> Result<HostPaths> {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if opt.user && root {
        bail!("--user is for a user's own containers, run as that user; root's containers are the system's (leave --user out)");
    }
    if !opt.user && (root || opt.root.is_some()) {
        return Ok(HostPaths::from_env(opt.root.as_deref()));
    }
    if let Command::Install(i) = &opt.command {
        if i.rpm.is_some() || i.system_package.is_some_and(|p| p != SystemPackage::No) {
            bail!("{}", crate::container::delivery::NO_USER_PACKAGES);
        }
    }
    Ok(HostPaths::for_user(UserDirs::from_env()?))
}

fn dispatch(opt: Opt, report: Reporter) -> Result<()> {
    let pull = opt.command.pull_options()?;
    let paths = host_paths(&opt)?;
    let _lock = if opt.command.mutates() {
        let lock = container::layout::Layout::new(&paths)?.lock();
        Some(Lock::acquire(&lock, || {
            eprintln!(
                "waiting for another atomic command to release {}",
                lock.display()
            )
        })?)
    } else {
        None
    };
    let ctx = || Ctx::new(&paths, report.clone());
    match opt.command {
        Command::Pull(p) => {
            let img = crate::image::pull::pull(&paths, &p.image, &pull, &report)?;
            if !p.quiet {
                report.note(format!("Pulled {} (image id {})", img.name, &img.id[..12]));
            }
            Ok(())
        }
        Command::Images(ImagesCommand::List(l)) => {
            let in_use = container::state::all_deployed(&container::layout::Layout::new(&paths)?)?;
            let store = Store::open_existing(&paths)?;
            let rows = catalog::list(store.as_ref(), &in_use, &l.filter)?;
            report.note(output::images(&rows, &l)?);
            Ok(())
        }
        Command::Images(ImagesCommand::Info { image }) => {
            let store = Store::open_existing(&paths)?
                .ok_or_else(|| crate::image::store::not_found(&image))?;
            let img = lookup::lookup(&store, &image)?;
            report.note(output::image_info(&crate::render::summary::describe(
                &store, &img,
            )?));
            Ok(())
        }
        Command::Images(ImagesCommand::Tag { src, dest }) => {
            let store = Store::open_existing(&paths)?
                .ok_or_else(|| crate::image::store::not_found(&src))?;
            let (src, dest) = catalog::tag(&store, &src, &dest)?;
            report.note(format!("Tagged {src} as {dest}"));
            Ok(())
        }
        Command::Images(ImagesCommand::Delete { force, images }) => {
            let store = Store::open_existing(&paths)?
                .ok_or_else(|| crate::image::store::not_found(&images[0]))?;
            let in_use = container::state::all_deployed(&container::layout::Layout::new(&paths)?)?;
            catalog::delete(&store, &images, force, &in_use, &report)
        }
        Command::Images(ImagesCommand::Prune) => {
            let Some(store) = Store::open_existing(&paths)? else {
                return Ok(());
            };
            let in_use = container::state::all_deployed(&container::layout::Layout::new(&paths)?)?;
            let (removed, freed) = catalog::prune(&store, &in_use)?;
            for r in &removed {
                report.note(format!("Removed layer {r}"));
            }
            match freed {
                Some(freed) => report.note(format!("Freed {}", output::human(freed))),
                None => report.note(format!(
                    "Left the objects of {} alone: atomic did not create that repository",
                    store.path().display()
                )),
            }
            Ok(())
        }
        Command::Install(i) if i.system_package() == SystemPackage::Build => {
            let output = match &i.output {
                Some(o) => o.clone(),
                None => std::env::current_dir().context("finding the current directory")?,
            };
            let spec = i.rpm == Some(RpmMode::Spec);
            if spec && i.createrepo {
                bail!("--createrepo publishes a package; it goes with --rpm=build, not --rpm=spec");
            }
            let what = if spec {
                install::Output::Spec
            } else {
                install::Output::Package
            };
            let file =
                match install::build(&paths, &report, &install_args(&i, &pull), &output, what)? {
                    install::Built::Wrote(file) => file,
                    install::Built::Identical(file) => {
                        report.note(format!(
                            "Identical to {}, already there: wrote nothing",
                            file.display()
                        ));
                        return Ok(());
                    }
                };
            report.note(format!("Wrote {}", file.display()));
            if i.createrepo {
                crate::rpm::createrepo(&output)?;
                report.note(format!("Updated the repository in {}", output.display()));
            }
            Ok(())
        }
        Command::Install(i) => {
            let choice = match i.system_package() {
                SystemPackage::Yes => Choice::Package,
                SystemPackage::Auto => Choice::Auto,
                _ => Choice::Files,
            };
            install::install(&ctx()?, &install_args(&i, &pull), choice)
        }
        Command::Uninstall { name } => container::uninstall::uninstall(&ctx()?, &Name::new(&name)?),
        Command::Containers(ContainersCommand::List { list, no_trunc }) => {
            let rows = container::list::list(&ctx()?, &list.filter, list.all)?;
            report.note(output::containers(&rows, &list, no_trunc)?);
            Ok(())
        }
        Command::Containers(ContainersCommand::Update {
            all: true, health, ..
        }) => {
            let results = container::update::update_all(&ctx()?, &health.gate())?;
            report.note(output::update_all(&results));
            if results.iter().any(|(_, r)| r.is_err()) {
                bail!("some containers failed to update and were rolled back");
            }
            Ok(())
        }
        Command::Containers(ContainersCommand::Update {
            name,
            set,
            rebase,
            health,
            ..
        }) => {
            let name = Name::new(&name.expect("clap requires a name without --all"))?;
            container::update::update(
                &ctx()?,
                &name,
                &set,
                rebase.as_deref(),
                &pull,
                &health.gate(),
            )
            .map(drop)
        }
        Command::Containers(ContainersCommand::Rollback { name, health }) => {
            container::rollback::rollback(&ctx()?, &Name::new(&name)?, &health.gate())
        }
        Command::Run { name, command } => {
            container::run::run(&ctx()?, &Name::new(&name)?, &command)
        }
        Command::Stop { name } => container::run::stop(&ctx()?, &Name::new(&name)?),
        Command::Man { .. } | Command::Completions { .. } => unreachable!("handled in run"),
    }
}

fn install_args<'a>(i: &'a InstallOpts, pull: &'a PullOptions) -> InstallArgs<'a> {
    InstallArgs {
        image: &i.image,
        name: i.name.as_deref(),
        set: &i.set,
        runtime: i.runtime.as_deref(),
        now: i.now,
        pull,
    }
}
