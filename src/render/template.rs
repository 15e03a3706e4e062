//! `/exports` templates: `$VAR` and `${VAR}` references, `$$` for a literal
//! `$`, and the variables the tool itself provides.

use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet};

/// Variables the tool always sets; `--set` cannot override them.
pub const SET_BY_TOOL: &[&str] = &[
    "DESTDIR",
    "NAME",
    "EXEC_START",
    "EXEC_STOP",
    "EXEC_STARTPRE",
    "EXEC_STOPPOST",
    "HOST_UID",
    "HOST_GID",
    "IMAGE_NAME",
    "IMAGE_ID",
];

/// Variables the tool gives a default that the image or `--set` may
/// override, with the default as `images info` describes it.
pub const TOOL_DEFAULT_VALUES: &[(&str, &str)] = &[
    ("RUN_DIRECTORY", "/run"),
    ("STATE_DIRECTORY", "/var/lib"),
    ("CONF_DIRECTORY", "/etc"),
    ("PIDFILE", "$RUN_DIRECTORY/container-$NAME.pid"),
    ("ALL_PROCESS_CAPABILITIES", "(every capability)"),
    ("RUNTIME", "(the runtime's path)"),
    ("ATOMIC", "(this program's path)"),
    ("UUID", "(a new UUID, kept across updates)"),
];

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// One piece of a template.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Splits a template into literal text and variable references. A `$` not
/// followed by a name, `{name}` or `$` is literal text.
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut start) = (0, 0);
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        let (var, next) = match b.get(i + 1) {
            Some(b'$') => {
                out.push(Piece::Text(&text[start..=i]));
                i += 2;
                start = i;
                continue;
            }
            Some(b'{') => match text[i + 2..].find('}') {
                Some(len)
                    if len > 0
                        && text.as_bytes()[i + 2..i + 2 + len]
                            .iter()
                            .all(|&c| is_name(c)) =>
                {
                    (&text[i + 2..i + 2 + len], i + 3 + len)
                }
                _ => {
                    i += 1;
                    continue;
                }
            },
            Some(&c) if is_name_start(c) => {
                let end = (i + 1..b.len())
                    .find(|&j| !is_name(b[j]))
                    .unwrap_or(b.len());
                (&text[i + 1..end], end)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.push(Piece::Text(&text[start..i]));
        out.push(Piece::Var(var));
        i = next;
        start = i;
    }
    out.push(Piece::Text(&text[start..]));
    out.retain(|p| *p != Piece::Text(""));
    out
}

/// The variables a template refers to.
pub fn variables(text: &str) -> BTreeSet<String> {
    pieces(text)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(v) => Some(v.to_string()),
            Piece::Text(_) => None,
        })
        .collect()
}

/// What kind of file a template renders into, which decides what a value
/// may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// JSON: inside a string literal a value may not contain `"`, `\` or
    /// control characters.
    Json,
    /// One directive a line (systemd units, tmpfiles.d): no newlines.
    Lines,
    /// Free text (host files): anything goes.
    Text,
}

/// Renders `text` with `values`; `file` names the template in errors.
pub fn render(
    text: &str,
    values: &BTreeMap<String, String>,
    kind: FileKind,
    file: &str,
) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    // Values pasted outside a JSON string: raw JSON fragments, as the
    // catalog's `$ADDTL_MOUNTS` (`,{"type":"bind",...}`), fine when the
    // result parses.
    let mut raw = Vec::new();
    for piece in pieces(text) {
        match piece {
            Piece::Text(t) => {
                if kind == FileKind::Json {
                    in_string = json_string_state(t, in_string);
                }
                out.push_str(t);
            }
            Piece::Var(v) => {
                let Some(value) = values.get(v) else {
                    bail!("{file}: variable {v} has no value; set it with --set {v}=VALUE");
                };
                match kind {
                    FileKind::Json
                        if in_string
                            && value
                                .chars()
                                .any(|c| c == '"' || c == '\\' || c.is_control()) =>
                    {
                        bail!("{file}: the value of {v} would break the JSON string it goes into (it has a quote, backslash or control character)")
                    }
                    FileKind::Lines if value.contains(['\n', '\r']) => {
                        bail!("{file}: the value of {v} has a newline, which would break the file")
                    }
                    FileKind::Json if !in_string => {
                        if !raw.contains(&v) {
                            raw.push(v);
                        }
                        // A fragment that opens a string would leave the
                        // rest of the template in it.
                        in_string = json_string_state(value, false);
                        out.push_str(value);
                    }
                    _ => out.push_str(value),
                }
            }
        }
    }
    if !raw.is_empty() {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&out) {
            bail!(
                "{file}: with the values of {} pasted outside JSON strings, the result is not JSON ({e})",
                raw.join(", ")
            );
        }
    }
    Ok(out)
}

