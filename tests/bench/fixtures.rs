//! The standard test images: a busybox base that really runs, the greeter
//! system container of `contrib/greeter` and its variants, and an image
//! without `/exports`.

use super::image::{Compression, Config, Image, Layer};

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

fn greeter_file(name: &str) -> String {
    std::fs::read_to_string(format!("{GREETER}/{name}"))
        .unwrap_or_else(|e| panic!("{GREETER}/{name}: {e}"))
}

/// `f PATH MODE = TEXT` for a file of contrib/greeter.
fn entry(path: &str, mode: &str, text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\t', "\\t");
    format!("f {path} {mode} = {escaped}\n")
}

fn greeter_layer(manifest: &str, extra: &str) -> Layer {
    greeter_layer_with(
        manifest,
        &greeter_file("exports/config.json.template"),
        extra,
    )
}

fn greeter_layer_with(manifest: &str, config: &str, extra: &str) -> Layer {
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

fn greeter_config(version: &str) -> Config {
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
