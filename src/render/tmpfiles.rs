//! The tmpfiles.d(5) line, read one way wherever the tool reads one: the
//! image's template, the rendered file, the lines a package gets.

/// One configuration line of a tmpfiles.d file: up to six
/// whitespace-separated fields (type, path, mode, user, group, age) and
/// the argument, the rest of the line, which may hold spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    pub fields: Vec<&'a str>,
    pub argument: Option<&'a str>,
}

impl<'a> Line<'a> {
    /// The line `text`, or None for a blank line or a comment.
    pub fn parse(text: &'a str) -> Option<Line<'a>> {
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return None;
        }
        let mut fields = Vec::new();
        let mut rest = trimmed;
        while fields.len() < 6 && !rest.is_empty() {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            fields.push(&rest[..end]);
            rest = rest[end..].trim_start();
        }
        let argument = (!rest.is_empty()).then_some(rest.trim_end());
        Some(Line { fields, argument })
    }

    /// The type as written, modifiers included (`d`, `D!`, `L+`).
    pub fn kind(&self) -> &'a str {
        self.fields[0]
    }

    /// The type without its modifiers (`!`, `-`, `+`, `=`, `~`, `^`).
    pub fn base_kind(&self) -> &'a str {
        self.kind().trim_end_matches(['!', '-', '+', '=', '~', '^'])
    }

    /// The path field, if the line has one.
    pub fn path(&self) -> Option<&'a str> {
        self.fields.get(1).copied()
    }

    /// Whether the line creates a directory (`d`, `D`, `v`, `q`, `Q`).
    pub fn creates_dir(&self) -> bool {
        matches!(self.base_kind(), "d" | "D" | "v" | "q" | "Q")
    }

    /// The line written back: its fields joined by one space.
    pub fn text(&self) -> String {
        let mut out = self.fields.join(" ");
        if let Some(a) = self.argument {
            out.push(' ');
            out.push_str(a);
        }
        out
    }
}

/// The configuration lines of a tmpfiles.d file.
pub fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.lines().filter_map(Line::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_argument_and_types() {
        let l = Line::parse("  D! /run/x  0755 root  root - an argument with spaces ").unwrap();
        assert_eq!(l.fields, ["D!", "/run/x", "0755", "root", "root", "-"]);
        assert_eq!(l.argument, Some("an argument with spaces"));
        assert_eq!(
            (l.kind(), l.base_kind(), l.path()),
            ("D!", "D", Some("/run/x"))
        );
        assert!(l.creates_dir());
        assert_eq!(
            l.text(),
            "D! /run/x 0755 root root - an argument with spaces"
        );
        let f = Line::parse("f /run/file").unwrap();
        assert!(!f.creates_dir());
        assert_eq!(f.fields.get(2), None);
        for skipped in ["", "   ", "# d /run/x", "  # comment"] {
            assert_eq!(Line::parse(skipped), None, "{skipped:?}");
        }
        let all: Vec<_> = lines("d /a\n\n# x\nL /b - - - - /c\n")
            .map(|l| l.text())
            .collect();
        assert_eq!(all, ["d /a", "L /b - - - - /c"]);
    }
}
