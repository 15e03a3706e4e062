//! From a checked-out image to what a deployment is: the template values,
//! the OCI bundle's `config.json`, the systemd unit, the tmpfiles.d file and
//! the host files of `/exports`. Everything is read through a handle on the
//! image's rootfs, so the image's symlinks resolve inside the image.

pub mod bundle;
pub mod config;
pub mod exports;
pub mod health;
pub mod hostfs;
pub mod rootless;
pub mod summary;
pub mod template;
pub mod tmpfiles;
pub mod unit;
