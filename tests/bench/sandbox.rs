//! A real systemd booted for tests without touching the host: new PID and
//! mount namespaces, an overlay of the host root whose writes land in a
//! private tmpfs, then `pivot_root` and `exec systemd`.
//!
//! The sandbox lives exactly as long as the test process: `unshare` runs
//! with a parent-death signal bound to a thread that never returns, and
//! `--kill-child` takes systemd (the namespace's PID 1, and with it every
//! process inside) down with it — on a normal exit, a panic or a `kill -9`.
//! Its mounts exist only in its own mount namespace, so they vanish with it.
//! A directory `/var/tmp/atomic-sandbox-<pid>/share` is bound at the same
//! path inside, for files both sides see; stale ones are removed at boot.
//! The tool under test is linked (or copied) into it as `bin/atomic`: the
//! checkout itself is never bound in, so wherever it lives (`/tmp`, which
//! the sandbox mounts afresh; root's 0700 home; a path with a space; a path
//! the image-based host's OS tree holds a link at) the sandbox sees the
//! binary at a path of its own, which every user inside can execute.

use super::{atomic_bin, check, run};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const BASE_PREFIX: &str = "/var/tmp/atomic-sandbox-";

/// Units that touch kernel-global state or only add noise in a sandbox.
const MASKED: &[&str] = &[
    "systemd-sysctl.service",
    "systemd-binfmt.service",
    "systemd-modules-load.service",
    "kmod-static-nodes.service",
    "systemd-tmpfiles-setup-dev.service",
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
    "systemd-timesyncd.service",
    "systemd-pstore.service",
    "systemd-random-seed.service",
    "systemd-firstboot.service",
    "systemd-hwdb-update.service",
    "systemd-journal-catalog-update.service",
    "timers.target",
];

const BOOT: &str = r#"set -eu
S=$1 SHARE=$2 MASKED=$3
mount -t tmpfs tmpfs "$S"
mkdir -p "$S/upper" "$S/work" "$S/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$S/upper,workdir=$S/work" "$S/root"
for d in dev sys; do mount --rbind "/$d" "$S/root/$d"; done
mount -t proc proc "$S/root/proc"
mount -t tmpfs tmpfs "$S/root/tmp"
mount --bind "$SHARE" "$S/root$SHARE"
mkdir -p "$S/root/etc/systemd/system"
for u in $MASKED; do ln -sf /dev/null "$S/root/etc/systemd/system/$u"; done
cd "$S/root"
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
if [ "$(stat -f -c %T /)" != overlayfs ]; then echo "sandbox root is not the overlay" >&2; exit 1; fi
exec env container=atomic-test /lib/systemd/systemd --system --unit=basic.target
"#;

/// Boots a sandbox that looks like an image-based host: `pivot_root` into
/// an OSTree deployment (`$SYSROOT/$DEPLOY`), with `/sysroot` the sysroot,
/// read-only; `/var` the stateroot's var, its own mount; `/usr` read-only
/// (the host's over the deployment's small one, so that systemd, runc and
/// the rest are there: an overlay whose writes, should anything remount it
/// writable, land in a tmpfs and never in the host's `/usr`; the deployment
/// seen through `/sysroot` has it too, as a live apply expects); `/etc`
/// writable (the deployment's over the host's, an overlay too); `/boot`
/// the sysroot's, with its boot entries; `/run/ostree-booted`.
const BOOT_OSTREE: &str = r#"set -eu
S=$1 SHARE=$2 MASKED=$3 SYSROOT=$4 DEPLOY=$5
D=$SYSROOT/$DEPLOY
mount -t tmpfs tmpfs "$S"
mkdir -p "$S/etc" "$S/etc.work" "$S/usr" "$S/usr.work"
mount --bind "$D" "$D"
mount -t overlay overlay -o "ro,lowerdir=/usr:$D/usr,upperdir=$S/usr,workdir=$S/usr.work" "$D/usr"
mount --rbind "$SYSROOT" "$D/sysroot"
mount -o remount,bind,ro "$D/sysroot"
mount --bind "$SYSROOT/boot" "$D/boot"
mount --bind "$SYSROOT/ostree/deploy/os/var" "$D/var"
mount -t overlay overlay -o "lowerdir=$D/etc:/etc,upperdir=$S/etc,workdir=$S/etc.work" "$D/etc"
for d in dev sys; do mount --rbind "/$d" "$D/$d"; done
mount -t proc proc "$D/proc"
mount -t tmpfs tmpfs "$D/tmp"
mount -t tmpfs tmpfs "$D/run"
touch "$D/run/ostree-booted"
mkdir -p "$D$SHARE"
mount --bind "$SHARE" "$D$SHARE"
mkdir -p "$D/etc/systemd/system"
for u in $MASKED; do ln -sf /dev/null "$D/etc/systemd/system/$u"; done
cd "$D"
mkdir -p tmp/.oldroot
pivot_root . tmp/.oldroot
umount -l /tmp/.oldroot
rmdir /tmp/.oldroot
exec env container=atomic-test /lib/systemd/systemd --system --unit=basic.target
"#;

