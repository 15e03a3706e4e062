//! Renders a deployment from a checked-out image: template values, the OCI
//! runtime `config.json` (from the image's template, its `config.json`, or
//! generated from the image config), the systemd unit, the tmpfiles.d file
//! and the host files of `/exports/hostfs`.

use super::config::{generate_config, upgrade_config, validate_config, ALL_CAPS};
use super::exports::Manifest;
use super::hostfs::{host_files, HostFile, HostKind};
use super::rootless::{self, Rootless};
use super::template::{self, FileKind};
use crate::host::fs::Rooted;
use crate::image::store::{Store, StoredImage};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The unit used when the image has no `service.template`.
///
/// `Type=forking` with `runc run -d --pid-file`: systemd learns the
/// container's init from the pid file and, being the reaper of the
/// detached process, sees it exit, so a crash triggers `Restart=`.
/// `--systemd-cgroup` puts the container in its own scope, out of reach of
/// the service's `KillMode`, so stop sends TERM through the runtime, and
/// `ExecStopPost` deletes the runtime state after every stop, crash or
/// `systemctl kill`. `ExecStartPre` clears state a hard crash left behind.
/// `Type=notify` would need every image to send READY=1, which most do not.
pub const DEFAULT_UNIT: &str = "[Unit]
Description=System container $NAME

[Service]
Type=forking
PIDFile=$PIDFILE
ExecStartPre=$EXEC_STARTPRE
ExecStart=$EXEC_START
ExecStop=$EXEC_STOP
ExecStopPost=$EXEC_STOPPOST
Restart=on-failure
WorkingDirectory=$DESTDIR

[Install]
WantedBy=multi-user.target
";

/// How the unit runs the container, as the original tool chose it: detached
/// (`run -d --pid-file`, for a `Type=forking` unit that tracks the pid file
/// and deletes the container after it stops) when the unit template uses
/// both `$EXEC_STOPPOST` and `$PIDFILE`; otherwise in the foreground, the
/// runtime being the service's main process (the catalog's units, which
/// have no `Type=`), and the runtime removing its state when it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Detached,
    Foreground,
}

impl Start {
    /// The form the unit template `unit` asks for.
    pub fn for_unit(unit: &str) -> Start {
        let used = template::variables(unit);
        if used.contains("EXEC_STOPPOST") && used.contains("PIDFILE") {
            Start::Detached
        } else {
            Start::Foreground
        }
    }

    /// `cgroup`: the runtime puts the container in a scope of its own,
    /// which a user's manager allows only when it delegates.
    fn exec_start(self, runtime: &str, name: &str, cgroup: bool) -> String {
        match self {
            Start::Detached if cgroup => {
                format!("{runtime} --systemd-cgroup run -d --pid-file $PIDFILE {name}")
            }
            Start::Detached => format!("{runtime} run -d --pid-file $PIDFILE {name}"),
            Start::Foreground => format!("{runtime} run {name}"),
        }
    }

    fn exec_stop(self, runtime: &str, name: &str) -> String {
        match self {
            Start::Detached => format!("-{runtime} kill {name} TERM"),
            Start::Foreground => format!("{runtime} kill {name} TERM"),
        }
    }
}

/// What the tool sets for a deployment, whatever the image or `--set` say.
pub struct Fixed<'a> {
    pub name: &'a str,
    /// The slot directory as the target system sees it.
    pub destdir: &'a str,
    pub runtime: &'a str,
    pub image_name: &'a str,
    pub image_id: &'a str,
    /// A user's own container (`--user`).
    pub rootless: Option<&'a Rootless>,
}

/// A fresh random UUID from the kernel.
pub fn new_uuid() -> Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .context("reading a UUID from /proc/sys/kernel/random/uuid")?
        .trim()
        .to_string())
}

