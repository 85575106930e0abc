//! `GET /events`: the events domain's stream ([`EventBus::stream`], the
//! one the gRPC adapter serves too) as docker's `events.Message` lines,
//! with `since`, `until` (docker's `SECONDS[.NANOS]` timestamps) and
//! `filters`. The stream ends at `until`, or when the client hangs up
//! (the domain's task sees its receiver dropped).
//!
//! [`EventBus::stream`]: crate::events::EventBus::stream

use super::error::ApiError;
use super::progress::json_stream;
use super::server::{ApiRequest, Reply};
use super::DockerApi;
use crate::events::{Event, Subscription};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// docker's `timetypes.ParseTimestamps`: `SECONDS` or `SECONDS.NANOS`, as
/// nanoseconds since the epoch; 400 naming the parameter otherwise.
fn timestamp(key: &str, value: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "invalid value for {key}: {value:?}: not a SECONDS[.NANOSECONDS] timestamp"
        ))
    };
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if frac.len() > 9 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    Ok(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

/// docker's `events.Message` of one event (the deprecated `status`, `id`
/// and `from` only on container and image events, as dockerd writes them).
pub fn message(e: &Event) -> Value {
    let mut m = json!({
        "Type": e.kind,
        "Action": e.action,
        "Actor": { "ID": e.actor_id, "Attributes": e.attributes },
        "scope": "local",
        "time": e.time_nano / 1_000_000_000,
        "timeNano": e.time_nano,
    });
    if e.kind == "container" || e.kind == "image" {
        m["status"] = json!(e.action);
        m["id"] = json!(e.actor_id);
        if let Some(image) = e.attributes.get("image").filter(|_| e.kind == "container") {
            m["from"] = json!(image);
        }
    }
    m
}

/// `GET /events?since=&until=&filters=`.
pub async fn events(api: &DockerApi, req: &ApiRequest) -> Reply {
    let param = |key: &str| -> Result<Option<i64>, ApiError> {
        req.query
            .string(key)
            .map(|v| timestamp(key, &v))
            .transpose()
    };
    let sub = Subscription {
        since: param("since")?,
        until: param("until")?,
        filters: req.query.filters()?,
    };
    let mut events = api.events.stream(sub);
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                e = events.recv() => match e {
                    Some(e) => {
                        let mut text = message(&e).to_string();
                        text.push('\n');
                        if tx.send(Bytes::from(text)).await.is_err() {
                            return;
                        }
                    }
                    None => return,
                },
                // The client went: dropping `events` ends the domain's task.
                () = tx.closed() => return,
            }
        }
    });
    Ok(json_stream(rx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn timestamps_and_messages_are_dockers() {
        assert_eq!(timestamp("since", "12").unwrap(), 12_000_000_000);
        assert_eq!(timestamp("since", "12.5").unwrap(), 12_500_000_000);
        assert_eq!(timestamp("until", "1.000000001").unwrap(), 1_000_000_001);
        let e = timestamp("since", "yesterday").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(e.message.contains("since"), "{}", e.message);
        let ev = Event {
            kind: "container",
            action: "start".into(),
            actor_id: "abc".into(),
            attributes: BTreeMap::from([("image".into(), "busybox".into())]),
            time_nano: 1_500_000_000,
        };
        let m = message(&ev);
        assert_eq!(m["status"], "start");
        assert_eq!(m["from"], "busybox");
        assert_eq!(m["time"], 1);
        assert_eq!(m["Actor"]["Attributes"]["image"], "busybox");
        let net = message(&Event {
            kind: "network",
            ..ev
        });
        assert!(net.get("status").is_none() && net.get("from").is_none());
    }
}
