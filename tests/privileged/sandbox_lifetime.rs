//! The systemd sandbox dies with the test process that owns it: after a
//! `kill -9` of the owner no process of the sandbox's PID namespace, no
//! process in its mount namespace and no mount of its directory is left.

use crate::bench;

use bench::require_root;
use bench::sandbox::{self, Sandbox};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const MARK: &str = "ATOMIC_SANDBOX_MARK";

/// Not a test of its own: the process that `kill -9` hits.
#[test]
#[ignore = "run by killing_the_owner_leaves_nothing_behind"]
fn hold_a_sandbox() {
    let Ok(mark) = std::env::var(MARK) else {
        return;
    };
    let s = Sandbox::shared();
    std::fs::write(&mark, s.pid().to_string()).unwrap();
    std::thread::sleep(Duration::from_secs(600));
}

/// The process owning the sandbox; killed when the test ends, however it ends.
struct Owner(std::process::Child);

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ns_inode(pid: u32, ns: &str) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/{ns}"))
        .unwrap()
        .ino()
}

/// Processes whose namespace `ns` has inode `ino`.
fn members(ns: &str, ino: u64) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.parse::<u32>().ok()?;
            let m = std::fs::metadata(format!("/proc/{name}/ns/{ns}")).ok()?;
            (m.ino() == ino).then_some(name)
        })
        .collect()
}

#[test]
fn killing_the_owner_leaves_nothing_behind() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let mark = t.path().join("pid");
    let mut owner = Owner(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "sandbox_lifetime::hold_a_sandbox",
                "--nocapture",
            ])
            .env(MARK, &mark)
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    let systemd: u32 = loop {
        if let Some(pid) = std::fs::read_to_string(&mark)
            .ok()
            .and_then(|s| s.parse().ok())
        {
            break pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the sandbox did not boot"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let pid_ns = ns_inode(systemd, "pid");
    let mnt_ns = ns_inode(systemd, "mnt");
    assert!(
        members("pid", pid_ns).len() >= 2,
        "systemd and its services run"
    );
    let base = sandbox::base_of(owner.0.id(), "sandbox_lifetime");
    assert!(base.exists());

    owner.0.kill().unwrap();
    owner.0.wait().unwrap();

    let start = Instant::now();
    loop {
        let left = [members("pid", pid_ns), members("mnt", mnt_ns)].concat();
        if left.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still alive: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(base.to_str().unwrap()),
        "a sandbox mount leaked:\n{mounts}"
    );

    sandbox::remove_stale();
    assert!(
        !Path::new(&base).exists(),
        "the next boot removes the dead sandbox's directory"
    );
}