/// Whether a JSON text ends inside a string literal, given where it starts.
fn json_string_state(text: &str, mut in_string: bool) -> bool {
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
    }
    in_string
}

/// The largest a value may grow to once its references are expanded.
pub const VALUE_LIMIT: usize = 64 * 1024;
/// The most all values together may grow to.
pub const VALUES_LIMIT: usize = 16 << 20;
/// How deep values may refer to values that refer to values.
const DEPTH_LIMIT: usize = 64;

/// Resolves values that refer to other values (`PIDFILE=$RUN_DIRECTORY/...`):
/// each is expanded once, after the values it refers to, so `$$` in a value
/// stays a literal `$`; a cycle, a chain deeper than 64, or a value that
/// would grow past [`VALUE_LIMIT`] (all of them past [`VALUES_LIMIT`]) is
/// refused.
pub fn resolve(values: &mut BTreeMap<String, String>) -> Result<()> {
    let raw = std::mem::take(values);
    let mut total = 0;
    for k in raw.keys() {
        resolve_one(k, &raw, values, &mut Vec::new(), &mut total)?;
    }
    Ok(())
}

fn resolve_one(
    key: &str,
    raw: &BTreeMap<String, String>,
    done: &mut BTreeMap<String, String>,
    stack: &mut Vec<String>,
    total: &mut usize,
) -> Result<String> {
    if let Some(v) = done.get(key) {
        return Ok(v.clone());
    }
    if let Some(at) = stack.iter().position(|s| s == key) {
        let cycle: Vec<&str> = stack[at..]
            .iter()
            .map(String::as_str)
            .chain([key])
            .collect();
        bail!(
            "template values refer to each other in a cycle: {}",
            cycle.join(" -> ")
        );
    }
    if stack.len() >= DEPTH_LIMIT {
        bail!("the value of {key}: values refer to values more than {DEPTH_LIMIT} deep");
    }
    stack.push(key.to_string());
    let mut out = String::new();
    for piece in pieces(&raw[key]) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(v) => {
                if !raw.contains_key(v) {
                    bail!("value of {key}: variable {v} has no value; set it with --set {v}=VALUE");
                }
                out.push_str(&resolve_one(v, raw, done, stack, total)?);
            }
        }
        if out.len() > VALUE_LIMIT {
            bail!("the value of {key} would be larger than {VALUE_LIMIT} bytes once its references are expanded");
        }
    }
    stack.pop();
    *total += out.len();
    if *total > VALUES_LIMIT {
        bail!("the template values would be larger than {VALUES_LIMIT} bytes once expanded");
    }
    done.insert(key.to_string(), out.clone());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn render_replaces_and_names_the_missing_variable() {
        let v = vals(&[("A", "1"), ("B", "two")]);
        assert_eq!(
            render("$A-${B}$$A", &v, FileKind::Text, "f").unwrap(),
            "1-two$A"
        );
        assert_eq!(
            render("x=$C", &v, FileKind::Text, "/exports/service.template")
                .unwrap_err()
                .to_string(),
            "/exports/service.template: variable C has no value; set it with --set C=VALUE"
        );
    }

    #[test]
    fn values_that_would_break_their_file_are_refused() {
        let v = vals(&[
            ("Q", "a\"b"),
            ("N", "a\nb"),
            ("OK", "fine"),
            ("PORT", "8080"),
        ]);
        let json = |t| render(t, &v, FileKind::Json, "config.json.template");
        assert!(json(r#"{"x": "$Q"}"#)
            .unwrap_err()
            .to_string()
            .contains("value of Q would break the JSON string"));
        assert!(json(r#"{"x": "$N"}"#).is_err());
        assert_eq!(
            json(r#"{"x": "$OK", "y": [$PORT]}"#).unwrap(),
            r#"{"x": "fine", "y": [8080]}"#
        );
        assert_eq!(json(r#"{"x": "\"$OK\""}"#).unwrap(), r#"{"x": "\"fine\""}"#);
        // A raw fragment between array elements, as the catalog's
        // $ADDTL_MOUNTS: fine when the result parses, refused when not.
        let m = vals(&[
            (
                "ADDTL_MOUNTS",
                r#",{"type":"bind","source":"/x","destination":"/x"}"#,
            ),
            ("NONE", ""),
            ("BAD", r#",{"type":"#),
        ]);
        let t = r#"{"mounts": [{"destination": "/proc"}$ADDTL_MOUNTS]}"#;
        let out = render(t, &m, FileKind::Json, "c").unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["mounts"][1]["source"], "/x");
        assert!(render(&t.replace("ADDTL_MOUNTS", "NONE"), &m, FileKind::Json, "c").is_ok());
        let err = render(&t.replace("ADDTL_MOUNTS", "BAD"), &m, FileKind::Json, "c")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("values of BAD pasted outside JSON strings"),
            "{err}"
        );
        assert!(render("ExecStart=$N", &v, FileKind::Lines, "u")
            .unwrap_err()
            .to_string()
            .contains("newline"));
        assert_eq!(render("$N", &v, FileKind::Text, "h").unwrap(), "a\nb");
    }

    #[test]
    fn values_refer_to_values() {
        let mut v = vals(&[
            ("RUN_DIRECTORY", "/run"),
            ("NAME", "g"),
            ("PIDFILE", "$RUN_DIRECTORY/container-$NAME.pid"),
        ]);
        resolve(&mut v).unwrap();
        assert_eq!(v["PIDFILE"], "/run/container-g.pid");
    }

    #[test]
    fn values_expand_once_so_a_literal_dollar_stays() {
        let mut v = vals(&[("B", "b"), ("A", "a$$B ${B}"), ("C", "$A")]);
        resolve(&mut v).unwrap();
        assert_eq!(v["A"], "a$B b");
        assert_eq!(v["C"], "a$B b", "a resolved value is not expanded again");
    }

    #[test]
    fn cycles_depth_and_growth_are_bounded() {
        let mut v = vals(&[("A", "$B"), ("B", "x$C"), ("C", "$A")]);
        assert_eq!(
            resolve(&mut v).unwrap_err().to_string(),
            "template values refer to each other in a cycle: A -> B -> C -> A"
        );
        // Each doubles the one before: 2^40 bytes if expanded.
        let mut v: BTreeMap<String, String> = (1..=40)
            .map(|i| (format!("V{i}"), format!("$V{}$V{}", i - 1, i - 1)))
            .chain([("V0".to_string(), "x".to_string())])
            .collect();
        let start = std::time::Instant::now();
        let err = resolve(&mut v).unwrap_err().to_string();
        assert!(
            err.ends_with("would be larger than 65536 bytes once its references are expanded"),
            "{err}"
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        // The first to resolve refers down a chain of 100.
        let mut v: BTreeMap<String, String> = (0..100)
            .map(|i| (format!("D{i:03}"), format!("$D{:03}", i + 1)))
            .chain([("D100".to_string(), "x".to_string())])
            .collect();
        let err = resolve(&mut v).unwrap_err().to_string();
        assert!(err.contains("more than 64 deep"), "{err}");
        let mut v = vals(&[("A", "$NOPE")]);
        assert_eq!(
            resolve(&mut v).unwrap_err().to_string(),
            "value of A: variable NOPE has no value; set it with --set NOPE=VALUE"
        );
    }

    #[test]
    fn both_forms_and_the_literal_dollar() {
        assert_eq!(
            pieces("a $X b ${Y}c $$Z $ 5$"),
            [
                Piece::Text("a "),
                Piece::Var("X"),
                Piece::Text(" b "),
                Piece::Var("Y"),
                Piece::Text("c $"),
                Piece::Text("Z $ 5$"),
            ]
        );
        assert_eq!(
            variables("ExecStart=$EXEC_START\nPIDFile=${PIDFILE}\n$$HOME ${} ${A-B}"),
            ["EXEC_START".to_string(), "PIDFILE".to_string()].into()
        );
    }
}
