//! `images --filter`: which image records a listing keeps, with docker's
//! filter keys and matching rules (moby `daemon/images/images.go`).
//!
//! * `dangling=true|false` (`1`/`0` too): only records without / with a name.
//! * `label=KEY` or `label=KEY=VALUE`: the image config's `Labels` have the
//!   key (with that value); several label filters must all match.
//! * `before=IMAGE` / `since=IMAGE`: created strictly before / after the
//!   image named (by reference or ID).
//! * `reference=PATTERN`: the name matches a `path.Match` glob, either in
//!   full (`busybox:latest`, familiar form) or as the repository alone
//!   (`busybox`); several reference filters match if any does. Dangling
//!   records never match.
//!
//! Different keys must all match. An unknown key or a bad value is an
//! `InvalidArgument` naming the filter.

use super::ImageError;
use berth_docker::reference::Reference;
use std::collections::BTreeMap;

/// The filters of one listing, parsed from `KEY=VALUE` strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFilters {
    pub dangling: Option<bool>,
    /// `(key, Some(value))` or `(key, None)` for "has the key".
    pub labels: Vec<(String, Option<String>)>,
    /// Images named by `before=`.
    pub before: Vec<String>,
    /// Images named by `since=`.
    pub since: Vec<String>,
    /// Glob patterns of `reference=`.
    pub references: Vec<String>,
}

impl ImageFilters {
    /// Parses `KEY=VALUE` filter strings.
    pub fn parse(filters: &[String]) -> Result<ImageFilters, ImageError> {
        let mut out = ImageFilters::default();
        for f in filters {
            let Some((key, value)) = f.split_once('=') else {
                return Err(ImageError::InvalidArgument(format!(
                    "bad format of filter (expected name=value): {f}"
                )));
            };
            match key {
                "dangling" => {
                    let v = match value.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(ImageError::InvalidArgument(format!(
                                "invalid filter 'dangling={value}': want true or false"
                            )))
                        }
                    };
                    if out.dangling.is_some_and(|d| d != v) {
                        return Err(ImageError::InvalidArgument(
                            "invalid filter: dangling=true and dangling=false together".into(),
                        ));
                    }
                    out.dangling = Some(v);
                }
                "label" => match value.split_once('=') {
                    Some((k, v)) => out.labels.push((k.to_string(), Some(v.to_string()))),
                    None => out.labels.push((value.to_string(), None)),
                },
                "before" => out.before.push(value.to_string()),
                "since" => out.since.push(value.to_string()),
                "reference" => {
                    glob_match(value, "").map_err(|e| {
                        ImageError::InvalidArgument(format!(
                            "invalid filter 'reference={value}': {e}"
                        ))
                    })?;
                    out.references.push(value.to_string());
                }
                other => {
                    return Err(ImageError::InvalidArgument(format!(
                        "invalid filter '{other}'"
                    )))
                }
            }
        }
        Ok(out)
    }

    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        *self == ImageFilters::default()
    }

    /// Whether a record named `name` (empty: dangling) of an image with
    /// config `labels` and creation time `created` passes the filters that
    /// need no other image; `before`/`since` are applied with
    /// [`ImageFilters::matches_time`].
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        if let Some(d) = self.dangling {
            if name.is_empty() != d {
                return false;
            }
        }
        for (k, v) in &self.labels {
            match (labels.get(k), v) {
                (None, _) => return false,
                (Some(have), Some(want)) if have != want => return false,
                _ => {}
            }
        }
        if !self.references.is_empty() {
            if name.is_empty() {
                return false;
            }
            let Ok(r) = Reference::parse(name) else {
                return false;
            };
            let full = r.familiar();
            let repo = r.familiar_repository();
            let any = self.references.iter().any(|p| {
                glob_match(p, &full).unwrap_or(false) || glob_match(p, &repo).unwrap_or(false)
            });
            if !any {
                return false;
            }
        }
        true
    }

    /// Whether creation time `created` is before every `before` time and
    /// after every `since` time (seconds since the epoch).
    pub fn matches_time(created: i64, before: &[i64], since: &[i64]) -> bool {
        before.iter().all(|b| created < *b) && since.iter().all(|s| created > *s)
    }
}

/// The `config.Labels` of an image config blob (empty when it has none).
pub fn config_labels(config: &[u8]) -> BTreeMap<String, String> {
    let v: serde_json::Value = serde_json::from_slice(config).unwrap_or_default();
    v["config"]["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Go's `path.Match`: `*` is any run of non-`/` characters, `?` one
/// non-`/` character, `[...]` a class (`[^...]` negated, `a-z` ranges),
/// `\` escapes. A malformed pattern is an error (`syntax error in pattern`).
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, &'static str> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Check the whole pattern's syntax first: Go reports a bad pattern even
    // when an earlier part already fails to match.
    check_syntax(&p)?;
    Ok(match_from(&p, 0, &n, 0))
}

fn check_syntax(p: &[char]) -> Result<(), &'static str> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err("syntax error in pattern");
                }
                i += 2;
            }
            '[' => i = class_end(p, i)?,
            _ => i += 1,
        }
    }
    Ok(())
}

