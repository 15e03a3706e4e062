//! The calling user's own containers (`--user`): where their files go by
//! the XDG base directory conventions, the ids their user namespace maps
//! (their own id to 0, and their subordinate ids from `/etc/subuid` and
//! `/etc/subgid` when `newuidmap` can use them), whether their service
//! manager delegates a cgroup to them, and how to reach that manager.

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

/// A user's directories and ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDirs {
    pub uid: u32,
    pub gid: u32,
    /// The login name, for `/etc/subuid` and messages.
    pub login: String,
    pub home: PathBuf,
    /// `$XDG_DATA_HOME`, default `~/.local/share`.
    pub data: PathBuf,
    /// `$XDG_CONFIG_HOME`, default `~/.config`.
    pub config: PathBuf,
    /// `$XDG_RUNTIME_DIR`, default `/run/user/UID` when it is the user's.
    pub runtime: PathBuf,
}

/// An absolute path from the environment variable `name`; XDG says a
/// relative one is to be ignored.
fn env_dir(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

impl UserDirs {
    /// The calling user's directories, from the environment.
    pub fn from_env() -> Result<UserDirs> {
        // SAFETY: these calls cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let (login, passwd_home) = passwd_entry(uid)?;
        let home = env_dir("HOME").unwrap_or(passwd_home);
        let runtime = match env_dir("XDG_RUNTIME_DIR") {
            Some(r) => r,
            None => {
                let r = PathBuf::from(format!("/run/user/{uid}"));
                let owned = std::fs::metadata(&r)
                    .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == uid)
                    .unwrap_or(false);
                if !owned {
                    bail!(
                        "--user needs XDG_RUNTIME_DIR, the runtime directory of your login session \
                         (/run/user/{uid} does not exist or is not yours; `loginctl enable-linger {login}` makes one)"
                    );
                }
                r
            }
        };
        Ok(UserDirs {
            uid,
            gid,
            login,
            data: env_dir("XDG_DATA_HOME").unwrap_or_else(|| home.join(".local/share")),
            config: env_dir("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config")),
            runtime,
            home,
        })
    }

    /// Where deployments live: `$XDG_DATA_HOME/containers/atomic`.
    pub fn checkout_root(&self) -> PathBuf {
        self.data.join("containers/atomic")
    }

    /// The user's repository (mode `bare-user`).
    pub fn repo(&self) -> PathBuf {
        self.checkout_root().join("repo")
    }

    /// Where the user's units go: `$XDG_CONFIG_HOME/systemd/user`.
    pub fn unit_dir(&self) -> PathBuf {
        self.config.join("systemd/user")
    }

    /// The directories of the user manager's unit path, most important first.
    pub fn unit_path(&self) -> Vec<PathBuf> {
        let mut out = vec![
            self.config.join("systemd/user.control"),
            self.runtime.join("systemd/user.control"),
            self.runtime.join("systemd/transient"),
            self.unit_dir(),
            self.runtime.join("systemd/user"),
            self.data.join("systemd/user"),
        ];
        for d in [
            "/etc/systemd/user",
            "/usr/local/share/systemd/user",
            "/usr/share/systemd/user",
            "/usr/local/lib/systemd/user",
            "/usr/lib/systemd/user",
        ] {
            out.push(PathBuf::from(d));
        }
        out
    }

    /// Where the user's tmpfiles.d files go: `$XDG_DATA_HOME/user-tmpfiles.d`,
    /// which `systemd-tmpfiles --user` reads again when the user's manager
    /// starts (after a reboot, the directories under `$XDG_RUNTIME_DIR` are
    /// made again before the services start).
    pub fn tmpfiles_dir(&self) -> PathBuf {
        self.data.join("user-tmpfiles.d")
    }

    /// The runtime's state directory: `$XDG_RUNTIME_DIR/runc`.
    pub fn runtime_state(&self) -> PathBuf {
        self.runtime.join("runc")
    }

    /// The user's session bus: `$DBUS_SESSION_BUS_ADDRESS`, else
    /// `$XDG_RUNTIME_DIR/bus`.
    pub fn session_bus(&self) -> String {
        std::env::var("DBUS_SESSION_BUS_ADDRESS")
            .ok()
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| format!("unix:path={}", self.runtime.join("bus").display()))
    }

    /// Whether `path` is inside the user's home.
    pub fn owns(&self, path: &Path) -> bool {
        path.starts_with(&self.home) && path != self.home
    }
}

/// `$HOME/.config/REL` of the calling user when they are not root and it
/// exists: where the containers tools read a user's own policy.json and
/// registries.d (root's home is no place for host policy).
pub fn own_config(rel: &str) -> Option<PathBuf> {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".config").join(rel))
        .filter(|p| !root && p.exists())
}

/// The login name and home directory of `uid`, from the passwd database.
fn passwd_entry(uid: u32) -> Result<(String, PathBuf)> {
    let mut buf = vec![0u8; 16384];
    // SAFETY: an all-zero passwd is a valid out-parameter.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: buf outlives the pointers getpwuid_r stores in pw.
    let rc =
        unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        bail!("user id {uid} has no entry in the passwd database");
    }
    // SAFETY: getpwuid_r filled these with NUL-terminated strings in buf.
    let (name, dir) = unsafe {
        (
            std::ffi::CStr::from_ptr(pw.pw_name),
            std::ffi::CStr::from_ptr(pw.pw_dir),
        )
    };
    Ok((
        name.to_string_lossy().into_owned(),
        PathBuf::from(dir.to_string_lossy().into_owned()),
    ))
}

/// One line of an id map: `inside` maps to `outside`, for `size` ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub size: u32,
}

/// The ids a user namespace of this user maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMap {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

