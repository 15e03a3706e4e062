//! An image-based host for real, in the test bench: an OSTree sysroot made
//! with Debian's libostree alone, its deployment booted by a private PID
//! and mount namespace that pivots into it (`/sysroot` read-only, `/var` the
//! stateroot's own mount, `/usr` read-only, `/etc` writable), with a real
//! systemd inside. The tool runs there as it would on Fedora CoreOS.

use crate::bench;

use bench::sandbox::Sandbox;
use bench::{check, closed, fixtures, greet, require_root, run};
use std::path::Path;
use std::process::Output;

fn host() -> &'static Sandbox {
    require_root();
    Sandbox::ostree_host()
}

fn atomic(h: &Sandbox, args: &[&str]) -> Output {
    run(h.atomic().args(args))
}

fn ok(h: &Sandbox, args: &[&str]) -> String {
    bench::succeeded(args, atomic(h, args))
}

#[test]
fn the_bench_host_is_booted_as_libostree_sees_it() {
    let h = host();
    let status = h.check(&["ostree", "admin", "status"]);
    assert!(
        status.lines().any(|l| l.starts_with("* os ")),
        "the deployment is marked booted:\n{status}"
    );
    let out = h.exec(&["touch", "/sysroot/probe"]);
    assert!(!out.status.success(), "/sysroot is read-only");
    // /usr as booted is read-only (a live apply may stack a writable
    // overlay on it).
    let usr = h.check(&["findmnt", "-n", "-l", "-o", "OPTIONS", "/usr"]);
    assert!(
        usr.lines()
            .next()
            .is_some_and(|o| o.split(',').any(|x| x == "ro")),
        "/usr is read-only:\n{usr}"
    );
    let var = h.check(&["findmnt", "-n", "-o", "TARGET", "/var"]);
    assert_eq!(var.trim(), "/var", "/var is its own mount");
    h.check(&["touch", "/etc/atomic-probe"]);
    assert!(h.path("/run/ostree-booted").exists());
}

/// The bench host's one rpm database: rpm takes its transaction lock
/// without waiting (no terminal), and the tool queries it in every mode,
/// so the tests that install there take turns.
static RPM_DB: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn plain_mode_lifecycle_on_an_image_based_host() {
    let _rpm_db = RPM_DB.lock().unwrap_or_else(|e| e.into_inner());
    let h = host();
    let dir = h.tempdir();
    fixtures::greeter().write_oci(&dir.path().join("greeter"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("greeter").display());
    // /ostree/repo is on the read-only /sysroot, and /var is another mount:
    // the private repository is chosen, and -v says why.
    let out = atomic(h, &["-v", "pull", "--storage", "ostree", &image]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("not using /ostree/repo"), "{err}");
    assert!(h
        .path("/var/lib/containers/atomic/.storage/ostree/config")
        .exists());

    ok(
        h,
        &[
            "install",
            "--system",
            "--now",
            "--name",
            "og",
            "--set",
            "PORT=8201",
            &image,
        ],
    );
    assert!(greet(8201).starts_with("Hi world"));
    ok(
        h,
        &["containers", "update", "og", "--set", "RECEIVER=osthost"],
    );
    assert!(greet(8201).starts_with("Hi osthost"));
    ok(h, &["containers", "rollback", "og"]);
    assert!(greet(8201).starts_with("Hi world"));
    ok(h, &["uninstall", "og"]);
    assert!(closed(8201));
    assert!(!h.path("/etc/systemd/system/og.service").exists());
}

/// Runs the tool on `h` with the rpm-ostree STAND-IN
/// (bench::RPM_OSTREE_STAND_IN) first in PATH, keeping its state in `dir`.
fn with_stand_in<'a>(h: &'a Sandbox, dir: &Path) -> impl Fn(&[&str]) -> Output + 'a {
    let bin = bench::rpm_ostree_stand_in(dir);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let state = dir.display().to_string();
    move |args| {
        run(h
            .atomic()
            .env("PATH", &path)
            .env("STANDIN_STATE", &state)
            .args(args))
    }
}

