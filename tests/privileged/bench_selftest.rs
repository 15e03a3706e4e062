//! Self-tests of the test bench that need root, each against the real
//! component: the systemd sandbox running a runc bundle as a service, and
//! the rpm root installing and erasing a package built with the `rpm`
//! crate.

use crate::bench;
use bench::image::Compression;
use bench::rpmroot::RpmRoot;
use bench::sandbox::Sandbox;
use bench::{check, fixtures, require_root};
use serde_json::Value;
use std::process::Command;

#[test]
fn sandbox_runs_a_runc_bundle_as_a_systemd_service() {
    require_root();
    let sandbox = Sandbox::shared();
    let dir = sandbox.tempdir();
    let bundle = dir.path();
    let rootfs = bundle.join("rootfs");
    tar::Archive::new(&fixtures::busybox_layer(Compression::None).tar[..])
        .unpack(&rootfs)
        .unwrap();
    check(Command::new("runc").arg("spec").current_dir(bundle));
    let mut spec: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!([
        "/bin/sh",
        "-c",
        "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"
    ]);
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(&spec).unwrap(),
    )
    .unwrap();
    let unit = format!(
        "[Service]\nType=forking\nPIDFile=/run/bench-selftest.pid\n\
         ExecStart=/usr/sbin/runc --systemd-cgroup run -d --pid-file /run/bench-selftest.pid bench-selftest\n\
         ExecStop=/usr/sbin/runc kill bench-selftest TERM\n\
         ExecStopPost=/usr/sbin/runc delete --force bench-selftest\n\
         WorkingDirectory={}\n",
        bundle.display()
    );
    std::fs::write(
        sandbox.path("/etc/systemd/system/bench-selftest.service"),
        unit,
    )
    .unwrap();
    sandbox.check(&["systemctl", "daemon-reload"]);
    sandbox.check(&["systemctl", "start", "bench-selftest.service"]);
    assert_eq!(sandbox.unit_state("bench-selftest.service"), "active");
    let list = sandbox.check(&["runc", "list", "-q"]);
    assert_eq!(list.trim(), "bench-selftest");

    sandbox.check(&["systemctl", "stop", "bench-selftest.service"]);
    assert_eq!(sandbox.unit_state("bench-selftest.service"), "inactive");
    assert_eq!(sandbox.check(&["runc", "list", "-q"]).trim(), "");
    assert!(
        !std::path::Path::new("/etc/systemd/system/bench-selftest.service").exists(),
        "the unit was written inside the sandbox only"
    );
}

#[test]
fn rpm_root_installs_runs_scriptlets_and_erases() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let pkg = rpm::PackageBuilder::new(
        "atomic-bench-selftest",
        "1.0",
        "MIT",
        "noarch",
        "bench self-test",
    )
    .release("1")
    .with_file_contents(
        "hello\n",
        rpm::FileOptions::new("/usr/share/atomic-bench/hello").mode(rpm::FileMode::regular(0o640)),
    )
    .unwrap()
    .post_install_script(
        "mkdir -p /var/lib/atomic-bench && echo installed > /var/lib/atomic-bench/post",
    )
    .post_uninstall_script("rm -rf /var/lib/atomic-bench")
    .build()
    .unwrap();
    let file = t.path().join("p.rpm");
    pkg.write_file(&file).unwrap();

    let root = RpmRoot::new();
    root.check(&["-ivh", file.to_str().unwrap()]);
    assert!(root.has("atomic-bench-selftest"));
    assert_eq!(
        std::fs::read_to_string(root.file("/usr/share/atomic-bench/hello")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.file("/var/lib/atomic-bench/post")).unwrap(),
        "installed\n",
        "the %post scriptlet ran with the root's /bin/sh"
    );
    let listed = root.check(&["-ql", "atomic-bench-selftest"]);
    assert_eq!(listed.trim(), "/usr/share/atomic-bench/hello");
    root.check(&["-V", "atomic-bench-selftest"]);

    root.check(&["-e", "atomic-bench-selftest"]);
    assert!(!root.has("atomic-bench-selftest"));
    assert!(!root.file("/usr/share/atomic-bench/hello").exists());
    assert!(!root.file("/var/lib/atomic-bench").exists());
}
