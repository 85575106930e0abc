//! `berth events`: berthd's event stream as docker prints it,
//! `2026-11-22T10:00:00.000000000Z container start ID (image=busybox, name=x)`,
//! with `--since`/`--until` (docker's time syntax) and `--filter`
//! (evaluated by berthd), or one `--format` rendering per event over
//! docker's `events.Message` fields (`.Type .Action .Actor.ID
//! .Actor.Attributes .ID .Status .From .Time .TimeNano .Scope`).

use super::{events_client, parse_filters};
use crate::context::Context;
use crate::template;
use crate::CliError;
use berth_docker::timestamp::{format_timestamp, parse_log_time};
use berth_proto::v1 as pb;
use clap::Args;
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_stream::StreamExt;

/// `berth events`.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Filter output based on conditions provided (type=, event=, container=, image=, label=).
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Format the output using the given Go template ('json' for JSON lines).
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp.
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp.
    #[arg(long)]
    pub until: Option<String>,
}

/// docker's plain line for one event.
pub fn event_line(e: &pb::Event) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(e.time.max(0) as u64);
    let mut line = format!(
        "{} {} {} {}",
        format_timestamp(t),
        e.r#type,
        e.action,
        e.actor_id
    );
    if !e.attributes.is_empty() {
        let mut attrs: Vec<String> = e
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        attrs.sort();
        line.push_str(&format!(" ({})", attrs.join(", ")));
    }
    line
}

/// docker's `events.Message` as template data.
pub fn event_value(e: &pb::Event) -> Value {
    let (status, id, from) = if e.r#type == "container" || e.r#type == "image" {
        (
            e.action.clone(),
            e.actor_id.clone(),
            e.attributes.get("image").cloned().unwrap_or_default(),
        )
    } else {
        (String::new(), String::new(), String::new())
    };
    json!({
        "status": status,
        "id": id,
        "from": from,
        "Type": e.r#type,
        "Action": e.action,
        "Actor": {"ID": e.actor_id, "Attributes": e.attributes},
        "scope": "local",
        "time": e.time / 1_000_000_000,
        "timeNano": e.time,
        "Status": status,
        "ID": id,
        "From": from,
        "Scope": "local",
        "Time": e.time / 1_000_000_000,
        "TimeNano": e.time,
    })
}

fn to_nanos(flag: &str, value: &str) -> Result<i64, CliError> {
    let t = parse_log_time(value, SystemTime::now())
        .map_err(|e| CliError::Usage(format!("invalid value for \"{flag}\": {e}")))?;
    Ok(t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0))
}

/// `berth events`: streams until interrupted (or `--until` passes).
pub async fn events(ctx: &Context, a: EventsArgs) -> Result<i32, CliError> {
    let filters = parse_filters(&a.filter)?;
    let template = match a.format.as_deref() {
        None | Some("") | Some("json") => None,
        Some(f) => Some(template::parse(f).map_err(|e| CliError::Usage(e.to_string()))?),
    };
    let request = pb::SubscribeEventsRequest {
        since: a
            .since
            .as_deref()
            .map(|v| to_nanos("--since", v))
            .transpose()?,
        until: a
            .until
            .as_deref()
            .map(|v| to_nanos("--until", v))
            .transpose()?,
        filters,
    };
    let mut stream = events_client(&ctx.host)
        .await?
        .subscribe(request)
        .await?
        .into_inner();
    while let Some(e) = stream.next().await {
        let e = e?;
        let text = match (&template, a.format.as_deref()) {
            (Some(t), _) => t
                .execute(&event_value(&e))
                .map_err(|err| CliError::Other(err.to_string()))?,
            (None, Some("json")) => event_value(&e).to_string(),
            (None, _) => event_line(&e),
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
            return Ok(0);
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_like_docker() {
        let e = pb::Event {
            r#type: "container".into(),
            action: "start".into(),
            actor_id: "abc".into(),
            attributes: [
                ("name".to_string(), "x".to_string()),
                ("image".to_string(), "busybox".to_string()),
            ]
            .into_iter()
            .collect(),
            time: 1_700_000_000_123_456_789,
        };
        assert_eq!(
            event_line(&e),
            "2023-11-14T22:13:20.123456789Z container start abc (image=busybox, name=x)"
        );
        let v = event_value(&e);
        assert_eq!(v["Actor"]["Attributes"]["name"], "x");
        assert_eq!(v["from"], "busybox");
    }
}
