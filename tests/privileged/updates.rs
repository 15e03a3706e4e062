//! Updates that refuse no connection and go back by themselves, under a
//! real systemd (the sandbox) and runc: the socket-activated greeter of
//! contrib/greeter-socket, health-gated update and rollback, in plain and
//! RPM mode.

use crate::bench;
use bench::client::Client;
use bench::image::Image;
use bench::sandbox::Sandbox;
use bench::{closed, fixtures, greet, require_root, run};
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

fn host() -> &'static Sandbox {
    require_root();
    Sandbox::shared()
}

fn atomic(h: &Sandbox, args: &[&str]) -> Output {
    run(h.atomic().args(args))
}

fn ok(h: &Sandbox, args: &[&str]) -> String {
    bench::succeeded(args, atomic(h, args))
}

fn fails(h: &Sandbox, args: &[&str]) -> String {
    let out = atomic(h, args);
    assert!(
        !out.status.success(),
        "atomic {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// `img` as the OCI layout `dir/NAME` tagged `tag`, and its image string
/// (stored as `localhost/NAME:TAG`: each test names its own).
fn layout(dir: &tempfile::TempDir, name: &str, img: &Image, tag: &str) -> String {
    img.write_oci(&dir.path().join(name), tag);
    format!("oci:{}:{tag}", dir.path().join(name).display())
}

fn listed(h: &Sandbox, name: &str) -> Value {
    let list: Value =
        serde_json::from_str(&ok(h, &["containers", "list", "--all", "--json"])).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not listed: {list}"))
        .clone()
}

#[test]
fn a_socket_activated_greeter_refuses_no_connection_through_updates_and_rollbacks() {
    let h = host();
    let dir = h.tempdir();
    let image = layout(
        &dir,
        "sock",
        &fixtures::socket_greeter(&fixtures::socket_greeter_manifest()),
        "1.0",
    );
    let out = ok(
        h,
        &[
            "install",
            "--system",
            "--now",
            "--name",
            "sock",
            "--set",
            "PORT=8401",
            &image,
        ],
    );
    assert!(out.contains("Started sock.socket"), "{out}");
    let enabled = h.check(&["systemctl", "is-enabled", "sock.socket"]);
    assert_eq!(enabled.trim(), "enabled", "the socket is what is enabled");
    assert_eq!(h.unit_state("sock.socket"), "active");
    assert_ne!(
        h.unit_state("sock.service"),
        "active",
        "nothing runs before a connection comes"
    );
    assert!(h.path("/etc/systemd/system/sock.socket").exists());
    // The first connection starts the service, which answers on the
    // socket systemd holds (its port is systemd's: the greeter could not
    // bind it itself).
    assert!(greet(8401).starts_with("Hi world from container sock"));
    assert_eq!(h.unit_state("sock.service"), "active");

    let client = Client::start(8401);
    for i in 0..3 {
        let receiver = format!("moon{i}");
        ok(
            h,
            &[
                "containers",
                "update",
                "sock",
                "--set",
                &format!("RECEIVER={receiver}"),
            ],
        );
        assert!(greet(8401).starts_with(&format!("Hi {receiver} ")));
        ok(h, &["containers", "rollback", "sock"]);
        assert!(greet(8401).starts_with("Hi world "));
    }
    let (answered, failed, errors) = client.finish();
    assert!(answered > 50, "the client got {answered} answers");
    assert_eq!(failed, 0, "refused or cut short: {errors:?}");

    let me = listed(h, "sock");
    assert_eq!(me["socket"], true);
    assert_eq!(me["health"], "healthy");
    assert_eq!(me["last-update"]["outcome"], "rollback");

    // A new port: the socket moves with the update.
    ok(h, &["containers", "update", "sock", "--set", "PORT=8406"]);
    assert!(greet(8406).starts_with("Hi world"));
    assert!(closed(8401), "the old port is closed");

    let out = ok(h, &["uninstall", "sock"]);
    assert!(out.contains("Uninstalled sock"), "{out}");
    assert!(closed(8406), "the socket is gone");
    assert!(!h.path("/etc/systemd/system/sock.socket").exists());
    assert_ne!(h.unit_state("sock.socket"), "active");
}

/// The greeter whose health check asks it for its greeting.
fn checked_greeter() -> Image {
    let manifest = r#"{ "version": "1.0", "defaultValues": { "RECEIVER": "world", "PORT": "8081" },
        "healthCheck": { "command": ["/bin/sh", "-c", "nc 127.0.0.1 $PORT </dev/null | grep -q '^Hi '"],
                         "interval": 0.5, "retries": 4 } }"#;
    Image::new(
        vec![
            fixtures::busybox_layer(bench::image::Compression::Gzip),
            fixtures::greeter_layer(manifest, ""),
        ],
        fixtures::greeter_config("1.0"),
    )
}

/// The greeter whose health check never passes, with a host file of its
/// own (`/etc/CONF`).
fn never_healthy(conf: &str) -> Image {
    let manifest = r#"{ "version": "1.0", "defaultValues": { "RECEIVER": "sick", "PORT": "8081" },
        "healthCheck": { "command": ["/bin/sh", "-c", "echo not ready >&2; exit 1"],
                         "interval": 0.5, "retries": 2 } }"#;
    Image::new(
        vec![
            fixtures::busybox_layer(bench::image::Compression::Gzip),
            fixtures::greeter_layer(
                manifest,
                &format!(
                    "d exports/hostfs\nd exports/hostfs/etc\nf exports/hostfs/etc/{conf} = v2\\n\n"
                ),
            ),
        ],
        fixtures::greeter_config("2.0"),
    )
}

