//! Registry credentials where operators' own tools put them, against a real
//! registry that requires HTTP basic authentication (htpasswd): root's
//! `skopeo login` without XDG_RUNTIME_DIR (in the systemd sandbox, whose
//! /run is its own), every file of containers-auth.json(5)'s search and
//! every key form, a credential helper, and wrong credentials refused
//! naming the registry. The secret appears in nothing printed.

use crate::bench;

use bench::registry::Registry;
use bench::sandbox::Sandbox;
use bench::{atomic_bin, check, fixtures, require_root, run};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const USER: &str = "operator";
const SECRET: &str = "s3cret-do-not-print";

/// A registry with auth and the image `team/app:1` pushed to it; the
/// reference atomic pulls.
fn registry_with_image(dir: &Path) -> (Registry, String) {
    let layout = dir.join("layout");
    fixtures::no_exports().write_oci(&layout, "1");
    let registry = Registry::start_with_auth(USER, SECRET);
    let reference = registry.push_as(
        &layout,
        "1",
        "team/app",
        "1",
        Some(&format!("{USER}:{SECRET}")),
    );
    (registry, format!("http:{reference}"))
}

fn auth_entry(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn roots_skopeo_login_without_xdg_runtime_dir_is_used() {
    require_root();
    let h = Sandbox::shared();
    let dir = h.tempdir();
    let (registry, image) = registry_with_image(dir.path());
    check(
        h.command("skopeo")
            .env_remove("XDG_RUNTIME_DIR")
            .args(["login", "--tls-verify=false", "-u", USER, "-p", SECRET])
            .arg(registry.host()),
    );
    assert!(
        h.path("/run/containers/0/auth.json").exists(),
        "skopeo login as root writes /run/containers/0/auth.json"
    );
    let out = run(h
        .atomic()
        .env_remove("XDG_RUNTIME_DIR")
        .env("ATOMIC_OSTREE_CHECKOUT_PATH", dir.path().join("checkouts"))
        .args(["-v", "pull", "--storage", "ostree", "-q", &image]));
    let said = printed(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "/run/containers/0/auth.json, key {}",
            registry.host()
        )),
        "-v says which file and key: {said}"
    );
    assert!(!said.contains(SECRET), "the secret was printed: {said}");
    check(h.command("skopeo").args(["logout", "--all"]));
}

/// One file of the search: the file, the environment that names it, the
/// arguments that name it, and the key `-v` must name.
type Case<'a> = (PathBuf, Vec<(&'a str, PathBuf)>, Vec<&'a str>, String);

/// Runs `atomic --root ROOT pull` with `env` (and an empty HOME and
/// runtime directory of its own unless `env` sets them).
fn pull(root: &Path, image: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(atomic_bin());
    c.env("HOME", root.join("home"))
        .env("XDG_RUNTIME_DIR", root.join("run"))
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_CONFIG");
    for (k, v) in env {
        c.env(k, v);
    }
    run(c
        .arg("--root")
        .arg(root.join("target"))
        .args(["-v", "pull", "--storage", "ostree", "-q"])
        .args(args)
        .arg(image))
}

