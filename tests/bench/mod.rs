//! The test bench shared by the integration tests: an image builder, a real
//! registry, a real systemd in a sandbox, and an `rpm --root` target.
// Each test target uses its own part of the bench.
#![allow(dead_code)]

pub mod fixtures;
pub mod image;
pub mod registry;
pub mod rpmroot;
pub mod sandbox;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The built `atomic` binary.
pub fn atomic_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_atomic"))
}

/// Runs a command and returns its output, panicking if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed and returns its stdout.
pub fn check(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Skips the calling test when not root: the bench needs mounts, runc and rpm --root.
pub fn require_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: needs root");
    }
    root
}

/// Path of the host's static busybox, which test images are built from.
pub fn busybox() -> &'static Path {
    Path::new("/bin/busybox")
}
