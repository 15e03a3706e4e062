//! rpm-ostree's layering rules, checked before a package is written: what
//! may be in the payload, what becomes a tmpfiles.d line, and which
//! scriptlets may run.

use anyhow::{bail, Result};
use std::path::Path;

/// Where an entry of the container goes in the package.
#[derive(Debug, PartialEq, Eq)]
pub enum Placement {
    /// Into the payload as it is.
    Payload,
    /// Not in the payload: a tmpfiles.d line creates it at boot.
    Tmpfiles(String),
}

/// Checks one entry (`path` absolute on the host) against the rules.
pub fn place(path: &Path, is_dir: bool, mode: u32, user: &str, group: &str) -> Result<Placement> {
    let shown = path.display();
    if path.to_string_lossy().chars().any(char::is_control) {
        bail!(
            "host path {:?} has a control character",
            path.display().to_string()
        );
    }
    let under = |p: &str| path.starts_with(p);
    if under("/usr/local") {
        bail!(
            "{shown}: rpm-ostree refuses packages with files under /usr/local (\"Unsupported \
             path\": on image-based hosts it is a link into /var); ship it under /usr, or \
             rename it there with renameFiles"
        );
    }
    if under("/opt") {
        bail!(
            "{shown}: on image-based hosts /opt is a link into /var; rpm-ostree would move this \
             to /usr/lib/opt and link it back at boot, which this tool does not do for you: \
             ship it under /usr, or rename it there with renameFiles"
        );
    }
    if under("/usr") || under("/etc") {
        return Ok(Placement::Payload);
    }
    if under("/var") || under("/run") {
        if is_dir {
            return Ok(Placement::Tmpfiles(format!(
                "d {} {:04o} {user} {group} -",
                tmpfiles_path(&path.to_string_lossy())?,
                mode & 0o7777
            )));
        }
        bail!(
            "{shown}: rpm-ostree layers only /usr and /etc; under /var and /run a package may \
             only have directories, which become tmpfiles.d lines"
        );
    }
    bail!("{shown}: rpm-ostree layers only /usr and /etc");
}

/// `path` as the path field of a tmpfiles.d line: systemd-tmpfiles splits
/// the line at whitespace and expands `%` specifiers in the path (a `%` is
/// written `%%`); whether it also unquotes and C-unescapes depends on its
/// version (252, as RHEL 9 ships, does not), so a path that would need
/// either is refused, naming it.
pub fn tmpfiles_path(path: &str) -> Result<String> {
    if let Some(c) = path
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/._-+@:,=~%".contains(*c)))
    {
        bail!("host directory {path:?} has {c:?}, which a tmpfiles.d line cannot hold the same way in every systemd; rename it");
    }
    Ok(path.replace('%', "%%"))
}

/// Checks a line of the image's tmpfiles.d template for an image-based
/// host, where it runs at boot on a deployed system that can write only
/// `/etc`, `/var`, `/run` and `/tmp`.
pub fn check_tmpfiles_line(line: &str) -> Result<()> {
    if line.chars().any(char::is_control) {
        bail!("tmpfiles.d line {line:?} has a control character");
    }
    let Some(parsed) = crate::render::tmpfiles::Line::parse(line) else {
        return Ok(());
    };
    let line = line.trim();
    let path = parsed.path().unwrap_or("");
    let p = Path::new(path);
    if !p.is_absolute() {
        bail!("/exports/tmpfiles.template: {line:?} names no absolute path");
    }
    if !["/etc", "/var", "/run", "/tmp"]
        .iter()
        .any(|d| p.starts_with(d))
    {
        bail!(
            "/exports/tmpfiles.template: {line:?}: {path} cannot be written on an image-based \
             host, where tmpfiles.d may write only /etc, /var, /run and /tmp"
        );
    }
    Ok(())
}

/// Directories every system has (the filesystem package owns them): a
/// container's package neither owns them nor turns them into tmpfiles lines.
pub fn is_system_dir(path: &Path) -> bool {
    const DIRS: &[&str] = &[
        "/etc",
        "/usr",
        "/usr/bin",
        "/usr/sbin",
        "/usr/lib",
        "/usr/lib64",
        "/usr/libexec",
        "/usr/share",
        "/var",
        "/var/lib",
        "/var/log",
        "/var/cache",
        "/var/spool",
        "/run",
    ];
    DIRS.iter().any(|d| path == Path::new(d))
}

/// Scriptlets a package may carry: those rpm-ostree runs (`%pre`, `%post`,
/// `%posttrans`) and the erase/upgrade ones classic hosts use.
const SCRIPTLETS: &[&str] = &["pre", "post", "posttrans", "preun", "postun"];

