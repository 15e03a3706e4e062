//! The OSTree repository of images: one commit per layer and per config
//! blob under `ociimage/<sha256 hex>`, one image commit under
//! `ociimage/<encoded name>` whose metadata keeps the manifest, config and
//! digest; and the hard-link checkout that composes an image's rootfs.

use super::compose::{lookup, Composer};
use super::import::{self, Imported, LayerSpec};
use super::refescape;
use super::source::Fetched;
use crate::host::paths::HostPaths;
use anyhow::{anyhow, bail, Context, Result};
use oci_spec::image::ImageManifest;
use ostree::gio;
use ostree::glib;
use ostree::prelude::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

const NONE: Option<&gio::Cancellable> = None;
const KEY_MANIFEST: &str = "docker.manifest";
const KEY_DIGEST: &str = "docker.digest";
const KEY_CONFIG: &str = "docker.config";
/// What the signature policy accepted the image by.
const KEY_VERIFIED: &str = "atomic.verified";

pub struct Store {
    repo: ostree::Repo,
    path: PathBuf,
    /// The tool created this repository (and so may prune its objects).
    ours: bool,
    /// A `bare` repository other than the private one under the 0700
    /// checkout root (`/ostree/repo`, `ATOMIC_OSTREE_REPO`): other users
    /// can reach its objects, so files go in without setuid/setgid bits
    /// and file capabilities.
    shared: bool,
}

/// The file that marks a repository the tool created.
const CREATED_MARK: &str = "atomic-created";

/// An image in the repository.
#[derive(Debug, Clone)]
pub struct StoredImage {
    pub name: String,
    /// The image commit.
    pub commit: String,
    pub manifest: ImageManifest,
    pub manifest_digest: String,
    pub config: Value,
    /// sha256 hex of the config blob.
    pub id: String,
    /// Commit time of the image commit (pull time), seconds since the epoch.
    pub pulled: u64,
    /// What the signature policy accepted it by; None for an image
    /// recorded before the tool checked signatures.
    pub verified: Option<String>,
}

impl StoredImage {
    /// Layer digests (hex), bottom first.
    pub fn layers(&self) -> Vec<String> {
        self.manifest
            .layers()
            .iter()
            .map(|l| l.digest().digest().to_string())
            .collect()
    }

    /// The image's labels.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config["config"]["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Total uncompressed size of the layers, as the manifest states them
    /// compressed; good enough for listing.
    pub fn size(&self) -> u64 {
        self.manifest.layers().iter().map(|l| l.size()).sum()
    }
}

/// Whether `repo` at `path` is a `bare` repository outside the private
/// one, whose objects other users can reach.
fn shared(repo: &ostree::Repo, path: &Path, paths: &HostPaths) -> bool {
    repo.mode() == ostree::RepoMode::Bare && path != paths.private_repo()
}

fn meta_str(dict: &glib::VariantDict, key: &str) -> Option<String> {
    dict.lookup::<String>(key).ok().flatten()
}