/// Makes an OSTree sysroot at `sysroot` with libostree alone (`ostree
/// admin init-fs`, `os-init`, `deploy`) whose one deployment, of stateroot
/// `os`, is a small OS tree: the usual top-level links into `/usr`, the
/// mount points the sandbox needs, a dummy kernel, a shell (busybox) and
/// an rpm database in `/usr/share/rpm` whose one package provides
/// `/bin/sh`, as an image-based host's OS packages do (rpm-ostree layers
/// packages on it). Returns the deployment's path relative to `sysroot`.
fn make_sysroot(sysroot: &Path) -> PathBuf {
    let tree = sysroot.with_extension("tree");
    for d in [&tree, sysroot] {
        let _ = std::fs::remove_dir_all(d);
    }
    std::fs::create_dir_all(sysroot).unwrap();
    for d in [
        "usr/bin",
        "usr/sbin",
        "usr/lib/modules/6.0.0-atomic-test",
        "usr/lib64",
        "usr/etc",
        "usr/share/empty",
        "sysroot",
        "var",
        "dev",
        "proc",
        "sys",
        "run",
        "tmp",
        "boot",
    ] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    std::fs::write(
        tree.join("usr/lib/modules/6.0.0-atomic-test/vmlinuz"),
        "not a kernel",
    )
    .unwrap();
    // What rpm-ostree runs in a tree it builds: scriptlets, `true`, and
    // the tree's own rpmdb to write its database.
    std::fs::copy("/bin/busybox", tree.join("usr/bin/busybox"))
        .expect("busybox-static is installed");
    for applet in ["sh", "true"] {
        std::os::unix::fs::symlink("busybox", tree.join("usr/bin").join(applet)).unwrap();
    }
    os_program(&tree, Path::new("/usr/bin/rpmdb"));
    check(
        Command::new("cp")
            .args(["-a", "/usr/lib/rpm"])
            .arg(tree.join("usr/lib")),
    );
    os_rpmdb(&tree);
    // Where an image-based OS's rpm finds its database, as rpm-ostree
    // writes it: rpm on the host asks this, not a path of its own.
    std::fs::create_dir_all(tree.join("usr/lib/rpm/macros.d")).unwrap();
    std::fs::write(
        tree.join("usr/lib/rpm/macros.d/macros.atomic-test-os"),
        "%_dbpath /usr/share/rpm\n",
    )
    .unwrap();
    os_selinux_policy(&tree);
    std::fs::write(
        tree.join("usr/etc/os-release"),
        "NAME=\"atomic test host\"\nID=atomic-test\nVERSION_ID=1\n",
    )
    .unwrap();
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("ostree", "sysroot/ostree"),
        ("root", "var/roothome"),
        ("usr/local", "../var/usrlocal"),
    ] {
        std::os::unix::fs::symlink(target, tree.join(link)).unwrap();
    }
    let sr = format!("--sysroot={}", sysroot.display());
    let repo = format!("--repo={}", sysroot.join("ostree/repo").display());
    check(
        Command::new("ostree")
            .args(["admin", "init-fs"])
            .arg(sysroot),
    );
    check(Command::new("ostree").args(["admin", "os-init", &sr, "os"]));
    check(Command::new("ostree").args([
        &repo,
        "commit",
        "-b",
        "os/base",
        "--no-xattrs",
        // Labelled by its own policy, as rpm-ostree labels what it builds on it.
        &format!("--selinux-policy={}", tree.display()),
        &format!("--tree=dir={}", tree.display()),
    ]));
    // Mutable, so the sandbox can be removed afterwards like any directory.
    check(
        Command::new("ostree")
            .env("OSTREE_SYSROOT_DEBUG", "mutable-deployments")
            .args(["admin", "deploy", &sr, "--os=os", "os/base"]),
    );
    let _ = std::fs::remove_dir_all(&tree);
    // What the host's tmpfiles.d would make in /var at first boot.
    std::fs::create_dir_all(sysroot.join("ostree/deploy/os/var/roothome")).unwrap();
    let deploys = sysroot.join("ostree/deploy/os/deploy");
    let dep = std::fs::read_dir(&deploys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("ostree admin deploy made no deployment");
    dep.strip_prefix(sysroot).unwrap().to_path_buf()
}

