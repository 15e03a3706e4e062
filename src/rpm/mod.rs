//! RPM mode's packages: the deployment a plain install renders (bundle,
//! unit, tmpfiles, host files) written instead into a generated package
//! that rpm-ostree, dnf or rpm install and track, built in-process with the
//! `rpm` crate; or a spec for rpmbuild.

pub mod identity;
pub mod payload;
mod rpmfile;
pub mod rules;
pub mod spec;

use crate::image::store::{Store, StoredImage};
use crate::render::bundle::{self, Fixed};
use anyhow::{Context, Result};
use identity::{identity, parse_dep, PackageIdentity};
use payload::{bundle_dir, payload, Content, Entry, EntryKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The scriptlets of the package: reload and tmpfiles on install (what
/// rpm-ostree runs), stop+disable on erase and try-restart on upgrade (what
/// classic hosts run); with `socket`, its socket unit goes with the
/// service.
pub fn scriptlets(name: &str, socket: bool) -> Vec<(&'static str, String)> {
    let units = if socket {
        format!("{name}.socket {name}.service")
    } else {
        format!("{name}.service")
    };
    vec![
        (
            "post",
            format!(
                "systemctl daemon-reload >/dev/null 2>&1 || :\n\
                 if [ $1 -eq 1 ]; then\n\
                 systemctl preset {units} >/dev/null 2>&1 || :\n\
                 fi\n\
                 systemd-tmpfiles --create /usr/lib/tmpfiles.d/{name}.conf >/dev/null 2>&1 || :\n"
            ),
        ),
        (
            "preun",
            format!(
                "if [ $1 -eq 0 ]; then\n\
                 systemctl --no-reload disable --now {units} >/dev/null 2>&1 || :\n\
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

/// What to package: the container's name, the release serial, the
/// `--set` values and the runtime its unit runs.
pub struct PackageRequest<'a> {
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

/// A checked-out, rendered container ready to package.
pub struct PreparedPackage {
    pub id: PackageIdentity,
    /// The template values it was rendered with.
    pub values: BTreeMap<String, String>,
    /// Whether it has a service unit.
    pub has_service: bool,
    /// The rendered unit, if any.
    pub unit: Option<String>,
    /// Whether a socket unit activates the service.
    pub has_socket: bool,
    /// The rendered socket unit, if any.
    pub socket: Option<String>,
    /// The health check the deployment declares.
    pub health_check: Option<crate::render::health::HealthCheck>,
    /// What the package will do to the host.
    pub host_facing: crate::render::summary::HostFacing,
    /// What the image's `/exports` had that was ignored.
    pub warnings: Vec<String>,
    /// The image it was built from, and when (the changelog entry).
    image: String,
    built: u64,
    entries: Vec<Entry>,
    name: String,
    _work: tempfile::TempDir,
}

/// Checks `img` out into `work` (a scratch directory, removed with the
/// result) and renders everything the package of `req.name` holds.
pub fn prepare(
    work: tempfile::TempDir,
    store: &Store,
    img: &StoredImage,
    req: &PackageRequest,
) -> Result<PreparedPackage> {
    let PackageRequest {
        name,
        serial,
        stored,
        set,
        runtime,
    } = *req;
    let id = identity(img, name, serial)?;
    let rootfs = work.path().join("rootfs");
    let dest = bundle_dir(name);
    let fixed = Fixed {
        name,
        destdir: &dest.display().to_string(),
        runtime,
        image_name: &img.name,
        image_id: &img.id,
        rootless: None,
    };
    let bundle::CheckedOut {
        manifest,
        values,
        rendered,
    } = bundle::checkout_and_render(store, img, &rootfs, stored, set, &fixed)?;
    let entries = payload(&rootfs, &rendered, name)?;
    for (kind, body) in scriptlets(name, rendered.socket.is_some()) {
        rules::check_scriptlet(kind, "/bin/sh", &body)?;
    }
    let health_check =
        crate::render::health::HealthCheck::of(manifest.health_check.as_ref(), &img.config)?;
    Ok(PreparedPackage {
        id,
        has_socket: rendered.socket.is_some(),
        socket: rendered.socket.clone(),
        health_check,
        has_service: rendered.unit.is_some(),
        host_facing: crate::render::summary::HostFacing::of_rendered(&rendered),
        warnings: manifest
            .warnings()
            .into_iter()
            .chain(rendered.warnings.clone())
            .collect(),
        image: img.name.clone(),
        built: crate::host::clock::now(),
        unit: rendered.unit,
        values,
        entries,
        name: name.to_string(),
        _work: work,
    })
}

impl PreparedPackage {
    /// The changelog entry of the package: who built which release, from
    /// which image.
    fn changelog(&self) -> (String, String) {
        (
            format!("atomic - {}-{}", self.id.version, self.id.release),
            format!("- Built from image {}", self.image),
        )
    }

    /// The paths the package puts on the host outside its bundle
    /// directory, directories aside: the unit, tmpfiles file, host files.
    pub fn host_paths(&self) -> impl Iterator<Item = &str> {
        let bundle = bundle_dir(&self.name);
        self.entries
            .iter()
            .filter(move |e| {
                !matches!(e.kind, EntryKind::Dir) && !Path::new(&e.path).starts_with(&bundle)
            })
            .map(|e| e.path.as_str())
    }

    /// Builds the package in process and writes it into `output`.
    pub fn write_rpm(&self, output: &Path) -> Result<PathBuf> {
        let id = &self.id;
        let mut b =
            rpm::PackageBuilder::new(&id.name, &id.version, &id.license, "noarch", &id.summary);
        b.using_config(
            rpm::BuildConfig::default().compression(rpm::CompressionWithLevel::Zstd(ZSTD_LEVEL)),
        );
        let (who, what) = self.changelog();
        b.release(id.release.clone())
            .description(id.description.clone())
            .add_changelog_entry(who, what, u32::try_from(self.built).unwrap_or(u32::MAX))
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
        for (kind, body) in scriptlets(&self.name, self.has_socket) {
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
                EntryKind::Dir => {
                    b.with_dir_entry(
                        rpm::FileOptions::dir(&e.path)
                            .permissions(perm)
                            .user(&e.user)
                            .group(&e.group)
                            .modified_at(GENERATED_MTIME.into()),
                    )?;
                }
                EntryKind::Symlink(t) => {
                    b.with_symlink(
                        rpm::FileOptions::symlink(&e.path, t)
                            .user(&e.user)
                            .group(&e.group)
                            .modified_at(GENERATED_MTIME.into()),
                    )?;
                }
                EntryKind::File(content) => {
                    let mut o = rpm::FileOptions::new(&e.path)
                        .permissions(perm)
                        .user(&e.user)
                        .group(&e.group);
                    if e.config {
                        o = o.config().noreplace();
                    }
                    if let Some(caps) = &e.caps {
                        o = o.caps(caps.as_str())?;
                    }
                    if let Some(set) = links.get(e.path.as_str()) {
                        o = o.hardlink(set.clone());
                    }
                    let source = match content {
                        Content::Path { path, mtime, .. } => {
                            o = o.modified_at((*mtime).into());
                            rpmfile::FileData::File(path)
                        }
                        Content::Bytes(d) => {
                            o = o.modified_at(GENERATED_MTIME.into());
                            rpmfile::FileData::Bytes(d)
                        }
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
        let ids = self
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.ids))
            .collect();
        rpmfile::write(b, &contents, &ids, ZSTD_LEVEL, &file)
            .with_context(|| format!("building {}", id.file_name()))?;
        Ok(file)
    }

    /// The hard-link sets of the payload: files that share an inode and all
    /// the metadata rpm keeps per path, each set named after its inode.
    fn hardlink_sets(&self) -> BTreeMap<&str, String> {
        let mut sets: BTreeMap<_, Vec<&str>> = BTreeMap::new();
        for e in &self.entries {
            if let EntryKind::File(Content::Path { inode, .. }) = &e.kind {
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
}

/// The mtime of what the package holds that no image file gave it
/// (rendered files, directories, links): fixed, as an OSTree checkout's
/// files have theirs, so that the same build is the same payload.
const GENERATED_MTIME: u32 = 0;

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// A package of a container already in an output directory.
#[derive(Debug)]
pub struct Published {
    pub file: PathBuf,
    /// The release serial (`3` of `3.0123456789ab`).
    pub serial: u32,
    /// The image id part of the release.
    pub image: String,
    /// The SHA-256 of the uncompressed payload, as its header records it.
    pub payload: Option<String>,
}

/// The packages named `package` in `dir` (a build output, or the
/// repository `--createrepo` keeps there), lowest release first. A file of
/// that name whose header cannot be read is an error naming it.
pub fn published(dir: &Path, package: &str) -> Result<Vec<Published>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut out = Vec::new();
    for e in entries {
        let file = e
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        let Some(n) = file.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        // `PACKAGE-VERSION-RELEASE.noarch.rpm`, neither with a `-`: so not
        // another container's `PACKAGE-more-VERSION-RELEASE`.
        let Some(rest) = n
            .strip_prefix(&format!("{package}-"))
            .and_then(|r| r.strip_suffix(".noarch.rpm"))
        else {
            continue;
        };
        if rest.split('-').count() != 2 {
            continue;
        }
        if !std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) {
            tracing::warn!("{} is not a regular file; not reading it", file.display());
            continue;
        }
        let meta = rpm::PackageMetadata::open(&file)
            .with_context(|| format!("reading the package {}", file.display()))?;
        if meta.get_name().ok() != Some(package) {
            continue;
        }
        let release = meta
            .get_release()
            .with_context(|| format!("reading the release of {}", file.display()))?;
        let (serial, image) = release.split_once('.').unwrap_or((release, ""));
        let serial = serial.parse().with_context(|| {
            format!(
                "{}: release {release:?} is not SERIAL.IMAGEID, as atomic numbers them",
                file.display()
            )
        })?;
        let payload = payload_of(&meta);
        out.push(Published {
            image: image.to_string(),
            file,
            serial,
            payload,
        });
    }
    out.sort_by_key(|p| p.serial);
    Ok(out)
}

/// The SHA-256 of the uncompressed payload its header records.
fn payload_of(meta: &rpm::PackageMetadata) -> Option<String> {
    meta.header
        .get_entry_data_as_string_array(rpm::IndexTag::RPMTAG_PAYLOADSHA256ALT)
        .ok()
        .and_then(|v| v.first().map(|s| s.to_string()))
}

/// The files the package `file` of container `name` puts outside its
/// bundle (its unit, tmpfiles file and host files): what it would write
/// over on the host.
pub fn host_paths_of(file: &Path, name: &str) -> Result<Vec<String>> {
    let meta = rpm::PackageMetadata::open(file)
        .with_context(|| format!("reading the package {}", file.display()))?;
    let entries = meta
        .get_file_entries()
        .with_context(|| format!("reading the files of {}", file.display()))?;
    let bundle = bundle_dir(name);
    Ok(entries
        .iter()
        .filter(|e| e.file_type() != rpm::FileType::Dir && !e.path().starts_with(&bundle))
        .map(|e| e.path().display().to_string())
        .collect())
}

/// Updates the repository metadata of `dir` (`createrepo_c --update`), so
/// that dnf clients see the packages published there.
pub fn createrepo(dir: &Path) -> Result<()> {
    crate::host::command::run(
        std::process::Command::new("createrepo_c")
            .args(["--quiet", "--update"])
            .arg(dir),
    )
}

/// The uncompressed payload's SHA-256 of the package `file`.
pub fn payload_digest(file: &Path) -> Result<Option<String>> {
    let meta = rpm::PackageMetadata::open(file)
        .with_context(|| format!("reading the package {}", file.display()))?;
    Ok(payload_of(&meta))
}
