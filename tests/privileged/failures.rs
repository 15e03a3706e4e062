//! Bad input and crashes, on a relocated root (`--root`, so no service
//! manager): each failure is a clear error that leaves the host exactly as
//! it was, and a crash at any step is undone by the next command, which
//! then completes.

use crate::bench;

use bench::image::Image;
use bench::rpmroot::RpmRoot;
use bench::{atomic_bin, fixtures, require_root, run};
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Host {
    /// Dropped first: unmounted before the root is removed.
    own_mounts: Vec<Mounted>,
    root: Root,
    images: tempfile::TempDir,
}

/// The `--root` target: a plain directory, or one with an rpm database.
enum Root {
    Dir(tempfile::TempDir),
    Rpm(RpmRoot),
}

impl Root {
    fn path(&self) -> &Path {
        match self {
            Root::Dir(d) => d.path(),
            Root::Rpm(r) => r.path(),
        }
    }
}

fn tmp(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/var/tmp")
        .unwrap()
}

impl Host {
    /// A root with the directories every system has.
    fn new() -> Host {
        Host::on(Root::Dir(tmp("atomic-root-")))
    }
    /// Such a root whose `/etc` is a filesystem of its own (a tmpfs), as
    /// `/etc` and `/var` are on an image-based host.
    fn with_etc_mounted() -> Host {
        let root = tmp("atomic-root-");
        let etc_dir = root.path().join("etc");
        std::fs::create_dir_all(&etc_dir).unwrap();
        let etc = Mounted::new(&["-t", "tmpfs", "tmpfs"], &etc_dir);
        let mut h = Host::on(Root::Dir(root));
        h.own_mounts.push(etc);
        h
    }
    /// Such a root whose software rpm manages, for RPM mode, with the
    /// directories its systemd and its rpm own.
    fn with_rpm() -> Host {
        let h = Host::on(Root::Rpm(RpmRoot::new()));
        for d in ["usr/lib/systemd/system", "usr/lib/tmpfiles.d", "var/tmp"] {
            std::fs::create_dir_all(h.path(d)).unwrap();
        }
        h
    }
    fn on(root: Root) -> Host {
        let h = Host {
            own_mounts: Vec::new(),
            root,
            images: tmp("atomic-images-"),
        };
        for d in ["etc/systemd/system", "etc/tmpfiles.d", "run"] {
            std::fs::create_dir_all(h.path(d)).unwrap();
        }
        h
    }
    /// Writes `img` as an OCI layout and pulls it; returns the image string.
    fn image(&self, name: &str, img: Image) -> String {
        let layout = self.images.path().join(name);
        img.write_oci(&layout, "1.0");
        let s = format!("oci:{}:1.0", layout.display());
        self.ok(&["pull", "--storage", "ostree", "-q", &s], &[]);
        s
    }
    fn atomic(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(atomic_bin());
        c.arg("--root").arg(self.root.path()).args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        run(&mut c)
    }
    fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        bench::succeeded(args, self.atomic(args, env))
    }
    /// Runs a command that must fail; returns stderr.
    fn fails_with(&self, args: &[&str]) -> String {
        let out = self.atomic(args, &[]);
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8(out.stderr).unwrap()
    }
    /// Runs a command that must fail and leave the root as it was; returns stderr.
    fn refused(&self, args: &[&str]) -> String {
        let before = self.snapshot();
        let out = self.atomic(args, &[]);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(self.snapshot(), before, "{args:?} changed the host");
        String::from_utf8(out.stderr).unwrap()
    }
    /// The installed NAME-VERSION-RELEASE of `package` in the root, if any.
    fn rpm_q(&self, package: &str) -> Option<String> {
        let Root::Rpm(r) = &self.root else {
            panic!("not an rpm root")
        };
        let out = r.rpm(&["-q", package]);
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
    }
    /// Erasing a package leaves the parent directories rpm had to create
    /// for it, owned by no package: removes them, failing unless empty.
    fn remove_rpm_parents(&self) {
        for d in ["/usr/lib/containers/atomic", "/usr/lib/containers"] {
            match std::fs::remove_dir(self.path(d)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{d}: {e}"),
                _ => {}
            }
        }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p.trim_start_matches('/'))
    }
    /// Every path under the root (the repository and lock file aside) with
    /// its content or link target.
    fn snapshot(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        walk(self.root.path(), self.root.path(), &mut out);
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        // The repository, the lock, what tmpfiles `d` lines create under
        // /run (a tmpfs on a real host, which `--remove` leaves by design),
        // and the rpm database (Debian's rpm keeps it in /root/.rpmdb; its files change with every transaction;
        // tests ask rpm what is installed instead).
        if rel.ends_with(".storage")
            || rel.ends_with(".lock")
            || rel.contains("/rootfs/")
            || rel.starts_with("run/")
            || rel.starts_with("var/lib/rpm")
            || rel.starts_with("usr/lib/sysimage/rpm")
            || rel.starts_with("root/.rpmdb")
        {
            continue;
        }
        let t = e.file_type().unwrap();
        let v = if t.is_symlink() {
            format!("-> {}", std::fs::read_link(&p).unwrap().display())
        } else if t.is_dir() {
            walk(root, &p, out);
            "dir".into()
        } else {
            use std::os::unix::fs::PermissionsExt;
            let mode = e.metadata().unwrap().permissions().mode();
            format!(
                "{mode:o} {}",
                bench::image::sha256_hex(&std::fs::read(&p).unwrap())
            )
        };
        out.insert(rel, v);
    }
}

const INSTALL: &[&str] = &["install", "--system"];

fn install<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    INSTALL
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect()
}

