//! RPM mode, `--rpm=build`: the generated package checked with real rpm
//! (`-qp`, `-K`, `-V`), installed into and erased from an `rpm --root`,
//! linted with rpmlint; and the layering rules refusing what rpm-ostree
//! would not take.

use crate::bench;

use bench::image::{Compression, Config, Image, Layer};
use bench::rpmroot::RpmRoot;
use bench::{atomic_bin, check, fixtures, require_root, run};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Build {
    root: tempfile::TempDir,
    out: tempfile::TempDir,
}

impl Build {
    fn new() -> Build {
        let tmp = |p| {
            tempfile::Builder::new()
                .prefix(p)
                .tempdir_in("/var/tmp")
                .unwrap()
        };
        Build {
            root: tmp("atomic-rpm-root-"),
            out: tmp("atomic-rpm-out-"),
        }
    }
    fn build(&self, img: &Image, name: &str) -> Output {
        self.build_as(img, name, "--rpm=build")
    }
    fn build_as(&self, img: &Image, name: &str, mode: &str) -> Output {
        let layout = self.root.path().join(format!("layout-{name}"));
        img.write_oci(&layout, "1.0");
        run(Command::new(atomic_bin())
            .arg("--root")
            .arg(self.root.path())
            .args(["install", "--system", mode, "--name", name, "--output"])
            .arg(self.out.path())
            .arg(format!("oci:{}:1.0", layout.display())))
    }
    fn package(&self, img: &Image, name: &str) -> PathBuf {
        let out = self.build(img, name);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(line.trim().strip_prefix("Wrote ").unwrap())
    }
    /// Writes the spec of `img` as container `name`; the spec's path.
    fn spec(&self, img: &Image, name: &str) -> PathBuf {
        let out = self.build_as(img, name, "--rpm=spec");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(line.trim().strip_prefix("Wrote ").unwrap())
    }
    fn outputs(&self) -> usize {
        std::fs::read_dir(self.out.path()).unwrap().count()
    }
}

fn rpm_q(file: &Path, args: &[&str]) -> String {
    check(Command::new("rpm").args(["-qp"]).args(args).arg(file))
}

#[test]
fn the_package_has_the_identity_payload_and_scripts_rpm_expects() {
    require_root();
    let b = Build::new();
    let img = fixtures::greeter_hostfs();
    let w = img.write_oci(&b.root.path().join("probe"), "x");
    let file = b.package(&img, "hf");
    assert_eq!(
        file.file_name().unwrap().to_str().unwrap(),
        format!("atomic-container-hf-1.0-1.{}.noarch.rpm", &w.image_id[..12])
    );
    assert_eq!(
        rpm_q(
            &file,
            &[
                "--qf",
                "%{NAME}|%{VERSION}|%{RELEASE}|%{SUMMARY}|%{LICENSE}|%{ARCH}"
            ]
        ),
        format!(
            "atomic-container-hf|1.0|1.{}|Greeter system container|MIT|noarch",
            &w.image_id[..12]
        )
    );
    let files = rpm_q(&file, &["-l"]);
    for p in [
        "/usr/lib/containers/atomic/hf/config.json",
        "/usr/lib/containers/atomic/hf/rootfs/bin/busybox",
        "/usr/lib/containers/atomic/hf/rootfs/bin/sh",
        "/usr/lib/containers/atomic/hf/rootfs/tmp",
        "/usr/lib/systemd/system/hf.service",
        "/usr/lib/tmpfiles.d/hf.conf",
        "/etc/greeter/greeting.conf",
        "/etc/greeter/instance-hf.conf",
        "/etc/greeter/conf.d",
    ] {
        assert!(
            files.lines().any(|l| l == p),
            "{p} not in the package:\n{files}"
        );
    }
    assert!(
        files
            .lines()
            .all(|l| l.starts_with("/usr/") || l.starts_with("/etc/")),
        "{files}"
    );
    let config = rpm_q(&file, &["-c"]);
    assert!(
        config.lines().any(|l| l == "/etc/greeter/greeting.conf"),
        "{config}"
    );
    let provides = rpm_q(&file, &["--provides"]);
    assert!(provides.contains("atomic-container(hf)"), "{provides}");
    let scripts = rpm_q(&file, &["--scripts"]);
    assert!(scripts.contains("systemctl daemon-reload"), "{scripts}");
    assert!(
        scripts.contains("systemctl --no-reload disable --now hf.service"),
        "{scripts}"
    );
    let modes = rpm_q(
        &file,
        &[
            "--qf",
            "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILENAMES}\\n]",
        ],
    );
    assert!(
        modes.contains("drwxrwxrwt root /usr/lib/containers/atomic/hf/rootfs/tmp\n"),
        "{modes}"
    );
    assert!(
        modes.contains("-rwxr-xr-x root /usr/lib/containers/atomic/hf/rootfs/bin/busybox\n"),
        "{modes}"
    );
    assert!(
        modes.contains("lrwxrwxrwx root /usr/lib/containers/atomic/hf/rootfs/bin/sh\n"),
        "{modes}"
    );
    let k = check(Command::new("rpm").arg("-K").arg(&file));
    assert!(k.contains("digests OK"), "{k}");
}

