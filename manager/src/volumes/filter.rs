//! docker's volume filters (`volume ls --filter`, `volume prune --filter`):
//! `dangling=true|false` (no container references it), `name=SUBSTRING`,
//! `label=KEY[=VALUE]`, `label!=KEY[=VALUE]`, `driver=NAME`. Values of one
//! key are OR-ed, keys AND-ed; `label` values are all required, as docker's.

use super::service::VolumeInfo;
use super::VolumeError;
use std::collections::BTreeMap;

const KEYS: &[&str] = &["dangling", "name", "label", "label!", "driver"];

/// Parsed filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeFilters {
    by_key: BTreeMap<String, Vec<String>>,
}

impl VolumeFilters {
    /// Parses `KEY=VALUE` strings; an unknown key or a bad `dangling` value
    /// is an error naming it (docker's `invalid filter 'x'`).
    pub fn parse(filters: &[String]) -> Result<VolumeFilters, VolumeError> {
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in filters {
            let (key, value) = f.split_once('=').ok_or_else(|| {
                VolumeError::InvalidArgument(format!(
                    "bad format of filter (expected name=value): {f}"
                ))
            })?;
            // `label!=k` splits as ("label!", "k").
            let key = key.trim();
            if !KEYS.contains(&key) {
                return Err(VolumeError::InvalidArgument(format!(
                    "invalid filter '{key}'"
                )));
            }
            if key == "dangling" && !matches!(value, "true" | "false" | "1" | "0") {
                return Err(VolumeError::InvalidArgument(format!(
                    "invalid filter 'dangling={value}'"
                )));
            }
            by_key
                .entry(key.to_string())
                .or_default()
                .push(value.to_string());
        }
        Ok(VolumeFilters { by_key })
    }

    /// Whether the volume passes every filter.
    pub fn matches(&self, v: &VolumeInfo) -> bool {
        let any = |key: &str, f: &dyn Fn(&str) -> bool| match self.by_key.get(key) {
            Some(values) => values.iter().any(|x| f(x)),
            None => true,
        };
        let label = |want: &str| match want.split_once('=') {
            Some((k, val)) => v.record.labels.get(k).map(String::as_str) == Some(val),
            None => v.record.labels.contains_key(want),
        };
        any("dangling", &|d| {
            matches!(d, "true" | "1") == v.containers.is_empty()
        }) && any("name", &|n| v.record.name.contains(n))
            && any("driver", &|d| v.record.driver == d)
            && self
                .by_key
                .get("label")
                .is_none_or(|ls| ls.iter().all(|l| label(l)))
            && !self
                .by_key
                .get("label!")
                .is_some_and(|ls| ls.iter().any(|l| label(l)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volumes::VolumeRecord;

    fn info(name: &str, labels: &[(&str, &str)], used: bool) -> VolumeInfo {
        VolumeInfo {
            record: VolumeRecord {
                name: name.into(),
                driver: "local".into(),
                created_at: String::new(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                options: BTreeMap::new(),
            },
            mountpoint: "/x".into(),
            containers: if used { vec!["c1".into()] } else { vec![] },
        }
    }

    fn f(list: &[&str]) -> VolumeFilters {
        VolumeFilters::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn filters_like_docker() {
        let a = info("alpha", &[("env", "prod")], true);
        let b = info("beta", &[("env", "dev"), ("x", "")], false);
        assert!(f(&[]).matches(&a));
        assert!(f(&["dangling=true"]).matches(&b) && !f(&["dangling=true"]).matches(&a));
        assert!(f(&["dangling=false"]).matches(&a));
        assert!(f(&["name=lph"]).matches(&a) && !f(&["name=lph"]).matches(&b));
        assert!(f(&["name=zz", "name=bet"]).matches(&b));
        assert!(f(&["label=env=prod"]).matches(&a) && !f(&["label=env=prod"]).matches(&b));
        assert!(f(&["label=x"]).matches(&b) && !f(&["label=x", "label=env=prod"]).matches(&b));
        assert!(f(&["label!=x"]).matches(&a) && !f(&["label!=x"]).matches(&b));
        assert!(f(&["driver=local"]).matches(&a) && !f(&["driver=nfs"]).matches(&a));
    }

    #[test]
    fn bad_filters_are_named() {
        for (bad, msg) in [
            ("nope=1", "invalid filter 'nope'"),
            ("dangling=maybe", "invalid filter 'dangling=maybe'"),
            ("name", "bad format of filter"),
        ] {
            let e = VolumeFilters::parse(&[bad.to_string()]).unwrap_err();
            assert!(e.to_string().contains(msg), "{bad}: {e}");
        }
    }
}
