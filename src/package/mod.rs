//! RPM mode: the deployment a plain install renders (bundle, unit, tmpfiles,
//! host files) written instead into a generated package that rpm-ostree,
//! dnf or rpm install and track, built in-process with the `rpm` crate.

pub mod lifecycle;
mod rpmfile;
pub mod rules;

use crate::bundle::{self, Fixed, HostKind};
use crate::command;
use crate::paths::HostPaths;
use crate::store::{Store, StoredImage};
use anyhow::{anyhow, bail, Context, Result};
use rules::Placement;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a package puts the bundle of container `name`.
pub fn bundle_dir(name: &str) -> PathBuf {
    Path::new("/usr/lib/containers/atomic").join(name)
}

/// The package's identity and metadata, from the image labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub version: String,
    pub release: String,
    pub summary: String,
    pub license: String,
    pub url: Option<String>,
    pub description: String,
    pub requires: Vec<String>,
    pub conflicts: Vec<String>,
    pub provides: Vec<String>,
}

impl Identity {
    /// `atomic-container-NAME-V-R.noarch.rpm`.
    pub fn file_name(&self) -> String {
        format!("{}-{}-{}.noarch.rpm", self.name, self.version, self.release)
    }
}

/// Splits a dependency label (`a, b >= 1.0`) into checked entries.
fn deps(labels: &BTreeMap<String, String>, key: &str) -> Result<Vec<String>> {
    let Some(v) = labels.get(key) else {
        return Ok(Vec::new());
    };
    v.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            parse_dep(d)
                .map(|_| d.to_string())
                .with_context(|| format!("label {key}: invalid dependency {d:?}"))
        })
        .collect()
}

/// A dependency as the `rpm` crate takes it.
pub fn parse_dep(d: &str) -> Result<rpm::Dependency> {
    let words: Vec<&str> = d.split_whitespace().collect();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+-()/:".contains(c))
            && !n.starts_with(['-', '.'])
    };
    let version_ok = |v: &str| {
        !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+~:-^".contains(c))
    };
    match words.as_slice() {
        [n] if name_ok(n) => Ok(rpm::Dependency::any(*n)),
        [n, op, v] if name_ok(n) && version_ok(v) => Ok(match *op {
            "=" | "==" => rpm::Dependency::eq(*n, *v),
            ">=" => rpm::Dependency::greater_eq(*n, *v),
            ">" => rpm::Dependency::greater(*n, *v),
            "<=" => rpm::Dependency::less_eq(*n, *v),
            "<" => rpm::Dependency::less(*n, *v),
            other => bail!("unknown operator {other}"),
        }),
        _ => bail!("expected NAME or NAME OP VERSION"),
    }
}

/// The identity of the package of `name` from `img`, release `serial`.
pub fn identity(img: &StoredImage, name: &str, serial: u32) -> Result<Identity> {
    let labels = img.labels();
    let label = |k: &str| labels.get(k).filter(|v| !v.trim().is_empty()).cloned();
    let version = label("atomic.version")
        .or_else(|| label("org.opencontainers.image.version"))
        .unwrap_or_else(|| "1".into());
    if !version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._+~^".contains(c))
    {
        bail!("label atomic.version: {version:?} is not a valid RPM version");
    }
    let summary = label("atomic.summary").unwrap_or_else(|| format!("System container {name}"));
    let mut provides = deps(&labels, "atomic.provides")?;
    provides.push(format!("atomic-container({name})"));
    Ok(Identity {
        name: format!("atomic-container-{name}"),
        version,
        release: format!("{serial}.{}", &img.id[..12]),
        description: label("atomic.description").unwrap_or_else(|| summary.clone()),
        summary,
        license: label("atomic.license").unwrap_or_else(|| "Unknown".into()),
        url: label("atomic.url"),
        requires: deps(&labels, "atomic.requires")?,
        conflicts: deps(&labels, "atomic.conflicts")?,
        provides,
    })
}

