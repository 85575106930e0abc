//! Parser directives: `# escape=``, `# syntax=...` and `# check=...` at the
//! very top of a Dockerfile, as BuildKit's `DirectiveParser`.
//!
//! A directive is a comment line `#KEY=VALUE` (spaces allowed around `#`,
//! the key and `=`; key case-insensitive) before any instruction, blank line
//! or other comment; the first line that is not one ends the directives for
//! good. An unknown key ends them too (it is an ordinary comment). Each key
//! may appear once.
//!
//! `syntax` is recorded and never acted on: Berth's frontend is built in and
//! no frontend image is ever pulled. `check` (BuildKit's lint configuration)
//! is recorded as well; Berth runs no linter.

use crate::error::SyntaxErrorKind;

/// The directives a Dockerfile declared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// `# escape=`: the escape token as written (`\` or a backtick).
    pub escape: Option<String>,
    /// `# syntax=`: the frontend image the file asks for (not used).
    pub syntax: Option<String>,
    /// `# check=`: BuildKit's lint settings (not used).
    pub check: Option<String>,
}

/// Reads directives line by line until the first line that is not one.
#[derive(Debug, Default)]
pub(crate) struct DirectiveParser {
    done: bool,
    pub(crate) found: Directives,
}

impl DirectiveParser {
    /// Looks at one line (leading whitespace already trimmed for the first
    /// line of an instruction); returns whether it was a directive.
    pub(crate) fn parse_line(&mut self, line: &str) -> Result<bool, SyntaxErrorKind> {
        if self.done {
            return Ok(false);
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(false);
        };
        let Some((key, value)) = split_directive(rest.trim_start()) else {
            self.done = true;
            return Ok(false);
        };
        let key = key.to_ascii_lowercase();
        let slot = match key.as_str() {
            "escape" => &mut self.found.escape,
            "syntax" => &mut self.found.syntax,
            "check" => &mut self.found.check,
            _ => {
                self.done = true;
                return Ok(false);
            }
        };
        if slot.is_some() {
            return Err(SyntaxErrorKind::DuplicateDirective(key));
        }
        if key == "escape" && value != "`" && value != "\\" {
            return Err(SyntaxErrorKind::InvalidEscape(value.to_string()));
        }
        *slot = Some(value.to_string());
        Ok(true)
    }
}

/// `KEY = VALUE` where KEY is a letter then letters or digits and VALUE is
/// not empty (surrounding whitespace dropped): BuildKit's
/// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`.
fn split_directive(s: &str) -> Option<(&str, &str)> {
    let key_end = s
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(s.len());
    let key = &s[..key_end];
    if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let rest = s[key_end..].trim_start_matches(is_re_space);
    let value = rest.strip_prefix('=')?.trim_matches(is_re_space);
    // `.+?` does not match a newline: a value must be one line.
    if value.is_empty() || value.contains('\n') {
        return None;
    }
    Some((key, value))
}

/// Go's regexp `\s`: ASCII whitespace only.
fn is_re_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_lines() {
        for (line, want) in [
            ("# escape=`", Some(("escape", "`"))),
            ("#escape = \\", Some(("escape", "\\"))),
            ("# ESCAPE=`", Some(("ESCAPE", "`"))),
            (
                "# syntax=docker/dockerfile:1",
                Some(("syntax", "docker/dockerfile:1")),
            ),
            (
                "# syntax = docker/dockerfile:1 extra",
                Some(("syntax", "docker/dockerfile:1 extra")),
            ),
            ("# escape=", None),
            ("# 1escape=`", None),
            ("# just a comment", None),
        ] {
            let got = line
                .strip_prefix('#')
                .and_then(|r| split_directive(r.trim_start()));
            assert_eq!(got, want, "{line:?}");
        }
    }

    #[test]
    fn first_non_directive_ends_them() {
        let mut p = DirectiveParser::default();
        assert!(p.parse_line("# syntax=x").unwrap());
        assert!(!p.parse_line("# unknown=1").unwrap());
        assert!(!p.parse_line("# escape=`").unwrap());
        assert_eq!(p.found.escape, None);
        assert_eq!(p.found.syntax.as_deref(), Some("x"));
    }

    #[test]
    fn duplicates_and_bad_escape_are_errors() {
        let mut p = DirectiveParser::default();
        p.parse_line("# escape=`").unwrap();
        assert_eq!(
            p.parse_line("# Escape=\\").unwrap_err().to_string(),
            "only one escape parser directive can be used"
        );
        let mut p = DirectiveParser::default();
        assert_eq!(
            p.parse_line("# escape=x").unwrap_err().to_string(),
            "invalid escape token 'x' does not match ` or \\"
        );
    }
}
