//! The files of one json-file log: the live file `PATH` and the rotated
//! ones `PATH.1` (newest) ... `PATH.N` (oldest), as berth-shim's rotation
//! (and docker's `loggerutils.LogFile`) leaves them.
//!
//! Names change under a reader: each rotation renames `PATH.k` to `PATH.k+1`
//! and `PATH` to `PATH.1`, then creates a new `PATH`. A reader therefore
//! holds files open and knows them by identity (device, inode), never by
//! name: the file that follows an open one is found by listing the names,
//! finding the open file's inode among them and taking the next newer one,
//! then checking that what was opened under that name is still that inode
//! (else the names moved again and the listing is redone).
//!
//! With `compress` (docker's loggerutils), rotated files are `PATH.N.gz`:
//! the shim renames the live file to `PATH.1`, then gzips it to
//! `PATH.1.gz` and removes `PATH.1`. While both exist the `.gz` is still
//! being written, so the plain file is the one read. A compressed file is
//! opened by decompressing it into an anonymous memory file (memfd), which
//! the reader then reads like any other file. A file compressed under a
//! reader has a new inode; the reader finds its place again by the time of
//! the last entry it read, which the gzip header's `lastTime` (docker's
//! field) lets it compare without decompressing.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A failure to list or open the files of a log.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("log directory {path} does not exist")]
    NoDirectory { path: PathBuf },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("log files under {path} keep changing while being opened")]
    Unstable { path: PathBuf },
    #[error("decompress log file {path}: {source}")]
    Decompress { path: PathBuf, source: io::Error },
}

/// A file's identity, stable across renames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// One file of the log, held open.
#[derive(Debug)]
pub struct OpenLogFile {
    pub file: File,
    pub id: FileId,
    /// The name it had when opened (for messages only: it may have moved).
    pub path: PathBuf,
}

/// One file found by listing.
#[derive(Debug)]
struct Listed {
    path: PathBuf,
    id: FileId,
    compressed: bool,
}

/// The live file's name and where its rotated siblings are.
#[derive(Clone, Debug)]
pub struct LogFileSet {
    live: PathBuf,
    dir: PathBuf,
    base: OsString,
}

/// How often opening a consistent set of files is retried while rotations
/// keep renaming them (each rotation needs max-size bytes of output, so
/// more than a few in a row means something is wrong).
const OPEN_ATTEMPTS: usize = 50;

impl LogFileSet {
    /// The log whose live file is `live`; its directory must exist (the
    /// file itself may not yet).
    pub fn new(live: &Path) -> Result<LogFileSet, FilesError> {
        let dir = match live.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let base = live
            .file_name()
            .ok_or_else(|| FilesError::NoDirectory {
                path: live.to_path_buf(),
            })?
            .to_owned();
        if !dir.is_dir() {
            return Err(FilesError::NoDirectory { path: dir });
        }
        Ok(LogFileSet {
            live: live.to_path_buf(),
            dir,
            base,
        })
    }

    /// The live file's path.
    pub fn live_path(&self) -> &Path {
        &self.live
    }