#[test]
fn relocated_install_writes_under_the_root_only() {
    require_root();
    let h = Host::new();
    let img = h.image("greeter", fixtures::greeter());
    let out = h.ok(&install(&["--name", "g", &img]), &[]);
    assert!(out.contains("leaving the service manager alone"), "{out}");
    let unit = std::fs::read_to_string(h.path("/etc/systemd/system/g.service")).unwrap();
    assert!(
        unit.contains("WorkingDirectory=/var/lib/containers/atomic/g.0\n"),
        "paths as the target sees them: {unit}"
    );
    assert!(
        h.path("/run/greeter-g").is_dir(),
        "tmpfiles created under the root"
    );
    assert_eq!(
        std::fs::read_link(h.path("/var/lib/containers/atomic/g")).unwrap(),
        Path::new("g.0")
    );
    let config =
        std::fs::read_to_string(h.path("/var/lib/containers/atomic/g.0/config.json")).unwrap();
    assert!(config.contains("\"NAME=g\""), "{config}");
    assert!(!Path::new("/etc/systemd/system/g.service").exists());
    let list = h.ok(&["containers", "list", "-q"], &[]);
    assert_eq!(list, "g\n");
    h.ok(&["uninstall", "g"], &[]);
    assert!(!h.path("/etc/systemd/system/g.service").exists());
    assert!(!h.path("/var/lib/containers/atomic/g.0").exists());
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    require_root();
    let h = Host::new();
    let greeter = h.image("greeter", fixtures::greeter());
    let needs = h.image("needs", fixtures::greeter_needs_var());
    let writable = fixtures::greeter_text("exports/config.json.template")
        .replace("\"readonly\": true", "\"readonly\": false");
    let writable = h.image("writable", fixtures::greeter_with_config(&writable));
    let escape = h.image("escape", fixtures::greeter_hostfs_renamed("../../evil"));
    let hostfs = h.image("hostfs", fixtures::greeter_hostfs());
    h.ok(&install(&["--name", "g", &greeter]), &[]);

    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            install(&["--name", "n", &needs]),
            "/exports/config.json.template: variable GREETING has no value; set it with --set GREETING=VALUE".into(),
        ),
        (
            install(&["--name", "n", "--set", "RECEIVER=a\nb", &greeter]),
            "the value of RECEIVER would break the JSON string".into(),
        ),
        (
            install(&["--name", "n", "--set", "PIDFILE=/run/x\nExecStartPre=/bin/evil", &greeter]),
            "/exports/service.template: the value of PIDFILE has a newline".into(),
        ),
        (install(&["--name", "../x", &greeter]), "invalid container name \"../x\"".into()),
        (install(&["--name", "a/b", &greeter]), "invalid container name \"a/b\"".into()),
        (install(&["--name", "g", &greeter]), "container g is already installed".into()),
        (install(&["--name", "g.0", &greeter]), "name g.0 is a deployment slot of container g".into()),
        (install(&["--name", "n", &writable]), "config.json: root.readonly must be true".into()),
        (install(&["--name", "n", &escape]), "renameFiles maps instance.conf to \"../../evil\", which leaves the host root".into()),
        (
            install(&["--name", "n", "--runtime", "/nonexistent/runc", &greeter]),
            "runtime /nonexistent/runc does not exist".into(),
        ),
        (install(&["--name", "n", "--set", "NAME=x", &greeter]), "--set NAME=...: NAME is set by the tool".into()),
        (vec!["containers", "rollback", "g"], "container g has no previous deployment to roll back to".into()),
        (vec!["containers", "rollback", "nope"], "container nope is not installed".into()),
    ];
    for (args, message) in &cases {
        let err = h.refused(args);
        assert!(
            err.contains(message.as_str()),
            "{args:?}: expected {message:?} in {err:?}"
        );
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }

    // Files on the host that are not ours.
    std::fs::create_dir_all(h.path("/etc/systemd/system")).unwrap();
    std::fs::write(h.path("/etc/systemd/system/mine.service"), "[Service]\n").unwrap();
    let err = h.refused(&install(&["--name", "mine", &greeter]));
    assert!(
        err.contains("mine.service already exists and was not written by atomic for mine"),
        "{err}"
    );
    std::fs::create_dir_all(h.path("/etc/tmpfiles.d")).unwrap();
    std::fs::write(h.path("/etc/tmpfiles.d/tf.conf"), "").unwrap();
    let err = h.refused(&install(&["--name", "tf", &greeter]));
    assert!(
        err.contains("tf.conf already exists and was not written by atomic for tf"),
        "{err}"
    );
    std::fs::create_dir_all(h.path("/etc/greeter")).unwrap();
    std::fs::write(h.path("/etc/greeter/plain.conf"), "the admin's\n").unwrap();
    let err = h.refused(&install(&["--name", "hf", &hostfs]));
    assert!(err.contains("host file /etc/greeter/plain.conf exists and was not installed by hf; not overwriting it"), "{err}");

    // Another container's host file is not ours either.
    std::fs::remove_file(h.path("/etc/greeter/plain.conf")).unwrap();
    h.ok(&install(&["--name", "hf", &hostfs]), &[]);
    let err = h.refused(&install(&["--name", "hf2", &hostfs]));
    assert!(
        err.contains("host file /etc/greeter/greeting.conf exists and was not installed by hf2"),
        "{err}"
    );
}

#[test]
fn relocated_install_resolves_the_targets_own_symlinks_inside_it() {
    require_root();
    let h = Host::new();
    // A target whose directories are absolute links, as Debian's /var/run -> /run.
    std::fs::remove_dir(h.path("/etc/tmpfiles.d")).unwrap();
    std::fs::create_dir_all(h.path("/usr/lib/tmpfiles.d")).unwrap();
    std::os::unix::fs::symlink("/usr/lib/tmpfiles.d", h.path("/etc/tmpfiles.d")).unwrap();
    std::fs::create_dir_all(h.path("/srv/greeter-conf")).unwrap();
    std::os::unix::fs::symlink("/srv/greeter-conf", h.path("/etc/greeter")).unwrap();
    let outside = [
        Path::new("/usr/lib/tmpfiles.d/rl.conf"),
        Path::new("/srv/greeter-conf"),
    ];
    for p in outside {
        assert!(
            !p.exists(),
            "{} exists on the build host already",
            p.display()
        );
    }
    let img = h.image("hostfs", fixtures::greeter_hostfs());
    h.ok(&install(&["--name", "rl", &img]), &[]);
    for p in outside {
        assert!(!p.exists(), "{} written on the build host", p.display());
    }
    assert!(h.path("/usr/lib/tmpfiles.d/rl.conf").is_file());
    assert_eq!(
        std::fs::read_to_string(h.path("/srv/greeter-conf/greeting.conf")).unwrap(),
        "greeting for world on port 8081\n"
    );
    h.ok(&["uninstall", "rl"], &[]);
    assert!(!h.path("/usr/lib/tmpfiles.d/rl.conf").exists());
    assert!(!h.path("/srv/greeter-conf/greeting.conf").exists());
    assert!(
        h.path("/srv/greeter-conf").is_dir(),
        "the target's own directory stays"
    );
}

