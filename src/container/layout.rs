//! Every name the tool gives a file, in one place. Under the checkout root:
//! `NAME` (the link to the active slot), `NAME.0` and `NAME.1` (the slots),
//! `.NAME.N.new` (a slot being prepared), `.NAME.journal` and
//! `.NAME.backup` (an operation's undo record and the files it set aside),
//! `.NAME.rpm-*` and `.NAME-run-*` (scratch). In a slot: `rootfs`,
//! `config.json`, `info`, `NAME.service`, `tmpfiles-NAME.conf`, `hostfs/`.
//! On the host: the unit and tmpfiles file a plain install writes, and the
//! unit a package ships.

use super::{Name, Slot};
use crate::host::fs::Rooted;
use crate::host::paths::HostPaths;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The directories of systemd's system unit path besides
/// `/etc/systemd/system` and `/usr/lib/systemd/system`.
const UNIT_PATH: &[&str] = &[
    "/run/systemd/system",
    "/run/systemd/transient",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
];

/// The layout of one host (or `--root` target).
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    unit_dir: PathBuf,
    tmpfiles_dir: PathBuf,
    packaged_unit_dir: PathBuf,
    /// Every directory of the service manager's unit path.
    unit_path: Vec<PathBuf>,
}

impl Layout {
    /// The layout of `paths`; under `--root` the host directories are
    /// resolved inside the root, as the target system sees them. A user's
    /// own containers (`--user`) have their units in
    /// `$XDG_CONFIG_HOME/systemd/user` and their tmpfiles.d files in
    /// `$XDG_DATA_HOME/containers/tmpfiles`.
    pub fn new(paths: &HostPaths) -> Result<Layout> {
        let root = paths.checkout_root().to_path_buf();
        if let Some(user) = paths.user() {
            return Ok(Layout {
                root,
                unit_dir: user.unit_dir(),
                tmpfiles_dir: user.tmpfiles_dir(),
                packaged_unit_dir: PathBuf::from("/usr/lib/systemd/user"),
                unit_path: user.unit_path(),
            });
        }
        let unit_dir = paths.resolve_dir(Path::new("/etc/systemd/system"))?;
        let packaged_unit_dir = paths.resolve_dir(Path::new("/usr/lib/systemd/system"))?;
        let mut unit_path = vec![unit_dir.clone()];
        for d in UNIT_PATH {
            unit_path.push(paths.resolve_dir(Path::new(d))?);
        }
        unit_path.push(packaged_unit_dir.clone());
        Ok(Layout {
            root,
            unit_dir,
            tmpfiles_dir: paths.resolve_dir(Path::new("/etc/tmpfiles.d"))?,
            packaged_unit_dir,
            unit_path,
        })
    }

    /// The checkout root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `NAME`: the symlink to the active slot.
    pub fn link(&self, name: &Name) -> PathBuf {
        self.root.join(name.as_str())
    }

    /// What the `NAME` link holds for `slot`: the slot's directory name.
    pub fn link_target(name: &Name, slot: Slot) -> PathBuf {
        PathBuf::from(format!("{name}.{}", slot.suffix()))
    }

    /// `NAME.N`.
    pub fn slot(&self, name: &Name, slot: Slot) -> PathBuf {
        self.root.join(Self::link_target(name, slot))
    }

    /// `.NAME.N.new`: where slot `N` is prepared before it replaces the old one.
    pub fn staging(&self, name: &Name, slot: Slot) -> PathBuf {
        self.root.join(format!(".{name}.{}.new", slot.suffix()))
    }

    /// `.NAME.journal`.
    pub fn journal(&self, name: &Name) -> PathBuf {
        self.root.join(format!(".{name}.journal"))
    }

    /// `.NAME.backup`: files an operation moved aside, until it commits.
    pub fn backups(&self, name: &Name) -> PathBuf {
        self.root.join(format!(".{name}.backup"))
    }

    /// A new scratch directory for building the package of `name`, removed
    /// when dropped.
    pub fn package_scratch(&self, name: &Name) -> Result<tempfile::TempDir> {
        self.scratch(&format!(".{name}.rpm-"))
    }

