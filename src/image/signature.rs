//! The two signature formats of the containers tools, verified with
//! maintained crates: simple signing (an OpenPGP signed message whose
//! literal data is the JSON payload, `rpgp`), and sigstore (a cosign payload
//! and a base64 ECDSA P-256 signature over it, `p256`). Both payloads name
//! the image's manifest digest and the reference it was signed as.

use anyhow::{anyhow, bail, Context, Result};
use pgp::composed::{Deserializable, Message, SignedPublicKey};
use pgp::types::KeyDetails;
use serde::Deserialize;
use std::io::Read;

/// The largest signature or payload read.
pub const SIGNATURE_LIMIT: u64 = 4 << 20;

/// What a verified signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub docker_reference: String,
    pub manifest_digest: String,
}

/// A sigstore signature as the registry attaches it: the payload blob and
/// the `dev.cosignproject.cosign/signature` annotation.
#[derive(Debug, Clone)]
pub struct SigstoreSig {
    pub payload: Vec<u8>,
    pub signature_b64: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayloadJson {
    critical: Critical,
    /// Creator and timestamp: informational, not checked.
    #[serde(rename = "optional", default)]
    _optional: serde::de::IgnoredAny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    #[serde(rename = "type")]
    kind: String,
    image: Image,
    identity: IdentityJson,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityJson {
    #[serde(rename = "docker-reference")]
    reference: String,
}

/// Parses a payload of type `kind`.
fn payload(data: &[u8], kind: &str) -> Result<Payload> {
    let p: PayloadJson =
        serde_json::from_slice(data).context("the signed payload is not a signature payload")?;
    if p.critical.kind != kind {
        bail!(
            "the signed payload is of type {:?}, not {kind:?}",
            p.critical.kind
        );
    }
    Ok(Payload {
        docker_reference: p.critical.identity.reference,
        manifest_digest: p.critical.image.digest,
    })
}

/// The OpenPGP public keys in `data` (binary or armored, one or more).
pub fn gpg_keys(data: &[u8]) -> Result<Vec<SignedPublicKey>> {
    let (keys, _) = SignedPublicKey::from_reader_many(std::io::Cursor::new(data))
        .map_err(|e| anyhow!("reading GPG keys: {e}"))?;
    let keys = keys
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("reading GPG keys: {e}"))?;
    if keys.is_empty() {
        bail!("the key file holds no GPG public key");
    }
    for k in &keys {
        k.verify_bindings().map_err(|e| {
            anyhow!(
                "GPG key {}: its self-signatures do not verify: {e}",
                k.fingerprint()
            )
        })?;
    }
    Ok(keys)
}

/// Verifies a simple-signing signature with any of `keys` (primary keys
/// or their subkeys); returns the payload and the fingerprint of the key
/// that made it.
pub fn verify_simple(sig: &[u8], keys: &[SignedPublicKey]) -> Result<(Payload, String)> {
    let msg = Message::from_bytes(std::io::Cursor::new(sig.to_vec()))
        .map_err(|e| anyhow!("not an OpenPGP message: {e}"))?;
    let mut msg = msg
        .decompress()
        .map_err(|e| anyhow!("decompressing the signature: {e}"))?;
    let mut data = Vec::new();
    (&mut msg)
        .take(SIGNATURE_LIMIT + 1)
        .read_to_end(&mut data)
        .context("reading the signed payload")?;
    if data.len() as u64 > SIGNATURE_LIMIT {
        bail!("the signed payload is larger than {SIGNATURE_LIMIT} bytes");
    }
    // As gpgme's verification in containers/image: exactly one signature.
    let count = match &msg {
        Message::Signed { reader, .. } => reader.num_signatures(),
        _ => 0,
    };
    if count != 1 {
        bail!("the message holds {count} OpenPGP signatures; exactly one is accepted");
    }
    let now = crate::host::clock::now();
    let mut signer = None;
    // Why each key did not sign it, all kept: the key that made it may be
    // one the policy lists but may not trust (expired, revoked).
    let mut why = Vec::new();
    'keys: for k in keys {
        let mut reason = None;
        if let Ok(sig) = msg.verify(&k.primary_key) {
            match unusable(k, &primary_binding(k), k.primary_key.created_at(), sig, now) {
                None => {
                    signer = Some(k.fingerprint().to_string());
                    break;
                }
                Some(e) => reason = Some(format!("key {}: {e}", upper(k))),
            }
        }
        for sub in &k.public_subkeys {
            if let Ok(sig) = msg.verify(&sub.key) {
                let binding: Vec<&pgp::packet::Signature> = sub.signatures.iter().collect();
                let unbound = binding
                    .is_empty()
                    .then(|| "not bound to its key".to_string());
                match unbound.or_else(|| unusable(k, &binding, sub.key.created_at(), sig, now)) {
                    None => {
                        signer = Some(k.fingerprint().to_string());
                        break 'keys;
                    }
                    Some(e) => {
                        reason = Some(format!(
                            "subkey {} of {}: {e}",
                            sub.key.fingerprint().to_string().to_uppercase(),
                            upper(k)
                        ))
                    }
                }
            }
        }
        // Neither the key nor a subkey verifies it (the library's own words
        // for that are an assertion dump).
        why.push(reason.unwrap_or_else(|| {
            format!(
                "it does not verify with key {} (the signed content was changed, or another key made it)",
                upper(k)
            )
        }));
    }
    let why = if why.is_empty() {
        "no key".to_string()
    } else {
        why.join("; ")
    };
    let signer = signer.ok_or_else(|| {
        anyhow!("not signed by any of the policy's keys (or tampered with): {why}")
    })?;
    Ok((
        payload(&data, "atomic container signature")?,
        signer.to_uppercase(),
    ))
}

