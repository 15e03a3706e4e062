//! Self-tests of the test bench that need no root, each against the real
//! component: the image builder's output read by skopeo, and the registry
//! serving a pushed fixture (the sandbox and the rpm root are tested in
//! the privileged target).

mod bench;

use bench::image::{Compression, Layer};
use bench::registry::Registry;
use bench::{check, fixtures};
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
