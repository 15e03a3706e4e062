//! The systemd unit file, read one way: its entries as systemd sees them
//! (sections, continuation lines, comments), the commands it runs, and the
//! names enabling it gives it, which are systemd's own reading.

use anyhow::{bail, Result};

/// One `KEY=VALUE` entry of a unit file, in its section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub section: String,
    pub key: String,
    pub value: String,
}

/// The entries of the unit `text`: a line ending in `\\` goes on with the
/// next, lines starting with `#` or `;` are comments.
pub fn entries(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut line = line.trim().to_string();
        while line.ends_with('\\') {
            line.pop();
            match lines.next() {
                Some(next) if !next.trim_start().starts_with(['#', ';']) => {
                    line.push(' ');
                    line.push_str(next.trim());
                }
                Some(_) => {}
                None => break,
            }
        }
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            out.push(Entry {
                section: section.clone(),
                key: k.trim().to_string(),
                value: v.trim().to_string(),
            });
        }
    }
    out
}

/// The `[Service]` settings that decide how a running service is stopped:
/// when two units agree on them, the new one can stop what the old one
/// started.
const STOPPING: &[&str] = &[
    "Type",
    "PIDFile",
    "ExecStop",
    "ExecStopPost",
    "KillMode",
    "KillSignal",
    "TimeoutStopSec",
    "TimeoutSec",
    "RemainAfterExit",
];

/// Whether the unit `new` stops a service that `old` started the same way
/// (the same stop commands, kill settings and type), so that it can be put
/// in place while that service runs and stop it by a restart.
pub fn stops_alike(old: &str, new: &str) -> bool {
    let stopping = |text: &str| -> Vec<(String, String)> {
        entries(text)
            .into_iter()
            .filter(|e| e.section == "Service" && STOPPING.contains(&e.key.as_str()))
            .map(|e| (e.key, e.value))
            .collect()
    };
    // A restart runs no stop of the tool's in between: the unit must clear
    // what the runtime keeps of a stopped container itself.
    let clears = entries(new).iter().any(|e| {
        e.section == "Service" && matches!(e.key.as_str(), "ExecStartPre" | "ExecStopPost")
    });
    clears && stopping(old) == stopping(new)
}

/// `[Socket]` settings a container's socket may not have: it activates the
/// container's own service (`Service=` would start another unit) and
/// makes no links on the host (`Symlinks=`).
const SOCKET_REFUSED: &[&str] = &["Service", "Symlinks"];

/// Refuses a socket unit that would activate another service than the
/// container's or link into the host.
pub fn check_socket(text: &str) -> Result<()> {
    for e in entries(text) {
        if e.section == "Socket" && SOCKET_REFUSED.contains(&e.key.as_str()) {
            bail!(
                "/exports/socket.template: {}={} is not for a container's socket (it activates the container's own service)",
                e.key,
                e.value
            );
        }
    }
    Ok(())
}

/// The commands the unit runs: its `Exec*=` entries, as `KEY=VALUE`.
pub fn commands(text: &str) -> Vec<String> {
    entries(text)
        .into_iter()
        .filter(|e| e.key.starts_with("Exec"))
        .map(|e| format!("{}={}", e.key, e.value))
        .collect()
}

