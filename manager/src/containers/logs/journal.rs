//! Reading back a journald container's log (`berth logs` of a container
//! whose shim sends its lines to journald, shim/src/logging/journald.rs).
//!
//! The entries are read with `journalctl -o json --all
//! CONTAINER_ID_FULL=<id>` rather than through libsystemd's sd-journal:
//! journalctl is the journal's own reader (it knows every file format
//! version, compression and rotation, and the journal's directories), it is
//! present wherever journald is, and berthd stays free of a C library it
//! would need only for this. The cost is one process per `logs` call.
//!
//! As docker's journald reader (daemon/logger/journald/read.go):
//!
//! * the line is `MESSAGE` (an empty one is skipped), with a newline unless
//!   `CONTAINER_PARTIAL_MESSAGE` is set; the time is the entry's
//!   `__REALTIME_TIMESTAMP` (microseconds);
//! * `PRIORITY` 3 is stderr, anything else stdout;
//! * the attributes (`--details`) are the fields that are neither
//!   journald's own (`_` first) nor docker's known ones (MESSAGE, PRIORITY,
//!   CONTAINER_ID ... see [`KNOWN_FIELDS`]);
//! * `--tail N` is journalctl's `-n N` (the last N entries of the container,
//!   both streams), then `--since`/`--until` and the stream selection
//!   filter them, as for the file drivers;
//! * following is `journalctl -f`; when the container exits the follower
//!   is stopped and a last `journalctl --after-cursor` reads what came
//!   after the last entry seen. journald reads its socket on its own
//!   schedule: a line the shim sent just before the exit may reach the
//!   journal after that last read (docker's follower has the same window).

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::mpsc;

use super::reader::Batch;
use super::{LogEntry, LogError, LogOptions, LogReader, LogStream};

/// The journal reader berthd runs.
const JOURNALCTL: &str = "journalctl";

/// Fields that are not attributes (docker's `is_attribute_field`).
pub const KNOWN_FIELDS: [&str; 14] = [
    "MESSAGE",
    "MESSAGE_ID",
    "PRIORITY",
    "CODE_FILE",
    "CODE_LINE",
    "CODE_FUNC",
    "ERRNO",
    "SYSLOG_FACILITY",
    "SYSLOG_IDENTIFIER",
    "SYSLOG_PID",
    "CONTAINER_NAME",
    "CONTAINER_ID",
    "CONTAINER_ID_FULL",
    "CONTAINER_TAG",
];

/// Entries sent to the consumer at a time.
const BATCH: usize = 256;

