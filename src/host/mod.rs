//! The only code that touches the host: its paths and directory handles,
//! file helpers (atomic write, link flip), systemd over D-Bus, the package
//! managers, external programs and the lock. Nothing here imports the rest
//! of the crate.

pub mod clock;
pub mod command;
pub mod failpoint;
pub mod fs;
pub mod hashing;
pub mod lock;
pub mod packages;
pub mod paths;
pub mod systemd;
pub mod user;