/// `k`'s fingerprint as gpg prints it.
fn upper(k: &SignedPublicKey) -> String {
    k.fingerprint().to_string().to_uppercase()
}

/// The self-signatures that bind `k`'s primary key to its user ids.
fn primary_binding(k: &SignedPublicKey) -> Vec<&pgp::packet::Signature> {
    k.details
        .users
        .iter()
        .flat_map(|u| &u.signatures)
        .chain(&k.details.direct_signatures)
        .collect()
}

fn primary_revoked(k: &SignedPublicKey) -> Option<String> {
    (!k.details.revocation_signatures.is_empty()).then(|| "revoked".to_string())
}

/// Why a key (the primary, or a subkey with its binding signatures
/// `binding`) that made `sig` may not be trusted for it, judged at `now`
/// (seconds since the epoch) as gpgme and containers/image judge it:
/// revoked; not for signing (its newest binding's key flags, when it has
/// any); expired now (not at the signature's own creation time, which the
/// signer chooses and could backdate); or the signature itself expired or
/// made in the future. None when it may.
fn unusable(
    k: &SignedPublicKey,
    binding: &[&pgp::packet::Signature],
    created: pgp::types::Timestamp,
    sig: &pgp::packet::Signature,
    now: u64,
) -> Option<String> {
    use pgp::packet::SignatureType;
    if let Some(r) = primary_revoked(k) {
        return Some(r);
    }
    if binding
        .iter()
        .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
    {
        return Some("revoked".into());
    }
    let Some(made) = sig.created().map(|t| u64::from(t.as_secs())) else {
        return Some("the signature has no creation time".into());
    };
    if made > now {
        return Some(format!(
            "the signature was made in the future ({})",
            crate::host::clock::rfc3339(made)
        ));
    }
    if let Some(exp) = sig
        .signature_expiration_time()
        .map(|d| u64::from(d.as_secs()))
        .filter(|d| *d > 0)
    {
        if made + exp <= now {
            return Some(format!(
                "the signature expired on {}",
                crate::host::clock::rfc3339(made + exp)
            ));
        }
    }
    let newest = binding
        .iter()
        .filter(|s| s.typ() != Some(SignatureType::SubkeyRevocation))
        .max_by_key(|s| s.created().map(|t| t.as_secs()))?;
    let flags = newest.key_flags();
    if flags != pgp::packet::KeyFlags::default() && !flags.sign() {
        return Some("not a signing key".into());
    }
    let expires = newest
        .key_expiration_time()
        .map(|d| u64::from(d.as_secs()))
        .filter(|d| *d > 0)?;
    let end = u64::from(created.as_secs()) + expires;
    (end <= now).then(|| format!("expired on {}", crate::host::clock::rfc3339(end)))
}

