//! The `atomic images` commands: list, info, tag, delete, prune.

use crate::cli::ListOpts;
use crate::image::name::{self, RegistriesConf};
use crate::paths::HostPaths;
use crate::store::{self, Store, StoredImage};
use crate::template;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Finds the stored image a user's string names (the same strings `pull` takes).
pub fn lookup(store: &Store, image: &str) -> Result<StoredImage> {
    let conf = RegistriesConf::load()?;
    for candidate in name::candidates(image, &conf) {
        if let Some(found) = store.image(&candidate)? {
            return Ok(found);
        }
    }
    // A local source names its image after its own metadata: open it to learn the name.
    if let Ok(
        src @ (name::Source::DockerArchive(_)
        | name::Source::OciLayout { .. }
        | name::Source::OciArchive { .. }),
    ) = name::parse(image, &conf)
    {
        if let Ok((fetched, _)) = crate::image::source::open(&src, None) {
            if let Some(found) = store.image(&fetched.name)? {
                return Ok(found);
            }
        }
    }
    Err(store::not_found(image))
}

fn open(paths: &HostPaths) -> Result<Option<Store>> {
    Store::open_existing(paths)
}

/// Splits `registry/repo:tag` into repository and tag.
fn repo_tag(name: &str) -> (&str, &str) {
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], &name[slash + i + 1..]),
        None => (name, "<none>"),
    }
}

fn created(img: &StoredImage) -> String {
    img.config["created"]
        .as_str()
        .map(|c| c.get(..16).unwrap_or(c).replace('T', " "))
        .unwrap_or_default()
}

pub fn list(paths: &HostPaths, opts: &ListOpts) -> Result<()> {
    let images = match open(paths)? {
        Some(s) => s.images()?,
        None => Vec::new(),
    };
    let used: BTreeSet<String> = store::deployed_images(paths)?
        .into_iter()
        .map(|(image, _, _)| image)
        .collect();
    let mut rows = Vec::new();
    for img in &images {
        let (repo, tag) = repo_tag(&img.name);
        let mut keep = true;
        for (k, v) in &opts.filter {
            keep &= match k.as_str() {
                "repo" | "repository" => repo.contains(v.as_str()),
                "type" => v == "system",
                "id" => img.id.starts_with(v.as_str()),
                other => bail!("unknown filter {other}; use repo=, type= or id="),
            };
        }
        if keep {
            rows.push((img, repo, tag, used.contains(&img.name)));
        }
    }
    if opts.json {
        let v: Vec<Value> = rows
            .iter()
            .map(|(img, repo, tag, used)| {
                json!({"name": img.name, "repo": repo, "tag": tag, "id": img.id, "created": created(img),
                       "virtual_size": img.size(), "type": "system", "used": used})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if opts.quiet {
        for (img, ..) in &rows {
            println!("{}", &img.id[..12]);
        }
    } else {
        println!(
            "  {:<40} {:<12} {:<12} {:<16} {:>12} TYPE",
            "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "VIRTUAL SIZE"
        );
        for (img, repo, tag, used) in &rows {
            println!(
                "{} {:<40} {:<12} {:<12} {:<16} {:>12} system",
                if *used { '>' } else { ' ' },
                repo,
                tag,
                &img.id[..12],
                created(img),
                human(img.size())
            );
        }
    }
    Ok(())
}

fn human(bytes: u64) -> String {
    let mut v = bytes as f64;
    for unit in ["B", "KB", "MB", "GB"] {
        if v < 1000.0 {
            return format!("{v:.1} {unit}");
        }
        v /= 1000.0;
    }
    format!("{v:.1} TB")
}

/// The manifest of `/exports`, if the image has one.
fn exports_manifest(store: &Store, img: &StoredImage) -> Result<Value> {
    match store.read_file(img, "exports/manifest.json")? {
        Some(bytes) => serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "image {}: /exports/manifest.json is not valid JSON",
                img.name
            )
        }),
        None => Ok(json!({})),
    }
}

