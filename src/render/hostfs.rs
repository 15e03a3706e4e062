//! The host files of an image's `/exports/hostfs`: where each goes on the
//! host (after `renameFiles`), and what it is (rendered from its template,
//! copied, linked).

use super::exports::{Manifest, TEMPLATE_LIMIT};
use super::template::{self, FileKind};
use crate::host::fs::Rooted;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A file or directory to place on the host.
#[derive(Debug, Clone)]
pub struct HostFile {
    /// Absolute path on the target system.
    pub path: PathBuf,
    /// The image's own path, before renames (`/etc/x`).
    pub image_path: String,
    pub mode: u32,
    pub kind: HostKind,
}

#[derive(Debug, Clone)]
pub enum HostKind {
    Dir,
    File(Vec<u8>),
    /// Hard link to this file of the deployment (`useLinks`).
    Link(PathBuf),
    Symlink(PathBuf),
}

/// The largest host file of `/exports/hostfs` read whole.
pub const HOST_FILE_LIMIT: u64 = 256 << 20;

/// Applies `renameFiles` to the host file `rel` (relative to `hostfs`).
/// As in the original tool, each leading sub-path (`/etc`, `/etc/etcd`,
/// `/etc/etcd/etcd.conf`) that is a key is replaced by its value, an
/// absolute templated path, so directories can be renamed too. A key that
/// is a bare name renames that component wherever it appears. Every result
/// stays inside the host root.
fn rename(rel: &Path, manifest: &Manifest, values: &BTreeMap<String, String>) -> Result<PathBuf> {
    let render = |to: &str| {
        template::render(
            to,
            values,
            FileKind::Lines,
            "renameFiles of /exports/manifest.json",
        )
    };
    let mut out = PathBuf::from("/");
    let mut original = PathBuf::from("/");
    for c in rel.components() {
        let c = c.as_os_str().to_string_lossy();
        original.push(c.as_ref());
        let key = original.display().to_string();
        if let Some(to) = manifest.rename_files.get(&key) {
            let to = render(to)?;
            let dest = Path::new(&to);
            let inside = dest.is_absolute()
                && dest.components().all(|c| {
                    matches!(
                        c,
                        std::path::Component::RootDir | std::path::Component::Normal(_)
                    )
                });
            if !inside {
                bail!("renameFiles maps {key} to {to:?}, which is not an absolute path inside the host root");
            }
            out = dest.to_path_buf();
        } else if let Some(to) = manifest.rename_files.get(c.as_ref()) {
            let to = render(to)?;
            if to.is_empty() || to == "." || to == ".." || to.contains('/') {
                bail!(
                    "renameFiles maps {c} to {to:?}, which leaves the host root or its directory"
                );
            }
            out.push(to);
        } else {
            out.push(c.as_ref());
        }
    }
    Ok(out)
}

/// The host files of the image's `/exports/hostfs`, renamed and rendered;
/// read through the handle on its rootfs, so no link leads out of it.
pub fn host_files(
    rootfs: &Rooted,
    manifest: &Manifest,
    values: &BTreeMap<String, String>,
) -> Result<Vec<HostFile>> {
    let mut out = Vec::new();
    let Some(hostfs) = rootfs.open_dir(Path::new("exports/hostfs"))? else {
        return Ok(out);
    };
    let mut stack = vec![(hostfs, PathBuf::new())];
    while let Some((dir, rel_dir)) = stack.pop() {
        for (name, meta) in dir.entries()? {
            let rel = rel_dir.join(&name);
            let image_path = format!("/{}", rel.display());
            let path = rename(&rel, manifest, values)?;
            let mode = meta.permissions().mode() & 0o7777;
            let kind = if meta.is_dir() {
                let sub = dir.open_dir(Path::new(&name))?.ok_or_else(|| {
                    anyhow!("/exports/hostfs{image_path} vanished while reading it")
                })?;
                stack.push((sub, rel.clone()));
                HostKind::Dir
            } else if meta.file_type().is_symlink() {
                HostKind::Symlink(dir.read_link(&name)?)
            } else if !meta.is_file() {
                bail!("/exports/hostfs{image_path} is not a file, directory or symlink");
            } else if manifest.installed_files_template.contains(&image_path) {
                let text = dir
                    .read_string(Path::new(&name), TEMPLATE_LIMIT)?
                    .ok_or_else(|| anyhow!("/exports/hostfs{image_path} vanished while reading it"))
                    .with_context(|| format!("reading template {image_path}"))?;
                let file = format!("/exports/hostfs{image_path}");
                HostKind::File(template::render(&text, values, FileKind::Text, &file)?.into_bytes())
            } else if manifest.use_links {
                HostKind::Link(dir.real_path(&name)?)
            } else {
                HostKind::File(
                    dir.read(Path::new(&name), HOST_FILE_LIMIT)?
                        .ok_or_else(|| {
                            anyhow!("/exports/hostfs{image_path} vanished while reading it")
                        })?,
                )
            };
            out.push(HostFile {
                path,
                image_path,
                mode,
                kind,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_of_leading_sub_paths_as_the_catalog_writes_them() {
        let m = Manifest {
            rename_files: [
                (
                    "/etc/etcd/etcd.conf".to_string(),
                    "$CONF_DIRECTORY/$NAME/etcd.conf".to_string(),
                ),
                (
                    "/usr/local/bin/etcdctl".to_string(),
                    "/usr/local/bin/${NAME}ctl".to_string(),
                ),
                ("/srv/data".to_string(), "/srv/$NAME".to_string()),
                ("/bad".to_string(), "/etc/../../x".to_string()),
                ("/rel".to_string(), "x".to_string()),
            ]
            .into(),
            ..Manifest::default()
        };
        let v: BTreeMap<String, String> = [
            ("NAME".to_string(), "etcd2".to_string()),
            ("CONF_DIRECTORY".to_string(), "/etc".to_string()),
        ]
        .into();
        let r = |p: &str| rename(Path::new(p), &m, &v);
        assert_eq!(
            r("etc/etcd/etcd.conf").unwrap(),
            Path::new("/etc/etcd2/etcd.conf")
        );
        assert_eq!(
            r("etc/etcd").unwrap(),
            Path::new("/etc/etcd"),
            "only the keyed path"
        );
        assert_eq!(
            r("usr/local/bin/etcdctl").unwrap(),
            Path::new("/usr/local/bin/etcd2ctl")
        );
        // A directory renamed: what is below it follows.
        assert_eq!(r("srv/data").unwrap(), Path::new("/srv/etcd2"));
        assert_eq!(r("srv/data/db/1").unwrap(), Path::new("/srv/etcd2/db/1"));
        for bad in ["bad", "rel/x"] {
            let err = r(bad).unwrap_err().to_string();
            assert!(
                err.contains("not an absolute path inside the host root"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn renames_apply_per_component_and_stay_inside() {
        let m = Manifest {
            rename_files: [
                ("inst.conf".to_string(), "inst-$NAME.conf".to_string()),
                ("bad".to_string(), "../../x".to_string()),
            ]
            .into(),
            ..Manifest::default()
        };
        let v: BTreeMap<String, String> = [("NAME".to_string(), "g".to_string())].into();
        assert_eq!(
            rename(Path::new("etc/inst.conf"), &m, &v).unwrap(),
            Path::new("/etc/inst-g.conf")
        );
        assert!(rename(Path::new("etc/bad"), &m, &v)
            .unwrap_err()
            .to_string()
            .contains("leaves the host root"));
    }
}
