//! Image strings as users write them (`busybox`, `docker://q.io/a/b:1`,
//! `http:127.0.0.1:5000/x`, `dockertar:/f.tar`, `oci:/dir:tag`,
//! `oci-archive:/f.tar:tag`, `docker:name:tag`), resolved to a source and a
//! normalised name, with registries.conf for short names and plain-HTTP
//! registries.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// A registry speaking the OCI distribution API.
    Registry {
        reference: RegistryRef,
        insecure: bool,
    },
    /// A `docker save` archive.
    DockerArchive(PathBuf),
    /// An OCI image layout directory, optionally with a tag.
    OciLayout { path: PathBuf, tag: Option<String> },
    /// A tar of an OCI image layout, optionally with a tag.
    OciArchive { path: PathBuf, tag: Option<String> },
    /// A Docker-compatible engine's image.
    DockerEngine(String),
}

/// A fully qualified registry reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRef {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl RegistryRef {
    /// `registry/repository:tag`, `registry/repository@digest`, or both.
    pub fn name(&self) -> String {
        let mut s = format!("{}/{}", self.registry, self.repository);
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

/// The registries.conf settings that matter for pulling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistriesConf {
    pub unqualified_search: Vec<String>,
    pub insecure: Vec<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct ConfFile {
    #[serde(default)]
    unqualified_search_registries: Vec<String>,
    #[serde(default)]
    registry: Vec<ConfRegistry>,
}

#[derive(serde::Deserialize)]
struct ConfRegistry {
    location: Option<String>,
    prefix: Option<String>,
    #[serde(default)]
    insecure: bool,
}

impl RegistriesConf {
    /// Reads `/etc/containers/registries.conf`, or for a user other than
    /// root their own `$XDG_CONFIG_HOME/containers/registries.conf`
    /// (`~/.config/...`) when it exists, as the containers tools do; root's
    /// home is not a place for host policy.
    pub fn load() -> Result<Self> {
        // SAFETY: geteuid cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
        let user = config
            .filter(|_| !root)
            .map(|c| c.join("containers/registries.conf"));
        let path = user
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("/etc/containers/registries.conf"));
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text).with_context(|| format!("reading {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Parses registries.conf (version 2, TOML).
    pub fn parse(text: &str) -> Result<Self> {
        let f: ConfFile = toml::from_str(text)?;
        Ok(RegistriesConf {
            unqualified_search: f.unqualified_search_registries,
            insecure: f
                .registry
                .into_iter()
                .filter(|r| r.insecure)
                .filter_map(|r| r.location.or(r.prefix))
                .collect(),
        })
    }

    fn is_insecure(&self, registry: &str) -> bool {
        self.insecure.iter().any(|r| r == registry)
    }
}

/// Splits `path[:tag]` where the path may not contain `:`.
fn path_and_tag(s: &str) -> (PathBuf, Option<String>) {
    match s.split_once(':') {
        Some((p, t)) if !t.is_empty() => (PathBuf::from(p), Some(t.to_string())),
        _ => (PathBuf::from(s.trim_end_matches(':')), None),
    }
}

/// Parses an image string into its source.
pub fn parse(image: &str, conf: &RegistriesConf) -> Result<ImageSource> {
    if let Some(p) = image.strip_prefix("dockertar:") {
        return Ok(ImageSource::DockerArchive(PathBuf::from(p)));
    }
    if let Some(rest) = image.strip_prefix("oci-archive:") {
        let (path, tag) = path_and_tag(rest);
        return Ok(ImageSource::OciArchive { path, tag });
    }
    if let Some(rest) = image.strip_prefix("oci:") {
        let (path, tag) = path_and_tag(rest);
        return Ok(ImageSource::OciLayout { path, tag });
    }
    if let Some(rest) = image.strip_prefix("docker://") {
        return registry(rest, false, conf);
    }
    if let Some(rest) = image.strip_prefix("docker:") {
        return Ok(ImageSource::DockerEngine(rest.to_string()));
    }
    if let Some(rest) = image.strip_prefix("http:") {
        return registry(rest.trim_start_matches("//"), true, conf);
    }
    registry(image, false, conf)
}

fn registry(s: &str, http: bool, conf: &RegistriesConf) -> Result<ImageSource> {
    let reference = parse_reference(s, conf)?;
    let insecure = http || conf.is_insecure(&reference.registry);
    Ok(ImageSource::Registry {
        reference,
        insecure,
    })
}

/// A path component as the distribution spec has it: lowercase
/// alphanumerics separated by one `.`, one or two `_`, or dashes; so never
/// `.` or `..`, which a URL would resolve to another repository.
fn valid_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let sep = match b[i] {
            b'.' => 1,
            b'_' if b.get(i + 1) == Some(&b'_') => 2,
            b'_' => 1,
            b'-' => b[i..].iter().take_while(|&&x| x == b'-').count(),
            _ => return false,
        };
        i += sep;
        if !b.get(i).copied().is_some_and(alnum) {
            return false;
        }
    }
    true
}

