//! The original catalog's entries (projectatomic/atomic-system-containers)
//! with their `/exports` files verbatim, each installed with `--root` into
//! a directory: it renders, or it is refused with an error that names the
//! field or variable at fault. The catalog's files are its authors' and are
//! not part of this repository, so the test runs only when given a checkout
//! of it: `ATOMIC_TEST_CATALOG=DIR cargo test --test privileged -- --ignored catalog::`.
//! The catalog's shapes that matter (no `Type=`, `Type=notify`, pre-1.0
//! configs, `renameFiles`, `$ADDTL_MOUNTS`) are covered in CI by the
//! scenario tests of `tests/privileged/lifecycle.rs`, on images written for them.

use crate::bench;

use bench::image::{Compression, Config, Image, Layer};
use bench::{atomic_bin, fixtures, require_root, run};
use std::path::Path;
use std::process::Command;

/// The `/exports` files of one catalog entry, from its directory or its
/// `exports/` subdirectory, as the entry's Dockerfile copies them.
fn exports(entry: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in [
        "manifest.json",
        "service.template",
        "tmpfiles.template",
        "config.json.template",
    ] {
        for dir in [entry.to_path_buf(), entry.join("exports")] {
            if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
                out.push((name.to_string(), text));
                break;
            }
        }
    }
    out
}

fn image_of(files: &[(String, String)]) -> Image {
    let mut spec = String::from("d exports\n");
    for (name, text) in files {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\t', "\\t");
        if escaped.is_empty() {
            spec.push_str(&format!("f exports/{name} 0644\n"));
        } else {
            spec.push_str(&format!("f exports/{name} 0644 = {escaped}\n"));
        }
    }
    Image::new(
        vec![
            fixtures::busybox_layer(Compression::Gzip),
            Layer::parse(&spec, Compression::Gzip),
        ],
        Config {
            cmd: vec!["/bin/sh".into()],
            ..Config::default()
        },
    )
}

#[test]
#[ignore = "needs ATOMIC_TEST_CATALOG=<a checkout of the original catalog>; run with --ignored"]
fn every_catalog_entry_renders_or_is_refused_naming_the_field() {
    require_root();
    let catalog = std::env::var("ATOMIC_TEST_CATALOG")
        .expect("ATOMIC_TEST_CATALOG=<a checkout of the original catalog>: not run without it");
    let mut entries: Vec<_> = std::fs::read_dir(&catalog)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Dockerfile").exists())
        .collect();
    entries.sort();
    let mut rendered = 0;
    for entry in &entries {
        let name = entry.file_name().unwrap().to_str().unwrap().to_string();
        let files = exports(entry);
        if files.is_empty() {
            println!("{name}: no /exports files (an image of images only)");
            continue;
        }
        let images = tempfile::tempdir().unwrap();
        let root = tempfile::Builder::new()
            .prefix("atomic-catalog-")
            .tempdir_in("/var/tmp")
            .unwrap();
        image_of(&files).write_oci(&images.path().join("i"), "1");
        let out = run(Command::new(atomic_bin())
            .arg("--root")
            .arg(root.path())
            .args(["install", "--system", "--system-package=no", "--name"])
            .arg(&name)
            .arg(format!("oci:{}:1", images.path().join("i").display())));
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            let slot = root
                .path()
                .join(format!("var/lib/containers/atomic/{name}.0"));
            let config = std::fs::read_to_string(slot.join("config.json")).unwrap();
            serde_json::from_str::<serde_json::Value>(&config).unwrap();
            assert!(root
                .path()
                .join(format!("etc/systemd/system/{name}.service"))
                .exists());
            let converted: Vec<&str> = err.lines().filter(|l| l.contains("config.json:")).collect();
            println!(
                "{name}: rendered; {}",
                if converted.is_empty() {
                    "config as written".to_string()
                } else {
                    converted.join("; ")
                }
            );
            rendered += 1;
        } else {
            let first = err
                .lines()
                .find(|l| l.starts_with("error:"))
                .unwrap_or(&err);
            assert!(
                first.contains("config.json: ")
                    || first.contains("has no value; set it with --set"),
                "{name}: refused without naming the field or variable at fault:\n{err}"
            );
            println!("{name}: refused: {first}");
        }
    }
    assert!(rendered > 0, "no catalog entry rendered");
}