    /// A new scratch bundle for `run NAME CMD` of a stopped container.
    pub fn run_scratch(&self, name: &Name) -> Result<tempfile::TempDir> {
        self.scratch(&format!(".{name}-run-"))
    }

    fn scratch(&self, prefix: &str) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&self.root)
            .with_context(|| format!("creating a scratch directory in {}", self.root.display()))
    }

    /// The lock file every mutating command holds.
    pub fn lock(&self) -> PathBuf {
        self.root.join(".lock")
    }

    /// The slot the `NAME` link points at; None when there is no link.
    pub fn active(&self, name: &Name) -> Result<Option<Slot>> {
        let link = self.link(name);
        let Some(target) = crate::host::fs::read_link(&link)? else {
            return Ok(None);
        };
        // The original tool wrote absolute targets; the slot is the last component.
        let slot = target
            .file_name()
            .and_then(|t| t.to_str())
            .and_then(|t| t.strip_prefix(name.as_str()))
            .and_then(|t| t.strip_prefix('.'))
            .and_then(Slot::from_suffix);
        match slot {
            Some(s) => Ok(Some(s)),
            None => bail!(
                "{} points to {}, which is not a slot",
                link.display(),
                target.display()
            ),
        }
    }

    /// The installed containers: the symlinks of the checkout root, sorted.
    pub fn names(&self) -> Result<Vec<Name>> {
        let root = match Rooted::open(&self.root) {
            Ok(r) => r,
            Err(_) if !crate::host::fs::exists(&self.root)? => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for (entry, meta) in root.entries()? {
            if entry.starts_with('.') || !meta.file_type().is_symlink() {
                continue;
            }
            match Name::new(&entry) {
                Ok(n) => out.push(n),
                Err(e) => tracing::warn!(
                    "{}: {e:#}; not a container",
                    self.root.join(&entry).display()
                ),
            }
        }
        Ok(out)
    }

    /// Where systemd would find a unit file named `unit`: every directory
    /// of its unit path.
    pub fn unit_paths(&self, unit: &str) -> Result<Vec<PathBuf>> {
        Ok(self.unit_path.iter().map(|d| d.join(unit)).collect())
    }

    /// The unit a plain install writes: `/etc/systemd/system/NAME.service`.
    pub fn unit_file(&self, name: &Name) -> PathBuf {
        self.unit_dir.join(name.unit())
    }

    /// The socket unit a plain install writes: `/etc/systemd/system/NAME.socket`.
    pub fn socket_file(&self, name: &Name) -> PathBuf {
        self.unit_dir.join(name.socket())
    }

    /// The unit a package ships: `/usr/lib/systemd/system/NAME.service`.
    pub fn packaged_unit(&self, name: &Name) -> PathBuf {
        self.packaged_unit_dir.join(name.unit())
    }

    /// The socket unit a package ships: `/usr/lib/systemd/system/NAME.socket`.
    pub fn packaged_socket(&self, name: &Name) -> PathBuf {
        self.packaged_unit_dir.join(name.socket())
    }

    /// The tmpfiles.d file a plain install writes: `/etc/tmpfiles.d/NAME.conf`.
    pub fn tmpfiles_file(&self, name: &Name) -> PathBuf {
        self.tmpfiles_dir.join(format!("{name}.conf"))
    }
}

/// The files of one slot directory.
pub struct SlotDir<'a>(pub &'a Path);