#[test]
fn the_package_installs_into_an_rpm_root_verifies_and_erases_clean() {
    require_root();
    let b = Build::new();
    let file = b.package(&fixtures::greeter_hostfs(), "hf");
    let root = RpmRoot::new();
    root.check(&["-ivh", file.to_str().unwrap()]);
    assert!(root.has("atomic-container-hf"));
    root.check(&["-V", "atomic-container-hf"]);
    let unit = std::fs::read_to_string(root.file("/usr/lib/systemd/system/hf.service")).unwrap();
    assert!(
        unit.contains("WorkingDirectory=/usr/lib/containers/atomic/hf\n"),
        "{unit}"
    );
    let config =
        std::fs::read_to_string(root.file("/usr/lib/containers/atomic/hf/config.json")).unwrap();
    assert!(config.contains("\"NAME=hf\""), "{config}");
    assert_eq!(
        std::fs::read_to_string(root.file("/etc/greeter/greeting.conf")).unwrap(),
        "greeting for world on port 8081\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.file("/usr/lib/tmpfiles.d/hf.conf")).unwrap(),
        "d /run/greeter-hf 0755 root root -\n"
    );
    root.check(&["-e", "atomic-container-hf"]);
    assert!(!root.has("atomic-container-hf"));
    for p in [
        "/usr/lib/containers/atomic/hf",
        "/usr/lib/systemd/system/hf.service",
        "/etc/greeter/greeting.conf",
    ] {
        assert!(!root.file(p).exists(), "{p} left after erase");
    }
}

#[test]
fn hard_links_and_large_files_install_byte_for_byte() {
    require_root();
    let b = Build::new();
    // Larger than the copy buffer and not compressible, so it streams in
    // many chunks.
    let mut data = Vec::with_capacity(700_000);
    let mut x: u32 = 1;
    while data.len() < 700_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        data.extend_from_slice(&x.to_le_bytes());
    }
    let blob = b.root.path().join("blob");
    std::fs::write(&blob, &data).unwrap();
    let layer = Layer::parse(
        &format!(
            "d srv\nx srv/blob {} 0640\nf srv/a 0644 = linked\\n\nh srv/b srv/a\nh srv/c srv/a\n\
             d exports\nf exports/manifest.json = {{\"version\": \"1.0\", \"noContainerService\": true}}\n",
            blob.display()
        ),
        Compression::Gzip,
    );
    let img = Image::new(
        vec![fixtures::busybox_layer(Compression::Gzip), layer],
        Config {
            cmd: vec!["/bin/sh".into()],
            ..Config::default()
        },
    );
    let file = b.package(&img, "hl");
    let k = check(Command::new("rpm").arg("-K").arg(&file));
    assert!(k.contains("digests OK"), "{k}");
    let srv = "/usr/lib/containers/atomic/hl/rootfs/srv";
    let inodes = rpm_q(
        &file,
        &["--qf", "[%{FILEINODES} %{FILENLINKS} %{FILENAMES}\\n]"],
    );
    let of = |name: &str| {
        let path = format!("{srv}/{name}");
        inodes
            .lines()
            .find(|l| l.ends_with(&format!(" {path}")))
            .unwrap_or_else(|| panic!("{path} not in the package:\n{inodes}"))
            .split(' ')
            .take(2)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("a")[1], "3", "{inodes}");
    assert_eq!(of("a"), of("b"));
    assert_eq!(of("a"), of("c"));
    assert_eq!(of("blob")[1], "1", "{inodes}");

    let root = RpmRoot::new();
    root.check(&["-ivh", "--nodeps", file.to_str().unwrap()]);
    root.check(&["-V", "atomic-container-hl"]);
    use std::os::unix::fs::MetadataExt;
    let meta = |name: &str| std::fs::metadata(root.file(&format!("{srv}/{name}"))).unwrap();
    assert_eq!(
        std::fs::read(root.file(&format!("{srv}/blob"))).unwrap(),
        data
    );
    assert_eq!(meta("blob").mode() & 0o7777, 0o640);
    assert_eq!(meta("a").ino(), meta("b").ino());
    assert_eq!(meta("a").ino(), meta("c").ino());
    assert_eq!(meta("a").nlink(), 3);
    assert_eq!(
        std::fs::read_to_string(root.file(&format!("{srv}/c"))).unwrap(),
        "linked\n"
    );
    root.check(&["-e", "atomic-container-hl"]);
    assert!(!root.file(srv).exists(), "{srv} left after erase");
}

