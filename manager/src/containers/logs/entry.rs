//! One entry of a json-file log, decoded: berth-shim (shim/src/jsonlog.rs)
//! and docker write `{"log":"...","stream":"stdout|stderr","time":"RFC3339Nano"}`
//! per line, docker adds `"attrs":{...}` when `--log-opt labels/env` are set.
//!
//! `log` is a JSON string: bytes that were not valid UTF-8 were written as
//! U+FFFD, so what is read back is what docker would read back, not
//! necessarily the exact bytes the container wrote.

use std::collections::BTreeMap;
use std::time::SystemTime;

use berth_docker::timestamp::{parse_rfc3339, TimeError};

/// Which output stream of the container an entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    /// The value of the entry's `stream` field.
    pub fn name(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// One entry of the log: a line (or a 16 KiB piece of a longer one, which
/// then has no `\n`) with its stream and the time the shim read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: LogStream,
    pub time: SystemTime,
    /// The output as logged, including its `\n` when it ended a line.
    pub line: Vec<u8>,
    /// docker's per-entry attributes (`--log-opt labels=...`); berth-shim
    /// writes none. What `logs --details` prints, see [`format_details`].
    pub attrs: BTreeMap<String, String>,
}

/// Why a line of the log is not an entry.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("not a json-file entry: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown stream {0:?}")]
    Stream(String),
    #[error("bad time: {0}")]
    Time(#[from] TimeError),
    #[error("not a local log entry: {0}")]
    Local(&'static str),
}

#[derive(serde::Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow)]
    log: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    stream: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    time: std::borrow::Cow<'a, str>,
    #[serde(default)]
    attrs: BTreeMap<String, String>,
}

/// Decodes one line of the log (without its trailing `\n`).
pub fn decode_entry(line: &[u8]) -> Result<LogEntry, EntryError> {
    let raw: RawEntry = serde_json::from_slice(line)?;
    let stream = match raw.stream.as_ref() {
        "stdout" => LogStream::Stdout,
        "stderr" => LogStream::Stderr,
        other => return Err(EntryError::Stream(other.to_string())),
    };
    Ok(LogEntry {
        stream,
        time: parse_rfc3339(&raw.time)?,
        line: raw.log.into_owned().into_bytes(),
        attrs: raw.attrs,
    })
}

/// Decodes one entry of docker's `local` format (the protobuf `LogEntry`
/// between its size frames; shim/src/logging/local.rs writes it). As
/// docker's reader, the newline comes back only to entries without partial
/// metadata; attributes (field 6, docker 23+) become `attrs`.
pub fn decode_local(mut body: &[u8]) -> Result<LogEntry, EntryError> {
    let mut stream = None;
    let mut nanos: i64 = 0;
    let mut line: &[u8] = &[];
    let mut has_meta = false;
    let mut attrs = BTreeMap::new();
    while !body.is_empty() {
        let key = varint(&mut body)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let v = varint(&mut body)?;
                if field == 2 {
                    nanos = v as i64;
                }
            }
            2 => {
                let len = varint(&mut body)? as usize;
                if len > body.len() {
                    return Err(EntryError::Local("field runs past the entry"));
                }
                let (value, rest) = body.split_at(len);
                body = rest;
                match field {
                    1 => {
                        stream = Some(match value {
                            b"stdout" => LogStream::Stdout,
                            b"stderr" => LogStream::Stderr,
                            other => {
                                return Err(EntryError::Stream(
                                    String::from_utf8_lossy(other).into_owned(),
                                ))
                            }
                        })
                    }
                    3 => line = value,
                    5 => has_meta = true,
                    6 => {
                        let (k, v) = decode_attr(value)?;
                        attrs.insert(k, v);
                    }
                    _ => {}
                }
            }
            1 if body.len() >= 8 => body = &body[8..],
            5 if body.len() >= 4 => body = &body[4..],
            _ => return Err(EntryError::Local("bad wire type")),
        }
    }
    let mut line = line.to_vec();
    if !has_meta {
        line.push(b'\n');
    }
    Ok(LogEntry {
        stream: stream.ok_or(EntryError::Local("no source"))?,
        time: if nanos >= 0 {
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos as u64)
        } else {
            std::time::UNIX_EPOCH
        },
        line,
        attrs,
    })
}

