//! What differs between a plain install and RPM mode, and nothing else: how
//! a slot is prepared, how its host side is put in place and removed, and
//! what the user is told. The delivery is chosen once, at install, recorded
//! in the deployment (`system-package`), and matched only here.

mod files;
mod ledger;
mod package;

use super::journal::Journal;
pub use super::state::Delivery;
use super::state::{Delivered, Deployment};
use super::{Ctx, Name, Slot};
use crate::image::store::{Store, StoredImage};
use crate::render::hostfs::HostFile;
use crate::render::summary::HostFacing;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `--system-package`, as far as installing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// A package when the image has host files and rpm manages the host.
    Auto,
    Files,
    Package,
}

/// What to prepare a slot from.
pub struct SlotRequest<'a> {
    pub store: &'a Store,
    pub img: &'a StoredImage,
    pub name: &'a Name,
    /// The slot being prepared, and the directory it is prepared in (the
    /// slot itself, or its staging directory on update).
    pub slot: Slot,
    pub dir: &'a Path,
    /// The deployment being replaced (none on install): its values are kept.
    pub current: Option<&'a Deployment>,
    pub set: &'a [(String, String)],
    pub runtime: &'a str,
}

/// The deployment a slot replaces on the host: the active slot's directory
/// and record, and whether the new one is the older of the two (rollback).
pub struct Replacing<'a> {
    pub dir: &'a Path,
    pub info: &'a Deployment,
    pub older: bool,
}

/// A prepared slot: its record, its rendered unit and, for files, the host
/// files to place.
pub struct PreparedSlot {
    pub info: Deployment,
    pub unit: Option<String>,
    /// The rendered socket unit, if any.
    pub socket: Option<String>,
    /// What the deployment will do to the host.
    pub host_facing: HostFacing,
    host_files: Vec<HostFile>,
}

/// What placing a prepared slot will do to the host, decided before it
/// is placed ([`Delivery::plan`]).
pub struct Placement(Plan);

enum Plan {
    Files(files::PlacePlan),
    Package,
}

impl Placement {
    /// Puts the host side of the slot at `dir` in place as planned,
    /// replacing that of the active deployment, if any.
    pub fn place(
        self,
        ctx: &Ctx,
        name: &Name,
        dir: &Path,
        prepared: &mut PreparedSlot,
        replacing: Option<Replacing>,
        j: &mut Journal,
    ) -> Result<()> {
        match self.0 {
            Plan::Files(plan) => files::place(ctx, name, dir, prepared, plan, j),
            Plan::Package => package::place(ctx, name, dir, prepared, replacing, j),
        }
    }
}

/// Removes the host side of the deployment `info` (uninstall).
pub fn remove(ctx: &Ctx, name: &Name, info: &Deployment) -> Result<()> {
    match &info.delivered {
        Delivered::Files(ledger) => files::remove(ctx, name, ledger, info.has_socket),
        Delivered::Package { staged, .. } => package::remove(ctx, name, *staged),
    }
}

/// Why `--user` has no RPM mode.
pub const NO_USER_PACKAGES: &str = "--rpm and --system-package cannot be used with --user: a package is installed for the whole host, by root, and a user's containers stay in their home";

impl Delivery {
    /// The delivery `choice` means for the image `img`, resolved already
    /// (pulled or found), on this host.
    pub fn choose(ctx: &Ctx, choice: Choice, store: &Store, img: &StoredImage) -> Result<Delivery> {
        if ctx.target.is_user() {
            return match choice {
                Choice::Package => bail!("{NO_USER_PACKAGES}"),
                Choice::Files | Choice::Auto => Ok(Delivery::Files),
            };
        }
        Ok(match choice {
            Choice::Files => Delivery::Files,
            Choice::Package => Delivery::Package,
            Choice::Auto => {
                // Only an image with host files (`/exports/hostfs`) is packaged.
                if store.files(img)?.has("exports/hostfs")?
                    && crate::host::packages::host_uses_rpm(ctx.paths)?
                {
                    Delivery::Package
                } else {
                    Delivery::Files
                }
            }
        })
    }

    /// Refuses to install `name` as a package over a package of that name
    /// it does not own (the rest is [`Delivery::check_free`]'s, before the
    /// image is pulled).
    pub fn check_package_free(self, ctx: &Ctx, name: &Name) -> Result<()> {
        if self == Delivery::Package {
            package::check_free(ctx, name)?;
        }
        Ok(())
    }