/// Computes every template value: manifest defaults, then tool defaults,
/// then `stored` (an update keeps the previous values, UUID included), then
/// `--set`, then what the tool always sets.
pub fn values(
    manifest: &Manifest,
    stored: &BTreeMap<String, String>,
    set: &[(String, String)],
    fixed: &Fixed,
    start: Start,
) -> Result<BTreeMap<String, String>> {
    for (k, _) in set {
        if template::SET_BY_TOOL.contains(&k.as_str()) {
            bail!("--set {k}=...: {k} is set by the tool and cannot be changed");
        }
    }
    let mut v = manifest.default_values.clone();
    let caps = ALL_CAPS
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let atomic = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "atomic".into());
    // A user's containers keep their files in the user's own directories.
    let (run, state, conf, runtime) = match fixed.rootless {
        Some(r) => (
            r.dirs.runtime.display().to_string(),
            r.dirs.data.display().to_string(),
            r.dirs.config.display().to_string(),
            r.runtime(fixed.runtime),
        ),
        None => (
            "/run".to_string(),
            "/var/lib".to_string(),
            "/etc".to_string(),
            fixed.runtime.to_string(),
        ),
    };
    for (k, d) in [
        ("RUN_DIRECTORY", run),
        ("STATE_DIRECTORY", state),
        ("CONF_DIRECTORY", conf),
        ("PIDFILE", "$RUN_DIRECTORY/container-$NAME.pid".to_string()),
        ("ALL_PROCESS_CAPABILITIES", caps),
        ("RUNTIME", runtime.clone()),
        ("ATOMIC", atomic),
    ] {
        v.entry(k.to_string()).or_insert(d);
    }
    if !v.contains_key("UUID") && !stored.contains_key("UUID") {
        v.insert("UUID".into(), new_uuid()?);
    }
    for (k, val) in stored {
        if !template::SET_BY_TOOL.contains(&k.as_str()) {
            v.insert(k.clone(), val.clone());
        }
    }
    v.extend(set.iter().cloned());
    let r = runtime.as_str();
    let n = fixed.name;
    let cgroup = fixed.rootless.is_none_or(|u| u.delegated);
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    for (k, val) in [
        ("NAME", n.to_string()),
        ("DESTDIR", fixed.destdir.to_string()),
        ("EXEC_STARTPRE", format!("-{r} delete --force {n}")),
        ("EXEC_START", start.exec_start(r, n, cgroup)),
        ("EXEC_STOP", start.exec_stop(r, n)),
        ("EXEC_STOPPOST", format!("{r} delete --force {n}")),
        ("HOST_UID", uid.to_string()),
        ("HOST_GID", gid.to_string()),
        ("IMAGE_NAME", fixed.image_name.to_string()),
        ("IMAGE_ID", fixed.image_id.to_string()),
    ] {
        v.insert(k.to_string(), val);
    }
    template::resolve(&mut v)?;
    Ok(v)
}

/// Everything a deployment writes besides its rootfs.
pub struct Rendered {
    /// None for a `noContainerService` image that has no command to run.
    pub config: Option<String>,
    pub unit: Option<String>,
    /// The socket unit that activates the service (`socket.template`).
    pub socket: Option<String>,
    pub tmpfiles: Option<String>,
    pub host_files: Vec<HostFile>,
    /// What was converted on the way (a pre-1.0 `config.json`), for stderr.
    pub warnings: Vec<String>,
}

fn read_export(rootfs: &Rooted, name: &str) -> Result<Option<String>> {
    super::exports::read(rootfs, name)?
        .map(|d| String::from_utf8(d).with_context(|| format!("/exports/{name} is not UTF-8 text")))
        .transpose()
}