/// The scriptlets of the package: reload and tmpfiles on install (what
/// rpm-ostree runs), stop+disable on erase and try-restart on upgrade (what
/// classic hosts run).
pub fn scriptlets(name: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "post",
            format!(
                "systemctl daemon-reload >/dev/null 2>&1 || :\n\
                 systemctl preset {name}.service >/dev/null 2>&1 || :\n\
                 systemd-tmpfiles --create /usr/lib/tmpfiles.d/{name}.conf >/dev/null 2>&1 || :\n"
            ),
        ),
        (
            "preun",
            format!(
                "if [ $1 -eq 0 ]; then\n\
                 systemctl --no-reload disable --now {name}.service >/dev/null 2>&1 || :\n\
                 fi\n"
            ),
        ),
        (
            "postun",
            format!(
                "systemctl daemon-reload >/dev/null 2>&1 || :\n\
                 if [ $1 -ge 1 ]; then\n\
                 systemctl try-restart {name}.service >/dev/null 2>&1 || :\n\
                 fi\n"
            ),
        ),
    ]
}

/// User and group names of an image's owners, from its /etc/passwd and
/// /etc/group (rpm payloads carry names, not ids).
struct Owners {
    users: BTreeMap<u32, String>,
    groups: BTreeMap<u32, String>,
}

impl Owners {
    fn read(rootfs: &Path) -> Owners {
        let table = |file: &str| -> BTreeMap<u32, String> {
            std::fs::read_to_string(rootfs.join(file))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    Some((f.get(2)?.parse().ok()?, f[0].to_string()))
                })
                .collect()
        };
        Owners {
            users: table("etc/passwd"),
            groups: table("etc/group"),
        }
    }
    fn user(&self, uid: u32) -> String {
        self.users.get(&uid).cloned().unwrap_or_else(|| {
            if uid == 0 {
                "root".into()
            } else {
                uid.to_string()
            }
        })
    }
    fn group(&self, gid: u32) -> String {
        self.groups.get(&gid).cloned().unwrap_or_else(|| {
            if gid == 0 {
                "root".into()
            } else {
                gid.to_string()
            }
        })
    }
}

/// What to package: the container's name, the release serial, the
/// `--set` values and the runtime its unit runs.
pub struct Request<'a> {
    pub name: &'a str,
    pub serial: u32,
    /// Values kept from the deployment being updated (none on install).
    pub stored: &'a BTreeMap<String, String>,
    pub set: &'a [(String, String)],
    pub runtime: &'a str,
}

/// The zstd level of the package payload: as fast as rpmbuild's default
/// and as small as its gzip -6 (zstd is what Fedora builds its packages with).
const ZSTD_LEVEL: i32 = 3;

/// Where a payload file's bytes come from.
enum Content {
    /// A file on disk, with its modification time and its (device, inode):
    /// the image's paths that share an inode become one hard-link set.
    Path {
        path: PathBuf,
        mtime: u32,
        inode: (u64, u64),
    },
    Bytes(Vec<u8>),
}

impl Content {
    fn path(path: &Path, meta: &std::fs::Metadata) -> Content {
        Content::Path {
            path: path.to_path_buf(),
            mtime: u32::try_from(meta.mtime()).unwrap_or(0),
            inode: (meta.dev(), meta.ino()),
        }
    }
}

enum Kind {
    Dir,
    File(Content),
    Symlink(String),
}

/// One payload entry, as both outputs (the package, the spec) write it.
struct Entry {
    path: String,
    kind: Kind,
    mode: u32,
    user: String,
    group: String,
    config: bool,
}

impl Entry {
    fn new(path: impl Into<String>, kind: Kind, mode: u32) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode: mode & 0o7777,
            user: "root".into(),
            group: "root".into(),
            config: false,
        }
    }
}

