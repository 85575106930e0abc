//! Docker's `json-file` log driver: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-22T07:11:17.123456789Z"}`.
//!
//! As docker's log copier (daemon/logger/copier.go) does, output is cut into
//! lines; a line longer than [`MAX_LINE`] bytes is written in pieces of that
//! size, and only the piece that ends the line carries its `\n`. What is left
//! without a newline when the stream ends is written as it is.
//!
//! Rotation follows docker's `loggerutils.LogFile`: before an entry is
//! written, a file that has reached `max-size` is renamed to `.1` (`.1` to
//! `.2`, ..., dropping the oldest so that at most `max-file` files exist), or
//! truncated when `max-file` is 1. A file can therefore exceed `max-size` by
//! one entry. Strings are escaped as docker's jsonlog does: `<`, `>` and `&`
//! as `\u003c`..., invalid UTF-8 as U+FFFD.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::timefmt::rfc3339_nano;

/// Docker splits log lines at 16 KiB (daemon/logger/copier.go `bufSize`).
pub const MAX_LINE: usize = 16 * 1024;

/// Which of a process's output streams a piece of output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

impl OutputStream {
    /// The `stream` field's value.
    pub fn name(self) -> &'static str {
        match self {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            OutputStream::Stdout => 0,
            OutputStream::Stderr => 1,
        }
    }
}

/// Failures of the json-file log.
#[derive(Debug, thiserror::Error)]
pub enum JsonLogError {
    #[error("open log file {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("write log file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rotate log file {path}: {source}")]
    Rotate {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("max-file {max_file} needs a max-size for log file {path} (docker refuses it too)")]
    MaxFileWithoutMaxSize { path: PathBuf, max_file: u32 },
}

/// Where and how much to log.
#[derive(Clone, Debug)]
pub struct JsonLogOptions {
    pub path: PathBuf,
    /// Rotate once the file holds this many bytes; 0: never.
    pub max_size: u64,
    /// Files kept, the live one included (at least 1).
    pub max_file: u32,
}

/// An open json-file log of one container.
pub struct JsonFileLog {
    options: JsonLogOptions,
    file: File,
    size: u64,
    /// The unfinished line of each stream (stdout, stderr).
    partial: [Vec<u8>; 2],
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
        let file = open_append(&options.path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(JsonFileLog {
            options,
            file,
            size,
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// The live log file.
    pub fn path(&self) -> &Path {
        &self.options.path
    }

    /// Logs a piece of output read at `now`: every complete line, and pieces
    /// of [`MAX_LINE`] bytes of a longer line; the rest waits for more.
    pub fn write(
        &mut self,
        stream: OutputStream,
        mut data: &[u8],
        now: SystemTime,
    ) -> Result<(), JsonLogError> {
        let i = stream.index();
        while !data.is_empty() {
            let room = MAX_LINE - self.partial[i].len();
            let take = data.len().min(room);
            match data[..take].iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    self.partial[i].extend_from_slice(&data[..=nl]);
                    data = &data[nl + 1..];
                }
                None => {
                    self.partial[i].extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.partial[i].len() < MAX_LINE {
                        break;
                    }
                }
            }
            let line = std::mem::take(&mut self.partial[i]);
            self.write_entry(stream, &line, now)?;
            // Keep the allocation for the next line.
            self.partial[i] = line;
            self.partial[i].clear();
        }
        Ok(())
    }

    /// The stream ended: logs what is left of its last line.
    pub fn finish(&mut self, stream: OutputStream, now: SystemTime) -> Result<(), JsonLogError> {
        let i = stream.index();
        let rest = std::mem::take(&mut self.partial[i]);
        if !rest.is_empty() {
            self.write_entry(stream, &rest, now)?;
        }
        Ok(())
    }

    fn write_entry(
        &mut self,
        stream: OutputStream,
        log: &[u8],
        now: SystemTime,
    ) -> Result<(), JsonLogError> {
        if self.options.max_size > 0 && self.size >= self.options.max_size {
            self.rotate()?;
        }
        let mut entry = Vec::with_capacity(log.len() + 80);
        entry.extend_from_slice(b"{\"log\":");
        write_json_string(&mut entry, log);
        entry.extend_from_slice(b",\"stream\":\"");
        entry.extend_from_slice(stream.name().as_bytes());
        entry.extend_from_slice(b"\",\"time\":\"");
        entry.extend_from_slice(rfc3339_nano(now).as_bytes());
        entry.extend_from_slice(b"\"}\n");
        self.file
            .write_all(&entry)
            .map_err(|source| JsonLogError::Write {
                path: self.options.path.clone(),
                source,
            })?;
        self.size += entry.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), JsonLogError> {
        let path = self.options.path.clone();
        let err = |source| JsonLogError::Rotate {
            path: path.clone(),
            source,
        };
        if self.options.max_file < 2 {
            self.file.set_len(0).map_err(err)?;
            self.size = 0;
            return Ok(());
        }
        for n in (1..self.options.max_file - 1).rev() {
            let from = numbered(&path, n);
            if from.exists() {
                std::fs::rename(&from, numbered(&path, n + 1)).map_err(err)?;
            }
        }
        std::fs::rename(&path, numbered(&path, 1)).map_err(err)?;
        self.file = open_append(&path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<File, JsonLogError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| JsonLogError::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// `path.N`, a rotated file.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
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
    use std::time::{Duration, UNIX_EPOCH};

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
        l.write(OutputStream::Stdout, b"one\ntw", now()).unwrap();
        l.write(OutputStream::Stderr, b"err\n", now()).unwrap();
        l.write(OutputStream::Stdout, b"o\nthree", now()).unwrap();
        l.finish(OutputStream::Stdout, now()).unwrap();
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
        for piece in line.chunks(7_001) {
            l.write(OutputStream::Stdout, piece, now()).unwrap();
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
        for i in 0..40 {
            l.write(
                OutputStream::Stdout,
                format!("line {i}\n").as_bytes(),
                now(),
            )
            .unwrap();
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
        for i in 0..10 {
            l.write(
                OutputStream::Stdout,
                format!("line {i}\n").as_bytes(),
                now(),
            )
            .unwrap();
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
