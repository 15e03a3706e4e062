//! How results are printed: the tables and JSON of the list commands,
//! `images info`, the `update --all` summary. Each returns the text; the
//! caller sends it out in order with everything else the command says.

use super::ListOpts;
use crate::container::health::Health;
use crate::container::list::Row;
use crate::container::update::Updated;
use crate::container::Name;
use crate::image::catalog::ImageRow;
use crate::image::store::StoredImage;
use crate::render::summary::ImageInfo;
use crate::report::printable as clean;
use anyhow::Result;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// A size in B, KB, MB... (powers of 1000, one decimal).
pub fn human(bytes: u64) -> String {
    let mut v = bytes as f64;
    for unit in ["B", "KB", "MB", "GB"] {
        if v < 1000.0 {
            return format!("{v:.1} {unit}");
        }
        v /= 1000.0;
    }
    format!("{v:.1} TB")
}

/// `YYYY-MM-DD HH:MM` (UTC) of seconds since the epoch.
fn date(secs: u64) -> String {
    let c = crate::host::clock::civil(secs);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

fn trunc(s: &str, n: usize, no_trunc: bool) -> String {
    if no_trunc || s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect()
    }
}

/// The image's creation time as its config states it.
fn image_created(img: &StoredImage) -> String {
    img.config["created"]
        .as_str()
        .map(|c| c.get(..16).unwrap_or(c).replace('T', " "))
        .unwrap_or_default()
}

/// Text ending without a newline, as a note prints one line per note.
fn finish(mut out: String) -> String {
    if out.ends_with('\n') {
        out.pop();
    }
    out
}

/// `images list`.
pub fn images(rows: &[ImageRow], opts: &ListOpts) -> Result<String> {
    let mut out = String::new();
    if opts.json {
        let v: Vec<Value> = rows
            .iter()
            .map(|r| {
                let img = &r.image;
                json!({"name": img.name, "repo": r.repo, "tag": r.tag, "id": img.id,
                       "created": image_created(img), "virtual_size": img.size(),
                       "type": "system", "used": r.used})
            })
            .collect();
        out = serde_json::to_string_pretty(&v)?;
    } else if opts.quiet {
        for r in rows {
            writeln!(out, "{}", &r.image.id[..12])?;
        }
    } else {
        writeln!(
            out,
            "  {:<40} {:<12} {:<12} {:<16} {:>12} TYPE",
            "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "VIRTUAL SIZE"
        )?;
        for r in rows {
            writeln!(
                out,
                "{} {:<40} {:<12} {:<12} {:<16} {:>12} system",
                if r.used { '>' } else { ' ' },
                clean(&r.repo),
                clean(&r.tag),
                &r.image.id[..12],
                image_created(&r.image),
                human(r.image.size())
            )?;
        }
    }
    Ok(finish(out))
}

/// `images info`.
pub fn image_info(info: &ImageInfo) -> String {
    let mut out = format!(
        "Image Name: {}\nImage ID: {}\nLabels:\n",
        clean(&info.name),
        info.id
    );
    for (k, v) in &info.labels {
        out += &format!("  {}: {}\n", clean(k), clean(v));
    }
    out += "Template variables with default value, but overridable with --set:\n";
    for (k, v) in &info.defaults {
        out += &format!("  {}: {}\n", clean(k), clean(v));
    }
    out += "Template variables that have no default value, and must be set with --set:\n";
    for k in &info.required {
        out += &format!("  {}\n", clean(k));
    }
    out += "Template variables set by the tool:\n";
    for k in &info.set_by_tool {
        out += &format!("  {k}\n");
    }
    let host = info.host_facing.lines();
    if !host.is_empty() {
        out += "What /exports does on the host, as root (variables unexpanded):\n";
        for l in host {
            out += &format!("{}\n", clean(&l));
        }
    }
    out += &format!(
        "Signature policy: {}\n",
        info.verified.as_deref().map_or_else(
            || "not checked (pulled before atomic checked signatures)".into(),
            clean
        )
    );
    finish(out)
}

/// `containers list`.
pub fn containers(rows: &[Row], opts: &ListOpts, no_trunc: bool) -> Result<String> {
    let mut out = String::new();
    if opts.quiet {
        for r in rows {
            writeln!(out, "{}", r.name)?;
        }
    } else if opts.json {
        let v: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({"id": r.name.as_str(), "image": r.info.image, "name": r.name.as_str(),
                       "command": r.command, "created": date(r.info.created), "state": r.state,
                       "backend": "ostree", "runtime": r.info.runtime, "rpm": r.info.package(),
                       "health": r.health.label(),
                       "health-detail": match &r.health { Health::Unhealthy(why) => Some(why), _ => None },
                       "socket": r.info.has_socket,
                       "last-update": r.info.last_update})
            })
            .collect();
        out = serde_json::to_string_pretty(&v)?;
    } else {
        writeln!(
            out,
            "{:<16} {:<30} {:<16} {:<24} {:<16} {:<10} {:<8} {:<24} HEALTH",
            "CONTAINER ID", "IMAGE", "NAME", "COMMAND", "CREATED", "STATE", "BACKEND", "RUNTIME"
        )?;
        for r in rows {
            writeln!(
                out,
                "{:<16} {:<30} {:<16} {:<24} {:<16} {:<10} {:<8} {:<24} {}",
                trunc(r.name.as_str(), 16, no_trunc),
                trunc(&clean(&r.info.image), 30, no_trunc),
                r.name.as_str(),
                trunc(&clean(&r.command), 24, no_trunc),
                date(r.info.created),
                r.state,
                "ostree",
                clean(&r.info.runtime),
                r.health.label()
            )?;
        }
    }
    Ok(finish(out))
}

/// The summary of `containers update --all`.
pub fn update_all(results: &[(Name, Result<Updated>)]) -> String {
    let mut out = format!("{:<24} RESULT\n", "CONTAINER");
    for (name, r) in results {
        let r = match r {
            Ok(Updated::Done) => "updated".to_string(),
            Ok(Updated::Unchanged) => "already latest".to_string(),
            Err(e)
                if e.downcast_ref::<crate::container::health::Unhealthy>()
                    .is_some() =>
            {
                format!("{e:#}")
            }
            Err(e) => format!("rolled back: {e:#}"),
        };
        out += &format!("{:<24} {r}\n", name.as_str());
    }
    finish(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_sizes() {
        assert_eq!(date(0), "1970-01-01 00:00");
        assert_eq!(date(951_782_400 + 3600 + 120), "2000-02-29 01:02");
        assert_eq!(human(999), "999.0 B");
        assert_eq!(human(105_000_000), "105.0 MB");
        assert_eq!(trunc("abcdef", 3, false), "abc");
        assert_eq!(trunc("abcdef", 3, true), "abcdef");
        assert_eq!(clean("a\u{1b}]0;x\u{7}b\nc"), "a\\x1b]0;x\\x07b\\x0ac");
    }
}
