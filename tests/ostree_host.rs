//! An image-based host for real, in the test bench: an OSTree sysroot made
//! with Debian's libostree alone, its deployment booted by a private PID
//! and mount namespace that pivots into it (`/sysroot` read-only, `/var` the
//! stateroot's own mount, `/usr` read-only, `/etc` writable), with a real
//! systemd inside. The tool runs there as it would on Fedora CoreOS.

mod bench;

use bench::sandbox::Sandbox;
use bench::{closed, fixtures, greet, require_root, run};
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
    // /usr as booted is read-only (a live apply may stack an overlay on it).
    let usr = h.check(&["findmnt", "-n", "-l", "-o", "FSTYPE,OPTIONS", "/usr"]);
    assert!(
        usr.lines().any(|l| !l.starts_with("overlay")
            && l.split_whitespace()
                .nth(1)
                .is_some_and(|o| o.split(',').any(|x| x == "ro"))),
        "/usr is read-only:\n{usr}"
    );
    let var = h.check(&["findmnt", "-n", "-o", "TARGET", "/var"]);
    assert_eq!(var.trim(), "/var", "/var is its own mount");
    h.check(&["touch", "/etc/atomic-probe"]);
    assert!(h.path("/run/ostree-booted").exists());
}

#[test]
fn plain_mode_lifecycle_on_an_image_based_host() {
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

#[test]
fn rpm_mode_takes_the_rpm_ostree_path_and_stops_and_disables_the_service_itself() {
    // rpm-ostree is not packaged for this machine: a STAND-IN plays it
    // (bench::RPM_OSTREE_STAND_IN), applying live under an overlay of /usr
    // and running no scriptlet, as on a real image-based host, where
    // %preun/%postun never run. Stopping and disabling is the tool's own.
    let h = host();
    let dir = h.tempdir();
    let bin = bench::rpm_ostree_stand_in(dir.path());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let state = dir.path().display().to_string();
    let with = |args: &[&str]| {
        let out = run(h
            .atomic()
            .env("PATH", &path)
            .env("STANDIN_STATE", &state)
            .args(args));
        bench::succeeded(args, out)
    };
    fixtures::greeter().write_oci(&dir.path().join("greeter"), "1.0");
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

    with(&["uninstall", "orpm"]);
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