/// An SELinux policy store, as the OS of an image-based host ships one
/// (rpm-ostree labels what it layers by the tree's policy, and names the
/// policy by the checksum of its binary file): a file-contexts map that
/// labels everything `usr_t`, and a binary policy that no kernel loads
/// (this one does not enforce SELinux).
fn os_selinux_policy(tree: &Path) {
    let store = tree.join("usr/etc/selinux/atomictest");
    for (path, text) in [
        (
            tree.join("usr/etc/selinux/config"),
            "SELINUX=permissive\nSELINUXTYPE=atomictest\n",
        ),
        (
            store.join("policy/policy.33"),
            "the atomic test host's policy\n",
        ),
        (
            store.join("contexts/files/file_contexts"),
            "/.*\tsystem_u:object_r:usr_t:s0\n",
        ),
    ] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Copies the host's `program` into the OS tree, with the shared
/// libraries it loads (as `ldd` lists them), under `/usr`.
fn os_program(tree: &Path, program: &Path) {
    let in_usr = |p: &Path| {
        let rel = p.strip_prefix("/").unwrap();
        let rel = rel.strip_prefix("usr").unwrap_or(rel);
        tree.join("usr").join(rel)
    };
    let libs = check(Command::new("ldd").arg(program));
    let mut files = vec![program.to_path_buf()];
    files.extend(libs.lines().filter_map(|l| {
        let path = l.split("=>").last()?.split_whitespace().next()?;
        path.starts_with('/').then(|| PathBuf::from(path))
    }));
    for f in files {
        let dest = in_usr(&f);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dest).unwrap_or_else(|e| panic!("copying {}: {e}", f.display()));
    }
}

/// The OS tree's rpm database: one package providing `/bin/sh`.
fn os_rpmdb(tree: &Path) {
    let pkg =
        rpm::PackageBuilder::new("atomic-test-os", "1", "MIT", "noarch", "the test host's OS")
            .release("1")
            .provides(rpm::Dependency::any("/bin/sh"))
            .build()
            .unwrap();
    let file = tree.with_extension("os.rpm");
    pkg.write_file(&file).unwrap();
    let root = format!("--root={}", tree.display());
    check(Command::new("rpm").args([&root, "--dbpath=/usr/share/rpm", "--initdb"]));
    check(
        Command::new("rpm")
            .args([
                &root,
                "--dbpath=/usr/share/rpm",
                "--justdb",
                "--nodeps",
                "--noscripts",
                "-i",
            ])
            .arg(&file),
    );
    std::fs::remove_file(file).unwrap();
}

pub struct Sandbox {
    /// Host PID of the sandbox's systemd.
    pid: u32,
    /// Host PID of `unshare`, whose death takes the sandbox down.
    unshare: u32,
    base: PathBuf,
}

/// The sandbox of each test file, by its name: the files of a test target
/// run at the same time, and each expects a host of its own, as it had when
/// it was a target of its own.
static SHARED: Mutex<BTreeMap<String, &'static Sandbox>> = Mutex::new(BTreeMap::new());
static OSTREE: OnceLock<Sandbox> = OnceLock::new();
static OSTREE_OWN_PACKAGES: OnceLock<Sandbox> = OnceLock::new();

extern "C" fn shut_down_shared() {
    let shared: Vec<&'static Sandbox> = match SHARED.try_lock() {
        Ok(m) => m.values().copied().collect(),
        Err(_) => Vec::new(),
    };
    for s in shared.into_iter().chain(
        [OSTREE.get(), OSTREE_OWN_PACKAGES.get()]
            .into_iter()
            .flatten(),
    ) {
        s.shut_down();
    }
}

