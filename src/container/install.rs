//! `install --system`: a new container in slot 0, enabled (and started with
//! `--now`); and
//! `--rpm=build` / `--rpm=spec`, which only write its package or spec.

use super::delivery::{Choice, Delivery, SlotRequest};
use super::journal::{failpoint, Step};
use super::layout::Layout;
use super::steps::{activate, resolve_runtime, SocketChange};
use super::{txn, Ctx, Name, Slot};
use crate::host::fs;
use crate::host::paths::HostPaths;
use crate::image::lookup::find_or_pull;
use crate::image::pull::PullOptions;
use crate::image::store::Store;
use crate::report::Reporter;
use crate::rpm;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to install.
pub struct InstallArgs<'a> {
    pub image: &'a str,
    pub name: Option<&'a str>,
    pub set: &'a [(String, String)],
    pub runtime: Option<&'a Path>,
    /// Start the service once installed, and wait for it.
    pub now: bool,
    /// How to pull the image when it is not stored.
    pub pull: &'a PullOptions,
}

/// Refuses a name that is taken: an installed container, or a slot
/// directory of one (`foo.0` while `foo` is installed).
fn check_name(layout: &Layout, name: &Name) -> Result<()> {
    if let Some((base, _)) = name.as_slot_of() {
        if fs::exists(&layout.root().join(base))? {
            bail!("name {name} is a deployment slot of container {base}; choose another name");
        }
    }
    if fs::exists(&layout.link(name))? {
        bail!("container {name} is already installed");
    }
    // Containers are kept beside their slots: a container named like one
    // of this one's slots would be overwritten by it.
    for slot in [Slot::Zero, Slot::One] {
        let taken = layout.slot(name, slot);
        if std::fs::symlink_metadata(&taken).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!(
                "container {} exists, and {name}'s deployment slot would be {}; choose another name",
                Layout::link_target(name, slot).display(),
                taken.display()
            );
        }
    }
    Ok(())
}

/// Installs `args.image` as a new container, delivered as `choice` says.
pub fn install(ctx: &Ctx, args: &InstallArgs, choice: Choice) -> Result<()> {
    let name = Name::for_install(args.name, args.image)?;
    txn::recover(ctx, &name)?;
    check_name(&ctx.layout, &name)?;
    Delivery::check_free(ctx, &name)?;
    let runtime = resolve_runtime(args.runtime)?;
    let store = Store::open_or_create(ctx.paths)?;
    let img = find_or_pull(ctx.paths, &store, args.image, args.pull, &ctx.report)?;
    // Decided once the image is known: whether it has host files.
    let delivery = Delivery::choose(ctx, choice, &store, &img)?;
    delivery.check_package_free(ctx, &name)?;
    ctx.note_relocated();
    let dir = ctx.layout.slot(&name, Slot::FIRST);
    let outcome = |_: &anyhow::Error| format!("installing {name}; nothing was changed");
    let info = txn::run(ctx, &name, "install", outcome, |j| {
        if fs::remove_tree(&dir)? {
            tracing::info!("removed the leftover {}", dir.display());
        }
        j.push(Step::CreatedTree(dir.clone()))?;
        fs::private_dir(&dir)?;
        failpoint("checkout")?;
        let req = SlotRequest {
            store: &store,
            img: &img,
            name: &name,
            slot: Slot::FIRST,
            dir: &dir,
            current: None,
            set: args.set,
            runtime: &runtime,
        };
        let mut prepared = delivery.prepare(ctx, &req)?;
        Delivery::check_aliases(
            ctx,
            &name,
            prepared.unit.as_deref(),
            prepared.socket.as_deref(),
        )?;
        let host = prepared.host_facing.lines();
        if !host.is_empty() {
            ctx.report.note(format!(
                "{name} will do this on the host, as root (from the image's /exports):"
            ));
            for line in host {
                ctx.report.note(line);
            }
        }
        let placement = delivery.plan(ctx, &name, &dir, &mut prepared, None)?;
        placement.place(ctx, &name, &dir, &mut prepared, None, j)?;
        activate(
            ctx,
            &name,
            Slot::FIRST,
            &prepared.info,
            true,
            SocketChange::Same,
            j,
        )?;
        Ok(prepared.info)
    })?;
    ctx.report
        .note(delivery.installed_message(&name, &dir, &info));
    start_installed(ctx, &name, &info, args.now)
}

/// After an install: with `--now` the service is started and waited for;
/// else the output says how to start it. A start that fails leaves the
/// install in place (it is correct; the host could not run it), as
/// `systemctl enable --now` leaves the unit enabled.
fn start_installed(
    ctx: &Ctx,
    name: &Name,
    info: &super::state::Deployment,
    now: bool,
) -> Result<()> {
    let (Some(s), true) = (ctx.target.systemd(), info.has_container_service) else {
        return Ok(());
    };
    // A socket-activated service: the socket is what runs.
    let unit = if info.has_socket {
        name.socket()
    } else {
        name.unit()
    };
    if info.staged() {
        ctx.report.note(format!(
            "{unit} is in the next boot's deployment: after the reboot, systemctl enable --now {unit}"
        ));
        return Ok(());
    }
    if !now {
        ctx.report.note(format!(
            "{unit} is enabled, not started: systemctl start {unit} (or install with --now)"
        ));
        return Ok(());
    }
    s.start(&unit)
        .with_context(|| format!("{name} is installed and enabled, but did not start"))?;
    ctx.report.note(format!("Started {unit}"));
    Ok(())
}