/// Renders config.json, unit, tmpfiles and host files for a checkout; for
/// a user's container (`rootless`), adjusted to run under their manager,
/// saying how the image's own files were changed.
pub fn render(
    rootfs: &Rooted,
    image_config: &Value,
    manifest: &Manifest,
    values: &BTreeMap<String, String>,
    rootless: Option<&Rootless>,
) -> Result<Rendered> {
    let mut from_image = true;
    let config = if let Some(t) = read_export(rootfs, "config.json.template")? {
        Some(template::render(
            &t,
            values,
            FileKind::Json,
            "/exports/config.json.template",
        )?)
    } else if let Some(c) = read_export(rootfs, "config.json")? {
        Some(c)
    } else if manifest.no_container_service {
        from_image = false;
        // An image that only ships host files need not have a command.
        generate_config(image_config, &values["NAME"])
            .map_err(|e| tracing::info!("no bundle for {}: {e:#}", values["NAME"]))
            .ok()
    } else {
        from_image = false;
        Some(generate_config(image_config, &values["NAME"])?)
    };
    let mut warnings = Vec::new();
    let config = match config {
        Some(c) => {
            let (mut c, converted) = upgrade_config(&c)?;
            warnings.extend(converted);
            validate_config(&c)?;
            if let Some(r) = rootless {
                let (adjusted, notes) = rootless::config(&c, r)?;
                c = adjusted;
                if from_image {
                    warnings.extend(notes);
                }
                validate_config(&c)?;
            }
            Some(c)
        }
        None => None,
    };
    let unit = if manifest.no_container_service {
        None
    } else {
        let t = read_export(rootfs, "service.template")?;
        let t = t.as_deref().unwrap_or(DEFAULT_UNIT);
        Some(template::render(
            t,
            values,
            FileKind::Lines,
            "/exports/service.template",
        )?)
    };
    let socket = match (&unit, read_export(rootfs, "socket.template")?) {
        (Some(_), Some(t)) => {
            let s = template::render(&t, values, FileKind::Lines, "/exports/socket.template")?;
            super::unit::check_socket(&s)?;
            Some(s)
        }
        (None, Some(_)) => {
            bail!("/exports/socket.template: the image runs no service (noContainerService) for it to activate")
        }
        (_, None) => None,
    };
    let mut tmpfiles = read_export(rootfs, "tmpfiles.template")?
        .map(|t| template::render(&t, values, FileKind::Lines, "/exports/tmpfiles.template"))
        .transpose()?;
    let mut unit = unit;
    let mut socket = socket;
    if let Some(r) = rootless {
        for u in [&mut unit, &mut socket].into_iter().flatten() {
            let (adjusted, notes) = rootless::unit(u);
            warnings.extend(notes);
            *u = adjusted;
        }
        if let Some(t) = &tmpfiles {
            let (t, notes) = rootless::tmpfiles(t, r);
            warnings.extend(notes);
            tmpfiles = Some(t);
        }
    }
    let host_files = host_files(rootfs, manifest, values)?;
    if let Some(r) = rootless {
        // Named by a file rather than the directories on its way, if any;
        // a directory that exists already (`/etc`) is not written to.
        let outside = |f: &&HostFile| {
            let existing_dir = matches!(f.kind, HostKind::Dir) && f.path.is_dir();
            !(r.dirs.owns(&f.path) || existing_dir)
        };
        let first = host_files
            .iter()
            .filter(outside)
            .find(|f| !matches!(f.kind, HostKind::Dir))
            .or_else(|| host_files.iter().find(outside));
        if let Some(f) = first {
            bail!(
                "/exports/hostfs{}: a user's container may only place host files under their home ({}), not at {}",
                f.image_path,
                r.dirs.home.display(),
                f.path.display()
            );
        }
    }
    Ok(Rendered {
        config,
        unit,
        socket,
        tmpfiles,
        host_files,
        warnings,
    })
}

/// An image checked out and rendered for a deployment.
pub struct CheckedOut {
    pub manifest: Manifest,
    pub values: BTreeMap<String, String>,
    pub rendered: Rendered,
}

/// Checks `img` out at `rootfs` and renders it with the stored values (of
/// the deployment being updated), `--set` and what the tool fixes.
pub fn checkout_and_render(
    store: &Store,
    img: &StoredImage,
    rootfs: &Path,
    stored: &BTreeMap<String, String>,
    set: &[(String, String)],
    fixed: &Fixed,
) -> Result<CheckedOut> {
    store.checkout(img, rootfs)?;
    let root = Rooted::open(rootfs)?;
    let manifest = Manifest::load(&root)?;
    let unit = read_export(&root, "service.template")?;
    let start = Start::for_unit(unit.as_deref().unwrap_or(DEFAULT_UNIT));
    let values = values(&manifest, stored, set, fixed, start)?;
    let rendered = render(&root, &img.config, &manifest, &values, fixed.rootless)?;
    Ok(CheckedOut {
        manifest,
        values,
        rendered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_s_units_run_the_container_in_the_foreground() {
        assert_eq!(Start::for_unit(DEFAULT_UNIT), Start::Detached);
        let catalog = "[Service]\nExecStart=$EXEC_START\nExecStop=$EXEC_STOP\nRestart=on-failure\n";
        assert_eq!(Start::for_unit(catalog), Start::Foreground);
        assert_eq!(
            Start::for_unit("[Service]\nPIDFile=$PIDFILE\nExecStart=$EXEC_START\n"),
            Start::Foreground,
            "a pid file alone is not enough: nothing would delete the container"
        );
        assert_eq!(
            Start::Foreground.exec_start("/usr/bin/runc", "etcd", true),
            "/usr/bin/runc run etcd"
        );
        assert_eq!(
            Start::Foreground.exec_stop("/usr/bin/runc", "etcd"),
            "/usr/bin/runc kill etcd TERM"
        );
    }
}
