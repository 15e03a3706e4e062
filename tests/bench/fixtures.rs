//! The standard test images: a busybox base that really runs, the greeter
//! system container of `contrib/greeter` and its variants, and an image
//! without `/exports`.

use super::image::{Compression, Config, Image, Layer};
use std::path::{Path, PathBuf};

const GREETER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/greeter");

/// Busybox applets the test images link.
const APPLETS: &[&str] = &[
    "sh", "nc", "sleep", "cat", "echo", "ls", "id", "env", "mkdir", "rm", "touch", "wget",
    "printf", "test", "true", "false", "kill",
];

/// A base layer: a static busybox with its applets, and the usual directories.
pub fn busybox_layer(compression: Compression) -> Layer {
    let mut spec = String::from(
        "d bin\nd usr\nd usr/bin\nd etc\nd proc\nd sys\nd dev\nd run\nd tmp 1777\nd var\nd var/tmp 1777\n",
    );
    spec.push_str("x bin/busybox /bin/busybox 0755\n");
    for a in APPLETS {
        spec.push_str(&format!("l bin/{a} busybox\n"));
    }
    spec.push_str(
        "f etc/passwd = root:x:0:0:root:/:/bin/sh\\nnobody:x:65534:65534:nobody:/:/bin/false\\n\n",
    );
    spec.push_str("f etc/group = root:x:0:\\nnobody:x:65534:\\n\n");
    Layer::parse(&spec, compression)
}

pub fn greeter_file(name: &str) -> String {
    std::fs::read_to_string(format!("{GREETER}/{name}"))
        .unwrap_or_else(|e| panic!("{GREETER}/{name}: {e}"))
}

/// `f PATH MODE = TEXT` for a file of contrib/greeter.
pub fn entry(path: &str, mode: &str, text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\t', "\\t");
    format!("f {path} {mode} = {escaped}\n")
}

pub fn greeter_layer(manifest: &str, extra: &str) -> Layer {
    greeter_layer_with(
        manifest,
        &greeter_file("exports/config.json.template"),
        extra,
    )
}

pub fn greeter_layer_with(manifest: &str, config: &str, extra: &str) -> Layer {
    let mut spec = String::from("d exports\n");
    spec.push_str(&entry("usr/bin/greet", "0755", &greeter_file("greet.sh")));
    spec.push_str(&entry("exports/manifest.json", "0644", manifest));
    spec.push_str(&entry("exports/config.json.template", "0644", config));
    for t in ["service.template", "tmpfiles.template"] {
        let text = greeter_file(&format!("exports/{t}"));
        spec.push_str(&entry(&format!("exports/{t}"), "0644", &text));
    }
    spec.push_str(extra);
    Layer::parse(&spec, Compression::Gzip)
}

pub fn greeter_config(version: &str) -> Config {
    Config {
        cmd: vec!["/usr/bin/greet".into()],
        env: vec!["PATH=/usr/bin:/bin".into()],
        labels: vec![
            ("atomic.version".into(), version.into()),
            ("atomic.summary".into(), "Greeter system container".into()),
            ("atomic.license".into(), "MIT".into()),
        ],
        ..Config::default()
    }
}

/// The greeter of contrib/greeter: busybox `nc` answering
/// "Hi $RECEIVER from container $NAME with UUID=$UUID" on `$PORT`.
pub fn greeter() -> Image {
    Image::new(
        vec![
            busybox_layer(Compression::Gzip),
            greeter_layer(&greeter_file("exports/manifest.json"), ""),
        ],
        greeter_config("1.0"),
    )
}

/// The greeter with a directory and a file owned by uid and gid 4000,
/// which a user's namespace does not map.
pub fn greeter_foreign_owner() -> Image {
    Image::new(
        vec![
            busybox_layer(Compression::Gzip),
            greeter_layer(
                &greeter_file("exports/manifest.json"),
                "d srv\nd srv/data 0750 4000:4000\nf srv/data/db 0640 4000:4000 = rows\n\n",
            ),
        ],
        greeter_config("1.0"),
    )
}

