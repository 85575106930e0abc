//! A log file that rotates and compresses as docker's
//! `loggerutils.LogFile` (20.10) does; json-file and local write through it.
//!
//! * Before an entry is added, a file that holds `max-size` bytes or more
//!   is rotated, so a file can pass `max-size` by one entry.
//! * Rotation with `max-file` N >= 2: the oldest rotated file
//!   (`PATH.{N-1}`, `.gz` when compressing) is removed, `PATH.k` becomes
//!   `PATH.{k+1}`, the live file becomes `PATH.1` and a new live file is
//!   made. `max-file` 1: the live file is truncated in place (what berth
//!   has always done for json-file; nothing else keeps the set at one file).
//! * `compress`: `PATH.1` is then gzip'd to `PATH.1.gz` on a thread of its
//!   own (docker's goroutine: the container's output is not held up by
//!   compression) and removed once the copy is complete; the gzip header's
//!   extra field holds `{"lastTime":"<RFC 3339>"}`, the time of the file's
//!   last entry, as docker writes it (its readers skip files older than
//!   `--since` with it; berth's reader uses it to find its place after a
//!   rotation). The next rotation waits for the previous compression, as
//!   docker's `rotateMu` makes it.
//!
//! Entries are gathered in a buffer and written with one write(2) per
//! batch ([`LogFile::flush`]) or before a rotation.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::SystemTime;

use crate::timefmt::rfc3339_nano;

/// Failures of a log file.
#[derive(Debug, thiserror::Error)]
pub enum LogFileError {
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
}

/// How a log file rotates.
#[derive(Clone, Debug)]
pub struct Rotation {
    /// Rotate once the file holds this many bytes; `None`: never.
    pub max_size: Option<u64>,
    /// Files kept, the live one included (0 and 1: truncate in place).
    pub max_file: u32,
    /// gzip the rotated files.
    pub compress: bool,
}

/// An open log file.
pub struct LogFile {
    path: PathBuf,
    rotation: Rotation,
    /// The file's permission bits when created.
    mode: u32,
    file: File,
    /// Bytes in the file, with those buffered.
    size: u64,
    /// Entries not written yet.
    buf: Vec<u8>,
    /// The time of the last entry added (for the gzip header).
    last_time: Option<SystemTime>,
    /// The compression of the last rotated file, while it runs.
    compressing: Option<JoinHandle<()>>,
}

impl LogFile {
    /// Opens (appending) or creates the live file.
    pub fn open(path: PathBuf, rotation: Rotation, mode: u32) -> Result<LogFile, LogFileError> {
        let file = open_append(&path, mode)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogFile {
            path,
            rotation,
            mode,
            file,
            size,
            buf: Vec::with_capacity(16 * 1024),
            last_time: None,
            compressing: None,
        })
    }

    /// The live file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds one entry, which `encode` appends to the buffer; a full file is
    /// rotated first.
    pub fn append(
        &mut self,
        time: SystemTime,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), LogFileError> {
        if self.rotation.max_size.is_some_and(|max| self.size >= max) {
            self.flush()?;
            self.rotate()?;
        }
        let before = self.buf.len();
        encode(&mut self.buf);
        self.size += (self.buf.len() - before) as u64;
        self.last_time = Some(time);
        Ok(())
    }

    /// Writes the buffered entries to the file.
    pub fn flush(&mut self) -> Result<(), LogFileError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.file.write_all(&self.buf);
        self.buf.clear();
        result.map_err(|source| LogFileError::Write {
            path: self.path.clone(),
            source,
        })
    }

    fn rotate(&mut self) -> Result<(), LogFileError> {
        let path = self.path.clone();
        let err = |source| LogFileError::Rotate {
            path: path.clone(),
            source,
        };
        if self.rotation.max_file < 2 {
            self.file.set_len(0).map_err(err)?;
            self.size = 0;
            return Ok(());
        }
        // The previous compression must have moved PATH.1 to PATH.1.gz
        // before the names shift.
        self.wait_compression();
        let ext = if self.rotation.compress { ".gz" } else { "" };
        let max = self.rotation.max_file;
        remove_if_exists(&numbered(&path, max - 1, ext)).map_err(err)?;
        for n in (1..max - 1).rev() {
            let from = numbered(&path, n, ext);
            match std::fs::rename(&from, numbered(&path, n + 1, ext)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
                _ => {}
            }
        }
        let first = numbered(&path, 1, "");
        std::fs::rename(&path, &first).map_err(err)?;
        self.file = open_append(&path, self.mode)?;
        self.size = 0;
        if self.rotation.compress {
            let last_time = self.last_time.unwrap_or_else(SystemTime::now);
            let mode = self.mode;
            let spawned = std::thread::Builder::new()
                .name("log-compress".into())
                .spawn(move || {
                    if let Err(e) = compress_file(&first, last_time, mode) {
                        eprintln!("berth-shim: compress rotated log file: {e}");
                    }
                });
            match spawned {
                Ok(handle) => self.compressing = Some(handle),
                // No thread: compress here rather than not at all.
                Err(_) => {
                    if let Err(e) = compress_file(&numbered(&path, 1, ""), last_time, mode) {
                        eprintln!("berth-shim: compress rotated log file: {e}");
                    }
                }
            }
        }
        Ok(())
    }

    fn wait_compression(&mut self) {
        if let Some(handle) = self.compressing.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            eprintln!("berth-shim: {e}");
        }
        // A half-written PATH.1.gz would be read as a corrupt file.
        self.wait_compression();
    }
}

