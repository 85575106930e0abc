//! The shell patterns of BuildKit's `${V#p}`, `${V%p}` and `${V/p/r}`: `*` is
//! any string, `?` any one character, `\` escapes `*`, `?` and `\` (and is
//! dropped before `}` and `/`, which had to be escaped to end the pattern);
//! no bracket expressions. Translated to a regular expression as BuildKit
//! does (`convertShellPatternToRegex`), so that which match is found (leftmost,
//! then shortest or longest) is the same: Rust's `regex` and Go's `regexp`
//! share leftmost-first semantics, and `.` matches anything but `\n` in both.

use regex::Regex;

/// A pattern that cannot be translated; the message is BuildKit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pattern ({pattern}) in substitution: {reason}")]
pub struct PatternError {
    /// The pattern as written (after its own expansion).
    pub pattern: String,
    /// What is wrong: `invalid escape '\x'`.
    pub reason: String,
}

/// Translates `pattern`; `greedy` makes `*` match the longest string (`##`,
/// `%%`, replacement) instead of the shortest; `anchored` matches only at the
/// start.
pub fn to_regex(pattern: &str, greedy: bool, anchored: bool) -> Result<Regex, PatternError> {
    let mut out = String::with_capacity(pattern.len() + 4);
    if anchored {
        out.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let tok = chars[i];
        i += 1;
        match tok {
            '*' => out.push_str(star),
            '?' => out.push('.'),
            '\\' => {
                // `}` and `/` were escaped to end the ${}; the escape is not
                // part of the pattern.
                if matches!(chars.get(i), Some('}') | Some('/')) {
                    continue;
                }
                let escaped = chars.get(i).copied();
                i += 1;
                match escaped {
                    Some(c @ ('*' | '?' | '\\')) => {
                        out.push('\\');
                        out.push(c);
                    }
                    other => {
                        return Err(PatternError {
                            pattern: pattern.to_string(),
                            // Go prints the end of input as U+FFFD.
                            reason: format!("invalid escape '\\{}'", other.unwrap_or('\u{FFFD}')),
                        });
                    }
                }
            }
            '[' | ']' | '{' | '}' | '.' | '+' | '(' | ')' | '|' | '^' | '$' => {
                out.push('\\');
                out.push(tok);
            }
            _ => out.push(tok),
        }
    }
    Regex::new(&out).map_err(|e| PatternError {
        pattern: pattern.to_string(),
        reason: e.to_string(),
    })
}

/// `${V#p}` / `${V##p}`: `value` without the shortest (longest when `greedy`)
/// prefix that matches.
pub fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, PatternError> {
    let re = to_regex(pattern, greedy, true)?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

/// `${V%p}` / `${V%%p}`: `value` without the shortest (longest) matching
/// suffix. A regex finds leftmost matches only, so both the pattern and the
/// value are reversed and the prefix trimmed, as BuildKit does.
pub fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, PatternError> {
    let reversed_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pattern), &reversed_value, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// Reverses a pattern keeping each escape before the character it escapes
/// (`a\*c` -> `c\*a`).
pub fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = vec!['\0'; chars.len()];
    let last = chars.len().wrapping_sub(1);
    let mut i = 0;
    while i < chars.len() {
        let out_idx = last - i;
        if chars[i] == '\\' && i != last {
            out[out_idx - 1] = '\\';
            out[out_idx] = chars[i + 1];
            i += 2;
        } else {
            out[out_idx] = chars[i];
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// `${V/p/r}` (first match) and `${V//p/r}` (every match): `*` is greedy
/// here. The single replacement is literal; the global one goes through the
/// regex replacement, where `$name` refers to a group, as Go's
/// `ReplaceAllString` that BuildKit calls.
pub fn replace(
    pattern: &str,
    value: &str,
    replacement: &str,
    all: bool,
) -> Result<String, PatternError> {
    let re = to_regex(pattern, true, false)?;
    if all {
        return Ok(re.replace_all(value, replacement).into_owned());
    }
    Ok(match re.find(value) {
        Some(m) => format!(
            "{}{}{}",
            &value[..m.start()],
            replacement,
            &value[m.end()..]
        ),
        None => value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translation_escapes_regex_characters() {
        for (pattern, expected) in [
            ("*", "^.*"),
            ("?", "^."),
            ("\\*", "^\\*"),
            (
                "(()[]{\\}^$.\\*\\?|\\\\",
                "^\\(\\(\\)\\[\\]\\{\\}\\^\\$\\.\\*\\?\\|\\\\",
            ),
        ] {
            assert_eq!(
                to_regex(pattern, true, true).unwrap().as_str(),
                expected,
                "{pattern}"
            );
        }
        for bad in ["\\", "\\x", "\\\\\\"] {
            assert!(to_regex(bad, true, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn reversing_keeps_escapes_in_front() {
        for (pattern, expected) in [
            ("a\\*c", "c\\*a"),
            ("\\\\\\ab", "b\\a\\\\"),
            ("ab\\", "\\ba"),
            ("👽\\🚀🖖", "🖖\\🚀👽"),
            ("\\\\b", "b\\\\"),
        ] {
            assert_eq!(reverse_pattern(pattern), expected, "{pattern}");
        }
    }

    #[test]
    fn trims_shortest_and_longest() {
        assert_eq!(trim_prefix("*x*y", "xxyy", false).unwrap(), "y");
        assert_eq!(trim_prefix("*x", "xxyy", true).unwrap(), "yy");
        assert_eq!(trim_prefix("*", "xxyy", false).unwrap(), "xxyy");
        assert_eq!(trim_suffix("\\**\\*", "a***yy*", true).unwrap(), "a");
        assert_eq!(trim_suffix("x", "xxyy", false).unwrap(), "xxyy");
    }
}