/// The greeter needing `GREETING`, which has no default: install (or a
/// rebase onto it) needs `--set GREETING=`.
pub fn greeter_needs_var() -> Image {
    let manifest =
        r#"{ "version": "1.0", "defaultValues": { "RECEIVER": "world", "PORT": "8081" } }"#;
    let config = greeter_file("exports/config.json.template")
        .replace("\"PORT=$PORT\"", "\"PORT=$PORT\", \"GREETING=$GREETING\"");
    Image::new(
        vec![
            busybox_layer(Compression::Gzip),
            greeter_layer_with(manifest, &config, ""),
        ],
        greeter_config("1.0"),
    )
}

/// The greeter with its config.json.template replaced by `config`.
pub fn greeter_with_config(config: &str) -> Image {
    Image::new(
        vec![
            busybox_layer(Compression::Gzip),
            greeter_layer_with(&greeter_file("exports/manifest.json"), config, ""),
        ],
        greeter_config("1.0"),
    )
}

/// The text of a file of contrib/greeter.
pub fn greeter_text(name: &str) -> String {
    greeter_file(name)
}

/// The greeter with host files: a plain file mentioning `$RECEIVER` (copied
/// as is), a template listed in `installedFilesTemplate`, a file renamed by
/// `renameFiles`, and an empty directory.
pub fn greeter_hostfs() -> Image {
    greeter_hostfs_renamed("instance-$NAME.conf")
}

/// [`greeter_hostfs`] with `instance.conf` renamed to `rename_to`.
pub fn greeter_hostfs_renamed(rename_to: &str) -> Image {
    let manifest = format!(
        r#"{{
    "version": "1.0",
    "defaultValues": {{ "RECEIVER": "world", "PORT": "8081" }},
    "installedFilesTemplate": [ "/etc/greeter/greeting.conf" ],
    "renameFiles": {{ "instance.conf": "{rename_to}" }}
}}"#
    );
    let manifest = manifest.as_str();
    let extra = "d exports/hostfs\nd exports/hostfs/etc\nd exports/hostfs/etc/greeter\n\
        f exports/hostfs/etc/greeter/plain.conf = receiver=$RECEIVER\\n\n\
        f exports/hostfs/etc/greeter/greeting.conf = greeting for $RECEIVER on port $PORT\\n\n\
        f exports/hostfs/etc/greeter/instance.conf = instance\\n\n\
        d exports/hostfs/etc/greeter/conf.d\n";
    Image::new(
        vec![
            busybox_layer(Compression::Gzip),
            greeter_layer(manifest, extra),
        ],
        greeter_config("1.0"),
    )
}

/// The greeter shipping one host file, `/etc/FILE` with `content`.
pub fn greeter_with_host_file(file: &str, content: &str) -> Image {
    let extra = format!(
        "d exports/hostfs\nd exports/hostfs/etc\nf exports/hostfs/etc/{file} = {content}\\n\n"
    );
    Image::new(
        vec![
            busybox_layer(Compression::Gzip),
            greeter_layer(&greeter_file("exports/manifest.json"), &extra),
        ],
        greeter_config("1.0"),
    )
}

const GREETER_SOCKET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/greeter-socket");

