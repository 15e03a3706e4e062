//! Every host path the tool reads or writes, computed in one place from the
//! global `--root` option and the `ATOMIC_OSTREE_*` environment variables.

use super::fs::Rooted;
use super::user::UserDirs;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// Environment variable that overrides the OSTree repository path.
pub const ENV_REPO: &str = "ATOMIC_OSTREE_REPO";
/// Environment variable that overrides the checkout root.
pub const ENV_CHECKOUT: &str = "ATOMIC_OSTREE_CHECKOUT_PATH";

/// The host layout the tool works on: the running system (`/`) or a
/// relocated root given with `--root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    root: PathBuf,
    relocated: bool,
    repo_override: Option<PathBuf>,
    checkout_root: PathBuf,
    /// The repository, once chosen.
    repo: std::sync::OnceLock<PathBuf>,
    /// The calling user, for `--user`: their own containers.
    user: Option<UserDirs>,
}

impl HostPaths {
    /// The layout for `--root` (or `/` without it), honouring the
    /// `ATOMIC_OSTREE_REPO` and `ATOMIC_OSTREE_CHECKOUT_PATH` overrides.
    pub fn from_env(root: Option<&Path>) -> Self {
        let var = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self::new(root, var(ENV_REPO), var(ENV_CHECKOUT))
    }

    /// The layout for `root` with explicit overrides; overrides are used as
    /// given, whether or not the root is relocated.
    pub fn new(
        root: Option<&Path>,
        repo_override: Option<PathBuf>,
        checkout_override: Option<PathBuf>,
    ) -> Self {
        let relocated = root.is_some_and(|r| r != Path::new("/"));
        let root = root.map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
        let checkout_root =
            checkout_override.unwrap_or_else(|| under(&root, "var/lib/containers/atomic"));
        HostPaths {
            root,
            relocated,
            repo_override,
            checkout_root,
            repo: std::sync::OnceLock::new(),
            user: None,
        }
    }

    /// The layout of `user`'s own containers (`--user`): everything under
    /// their XDG directories, honouring the same overrides.
    pub fn for_user(user: UserDirs) -> Self {
        let var = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        HostPaths {
            root: PathBuf::from("/"),
            relocated: false,
            repo_override: Some(var(ENV_REPO).unwrap_or_else(|| user.repo())),
            checkout_root: var(ENV_CHECKOUT).unwrap_or_else(|| user.checkout_root()),
            repo: std::sync::OnceLock::new(),
            user: Some(user),
        }
    }

    /// The user whose own containers these are (`--user`), if any.
    pub fn user(&self) -> Option<&UserDirs> {
        self.user.as_ref()
    }

    /// True when `--root` points somewhere other than `/`: files go there and
    /// the service manager of the running system is left alone.
    pub fn is_relocated(&self) -> bool {
        self.relocated
    }

    /// The root every host path is under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where deployments (`NAME.0`, `NAME.1`, the `NAME` symlink) live.
    pub fn checkout_root(&self) -> &Path {
        &self.checkout_root
    }

    /// The lock file every mutating command holds.
    pub fn lock_file(&self) -> PathBuf {
        self.checkout_root.join(".lock")
    }

    /// The OSTree repository: the override, else the system's `/ostree/repo`
    /// when checkouts can really hard-link into it (tried: a file written
    /// into it and linked from the checkout root; on an image-based host
    /// `/var` is a mount of its own and `/sysroot` is read-only, whatever
    /// the device numbers say), else a private repo under the checkout root.
    /// Decided once per command.
    pub fn repo(&self) -> PathBuf {
        if let Some(repo) = &self.repo_override {
            return repo.clone();
        }
        self.repo
            .get_or_init(|| {
                let system = under(&self.root, "ostree/repo");
                match links_into(&system, &self.checkout_root) {
                    Ok(()) => system,
                    Err(e) => {
                        if system.join("config").exists() {
                            tracing::info!("not using {}: {e}", system.display());
                        }
                        self.private_repo()
                    }
                }
            })
            .clone()
    }

    /// The repository the tool keeps for itself under the checkout root.
    pub fn private_repo(&self) -> PathBuf {
        self.checkout_root.join(".storage/ostree")
    }

    /// The host path for an absolute path inside the host (a `hostfs/` file).
    pub fn host_file(&self, absolute: &Path) -> PathBuf {
        under(&self.root, absolute.strip_prefix("/").unwrap_or(absolute))
    }

    /// The host path for `absolute`, resolved the way the target system
    /// resolves it: under `--root`, the directories on its way are looked up
    /// inside the root, so the target's own symlinks (`/var/run -> /run`)
    /// never lead to the build host's files.
    pub fn resolve(&self, absolute: &Path) -> Result<PathBuf> {
        self.resolve_with(absolute, Rooted::resolve)
    }

