//! Test images: builds OCI image layouts and `docker save` archives from a
//! small text description of each layer. For tests only (the library's
//! own, and the integration tests' through the `internal-testing-api`
//! feature); it panics on what a test would not survive anyway.
//!
//! One entry a line, fields separated by spaces:
//! ```text
//! d PATH [MODE] [UID:GID]            directory
//! f PATH [MODE] [UID:GID] [= TEXT]   regular file; TEXT takes \n, \t, \\ escapes
//! x PATH HOSTFILE [MODE]             regular file with a host file's content
//! l PATH TARGET                      symlink
//! h PATH TARGET                      hard link to TARGET, earlier in the layer
//! w PATH                             whiteout: hides PATH of lower layers
//! o DIR                              opaque directory: hides DIR's lower content
//! c PATH                             character device (1:3), for hostile layers
//! ```
//! Paths are written into the tar as given, so a hostile layer can say `../x`.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// One layer: its uncompressed tar and how it is shipped.
#[derive(Debug, Clone)]
pub struct Layer {
    pub tar: Vec<u8>,
    pub compression: Compression,
}

impl Layer {
    /// A layer from the text description (see the module doc).
    pub fn parse(spec: &str, compression: Compression) -> Layer {
        let mut b = tar::Builder::new(Vec::new());
        for line in spec
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            append_entry(&mut b, line);
        }
        Layer {
            tar: b.into_inner().expect("tar"),
            compression,
        }
    }

    /// A layer from a raw tar, for malformed or hostile input.
    pub fn raw(tar: Vec<u8>, compression: Compression) -> Layer {
        Layer { tar, compression }
    }

    /// The blob as shipped.
    pub fn blob(&self) -> Vec<u8> {
        compress(&self.tar, self.compression)
    }
}

