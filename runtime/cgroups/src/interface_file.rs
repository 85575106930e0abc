//! Reading and writing cgroupfs interface files (`memory.max`,
//! `cgroup.procs`, ...).
//!
//! Each write is one `open(O_WRONLY|O_TRUNC|O_CLOEXEC)` + one `write` +
//! `close`: no `O_CREAT` (a missing file means a missing controller and must
//! fail with `ENOENT`, not create a regular file in a fake tree). `O_TRUNC`
//! is ignored by cgroupfs and keeps a fake tree of regular files exact.
//! The kernel parses each `write(2)` as one value, so a value is always
//! written in a single call; files that take one rule per write
//! (`devices.allow`, `net_prio.ifpriomap`) are opened once through
//! [`InterfaceFile`] and written once per rule.
//!
//! Errors name the value, the full path and the errno, as in
//! `write 12345 to /sys/fs/cgroup/memory/berth/x/memory.limit_in_bytes: EINVAL`.

use crate::errno::Errno;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What went wrong with one interface file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Opening or writing the file failed.
    #[error("write {value} to {path}: {errno}")]
    Write {
        value: String,
        path: PathBuf,
        errno: Errno,
    },
    /// Opening or reading the file failed.
    #[error("read {path}: {errno}")]
    Read { path: PathBuf, errno: Errno },
    /// The file's content is not what the kernel documents.
    #[error("parse {path}: unexpected content {content:?}")]
    Parse { path: PathBuf, content: String },
}

impl FileError {
    /// The errno behind a read or write failure.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            FileError::Write { errno, .. } | FileError::Read { errno, .. } => Some(*errno),
            FileError::Parse { .. } => None,
        }
    }
}

/// Writes `value` to the interface file at `path` in one `write(2)`.
pub fn write(path: &Path, value: &str) -> Result<(), FileError> {
    InterfaceFile::open(path, value)?.write(value)
}

/// Writes `value` to `dir/name`.
pub fn write_in(dir: &Path, name: &str, value: &str) -> Result<(), FileError> {
    write(&dir.join(name), value)
}

/// Reads the whole interface file at `path`: open, read until EOF, close.
/// (`std::fs::read_to_string` would add a statx and an lseek per file to
/// size its buffer; interface files report a meaningless size anyway.)
pub fn read(path: &Path) -> Result<String, FileError> {
    let err = |e: std::io::Error| FileError::Read {
        path: path.to_path_buf(),
        errno: Errno::from_io(&e),
    };
    let mut file = File::open(path).map_err(err)?;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(err(e)),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| FileError::Parse {
        path: path.to_path_buf(),
        content: String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Reads `dir/name`.
pub fn read_in(dir: &Path, name: &str) -> Result<String, FileError> {
    read(&dir.join(name))
}

/// Reads `dir/name` if it exists: `Ok(None)` on `ENOENT` (a controller or
/// feature this kernel lacks).
pub fn read_optional(dir: &Path, name: &str) -> Result<Option<String>, FileError> {
    match read_in(dir, name) {
        Ok(content) => Ok(Some(content)),
        Err(FileError::Read { errno, .. }) if errno.0 == libc::ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads a file holding one unsigned number; `max` (v2 "no limit") reads as
/// `u64::MAX`.
pub fn read_u64(dir: &Path, name: &str) -> Result<u64, FileError> {
    let path = dir.join(name);
    let content = read(&path)?;
    parse_u64(&content).ok_or(FileError::Parse {
        path,
        content: content.trim().to_string(),
    })
}

/// Like [`read_u64`], but a missing file reads as `None`.
pub fn read_u64_optional(dir: &Path, name: &str) -> Result<Option<u64>, FileError> {
    match read_u64(dir, name) {
        Ok(v) => Ok(Some(v)),
        Err(FileError::Read { errno, .. }) if errno.0 == libc::ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

/// Parses one unsigned number with surrounding whitespace; `max` is `u64::MAX`.
pub fn parse_u64(content: &str) -> Option<u64> {
    let text = content.trim();
    if text == "max" {
        return Some(u64::MAX);
    }
    text.parse().ok()
}

/// Parses the `key value` lines of flat-keyed files (`memory.stat`,
/// `cpu.stat`, `cgroup.events`, ...), skipping lines that do not parse.
pub fn parse_flat_keyed(content: &str) -> impl Iterator<Item = (&str, u64)> {
    content.lines().filter_map(|line| {
        let (key, value) = line.split_once(' ')?;
        Some((key, parse_u64(value)?))
    })
}

/// One interface file opened for writing, for files that take one rule per
/// `write(2)` (`devices.allow`, `net_prio.ifpriomap`, `cgroup.procs`).
pub struct InterfaceFile {
    file: File,
    path: PathBuf,
}

impl InterfaceFile {
    /// Opens `path` write-only; `first_value` only names the value in the
    /// error if the open fails.
    pub fn open(path: &Path, first_value: &str) -> Result<InterfaceFile, FileError> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(|e| FileError::Write {
                value: first_value.to_string(),
                path: path.to_path_buf(),
                errno: Errno::from_io(&e),
            })?;
        Ok(InterfaceFile {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Writes one value in one `write(2)`.
    pub fn write(&mut self, value: &str) -> Result<(), FileError> {
        match self.file.write(value.as_bytes()) {
            Ok(n) if n == value.len() => Ok(()),
            Ok(_) => Err(FileError::Write {
                value: value.to_string(),
                path: self.path.clone(),
                errno: Errno(libc::EIO),
            }),
            Err(e) => Err(FileError::Write {
                value: value.to_string(),
                path: self.path.clone(),
                errno: Errno::from_io(&e),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_max() {
        assert_eq!(parse_u64("42\n"), Some(42));
        assert_eq!(parse_u64("max\n"), Some(u64::MAX));
        assert_eq!(parse_u64("-1"), None);
        assert_eq!(parse_u64(""), None);
    }

    #[test]
    fn parses_flat_keyed_files() {
        let got: Vec<_> = parse_flat_keyed("populated 1\nfrozen 0\nbogus\n").collect();
        assert_eq!(got, vec![("populated", 1), ("frozen", 0)]);
    }

    #[test]
    fn write_error_names_value_path_and_errno() {
        let err = write(Path::new("/nonexistent-bt/memory.max"), "12345").unwrap_err();
        assert_eq!(
            err.to_string(),
            "write 12345 to /nonexistent-bt/memory.max: ENOENT"
        );
    }
}