/// The payload of container `name`: the bundle under
/// /usr/lib/containers/atomic/NAME, the unit, the tmpfiles file and the host
/// files, checked against the layering rules.
fn payload(rootfs: &Path, rendered: &bundle::Rendered, name: &str) -> Result<Vec<Entry>> {
    let dest = bundle_dir(name);
    let owners = Owners::read(rootfs);
    let mut out = vec![Entry::new(dest.display().to_string(), Kind::Dir, 0o755)];
    if let Some(c) = &rendered.config {
        let p = dest.join("config.json").display().to_string();
        out.push(Entry::new(
            p,
            Kind::File(Content::Bytes(c.clone().into_bytes())),
            0o644,
        ));
    }
    add_tree(&mut out, rootfs, &dest.join("rootfs"), &owners)?;
    if let Some(unit) = &rendered.unit {
        let p = format!("/usr/lib/systemd/system/{name}.service");
        out.push(Entry::new(
            p,
            Kind::File(Content::Bytes(unit.clone().into_bytes())),
            0o644,
        ));
    }
    let mut tmpfiles = rendered.tmpfiles.clone().unwrap_or_default();
    for f in &rendered.host_files {
        let is_dir = matches!(f.kind, HostKind::Dir);
        if is_dir && rules::is_system_dir(&f.path) {
            continue;
        }
        let path = f.path.display().to_string();
        match rules::place(&f.path, is_dir, f.mode, "root", "root")? {
            Placement::Tmpfiles(line) => {
                tmpfiles.push_str(&line);
                tmpfiles.push('\n');
            }
            Placement::Payload => {
                let kind = match &f.kind {
                    HostKind::Dir => Kind::Dir,
                    HostKind::File(data) => Kind::File(Content::Bytes(data.clone())),
                    HostKind::Link(src) => {
                        let meta = std::fs::metadata(src)
                            .with_context(|| format!("reading {}", src.display()))?;
                        Kind::File(Content::path(src, &meta))
                    }
                    HostKind::Symlink(t) => Kind::Symlink(t.display().to_string()),
                };
                let mut e = Entry::new(path, kind, f.mode);
                e.config = f.path.starts_with("/etc") && matches!(e.kind, Kind::File(_));
                out.push(e);
            }
        }
    }
    if !tmpfiles.is_empty() {
        let p = format!("/usr/lib/tmpfiles.d/{name}.conf");
        out.push(Entry::new(
            p,
            Kind::File(Content::Bytes(tmpfiles.into_bytes())),
            0o644,
        ));
    }
    Ok(out)
}

/// Adds the tree at `src` under `dest`, keeping modes, owners, symlinks and
/// empty directories.
fn add_tree(out: &mut Vec<Entry>, src: &Path, dest: &Path, owners: &Owners) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(src).with_context(|| format!("reading {}", src.display()))?;
    let kind = if meta.is_dir() {
        Kind::Dir
    } else if meta.file_type().is_symlink() {
        Kind::Symlink(std::fs::read_link(src)?.display().to_string())
    } else if meta.is_file() {
        Kind::File(Content::path(src, &meta))
    } else {
        return Err(anyhow!(
            "{}: not a file, directory or symlink",
            src.display()
        ));
    };
    let mut e = Entry::new(dest.display().to_string(), kind, meta.mode());
    e.user = owners.user(meta.uid());
    e.group = owners.group(meta.gid());
    let is_dir = matches!(e.kind, Kind::Dir);
    out.push(e);
    if is_dir {
        let mut entries: Vec<_> = std::fs::read_dir(src)?.collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for child in entries {
            add_tree(out, &child.path(), &dest.join(child.file_name()), owners)?;
        }
    }
    Ok(())
}

/// A checked-out, rendered container ready to package.
pub struct Prepared {
    pub id: Identity,
    /// The template values it was rendered with.
    pub values: BTreeMap<String, String>,
    /// Whether it has a service unit.
    pub has_service: bool,
    entries: Vec<Entry>,
    name: String,
    _work: tempfile::TempDir,
}