#[test]
fn every_file_of_the_search_and_every_key_form_gives_credentials() {
    require_root();
    let dir = tempfile::Builder::new()
        .prefix("atomic-creds-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let (registry, image) = registry_with_image(dir.path());
    let host = registry.host();
    let ok = auth_entry(USER, SECRET);
    let bad = auth_entry(USER, "wrong");
    let write = |rel: &str, text: String| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    };
    let auths =
        |key: &str, auth: &str| format!(r#"{{"auths": {{"{key}": {{"auth": "{auth}"}}}}}}"#);
    // Each case in a root of its own: (file, how it is named, the key -v names).
    let cases: Vec<Case> = vec![
        {
            let f = write("a/authfile.json", auths(&host, &ok));
            (
                f.clone(),
                vec![],
                vec!["--authfile", "AUTHFILE"],
                host.clone(),
            )
        },
        {
            let f = write("b/env.json", auths(&format!("{host}/team"), &ok));
            (
                f.clone(),
                vec![("REGISTRY_AUTH_FILE", f.clone())],
                vec![],
                format!("{host}/team"),
            )
        },
        {
            let f = write(
                "c/run/containers/auth.json",
                auths(&format!("{host}/team/app"), &ok),
            );
            (
                f,
                vec![("XDG_RUNTIME_DIR", dir.path().join("c/run"))],
                vec![],
                format!("{host}/team/app"),
            )
        },
        {
            let f = write(
                "d/config/containers/auth.json",
                auths(&format!("https://{host}/v2/"), &ok),
            );
            (
                f,
                vec![("XDG_CONFIG_HOME", dir.path().join("d/config"))],
                vec![],
                format!("https://{host}/v2/"),
            )
        },
        {
            let f = write("e/home/.docker/config.json", auths(&host, &ok));
            (
                f,
                vec![("HOME", dir.path().join("e/home"))],
                vec![],
                host.clone(),
            )
        },
        {
            let f = write(
                "f/home/.dockercfg",
                format!(r#"{{"{host}": {{"auth": "{ok}", "email": "x@example.com"}}}}"#),
            );
            (
                f,
                vec![("HOME", dir.path().join("f/home"))],
                vec![],
                host.clone(),
            )
        },
    ];
    for (i, (file, env, args, key)) in cases.into_iter().enumerate() {
        let root = dir.path().join(format!("root{i}"));
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if *a == "AUTHFILE" {
                    file.display().to_string()
                } else {
                    a.to_string()
                }
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        let out = pull(&root, &image, &args, &env);
        let said = printed(&out);
        assert!(out.status.success(), "{}: {said}", file.display());
        assert!(
            said.contains(&format!("{}, key {key}", file.display())),
            "{}: {said}",
            file.display()
        );
        assert!(!said.contains(SECRET), "the secret was printed: {said}");
    }

    // The most specific key wins: a wrong password at the registry's key
    // does not shadow the right one at the repository's.
    let f = write(
        "g/auth.json",
        format!(
            r#"{{"auths": {{"{host}": {{"auth": "{bad}"}}, "{host}/team/app": {{"auth": "{ok}"}}}}}}"#
        ),
    );
    let out = pull(
        &dir.path().join("rootg"),
        &image,
        &["--authfile", f.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", printed(&out));

    // Wrong credentials fail naming the registry, and print no secret.
    let f = write("h/auth.json", auths(&host, &bad));
    let out = pull(
        &dir.path().join("rooth"),
        &image,
        &["--authfile", f.to_str().unwrap()],
        &[],
    );
    let said = printed(&out);
    assert!(!out.status.success());
    assert!(
        said.contains(&format!("credentials of {USER} for {host} refused")),
        "{said}"
    );
    assert!(!said.contains("wrong"), "the secret was printed: {said}");
}

#[test]
fn a_credential_helper_on_path_answers_for_its_registry() {
    require_root();
    let dir = tempfile::Builder::new()
        .prefix("atomic-creds-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let (registry, image) = registry_with_image(dir.path());
    let host = registry.host();
    // A helper as the Docker credential helper protocol defines one: the
    // server on stdin, JSON on stdout; it records what it was asked.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let asked = dir.path().join("asked");
    let helper = bin.join("docker-credential-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread -r server\necho \"$server\" >{asked}\n\
             echo '{{\"ServerURL\": \"'\"$server\"'\", \"Username\": \"{USER}\", \"Secret\": \"{SECRET}\"}}'\n",
            asked = asked.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    for (name, config) in [
        (
            "credHelpers",
            format!(r#"{{"credHelpers": {{"{host}": "test"}}}}"#),
        ),
        ("credsStore", r#"{"credsStore": "test"}"#.to_string()),
        // As `docker login` leaves it with a store: an empty marker entry.
        (
            "marked",
            format!(r#"{{"auths": {{"{host}": {{}}}}, "credsStore": "test"}}"#),
        ),
    ] {
        let f = dir.path().join(format!("{name}.json"));
        std::fs::write(&f, config).unwrap();
        let root = dir.path().join(format!("root-{name}"));
        let out = run(Command::new(atomic_bin())
            .env("PATH", &path)
            .env("HOME", root.join("home"))
            .env("XDG_RUNTIME_DIR", root.join("run"))
            .arg("--root")
            .arg(&root)
            .args(["-v", "pull", "--storage", "ostree", "-q", "--authfile"])
            .arg(&f)
            .arg(&image));
        let said = printed(&out);
        assert!(out.status.success(), "{name}: {said}");
        assert!(said.contains("docker-credential-test"), "{name}: {said}");
        assert!(!said.contains(SECRET), "the secret was printed: {said}");
        assert_eq!(std::fs::read_to_string(&asked).unwrap().trim(), host);
    }
    // A helper that leaves a process holding its output: bounded all the same.
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nsleep 300 &\necho '{{\"Username\": \"{USER}\", \"Secret\": \"{SECRET}\"}}'\n"
        ),
    )
    .unwrap();
    let start = std::time::Instant::now();
    let out = run(Command::new("timeout")
        .arg("60")
        .arg(atomic_bin())
        .env("PATH", &path)
        .arg("--root")
        .arg(dir.path().join("root-held"))
        .args(["pull", "--storage", "ostree", "-q", "--authfile"])
        .arg(dir.path().join("credsStore.json"))
        .arg(&image));
    assert!(!out.status.success());
    assert!(
        printed(&out).contains("did not end within 30 s"),
        "{}",
        printed(&out)
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(50));
    // A helper that fails: its stderr is in the error.
    std::fs::write(
        &helper,
        "#!/bin/sh\necho 'the keyring is locked' >&2\nexit 3\n",
    )
    .unwrap();
    let f = dir.path().join("credsStore.json");
    let out = run(Command::new(atomic_bin())
        .env("PATH", &path)
        .arg("--root")
        .arg(dir.path().join("root-fail"))
        .args(["pull", "--storage", "ostree", "-q", "--authfile"])
        .arg(&f)
        .arg(&image));
    assert!(!out.status.success());
    assert!(
        printed(&out).contains("the keyring is locked"),
        "{}",
        printed(&out)
    );
}