    /// Refuses to install `name` over files or units it does not own: a
    /// unit (or socket unit) of that name anywhere on systemd's unit path
    /// (`sshd`, `dbus`) or known to the running systemd, a tmpfiles.d file.
    pub fn check_free(ctx: &Ctx, name: &Name) -> Result<()> {
        let repo = ctx.paths.repo();
        for taken in [
            ctx.layout.link(name),
            ctx.layout.slot(name, Slot::Zero),
            ctx.layout.slot(name, Slot::One),
        ] {
            if repo.starts_with(&taken) {
                bail!(
                    "a container cannot be named {name} here: {} is the repository",
                    repo.display()
                );
            }
        }
        let l = &ctx.layout;
        let mut taken = l.unit_paths(&name.unit())?;
        taken.extend(l.unit_paths(&name.socket())?);
        taken.push(l.tmpfiles_file(name));
        for f in taken {
            if crate::host::fs::exists(&f)? {
                bail!(
                    "{} already exists and was not written by atomic for {name}; not overwriting it",
                    f.display()
                );
            }
        }
        check_unit_unknown(ctx, &name.unit(), name)?;
        check_unit_unknown(ctx, &name.socket(), name)
    }

    /// Refuses the `Alias=` names of the rendered unit that systemd has
    /// already: enabling would take them over. The names are systemd's
    /// own reading of the unit (see [`crate::render::unit::aliases`]); an alias that is already
    /// a link to this container's own unit (an update, a rollback) is its.
    pub fn check_aliases(
        ctx: &Ctx,
        name: &Name,
        unit: Option<&str>,
        socket: Option<&str>,
    ) -> Result<()> {
        for (unit_name, text) in [(name.unit(), unit), (name.socket(), socket)] {
            let Some(text) = text else {
                continue;
            };
            for alias in crate::render::unit::aliases(&unit_name, text)? {
                let mut ours = false;
                for f in ctx.layout.unit_paths(&alias)? {
                    match crate::host::fs::read_link(&f) {
                        Ok(Some(t)) if t.file_name() == Some(unit_name.as_ref()) => ours = true,
                        _ if crate::host::fs::exists(&f)? => {
                            bail!("the unit {unit_name} of {name} has Alias={alias}, but {} already exists; not taking it over", f.display());
                        }
                        _ => {}
                    }
                }
                if !ours {
                    check_unit_unknown(ctx, &alias, name)?;
                }
            }
        }
        Ok(())
    }

    /// Checks the image out and renders it into `req.dir`: the bundle and
    /// rendered files (plain) or the package (RPM mode), and the record.
    pub fn prepare(self, ctx: &Ctx, req: &SlotRequest) -> Result<PreparedSlot> {
        match self {
            Delivery::Files => files::prepare(ctx, req),
            Delivery::Package => package::prepare(ctx, req),
        }
    }

    /// The prepared state of the existing slot at `dir` (rollback).
    pub fn reopen(self, dir: &Path, info: Deployment) -> Result<PreparedSlot> {
        match self {
            Delivery::Files => files::reopen(dir, info),
            Delivery::Package => Ok(PreparedSlot {
                info,
                unit: None,
                socket: None,
                host_facing: HostFacing::default(),
                host_files: Vec::new(),
            }),
        }
    }

    /// Decides everything placing the slot prepared in `dir` will do to
    /// the host, over the deployment `replacing` (none on install), and
    /// refuses what it must before anything changes: done before the
    /// service is stopped, so a refused host file costs no downtime.
    pub fn plan(
        self,
        ctx: &Ctx,
        name: &Name,
        dir: &Path,
        prepared: &mut PreparedSlot,
        replacing: Option<&Deployment>,
    ) -> Result<Placement> {
        Ok(match self {
            Delivery::Files => Placement(Plan::Files(files::plan_place(
                ctx,
                name,
                dir,
                std::mem::take(&mut prepared.host_files),
                replacing.and_then(Deployment::ledger),
                replacing.is_some_and(|r| r.has_socket),
            )?)),
            Delivery::Package => {
                // The host as it is now, whenever the package was built: a
                // rollback's was built long ago.
                let file = super::layout::SlotDir(dir).package()?;
                let paths = crate::rpm::host_paths_of(&file, name.as_str())?;
                package::check_host_paths(ctx, name, paths.iter().map(String::as_str))?;
                Placement(Plan::Package)
            }
        })
    }

