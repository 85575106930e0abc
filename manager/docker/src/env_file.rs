//! `--env-file`: docker's file of environment variables, one `KEY=VALUE` a
//! line. Only the CLI reads these files (the daemon receives the resulting
//! `-e` list), but the format is docker's, not the CLI's: it lives with the
//! other conventions.

/// A line of an env file that does not parse; the message quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvFileError {
    /// A line starting with `=`.
    #[error("no variable name on line '{0}'")]
    NoName(String),
    /// A name with white space in it.
    #[error("variable '{0}' contains whitespaces")]
    Whitespace(String),
}

/// Parses an `--env-file` as docker's `opts.ParseEnvFile`: one `KEY=VALUE` a
/// line, leading whitespace ignored, blank lines and `#` comments skipped,
/// the value taken literally (no quotes, no expansion). A line with only
/// `KEY` is returned as `KEY`: the CLI fills it from its own environment as
/// it does for `-e KEY`. Errors name the line: `variable 'A B' contains
/// whitespaces`, `no variable name on line '=x'`.
pub fn parse_env_file(text: &str) -> Result<Vec<String>, EnvFileError> {
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (line, None),
        };
        if name.is_empty() {
            return Err(EnvFileError::NoName(line.to_string()));
        }
        let name = name.trim_start();
        if name.contains(char::is_whitespace) {
            return Err(EnvFileError::Whitespace(name.to_string()));
        }
        out.push(match value {
            Some(v) => format!("{name}={v}"),
            None => name.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn env_file_like_docker() {
        let text = "# comment\n\n  A=1\nB=two words \nC\nD==x\nE=\n";
        assert_eq!(
            parse_env_file(text).unwrap(),
            s(&["A=1", "B=two words ", "C", "D==x", "E="])
        );
        assert_eq!(
            parse_env_file("A B=1").unwrap_err().to_string(),
            "variable 'A B' contains whitespaces"
        );
        assert_eq!(
            parse_env_file("=x").unwrap_err().to_string(),
            "no variable name on line '=x'"
        );
    }
}