#[test]
fn rpmlint_reports_only_what_no_generated_package_can_avoid() {
    require_root();
    let b = Build::new();
    let file = b.package(&fixtures::greeter_hostfs(), "hf");
    let out = run(Command::new("rpmlint").arg(&file));
    let text = String::from_utf8_lossy(&out.stdout);
    // Accepted, with the reason: no signature (packages are signed by the
    // publisher, not at build); the static busybox is a "binary" in a noarch
    // package (the container ships its own binaries); the image's 1777 /tmp
    // and /var/tmp; busybox's setuid-less but unusual modes; and files
    // rpmlint expects a distribution to own (the container's own tree).
    const ACCEPTED: &[&str] = &[
        "no-signature",
        "arch-independent-package-contains-binary-or-object",
        "non-standard-dir-perm",
        "statically-linked-binary",
        "dir-or-file-in-usr-local",
        "non-standard-executable-perm",
        "zero-length",
        "hidden-file-or-dir",
        "missing-call-to-setgroups-before-setuid",
        "missing-call-to-chdir-with-chroot",
        "non-conffile-in-etc",
        "binary-or-shlib-defines-rpath",
        "invalid-url",
        "no-changelogname-tag",
        "description-shorter-than-summary",
        "non-executable-script",
        "wrong-script-interpreter",
    ];
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(": E: "))
        .filter(|l| !ACCEPTED.iter().any(|a| l.contains(a)))
        .collect();
    assert!(
        errors.is_empty(),
        "rpmlint errors:\n{}\n\nfull output:\n{text}",
        errors.join("\n")
    );
}

fn with_hostfs(hostfs: &str, labels: &[(&str, &str)]) -> Image {
    let layer = Layer::parse(
        &format!("d exports\nd exports/hostfs\n{hostfs}\nf exports/manifest.json = {{\"version\": \"1.0\", \"noContainerService\": true}}\n"),
        Compression::Gzip,
    );
    Image::new(
        vec![fixtures::busybox_layer(Compression::Gzip), layer],
        Config {
            cmd: vec!["/bin/sh".into()],
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Config::default()
        },
    )
}