pub fn info(paths: &HostPaths, image: &str) -> Result<()> {
    let store = open(paths)?.ok_or_else(|| store::not_found(image))?;
    let img = lookup(&store, image)?;
    let manifest = exports_manifest(&store, &img)?;
    let defaults: BTreeMap<String, String> = manifest["defaultValues"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut used = BTreeSet::new();
    let mut templates: Vec<String> = [
        "config.json.template",
        "service.template",
        "tmpfiles.template",
    ]
    .iter()
    .map(|t| format!("exports/{t}"))
    .collect();
    if let Some(files) = manifest["installedFilesTemplate"].as_array() {
        templates.extend(
            files
                .iter()
                .filter_map(Value::as_str)
                .map(|f| format!("exports/hostfs/{}", f.trim_start_matches('/'))),
        );
    }
    for t in &templates {
        if let Some(bytes) = store.read_file(&img, t)? {
            used.extend(template::variables(&String::from_utf8_lossy(&bytes)));
        }
    }
    println!("Image Name: {}", img.name);
    println!("Image ID: {}", img.id);
    println!("Labels:");
    for (k, v) in img.labels() {
        println!("  {k}: {v}");
    }
    println!("Template variables with default value, but overridable with --set:");
    for (k, v) in &defaults {
        println!("  {k}: {v}");
    }
    for (k, v) in template::TOOL_DEFAULT_VALUES {
        if used.contains(*k) && !defaults.contains_key(*k) {
            println!("  {k}: {v}");
        }
    }
    println!("Template variables that have no default value, and must be set with --set:");
    for k in &used {
        if !defaults.contains_key(k)
            && !template::TOOL_DEFAULT_VALUES.iter().any(|(d, _)| d == k)
            && !template::SET_BY_TOOL.contains(&k.as_str())
        {
            println!("  {k}");
        }
    }
    println!("Template variables set by the tool:");
    for k in template::SET_BY_TOOL {
        println!("  {k}");
    }
    Ok(())
}

pub fn tag(paths: &HostPaths, src: &str, dest: &str) -> Result<()> {
    let store = open(paths)?.ok_or_else(|| store::not_found(src))?;
    let img = lookup(&store, src)?;
    let dest = name::parse_reference(dest, &RegistriesConf::load()?)
        .with_context(|| format!("new image name {dest}"))?
        .name();
    store.tag(&img, &dest)?;
    println!("Tagged {} as {dest}", img.name);
    Ok(())
}

pub fn delete(paths: &HostPaths, images: &[String], force: bool) -> Result<()> {
    let store = open(paths)?.ok_or_else(|| store::not_found(&images[0]))?;
    let deployed = store::deployed_images(paths)?;
    let found: Vec<StoredImage> = images
        .iter()
        .map(|i| lookup(&store, i))
        .collect::<Result<_>>()?;
    for img in &found {
        if let Some((_, _, dir)) = deployed.iter().find(|(name, ..)| *name == img.name) {
            if !force {
                bail!(
                    "image {} is used by the deployment {}; uninstall it first or use -f",
                    img.name,
                    dir.display()
                );
            }
        }
    }
    for img in &found {
        store.delete(&img.name)?;
        println!("Deleted {}", img.name);
    }
    Ok(())
}

pub fn prune(paths: &HostPaths) -> Result<()> {
    let Some(store) = open(paths)? else {
        return Ok(());
    };
    let keep = store::deployed_images(paths)?
        .into_iter()
        .map(|(image, commit, dir)| {
            store
                .load_image(&image, &commit)
                .with_context(|| format!("image of deployment {}", dir.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let (removed, freed) = store.prune(&keep)?;
    for r in &removed {
        println!("Removed layer {r}");
    }
    println!("Freed {}", human(freed));
    Ok(())
}