impl Store {
    /// Opens the repository, creating it and the checkout root when missing:
    /// mode `bare` for the system, `bare-user` for a user's own containers
    /// (files owned by the user, the image's owners and modes kept as
    /// metadata).
    pub fn open_or_create(paths: &HostPaths) -> Result<Store> {
        crate::host::fs::private_dir(paths.checkout_root())?;
        let path = paths.repo();
        let repo = ostree::Repo::new_for_path(&path);
        if crate::host::fs::exists(&path.join("config"))? {
            repo.open(NONE)
                .with_context(|| format!("opening OSTree repository {}", path.display()))?;
        } else {
            std::fs::create_dir_all(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            let mode = if paths.user().is_some() {
                ostree::RepoMode::BareUser
            } else {
                ostree::RepoMode::Bare
            };
            repo.create(mode, NONE)
                .with_context(|| format!("creating OSTree repository {}", path.display()))?;
            crate::host::fs::write_file(&path.join(CREATED_MARK), b"", 0o644)?;
        }
        if paths.user().is_some() && repo.mode() != ostree::RepoMode::BareUser {
            bail!(
                "{} is not a bare-user repository: a user's containers need one (their files are theirs)",
                path.display()
            );
        }
        // libostree's own durability: one syncfs before the staged objects
        // are renamed into place and refs move, no fsync per object.
        Ok(Store {
            ours: path == paths.private_repo()
                || crate::host::fs::exists(&path.join(CREATED_MARK))?,
            shared: shared(&repo, &path, paths),
            repo,
            path,
        })
    }

    /// Opens the repository if it exists.
    pub fn open_existing(paths: &HostPaths) -> Result<Option<Store>> {
        let path = paths.repo();
        if !crate::host::fs::exists(&path.join("config"))? {
            return Ok(None);
        }
        let repo = ostree::Repo::new_for_path(&path);
        repo.open(NONE)
            .with_context(|| format!("opening OSTree repository {}", path.display()))?;
        Ok(Some(Store {
            ours: path == paths.private_repo()
                || crate::host::fs::exists(&path.join(CREATED_MARK))?,
            shared: shared(&repo, &path, paths),
            repo,
            path,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn resolve(&self, refname: &str) -> Result<Option<String>> {
        Ok(self
            .repo
            .resolve_rev(refname, true)
            .with_context(|| format!("resolving {refname}"))?
            .map(|s| s.to_string()))
    }

    /// The commit of a layer or config blob, if it was imported.
    pub fn blob_commit(&self, hex: &str) -> Result<Option<String>> {
        self.resolve(&refescape::blob_ref(hex))
    }

    /// The config blob `hex` as an earlier pull recorded it, if it did and
    /// it still matches its digest.
    pub fn config_blob(&self, hex: &str) -> Result<Option<Vec<u8>>> {
        let Some(commit) = self.blob_commit(hex)? else {
            return Ok(None);
        };
        let (v, _) = self
            .repo
            .load_commit(&commit)
            .with_context(|| format!("loading the config commit {commit}"))?;
        let dict = glib::VariantDict::new(Some(&v.child_value(0)));
        Ok(meta_str(&dict, KEY_CONFIG)
            .map(String::into_bytes)
            .filter(|c| super::source::sha256_hex(c) == hex))
    }

    /// Imports a layer in its own transaction; the ref moves only when
    /// the layer verified.
    pub fn import_layer(&self, blob: impl Read + Send, spec: &LayerSpec) -> Result<Imported> {
        let hex = spec.digest.strip_prefix("sha256:").unwrap_or(spec.digest);
        self.repo.prepare_transaction(NONE)?;
        let result =
            import::import_layer(&self.repo, blob, spec, self.shared).and_then(|imported| {
                self.repo.transaction_set_ref(
                    None,
                    &refescape::blob_ref(hex),
                    Some(&imported.commit),
                );
                self.repo.commit_transaction(NONE)?;
                Ok(imported)
            });
        if result.is_err() {
            self.abort();
        }
        result.with_context(|| format!("importing layer {}", spec.digest))
    }

    /// Aborts the open transaction after a failure; the failure is what
    /// the caller reports, and an abort that fails leaves only staged
    /// objects that the next transaction or prune cleans up.
    fn abort(&self) {
        if let Err(e) = self.repo.abort_transaction(NONE) {
            tracing::warn!("aborting the transaction in {}: {e}", self.path.display());
        }
    }

    fn empty_root(&self) -> Result<ostree::RepoFile> {
        let mtree = ostree::MutableTree::new();
        let info = gio::FileInfo::new();
        info.set_attribute_uint32("unix::uid", 0);
        info.set_attribute_uint32("unix::gid", 0);
        info.set_attribute_uint32("unix::mode", 0o040755);
        let meta = ostree::create_directory_metadata(&info, None);
        let csum = self
            .repo
            .write_metadata(ostree::ObjectType::DirMeta, None, &meta, NONE)?;
        mtree.set_metadata_checksum(&csum.to_hex());
        self.repo
            .write_mtree(&mtree, NONE)?
            .downcast::<ostree::RepoFile>()
            .map_err(|_| anyhow!("write_mtree returned no RepoFile"))
    }

    /// Records the config blob and the image (under its name) once all its
    /// layers are in the repository.
    pub fn write_image(&self, fetched: &Fetched, verified: &str) -> Result<String> {
        let id = fetched.image_id();
        self.repo.prepare_transaction(NONE)?;
        let result = (|| -> Result<String> {
            let root = self.empty_root()?;
            let config = String::from_utf8_lossy(&fetched.config_raw).into_owned();
            let cmeta = glib::VariantDict::new(None);
            cmeta.insert(KEY_CONFIG, &config);
            let ccommit = self.repo.write_commit_with_time(
                None,
                Some(&id),
                None,
                Some(&cmeta.end()),
                &root,
                0,
                NONE,
            )?;
            self.repo
                .transaction_set_ref(None, &refescape::blob_ref(&id), Some(&ccommit));

            let meta = glib::VariantDict::new(None);
            meta.insert(
                KEY_MANIFEST,
                String::from_utf8_lossy(&fetched.manifest_raw).as_ref(),
            );
            meta.insert(KEY_DIGEST, &fetched.manifest_digest);
            meta.insert(KEY_CONFIG, &config);
            meta.insert(KEY_VERIFIED, verified);
            let refname = refescape::image_ref(&fetched.name);
            let parent = self.resolve(&refname)?;
            let commit = self.repo.write_commit(
                parent.as_deref(),
                Some(&fetched.name),
                None,
                Some(&meta.end()),
                &root,
                NONE,
            )?;
            self.repo.transaction_set_ref(None, &refname, Some(&commit));
            self.repo.commit_transaction(NONE)?;
            Ok(commit.to_string())
        })();
        if result.is_err() {
            self.abort();
        }
        result.with_context(|| format!("recording image {}", fetched.name))
    }

    /// Every image, by name.
    pub fn images(&self) -> Result<Vec<StoredImage>> {
        let refs = self.repo.list_refs(Some(refescape::PREFIX), NONE)?;
        let mut out = Vec::new();
        for (component, commit) in refs {
            if refescape::is_blob_component(&component) {
                continue;
            }
            let name = refescape::decode(&component)?;
            out.push(self.load_image(&name, &commit)?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The image stored under exactly `name`.
    pub fn image(&self, name: &str) -> Result<Option<StoredImage>> {
        match self.resolve(&refescape::image_ref(name))? {
            Some(commit) => Ok(Some(self.load_image(name, &commit)?)),
            None => Ok(None),
        }
    }

    /// The image commit `commit` (which a deployment may still use after
    /// its name moved on).
    pub fn load_image(&self, name: &str, commit: &str) -> Result<StoredImage> {
        let (v, _) = self
            .repo
            .load_commit(commit)
            .with_context(|| format!("loading commit {commit} of image {name}"))?;
        let dict = glib::VariantDict::new(Some(&v.child_value(0)));
        let manifest_raw = meta_str(&dict, KEY_MANIFEST)
            .ok_or_else(|| anyhow!("image {name}: commit {commit} has no manifest"))?;
        let config_raw = meta_str(&dict, KEY_CONFIG)
            .ok_or_else(|| anyhow!("image {name}: commit {commit} has no config"))?;
        let manifest = ImageManifest::from_reader(manifest_raw.as_bytes())
            .with_context(|| format!("image {name}: parsing its manifest"))?;
        let config: Value = serde_json::from_str(&config_raw)
            .with_context(|| format!("image {name}: parsing its config"))?;
        Ok(StoredImage {
            name: name.to_string(),
            commit: commit.to_string(),
            manifest,
            manifest_digest: meta_str(&dict, KEY_DIGEST).unwrap_or_default(),
            id: super::source::sha256_hex(config_raw.as_bytes()),
            config,
            pulled: ostree::commit_get_timestamp(&v),
            verified: meta_str(&dict, KEY_VERIFIED),
        })
    }

    /// The files of the composed image, to read without a checkout.
    pub fn files(&self, image: &StoredImage) -> Result<ImageFiles<'_>> {
        Ok(ImageFiles {
            store: self,
            name: image.name.clone(),
            tree: self.composed(image)?,
        })
    }

    /// The image's layers composed into one tree (see `compose`).
    fn composed(&self, image: &StoredImage) -> Result<ostree::MutableTree> {
        let layers = image
            .layers()
            .into_iter()
            .map(|hex| {
                let commit = self.blob_commit(&hex)?.ok_or_else(|| {
                    anyhow!(
                        "image {}: layer {hex} is missing; pull it again",
                        image.name
                    )
                })?;
                Ok((format!("sha256:{hex}"), commit))
            })
            .collect::<Result<Vec<_>>>()?;
        Composer::new(&self.repo)
            .compose(&layers)
            .with_context(|| format!("image {}", image.name))
    }

    /// Composes the image's rootfs at `dest` (which must not exist): the
    /// layers composed into one tree, then checked out once with hard links
    /// into the repository.
    pub fn checkout(&self, image: &StoredImage, dest: &Path) -> Result<()> {
        let parent = dest.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let tree = self.composed(image)?;
        self.repo.prepare_transaction(NONE)?;
        let commit = (|| -> Result<String> {
            let root = self
                .repo
                .write_mtree(&tree, NONE)?
                .downcast::<ostree::RepoFile>()
                .map_err(|_| anyhow!("write_mtree returned no RepoFile"))?;
            let commit = self.repo.write_commit_with_time(
                None,
                Some(&image.name),
                None,
                None,
                &root,
                0,
                NONE,
            )?;
            self.repo.commit_transaction(NONE)?;
            Ok(commit.to_string())
        })();
        let commit = match commit {
            Ok(c) => c,
            Err(e) => {
                self.abort();
                return Err(e.context(format!("recording the composed tree of {}", image.name)));
            }
        };
        // A user's checkout: every file theirs, setuid and setgid bits dropped.
        let mode = if self.repo.mode() == ostree::RepoMode::BareUser {
            ostree::RepoCheckoutMode::User
        } else {
            ostree::RepoCheckoutMode::None
        };
        let opts = ostree::RepoCheckoutAtOptions {
            mode,
            no_copy_fallback: true,
            ..Default::default()
        };
        self.repo
            .checkout_at(Some(&opts), libc::AT_FDCWD, dest, &commit, NONE)
            .with_context(|| format!("checking out {} to {}", image.name, dest.display()))
    }

    /// Points `dest` at the image `src` points at.
    pub fn tag(&self, src: &StoredImage, dest: &str) -> Result<()> {
        self.repo
            .set_ref_immediate(None, &refescape::image_ref(dest), Some(&src.commit), NONE)
            .with_context(|| format!("tagging {} as {dest}", src.name))
    }

    /// Removes the image name (its layers stay until prune).
    pub fn delete(&self, name: &str) -> Result<()> {
        self.repo
            .set_ref_immediate(None, &refescape::image_ref(name), None, NONE)
            .with_context(|| format!("deleting image {name}"))
    }

    /// Removes layer and config refs that no image (nor any image commit in
    /// `keep`, used by deployments) references, then, in a repository the
    /// tool created, every object no ref reaches. Returns the refs removed
    /// and the bytes freed (None when objects were left to their owner).
    pub fn prune(&self, keep: &[StoredImage]) -> Result<(Vec<String>, Option<u64>)> {
        let images = self.images()?;
        let mut used = HashSet::new();
        for img in images.iter().chain(keep) {
            used.extend(img.layers());
            used.insert(img.id.clone());
        }
        let refs = self.repo.list_refs(Some(refescape::PREFIX), NONE)?;
        let mut removed = Vec::new();
        for component in refs.keys() {
            if refescape::is_blob_component(component) && !used.contains(component) {
                self.repo
                    .set_ref_immediate(None, &refescape::blob_ref(component), None, NONE)?;
                removed.push(component.clone());
            }
        }
        removed.sort();
        crate::host::failpoint::failpoint("prune")?;
        if !self.ours {
            // Other users of a system repository (the OS itself) keep what
            // they need without refs this tool knows of.
            return Ok((removed, None));
        }
        // Image commits a deployment uses must survive object pruning too.
        let pins: Vec<String> = keep
            .iter()
            .filter(|k| !images.iter().any(|i| i.commit == k.commit))
            .map(|k| k.commit.clone())
            .collect();
        for p in &pins {
            self.repo.set_ref_immediate(
                None,
                &format!("{}/pinned/{p}", refescape::PREFIX),
                Some(p),
                NONE,
            )?;
        }
        let pruned = self.repo.prune(ostree::RepoPruneFlags::REFS_ONLY, -1, NONE);
        for p in &pins {
            self.repo.set_ref_immediate(
                None,
                &format!("{}/pinned/{p}", refescape::PREFIX),
                None,
                NONE,
            )?;
        }
        let (_, _, freed) = pruned.context("pruning unreferenced objects")?;
        self.remove_staging()?;
        Ok((removed, Some(freed)))
    }

    /// Removes what failed transactions left in the repository's `tmp`
    /// (libostree keeps a staging directory to reuse); safe under the
    /// command lock, when no transaction of this tool runs.
    fn remove_staging(&self) -> Result<()> {
        let tmp = self.path.join("tmp");
        let entries = match std::fs::read_dir(&tmp) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", tmp.display())),
        };
        for e in entries {
            let e = e.with_context(|| format!("reading {}", tmp.display()))?;
            if e.file_name().to_string_lossy().starts_with("staging-") {
                crate::host::fs::remove_tree(&e.path())?;
            }
        }
        Ok(())
    }
}

/// What [`ImageFiles::not_root_owned`] found.
#[derive(Debug)]
pub struct NotRootOwned {
    pub count: usize,
    /// The first by path.
    pub path: String,
    pub uid: u32,
    pub gid: u32,
}

/// The files of one composed image.
pub struct ImageFiles<'s> {
    store: &'s Store,
    name: String,
    tree: ostree::MutableTree,
}

impl ImageFiles<'_> {
    /// The entry at `path`: a file's checksum or a directory; None when a
    /// component is missing or not a directory.
    fn entry(
        &self,
        path: &str,
    ) -> Result<Option<(Option<glib::GString>, Option<ostree::MutableTree>)>> {
        let (parents, last) = match path.rsplit_once('/') {
            Some((p, l)) => (Some(p), l),
            None => (None, path),
        };
        match walk(&self.tree, parents)? {
            Some(dir) => lookup(&dir, last),
            None => Ok(None),
        }
    }

    /// Every file below the directory `path`, as paths from the image's
    /// root, sorted; none when there is no such directory.
    pub fn walk(&self, path: &str) -> Result<Vec<String>> {
        let Some((None, Some(dir))) = self.entry(path)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut stack = vec![(path.to_string(), dir)];
        while let Some((p, d)) = stack.pop() {
            let (files, dirs) = super::compose::entries(&d)?;
            out.extend(files.into_iter().map(|f| format!("{p}/{f}")));
            for sub in dirs {
                if let Some((None, Some(s))) = lookup(&d, &sub)? {
                    stack.push((format!("{p}/{sub}"), s));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The files and directories not owned by uid and gid 0: how many, and
    /// the first by path with its owner; None when all are root's.
    pub fn not_root_owned(&self) -> Result<Option<NotRootOwned>> {
        let repo = &self.store.repo;
        let mut count = 0;
        let mut first: Option<(String, u32, u32)> = None;
        let mut seen = |path: String, uid: u32, gid: u32| {
            if uid != 0 || gid != 0 {
                count += 1;
                if first.as_ref().is_none_or(|(p, ..)| path < *p) {
                    first = Some((path, uid, gid));
                }
            }
        };
        let mut stack = vec![(String::new(), self.tree.clone())];
        while let Some((p, d)) = stack.pop() {
            let meta = d.metadata_checksum();
            if !meta.is_empty() {
                let v = repo.load_variant(ostree::ObjectType::DirMeta, &meta)?;
                let (uid, gid, _, _) = v
                    .get::<(u32, u32, u32, Vec<(Vec<u8>, Vec<u8>)>)>()
                    .ok_or_else(|| anyhow!("image {}: {p}/ has malformed metadata", self.name))?;
                seen(format!("{p}/"), u32::from_be(uid), u32::from_be(gid));
            }
            let (files, dirs) = super::compose::entries(&d)?;
            for f in files {
                if let Some((Some(checksum), _)) = lookup(&d, &f)? {
                    let (_, info, _) = repo
                        .load_file(&checksum, NONE)
                        .with_context(|| format!("reading {p}/{f} of image {}", self.name))?;
                    seen(
                        format!("{p}/{f}"),
                        info.attribute_uint32("unix::uid"),
                        info.attribute_uint32("unix::gid"),
                    );
                }
            }
            for sub in dirs {
                if let Some((None, Some(s))) = lookup(&d, &sub)? {
                    stack.push((format!("{p}/{sub}"), s));
                }
            }
        }
        Ok(first.map(|(path, uid, gid)| NotRootOwned {
            count,
            path: match path.trim_end_matches('/') {
                "" => "/".to_string(),
                p => p.to_string(),
            },
            uid,
            gid,
        }))
    }

    /// Whether the image has `path`, of any kind.
    pub fn has(&self, path: &str) -> Result<bool> {
        Ok(self.entry(path)?.is_some())
    }

    /// The regular file `path` (`exports/manifest.json`), at most `limit`
    /// bytes; None when the image has no such file.
    pub fn read(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        let Some((Some(checksum), _)) = self.entry(path)? else {
            return Ok(None);
        };
        let shown = || format!("/{path} of image {}", self.name);
        let (stream, info, _) = self
            .store
            .repo
            .load_file(&checksum, NONE)
            .with_context(|| format!("reading {}", shown()))?;
        if info.file_type() != gio::FileType::Regular {
            bail!("{} is not a regular file", shown());
        }
        if info.size() as u64 > limit {
            bail!("{} is larger than {limit} bytes", shown());
        }
        let stream = stream.ok_or_else(|| anyhow!("{} has no content", shown()))?;
        let mut data = Vec::with_capacity(info.size() as usize);
        stream
            .into_read()
            .take(limit + 1)
            .read_to_end(&mut data)
            .with_context(|| format!("reading {}", shown()))?;
        Ok(Some(data))
    }
}

/// The directory `path` (components separated by `/`) of `tree`; None when
/// a component is missing or not a directory.
fn walk(tree: &ostree::MutableTree, path: Option<&str>) -> Result<Option<ostree::MutableTree>> {
    let mut dir = tree.clone();
    for c in path
        .into_iter()
        .flat_map(|p| p.split('/'))
        .filter(|c| !c.is_empty())
    {
        dir = match lookup(&dir, c)? {
            Some((None, Some(sub))) => sub,
            _ => return Ok(None),
        };
    }
    Ok(Some(dir))
}

/// Whether the repository has nothing for `name`.
pub fn not_found(name: &str) -> anyhow::Error {
    anyhow!("image {name} is not in the repository; pull it first")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_that_cannot_be_looked_at_is_an_error_not_absent() {
        let t = tempfile::tempdir().unwrap();
        // A path that cannot be resolved (a link to itself): neither there
        // nor absent.
        let repo = t.path().join("repo");
        std::os::unix::fs::symlink(&repo, &repo).unwrap();
        let paths = HostPaths::new(Some(t.path()), Some(repo.clone()), None);
        let err = format!("{:#}", Store::open_existing(&paths).err().unwrap());
        assert!(
            err.starts_with(&format!("looking at {}/config", repo.display())),
            "{err}"
        );
        let err = format!("{:#}", Store::open_or_create(&paths).err().unwrap());
        assert!(
            err.starts_with(&format!("looking at {}/config", repo.display())),
            "{err}"
        );
    }

    #[test]
    fn tags_deletes_and_prunes_keep_what_is_used() {
        use crate::fixture::{Compression, Config, Image, Layer};
        use crate::image::pull::testing::{pull_image, user_paths};
        let t = tempfile::tempdir().unwrap();
        let paths = user_paths(t.path());
        let img = Image::new(
            vec![Layer::parse(
                "d exports\nf exports/manifest.json = {}\n",
                Compression::Gzip,
            )],
            Config::default(),
        );
        let stored = pull_image(&paths, t.path(), "app", &img, "1").unwrap();
        let store = Store::open_existing(&paths).unwrap().unwrap();
        assert!(store
            .files(&stored)
            .unwrap()
            .has("exports/manifest.json")
            .unwrap());
        assert_eq!(
            store
                .files(&stored)
                .unwrap()
                .read("exports/manifest.json", 100)
                .unwrap(),
            Some(b"{}".to_vec())
        );
        store.tag(&stored, "localhost/other:2").unwrap();
        let tagged = store.image("localhost/other:2").unwrap().unwrap();
        assert_eq!(tagged.id, stored.id);
        store.delete(&stored.name).unwrap();
        assert!(store.image(&stored.name).unwrap().is_none());
        let hex = stored.manifest.layers()[0]
            .digest()
            .to_string()
            .replace("sha256:", "");
        // The tag still uses the layer: pruning keeps it.
        let (removed, _) = store.prune(&store.images().unwrap()).unwrap();
        assert!(removed.is_empty(), "{removed:?}");
        assert!(store.blob_commit(&hex).unwrap().is_some());
        store.delete("localhost/other:2").unwrap();
        let (removed, freed) = store.prune(&[]).unwrap();
        assert!(!removed.is_empty());
        // A repository atomic did not create: its objects are its owner's.
        assert_eq!(freed, None);
        assert!(store.blob_commit(&hex).unwrap().is_none());
    }
}
