//! Composes an image's layers into one tree, as the container engines'
//! overlay would: an upper layer's entries replace the lower ones, `.wh.NAME`
//! removes `NAME`, `.wh..wh..opq` hides everything below in its directory.
//! An entry of an upper layer whose path goes through a symlink of the tree
//! composed so far is refused, as is a whiteout that names nothing, so the
//! one checkout of the result writes nothing outside the image's own tree.
//! Only OSTree metadata is written: content objects are the layers' own.

use anyhow::{anyhow, bail, Context, Result};
use ostree::gio;
use ostree::glib;
use std::collections::HashMap;

const NONE: Option<&gio::Cancellable> = None;

/// The prefix of a whiteout's name.
const WHITEOUT: &str = ".wh.";
/// The name of an opaque directory's marker.
const OPAQUE: &str = ".wh..wh..opq";

/// One directory of a layer: its files and its subdirectories.
struct DirTree {
    /// Name and content checksum.
    files: Vec<(String, String)>,
    /// Name, tree checksum and metadata checksum.
    dirs: Vec<(String, String, String)>,
}

/// Composes layers, reading each layer directory once.
pub struct Composer<'r> {
    repo: &'r ostree::Repo,
    trees: HashMap<String, std::rc::Rc<DirTree>>,
    whiteouts: HashMap<String, bool>,
}

impl<'r> Composer<'r> {
    pub fn new(repo: &'r ostree::Repo) -> Composer<'r> {
        Composer {
            repo,
            trees: HashMap::new(),
            whiteouts: HashMap::new(),
        }
    }

    fn tree(&mut self, checksum: &str) -> Result<std::rc::Rc<DirTree>> {
        if let Some(t) = self.trees.get(checksum) {
            return Ok(t.clone());
        }
        let v = self
            .repo
            .load_variant(ostree::ObjectType::DirTree, checksum)
            .with_context(|| format!("loading directory {checksum}"))?;
        let files = v.child_value(0);
        let dirs = v.child_value(1);
        let name = |e: &glib::Variant| -> Result<String> {
            e.child_value(0)
                .str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("directory {checksum} has an entry without a name"))
        };
        let csum = |e: &glib::Variant, i| hex::encode(e.child_value(i).data());
        let mut t = DirTree {
            files: Vec::with_capacity(files.n_children()),
            dirs: Vec::with_capacity(dirs.n_children()),
        };
        for e in files.iter() {
            t.files.push((name(&e)?, csum(&e, 1)));
        }
        for e in dirs.iter() {
            t.dirs.push((name(&e)?, csum(&e, 1), csum(&e, 2)));
        }
        let t = std::rc::Rc::new(t);
        self.trees.insert(checksum.to_string(), t.clone());
        Ok(t)
    }

    /// Whether the layer directory `checksum` has a whiteout anywhere below.
    fn has_whiteouts(&mut self, checksum: &str) -> Result<bool> {
        if let Some(w) = self.whiteouts.get(checksum) {
            return Ok(*w);
        }
        let t = self.tree(checksum)?;
        let mut found = t.files.iter().any(|(n, _)| n.starts_with(WHITEOUT));
        for (_, sub, _) in &t.dirs {
            if found {
                break;
            }
            found = self.has_whiteouts(sub)?;
        }
        self.whiteouts.insert(checksum.to_string(), found);
        Ok(found)
    }

    /// The composed tree of `layers` (name for messages, commit), bottom first.
    pub fn compose(&mut self, layers: &[(String, String)]) -> Result<ostree::MutableTree> {
        let mut root = ostree::MutableTree::new();
        let mut meta = None;
        for (layer, commit) in layers {
            let (tree, m) = self.commit_root(commit)?;
            if self.tree(&tree)?.files.iter().any(|(n, _)| n == OPAQUE) {
                // An opaque root hides every lower layer.
                root = ostree::MutableTree::new();
            }
            self.merge(layer, &[], &tree, &root)
                .with_context(|| format!("composing layer {layer}"))?;
            meta = Some(m);
        }
        let meta = meta.ok_or_else(|| anyhow!("an image without layers has no tree"))?;
        root.set_metadata_checksum(&meta);
        Ok(root)
    }

