//! `--format` for list commands: docker's formatter
//! (`cli/command/formatter`) over the Go template engine the CLI shares with
//! berthd ([`berth_docker::template`]): `table` (a header row rendered from
//! the same template over header names, laid out by [`super::tabwriter`]
//! with docker's settings), `json` (one JSON object per line) or a raw
//! template, with the two-character sequences `\t` and `\n` turned into a
//! tab and a newline.

pub use berth_docker::template::{go_string, parse, Template, TemplateError};

use super::tabwriter::TabWriter;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How a list command prints its rows (docker's `formatter.Format`).
#[derive(Debug, Clone)]
pub enum ListFormat {
    /// `table ...`: a header row, then one row per item, aligned.
    Table(Template),
    /// `json`: each item as one line of JSON.
    Json,
    /// Any other template: one rendering per item, each followed by a newline.
    Raw(Template),
}

impl ListFormat {
    /// Parses `--format` for a list command. An empty format or `table`
    /// alone means `default_table` (the command's own table layout).
    pub fn parse(format: &str, default_table: &str) -> Result<ListFormat, TemplateError> {
        let format = if format.is_empty() || format == "table" {
            default_table
        } else {
            format
        };
        if format == "json" {
            return Ok(ListFormat::Json);
        }
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) => (true, rest),
            None => (false, format),
        };
        // docker/cli formatter `preFormat`: trim spaces, then the
        // two-character sequences `\t` and `\n` become a tab and a newline.
        let body = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let template = parse(&body)?;
        Ok(if table {
            ListFormat::Table(template)
        } else {
            ListFormat::Raw(template)
        })
    }

    /// Renders every row; `headers` maps field names to column titles
    /// (`{"ID": "IMAGE ID", ...}`) for the table header.
    pub fn render(
        &self,
        rows: &[Value],
        headers: &Map<String, Value>,
    ) -> Result<String, TemplateError> {
        match self {
            ListFormat::Json => Ok(rows
                .iter()
                // docker marshals each row's map: keys sorted.
                .map(|r| {
                    let sorted: BTreeMap<&String, &Value> = match r {
                        Value::Object(m) => m.iter().collect(),
                        _ => BTreeMap::new(),
                    };
                    berth_docker::template::escape_html(
                        &serde_json::to_string(&sorted).unwrap_or_default(),
                    ) + "\n"
                })
                .collect()),
            ListFormat::Raw(t) => {
                let mut out = String::new();
                for r in rows {
                    out.push_str(&t.execute_row(r)?);
                    out.push('\n');
                }
                Ok(out)
            }
            ListFormat::Table(t) => {
                let mut text = t.execute_header(&Value::Object(headers.clone()))?;
                text.push('\n');
                for r in rows {
                    text.push_str(&t.execute_row(r)?);
                    text.push('\n');
                }
                // docker/cli: tabwriter.NewWriter(out, 10, 1, 3, ' ', 0).
                Ok(TabWriter::docker().format(&text))
            }
        }
    }
}

/// Header names keyed by field, from `(field, title)` pairs.
pub fn headers(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

/// A row keyed by field name, from `(field, text)` pairs (docker's list
/// contexts give every field as a string, also in `--format json`).
pub fn row(pairs: BTreeMap<&str, String>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_formats_table_json_and_raw() {
        let headers = headers(&[
            ("Repository", "REPOSITORY"),
            ("ID", "IMAGE ID"),
            ("Size", "SIZE"),
        ]);
        let rows = vec![
            json!({"Repository": "busybox", "ID": "0123456789ab", "Size": "4.26MB"}),
            json!({"Repository": "a", "ID": "ba9876543210", "Size": "1kB"}),
        ];
        let f = ListFormat::parse("table {{.Repository}}\\t{{.ID}}\\t{{.Size}}", "").unwrap();
        assert_eq!(
            f.render(&rows, &headers).unwrap(),
            "REPOSITORY   IMAGE ID       SIZE\n\
             busybox      0123456789ab   4.26MB\n\
             a            ba9876543210   1kB\n"
        );
        // "table" alone is the command's default table.
        let f = ListFormat::parse("table", "table {{.ID}}").unwrap();
        assert_eq!(
            f.render(&rows[..1], &headers).unwrap(),
            "IMAGE ID\n0123456789ab\n"
        );
        // Header functions pass the title through.
        let f = ListFormat::parse("table {{lower .ID}}\\t{{.Nope}}", "").unwrap();
        assert!(f
            .render(&[], &headers)
            .unwrap()
            .starts_with("IMAGE ID   <no value>"));
        let f = ListFormat::parse("{{.Repository}}:{{.Size}}", "").unwrap();
        assert_eq!(
            f.render(&rows, &headers).unwrap(),
            "busybox:4.26MB\na:1kB\n"
        );
        let f = ListFormat::parse("json", "").unwrap();
        assert_eq!(
            f.render(&rows[1..], &headers).unwrap(),
            "{\"ID\":\"ba9876543210\",\"Repository\":\"a\",\"Size\":\"1kB\"}\n"
        );
        assert!(ListFormat::parse("table {{.X", "").is_err());
        // Rows marshal as Go's json.Marshal does (docker's formatter
        // contexts): HTML characters escaped, in `json` and `{{json .}}`.
        let row = vec![json!({"Command": "\"a > b && c\""})];
        let escaped = "{\"Command\":\"\\\"a \\u003e b \\u0026\\u0026 c\\\"\"}\n";
        let f = ListFormat::parse("json", "").unwrap();
        assert_eq!(f.render(&row, &headers).unwrap(), escaped);
        let f = ListFormat::parse("{{json .}}", "").unwrap();
        assert_eq!(f.render(&row, &headers).unwrap(), escaped);
        // A field printed as text is not escaped.
        let f = ListFormat::parse("{{.Command}}", "").unwrap();
        assert_eq!(f.render(&row, &headers).unwrap(), "\"a > b && c\"\n");
    }
}
