//! The layer composer on any layers: each input is split into up to three
//! tars at `\0LAYER\0`, imported as uncompressed layers and, when they all
//! import, composed and checked out. No panic, and the checkout writes
//! nothing outside its own directory (a sentinel beside it stays).
#![no_main]

use atomic::host::paths::HostPaths;
use atomic::image::import::LayerSpec;
use atomic::image::source::Fetched;
use atomic::image::store::Store;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

const SEP: &[u8] = b"\0LAYER\0";
const MEDIA: &str = "application/vnd.oci.image.layer.v1.tar";

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() < 2 {
        match rest.windows(SEP.len()).position(|w| w == SEP) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = &rest[i + SEP.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

fuzz_target!(|data: &[u8]| {
    let t = tempfile::tempdir().unwrap();
    let sentinel = t.path().join("sentinel");
    std::fs::create_dir(&sentinel).unwrap();
    std::fs::write(sentinel.join("keep"), "keep").unwrap();
    let root = t.path().join("root");
    let paths = HostPaths::new(Some(&root), None, None);
    let store = Store::open_or_create(&paths).unwrap();
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in split(data) {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(layer)));
        let spec = LayerSpec {
            digest: &digest,
            diff_id: &digest,
            media_type: MEDIA,
        };
        if store.import_layer(layer, &spec).is_err() {
            return;
        }
        descriptors
            .push(serde_json::json!({"mediaType": MEDIA, "digest": digest, "size": layer.len()}));
        diff_ids.push(digest);
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .unwrap();
    let manifest_raw = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", hex::encode(Sha256::digest(&config))), "size": config.len()},
        "layers": descriptors,
    }))
    .unwrap();
    let fetched = Fetched {
        name: "localhost/fuzz:1".into(),
        manifest: serde_json::from_slice(&manifest_raw).unwrap(),
        manifest_digest: format!("sha256:{}", hex::encode(Sha256::digest(&manifest_raw))),
        manifest_raw,
        config_raw: config,
        index_digest: None,
    };
    store.write_image(&fetched, "fuzz").unwrap();
    let img = store.image("localhost/fuzz:1").unwrap().unwrap();
    let dest = t.path().join("checkout/rootfs");
    let _ = store.checkout(&img, &dest);
    let entries: Vec<_> = std::fs::read_dir(&sentinel).unwrap().collect();
    assert_eq!(entries.len(), 1, "the checkout wrote beside itself");
    assert_eq!(std::fs::read(sentinel.join("keep")).unwrap(), b"keep");
});
