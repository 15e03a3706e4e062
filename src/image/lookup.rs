//! Finding the stored image a user's string names: the same strings `pull`
//! takes, tried as registry references (with the registries.conf search
//! list) and, for local sources, by the name their own metadata gives.

use super::name::{self, RegistriesConf};
use super::pull::{self, PullOptions};
use super::store::{self, Store, StoredImage};
use crate::host::paths::HostPaths;
use crate::report::Reporter;
use anyhow::Result;

/// The stored image `image` names, or None when the repository has none;
/// an unreadable repository is an error.
pub fn find(store: &Store, image: &str) -> Result<Option<StoredImage>> {
    let conf = RegistriesConf::load()?;
    for candidate in name::candidates(image, &conf) {
        if let Some(found) = store.image(&candidate)? {
            return Ok(Some(found));
        }
    }
    // A local source names its image after its own metadata: open it to learn the name.
    let src = match name::parse(image, &conf) {
        Ok(
            src @ (name::ImageSource::DockerArchive(_)
            | name::ImageSource::OciLayout { .. }
            | name::ImageSource::OciArchive { .. }),
        ) => src,
        _ => return Ok(None),
    };
    match super::source::open(&src, None, &|_| None) {
        // The image stored under that name is this source's only if it is
        // the same manifest: another layout of the same name and tag is
        // another image, to be pulled.
        Ok((fetched, _)) => Ok(store
            .image(&fetched.name)?
            .filter(|img| img.manifest_digest == fetched.manifest_digest)),
        Err(e) => {
            // Safe to treat as not stored: pulling it opens the source
            // again and reports this error to the user.
            tracing::debug!("cannot open {image} to learn its name: {e:#}");
            Ok(None)
        }
    }
}

/// The stored image `image` names; not stored is an error saying so.
pub fn lookup(store: &Store, image: &str) -> Result<StoredImage> {
    find(store, image)?.ok_or_else(|| store::not_found(image))
}

/// The stored image `image` names, pulled first when it is not stored.
pub fn find_or_pull(
    paths: &HostPaths,
    store: &Store,
    image: &str,
    opts: &PullOptions,
    report: &Reporter,
) -> Result<StoredImage> {
    match find(store, image)? {
        Some(img) => {
            if opts.policy.is_some() {
                report.warn(format!(
                    "{} is stored already ({}); --signature-policy checks pulls, and it is not pulled again",
                    img.name,
                    img.verified
                        .as_deref()
                        .unwrap_or("pulled before atomic checked signatures")
                ));
            }
            Ok(img)
        }
        None => pull::pull(paths, image, opts, report),
    }
}