/// The socket-activated greeter of contrib/greeter-socket: its server
/// (compiled here, statically, with rustc) answers on the socket systemd
/// passes; its health check asks it.
pub fn socket_greeter(manifest: &str) -> Image {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let binary = BINARY.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("greet-socket");
        super::check(
            std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
                .args([
                    "--edition",
                    "2021",
                    "-O",
                    "-C",
                    "target-feature=+crt-static",
                    "-C",
                    "strip=symbols",
                    "-o",
                ])
                .arg(&out)
                .arg(format!("{GREETER_SOCKET}/greet.rs")),
        );
        out
    });
    let file = |name: &str| {
        std::fs::read_to_string(format!("{GREETER_SOCKET}/{name}"))
            .unwrap_or_else(|e| panic!("{GREETER_SOCKET}/{name}: {e}"))
    };
    let mut spec = String::from("d exports\n");
    spec.push_str(&format!("x usr/bin/greet {} 0755\n", binary.display()));
    spec.push_str(&entry(
        "usr/bin/greet-check",
        "0755",
        "#!/bin/sh\nnc 127.0.0.1 \"$PORT\" </dev/null | grep -q '^Hi '\n",
    ));
    spec.push_str(&entry("exports/manifest.json", "0644", manifest));
    for t in [
        "config.json.template",
        "service.template",
        "socket.template",
        "tmpfiles.template",
    ] {
        spec.push_str(&entry(
            &format!("exports/{t}"),
            "0644",
            &file(&format!("exports/{t}")),
        ));
    }
    Image::new(
        vec![
            busybox_layer(Compression::Gzip),
            Layer::parse(&spec, Compression::Gzip),
        ],
        greeter_config("1.0"),
    )
}

/// The manifest of contrib/greeter-socket.
pub fn socket_greeter_manifest() -> String {
    std::fs::read_to_string(format!("{GREETER_SOCKET}/exports/manifest.json")).unwrap()
}

/// A plain image without `/exports`: defaults are generated from its config.
pub fn no_exports() -> Image {
    let app = Layer::parse(
        "d srv\nf srv/hello.txt = hello from a plain image\\n\n",
        Compression::Zstd,
    );
    Image::new(
        vec![busybox_layer(Compression::Gzip), app],
        Config {
            entrypoint: vec!["/bin/sh".into(), "-c".into()],
            cmd: vec![
                "trap 'exit 0' TERM; cat /srv/hello.txt; while :; do sleep 1 & wait $!; done"
                    .into(),
            ],
            env: vec!["PATH=/usr/bin:/bin".into(), "GREETING=hello".into()],
            working_dir: Some("/srv".into()),
            ..Config::default()
        },
    )
}

/// Host files only, no service (`noContainerService`), hard-linked into
/// place (`useLinks`).
pub fn files_only() -> Image {
    let manifest = r#"{ "version": "1.0", "noContainerService": true, "useLinks": true }"#;
    let layer = Layer::parse(
        &format!(
            "d exports\n{}d exports/hostfs\nd exports/hostfs/etc\nf exports/hostfs/etc/files-only.conf = linked\\n\n",
            entry("exports/manifest.json", "0644", manifest)
        ),
        Compression::Gzip,
    );
    Image::new(
        vec![busybox_layer(Compression::Gzip), layer],
        Config::default(),
    )
}

/// An image of a busybox layer and one more: `spec`, plus each of
/// `exports` (name, text) as `/exports/NAME`.
fn on_busybox(mut spec: String, exports: &[(&str, &str)], config: Config) -> Image {
    for (name, text) in exports {
        spec.push_str(&entry(&format!("exports/{name}"), "0644", text));
    }
    Image::new(
        vec![
            busybox_layer(Compression::Gzip),
            Layer::parse(&spec, Compression::Gzip),
        ],
        config,
    )
}