    /// The root tree and metadata checksums of a commit.
    fn commit_root(&self, commit: &str) -> Result<(String, String)> {
        let v = self
            .repo
            .load_variant(ostree::ObjectType::Commit, commit)
            .with_context(|| format!("loading commit {commit}"))?;
        Ok((
            hex::encode(v.child_value(6).data()),
            hex::encode(v.child_value(7).data()),
        ))
    }

    /// Whether the content object `checksum` is a symlink.
    fn is_symlink(&self, checksum: &str) -> Result<bool> {
        let (_, info, _) = self
            .repo
            .load_file(checksum, NONE)
            .with_context(|| format!("loading file {checksum}"))?;
        Ok(info.file_type() == gio::FileType::SymbolicLink)
    }

    /// Applies the layer directory `tree` (at `path`) to `target`.
    fn merge(
        &mut self,
        layer: &str,
        path: &[&str],
        tree: &str,
        target: &ostree::MutableTree,
    ) -> Result<()> {
        let shown = |name: &str| {
            let mut p = path.join("/");
            if !p.is_empty() {
                p.push('/');
            }
            p + name
        };
        let t = self.tree(tree)?;
        for (name, checksum) in &t.files {
            if name == OPAQUE {
                continue;
            }
            if let Some(hidden) = name.strip_prefix(WHITEOUT) {
                if hidden.is_empty() || hidden == "." || hidden == ".." {
                    bail!("whiteout {} names no entry it could remove", shown(name));
                }
                target
                    .remove(hidden, true)
                    .with_context(|| format!("removing {}", shown(hidden)))?;
                continue;
            }
            if let Some((None, Some(_))) = lookup(target, name)? {
                target.remove(name, false)?;
            }
            target.replace_file(name, checksum)?;
        }
        for (name, sub_tree, sub_meta) in &t.dirs {
            let sub_path: Vec<&str> = path.iter().copied().chain([name.as_str()]).collect();
            let opaque = self.tree(sub_tree)?.files.iter().any(|(n, _)| n == OPAQUE);
            let existing = match lookup(target, name)? {
                Some((Some(file), _)) => {
                    if self.is_symlink(&file)? {
                        bail!(
                            "{} goes through {}, a symlink of a lower layer",
                            self.first_entry(&sub_path, sub_tree)?,
                            sub_path.join("/")
                        );
                    }
                    target.remove(name, false)?;
                    None
                }
                Some((None, Some(_))) if opaque => {
                    target.remove(name, false)?;
                    None
                }
                Some((None, Some(dir))) => Some(dir),
                _ => None,
            };
            match existing {
                Some(dir) => {
                    dir.set_metadata_checksum(sub_meta);
                    self.merge(layer, &sub_path, sub_tree, &dir)?;
                }
                None if !self.has_whiteouts(sub_tree)? => {
                    // Nothing below to merge with: the layer's own tree, as is.
                    let dir = target.ensure_dir(name)?;
                    if !dir.fill_empty_from_dirtree(self.repo, sub_tree, sub_meta) {
                        bail!(
                            "cannot use directory {} of layer {layer}",
                            sub_path.join("/")
                        );
                    }
                }
                None => {
                    let dir = target.ensure_dir(name)?;
                    dir.set_metadata_checksum(sub_meta);
                    self.merge(layer, &sub_path, sub_tree, &dir)?;
                }
            }
        }
        Ok(())
    }

    /// The path of an entry inside the layer directory at `path`, for
    /// messages: its first file or directory, or the directory itself.
    fn first_entry(&mut self, path: &[&str], tree: &str) -> Result<String> {
        let t = self.tree(tree)?;
        let first = t
            .files
            .first()
            .map(|(n, _)| n.clone())
            .or_else(|| t.dirs.first().map(|(n, _, _)| n.clone()));
        Ok(match first {
            Some(n) => format!("{}/{n}", path.join("/")),
            None => path.join("/"),
        })
    }
}