    /// The identity of the file now under the live name, if there is one.
    pub fn live_id(&self) -> Result<Option<FileId>, FilesError> {
        match std::fs::metadata(&self.live) {
            Ok(meta) => Ok(Some(FileId::of(&meta))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(FilesError::Io {
                op: "stat log file",
                path: self.live.clone(),
                source,
            }),
        }
    }

    /// The files that exist now, oldest first, with their identities.
    fn list(&self) -> Result<Vec<Listed>, FilesError> {
        let io_err = |source| FilesError::Io {
            op: "list log directory",
            path: self.dir.clone(),
            source,
        };
        let base = self.base.as_encoded_bytes();
        // (rotation number, 0 for the live file; compressed; path)
        let mut found: Vec<(u64, bool, PathBuf)> = Vec::new();
        for dirent in std::fs::read_dir(&self.dir).map_err(io_err)? {
            let dirent = dirent.map_err(io_err)?;
            let name = dirent.file_name();
            let name = name.as_encoded_bytes();
            let Some(rest) = name.strip_prefix(base) else {
                continue;
            };
            let (rest, compressed) = match rest.strip_suffix(b".gz") {
                Some(r) if !r.is_empty() => (r, true),
                _ => (rest, false),
            };
            let number = if rest.is_empty() {
                if compressed {
                    continue;
                }
                0
            } else {
                match rest.strip_prefix(b".") {
                    Some(digits) if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {
                        match std::str::from_utf8(digits)
                            .ok()
                            .and_then(|d| d.parse().ok())
                        {
                            Some(n) if n > 0 => n,
                            _ => continue,
                        }
                    }
                    _ => continue,
                }
            };
            found.push((number, compressed, dirent.path()));
        }
        // Oldest first; of PATH.N and PATH.N.gz (compression under way)
        // the plain one.
        found.sort_by_key(|f| (std::cmp::Reverse(f.0), f.1));
        found.dedup_by_key(|f| f.0);
        let mut files = Vec::with_capacity(found.len());
        for (_, compressed, path) in found {
            match std::fs::metadata(&path) {
                Ok(meta) => files.push(Listed {
                    id: FileId::of(&meta),
                    path,
                    compressed,
                }),
                // Renamed or dropped by a rotation since the listing.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(FilesError::Io {
                        op: "stat log file",
                        path,
                        source,
                    })
                }
            }
        }
        Ok(files)
    }

    /// Opens a listed file if it still is the file listed; `None` if the
    /// name now holds another file or none. A compressed one comes
    /// decompressed.
    fn open_listed(&self, f: &Listed) -> Result<Option<OpenLogFile>, FilesError> {
        let Some(mut open) = self.open_if(&f.path, f.id)? else {
            return Ok(None);
        };
        if f.compressed {
            open.file = decompress(&open.file).map_err(|source| FilesError::Decompress {
                path: f.path.clone(),
                source,
            })?;
        }
        Ok(Some(open))
    }

    /// Opens `path` if it still is the file `id`; `None` if the name now
    /// holds another file or none.
    fn open_if(&self, path: &Path, id: FileId) -> Result<Option<OpenLogFile>, FilesError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(FilesError::Io {
                    op: "open log file",
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let meta = file.metadata().map_err(|source| FilesError::Io {
            op: "stat log file",
            path: path.to_path_buf(),
            source,
        })?;
        if FileId::of(&meta) != id {
            return Ok(None);
        }
        Ok(Some(OpenLogFile {
            file,
            id,
            path: path.to_path_buf(),
        }))
    }

    /// Opens every file of the log, oldest first, as one consistent set
    /// (empty when the log does not exist yet).
    pub fn open_all(&self) -> Result<Vec<OpenLogFile>, FilesError> {
        'attempt: for _ in 0..OPEN_ATTEMPTS {
            let listed = self.list()?;
            let mut opened = Vec::with_capacity(listed.len());
            for f in &listed {
                match self.open_listed(f)? {
                    Some(f) => opened.push(f),
                    None => continue 'attempt,
                }
            }
            return Ok(opened);
        }
        Err(FilesError::Unstable {
            path: self.live.clone(),
        })
    }

    /// Opens the file that follows `current` (the next newer one). `None`
    /// when `current` is the newest file there is (the live one, or the
    /// just-rotated one before the new live file is created). When
    /// `current` is gone (dropped by rotation before it was read through,
    /// or compressed), the oldest file there is follows it, passing
    /// compressed files whose last entry is not newer than `seen` (the
    /// last entry read: those were read already).
    pub fn open_successor(
        &self,
        current: FileId,
        seen: Option<SystemTime>,
    ) -> Result<Option<OpenLogFile>, FilesError> {
        for _ in 0..OPEN_ATTEMPTS {
            let listed = self.list()?;
            let next = match listed.iter().position(|f| f.id == current) {
                Some(i) => listed.get(i + 1),
                None => listed.iter().find(|f| {
                    !f.compressed
                        || seen.is_none_or(|s| gzip_last_time(&f.path).is_none_or(|t| t > s))
                }),
            };
            let Some(next) = next else {
                return Ok(None);
            };
            if let Some(f) = self.open_listed(next)? {
                return Ok(Some(f));
            }
        }
        Err(FilesError::Unstable {
            path: self.live.clone(),
        })
    }
}

/// Decompresses a gzip'd log file into an anonymous memory file.
fn decompress(gz: &File) -> io::Result<File> {
    use std::io::{Seek, SeekFrom};
    use std::os::fd::FromRawFd;
    let name = c"berth-log";
    // SAFETY: memfd_create returns a new fd we own, or -1.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned by nothing else.
    let mut out = unsafe { File::from_raw_fd(fd) };
    let mut input = gz.try_clone()?;
    input.seek(SeekFrom::Start(0))?;
    let mut dec = flate2::read::MultiGzDecoder::new(io::BufReader::new(input));
    io::copy(&mut dec, &mut out)?;
    Ok(out)
}

