//! `atomic`: run services as system containers — OCI images stored in OSTree,
//! checked out as runtime bundles, run by runc under systemd, optionally
//! shipped as generated RPM packages.

pub mod cli;
pub mod command;
pub mod image;
pub mod images;
pub mod lock;
pub mod paths;
pub mod pull;
pub mod refescape;
pub mod store;
pub mod template;
