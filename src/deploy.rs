//! Deployments of system containers: `NAME.0` and `NAME.1` under the
//! checkout root and the `NAME` symlink to the active one; install, update,
//! rollback and uninstall, each journaled so that a failure or a crash
//! leaves the old or the new deployment whole.

use crate::bundle::{self, Fixed, HostFile, HostKind};
use crate::exports::Manifest;
use crate::journal::{failpoint, Journal, Step};
use crate::paths::HostPaths;
use crate::store::{Store, StoredImage};
use crate::systemd::Systemd;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The `info` file of a slot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Info {
    pub image: String,
    /// The image id.
    pub revision: String,
    #[serde(rename = "ostree-commit")]
    pub ostree_commit: String,
    /// Seconds since the epoch.
    pub created: u64,
    pub values: BTreeMap<String, String>,
    #[serde(rename = "has-container-service")]
    pub has_container_service: bool,
    #[serde(rename = "installed-files")]
    pub installed_files: Vec<String>,
    #[serde(rename = "installed-files-checksum")]
    pub installed_files_checksum: BTreeMap<String, String>,
    #[serde(rename = "installed-files-template")]
    pub installed_files_template: Vec<String>,
    #[serde(rename = "rename-installed-files")]
    pub rename_installed_files: BTreeMap<String, String>,
    /// Directories created on the host for the host files.
    #[serde(rename = "installed-directories", default)]
    pub installed_directories: Vec<String>,
    #[serde(rename = "rpm-installed")]
    pub rpm_installed: Option<String>,
    #[serde(rename = "system-package")]
    pub system_package: String,
    pub runtime: String,
}

impl Info {
    /// The info of a new deployment of `img`: no host files yet, not a package.
    pub fn new(
        img: &StoredImage,
        values: BTreeMap<String, String>,
        has_service: bool,
        runtime: &str,
    ) -> Info {
        Info {
            image: img.name.clone(),
            revision: img.id.clone(),
            ostree_commit: img.commit.clone(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            values,
            has_container_service: has_service,
            installed_files: Vec::new(),
            installed_files_checksum: BTreeMap::new(),
            installed_files_template: Vec::new(),
            rename_installed_files: BTreeMap::new(),
            installed_directories: Vec::new(),
            rpm_installed: None,
            system_package: "no".into(),
            runtime: runtime.to_string(),
        }
    }
}

/// What the commands share: the host layout and, on the running system,
/// the service manager.
pub struct Ctx<'a> {
    pub paths: &'a HostPaths,
    pub systemd: Option<Systemd>,
}

impl<'a> Ctx<'a> {
    /// Connects to systemd unless the root is relocated.
    pub fn new(paths: &'a HostPaths) -> Result<Ctx<'a>> {
        let systemd = if paths.is_relocated() {
            None
        } else {
            Some(Systemd::connect()?)
        };
        Ok(Ctx { paths, systemd })
    }

    pub(crate) fn note_relocated(&self) {
        if self.systemd.is_none() {
            println!(
                "--root {}: leaving the service manager alone",
                self.paths.root().display()
            );
        }
    }

    pub fn slot(&self, name: &str, n: u8) -> PathBuf {
        self.paths.checkout_root().join(format!("{name}.{n}"))
    }

    pub fn link(&self, name: &str) -> PathBuf {
        self.paths.checkout_root().join(name)
    }

    pub(crate) fn unit_file(&self, name: &str) -> PathBuf {
        self.paths.unit_dir().join(format!("{name}.service"))
    }

    fn tmpfiles_file(&self, name: &str) -> PathBuf {
        self.paths.tmpfiles_dir().join(format!("{name}.conf"))
    }

    /// The active slot of `name` and its info.
    pub fn current(&self, name: &str) -> Result<(u8, Info)> {
        let link = self.link(name);
        let target =
            std::fs::read_link(&link).map_err(|_| anyhow!("container {name} is not installed"))?;
        let n = match target.to_string_lossy().rsplit('.').next() {
            Some("0") => 0,
            Some("1") => 1,
            _ => bail!(
                "{} points to {}, which is not a slot",
                link.display(),
                target.display()
            ),
        };
        Ok((n, read_info(&self.slot(name, n))?))
    }

    pub(crate) fn is_active(&self, unit: &str) -> Result<bool> {
        match &self.systemd {
            Some(s) => Ok(s.state(unit)? == "active"),
            None => Ok(false),
        }
    }

    fn tmpfiles(&self, action: &str, file: &Path) -> Result<()> {
        let mut cmd = std::process::Command::new("systemd-tmpfiles");
        cmd.arg(action);
        if self.paths.is_relocated() {
            cmd.arg(format!("--root={}", self.paths.root().display()));
        }
        crate::command::run(cmd.arg(file))
    }
}

pub fn read_info(slot: &Path) -> Result<Info> {
    let path = slot.join("info");
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

pub(crate) fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(&tmp, data).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Points the symlink `path` at `target` atomically (new link + rename).
pub fn point_link(path: &Path, target: &Path) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.link",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("switching {}", path.display()))
}

fn sha256_file(path: &Path) -> Option<String> {
    std::fs::read(path)
        .ok()
        .map(|d| hex::encode(Sha256::digest(&d)))
}

/// Checks a container name: a single path component of safe characters.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        bail!("invalid container name {name:?}: use letters, digits, '.', '-' and '_', starting with a letter or digit");
    }
    Ok(())
}

