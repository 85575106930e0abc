//! The events domain: docker's event stream (`berth events`).
//!
//! Every domain publishes what happened (a container created, started,
//! died; an image pulled, tagged, deleted ...) to one [`EventBus`]. A
//! subscriber gets the events from the moment it subscribed, and may ask
//! for the recent past too: the bus keeps the last [`HISTORY`] events in
//! memory, as dockerd does (its events log keeps 256). Events are not
//! persisted: after a restart of berthd the past starts empty.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;
use tokio::sync::{broadcast, mpsc};

/// How many past events a subscriber can ask for with `since`: docker's
/// 256 (moby `daemon/events` `eventsLimit`). It was 1024: the kept events'
/// many small allocations, made among a bulk removal's, pinned about 2 MiB
/// of freed heap pages per 200 containers removed (issue 21: berthd back
/// near its idle size once its containers are gone).
pub const HISTORY: usize = 256;

/// How many events a live subscriber may be behind before it lags (a
/// value sent is dropped once every subscriber has it, so this keeps
/// nothing while nobody listens).
const SUBSCRIBER_BUFFER: usize = 1024;

/// One event, as docker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `container`, `image`, `network`, `volume`.
    pub kind: &'static str,
    /// `create`, `start`, `die`, `pull`, ...
    pub action: String,
    /// The container id, or the image reference/id.
    pub actor_id: String,
    /// `name`, `image`, `exitCode`, labels ...
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the epoch.
    pub time_nano: i64,
}

impl Event {
    /// An event happening now.
    pub fn now(
        kind: &'static str,
        action: impl Into<String>,
        actor_id: impl Into<String>,
        attributes: BTreeMap<String, String>,
    ) -> Event {
        Event {
            kind,
            action: action.into(),
            actor_id: actor_id.into(),
            attributes,
            time_nano: now_nanos(),
        }
    }
}

