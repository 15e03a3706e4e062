//! Registry credentials where the containers tools keep them, in the order
//! of containers-auth.json(5): `--authfile` or `REGISTRY_AUTH_FILE`, then
//! `$XDG_RUNTIME_DIR/containers/auth.json` (root without it:
//! `/run/containers/0/auth.json`, where `skopeo login` and `podman login`
//! write), `$XDG_CONFIG_HOME/containers/auth.json`, Docker's
//! `config.json` and its legacy `~/.dockercfg`. In each file a credential
//! helper named for the registry (`credHelpers`) comes first, then the
//! `auths` entry keyed by the most specific of `registry/namespace/repo`,
//! `registry/namespace` and `registry`, then the file's `credsStore`
//! helper. Secrets are never logged; `-v` says which file and key gave them.

use super::source::Creds;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The largest auth file read.
const FILE_LIMIT: u64 = 1 << 20;

/// How long a credential helper may take.
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// Credentials and where they came from (a file and key, or a helper).
pub struct Found {
    pub creds: Creds,
    pub from: String,
}

/// The credentials for `repository` of `registry`, searched for in the
/// files of containers-auth.json(5), `authfile` first when given.
pub fn find(registry: &str, repository: &str, authfile: Option<&Path>) -> Result<Option<Found>> {
    for f in files(authfile) {
        if let Some(found) = in_file(&f.path, f.legacy, f.explicit, registry, repository)? {
            tracing::info!("credentials for {registry}/{repository}: {}", found.from);
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// A file to search: its path, whether it is in the legacy `~/.dockercfg`
/// format (registry keys only), and whether it was named explicitly (then
/// it must exist).
struct AuthFile {
    path: PathBuf,
    legacy: bool,
    explicit: bool,
}

/// The files to search, in order.
fn files(authfile: Option<&Path>) -> Vec<AuthFile> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let file = |path: PathBuf, legacy: bool, explicit: bool| AuthFile {
        path,
        legacy,
        explicit,
    };
    let mut out = Vec::new();
    if let Some(f) = authfile
        .map(Path::to_path_buf)
        .or_else(|| var("REGISTRY_AUTH_FILE"))
    {
        out.push(file(f, false, true));
    }
    let runtime = var("XDG_RUNTIME_DIR").unwrap_or_else(|| {
        // Where podman and skopeo write without XDG_RUNTIME_DIR.
        PathBuf::from(format!(
            "/run/containers/{}",
            rustix::process::geteuid().as_raw()
        ))
    });
    let runtime_file = if var("XDG_RUNTIME_DIR").is_some() {
        runtime.join("containers/auth.json")
    } else {
        runtime.join("auth.json")
    };
    out.push(file(runtime_file, false, false));
    let home = var("HOME");
    if let Some(config) =
        var("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")))
    {
        out.push(file(config.join("containers/auth.json"), false, false));
    }
    match var("DOCKER_CONFIG") {
        Some(d) => out.push(file(d.join("config.json"), false, false)),
        None => {
            if let Some(h) = &home {
                out.push(file(h.join(".docker/config.json"), false, false));
            }
        }
    }
    if let Some(h) = &home {
        out.push(file(h.join(".dockercfg"), true, false));
    }
    out
}

/// A key of an auth file as the registry (and path) it names. A key in URL
/// form (`https://r.example.com/v2/`, Docker's old style) names the whole
/// registry, whatever its path; Docker Hub's old names are `docker.io`.
fn normalize(key: &str) -> String {
    let k = match key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
    {
        Some(url) => url.split('/').next().unwrap_or(url),
        None => key.trim_end_matches('/'),
    };
    match k {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => k.to_string(),
    }
}

/// The keys that may hold credentials for `registry/repository`, most
/// specific first: `registry/a/b/c`, `registry/a/b`, `registry/a`,
/// `registry`.
fn keys(registry: &str, repository: &str) -> Vec<String> {
    let mut out = Vec::new();
    let parts: Vec<&str> = repository.split('/').collect();
    for n in (1..=parts.len()).rev() {
        out.push(format!("{registry}/{}", parts[..n].join("/")));
    }
    out.push(registry.to_string());
    out
}

