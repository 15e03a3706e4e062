//! `signedIdentity` of a policy requirement: which identities a
//! signature may claim for the image pulled, as the containers tools match
//! them.

use crate::image::name::RegistryRef;
use anyhow::{bail, Result};
use serde::Deserialize;

/// How a signature's claimed identity must relate to the image pulled.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum SignedIdentity {
    MatchExact,
    #[default]
    MatchRepoDigestOrExact,
    MatchRepository,
    #[serde(rename_all = "camelCase")]
    ExactReference {
        docker_reference: String,
    },
    #[serde(rename_all = "camelCase")]
    ExactRepository {
        docker_repository: String,
    },
    #[serde(rename_all = "camelCase")]
    RemapIdentity {
        prefix: String,
        signed_prefix: String,
    },
}

impl SignedIdentity {
    /// The type as policy.json spells it.
    pub(super) fn name(&self) -> &'static str {
        match self {
            SignedIdentity::MatchExact => "matchExact",
            SignedIdentity::MatchRepoDigestOrExact => "matchRepoDigestOrExact",
            SignedIdentity::MatchRepository => "matchRepository",
            SignedIdentity::ExactReference { .. } => "exactReference",
            SignedIdentity::ExactRepository { .. } => "exactRepository",
            SignedIdentity::RemapIdentity { .. } => "remapIdentity",
        }
    }
}

impl SignedIdentity {
    /// Refuses a signedIdentity the containers tools refuse: an
    /// `exactReference` without a tag or digest, an `exactRepository` or a
    /// remapped prefix with one, an empty prefix or one ending in `/`.
    pub(super) fn check(&self) -> Result<()> {
        let tagged = |s: &str| {
            let (_, tag, digest) = split(s);
            tag.is_some() || digest.is_some()
        };
        match self {
            SignedIdentity::ExactReference { docker_reference } if !tagged(docker_reference) => {
                bail!("exactReference {docker_reference:?} names no tag or digest")
            }
            SignedIdentity::ExactRepository { docker_repository } if tagged(docker_repository) => {
                bail!("exactRepository {docker_repository:?} is a reference, not a repository")
            }
            SignedIdentity::RemapIdentity {
                prefix,
                signed_prefix,
            } => {
                for p in [prefix, signed_prefix] {
                    if p.is_empty() || p.ends_with('/') || tagged(p) {
                        bail!("remapIdentity prefix {p:?} is not a host, namespace or repository");
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Whether `claimed` (a signature's `docker-reference`) is acceptable for
    /// the image pulled as `r`.
    pub fn matches(&self, r: &RegistryRef, claimed: &str) -> bool {
        let name = format!("{}/{}", r.registry, r.repository);
        let (claimed_name, claimed_tag, claimed_digest) = split(claimed);
        // Cosign payloads may name a repository alone: enough where only the
        // repository is compared, never where the reference is.
        let name_only = claimed_tag.is_none() && claimed_digest.is_none();
        match self {
            SignedIdentity::MatchExact => !name_only && claimed == exact(r),
            SignedIdentity::MatchRepoDigestOrExact => {
                if r.digest.is_some() {
                    claimed_name == name
                } else {
                    !name_only && claimed == exact(r)
                }
            }
            SignedIdentity::MatchRepository => claimed_name == name,
            SignedIdentity::ExactReference { docker_reference } => {
                !name_only && claimed == docker_reference
            }
            SignedIdentity::ExactRepository { docker_repository } => {
                claimed_name == docker_repository
            }
            SignedIdentity::RemapIdentity {
                prefix,
                signed_prefix,
            } => {
                let Some(rest) = name.strip_prefix(prefix.as_str()) else {
                    return SignedIdentity::MatchRepoDigestOrExact.matches(r, claimed);
                };
                if !(rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/')) {
                    return SignedIdentity::MatchRepoDigestOrExact.matches(r, claimed);
                }
                let remapped = format!("{signed_prefix}{rest}");
                let Some((registry, repository)) = remapped.split_once('/') else {
                    return false;
                };
                let r2 = RegistryRef {
                    registry: registry.to_string(),
                    repository: repository.to_string(),
                    ..r.clone()
                };
                SignedIdentity::MatchRepoDigestOrExact.matches(&r2, claimed)
            }
        }
    }
}

/// A reference string split into its name and its tag or digest.
pub(super) fn split(reference: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (reference, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(c) => (&rest[..slash + c], Some(&rest[slash + c + 1..]), digest),
        None => (rest, None, digest),
    }
}

/// The image's own reference as the signature would name it: `name:tag`
/// when pulled by tag, `name@digest` when by digest.
fn exact(r: &RegistryRef) -> String {
    let name = format!("{}/{}", r.registry, r.repository);
    match (&r.digest, &r.tag) {
        (Some(d), _) => format!("{name}@{d}"),
        (None, Some(t)) => format!("{name}:{t}"),
        (None, None) => format!("{name}:latest"),
    }
}

/// The reference `s` (`registry/repository[:tag][@digest]`), for tests.
#[cfg(test)]
pub(super) fn reg(s: &str) -> RegistryRef {
    let (name, tag, digest) = split(s);
    let (registry, repository) = name.split_once('/').unwrap();
    RegistryRef {
        registry: registry.into(),
        repository: repository.into(),
        tag: tag.map(str::to_string),
        digest: digest.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_identities() {
        use SignedIdentity::*;
        let tag = reg("r.example.com/team/app:1");
        let dig = reg("r.example.com/team/app@sha256:ab");
        let m = |i: &SignedIdentity, r: &RegistryRef, c: &str| i.matches(r, c);
        assert!(m(&MatchRepoDigestOrExact, &tag, "r.example.com/team/app:1"));
        assert!(!m(
            &MatchRepoDigestOrExact,
            &tag,
            "r.example.com/team/app:2"
        ));
        assert!(m(&MatchRepoDigestOrExact, &dig, "r.example.com/team/app:2"));
        assert!(!m(
            &MatchRepoDigestOrExact,
            &dig,
            "r.example.com/team/other:1"
        ));
        assert!(m(&MatchExact, &tag, "r.example.com/team/app:1"));
        assert!(m(&MatchExact, &dig, "r.example.com/team/app@sha256:ab"));
        assert!(!m(&MatchExact, &dig, "r.example.com/team/app:1"));
        assert!(!m(&MatchRepoDigestOrExact, &tag, "r.example.com/team/app"));
        assert!(m(&MatchRepository, &tag, "r.example.com/team/app:9"));
        assert!(
            m(&MatchRepository, &tag, "r.example.com/team/app"),
            "a cosign name-only claim"
        );
        let exact = ExactReference {
            docker_reference: "r.example.com/team/app:stable".into(),
        };
        assert!(m(&exact, &tag, "r.example.com/team/app:stable"));
        assert!(!m(&exact, &tag, "r.example.com/team/app:1"));
        let repo = ExactRepository {
            docker_repository: "prod.example.com/app".into(),
        };
        assert!(m(&repo, &tag, "prod.example.com/app:7"));
        let remap = RemapIdentity {
            prefix: "r.example.com/team".into(),
            signed_prefix: "prod.example.com/release".into(),
        };
        assert!(m(&remap, &tag, "prod.example.com/release/app:1"));
        assert!(!m(&remap, &tag, "r.example.com/team/app:2"));
        assert!(m(
            &remap,
            &reg("r.example.com/teammate/app:1"),
            "r.example.com/teammate/app:1"
        ));
    }
}