/// The journalctl command for container `id`'s entries: the last `tail`
/// (or all), following or not, after `cursor` when given.
fn journalctl(id: &str, tail: Option<usize>, follow: bool, cursor: Option<&str>) -> Command {
    let mut cmd = Command::new(JOURNALCTL);
    cmd.args(["--no-pager", "-o", "json", "--all", "--quiet"]);
    match (cursor, tail) {
        (Some(c), _) => {
            cmd.arg(format!("--after-cursor={c}"));
        }
        (None, Some(n)) => {
            cmd.arg(format!("--lines={n}"));
        }
        // journalctl -f alone shows only the last 10.
        (None, None) => {
            cmd.arg("--lines=all");
        }
    }
    if follow {
        cmd.arg("--follow");
    }
    cmd.arg(format!("CONTAINER_ID_FULL={id}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn spawn(mut cmd: Command) -> Result<Child, LogError> {
    cmd.spawn()
        .map_err(|e| LogError::Journal(format!("run {JOURNALCTL}: {e}")))
}

/// Starts reading container `id`'s journal entries (see the module docs);
/// `stop` as for [`super::read_logs`]. Must be called within a tokio
/// runtime.
pub fn read_journal(
    id: &str,
    opts: LogOptions,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<LogReader, LogError> {
    let child = Arc::new(Mutex::new(spawn(journalctl(
        id,
        opts.tail,
        opts.follow,
        None,
    ))?));
    let (tx, rx) = mpsc::channel(super::CHANNEL_DEPTH);
    let stop_task = if opts.follow {
        let follower = child.clone();
        Some(
            tokio::spawn(async move {
                stop.await;
                // Child::kill of a child already waited for signals nothing.
                let _ = follower.lock().map(|mut c| c.kill());
            })
            .abort_handle(),
        )
    } else {
        None
    };
    let id = id.to_string();
    let done = stop_task.clone();
    tokio::task::spawn_blocking(move || {
        let mut read = JournalRead {
            opts,
            tx,
            batch: Vec::new(),
            cursor: None,
        };
        if read.drain(&child) && read.opts.follow {
            // The follower was stopped: what came after its last entry.
            let last = spawn(journalctl(
                &id,
                read.opts.tail,
                false,
                read.cursor.clone().as_deref(),
            ));
            match last {
                Ok(c) => {
                    read.drain(&Arc::new(Mutex::new(c)));
                }
                Err(e) => read.batch.push(Err(e)),
            }
        }
        read.flush();
        if let Some(task) = done {
            task.abort();
        }
    });
    Ok(LogReader::from_batches(rx, stop_task))
}

/// One reading pass.
struct JournalRead {
    opts: LogOptions,
    tx: mpsc::Sender<Batch>,
    batch: Batch,
    /// The last entry's `__CURSOR`.
    cursor: Option<String>,
}

impl JournalRead {
    /// Reads one journalctl's output to its end; false when reading should
    /// not go on (the consumer is gone, `--until` passed, or journalctl
    /// failed).
    fn drain(&mut self, child: &Arc<Mutex<Child>>) -> bool {
        let (stdout, stderr) = {
            let mut c = child.lock().unwrap_or_else(|p| p.into_inner());
            (c.stdout.take(), c.stderr.take())
        };
        let Some(stdout) = stdout else {
            return false;
        };
        let mut go_on = true;
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            match self.entry(&line) {
                Ok(Some(entry)) => {
                    if self.opts.until.is_some_and(|u| entry.time > u) {
                        go_on = false;
                        break;
                    }
                    if self.wanted(&entry) {
                        self.batch.push(Ok(entry));
                    }
                }
                Ok(None) => {}
                Err(e) => self.batch.push(Err(e)),
            }
            if self.batch.len() >= BATCH && !self.flush() {
                go_on = false;
                break;
            }
            if self.batch.is_empty() {
                continue;
            }
            // A follower's output comes in bursts: hand each over at once.
            if self.opts.follow && !self.flush() {
                go_on = false;
                break;
            }
        }
        let mut c = child.lock().unwrap_or_else(|p| p.into_inner());
        if !go_on {
            let _ = c.kill();
        }
        let status = c.wait();
        let mut err = String::new();
        if let Some(mut s) = stderr {
            let _ = s.read_to_string(&mut err);
        }
        match status {
            _ if !go_on => false,
            // A follower is stopped by a signal: not a failure.
            Ok(s) if s.success() || (self.opts.follow && s.code().is_none()) => true,
            Ok(s) => {
                let text = err.trim();
                self.batch.push(Err(LogError::Journal(format!(
                    "{JOURNALCTL} {s}: {}",
                    if text.is_empty() { "no message" } else { text }
                ))));
                false
            }
            Err(e) => {
                self.batch.push(Err(LogError::Journal(format!(
                    "wait for {JOURNALCTL}: {e}"
                ))));
                false
            }
        }
    }

    fn wanted(&self, e: &LogEntry) -> bool {
        let stream = match e.stream {
            LogStream::Stdout => self.opts.stdout,
            LogStream::Stderr => self.opts.stderr,
        };
        stream && self.opts.since.is_none_or(|s| e.time >= s)
    }

    /// Sends what is batched; false when the consumer is gone.
    fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        self.tx
            .blocking_send(std::mem::take(&mut self.batch))
            .is_ok()
    }

    /// One line of `journalctl -o json`; `None` for a line that is not an
    /// entry of ours (no MESSAGE).
    fn entry(&mut self, line: &[u8]) -> Result<Option<LogEntry>, LogError> {
        let fields: BTreeMap<String, serde_json::Value> = serde_json::from_slice(line)
            .map_err(|e| LogError::Journal(format!("an entry journalctl printed: {e}")))?;
        if let Some(c) = fields.get("__CURSOR").and_then(|c| c.as_str()) {
            self.cursor = Some(c.to_string());
        }
        // docker's reader shows no entry for an empty MESSAGE (the
        // container's empty lines): neither does this one.
        let Some(message) = fields
            .get("MESSAGE")
            .and_then(field_bytes)
            .filter(|m| !m.is_empty())
        else {
            return Ok(None);
        };
        let micros: u64 = fields
            .get("__REALTIME_TIMESTAMP")
            .and_then(|t| t.as_str())
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let stream = match fields.get("PRIORITY").and_then(field_bytes).as_deref() {
            Some(b"3") => LogStream::Stderr,
            _ => LogStream::Stdout,
        };
        let mut line = message;
        if !fields.contains_key("CONTAINER_PARTIAL_MESSAGE") {
            line.push(b'\n');
        }
        let attrs = fields
            .iter()
            .filter(|(k, _)| !k.starts_with('_') && !KNOWN_FIELDS.contains(&k.as_str()))
            .filter_map(|(k, v)| {
                let v = field_bytes(v)?;
                Some((k.clone(), String::from_utf8_lossy(&v).into_owned()))
            })
            .collect();
        Ok(Some(LogEntry {
            stream,
            time: UNIX_EPOCH + Duration::from_micros(micros),
            line,
            attrs,
        }))
    }
}

/// A field's value as journalctl's JSON gives it: a string, an array of
/// byte values (not UTF-8 or not printable), or an array of those when the
/// entry has the field more than once (the first is taken).
fn field_bytes(v: &serde_json::Value) -> Option<Vec<u8>> {
    match v {
        serde_json::Value::String(s) => Some(s.clone().into_bytes()),
        serde_json::Value::Array(items) if items.iter().all(|i| i.is_u64()) => Some(
            items
                .iter()
                .filter_map(|i| i.as_u64())
                .map(|b| b as u8)
                .collect(),
        ),
        serde_json::Value::Array(items) => items.first().and_then(field_bytes),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read() -> JournalRead {
        let (tx, _rx) = mpsc::channel(1);
        JournalRead {
            opts: LogOptions::default(),
            tx,
            batch: Vec::new(),
            cursor: None,
        }
    }

    #[test]
    fn entries_read_as_dockers_reader() {
        let mut r = read();
        let e = r
            .entry(
                br#"{"MESSAGE":"hi","PRIORITY":"3","CONTAINER_ID":"abc","IMAGE_NAME":"bb","STAGE":"prod","_PID":"1","__CURSOR":"c1","__REALTIME_TIMESTAMP":"1700000000000001"}"#,
            )
            .unwrap()
            .unwrap();
        assert_eq!(e.line, b"hi\n");
        assert_eq!(e.stream, LogStream::Stderr);
        assert_eq!(e.time, UNIX_EPOCH + Duration::from_micros(1700000000000001));
        assert_eq!(e.attrs.keys().collect::<Vec<_>>(), ["IMAGE_NAME", "STAGE"]);
        assert_eq!(r.cursor.as_deref(), Some("c1"));
        let e = r
            .entry(br#"{"MESSAGE":[104,255],"PRIORITY":"6","CONTAINER_PARTIAL_MESSAGE":"true","__REALTIME_TIMESTAMP":"1"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(e.line, [104, 255]);
        assert_eq!(e.stream, LogStream::Stdout);
        assert!(r.entry(br#"{"__CURSOR":"x"}"#).unwrap().is_none());
        assert!(r
            .entry(br#"{"MESSAGE":"","PRIORITY":"6"}"#)
            .unwrap()
            .is_none());
        assert!(r.entry(b"not json").is_err());
    }
}
