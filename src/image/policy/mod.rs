//! Which images to trust, as `containers-policy.json(5)` says it: the
//! requirements of the most specific scope of the image's transport (a
//! registry reference, its repository, its namespaces, its host, a
//! `*.domain` wildcard; a local transport's path and its parents), else the
//! transport's `""` entry, else `default`. Every requirement of the scope
//! must hold: `insecureAcceptAnything`, `reject`, `signedBy` (simple signing
//! with GPG keys) and `sigstoreSigned` (a public key), each signature's
//! claimed identity matched by `signedIdentity`. The cryptography is in
//! [`super::signature`]; this is the policy logic.

mod identity;

pub use identity::SignedIdentity;

use super::name::{ImageSource, RegistryRef};
use super::signature::{self, Payload, SigstoreSig};
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The system's policy file.
pub const SYSTEM_POLICY: &str = "/etc/containers/policy.json";

/// The largest policy file or key read.
const FILE_LIMIT: u64 = 4 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    default: Vec<Requirement>,
    #[serde(default)]
    transports: BTreeMap<String, BTreeMap<String, Vec<Requirement>>>,
}

/// One requirement of a scope.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Requirement {
    InsecureAcceptAnything,
    Reject,
    #[serde(rename_all = "camelCase")]
    SignedBy {
        key_type: String,
        key_path: Option<PathBuf>,
        key_paths: Option<Vec<PathBuf>>,
        key_data: Option<String>,
        signed_identity: Option<SignedIdentity>,
    },
    #[serde(rename_all = "camelCase")]
    SigstoreSigned {
        key_path: Option<PathBuf>,
        key_data: Option<String>,
        signed_identity: Option<SignedIdentity>,
    },
}

impl Requirement {
    fn name(&self) -> &'static str {
        match self {
            Requirement::InsecureAcceptAnything => "insecureAcceptAnything",
            Requirement::Reject => "reject",
            Requirement::SignedBy { .. } => "signedBy",
            Requirement::SigstoreSigned { .. } => "sigstoreSigned",
        }
    }
}

/// A loaded policy and where it came from.
#[derive(Debug)]
pub struct Policy {
    file: PolicyFile,
    path: PathBuf,
}

/// The policy scopes an image falls under, most specific first, and its
/// reference for identity checks (registry images only).
#[derive(Debug, Clone)]
pub struct Subject {
    /// The transport's name in policy.json (`docker`, `oci`, ...).
    pub transport: &'static str,
    pub scopes: Vec<String>,
    pub reference: Option<RegistryRef>,
}

impl Subject {
    /// The transport and scopes of `source`; a local source's scopes come
    /// from `pinned`, the path its file or directory resolved to when it
    /// was opened for reading (see `source::Fetched::local_path`), never
    /// from resolving its path again.
    pub fn of(source: &ImageSource, pinned: Option<&Path>) -> Subject {
        let local = |transport, path: &Path, tag: Option<&str>| Subject {
            transport,
            scopes: match pinned {
                Some(real) => resolved_scopes(real, tag),
                None => path_scopes(path, tag),
            },
            reference: None,
        };
        match source {
            ImageSource::Registry { reference, .. } => Subject {
                transport: "docker",
                scopes: docker_scopes(reference),
                reference: Some(reference.clone()),
            },
            ImageSource::OciLayout { path, tag } => local("oci", path, tag.as_deref()),
            ImageSource::OciArchive { path, tag } => local("oci-archive", path, tag.as_deref()),
            ImageSource::DockerArchive(path) => local("docker-archive", path, None),
            // The engine's names normalise as docker.io's do, with no search list.
            ImageSource::DockerEngine(name) => Subject {
                transport: "docker-daemon",
                scopes: super::name::parse_reference(name, &Default::default())
                    .map(|r| docker_scopes(&r))
                    .unwrap_or_else(|_| vec![name.clone()]),
                reference: None,
            },
        }
    }
}

/// Where to find the signatures of an image, asked for only when a
/// requirement needs them.
pub trait Signatures {
    /// Simple-signing signatures (the lookaside store's `signature-N`).
    fn simple(&mut self) -> Result<Vec<Vec<u8>>>;
    /// Sigstore signatures (the registry's `sha256-<digest>.sig` attachments).
    fn sigstore(&mut self) -> Result<Vec<SigstoreSig>>;
}

/// The signatures of a source that has none (a local image).
#[cfg(test)]
pub struct Unsigned;

#[cfg(test)]
impl Signatures for Unsigned {
    fn simple(&mut self) -> Result<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }
    fn sigstore(&mut self) -> Result<Vec<SigstoreSig>> {
        Ok(Vec::new())
    }
}

