//! System containers under a real systemd (the sandbox) and runc: install,
//! update, rollback, uninstall, list, run and stop of the greeter.

use crate::bench;

use bench::sandbox::Sandbox;
use bench::{closed, fixtures, greet, require_root};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// The shared sandbox, and the checkout root the test's containers live in.
struct Sb(&'static Sandbox, &'static str);

impl Sb {
    /// The same sandbox with containers in their own checkout root, for a
    /// test whose commands act on every container (`update --all`).
    fn own_root(&self, root: &'static str) -> Sb {
        Sb(self.0, root)
    }
    fn atomic(&self, args: &[&str]) -> Output {
        bench::run(
            self.0
                .atomic()
                .env("ATOMIC_OSTREE_CHECKOUT_PATH", self.1)
                .args(args),
        )
    }
    fn ok(&self, args: &[&str]) -> String {
        bench::succeeded(args, self.atomic(args))
    }
    fn fails(&self, args: &[&str]) -> String {
        let out = self.atomic(args);
        assert!(
            !out.status.success(),
            "atomic {args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }
    fn exists(&self, p: &str) -> bool {
        std::fs::symlink_metadata(self.0.path(p)).is_ok()
    }
    fn info(&self, name: &str) -> Value {
        let p = self
            .0
            .path(&format!("/var/lib/containers/atomic/{name}/info"));
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }
    fn link(&self, name: &str) -> String {
        std::fs::read_link(self.0.path(&format!("{}/{name}", self.1)))
            .unwrap()
            .display()
            .to_string()
    }
    fn runc_list(&self) -> String {
        self.0.check(&["runc", "list", "-q"])
    }
}

fn sandbox() -> Sb {
    require_root();
    Sb(Sandbox::shared(), "/var/lib/containers/atomic")
}

#[test]
fn greeter_install_update_rollback_rebase_uninstall() {
    let sb = sandbox();
    let dir = sb.0.tempdir();
    let greeter = format!("oci:{}:1.0", dir.path().join("greeter").display());
    fixtures::greeter().write_oci(&dir.path().join("greeter"), "1.0");
    fixtures::greeter_needs_var().write_oci(&dir.path().join("needs"), "1.0");
    let receiver = format!("receiver-{}", std::process::id());

    let out = sb.ok(&[
        "install",
        "--system",
        "--name",
        "greeter",
        "--set",
        &format!("RECEIVER={receiver}"),
        &greeter,
    ]);
    assert_eq!(sb.link("greeter"), "greeter.0");
    // Installed and enabled, not started (as the original tool): the
    // operator starts it.
    assert_eq!(sb.0.unit_state("greeter.service"), "inactive");
    assert_eq!(
        sb.0.check(&["systemctl", "is-enabled", "greeter.service"])
            .trim(),
        "enabled"
    );
    assert!(
        out.contains("systemctl start greeter.service"),
        "the output says how to start it: {out}"
    );
    sb.0.check(&["systemctl", "start", "greeter.service"]);
    assert_eq!(sb.0.unit_state("greeter.service"), "active");
    let info = sb.info("greeter");
    let uuid = info["values"]["UUID"].as_str().unwrap().to_string();
    for key in [
        "image",
        "revision",
        "ostree-commit",
        "created",
        "values",
        "has-container-service",
        "installed-files",
        "installed-files-checksum",
        "installed-files-template",
        "rename-installed-files",
        "rpm-installed",
        "system-package",
        "runtime",
    ] {
        assert!(info.get(key).is_some(), "info has no {key}: {info}");
    }
    assert_eq!(info["image"], "localhost/greeter:1.0");
    let unit = std::fs::read_to_string(sb.0.path("/etc/systemd/system/greeter.service")).unwrap();
    assert!(
        unit.contains("WorkingDirectory=/var/lib/containers/atomic/greeter.0\n"),
        "{unit}"
    );
    assert!(
        unit.contains("PIDFile=/run/container-greeter.pid\n"),
        "{unit}"
    );
    assert_eq!(
        std::fs::read_to_string(sb.0.path("/var/lib/containers/atomic/greeter.0/greeter.service"))
            .unwrap(),
        unit,
        "the slot keeps a copy of the unit"
    );
    assert_eq!(
        std::fs::read_to_string(sb.0.path("/etc/tmpfiles.d/greeter.conf")).unwrap(),
        "d /run/greeter-greeter 0755 root root -\n"
    );
    assert!(
        sb.exists("/run/greeter-greeter"),
        "systemd-tmpfiles --create ran"
    );
    let hello = format!("Hi {receiver} from container greeter with UUID={uuid}");
    assert_eq!(greet(8081), hello);

    sb.ok(&["containers", "update", "greeter", "--set", "PORT=8082"]);
    assert_eq!(sb.link("greeter"), "greeter.1");
    assert_eq!(
        greet(8082),
        hello,
        "same receiver and UUID after the update"
    );
    assert!(closed(8081));
    assert_eq!(
        sb.ok(&["containers", "update", "greeter", "--set", "PORT=8082"]),
        "Latest version already installed.\n"
    );

    sb.ok(&["containers", "rollback", "greeter"]);
    assert_eq!(sb.link("greeter"), "greeter.0");
    assert_eq!(greet(8081), hello);
    sb.ok(&["containers", "rollback", "greeter"]);
    assert_eq!(sb.link("greeter"), "greeter.1");
    assert_eq!(greet(8082), hello);

    let needs = format!("oci:{}:1.0", dir.path().join("needs").display());
    let err = sb.fails(&["containers", "update", "greeter", "--rebase", &needs]);
    assert!(err.contains("variable GREETING has no value"), "{err}");
    assert_eq!(sb.link("greeter"), "greeter.1", "nothing changed");
    assert_eq!(greet(8082), hello, "still answering");

    let list: Value = serde_json::from_str(&sb.ok(&["containers", "list", "--json"])).unwrap();
    let me = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "greeter")
        .unwrap()
        .clone();
    assert_eq!(me["state"], "running");
    assert_eq!(me["backend"], "ostree");
    assert_eq!(me["command"], "/usr/bin/greet");

    sb.ok(&["uninstall", "greeter"]);
    for p in [
        "/etc/systemd/system/greeter.service",
        "/etc/tmpfiles.d/greeter.conf",
        "/var/lib/containers/atomic/greeter",
        "/var/lib/containers/atomic/greeter.0",
        "/var/lib/containers/atomic/greeter.1",
        "/etc/systemd/system/multi-user.target.wants/greeter.service",
    ] {
        assert!(!sb.exists(p), "{p} is left behind");
    }
    assert!(
        !sb.runc_list().contains("greeter"),
        "runc state left behind"
    );
    let load =
        sb.0.check(&["systemctl", "show", "-p", "LoadState", "greeter.service"]);
    assert_eq!(load.trim(), "LoadState=not-found");
    assert!(closed(8082));
}

#[test]
fn host_files_are_placed_kept_when_edited_and_removed() {
    let sb = sandbox();
    let dir = sb.0.tempdir();
    let image = format!("oci:{}:1.0", dir.path().join("hostfs").display());
    fixtures::greeter_hostfs().write_oci(&dir.path().join("hostfs"), "1.0");
    sb.ok(&[
        "install",
        "--system",
        "--now",
        "--name",
        "hostfs",
        "--set",
        "PORT=8091",
        &image,
    ]);
    let read = |p: &str| std::fs::read_to_string(sb.0.path(p)).unwrap();
    assert_eq!(
        read("/etc/greeter/plain.conf"),
        "receiver=$RECEIVER\n",
        "plain files are copied as they are"
    );
    assert_eq!(
        read("/etc/greeter/greeting.conf"),
        "greeting for world on port 8091\n"
    );
    assert_eq!(read("/etc/greeter/instance-hostfs.conf"), "instance\n");
    assert!(sb.0.path("/etc/greeter/conf.d").is_dir());
    let info = sb.info("hostfs");
    let sums = info["installed-files-checksum"].as_object().unwrap();
    let mut files: Vec<&String> = sums.keys().collect();
    files.sort();
    assert_eq!(
        files,
        [
            "/etc/greeter/greeting.conf",
            "/etc/greeter/instance-hostfs.conf",
            "/etc/greeter/plain.conf"
        ]
    );

    std::fs::write(
        sb.0.path("/etc/greeter/plain.conf"),
        "edited by the admin\n",
    )
    .unwrap();
    let out = sb.ok(&["containers", "update", "hostfs", "--set", "RECEIVER=moon"]);
    assert!(
        out.contains("keeping /etc/greeter/plain.conf: it was changed since it was installed"),
        "{out}"
    );
    assert_eq!(read("/etc/greeter/plain.conf"), "edited by the admin\n");
    assert_eq!(
        read("/etc/greeter/greeting.conf"),
        "greeting for moon on port 8091\n"
    );
    assert_eq!(greet(8091).split(" from").next().unwrap(), "Hi moon");

    sb.ok(&["containers", "rollback", "hostfs"]);
    assert_eq!(
        read("/etc/greeter/greeting.conf"),
        "greeting for world on port 8091\n"
    );

    let out = sb.ok(&["uninstall", "hostfs"]);
    assert!(out.contains("keeping /etc/greeter/plain.conf"), "{out}");
    assert!(!sb.exists("/etc/greeter/greeting.conf"));
    assert!(!sb.exists("/etc/greeter/instance-hostfs.conf"));
    assert!(
        !sb.exists("/etc/greeter/conf.d"),
        "the directory the tool created is gone"
    );
    assert_eq!(read("/etc/greeter/plain.conf"), "edited by the admin\n");
    std::fs::remove_dir_all(sb.0.path("/etc/greeter")).unwrap();
}

#[test]
fn an_update_refused_for_a_host_file_never_stops_the_service() {
    let sb = sandbox();
    let dir = sb.0.tempdir();
    fixtures::greeter().write_oci(&dir.path().join("plan"), "1.0");
    fixtures::greeter_with_host_file("plan-first.conf", "ours")
        .write_oci(&dir.path().join("plan"), "2.0");
    let image = |tag| format!("oci:{}:{tag}", dir.path().join("plan").display());
    sb.ok(&[
        "install",
        "--system",
        "--now",
        "--name",
        "plan",
        "--set",
        "PORT=8094",
        &image("1.0"),
    ]);
    greet(8094);
    let pid = || {
        sb.0.check(&[
            "systemctl",
            "show",
            "-p",
            "MainPID",
            "--value",
            "plan.service",
        ])
    };
    let before = pid();
    std::fs::write(sb.0.path("/etc/plan-first.conf"), "the admin's\n").unwrap();
    let err = sb.fails(&["containers", "update", "plan", "--rebase", &image("2.0")]);
    assert!(
        err.contains("host file /etc/plan-first.conf exists and was not installed by plan; not overwriting it"),
        "{err}"
    );
    assert_eq!(pid(), before, "refused before the service was stopped");
    assert_eq!(sb.0.unit_state("plan.service"), "active");
    assert_eq!(
        std::fs::read_to_string(sb.0.path("/etc/plan-first.conf")).unwrap(),
        "the admin's\n"
    );
    sb.ok(&["uninstall", "plan"]);
    std::fs::remove_file(sb.0.path("/etc/plan-first.conf")).unwrap();
}

#[test]
fn list_states_match_systemd_and_update_all_rolls_back_a_failing_service() {
    let sb = sandbox();
    let sb = sb.own_root("/var/lib/containers/atomic-all");
    let dir = sb.0.tempdir();
    let layout = dir.path().join("states");
    fixtures::greeter().write_oci(&layout, "1.0");
    let image = format!("oci:{}:1.0", layout.display());
    sb.ok(&[
        "install",
        "--system",
        "--now",
        "--name",
        "st-run",
        "--set",
        "PORT=8101",
        &image,
    ]);
    sb.ok(&[
        "install",
        "--system",
        "--now",
        "--name",
        "st-stop",
        "--set",
        "PORT=8102",
        &image,
    ]);
    sb.ok(&["stop", "st-stop"]);
    greet(8101);
    let states = || -> Vec<(String, String)> {
        let v: Value =
            serde_json::from_str(&sb.ok(&["containers", "list", "--all", "--json"])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"].as_str().unwrap().starts_with("st-"))
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        states(),
        [
            ("st-run".into(), "running".into()),
            ("st-stop".into(), "inactive".into())
        ]
    );
    assert_eq!(sb.0.unit_state("st-run.service"), "active");
    assert_eq!(sb.0.unit_state("st-stop.service"), "inactive");

    // A new version of the image whose process cannot start.
    let broken = fixtures::greeter_text("exports/config.json.template")
        .replace("/usr/bin/greet", "/usr/bin/missing");
    fixtures::greeter_with_config(&broken).write_oci(&layout, "1.0");
    sb.ok(&["pull", "--storage", "ostree", &image]);
    let out = sb.atomic(&["containers", "update", "--all"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("st-run"), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("st-run")).unwrap();
    assert!(line.contains("rolled back"), "{stdout}");
    assert_eq!(sb.link("st-run"), "st-run.0", "rolled back to the old slot");
    assert!(
        greet(8101).starts_with("Hi world"),
        "the old version answers again"
    );

    let line = stdout.lines().find(|l| l.starts_with("st-stop")).unwrap();
    assert!(
        line.contains("updated"),
        "a stopped container updates without starting: {stdout}"
    );

    // Starting the broken version fails, and list says so.
    let err = sb.fails(&["run", "st-stop"]);
    assert!(err.contains("st-stop.service failed to start"), "{err}");
    let start = Instant::now();
    while sb.0.unit_state("st-stop.service") != "failed"
        && start.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        sb.0.unit_state("st-stop.service"),
        "failed",
        "restarts give up at the start limit"
    );
    assert_eq!(
        states(),
        [
            ("st-run".into(), "running".into()),
            ("st-stop".into(), "failed".into())
        ]
    );

    // A killed container is restarted, and its old runtime state is gone.
    let pid = |sb: &Sb| {
        sb.0.check(&[
            "systemctl",
            "show",
            "-p",
            "MainPID",
            "--value",
            "st-run.service",
        ])
    };
    let before = pid(&sb);
    sb.0.check(&["systemctl", "kill", "--signal=KILL", "st-run.service"]);
    let start = Instant::now();
    while (pid(&sb) == before || sb.0.unit_state("st-run.service") != "active")
        && start.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        sb.0.unit_state("st-run.service"),
        "active",
        "restarted after the kill"
    );
    assert!(greet(8101).starts_with("Hi world"));
    assert_eq!(
        sb.runc_list()
            .lines()
            .filter(|l| l.starts_with("st-run"))
            .count(),
        1
    );

    for name in ["st-run", "st-stop"] {
        sb.ok(&["uninstall", name]);
    }
    assert!(!sb.runc_list().contains("st-"), "no runtime state left");
}

#[test]
fn run_executes_in_the_running_container() {
    let sb = sandbox();
    let dir = sb.0.tempdir();
    fixtures::greeter().write_oci(&dir.path().join("runner"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("runner").display());
    sb.ok(&[
        "install",
        "--system",
        "--now",
        "--name",
        "runner",
        "--set",
        "PORT=8111",
        &image,
    ]);
    greet(8111);
    let out = sb.ok(&["run", "runner", "cat", "/proc/1/cmdline"]);
    assert!(out.contains("/usr/bin/greet"), "{out:?}");
    sb.ok(&["stop", "runner"]);
    let out = sb.ok(&["run", "runner", "echo", "one-off"]);
    assert_eq!(out, "one-off\n");
    sb.ok(&["uninstall", "runner"]);
    assert!(!Path::new(&sb.0.path("/var/lib/containers/atomic/runner")).exists());
}

#[test]
fn kill_9_during_update_then_rerun_converges() {
    let sb = sandbox();
    let dir = sb.0.tempdir();
    fixtures::greeter().write_oci(&dir.path().join("crashy"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("crashy").display());
    sb.ok(&[
        "install",
        "--system",
        "--now",
        "--name",
        "crashy",
        "--set",
        "PORT=8121",
        &image,
    ]);
    let hello = greet(8121);

    let journal = sb.0.path("/var/lib/containers/atomic/.crashy.journal");
    let mut child =
        sb.0.atomic()
            .args(["containers", "update", "crashy", "--set", "PORT=8122"])
            .spawn()
            .unwrap();
    let start = Instant::now();
    while !journal.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(2));
    }
    for pid in bench::pids_of(&["containers", "update", "crashy"]) {
        // SAFETY: kill(2) on a process of this test.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the update was killed");
    assert!(
        journal.exists(),
        "killed mid-operation, the journal remains"
    );

    let out = sb.atomic(&["containers", "update", "crashy", "--set", "PORT=8122"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("undoing an interrupted update of crashy"),
        "{err}"
    );
    assert_eq!(sb.link("crashy"), "crashy.1");
    assert_eq!(greet(8122), hello);
    assert!(!journal.exists());
    sb.ok(&["containers", "rollback", "crashy"]);
    assert_eq!(greet(8121), hello);
    sb.ok(&["uninstall", "crashy"]);
}

#[test]
fn an_image_without_exports_runs_with_generated_config_and_unit() {
    let sb = sandbox();
    let dir = sb.0.tempdir();
    fixtures::no_exports().write_oci(&dir.path().join("plain"), "1.0");
    sb.ok(&[
        "install",
        "--system",
        "--now",
        "--name",
        "plain",
        &format!("oci:{}:1.0", dir.path().join("plain").display()),
    ]);
    assert_eq!(sb.0.unit_state("plain.service"), "active");
    let config: Value = serde_json::from_slice(
        &std::fs::read(sb.0.path("/var/lib/containers/atomic/plain.0/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["process"]["cwd"], "/srv");
    assert_eq!(config["root"]["readonly"], true);
    assert_eq!(config["process"]["env"][1], "GREETING=hello");
    let unit = std::fs::read_to_string(sb.0.path("/etc/systemd/system/plain.service")).unwrap();
    assert!(unit.contains("Type=forking\n"), "{unit}");
    // The container's output reaches the journal through the service's stdout.
    let journal = || sb.0.check(&["journalctl", "--no-pager", "-o", "cat"]);
    let start = Instant::now();
    let mut log = journal();
    while !log.contains("hello from a plain image") && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        log = journal();
    }
    assert!(
        log.contains("hello from a plain image"),
        "the image's command ran: {log}"
    );
    sb.ok(&["uninstall", "plain"]);
    assert!(!sb.runc_list().contains("plain"));
}

#[test]
fn a_files_only_image_links_its_host_files_and_runs_no_service() {
    let sb = sandbox();
    let dir = sb.0.tempdir();
    fixtures::files_only().write_oci(&dir.path().join("fo"), "1.0");
    sb.ok(&[
        "install",
        "--system",
        "--now",
        "--name",
        "fo",
        &format!("oci:{}:1.0", dir.path().join("fo").display()),
    ]);
    assert!(
        !sb.exists("/etc/systemd/system/fo.service"),
        "no unit for noContainerService"
    );
    let host = std::fs::metadata(sb.0.path("/etc/files-only.conf")).unwrap();
    let own =
        std::fs::metadata(sb.0.path("/var/lib/containers/atomic/fo.0/hostfs/etc/files-only.conf"))
            .unwrap();
    let checkout = std::fs::metadata(
        sb.0.path("/var/lib/containers/atomic/fo.0/rootfs/exports/hostfs/etc/files-only.conf"),
    )
    .unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        host.ino(),
        own.ino(),
        "useLinks hard-links the host file to the deployment's copy"
    );
    assert_ne!(
        host.ino(),
        checkout.ino(),
        "never to the checkout, which shares inodes with the repository"
    );
    let list: Value =
        serde_json::from_str(&sb.ok(&["containers", "list", "--json", "--all"])).unwrap();
    let me = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "fo")
        .unwrap();
    assert_eq!(me["state"], "no service");
    sb.ok(&["uninstall", "fo"]);
    assert!(!sb.exists("/etc/files-only.conf"));
}

/// The sandbox's one rpm database: rpm takes its transaction lock without
/// waiting, so the tests that install packages there take turns.
static RPM_DB: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn rpm_installed_greeter_updates_rolls_back_and_uninstalls() {
    let sb = sandbox();
    let _rpm_db = RPM_DB.lock().unwrap_or_else(|e| e.into_inner());
    sb.0.register_shell();
    let dir = sb.0.tempdir();
    let w = fixtures::greeter().write_oci(&dir.path().join("rg"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("rg").display());
    let id = &w.image_id[..12];
    let out = sb.ok(&[
        "install",
        "--system",
        "--now",
        "--rpm",
        "--name",
        "rg",
        "--set",
        "PORT=8141",
        &image,
    ]);
    assert!(
        out.contains(&format!("as package atomic-container-rg-1.0-1.{id}")),
        "{out}"
    );
    let q = || {
        sb.0.check(&["rpm", "-q", "atomic-container-rg"])
            .trim()
            .to_string()
    };
    assert_eq!(q(), format!("atomic-container-rg-1.0-1.{id}.noarch"));
    let fragment =
        sb.0.check(&["systemctl", "show", "-p", "FragmentPath", "rg.service"]);
    let fragment = fragment.trim().trim_start_matches("FragmentPath=");
    let ino =
        |p: &str| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(sb.0.path(p)).unwrap());
    assert_eq!(
        ino(fragment),
        ino("/usr/lib/systemd/system/rg.service"),
        "the package's unit runs (merged-/usr hosts name it /lib/...)"
    );
    assert!(!sb.exists("/etc/systemd/system/rg.service"));
    let hello = greet(8141);
    let list: Value = serde_json::from_str(&sb.ok(&["containers", "list", "--json"])).unwrap();
    let me = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "rg")
        .unwrap()
        .clone();
    assert_eq!(me["rpm"], format!("atomic-container-rg-1.0-1.{id}"));
    assert_eq!(
        me["command"], "/usr/bin/greet",
        "the command of the packaged bundle"
    );
    assert_eq!(me["state"], "running");
    // A stopped RPM container runs a command from the packaged bundle (its
    // slot holds the package, not a config.json).
    sb.ok(&["stop", "rg"]);
    let out = sb.ok(&["run", "rg", "echo", "one-off"]);
    assert_eq!(out, "one-off\n");
    sb.ok(&["run", "rg"]);
    assert_eq!(greet(8141), hello);

    sb.ok(&["containers", "update", "rg", "--set", "PORT=8142"]);
    assert_eq!(
        q(),
        format!("atomic-container-rg-1.0-2.{id}.noarch"),
        "the next release"
    );
    assert_eq!(greet(8142), hello, "same receiver and UUID");
    assert!(closed(8141));

    sb.ok(&["containers", "rollback", "rg"]);
    assert_eq!(
        q(),
        format!("atomic-container-rg-1.0-1.{id}.noarch"),
        "exactly the previous release"
    );
    assert_eq!(greet(8141), hello);

    sb.ok(&["uninstall", "rg"]);
    assert!(!sb
        .0
        .exec(&["rpm", "-q", "atomic-container-rg"])
        .status
        .success());
    for p in [
        "/usr/lib/containers/atomic/rg",
        "/usr/lib/systemd/system/rg.service",
        "/var/lib/containers/atomic/rg",
        "/var/lib/containers/atomic/rg.0",
        "/var/lib/containers/atomic/rg.1",
    ] {
        assert!(!sb.exists(p), "{p} left behind");
    }
    assert!(!sb.runc_list().contains("rg"));
}

/// Installs into the sandbox's rpm database a package that is not ours.
fn foreign_package(sb: &Sb, name: &str, file: Option<(&str, &str)>) {
    let mut b = rpm::PackageBuilder::new(name, "1", "MIT", "noarch", "someone else's package");
    b.release("1");
    if let Some((path, content)) = file {
        b.with_file_contents(content, rpm::FileOptions::new(path).permissions(0o644))
            .unwrap();
    }
    let dir = sb.0.tempdir();
    let f = dir.path().join("foreign.rpm");
    b.build().unwrap().write_file(&f).unwrap();
    sb.0.check(&["rpm", "-i", f.to_str().unwrap()]);
}

#[test]
fn rpm_mode_refuses_foreign_packages_and_files_and_leaves_nothing() {
    let sb = sandbox();
    let _rpm_db = RPM_DB.lock().unwrap_or_else(|e| e.into_inner());
    sb.0.register_shell();
    let dir = sb.0.tempdir();
    fixtures::greeter_hostfs().write_oci(&dir.path().join("hf"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("hf").display());

    foreign_package(&sb, "atomic-container-taken", None);
    let err = sb.fails(&[
        "install", "--system", "--now", "--rpm", "--name", "taken", &image,
    ]);
    assert!(
        err.contains("package atomic-container-taken-1-1 is already installed and was not installed by atomic for taken"),
        "{err}"
    );

    foreign_package(
        &sb,
        "greeter-config",
        Some(("/etc/greeter/greeting.conf", "theirs\n")),
    );
    let err = sb.fails(&[
        "install", "--system", "--now", "--rpm", "--name", "clash", &image,
    ]);
    assert!(
        err.contains("/etc/greeter/greeting.conf"),
        "the error names the file: {err}"
    );
    assert!(err.contains("greeter-config"), "and the package: {err}");
    assert!(
        !sb.0
            .exec(&["rpm", "-q", "atomic-container-clash"])
            .status
            .success(),
        "nothing installed"
    );
    for p in [
        "/var/lib/containers/atomic/clash",
        "/var/lib/containers/atomic/clash.0",
        "/usr/lib/containers/atomic/clash",
    ] {
        assert!(!sb.exists(p), "{p} left behind");
    }
    assert_eq!(
        std::fs::read_to_string(sb.0.path("/etc/greeter/greeting.conf")).unwrap(),
        "theirs\n"
    );
    sb.0.check(&["rpm", "-e", "greeter-config", "atomic-container-taken"]);
}

#[test]
fn crun_runs_the_greeter_too() {
    let sb = sandbox();
    let dir = sb.0.tempdir();
    fixtures::greeter().write_oci(&dir.path().join("cr"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("cr").display());
    sb.ok(&[
        "install",
        "--system",
        "--now",
        "--name",
        "cr",
        "--runtime",
        "crun",
        "--set",
        "PORT=8151",
        &image,
    ]);
    assert_eq!(sb.info("cr")["runtime"], "/usr/bin/crun");
    let hello = greet(8151);
    assert!(
        sb.0.check(&["crun", "list"]).contains("cr "),
        "crun runs it"
    );
    sb.ok(&["containers", "update", "cr", "--set", "PORT=8152"]);
    assert_eq!(greet(8152), hello);
    sb.ok(&["uninstall", "cr"]);
    assert!(
        !sb.0.check(&["crun", "list"]).contains("cr "),
        "no crun state left"
    );
}

#[test]
fn units_and_aliases_systemd_has_are_never_taken_over() {
    let sb = sandbox();
    let dir = sb.0.tempdir();
    fixtures::greeter().write_oci(&dir.path().join("g"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("g").display());
    let unit = |n: &str| sb.0.check(&["systemctl", "cat", n]);
    let dbus = unit("dbus.service");
    let err = sb.fails(&["install", "--system", "--now", "--name", "dbus", &image]);
    assert!(
        err.contains("dbus.service already exists and was not written by atomic for dbus"),
        "{err}"
    );
    assert_eq!(unit("dbus.service"), dbus, "the host's unit is untouched");

    let service = fixtures::greeter_text("exports/service.template")
        .replace("[Install]\n", "[Install]\nAlias=dbus.service\n");
    assert!(service.contains("Alias=dbus.service"), "{service}");
    let mut img = fixtures::greeter();
    img.layers.push(bench::image::Layer::parse(
        &format!(
            "f exports/service.template = {}",
            service.replace('\\', "\\\\").replace('\n', "\\n")
        ),
        bench::image::Compression::Gzip,
    ));
    img.write_oci(&dir.path().join("alias"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("alias").display());
    let err = sb.fails(&["install", "--system", "--now", "--name", "aliased", &image]);
    assert!(err.contains("has Alias=dbus.service"), "{err}");
    assert!(!sb.exists("/var/lib/containers/atomic/aliased"));
    assert!(!sb.exists("/etc/systemd/system/aliased.service"));
    assert_eq!(unit("dbus.service"), dbus);
}

#[test]
fn a_catalog_unit_without_a_type_runs_the_container_in_the_foreground() {
    let sb = sandbox();
    let dir = sb.0.tempdir();
    // As the original catalog writes its units: no Type=, no PIDFile=.
    let service = "[Unit]\nDescription=$NAME\n\n[Service]\nExecStart=$EXEC_START\nExecStop=$EXEC_STOP\nRestart=on-failure\nWorkingDirectory=$DESTDIR\n\n[Install]\nWantedBy=multi-user.target\n";
    greeter_with_unit(service).write_oci(&dir.path().join("fg"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("fg").display());
    sb.ok(&[
        "install",
        "--system",
        "--now",
        "--name",
        "fg",
        "--set",
        "PORT=8171",
        &image,
    ]);
    let unit = std::fs::read_to_string(sb.0.path("/etc/systemd/system/fg.service")).unwrap();
    let start = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert!(
        start.ends_with(" run fg") && !start.contains(" -d "),
        "{unit}"
    );
    assert!(greet(8171).starts_with("Hi world"));
    assert_eq!(sb.0.unit_state("fg.service"), "active");

    sb.0.check(&["systemctl", "restart", "fg.service"]);
    assert!(
        greet(8171).starts_with("Hi world"),
        "answers after a restart"
    );

    // A crash of the container: systemd sees the runtime exit and restarts it.
    let state: Value = serde_json::from_str(&sb.0.check(&["runc", "state", "fg"])).unwrap();
    let pid = state["pid"].as_i64().unwrap().to_string();
    sb.0.check(&["kill", "-9", &pid]);
    let started = Instant::now();
    loop {
        let state = sb.0.exec(&["runc", "state", "fg"]);
        let new_pid = serde_json::from_slice::<Value>(&state.stdout)
            .ok()
            .and_then(|v| v["pid"].as_i64())
            .map(|p| p.to_string());
        if new_pid.is_some_and(|p| p != pid) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not restarted after a crash"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(greet(8171).starts_with("Hi world"), "answers after a crash");

    sb.0.check(&["systemctl", "stop", "fg.service"]);
    assert!(
        !sb.runc_list().contains("fg"),
        "no runtime state after a stop"
    );
    sb.ok(&["uninstall", "fg"]);
    assert!(!sb.runc_list().contains("fg"));
}

/// The greeter with `service` as its unit template.
fn greeter_with_unit(service: &str) -> bench::image::Image {
    let mut img = fixtures::greeter();
    img.layers.push(bench::image::Layer::parse(
        &format!(
            "f exports/service.template = {}",
            service.replace('\n', "\\n")
        ),
        bench::image::Compression::Gzip,
    ));
    img
}

#[test]
fn install_now_names_a_failed_start_and_keeps_the_install_and_every_wait_is_bounded() {
    let sb = sandbox();
    let dir = sb.0.tempdir();
    // A host that cannot run it: the unit's own pre-start step fails.
    let refused = "[Service]\nExecStartPre=/bin/sh -c 'echo start-refused-marker; exit 3'\n\
                   ExecStart=$EXEC_START\nExecStop=$EXEC_STOP\nWorkingDirectory=$DESTDIR\n\n[Install]\nWantedBy=multi-user.target\n";
    greeter_with_unit(refused).write_oci(&dir.path().join("refused"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("refused").display());
    let err = sb.fails(&[
        "install",
        "--system",
        "--now",
        "--name",
        "refused",
        "--set",
        "PORT=8181",
        &image,
    ]);
    for part in [
        "refused is installed and enabled, but did not start",
        "refused.service failed to start: job failed",
        "result exit-code",
        "start-refused-marker",
    ] {
        assert!(err.contains(part), "{part:?} in:\n{err}");
    }
    assert_eq!(sb.link("refused"), "refused.0", "the install is kept");
    assert_eq!(
        sb.0.check(&["systemctl", "is-enabled", "refused.service"])
            .trim(),
        "enabled"
    );
    sb.ok(&["uninstall", "refused"]);

    // A Type=notify service that never notifies, with a long timeout of
    // its own: the wait ends at ATOMIC_JOB_TIMEOUT.
    let silent = "[Service]\nType=notify\nNotifyAccess=all\nTimeoutStartSec=300\nTimeoutStopSec=5\n\
                  ExecStart=$EXEC_START\nExecStop=$EXEC_STOP\nWorkingDirectory=$DESTDIR\n\n[Install]\nWantedBy=multi-user.target\n";
    greeter_with_unit(silent).write_oci(&dir.path().join("silent"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("silent").display());
    let started = Instant::now();
    let out = bench::run(
        sb.0.atomic()
            .env("ATOMIC_OSTREE_CHECKOUT_PATH", sb.1)
            .env("ATOMIC_JOB_TIMEOUT", "3")
            .args([
                "install",
                "--system",
                "--now",
                "--name",
                "silent",
                "--set",
                "PORT=8182",
                &image,
            ]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("silent.service did not finish its start within 3 s"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "bounded by ATOMIC_JOB_TIMEOUT, not the unit's 300 s"
    );
    // Stopping it kills the foreground runtime at the unit's stop timeout,
    // which leaves the runtime's state behind: stop deletes it.
    sb.ok(&["stop", "silent"]);
    assert!(
        !sb.runc_list().contains("silent"),
        "no runtime state after a stop"
    );
    sb.ok(&["uninstall", "silent"]);
    assert!(!sb.runc_list().contains("silent"));
}

#[test]
fn catalog_hello_world_runs_unmodified_and_follows_set_update_and_rollback() {
    let sb = sandbox();
    let dir = sb.0.tempdir();
    fixtures::catalog_hello().write_oci(&dir.path().join("hello"), "1");
    let image = format!("oci:{}:1", dir.path().join("hello").display());
    let out = sb.atomic(&[
        "install",
        "--system",
        "--now",
        "--name",
        "hello",
        "--set",
        "PORT=8191",
        &image,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("process.capabilities is a pre-1.0 list; converted"),
        "the conversion is said: {err}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        sb.0.unit_state("hello.service"),
        "active",
        "stays up; its journal:\n{}",
        sb.0.journal("hello.service")
    );
    assert_eq!(greet(8191), "Hi World");

    sb.ok(&["containers", "update", "hello", "--set", "RECEIVER=x"]);
    assert_eq!(greet(8191), "Hi x");
    sb.ok(&["containers", "rollback", "hello"]);
    assert_eq!(greet(8191), "Hi World");

    sb.ok(&["uninstall", "hello"]);
    assert!(closed(8191));
    assert!(!sb.runc_list().contains("hello"), "no runtime state");
}

#[test]
fn catalog_etcd_installs_as_the_seed_describes_and_keeps_its_data() {
    let sb = sandbox();
    let dir = sb.0.tempdir();
    fixtures::catalog_etcd().write_oci(&dir.path().join("etcd"), "3.4");
    let image = format!("oci:{}:3.4", dir.path().join("etcd").display());
    // Debian's etcd-server (installed here as test material) enables its
    // unit with the alias etcd2.service: that name is taken, and refused.
    if sb.exists("/etc/systemd/system/etcd2.service") {
        let err = sb.fails(&["install", "--system", "--now", "--name", "etcd2", &image]);
        assert!(
            err.contains("/etc/systemd/system/etcd2.service already exists"),
            "{err}"
        );
        std::fs::remove_file(sb.0.path("/etc/systemd/system/etcd2.service")).unwrap();
        sb.0.check(&["systemctl", "daemon-reload"]);
    }
    sb.ok(&["install", "--system", "--now", "--name", "etcd2", &image]);
    assert!(sb.exists("/etc/etcd2/etcd.conf"), "renamed by renameFiles");
    assert!(
        sb.exists("/usr/local/bin/etcd2ctl"),
        "renamed by renameFiles"
    );
    assert!(!sb.exists("/etc/etcd/etcd.conf") && !sb.exists("/usr/local/bin/etcdctl"));

    let endpoint = format!(
        "--endpoints=http://127.0.0.1:{}",
        fixtures::ETCD_CLIENT_PORT
    );
    let ctl = |args: &[&str]| -> String {
        let started = Instant::now();
        loop {
            let mut all = vec!["/usr/local/bin/etcd2ctl", endpoint.as_str()];
            all.extend_from_slice(args);
            let out = sb.0.exec(&all);
            if out.status.success() {
                return String::from_utf8(out.stdout).unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "etcd2ctl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    ctl(&["put", "greeting", "before-update"]);
    assert_eq!(sb.0.unit_state("etcd2.service"), "active");

    // Data under /var/lib/etcd survives an update and a rollback.
    sb.ok(&[
        "containers",
        "update",
        "etcd2",
        "--set",
        "ETCD_SNAPSHOT_COUNT=5000",
    ]);
    assert_eq!(sb.link("etcd2"), "etcd2.1");
    assert!(ctl(&["get", "greeting"]).contains("before-update"));
    sb.ok(&["containers", "rollback", "etcd2"]);
    assert!(ctl(&["get", "greeting"]).contains("before-update"));

    // As a package: rpm-ostree does not layer /usr/local; the build says so.
    let work = tempfile::tempdir().unwrap();
    let out = bench::run(
        std::process::Command::new(bench::atomic_bin())
            .arg("--root")
            .arg(work.path())
            .args([
                "install",
                "--system",
                "--rpm=build",
                "--name",
                "etcd2",
                "--output",
            ])
            .arg(work.path())
            .arg(&image),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("/usr/local: rpm-ostree refuses packages with files under /usr/local"),
        "{err}"
    );

    let out = sb.ok(&["uninstall", "etcd2"]);
    assert!(
        out.contains("keeping /var/lib/etcd/etcd2.etcd"),
        "says which state it keeps: {out}"
    );
    assert!(sb.exists("/var/lib/etcd/etcd2.etcd"), "the data stays");
    assert!(!sb.exists("/run/etcd2-etcd"), "runtime directories go");
    assert!(!sb.exists("/usr/local/bin/etcd2ctl"));
    assert!(!sb.runc_list().contains("etcd2"));
}

#[test]
fn catalog_net_snmp_notifies_systemd_through_the_runtime() {
    let sb = sandbox();
    let dir = sb.0.tempdir();
    fixtures::catalog_snmp().write_oci(&dir.path().join("snmp"), "1");
    let image = format!("oci:{}:1", dir.path().join("snmp").display());
    // Type=notify: --now returns once snmpd said READY=1, within the bound.
    let out = bench::run(
        sb.0.atomic()
            .env("ATOMIC_OSTREE_CHECKOUT_PATH", sb.1)
            .env("ATOMIC_JOB_TIMEOUT", "60")
            .args(["install", "--system", "--now", "--name", "net-snmp", &image]),
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        sb.0.journal("net-snmp.service")
    );
    assert_eq!(sb.0.unit_state("net-snmp.service"), "active");
    // 161 is 00A1 in /proc/net/udp, bound on 127.0.0.1 (0100007F).
    let udp = std::fs::read_to_string("/proc/net/udp").unwrap();
    assert!(udp.contains("0100007F:00A1 "), "161/udp is bound:\n{udp}");
    sb.ok(&["uninstall", "net-snmp"]);
    assert!(!std::fs::read_to_string("/proc/net/udp")
        .unwrap()
        .contains("0100007F:00A1 "));
    assert!(!sb.runc_list().contains("net-snmp"));
}
