//! `atomic`: run services as system containers — OCI images stored in OSTree,
//! checked out as runtime bundles, run by runc under systemd, optionally
//! shipped as generated RPM packages.

pub mod bundle;
pub mod cli;
pub mod command;
pub mod containers;
pub mod deploy;
pub mod exports;
pub mod hashing;
pub mod image;
pub mod images;
pub mod journal;
pub mod lock;
pub mod package;
pub mod paths;
pub mod pull;
pub mod refescape;
pub mod store;
pub mod systemd;
pub mod template;