/// The sigstore public key in `pem` (an ECDSA P-256 `PUBLIC KEY`).
pub fn sigstore_key(pem: &[u8]) -> Result<p256::ecdsa::VerifyingKey> {
    use p256::pkcs8::DecodePublicKey;
    let text = std::str::from_utf8(pem).context("the sigstore public key is not PEM text")?;
    p256::ecdsa::VerifyingKey::from_public_key_pem(text)
        .map_err(|e| anyhow!("the sigstore public key is not an ECDSA P-256 PUBLIC KEY: {e}"))
}

/// Verifies a sigstore signature with `key`; returns its payload.
pub fn verify_sigstore(sig: &SigstoreSig, key: &p256::ecdsa::VerifyingKey) -> Result<Payload> {
    use base64::Engine;
    use p256::ecdsa::signature::Verifier;
    let der = base64::engine::general_purpose::STANDARD
        .decode(sig.signature_b64.trim())
        .context("the signature annotation is not base64")?;
    let signature = p256::ecdsa::Signature::from_der(&der)
        .map_err(|e| anyhow!("the signature is not an ECDSA signature: {e}"))?;
    key.verify(&sig.payload, &signature)
        .map_err(|_| anyhow!("not signed by the policy's key (or tampered with)"))?;
    payload(&sig.payload, "cosign container image signature")
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;

    #[test]
    fn payloads_must_be_of_their_kind_and_shape() {
        let good = br#"{"critical":{"identity":{"docker-reference":"r/a:1"},"image":{"docker-manifest-digest":"sha256:ab"},"type":"atomic container signature"},"optional":{"creator":"x"}}"#;
        assert_eq!(
            payload(good, "atomic container signature").unwrap(),
            Payload {
                docker_reference: "r/a:1".into(),
                manifest_digest: "sha256:ab".into()
            }
        );
        assert!(payload(good, "cosign container image signature")
            .unwrap_err()
            .to_string()
            .contains("of type \"atomic container signature\""));
        let extra = br#"{"critical":{"identity":{"docker-reference":"r/a:1"},"image":{"docker-manifest-digest":"sha256:ab"},"type":"t","more":1}}"#;
        assert!(
            payload(extra, "t").is_err(),
            "unknown critical keys are refused"
        );
    }

    #[test]
    fn sigstore_signatures_verify_and_tampering_does_not() {
        let secret = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let key = *secret.verifying_key();
        let body = br#"{"critical":{"identity":{"docker-reference":"r/a:1"},"image":{"docker-manifest-digest":"sha256:ab"},"type":"cosign container image signature"},"optional":null}"#;
        let sig: p256::ecdsa::Signature = secret.sign(body);
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes());
        let s = SigstoreSig {
            payload: body.to_vec(),
            signature_b64: b64.clone(),
        };
        assert_eq!(
            verify_sigstore(&s, &key).unwrap().manifest_digest,
            "sha256:ab"
        );
        let mut tampered = s.clone();
        tampered.payload[20] ^= 1;
        assert!(verify_sigstore(&tampered, &key)
            .unwrap_err()
            .to_string()
            .contains("tampered"));
        let other = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
        assert!(verify_sigstore(&s, other.verifying_key()).is_err());
    }
}
