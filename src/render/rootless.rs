//! A deployment made runnable by a user's own service manager (`--user`):
//! the bundle gets a user namespace that maps the user to 0 (and their
//! subordinate ids), and loses what a user namespace cannot do, as
//! `runc spec --rootless` writes it and the original tool adjusted its
//! templates; tmpfiles.d lines lose owners the user cannot give; the unit
//! is wanted by the user manager's `default.target`. Each change is said,
//! so the operator sees how the image's own files were adjusted.

use crate::host::user::{IdMap, IdRange, UserDirs};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// What a user's deployment runs with.
#[derive(Debug, Clone)]
pub struct Rootless {
    pub dirs: UserDirs,
    pub ids: IdMap,
    /// Whether the user manager delegates a cgroup (`--systemd-cgroup`,
    /// resource limits).
    pub delegated: bool,
}

fn mappings(ranges: &[IdRange]) -> Value {
    ranges
        .iter()
        .map(|r| json!({"containerID": r.inside, "hostID": r.outside, "size": r.size}))
        .collect()
}

impl Rootless {
    /// The calling user's setup.
    pub fn of(dirs: UserDirs) -> Result<Rootless> {
        Ok(Rootless {
            ids: IdMap::of(&dirs)?,
            delegated: crate::host::user::manager_delegates(dirs.uid),
            dirs,
        })
    }

    /// The runtime as the unit runs it: with its state under
    /// `$XDG_RUNTIME_DIR/runc`.
    pub fn runtime(&self, runtime: &str) -> String {
        format!("{runtime} --root {}", self.dirs.runtime_state().display())
    }
}

/// Adjusts a rendered `config.json` to run in the user's namespace.
/// Returns the new text and what was changed, one line each.
pub fn config(text: &str, r: &Rootless) -> Result<(String, Vec<String>)> {
    let mut v: Value = serde_json::from_str(text).context("config.json is not JSON")?;
    let mut notes = Vec::new();
    let mut note = |s: String| notes.push(format!("config.json: {s} (--user)"));
    if !v["linux"].is_object() {
        v["linux"] = json!({});
    }
    let linux = &mut v["linux"];
    let uids = mappings(&r.ids.uids);
    let gids = mappings(&r.ids.gids);
    for (key, want) in [("uidMappings", &uids), ("gidMappings", &gids)] {
        if linux.get(key).is_some_and(|m| m != want && m != &json!([])) {
            note(format!("linux.{key} replaced by your own ids"));
        }
        linux[key] = want.clone();
    }
    let mut namespaces: Vec<Value> = linux
        .get("namespaces")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for n in namespaces.iter_mut() {
        let Some(o) = n.as_object_mut() else { continue };
        if let Some(path) = o
            .remove("path")
            .filter(|p| p.as_str().is_some_and(|p| !p.is_empty()))
        {
            note(format!(
                "a new {} namespace instead of joining {}, which belongs to root",
                o.get("type").and_then(Value::as_str).unwrap_or("?"),
                path.as_str().unwrap_or("?")
            ));
        }
    }
    if !namespaces.iter().any(|n| n["type"] == "user") {
        namespaces.push(json!({"type": "user"}));
    }
    if !namespaces.iter().any(|n| n["type"] == "mount") {
        namespaces.push(json!({"type": "mount"}));
    }
    let own_net = namespaces.iter().any(|n| n["type"] == "network");
    linux["namespaces"] = Value::Array(namespaces);
    if let Some(m) = linux.as_object_mut() {
        if !r.delegated && m.remove("cgroupsPath").is_some() {
            note("dropped linux.cgroupsPath: your service manager delegates no cgroup".into());
        }
        if !r.delegated && m.remove("resources").is_some() {
            note("dropped linux.resources: your service manager delegates no cgroup to set limits in".into());
        }
        // Network sysctls are the container's own in a network namespace
        // of its own; no other is a user namespace's to set.
        if let Some(Value::Object(sysctl)) = m.get_mut("sysctl") {
            let mut dropped: Vec<String> = Vec::new();
            sysctl.retain(|k, _| {
                let keep = own_net && k.starts_with("net.");
                if !keep {
                    dropped.push(k.clone());
                }
                keep
            });
            if !dropped.is_empty() {
                note(format!(
                    "dropped linux.sysctl {}: not the container's own to set",
                    dropped.join(", ")
                ));
            }
            if sysctl.is_empty() {
                m.remove("sysctl");
            }
        }
    }
    if !v["process"].is_object() {
        v["process"] = json!({});
    }
    let process = &mut v["process"];
    let uid_ok = |i| r.ids.maps_uid(i);
    let gid_ok = |i| r.ids.maps_gid(i);
    for (field, mapped) in [("uid", &uid_ok as &dyn Fn(u32) -> bool), ("gid", &gid_ok)] {
        let id = process["user"][field].as_u64().unwrap_or(0);
        if !u32::try_from(id).is_ok_and(mapped) {
            bail!(
                "config.json: process.user.{field} {id} is not mapped in your user namespace \
                 (only 0, as your own {field}, is; /etc/sub{field} entries and newuidmap map more)"
            );
        }
    }
    if let Some(extra) = process
        .get_mut("user")
        .and_then(|u| u.get_mut("additionalGids"))
        .and_then(Value::as_array_mut)
    {
        let before = extra.len();
        extra.retain(|g| {
            g.as_u64()
                .and_then(|g| u32::try_from(g).ok())
                .is_some_and(|g| r.ids.maps_gid(g))
        });
        if extra.len() != before {
            note("dropped process.user.additionalGids not mapped in your user namespace".into());
        }
    }
    if process
        .get("oomScoreAdj")
        .and_then(Value::as_i64)
        .is_some_and(|a| a < 0)
    {
        process.as_object_mut().map(|p| p.remove("oomScoreAdj"));
        note("dropped a negative process.oomScoreAdj: only root may lower it".into());
    }
    if let Some(mounts) = v.get_mut("mounts").and_then(Value::as_array_mut) {
        for m in mounts.iter_mut() {
            let dest = m["destination"].as_str().unwrap_or("?").to_string();
            if m["type"] == "sysfs" && !own_net {
                *m = json!({"destination": dest, "type": "none", "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                note(format!(
                    "{dest}: bind of the host's /sys instead of a new sysfs, which needs a network namespace of its own"
                ));
                continue;
            }
            let Some(opts) = m.get_mut("options").and_then(Value::as_array_mut) else {
                continue;
            };
            let before = opts.len();
            opts.retain(|o| {
                let Some(o) = o.as_str() else { return true };
                let id = |p: &str| o.strip_prefix(p).and_then(|n| n.parse::<u32>().ok());
                match (id("uid="), id("gid=")) {
                    (Some(u), _) => r.ids.maps_uid(u),
                    (_, Some(g)) => r.ids.maps_gid(g),
                    _ => true,
                }
            });
            if opts.len() != before {
                note(format!(
                    "{dest}: dropped uid=/gid= options of ids not mapped in your user namespace"
                ));
            }
        }
    }
    Ok((serde_json::to_string_pretty(&v)?, notes))
}