/// Layer entries for host programs (Debian's `ncat`, `etcd`, `snmpd`, ...)
/// and every library `ldd` lists for them, each at its host path (links
/// resolved), with the directories they need: a real service binary in a
/// test image. Panics naming the program when it is not installed.
pub fn host_programs(programs: &[&str]) -> String {
    use std::collections::BTreeSet;
    let mut files = BTreeSet::new();
    for p in programs {
        let path = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
            .iter()
            .map(|d| Path::new(d).join(p))
            .find(|c| c.exists())
            .unwrap_or_else(|| panic!("{p} is not installed (contrib/setup installs it)"));
        let out = std::process::Command::new("ldd")
            .arg(&path)
            .output()
            .unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(lib) = line.split_whitespace().find(|w| w.starts_with('/')) {
                files.insert(PathBuf::from(lib));
            }
        }
        files.insert(path);
    }
    let mut dirs = BTreeSet::new();
    for f in &files {
        for a in f.ancestors().skip(1) {
            if a != Path::new("/") {
                dirs.insert(a.to_path_buf());
            }
        }
    }
    let mut spec = String::new();
    for d in &dirs {
        spec.push_str(&format!("d {}\n", d.strip_prefix("/").unwrap().display()));
    }
    for f in &files {
        let real = std::fs::canonicalize(f).unwrap();
        spec.push_str(&format!(
            "x {} {} 0755\n",
            f.strip_prefix("/").unwrap().display(),
            real.display()
        ));
    }
    spec
}

/// An image in the shape of the original catalog's hello-world, written
/// for these tests: a unit with no `Type=` (foreground runtime), a pre-1.0
/// `config.json.template` (0.3.0, a platform object, a capabilities list,
/// null devices), `defaultValues` for `PORT` and `RECEIVER`, and Debian's
/// `ncat` answering "Hi $RECEIVER" through a script run by bash.
pub fn catalog_hello() -> Image {
    let run = "#!/bin/sh\n# Answers each connection on $PORT with a greeting.\n\
               ncat -k -l \"${PORT:-8081}\" --sh-exec /usr/bin/greet.sh &\n\
               trap 'kill $!; exit 0' TERM INT\nwait $!\n";
    let greet = "#!/bin/sh\nprintf 'Hi %s\\r\\n' \"$RECEIVER\"\n";
    let manifest = r#"{"version": "1.0", "defaultValues": {"PORT": "8081", "RECEIVER": "World"}}"#;
    let service = "[Unit]\nDescription=Hello World System Container\n\n[Service]\n\
                   ExecStart=$EXEC_START\nExecStop=$EXEC_STOP\nRestart=on-failure\n\
                   WorkingDirectory=$DESTDIR\n\n[Install]\nWantedBy=multi-user.target\n";
    let config = r#"{
	"ociVersion": "0.3.0",
	"platform": {"os": "linux", "arch": "amd64"},
	"process": {
		"terminal": false,
		"user": {"uid": 0, "gid": 0},
		"args": ["/usr/bin/run.sh"],
		"env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "PORT=$PORT", "RECEIVER=$RECEIVER"],
		"cwd": "/",
		"capabilities": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
		"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
		"noNewPrivileges": true
	},
	"root": {"path": "rootfs", "readonly": true},
	"hostname": "$NAME",
	"mounts": [
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
		{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
		{"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=755"]}
	],
	"linux": {
		"devices": null,
		"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
	}
}"#;
    let mut spec = host_programs(&["ncat", "bash"]);
    spec.push_str("l bin/sh /usr/bin/bash\nd exports\n");
    spec.push_str(&entry("usr/bin/run.sh", "0755", run));
    spec.push_str(&entry("usr/bin/greet.sh", "0755", greet));
    on_busybox(
        spec,
        &[
            ("manifest.json", manifest),
            ("service.template", service),
            ("config.json.template", config),
        ],
        Config {
            cmd: vec!["/usr/bin/run.sh".into()],
            ..Config::default()
        },
    )
}

/// Client and peer ports of the etcd test image (not etcd's defaults, so
/// that nothing else on the machine is in the way).
pub const ETCD_CLIENT_PORT: u16 = 23791;