#[test]
fn layering_rules_and_bad_labels_are_refused_and_write_nothing() {
    require_root();
    let b = Build::new();
    let cases = [
        (with_hostfs("d exports/hostfs/opt\nf exports/hostfs/opt/tool = x", &[]), "/opt: on image-based hosts /opt is a link into /var; rpm-ostree would move this to /usr/lib/opt"),
        (
            with_hostfs("d exports/hostfs/var\nd exports/hostfs/var/lib\nf exports/hostfs/var/lib/state = x", &[]),
            "/var/lib/state: rpm-ostree layers only /usr and /etc",
        ),
        (with_hostfs("", &[("atomic.requires", "bash, glibc >=")]), "label atomic.requires: invalid dependency \"glibc >=\""),
    ];
    for (i, (img, message)) in cases.into_iter().enumerate() {
        let out = b.build(&img, &format!("bad{i}"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains(message), "expected {message:?} in {err}");
        assert_eq!(b.outputs(), 0, "nothing written");
    }
    // A directory under /var becomes a tmpfiles line instead.
    let img = with_hostfs(
        "d exports/hostfs/var\nd exports/hostfs/var/lib\nd exports/hostfs/var/lib/tool 0750",
        &[("atomic.requires", "bash, glibc >= 2.36")],
    );
    let file = b.package(&img, "vd");
    let root = RpmRoot::new();
    root.check(&["-ivh", "--nodeps", file.to_str().unwrap()]);
    let tmpfiles = std::fs::read_to_string(root.file("/usr/lib/tmpfiles.d/vd.conf")).unwrap();
    assert!(
        tmpfiles.contains("d /var/lib/tool 0750 root root -\n"),
        "{tmpfiles}"
    );
    let requires = rpm_q(&file, &["--requires"]);
    assert!(requires.contains("glibc >= 2.36"), "{requires}");
}

/// Builds `spec` (its source in `b`'s output) with rpmbuild -bb under
/// `top`; the package file.
fn rpmbuild(b: &Build, spec: &Path, top: &Path) -> PathBuf {
    check(
        Command::new("rpmbuild")
            .arg("-bb")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .arg("--define")
            .arg(format!("_sourcedir {}", b.out.path().display()))
            .arg(spec),
    );
    std::fs::read_dir(top.join("RPMS/noarch"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

#[test]
fn rpmbuild_of_the_spec_output_builds_the_same_package() {
    require_root();
    let b = Build::new();
    let mut img = fixtures::greeter_hostfs();
    img.config
        .labels
        .push(("atomic.requires".into(), "bash, glibc >= 2.36".into()));
    let file = b.package(&img, "hf");
    let spec = b.spec(&img, "hf");
    assert!(b.out.path().join("hf-payload.tar").exists());
    let top = tempfile::tempdir().unwrap();
    let built = rpmbuild(&b, &spec, top.path());
    assert_eq!(
        built.file_name(),
        file.file_name(),
        "same name, version and release"
    );
    for q in [
        &[
            "--qf",
            "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{SUMMARY} %{LICENSE}",
        ][..],
        &["--provides"],
        &["--conflicts"],
        &["-c"],
        &[
            "--qf",
            "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\\n]",
        ],
    ] {
        assert_eq!(rpm_q(&built, q), rpm_q(&file, q), "{q:?}");
    }
    // rpmlib() requirements name rpm features each builder uses; the rest must match.
    let requires = |f: &Path| {
        let mut v: Vec<String> = rpm_q(f, &["--requires"])
            .lines()
            .filter(|l| !l.starts_with("rpmlib("))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(requires(&built), requires(&file));
}

/// Nothing an image chooses is expanded by rpm: `rpmbuild -bb` expands
/// `%files` paths twice, so a file named with a `%` is refused in spec mode
/// (naming it, pointing at --rpm=build, writing nothing); labels holding
/// `%(...)` or a template key stay literal text through a real rpmbuild.
#[test]
fn a_spec_runs_nothing_an_image_chose_under_rpmbuild() {
    require_root();
    let b = Build::new();
    let marker = b.root.path().join("ran");
    let evil = format!("usr/share/%(touch_{})", "x");
    let img = with_hostfs(&format!("d usr\nd usr/share\nf {evil} = x"), &[]);
    let out = b.build_as(&img, "pct", "--rpm=spec");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a % path was written into a spec");
    assert!(
        err.contains("/usr/share/%(touch_x)") && err.contains("--rpm=build"),
        "{err}"
    );
    assert_eq!(b.outputs(), 0, "nothing written");

    // A description line that, expanded once, starts a section: rpm would
    // expand that section's options a second time.
    let img = with_hostfs(
        "",
        &[(
            "atomic.description",
            "%files -f %{lua:os.execute('touch /tmp/x')}",
        )],
    );
    let out = b.build_as(&img, "sect", "--rpm=spec");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a section line went into a spec");
    assert!(
        err.contains("has a line starting with %") && err.contains("--rpm=build"),
        "{err}"
    );
    assert_eq!(b.outputs(), 0, "nothing written");

    // Outputs are new files renamed into place: a link planted at an
    // output's name is replaced, its target untouched.
    let victim = b.root.path().join("victim");
    std::fs::write(&victim, "keep\n").unwrap();
    for name in ["lbl-payload.tar", "atomic-container-lbl.spec"] {
        std::os::unix::fs::symlink(&victim, b.out.path().join(name)).unwrap();
    }

    let run_it = format!("see %(touch {})", marker.display());
    let img = with_hostfs(
        "",
        &[
            ("atomic.summary", "@FILES@ and @CHANGELOG@"),
            ("atomic.description", run_it.as_str()),
        ],
    );
    let spec = b.spec(&img, "lbl");
    let text = std::fs::read_to_string(&spec).unwrap();
    assert!(
        text.contains("Summary:        @FILES@ and @CHANGELOG@\n"),
        "the template was filled twice:\n{text}"
    );
    let top = tempfile::tempdir().unwrap();
    let built = rpmbuild(&b, &spec, top.path());
    assert!(!marker.exists(), "rpmbuild ran the image's %(...)");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
    assert_eq!(
        rpm_q(&built, &["--qf", "%{SUMMARY}|%{DESCRIPTION}"]),
        format!("@FILES@ and @CHANGELOG@|{run_it}")
    );
}

/// `install --system --rpm=build --createrepo` of the layout's `1.0` as
/// container `name` into `repo`, with `extra` arguments; its output.
fn publish(b: &Build, layout: &Path, repo: &Path, name: &str, extra: &[&str]) -> String {
    check(
        Command::new(atomic_bin())
            .arg("--root")
            .arg(b.root.path())
            .args([
                "install",
                "--system",
                "--rpm=build",
                "--createrepo",
                "--name",
                name,
            ])
            .args(extra)
            .arg("--output")
            .arg(repo)
            .arg(format!("oci:{}:1.0", layout.display())),
    )
}

/// Runs dnf on the `--installroot` `root` with `repo` as its only
/// repository (a client of a fleet's repository).
fn dnf_from(root: &RpmRoot, repo: &Path, args: &[&str]) -> String {
    check(
        Command::new("dnf")
            .arg(format!("--installroot={}", root.path().display()))
            .args([
                "--releasever=1",
                "--setopt=reposdir=/dev/null",
                "--nogpgcheck",
                "-y",
                "-q",
            ])
            .arg(format!("--repofrompath=atomic,file://{}", repo.display()))
            .arg("--repo=atomic")
            .args(args),
    )
}

#[test]
fn a_published_repository_installs_with_dnf() {
    require_root();
    let b = Build::new();
    let layout = b.root.path().join("layout-repo");
    fixtures::greeter_hostfs().write_oci(&layout, "1.0");
    let repo = b.out.path().join("repo");
    publish(&b, &layout, &repo, "pub", &[]);
    assert!(repo.join("repodata/repomd.xml").exists());
    let root = RpmRoot::new();
    dnf_from(&root, &repo, &["install", "atomic-container-pub"]);
    assert!(root.has("atomic-container-pub"));
    assert!(root.file("/usr/lib/systemd/system/pub.service").exists());

    // A bootc derived image: `RUN dnf install ./atomic-container-NAME.rpm`
    // in a build root with no running systemd; the scriptlets must not fail.
    let file = std::fs::read_dir(&repo)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "rpm"))
        .unwrap();
    let offline = RpmRoot::new();
    let out = run(Command::new("dnf")
        .env("SYSTEMD_OFFLINE", "1")
        .arg(format!("--installroot={}", offline.path().display()))
        .args([
            "--releasever=1",
            "--setopt=reposdir=/dev/null",
            "--nogpgcheck",
            "-y",
            "install",
        ])
        .arg(&file));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("scriptlet failed"), "{said}");
    assert!(offline.has("atomic-container-pub"));
    assert!(offline
        .file("/usr/lib/containers/atomic/pub/config.json")
        .exists());
}

#[test]
fn packages_and_specs_have_a_changelog_entry() {
    require_root();
    let b = Build::new();
    let img = fixtures::greeter_hostfs();
    let file = b.package(&img, "cl");
    let changelog = rpm_q(&file, &["--changelog"]);
    assert!(changelog.contains("atomic - 1.0-1."), "{changelog}");
    assert!(changelog.contains("- Built from image "), "{changelog}");
    let spec = b.spec(&img, "cl");
    let parsed = check(Command::new("rpmspec").arg("-P").arg(&spec));
    let entry = parsed.split("%changelog\n").nth(1).unwrap_or_default();
    assert!(
        entry.starts_with("* ") && entry.contains(" atomic - 1.0-1."),
        "{parsed}"
    );
}

/// One line of `ls -l` style listings (`rpm -qplv`, `bsdtar -tv`): path
/// (without cpio's leading `.`), mode string, owner, group, link target.
fn listing(text: &str) -> std::collections::BTreeMap<String, (String, String, String, String)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let path = f[8].trim_start_matches('.').to_string();
            // A hard link reads as its own file in both; the target of a
            // symlink follows "->".
            let target = match f.get(9) {
                Some(&"->") => f[10].to_string(),
                _ => String::new(),
            };
            let mode = f[0].replacen('h', "-", 1);
            (path, (mode, f[2].to_string(), f[3].to_string(), target))
        })
        .collect()
}

