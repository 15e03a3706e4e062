//! A real distribution registry (Debian's `docker-registry`) on a free
//! loopback port with private storage; pushes fixtures with skopeo and reads
//! its access log to tell which blobs were fetched.

use super::check;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry and waits until it answers.
    pub fn start() -> Registry {
        Self::start_with(None)
    }

    /// Starts a registry that requires HTTP basic authentication as
    /// `user`/`password` (an htpasswd file, bcrypt).
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        Self::start_with(Some((user, password)))
    }

    fn start_with(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("atomic-registry-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let config = dir.path().join("config.yml");
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n",
            dir.path().join("storage").display()
        );
        if let Some((user, password)) = auth {
            let htpasswd = dir.path().join("htpasswd");
            let line = check(Command::new("htpasswd").args(["-Bbn", user, password]));
            std::fs::write(&htpasswd, line).unwrap();
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: atomic-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        std::fs::write(&config, yaml).unwrap();
        let log = dir.path().join("registry.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("docker-registry")
            .args(["serve", config.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        let r = Registry {
            child,
            addr,
            log,
            _dir: dir,
        };
        let start = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "registry did not come up:\n{}",
                std::fs::read_to_string(&r.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Pushes `tag` of the OCI layout `layout` as `repo:dest_tag`; returns
    /// the reference `127.0.0.1:PORT/repo:dest_tag`.
    pub fn push(&self, layout: &Path, tag: &str, repo: &str, dest_tag: &str) -> String {
        self.push_as(layout, tag, repo, dest_tag, None)
    }

    /// [`Registry::push`] with `USER:PASS` credentials.
    pub fn push_as(
        &self,
        layout: &Path,
        tag: &str,
        repo: &str,
        dest_tag: &str,
        creds: Option<&str>,
    ) -> String {
        let reference = format!("{}/{repo}:{dest_tag}", self.host());
        let creds = creds.map(|c| format!("--dest-creds={c}"));
        check(Command::new("skopeo").arg("copy").args(creds.iter()).args([
            "--quiet",
            "--dest-tls-verify=false",
            &format!("oci:{}:{tag}", layout.display()),
            &format!("docker://{reference}"),
        ]));
        reference
    }

    /// The registry's storage directory, for tampering with blobs.
    pub fn storage(&self) -> PathBuf {
        self._dir.path().join("storage")
    }

    /// The digests (hex) of every blob fetched with GET so far.
    pub fn fetched_blobs(&self) -> Vec<String> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter_map(|l| {
                let rest = &l[l.find("\"GET /v2/")?..];
                let at = rest.find("/blobs/sha256:")? + "/blobs/sha256:".len();
                Some(
                    rest[at..]
                        .chars()
                        .take_while(char::is_ascii_hexdigit)
                        .collect(),
                )
            })
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