impl SlotDir<'_> {
    pub fn rootfs(&self) -> PathBuf {
        self.0.join("rootfs")
    }
    pub fn config(&self) -> PathBuf {
        self.0.join("config.json")
    }
    pub fn info(&self) -> PathBuf {
        self.0.join("info")
    }
    /// The rendered unit, kept in the slot.
    pub fn unit(&self, name: &Name) -> PathBuf {
        self.0.join(name.unit())
    }
    /// The rendered socket unit, kept in the slot.
    pub fn socket(&self, name: &Name) -> PathBuf {
        self.0.join(name.socket())
    }
    /// The rendered tmpfiles.d file, kept in the slot.
    pub fn tmpfiles(&self, name: &Name) -> PathBuf {
        self.0.join(format!("tmpfiles-{name}.conf"))
    }
    /// The slot's own copy of `useLinks` host file `path`.
    pub fn hostfs(&self, path: &Path) -> PathBuf {
        self.0
            .join("hostfs")
            .join(path.strip_prefix("/").unwrap_or(path))
    }
    /// The package file the slot keeps (RPM mode).
    pub fn package(&self) -> Result<PathBuf> {
        let entries =
            std::fs::read_dir(self.0).with_context(|| format!("reading {}", self.0.display()))?;
        for e in entries {
            let p = e
                .with_context(|| format!("reading {}", self.0.display()))?
                .path();
            if p.extension().is_some_and(|e| e == "rpm") {
                return Ok(p);
            }
        }
        bail!("{} keeps no package", self.0.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(root: &Path) -> Layout {
        Layout::new(&HostPaths::new(Some(root), None, None)).unwrap()
    }

    #[test]
    fn every_name_of_a_container() {
        let l = layout(Path::new("/r"));
        let n = Name::new("g").unwrap();
        let co = Path::new("/r/var/lib/containers/atomic");
        assert_eq!(l.root(), co);
        assert_eq!(l.link(&n), co.join("g"));
        assert_eq!(l.slot(&n, Slot::Zero), co.join("g.0"));
        assert_eq!(l.slot(&n, Slot::One), co.join("g.1"));
        assert_eq!(Layout::link_target(&n, Slot::One), Path::new("g.1"));
        assert_eq!(l.staging(&n, Slot::One), co.join(".g.1.new"));
        assert_eq!(l.journal(&n), co.join(".g.journal"));
        assert_eq!(l.backups(&n), co.join(".g.backup"));
        assert_eq!(l.lock(), co.join(".lock"));
        assert_eq!(
            l.unit_file(&n),
            Path::new("/r/etc/systemd/system/g.service")
        );
        assert_eq!(
            l.packaged_unit(&n),
            Path::new("/r/usr/lib/systemd/system/g.service")
        );
        assert_eq!(l.tmpfiles_file(&n), Path::new("/r/etc/tmpfiles.d/g.conf"));
        let s = SlotDir(Path::new("/s"));
        assert_eq!(s.unit(&n), Path::new("/s/g.service"));
        assert_eq!(s.tmpfiles(&n), Path::new("/s/tmpfiles-g.conf"));
        assert_eq!(
            s.hostfs(Path::new("/etc/x.conf")),
            Path::new("/s/hostfs/etc/x.conf")
        );
    }

    #[test]
    fn names_are_the_links_and_active_reads_them() {
        let t = tempfile::tempdir().unwrap();
        let l = layout(t.path());
        assert!(l.names().unwrap().is_empty(), "no checkout root yet");
        std::fs::create_dir_all(l.root().join("b.1")).unwrap();
        std::fs::create_dir_all(l.root().join(".storage")).unwrap();
        std::os::unix::fs::symlink("b.1", l.root().join("b")).unwrap();
        std::os::unix::fs::symlink("a.0", l.root().join("a")).unwrap();
        std::os::unix::fs::symlink("elsewhere", l.root().join("c")).unwrap();
        std::os::unix::fs::symlink(l.root().join("d.1"), l.root().join("d")).unwrap();
        std::os::unix::fs::symlink("x", l.root().join(".hidden")).unwrap();
        let names: Vec<String> = l.names().unwrap().iter().map(Name::to_string).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        let n = |s| Name::new(s).unwrap();
        assert_eq!(
            l.active(&n("d")).unwrap(),
            Some(Slot::One),
            "an absolute target"
        );
        assert_eq!(l.active(&n("b")).unwrap(), Some(Slot::One));
        assert_eq!(
            l.active(&n("a")).unwrap(),
            Some(Slot::Zero),
            "dangling is still a slot"
        );
        assert_eq!(l.active(&n("z")).unwrap(), None);
        let err = l.active(&n("c")).unwrap_err().to_string();
        assert!(
            err.ends_with("points to elsewhere, which is not a slot"),
            "{err}"
        );
    }
}