/// The greeter whose command exits at once.
fn exits_at_start() -> Image {
    let config = fixtures::greeter_file("exports/config.json.template")
        .replace("\"/usr/bin/greet\"", "\"/bin/false\"");
    Image::new(
        vec![
            fixtures::busybox_layer(bench::image::Compression::Gzip),
            fixtures::greeter_layer_with(
                &fixtures::greeter_file("exports/manifest.json"),
                &config,
                "",
            ),
        ],
        fixtures::greeter_config("3.0"),
    )
}

#[test]
fn an_update_that_is_not_healthy_goes_back_by_itself_and_says_why() {
    let h = host();
    let dir = h.tempdir();
    let good = layout(&dir, "hc", &checked_greeter(), "1.0");
    let sick = layout(&dir, "hc", &never_healthy("hc-sick.conf"), "2.0");
    let dead = layout(&dir, "hc", &exits_at_start(), "3.0");
    ok(
        h,
        &[
            "install",
            "--system",
            "--now",
            "--name",
            "hc",
            "--set",
            "PORT=8402",
            &good,
        ],
    );
    assert!(greet(8402).starts_with("Hi world"));
    assert_eq!(listed(h, "hc")["health"], "healthy");

    let err = fails(h, &["containers", "update", "hc", "--rebase", &sick]);
    assert!(
        err.contains("rolled back hc to /var/lib/containers/atomic/hc.0: its health check"),
        "{err}"
    );
    assert!(err.contains("not ready"), "the check's own words: {err}");
    assert!(
        greet(8402).starts_with("Hi world"),
        "the old deployment serves"
    );
    let link = std::fs::read_link(h.path("/var/lib/containers/atomic/hc")).unwrap();
    assert_eq!(link.to_str(), Some("hc.0"));
    let unit = std::fs::read_to_string(h.path("/etc/systemd/system/hc.service")).unwrap();
    assert!(
        unit.contains("WorkingDirectory=/var/lib/containers/atomic/hc.0"),
        "the old unit is back: {unit}"
    );
    assert!(
        !h.path("/etc/hc-sick.conf").exists(),
        "the new deployment's host file went with it"
    );
    let me = listed(h, "hc");
    assert_eq!(me["last-update"]["outcome"], "rolled back");
    assert!(
        me["last-update"]["reason"]
            .as_str()
            .unwrap()
            .contains("not ready"),
        "{me}"
    );
    assert_eq!(me["image"], listed(h, "hc")["image"]);

    // A service that exits at start is seen restarting, well before the
    // deadline.
    let started = std::time::Instant::now();
    let err = fails(h, &["containers", "update", "hc", "--rebase", &dead]);
    assert!(
        err.contains("rolled back hc to /var/lib/containers/atomic/hc.0: hc.service"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(greet(8402).starts_with("Hi world"));

    // --no-health keeps today's behaviour: the update stays.
    let set = ["--set", "RECEIVER=sick", "--no-health"];
    ok(
        h,
        &[&["containers", "update", "hc", "--rebase", &sick][..], &set].concat(),
    );
    assert!(greet(8402).starts_with("Hi sick"));
    assert_eq!(listed(h, "hc")["health"], "unhealthy");
    // Rolling back is gated too, and this one is healthy.
    ok(h, &["containers", "rollback", "hc"]);
    assert!(greet(8402).starts_with("Hi world"));
    ok(h, &["uninstall", "hc"]);
    assert!(closed(8402));
}

#[test]
fn a_docker_healthcheck_of_the_image_config_is_honoured() {
    let h = host();
    let dir = h.tempdir();
    let good = layout(&dir, "dh", &fixtures::greeter(), "1.0");
    let mut bad = fixtures::greeter();
    bad.config.healthcheck = Some(serde_json::json!({
        "Test": ["CMD-SHELL", "echo docker check failed; exit 1"],
        "Interval": 500_000_000u64, "Retries": 2
    }));
    let bad = layout(&dir, "dh", &bad, "2.0");
    ok(
        h,
        &[
            "install",
            "--system",
            "--now",
            "--name",
            "dh",
            "--set",
            "PORT=8403",
            &good,
        ],
    );
    greet(8403);
    let err = fails(h, &["containers", "update", "dh", "--rebase", &bad]);
    assert!(err.contains("rolled back dh to"), "{err}");
    assert!(err.contains("docker check failed"), "{err}");
    assert!(greet(8403).starts_with("Hi world"));
    ok(h, &["uninstall", "dh"]);
}

#[test]
fn in_rpm_mode_an_unhealthy_update_goes_back_to_the_previous_release() {
    let h = host();
    h.register_shell();
    let dir = h.tempdir();
    let good = layout(&dir, "hr", &checked_greeter(), "1.0");
    let sick = layout(&dir, "hr", &never_healthy("hr-sick.conf"), "2.0");
    let out = ok(
        h,
        &[
            "install",
            "--system",
            "--rpm",
            "--now",
            "--name",
            "hr",
            "--set",
            "PORT=8404",
            &good,
        ],
    );
    assert!(
        out.contains("as package atomic-container-hr-1.0-1."),
        "{out}"
    );
    let q = || {
        h.check(&["rpm", "-q", "atomic-container-hr"])
            .trim()
            .to_string()
    };
    let first = q();
    assert!(greet(8404).starts_with("Hi world"));
    let err = fails(h, &["containers", "update", "hr", "--rebase", &sick]);
    let nvr = first.trim_end_matches(".noarch");
    assert!(
        err.contains(&format!(
            "rolled back hr to package {nvr}: its health check"
        )),
        "{err}"
    );
    assert_eq!(q(), first, "the previous release is installed again");
    assert!(!h.path("/etc/hr-sick.conf").exists(), "and its files only");
    assert!(greet(8404).starts_with("Hi world"));
    assert_eq!(listed(h, "hr")["last-update"]["outcome"], "rolled back");
    ok(h, &["uninstall", "hr"]);
    assert!(closed(8404));
}

#[test]
fn a_kill_during_the_health_wait_is_undone_by_the_next_command() {
    let h = host();
    let dir = h.tempdir();
    let good = layout(&dir, "hk", &checked_greeter(), "1.0");
    let manifest = r#"{ "version": "1.0", "defaultValues": { "RECEIVER": "world", "PORT": "8081" },
        "healthCheck": { "command": ["/bin/false"], "interval": 0.5, "retries": 100 } }"#;
    let slow = Image::new(
        vec![
            fixtures::busybox_layer(bench::image::Compression::Gzip),
            fixtures::greeter_layer(manifest, ""),
        ],
        fixtures::greeter_config("2.0"),
    );
    let slow = layout(&dir, "hk", &slow, "2.0");
    ok(
        h,
        &[
            "install",
            "--system",
            "--now",
            "--name",
            "hk",
            "--set",
            "PORT=8405",
            &good,
        ],
    );
    let hello = greet(8405);
    let mut child = h
        .atomic()
        .args([
            "containers",
            "update",
            "hk",
            "--rebase",
            &slow,
            "--set",
            "RECEIVER=slow",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Waiting for health: the new deployment answers, the tool waits on.
    let start = std::time::Instant::now();
    while !greet(8405).starts_with("Hi slow") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the update never got there"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "still waiting for health"
    );
    for pid in bench::pids_of(&["containers", "update", "hk"]) {
        // SAFETY: kill(2) on a process of this test.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(!child.wait().unwrap().success(), "the update was killed");
    let out = atomic(h, &["containers", "update", "hk"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("undoing an interrupted update of hk"), "{err}");
    assert_eq!(greet(8405), hello, "back on the old deployment, serving");
    let link = std::fs::read_link(h.path("/var/lib/containers/atomic/hk")).unwrap();
    assert_eq!(link.to_str(), Some("hk.0"));
    ok(h, &["uninstall", "hk"]);
}

#[test]
fn a_check_that_leaves_a_process_behind_is_bounded_by_its_timeout() {
    // runc copies an exec's output until every writer is gone: a check
    // that leaves a child holding it never "ends" for runc. The tool
    // waits for it only until its timeout, kills it, and goes back.
    let h = host();
    let dir = h.tempdir();
    let manifest = r#"{ "version": "1.0", "defaultValues": { "RECEIVER": "world", "PORT": "8081" },
        "healthCheck": { "command": ["/bin/sh", "-c", "sleep 30 & exit 0"], "interval": 0.5, "timeout": 1, "retries": 2 } }"#;
    let img = Image::new(
        vec![
            fixtures::busybox_layer(bench::image::Compression::Gzip),
            fixtures::greeter_layer(manifest, ""),
        ],
        fixtures::greeter_config("1.0"),
    );
    let good = layout(&dir, "hb", &fixtures::greeter(), "1.0");
    let lingering = layout(&dir, "hb", &img, "2.0");
    ok(
        h,
        &[
            "install",
            "--system",
            "--now",
            "--name",
            "hb",
            "--set",
            "PORT=8407",
            &good,
        ],
    );
    greet(8407);
    let start = std::time::Instant::now();
    let err = fails(h, &["containers", "update", "hb", "--rebase", &lingering]);
    assert!(err.contains("rolled back hb to"), "{err}");
    assert!(err.contains("no answer within 1 s"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(greet(8407).starts_with("Hi world"));
    ok(h, &["uninstall", "hb"]);
}