impl IdMap {
    /// The user's own ids as 0, then their subordinate ids from 1 when
    /// `/etc/subuid` and `/etc/subgid` grant some and `newuidmap` and
    /// `newgidmap` are there to set them up.
    pub fn of(user: &UserDirs) -> Result<IdMap> {
        let own = |id| IdRange {
            inside: 0,
            outside: id,
            size: 1,
        };
        let mut map = IdMap {
            uids: vec![own(user.uid)],
            gids: vec![own(user.gid)],
        };
        let helpers = ["newuidmap", "newgidmap"]
            .iter()
            .all(|p| super::fs::which(Path::new(p)).is_some());
        if helpers {
            let subuid = subordinate(Path::new("/etc/subuid"), &user.login, user.uid)?;
            let subgid = subordinate(Path::new("/etc/subgid"), &user.login, user.uid)?;
            if let (Some(u), Some(g)) = (subuid, subgid) {
                map.uids.push(u);
                map.gids.push(g);
            }
        }
        Ok(map)
    }

    /// Whether container uid `id` is mapped.
    pub fn maps_uid(&self, id: u32) -> bool {
        maps(&self.uids, id)
    }

    /// Whether container gid `id` is mapped.
    pub fn maps_gid(&self, id: u32) -> bool {
        maps(&self.gids, id)
    }
}

fn maps(ranges: &[IdRange], id: u32) -> bool {
    ranges
        .iter()
        .any(|r| id >= r.inside && id - r.inside < r.size)
}

/// The first range `/etc/subuid`-style `file` grants `login` (or `uid`),
/// mapped from container id 1.
fn subordinate(file: &Path, login: &str, uid: u32) -> Result<Option<IdRange>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        // Other users' lines are theirs to get right.
        if fields[0] != login && fields[0] != uid.to_string() {
            continue;
        }
        let [_, start, count] = fields[..] else {
            bail!("{}:{}: expected NAME:START:COUNT", file.display(), n + 1);
        };
        let parse = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| anyhow!("{}:{}: {s:?} is not a number", file.display(), n + 1))
        };
        let (start, count) = (parse(start)?, parse(count)?);
        if count == 0 {
            continue;
        }
        return Ok(Some(IdRange {
            inside: 1,
            outside: start,
            size: count,
        }));
    }
    Ok(None)
}

/// Whether the user's service manager delegates a cgroup to them, so that
/// the runtime can place a container in a scope of its own
/// (`--systemd-cgroup`) and set limits: the unified hierarchy, and the
/// manager's cgroup (`user.slice/user-UID.slice/user@UID.service`) owned
/// by the user, whatever session this command runs in.
pub fn manager_delegates(uid: u32) -> bool {
    if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return false;
    }
    let manager = format!("/sys/fs/cgroup/user.slice/user-{uid}.slice/user@{uid}.service");
    std::fs::metadata(manager)
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == uid)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(home: &str) -> UserDirs {
        UserDirs {
            uid: 1001,
            gid: 1002,
            login: "alice".into(),
            home: home.into(),
            data: format!("{home}/.local/share").into(),
            config: format!("{home}/.config").into(),
            runtime: "/run/user/1001".into(),
        }
    }

    #[test]
    fn xdg_layout() {
        let d = dirs("/home/alice");
        assert_eq!(
            d.checkout_root(),
            Path::new("/home/alice/.local/share/containers/atomic")
        );
        assert_eq!(
            d.repo(),
            Path::new("/home/alice/.local/share/containers/atomic/repo")
        );
        assert_eq!(d.unit_dir(), Path::new("/home/alice/.config/systemd/user"));
        assert_eq!(
            d.tmpfiles_dir(),
            Path::new("/home/alice/.local/share/user-tmpfiles.d")
        );
        assert_eq!(d.runtime_state(), Path::new("/run/user/1001/runc"));
        assert!(d.owns(Path::new("/home/alice/.config/greeter.conf")));
        assert!(!d.owns(Path::new("/home/alice")));
        assert!(!d.owns(Path::new("/home/alicex/f")));
        assert!(!d.owns(Path::new("/etc/greeter.conf")));
    }

    #[test]
    fn subordinate_ids_by_name_or_uid() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("subuid");
        std::fs::write(&f, "# c\nbob:100000:65536\nalice:165536:65536\n").unwrap();
        assert_eq!(
            subordinate(&f, "alice", 1001).unwrap(),
            Some(IdRange {
                inside: 1,
                outside: 165536,
                size: 65536
            })
        );
        std::fs::write(&f, "1001:200000:10\n").unwrap();
        assert_eq!(
            subordinate(&f, "alice", 1001).unwrap().unwrap().outside,
            200000
        );
        assert_eq!(subordinate(&f, "carol", 1003).unwrap(), None);
        assert_eq!(
            subordinate(&t.path().join("none"), "alice", 1).unwrap(),
            None
        );
        std::fs::write(&f, "alice:x:10\n").unwrap();
        let err = subordinate(&f, "alice", 1001).unwrap_err().to_string();
        assert!(err.ends_with("subuid:1: \"x\" is not a number"), "{err}");
    }

    #[test]
    fn which_ids_are_mapped() {
        let m = IdMap {
            uids: vec![
                IdRange {
                    inside: 0,
                    outside: 1001,
                    size: 1,
                },
                IdRange {
                    inside: 1,
                    outside: 100000,
                    size: 10,
                },
            ],
            gids: vec![IdRange {
                inside: 0,
                outside: 1002,
                size: 1,
            }],
        };
        assert!(m.maps_uid(0) && m.maps_uid(10) && !m.maps_uid(11));
        assert!(m.maps_gid(0) && !m.maps_gid(1));
    }
}
