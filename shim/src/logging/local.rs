//! Docker's `local` log driver (daemon/logger/local, 20.10): each message
//! is a protobuf `LogEntry` (api/types/plugins/logdriver/entry.proto)
//! framed by its size as a big-endian u32 before and after it, so that a
//! reader can walk the file forwards or backwards (`--tail`):
//!
//! ```text
//! [len][LogEntry: 1 source, 2 time_nano, 3 line, 4 partial, 5 partial_log_metadata][len]
//! ```
//!
//! The line is stored without its newline; docker's reader adds it back
//! to entries without partial metadata. The entry is encoded here by hand
//! (five fields, proto3: default values are left out, as gogo-protobuf's
//! `MarshalTo` does), which spares a copy through a generated type per line.
//!
//! Files rotate and are compressed by [`super::logfile`]: docker's
//! defaults are `max-size` 20 MiB, `max-file` 5, `compress` true; berthd
//! resolves them and the path (`<container dir>/local-logs/container.log`,
//! docker's place).

use std::path::PathBuf;

use super::logfile::{LogFile, LogFileError, Rotation};
use super::partial::{PartialMeta, PartialTracker};
use super::{LogDriver, LogError, LogMessage};

/// Failures of the local log.
#[derive(Debug, thiserror::Error)]
pub enum LocalLogError {
    #[error(transparent)]
    File(#[from] LogFileError),
}

/// An open local-format log.
pub struct LocalLog {
    file: LogFile,
    partials: PartialTracker,
}

impl LocalLog {
    /// Opens (appending) or creates the log at `path`.
    pub fn open(path: PathBuf, rotation: Rotation) -> Result<LocalLog, LocalLogError> {
        Ok(LocalLog {
            file: LogFile::open(path, rotation, 0o640)?,
            partials: PartialTracker::default(),
        })
    }
}

impl LogDriver for LocalLog {
    fn name(&self) -> &'static str {
        "local"
    }

    fn log(&mut self, msg: &LogMessage<'_>) -> Result<(), LogError> {
        let meta = self.partials.track(msg);
        let time = meta.as_ref().map_or(msg.time, |m| m.time);
        self.file
            .append(time, |out| encode_entry(out, msg, time, meta.as_ref()))
            .map_err(LocalLogError::from)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), LogError> {
        Ok(self.file.flush().map_err(LocalLogError::from)?)
    }
}

/// Appends one framed entry.
pub fn encode_entry(
    out: &mut Vec<u8>,
    msg: &LogMessage<'_>,
    time: std::time::SystemTime,
    meta: Option<&PartialMeta>,
) {
    let frame = out.len();
    out.extend_from_slice(&[0; 4]);
    let body = out.len();
    put_bytes(out, 1, msg.stream.name().as_bytes());
    let nanos = time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    if nanos != 0 {
        put_key(out, 2, 0);
        put_varint(out, nanos as u64);
    }
    put_bytes(out, 3, msg.line);
    if let Some(meta) = meta {
        put_key(out, 4, 0);
        put_varint(out, 1);
        let mut md = Vec::with_capacity(80);
        if meta.last {
            put_key(&mut md, 1, 0);
            put_varint(&mut md, 1);
        }
        put_bytes(&mut md, 2, meta.id.as_bytes());
        if meta.ordinal != 0 {
            put_key(&mut md, 3, 0);
            put_varint(&mut md, u64::from(meta.ordinal));
        }
        put_key(out, 5, 2);
        put_varint(out, md.len() as u64);
        out.extend_from_slice(&md);
    }
    let len = (out.len() - body) as u32;
    out[frame..body].copy_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
}

fn put_key(out: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(out, u64::from(field << 3 | wire));
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field, left out when empty (proto3).
fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    put_key(out, field, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::OutputStream;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn frames_an_entry_as_docker_does() {
        let mut out = Vec::new();
        let t = UNIX_EPOCH + Duration::new(1, 5);
        let msg = LogMessage {
            stream: OutputStream::Stdout,
            line: b"hi",
            partial: false,
            time: t,
        };
        encode_entry(&mut out, &msg, t, None);
        // source "stdout", time_nano 1000000005 (varint), line "hi".
        let body: &[u8] = &[
            0x0a, 6, b's', b't', b'd', b'o', b'u', b't', 0x10, 0x85, 0x94, 0xeb, 0xdc, 0x03, 0x1a,
            2, b'h', b'i',
        ];
        let mut want = (body.len() as u32).to_be_bytes().to_vec();
        want.extend_from_slice(body);
        want.extend_from_slice(&(body.len() as u32).to_be_bytes());
        assert_eq!(out, want);
    }

    #[test]
    fn partial_metadata_is_field_five() {
        let mut out = Vec::new();
        let t = UNIX_EPOCH;
        let msg = LogMessage {
            stream: OutputStream::Stderr,
            line: b"",
            partial: false,
            time: t,
        };
        let meta = PartialMeta {
            id: "ab".into(),
            ordinal: 3,
            last: true,
            time: t,
        };
        encode_entry(&mut out, &msg, t, Some(&meta));
        let body: &[u8] = &[
            0x0a, 6, b's', b't', b'd', b'e', b'r', b'r', 0x20, 1, 0x2a, 8, 0x08, 1, 0x12, 2, b'a',
            b'b', 0x18, 3,
        ];
        assert_eq!(&out[4..out.len() - 4], body);
    }
}