/// The steps of install and update where a failpoint sits.
const INSTALL_STEPS: &[&str] = &[
    "checkout",
    "render",
    "hostfiles",
    "unit",
    "symlink",
    "flipped",
];
const UPDATE_STEPS: &[&str] = &[
    "checkout",
    "render",
    "prepare",
    "hostfiles",
    "set-aside",
    "unit",
    "symlink",
    "flipped",
    "health",
];

#[test]
fn install_failures_and_crashes_at_every_step_converge() {
    require_root();
    for step in INSTALL_STEPS {
        let h = Host::new();
        let img = h.image("hostfs", fixtures::greeter_hostfs());
        let clean = h.snapshot();
        let args = install(&["--name", "c", &img]);

        let out = h.atomic(&args, &[("ATOMIC_FAILPOINT", step)]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("failpoint {step}")));
        assert_eq!(
            h.snapshot(),
            clean,
            "a failure at {step} left something behind"
        );

        let out = h.atomic(&args, &[("ATOMIC_FAILPOINT", &format!("{step}:crash"))]);
        assert_eq!(out.status.signal(), Some(9), "killed at {step}");
        let err = String::from_utf8(h.atomic(&args, &[]).stderr).unwrap();
        assert!(
            err.contains("undoing an interrupted install of c"),
            "{step}: {err}"
        );
        assert!(
            h.path("/etc/greeter/greeting.conf").exists(),
            "{step}: installed after the re-run"
        );
        assert_eq!(
            std::fs::read_link(h.path("/var/lib/containers/atomic/c")).unwrap(),
            Path::new("c.0")
        );
        h.ok(&["uninstall", "c"], &[]);
        assert_eq!(h.snapshot(), clean, "{step}: uninstall after recovery");
    }
}

#[test]
fn update_failures_and_crashes_at_every_step_converge() {
    update_failures_converge(Host::new);
}

/// The same, with `/etc` (units, tmpfiles, host files) on another
/// filesystem than `/var` (the backups): nothing is lost on the way back.
#[test]
fn update_failures_and_crashes_converge_with_etc_on_its_own_mount() {
    update_failures_converge(Host::with_etc_mounted);
}

fn update_failures_converge(new_host: fn() -> Host) {
    require_root();
    for step in UPDATE_STEPS {
        let h = new_host();
        let img = h.image("hostfs", fixtures::greeter_hostfs());
        h.ok(&install(&["--name", "c", &img]), &[]);
        let installed = h.snapshot();
        let args = ["containers", "update", "c", "--set", "RECEIVER=moon"];

        let out = h.atomic(&args, &[("ATOMIC_FAILPOINT", step)]);
        assert!(!out.status.success(), "{step}");
        assert_eq!(
            h.snapshot(),
            installed,
            "a failure at {step} changed the deployment"
        );

        let out = h.atomic(&args, &[("ATOMIC_FAILPOINT", &format!("{step}:crash"))]);
        assert_eq!(out.status.signal(), Some(9), "killed at {step}");
        let out = h.ok(&args, &[]);
        assert!(out.contains("Updated c"), "{step}: {out}");
        assert_eq!(
            std::fs::read_link(h.path("/var/lib/containers/atomic/c")).unwrap(),
            Path::new("c.1")
        );
        assert_eq!(
            std::fs::read_to_string(h.path("/etc/greeter/greeting.conf")).unwrap(),
            "greeting for moon on port 8081\n",
            "{step}"
        );
        h.ok(&["containers", "rollback", "c"], &[]);
        assert_eq!(
            std::fs::read_to_string(h.path("/etc/greeter/greeting.conf")).unwrap(),
            "greeting for world on port 8081\n"
        );
    }
}

#[test]
fn uninstall_failures_and_crashes_are_finished_by_the_next_uninstall() {
    require_root();
    for step in ["uninstall-host", "uninstall-slots"] {
        let h = Host::new();
        let img = h.image("hostfs", fixtures::greeter_hostfs());
        let clean = h.snapshot();
        h.ok(&install(&["--name", "c", &img]), &[]);

        let out = h.atomic(&["uninstall", "c"], &[("ATOMIC_FAILPOINT", step)]);
        assert!(!out.status.success(), "{step}");
        let out = h.atomic(&["uninstall", "c"], &[]);
        assert!(
            out.status.success(),
            "{step}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr)
            .contains("finishing an interrupted uninstall of c"));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "Uninstalled c\n");
        assert_eq!(h.snapshot(), clean, "{step}: after a failure");

        h.ok(&install(&["--name", "c", &img]), &[]);
        let out = h.atomic(
            &["uninstall", "c"],
            &[("ATOMIC_FAILPOINT", &format!("{step}:crash"))],
        );
        assert_eq!(out.status.signal(), Some(9), "killed at {step}");
        // Another command on the container finishes it too.
        let err = h.fails_with(&["containers", "rollback", "c"]);
        assert!(
            err.contains("finishing an interrupted uninstall of c"),
            "{step}: {err}"
        );
        assert!(
            err.contains("container c is not installed"),
            "{step}: {err}"
        );
        assert_eq!(h.snapshot(), clean, "{step}: after a crash");
    }
}