/// Checks `img` out (in a scratch directory under the checkout root) and
/// renders everything the package of `req.name` holds.
pub fn prepare(
    paths: &HostPaths,
    store: &Store,
    img: &StoredImage,
    req: &Request,
) -> Result<Prepared> {
    let Request {
        name,
        serial,
        stored,
        set,
        runtime,
    } = *req;
    let id = identity(img, name, serial)?;
    let work = tempfile::Builder::new()
        .prefix(&format!(".{name}.rpm-"))
        .tempdir_in(paths.checkout_root())?;
    let rootfs = work.path().join("rootfs");
    let dest = bundle_dir(name);
    let fixed = Fixed {
        name,
        destdir: &dest.display().to_string(),
        runtime,
        image_name: &img.name,
        image_id: &img.id,
    };
    let bundle::CheckedOut {
        values, rendered, ..
    } = bundle::checkout_and_render(store, img, &rootfs, stored, set, &fixed)?;
    let entries = payload(&rootfs, &rendered, name)?;
    for (kind, body) in scriptlets(name) {
        rules::check_scriptlet(kind, "/bin/sh", &body)?;
    }
    Ok(Prepared {
        id,
        has_service: rendered.unit.is_some(),
        values,
        entries,
        name: name.to_string(),
        _work: work,
    })
}

impl Prepared {
    /// Builds the package in process and writes it into `output`.
    pub fn write_rpm(&self, output: &Path) -> Result<PathBuf> {
        let id = &self.id;
        let mut b =
            rpm::PackageBuilder::new(&id.name, &id.version, &id.license, "noarch", &id.summary);
        b.using_config(
            rpm::BuildConfig::default().compression(rpm::CompressionWithLevel::Zstd(ZSTD_LEVEL)),
        );
        b.release(id.release.clone())
            .description(id.description.clone())
            .packager("atomic")
            .group("System Environment/Daemons")
            .build_host(hostname());
        if let Some(u) = &id.url {
            b.url(u.clone());
        }
        for d in &id.requires {
            b.requires(parse_dep(d)?);
        }
        for d in &id.conflicts {
            b.conflicts(parse_dep(d)?);
        }
        for d in &id.provides {
            b.provides(parse_dep(d)?);
        }
        for (kind, body) in scriptlets(&self.name) {
            match kind {
                "post" => b.post_install_script(body),
                "preun" => b.pre_uninstall_script(body),
                _ => b.post_uninstall_script(body),
            };
        }
        let links = self.hardlink_sets();
        let mut contents = std::collections::HashMap::new();
        for e in &self.entries {
            let perm = e.mode as u16;
            match &e.kind {
                Kind::Dir => {
                    b.with_dir_entry(
                        rpm::FileOptions::dir(&e.path)
                            .permissions(perm)
                            .user(&e.user)
                            .group(&e.group),
                    )?;
                }
                Kind::Symlink(t) => {
                    b.with_symlink(
                        rpm::FileOptions::symlink(&e.path, t)
                            .user(&e.user)
                            .group(&e.group),
                    )?;
                }
                Kind::File(content) => {
                    let mut o = rpm::FileOptions::new(&e.path)
                        .permissions(perm)
                        .user(&e.user)
                        .group(&e.group);
                    if e.config {
                        o = o.config().noreplace();
                    }
                    if let Some(set) = links.get(e.path.as_str()) {
                        o = o.hardlink(set.clone());
                    }
                    let source = match content {
                        Content::Path { path, mtime, .. } => {
                            o = o.modified_at((*mtime).into());
                            rpmfile::Source::File(path)
                        }
                        Content::Bytes(d) => rpmfile::Source::Bytes(d),
                    };
                    // The contents stream into the payload at write time.
                    b.with_file_contents(Vec::new(), o)?;
                    contents.insert(e.path.as_str(), source);
                }
            }
        }
        std::fs::create_dir_all(output)
            .with_context(|| format!("creating {}", output.display()))?;
        let file = output.join(id.file_name());
        rpmfile::write(b, &contents, ZSTD_LEVEL, &file)
            .with_context(|| format!("building {}", id.file_name()))?;
        Ok(file)
    }

