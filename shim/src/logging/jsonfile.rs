//! Docker's `json-file` log driver: one JSON object per message,
//! `{"log":"hello\n","stream":"stdout","attrs":{...},"time":"2026-11-22T07:11:17.123456789Z"}`.
//! The copier cut the output into messages ([`super::copier`]); only a
//! message that is not partial gets its `\n` back. `attrs` (docker's
//! `labels`/`env`/`env-regex` extra attributes, rendered by berthd) is
//! there only when there are any, in docker's place (between `stream` and
//! `time`) and key order (Go marshals a map sorted by key).
//!
//! Rotation and compression are [`super::logfile`]'s (docker's
//! `loggerutils.LogFile`). Strings are escaped as docker's jsonlog does:
//! `<`, `>` and `&` as `\u003c`..., invalid UTF-8 as U+FFFD.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::logfile::{LogFile, LogFileError, Rotation};
use super::{LogDriver, LogError, LogMessage};
use crate::timefmt::rfc3339_nano;

/// Failures of the json-file log.
#[derive(Debug, thiserror::Error)]
pub enum JsonLogError {
    #[error(transparent)]
    File(#[from] LogFileError),
    #[error("max-file {max_file} needs a max-size for log file {path} (docker refuses it too)")]
    MaxFileWithoutMaxSize { path: PathBuf, max_file: u32 },
}

/// Where and how much to log.
#[derive(Clone, Debug, Default)]
pub struct JsonLogOptions {
    pub path: PathBuf,
    /// Rotate once the file holds this many bytes; 0: never.
    pub max_size: u64,
    /// Files kept, the live one included (at least 1).
    pub max_file: u32,
    /// gzip rotated files (`compress=true`).
    pub compress: bool,
    /// docker's extra attributes, written as each entry's `attrs`.
    pub attrs: BTreeMap<String, String>,
}

/// An open json-file log of one container.
pub struct JsonFileLog {
    file: LogFile,
    /// `,"attrs":{...}` ready to write, or empty.
    attrs: Vec<u8>,
}

impl JsonFileLog {
    /// Opens (appending) or creates the log file.
    pub fn open(mut options: JsonLogOptions) -> Result<JsonFileLog, JsonLogError> {
        options.max_file = options.max_file.max(1);
        if options.max_file > 1 && options.max_size == 0 {
            return Err(JsonLogError::MaxFileWithoutMaxSize {
                path: options.path,
                max_file: options.max_file,
            });
        }
        let mut attrs = Vec::new();
        if !options.attrs.is_empty() {
            attrs.extend_from_slice(b",\"attrs\":{");
            for (i, (k, v)) in options.attrs.iter().enumerate() {
                if i > 0 {
                    attrs.push(b',');
                }
                write_json_string(&mut attrs, k.as_bytes());
                attrs.push(b':');
                write_json_string(&mut attrs, v.as_bytes());
            }
            attrs.push(b'}');
        }
        let file = LogFile::open(
            options.path,
            Rotation {
                max_size: (options.max_size > 0).then_some(options.max_size),
                max_file: options.max_file,
                compress: options.compress,
            },
            0o640,
        )?;
        Ok(JsonFileLog { file, attrs })
    }

    /// The live log file.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Adds one entry to the buffer; a file at max-size is rotated first.
    fn write_entry(&mut self, msg: &LogMessage<'_>) -> Result<(), JsonLogError> {
        let attrs = &self.attrs;
        self.file.append(msg.time, |entry| {
            entry.extend_from_slice(b"{\"log\":");
            write_json_message(entry, msg.line, !msg.partial);
            entry.extend_from_slice(b",\"stream\":\"");
            entry.extend_from_slice(msg.stream.name().as_bytes());
            entry.push(b'"');
            entry.extend_from_slice(attrs);
            entry.extend_from_slice(b",\"time\":\"");
            entry.extend_from_slice(rfc3339_nano(msg.time).as_bytes());
            entry.extend_from_slice(b"\"}\n");
        })?;
        Ok(())
    }
}

impl LogDriver for JsonFileLog {
    fn name(&self) -> &'static str {
        "json-file"
    }

    fn log(&mut self, msg: &LogMessage<'_>) -> Result<(), LogError> {
        Ok(self.write_entry(msg)?)
    }

    fn flush(&mut self) -> Result<(), LogError> {
        Ok(self.file.flush().map_err(JsonLogError::from)?)
    }
}

/// A message's `log` string: its bytes, and its newline unless partial.
fn write_json_message(out: &mut Vec<u8>, line: &[u8], newline: bool) {
    write_json_string(out, line);
    if newline {
        out.pop();
        out.extend_from_slice(b"\\n\"");
    }
}