/// Commands a scriptlet may run: what rpm-ostree allows (daemon-reload,
/// preset, tmpfiles) and the service handling of classic hosts.
const COMMANDS: &[&str] = &[
    "systemctl daemon-reload",
    "systemctl preset",
    "systemctl --no-reload disable --now",
    "systemctl try-restart",
    "systemd-tmpfiles --create",
    "if [",
    "fi",
];

/// Checks a scriptlet: a known kind, a shell body (no Lua), and only the
/// allowed commands.
pub fn check_scriptlet(kind: &str, interpreter: &str, body: &str) -> Result<()> {
    if !SCRIPTLETS.contains(&kind) {
        bail!("%{kind}: rpm-ostree packages may only have %pre, %post, %posttrans, %preun and %postun scriptlets");
    }
    if interpreter != "/bin/sh" {
        bail!("%{kind}: scriptlets must be /bin/sh scripts, not {interpreter}");
    }
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !COMMANDS.iter().any(|c| line.starts_with(c)) {
            bail!("%{kind}: {line:?} is not something rpm-ostree lets a scriptlet do");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usr_and_etc_go_in_var_and_run_directories_become_tmpfiles() {
        assert_eq!(
            place(Path::new("/usr/lib/x"), false, 0o644, "root", "root").unwrap(),
            Placement::Payload
        );
        assert_eq!(
            place(Path::new("/etc/x.conf"), false, 0o644, "root", "root").unwrap(),
            Placement::Payload
        );
        assert_eq!(
            place(Path::new("/var/lib/greeter"), true, 0o750, "root", "root").unwrap(),
            Placement::Tmpfiles("d /var/lib/greeter 0750 root root -".into())
        );
    }

    #[test]
    fn var_files_opt_and_other_roots_are_refused_naming_the_file_and_rule() {
        let err = |p: &str| {
            place(Path::new(p), false, 0o644, "root", "root")
                .unwrap_err()
                .to_string()
        };
        assert!(err("/var/lib/greeter/state")
            .starts_with("/var/lib/greeter/state: rpm-ostree layers only /usr and /etc;"));
        assert!(err("/opt/app/bin").contains("rpm-ostree would move this to /usr/lib/opt"));
        assert!(err("/usr/local/bin/x")
            .contains("rpm-ostree refuses packages with files under /usr/local"));
        assert_eq!(
            err("/srv/x"),
            "/srv/x: rpm-ostree layers only /usr and /etc"
        );
    }

    #[test]
    fn host_directory_names_become_one_escaped_tmpfiles_line() {
        let err = place(Path::new("/var/lib/x\nR /usr"), true, 0o755, "root", "root")
            .unwrap_err()
            .to_string();
        assert!(err.contains("control character"), "{err}");
        let err = place(Path::new("/var/lib/a b"), true, 0o755, "root", "root")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/var/lib/a b"), "{err}");
        let Placement::Tmpfiles(line) =
            place(Path::new("/var/lib/a%n"), true, 0o750, "root", "root").unwrap()
        else {
            panic!("a directory under /var is a tmpfiles line")
        };
        assert_eq!(line, "d /var/lib/a%%n 0750 root root -");
        check_tmpfiles_line(&line).unwrap();
        assert!(check_tmpfiles_line("d /var/x 0755\nR /usr").is_err());
    }

    #[test]
    fn tmpfiles_lines_write_only_where_a_deployed_system_can() {
        for ok in [
            "d /run/x 0755 root root -",
            "# c",
            "",
            "L /etc/x - - - - /usr/y",
            "f /var/lib/a",
        ] {
            check_tmpfiles_line(ok).unwrap();
        }
        let err = check_tmpfiles_line("d /usr/lib/x 0755")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/usr/lib/x cannot be written on an image-based host"),
            "{err}"
        );
        assert!(check_tmpfiles_line("d relative").is_err());
    }

    #[test]
    fn only_allowed_shell_scriptlets() {
        check_scriptlet(
            "post",
            "/bin/sh",
            "systemctl daemon-reload\nsystemd-tmpfiles --create /usr/lib/tmpfiles.d/g.conf",
        )
        .unwrap();
        assert!(check_scriptlet("post", "<lua>", "print(1)")
            .unwrap_err()
            .to_string()
            .contains("not <lua>"));
        assert!(check_scriptlet("triggerin", "/bin/sh", "")
            .unwrap_err()
            .to_string()
            .contains("may only have"));
        assert!(check_scriptlet("post", "/bin/sh", "rm -rf /")
            .unwrap_err()
            .to_string()
            .contains("is not something"));
    }
}
