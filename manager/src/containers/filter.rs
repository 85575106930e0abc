//! docker's container filters (`ps --filter`, `container prune --filter`):
//! values of one key are OR-ed, keys AND-ed.

use super::view::{unix_seconds, Summary};
use super::ContainerError;
use std::collections::BTreeMap;

const KEYS: &[&str] = &[
    "id", "name", "label", "label!", "status", "exited", "ancestor", "before", "since", "until",
    "network", "volume", "health", "is-task", "publish", "expose",
];

fn label_matches(labels: &BTreeMap<String, String>, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
        None => labels.contains_key(want),
    }
}

/// docker's `until` values: a unix time or a duration before now.
fn until_seconds(v: &str) -> Result<i64, ContainerError> {
    if let Ok(n) = v.parse::<f64>() {
        return Ok(n as i64);
    }
    if let Ok(d) = humantime::parse_duration(v) {
        let now = crate::events::now_nanos() / 1_000_000_000;
        return Ok(now - d.as_secs() as i64);
    }
    let t = unix_seconds(v);
    if t == 0 {
        return Err(ContainerError::InvalidArgument(format!(
            "invalid until filter value {v:?}: want a unix time, a duration or an RFC 3339 time"
        )));
    }
    Ok(t)
}

/// Keeps the summaries (newest first) that match `filters`, then the `last`
/// n of them (0 or negative: all).
pub fn apply(
    summaries: Vec<Summary>,
    filters: &BTreeMap<String, Vec<String>>,
    last: i32,
) -> Result<Vec<Summary>, ContainerError> {
    for key in filters.keys() {
        if !KEYS.contains(&key.as_str()) {
            return Err(ContainerError::InvalidArgument(format!(
                "invalid filter '{key}'"
            )));
        }
        if key == "is-task" {
            return Err(ContainerError::NotImplemented(format!(
                "the {key} filter (swarm tasks do not exist in berth)"
            )));
        }
    }
    for status in filters.get("status").into_iter().flatten() {
        if ![
            "created",
            "restarting",
            "running",
            "removing",
            "paused",
            "exited",
            "dead",
        ]
        .contains(&status.as_str())
        {
            return Err(ContainerError::InvalidArgument(format!(
                "invalid filter 'status={status}'"
            )));
        }
    }
    for value in filters.get("health").into_iter().flatten() {
        if !super::health::valid_filter_value(value) {
            return Err(ContainerError::InvalidArgument(format!(
                "Unrecognised filter value for health: {value}"
            )));
        }
    }
    // before/since name containers: their creation times bound the list.
    let created_of = |input: &str| -> Result<String, ContainerError> {
        summaries
            .iter()
            .find(|s| {
                s.record.id.starts_with(input) || s.record.name == input.trim_start_matches('/')
            })
            .map(|s| s.record.created.clone())
            .ok_or_else(|| ContainerError::NotFound(input.to_string()))
    };
    let before: Vec<String> = filters
        .get("before")
        .into_iter()
        .flatten()
        .map(|v| created_of(v))
        .collect::<Result<_, _>>()?;
    let since: Vec<String> = filters
        .get("since")
        .into_iter()
        .flatten()
        .map(|v| created_of(v))
        .collect::<Result<_, _>>()?;
    let until: Vec<i64> = filters
        .get("until")
        .into_iter()
        .flatten()
        .map(|v| until_seconds(v))
        .collect::<Result<_, _>>()?;
    let publish = super::ports::port_filter(filters.get("publish"))?;
    let expose = super::ports::port_filter(filters.get("expose"))?;
    let any = |key: &str, f: &dyn Fn(&str) -> bool| -> bool {
        match filters.get(key) {
            Some(values) if !values.is_empty() => values.iter().any(|v| f(v)),
            _ => true,
        }
    };
    let mut out: Vec<Summary> = summaries
        .iter()
        .filter(|s| {
            let r = &s.record;
            any("id", &|v| r.id.starts_with(v))
                && any("name", &|v| r.name.contains(v.trim_start_matches('/')))
                && filters
                    .get("label")
                    .into_iter()
                    .flatten()
                    .all(|v| label_matches(&r.config.options.labels, v))
                && !filters
                    .get("label!")
                    .into_iter()
                    .flatten()
                    .any(|v| label_matches(&r.config.options.labels, v))
                && any("status", &|v| r.state.status.as_str() == v)
                && any("exited", &|v| {
                    r.state.status == super::record::Status::Exited
                        && v.parse::<i32>().ok() == Some(r.state.exit_code)
                })
                && any("ancestor", &|v| {
                    r.image == v
                        || r.image_ref == v
                        || r.image_id == v
                        || r.image_id.trim_start_matches("sha256:").starts_with(v)
                        || berth_docker::reference::Reference::parse(v)
                            .map(|x| x.to_string() == r.image_ref)
                            .unwrap_or(false)
                })
                && any("network", &|v| r.config.options.network.as_str() == v)
                && any("health", &|v| {
                    v == s
                        .health
                        .map(|h| h.as_str())
                        .unwrap_or(super::health::NO_HEALTHCHECK)
                })
                && publish.as_ref().is_none_or(|want| {
                    r.ports
                        .bindings
                        .iter()
                        .any(|b| want.contains(&(b.container_port, b.proto)))
                })
                && expose
                    .as_ref()
                    .is_none_or(|want| r.ports.exposed.iter().any(|p| want.contains(p)))
                && any("volume", &|v| {
                    // docker: a volume's name, or any mount's destination.
                    r.volumes.iter().any(|m| m.name == v || m.destination == v)
                        || r.config.options.binds.iter().any(|b| {
                            crate::containers::spec::parse_bind(b).is_ok_and(|m| m.target() == v)
                        })
                        || r.config.options.mounts.iter().any(|b| {
                            crate::containers::spec::parse_mount(b).is_ok_and(|m| m.target() == v)
                        })
                })
                && before.iter().all(|b| r.created < *b)
                && since.iter().all(|b| r.created > *b)
                && until.iter().all(|u| unix_seconds(&r.created) <= *u)
        })
        .cloned()
        .collect();
    if last > 0 {
        out.truncate(last as usize);
    }
    Ok(out)
}