/// A registry host: DNS labels of alphanumerics and inner dashes, or an
/// address, with an optional `:port`; no characters a URL would decode or
/// take apart (`%`, `@`, `?`, `#`).
fn valid_host(h: &str) -> bool {
    let (name, port) = match h.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (h, None),
    };
    let label = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
        && !name.is_empty()
        && name.split('.').all(label)
}

/// Whether the first component of a name is a registry host rather than a
/// namespace (`quay.io`, `127.0.0.1:5000`, `localhost`), as the containers
/// tools decide it.
fn names_registry(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// The reference `name` is when it is fully qualified (its first component
/// a registry host); None for a bare or local name.
pub fn qualified(name: &str) -> Option<RegistryRef> {
    let (first, _) = name.split_once('/')?;
    if !names_registry(first) {
        return None;
    }
    parse_reference(name, &RegistriesConf::default()).ok()
}

/// Parses and normalises a registry reference like the containers tools:
/// `busybox` -> `docker.io/library/busybox:latest`.
pub fn parse_reference(s: &str, conf: &RegistriesConf) -> Result<RegistryRef> {
    if s.is_empty() {
        bail!("empty image name");
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => {
            let hex = d.strip_prefix("sha256:").unwrap_or("");
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("invalid digest {d:?} in image name {s:?}");
            }
            (r, Some(d.to_string()))
        }
        None => (s, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (
            &rest[..last_slash + i],
            Some(rest[last_slash + i + 1..].to_string()),
        ),
        None => (rest, None),
    };
    let (registry, repository) = match path.split_once('/') {
        Some((first, repo)) if names_registry(first) => (first.to_string(), repo.to_string()),
        _ => {
            let registry = conf
                .unqualified_search
                .first()
                .cloned()
                .unwrap_or_else(|| "docker.io".to_string());
            (registry, path.to_string())
        }
    };
    let repository = if registry == "docker.io" && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    if !valid_host(&registry) {
        bail!("invalid registry {registry:?} in image name {s:?}");
    }
    if !repository.split('/').all(valid_component) {
        bail!("invalid repository name {repository:?} in image name {s:?}");
    }
    if let Some(t) = &tag {
        if t.is_empty()
            || t.len() > 128
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            bail!("invalid tag {t:?} in image name {s:?}");
        }
    }
    let tag = if tag.is_none() && digest.is_none() {
        Some("latest".to_string())
    } else {
        tag
    };
    Ok(RegistryRef {
        registry,
        repository,
        tag,
        digest,
    })
}

/// The name a local source's image is known by when its metadata names no
/// registry reference: the file name, with the tag when there is one.
pub fn local_name(path: &Path, tag: Option<&str>) -> String {
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".tar").to_string())
        .unwrap_or_else(|| "image".to_string());
    match tag {
        Some(t) => format!("{stem}:{t}"),
        None => stem,
    }
}

/// The name an image from a local source (an OCI layout or archive, a
/// `docker save` archive) is stored under: in `localhost/`, a namespace of
/// its own, as podman keeps local images, so that no registry reference
/// ever finds it (`busybox:latest` is docker.io's busybox, never a local
/// one). A registry host the source's own tag names is dropped, and so is
/// docker.io's `library/`: `quay.io/team/x:1` is `localhost/team/x:1`.
pub fn local(name: &str) -> String {
    if name.starts_with("localhost/") {
        return name.to_string();
    }
    let rest = match name.split_once('/') {
        Some((first, rest)) if names_registry(first) => rest,
        _ => name,
    };
    let rest = rest.strip_prefix("library/").unwrap_or(rest);
    format!("localhost/{rest}")
}