/// The runtime to run bundles with: `--runtime`, else runc from PATH.
pub fn resolve_runtime(runtime: Option<&Path>) -> Result<String> {
    let found = match runtime {
        Some(p) if p.components().count() > 1 => p.to_path_buf(),
        Some(p) => which(p).ok_or_else(|| anyhow!("runtime {} not found in PATH", p.display()))?,
        None => which(Path::new("runc")).ok_or_else(|| {
            anyhow!("runtime runc not found in PATH; install runc or pass --runtime")
        })?,
    };
    let meta = std::fs::metadata(&found)
        .map_err(|_| anyhow!("runtime {} does not exist", found.display()))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        bail!("runtime {} is not an executable file", found.display());
    }
    Ok(found.display().to_string())
}

fn which(name: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The default container name: the image's repository name.
pub fn default_name(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    let last = last.split('@').next().unwrap_or(last);
    last.split(':').next().unwrap_or(last).to_string()
}

/// A prepared slot: checked out and rendered, nothing on the host yet.
struct Prepared {
    info: Info,
    rendered: bundle::Rendered,
}

/// Checks `img` out into `dir` and renders it for slot `n` of `name`.
#[allow(clippy::too_many_arguments)]
fn prepare(
    ctx: &Ctx,
    store: &Store,
    img: &StoredImage,
    name: &str,
    n: u8,
    slot: &Path,
    stored: &BTreeMap<String, String>,
    set: &[(String, String)],
    runtime: &str,
) -> Result<Prepared> {
    failpoint("checkout")?;
    let destdir = ctx.paths.in_target(&ctx.slot(name, n));
    let fixed = Fixed {
        name,
        destdir: &destdir.display().to_string(),
        runtime,
        image_name: &img.name,
        image_id: &img.id,
    };
    let bundle::CheckedOut {
        manifest,
        values,
        rendered,
    } = bundle::checkout_and_render(store, img, &slot.join("rootfs"), stored, set, &fixed)?;
    failpoint("render")?;
    if let Some(c) = &rendered.config {
        write_file(&slot.join("config.json"), c.as_bytes(), 0o644)?;
    }
    if let Some(u) = &rendered.unit {
        write_file(&slot.join(format!("{name}.service")), u.as_bytes(), 0o644)?;
    }
    if let Some(t) = &rendered.tmpfiles {
        write_file(
            &slot.join(format!("tmpfiles-{name}.conf")),
            t.as_bytes(),
            0o644,
        )?;
    }
    let mut info = Info::new(img, values, rendered.unit.is_some(), runtime);
    info.installed_files_template = manifest.installed_files_template.clone();
    info.rename_installed_files = manifest.rename_files.clone();
    Ok(Prepared { info, rendered })
}

/// Places the host files of the deployment in `slot`, given the ledger of
/// the one it replaces (`previous`, empty on install); fills the new ledger
/// in `info`. `useLinks` files are hard links to the slot's own copy under
/// `hostfs/`, never to the checkout, whose files share their inodes with
/// the repository.
fn place_host_files(
    ctx: &Ctx,
    name: &str,
    slot: &Path,
    files: &[HostFile],
    previous: Option<&Info>,
    info: &mut Info,
    j: &mut Journal,
) -> Result<()> {
    failpoint("hostfiles")?;
    let prev_sums = previous
        .map(|p| p.installed_files_checksum.clone())
        .unwrap_or_default();
    let mut kept_dirs: Vec<String> = previous
        .map(|p| p.installed_directories.clone())
        .unwrap_or_default();
    for f in files {
        let host = ctx.paths.host_file(&f.path);
        let shown = f.path.display().to_string();
        if let HostKind::Dir = f.kind {
            if !host.exists() {
                std::fs::create_dir(&host)
                    .with_context(|| format!("creating host directory {shown}"))?;
                std::fs::set_permissions(&host, std::fs::Permissions::from_mode(f.mode))?;
                j.push(Step::CreatedDir(host))?;
                kept_dirs.push(shown);
            } else if !host.is_dir() {
                bail!("host path {shown} exists and is not a directory");
            }
            continue;
        }
        if std::fs::symlink_metadata(&host).is_ok() {
            match prev_sums.get(&shown) {
                Some(sum) if sha256_file(&host).as_ref() != Some(sum) => {
                    println!("keeping {shown}: it was changed since it was installed");
                    info.installed_files_checksum
                        .insert(shown.clone(), sum.clone());
                    info.installed_files.push(shown);
                    continue;
                }
                Some(_) => j.set_aside(&host)?,
                None => bail!(
                    "host file {shown} exists and was not installed by {name}; not overwriting it"
                ),
            }
        } else {
            if let Some(parent) = host.parent() {
                if !parent.exists() {
                    bail!(
                        "cannot install host file {shown}: {} does not exist",
                        parent.display()
                    );
                }
            }
            j.push(Step::Created(host.clone()))?;
        }
        match &f.kind {
            HostKind::File(data) => write_file(&host, data, f.mode)?,
            HostKind::Link(src) => {
                let own = slot
                    .join("hostfs")
                    .join(f.path.strip_prefix("/").unwrap_or(&f.path));
                std::fs::create_dir_all(own.parent().unwrap())?;
                let _ = std::fs::remove_file(&own);
                std::fs::copy(src, &own)
                    .with_context(|| format!("copying {shown} into {}", slot.display()))?;
                if std::fs::hard_link(&own, &host).is_err() {
                    std::fs::copy(&own, &host)
                        .with_context(|| format!("installing host file {shown}"))?;
                }
            }
            HostKind::Symlink(t) => std::os::unix::fs::symlink(t, &host)?,
            HostKind::Dir => unreachable!(),
        }
        let sum = sha256_file(&host).unwrap_or_default();
        info.installed_files_checksum.insert(shown.clone(), sum);
        info.installed_files.push(shown);
    }
    // Files of the previous deployment that this one does not have.
    if let Some(prev) = previous {
        for (path, sum) in &prev.installed_files_checksum {
            if info.installed_files_checksum.contains_key(path) {
                continue;
            }
            let host = ctx.paths.host_file(Path::new(path));
            if sha256_file(&host).as_ref() == Some(sum) {
                j.set_aside(&host)?;
            } else if host.exists() {
                println!("keeping {path}: it was changed since it was installed");
            }
        }
    }
    kept_dirs.sort();
    kept_dirs.dedup();
    info.installed_directories = kept_dirs;
    Ok(())
}

/// Writes `data` at `path` for the deployment, recording how to undo it.
fn swap_file(j: &mut Journal, path: &Path, data: Option<&[u8]>) -> Result<()> {
    if path.exists() {
        j.set_aside(path)?;
    } else if data.is_some() {
        j.push(Step::Created(path.to_path_buf()))?;
    }
    if let Some(d) = data {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_file(path, d, 0o644)?;
    }
    Ok(())
}

/// Whether `image` (pulled already) ships host files in `/exports/hostfs`:
/// `--system-package=auto` packages only such images.
pub fn has_host_files(paths: &HostPaths, image: &str) -> Result<bool> {
    let Some(store) = Store::open_existing(paths)? else {
        return Ok(false);
    };
    match crate::images::lookup(&store, image) {
        Ok(img) => store.has_path(&img, "exports/hostfs"),
        Err(_) => Ok(false),
    }
}

/// The spec template `--rpm=spec` renders.
const SPEC_TEMPLATE: &str = include_str!("../spec-templates/atomic-container.spec.in");

/// `install --rpm=build` (or `--rpm=spec` with `spec`): writes the
/// container's package (or its spec and sources) into `output`.
pub fn build_package(
    paths: &HostPaths,
    args: &InstallArgs,
    output: &Path,
    spec: bool,
) -> Result<PathBuf> {
    let name = args
        .name
        .map_or_else(|| default_name(args.image), str::to_string);
    validate_name(&name)?;
    let runtime = resolve_runtime(args.runtime)?;
    let store = Store::open_or_create(paths)?;
    let img = match crate::images::lookup(&store, args.image) {
        Ok(img) => img,
        Err(_) => crate::pull::pull(paths, args.image, None, false)?,
    };
    let req = crate::package::Request {
        name: &name,
        serial: 1,
        stored: &BTreeMap::new(),
        set: args.set,
        runtime: &runtime,
    };
    let prepared = crate::package::prepare(paths, &store, &img, &req)?;
    if spec {
        prepared.write_spec(SPEC_TEMPLATE, output)
    } else {
        prepared.write_rpm(output)
    }
}

pub struct InstallArgs<'a> {
    pub image: &'a str,
    pub name: Option<&'a str>,
    pub set: &'a [(String, String)],
    pub runtime: Option<&'a Path>,
}

