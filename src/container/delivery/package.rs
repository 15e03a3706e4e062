//! RPM delivery (`install --rpm`): the package, built into the slot and
//! kept there, is installed with the host's package manager; an update
//! installs the next release, rollback reinstalls the other slot's package,
//! uninstall erases it. The service runs from the package's files
//! (`/usr/lib/systemd/system/NAME.service`).

use super::{stored_values, PreparedSlot, Replacing, SlotRequest};
use crate::container::journal::{failpoint, Journal, Step};
use crate::container::layout::SlotDir;
use crate::container::state::{self, Delivered, Deployment};
use crate::container::{Ctx, Name};
use crate::host::packages::{self, Applied, Manager};
use crate::rpm;
use anyhow::{anyhow, bail, Result};
use std::path::Path;

/// Refuses a package of the container's name that atomic did not install.
pub(super) fn check_free(ctx: &Ctx, name: &Name) -> Result<()> {
    if let Some(nvr) = packages::installed(ctx.paths, &name.package())? {
        bail!("package {nvr} is already installed and was not installed by atomic for {name}; not replacing it");
    }
    Ok(())
}

/// Refuses a package that would put a file where one is that the
/// container's own package does not own: rpm replaces a file no package
/// owns without a word.
pub(super) fn check_host_paths<'a>(
    ctx: &Ctx,
    name: &Name,
    paths: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    let ours = name.package();
    for path in paths {
        let host = ctx.paths.resolve(Path::new(path))?;
        if !crate::host::fs::exists(&host)? {
            continue;
        }
        // rpm --root takes the path as the target sees it.
        let owners = packages::owners(ctx.paths, Path::new(path))?;
        if !owners.contains(&ours) {
            let by = match owners.as_slice() {
                [] => "no package".to_string(),
                o => o.join(", "),
            };
            bail!("{path} exists (owned by {by}) and was not installed by atomic for {name}; not overwriting it");
        }
    }
    Ok(())
}

/// The release serial of a deployment's package (`…-3.0123456789ab` ->
/// 3); an error naming the package when its release is not one of ours.
fn serial(info: &Deployment) -> Result<u32> {
    let nvr = info.package().unwrap_or_default();
    nvr.rsplit('-')
        .next()
        .and_then(|release| release.split('.').next())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("the recorded package {nvr:?} has no release serial (SERIAL.IMAGEID) to continue from"))
}

/// Builds the package into `req.dir` and records the deployment there.
pub(super) fn prepare(ctx: &Ctx, req: &SlotRequest) -> Result<PreparedSlot> {
    let next = match req.current {
        None => 1,
        Some(current) => {
            let other = state::read_optional(&ctx.layout.slot(req.name, req.slot))?;
            let other = match other.as_ref().filter(|o| o.package().is_some()) {
                Some(o) => serial(o)?,
                None => 0,
            };
            serial(current)?.max(other).checked_add(1).ok_or_else(|| {
                anyhow!(
                    "the release serial of {} cannot go higher",
                    req.name.package()
                )
            })?
        }
    };
    let stored = stored_values(req);
    let prepared = rpm::prepare(
        ctx.layout.package_scratch(req.name)?,
        req.store,
        req.img,
        &rpm::PackageRequest {
            name: req.name.as_str(),
            serial: next,
            stored: &stored,
            set: req.set,
            runtime: req.runtime,
        },
    )?;
    for w in &prepared.warnings {
        ctx.report.warn(w.clone());
    }
    check_host_paths(ctx, req.name, prepared.host_paths())?;
    prepared.write_rpm(req.dir)?;
    let id = &prepared.id;
    let mut info = Deployment::new(
        req.img,
        prepared.values.clone(),
        prepared.has_service,
        req.runtime,
        Delivered::Package {
            nvr: format!("{}-{}-{}", id.name, id.version, id.release),
            staged: false,
        },
    );
    info.has_socket = prepared.has_socket;
    info.health_check = prepared.health_check.clone();
    state::write(req.dir, &info)?;
    Ok(PreparedSlot {
        info,
        unit: prepared.unit.clone(),
        socket: prepared.socket.clone(),
        host_facing: prepared.host_facing.clone(),
        host_files: Vec::new(),
    })
}

/// Installs the package of the slot at `dir`, over that of the deployment
/// it replaces, if any.
pub(super) fn place(
    ctx: &Ctx,
    name: &Name,
    dir: &Path,
    prepared: &mut PreparedSlot,
    replacing: Option<Replacing>,
    j: &mut Journal,
) -> Result<()> {
    failpoint("package")?;
    j.push(Step::Package {
        name: name.package(),
        previous: replacing
            .as_ref()
            .map(|r| SlotDir(r.dir).package())
            .transpose()?,
    })?;
    let older = replacing.is_some_and(|r| r.older);
    let manager = Manager::of(ctx.paths);
    match manager.install(ctx.paths, &SlotDir(dir).package()?, older)? {
        Applied::Live if manager == Manager::RpmOstree => {
            // rpm-ostree ran %post when it built the deployment, not on the
            // running system: its tmpfiles lines (`/run`) are made here.
            let tmpfiles = ctx
                .paths
                .resolve(&Path::new("/usr/lib/tmpfiles.d").join(format!("{name}.conf")))?;
            if crate::host::fs::exists(&tmpfiles)? {
                ctx.tmpfiles("--create", &tmpfiles)?;
            }
            Ok(())
        }
        Applied::Live => Ok(()),
        Applied::Staged(why) => {
            ctx.report.warn(format!(
                "{} is staged; active after reboot (the live apply did not take: {why})",
                name.package()
            ));
            if let Delivered::Package { staged, .. } = &mut prepared.info.delivered {
                *staged = true;
            }
            state::write(dir, &prepared.info)
        }
    }
}