fn in_file(
    file: &Path,
    legacy: bool,
    explicit: bool,
    registry: &str,
    repository: &str,
) -> Result<Option<Found>> {
    let shown = file.display();
    match std::fs::metadata(file) {
        Ok(m) if m.is_file() => {}
        Ok(_) => bail!("{shown} (an auth file) is not a regular file"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading the auth file {shown}")),
    }
    let mut text = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(FILE_LIMIT + 1).read_to_end(&mut text))
        .with_context(|| format!("reading {shown}"))?;
    if text.len() as u64 > FILE_LIMIT {
        bail!("{shown} is larger than {FILE_LIMIT} bytes");
    }
    let v: Value =
        serde_json::from_slice(&text).with_context(|| format!("parsing {shown} (an auth file)"))?;
    if !legacy {
        if let Some(helper) = v["credHelpers"]
            .as_object()
            .and_then(|h| h.iter().find(|(k, _)| normalize(k) == registry))
            .and_then(|(_, name)| name.as_str())
        {
            return run_helper(helper, registry, &format!("{shown}: credHelpers"));
        }
    }
    let auths = if legacy { &v } else { &v["auths"] };
    if let Some(map) = auths.as_object() {
        // The legacy format knows registries only.
        let wants = if legacy {
            vec![registry.to_string()]
        } else {
            keys(registry, repository)
        };
        for want in wants {
            // The key as written first, then any that means the same.
            let found = map
                .get_key_value(want.as_str())
                .or_else(|| map.iter().find(|(k, _)| normalize(k) == want));
            let Some((key, entry)) = found else {
                continue;
            };
            // Docker writes an empty entry for a registry whose secret its
            // credsStore keeps: a marker, not credentials.
            if has_credentials(entry) {
                return decode(entry, &format!("{shown}, key {key}")).map(Some);
            }
        }
    }
    if !legacy {
        if let Some(store) = v["credsStore"].as_str() {
            return run_helper(store, registry, &format!("{shown}: credsStore"));
        }
    }
    Ok(None)
}

/// Whether an `auths` entry holds credentials (an `identitytoken` alone,
/// which needs an OAuth exchange, is not taken).
fn has_credentials(entry: &Value) -> bool {
    entry["auth"].as_str().is_some_and(|a| !a.is_empty())
        || (entry["username"].is_string() && entry["password"].is_string())
}

/// An `auths` entry: `auth` (base64 of `user:password`), or `username`
/// and `password`.
fn decode(entry: &Value, from: &str) -> Result<Found> {
    use base64::Engine;
    let (user, password) = match entry["auth"].as_str().filter(|a| !a.is_empty()) {
        Some(auth) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| anyhow!("{from}: \"auth\" is not base64"))?;
            let text =
                String::from_utf8(raw).map_err(|_| anyhow!("{from}: \"auth\" is not text"))?;
            let (u, p) = text
                .split_once(':')
                .ok_or_else(|| anyhow!("{from}: \"auth\" is not USER:PASSWORD"))?;
            (u.to_string(), p.to_string())
        }
        None => match (entry["username"].as_str(), entry["password"].as_str()) {
            (Some(u), Some(p)) => (u.to_string(), p.to_string()),
            _ => bail!("{from}: the entry has no \"auth\" (nor username and password)"),
        },
    };
    Ok(Found {
        creds: Creds { user, password },
        from: from.to_string(),
    })
}