/// Adjusts tmpfiles.d lines: an owner or group other than the user's
/// becomes `-` (the user's own), since `systemd-tmpfiles --user` cannot
/// give files away.
pub fn tmpfiles(text: &str, r: &Rootless) -> (String, Vec<String>) {
    let mut notes = Vec::new();
    let mut out = String::new();
    for line in text.lines() {
        let parsed = super::tmpfiles::Line::parse(line)
            .filter(|l| l.fields.len() >= 4 && !line.contains('"'));
        let Some(mut parsed) = parsed else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let fields = &mut parsed.fields;
        let mut changed = false;
        for (i, id) in [(3, r.dirs.uid), (4, r.dirs.gid)] {
            let Some(&f) = fields.get(i) else { continue };
            if f != "-" && f != r.dirs.login && f != id.to_string() {
                fields[i] = "-";
                changed = true;
            }
        }
        if changed {
            notes.push(format!(
                "tmpfiles.d: {} {}: owned by you, not by its owner and group (--user)",
                fields[0], fields[1]
            ));
            out.push_str(&parsed.text());
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    (out, notes)
}

/// Adjusts a unit for the user manager: system targets in `WantedBy=`
/// become `default.target`, which the user manager starts.
pub fn unit(text: &str) -> (String, Vec<String>) {
    const SYSTEM_TARGETS: &[&str] = &["multi-user.target", "graphical.target"];
    let mut notes = Vec::new();
    let mut out = String::new();
    for line in text.lines() {
        let install = line
            .split_once('=')
            .map(|(k, v)| (k.trim(), v))
            .filter(|(k, _)| ["WantedBy", "RequiredBy", "UpheldBy"].contains(k));
        if let Some((key, targets)) = install {
            let mapped: Vec<&str> = targets
                .split_whitespace()
                .map(|t| {
                    if SYSTEM_TARGETS.contains(&t) {
                        notes.push(format!(
                            "unit: {key}={t} is default.target of your user manager (--user)"
                        ));
                        "default.target"
                    } else {
                        t
                    }
                })
                .collect();
            out.push_str(&format!("{key}={}\n", mapped.join(" ")));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    (out, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Rootless {
        Rootless {
            ids: IdMap {
                uids: vec![IdRange {
                    inside: 0,
                    outside: 1001,
                    size: 1,
                }],
                gids: vec![IdRange {
                    inside: 0,
                    outside: 1002,
                    size: 1,
                }],
            },
            dirs: UserDirs {
                uid: 1001,
                gid: 1002,
                login: "alice".into(),
                home: "/home/alice".into(),
                data: "/home/alice/.local/share".into(),
                config: "/home/alice/.config".into(),
                runtime: "/run/user/1001".into(),
            },
            delegated: false,
        }
    }

    #[test]
    fn a_system_bundle_becomes_a_user_one() {
        let c = json!({
            "process": {"user": {"uid": 0, "gid": 0, "additionalGids": [0, 5]}, "oomScoreAdj": -500, "args": ["x"]},
            "root": {"path": "rootfs", "readonly": true},
            "mounts": [
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "gid=5", "mode=0620"]}
            ],
            "linux": {
                "namespaces": [{"type": "pid", "path": "/proc/1/ns/pid"}],
                "resources": {"memory": {"limit": 1}},
                "sysctl": {"net.core.somaxconn": "1024"}
            }
        });
        let (out, notes) = config(&c.to_string(), &user()).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["linux"]["uidMappings"],
            json!([{"containerID": 0, "hostID": 1001, "size": 1}])
        );
        assert_eq!(
            v["linux"]["gidMappings"],
            json!([{"containerID": 0, "hostID": 1002, "size": 1}])
        );
        assert_eq!(
            v["linux"]["namespaces"],
            json!([{"type": "pid"}, {"type": "user"}, {"type": "mount"}])
        );
        assert!(v["linux"].get("resources").is_none());
        assert!(v["linux"].get("sysctl").is_none());
        assert!(v["process"].get("oomScoreAdj").is_none());
        assert_eq!(v["process"]["user"]["additionalGids"], json!([0]));
        assert_eq!(v["mounts"][0]["type"], "none");
        assert_eq!(v["mounts"][0]["source"], "/sys");
        assert_eq!(
            v["mounts"][1]["options"],
            json!(["newinstance", "mode=0620"])
        );
        let all = notes.join("\n");
        for said in [
            "a new pid namespace instead of joining /proc/1/ns/pid",
            "linux.resources",
            "net.core.somaxconn",
            "oomScoreAdj",
            "/sys: bind",
            "/dev/pts: dropped uid=/gid=",
        ] {
            assert!(all.contains(said), "{said} in:\n{all}");
        }
        assert!(notes.iter().all(|n| n.ends_with("(--user)")));
    }

    #[test]
    fn network_sysctls_stay_with_a_network_namespace_of_its_own() {
        let c = json!({
            "process": {"user": {"uid": 0, "gid": 0}},
            "mounts": [{"destination": "/sys", "type": "sysfs", "source": "sysfs"}],
            "linux": {
                "namespaces": [{"type": "network"}],
                "sysctl": {"net.core.somaxconn": "1024", "kernel.domainname": "x"}
            }
        });
        let (out, notes) = config(&c.to_string(), &user()).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["linux"]["sysctl"], json!({"net.core.somaxconn": "1024"}));
        assert_eq!(v["mounts"][0]["type"], "sysfs", "its own sysfs");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(v["process"].get("additionalGids").is_none());
    }

    #[test]
    fn an_unmapped_process_user_is_refused() {
        let c = json!({"process": {"user": {"uid": 100, "gid": 0}}, "linux": {}});
        let err = config(&c.to_string(), &user()).unwrap_err().to_string();
        assert!(
            err.starts_with("config.json: process.user.uid 100 is not mapped"),
            "{err}"
        );
    }

    #[test]
    fn a_ready_bundle_is_left_as_it_is() {
        let c = json!({"process": {"user": {"uid": 0, "gid": 0}}, "mounts": [], "linux": {"namespaces": [{"type": "user"}, {"type": "mount"}]}});
        let (_, notes) = config(&c.to_string(), &user()).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn tmpfiles_owners_become_the_users() {
        let (out, notes) = tmpfiles(
            "# c\nd /run/user/1001/g 0755 root root -\nd /run/user/1001/h 0700 alice - -\nL+ /x - root root - /a b\nd /run/user/1001/k 0700 root\n",
            &user(),
        );
        assert_eq!(
            out,
            "# c\nd /run/user/1001/g 0755 - - -\nd /run/user/1001/h 0700 alice - -\nL+ /x - - - - /a b\nd /run/user/1001/k 0700 -\n"
        );
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].starts_with("tmpfiles.d: d /run/user/1001/g: owned by you"));
    }

    #[test]
    fn units_are_wanted_by_the_user_default_target() {
        let (out, notes) = unit(
            "[Install]\nWantedBy=multi-user.target sockets.target\nRequiredBy = graphical.target\n",
        );
        assert_eq!(
            out,
            "[Install]\nWantedBy=default.target sockets.target\nRequiredBy=default.target\n"
        );
        assert_eq!(notes.len(), 2);
    }
}
