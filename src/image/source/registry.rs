//! The OCI distribution API through [`Session`]: metadata capped and
//! within a deadline, layers as plain blocking streams at a minimum rate.

use super::*;
use crate::image::distribution::{Limits, Session};

const ACCEPT: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

pub(super) struct RegistryBlobs {
    session: Session,
}

/// The annotation of a sigstore attachment's layer that holds its
/// signature.
const COSIGN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";

/// The tag or digest `r` names.
fn reference(r: &RegistryRef) -> String {
    match (&r.tag, &r.digest) {
        (_, Some(d)) => d.clone(),
        (Some(t), None) => t.clone(),
        (None, None) => "latest".to_string(),
    }
}

pub(super) fn open(
    r: &RegistryRef,
    insecure: bool,
    creds: Option<&Creds>,
    known: KnownConfig,
) -> Result<(Fetched, Box<dyn Blobs>)> {
    let name = r.name();
    let session = Session::new(
        &r.registry,
        &r.repository,
        insecure,
        creds.map(|c| (c.user.clone(), c.password.clone())),
        Limits::from_env()?,
    )?;
    let manifest = |reference: &str| -> Result<Vec<u8>> {
        session
            .manifest(reference, ACCEPT, METADATA_LIMIT)?
            .ok_or_else(|| anyhow!("the registry has no manifest {reference}"))
    };
    let raw = manifest(&reference(r))
        .with_context(|| format!("fetching the manifest of {name} from {}", r.registry))?;
    let v: Value =
        serde_json::from_slice(&raw).with_context(|| format!("parsing the manifest of {name}"))?;
    let (raw, digest, index_digest) = if is_index(v["mediaType"].as_str().unwrap_or_default()) {
        // The index as served is what signatures sign.
        let index_digest = format!("sha256:{}", sha256_hex(&raw));
        if r.digest.as_ref().is_some_and(|d| *d != index_digest) {
            bail!("image {name}: the registry sent an index of digest {index_digest}");
        }
        let d = pick_platform(&v).with_context(|| format!("image {name}"))?;
        let raw = manifest(&d).with_context(|| format!("fetching manifest {d} of {name}"))?;
        (raw, d, Some(index_digest))
    } else {
        let digest = match &r.digest {
            Some(d) => d.clone(),
            None => format!("sha256:{}", sha256_hex(&raw)),
        };
        (raw, digest, None)
    };
    verify("manifest", &raw, &digest).with_context(|| format!("image {name}"))?;
    let manifest = ImageManifest::from_reader(&raw[..])
        .with_context(|| format!("parsing the manifest of {name}"))?;
    let config = manifest.config();
    if config.size() > METADATA_LIMIT {
        bail!(
            "the config of {name} is {} bytes, more than {METADATA_LIMIT}",
            config.size()
        );
    }
    let config_raw = match known(config.digest().digest()) {
        Some(c) => c,
        None => {
            let c = session
                .small_blob(config.digest().as_ref(), config.size())
                .with_context(|| format!("fetching the config of {name}"))?;
            verify("config", &c, config.digest().as_ref())
                .with_context(|| format!("image {name}"))?;
            c
        }
    };
    let fetched = Fetched {
        name,
        manifest_raw: raw,
        manifest,
        manifest_digest: digest,
        config_raw,
        index_digest,
        local_path: None,
    };
    Ok((fetched, Box::new(RegistryBlobs { session })))
}

impl Blobs for RegistryBlobs {
    fn sigstore_attachments(&self, digest: &str) -> Result<Vec<SigstoreSig>> {
        let limit = super::super::signature::SIGNATURE_LIMIT;
        let tag = format!("{}.sig", digest.replacen(':', "-", 1));
        let what = || format!("the sigstore signatures of {digest} (tag {tag})");
        let Some(raw) = self
            .session
            .manifest(
                &tag,
                &["application/vnd.oci.image.manifest.v1+json"],
                METADATA_LIMIT,
            )
            .with_context(|| format!("fetching {}", what()))?
        else {
            return Ok(Vec::new());
        };
        let m: Value = serde_json::from_slice(&raw)
            .with_context(|| format!("parsing the manifest of {}", what()))?;
        let mut out = Vec::new();
        for layer in m["layers"].as_array().into_iter().flatten().take(64) {
            let Some(sig) = layer["annotations"][COSIGN_SIGNATURE].as_str() else {
                continue;
            };
            let digest = layer["digest"]
                .as_str()
                .ok_or_else(|| anyhow!("{}: a layer has no digest", what()))?;
            let payload = self.session.small_blob(digest, limit).with_context(what)?;
            verify("blob", &payload, digest).with_context(what)?;
            out.push(SigstoreSig {
                payload,
                signature_b64: sig.to_string(),
            });
        }
        Ok(out)
    }

    fn open(&self, layer: &Descriptor) -> Result<Box<dyn Read + Send>> {
        self.session.blob(layer.digest().as_ref())
    }
}