/// Asks `docker-credential-NAME get` for `registry`'s credentials, as the
/// Docker credential helper protocol defines: the server on standard
/// input, `{"Username", "Secret"}` on standard output. Bounded in time; a
/// helper that has none says "credentials not found".
fn run_helper(name: &str, registry: &str, from: &str) -> Result<Option<Found>> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        bail!("{from}: {name:?} is not a credential helper's name");
    }
    let program = format!("docker-credential-{name}");
    // Looked up in PATH first: a directory of PATH the caller cannot read
    // makes the shell's search answer "permission denied" for a helper
    // that is simply not there.
    let Some(found) = crate::host::fs::which(std::path::Path::new(&program)) else {
        // A config copied from another machine names a helper this one
        // lacks: no credentials from it, said; a pull that needs them
        // fails with the registry's answer.
        tracing::warn!("{from}: {program} is not installed; no credentials from it");
        return Ok(None);
    };
    let mut child = std::process::Command::new(&found)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("{from}: running {}", found.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that does not read its input is told nothing more.
        let _ = stdin.write_all(registry.as_bytes());
    }
    // Read on threads of their own, waited for only until the deadline: a
    // process the helper left behind may hold its output open for ever.
    let reader = |stream: Option<Box<dyn Read + Send>>, limit: u64| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut s) = stream {
                let _ = (&mut s).take(limit).read_to_end(&mut v);
            }
            let _ = tx.send(v);
        });
        rx
    };
    let out_rx = reader(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        FILE_LIMIT,
    );
    let err_rx = reader(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        64 * 1024,
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > HELPER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{from}: {program} get gave no answer within {} s",
                HELPER_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let left = HELPER_TIMEOUT.saturating_sub(start.elapsed());
    let out = out_rx.recv_timeout(left).map_err(|_| {
        anyhow!("{from}: the output of {program} get did not end within {} s (a process it started holds it open)", HELPER_TIMEOUT.as_secs())
    })?;
    let err = err_rx
        .recv_timeout(
            Duration::from_millis(100).max(HELPER_TIMEOUT.saturating_sub(start.elapsed())),
        )
        .unwrap_or_default();
    let err = String::from_utf8_lossy(&err);
    if !status.success() {
        let said = String::from_utf8_lossy(&out);
        if said.contains("credentials not found") || err.contains("credentials not found") {
            return Ok(None);
        }
        bail!("{from}: {program} get failed ({status}): {}", err.trim());
    }
    let v: Value = serde_json::from_slice(&out).map_err(|_| {
        anyhow!(
            "{from}: {program} get did not answer with JSON ({})",
            err.trim()
        )
    })?;
    match (v["Username"].as_str(), v["Secret"].as_str()) {
        (Some(u), Some(s)) => Ok(Some(Found {
            creds: Creds {
                user: u.to_string(),
                password: s.to_string(),
            },
            from: format!("{from}, {program}"),
        })),
        _ => bail!("{from}: {program} get answered without Username and Secret"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_key_wins() {
        assert_eq!(
            keys("r.example.com", "team/app"),
            [
                "r.example.com/team/app",
                "r.example.com/team",
                "r.example.com"
            ]
        );
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("auth.json");
        std::fs::write(
            &f,
            r#"{"auths": {
                "https://r.example.com/v2/": {"auth": "aG9zdDpo"},
                "r.example.com/team": {"auth": "dGVhbTp0"},
                "r.example.com/team/app": {"username": "app", "password": "a"},
                "https://index.docker.io/v1/": {"auth": "aHViOmg="},
                "marked.example.com": {}
            }, "credsStore": "atomic-test-absent"}"#,
        )
        .unwrap();
        let user = |reg: &str, repo: &str| {
            in_file(&f, false, false, reg, repo)
                .unwrap()
                .map(|f| (f.creds.user, f.from))
        };
        assert_eq!(
            user("r.example.com", "team/app").unwrap().0,
            "app",
            "registry/namespace/repo"
        );
        assert_eq!(user("r.example.com", "team/other").unwrap().0, "team");
        let (u, from) = user("r.example.com", "else/x").unwrap();
        assert_eq!(u, "host");
        assert!(from.ends_with("key https://r.example.com/v2/"), "{from}");
        assert_eq!(user("docker.io", "library/busybox").unwrap().0, "hub");
        // An empty (marker) entry is skipped for the credsStore, whose
        // helper is not installed here: no credentials, not an error.
        assert!(user("marked.example.com", "x").is_none());
        assert!(user("other.example.com", "x").is_none());
        // The key as written wins over another that means the same.
        std::fs::write(
            &f,
            r#"{"auths": {"https://r.example.com/v1/": {"auth": "b2xkOm8="}, "r.example.com": {"auth": "bmV3Om4="}}}"#,
        )
        .unwrap();
        assert_eq!(user("r.example.com", "x").unwrap().0, "new");
    }

    #[test]
    fn bad_entries_are_errors_naming_the_file_and_key() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("auth.json");
        std::fs::write(
            &f,
            r#"{"auths": {"r.example.com": {"auth": "not base64!"}}}"#,
        )
        .unwrap();
        let err = in_file(&f, false, false, "r.example.com", "x")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("auth.json, key r.example.com") && err.contains("not base64"),
            "{err}"
        );
        std::fs::write(&f, "{").unwrap();
        let err = format!(
            "{:#}",
            in_file(&f, false, false, "r.example.com", "x")
                .err()
                .unwrap()
        );
        assert!(err.contains("an auth file"), "{err}");
    }
}