/// An image in the shape of the original catalog's etcd, the seed's own
/// example, written for these tests: Debian's `etcd` in the rootfs, its
/// `etcdctl` in `/exports/hostfs/usr/local/bin/`, an `etcd.conf` in
/// `/exports/hostfs/etc/etcd/`, `renameFiles` mapping both to the
/// container's name, tmpfiles `d`/`Z` lines for its data directory under
/// `$STATE_DIRECTORY` and one under `$RUN_DIRECTORY`, a pre-1.0 config
/// that binds them, and `$ADDTL_MOUNTS` spliced raw after the last mount.
pub fn catalog_etcd() -> Image {
    let env = "#!/bin/sh\n# Reads the host's etcd.conf, then runs the command.\n\
               export ETCD_NAME=\"${NAME:-default}\"\n\
               export ETCD_DATA_DIR=/var/lib/etcd/data\n\
               if test -e /etc/etcd/etcd.conf; then . /etc/etcd/etcd.conf; fi\n\
               exec \"$@\"\n";
    let conf = format!(
        "# etcd settings, read by the container at start\n\
         export ETCD_LISTEN_CLIENT_URLS=http://127.0.0.1:{c}\n\
         export ETCD_ADVERTISE_CLIENT_URLS=http://127.0.0.1:{c}\n\
         export ETCD_LISTEN_PEER_URLS=http://127.0.0.1:{p}\n\
         export ETCD_INITIAL_ADVERTISE_PEER_URLS=http://127.0.0.1:{p}\n\
         export ETCD_INITIAL_CLUSTER=\"$ETCD_NAME=http://127.0.0.1:{p}\"\n",
        c = ETCD_CLIENT_PORT,
        p = ETCD_CLIENT_PORT + 10
    );
    let manifest = r#"{
    "version": "1.0",
    "defaultValues": {
        "CONF_DIRECTORY": "/etc",
        "ETCD_SNAPSHOT_COUNT": "10000",
        "ADDTL_MOUNTS": ""
    },
    "renameFiles": {
        "/etc/etcd/etcd.conf": "$CONF_DIRECTORY/$NAME/etcd.conf",
        "/usr/local/bin/etcdctl": "/usr/local/bin/${NAME}ctl"
    }
}"#;
    let service = "[Unit]\nDescription=Etcd Server\nAfter=network.target\n\n[Service]\n\
                   ExecStart=$EXEC_START\nExecStop=$EXEC_STOP\nRestart=on-failure\n\
                   WorkingDirectory=$DESTDIR\nRuntimeDirectory=${NAME}\n\n\
                   [Install]\nWantedBy=multi-user.target\n";
    let tmpfiles = "d    ${STATE_DIRECTORY}/etcd                0700 ${HOST_UID} ${HOST_GID} - -\n\
                    d    ${STATE_DIRECTORY}/etcd/${NAME}.etcd   0700 ${HOST_UID} ${HOST_GID} - -\n\
                    Z    ${STATE_DIRECTORY}/etcd/${NAME}.etcd   0700 ${HOST_UID} ${HOST_GID} - -\n\
                    d    ${RUN_DIRECTORY}/${NAME}-etcd          -        -           -       - -\n";
    let config = r#"{
	"ociVersion": "1.0.0-rc2",
	"platform": {"os": "linux", "arch": "amd64"},
	"process": {
		"terminal": false,
		"user": {"uid": 0, "gid": 0},
		"args": ["/usr/bin/etcd-env.sh", "/usr/bin/etcd"],
		"env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "NAME=$NAME", "ETCD_SNAPSHOT_COUNT=$ETCD_SNAPSHOT_COUNT"],
		"cwd": "/",
		"capabilities": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
		"noNewPrivileges": true
	},
	"root": {"path": "rootfs", "readonly": true},
	"mounts": [
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
		{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
		{"type": "bind", "source": "${STATE_DIRECTORY}/etcd/${NAME}.etcd", "destination": "/var/lib/etcd", "options": ["rbind", "rw"]},
		{"type": "bind", "source": "${RUN_DIRECTORY}/${NAME}-etcd", "destination": "/run/etcd", "options": ["rbind", "rw"]},
		{"type": "bind", "source": "${CONF_DIRECTORY}/${NAME}", "destination": "/etc/etcd", "options": ["rbind", "ro"]}
		$ADDTL_MOUNTS
	],
	"linux": {
		"devices": null,
		"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
	}
}"#;
    let mut spec = host_programs(&["etcd"]);
    spec.push_str(
        "d var\nd var/lib\nd var/lib/etcd\nd run\nd run/etcd\nd etc\nd etc/etcd\nd exports\nd exports/hostfs\n\
         d exports/hostfs/usr\nd exports/hostfs/usr/local\nd exports/hostfs/usr/local/bin\n\
         d exports/hostfs/etc\nd exports/hostfs/etc/etcd\n",
    );
    spec.push_str("x exports/hostfs/usr/local/bin/etcdctl /usr/bin/etcdctl 0755\n");
    spec.push_str(&entry("exports/hostfs/etc/etcd/etcd.conf", "0644", &conf));
    spec.push_str(&entry("usr/bin/etcd-env.sh", "0755", env));
    on_busybox(
        spec,
        &[
            ("manifest.json", manifest),
            ("service.template", service),
            ("tmpfiles.template", tmpfiles),
            ("config.json.template", config),
        ],
        Config {
            cmd: vec!["/usr/bin/etcd-env.sh".into(), "/usr/bin/etcd".into()],
            labels: vec![
                ("atomic.version".into(), "3.4".into()),
                ("atomic.summary".into(), "etcd key-value store".into()),
            ],
            ..Config::default()
        },
    )
}