/// The names a user's image string may be stored under: its normalised
/// registry reference (a local image is found by its `localhost/` name,
/// or by its source's string, see `lookup::find`); a string that is no
/// reference, as itself.
pub fn candidates(image: &str, conf: &RegistriesConf) -> Vec<String> {
    let bare = image
        .strip_prefix("docker://")
        .or_else(|| image.strip_prefix("http:"))
        .map(|s| s.trim_start_matches("//"))
        .unwrap_or(image);
    match parse_reference(bare, conf) {
        Ok(r) => vec![r.name()],
        Err(_) => vec![image.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> String {
        parse_reference(s, &RegistriesConf::default())
            .unwrap()
            .name()
    }

    #[test]
    fn short_names_normalise_like_the_containers_tools() {
        assert_eq!(name("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            name("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(name("fedora/etcd:3"), "docker.io/fedora/etcd:3");
        assert_eq!(name("quay.io/a/b"), "quay.io/a/b:latest");
        assert_eq!(name("localhost/x:1"), "localhost/x:1");
        assert_eq!(
            name("127.0.0.1:5000/greeter:1.0"),
            "127.0.0.1:5000/greeter:1.0"
        );
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(name(&format!("q.io/x@{d}")), format!("q.io/x@{d}"));
    }

    #[test]
    fn search_registries_and_insecure_come_from_registries_conf() {
        let conf = RegistriesConf::parse(
            r#"unqualified-search-registries = ["registry.example:5000", "docker.io"]
[[registry]]
location = "registry.example:5000"
insecure = true
"#,
        )
        .unwrap();
        let ImageSource::Registry {
            reference,
            insecure,
        } = parse("greeter:1", &conf).unwrap()
        else {
            panic!()
        };
        assert_eq!(reference.name(), "registry.example:5000/greeter:1");
        assert!(insecure);
        let ImageSource::Registry { insecure, .. } = parse("quay.io/x", &conf).unwrap() else {
            panic!()
        };
        assert!(!insecure);
    }

    #[test]
    fn transports() {
        let c = RegistriesConf::default();
        assert_eq!(
            parse("dockertar:/tmp/x.tar", &c).unwrap(),
            ImageSource::DockerArchive("/tmp/x.tar".into())
        );
        assert_eq!(
            parse("oci:/srv/layout:1.0", &c).unwrap(),
            ImageSource::OciLayout {
                path: "/srv/layout".into(),
                tag: Some("1.0".into())
            }
        );
        assert_eq!(
            parse("oci-archive:/srv/l.tar", &c).unwrap(),
            ImageSource::OciArchive {
                path: "/srv/l.tar".into(),
                tag: None
            }
        );
        assert_eq!(
            parse("docker:busybox:latest", &c).unwrap(),
            ImageSource::DockerEngine("busybox:latest".into())
        );
        let ImageSource::Registry {
            reference,
            insecure,
        } = parse("http:127.0.0.1:5000/g:1", &c).unwrap()
        else {
            panic!()
        };
        assert!(insecure);
        assert_eq!(reference.name(), "127.0.0.1:5000/g:1");
        let ImageSource::Registry { insecure, .. } =
            parse("docker://127.0.0.1:5000/g:1", &c).unwrap()
        else {
            panic!()
        };
        assert!(!insecure);
    }

    #[test]
    fn bad_names_are_refused_with_the_part_at_fault() {
        let c = RegistriesConf::default();
        let err = |s| parse_reference(s, &c).unwrap_err().to_string();
        assert!(err("Busybox").contains("invalid repository name \"library/Busybox\""));
        assert!(err("busybox:").contains("invalid tag \"\""));
        assert!(err("busybox@sha256:12").contains("invalid digest"));
        assert!(err("").contains("empty image name"));
        for dots in [
            "r.example.com/team/../prod/app:1",
            "r.example.com/./app",
            "r.example.com/a..b",
        ] {
            assert!(err(dots).contains("invalid repository name"), "{dots}");
        }
        for host in [
            "r.ex%61mple.com/app",
            "r.exa?mple.com/app",
            "r.example.com:/app",
            "-r.example.com/app",
        ] {
            assert!(err(host).contains("invalid registry"), "{host}");
        }
        for ok in [
            "r.example.com:5000/a__b/c-d.e:1",
            "localhost/x",
            "127.0.0.1:5000/team/g",
        ] {
            parse_reference(ok, &c).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn local_commands_accept_the_pull_strings() {
        let c = RegistriesConf::default();
        assert_eq!(
            candidates("http:127.0.0.1:5000/g:1", &c),
            ["127.0.0.1:5000/g:1"]
        );
        assert_eq!(
            candidates("busybox", &c),
            ["docker.io/library/busybox:latest"]
        );
        assert_eq!(
            candidates("localhost/busybox:1", &c),
            ["localhost/busybox:1"]
        );
    }

    #[test]
    fn local_images_live_in_localhost_which_no_registry_name_reaches() {
        assert_eq!(local("busybox:latest"), "localhost/busybox:latest");
        assert_eq!(local("docker.io/library/busybox:1"), "localhost/busybox:1");
        assert_eq!(local("quay.io/team/x:1"), "localhost/team/x:1");
        assert_eq!(local("localhost/x:1"), "localhost/x:1");
        let c = RegistriesConf::default();
        for short in ["busybox", "busybox:latest", "docker.io/busybox"] {
            assert!(!candidates(short, &c).contains(&local("busybox:latest")));
        }
    }
}
