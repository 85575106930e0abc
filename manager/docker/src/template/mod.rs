//! Go's `text/template` as docker uses it (the CLI's `--format`, the log
//! drivers' `tag`), over `serde_json::Value` data.
//!
//! docker parses `--format` with `text/template` plus its own functions
//! (docker/cli `templates/templates.go`): `json`, `split`, `join`, `title`,
//! `lower`, `upper`, `pad`, `truncate`, and Go's builtins (`index`, `len`,
//! `print`, `printf`, `println`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `and`,
//! `or`, `not`). This module implements that language: text and `{{...}}`
//! actions with `{{-`/`-}}` trimming and `{{/* comments */}}`, field chains
//! (`.A.B`, `$.A`, `$v.A`, `(pipeline).A`), literals, pipelines with `|`,
//! variables (`$v := ...`), and `if`/`else if`/`else`, `range` (with
//! `$i, $e :=`) and `with` blocks.
//!
//! Data is JSON, as in docker's raw-inspect fallback (`tryRawInspectFallback`
//! with `missingkey=error`): a field missing from a map is an error, a JSON
//! `null` prints `<no value>`, maps print as Go prints them (`map[k:v]`,
//! keys sorted) and lists as `[a b]`.
//!
//! The CLI's `--format` and berthd's log `tag` option (docker's
//! daemon/logger/templates has the same functions) both use it.
//!
//! The `parse` submodule turns text into nodes, `exec` runs them.
//!
//! Errors read as docker's: `template parsing error: template: :1: ...`.

mod exec;
mod parse;

pub use exec::{escape_html, go_string, sorted_entries};

/// A template that failed to parse or to execute, worded as docker words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template text is not valid (docker's `inspect` exits 64 for it).
    #[error("template parsing error: template: :{line}: {message}")]
    Parse { line: usize, message: String },
    /// The template is valid but could not be applied to the data.
    #[error(
        "template parsing error: template: :{line}:{col}: executing \"\" at <{action}>: {message}"
    )]
    Exec {
        line: usize,
        col: usize,
        action: String,
        message: String,
    },
}

/// A parsed template, ready to run over any number of values.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<parse::Node>,
}

/// Parses a template the way docker's `templates.Parse` does: unknown
/// functions are parse errors.
pub fn parse(source: &str) -> Result<Template, TemplateError> {
    let nodes = parse::parse_nodes(source)?;
    parse::check_functions(&nodes)?;
    Ok(Template { nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_are_one_line_like_docker() {
        for bad in [
            "{{.Id",
            "{{if .Id}}x",
            "{{end}}",
            "{{nosuch .Id}}",
            "{{.Id | }}",
            "{{\"x}}",
            "{{else}}",
        ] {
            let e = parse(bad).unwrap_err();
            let s = e.to_string();
            assert!(matches!(e, TemplateError::Parse { .. }), "{bad}: {s}");
            assert!(
                s.starts_with("template parsing error: template: :1: "),
                "{bad}: {s}"
            );
            assert!(!s.contains('\n'), "{s}");
        }
    }
}
