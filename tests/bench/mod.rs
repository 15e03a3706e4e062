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

/// Fails the calling test when not run as root: the bench needs mounts,
/// runc, systemd and rpm --root, and a test that did not run must not pass.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "this test needs root (it mounts, runs runc and systemd, installs with rpm --root): \
         run `cargo test` as root; running as uid {euid}"
    );
}

/// Path of the host's static busybox, which test images are built from.
pub fn busybox() -> &'static Path {
    Path::new("/bin/busybox")
}

/// Connects to a greeter on `port` (retrying while it starts) and returns
/// its line.
pub fn greet(port: u16) -> String {
    use std::io::{BufRead, BufReader};
    let start = std::time::Instant::now();
    loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut line = String::new();
            if BufReader::new(s).read_line(&mut line).is_ok() && !line.is_empty() {
                return line.trim_end().to_string();
            }
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "nothing answers on port {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Whether nothing listens on `port`.
pub fn closed(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}
