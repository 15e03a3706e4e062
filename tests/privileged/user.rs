//! A user's own system containers (`--user`) under their real `systemd
//! --user`, in the sandbox: a user made for the test, lingering so that
//! `user@UID.service` runs, pulls, installs, updates, rolls back and
//! removes the greeter as themselves, with rootless runc; nothing outside
//! their home and runtime directory changes, and another user sees none
//! of it.

use crate::bench;

use bench::image::Image;
use bench::registry::Registry;
use bench::sandbox::Sandbox;
use bench::{closed, fixtures, greet, require_root};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A user of the sandbox, with their manager running.
struct User {
    name: &'static str,
    uid: u32,
}

impl User {
    fn home(&self) -> String {
        format!("/home/{}", self.name)
    }

    fn runtime_dir(&self) -> String {
        format!("/run/user/{}", self.uid)
    }

    /// `program ARGS` run as the user in the sandbox, with the
    /// environment of their login session and nothing of the test's.
    fn command(&self, h: &Sandbox, program: &str) -> Command {
        let mut c = h.command("runuser");
        c.args(["-u", self.name, "--", "env", "-i"])
            .arg(format!("HOME={}", self.home()))
            .arg(format!("USER={}", self.name))
            .arg(format!("XDG_RUNTIME_DIR={}", self.runtime_dir()))
            .arg(format!(
                "DBUS_SESSION_BUS_ADDRESS=unix:path={}/bus",
                self.runtime_dir()
            ))
            .arg("PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .arg(program);
        c
    }

    fn atomic(&self, h: &Sandbox, args: &[&str]) -> Output {
        bench::run(
            self.command(h, &h.atomic_bin().display().to_string())
                .args(args),
        )
    }

    fn ok(&self, h: &Sandbox, args: &[&str]) -> String {
        bench::succeeded(args, self.atomic(h, args))
    }

    fn fails(&self, h: &Sandbox, args: &[&str]) -> String {
        let out = self.atomic(h, args);
        assert!(
            !out.status.success(),
            "atomic {args:?} as {} succeeded: {}",
            self.name,
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `systemctl --user ARGS` as the user.
    fn systemctl(&self, h: &Sandbox, args: &[&str]) -> String {
        let out = bench::run(self.command(h, "systemctl").arg("--user").args(args));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// Makes `name` a user of the sandbox, lingering, and waits for their
/// manager and session bus.
fn make_user(h: &Sandbox, name: &'static str, uid: u32) -> User {
    h.check(&["useradd", "--create-home", "--uid", &uid.to_string(), name]);
    h.check(&["loginctl", "enable-linger", name]);
    let user = User { name, uid };
    let bus = h.path(&format!("{}/bus", user.runtime_dir()));
    let start = Instant::now();
    loop {
        let state = h.exec(&["systemctl", "is-active", &format!("user@{uid}.service")]);
        if state.status.success() && bus.exists() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "user@{uid}.service did not start:\n{}",
            h.journal(&format!("user@{uid}.service"))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    user
}

/// The two users of this test process.
fn users() -> &'static (User, User) {
    static USERS: OnceLock<(User, User)> = OnceLock::new();
    USERS.get_or_init(|| {
        let h = Sandbox::shared();
        (make_user(h, "alice", 2101), make_user(h, "bob", 2102))
    })
}

fn host() -> &'static Sandbox {
    require_root();
    let h = Sandbox::shared();
    users();
    h
}

/// `img` in OCI layout in a directory any user may read, and its name.
fn image(h: &Sandbox, img: Image) -> (tempfile::TempDir, String) {
    let dir = h.tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let oci = dir.path().join("img");
    img.write_oci(&oci, "1.0");
    let name = format!("oci:{}:1.0", oci.display());
    (dir, name)
}

/// Held by a test that compares listings of the sandbox's system
/// directories, by one that changes them (subordinate ids in /etc), and by
/// one that runs host programs writing to the host's (`skopeo` keeps a
/// cache in `/var/lib/containers`), which the sandbox's overlay shows.
static SYSTEM_DIRS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Every path under `/etc`, `/var` and `/usr` of the sandbox with its
/// size and mtime, but the journal's files, the shared test directories
/// and what logind keeps of sessions.
fn system_listing(h: &Sandbox) -> BTreeSet<String> {
    let out = h.check(&[
        "find",
        "/etc",
        "/var",
        "/usr",
        "-xdev",
        "(",
        "-path",
        "/var/log/journal",
        "-o",
        "-path",
        "/var/tmp",
        "-o",
        "-path",
        "/var/lib/systemd/timers",
        ")",
        "-prune",
        "-o",
        "-printf",
        "%p %s %T@\\n",
    ]);
    out.lines().map(str::to_string).collect()
}

#[test]
fn a_users_own_greeter_runs_under_their_systemd() {
    let h = host();
    let (alice, bob) = users();
    let (_dir, img) = image(h, fixtures::greeter());
    let _quiet = SYSTEM_DIRS.lock().unwrap_or_else(|e| e.into_inner());
    let before = system_listing(h);

    let out = alice.ok(h, &["pull", "--storage", "ostree", &img]);
    assert!(out.contains("Pulled"), "{out}");
    let repo = format!("{}/.local/share/containers/atomic/repo", alice.home());
    let config = std::fs::read_to_string(h.path(&format!("{repo}/config"))).unwrap();
    assert!(config.contains("mode=bare-user"), "{config}");

    let install = alice.atomic(
        h,
        &[
            "install",
            "--system",
            "--now",
            "--name",
            "ug",
            "--set",
            "PORT=8301",
            &img,
        ],
    );
    let err = String::from_utf8_lossy(&install.stderr);
    assert!(install.status.success(), "install failed:\n{err}");
    // The image's template was written for root; how it was adjusted is said.
    assert!(
        err.contains("tmpfiles.d: d /run/user/2101/greeter-ug: owned by you"),
        "{err}"
    );
    assert!(
        err.contains("WantedBy=multi-user.target is default.target"),
        "{err}"
    );
    assert!(greet(8301).starts_with("Hi world"));
    let unit = format!("{}/.config/systemd/user/ug.service", alice.home());
    assert!(h.path(&unit).exists());
    assert_eq!(alice.systemctl(h, &["is-active", "ug.service"]), "active");
    assert_eq!(alice.systemctl(h, &["is-enabled", "ug.service"]), "enabled");
    let ps = h.check(&["ps", "-o", "user=", "-C", "greet"]);
    assert!(
        ps.lines().all(|l| l.trim() == "alice") && !ps.trim().is_empty(),
        "the greeter runs as alice: {ps:?}"
    );
    let slot = format!("{}/.local/share/containers/atomic/ug.0", alice.home());
    let bundle = std::fs::read_to_string(h.path(&format!("{slot}/config.json"))).unwrap();
    assert!(bundle.contains("\"hostID\": 2101"), "{bundle}");

    let list = alice.ok(h, &["containers", "list"]);
    let row = list
        .lines()
        .find(|l| l.starts_with("ug "))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains("running"), "{list}");

    alice.ok(
        h,
        &["containers", "update", "ug", "--set", "RECEIVER=alice"],
    );
    assert!(greet(8301).starts_with("Hi alice"));
    alice.ok(h, &["containers", "rollback", "ug"]);
    assert!(greet(8301).starts_with("Hi world"));

    // Bob sees none of it and cannot touch it.
    let theirs = bob.ok(h, &["containers", "list", "-q"]);
    assert!(theirs.trim().is_empty(), "{theirs}");
    let err = bob.fails(h, &["uninstall", "ug"]);
    assert!(err.contains("container ug is not installed"), "{err}");
    let peek = bench::run(bob.command(h, "ls").arg(&slot));
    assert!(!peek.status.success(), "bob can read alice's slot");
    assert_eq!(bob.systemctl(h, &["is-active", "ug.service"]), "inactive");
    assert!(greet(8301).starts_with("Hi world"));

    alice.ok(h, &["uninstall", "ug"]);
    assert!(closed(8301));
    assert!(!h.path(&unit).exists());
    alice.ok(h, &["images", "delete", &img]);

    let after = system_listing(h);
    let added: Vec<_> = after.difference(&before).collect();
    let removed: Vec<_> = before.difference(&after).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "/etc, /var or /usr changed:\nadded {added:#?}\nremoved {removed:#?}"
    );
}

#[test]
fn rpm_mode_is_refused_for_a_user_and_says_why() {
    let h = host();
    let (alice, _) = users();
    let (_dir, img) = image(h, fixtures::greeter());
    for args in [
        &["install", "--system", "--rpm", "--name", "ur", &img][..],
        &["install", "--system", "--rpm=build", "--name", "ur", &img],
        &[
            "install",
            "--system",
            "--system-package",
            "yes",
            "--name",
            "ur",
            &img,
        ],
    ] {
        let err = alice.fails(h, args);
        assert!(
            err.contains("cannot be used with --user: a package is installed for the whole host"),
            "{args:?}: {err}"
        );
    }
    let out = bench::run(
        h.atomic()
            .args(["--user", "install", "--system", "--rpm", &img]),
    );
    assert!(!out.status.success());
}

#[test]
fn host_files_outside_the_home_are_refused_and_leave_nothing() {
    let h = host();
    let (alice, _) = users();
    let (_dir, img) = image(h, fixtures::greeter_hostfs());
    alice.ok(h, &["pull", "--storage", "ostree", &img]);
    let err = alice.fails(
        h,
        &[
            "install",
            "--system",
            "--name",
            "uh",
            "--set",
            "PORT=8302",
            &img,
        ],
    );
    assert!(
        err.contains("/exports/hostfs/etc/greeter")
            && err.contains("may only place host files under their home (/home/alice)"),
        "{err}"
    );
    let root = h.path(&format!("{}/.local/share/containers/atomic", alice.home()));
    let left: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("uh") || n.starts_with(".uh"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!h.path("/etc/greeter").exists());
    alice.ok(h, &["images", "delete", &img]);
}

#[test]
fn files_owned_by_ids_outside_the_mapping_become_the_users_and_that_is_said() {
    let h = host();
    let (alice, _) = users();
    let (_dir, img) = image(h, fixtures::greeter_foreign_owner());
    alice.ok(h, &["pull", "--storage", "ostree", &img]);
    let out = alice.atomic(
        h,
        &[
            "install",
            "--system",
            "--now",
            "--name",
            "uo",
            "--set",
            "PORT=8303",
            &img,
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("/srv/data (uid 4000, gid 4000)") && err.contains("owned by you"),
        "{err}"
    );
    assert!(greet(8303).starts_with("Hi world"));
    let data = h.path(&format!(
        "{}/.local/share/containers/atomic/uo.0/rootfs/srv/data",
        alice.home()
    ));
    let meta = std::fs::metadata(&data).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), alice.uid);
    alice.ok(h, &["uninstall", "uo"]);
    alice.ok(h, &["images", "delete", &img]);
}

#[test]
fn a_users_registries_conf_and_auth_file_are_theirs_alone() {
    let h = host();
    let (alice, _) = users();
    let t = tempfile::tempdir().unwrap();
    let layout = t.path().join("layout");
    fixtures::greeter().write_oci(&layout, "1.0");
    let registry = Registry::start_with_auth("alice", "s3cret");
    let reference = {
        let _quiet = SYSTEM_DIRS.lock().unwrap_or_else(|e| e.into_inner());
        registry.push_as(&layout, "1.0", "team/greeter", "1.0", Some("alice:s3cret"))
    };
    // A short name, resolved through alice's own search list, from a
    // plain-HTTP registry she marks insecure, with her `podman login` file.
    let conf_dir = format!("{}/.config/containers", alice.home());
    let auth_dir = format!("{}/containers", alice.runtime_dir());
    for (dir, file, text) in [
        (
            &conf_dir,
            "registries.conf",
            format!(
                "unqualified-search-registries = [\"{0}\"]\n[[registry]]\nlocation = \"{0}\"\ninsecure = true\n",
                registry.host()
            ),
        ),
        (
            &auth_dir,
            "auth.json",
            format!(
                r#"{{"auths": {{"{}": {{"auth": "YWxpY2U6czNjcmV0"}}}}}}"#,
                registry.host()
            ),
        ),
    ] {
        // Made by alice, as her own tools would: ~/.config stays hers.
        bench::check(alice.command(h, "mkdir").args(["-p", dir]));
        std::fs::write(h.path(dir).join(file), text).unwrap();
        h.check(&["chown", "alice:alice", &format!("{dir}/{file}")]);
    }
    let out = alice.ok(h, &["pull", "--storage", "ostree", "team/greeter:1.0"]);
    assert!(out.contains(&format!("Pulled {reference}")), "{out}");
    let images = alice.ok(h, &["images", "list", "-q"]);
    assert!(!images.trim().is_empty(), "{images}");
    alice.ok(h, &["images", "delete", &reference]);

    // Root does not take host policy from a home directory.
    let root_checkouts = h.tempdir();
    let out = bench::run(
        h.atomic()
            .env("HOME", alice.home())
            .env("XDG_CONFIG_HOME", format!("{}/.config", alice.home()))
            .env("ATOMIC_OSTREE_CHECKOUT_PATH", root_checkouts.path())
            .args(["pull", "--storage", "ostree", "team/greeter:1.0"]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !err.contains(&registry.host()),
        "root used alice's registries.conf: {err}"
    );
}

#[test]
fn subordinate_ids_run_a_service_user_other_than_root() {
    let h = host();
    let (_, bob) = users();
    // The admin grants bob subordinate ids; newuidmap (uidmap, installed by
    // contrib/setup) maps them for runc. That changes /etc.
    let _quiet = SYSTEM_DIRS.lock().unwrap_or_else(|e| e.into_inner());
    for f in ["/etc/subuid", "/etc/subgid"] {
        h.check(&["touch", f]);
    }
    h.check(&[
        "usermod",
        "--add-subuids",
        "300000-365535",
        "--add-subgids",
        "300000-365535",
        "bob",
    ]);
    let subuid = std::fs::read_to_string(h.path("/etc/subuid")).unwrap();
    let start: u32 = subuid
        .lines()
        .find_map(|l| l.strip_prefix("bob:"))
        .and_then(|r| r.split(':').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no range for bob in /etc/subuid: {subuid}"));
    let config = fixtures::greeter_text("exports/config.json.template").replace(
        r#""user": { "uid": 0, "gid": 0 }"#,
        r#""user": { "uid": 100, "gid": 100 }"#,
    );
    assert!(config.contains(r#""uid": 100"#));
    let (_dir, img) = image(h, fixtures::greeter_with_config(&config));
    bob.ok(h, &["pull", "--storage", "ostree", &img]);
    bob.ok(
        h,
        &[
            "install",
            "--system",
            "--now",
            "--name",
            "us",
            "--set",
            "PORT=8304",
            &img,
        ],
    );
    assert!(greet(8304).starts_with("Hi world"));
    let uids = h.check(&["ps", "-o", "uid=", "-C", "nc"]);
    let want = (start + 99).to_string();
    assert!(
        uids.lines().any(|u| u.trim() == want),
        "the service runs as container uid 100, host uid {want}: {uids:?}"
    );
    let bundle = std::fs::read_to_string(h.path(&format!(
        "{}/.local/share/containers/atomic/us.0/config.json",
        bob.home()
    )))
    .unwrap();
    assert!(bundle.contains(&format!("\"hostID\": {start}")), "{bundle}");
    bob.ok(h, &["uninstall", "us"]);
    assert!(closed(8304));
    bob.ok(h, &["images", "delete", &img]);
}

#[test]
fn a_users_socket_activated_greeter_refuses_no_connection_through_an_update() {
    let h = host();
    let (_, bob) = users();
    let dir = h.tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let layout = dir.path().join("usock");
    fixtures::socket_greeter(&fixtures::socket_greeter_manifest()).write_oci(&layout, "1.0");
    let img = format!("oci:{}:1.0", layout.display());
    bob.ok(
        h,
        &[
            "install",
            "--system",
            "--now",
            "--name",
            "us",
            "--set",
            "PORT=8341",
            &img,
        ],
    );
    assert!(h
        .path(&format!("{}/.config/systemd/user/us.socket", bob.home()))
        .exists());
    assert_eq!(bob.systemctl(h, &["is-enabled", "us.socket"]), "enabled");
    assert!(greet(8341).starts_with("Hi world"));
    let client = bench::client::Client::start(8341);
    bob.ok(h, &["containers", "update", "us", "--set", "RECEIVER=bob"]);
    assert!(greet(8341).starts_with("Hi bob"));
    bob.ok(h, &["containers", "rollback", "us"]);
    assert!(greet(8341).starts_with("Hi world"));
    let (answered, failed, errors) = client.finish();
    assert!(answered > 10, "{answered} answers");
    assert_eq!(failed, 0, "refused or cut short: {errors:?}");
    bob.ok(h, &["uninstall", "us"]);
    assert!(closed(8341));
}