/// Writes `bytes` as a JSON string the way docker's jsonlog does
/// (`ffjsonWriteJSONBytesAsString`): HTML-safe, invalid UTF-8 as U+FFFD.
pub fn write_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                    let b = c as u8;
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 0xf) as usize]);
                }
                '\u{2028}' => out.extend_from_slice(b"\\u2028"),
                '\u{2029}' => out.extend_from_slice(b"\\u2029"),
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::{Batch, LineSplitter, OutputStream, MAX_LINE};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// Feeds output through the copier into the log, as the pump does.
    struct Feeder {
        out: LineSplitter,
        err: LineSplitter,
    }

    impl Feeder {
        fn new() -> Feeder {
            Feeder {
                out: LineSplitter::new(OutputStream::Stdout),
                err: LineSplitter::new(OutputStream::Stderr),
            }
        }
        fn splitter(&mut self, s: OutputStream) -> &mut LineSplitter {
            match s {
                OutputStream::Stdout => &mut self.out,
                OutputStream::Stderr => &mut self.err,
            }
        }
        fn write(&mut self, l: &mut JsonFileLog, s: OutputStream, data: &[u8]) {
            let b = self.splitter(s).split(data, now());
            put(l, b);
        }
        fn finish(&mut self, l: &mut JsonFileLog, s: OutputStream) {
            let b = self.splitter(s).finish(now());
            put(l, b);
        }
    }

    fn put(l: &mut JsonFileLog, b: Option<Batch>) {
        if let Some(b) = b {
            for m in b.messages() {
                l.log(&m).unwrap();
            }
            l.flush().unwrap();
        }
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::new(1_700_000_000, 5)
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bt{}-jsonlog-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entries(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn log(dir: &Path, max_size: u64, max_file: u32) -> JsonFileLog {
        JsonFileLog::open(JsonLogOptions {
            path: dir.join("c.log"),
            max_size,
            max_file,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn escapes_like_docker() {
        let mut out = Vec::new();
        write_json_string(&mut out, b"a\"b\\c\n\t<&>\x01\xffz\xe2\x80\xa8");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#""a\"b\\c\n\t\u003c\u0026\u003e\u0001\ufffdz\u2028""#
        );
    }

    #[test]
    fn lines_are_entries_and_partials_wait() {
        let dir = temp_dir("lines");
        let mut l = log(&dir, 0, 1);
        let mut f = Feeder::new();
        f.write(&mut l, OutputStream::Stdout, b"one\ntw");
        f.write(&mut l, OutputStream::Stderr, b"err\n");
        f.write(&mut l, OutputStream::Stdout, b"o\nthree");
        f.finish(&mut l, OutputStream::Stdout);
        let e = entries(&dir.join("c.log"));
        let got: Vec<(&str, &str)> = e
            .iter()
            .map(|e| (e["log"].as_str().unwrap(), e["stream"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("one\n", "stdout"),
                ("err\n", "stderr"),
                ("two\n", "stdout"),
                ("three", "stdout")
            ]
        );
        assert_eq!(e[0]["time"], "2023-11-14T22:13:20.000000005Z");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn long_lines_split_at_16k() {
        let dir = temp_dir("long");
        let mut l = log(&dir, 0, 1);
        let mut line = vec![b'x'; 40_000];
        line.push(b'\n');
        // Fed in odd-sized pieces, as pipe reads come.
        let mut f = Feeder::new();
        for piece in line.chunks(7_001) {
            f.write(&mut l, OutputStream::Stdout, piece);
        }
        let e = entries(&dir.join("c.log"));
        let lens: Vec<usize> = e.iter().map(|e| e["log"].as_str().unwrap().len()).collect();
        assert_eq!(lens, [MAX_LINE, MAX_LINE, 40_000 - 2 * MAX_LINE + 1]);
        assert!(!e[0]["log"].as_str().unwrap().ends_with('\n'));
        assert!(e[2]["log"].as_str().unwrap().ends_with('\n'));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn rotates_keeping_max_file() {
        let dir = temp_dir("rotate");
        let mut l = log(&dir, 200, 3);
        let mut f = Feeder::new();
        for i in 0..40 {
            f.write(
                &mut l,
                OutputStream::Stdout,
                format!("line {i}\n").as_bytes(),
            );
        }
        assert!(dir.join("c.log.1").exists());
        assert!(dir.join("c.log.2").exists());
        assert!(!dir.join("c.log.3").exists());
        for f in ["c.log", "c.log.1", "c.log.2"] {
            let len = std::fs::metadata(dir.join(f)).unwrap().len();
            // At most one entry (about 75 bytes) past max-size.
            assert!(len < 200 + 100, "{f} is {len} bytes");
        }
        let last = entries(&dir.join("c.log"));
        assert_eq!(last.last().unwrap()["log"], "line 39\n");
        let older = entries(&dir.join("c.log.1"));
        let first_live = last[0]["log"].as_str().unwrap();
        let n: usize = first_live[5..first_live.len() - 1].parse().unwrap();
        assert_eq!(older.last().unwrap()["log"], format!("line {}\n", n - 1));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn max_file_one_truncates() {
        let dir = temp_dir("trunc");
        let mut l = log(&dir, 100, 1);
        let mut f = Feeder::new();
        for i in 0..10 {
            f.write(
                &mut l,
                OutputStream::Stdout,
                format!("line {i}\n").as_bytes(),
            );
        }
        assert!(!dir.join("c.log.1").exists());
        assert!(std::fs::metadata(dir.join("c.log")).unwrap().len() < 200);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn max_file_needs_max_size() {
        let dir = temp_dir("bad");
        let err = JsonFileLog::open(JsonLogOptions {
            path: dir.join("c.log"),
            max_size: 0,
            max_file: 3,
            ..Default::default()
        })
        .err()
        .unwrap();
        assert!(
            err.to_string().contains("max-file 3 needs a max-size"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
