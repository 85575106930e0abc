//! The container's lifecycle events, fanned out to every subscriber of the
//! Events stream. Each subscriber has a bounded queue ([`EVENT_QUEUE`]); one
//! that falls that far behind is dropped with `ResourceExhausted` (it can
//! reconnect and ask State), so publishing never waits.

use std::sync::Mutex;
use std::time::SystemTime;

use berth_proto::shim::v1::{Event, EventType};
use tokio::sync::mpsc;
use tonic::Status;

use crate::timefmt::unix_parts;

/// Events queued for one subscriber before it is dropped.
pub const EVENT_QUEUE: usize = 64;

/// What an Events subscriber receives.
pub type EventItem = Result<Event, Status>;

/// Publishes events to subscribers.
#[derive(Default)]
pub struct EventBus {
    subscribers: Mutex<Vec<mpsc::Sender<EventItem>>>,
}

/// A protobuf timestamp.
pub fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let (seconds, nanos) = unix_parts(t);
    prost_types::Timestamp { seconds, nanos }
}

impl EventBus {
    pub fn new() -> EventBus {
        EventBus::default()
    }

    pub fn subscribe(&self) -> mpsc::Receiver<EventItem> {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        self.subscribers.lock().unwrap().push(tx);
        rx
    }

    /// Sends an event of `kind` about `exec_id` ("" for the init).
    pub fn publish(&self, kind: EventType, id: &str, exec_id: &str, pid: u32) {
        self.send(Event {
            r#type: kind as i32,
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            pid,
            exit_status: 0,
            exited_at: None,
            timestamp: Some(timestamp(SystemTime::now())),
            log_lost: 0,
        });
    }

    /// Sends an EXITED event (`log_lost`: the init's lost log messages).
    pub fn publish_exit(
        &self,
        id: &str,
        exec_id: &str,
        pid: u32,
        status: u32,
        at: SystemTime,
        log_lost: u64,
    ) {
        self.send(Event {
            r#type: EventType::Exited as i32,
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            pid,
            exit_status: status,
            exited_at: Some(timestamp(at)),
            timestamp: Some(timestamp(SystemTime::now())),
            log_lost,
        });
    }

    fn send(&self, event: Event) {
        self.subscribers.lock().unwrap().retain(|tx| {
            if tx.is_closed() {
                return false;
            }
            if tx.capacity() > 1 {
                return tx.try_send(Ok(event.clone())).is_ok();
            }
            let _ = tx.try_send(Err(Status::resource_exhausted(format!(
                "events subscriber too slow, {EVENT_QUEUE} events behind: dropped"
            ))));
            false
        });
    }

    /// Ends every subscriber's stream (the shim is exiting).
    pub fn close(&self) {
        self.subscribers.lock().unwrap().clear();
    }
}