#[test]
fn a_broken_container_breaks_only_itself_and_uninstall_still_removes_it() {
    require_root();
    let h = Host::new();
    let img = h.image("greeter", fixtures::greeter());
    let clean = h.snapshot();
    for n in ["a", "b", "c", "d"] {
        h.ok(&install(&["--name", n, &img]), &[]);
    }
    let co = "/var/lib/containers/atomic";
    // a: its record cut to nothing; b: its link dangling; c: a journal cut short.
    std::fs::write(h.path(&format!("{co}/a.0/info")), "").unwrap();
    std::fs::remove_dir_all(h.path(&format!("{co}/b.0"))).unwrap();
    std::fs::write(h.path(&format!("{co}/.c.journal")), "{\"operation\": \"upd").unwrap();

    let out = h.atomic(&["containers", "list", "-q"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "c\nd\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "container a: parsing {}",
            h.path(&format!("{co}/a.0/info")).display()
        )),
        "{err}"
    );
    assert!(err.contains("container b: reading"), "{err}");

    let err = h.fails_with(&["containers", "update", "c", "--set", "PORT=1"]);
    assert!(err.contains("reading the journal"), "{err}");
    assert!(
        err.contains("`atomic uninstall c` removes the container"),
        "{err}"
    );

    for n in ["a", "b", "c"] {
        let out = h.atomic(&["uninstall", n], &[]);
        assert!(
            out.status.success(),
            "{n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!h.path(&format!("{co}/{n}")).exists(), "{n}: link left");
        assert!(
            !h.path(&format!("/etc/systemd/system/{n}.service")).exists(),
            "{n}: unit left"
        );
    }
    h.ok(&["uninstall", "d"], &[]);
    assert_eq!(h.snapshot(), clean);
}

#[test]
fn rpm_mode_never_overwrites_a_file_no_package_owns() {
    require_root();
    let h = Host::with_rpm();
    let img = h.image("hostfs", fixtures::greeter_hostfs());
    std::fs::create_dir_all(h.path("/etc/greeter")).unwrap();
    std::fs::write(h.path("/etc/greeter/greeting.conf"), "the admin's\n").unwrap();
    let err = h.refused(&install(&["--rpm", "--name", "c", &img]));
    assert!(
        err.contains("/etc/greeter/greeting.conf exists (owned by no package) and was not installed by atomic for c"),
        "{err}"
    );
    assert_eq!(h.rpm_q("atomic-container-c"), None);
    assert_eq!(
        std::fs::read_to_string(h.path("/etc/greeter/greeting.conf")).unwrap(),
        "the admin's\n"
    );
}

#[test]
fn a_crash_after_the_commit_point_or_inside_prune_keeps_what_was_done() {
    require_root();
    let h = Host::new();
    let img = h.image("hostfs", fixtures::greeter_hostfs());
    h.ok(&install(&["--name", "c", &img]), &[]);
    let args = ["containers", "update", "c", "--set", "RECEIVER=moon"];
    let out = h.atomic(&args, &[("ATOMIC_FAILPOINT", "commit:crash")]);
    assert_eq!(out.status.signal(), Some(9));
    // The journal was gone: the update stands, nothing is undone.
    let out = h.ok(&args, &[]);
    assert_eq!(out, "Latest version already installed.\n");
    assert_eq!(
        std::fs::read_to_string(h.path("/etc/greeter/greeting.conf")).unwrap(),
        "greeting for moon on port 8081\n"
    );
    h.ok(&["containers", "rollback", "c"], &[]);
    assert!(
        !h.path("/var/lib/containers/atomic/.c.backup").exists(),
        "the next operation clears what the crash left"
    );
    assert_eq!(
        std::fs::read_to_string(h.path("/etc/greeter/greeting.conf")).unwrap(),
        "greeting for world on port 8081\n"
    );
    h.ok(&["uninstall", "c"], &[]);
    h.ok(&["images", "delete", &img], &[]);
    let out = h.atomic(&["images", "prune"], &[("ATOMIC_FAILPOINT", "prune:crash")]);
    assert_eq!(out.status.signal(), Some(9));
    let out = h.ok(&["images", "prune"], &[]);
    assert!(out.contains("Freed "), "{out}");
    let objects = h.path("/var/lib/containers/atomic/.storage/ostree/objects");
    let left = std::fs::read_dir(&objects)
        .unwrap()
        .filter(|d| {
            std::fs::read_dir(d.as_ref().unwrap().path())
                .unwrap()
                .next()
                .is_some()
        })
        .count();
    assert_eq!(left, 0, "every object is pruned once prune runs again");
}

/// A mount made for a test, lazily unmounted when dropped.
struct Mounted(PathBuf);