/// What `--rpm=build` and `--rpm=spec` write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Package,
    Spec,
}

/// What `install --rpm=build` did.
pub enum Built {
    /// Wrote this file.
    Wrote(PathBuf),
    /// Built the same package as this one already in the output: wrote
    /// nothing.
    Identical(PathBuf),
}

/// `install --rpm=build` (or `--rpm=spec`): writes the container's package
/// (or its spec and sources) into `output`. A package gets the release
/// after the highest of this container's packages already in `output` (a
/// fleet's repository) or installed on the host, so that rpm orders every
/// new build newer; a build identical to the newest one published there
/// (same image, same payload) writes nothing.
pub fn build(
    paths: &HostPaths,
    report: &Reporter,
    args: &InstallArgs,
    output: &Path,
    what: Output,
) -> Result<Built> {
    let name = Name::for_install(args.name, args.image)?;
    let runtime = resolve_runtime(args.runtime)?;
    let store = Store::open_or_create(paths)?;
    let img = find_or_pull(paths, &store, args.image, args.pull, report)?;
    let published = match what {
        Output::Package => rpm::published(output, &name.package())?,
        Output::Spec => Vec::new(),
    };
    let installed = crate::host::packages::installed(paths, &name.package())?
        .as_deref()
        .and_then(release_serial)
        .unwrap_or(0);
    let last = published.last();
    // One package for a whole fleet: its UUID is the same for the same
    // container, image and values, so that a rebuild is the same package.
    let stored = BTreeMap::from([("UUID".to_string(), package_uuid(&name, &img.id, args.set))]);
    let req = rpm::PackageRequest {
        name: name.as_str(),
        serial: last
            .map_or(0, |p| p.serial)
            .max(installed)
            .checked_add(1)
            .ok_or_else(|| anyhow!("the release serial of {} cannot go higher", name.package()))?,
        stored: &stored,
        set: args.set,
        runtime: &runtime,
    };
    let scratch = Layout::new(paths)?.package_scratch(&name)?;
    let prepared = rpm::prepare(scratch, &store, &img, &req)?;
    for w in &prepared.warnings {
        report.warn(w.clone());
    }
    match what {
        Output::Spec => Ok(Built::Wrote(
            prepared.write_spec(rpm::spec::SPEC_TEMPLATE, output)?,
        )),
        Output::Package => {
            std::fs::create_dir_all(output)
                .with_context(|| format!("creating {}", output.display()))?;
            // Built beside the output, compared, and only then published
            // under its name, which must be free: a link fails when a file
            // is there, so no published package is ever replaced, not even
            // by a build that raced this one from another host.
            let staging = tempfile::Builder::new()
                .prefix(".atomic-build-")
                .tempdir_in(output)
                .with_context(|| format!("creating a directory in {}", output.display()))?;
            let built = prepared.write_rpm(staging.path())?;
            if let Some(l) = last.filter(|l| l.image == img.id[..12] && l.payload.is_some()) {
                if rpm::payload_digest(&built)? == l.payload {
                    return Ok(Built::Identical(l.file.clone()));
                }
            }
            let target = output.join(prepared.id.file_name());
            std::fs::hard_link(&built, &target).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => anyhow!(
                    "{} exists already; a published package is never replaced",
                    target.display()
                ),
                _ => anyhow!("publishing {}: {e}", target.display()),
            })?;
            crate::host::fs::sync_parent(&target)?;
            Ok(Built::Wrote(target))
        }
    }
}

/// A UUID (version 8, name-based) of `name`, image `image_id` and the
/// `--set` values: the same for the same build.
fn package_uuid(name: &Name, image_id: &str, set: &[(String, String)]) -> String {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    h.update(name.as_str());
    h.update([0]);
    h.update(image_id);
    // The values as they end up: the last of a key wins, order aside.
    let set: BTreeMap<&String, &String> = set.iter().map(|(k, v)| (k, v)).collect();
    for (k, v) in set {
        h.update([0]);
        h.update(k);
        h.update([b'=']);
        h.update(v);
    }
    let mut b: [u8; 16] = h.finalize()[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// The serial of a package's `NAME-VERSION-SERIAL.IMAGEID`.
fn release_serial(nvr: &str) -> Option<u32> {
    nvr.rsplit('-').next()?.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_names_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let layout = Layout::new(&HostPaths::new(Some(t.path()), None, None)).unwrap();
        std::fs::create_dir_all(layout.root()).unwrap();
        let n = |s| Name::new(s).unwrap();
        check_name(&layout, &n("foo.0")).unwrap();
        std::os::unix::fs::symlink("foo.0", layout.root().join("foo")).unwrap();
        let err = check_name(&layout, &n("foo")).unwrap_err().to_string();
        assert_eq!(err, "container foo is already installed");
        for slot in ["foo.0", "foo.1"] {
            let err = check_name(&layout, &n(slot)).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("name {slot} is a deployment slot of container foo; choose another name")
            );
        }
        check_name(&layout, &n("foo.2")).unwrap();
        // The other way round: a container whose name is a slot of the new one.
        std::os::unix::fs::symlink("bar.1.0", layout.root().join("bar.1")).unwrap();
        let err = check_name(&layout, &n("bar")).unwrap_err().to_string();
        assert!(
            err.starts_with("container bar.1 exists, and bar's deployment slot would be"),
            "{err}"
        );
    }
}
