//! The host's package manager, as RPM mode uses it: rpm-ostree on
//! image-based hosts, else dnf, else rpm (always rpm under `--root`).

use super::command;
use super::paths::HostPaths;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// Which program installs and erases packages on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    /// Image-based hosts (`/run/ostree-booted`): layered packages.
    RpmOstree,
    Dnf,
    Rpm,
}

impl Manager {
    /// rpm-ostree on image-based hosts, else dnf, else rpm.
    pub fn of(paths: &HostPaths) -> Manager {
        if paths.is_ostree_booted() {
            Manager::RpmOstree
        } else if !paths.is_relocated() && super::fs::which(Path::new("dnf")).is_some() {
            Manager::Dnf
        } else {
            Manager::Rpm
        }
    }

    /// Installs or upgrades to `file`; `older` allows going back a release.
    pub fn install(self, paths: &HostPaths, file: &Path, older: bool) -> Result<()> {
        let mut c = match self {
            Manager::RpmOstree => {
                let name = command::output(rpm(paths).args(["-qp", "--qf", "%{NAME}"]).arg(file))?;
                if installed(paths, &name)?.is_none() {
                    return command::run(
                        Command::new("rpm-ostree")
                            .args(["install", "--idempotent", "--apply-live"])
                            .arg(file),
                    );
                }
                // rpm-ostree keeps a local package at the version it was
                // given and refuses a second one of the same name: swap
                // them in one transaction, then apply that (not purely
                // additive) change to the running system.
                command::run(
                    Command::new("rpm-ostree")
                        .args(["uninstall", &name])
                        .arg(format!("--install={}", file.display())),
                )?;
                return apply_live();
            }
            Manager::Dnf => {
                let mut c = Command::new("dnf");
                c.args(["-y", "-q", if older { "downgrade" } else { "install" }]);
                c
            }
            Manager::Rpm => {
                let mut c = rpm(paths);
                c.arg("-U");
                if older {
                    c.arg("--oldpackage");
                }
                c
            }
        };
        command::run(c.arg(file))
    }

    /// Erases package `name`.
    pub fn erase(self, paths: &HostPaths, name: &str) -> Result<()> {
        let mut c = match self {
            Manager::RpmOstree => {
                command::run(Command::new("rpm-ostree").args(["uninstall", name]))?;
                return apply_live();
            }
            Manager::Dnf => {
                let mut c = Command::new("dnf");
                c.args(["-y", "-q", "remove"]);
                c
            }
            Manager::Rpm => {
                let mut c = rpm(paths);
                c.arg("-e");
                c
            }
        };
        command::run(c.arg(name))
    }
}

/// `rpm`, on the `--root` target when relocated.
fn rpm(paths: &HostPaths) -> Command {
    let mut c = Command::new("rpm");
    // Its messages are parsed ("is not installed"): untranslated.
    c.env("LC_ALL", "C");
    if paths.is_relocated() {
        c.arg("--root").arg(paths.root());
    }
    c
}

/// Applies the staged rpm-ostree deployment to the running system, removals
/// and replacements included.
fn apply_live() -> Result<()> {
    command::run(Command::new("rpm-ostree").args(["apply-live", "--allow-replacement"]))
}

/// Whether the host (or `--root` target) has an rpm database. rpm is asked
/// nothing where there is none, since a query may create one.
fn has_database(paths: &HostPaths) -> Result<bool> {
    // Debian's rpm keeps root's database in ~/.rpmdb.
    for d in ["usr/lib/sysimage/rpm", "var/lib/rpm", "root/.rpmdb"] {
        for f in ["rpmdb.sqlite", "Packages"] {
            if super::fs::exists(&paths.root().join(d).join(f))? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The installed `name-version-release` of package `name`, or None when
/// rpm says it is not installed (or there is no rpm database); any other
/// failure of rpm is an error.
pub fn installed(paths: &HostPaths, name: &str) -> Result<Option<String>> {
    if !has_database(paths)? {
        return Ok(None);
    }
    let mut c = rpm(paths);
    c.args(["-q", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}", name]);
    let out = c
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run rpm -q {name}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        return Ok(Some(stdout.trim().to_string()));
    }
    if out.status.code() == Some(1) && stdout.contains("is not installed") {
        return Ok(None);
    }
    bail!(
        "rpm -q {name} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// The packages that own the file `path` (as the target sees it; it must
/// exist) according to `rpm -qf`; empty when none does, or there is no rpm
/// database.
pub fn owners(paths: &HostPaths, path: &Path) -> Result<Vec<String>> {
    if !has_database(paths)? {
        return Ok(Vec::new());
    }
    let out = rpm(paths)
        .args(["-qf", "--qf", "%{NAME}\n"])
        .arg(path)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run rpm -qf {}", path.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        return Ok(stdout.lines().map(str::to_string).collect());
    }
    // rpm looks the path up in its database first; only for a path no
    // package owns does it look at the file, and under --root it looks on
    // the wrong filesystem ("No such file or directory").
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stdout.contains("is not owned by any package")
        || stderr.contains("No such file or directory")
    {
        return Ok(Vec::new());
    }
    bail!(
        "rpm -qf {} failed ({}): {}",
        path.display(),
        out.status,
        stderr.trim()
    )
}

/// Whether rpm manages the host's software (`--system-package=auto`): an
/// image-based host, or a system rpm database that knows rpm itself.
pub fn host_uses_rpm(paths: &HostPaths) -> Result<bool> {
    if paths.is_ostree_booted() {
        return Ok(true);
    }
    Ok(installed(paths, "rpm")?.is_some())
}