#[test]
fn rpm_mode_takes_the_rpm_ostree_path_and_stops_and_disables_the_service_itself() {
    // rpm-ostree is not packaged for this machine: a STAND-IN plays it
    // (bench::RPM_OSTREE_STAND_IN), applying live under an overlay of /usr
    // and running no scriptlet, as on a real image-based host, where
    // %preun/%postun never run. Stopping and disabling is the tool's own.
    let _rpm_db = RPM_DB.lock().unwrap_or_else(|e| e.into_inner());
    let h = host();
    let dir = h.tempdir();
    let stand_in = with_stand_in(h, dir.path());
    let with = |args: &[&str]| bench::succeeded(args, stand_in(args));
    fixtures::greeter_hostfs().write_oci(&dir.path().join("greeter"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("greeter").display());
    let out = with(&[
        "install",
        "--system",
        "--rpm",
        "--now",
        "--name",
        "orpm",
        "--set",
        "PORT=8202",
        &image,
    ]);
    assert!(
        out.contains("as package atomic-container-orpm-1.0-1."),
        "{out}"
    );
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert!(
        calls
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("install --idempotent ")),
        "layered with rpm-ostree: {calls}"
    );
    assert!(greet(8202).starts_with("Hi world"));
    assert_eq!(
        h.check(&["systemctl", "is-enabled", "orpm.service"]).trim(),
        "enabled"
    );
    assert!(h
        .exec(&["rpm", "-q", "atomic-container-orpm"])
        .status
        .success());
    // An /etc file of the package the operator edits outlives the package.
    let conf = h.path("/etc/greeter/greeting.conf");
    std::fs::write(&conf, "edited by the operator\n").unwrap();

    let out = stand_in(&["uninstall", "orpm"]);
    assert!(out.status.success(), "{out:?}");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !h.exec(&["rpm", "-q", "atomic-container-orpm"])
            .status
            .success(),
        "the package is gone from the host's rpm database"
    );
    assert!(
        out.contains("/etc/greeter/greeting.conf was edited since it was installed; saved as /etc/greeter/greeting.conf.rpmsave"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(h.path("/etc/greeter/greeting.conf.rpmsave")).unwrap(),
        "edited by the operator\n"
    );
    assert!(closed(8202), "stopped by the tool: no %preun ran");
    assert_ne!(h.unit_state("orpm.service"), "active");
    let enabled = h.exec(&["systemctl", "is-enabled", "orpm.service"]);
    assert!(
        !String::from_utf8_lossy(&enabled.stdout).contains("enabled"),
        "disabled by the tool"
    );
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert!(calls.contains("uninstall atomic-container-orpm"), "{calls}");
}