/// gzips `path` to `path.gz` (docker's `compressFile`) and removes `path`;
/// on failure the partial `.gz` is removed and `path` kept.
pub fn compress_file(path: &Path, last_time: SystemTime, mode: u32) -> Result<(), LogFileError> {
    let gz = {
        let mut s = path.as_os_str().to_owned();
        s.push(".gz");
        PathBuf::from(s)
    };
    let open_err = |source| LogFileError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut input = match File::open(path) {
        Ok(f) => f,
        // Already gone (docker ignores this too).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(open_err(e)),
    };
    let result = (|| -> std::io::Result<()> {
        let out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&gz)?;
        // Go's time.MarshalJSON: RFC 3339 with the fraction's trailing
        // zeros dropped.
        let full = rfc3339_nano(last_time);
        let (secs, frac) = full.trim_end_matches('Z').split_at(19);
        let frac = frac.trim_end_matches('0').trim_end_matches('.');
        let extra = format!("{{\"lastTime\":\"{secs}{frac}Z\"}}");
        let mut enc = flate2::GzBuilder::new()
            .extra(extra.into_bytes())
            .write(out, flate2::Compression::default());
        std::io::copy(&mut input, &mut enc)?;
        enc.finish()?.sync_data()?;
        Ok(())
    })();
    match result {
        Ok(()) => std::fs::remove_file(path).map_err(|source| LogFileError::Rotate {
            path: path.to_path_buf(),
            source,
        }),
        Err(source) => {
            let _ = std::fs::remove_file(&gz);
            Err(LogFileError::Write { path: gz, source })
        }
    }
}

fn open_append(path: &Path, mode: u32) -> Result<File, LogFileError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(mode)
        .open(path)
        .map_err(|source| LogFileError::Open {
            path: path.to_path_buf(),
            source,
        })
}

fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// `PATH.N` (+ `ext`), a rotated file.
pub fn numbered(path: &Path, n: u32, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}{ext}"));
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::{Duration, UNIX_EPOCH};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bt{}-logfile-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn gunzip(path: &Path) -> (String, Vec<u8>) {
        let mut d = flate2::read::GzDecoder::new(File::open(path).unwrap());
        let mut out = String::new();
        d.read_to_string(&mut out).unwrap();
        let extra = d.header().unwrap().extra().unwrap().to_vec();
        (out, extra)
    }

    #[test]
    fn rotated_files_are_compressed_with_the_last_time() {
        let dir = temp_dir("gz");
        let path = dir.join("c.log");
        let mut f = LogFile::open(
            path.clone(),
            Rotation {
                max_size: Some(20),
                max_file: 3,
                compress: true,
            },
            0o640,
        )
        .unwrap();
        for i in 0..10u64 {
            let t = UNIX_EPOCH + Duration::new(1_700_000_000 + i, 500_000_000);
            f.append(t, |b| {
                b.extend_from_slice(format!("line {i:02}\n").as_bytes())
            })
            .unwrap();
            f.flush().unwrap();
        }
        drop(f);
        // 10 lines of 8 bytes, 3 a file: 00-02 | 03-05 | 06-08 | 09.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "line 09\n");
        let (one, extra) = gunzip(&numbered(&path, 1, ".gz"));
        assert_eq!(one, "line 06\nline 07\nline 08\n");
        assert_eq!(
            String::from_utf8(extra).unwrap(),
            r#"{"lastTime":"2023-11-14T22:13:28.5Z"}"#
        );
        assert_eq!(
            gunzip(&numbered(&path, 2, ".gz")).0,
            "line 03\nline 04\nline 05\n"
        );
        assert!(!numbered(&path, 3, ".gz").exists());
        assert!(!numbered(&path, 1, "").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