impl Mounted {
    fn new(args: &[&str], at: &Path) -> Mounted {
        bench::check(Command::new("mount").args(args).arg(at));
        Mounted(at.to_path_buf())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn ostree(repo: &Path, args: &[&str]) -> String {
    bench::check(
        Command::new("ostree")
            .arg(format!("--repo={}", repo.display()))
            .args(args),
    )
}

#[test]
fn the_system_repository_is_used_only_when_checkouts_can_link_into_it_and_never_pruned() {
    require_root();
    let with_system_repo = || {
        let h = Host::new();
        let repo = h.path("/ostree/repo");
        std::fs::create_dir_all(&repo).unwrap();
        ostree(&repo, &["init", "--mode=bare"]);
        (h, repo)
    };
    let private = |h: &Host| h.path("/var/lib/containers/atomic/.storage/ostree");

    // Usable: images go there, and a commit of someone else's survives prune.
    let (h, repo) = with_system_repo();
    let tree = h.path("/os-tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("os-release"), "the OS\n").unwrap();
    let orphan = ostree(
        &repo,
        &[
            "commit",
            "--orphan",
            &format!("--tree=dir={}", tree.display()),
        ],
    );
    let img = h.image("greeter", fixtures::greeter());
    assert!(
        ostree(&repo, &["refs"]).contains("ociimage/"),
        "pulled into the system repository"
    );
    assert!(!private(&h).exists());
    h.ok(&install(&["--name", "g", &img]), &[]);
    h.ok(&["uninstall", "g"], &[]);
    h.ok(&["images", "delete", &img], &[]);
    let out = h.ok(&["images", "prune"], &[]);
    assert!(out.contains("Left the objects of"), "{out}");
    ostree(&repo, &["show", orphan.trim()]);

    // Read-only, as /sysroot on an image-based host: the private repository.
    let (h, repo) = with_system_repo();
    let ostree_dir = h.path("/ostree");
    let _ro = Mounted::new(&["--bind", ostree_dir.to_str().unwrap()], &ostree_dir);
    bench::check(
        Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(h.path("/ostree")),
    );
    let img = h.image("greeter", fixtures::greeter());
    assert!(!ostree(&repo, &["refs"]).contains("ociimage/"));
    assert!(ostree(&private(&h), &["refs"]).contains("ociimage/"));
    h.ok(&install(&["--name", "g", &img]), &[]);
    h.ok(&["uninstall", "g"], &[]);

    // Another mount, as /var on an image-based host (same device, EXDEV).
    let (h, repo) = with_system_repo();
    let var = h.path("/var");
    std::fs::create_dir_all(&var).unwrap();
    let _var = Mounted::new(&["--bind", var.to_str().unwrap()], &var);
    let img = h.image("greeter", fixtures::greeter());
    assert!(!ostree(&repo, &["refs"]).contains("ociimage/"));
    assert!(ostree(&private(&h), &["refs"]).contains("ociimage/"));
    h.ok(&install(&["--name", "g", &img]), &[]);
    h.ok(&["uninstall", "g"], &[]);
}

/// The steps of an RPM-mode install and update where a failpoint sits.
const RPM_INSTALL_STEPS: &[&str] = &["checkout", "package", "symlink"];
const RPM_UPDATE_STEPS: &[&str] = &["checkout", "prepare", "package", "symlink", "health"];

#[test]
fn rpm_mode_failures_and_crashes_at_every_step_converge() {
    require_root();
    let package = "atomic-container-c";
    for step in RPM_INSTALL_STEPS {
        let h = Host::with_rpm();
        let img = h.image("hostfs", fixtures::greeter_hostfs());
        let clean = h.snapshot();
        let args = install(&["--rpm", "--name", "c", &img]);

        let out = h.atomic(&args, &[("ATOMIC_FAILPOINT", step)]);
        assert!(!out.status.success(), "{step}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("failpoint {step}")));
        assert_eq!(
            h.rpm_q(package),
            None,
            "a failure at {step} left the package"
        );
        h.remove_rpm_parents();
        assert_eq!(
            h.snapshot(),
            clean,
            "a failure at {step} left something behind"
        );

        let out = h.atomic(&args, &[("ATOMIC_FAILPOINT", &format!("{step}:crash"))]);
        assert_eq!(out.status.signal(), Some(9), "killed at {step}");
        let err = String::from_utf8(h.atomic(&args, &[]).stderr).unwrap();
        assert!(
            err.contains("undoing an interrupted install of c"),
            "{step}: {err}"
        );
        let nvr = h
            .rpm_q(package)
            .unwrap_or_else(|| panic!("{step}: not installed after the re-run"));
        assert!(
            nvr.starts_with("atomic-container-c-1.0-1."),
            "{step}: {nvr}"
        );
        assert!(
            h.path("/etc/greeter/greeting.conf").exists(),
            "{step}: the package's host file"
        );
        assert_eq!(
            std::fs::read_link(h.path("/var/lib/containers/atomic/c")).unwrap(),
            Path::new("c.0")
        );
        h.ok(&["uninstall", "c"], &[]);
        assert_eq!(h.rpm_q(package), None, "{step}: erased by uninstall");
        h.remove_rpm_parents();
        assert_eq!(h.snapshot(), clean, "{step}: uninstall after recovery");
    }
    for step in RPM_UPDATE_STEPS {
        let h = Host::with_rpm();
        let img = h.image("hostfs", fixtures::greeter_hostfs());
        h.ok(&install(&["--rpm", "--name", "c", &img]), &[]);
        let installed = h.snapshot();
        let release1 = h.rpm_q(package).unwrap();
        let args = ["containers", "update", "c", "--set", "RECEIVER=moon"];

        let out = h.atomic(&args, &[("ATOMIC_FAILPOINT", step)]);
        assert!(!out.status.success(), "{step}");
        assert_eq!(
            h.snapshot(),
            installed,
            "a failure at {step} changed the deployment"
        );
        assert_eq!(h.rpm_q(package).as_ref(), Some(&release1), "{step}");

        let out = h.atomic(&args, &[("ATOMIC_FAILPOINT", &format!("{step}:crash"))]);
        assert_eq!(out.status.signal(), Some(9), "killed at {step}");
        let out = h.ok(&args, &[]);
        assert!(
            out.contains("Updated c to package atomic-container-c-1.0-2."),
            "{step}: {out}"
        );
        assert_eq!(
            std::fs::read_link(h.path("/var/lib/containers/atomic/c")).unwrap(),
            Path::new("c.1")
        );
        assert_eq!(
            std::fs::read_to_string(h.path("/etc/greeter/greeting.conf")).unwrap(),
            "greeting for moon on port 8081\n",
            "{step}"
        );
        h.ok(&["containers", "rollback", "c"], &[]);
        assert_eq!(
            h.rpm_q(package).as_ref(),
            Some(&release1),
            "{step}: rolled back"
        );
        assert_eq!(
            std::fs::read_to_string(h.path("/etc/greeter/greeting.conf")).unwrap(),
            "greeting for world on port 8081\n"
        );
    }
}

#[test]
fn a_missing_runtime_in_path_is_a_clear_error() {
    require_root();
    let h = Host::new();
    let img = h.image("greeter", fixtures::greeter());
    let out = run(Command::new(atomic_bin())
        .arg("--root")
        .arg(h.root.path())
        .args(install(&["--name", "g", &img]))
        .env("PATH", "/nonexistent"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("runtime runc not found in PATH; install runc or pass --runtime"),
        "{err}"
    );
}

#[test]
fn rename_files_moves_host_files_to_templated_paths_as_the_catalog_writes_them() {
    require_root();
    let h = Host::new();
    std::fs::create_dir_all(h.path("/usr/local/bin")).unwrap();
    let manifest = r#"{"version": "1.0", "defaultValues": {},
        "renameFiles": {"/etc/etcd/etcd.conf": "$CONF_DIRECTORY/$NAME/etcd.conf",
                        "/usr/local/bin/etcdctl": "/usr/local/bin/${NAME}ctl"}}"#;
    let img = Image::new(
        vec![
            fixtures::busybox_layer(bench::image::Compression::Gzip),
            bench::image::Layer::parse(
                &format!(
                    "d exports\nf exports/manifest.json = {}\nd exports/hostfs\nd exports/hostfs/etc\n\
                     d exports/hostfs/etc/etcd\nf exports/hostfs/etc/etcd/etcd.conf = name: etcd\\n\n\
                     d exports/hostfs/usr\nd exports/hostfs/usr/local\nd exports/hostfs/usr/local/bin\n\
                     f exports/hostfs/usr/local/bin/etcdctl 0755 = #!/bin/sh\\n",
                    manifest.replace('\n', " ")
                ),
                bench::image::Compression::Gzip,
            ),
        ],
        bench::image::Config {
            cmd: vec!["/bin/sh".into()],
            ..Default::default()
        },
    );
    let image = h.image("etcd", img);
    let clean = h.snapshot();
    h.ok(&install(&["--name", "etcd2", &image]), &[]);
    assert_eq!(
        std::fs::read_to_string(h.path("/etc/etcd2/etcd.conf")).unwrap(),
        "name: etcd\n"
    );
    assert!(h.path("/usr/local/bin/etcd2ctl").is_file());
    assert!(!h.path("/etc/etcd/etcd.conf").exists());
    h.ok(&["uninstall", "etcd2"], &[]);
    assert_eq!(
        h.snapshot(),
        clean,
        "uninstall removes the files and the directory made for them"
    );
}

#[test]
fn tmpfiles_z_d_and_r_lines_apply_on_install_and_uninstall() {
    use std::os::unix::fs::MetadataExt;
    require_root();
    let h = Host::new();
    let mut img = fixtures::greeter();
    let lines = "d /var/lib/zz 0755 0 0 - -\\nf /var/lib/zz/data 0644 0 0 - kept\\n\
                 Z /var/lib/zz 0700 7 8 - -\\nD /run/dd 0755 0 0 - -\\nr /run/stale\\n";
    img.layers.push(bench::image::Layer::parse(
        &format!("f exports/tmpfiles.template = {lines}"),
        bench::image::Compression::Gzip,
    ));
    let image = h.image("tf", img);
    std::fs::create_dir_all(h.path("/run")).unwrap();
    std::fs::write(h.path("/run/stale"), "left by an old version").unwrap();
    h.ok(&install(&["--name", "tf", &image]), &[]);
    let zz = std::fs::metadata(h.path("/var/lib/zz")).unwrap();
    assert_eq!(
        (zz.mode() & 0o7777, zz.uid(), zz.gid()),
        (0o700, 7, 8),
        "Z applied"
    );
    let data = std::fs::metadata(h.path("/var/lib/zz/data")).unwrap();
    assert_eq!((data.uid(), data.gid()), (7, 8), "Z is recursive");
    assert!(h.path("/run/dd").is_dir(), "D created");
    std::fs::write(h.path("/run/dd/x"), "runtime").unwrap();

    let out = h.ok(&["uninstall", "tf"], &[]);
    assert!(!h.path("/run/stale").exists(), "r removed on --remove");
    assert!(!h.path("/run/dd").exists(), "runtime directories go");
    assert!(h.path("/var/lib/zz/data").exists(), "state stays");
    assert!(out.contains("keeping /var/lib/zz"), "{out}");
}

/// An image-based `--root` host (`/run/ostree-booted`, an rpm database)
/// whose rpm-ostree is the stand-in above; the environment to run with.
fn stand_in_host(state: &Path) -> (Host, Vec<(String, String)>) {
    let h = Host::with_rpm();
    std::fs::create_dir_all(h.path("/run")).unwrap();
    std::fs::write(h.path("/run/ostree-booted"), "").unwrap();
    let bin = bench::rpm_ostree_stand_in(state);
    let env = vec![
        (
            "PATH".to_string(),
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        ),
        ("STANDIN_STATE".to_string(), state.display().to_string()),
        (
            "STANDIN_ROOT".to_string(),
            h.root.path().display().to_string(),
        ),
    ];
    (h, env)
}

#[test]
fn image_based_host_a_failed_live_apply_is_staged_and_no_change_is_checked() {
    require_root();
    // A failed live apply: the package is staged for the next boot, which
    // is not "nothing was changed".
    let state = tempfile::tempdir().unwrap();
    let (h, env) = stand_in_host(state.path());
    let img = h.image("hostfs", fixtures::greeter_hostfs());
    let mut with: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    with.push(("STANDIN_APPLY_LIVE", "fail"));
    let out = h.atomic(&install(&["--rpm", "--name", "st", &img]), &with);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("atomic-container-st is staged; active after reboot")
            && err.contains("this stand-in refuses"),
        "{err}"
    );
    let info: serde_json::Value = serde_json::from_slice(
        &std::fs::read(h.path("/var/lib/containers/atomic/st.0/info")).unwrap(),
    )
    .unwrap();
    assert_eq!(info["rpm-staged"], true);
    let list = h.ok(&["containers", "list", "--all"], &with);
    assert!(
        list.lines()
            .any(|l| l.contains(" st ") && l.contains("staged")),
        "{list}"
    );
    assert_eq!(h.rpm_q("atomic-container-st"), None, "not live");
    // Uninstalling it takes the request out of the next boot's deployment.
    h.ok(&["uninstall", "st"], &with);
    let status = run(Command::new(state.path().join("bin/rpm-ostree"))
        .args(["status", "--json"])
        .envs(with.iter().copied()));
    assert!(
        !String::from_utf8_lossy(&status.stdout).contains("atomic-container-st"),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );

    // install --idempotent saying "No change." (exit 0) applied nothing
    // live: the tool sees that and applies the pending deployment itself.
    let state = tempfile::tempdir().unwrap();
    let (h, env) = stand_in_host(state.path());
    let img = h.image("hostfs", fixtures::greeter_hostfs());
    let mut with: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    with.push(("STANDIN_INSTALL", "nochange"));
    let out = h.ok(&install(&["--rpm", "--name", "nc", &img]), &with);
    assert!(
        out.contains("as package atomic-container-nc-1.0-1."),
        "{out}"
    );
    assert!(
        h.rpm_q("atomic-container-nc").is_some(),
        "live after the tool's own apply-live"
    );
    let calls = std::fs::read_to_string(state.path().join("calls")).unwrap();
    assert!(
        calls.lines().any(|l| l == "apply-live --allow-replacement"),
        "{calls}"
    );
    h.ok(&["uninstall", "nc"], &with);
    assert_eq!(h.rpm_q("atomic-container-nc"), None);
}

/// A host file that is a symlink is hashed as the link it is (its target
/// string), never followed: one to `/dev/zero` once held install, and the
/// lock, for ever. It installs, updates and uninstalls in bounded time.
#[test]
fn a_host_file_symlink_is_never_followed() {
    require_root();
    let h = Host::new();
    let manifest =
        r#"{ "version": "1.0", "defaultValues": { "RECEIVER": "world", "PORT": "8081" } }"#;
    let extra = "d exports/hostfs\nd exports/hostfs/etc\nd exports/hostfs/etc/greeter\n\
        l exports/hostfs/etc/greeter/zero /dev/zero\n";
    let img = h.image(
        "zero",
        Image::new(
            vec![
                fixtures::busybox_layer(bench::image::Compression::Gzip),
                fixtures::greeter_layer(manifest, extra),
            ],
            fixtures::greeter_config("1.0"),
        ),
    );
    let bounded = |args: &[&str]| {
        let out = run(Command::new("timeout")
            .arg("60")
            .arg(atomic_bin())
            .arg("--root")
            .arg(h.root.path())
            .args(args));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    bounded(&install(&["--name", "z", &img]));
    assert_eq!(
        std::fs::read_link(h.path("/etc/greeter/zero")).unwrap(),
        Path::new("/dev/zero")
    );
    bounded(&["containers", "update", "z", "--set", "RECEIVER=moon"]);
    bounded(&["uninstall", "z"]);
    assert!(std::fs::symlink_metadata(h.path("/etc/greeter/zero")).is_err());
}

/// Root never writes through a link someone planted beside a host file:
/// temporary files are new files of random names, so a symlink at the
/// old, guessable temporary name is left alone and its target untouched.
#[test]
fn a_planted_symlink_beside_a_host_file_is_never_followed() {
    require_root();
    let h = Host::new();
    let img = h.image("hostfs", fixtures::greeter_hostfs());
    h.ok(&install(&["--name", "c", &img]), &[]);
    let victim = h.path("/victim");
    std::fs::write(&victim, "root's own file\n").unwrap();
    for name in [".greeting.conf.tmp", ".plain.conf.tmp"] {
        std::os::unix::fs::symlink("../../victim", h.path(&format!("/etc/greeter/{name}")))
            .unwrap();
    }
    h.ok(
        &["containers", "update", "c", "--set", "RECEIVER=moon"],
        &[],
    );
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "root's own file\n"
    );
    assert_eq!(
        std::fs::read_to_string(h.path("/etc/greeter/greeting.conf")).unwrap(),
        "greeting for moon on port 8081\n"
    );
}

/// `Alias=` names are systemd's own reading of the unit: spaces around
/// '=' and a continuation line no longer hide one. An alias taking over
/// a unit the host has is refused on install and on update, and nothing
/// changes.
#[test]
fn an_alias_of_a_host_unit_is_refused_however_it_is_spelled() {
    require_root();
    let h = Host::new();
    std::fs::create_dir_all(h.path("/usr/lib/systemd/system")).unwrap();
    std::fs::write(
        h.path("/usr/lib/systemd/system/sshd.service"),
        "[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    let manifest =
        r#"{ "version": "1.0", "defaultValues": { "RECEIVER": "world", "PORT": "8081" } }"#;
    let aliased = |v: &str| {
        let unit = fixtures::greeter_file("exports/service.template")
            + "Alias = greeter-extra.service \\\n  sshd.service\n";
        Image::new(
            vec![
                fixtures::busybox_layer(bench::image::Compression::Gzip),
                fixtures::greeter_layer(
                    manifest,
                    &fixtures::entry("exports/service.template", "0644", &unit),
                ),
            ],
            fixtures::greeter_config(v),
        )
    };
    let bad = h.image("aliased", aliased("1.0"));
    let err = h.refused(&install(&["--name", "c", &bad]));
    assert!(err.contains("Alias=sshd.service"), "{err}");

    let good = h.image("hostfs", fixtures::greeter_hostfs());
    h.ok(&install(&["--name", "c", &good]), &[]);
    let err = h.refused(&["containers", "update", "c", "--rebase", &bad]);
    assert!(err.contains("Alias=sshd.service"), "{err}");
}

/// A local source's string names the content at its path: an image pulled
/// before from another layout of the same name and tag is not it, and
/// install pulls the one the string names.
#[test]
fn a_local_image_string_means_the_content_at_its_path() {
    require_root();
    let h = Host::new();
    h.image("greeter", fixtures::greeter());
    let other = h.images.path().join("elsewhere/greeter");
    fixtures::greeter_hostfs().write_oci(&other, "1.0");
    let second = format!("oci:{}:1.0", other.display());
    h.ok(&install(&["--name", "c", &second]), &[]);
    assert_eq!(
        std::fs::read_to_string(h.path("/etc/greeter/greeting.conf")).unwrap(),
        "greeting for world on port 8081\n",
        "installed from the layout the string names"
    );
}

/// Root writes no host file into a directory another user can move
/// things in (theirs, or writable without the sticky bit): they could put
/// a link where root writes, or swap a directory root just made. Refused,
/// naming the directory; nothing changes.
#[test]
fn host_files_are_never_written_into_a_directory_another_user_controls() {
    require_root();
    let h = Host::new();
    let img = h.image("hostfs", fixtures::greeter_hostfs());
    let dir = h.path("/etc/greeter");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    let err = h.refused(&install(&["--name", "c", &img]));
    assert!(err.contains("/etc/greeter belongs to uid 65534"), "{err}");
}

/// Uninstall removes a runtime directory of the container only where no
/// symlink is on its way: a directory the service's user swapped for a
/// link to somewhere else leaves that somewhere else alone, and is said.
#[test]
fn uninstall_never_removes_a_tree_through_a_swapped_link() {
    require_root();
    let h = Host::new();
    let manifest =
        r#"{ "version": "1.0", "defaultValues": { "RECEIVER": "world", "PORT": "8081" } }"#;
    // Deepest first, so the first removal goes through the swapped link.
    let tmpfiles = "d /run/app/state/cache 0755 root root -\nd /run/app/state 0755 root root -\nd /run/app 0777 root root -\n";
    let img = h.image(
        "runtime",
        Image::new(
            vec![
                fixtures::busybox_layer(bench::image::Compression::Gzip),
                fixtures::greeter_layer(
                    manifest,
                    &fixtures::entry("exports/tmpfiles.template", "0644", tmpfiles),
                ),
            ],
            fixtures::greeter_config("1.0"),
        ),
    );
    h.ok(&install(&["--name", "t", &img]), &[]);
    std::fs::create_dir_all(h.path("/run/app/state/cache")).unwrap();
    let precious = h.path("/victim/cache/precious");
    std::fs::create_dir_all(precious.parent().unwrap()).unwrap();
    std::fs::write(&precious, "keep").unwrap();
    std::fs::rename(h.path("/run/app/state"), h.path("/run/app/old")).unwrap();
    std::os::unix::fs::symlink("../../victim", h.path("/run/app/state")).unwrap();
    let out = h.atomic(&["uninstall", "t"], &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a symlink is on its path"),
        "{out:?}"
    );
}

/// A set-aside file that cannot be put back (a full /etc) keeps its backup
/// and the journal, and the next command goes no further until it can:
/// once there is room again, the container is back on the old file.
#[test]
fn a_restore_that_fails_keeps_the_backup_until_it_succeeds() {
    require_root();
    let root = tmp("atomic-root-");
    let etc_dir = root.path().join("etc");
    std::fs::create_dir_all(&etc_dir).unwrap();
    let etc = Mounted::new(&["-t", "tmpfs", "-o", "size=1m", "tmpfs"], &etc_dir);
    let mut h = Host::on(Root::Dir(root));
    h.own_mounts.push(etc);
    let sized = |v: &str, n: usize| {
        let manifest =
            r#"{ "version": "1.0", "defaultValues": { "RECEIVER": "world", "PORT": "8081" } }"#;
        let extra = format!(
            "d exports/hostfs\nd exports/hostfs/etc\nf exports/hostfs/etc/big.conf = {}\n",
            v.repeat(n)
        );
        Image::new(
            vec![
                fixtures::busybox_layer(bench::image::Compression::Gzip),
                fixtures::greeter_layer(manifest, &extra),
            ],
            fixtures::greeter_config("1.0"),
        )
    };
    let v1 = h.image("v1", sized("a", 400 * 1024));
    let v2 = h.image("v2", sized("b", 700 * 1024));
    h.ok(&install(&["--name", "g", &v1]), &[]);
    let installed = h.snapshot();
    let update = ["containers", "update", "g", "--rebase", &v2];
    let out = h.atomic(&update, &[("ATOMIC_FAILPOINT", "unit")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not be put back"), "{err}");
    // The next command does not go on over the missing file.
    let err = h.fails_with(&update);
    assert!(err.contains("could not be put back"), "{err}");
    // With room, the next command undoes it whole.
    bench::check(
        Command::new("mount")
            .args(["-o", "remount,size=4m"])
            .arg(h.path("/etc")),
    );
    let out = h.atomic(&["containers", "rollback", "g"], &[]);
    assert!(
        !out.status.success(),
        "nothing to roll back to: still on the first slot"
    );
    assert_eq!(h.snapshot(), installed);
}

/// `useLinks` host files are hard links to the slot's own copy, made
/// under a new name and renamed into place (never through what is at the
/// host path), on install, update and rollback alike.
#[test]
fn use_links_host_files_follow_update_and_rollback() {
    require_root();
    use std::os::unix::fs::MetadataExt;
    let h = Host::new();
    let linked = |text: &str| {
        let manifest = r#"{ "version": "1.0", "noContainerService": true, "useLinks": true }"#;
        let layer = bench::image::Layer::parse(
            &format!(
                "d exports\n{}d exports/hostfs\nd exports/hostfs/etc\nf exports/hostfs/etc/files-only.conf = {text}\\n\n",
                fixtures::entry("exports/manifest.json", "0644", manifest)
            ),
            bench::image::Compression::Gzip,
        );
        Image::new(
            vec![
                fixtures::busybox_layer(bench::image::Compression::Gzip),
                layer,
            ],
            bench::image::Config::default(),
        )
    };
    let v1 = h.image("v1", linked("first"));
    let v2 = h.image("v2", linked("second"));
    let conf = h.path("/etc/files-only.conf");
    let own = |slot: &str| {
        h.path(&format!(
            "/var/lib/containers/atomic/{slot}/hostfs/etc/files-only.conf"
        ))
    };
    h.ok(&install(&["--name", "fo", &v1]), &[]);
    assert_eq!(
        conf.metadata().unwrap().ino(),
        own("fo.0").metadata().unwrap().ino()
    );
    h.ok(&["containers", "update", "fo", "--rebase", &v2], &[]);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "second\n");
    assert_eq!(
        conf.metadata().unwrap().ino(),
        own("fo.1").metadata().unwrap().ino()
    );
    h.ok(&["containers", "rollback", "fo"], &[]);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "first\n");
    assert_eq!(
        conf.metadata().unwrap().ino(),
        own("fo.0").metadata().unwrap().ino()
    );
}