#[test]
fn libarchive_reads_the_payload_as_rpm_lists_it() {
    require_root();
    // rpm-ostree's importer reads payloads with libarchive: what bsdtar
    // lists of rpm2cpio's output must be what rpm -qplv says.
    let b = Build::new();
    let mut img = fixtures::greeter_hostfs();
    img.layers.push(Layer::parse(
        "d srv\nf srv/owned 0640 7:8 = data\nh srv/again srv/owned\nl srv/link owned\nd srv/empty 0700\n",
        Compression::Gzip,
    ));
    let file = b.package(&img, "arch");
    let rpm = listing(&rpm_q(&file, &["-lv"]));
    let cpio = check(
        Command::new("bash")
            .arg("-o")
            .arg("pipefail")
            .arg("-c")
            .arg(format!("rpm2cpio {} | bsdtar -tvf -", file.display())),
    );
    let arch = listing(&cpio);
    assert_eq!(
        rpm.keys().collect::<Vec<_>>(),
        arch.keys().collect::<Vec<_>>(),
        "the same paths"
    );
    for (path, (mode, user, group, target)) in &rpm {
        let (amode, auser, agroup, atarget) = &arch[path];
        assert_eq!((mode, target), (amode, atarget), "{path}");
        // cpio keeps numeric ids: root is 0, an owner the image names by
        // number is that number.
        for (name, id) in [(user, auser), (group, agroup)] {
            match name.as_str() {
                "root" => assert_eq!(id, "0", "{path}"),
                n if n.parse::<u32>().is_ok() => assert_eq!(id, n, "{path}"),
                _ => {}
            }
        }
    }
    assert_eq!(
        rpm["/usr/lib/containers/atomic/arch/rootfs/srv/owned"].1, "7",
        "the image's owner by number"
    );
}