/// What an accepted image was accepted by, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `transports.docker["127.0.0.1:5000/team"]`, or `default`.
    pub scope: String,
    /// What held: `signedBy (key 3AA5C34371567BD2)`, ...
    pub requirements: Vec<String>,
}

impl Verdict {
    /// One line: `signedBy (key …) under transports.docker["…"] of FILE`.
    pub fn describe(&self) -> String {
        format!("{} under {}", self.requirements.join(", "), self.scope)
    }
}

impl Policy {
    /// Loads `explicit` (`--signature-policy`), else the user's own
    /// `~/.config/containers/policy.json` for a user other than root when
    /// it exists, else `/etc/containers/policy.json`. No policy at all is
    /// an error, as for podman: the containers tools ship one.
    pub fn load(explicit: Option<&Path>) -> Result<Policy> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => default_path(),
        };
        let text = read_limited(&path).map_err(|e| match e.downcast_ref::<std::io::Error>() {
            Some(io) if io.kind() == std::io::ErrorKind::NotFound => anyhow!(
                "no signature policy: {} does not exist (the containers tools install one; \
                 {{\"default\": [{{\"type\": \"insecureAcceptAnything\"}}]}} accepts any image, \
                 as they do by default)",
                path.display()
            ),
            _ => e,
        })?;
        Self::parse(&text, &path)
    }

    /// Parses policy.json text read from `path`.
    pub fn parse(text: &[u8], path: &Path) -> Result<Policy> {
        let de = &mut serde_json::Deserializer::from_slice(text);
        let file: PolicyFile = serde_path_to_error::deserialize(de).map_err(|e| {
            anyhow!(
                "signature policy {}: {}: {}",
                path.display(),
                e.path(),
                e.inner()
            )
        })?;
        let policy = Policy {
            file,
            path: path.to_path_buf(),
        };
        policy.check()?;
        Ok(policy)
    }

    /// Refuses what containers/image refuses: an empty requirement list, a
    /// signedBy without keys or with another key type, a key given twice.
    fn check(&self) -> Result<()> {
        let mut all = vec![("default".to_string(), &self.file.default)];
        for (t, scopes) in &self.file.transports {
            for (s, reqs) in scopes {
                all.push((scope_label(t, s), reqs));
            }
        }
        for (label, reqs) in all {
            let at = || format!("signature policy {}: {label}", self.path.display());
            if reqs.is_empty() {
                bail!(
                    "{}: no requirements (use insecureAcceptAnything or reject)",
                    at()
                );
            }
            for r in reqs {
                if let Requirement::SignedBy {
                    signed_identity: Some(i),
                    ..
                }
                | Requirement::SigstoreSigned {
                    signed_identity: Some(i),
                    ..
                } = r
                {
                    i.check().with_context(at)?;
                }
                match r {
                    Requirement::SignedBy {
                        key_type,
                        key_path,
                        key_paths,
                        key_data,
                        ..
                    } => {
                        if key_type != "GPGKeys" {
                            bail!(
                                "{}: signedBy keyType {key_type:?} is not supported (only GPGKeys)",
                                at()
                            );
                        }
                        let given = [key_path.is_some(), key_paths.is_some(), key_data.is_some()];
                        if given.iter().filter(|g| **g).count() != 1 {
                            bail!(
                                "{}: signedBy needs exactly one of keyPath, keyPaths and keyData",
                                at()
                            );
                        }
                    }
                    Requirement::SigstoreSigned {
                        key_path, key_data, ..
                    } if key_path.is_some() == key_data.is_some() => {
                        bail!(
                            "{}: sigstoreSigned needs exactly one of keyPath and keyData",
                            at()
                        );
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The requirements for `subject` and the scope they come from.
    fn requirements(&self, subject: &Subject) -> (String, &[Requirement]) {
        if let Some(scopes) = self.file.transports.get(subject.transport) {
            for s in subject.scopes.iter().map(String::as_str).chain([""]) {
                if let Some(reqs) = scopes.get(s) {
                    return (scope_label(subject.transport, s), reqs);
                }
            }
        }
        ("default".to_string(), &self.file.default)
    }

    /// Checks `subject`, whose manifest is `manifest_digest`, against the
    /// policy; every requirement of its scope must hold. The error names
    /// the scope and the requirement that failed.
    pub fn evaluate(
        &self,
        subject: &Subject,
        manifest_digest: &str,
        sigs: &mut dyn Signatures,
    ) -> Result<Verdict> {
        let (scope, reqs) = self.requirements(subject);
        let scope = format!("{scope} of {}", self.path.display());
        let mut held = Vec::new();
        for r in reqs {
            let ok = match r {
                Requirement::InsecureAcceptAnything => Ok("insecureAcceptAnything".to_string()),
                Requirement::Reject => Err(anyhow!("the policy rejects every image here")),
                Requirement::SignedBy {
                    key_path,
                    key_paths,
                    key_data,
                    signed_identity,
                    ..
                } => signed_by(
                    key_path,
                    key_paths,
                    key_data,
                    signed_identity.clone().unwrap_or_default(),
                    subject,
                    manifest_digest,
                    sigs,
                ),
                Requirement::SigstoreSigned {
                    key_path,
                    key_data,
                    signed_identity,
                } => sigstore_signed(
                    key_path,
                    key_data,
                    signed_identity.clone().unwrap_or_default(),
                    subject,
                    manifest_digest,
                    sigs,
                ),
            };
            match ok {
                Ok(what) => held.push(what),
                Err(e) => {
                    return Err(e.context(format!(
                        "image refused by the signature policy: requirement {} of {scope}",
                        r.name()
                    )))
                }
            }
        }
        Ok(Verdict {
            scope,
            requirements: held,
        })
    }
}

/// `$HOME/.config/containers/policy.json` for a user other than root when
/// it exists (the containers tools take it from the home, not from
/// `XDG_CONFIG_HOME`), else the system's.
fn default_path() -> PathBuf {
    crate::host::user::own_config("containers/policy.json")
        .unwrap_or_else(|| PathBuf::from(SYSTEM_POLICY))
}

fn scope_label(transport: &str, scope: &str) -> String {
    format!("transports.{transport}[{scope:?}]")
}

fn read_limited(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(anyhow::Error::new)?;
    let mut data = Vec::new();
    f.take(FILE_LIMIT + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("reading {}", path.display()))?;
    if data.len() as u64 > FILE_LIMIT {
        bail!("{} is larger than {FILE_LIMIT} bytes", path.display());
    }
    Ok(data)
}

/// Key material from a path, or `keyData` (base64).
fn key_bytes(path: Option<&Path>, data: Option<&str>) -> Result<Vec<u8>> {
    use base64::Engine;
    match (path, data) {
        (Some(p), _) => read_limited(p).with_context(|| format!("reading key {}", p.display())),
        (None, Some(d)) => base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .context("keyData is not base64"),
        (None, None) => bail!("no key given"),
    }
}

#[allow(clippy::too_many_arguments)]
fn signed_by(
    key_path: &Option<PathBuf>,
    key_paths: &Option<Vec<PathBuf>>,
    key_data: &Option<String>,
    identity: SignedIdentity,
    subject: &Subject,
    manifest_digest: &str,
    sigs: &mut dyn Signatures,
) -> Result<String> {
    let mut keys = Vec::new();
    match (key_path, key_paths) {
        (Some(p), _) => keys.extend(signature::gpg_keys(&key_bytes(Some(p), None)?)?),
        (None, Some(ps)) => {
            for p in ps {
                keys.extend(signature::gpg_keys(&key_bytes(Some(p), None)?)?);
            }
        }
        (None, None) => keys.extend(signature::gpg_keys(&key_bytes(None, key_data.as_deref())?)?),
    }
    let reference = signed_reference(subject)?;
    let found = sigs.simple()?;
    if found.is_empty() {
        bail!("the image has no simple-signing signatures (registries.d names no lookaside for it, or it has none there)");
    }
    first_acceptable(&found, |sig| {
        let (payload, key) = signature::verify_simple(sig, &keys)?;
        accept(&payload, &identity, reference, manifest_digest)?;
        Ok(format!("signedBy (key {key})"))
    })
}

/// The registry reference signatures name; local images carry none.
fn signed_reference(subject: &Subject) -> Result<&RegistryRef> {
    subject
        .reference
        .as_ref()
        .ok_or_else(|| anyhow!("{} images carry no signatures", subject.transport))
}

/// What the first signature `check` accepts says; else why each failed.
fn first_acceptable<T>(found: &[T], check: impl Fn(&T) -> Result<String>) -> Result<String> {
    let mut why = Vec::new();
    for (i, sig) in found.iter().enumerate() {
        match check(sig) {
            Ok(what) => return Ok(what),
            Err(e) => why.push(format!("signature {}: {e:#}", i + 1)),
        }
    }
    bail!("no signature is acceptable: {}", why.join("; "))
}

fn sigstore_signed(
    key_path: &Option<PathBuf>,
    key_data: &Option<String>,
    identity: SignedIdentity,
    subject: &Subject,
    manifest_digest: &str,
    sigs: &mut dyn Signatures,
) -> Result<String> {
    let key = signature::sigstore_key(&key_bytes(key_path.as_deref(), key_data.as_deref())?)?;
    let reference = signed_reference(subject)?;
    let found = sigs.sigstore()?;
    if found.is_empty() {
        bail!("the image has no sigstore signatures (registries.d does not enable use-sigstore-attachments for it, or it has none)");
    }
    first_acceptable(&found, |sig| {
        let payload = signature::verify_sigstore(sig, &key)?;
        accept(&payload, &identity, reference, manifest_digest)?;
        Ok("sigstoreSigned (public key)".to_string())
    })
}

/// A verified payload is for this manifest and names an identity the
/// policy accepts for `reference`.
fn accept(
    payload: &Payload,
    identity: &SignedIdentity,
    reference: &RegistryRef,
    manifest_digest: &str,
) -> Result<()> {
    if payload.manifest_digest != manifest_digest {
        bail!(
            "it signs manifest {}, not this image's {manifest_digest}",
            payload.manifest_digest
        );
    }
    let claimed = &payload.docker_reference;
    if identity.matches(reference, claimed) {
        Ok(())
    } else {
        bail!(
            "it is for {claimed}, which signedIdentity {} does not accept for {}",
            identity.name(),
            reference.name()
        )
    }
}

/// The `docker` transport's scopes of `r`, most specific first: the
/// reference, the repository, each namespace, the host, then `*.domain`
/// wildcards of the host (not for an address or a host with a port).
pub fn docker_scopes(r: &RegistryRef) -> Vec<String> {
    let name = format!("{}/{}", r.registry, r.repository);
    let mut out = Vec::new();
    if let Some(d) = &r.digest {
        out.push(format!("{name}@{d}"));
    }
    if let Some(t) = &r.tag {
        out.push(format!("{name}:{t}"));
    }
    let mut at = name.as_str();
    loop {
        out.push(at.to_string());
        match at.rfind('/') {
            Some(i) => at = &at[..i],
            None => break,
        }
    }
    let host = r.registry.split(':').next().unwrap_or(&r.registry);
    if host.parse::<std::net::IpAddr>().is_err() {
        let labels: Vec<&str> = host.split('.').collect();
        for i in 1..labels.len() {
            out.push(format!("*.{}", labels[i..].join(".")));
        }
    }
    out
}

/// A local transport's scopes of `path`, resolved (`..` and symlinks, as
/// the containers tools resolve them): the path (with `:tag` first when
/// there is one), then each parent directory.
pub fn path_scopes(path: &Path, tag: Option<&str>) -> Vec<String> {
    let abs = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    resolved_scopes(&abs, tag)
}

/// The scopes of `abs`, an absolute path resolved already.
fn resolved_scopes(abs: &Path, tag: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = tag {
        out.push(format!("{}:{t}", abs.display()));
    }
    for p in abs.ancestors() {
        out.push(p.display().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::identity::reg;
    use super::*;

    fn policy(text: &str) -> Policy {
        Policy::parse(text.as_bytes(), Path::new("/p.json")).unwrap()
    }

    fn subject(r: &str) -> Subject {
        let r = reg(r);
        Subject {
            transport: "docker",
            scopes: docker_scopes(&r),
            reference: Some(r),
        }
    }

    #[test]
    fn scopes_from_most_specific() {
        assert_eq!(
            docker_scopes(&reg("quay.example.com/ns/sub/app:1")),
            [
                "quay.example.com/ns/sub/app:1",
                "quay.example.com/ns/sub/app",
                "quay.example.com/ns/sub",
                "quay.example.com/ns",
                "quay.example.com",
                "*.example.com",
                "*.com"
            ]
        );
        assert_eq!(
            docker_scopes(&reg("127.0.0.1:5000/team/g@sha256:ab")),
            [
                "127.0.0.1:5000/team/g@sha256:ab",
                "127.0.0.1:5000/team/g",
                "127.0.0.1:5000/team",
                "127.0.0.1:5000"
            ]
        );
        assert!(
            docker_scopes(&reg("r.example.com:5000/x:1")).contains(&"*.example.com".to_string()),
            "a port does not hide the host's wildcards"
        );
        let t = tempfile::tempdir().unwrap();
        let trusted = t.path().join("trusted");
        std::fs::create_dir_all(t.path().join("incoming/x")).unwrap();
        std::fs::create_dir_all(&trusted).unwrap();
        std::os::unix::fs::symlink(t.path().join("incoming/x"), trusted.join("link")).unwrap();
        for sneaky in [trusted.join("../incoming/x"), trusted.join("link")] {
            let scopes = path_scopes(&sneaky, None);
            assert!(
                !scopes.iter().any(|s| Path::new(s).starts_with(&trusted)),
                "{} resolves out of {}: {scopes:?}",
                sneaky.display(),
                trusted.display()
            );
        }
        let daemon = Subject::of(&ImageSource::DockerEngine("busybox:latest".into()), None);
        assert_eq!(daemon.scopes[0], "docker.io/library/busybox:latest");
        assert!(daemon.scopes.contains(&"docker.io/library".to_string()));
        assert_eq!(
            path_scopes(Path::new("/srv/images/g"), Some("1.0")),
            [
                "/srv/images/g:1.0",
                "/srv/images/g",
                "/srv/images",
                "/srv",
                "/"
            ]
        );
    }

    #[test]
    fn the_most_specific_scope_wins_then_the_transport_then_default() {
        let p = policy(
            r#"{"default": [{"type": "reject"}],
                "transports": {"docker": {
                    "": [{"type": "insecureAcceptAnything"}],
                    "r.example.com/team": [{"type": "reject"}],
                    "r.example.com/team/open": [{"type": "insecureAcceptAnything"}],
                    "*.example.com": [{"type": "reject"}]
                }}}"#,
        );
        let verdict = |r: &str| p.evaluate(&subject(r), "sha256:x", &mut Unsigned);
        assert_eq!(
            verdict("r.example.com/team/open:1").unwrap().scope,
            "transports.docker[\"r.example.com/team/open\"] of /p.json"
        );
        let err = format!("{:#}", verdict("r.example.com/team/closed:1").unwrap_err());
        assert!(
            err.starts_with("image refused by the signature policy: requirement reject of transports.docker[\"r.example.com/team\"] of /p.json"),
            "{err}"
        );
        let err = format!("{:#}", verdict("other.example.com/x:1").unwrap_err());
        assert!(
            err.contains("transports.docker[\"*.example.com\"]"),
            "{err}"
        );
        assert_eq!(
            verdict("docker.io/library/busybox:latest").unwrap().scope,
            "transports.docker[\"\"] of /p.json"
        );
        let local = Subject {
            transport: "oci",
            scopes: path_scopes(Path::new("/srv/g"), None),
            reference: None,
        };
        let err = format!(
            "{:#}",
            p.evaluate(&local, "sha256:x", &mut Unsigned).unwrap_err()
        );
        assert!(
            err.contains("requirement reject of default of /p.json"),
            "{err}"
        );
    }

    #[test]
    fn a_key_file_without_a_key_is_refused_naming_the_requirement() {
        let t = tempfile::tempdir().unwrap();
        let key = t.path().join("k.gpg");
        std::fs::write(&key, b"").unwrap();
        let p = policy(&format!(
            r#"{{"default": [{{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "{}"}}]}}"#,
            key.display()
        ));
        let err = format!(
            "{:#}",
            p.evaluate(&subject("r.example.com/a:1"), "sha256:x", &mut Unsigned)
                .unwrap_err()
        );
        assert!(err.contains("requirement signedBy of default"), "{err}");
        assert!(err.contains("GPG key"), "{err}");
    }

    #[test]
    fn malformed_policies_name_what_is_wrong() {
        let bad = |text: &str| {
            format!(
                "{:#}",
                Policy::parse(text.as_bytes(), Path::new("/p.json")).unwrap_err()
            )
        };
        assert!(bad(r#"{"default": []}"#).contains("default: no requirements"));
        assert!(bad(r#"{"default": [{"type": "trustMe"}]}"#).contains("default[0]"));
        assert!(bad(r#"{"transports": {}}"#).contains("missing field `default`"));
        assert!(bad(
            r#"{"default": [{"type": "signedBy", "keyType": "X509Certificates", "keyPath": "/k"}]}"#
        )
        .contains("not supported"));
        assert!(
            bad(r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}"#)
                .contains("exactly one of keyPath, keyPaths and keyData")
        );
        assert!(bad(r#"{"default": [{"type": "sigstoreSigned"}]}"#)
            .contains("exactly one of keyPath and keyData"));
        let with = |identity: &str| {
            bad(&format!(
                r#"{{"default": [{{"type": "sigstoreSigned", "keyPath": "/k", "signedIdentity": {identity}}}]}}"#
            ))
        };
        assert!(
            with(r#"{"type": "exactReference", "dockerReference": "r.example.com/a"}"#)
                .contains("names no tag or digest")
        );
        assert!(with(
            r#"{"type": "remapIdentity", "prefix": "r.example.com/", "signedPrefix": "q.example.com"}"#
        )
        .contains("is not a host, namespace or repository"));
    }
}
