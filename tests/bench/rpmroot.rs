//! An `rpm --root` target: an initialised rpm database and a static busybox
//! `/bin/sh` with the applets scriptlets call, so scriptlets really run.

use super::{busybox, check, run};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct RpmRoot {
    dir: tempfile::TempDir,
}

/// Applets that scriptlets may call inside the root.
const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "mkdir", "rm", "ln", "true", "test", "touch", "ls",
];

impl RpmRoot {
    pub fn new() -> RpmRoot {
        let dir = tempfile::Builder::new()
            .prefix("atomic-rpmroot-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(busybox(), bin.join("busybox")).unwrap();
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", bin.join(a)).unwrap();
        }
        check(
            Command::new("rpm")
                .arg("--root")
                .arg(dir.path())
                .arg("--initdb"),
        );
        let root = RpmRoot { dir };
        root.register_shell();
        root
    }

    /// Records in the database that the root has a `/bin/sh`, as a real
    /// system's shell package does, so scriptlet dependencies resolve.
    fn register_shell(&self) {
        let pkg = rpm::PackageBuilder::new(
            "atomic-bench-base",
            "1",
            "MIT",
            "noarch",
            "shell of the rpm root",
        )
        .release("1")
        .provides(rpm::Dependency::any("/bin/sh"))
        .build()
        .unwrap();
        let file = self.file("/atomic-bench-base.rpm");
        pkg.write_file(&file).unwrap();
        self.check(&["-i", file.to_str().unwrap()]);
        std::fs::remove_file(file).unwrap();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the root.
    pub fn file(&self, absolute: &str) -> PathBuf {
        self.dir.path().join(absolute.trim_start_matches('/'))
    }

    /// Runs `rpm --root ROOT ARGS...`.
    pub fn rpm(&self, args: &[&str]) -> Output {
        run(Command::new("rpm")
            .arg("--root")
            .arg(self.dir.path())
            .args(args))
    }

    /// Runs `rpm --root ROOT ARGS...`, which must succeed; returns stdout.
    pub fn check(&self, args: &[&str]) -> String {
        check(
            Command::new("rpm")
                .arg("--root")
                .arg(self.dir.path())
                .args(args),
        )
    }

    /// Whether package `name` is installed in the root.
    pub fn has(&self, name: &str) -> bool {
        self.rpm(&["-q", name]).status.success()
    }
}