/// Nanoseconds since the epoch, now.
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Now as RFC 3339 with nanoseconds (docker's time format: `Created`,
/// `StartedAt`, ...).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

/// Publishes events to every subscriber and remembers the recent ones.
pub struct EventBus {
    sender: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    /// An empty bus.
    pub fn new() -> EventBus {
        let (sender, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        EventBus {
            sender,
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
        }
    }

    /// Publishes `event` (nobody listening is fine).
    pub fn publish(&self, event: Event) {
        tracing::debug!(kind = event.kind, action = %event.action, actor = %event.actor_id, "event");
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(event.clone());
        // Sent under the lock, so a subscriber's history and live stream
        // neither overlap nor leave a gap.
        let _ = self.sender.send(event);
    }

    /// The remembered events at or after `since_nano`, and a receiver of
    /// every later one.
    pub fn subscribe(&self, since_nano: Option<i64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let past = match since_nano {
            Some(since) => history
                .iter()
                .filter(|e| e.time_nano >= since)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        (past, self.sender.subscribe())
    }
}

/// What a subscription asks for: the past from `since`, live events until
/// `until` (both nanoseconds since the epoch), and docker's filters.
#[derive(Debug, Clone, Default)]
pub struct Subscription {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub filters: BTreeMap<String, Vec<String>>,
}

impl EventBus {
    /// The matching events of `sub` on a channel: the remembered ones from
    /// `since`, then live ones, ending at `until` (at once when it is in
    /// the past) or when the receiver is dropped (a client gone). A
    /// subscriber too slow to keep up skips what it missed rather than
    /// holding the bus back. Both API adapters serve this one stream.
    pub fn stream(&self, sub: Subscription) -> mpsc::Receiver<Event> {
        let Subscription {
            since,
            until,
            filters,
        } = sub;
        let (past, mut live) = self.subscribe(since);
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            for e in past {
                if until.is_some_and(|u| e.time_nano > u) {
                    return;
                }
                if matches(&e, &filters) && tx.send(e).await.is_err() {
                    return;
                }
            }
            loop {
                let deadline = until.map(|u| {
                    std::time::Duration::from_nanos(u.saturating_sub(now_nanos()).max(0) as u64)
                });
                let next = async {
                    match deadline {
                        Some(d) => tokio::time::timeout(d, live.recv()).await.ok(),
                        None => Some(live.recv().await),
                    }
                };
                tokio::select! {
                    got = next => match got {
                        Some(Ok(e)) => {
                            if until.is_some_and(|u| e.time_nano > u) {
                                return;
                            }
                            if matches(&e, &filters) && tx.send(e).await.is_err() {
                                return;
                            }
                        }
                        Some(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                        _ => return,
                    },
                    _ = tx.closed() => return,
                }
            }
        });
        rx
    }
}

/// docker's event filters: `type`, `event`/`action`, `container`,
/// `volume`, `network` (docker's fuzzy match on the actor of any event, as
/// moby's `events.Filter`), `image`, `label` (`k` or `k=v`), `name`. Values of one key are OR-ed, keys AND-ed.
pub fn matches(event: &Event, filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters.iter().all(|(key, values)| {
        values.is_empty()
            || values.iter().any(|v| match key.as_str() {
                "type" => event.kind == v,
                "event" | "action" => {
                    event.action == *v || event.action.split(':').next() == Some(v.as_str())
                }
                // docker's fuzzy match on any event's actor: the id or
                // `name` equal to, or starting with, the value.
                "container" | "volume" | "network" => {
                    event.actor_id.starts_with(v.as_str())
                        || event
                            .attributes
                            .get("name")
                            .is_some_and(|n| n.starts_with(v.as_str()))
                }
                "image" => {
                    event.attributes.get("image") == Some(v)
                        || (event.kind == "image" && event.actor_id == *v)
                }
                "name" => event.attributes.get("name") == Some(v),
                "label" => match v.split_once('=') {
                    Some((k, val)) => event.attributes.get(k).map(String::as_str) == Some(val),
                    None => event.attributes.contains_key(v.as_str()),
                },
                _ => false,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str, name: &str) -> Event {
        let mut attributes = BTreeMap::new();
        attributes.insert("name".to_string(), name.to_string());
        attributes.insert("image".to_string(), "busybox".to_string());
        Event::now("container", action, "abcdef0123", attributes)
    }

    #[test]
    fn history_is_bounded_and_filtered_by_since() {
        let bus = EventBus::new();
        for i in 0..HISTORY + 10 {
            let mut e = ev("start", "a");
            e.time_nano = i as i64;
            bus.publish(e);
        }
        let (past, _) = bus.subscribe(Some(0));
        assert_eq!(past.len(), HISTORY);
        assert_eq!(past[0].time_nano, 10);
        let (past, _) = bus.subscribe(Some((HISTORY + 5) as i64));
        assert_eq!(past.len(), 5);
        let (past, _) = bus.subscribe(None);
        assert!(past.is_empty());
    }

    #[tokio::test]
    async fn subscribers_get_later_events() {
        let bus = EventBus::new();
        bus.publish(ev("create", "a"));
        let (past, mut rx) = bus.subscribe(None);
        assert!(past.is_empty());
        bus.publish(ev("start", "a"));
        assert_eq!(rx.recv().await.unwrap().action, "start");
    }

    #[test]
    fn filters_match_like_docker() {
        let e = ev("die", "web");
        let f = |k: &str, v: &str| BTreeMap::from([(k.to_string(), vec![v.to_string()])]);
        assert!(matches(&e, &BTreeMap::new()));
        assert!(matches(&e, &f("event", "die")));
        assert!(!matches(&e, &f("event", "start")));
        assert!(matches(&e, &f("container", "web")));
        assert!(matches(&e, &f("container", "abcdef")));
        assert!(!matches(&e, &f("container", "db")));
        // As dockerd: the filter looks at any event's actor.
        let mut volume = ev("create", "web");
        volume.kind = "volume";
        volume.actor_id = "web".into();
        assert!(matches(&volume, &f("container", "web")));
        assert!(matches(&volume, &f("volume", "we")));
        assert!(!matches(&volume, &f("network", "db")));
        assert!(matches(&e, &f("type", "container")));
        assert!(!matches(&e, &f("type", "image")));
        assert!(matches(&e, &f("image", "busybox")));
        let mut both = f("event", "die");
        both.insert("name".into(), vec!["db".into(), "web".into()]);
        assert!(matches(&e, &both));
        let mut exec = ev("exec_start: sh", "web");
        exec.kind = "container";
        assert!(matches(&exec, &f("event", "exec_start")));
    }
}