    /// The hard-link sets of the payload: files that share an inode and all
    /// the metadata rpm keeps per path, each set named after its inode.
    fn hardlink_sets(&self) -> BTreeMap<&str, String> {
        let mut sets: BTreeMap<_, Vec<&str>> = BTreeMap::new();
        for e in &self.entries {
            if let Kind::File(Content::Path { inode, .. }) = &e.kind {
                let key = (*inode, e.mode, &e.user, &e.group, e.config);
                sets.entry(key).or_default().push(&e.path);
            }
        }
        sets.into_iter()
            .filter(|(_, paths)| paths.len() > 1)
            .flat_map(|((inode, mode, ..), paths)| {
                let id = format!("{}:{}:{mode:o}:{}", inode.0, inode.1, paths[0]);
                paths.into_iter().map(move |p| (p, id.clone()))
            })
            .collect()
    }

    /// Writes the spec (rendered from `template`) and its source, a tar of
    /// the payload, into `output`, so rpmbuild rebuilds the same package.
    pub fn write_spec(&self, template: &str, output: &Path) -> Result<PathBuf> {
        let id = &self.id;
        std::fs::create_dir_all(output)
            .with_context(|| format!("creating {}", output.display()))?;
        let source = format!("{}-payload.tar", self.name);
        let mut tar = tar::Builder::new(std::fs::File::create(output.join(&source))?);
        let mut files = String::new();
        for e in &self.entries {
            let rel = e.path.trim_start_matches('/');
            let mut h = tar::Header::new_gnu();
            h.set_mode(e.mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            match &e.kind {
                Kind::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    tar.append_data(&mut h, format!("{rel}/"), std::io::empty())?;
                }
                Kind::Symlink(t) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    tar.append_link(&mut h, rel, t)?;
                }
                Kind::File(Content::Path { path: p, .. }) => {
                    let f = std::fs::File::open(p)?;
                    h.set_size(f.metadata()?.len());
                    tar.append_data(&mut h, rel, f)?;
                }
                Kind::File(Content::Bytes(d)) => {
                    h.set_size(d.len() as u64);
                    tar.append_data(&mut h, rel, &d[..])?;
                }
            }
            let attr = if matches!(e.kind, Kind::Symlink(_)) {
                format!("%attr(-,{},{})", e.user, e.group)
            } else {
                format!("%attr({:04o},{},{})", e.mode, e.user, e.group)
            };
            let prefix = match (&e.kind, e.config) {
                (Kind::Dir, _) => "%dir ",
                (_, true) => "%config(noreplace) ",
                _ => "",
            };
            files.push_str(&format!("{prefix}{attr} \"{}\"\n", e.path));
        }
        tar.finish()?;
        let mut deps = String::new();
        if self.entries.iter().any(|e| e.config) {
            // What rpmbuild's automatic dependencies add for %config files.
            for tag in ["Provides", "Requires"] {
                deps.push_str(&format!(
                    "{tag}: config({}) = {}-{}\n",
                    id.name, id.version, id.release
                ));
            }
        }
        for (tag, list) in [
            ("Requires", &id.requires),
            ("Conflicts", &id.conflicts),
            ("Provides", &id.provides),
        ] {
            for d in list.iter().filter(|d| !d.starts_with("atomic-container(")) {
                deps.push_str(&format!("{tag}: {d}\n"));
            }
        }
        let script = |k: &str| {
            scriptlets(&self.name)
                .into_iter()
                .find(|(kind, _)| *kind == k)
                .map(|(_, b)| b)
                .unwrap_or_default()
        };
        let spec = template
            .replace("@NAME@", &self.name)
            .replace("@VERSION@", &id.version)
            .replace("@RELEASE@", &id.release)
            .replace("@SUMMARY@", &id.summary)
            .replace("@LICENSE@", &id.license)
            .replace(
                "@URL@",
                id.url
                    .as_deref()
                    .unwrap_or("https://github.com/projectatomic/atomic"),
            )
            .replace("@DEPENDENCIES@", deps.trim_end())
            .replace("@DESCRIPTION@", &id.description)
            .replace("@POST@", script("post").trim_end())
            .replace("@PREUN@", script("preun").trim_end())
            .replace("@POSTUN@", script("postun").trim_end())
            .replace("@FILES@", files.trim_end());
        let file = output.join(format!("{}.spec", id.name));
        std::fs::write(&file, spec).with_context(|| format!("writing {}", file.display()))?;
        Ok(file)
    }
}