/// The `lastTime` docker (and berth-shim) put in a rotated file's gzip
/// header (`{"lastTime":"RFC 3339"}` in the extra field).
fn gzip_last_time(path: &Path) -> Option<SystemTime> {
    use std::io::Read;
    let mut head = [0u8; 512];
    let n = File::open(path).ok()?.read(&mut head).ok()?;
    let head = &head[..n];
    // ID1 ID2 CM FLG MTIME(4) XFL OS, then FEXTRA's XLEN and data.
    if head.len() < 12 || head[0] != 0x1f || head[1] != 0x8b || head[3] & 0x04 == 0 {
        return None;
    }
    let xlen = u16::from_le_bytes([head[10], head[11]]) as usize;
    let extra = head.get(12..12 + xlen)?;
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(rename = "lastTime")]
        last_time: String,
    }
    let meta: Meta = serde_json::from_slice(extra).ok()?;
    berth_docker::timestamp::parse_rfc3339(&meta.last_time).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::logs::scratch::ScratchDir;

    fn temp_dir(name: &str) -> ScratchDir {
        ScratchDir::new(&format!("logfiles-{name}"))
    }

    fn contents(files: &[OpenLogFile]) -> Vec<String> {
        files
            .iter()
            .map(|f| {
                std::fs::read_to_string(format!(
                    "/proc/self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(&f.file)
                ))
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn lists_oldest_first_and_ignores_other_files() {
        let dir = temp_dir("list");
        let live = dir.join("c-json.log");
        for (name, text) in [
            ("c-json.log", "live"),
            ("c-json.log.1", "one"),
            ("c-json.log.2", "two"),
            ("c-json.log.10", "ten"),
            ("c-json.log.x", "no"),
            ("c-json.log.", "no"),
            ("c-json.log.0", "no"),
            ("c-json.logs", "no"),
            ("other", "no"),
        ] {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let set = LogFileSet::new(&live).unwrap();
        let files = set.open_all().unwrap();
        assert_eq!(contents(&files), ["ten", "two", "one", "live"]);
    }

    #[test]
    fn successor_follows_a_file_across_renames() {
        let dir = temp_dir("succ");
        let live = dir.join("log");
        std::fs::write(&live, "a").unwrap();
        let set = LogFileSet::new(&live).unwrap();
        let first = set.open_all().unwrap().remove(0);
        assert!(set.open_successor(first.id, None).unwrap().is_none());
        // Two rotations: a -> log.2, b -> log.1, c live.
        std::fs::rename(&live, dir.join("log.1")).unwrap();
        // Between the rename and the new live file: nothing follows yet.
        assert!(set.open_successor(first.id, None).unwrap().is_none());
        std::fs::write(&live, "b").unwrap();
        std::fs::rename(dir.join("log.1"), dir.join("log.2")).unwrap();
        std::fs::rename(&live, dir.join("log.1")).unwrap();
        std::fs::write(&live, "c").unwrap();
        let second = set.open_successor(first.id, None).unwrap().unwrap();
        let second_id = second.id;
        let third = set.open_successor(second_id, None).unwrap().unwrap();
        assert_eq!(contents(&[second, third]), ["b", "c"]);
        let third_id = set.live_id().unwrap().unwrap();
        assert!(set.open_successor(third_id, None).unwrap().is_none());
        // The first file dropped: the oldest there is follows it.
        std::fs::remove_file(dir.join("log.2")).unwrap();
        let after_gone = set.open_successor(first.id, None).unwrap().unwrap();
        assert_eq!(after_gone.id, second_id);
    }

    fn gzip(path: &Path, text: &str, last_time: &str) {
        use std::io::Write;
        let mut enc = flate2::GzBuilder::new()
            .extra(format!("{{\"lastTime\":\"{last_time}\"}}").into_bytes())
            .write(File::create(path).unwrap(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
    }

    /// Compressed rotated files: listed in order with the plain ones, read
    /// decompressed, the plain `.N` preferred while its `.N.gz` is written;
    /// a file compressed under a reader is found again by its last time.
    #[test]
    fn compressed_files_are_read_and_found_again() {
        let dir = temp_dir("gz");
        let live = dir.join("log");
        gzip(&dir.join("log.2.gz"), "two", "2026-01-01T00:00:02Z");
        std::fs::write(dir.join("log.1"), "one").unwrap();
        std::fs::write(dir.join("log.1.gz"), "half-written").unwrap();
        std::fs::write(&live, "live").unwrap();
        let set = LogFileSet::new(&live).unwrap();
        let files = set.open_all().unwrap();
        assert_eq!(contents(&files), ["two", "one", "live"]);
        let one_id = files[1].id;
        // log.1 is compressed (a new inode) while a reader is on it, having
        // read up to 00:00:03: the next file is the live one, not log.2.gz
        // (older) nor log.1.gz (what it read).
        gzip(&dir.join("log.1.gz"), "one", "2026-01-01T00:00:03Z");
        std::fs::remove_file(dir.join("log.1")).unwrap();
        let seen = berth_docker::timestamp::parse_rfc3339("2026-01-01T00:00:03Z").ok();
        let next = set.open_successor(one_id, seen).unwrap().unwrap();
        assert_eq!(contents(&[next]), ["live"]);
        // Without a time (nothing read yet), the oldest follows.
        let next = set.open_successor(one_id, None).unwrap().unwrap();
        assert_eq!(contents(&[next]), ["two"]);
    }

    #[test]
    fn missing_directory_is_named() {
        let err = LogFileSet::new(Path::new("/nonexistent-bt/c/c-json.log")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "log directory /nonexistent-bt/c does not exist"
        );
    }

    #[test]
    fn no_log_yet_is_empty() {
        let dir = temp_dir("empty");
        let set = LogFileSet::new(&dir.join("log")).unwrap();
        assert!(set.open_all().unwrap().is_empty());
        assert_eq!(set.live_id().unwrap(), None);
    }
}
