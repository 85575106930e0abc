//! The shim's socket: `<socket-dir>/<16 hex digits>.sock`, the digits a hash
//! of the state dir and the container id. The path stays short whatever the
//! ids and dirs are: `sun_path` holds 108 bytes (unix(7); youki issue 2910
//! is what happens otherwise). The default dir is `/run/berth/s`.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Where shim sockets go unless `--socket-dir` says otherwise (DESIGN.md).
pub const DEFAULT_SOCKET_DIR: &str = "/run/berth/s";
/// `sun_path` is 108 bytes, one of them the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Failures choosing or binding the socket.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    #[error("socket path {path} is {len} bytes: sun_path holds at most {MAX_SOCKET_PATH}; use a shorter socket dir")]
    TooLong { path: PathBuf, len: usize },
    #[error("a shim is already listening on {path} for container {id} (state dir {state_dir})")]
    InUse {
        path: PathBuf,
        id: String,
        state_dir: PathBuf,
    },
    #[error("bind shim socket {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("create socket dir {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The 16 hex digits naming the sockets of the shim of `id` in `state_dir`
/// (64-bit FNV-1a: stable across builds, no dependency).
pub fn socket_stem(state_dir: &Path, id: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = state_dir
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .chain(b"\0")
        .chain(id.as_bytes());
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Binds `<dir>/<stem>.sock`. A socket file left by a dead shim is replaced;
/// one a live shim answers on is an error.
pub fn bind(
    dir: &Path,
    stem: &str,
    id: &str,
    state_dir: &Path,
) -> Result<(PathBuf, UnixListener), AddressError> {
    std::fs::create_dir_all(dir).map_err(|source| AddressError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(format!("{stem}.sock"));
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(AddressError::TooLong { path, len });
    }
    // The console sockets (`<stem>.<n>.con`) are 4+ bytes longer.
    if len + 6 > MAX_SOCKET_PATH {
        return Err(AddressError::TooLong { path, len: len + 6 });
    }
    if path.exists() {
        if UnixStream::connect(&path).is_ok() {
            return Err(AddressError::InUse {
                path,
                id: id.to_string(),
                state_dir: state_dir.to_path_buf(),
            });
        }
        let _ = std::fs::remove_file(&path);
    }
    let listener = UnixListener::bind(&path).map_err(|source| AddressError::Bind {
        path: path.clone(),
        source,
    })?;
    Ok((path, listener))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_short_stable_and_distinct() {
        let a = socket_stem(Path::new("/run/berth/tasks/a"), "a");
        assert_eq!(a.len(), 16);
        assert_eq!(a, socket_stem(Path::new("/run/berth/tasks/a"), "a"));
        assert_ne!(a, socket_stem(Path::new("/run/berth/tasks/a"), "b"));
        assert_ne!(a, socket_stem(Path::new("/run/berth/tasks/b"), "a"));
    }

    #[test]
    fn long_dirs_are_refused() {
        let dir = PathBuf::from(format!("/tmp/{}", "d".repeat(100)));
        let err = bind(&dir, "0123456789abcdef", "x", Path::new("/s")).unwrap_err();
        assert!(
            err.to_string().contains("sun_path holds at most 107"),
            "{err}"
        );
        let _ = std::fs::remove_dir(&dir);
    }
}