/// Erases the container's package, if it is installed, or staged for the
/// next boot (`staged`). Configuration files the operator edited survive
/// as rpm keeps them, as `FILE.rpmsave`, and the report says where: rpm
/// and dnf save them themselves; rpm-ostree's live apply removes the
/// package's `/etc` directories whole, edited files and all, so on an
/// image-based host the tool keeps a copy of each under the checkout root
/// first and puts it back as `FILE.rpmsave` afterwards.
pub(super) fn remove(ctx: &Ctx, name: &Name, staged: bool) -> Result<()> {
    let package = name.package();
    if !staged && packages::installed(ctx.paths, &package)?.is_none() {
        return Ok(());
    }
    let manager = Manager::of(ctx.paths);
    let edited = packages::changed_config(ctx.paths, &package)?;
    let stash = ctx.paths.checkout_root().join(format!(".rpmsave-{name}"));
    let stashed = |path: &Path| stash.join(path.strip_prefix("/").unwrap_or(path));
    if manager == Manager::RpmOstree {
        for path in &edited {
            save_copy(&ctx.paths.resolve(path)?, &stashed(path))?;
        }
    }
    if let Applied::Staged(why) = manager.erase(ctx.paths, &package)? {
        ctx.report.warn(format!(
            "the removal of {package} is staged; it is gone after reboot (the live apply did not take: {why})"
        ));
    }
    for path in &edited {
        let host = ctx.paths.resolve(path)?;
        let save = rpmsave(&host);
        let shown = path.display();
        let copy = stashed(path);
        if crate::host::fs::exists(&host)? {
            ctx.report.note(format!(
                "keeping {shown}: it was edited since it was installed"
            ));
        } else if crate::host::fs::exists(&copy)? {
            if let Some(parent) = save.parent() {
                for dir in parent.ancestors().collect::<Vec<_>>().into_iter().rev() {
                    if !crate::host::fs::exists(dir)? {
                        crate::host::fs::make_dir(dir, 0o755)?;
                    }
                }
            }
            crate::host::fs::copy_file(&copy, &save, file_mode(&copy)?)?;
            ctx.report.note(format!(
                "{shown} was edited since it was installed; saved as {shown}.rpmsave"
            ));
        } else if crate::host::fs::exists(&save)? {
            ctx.report.note(format!(
                "{shown} was edited since it was installed; saved as {shown}.rpmsave"
            ));
        } else {
            ctx.report.warn(format!(
                "{shown} was edited since it was installed, and the package manager removed it without saving it"
            ));
        }
    }
    crate::host::fs::remove_tree(&stash)?;
    Ok(())
}

/// Where rpm keeps an edited configuration file it erases: `FILE.rpmsave`.
fn rpmsave(host: &Path) -> std::path::PathBuf {
    let mut s = host.as_os_str().to_owned();
    s.push(".rpmsave");
    s.into()
}

fn file_mode(path: &Path) -> Result<u32> {
    use anyhow::Context as _;
    use std::os::unix::fs::PermissionsExt as _;
    Ok(std::fs::symlink_metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .permissions()
        .mode()
        & 0o7777)
}

/// Copies the edited file `host` (a regular file; a link is not followed)
/// to `copy`, with its mode, making the directories it needs (root's).
fn save_copy(host: &Path, copy: &Path) -> Result<()> {
    use anyhow::Context as _;
    let meta =
        std::fs::symlink_metadata(host).with_context(|| format!("reading {}", host.display()))?;
    if !meta.is_file() {
        return Ok(());
    }
    if let Some(parent) = copy.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    crate::host::fs::copy_file(host, copy, file_mode(host)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_is_the_first_part_of_the_release() {
        let record = |nvr: &str| -> Deployment {
            serde_json::from_value(serde_json::json!({
                "image": "i", "revision": "r", "ostree-commit": "c", "created": 0, "values": {},
                "has-container-service": true, "installed-files": [], "installed-files-checksum": {},
                "installed-files-template": [], "rename-installed-files": {},
                "rpm-installed": nvr, "system-package": "yes", "runtime": "runc"
            }))
            .unwrap()
        };
        assert_eq!(
            serial(&record("atomic-container-g-1.0-3.0123456789ab")).unwrap(),
            3
        );
        // Not a release of ours: an error naming it, never serial 0.
        let err = serial(&record("atomic-container-g-1.0-x3.0123456789ab"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "the recorded package \"atomic-container-g-1.0-x3.0123456789ab\" has no release serial (SERIAL.IMAGEID) to continue from"
        );
    }
}