fn compress(data: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(data, 1).unwrap(),
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

fn header(kind: tar::EntryType, mode: u32, owner: (u64, u64), size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(owner.0);
    h.set_gid(owner.1);
    h.set_mtime(1_700_000_000);
    h.set_size(size);
    h
}

/// Writes `name` into the header without the tar crate's path checks, so
/// hostile names (`../x`, `/abs`) survive; long names get a GNU long-name entry.
fn append_named(b: &mut tar::Builder<Vec<u8>>, mut h: tar::Header, name: &str, data: &[u8]) {
    if name.len() > 99 {
        let mut long = header(
            tar::EntryType::GNULongName,
            0o644,
            (0, 0),
            name.len() as u64 + 1,
        );
        long.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
        long.set_cksum();
        let mut data = name.as_bytes().to_vec();
        data.push(0);
        b.append(&long, &data[..]).unwrap();
    }
    let bytes = name.as_bytes();
    let field = &mut h.as_old_mut().name;
    field.fill(0);
    let n = bytes.len().min(99);
    field[..n].copy_from_slice(&bytes[..n]);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn set_link(h: &mut tar::Header, target: &str) {
    let field = &mut h.as_old_mut().linkname;
    field.fill(0);
    field[..target.len()].copy_from_slice(target.as_bytes());
}

fn parse_mode_owner(fields: &[&str], default_mode: u32) -> (u32, (u64, u64)) {
    let mut mode = default_mode;
    let mut owner = (0, 0);
    for f in fields {
        if let Some((u, g)) = f.split_once(':') {
            owner = (u.parse().unwrap(), g.parse().unwrap());
        } else {
            mode = u32::from_str_radix(f, 8).unwrap_or_else(|_| panic!("bad mode {f}"));
        }
    }
    (mode, owner)
}

fn append_entry(b: &mut tar::Builder<Vec<u8>>, line: &str) {
    let (head, text) = match line.split_once(" = ") {
        Some((h, t)) => (h, Some(unescape(t))),
        None => (line, None),
    };
    let fields: Vec<&str> = head.split_whitespace().collect();
    let (kind, path, rest) = (fields[0], fields[1], &fields[2..]);
    use tar::EntryType as E;
    match kind {
        "d" => {
            let (mode, owner) = parse_mode_owner(rest, 0o755);
            let name = format!("{}/", path.trim_end_matches('/'));
            append_named(b, header(E::Directory, mode, owner, 0), &name, &[]);
        }
        "f" => {
            let (mode, owner) = parse_mode_owner(rest, 0o644);
            let data = text.unwrap_or_default().into_bytes();
            append_named(
                b,
                header(E::Regular, mode, owner, data.len() as u64),
                path,
                &data,
            );
        }
        "x" => {
            let data = std::fs::read(rest[0]).unwrap_or_else(|e| panic!("{}: {e}", rest[0]));
            let (mode, owner) = parse_mode_owner(&rest[1..], 0o755);
            append_named(
                b,
                header(E::Regular, mode, owner, data.len() as u64),
                path,
                &data,
            );
        }
        "l" | "h" => {
            let kind = if kind == "l" { E::Symlink } else { E::Link };
            let mut h = header(kind, 0o777, (0, 0), 0);
            set_link(&mut h, rest[0]);
            append_named(b, h, path, &[]);
        }
        "w" | "o" => {
            let p = Path::new(path);
            let leaf = if kind == "w" {
                format!(".wh.{}", p.file_name().unwrap().to_str().unwrap())
            } else {
                ".wh..wh..opq".to_string()
            };
            let parent = if kind == "w" { p.parent().unwrap() } else { p };
            let name = parent.join(leaf);
            append_named(
                b,
                header(E::Regular, 0o644, (0, 0), 0),
                name.to_str().unwrap(),
                &[],
            );
        }
        "c" => {
            let mut h = header(E::Char, 0o666, (0, 0), 0);
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
            append_named(b, h, path, &[]);
        }
        other => panic!("unknown entry kind {other:?} in {line:?}"),
    }
}

/// The image config fields a test cares about.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub labels: Vec<(String, String)>,
    /// Docker's `Healthcheck`, as `docker build` records `HEALTHCHECK`.
    pub healthcheck: Option<Value>,
}

/// An image: its layers (bottom first) and config.
#[derive(Debug, Clone)]
pub struct Image {
    pub layers: Vec<Layer>,
    pub config: Config,
}

/// Digests of a written image, for assertions.
#[derive(Debug, Clone)]
pub struct Written {
    pub manifest_digest: String,
    /// sha256 hex of the config blob: the image id.
    pub image_id: String,
    /// Digests of the layer blobs as shipped.
    pub layer_digests: Vec<String>,
    /// Digests of the uncompressed layer tars.
    pub diff_ids: Vec<String>,
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl Image {
    pub fn new(layers: Vec<Layer>, config: Config) -> Image {
        Image { layers, config }
    }

    fn config_json(&self) -> Vec<u8> {
        let c = &self.config;
        let diff_ids: Vec<String> = self
            .layers
            .iter()
            .map(|l| format!("sha256:{}", sha256_hex(&l.tar)))
            .collect();
        let labels: serde_json::Map<String, Value> = c
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let mut config = json!({ "Env": c.env, "Labels": labels });
        if !c.entrypoint.is_empty() {
            config["Entrypoint"] = json!(c.entrypoint);
        }
        if !c.cmd.is_empty() {
            config["Cmd"] = json!(c.cmd);
        }
        if let Some(w) = &c.working_dir {
            config["WorkingDir"] = json!(w);
        }
        if let Some(u) = &c.user {
            config["User"] = json!(u);
        }
        if let Some(h) = &c.healthcheck {
            config["Healthcheck"] = h.clone();
        }
        serde_json::to_vec(&json!({
            "created": "2026-01-01T00:00:00Z",
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "history": self.layers.iter().map(|_| json!({"created_by": "atomic test bench"})).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    /// Writes an OCI image layout at `dir` (added to, when it already holds
    /// images) with the image tagged `tag`.
    pub fn write_oci(&self, dir: &Path, tag: &str) -> Written {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let put = |data: &[u8]| {
            let d = sha256_hex(data);
            std::fs::write(blobs.join(&d), data).unwrap();
            d
        };
        let config = self.config_json();
        let image_id = put(&config);
        let mut layer_digests = Vec::new();
        let mut descs = Vec::new();
        for l in &self.layers {
            let blob = l.blob();
            let d = put(&blob);
            descs.push(json!({"mediaType": l.compression.media_type(), "digest": format!("sha256:{d}"), "size": blob.len()}));
            layer_digests.push(d);
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{image_id}"), "size": config.len()},
            "layers": descs,
        }))
        .unwrap();
        let manifest_digest = put(&manifest);
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let index_path = dir.join("index.json");
        let mut index: Value = std::fs::read(&index_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| json!({"schemaVersion": 2, "manifests": []}));
        let manifests = index["manifests"].as_array_mut().unwrap();
        manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != tag);
        manifests.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
        std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
        Written {
            manifest_digest,
            image_id,
            layer_digests,
            diff_ids: self.layers.iter().map(|l| sha256_hex(&l.tar)).collect(),
        }
    }

    /// Writes a `docker save` archive at `path` naming the image `repo_tag`
    /// (layers stored uncompressed, as docker writes them).
    pub fn write_docker_archive(&self, path: &Path, repo_tag: &str) -> Written {
        let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = header(tar::EntryType::Regular, 0o644, (0, 0), data.len() as u64);
            h.set_path(name).unwrap();
            h.set_cksum();
            b.append(&h, data).unwrap();
        };
        let config = self.config_json();
        let image_id = sha256_hex(&config);
        add(&format!("{image_id}.json"), &config);
        let mut layer_names = Vec::new();
        for l in &self.layers {
            let d = sha256_hex(&l.tar);
            let name = format!("{d}/layer.tar");
            add(&name, &l.tar);
            layer_names.push(name);
        }
        let manifest = json!([{ "Config": format!("{image_id}.json"), "RepoTags": [repo_tag], "Layers": layer_names }]);
        add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
        b.finish().unwrap();
        let diff_ids: Vec<String> = self.layers.iter().map(|l| sha256_hex(&l.tar)).collect();
        Written {
            manifest_digest: String::new(),
            image_id,
            layer_digests: diff_ids.clone(),
            diff_ids,
        }
    }
}

/// `security.capability` for CAP_NET_RAW (13), permitted and effective:
/// `vfs_cap_data` revision 2, little-endian.
pub const NET_RAW_CAPABILITY: &[u8] = &[
    0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// A tar with `usr/bin/ping` carrying `cap` as its `security.capability`
/// in a PAX header, as image builders write file capabilities.
pub fn tar_with_capability(cap: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for dir in ["usr/", "usr/bin/"] {
        let mut h = tar::Header::new_ustar();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Directory);
        h.set_path(dir).unwrap();
        h.set_mode(0o755);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }
    let key = b"SCHILY.xattr.security.capability";
    let body_len = key.len() + cap.len() + 3; // " " "=" "\n"
    let mut len = body_len + 1;
    while len != body_len + len.to_string().len() {
        len = body_len + len.to_string().len();
    }
    let mut record = format!("{len} ").into_bytes();
    record.extend_from_slice(key);
    record.push(b'=');
    record.extend_from_slice(cap);
    record.push(b'\n');
    let mut h = tar::Header::new_ustar();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("PaxHeaders/ping").unwrap();
    h.set_size(record.len() as u64);
    h.set_cksum();
    b.append(&h, &record[..]).unwrap();
    let data = b"#!/bin/sh\necho pong\n";
    let mut h = tar::Header::new_ustar();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_path("usr/bin/ping").unwrap();
    h.set_mode(0o755);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, &data[..]).unwrap();
    b.into_inner().unwrap()
}

/// Turns the tags of `layout` (architecture names) into one image index
/// tagged `multi`, as multi-arch images are published.
pub fn make_index(layout: &Path) {
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifests: Vec<serde_json::Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let arch = m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap();
            let mut m = m.clone();
            m["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
            m.as_object_mut().unwrap().remove("annotations");
            m
        })
        .collect();
    let nested = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))
    .unwrap();
    let d = sha256_hex(&nested);
    std::fs::write(layout.join("blobs/sha256").join(&d), &nested).unwrap();
    index["manifests"] = serde_json::json!([{
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": format!("sha256:{d}"),
        "size": nested.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"},
    }]);
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}
