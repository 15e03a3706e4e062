//! The test bench shared by the integration tests: an image builder, a real
//! registry, a real systemd in a sandbox, and an `rpm --root` target.
// Each test target uses its own part of the bench.
#![allow(dead_code)]

pub mod client;
pub mod fixtures;
pub use atomic::fixture as image;
pub mod registry;
pub mod rpmroot;
pub mod sandbox;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The built `atomic` binary.
pub fn atomic_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_atomic"))
}

/// Runs a command and returns its output, panicking if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed and returns its stdout.
pub fn check(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Fails the calling test when not run as root: the bench needs mounts,
/// runc, systemd and rpm --root, and a test that did not run must not pass.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "this test needs root (it mounts, runs runc and systemd, installs with rpm --root): \
         run `cargo test` as root; running as uid {euid}"
    );
}

/// Path of the host's static busybox, which test images are built from.
pub fn busybox() -> &'static Path {
    Path::new("/bin/busybox")
}

/// Connects to a greeter on `port` (retrying while it starts) and returns
/// its line.
pub fn greet(port: u16) -> String {
    use std::io::{BufRead, BufReader};
    let start = std::time::Instant::now();
    loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut line = String::new();
            if BufReader::new(s).read_line(&mut line).is_ok() && !line.is_empty() {
                return line.trim_end().to_string();
            }
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "nothing answers on port {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Whether nothing listens on `port`.
pub fn closed(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

/// A STAND-IN for rpm-ostree, for testing the tool's own handling of what
/// rpm-ostree reports and does (the real one is not packaged for these
/// machines). It keeps pending operations in `$STANDIN_STATE` and applies
/// them on `apply-live`, unless `STANDIN_APPLY_LIVE=fail`: with `rpm --root
/// $STANDIN_ROOT` when that is set, else to the running system as
/// rpm-ostree does, under a transient overlay of `/usr` and with no
/// scriptlet run (on such hosts `%preun`/`%postun` never run, `%post` only
/// when a deployment is built). With `STANDIN_INSTALL=nochange` it answers
/// `install` with "No change." and exit 0, applying nothing live, as
/// rpm-ostree does when a pending deployment requests the package already.
pub const RPM_OSTREE_STAND_IN: &str = r#"#!/bin/bash
set -euo pipefail
s=$STANDIN_STATE; touch "$s/pending" "$s/requested"
echo "$*" >>"$s/calls"
nevra() { rpm -qp --qf '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}' "$1"; }
apply() {
	if [ "${STANDIN_APPLY_LIVE:-ok}" = fail ]; then
		echo "error: apply-live: Failed to apply live: this stand-in refuses" >&2; exit 1
	fi
	if [ -n "${STANDIN_ROOT:-}" ]; then
		target=(--root "$STANDIN_ROOT")
	else
		target=()
		if ! touch /usr/.standin-probe 2>/dev/null; then
			mkdir -p /run/standin-usr/upper /run/standin-usr/work
			mount -t overlay overlay -o lowerdir=/usr,upperdir=/run/standin-usr/upper,workdir=/run/standin-usr/work /usr
		else
			rm /usr/.standin-probe
		fi
	fi
	while read -r op arg; do
		case $op in
		install) rpm "${target[@]}" -U --oldpackage --nodeps --noscripts "$arg" ;;
		erase) rpm "${target[@]}" -e --nodeps --noscripts "$arg" ;;
		esac
	done <"$s/pending"
	: >"$s/pending"; : >"$s/requested"
}
case $1 in
status)
	req=$(sed 's/.*/"&"/' "$s/requested" | paste -sd, -)
	echo "{\"deployments\": [{\"booted\": false, \"requested-local-packages\": [$req]}, {\"booted\": true, \"requested-local-packages\": []}]}"
	;;
install)
	file=${@: -1}
	if grep -qx "$(nevra "$file")" "$s/requested"; then echo "No change."; exit 0; fi
	echo "install $file" >>"$s/pending"; nevra "$file" >>"$s/requested"
	if [ "${STANDIN_INSTALL:-}" = nochange ]; then echo "No change."; exit 0; fi
	for a in "$@"; do [ "$a" != --apply-live ] || apply; done
	;;
uninstall)
	if grep -q "^$2-" "$s/requested"; then
		# Only requested so far: the request goes.
		sed -i "/^$2-/d" "$s/requested"; sed -i "\#/$2-[^/]*\$#d" "$s/pending"
	else
		echo "erase $2" >>"$s/pending"
	fi
	for a in "$@"; do
		case $a in --install=*) echo "install ${a#--install=}" >>"$s/pending"; nevra "${a#--install=}" >>"$s/requested" ;; esac
	done
	;;
apply-live) apply ;;
*) echo "stand-in rpm-ostree: unknown command $1" >&2; exit 1 ;;
esac
"#;

/// Writes [`RPM_OSTREE_STAND_IN`] as `DIR/bin/rpm-ostree` and returns that
/// `bin` directory, for the front of `PATH`.
pub fn rpm_ostree_stand_in(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("rpm-ostree");
    std::fs::write(&script, RPM_OSTREE_STAND_IN).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// The standard output of `out`, a run of `atomic ARGS` that must have
/// succeeded; the panic shows both streams.
pub fn succeeded(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "atomic {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Host PIDs of the tool's processes whose command line contains every one
/// of `words` (those in a sandbox too, not the `nsenter` that started them).
pub fn pids_of(words: &[&str]) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            (cmd.contains("atomic")
                && words.iter().all(|w| cmd.contains(w))
                && !cmd.contains("nsenter"))
            .then_some(pid)
        })
        .collect()
}