pub fn install(ctx: &Ctx, args: &InstallArgs) -> Result<()> {
    let name = args
        .name
        .map_or_else(|| default_name(args.image), str::to_string);
    validate_name(&name)?;
    crate::journal::recover(ctx.paths, &name, ctx.systemd.as_ref())?;
    if let Some((base, "0" | "1")) = name.rsplit_once('.') {
        if std::fs::symlink_metadata(ctx.link(base)).is_ok() {
            bail!("name {name} is a deployment slot of container {base}; choose another name");
        }
    }
    if std::fs::symlink_metadata(ctx.link(&name)).is_ok() {
        bail!("container {name} is already installed");
    }
    for f in [ctx.unit_file(&name), ctx.tmpfiles_file(&name)] {
        if f.exists() {
            bail!(
                "{} already exists and was not written by atomic for {name}; not overwriting it",
                f.display()
            );
        }
    }
    let runtime = resolve_runtime(args.runtime)?;
    let store = Store::open_or_create(ctx.paths)?;
    let img = match crate::images::lookup(&store, args.image) {
        Ok(img) => img,
        Err(_) => crate::pull::pull(ctx.paths, args.image, None, false)?,
    };
    ctx.note_relocated();
    let mut j = Journal::begin(ctx.paths, &name, "install")?;
    match install_steps(ctx, &store, &img, &name, args.set, &runtime, &mut j) {
        Ok(()) => {
            j.commit()?;
            println!(
                "Installed {name} from {} in {}",
                img.name,
                ctx.slot(&name, 0).display()
            );
            Ok(())
        }
        Err(e) => {
            j.undo(ctx.paths, ctx.systemd.as_ref());
            Err(e.context(format!("installing {name}; nothing was changed")))
        }
    }
}

