//! `.dockerignore` as docker reads it (moby/patternmatcher and its
//! `ignorefile` reader).
//!
//! * The file: one pattern a line; a line starting with `#` is a comment;
//!   surrounding whitespace is dropped; `!` makes an exception (whitespace
//!   after it dropped too); each pattern is cleaned (`a/./b/../c` -> `a/c`)
//!   and loses a leading `/` (patterns are relative to the context root).
//!   `<Dockerfile>.dockerignore` next to the Dockerfile wins over the
//!   context's `.dockerignore` ([`ignore_file_names`]).
//! * A pattern is Go's `filepath.Match` syntax (`*` and `?` within one path
//!   component, `[a-z]`, `\` escapes) plus `**`, any number of components
//!   (`**/x` also matches `x` at the root).
//! * A path is excluded when the last pattern that matches it, or matches one
//!   of its parent directories, is not an exception: last match wins, and an
//!   exception re-includes a child of an excluded directory (`dir`, then
//!   `!dir/keep`). A walker must therefore still enter an excluded directory
//!   when an exception could match inside it ([`Matcher::may_include_under`]).

use regex::Regex;

/// A bad pattern; messages are Go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    /// `!` alone.
    #[error("illegal exclusion pattern: \"!\"")]
    LoneExclamation,
    /// A malformed pattern (`[a-`, a trailing `\`).
    #[error("syntax error in pattern")]
    BadPattern(String),
}

/// The ignore files to look for, in order of preference, for a Dockerfile
/// at `dockerfile_path` (relative to wherever the caller reads it from):
/// `<path>.dockerignore`, then `.dockerignore` in the context root.
pub fn ignore_file_names(dockerfile_path: &str) -> [String; 2] {
    [
        format!("{dockerfile_path}.dockerignore"),
        ".dockerignore".to_string(),
    ]
}

/// Reads an ignore file's content into patterns (see the module doc).
pub fn read_patterns(content: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(content);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        out.push(if invert {
            format!("!{cleaned}")
        } else {
            cleaned
        });
    }
    out
}

/// Go's `filepath.Clean`.
pub fn clean(p: &str) -> String {
    crate::eval::clean_path(p)
}

#[derive(Debug, Clone)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Regex(Regex),
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    cleaned: String,
    dirs: Vec<String>,
    exclusion: bool,
    kind: Kind,
}

impl Pattern {
    /// The pattern as cleaned, without its `!`.
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }

    /// Whether it is an exception (`!`).
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    fn compile(cleaned: String, exclusion: bool) -> Result<Self, IgnoreError> {
        const ESCAPE: &str = ".+()|{}$";
        let chars: Vec<char> = cleaned.chars().collect();
        let mut re = String::from("^");
        // Exact until something needs more; `**` at the end of a literal
        // prefix is a prefix test, `**` first a suffix test.
        let mut kind = 0; // 0 exact, 1 prefix, 2 suffix, 3 regex
        let mut i = 0;
        let mut iteration = 0;
        while i < chars.len() {
            let ch = chars[i];
            i += 1;
            match ch {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i == chars.len() {
                        if kind == 0 {
                            kind = 1;
                        } else {
                            re.push_str(".*");
                            kind = 3;
                        }
                    } else {
                        re.push_str("(.*/)?");
                        kind = 3;
                    }
                    if iteration == 0 {
                        kind = 2;
                    }
                }
                '*' => {
                    re.push_str("[^/]*");
                    kind = 3;
                }
                '?' => {
                    re.push_str("[^/]");
                    kind = 3;
                }
                c if ESCAPE.contains(c) => {
                    re.push('\\');
                    re.push(c);
                }
                '\\' => match chars.get(i) {
                    Some(&next) => {
                        re.push('\\');
                        re.push(next);
                        i += 1;
                        kind = 3;
                    }
                    None => re.push('\\'),
                },
                '[' | ']' => {
                    re.push(ch);
                    kind = 3;
                }
                c => re.push(c),
            }
            iteration += 1;
        }
        let kind = match kind {
            0 => Kind::Exact,
            1 => Kind::Prefix,
            2 => Kind::Suffix,
            _ => {
                re.push('$');
                Kind::Regex(Regex::new(&re).map_err(|_| IgnoreError::BadPattern(cleaned.clone()))?)
            }
        };
        // Go checks the pattern with filepath.Match first: a trailing
        // escape or an unclosed class is refused.
        if cleaned.ends_with('\\') && !cleaned.ends_with("\\\\") {
            return Err(IgnoreError::BadPattern(cleaned));
        }
        Ok(Self {
            dirs: cleaned.split('/').map(str::to_string).collect(),
            cleaned,
            exclusion,
            kind,
        })
    }

    /// Whether the pattern matches `path` itself.
    pub fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.cleaned,
            Kind::Prefix => path.starts_with(&self.cleaned[..self.cleaned.len() - 2]),
            Kind::Suffix => {
                let suffix = &self.cleaned[2..];
                path.ends_with(suffix) || (suffix.starts_with('/') && path == &suffix[1..])
            }
            Kind::Regex(re) => re.is_match(path),
        }
    }
}

