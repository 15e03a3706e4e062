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
    let out = atomic(h, args);
    assert!(
        out.status.success(),
        "atomic {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_bench_host_is_booted_as_libostree_sees_it() {
    let h = host();
    let status = h.check(&["ostree", "admin", "status"]);
    assert!(
        status.lines().any(|l| l.starts_with("* os ")),
        "the deployment is marked booted:\n{status}"
    );
    for (path, what) in [("/sysroot/probe", "/sysroot"), ("/usr/probe", "/usr")] {
        let out = h.exec(&["touch", path]);
        assert!(!out.status.success(), "{what} is read-only");
    }
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