    /// Like [`HostPaths::resolve`] for a directory: its last component is
    /// resolved too.
    pub fn resolve_dir(&self, absolute: &Path) -> Result<PathBuf> {
        self.resolve_with(absolute, Rooted::resolve_dir)
    }

    /// `how` inside the relocated root; the path as it is on the running
    /// system, whose own links are the system's.
    fn resolve_with(
        &self,
        absolute: &Path,
        how: impl FnOnce(&Rooted, &Path) -> Result<PathBuf>,
    ) -> Result<PathBuf> {
        if !self.relocated || !super::fs::exists(&self.root)? {
            return Ok(self.host_file(absolute));
        }
        how(&Rooted::open(&self.root)?, absolute)
    }

    /// How the target system will see `path` (under the root): the path
    /// with the root prefix removed.
    pub fn in_target(&self, path: &Path) -> PathBuf {
        match path.strip_prefix(&self.root) {
            Ok(rel) => Path::new("/").join(rel),
            Err(_) => path.to_path_buf(),
        }
    }

    /// True when the host is image-based (rpm-ostree).
    pub fn is_ostree_booted(&self) -> bool {
        under(&self.root, "run/ostree-booted").exists()
    }
}

fn under(root: &Path, relative: impl AsRef<Path>) -> PathBuf {
    root.join(relative)
}

/// Tries what checkouts from `repo` into `checkout_root` need: writing a
/// file into the repository and hard-linking it from the checkout root (or
/// its nearest existing parent). Both test files are removed.
fn links_into(repo: &Path, checkout_root: &Path) -> std::io::Result<()> {
    if !repo.join("config").is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no repository",
        ));
    }
    let probe = tempfile::Builder::new()
        .prefix(".atomic-probe-")
        .tempfile_in(repo.join("tmp"))?;
    std::io::Write::write_all(&mut probe.as_file(), b"probe")?;
    let dir = checkout_root
        .ancestors()
        .find(|p| p.is_dir())
        .unwrap_or(Path::new("/"));
    let link = dir.join(format!(".atomic-probe-{}", std::process::id()));
    std::fs::hard_link(probe.path(), &link)?;
    std::fs::remove_file(&link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_layout() {
        let p = HostPaths::new(None, None, None);
        assert!(!p.is_relocated());
        assert_eq!(p.checkout_root(), Path::new("/var/lib/containers/atomic"));
        assert_eq!(
            p.resolve(Path::new("/etc/systemd/system")).unwrap(),
            Path::new("/etc/systemd/system")
        );
        assert_eq!(p.lock_file(), Path::new("/var/lib/containers/atomic/.lock"));
        assert_eq!(
            p.host_file(Path::new("/etc/greeter.conf")),
            Path::new("/etc/greeter.conf")
        );
    }

    #[test]
    fn relocated_layout_keeps_everything_under_root() {
        let t = tempfile::tempdir().unwrap();
        let p = HostPaths::new(Some(t.path()), None, None);
        assert!(p.is_relocated());
        for path in [
            p.checkout_root().to_path_buf(),
            p.resolve(Path::new("/etc/systemd/system")).unwrap(),
            p.repo(),
            p.host_file(Path::new("/etc/x")),
        ] {
            assert!(
                path.starts_with(t.path()),
                "{} escapes the root",
                path.display()
            );
        }
        assert_eq!(
            p.repo(),
            t.path().join("var/lib/containers/atomic/.storage/ostree")
        );
    }

    #[test]
    fn the_system_repo_is_used_when_a_checkout_can_link_into_it() {
        let t = tempfile::tempdir().unwrap();
        let p = HostPaths::new(Some(t.path()), None, None);
        assert_eq!(p.repo(), p.private_repo(), "no system repository");
        let repo = t.path().join("ostree/repo");
        std::fs::create_dir_all(repo.join("tmp")).unwrap();
        let p = HostPaths::new(Some(t.path()), None, None);
        assert_eq!(
            p.repo(),
            p.private_repo(),
            "a directory without config is no repository"
        );
        std::fs::write(repo.join("config"), "[core]\n").unwrap();
        let p = HostPaths::new(Some(t.path()), None, None);
        assert_eq!(p.repo(), repo);
        let left: Vec<_> = std::fs::read_dir(repo.join("tmp")).unwrap().collect();
        assert!(left.is_empty(), "the probe is removed");
        assert!(!t
            .path()
            .join(format!(".atomic-probe-{}", std::process::id()))
            .exists());
    }

    #[test]
    fn overrides_apply_with_or_without_root() {
        let t = tempfile::tempdir().unwrap();
        let repo = PathBuf::from("/srv/repo");
        let co = PathBuf::from("/srv/checkouts");
        for root in [None, Some(t.path())] {
            let p = HostPaths::new(root, Some(repo.clone()), Some(co.clone()));
            assert_eq!(p.repo(), repo);
            assert_eq!(p.checkout_root(), co);
            assert_eq!(p.lock_file(), co.join(".lock"));
        }
    }
}