    /// Removes what either delivery may have put on the host for `name`,
    /// when its record cannot be read: the unit and tmpfiles file, the
    /// package. Host files cannot be told without the record, and stay.
    pub fn remove_unknown(ctx: &Ctx, name: &Name) -> Result<()> {
        files::remove_unknown(ctx, name)?;
        if ctx.target.is_user() {
            return Ok(());
        }
        package::remove(ctx, name, false)
    }

    /// The bundle the service runs (`config.json` and `rootfs`): the slot
    /// at `slot`, or the one the package installed under
    /// `/usr/lib/containers/atomic/NAME`.
    pub fn bundle_dir(self, ctx: &Ctx, name: &Name, slot: &Path) -> Result<PathBuf> {
        match self {
            Delivery::Files => Ok(slot.to_path_buf()),
            Delivery::Package => ctx
                .paths
                .resolve_dir(&crate::rpm::payload::bundle_dir(name.as_str())),
        }
    }

    /// Where the unit of `name` is on disk: written to `/etc`, or installed
    /// by the package under `/usr/lib`.
    pub fn unit_on_disk(self, ctx: &Ctx, name: &Name) -> PathBuf {
        match self {
            Delivery::Files => ctx.layout.unit_file(name),
            Delivery::Package => ctx.layout.packaged_unit(name),
        }
    }

    /// Where the deployment at `dir` went, for messages: "in DIR" or "as
    /// package NVR".
    fn target(self, dir: &Path, info: &Deployment) -> String {
        match self {
            Delivery::Files => format!("in {}", dir.display()),
            Delivery::Package => format!("as package {}", nvr(info)),
        }
    }

    pub fn installed_message(self, name: &Name, dir: &Path, info: &Deployment) -> String {
        format!(
            "Installed {name} from {} {}",
            info.image,
            self.target(dir, info)
        )
    }

    pub fn updated_message(self, name: &Name, dir: &Path, info: &Deployment) -> String {
        match self {
            Delivery::Files => format!("Updated {name} to {} in {}", info.image, dir.display()),
            Delivery::Package => format!("Updated {name} to package {}", nvr(info)),
        }
    }

    pub fn rolled_back_message(self, name: &Name, dir: &Path, info: &Deployment) -> String {
        match self {
            Delivery::Files => format!("Rolled back {name} to {}", dir.display()),
            Delivery::Package => format!("Rolled back {name} to package {}", nvr(info)),
        }
    }

    pub fn uninstalled_message(self, name: &Name) -> String {
        match self {
            Delivery::Files => format!("Uninstalled {name}"),
            Delivery::Package => format!("Uninstalled {name} and its package {}", name.package()),
        }
    }
}

/// Refuses `unit` when the running systemd has a unit file of that name.
fn check_unit_unknown(ctx: &Ctx, unit: &str, name: &Name) -> Result<()> {
    if let Some(s) = ctx.target.systemd() {
        if let Some(state) = s.unit_file_state(unit)? {
            bail!("systemd already has a unit {unit} ({state}), not written by atomic for {name}; choose another --name");
        }
    }
    Ok(())
}

fn nvr(info: &Deployment) -> &str {
    info.package().unwrap_or_default()
}

/// The values a new deployment starts from: those of the one it replaces.
fn stored_values(req: &SlotRequest) -> BTreeMap<String, String> {
    req.current.map(|c| c.values.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::paths::HostPaths;

    #[test]
    fn both_deliveries_refuse_units_and_tmpfiles_they_do_not_own() {
        let t = tempfile::tempdir().unwrap();
        let paths = HostPaths::new(Some(t.path()), None, None);
        let ctx = Ctx::new(&paths, crate::report::Reporter::silent()).unwrap();
        let name = Name::new("sshd").unwrap();
        Delivery::check_free(&ctx, &name).unwrap();
        for f in [
            ctx.layout.unit_file(&name),
            ctx.layout.packaged_unit(&name),
            ctx.layout.tmpfiles_file(&name),
        ] {
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, "").unwrap();
            let err = Delivery::check_free(&ctx, &name).unwrap_err().to_string();
            assert_eq!(
                err,
                format!(
                    "{} already exists and was not written by atomic for sshd; not overwriting it",
                    f.display()
                )
            );
            std::fs::remove_file(&f).unwrap();
        }
    }
}
