//! Whose containers a command works on, picked once from the options and
//! asked everywhere else: the running system's, a relocated root's, or a
//! user's own.

use crate::host::paths::HostPaths;
use crate::host::systemd::Systemd;
use crate::render::rootless::Rootless;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The mode every verb runs in.
pub enum Target {
    /// The running system's containers, under its systemd.
    System { systemd: Systemd },
    /// The containers of the system at `root` (`--root`): files only; the
    /// service manager of the running system is left alone.
    Relocated { root: PathBuf },
    /// A user's own containers (`--user`), under their user manager, run
    /// by a rootless runtime.
    User {
        systemd: Systemd,
        rootless: Rootless,
    },
}

impl Target {
    /// The mode `paths` was laid out for, connected to its service manager.
    pub fn of(paths: &HostPaths) -> Result<Target> {
        Ok(if paths.is_relocated() {
            Target::Relocated {
                root: paths.root().to_path_buf(),
            }
        } else if let Some(user) = paths.user() {
            Target::User {
                systemd: Systemd::connect_user(&user.session_bus())?,
                rootless: Rootless::of(user.clone())?,
            }
        } else {
            Target::System {
                systemd: Systemd::connect()?,
            }
        })
    }

    /// The service manager the containers run under; none under `--root`.
    pub fn systemd(&self) -> Option<&Systemd> {
        match self {
            Target::System { systemd } | Target::User { systemd, .. } => Some(systemd),
            Target::Relocated { .. } => None,
        }
    }

    /// How a user's bundles run (`--user`).
    pub fn rootless(&self) -> Option<&Rootless> {
        match self {
            Target::User { rootless, .. } => Some(rootless),
            _ => None,
        }
    }

    /// Whether these are a user's own containers.
    pub fn is_user(&self) -> bool {
        matches!(self, Target::User { .. })
    }

    /// The relocated root (`--root`), if any.
    pub fn relocated(&self) -> Option<&Path> {
        match self {
            Target::Relocated { root } => Some(root),
            _ => None,
        }
    }
}
