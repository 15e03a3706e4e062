//! Renders a deployment from a checked-out image: template values, the OCI
//! runtime `config.json` (from the image's template, its `config.json`, or
//! generated from the image config), the systemd unit, the tmpfiles.d file
//! and the host files of `/exports/hostfs`.

use super::exports::{Manifest, TEMPLATE_LIMIT};
use super::rootless::{self, Rootless};
use super::template::{self, Kind};
use crate::host::fs::Rooted;
use crate::image::store::{Store, StoredImage};
use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// Every capability, in the kernel's order (bit N is `ALL_CAPS[N]`), for
/// `$ALL_PROCESS_CAPABILITIES` (a JSON list body) and file capabilities.
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

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

/// A file or directory to place on the host.
#[derive(Debug, Clone)]
pub struct HostFile {
    /// Absolute path on the target system.
    pub path: PathBuf,
    /// The image's own path, before renames (`/etc/x`).
    pub image_path: String,
    pub mode: u32,
    pub kind: HostKind,
}

#[derive(Debug, Clone)]
pub enum HostKind {
    Dir,
    File(Vec<u8>),
    /// Hard link to this file of the deployment (`useLinks`).
    Link(PathBuf),
    Symlink(PathBuf),
}

/// Everything a deployment writes besides its rootfs.
pub struct Rendered {
    /// None for a `noContainerService` image that has no command to run.
    pub config: Option<String>,
    pub unit: Option<String>,
    pub tmpfiles: Option<String>,
    pub host_files: Vec<HostFile>,
    /// What was converted on the way (a pre-1.0 `config.json`), for stderr.
    pub warnings: Vec<String>,
}

/// The largest host file of `/exports/hostfs` read whole.
pub const HOST_FILE_LIMIT: u64 = 256 << 20;

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
            Kind::Json,
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
            Kind::Lines,
            "/exports/service.template",
        )?)
    };
    let mut tmpfiles = read_export(rootfs, "tmpfiles.template")?
        .map(|t| template::render(&t, values, Kind::Lines, "/exports/tmpfiles.template"))
        .transpose()?;
    let mut unit = unit;
    if let Some(r) = rootless {
        if let Some(u) = &unit {
            let (u, notes) = rootless::unit(u);
            warnings.extend(notes);
            unit = Some(u);
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

/// Brings a pre-1.0 `config.json` (the original catalog's are 0.x and
/// 1.0.0-rc) to what a 1.0 runtime reads: a `process.capabilities` list
/// becomes the bounding, effective, inheritable and permitted sets (what
/// pre-1.0 runtimes gave the process), and JSON `null` where 1.0 wants a
/// list or an object is dropped. Returns the config unchanged when nothing
/// applies, and says what was converted. A config that is not JSON is left
/// to [`validate_config`] to name.
pub fn upgrade_config(config: &str) -> Result<(String, Vec<String>)> {
    let Ok(mut v) = serde_json::from_str::<Value>(config) else {
        return Ok((config.to_string(), Vec::new()));
    };
    let mut notes = Vec::new();
    if let Some(list) = v
        .pointer("/process/capabilities")
        .filter(|c| c.is_array())
        .cloned()
    {
        v["process"]["capabilities"] = json!({
            "bounding": list,
            "effective": list,
            "inheritable": list,
            "permitted": list,
        });
        notes.push(
            "config.json: process.capabilities is a pre-1.0 list; \
             converted to the 1.0 bounding, effective, inheritable and permitted sets"
                .to_string(),
        );
    }
    let mut nulls = Vec::new();
    drop_nulls(&mut v, "", &mut nulls);
    if !nulls.is_empty() {
        notes.push(format!(
            "config.json: dropped null {} (pre-1.0 style; absent in 1.0)",
            nulls.join(", ")
        ));
    }
    if notes.is_empty() {
        return Ok((config.to_string(), notes));
    }
    Ok((serde_json::to_string_pretty(&v)?, notes))
}

/// Removes object members whose value is `null`, recording their paths.
fn drop_nulls(v: &mut Value, at: &str, dropped: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            m.retain(|k, child| {
                if child.is_null() {
                    dropped.push(format!("{at}{k}"));
                    false
                } else {
                    true
                }
            });
            for (k, child) in m.iter_mut() {
                drop_nulls(child, &format!("{at}{k}."), dropped);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter_mut().enumerate() {
                drop_nulls(
                    child,
                    &format!("{}[{i}].", at.trim_end_matches('.')),
                    dropped,
                );
            }
        }
        _ => {}
    }
}

/// Parses and checks a rendered config.json: a valid OCI runtime config
/// whose root is `rootfs`, read-only. A field that does not fit names its
/// JSON path (`process.capabilities`).
pub fn validate_config(config: &str) -> Result<()> {
    let de = &mut serde_json::Deserializer::from_str(config);
    let spec: Spec = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // The position is in a rendered file nobody keeps: the path says it.
        let inner = match inner.rsplit_once(" at line ") {
            Some((message, _)) => message.to_string(),
            None => inner,
        };
        if path == "." {
            anyhow!("config.json is not a valid OCI runtime configuration: {inner}")
        } else {
            anyhow!("config.json: {path}: {inner}")
        }
    })?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| anyhow!("config.json has no root"))?;
    if root.path() != Path::new("rootfs") {
        bail!(
            "config.json: root.path must be \"rootfs\", not {:?}",
            root.path()
        );
    }
    if root.readonly() != Some(true) {
        bail!("config.json: root.readonly must be true: a system container's root is read-only");
    }
    Ok(())
}

