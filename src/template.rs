//! `/exports` templates: `$VAR` and `${VAR}` references, `$$` for a literal
//! `$`, and the variables the tool itself provides.

use std::collections::BTreeSet;

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

/// Variables the tool gives a default that the image or `--set` may override.
pub const TOOL_DEFAULTS: &[&str] = &[
    "RUN_DIRECTORY",
    "STATE_DIRECTORY",
    "CONF_DIRECTORY",
    "PIDFILE",
    "ALL_PROCESS_CAPABILITIES",
    "RUNTIME",
    "ATOMIC",
    "UUID",
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

#[cfg(test)]
mod tests {
    use super::*;

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