fn install_steps(
    ctx: &Ctx,
    store: &Store,
    img: &StoredImage,
    name: &str,
    set: &[(String, String)],
    runtime: &str,
    j: &mut Journal,
) -> Result<()> {
    let slot = ctx.slot(name, 0);
    if slot.exists() {
        std::fs::remove_dir_all(&slot)
            .with_context(|| format!("removing the leftover {}", slot.display()))?;
    }
    std::fs::create_dir_all(&slot)?;
    j.push(Step::CreatedTree(slot.clone()))?;
    let Prepared { mut info, rendered } = prepare(
        ctx,
        store,
        img,
        name,
        0,
        &slot,
        &BTreeMap::new(),
        set,
        runtime,
    )?;
    place_host_files(ctx, name, &slot, &rendered.host_files, None, &mut info, j)?;
    write_file(
        &slot.join("info"),
        &serde_json::to_vec_pretty(&info)?,
        0o644,
    )?;
    activate(ctx, name, &slot, j, false)
}

/// Puts a prepared slot's unit and tmpfiles in place, flips the symlink and
/// starts the service: on install enabled and started, on update and
/// rollback started again only if this operation stopped it.
fn activate(ctx: &Ctx, name: &str, slot: &Path, j: &mut Journal, replacing: bool) -> Result<()> {
    let unit_name = format!("{name}.service");
    let unit = std::fs::read(slot.join(&unit_name)).ok();
    let tmpfiles = std::fs::read(slot.join(format!("tmpfiles-{name}.conf"))).ok();
    failpoint("unit")?;
    swap_file(j, &ctx.unit_file(name), unit.as_deref())?;
    swap_file(j, &ctx.tmpfiles_file(name), tmpfiles.as_deref())?;
    if tmpfiles.is_some() {
        ctx.tmpfiles("--create", &ctx.tmpfiles_file(name))?;
    }
    failpoint("symlink")?;
    let link = ctx.link(name);
    let old = std::fs::read_link(&link).ok();
    point_link(&link, Path::new(slot.file_name().unwrap()))?;
    j.push(Step::Link {
        path: link,
        target: old,
    })?;
    if let Some(s) = &ctx.systemd {
        s.reload()?;
        if unit.is_some() {
            if !replacing {
                j.push(Step::Enabled(unit_name.clone()))?;
                s.enable(&unit_name)?;
            }
            failpoint("start")?;
            if !replacing || j.stopped(&unit_name) {
                j.push(Step::Started(unit_name.clone()))?;
                s.start(&unit_name)?;
            }
        }
    }
    Ok(())
}