impl Sandbox {
    /// The sandbox of the calling test file, booted on first use.
    #[track_caller]
    pub fn shared() -> &'static Sandbox {
        let file = std::panic::Location::caller().file();
        let key = Path::new(file)
            .file_stem()
            .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned());
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = shared.get(&key) {
            return s;
        }
        let s: &'static Sandbox = Box::leak(Box::new(Sandbox::boot(&format!(".{key}"), BOOT, &[])));
        if shared.is_empty() {
            // SAFETY: registering a plain extern "C" function.
            unsafe { libc::atexit(shut_down_shared) };
        }
        shared.insert(key, s);
        s
    }

    /// The image-based host of this test process (see [`BOOT_OSTREE`]),
    /// booted on first use.
    pub fn ostree_host() -> &'static Sandbox {
        Self::ostree_host_in(&OSTREE, ".ostree")
    }

    /// A second image-based host of this test process, for a test whose
    /// package manager must be the only one on its host.
    pub fn ostree_host_of_its_own() -> &'static Sandbox {
        Self::ostree_host_in(&OSTREE_OWN_PACKAGES, ".ostree-own")
    }

    fn ostree_host_in(cell: &'static OnceLock<Sandbox>, suffix: &str) -> &'static Sandbox {
        cell.get_or_init(|| {
            let base = PathBuf::from(format!("{BASE_PREFIX}{}{suffix}", std::process::id()));
            let sysroot = base.join("sysroot");
            std::fs::create_dir_all(&sysroot).unwrap();
            let deploy = make_sysroot(&sysroot);
            let args = [sysroot.into_os_string(), deploy.into_os_string()];
            let s = Sandbox::boot(suffix, BOOT_OSTREE, &args);
            // SAFETY: registering a plain extern "C" function.
            unsafe { libc::atexit(shut_down_shared) };
            s
        })
    }

    /// Boots `script` in new PID and mount namespaces, in the directory
    /// `/var/tmp/atomic-sandbox-<pid><suffix>`, with `extra` arguments
    /// after the common ones.
    fn boot(suffix: &str, script: &str, extra: &[std::ffi::OsString]) -> Sandbox {
        remove_stale();
        let base = PathBuf::from(format!("{BASE_PREFIX}{}{suffix}", std::process::id()));
        let share = base.join("share");
        std::fs::create_dir_all(base.join("mnt")).unwrap();
        std::fs::create_dir_all(share.join("bin")).unwrap();
        let bin = share.join("bin/atomic");
        if std::fs::hard_link(atomic_bin(), &bin).is_err() {
            std::fs::copy(atomic_bin(), &bin).unwrap_or_else(|e| {
                panic!(
                    "cannot copy {} to {}: {e}",
                    atomic_bin().display(),
                    bin.display()
                )
            });
        }
        let console = std::fs::File::create(base.join("console.log")).unwrap();
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--pid",
            "--fork",
            "--mount",
            "--propagation",
            "private",
            "--kill-child",
        ])
        .args(["bash", "-c", script, "boot"])
        .arg(base.join("mnt"))
        .arg(&share)
        .arg(MASKED.join(" "))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(console.try_clone().unwrap())
        .stderr(console);
        // SAFETY: prctl is async-signal-safe; it runs in the child before exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        // The parent-death signal follows the spawning thread, so spawn from
        // one that lives as long as the sandbox.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                tx.send(Ok(child.id())).unwrap();
                let _ = child.wait();
            }
            Err(e) => tx.send(Err(e)).unwrap(),
        });
        let unshare = rx
            .recv()
            .unwrap()
            .expect("unshare (util-linux) must be installed");
        let mut s = Sandbox {
            pid: 0,
            unshare,
            base,
        };
        s.pid = s.wait_for_systemd();
        s.wait_running();
        s
    }

    /// Fails the boot: the console log is kept outside the sandbox's
    /// directory (which goes with the process), named, and its text shown.
    fn failed(&self, what: &str) -> ! {
        let log = self.base.join("console.log");
        let kept = PathBuf::from(format!(
            "/var/tmp/atomic-test-console-{}.log",
            std::process::id()
        ));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let where_ = match std::fs::copy(&log, &kept) {
            Ok(_) => format!("its console log is {}", kept.display()),
            Err(e) => format!("its console log {} could not be kept: {e}", log.display()),
        };
        panic!(
            "sandbox in {}: {what}; {where_}:\n{text}",
            self.base.display()
        );
    }

    fn wait_for_systemd(&self) -> u32 {
        let start = Instant::now();
        loop {
            let children =
                std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.unshare))
                    .unwrap_or_default();
            if let Some(pid) = children
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
            {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "systemd" {
                    return pid;
                }
            }
            if !Path::new(&format!("/proc/{}", self.unshare)).exists() {
                self.failed("its boot script exited before systemd started");
            }
            if start.elapsed() > Duration::from_secs(30) {
                self.failed("systemd did not start within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_running(&self) {
        let start = Instant::now();
        let mut state = String::new();
        while start.elapsed() < Duration::from_secs(90) {
            let out = self.exec(&["systemctl", "is-system-running"]);
            state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            match state.as_str() {
                "running" => return,
                "degraded" => {
                    let failed = self.exec(&["systemctl", "--failed", "--no-legend"]);
                    eprintln!(
                        "sandbox degraded: {}",
                        String::from_utf8_lossy(&failed.stdout)
                    );
                    return;
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        self.failed(&format!("systemd stuck in {state:?} for 90 s"));
    }

    /// Host PID of the sandbox's systemd.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A directory with the same path on the host and inside the sandbox.
    pub fn share(&self) -> PathBuf {
        self.base.join("share")
    }

    /// A fresh directory under [`Sandbox::share`].
    pub fn tempdir(&self) -> tempfile::TempDir {
        tempfile::tempdir_in(self.share()).unwrap()
    }

    /// The host path of a path inside the sandbox.
    pub fn path(&self, inside: &str) -> PathBuf {
        Path::new(&format!("/proc/{}/root", self.pid)).join(inside.trim_start_matches('/'))
    }

    /// A command that runs inside the sandbox (its PID and mount namespaces).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.pid.to_string(), "-m", "-p", "--"])
            .arg(program);
        c
    }

    /// Runs `args` inside the sandbox.
    pub fn exec(&self, args: &[&str]) -> Output {
        run(self.command(args[0]).args(&args[1..]))
    }

    /// Runs `args` inside the sandbox; it must succeed. Returns stdout.
    pub fn check(&self, args: &[&str]) -> String {
        check(self.command(args[0]).args(&args[1..]))
    }

    /// The path of the tool under test inside the sandbox (and on the
    /// host): its copy in the share, executable by every user.
    pub fn atomic_bin(&self) -> PathBuf {
        self.share().join("bin/atomic")
    }

    /// Records in the sandbox's rpm database that the system has a
    /// /bin/sh, as a Fedora host's bash package does (RPM mode needs it).
    pub fn register_shell(&self) {
        if self
            .exec(&["rpm", "-q", "atomic-sandbox-base"])
            .status
            .success()
        {
            return;
        }
        let pkg = rpm::PackageBuilder::new(
            "atomic-sandbox-base",
            "1",
            "MIT",
            "noarch",
            "shell of the sandbox",
        )
        .release("1")
        .provides(rpm::Dependency::any("/bin/sh"))
        .build()
        .unwrap();
        let dir = self.tempdir();
        let file = dir.path().join("base.rpm");
        pkg.write_file(&file).unwrap();
        self.check(&["rpm", "-i", file.to_str().unwrap()]);
    }

    /// The `atomic` binary, run inside the sandbox.
    pub fn atomic(&self) -> Command {
        self.command(self.atomic_bin())
    }

    /// The last lines of `unit`'s journal inside the sandbox, for messages.
    pub fn journal(&self, unit: &str) -> String {
        let out = self.exec(&["journalctl", "--no-pager", "-n", "20", "-u", unit]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `systemctl is-active UNIT` inside the sandbox.
    pub fn unit_state(&self, unit: &str) -> String {
        let out = self.exec(&["systemctl", "is-active", unit]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Kills the sandbox (every process in it) and removes its directory.
    pub fn shut_down(&self) {
        // SAFETY: plain kill(2) calls.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGKILL);
            libc::kill(self.unshare as i32, libc::SIGKILL);
        }
        let start = Instant::now();
        while Path::new(&format!("/proc/{}", self.pid)).exists()
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Removes the directories of sandboxes whose test process is gone.
pub fn remove_stale() {
    let Ok(entries) = std::fs::read_dir("/var/tmp") else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("atomic-sandbox-") else {
            continue;
        };
        // `<pid>.<test file>` or `<pid>.ostree`.
        let pid = rest.split('.').next().unwrap_or(rest);
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The directory the shared sandbox of test file `file` (its name without
/// `.rs`) uses in process `pid`.
pub fn base_of(pid: u32, file: &str) -> PathBuf {
    PathBuf::from(format!("{BASE_PREFIX}{pid}.{file}"))
}