/// The host's package manager, as RPM mode uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    /// Image-based hosts (`/run/ostree-booted`): layered packages.
    RpmOstree,
    Dnf,
    Rpm,
}

impl Manager {
    /// rpm-ostree on image-based hosts, else dnf, else rpm.
    pub fn of(paths: &HostPaths) -> Manager {
        if paths.is_ostree_booted() {
            Manager::RpmOstree
        } else if !paths.is_relocated() && which("dnf") {
            Manager::Dnf
        } else {
            Manager::Rpm
        }
    }

    fn rpm(paths: &HostPaths) -> Command {
        let mut c = Command::new("rpm");
        if paths.is_relocated() {
            c.arg("--root").arg(paths.root());
        }
        c
    }

    /// Installs or upgrades to `file`; `older` allows going back a release.
    pub fn install(self, paths: &HostPaths, file: &Path, older: bool) -> Result<()> {
        let mut c = match self {
            Manager::RpmOstree => {
                let name =
                    command::output(Self::rpm(paths).args(["-qp", "--qf", "%{NAME}"]).arg(file))?;
                if installed(paths, &name).is_none() {
                    return command::run(
                        Command::new("rpm-ostree")
                            .args(["install", "--idempotent", "--apply-live"])
                            .arg(file),
                    );
                }
                // rpm-ostree keeps a local package at the version it was
                // given and refuses a second one of the same name: swap
                // them in one transaction, then apply that (not purely
                // additive) change to the running system.
                command::run(
                    Command::new("rpm-ostree")
                        .args(["uninstall", &name])
                        .arg(format!("--install={}", file.display())),
                )?;
                return apply_live();
            }
            Manager::Dnf => {
                let mut c = Command::new("dnf");
                c.args(["-y", "-q", if older { "downgrade" } else { "install" }]);
                c
            }
            Manager::Rpm => {
                let mut c = Self::rpm(paths);
                c.arg("-U");
                if older {
                    c.arg("--oldpackage");
                }
                c
            }
        };
        command::run(c.arg(file))
    }

    /// Erases package `name`.
    pub fn erase(self, paths: &HostPaths, name: &str) -> Result<()> {
        let mut c = match self {
            Manager::RpmOstree => {
                command::run(Command::new("rpm-ostree").args(["uninstall", name]))?;
                return apply_live();
            }
            Manager::Dnf => {
                let mut c = Command::new("dnf");
                c.args(["-y", "-q", "remove"]);
                c
            }
            Manager::Rpm => {
                let mut c = Self::rpm(paths);
                c.arg("-e");
                c
            }
        };
        command::run(c.arg(name))
    }
}

/// Applies the staged rpm-ostree deployment to the running system, removals
/// and replacements included.
fn apply_live() -> Result<()> {
    command::run(Command::new("rpm-ostree").args(["apply-live", "--allow-replacement"]))
}

/// The installed `name-version-release` of package `name`, if any.
pub fn installed(paths: &HostPaths, name: &str) -> Option<String> {
    let out = Manager::rpm(paths)
        .args(["-q", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}", name])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether rpm manages the host's software (`--system-package=auto`): an
/// image-based host, or a system rpm database that knows rpm itself. rpm is
/// asked only when such a database exists, since a query may create one.
pub fn host_uses_rpm(paths: &HostPaths) -> bool {
    let has_db = ["usr/lib/sysimage/rpm", "var/lib/rpm"].iter().any(|d| {
        paths.root().join(d).join("rpmdb.sqlite").exists()
            || paths.root().join(d).join("Packages").exists()
    });
    paths.is_ostree_booted()
        || (has_db
            && Manager::rpm(paths)
                .args(["-q", "--quiet", "rpm"])
                .status()
                .is_ok_and(|s| s.success()))
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
