//! The `images` commands as data: the rows of `images list`, tag, delete
//! and prune. What deployments use is passed in by the caller.

use super::lookup::lookup;
use super::name::{self, RegistriesConf};
use super::store::{Store, StoredImage};
use crate::report::Reporter;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// An image a deployment uses: its name, the image commit it records, and
/// the deployment's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InUse {
    pub image: String,
    pub commit: String,
    pub dir: PathBuf,
}

/// One row of `images list`.
#[derive(Debug, Clone)]
pub struct ImageRow {
    pub image: StoredImage,
    pub repo: String,
    pub tag: String,
    /// A deployment uses it.
    pub used: bool,
}

/// Splits `registry/repo:tag` into repository and tag.
fn repo_tag(name: &str) -> (&str, &str) {
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], &name[slash + i + 1..]),
        None => (name, "<none>"),
    }
}

/// The filters `images list -f` takes.
pub const LIST_FILTERS: &[&str] = &["repo", "repository", "type", "id"];

/// The rows of `images list`, filtered by `KEY=VALUE` pairs.
pub fn list(
    store: Option<&Store>,
    in_use: &[InUse],
    filter: &[(String, String)],
) -> Result<Vec<ImageRow>> {
    for (k, _) in filter {
        if !LIST_FILTERS.contains(&k.as_str()) {
            bail!("unknown filter {k}; use repo=, type= or id=");
        }
    }
    let images = match store {
        Some(s) => s.images()?,
        None => Vec::new(),
    };
    let used: BTreeSet<&str> = in_use.iter().map(|u| u.image.as_str()).collect();
    let mut rows = Vec::new();
    for img in images {
        let (repo, tag) = repo_tag(&img.name);
        let keep = filter.iter().all(|(k, v)| match k.as_str() {
            "repo" | "repository" => repo.contains(v.as_str()),
            "type" => v == "system",
            _ => img.id.starts_with(v.as_str()),
        });
        if keep {
            rows.push(ImageRow {
                repo: repo.to_string(),
                tag: tag.to_string(),
                used: used.contains(img.name.as_str()),
                image: img,
            });
        }
    }
    Ok(rows)
}

/// Gives the image `src` names the name `dest` too; returns both names.
pub fn tag(store: &Store, src: &str, dest: &str) -> Result<(String, String)> {
    let img = lookup(store, src)?;
    let dest = name::parse_reference(dest, &RegistriesConf::load()?)
        .with_context(|| format!("new image name {dest}"))?
        .name();
    store.tag(&img, &dest)?;
    Ok((img.name, dest))
}

/// Deletes the names of `images` (refusing one a deployment uses unless
/// `force`), reporting each as it goes.
pub fn delete(
    store: &Store,
    images: &[String],
    force: bool,
    in_use: &[InUse],
    report: &Reporter,
) -> Result<()> {
    let found: Vec<StoredImage> = images
        .iter()
        .map(|i| lookup(store, i))
        .collect::<Result<_>>()?;
    for img in &found {
        if let Some(u) = in_use.iter().find(|u| u.image == img.name) {
            if !force {
                bail!(
                    "image {} is used by the deployment {}; uninstall it first or use -f",
                    img.name,
                    u.dir.display()
                );
            }
        }
    }
    for img in &found {
        store.delete(&img.name)?;
        report.note(format!("Deleted {}", img.name));
    }
    Ok(())
}

/// Prunes every layer and object that no image and no deployment in
/// `in_use` needs; returns the layers removed and the bytes freed (None in
/// a repository the tool did not create, whose objects it leaves alone).
pub fn prune(store: &Store, in_use: &[InUse]) -> Result<(Vec<String>, Option<u64>)> {
    let keep = in_use
        .iter()
        .map(|u| {
            store
                .load_image(&u.image, &u.commit)
                .with_context(|| format!("image of deployment {}", u.dir.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    store.prune(&keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_and_tag() {
        assert_eq!(
            repo_tag("docker.io/library/a:1"),
            ("docker.io/library/a", "1")
        );
        assert_eq!(repo_tag("127.0.0.1:5000/a"), ("127.0.0.1:5000/a", "<none>"));
        assert_eq!(repo_tag("127.0.0.1:5000/a:v2"), ("127.0.0.1:5000/a", "v2"));
    }

    #[test]
    fn unknown_filters_are_refused() {
        let err = list(None, &[], &[("colour".into(), "red".into())]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown filter colour; use repo=, type= or id="
        );
        assert!(list(None, &[], &[("repo".into(), "x".into())])
            .unwrap()
            .is_empty());
    }
}
