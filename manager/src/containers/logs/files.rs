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

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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
    fn list(&self) -> Result<Vec<(PathBuf, FileId)>, FilesError> {
        let io_err = |source| FilesError::Io {
            op: "list log directory",
            path: self.dir.clone(),
            source,
        };
        let base = self.base.as_encoded_bytes();
        // (rotation number, 0 for the live file)
        let mut found: Vec<(u64, PathBuf)> = Vec::new();
        for dirent in std::fs::read_dir(&self.dir).map_err(io_err)? {
            let dirent = dirent.map_err(io_err)?;
            let name = dirent.file_name();
            let name = name.as_encoded_bytes();
            let Some(rest) = name.strip_prefix(base) else {
                continue;
            };
            let number = if rest.is_empty() {
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
            found.push((number, dirent.path()));
        }
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        let mut files = Vec::with_capacity(found.len());
        for (_, path) in found {
            match std::fs::metadata(&path) {
                Ok(meta) => files.push((path, FileId::of(&meta))),
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
            for (path, id) in listed {
                match self.open_if(&path, id)? {
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
    /// `current` is gone (dropped by rotation before it was read through),
    /// the oldest file there is follows it.
    pub fn open_successor(&self, current: FileId) -> Result<Option<OpenLogFile>, FilesError> {
        for _ in 0..OPEN_ATTEMPTS {
            let listed = self.list()?;
            let next = match listed.iter().position(|(_, id)| *id == current) {
                Some(i) => listed.get(i + 1),
                None => listed.first(),
            };
            let Some((path, id)) = next else {
                return Ok(None);
            };
            if let Some(f) = self.open_if(path, *id)? {
                return Ok(Some(f));
            }
        }
        Err(FilesError::Unstable {
            path: self.live.clone(),
        })
    }
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
        assert!(set.open_successor(first.id).unwrap().is_none());
        // Two rotations: a -> log.2, b -> log.1, c live.
        std::fs::rename(&live, dir.join("log.1")).unwrap();
        // Between the rename and the new live file: nothing follows yet.
        assert!(set.open_successor(first.id).unwrap().is_none());
        std::fs::write(&live, "b").unwrap();
        std::fs::rename(dir.join("log.1"), dir.join("log.2")).unwrap();
        std::fs::rename(&live, dir.join("log.1")).unwrap();
        std::fs::write(&live, "c").unwrap();
        let second = set.open_successor(first.id).unwrap().unwrap();
        let second_id = second.id;
        let third = set.open_successor(second_id).unwrap().unwrap();
        assert_eq!(contents(&[second, third]), ["b", "c"]);
        let third_id = set.live_id().unwrap().unwrap();
        assert!(set.open_successor(third_id).unwrap().is_none());
        // The first file dropped: the oldest there is follows it.
        std::fs::remove_file(dir.join("log.2")).unwrap();
        let after_gone = set.open_successor(first.id).unwrap().unwrap();
        assert_eq!(after_gone.id, second_id);
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