/// The names of the files and of the subdirectories of `dir`.
pub fn entries(dir: &ostree::MutableTree) -> Result<(Vec<String>, Vec<String>)> {
    use glib::translate::ToGlibPtr;
    /// The keys (names) of a table libostree owns.
    ///
    /// SAFETY: `table` is a live GHashTable with C string keys.
    unsafe fn keys(table: *mut glib::ffi::GHashTable) -> Vec<String> {
        let list = glib::ffi::g_hash_table_get_keys(table);
        let mut out = Vec::new();
        let mut l = list;
        while !l.is_null() {
            let key = (*l).data as *const std::ffi::c_char;
            out.push(std::ffi::CStr::from_ptr(key).to_string_lossy().into_owned());
            l = (*l).next;
        }
        glib::ffi::g_list_free(list);
        out
    }
    let ptr: *mut ostree::ffi::OstreeMutableTree = dir.to_glib_none().0;
    // SAFETY: `dir` keeps the tree alive; libostree owns the tables and
    // their keys, which are only copied here.
    let (mut files, mut dirs) = unsafe {
        (
            keys(ostree::ffi::ostree_mutable_tree_get_files(ptr)),
            keys(ostree::ffi::ostree_mutable_tree_get_subdirs(ptr)),
        )
    };
    // Reading a lazily loaded directory may have failed.
    dir.check_error()
        .context("reading a directory of the image")?;
    files.sort();
    dirs.sort();
    Ok((files, dirs))
}

/// The entry `name` of `dir`: a file's checksum or a subdirectory; None
/// when there is none.
pub fn lookup(
    dir: &ostree::MutableTree,
    name: &str,
) -> Result<Option<(Option<glib::GString>, Option<ostree::MutableTree>)>> {
    match dir.lookup(name) {
        Ok(found) => Ok(Some(found)),
        Err(e) if e.matches(gio::IOErrorEnum::NotFound) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("looking up {name}")),
    }
}

#[cfg(test)]
mod tests {
    use crate::fixture::{Compression, Config, Image, Layer};
    use crate::image::pull::testing::{pull_image, user_paths};
    use crate::image::store::Store;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn layers_compose_with_whiteouts_opaque_directories_and_links() {
        let t = tempfile::tempdir().unwrap();
        let paths = user_paths(t.path());
        let img = Image::new(
            vec![
                Layer::parse(
                    "d etc\nf etc/a = a\nf etc/b = b\nl etc/link a\n\
                     d var\nd var/lib\nf var/lib/old = old\nd var/lib/keep\n",
                    Compression::Gzip,
                ),
                Layer::parse(
                    "d etc\nf etc/a = a2\nh etc/hard etc/a\nw etc/b\n\
                     d var\no var/lib\nf var/lib/new = new\n",
                    Compression::None,
                ),
            ],
            Config::default(),
        );
        let stored = pull_image(&paths, t.path(), "layers", &img, "1").unwrap();
        let store = Store::open_existing(&paths).unwrap().unwrap();
        let rootfs = t.path().join("checkout/rootfs");
        store.checkout(&stored, &rootfs).unwrap();
        let read = |p: &str| std::fs::read_to_string(rootfs.join(p)).unwrap();
        assert_eq!(read("etc/a"), "a2", "the upper layer's file");
        assert_eq!(read("etc/hard"), "a2");
        let ino = |p: &str| std::fs::metadata(rootfs.join(p)).unwrap().ino();
        assert_eq!(ino("etc/a"), ino("etc/hard"), "a hard link stays one");
        assert!(!rootfs.join("etc/b").exists(), "whited out");
        assert_eq!(
            std::fs::read_link(rootfs.join("etc/link")).unwrap(),
            std::path::Path::new("a")
        );
        let lib: Vec<_> = std::fs::read_dir(rootfs.join("var/lib"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(lib, ["new"], "an opaque directory hides the lower one");
        assert!(!rootfs.join(".wh.b").exists() && !rootfs.join("etc/.wh.b").exists());
    }

    #[test]
    fn a_layer_that_climbs_out_is_refused_and_nothing_is_stored() {
        let t = tempfile::tempdir().unwrap();
        let paths = user_paths(t.path());
        let img = Image::new(
            vec![Layer::parse("d etc\nf ../escape = x\n", Compression::Gzip)],
            Config::default(),
        );
        let err = pull_image(&paths, t.path(), "climb", &img, "1").unwrap_err();
        assert!(format!("{err:#}").contains("../escape"), "{err:#}");
        assert!(!t.path().join("escape").exists());
        let store = Store::open_existing(&paths).unwrap().unwrap();
        assert!(store.images().unwrap().is_empty());
    }
}