/// The outcome of updating one container.
#[derive(Debug, PartialEq, Eq)]
pub enum Updated {
    Done,
    Unchanged,
}

pub fn update(
    ctx: &Ctx,
    name: &str,
    set: &[(String, String)],
    rebase: Option<&str>,
) -> Result<Updated> {
    validate_name(name)?;
    crate::journal::recover(ctx.paths, name, ctx.systemd.as_ref())?;
    let (active, info) = ctx.current(name)?;
    let store = Store::open_or_create(ctx.paths)?;
    let img = match rebase {
        Some(r) => match crate::images::lookup(&store, r) {
            Ok(img) => img,
            Err(_) => crate::pull::pull(ctx.paths, r, None, false)?,
        },
        None => store.image(&info.image)?.ok_or_else(|| {
            anyhow!("image {} of container {name} is no longer in the repository; pull it or use --rebase", info.image)
        })?,
    };
    if img.id == info.revision && set.iter().all(|(k, v)| info.values.get(k) == Some(v)) {
        println!("Latest version already installed.");
        return Ok(Updated::Unchanged);
    }
    ctx.note_relocated();
    if info.rpm_installed.is_some() {
        return crate::package::lifecycle::update(ctx, name, &store, &img, active, &info, set);
    }
    let target = 1 - active;
    let mut j = Journal::begin(ctx.paths, name, "update")?;
    match update_steps(ctx, &store, &img, name, &info, set, target, &mut j) {
        Ok(()) => {
            j.commit()?;
            println!(
                "Updated {name} to {} in {}",
                img.name,
                ctx.slot(name, target).display()
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

#[allow(clippy::too_many_arguments)]
fn update_steps(
    ctx: &Ctx,
    store: &Store,
    img: &StoredImage,
    name: &str,
    current: &Info,
    set: &[(String, String)],
    target: u8,
    j: &mut Journal,
) -> Result<()> {
    let slot = ctx.slot(name, target);
    let staging = staging_slot(ctx, name, target, j)?;
    let Prepared { mut info, rendered } = prepare(
        ctx,
        store,
        img,
        name,
        target,
        &staging,
        &current.values,
        set,
        &current.runtime,
    )?;
    failpoint("prepare")?;
    // The slot being replaced is the one rollback would have used; it is
    // gone only once the new one is complete.
    if slot.exists() {
        std::fs::remove_dir_all(&slot).with_context(|| format!("removing {}", slot.display()))?;
    }
    std::fs::rename(&staging, &slot)?;
    j.push(Step::CreatedTree(slot.clone()))?;
    switch(
        ctx,
        name,
        &slot,
        current,
        &mut info,
        &rendered.host_files,
        j,
    )
}

/// An empty directory in which slot `target` of `name` is prepared, so the
/// slot it replaces (the one rollback would use) goes only once the new one
/// is complete; recorded for undo.
pub(crate) fn staging_slot(ctx: &Ctx, name: &str, target: u8, j: &mut Journal) -> Result<PathBuf> {
    let staging = ctx
        .paths
        .checkout_root()
        .join(format!(".{name}.{target}.new"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    std::fs::create_dir_all(&staging)?;
    j.push(Step::CreatedTree(staging.clone()))?;
    Ok(staging)
}

/// Stops the service of `current` if it runs. The stop is journaled before
/// it is asked for: a crash after systemd got the request but before the
/// journal said so would leave the service stopped for good.
pub(crate) fn stop_running(ctx: &Ctx, name: &str, current: &Info, j: &mut Journal) -> Result<()> {
    let unit = format!("{name}.service");
    if current.has_container_service && ctx.is_active(&unit)? {
        failpoint("stop")?;
        j.push(Step::Stopped(unit.clone()))?;
        ctx.systemd.as_ref().unwrap().stop(&unit)?;
    }
    Ok(())
}

/// Stops the service if it runs, swaps the host files, then activates `slot`.
fn switch(
    ctx: &Ctx,
    name: &str,
    slot: &Path,
    current: &Info,
    info: &mut Info,
    host_files: &[HostFile],
    j: &mut Journal,
) -> Result<()> {
    stop_running(ctx, name, current, j)?;
    place_host_files(ctx, name, slot, host_files, Some(current), info, j)?;
    write_file(
        &slot.join("info"),
        &serde_json::to_vec_pretty(&info)?,
        0o644,
    )?;
    activate(ctx, name, slot, j, true)
}

pub fn rollback(ctx: &Ctx, name: &str) -> Result<()> {
    validate_name(name)?;
    crate::journal::recover(ctx.paths, name, ctx.systemd.as_ref())?;
    let (active, current) = ctx.current(name)?;
    if current.rpm_installed.is_some() {
        ctx.note_relocated();
        return crate::package::lifecycle::rollback(ctx, name, active);
    }
    let other = 1 - active;
    let slot = ctx.slot(name, other);
    if !slot.join("info").exists() {
        bail!("container {name} has no previous deployment to roll back to");
    }
    let mut info = read_info(&slot)?;
    let rootfs = slot.join("rootfs");
    let manifest = Manifest::load(&rootfs)?;
    let host_files = bundle::host_files(&rootfs.join("exports/hostfs"), &manifest, &info.values)?;
    ctx.note_relocated();
    info.installed_files.clear();
    info.installed_files_checksum.clear();
    let mut j = Journal::begin(ctx.paths, name, "rollback")?;
    match switch(ctx, name, &slot, &current, &mut info, &host_files, &mut j) {
        Ok(()) => {
            j.commit()?;
            println!("Rolled back {name} to {}", slot.display());
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

pub fn uninstall(ctx: &Ctx, name: &str) -> Result<()> {
    validate_name(name)?;
    crate::journal::recover(ctx.paths, name, ctx.systemd.as_ref())?;
    let (_, info) = ctx.current(name)?;
    ctx.note_relocated();
    if info.rpm_installed.is_some() {
        return crate::package::lifecycle::uninstall(ctx, name, &info);
    }
    let unit_name = format!("{name}.service");
    if let Some(s) = &ctx.systemd {
        if info.has_container_service {
            if s.state(&unit_name)? != "inactive" {
                s.stop(&unit_name)?;
            }
            s.disable(&unit_name)?;
        }
    }
    let _ = std::fs::remove_file(ctx.unit_file(name));
    let tmpfiles = ctx.tmpfiles_file(name);
    if tmpfiles.exists() {
        ctx.tmpfiles("--remove", &tmpfiles)?;
        std::fs::remove_file(&tmpfiles)?;
    }
    for (path, sum) in &info.installed_files_checksum {
        let host = ctx.paths.host_file(Path::new(path));
        if sha256_file(&host).as_ref() == Some(sum) {
            std::fs::remove_file(&host).with_context(|| format!("removing {path}"))?;
        } else if host.exists() {
            println!("keeping {path}: it was changed since it was installed");
        }
    }
    for dir in info.installed_directories.iter().rev() {
        let _ = std::fs::remove_dir(ctx.paths.host_file(Path::new(dir)));
    }
    remove_deployments(ctx, name)?;
    println!("Uninstalled {name}");
    Ok(())
}

/// Removes the `NAME` symlink and both slots, then reloads systemd: the
/// last step of every uninstall.
pub(crate) fn remove_deployments(ctx: &Ctx, name: &str) -> Result<()> {
    std::fs::remove_file(ctx.link(name))?;
    for n in [0, 1] {
        let slot = ctx.slot(name, n);
        if slot.exists() {
            std::fs::remove_dir_all(&slot)
                .with_context(|| format!("removing {}", slot.display()))?;
        }
    }
    if let Some(s) = &ctx.systemd {
        s.reload()?;
    }
    Ok(())
}
