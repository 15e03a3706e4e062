//! `atomic`: run services as system containers — OCI images stored in OSTree,
//! checked out as runtime bundles, run by runc under systemd, optionally
//! shipped as generated RPM packages.
//!
//! Dependencies point one way: `cli` -> `container` -> { `rpm`, `render`,
//! `image` } -> `host`, with `rpm` -> `render` -> `image`; `report` (the
//! event channel) is used by all and uses none.

pub mod cli;
pub mod container;
pub mod host;
pub mod image;
pub mod render;
pub mod report;
pub mod rpm;

#[cfg(any(test, feature = "internal-testing-api"))]
pub mod fixture;