#[test]
fn file_capabilities_go_into_the_package_and_onto_the_installed_file() {
    require_root();
    let b = Build::new();
    let img = Image::new(
        vec![
            fixtures::busybox_layer(Compression::Gzip),
            Layer::raw(
                bench::image::tar_with_capability(bench::image::NET_RAW_CAPABILITY),
                Compression::Gzip,
            ),
        ],
        Config {
            cmd: vec!["/usr/bin/ping".into()],
            ..Config::default()
        },
    );
    let file = b.package(&img, "caps");
    let ping = "/usr/lib/containers/atomic/caps/rootfs/usr/bin/ping";
    let caps = rpm_q(&file, &["--qf", "[%{FILENAMES} %{FILECAPS}\\n]"]);
    assert!(
        caps.lines().any(|l| l == format!("{ping} cap_net_raw=ep")),
        "{caps}"
    );
    let root = RpmRoot::new();
    let out = root.rpm(&["-i", "--nodeps", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut buf = [0u8; 64];
    let n = rustix::fs::getxattr(root.file(ping), "security.capability", &mut buf)
        .expect("rpm set the file's capabilities");
    assert_eq!(&buf[..n], bench::image::NET_RAW_CAPABILITY);
}

/// A fleet's repository moves forward: a second build of the same
/// container with other values gets the next release, so a client that
/// installed the first upgrades to it (real dnf, `--installroot`) and
/// verifies clean; an identical third build writes nothing, and no
/// published file is ever replaced.
#[test]
fn rebuilds_into_a_fleet_repository_are_upgrades() {
    require_root();
    let b = Build::new();
    let layout = b.root.path().join("layout-fleet");
    fixtures::greeter_hostfs().write_oci(&layout, "1.0");
    let repo = b.out.path().join("repo");
    let build = |receiver: &str| {
        publish(
            &b,
            &layout,
            &repo,
            "fleet",
            &["--set", &format!("RECEIVER={receiver}")],
        )
    };
    let rpms = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&repo)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".rpm"))
            .collect();
        v.sort();
        v
    };
    let dnf = |root: &RpmRoot, args: &[&str]| dnf_from(root, &repo, args);
    let first = build("fleet-one");
    let client = RpmRoot::new();
    dnf(&client, &["install", "atomic-container-fleet"]);
    let installed = client.check(&["-q", "atomic-container-fleet"]);
    assert!(installed.contains("-1.0-1."), "{installed}");

    let second = build("fleet-two");
    assert_ne!(first, second);
    let published = rpms();
    assert_eq!(published.len(), 2, "{published:?}");
    assert!(published[1].contains("-1.0-2."), "{published:?}");
    // --refresh: as a client whose cached metadata has expired.
    dnf(&client, &["--refresh", "upgrade", "atomic-container-fleet"]);
    let upgraded = client.check(&["-q", "atomic-container-fleet"]);
    assert!(
        upgraded.contains("-1.0-2."),
        "dnf upgrade moved on: {upgraded}"
    );
    assert_eq!(
        std::fs::read_to_string(client.file("/etc/greeter/greeting.conf")).unwrap(),
        "greeting for fleet-two on port 8081\n"
    );
    let verify = client.rpm(&["-V", "atomic-container-fleet"]);
    assert!(
        verify.status.success(),
        "rpm -V: {}",
        String::from_utf8_lossy(&verify.stdout)
    );

    let repomd = std::fs::read(repo.join("repodata/repomd.xml")).unwrap();
    // What else a shared directory may hold: another container's package
    // (a longer name), a FIFO and junk named like one of this container's.
    std::fs::write(
        repo.join("atomic-container-fleet-bar-1.0-9.0123456789ab.noarch.rpm"),
        "not a package",
    )
    .unwrap();
    check(Command::new("mkfifo").arg(repo.join("atomic-container-fleet-1.0-8.fifo.noarch.rpm")));
    let published: Vec<String> = rpms();
    // A second later: the same build is the same package whatever the clock.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let third = build("fleet-two");
    assert!(third.contains("Identical to"), "{third}");
    assert_eq!(rpms(), published, "nothing new in the repository");
    // Junk at the very name a build would take is never replaced.
    let fourth_name = repo.join(published[1].replace("-1.0-2.", "-1.0-3."));
    std::fs::write(&fourth_name, "someone's file").unwrap();
    let out = run(Command::new(atomic_bin())
        .arg("--root")
        .arg(b.root.path())
        .args([
            "install",
            "--system",
            "--rpm=build",
            "--name",
            "fleet",
            "--set",
            "RECEIVER=fleet-three",
            "--output",
        ])
        .arg(&repo)
        .arg(format!("oci:{}:1.0", layout.display())));
    assert!(
        !out.status.success(),
        "a build replaced or ignored {}",
        fourth_name.display()
    );
    assert_eq!(
        std::fs::read_to_string(&fourth_name).unwrap(),
        "someone's file"
    );
    assert_eq!(
        std::fs::read(repo.join("repodata/repomd.xml")).unwrap(),
        repomd,
        "the repository metadata is untouched"
    );
}
