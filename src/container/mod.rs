//! System containers, the product's main concept: a validated [`Name`], the
//! two deployment [`Slot`]s, and the [`Ctx`] every verb runs in, with its
//! [`Target`] named once. One file per verb; what differs between plain and
//! RPM mode is in `delivery`, the record of a deployment in `state`, and
//! the transaction with its recovery in `txn`.

pub mod delivery;
pub mod health;
pub mod install;
pub mod journal;
pub mod layout;
pub mod list;
pub mod rollback;
pub mod run;
pub mod state;
mod steps;
pub mod target;
pub mod txn;
pub mod uninstall;
pub mod update;

use crate::host::paths::HostPaths;
use crate::report::Reporter;
use anyhow::{anyhow, bail, Result};
use layout::Layout;
use state::Deployment;
use std::fmt;
use std::path::Path;
use target::Target;

/// A container name: one path component of letters, digits, `.`, `-` and
/// `_`, starting with a letter or digit, at most 200 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    /// Checks `name`.
    pub fn new(name: &str) -> Result<Name> {
        let ok = !name.is_empty()
            && name.len() <= 200
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            bail!("invalid container name {name:?}: use letters, digits, '.', '-' and '_', starting with a letter or digit");
        }
        Ok(Name(name.to_string()))
    }

    /// `--name`, else the image's repository name (`reg/ns/greeter:1` ->
    /// `greeter`).
    pub fn for_install(given: Option<&str>, image: &str) -> Result<Name> {
        match given {
            Some(n) => Name::new(n),
            None => {
                let last = image.rsplit('/').next().unwrap_or(image);
                let last = last.split('@').next().unwrap_or(last);
                Name::new(last.split(':').next().unwrap_or(last))
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The container's systemd unit.
    pub fn unit(&self) -> String {
        format!("{}.service", self.0)
    }

    /// The container's socket unit, when a socket activates it.
    pub fn socket(&self) -> String {
        format!("{}.socket", self.0)
    }

    /// The container's package in RPM mode.
    pub fn package(&self) -> String {
        format!("atomic-container-{}", self.0)
    }

    /// The container and slot this name would be the slot directory of
    /// (`foo.1` -> `foo`, [`Slot::One`]).
    pub fn as_slot_of(&self) -> Option<(&str, Slot)> {
        let (base, suffix) = self.0.rsplit_once('.')?;
        Some((base, Slot::from_suffix(suffix)?))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One of the two deployment slots, `NAME.0` and `NAME.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Zero,
    One,
}

impl Slot {
    /// The slot a new install goes to.
    pub const FIRST: Slot = Slot::Zero;

    /// The slot an update or rollback moves to.
    pub fn other(self) -> Slot {
        match self {
            Slot::Zero => Slot::One,
            Slot::One => Slot::Zero,
        }
    }

    /// The suffix of the slot's directory name.
    pub fn suffix(self) -> &'static str {
        match self {
            Slot::Zero => "0",
            Slot::One => "1",
        }
    }

    pub fn from_suffix(s: &str) -> Option<Slot> {
        match s {
            "0" => Some(Slot::Zero),
            "1" => Some(Slot::One),
            _ => None,
        }
    }
}

/// What every verb works with: the host layout, whose containers they
/// are (the [`Target`], with its service manager), and where to report.
pub struct Ctx<'a> {
    pub paths: &'a HostPaths,
    pub layout: Layout,
    pub target: Target,
    pub report: Reporter,
}

impl<'a> Ctx<'a> {
    /// Connects to the target's service manager, if it has one.
    pub fn new(paths: &'a HostPaths, report: Reporter) -> Result<Ctx<'a>> {
        Ok(Ctx {
            paths,
            layout: Layout::new(paths)?,
            target: Target::of(paths)?,
            report,
        })
    }

    /// Says that the service manager is left alone, under `--root`.
    pub(crate) fn note_relocated(&self) {
        if let Some(root) = self.target.relocated() {
            self.report.note(format!(
                "--root {}: leaving the service manager alone",
                root.display()
            ));
        }
    }

    /// The active slot of `name` and its deployment record.
    pub fn current(&self, name: &Name) -> Result<(Slot, Deployment)> {
        let slot = self
            .layout
            .active(name)?
            .ok_or_else(|| anyhow!("container {name} is not installed"))?;
        Ok((slot, state::read(&self.layout.slot(name, slot))?))
    }

    /// Whether `unit` is active; never under `--root`.
    pub(crate) fn is_active(&self, unit: &str) -> Result<bool> {
        match self.target.systemd() {
            Some(s) => Ok(s.state(unit)? == "active"),
            None => Ok(false),
        }
    }

    /// `runtime` as the tool runs it outside the unit: with the state
    /// directory of a user's containers (`--root $XDG_RUNTIME_DIR/runc`),
    /// the one their units use.
    pub(crate) fn runtime_command(&self, runtime: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(runtime);
        if let Some(r) = self.target.rootless() {
            cmd.arg("--root").arg(r.dirs.runtime_state());
        }
        cmd
    }

    /// Runs `systemd-tmpfiles ACTION FILE`, on the `--root` target when
    /// relocated, as the user's (`--user`) for a user's containers.
    pub(crate) fn tmpfiles(&self, action: &str, file: &Path) -> Result<()> {
        let mut cmd = std::process::Command::new("systemd-tmpfiles");
        cmd.arg(action);
        if self.target.is_user() {
            cmd.arg("--user");
        }
        if let Some(root) = self.target.relocated() {
            cmd.arg(format!("--root={}", root.display()));
        }
        crate::host::command::run(cmd.arg(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_safe_components() {
        for ok in ["greeter", "g", "etcd-1.2_x", "9lives"] {
            assert_eq!(Name::new(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            ".hidden",
            "-x",
            "a/b",
            "..",
            "a b",
            "a\n",
            &"x".repeat(201),
        ] {
            let err = Name::new(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid container name"), "{bad:?}: {err}");
        }
        assert!(Name::new(&"x".repeat(200)).is_ok());
    }

    #[test]
    fn default_name_is_the_repository_name() {
        let n = |img| Name::for_install(None, img).unwrap().to_string();
        assert_eq!(n("registry.example.com:5000/ns/greeter:1.0"), "greeter");
        assert_eq!(n("busybox"), "busybox");
        assert_eq!(n("quay.io/x/etcd@sha256:abcd"), "etcd");
        assert_eq!(
            Name::for_install(Some("mine"), "busybox").unwrap().as_str(),
            "mine"
        );
        assert!(Name::for_install(Some("a/b"), "busybox").is_err());
    }

    #[test]
    fn unit_package_and_slot_names() {
        let n = Name::new("greeter").unwrap();
        assert_eq!(n.unit(), "greeter.service");
        assert_eq!(n.package(), "atomic-container-greeter");
        assert_eq!(n.as_slot_of(), None);
        assert_eq!(
            Name::new("greeter.1").unwrap().as_slot_of(),
            Some(("greeter", Slot::One))
        );
        assert_eq!(
            Name::new("greeter.0").unwrap().as_slot_of(),
            Some(("greeter", Slot::Zero))
        );
        assert_eq!(Name::new("greeter.2").unwrap().as_slot_of(), None);
    }

    #[test]
    fn slots_alternate() {
        assert_eq!(Slot::FIRST, Slot::Zero);
        assert_eq!(Slot::Zero.other(), Slot::One);
        assert_eq!(Slot::One.other(), Slot::Zero);
        for s in [Slot::Zero, Slot::One] {
            assert_eq!(Slot::from_suffix(s.suffix()), Some(s));
        }
        assert_eq!(Slot::from_suffix("2"), None);
    }
}