/// The patterns of one ignore file, compiled.
#[derive(Debug, Clone)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

/// What a walker remembers of a directory to test its children cheaply
/// (moby's `MatchInfo`): which patterns matched the directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

impl Matcher {
    /// Compiles patterns (as [`read_patterns`] gives them; each is trimmed and
    /// cleaned again, empty ones skipped).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, IgnoreError> {
        let mut out = Vec::new();
        let mut exclusions = false;
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let mut p = clean(p);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(IgnoreError::LoneExclamation);
                }
                exclusion = true;
                exclusions = true;
                p = rest.to_string();
            }
            out.push(Pattern::compile(p, exclusion)?);
        }
        Ok(Self {
            patterns: out,
            exclusions,
        })
    }

    /// Whether any pattern is an exception.
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// The compiled patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether `path` (relative to the context root, `/`-separated) is
    /// excluded: the last pattern matching it or one of its parents decides.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = clean(path);
        if path == "." {
            return false;
        }
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut hit = p.matches(&path);
            if !hit {
                hit = (1..=parents.len()).any(|n| p.matches(&parents[..n].join("/")));
            }
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// The same decision for a walker: `parent` is what the walk returned for
    /// the path's directory (the default for a child of the root); the
    /// result is the decision and what to pass for the path's own children.
    pub fn is_excluded_under(&self, path: &str, parent: &MatchInfo) -> (bool, MatchInfo) {
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        let mut matched = false;
        for (i, p) in self.patterns.iter().enumerate() {
            let mut hit = parent.parent_matched.get(i).copied().unwrap_or(false);
            if !hit {
                if p.exclusion != matched {
                    continue;
                }
                hit = p.matches(path);
            }
            info.parent_matched[i] = hit;
            if hit {
                matched = !p.exclusion;
            }
        }
        (matched, info)
    }

    /// Whether an exception could match something inside directory `dir`
    /// (excluded itself): the walker must enter it then. A pattern with
    /// `**` may match at any depth; otherwise its leading components must
    /// match `dir`'s and it must be longer.
    pub fn may_include_under(&self, dir: &str) -> bool {
        let dir = clean(dir);
        let dir_parts: Vec<&str> = dir.split('/').collect();
        self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            for (i, part) in p.dirs.iter().enumerate() {
                if part.contains("**") {
                    return true;
                }
                let Some(d) = dir_parts.get(i) else {
                    return true;
                };
                let Ok(one) = Pattern::compile(part.clone(), false) else {
                    return true;
                };
                if !one.matches(d) {
                    return false;
                }
            }
            false
        })
    }
}

#[cfg(test)]
mod tests;