#[test]
fn auto_delivery_is_chosen_once_the_image_is_known() {
    // The rpm-ostree STAND-IN of the test above (bench::RPM_OSTREE_STAND_IN).
    let _rpm_db = RPM_DB.lock().unwrap_or_else(|e| e.into_inner());
    let h = host();
    let dir = h.tempdir();
    let stand_in = with_stand_in(h, dir.path());
    let with = |args: &[&str]| bench::succeeded(args, stand_in(args));
    // Never pulled before: an image with host files on an rpm host is a
    // package the first time, as it is once pulled.
    fixtures::greeter_hostfs().write_oci(&dir.path().join("auto"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("auto").display());
    let out = with(&["install", "--system", "--name", "oauto", &image]);
    assert!(
        out.contains("as package atomic-container-oauto-1.0-1."),
        "{out}"
    );
    with(&["uninstall", "oauto"]);
    assert!(!h
        .exec(&["rpm", "-q", "atomic-container-oauto"])
        .status
        .success());
}

/// `ATOMIC_TEST_RPM_OSTREE`: an rpm-ostree binary (v2023.5 or newer) to
/// test the RPM path against; rpm-ostree is not packaged for the machines
/// this suite runs on, so it is given, never built here.
const RPM_OSTREE_VAR: &str = "ATOMIC_TEST_RPM_OSTREE";

/// Starts the given rpm-ostree's daemon in the bench host, as the
/// `rpm-ostreed` unit the client expects, with the D-Bus policy that lets
/// root own its name. Returns a directory holding `rpm-ostree`, for PATH.
fn start_rpm_ostreed(h: &Sandbox, given: &std::path::Path) -> std::path::PathBuf {
    let bin = h.share().join("rpm-ostree-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let inside = bin.join("rpm-ostree");
    if std::fs::hard_link(given, &inside).is_err() {
        std::fs::copy(given, &inside).unwrap();
    }
    let path = format!(
        "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        bin.display()
    );
    std::fs::write(
        h.path("/etc/dbus-1/system.d/org.projectatomic.rpmostree1.conf"),
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n \
         \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
         <busconfig><policy user=\"root\">\
         <allow own=\"org.projectatomic.rpmostree1\"/>\
         <allow send_destination=\"org.projectatomic.rpmostree1\"/>\
         </policy></busconfig>\n",
    )
    .unwrap();
    std::fs::write(
        h.path("/etc/systemd/system/rpm-ostreed.service"),
        format!(
            "[Unit]\nDescription=rpm-ostree daemon of the test host\n\n\
             [Service]\nType=dbus\nBusName=org.projectatomic.rpmostree1\nMountFlags=slave\n\
             Environment=PATH={path}\nExecStart={} start-daemon\n",
            inside.display()
        ),
    )
    .unwrap();
    h.check(&[
        "busctl",
        "call",
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "ReloadConfig",
    ]);
    h.check(&["systemctl", "daemon-reload"]);
    h.check(&["systemctl", "start", "rpm-ostreed.service"]);
    bin
}

/// The `requested-local-packages` of the deployment rpm-ostree would boot next.
fn requested(h: &Sandbox, path: &str) -> Vec<String> {
    let out = check(
        h.command("rpm-ostree")
            .env("PATH", path)
            .args(["status", "--json"]),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["deployments"][0]["requested-local-packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect()
}

#[test]
#[ignore = "needs ATOMIC_TEST_RPM_OSTREE=<an rpm-ostree binary, v2023.5 or newer>; run with --ignored"]
fn rpm_mode_against_a_real_rpm_ostree() {
    let given = std::env::var_os(RPM_OSTREE_VAR).unwrap_or_else(|| {
        panic!(
            "did not run: {RPM_OSTREE_VAR} names no rpm-ostree binary \
             (rpm-ostree is not packaged here; build one and give its path)"
        )
    });
    require_root();
    // Its own host: rpm-ostree is to be the one package manager there, not
    // beside the stand-in of the test above.
    let h = Sandbox::ostree_host_of_its_own();
    let bin = start_rpm_ostreed(h, std::path::Path::new(&given));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let version = check(h.command("rpm-ostree").env("PATH", &path).arg("--version"));
    println!(
        "testing against {}",
        version.lines().nth(1).unwrap_or("?").trim()
    );
    let with = |args: &[&str]| {
        let out = run(h.atomic().env("PATH", &path).args(args));
        bench::succeeded(args, out)
    };
    let dir = h.tempdir();
    fixtures::greeter_hostfs().write_oci(&dir.path().join("greeter"), "1.0");
    let image = format!("oci:{}:1.0", dir.path().join("greeter").display());

    let out = with(&[
        "install",
        "--system",
        "--rpm",
        "--now",
        "--name",
        "real",
        "--set",
        "PORT=8211",
        &image,
    ]);
    assert!(
        out.contains("as package atomic-container-real-1.0-1."),
        "{out}"
    );
    assert!(greet(8211).starts_with("Hi world"));
    let first = h.check(&["rpm", "-q", "atomic-container-real"]);
    assert_eq!(
        requested(h, &path),
        [first.trim()],
        "layered as a local package"
    );
    assert!(h.path("/usr/lib/systemd/system/real.service").exists());
    // An /etc file the operator edits is theirs through an update that
    // changes it (its template has RECEIVER) and after the uninstall.
    let conf = h.path("/etc/greeter/greeting.conf");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "greeting for world on port 8211\n"
    );
    std::fs::write(&conf, "edited by the operator\n").unwrap();

    with(&["containers", "update", "real", "--set", "RECEIVER=real"]);
    assert!(greet(8211).starts_with("Hi real"));
    let second = h.check(&["rpm", "-q", "atomic-container-real"]);
    assert!(second.contains("-1.0-2."), "{second}");
    assert_eq!(requested(h, &path), [second.trim()], "replaced, not added");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "edited by the operator\n"
    );

    with(&["containers", "rollback", "real"]);
    assert!(greet(8211).starts_with("Hi world"));
    assert_eq!(h.check(&["rpm", "-q", "atomic-container-real"]), first);
    assert_eq!(
        requested(h, &path),
        [first.trim()],
        "downgraded the same way"
    );

    let out = run(h.atomic().env("PATH", &path).args(["uninstall", "real"]));
    assert!(out.status.success(), "{out:?}");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(closed(8211), "stopped by the tool: %preun never runs here");
    let kept = [
        "/etc/greeter/greeting.conf",
        "/etc/greeter/greeting.conf.rpmsave",
    ]
    .into_iter()
    .find(|p| std::fs::read_to_string(h.path(p)).is_ok_and(|t| t == "edited by the operator\n"))
    .unwrap_or_else(|| panic!("the operator's edit is lost: {out}"));
    assert!(out.contains(kept), "the message says where: {out}");
    assert!(!h
        .exec(&["rpm", "-q", "atomic-container-real"])
        .status
        .success());
    assert!(
        requested(h, &path).is_empty(),
        "the layering request is withdrawn"
    );
    assert!(!h.path("/usr/lib/systemd/system/real.service").exists());
    let enabled = h.exec(&["systemctl", "is-enabled", "real.service"]);
    assert!(!String::from_utf8_lossy(&enabled.stdout).contains("enabled"));
}