/// The names systemd gives the unit `unit_name` (text `unit`) when it is
/// enabled: its own reading of the `[Install]` section (quoting,
/// continuation lines, specifiers), got by enabling it offline in a
/// scratch root and listing the links that made beside it. A unit whose
/// enabling fails there is refused with systemctl's words.
pub fn aliases(unit_name: &str, unit: &str) -> Result<Vec<String>> {
    use anyhow::Context as _;
    let scratch = tempfile::tempdir().context("creating a scratch root for systemctl")?;
    let dir = scratch.path().join("etc/systemd/system");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join(unit_name), unit))
        .with_context(|| format!("writing {unit_name} into {}", scratch.path().display()))?;
    let out = std::process::Command::new("systemctl")
        .env("LC_ALL", "C")
        .arg(format!("--root={}", scratch.path().display()))
        .args(["enable", "--", unit_name])
        .stdin(std::process::Stdio::null())
        .output()
        .context("running systemctl (systemd) to read the unit's [Install] section")?;
    let said = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("the unit {unit_name} cannot be enabled: {}", said.trim());
    }
    // `Also=`: enabling it would enable units of the host too (systemctl
    // only warns offline, where they do not exist).
    if let Some(line) = said.lines().find(|l| l.contains("auxiliary unit")) {
        bail!(
            "the unit {unit_name} would enable other units with it (Also=): {}",
            line.trim()
        );
    }
    let mut names = Vec::new();
    for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e.with_context(|| format!("reading {}", dir.display()))?;
        let n = e.file_name().to_string_lossy().into_owned();
        if n != unit_name && e.file_type().is_ok_and(|t| t.is_symlink()) {
            names.push(n);
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_join_continuations_and_skip_comments() {
        let unit = "[Unit]\nDescription = x\n# ExecStart=/no\n[Service]\nExecStart=/bin/a \\\n  --flag\n; c\nExecStopPost =/bin/b\n";
        assert_eq!(
            commands(unit),
            ["ExecStart=/bin/a  --flag", "ExecStopPost=/bin/b"]
        );
        let e = entries(unit);
        assert_eq!(e[0].section, "Unit");
        assert_eq!(e[0].key, "Description");
        assert_eq!(e[1].section, "Service");
    }

    #[test]
    fn aliases_are_systemds_own_reading_of_the_install_section() {
        let unit = "[Unit]\nAlias=not-here.service\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=a.service b.service\nAlias=c.service\n";
        assert_eq!(
            aliases("g.service", unit).unwrap(),
            ["a.service", "b.service", "c.service"]
        );
        // What a hand parser missed: spaces around '=', a continuation
        // line, a specifier.
        let unit = "[Service]\nExecStart=/bin/true\n[Install]\nAlias = sshd.service \\\n  getty.service\nAlias=%N-x.service\n";
        assert_eq!(
            aliases("g.service", unit).unwrap(),
            ["g-x.service", "getty.service", "sshd.service"]
        );
        assert!(aliases("g.service", "[Install]\nWantedBy=x.target\n")
            .unwrap()
            .is_empty());
        let err = aliases(
            "g.service",
            "[Service]\nExecStart=/bin/true\n[Install]\nAlso=debug-shell.service\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("would enable other units with it (Also=)"),
            "{err}"
        );
    }

    #[test]
    fn units_that_stop_alike_can_replace_a_running_one() {
        let old = "[Service]\nType=forking\nExecStart=/r run -d x\nExecStop=-/r kill x TERM\nExecStopPost=/r delete x\nWorkingDirectory=/a.0\n";
        let new = "[Service]\nType=forking\nExecStart=/r run -d x\nExecStop=-/r kill x TERM\nExecStopPost=/r delete x\nWorkingDirectory=/a.1\n";
        assert!(stops_alike(old, new), "only the slot differs");
        let catalog = "[Service]\nExecStart=/r run x\nExecStop=/r kill x TERM\n";
        assert!(
            !stops_alike(catalog, catalog),
            "nothing clears the runtime's state between the stop and the start"
        );
        let other = new.replace("kill x TERM", "kill x KILL");
        assert!(!stops_alike(old, &other));
        assert!(!stops_alike(old, &new.replace("forking", "notify")));
    }

    #[test]
    fn a_containers_socket_activates_its_own_service_only() {
        check_socket("[Socket]\nListenStream=8081\nBacklog=1024\n").unwrap();
        for bad in [
            "Service=sshd.service",
            "Symlinks=/run/dbus/system_bus_socket",
        ] {
            let err = check_socket(&format!("[Socket]\nListenStream=8081\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!(
                    "/exports/socket.template: {bad} is not for a container's socket"
                )),
                "{err}"
            );
        }
    }
}