/// A config.json for an image without one, per the OCI image-to-runtime
/// conversion: Entrypoint+Cmd, Env, WorkingDir, User; read-only root, no
/// new privileges, the usual namespaces except the network (a service
/// without its own network setup uses the host's).
pub fn generate_config(image_config: &Value, name: &str) -> Result<String> {
    let c = &image_config["config"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut args = strings(&c["Entrypoint"]);
    args.extend(strings(&c["Cmd"]));
    if args.is_empty() {
        bail!(
            "the image has neither /exports/config.json.template nor an Entrypoint or Cmd to run"
        );
    }
    let mut env = strings(&c["Env"]);
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    let (uid, gid) = match c["User"].as_str().unwrap_or("") {
        "" => (0, 0),
        u => {
            let (user, group) = u.split_once(':').unwrap_or((u, ""));
            let uid: u32 = user
                .parse()
                .map_err(|_| anyhow!("image user {u:?}: only numeric users are supported"))?;
            (uid, group.parse().unwrap_or(uid))
        }
    };
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": uid, "gid": gid},
            "args": args,
            "env": env,
            "cwd": c["WorkingDir"].as_str().filter(|w| !w.is_empty()).unwrap_or("/"),
            "noNewPrivileges": true,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": name,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
            {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=755"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    Ok(serde_json::to_string_pretty(&spec)?)
}

/// Applies `renameFiles` to the host file `rel` (relative to `hostfs`).
/// As in the original tool, each leading sub-path (`/etc`, `/etc/etcd`,
/// `/etc/etcd/etcd.conf`) that is a key is replaced by its value, an
/// absolute templated path, so directories can be renamed too. A key that
/// is a bare name renames that component wherever it appears. Every result
/// stays inside the host root.
fn rename(rel: &Path, manifest: &Manifest, values: &BTreeMap<String, String>) -> Result<PathBuf> {
    let render = |to: &str| {
        template::render(
            to,
            values,
            Kind::Lines,
            "renameFiles of /exports/manifest.json",
        )
    };
    let mut out = PathBuf::from("/");
    let mut original = PathBuf::from("/");
    for c in rel.components() {
        let c = c.as_os_str().to_string_lossy();
        original.push(c.as_ref());
        let key = original.display().to_string();
        if let Some(to) = manifest.rename_files.get(&key) {
            let to = render(to)?;
            let dest = Path::new(&to);
            let inside = dest.is_absolute()
                && dest.components().all(|c| {
                    matches!(
                        c,
                        std::path::Component::RootDir | std::path::Component::Normal(_)
                    )
                });
            if !inside {
                bail!("renameFiles maps {key} to {to:?}, which is not an absolute path inside the host root");
            }
            out = dest.to_path_buf();
        } else if let Some(to) = manifest.rename_files.get(c.as_ref()) {
            let to = render(to)?;
            if to.is_empty() || to == "." || to == ".." || to.contains('/') {
                bail!(
                    "renameFiles maps {c} to {to:?}, which leaves the host root or its directory"
                );
            }
            out.push(to);
        } else {
            out.push(c.as_ref());
        }
    }
    Ok(out)
}

/// The host files of the image's `/exports/hostfs`, renamed and rendered;
/// read through the handle on its rootfs, so no link leads out of it.
pub fn host_files(
    rootfs: &Rooted,
    manifest: &Manifest,
    values: &BTreeMap<String, String>,
) -> Result<Vec<HostFile>> {
    let mut out = Vec::new();
    let Some(hostfs) = rootfs.open_dir(Path::new("exports/hostfs"))? else {
        return Ok(out);
    };
    let mut stack = vec![(hostfs, PathBuf::new())];
    while let Some((dir, rel_dir)) = stack.pop() {
        for (name, meta) in dir.entries()? {
            let rel = rel_dir.join(&name);
            let image_path = format!("/{}", rel.display());
            let path = rename(&rel, manifest, values)?;
            let mode = meta.permissions().mode() & 0o7777;
            let kind = if meta.is_dir() {
                let sub = dir.open_dir(Path::new(&name))?.ok_or_else(|| {
                    anyhow!("/exports/hostfs{image_path} vanished while reading it")
                })?;
                stack.push((sub, rel.clone()));
                HostKind::Dir
            } else if meta.file_type().is_symlink() {
                HostKind::Symlink(dir.read_link(&name)?)
            } else if !meta.is_file() {
                bail!("/exports/hostfs{image_path} is not a file, directory or symlink");
            } else if manifest.installed_files_template.contains(&image_path) {
                let text = dir
                    .read_string(Path::new(&name), TEMPLATE_LIMIT)?
                    .ok_or_else(|| anyhow!("/exports/hostfs{image_path} vanished while reading it"))
                    .with_context(|| format!("reading template {image_path}"))?;
                let file = format!("/exports/hostfs{image_path}");
                HostKind::File(template::render(&text, values, Kind::Text, &file)?.into_bytes())
            } else if manifest.use_links {
                HostKind::Link(dir.real_path(&name)?)
            } else {
                HostKind::File(
                    dir.read(Path::new(&name), HOST_FILE_LIMIT)?
                        .ok_or_else(|| {
                            anyhow!("/exports/hostfs{image_path} vanished while reading it")
                        })?,
                )
            };
            out.push(HostFile {
                path,
                image_path,
                mode,
                kind,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
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

    #[test]
    fn generated_config_runs_the_image_command_read_only() {
        let image = json!({"config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"], "Env": ["A=1"], "WorkingDir": "/srv", "User": "7:8"}});
        let c = generate_config(&image, "plain").unwrap();
        validate_config(&c).unwrap();
        let v: Value = serde_json::from_str(&c).unwrap();
        assert_eq!(v["process"]["args"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(v["process"]["cwd"], "/srv");
        assert_eq!(v["process"]["user"], json!({"uid": 7, "gid": 8}));
        assert_eq!(v["process"]["noNewPrivileges"], true);
        assert_eq!(v["root"], json!({"path": "rootfs", "readonly": true}));
    }

    #[test]
    fn pre_1_0_configs_are_converted_and_bad_fields_named_by_path() {
        let base = || -> Value {
            serde_json::from_str(&generate_config(&json!({"config": {"Cmd": ["x"]}}), "n").unwrap())
                .unwrap()
        };
        // As the original catalog writes them: 1.0.0-rc, a platform object,
        // a capabilities list, null devices.
        let mut old = base();
        old["ociVersion"] = "1.0.0-rc3".into();
        old["platform"] = json!({"os": "linux", "arch": "amd64"});
        old["process"]["capabilities"] = json!(["CAP_NET_RAW", "CAP_KILL"]);
        old["linux"]["devices"] = Value::Null;
        let (new, notes) = upgrade_config(&old.to_string()).unwrap();
        validate_config(&new).unwrap();
        let new: Value = serde_json::from_str(&new).unwrap();
        for set in ["bounding", "effective", "inheritable", "permitted"] {
            assert_eq!(
                new["process"]["capabilities"][set],
                json!(["CAP_NET_RAW", "CAP_KILL"])
            );
        }
        assert!(new["linux"].get("devices").is_none());
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("process.capabilities is a pre-1.0 list"));
        assert!(notes[1].contains("linux.devices"), "{notes:?}");

        let current = base().to_string();
        assert_eq!(upgrade_config(&current).unwrap(), (current, Vec::new()));

        let mut bad = base();
        bad["process"]["capabilities"] = json!({"bounding": "CAP_KILL"});
        let err = validate_config(&bad.to_string()).unwrap_err().to_string();
        assert!(
            err.starts_with("config.json: process.capabilities.bounding: invalid type"),
            "{err}"
        );
        assert!(
            !err.contains("line"),
            "no position in a file nobody keeps: {err}"
        );
    }

    #[test]
    fn a_writable_root_is_refused() {
        let mut v: Value = serde_json::from_str(
            &generate_config(&json!({"config": {"Cmd": ["x"]}}), "n").unwrap(),
        )
        .unwrap();
        v["root"]["readonly"] = false.into();
        let err = validate_config(&v.to_string()).unwrap_err().to_string();
        assert_eq!(
            err,
            "config.json: root.readonly must be true: a system container's root is read-only"
        );
        v["root"] = json!({"path": "/", "readonly": true});
        assert!(validate_config(&v.to_string())
            .unwrap_err()
            .to_string()
            .contains("root.path must be \"rootfs\""));
    }

    #[test]
    fn renames_of_leading_sub_paths_as_the_catalog_writes_them() {
        let m = Manifest {
            rename_files: [
                (
                    "/etc/etcd/etcd.conf".to_string(),
                    "$CONF_DIRECTORY/$NAME/etcd.conf".to_string(),
                ),
                (
                    "/usr/local/bin/etcdctl".to_string(),
                    "/usr/local/bin/${NAME}ctl".to_string(),
                ),
                ("/srv/data".to_string(), "/srv/$NAME".to_string()),
                ("/bad".to_string(), "/etc/../../x".to_string()),
                ("/rel".to_string(), "x".to_string()),
            ]
            .into(),
            ..Manifest::default()
        };
        let v: BTreeMap<String, String> = [
            ("NAME".to_string(), "etcd2".to_string()),
            ("CONF_DIRECTORY".to_string(), "/etc".to_string()),
        ]
        .into();
        let r = |p: &str| rename(Path::new(p), &m, &v);
        assert_eq!(
            r("etc/etcd/etcd.conf").unwrap(),
            Path::new("/etc/etcd2/etcd.conf")
        );
        assert_eq!(
            r("etc/etcd").unwrap(),
            Path::new("/etc/etcd"),
            "only the keyed path"
        );
        assert_eq!(
            r("usr/local/bin/etcdctl").unwrap(),
            Path::new("/usr/local/bin/etcd2ctl")
        );
        // A directory renamed: what is below it follows.
        assert_eq!(r("srv/data").unwrap(), Path::new("/srv/etcd2"));
        assert_eq!(r("srv/data/db/1").unwrap(), Path::new("/srv/etcd2/db/1"));
        for bad in ["bad", "rel/x"] {
            let err = r(bad).unwrap_err().to_string();
            assert!(
                err.contains("not an absolute path inside the host root"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn renames_apply_per_component_and_stay_inside() {
        let m = Manifest {
            rename_files: [
                ("inst.conf".to_string(), "inst-$NAME.conf".to_string()),
                ("bad".to_string(), "../../x".to_string()),
            ]
            .into(),
            ..Manifest::default()
        };
        let v: BTreeMap<String, String> = [("NAME".to_string(), "g".to_string())].into();
        assert_eq!(
            rename(Path::new("etc/inst.conf"), &m, &v).unwrap(),
            Path::new("/etc/inst-g.conf")
        );
        assert!(rename(Path::new("etc/bad"), &m, &v)
            .unwrap_err()
            .to_string()
            .contains("leaves the host root"));
    }
}
