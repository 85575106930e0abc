//! Instruction flags (`--chown=1:1`, `--link`, `--exclude=a --exclude=b`) as
//! BuildKit's `BFlags`: each instruction declares the flags it has; a flag is
//! `--name=value`, a boolean may stand alone (`--link`, `--link=false`), a
//! list flag may repeat; anything else, a repeat of a single flag, or a
//! flag the instruction does not have is an error. `--` ends the flags.

use std::collections::BTreeMap;

use crate::error::SyntaxErrorKind;

/// The kind of one declared flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagKind {
    Bool,
    String,
    Strings,
}

/// The flags given to one instruction, checked against its declaration.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: BTreeMap<&'static str, Vec<String>>,
}

impl Flags {
    /// Checks `words` (the node's flags) against `declared`.
    pub(crate) fn parse(
        words: &[String],
        declared: &[(&'static str, FlagKind)],
    ) -> Result<Self, SyntaxErrorKind> {
        let mut flags = Flags::default();
        for word in words {
            if word == "--" {
                break;
            }
            let Some(body) = word.strip_prefix("--") else {
                return Err(SyntaxErrorKind::FlagNotDashed(word.clone()));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let written = format!("--{name}");
            let Some(&(key, kind)) = declared.iter().find(|(n, _)| *n == name) else {
                return Err(SyntaxErrorKind::UnknownFlag(written));
            };
            if flags.values.contains_key(key) && kind != FlagKind::Strings {
                return Err(SyntaxErrorKind::DuplicateFlag(written));
            }
            let value = match (kind, value) {
                (FlagKind::Bool, Some("")) => {
                    return Err(SyntaxErrorKind::FlagMissingValue(written))
                }
                (FlagKind::Bool, None) => "true".to_string(),
                (FlagKind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => "true".to_string(),
                    "false" => "false".to_string(),
                    _ => {
                        return Err(SyntaxErrorKind::FlagNotBool {
                            flag: written,
                            value: v.to_string(),
                        })
                    }
                },
                (_, None) => return Err(SyntaxErrorKind::FlagMissingValue(written)),
                (_, Some(v)) => v.to_string(),
            };
            flags.values.entry(key).or_default().push(value);
        }
        Ok(flags)
    }

    /// A string flag's value, `""` when not given.
    pub(crate) fn string(&self, name: &str) -> String {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .cloned()
            .unwrap_or_default()
    }

    /// A string flag's value, `None` when not given.
    pub(crate) fn optional(&self, name: &str) -> Option<String> {
        self.values.get(name).and_then(|v| v.last()).cloned()
    }

    /// A boolean flag, false when not given.
    pub(crate) fn bool(&self, name: &str) -> bool {
        self.optional_bool(name).unwrap_or(false)
    }

    /// A boolean flag, `None` when not given.
    pub(crate) fn optional_bool(&self, name: &str) -> Option<bool> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(|v| v == "true")
    }

    /// Every value of a list flag, in order.
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECL: &[(&str, FlagKind)] = &[
        ("link", FlagKind::Bool),
        ("chown", FlagKind::String),
        ("exclude", FlagKind::Strings),
    ];

    fn parse(words: &[&str]) -> Result<Flags, String> {
        let words: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        Flags::parse(&words, DECL).map_err(|e| e.to_string())
    }

    #[test]
    fn values() {
        let f = parse(&["--link", "--chown=1:2", "--exclude=a", "--exclude=b"]).unwrap();
        assert!(f.bool("link"));
        assert_eq!(f.string("chown"), "1:2");
        assert_eq!(f.strings("exclude"), ["a", "b"]);
        assert!(!parse(&["--link=FALSE"]).unwrap().bool("link"));
        assert_eq!(parse(&[]).unwrap().optional_bool("link"), None);
        assert_eq!(
            parse(&["--chown="]).unwrap().optional("chown").as_deref(),
            Some("")
        );
    }

    #[test]
    fn errors() {
        for (words, msg) in [
            (&["--bogus=1"][..], "unknown flag: --bogus"),
            (&["--link", "--link"], "duplicate flag specified: --link"),
            (&["--chown"], "missing a value on flag: --chown"),
            (&["--link="], "missing a value on flag: --link"),
            (
                &["--link=yes"],
                "expecting boolean value for flag --link, not: yes",
            ),
            (&["-x"], "arg should start with -- : -x"),
        ] {
            assert_eq!(parse(words).err().as_deref(), Some(msg), "{words:?}");
        }
    }
}