/// An image in the shape of the original catalog's net-snmp, written for
/// these tests: a `Type=notify` unit with `NotifyAccess=all` and Debian's
/// `snmpd`, which tells systemd READY=1 through the runtime's proxied
/// `NOTIFY_SOCKET`, answering on 127.0.0.1:161/udp.
pub fn catalog_snmp() -> Image {
    let run = "#!/bin/sh\n# snmpd in the foreground; it notifies systemd when ready.\n\
               exec /usr/sbin/snmpd -f -Lo -C -c /etc/snmp/snmpd.conf udp:127.0.0.1:161\n";
    let conf = "rocommunity public 127.0.0.1\nsysLocation test bench\n";
    let service = "[Unit]\nDescription=net-snmp\nAfter=syslog.target network.target\n\n[Service]\n\
                   Type=notify\nNotifyAccess=all\nExecStart=$EXEC_START\nExecStop=$EXEC_STOP\n\
                   Restart=on-failure\nWorkingDirectory=$DESTDIR\nRuntimeDirectory=${NAME}\n\n\
                   [Install]\nWantedBy=multi-user.target\n";
    let config = r#"{
	"ociVersion": "1.0.0",
	"process": {
		"terminal": false,
		"user": {"uid": 0, "gid": 0},
		"args": ["/usr/bin/run.sh"],
		"env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
		"cwd": "/",
		"capabilities": {
			"bounding": ["CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE"],
			"effective": ["CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE"],
			"permitted": ["CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE"]
		}
	},
	"root": {"path": "rootfs", "readonly": true},
	"mounts": [
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
		{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
		{"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=755"]},
		{"destination": "/var/lib/snmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=700"]}
	],
	"linux": {
		"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
	}
}"#;
    let mut spec = host_programs(&["snmpd", "bash"]);
    spec.push_str(
        "l bin/sh /usr/bin/bash\nd var\nd var/lib\nd var/lib/snmp\nd etc\nd etc/snmp\nd exports\n",
    );
    spec.push_str(&entry("etc/snmp/snmpd.conf", "0644", conf));
    spec.push_str(&entry("usr/bin/run.sh", "0755", run));
    on_busybox(
        spec,
        &[
            ("manifest.json", r#"{"version": "1.0"}"#),
            ("service.template", service),
            ("config.json.template", config),
        ],
        Config {
            cmd: vec!["/usr/bin/run.sh".into()],
            ..Config::default()
        },
    )
}
