//! The `atomic` binary's command-line behaviour that needs no privileges:
//! usage errors, and the lock every mutating command takes.

mod bench;

use bench::{atomic_bin, run};
use std::fs::File;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let out = run(Command::new(atomic_bin()).args(["pull", "busybox"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--storage <STORAGE>"));
}

#[test]
fn a_second_mutating_command_waits_for_the_lock_then_fails_clearly() {
    let t = tempfile::tempdir().unwrap();
    let lock_path = t.path().join("var/lib/containers/atomic/.lock");
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    // What a first, still-running atomic command holds.
    let held = File::create(&lock_path).unwrap();
    held.lock().unwrap();

    let start = Instant::now();
    let out = run(Command::new(atomic_bin())
        .args(["--root", t.path().to_str().unwrap(), "images", "prune"])
        .env("ATOMIC_LOCK_TIMEOUT", "1.5"));
    let waited = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        waited >= Duration::from_millis(1500),
        "gave up after {waited:?}"
    );
    assert!(
        stderr.contains(&format!(
            "waiting for another atomic command to release {}",
            lock_path.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(&format!(
            "error: another atomic command holds the lock {}; gave up after 1.5 s\n",
            lock_path.display()
        )),
        "{stderr}"
    );

    // Once released, the same command gets past the lock.
    drop(held);
    let out = run(Command::new(atomic_bin())
        .args(["--root", t.path().to_str().unwrap(), "images", "prune"])
        .env("ATOMIC_LOCK_TIMEOUT", "1.5"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("lock"));
}

#[test]
fn listing_does_not_take_the_lock() {
    let t = tempfile::tempdir().unwrap();
    let lock_path = t.path().join("var/lib/containers/atomic/.lock");
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    let held = File::create(&lock_path).unwrap();
    held.lock().unwrap();
    let out = run(Command::new(atomic_bin())
        .args(["--root", t.path().to_str().unwrap(), "containers", "list"])
        .env("ATOMIC_LOCK_TIMEOUT", "0"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("lock"));
}
