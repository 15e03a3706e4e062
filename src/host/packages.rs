//! The host's package manager, as RPM mode uses it: rpm-ostree on
//! image-based hosts, else dnf, else rpm (always rpm under `--root`).

use super::command;
use super::paths::HostPaths;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// What an install or erase did to the running system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The running system has the change.
    Live,
    /// The change is staged for the next boot only (an image-based host
    /// whose live apply failed or is unavailable); the reason.
    Staged(String),
}

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
    pub fn install(self, paths: &HostPaths, file: &Path, older: bool) -> Result<Applied> {
        let mut c = match self {
            Manager::RpmOstree => return rpm_ostree_install(paths, file),
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
        command::run(c.arg(file))?;
        Ok(Applied::Live)
    }

    /// Erases package `name`.
    pub fn erase(self, paths: &HostPaths, name: &str) -> Result<Applied> {
        let mut c = match self {
            Manager::RpmOstree => {
                command::run(Command::new("rpm-ostree").args(["uninstall", name]))?;
                return Ok(match apply_live() {
                    Err(e) => Applied::Staged(format!("{e:#}")),
                    Ok(()) if installed(paths, name)?.is_some() => Applied::Staged(format!(
                        "rpm-ostree apply-live succeeded, but the running system still has {name}"
                    )),
                    Ok(()) => Applied::Live,
                });
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
        command::run(c.arg(name))?;
        Ok(Applied::Live)
    }
}

/// Layers `file` with rpm-ostree, then applies it to the running system as
/// a second step. Exit codes are not trusted (`install --idempotent` says
/// "No change." and exits 0 when a pending deployment has the package
/// already, and applies nothing live): the deployments and the running
/// system's rpm database say what happened.
fn rpm_ostree_install(paths: &HostPaths, file: &Path) -> Result<Applied> {
    let query = |format: &str| -> Result<String> {
        command::output(rpm(paths).args(["-qp", "--qf", format]).arg(file))
    };
    let name = query("%{NAME}")?;
    let nvr = query("%{NAME}-%{VERSION}-%{RELEASE}")?;
    if installed(paths, &name)?.is_none() {
        command::run(
            Command::new("rpm-ostree")
                .args(["install", "--idempotent"])
                .arg(file),
        )?;
    } else {
        // rpm-ostree keeps a local package at the version it was given and
        // refuses a second one of the same name: swap them in one
        // transaction (not purely additive, hence the replacement below).
        command::run(
            Command::new("rpm-ostree")
                .args(["uninstall", &name])
                .arg(format!("--install={}", file.display())),
        )?;
    }
    if installed(paths, &name)?.as_deref() == Some(nvr.as_str()) {
        return Ok(Applied::Live);
    }
    if !pending_has(&nvr)? {
        bail!("rpm-ostree reported success, but no deployment has {nvr}");
    }
    if let Err(e) = apply_live() {
        return Ok(Applied::Staged(format!("{e:#}")));
    }
    Ok(
        if installed(paths, &name)?.as_deref() == Some(nvr.as_str()) {
            Applied::Live
        } else {
            Applied::Staged(format!(
                "rpm-ostree apply-live succeeded, but the running system does not have {nvr}"
            ))
        },
    )
}

/// Whether a deployment that is not the booted one requests the local
/// package `nvr` (`rpm-ostree status --json`, `requested-local-packages`
/// holding name-version-release.arch).
fn pending_has(nvr: &str) -> Result<bool> {
    let out = command::output(Command::new("rpm-ostree").args(["status", "--json"]))?;
    let status: serde_json::Value =
        serde_json::from_str(&out).context("parsing rpm-ostree status --json")?;
    let deployments = status["deployments"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("rpm-ostree status --json lists no deployments"))?;
    Ok(deployments
        .iter()
        .filter(|d| d["booted"] != serde_json::Value::Bool(true))
        .flat_map(|d| {
            d["requested-local-packages"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .filter_map(serde_json::Value::as_str)
        .any(|p| {
            p == nvr
                || p.strip_prefix(nvr)
                    .is_some_and(|arch| arch.starts_with('.'))
        }))
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

/// Whether the host (or `--root` target) has an rpm database where rpm's
/// own `%_dbpath` says it is (`/usr/lib/sysimage/rpm` on Fedora,
/// `/usr/share/rpm` where rpm-ostree keeps it, `~/.rpmdb` with Debian's
/// rpm). rpm is asked nothing else where there is none, since a query may
/// create one.
fn has_database(paths: &HostPaths) -> Result<bool> {
    // Asked once per command: rpm reads its macros from the running
    // system, whatever `--root`, and a verb asks this for every file.
    static DBPATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dbpath = match DBPATH.get() {
        Some(d) => d,
        None => {
            let d = command::output(rpm(paths).args(["--eval", "%{_dbpath}"]))?;
            DBPATH.get_or_init(|| d.trim().to_string())
        }
    };
    let dir = paths.root().join(dbpath.trim_start_matches('/'));
    for f in ["rpmdb.sqlite", "Packages", "Packages.db"] {
        if super::fs::exists(&dir.join(f))? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The configuration files of package `name` whose content differs from
/// what the package installed (`rpm -V`: digest changed, a `c` file), as
/// the target sees them: what rpm keeps as `.rpmsave` when it erases them.
pub fn changed_config(paths: &HostPaths, name: &str) -> Result<Vec<std::path::PathBuf>> {
    if !has_database(paths)? {
        return Ok(Vec::new());
    }
    let out = rpm(paths)
        .args(["-V", "--nodeps", "--noscripts", name])
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run rpm -V {name}"))?;
    // rpm -V exits 1 when something differs; its lines say what.
    if !matches!(out.status.code(), Some(0 | 1)) {
        bail!(
            "rpm -V {name} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(parse_verify(&String::from_utf8_lossy(&out.stdout)))
}

/// The changed configuration files in `rpm -V` output: lines of the
/// attributes that differ (nine characters, `5` third when the digest
/// does; or `missing`), the file's type (`c` for configuration, or
/// nothing), and the path.
fn parse_verify(text: &str) -> Vec<std::path::PathBuf> {
    text.lines()
        .filter_map(|l| {
            let (attrs, rest) = l.split_once(' ')?;
            let path = rest.trim_start().strip_prefix("c ")?;
            (attrs.len() == 9 && attrs.as_bytes()[2] == b'5' && path.starts_with('/'))
                .then(|| std::path::PathBuf::from(path))
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_configuration_files_from_rpm_verify() {
        // As rpm 4.18 prints them.
        let out = "S.5....T.  c /etc/greeter/plain.conf\n\
                   .......T.  c /etc/greeter/touched.conf\n\
                   S.5....T.    /usr/bin/greet\n\
                   missing   c /etc/greeter/gone.conf\n\
                   ..5......  c /etc/greeter/a b.conf\n";
        assert_eq!(
            parse_verify(out),
            [
                std::path::PathBuf::from("/etc/greeter/plain.conf"),
                std::path::PathBuf::from("/etc/greeter/a b.conf")
            ]
        );
    }
}
