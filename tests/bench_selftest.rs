//! Self-tests of the test bench, each against the real component: the image
//! builder's output read by skopeo, the registry serving a pushed fixture,
//! the systemd sandbox running a runc bundle as a service, and the rpm root
//! installing and erasing a package built with the `rpm` crate.

mod bench;

use bench::image::{Compression, Layer};
use bench::registry::Registry;
use bench::rpmroot::RpmRoot;
use bench::sandbox::Sandbox;
use bench::{check, fixtures, require_root};
use serde_json::Value;
use std::process::Command;

#[test]
fn text_format_writes_every_entry_kind() {
    let l = Layer::parse(
        "d etc 0750 1:2\nf etc/a 0600 = x\\ny\nl etc/b a\nh etc/c etc/a\nw usr/gone\no var/opq\nc dev/null",
        Compression::None,
    );
    let mut a = tar::Archive::new(&l.tar[..]);
    let got: Vec<(String, tar::EntryType, u32, u64)> = a
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            (path, h.entry_type(), h.mode().unwrap(), h.uid().unwrap())
        })
        .collect();
    use tar::EntryType as E;
    assert_eq!(
        got,
        [
            ("etc/".into(), E::Directory, 0o750, 1),
            ("etc/a".into(), E::Regular, 0o600, 0),
            ("etc/b".into(), E::Symlink, 0o777, 0),
            ("etc/c".into(), E::Link, 0o777, 0),
            ("usr/.wh.gone".into(), E::Regular, 0o644, 0),
            ("var/opq/.wh..wh..opq".into(), E::Regular, 0o644, 0),
            ("dev/null".into(), E::Char, 0o666, 0),
        ]
    );
}

#[test]
fn skopeo_reads_the_oci_layout_and_the_docker_archive() {
    let t = tempfile::tempdir().unwrap();
    let img = fixtures::no_exports();
    let oci = img.write_oci(&t.path().join("layout"), "v1");
    let inspect: Value = serde_json::from_str(&check(Command::new("skopeo").args([
        "inspect",
        &format!("oci:{}:v1", t.path().join("layout").display()),
    ])))
    .unwrap();
    assert_eq!(inspect["Digest"], format!("sha256:{}", oci.manifest_digest));
    let layers: Vec<String> = oci
        .layer_digests
        .iter()
        .map(|d| format!("sha256:{d}"))
        .collect();
    assert_eq!(inspect["Layers"], serde_json::json!(layers));
    assert_eq!(inspect["Env"][1], "GREETING=hello");

    let tar = t.path().join("img.tar");
    let docker = img.write_docker_archive(&tar, "example.org/plain:v1");
    assert_eq!(docker.image_id, oci.image_id, "same config, same image id");
    let config: Value = serde_json::from_str(&check(Command::new("skopeo").args([
        "inspect",
        "--config",
        &format!("docker-archive:{}", tar.display()),
    ])))
    .unwrap();
    let diff_ids: Vec<String> = oci.diff_ids.iter().map(|d| format!("sha256:{d}")).collect();
    assert_eq!(config["rootfs"]["diff_ids"], serde_json::json!(diff_ids));
}

#[test]
fn registry_serves_a_pushed_fixture_and_logs_fetched_blobs() {
    let t = tempfile::tempdir().unwrap();
    let layout = t.path().join("layout");
    let written = fixtures::greeter().write_oci(&layout, "1.0");
    let registry = Registry::start();
    let reference = registry.push(&layout, "1.0", "greeter", "1.0");
    let inspect: Value = serde_json::from_str(&check(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ])))
    .unwrap();
    assert_eq!(
        inspect["Digest"],
        format!("sha256:{}", written.manifest_digest)
    );
    assert_eq!(inspect["Labels"]["atomic.version"], "1.0");
    assert_eq!(
        registry.fetched_blobs(),
        std::slice::from_ref(&written.image_id),
        "inspect fetches the config only"
    );

    check(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        &format!("docker://{reference}"),
        &format!("oci:{}:copy", t.path().join("copy").display()),
    ]));
    let fetched = registry.fetched_blobs();
    for d in &written.layer_digests {
        assert!(
            fetched.contains(d),
            "layer {d} not in the access log: {fetched:?}"
        );
    }
}

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
