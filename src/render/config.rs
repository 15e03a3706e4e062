//! The OCI runtime `config.json` of a bundle: brought up from pre-1.0
//! configs, validated before a runtime sees it, or generated from the image
//! config when the image ships none.

use anyhow::{anyhow, bail, Result};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};
use std::path::Path;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
