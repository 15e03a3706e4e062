//! Hostile images: each tries to write, delete or read outside the image's
//! own tree. Each is refused with an error naming what is at fault, or
//! (where the image only points at host files) installs without reaching
//! them, and every file outside the tool's own directories — in the
//! `--root` target and in the directories beside it — is byte-identical
//! afterwards.

use crate::bench;

use bench::image::{Compression, Config, Image, Layer};
use bench::{atomic_bin, require_root, run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A `--root` target with sentinel files in it and beside it.
struct Arena {
    dir: tempfile::TempDir,
}

impl Arena {
    fn new() -> Arena {
        let dir = tempfile::Builder::new()
            .prefix("atomic-hostile-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let a = Arena { dir };
        for d in [
            "root/etc/systemd/system",
            "root/etc/tmpfiles.d",
            "root/run",
            "root/var/lib/containers",
            "sentinel",
        ] {
            std::fs::create_dir_all(a.path(d)).unwrap();
        }
        std::fs::write(a.path("sentinel/sentinel"), "keep me\n").unwrap();
        std::fs::write(a.path("sentinel/secret"), "HOST SECRET\n").unwrap();
        std::fs::write(a.path("root/etc/sentinel"), "the target's own\n").unwrap();
        a
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    /// The directory with the sentinels beside the target, absolute.
    fn sentinels(&self) -> String {
        self.path("sentinel").display().to_string()
    }
    fn atomic(&self, args: &[&str]) -> Output {
        run(Command::new(atomic_bin())
            .arg("--root")
            .arg(self.path("root"))
            .args(args))
    }
    /// Every file of the arena with its content, the tool's own
    /// directories (repository, checkouts) and the images aside.
    fn snapshot(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out
    }
    /// `install --system --rpm=spec` of `image` as `name` into `dir`.
    fn spec(&self, dir: &Path, name: &str, image: &str) -> Output {
        self.atomic(&[
            "install",
            "--system",
            "--rpm=spec",
            "--output",
            dir.to_str().unwrap(),
            "--name",
            name,
            image,
        ])
    }
    /// Writes `layers` as an image and pulls it; the pull's output.
    fn pull(&self, name: &str, layers: Vec<Layer>) -> (String, Output) {
        self.pull_with(name, layers, &[])
    }
    /// [`Arena::pull`] with environment variables set.
    fn pull_with(&self, name: &str, layers: Vec<Layer>, env: &[(&str, &Path)]) -> (String, Output) {
        let img = Image::new(
            layers,
            Config {
                cmd: vec!["/bin/sh".into()],
                ..Config::default()
            },
        );
        let layout = self.path("images").join(name);
        img.write_oci(&layout, "1");
        let image = format!("oci:{}:1", layout.display());
        let mut c = Command::new(atomic_bin());
        c.arg("--root").arg(self.path("root"));
        for (k, v) in env {
            c.env(k, v);
        }
        let out = run(c.args(["pull", "--storage", "ostree", "-q", &image]));
        (image, out)
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        if rel == "images" || rel == "root/var/lib/containers/atomic" {
            continue;
        }
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let v = if meta.file_type().is_symlink() {
            format!("-> {}", std::fs::read_link(&p).unwrap().display())
        } else if meta.is_dir() {
            walk(root, &p, out);
            "dir".into()
        } else {
            bench::image::sha256_hex(&std::fs::read(&p).unwrap())
        };
        out.insert(rel, v);
    }
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn layer(text: &str) -> Layer {
    Layer::parse(text, Compression::Gzip)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Pulls and installs `layers`, which must be refused with `message`
/// (at pull or at install) and leave the arena as it was.
fn refused(name: &str, layers: Vec<Layer>, message: &str) {
    let a = Arena::new();
    let before = a.snapshot();
    let (image, out) = a.pull(name, layers);
    let err = if out.status.success() {
        let out = a.atomic(&["install", "--system", "--now", "--name", "h", &image]);
        assert!(!out.status.success(), "{name}: installed");
        stderr(&out)
    } else {
        stderr(&out)
    };
    assert!(
        err.contains(message),
        "{name}: expected {message:?} in {err}"
    );
    assert_eq!(
        a.snapshot(),
        before,
        "{name} changed files outside the tool's own"
    );
    assert!(
        !a.path("root/var/lib/containers/atomic/h").exists(),
        "{name}: a container was left"
    );
}

#[test]
fn a_symlink_of_a_lower_layer_cannot_carry_writes_or_whiteouts_out() {
    require_root();
    let a = Arena::new();
    let s = a.sentinels();
    let through = "goes through x, a symlink of a lower layer";
    refused(
        "absolute",
        vec![
            layer(&format!("l x {s}")),
            layer("d x\nf x/pwn = pwned\nw x/sentinel"),
        ],
        through,
    );
    refused(
        "relative",
        vec![
            layer(&format!("l x ../../../../../../../../../../../..{s}")),
            layer("f x/pwn = pwned"),
        ],
        through,
    );
    refused(
        "replaced-by-a-link",
        vec![
            layer("d x\nf x/a = a"),
            layer(&format!("l x {s}")),
            layer("f x/pwn = pwned"),
        ],
        through,
    );
    refused(
        "whiteout-under-a-link",
        vec![layer(&format!("l x {s}")), layer("w x/sentinel")],
        through,
    );
    refused(
        "opaque-under-a-link",
        vec![layer(&format!("l x {s}")), layer("o x")],
        through,
    );
}

#[test]
fn whiteouts_that_name_nothing_are_refused() {
    require_root();
    for (i, name) in [".wh.", ".wh..", ".wh..."].iter().enumerate() {
        refused(
            &format!("whiteout-{i}"),
            vec![layer("d a\nf a/b = b"), layer(&format!("f a/{name} = x"))],
            &format!("whiteout a/{name} names no entry it could remove"),
        );
    }
}

#[test]
fn hard_links_reach_only_earlier_entries_of_their_layer() {
    require_root();
    let a = Arena::new();
    let s = a.sentinels();
    refused(
        "hardlink-out",
        vec![layer("h pwn ../../../../../../etc/passwd")],
        "leaves the image root",
    );
    refused(
        "hardlink-absolute",
        vec![layer(&format!("h pwn {s}/sentinel"))],
        "has an absolute path",
    );
    refused(
        "hardlink-through-a-link",
        vec![layer(&format!("l x {s}")), layer("h y x/sentinel")],
        "which is not a file earlier in the layer",
    );
}

#[test]
fn exports_links_resolve_inside_the_image_never_to_host_files() {
    require_root();
    let a = Arena::new();
    let s = a.sentinels();
    for (file, target) in [
        ("service.template", format!("{s}/secret")),
        ("tmpfiles.template", "/etc/sentinel".to_string()),
        ("manifest.json", "/dev/zero".to_string()),
        (
            "config.json",
            "../../../../../../../../../etc/shadow".to_string(),
        ),
    ] {
        let start = std::time::Instant::now();
        refused(
            file,
            vec![
                bench::fixtures::busybox_layer(Compression::Gzip),
                layer(&format!("d exports\nl exports/{file} {target}")),
            ],
            &format!("/exports/{file} is a link to nothing in the image"),
        );
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{file}: bounded time"
        );
    }
    // A link that resolves inside the image is followed there.
    let before = a.snapshot();
    let (image, out) = a.pull(
        "inside",
        vec![
            bench::fixtures::busybox_layer(Compression::Gzip),
            layer(&format!(
                "d exports\nd {s0}\nf {s0}/secret = # the image's own\nl exports/tmpfiles.template {s}/secret",
                s0 = s.trim_start_matches('/')
            )),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = a.atomic(&["install", "--system", "--now", "--name", "h", &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(a.path("root/etc/tmpfiles.d/h.conf")).unwrap(),
        "# the image's own"
    );
    let out = a.atomic(&["uninstall", "h"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(a.snapshot(), before);
}

/// In a repository other users can reach (`/ostree/repo`, or one named
/// by ATOMIC_OSTREE_REPO), files go in as a bare-user-only repository
/// keeps them: no setuid/setgid bit, no file capability; the pull says so.
#[test]
fn a_shared_repository_holds_no_setuid_object() {
    require_root();
    let a = Arena::new();
    let shared = a.path("shared-repo");
    let (_, out) = a.pull_with(
        "shared",
        vec![
            bench::fixtures::busybox_layer(Compression::Gzip),
            layer("x bin/su /bin/busybox 4755\nx bin/sg /bin/busybox 2755"),
        ],
        &[("ATOMIC_OSTREE_REPO", &shared)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for f in ["bin/su", "bin/sg"] {
        assert!(
            stderr(&out).contains(&format!("{f} is stored without its setuid/setgid bits")),
            "{}",
            stderr(&out)
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let privileged: Vec<PathBuf> = walk_files(&shared.join("objects"))
        .into_iter()
        .filter(|p| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o6000 != 0)
        .collect();
    assert!(privileged.is_empty(), "{privileged:?}");
}

#[test]
fn setuid_files_of_an_image_are_out_of_reach_of_other_users() {
    require_root();
    let a = Arena::new();
    let (image, out) = a.pull(
        "setuid",
        vec![
            bench::fixtures::busybox_layer(Compression::Gzip),
            layer("x bin/su /bin/busybox 4755"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = a.atomic(&["install", "--system", "--now", "--name", "h", &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    let co = a.path("root/var/lib/containers/atomic");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&co), 0o700, "the checkout root");
    assert_eq!(mode(&co.join("h.0")), 0o700, "the slot");
    let su = co.join("h.0/rootfs/bin/su");
    assert_eq!(mode(&su), 0o4755, "the image's own mode is kept");
    // The repository holds the same inode: every way to it is closed.
    let object = walk_files(&co.join(".storage/ostree/objects"))
        .into_iter()
        .find(|p| mode(p) & 0o4000 != 0)
        .expect("the setuid file's object");
    // setpriv itself execs with its capabilities still held: run the
    // program from a shell that is uid 65534 through and through.
    let nobody = |p: &Path| {
        run(Command::new("setpriv")
            .args([
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                "--",
            ])
            .args(["/bin/sh", "-c", "exec \"$0\" true"])
            .arg(p))
    };
    for p in [su.clone(), object] {
        let out = nobody(&p);
        assert!(!out.status.success(), "uid 65534 ran {}", p.display());
        assert!(
            stderr(&out).contains("Permission denied"),
            "{}: {}",
            p.display(),
            stderr(&out)
        );
    }
    assert!(
        nobody(Path::new("/bin/busybox")).status.success(),
        "the check itself works"
    );
}

/// How the stand-in registry serves the image's last layer.
#[derive(Clone, Copy, Debug)]
enum Serve {
    /// Its bytes, then bytes past its descriptor's size, without end.
    Forever,
    /// Part of its bytes, then nothing, the connection kept open.
    Stall,
    /// Its bytes a few at a time, never quite stalling.
    Drip,
    /// The manifest without end (a 4 GiB one, as far as anyone reads).
    HugeManifest,
    /// The manifest one byte a second.
    DripManifest,
    /// Every request refused with an error body without end.
    HugeError,
    /// A bearer challenge whose token service answers without end.
    HugeToken,
}

/// Answers with `status` and a chunked body without end: `first`, then
/// `then` over and over, `pause` ms apart, for a minute at most.
fn chunked(
    conn: &mut std::net::TcpStream,
    status: &str,
    ctype: &str,
    first: Vec<u8>,
    then: Vec<u8>,
    pause: u64,
) {
    use std::io::Write;
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let mut chunk = first;
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(60) {
        if write!(conn, "{:x}\r\n", chunk.len()).is_err()
            || conn.write_all(&chunk).is_err()
            || conn.write_all(b"\r\n").is_err()
        {
            return;
        }
        chunk = then.clone();
        std::thread::sleep(std::time::Duration::from_millis(pause));
    }
}

/// A stand-in for a hostile registry (a fault the real one cannot be made
/// to show): a loopback HTTP server that serves an OCI layout's manifest
/// and blobs like the distribution API, and its last layer as `serve` says.
/// It stops when the test ends.
fn hostile_registry(layout: &Path, w: &bench::image::Written, serve: Serve) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let blobs = layout.join("blobs/sha256");
    let manifest = std::fs::read(blobs.join(&w.manifest_digest)).unwrap();
    let hostile = w.layer_digests.last().unwrap().clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(64) {
            let Ok(mut conn) = conn else { return };
            let (blobs, manifest, hostile) = (blobs.clone(), manifest.clone(), hostile.clone());
            std::thread::spawn(move || {
                let mut line = String::new();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                reader.read_line(&mut line).unwrap_or(0);
                let mut authorized = false;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    authorized |= h.to_ascii_lowercase().starts_with("authorization:");
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let ok = |conn: &mut std::net::TcpStream, ctype: &str, body: &[u8]| {
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(body);
                };
                let endless = |conn: &mut std::net::TcpStream, status: &str, pause: u64| {
                    let chunk = vec![b' '; if pause > 0 { 1 } else { 64 * 1024 }];
                    chunked(
                        conn,
                        status,
                        "application/json",
                        chunk.clone(),
                        chunk,
                        pause,
                    )
                };
                match serve {
                    Serve::HugeError => return endless(&mut conn, "500 Internal Server Error", 0),
                    Serve::HugeToken if path.starts_with("/token") => {
                        return endless(&mut conn, "200 OK", 0)
                    }
                    Serve::HugeToken if !line.is_empty() && !authorized => {
                        let _ = write!(conn, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://{addr}/token\",service=\"hostile\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        return;
                    }
                    Serve::HugeManifest if path.contains("/manifests/") => {
                        return endless(&mut conn, "200 OK", 0)
                    }
                    Serve::DripManifest if path.contains("/manifests/") => {
                        return endless(&mut conn, "200 OK", 1000)
                    }
                    _ => {}
                }
                if path == "/v2/" {
                    ok(&mut conn, "application/json", b"{}");
                } else if path.contains("/manifests/") {
                    ok(
                        &mut conn,
                        "application/vnd.oci.image.manifest.v1+json",
                        &manifest,
                    );
                } else if let Some(d) = path.split("/blobs/sha256:").nth(1) {
                    let data = std::fs::read(blobs.join(d)).unwrap();
                    if d != hostile {
                        ok(&mut conn, "application/octet-stream", &data);
                        return;
                    }
                    match serve {
                        Serve::Forever => chunked(
                            &mut conn,
                            "200 OK",
                            "application/octet-stream",
                            data.clone(),
                            vec![0; 64 * 1024],
                            0,
                        ),
                        Serve::Drip => {
                            let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n", data.len());
                            for b in &data {
                                if conn.write_all(std::slice::from_ref(b)).is_err() {
                                    return;
                                }
                                std::thread::sleep(std::time::Duration::from_millis(500));
                            }
                        }
                        Serve::Stall => {
                            let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n", data.len());
                            let _ = conn.write_all(&data[..data.len() / 2]);
                            std::thread::sleep(std::time::Duration::from_secs(60));
                        }
                        // Metadata faults: the layer as it is.
                        _ => ok(&mut conn, "application/octet-stream", &data),
                    }
                } else {
                    let _ = write!(
                        conn,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
            });
        }
    });
    format!("http:{addr}/hostile:1")
}

#[test]
fn a_registry_that_streams_forever_or_stalls_fails_the_pull_in_bounded_time() {
    require_root();
    let a = Arena::new();
    let layout = a.path("images/served");
    let img = Image::new(
        vec![
            bench::fixtures::busybox_layer(Compression::Gzip),
            layer("f big = payload"),
        ],
        Config {
            cmd: vec!["/bin/sh".into()],
            ..Config::default()
        },
    );
    let w = img.write_oci(&layout, "1");
    for (serve, message) in [
        (
            Serve::Forever,
            "the source sent more bytes than the layer's descriptor states",
        ),
        (Serve::Stall, "timed out"),
        (
            Serve::Drip,
            "slower than the minimum of 1024 (ATOMIC_MIN_RATE, ATOMIC_MIN_RATE_WINDOW)",
        ),
        (
            Serve::HugeManifest,
            "is larger than 4194304 bytes; not reading it",
        ),
        (
            Serve::DripManifest,
            "not done within 3 s (ATOMIC_METADATA_DEADLINE)",
        ),
        (Serve::HugeError, "HTTP 500 Internal Server Error"),
        (
            Serve::HugeToken,
            "is larger than 4194304 bytes; not reading it",
        ),
    ] {
        let image = hostile_registry(&layout, &w, serve);
        let start = std::time::Instant::now();
        let out = run(Command::new("/usr/bin/time")
            .args(["-f", "maxrss=%M"])
            .arg(atomic_bin())
            .arg("--root")
            .arg(a.path("root"))
            .env("ATOMIC_READ_TIMEOUT", "3")
            .env("ATOMIC_METADATA_DEADLINE", "3")
            .env("ATOMIC_MIN_RATE_WINDOW", "3")
            .args(["pull", "--storage", "ostree", "-q", &image]));
        assert!(!out.status.success(), "{serve:?}: pulled");
        assert!(
            stderr(&out).contains(message),
            "{serve:?}: {}",
            stderr(&out)
        );
        let rss: u64 = stderr(&out)
            .lines()
            .find_map(|l| l.strip_prefix("maxrss="))
            .and_then(|k| k.trim().parse().ok())
            .expect("time -f printed the peak RSS");
        assert!(rss < 200 * 1024, "{serve:?}: peak RSS {rss} KiB");
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{serve:?}: took {:?}",
            start.elapsed()
        );
        let refs = run(Command::new("ostree")
            .arg(format!(
                "--repo={}",
                a.path("root/var/lib/containers/atomic/.storage/ostree")
                    .display()
            ))
            .arg("refs"));
        let refs = String::from_utf8_lossy(&refs.stdout);
        let last = w.layer_digests.last().unwrap();
        assert!(
            !refs.contains(last.as_str()),
            "{serve:?}: the layer was recorded: {refs}"
        );
        assert!(
            !refs.contains("hostile"),
            "{serve:?}: the image was recorded: {refs}"
        );
    }
}

/// A tmpfs mounted for a test, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        bench::check(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(at),
        );
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_decompression_bomb_fails_cleanly_on_a_full_disk_and_prune_leaves_nothing() {
    require_root();
    let a = Arena::new();
    let co = a.path("root/var/lib/containers/atomic");
    let _disk = SmallDisk::mount(&co, "16m");
    let zeros = a.path("zeros");
    std::fs::File::create(&zeros)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    for compression in [Compression::Gzip, Compression::Zstd] {
        let bomb = Layer::parse(&format!("x zeros {} 0644", zeros.display()), compression);
        assert!(bomb.blob().len() < 1 << 20, "a bomb: small when shipped");
        let (_, out) = a.pull("bomb", vec![bomb]);
        assert!(!out.status.success(), "pulled a 64 MiB layer onto 16 MiB");
        assert!(
            stderr(&out).contains("No space left on device"),
            "{}",
            stderr(&out)
        );
        let out = a.atomic(&["images", "prune"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let objects = walk_files(&co.join(".storage/ostree/objects"));
        assert!(
            objects.is_empty(),
            "{compression:?}: objects left: {objects:?}"
        );
        let tmp = walk_files(&co.join(".storage/ostree/tmp"));
        assert!(tmp.is_empty(), "{compression:?}: staging left: {tmp:?}");
    }
}

/// Pulls an image of busybox and `extra`, with `labels`; the image string.
fn labelled(a: &Arena, name: &str, extra: &str, labels: &[(&str, &str)]) -> String {
    let mut layers = vec![bench::fixtures::busybox_layer(Compression::Gzip)];
    if !extra.is_empty() {
        layers.push(layer(extra));
    }
    let img = Image::new(
        layers,
        Config {
            cmd: vec!["/bin/sh".into()],
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Config::default()
        },
    );
    let layout = a.path("images").join(name);
    img.write_oci(&layout, "1");
    let image = format!("oci:{}:1", layout.display());
    let out = a.atomic(&["pull", "--storage", "ostree", "-q", &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    image
}

#[test]
fn a_generated_spec_runs_nothing_the_image_chose() {
    require_root();
    let a = Arena::new();
    let s = a.sentinels();
    // rpmbuild -bb expands %files twice: no escaping survives, so a file
    // named with a % is refused in spec mode, naming it, writing nothing.
    let named = labelled(
        &a,
        "specfile",
        "d srv\nf srv/%(>pwned-by-a-file-name) = x",
        &[],
    );
    let refused_dir = a.path("spec-refused");
    let out = a.spec(&refused_dir, "sf", &named);
    assert!(
        !out.status.success(),
        "a file named with % went into a spec"
    );
    assert!(
        stderr(&out).contains("srv/%(>pwned-by-a-file-name)\" cannot be named in a spec"),
        "{}",
        stderr(&out)
    );
    assert!(std::fs::read_dir(&refused_dir).map_or(true, |mut d| d.next().is_none()));
    let image = labelled(
        &a,
        "spec",
        "d srv\nf srv/done = y",
        &[
            ("atomic.summary", &format!("x%(touch {s}/pwned-by-summary)")),
            (
                "atomic.description",
                &format!("see %{{lua: os.execute('touch {s}/pwned-by-lua')}}"),
            ),
            ("atomic.license", &format!("%(touch {s}/pwned-by-license)")),
            ("atomic.url", "https://x/%(>pwned-by-url)"),
        ],
    );
    let out_dir = a.path("spec-out");
    let out = a.spec(&out_dir, "s", &image);
    assert!(out.status.success(), "{}", stderr(&out));
    let spec = out_dir.join("atomic-container-s.spec");
    let cwd = a.path("rpmspec-cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let parsed = run(Command::new("rpmspec")
        .arg("-P")
        .arg(&spec)
        .current_dir(&cwd));
    assert!(parsed.status.success(), "{}", stderr(&parsed));
    let parsed = String::from_utf8_lossy(&parsed.stdout);
    for literal in ["x%(touch", "%{lua: os.execute"] {
        assert!(
            parsed.contains(literal),
            "{literal} not kept literally:\n{parsed}"
        );
    }
    let pwned: Vec<_> = std::fs::read_dir(a.path("sentinel"))
        .unwrap()
        .chain(std::fs::read_dir(&cwd).unwrap())
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with("pwned"))
        .collect();
    assert!(
        pwned.is_empty(),
        "rpmspec ran the image's commands: {pwned:?}"
    );
}

#[test]
fn labels_with_newlines_are_refused_and_escapes_never_reach_the_terminal() {
    require_root();
    let a = Arena::new();
    let image = labelled(
        &a,
        "newline",
        "",
        &[
            ("atomic.summary", "a summary\nRequires: evil"),
            ("evil", "\u{1b}]0;owned\u{7}\u{1b}[2Jcleared"),
        ],
    );
    for rpm in ["--rpm=build", "--rpm=spec"] {
        let out_dir = a.path("out");
        let out = a.atomic(&[
            "install",
            "--system",
            "--now",
            rpm,
            "--output",
            out_dir.to_str().unwrap(),
            "--name",
            "n",
            &image,
        ]);
        assert!(!out.status.success(), "{rpm}: accepted");
        assert!(
            stderr(&out)
                .contains("label atomic.summary: \"a summary\\nRequires: evil\" has a newline"),
            "{rpm}: {}",
            stderr(&out)
        );
        assert!(
            !out_dir.exists() || std::fs::read_dir(&out_dir).unwrap().next().is_none(),
            "{rpm}: wrote"
        );
    }
    let out = a.atomic(&["images", "info", &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    let info = String::from_utf8_lossy(&out.stdout);
    assert!(
        !info.contains('\u{1b}'),
        "an escape reached the terminal: {info:?}"
    );
    assert!(
        info.contains("evil: \\x1b]0;owned\\x07\\x1b[2Jcleared"),
        "{info}"
    );
    assert!(
        info.contains("atomic.summary: a summary\\x0aRequires: evil"),
        "{info}"
    );
}

#[test]
fn what_an_image_does_to_the_host_is_shown_before_it_is_done() {
    require_root();
    let a = Arena::new();
    let layout = a.path("images/hostfs");
    bench::fixtures::greeter_hostfs().write_oci(&layout, "1");
    let image = format!("oci:{}:1", layout.display());
    let out = a.atomic(&["pull", "--storage", "ostree", "-q", &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = a.atomic(&["images", "info", &image]);
    assert!(
        !stderr(&out).contains("CRITICAL"),
        "GLib complained: {}",
        stderr(&out)
    );
    let info = String::from_utf8(out.stdout).unwrap();
    for part in [
        "What /exports does on the host, as root (variables unexpanded):\n",
        "  unit runs: ExecStartPre=$EXEC_STARTPRE, ExecStart=$EXEC_START",
        "  tmpfiles.d: d ${RUN_DIRECTORY}/greeter-$NAME\n",
        "  host files: /etc/greeter/greeting.conf, /etc/greeter/instance.conf, /etc/greeter/plain.conf\n",
    ] {
        assert!(info.contains(part), "{part:?} not in:\n{info}");
    }
    let out = a.atomic(&["install", "--system", "--now", "--name", "shown", &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8(out.stdout).unwrap();
    let summary = said
        .find("shown will do this on the host, as root (from the image's /exports):\n")
        .unwrap_or_else(|| panic!("no summary in:\n{said}"));
    let installed = said.find("Installed shown").unwrap();
    assert!(summary < installed, "{said}");
    for part in [
        "  tmpfiles.d: d /run/greeter-shown\n",
        "  host files: /etc/greeter/greeting.conf, /etc/greeter/instance-shown.conf, /etc/greeter/plain.conf\n",
    ] {
        assert!(said.contains(part), "{part:?} not in:\n{said}");
    }
    assert!(
        said.contains("ExecStart=")
            && said.contains("--systemd-cgroup run -d --pid-file /run/container-shown.pid shown"),
        "{said}"
    );
}
