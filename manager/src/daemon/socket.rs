//! berthd's API socket: a unix socket only (no TCP), mode 0660, owned by
//! root and by group `berth` when that group exists (or by the group
//! `berthd --group` names), so members of the group can use the CLI without
//! root (docker's `docker` group model). Without the group the socket is
//! root's alone: never world-accessible.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::net::UnixListener;

/// The group whose members may use the socket.
pub const SOCKET_GROUP: &str = "berth";

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("socket path {0} is longer than the 107 bytes sun_path holds")]
    TooLong(PathBuf),
    #[error("socket group {group:?} for {path} does not exist (create it with groupadd, or leave --group out)")]
    NoGroup { group: String, path: PathBuf },
    #[error("another berthd is already listening on {0}")]
    InUse(PathBuf),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Binds the API socket at `path`: creates its directory, replaces a stale
/// socket file (one nobody answers on), sets mode and owner. `group` is the
/// group the admin named (it must exist); none means [`SOCKET_GROUP`] when
/// it exists, else root.
pub fn bind(path: &Path, group: Option<&str>) -> Result<UnixListener, SocketError> {
    if path.as_os_str().len() > 107 {
        return Err(SocketError::TooLong(path.to_path_buf()));
    }
    // Checked before anything is bound, so a wrong name leaves nothing behind.
    let gid = socket_gid(group, path)?;
    let io = |op: &'static str| {
        move |source: std::io::Error| SocketError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| SocketError::Io {
            op: "create socket directory",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(SocketError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(io("remove stale socket"))?;
    }
    let listener = UnixListener::bind(path).map_err(io("bind"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(io("chmod 0660"))?;
    std::os::unix::fs::chown(path, Some(0), Some(gid)).map_err(io("chown"))?;
    Ok(listener)
}

/// The gid that owns the socket at `path`: the group the admin named (it
/// must exist), else [`SOCKET_GROUP`] when it exists, else root's.
pub fn socket_gid(group: Option<&str>, path: &Path) -> Result<u32, SocketError> {
    match group {
        Some(name) => group_id(name).ok_or_else(|| SocketError::NoGroup {
            group: name.to_string(),
            path: path.to_path_buf(),
        }),
        None => Ok(group_id(SOCKET_GROUP).unwrap_or(0)),
    }
}

/// The gid of a group, if it exists.
fn group_id(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16 * 1024];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // getgrnam_r is the re-entrant lookup (berthd is multi-threaded).
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(grp.gr_gid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[tokio::test]
    async fn binds_with_mode_0660_and_refuses_a_live_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/b.sock");
        let _l = bind(&path, None).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o660);
        assert!(matches!(bind(&path, None), Err(SocketError::InUse(_))));
        assert!(matches!(
            bind(&dir.path().join("x".repeat(120)), None),
            Err(SocketError::TooLong(_))
        ));
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(group_id("bt-no-such-group"), None);
    }

    #[tokio::test]
    async fn replaces_a_stale_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let _l = bind(&path, None).unwrap();
    }

    #[tokio::test]
    async fn a_named_group_owns_the_socket_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.sock");
        assert!(matches!(
            bind(&path, Some("bt-no-such-group")),
            Err(SocketError::NoGroup { .. })
        ));
        assert!(!path.exists(), "nothing bound for a missing group");
        // adm (gid 4) exists on every Debian system.
        let adm = group_id("adm").expect("group adm");
        let _l = bind(&path, Some("adm")).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().gid(), adm);
    }
}