/// A `LogAttr {key = 1; value = 2}`.
fn decode_attr(mut body: &[u8]) -> Result<(String, String), EntryError> {
    let (mut k, mut v) = (String::new(), String::new());
    while !body.is_empty() {
        let key = varint(&mut body)?;
        if key & 7 != 2 {
            return Err(EntryError::Local("bad attribute"));
        }
        let len = varint(&mut body)? as usize;
        if len > body.len() {
            return Err(EntryError::Local("attribute runs past the entry"));
        }
        let text = String::from_utf8_lossy(&body[..len]).into_owned();
        match key >> 3 {
            1 => k = text,
            2 => v = text,
            _ => {}
        }
        body = &body[len..];
    }
    Ok((k, v))
}

fn varint(body: &mut &[u8]) -> Result<u64, EntryError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let Some((&b, rest)) = body.split_first() else {
            return Err(EntryError::Local("truncated varint"));
        };
        *body = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(EntryError::Local("varint too long"))
}

/// The prefix `docker logs --details` puts before a line: the attributes as
/// `key=value` pairs sorted by key, query-escaped (Go's `url.QueryEscape`),
/// joined with `,`, then a space (a lone space when there are none).
pub fn format_details(attrs: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (i, (key, value)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        query_escape(&mut out, key);
        out.push('=');
        query_escape(&mut out, value);
    }
    out.push(' ');
    out
}

/// Go's `url.QueryEscape`: unreserved bytes as they are, space as `+`, the
/// rest as `%XX`.
fn query_escape(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn decodes_what_the_shim_writes() {
        let e = decode_entry(
            br#"{"log":"a\u003cb\ufffd\n","stream":"stderr","time":"2023-11-14T22:13:20.000000005Z"}"#,
        )
        .unwrap();
        assert_eq!(e.stream, LogStream::Stderr);
        assert_eq!(e.line, "a<b\u{fffd}\n".as_bytes());
        assert_eq!(e.time, UNIX_EPOCH + Duration::new(1_700_000_000, 5));
        assert!(e.attrs.is_empty());
    }

    #[test]
    fn decodes_docker_attrs() {
        let e = decode_entry(
            br#"{"log":"x\n","stream":"stdout","attrs":{"b":"2","a":"x y"},"time":"2023-11-14T22:13:20Z"}"#,
        )
        .unwrap();
        assert_eq!(format_details(&e.attrs), "a=x+y,b=2 ");
        assert_eq!(format_details(&BTreeMap::new()), " ");
        let mut odd = BTreeMap::new();
        odd.insert("k&=".to_string(), "é/".to_string());
        assert_eq!(format_details(&odd), "k%26%3D=%C3%A9%2F ");
    }

    #[test]
    fn decodes_local_entries() {
        // source stdout, time_nano 1000000005, line "hi".
        let e = decode_local(&[
            0x0a, 6, b's', b't', b'd', b'o', b'u', b't', 0x10, 0x85, 0x94, 0xeb, 0xdc, 0x03, 0x1a,
            2, b'h', b'i',
        ])
        .unwrap();
        assert_eq!(e.stream, LogStream::Stdout);
        assert_eq!(e.line, b"hi\n");
        assert_eq!(e.time, UNIX_EPOCH + Duration::new(1, 5));
        // A partial piece (metadata, field 5): no newline added.
        let e = decode_local(&[
            0x0a, 6, b's', b't', b'd', b'e', b'r', b'r', 0x20, 1, 0x2a, 2, 0x18, 1,
        ])
        .unwrap();
        assert_eq!((e.stream, e.line.as_slice()), (LogStream::Stderr, &b""[..]));
        assert!(decode_local(&[0x0a, 9, b'x']).is_err());
        assert!(decode_local(&[0x1a, 1, b'x']).is_err());
    }

    #[test]
    fn rejects_what_is_not_an_entry() {
        for (line, want) in [
            (&b"{\"log\":\"x\""[..], "not a json-file entry"),
            (b"garbage", "not a json-file entry"),
            (
                br#"{"log":"x","stream":"stdin","time":"2023-11-14T22:13:20Z"}"#,
                "unknown stream \"stdin\"",
            ),
            (
                br#"{"log":"x","stream":"stdout","time":"yesterday"}"#,
                "bad time",
            ),
        ] {
            let err = decode_entry(line).unwrap_err().to_string();
            assert!(err.starts_with(want), "{err}");
        }
    }
}