/// Index just past the `]` of the class starting at `start`.
fn class_end(p: &[char], start: usize) -> Result<usize, &'static str> {
    let mut i = start + 1;
    if p.get(i) == Some(&'^') {
        i += 1;
    }
    let mut first = true;
    loop {
        match p.get(i) {
            None => return Err("syntax error in pattern"),
            Some(']') if !first => return Ok(i + 1),
            Some(_) => {
                let (_, next) = class_char(p, i)?;
                i = next;
                if p.get(i) == Some(&'-') {
                    let (_, next) = class_char(p, i + 1)?;
                    i = next;
                }
            }
        }
        first = false;
    }
}

fn class_char(p: &[char], i: usize) -> Result<(char, usize), &'static str> {
    match p.get(i) {
        None | Some('-') | Some(']') => Err("syntax error in pattern"),
        Some('\\') => p
            .get(i + 1)
            .map(|c| (*c, i + 2))
            .ok_or("syntax error in pattern"),
        Some(c) => Ok((*c, i + 1)),
    }
}

fn match_from(p: &[char], pi: usize, n: &[char], ni: usize) -> bool {
    if pi == p.len() {
        return ni == n.len();
    }
    match p[pi] {
        '*' => {
            // A star matches any run of non-separator characters.
            let mut k = ni;
            loop {
                if match_from(p, pi + 1, n, k) {
                    return true;
                }
                if k == n.len() || n[k] == '/' {
                    return false;
                }
                k += 1;
            }
        }
        '?' => ni < n.len() && n[ni] != '/' && match_from(p, pi + 1, n, ni + 1),
        '[' => {
            if ni >= n.len() || n[ni] == '/' {
                return false;
            }
            let c = n[ni];
            let mut i = pi + 1;
            let negated = p.get(i) == Some(&'^');
            if negated {
                i += 1;
            }
            let mut matched = false;
            let mut first = true;
            while i < p.len() && (first || p[i] != ']') {
                first = false;
                let Ok((lo, next)) = class_char(p, i) else {
                    return false;
                };
                i = next;
                let mut hi = lo;
                if p.get(i) == Some(&'-') {
                    let Ok((h, next)) = class_char(p, i + 1) else {
                        return false;
                    };
                    hi = h;
                    i = next;
                }
                if lo <= c && c <= hi {
                    matched = true;
                }
            }
            matched != negated && match_from(p, i + 1, n, ni + 1)
        }
        '\\' => ni < n.len() && p.get(pi + 1) == Some(&n[ni]) && match_from(p, pi + 2, n, ni + 1),
        c => ni < n.len() && n[ni] == c && match_from(p, pi + 1, n, ni + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(list: &[&str]) -> ImageFilters {
        ImageFilters::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn glob_matches_like_go_path_match() {
        assert_eq!(glob_match("busy*", "busybox"), Ok(true));
        assert_eq!(glob_match("*", "library/busybox"), Ok(false));
        assert_eq!(glob_match("*/*", "library/busybox"), Ok(true));
        assert_eq!(glob_match("b?sybox:*", "busybox:latest"), Ok(true));
        assert_eq!(glob_match("[a-c]usybox", "busybox"), Ok(true));
        assert_eq!(glob_match("[^a-c]usybox", "busybox"), Ok(false));
        assert_eq!(glob_match("a\\*b", "a*b"), Ok(true));
        assert_eq!(glob_match("a\\*b", "axb"), Ok(false));
        assert_eq!(glob_match("[", "x"), Err("syntax error in pattern"));
        assert_eq!(glob_match("x[", "y"), Err("syntax error in pattern"));
        assert_eq!(glob_match("busybox", "busybox:latest"), Ok(false));
    }

    #[test]
    fn filters_combine_like_docker() {
        let labels: BTreeMap<String, String> = [
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "".to_string()),
        ]
        .into();
        let none = BTreeMap::new();
        let name = "docker.io/library/busybox:latest";
        assert!(f(&[]).matches(name, &none));
        assert!(f(&["dangling=false"]).matches(name, &none));
        assert!(!f(&["dangling=true"]).matches(name, &none));
        assert!(f(&["dangling=1"]).matches("", &none));
        assert!(f(&["label=a"]).matches(name, &labels));
        assert!(f(&["label=a=1", "label=b"]).matches(name, &labels));
        assert!(!f(&["label=a=2"]).matches(name, &labels));
        assert!(!f(&["label=a", "label=c"]).matches(name, &labels));
        assert!(f(&["reference=busybox"]).matches(name, &none));
        assert!(f(&["reference=busy*:lat*"]).matches(name, &none));
        assert!(f(&["reference=nomatch", "reference=busybox:latest"]).matches(name, &none));
        assert!(!f(&["reference=busybox:1"]).matches(name, &none));
        assert!(!f(&["reference=*"]).matches("", &none));
        assert!(f(&["reference=127.0.0.1:5000/*"]).matches("127.0.0.1:5000/app:v1", &none));
        assert!(ImageFilters::matches_time(5, &[6], &[4]));
        assert!(!ImageFilters::matches_time(5, &[5], &[]));
        assert!(!ImageFilters::matches_time(5, &[], &[5]));
    }

    #[test]
    fn bad_filters_name_themselves() {
        let bad = |s: &str| {
            ImageFilters::parse(&[s.to_string()])
                .unwrap_err()
                .to_string()
        };
        assert_eq!(bad("color=red"), "invalid filter 'color'");
        assert!(bad("dangling=maybe").contains("dangling=maybe"));
        assert!(bad("nokey").contains("nokey"));
        assert!(bad("reference=[").contains("reference=["));
    }
}
