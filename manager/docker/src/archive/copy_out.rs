//! `docker cp CONTAINER:SRC ...`: the stat and the tar of one path inside a rootfs.
//!
//! Path rules are docker's (moby `container.ResolvePath` / `StatPath`): the path is taken
//! from the container's `/` and cleaned lexically; every component but the last is resolved
//! inside the rootfs, symlinks included; the last is not followed (a symlink is copied as a
//! symlink: `-L` is the client's business, it asks again for [`PathStat::link_target`]). A
//! path ending in `/` or `/.` must be a directory and is followed; `/.` names the
//! directory's contents, so its archive's top entry is `.`.

use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_in_root::{normalize, RootDir};

use super::node::Node;
use super::tree::TreeWriter;
use super::ArchiveError;

/// Go's `os.FileMode` type bits, which docker puts in `X-Docker-Container-Path-Stat`.
mod go_mode {
    pub const DIR: u32 = 1 << 31;
    pub const SYMLINK: u32 = 1 << 27;
    pub const DEVICE: u32 = 1 << 26;
    pub const NAMED_PIPE: u32 = 1 << 25;
    pub const SOCKET: u32 = 1 << 24;
    pub const SETUID: u32 = 1 << 23;
    pub const SETGID: u32 = 1 << 22;
    pub const CHAR_DEVICE: u32 = 1 << 21;
    pub const STICKY: u32 = 1 << 20;
}

/// What `docker cp` learns about a container path before copying (docker's
/// `ContainerPathStat`, sent base64-encoded JSON in the `X-Docker-Container-Path-Stat` header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathStat {
    /// The last element of the requested path (`/` for the root, `.` for a path ending in
    /// `/.`).
    pub name: String,
    /// The size in bytes (of the symlink itself for a symlink).
    pub size: i64,
    /// Go `os.FileMode` bits: permissions, setuid/setgid/sticky and the type bits.
    pub mode: u32,
    /// The modification time.
    pub mtime: SystemTime,
    /// For a symlink: where it leads, fully resolved inside the rootfs, as an absolute
    /// container path (empty otherwise).
    pub link_target: String,
}

impl PathStat {
    /// Whether the path is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & go_mode::DIR != 0
    }

    /// Whether the path is a symlink.
    pub fn is_symlink(&self) -> bool {
        self.mode & go_mode::SYMLINK != 0
    }

    /// Whether the path is a regular file.
    pub fn is_regular(&self) -> bool {
        self.mode
            & (go_mode::DIR
                | go_mode::SYMLINK
                | go_mode::DEVICE
                | go_mode::NAMED_PIPE
                | go_mode::SOCKET
                | go_mode::CHAR_DEVICE)
            == 0
    }

    /// The name of the archive's top entry: `.` for the root and for `/.` paths.
    pub fn archive_name(&self) -> &str {
        if self.name == "/" {
            "."
        } else {
            &self.name
        }
    }

    /// docker's JSON form (`{"name":..,"size":..,"mode":..,"mtime":RFC 3339,"linkTarget":..}`).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "name": self.name,
            "size": self.size,
            "mode": self.mode,
            "mtime": humantime::format_rfc3339_nanos(self.mtime).to_string(),
            "linkTarget": self.link_target,
        })
        .to_string()
    }

    /// Parses [`PathStat::to_json`]'s form.
    pub fn from_json(s: &str) -> Result<PathStat, ArchiveError> {
        let bad = |why: &str| ArchiveError::InvalidStat(s.to_string(), why.to_string());
        let v: serde_json::Value = serde_json::from_str(s).map_err(|e| bad(&e.to_string()))?;
        let mtime = v["mtime"].as_str().ok_or_else(|| bad("no mtime"))?;
        Ok(PathStat {
            name: v["name"]
                .as_str()
                .ok_or_else(|| bad("no name"))?
                .to_string(),
            size: v["size"].as_i64().ok_or_else(|| bad("no size"))?,
            mode: v["mode"]
                .as_u64()
                .and_then(|m| u32::try_from(m).ok())
                .ok_or_else(|| bad("no mode"))?,
            mtime: humantime::parse_rfc3339(mtime).map_err(|e| bad(&e.to_string()))?,
            link_target: v["linkTarget"].as_str().unwrap_or("").to_string(),
        })
    }

    fn from_meta(name: String, meta: &std::fs::Metadata, link_target: String) -> PathStat {
        let ft = meta.file_type();
        let mut mode = meta.permissions().mode() & 0o777;
        let raw = meta.mode();
        if raw & libc::S_ISUID != 0 {
            mode |= go_mode::SETUID;
        }
        if raw & libc::S_ISGID != 0 {
            mode |= go_mode::SETGID;
        }
        if raw & libc::S_ISVTX != 0 {
            mode |= go_mode::STICKY;
        }
        if ft.is_dir() {
            mode |= go_mode::DIR;
        } else if ft.is_symlink() {
            mode |= go_mode::SYMLINK;
        } else if ft.is_block_device() {
            mode |= go_mode::DEVICE;
        } else if ft.is_char_device() {
            mode |= go_mode::DEVICE | go_mode::CHAR_DEVICE;
        } else if ft.is_fifo() {
            mode |= go_mode::NAMED_PIPE;
        } else if ft.is_socket() {
            mode |= go_mode::SOCKET;
        }
        let mtime = if meta.mtime() >= 0 {
            UNIX_EPOCH + Duration::new(meta.mtime() as u64, meta.mtime_nsec() as u32)
        } else {
            UNIX_EPOCH
        };
        PathStat {
            name,
            size: meta.len() as i64,
            mode,
            mtime,
            link_target,
        }
    }
}

/// A path resolved inside a root: its node, its stat and its cleaned container path.
pub struct Resolved {
    pub node: Node,
    pub stat: PathStat,
    /// The cleaned absolute container path (`/etc/passwd`).
    pub path: String,
}

/// The stat of `path` inside the rootfs at `rootfs`.
pub fn stat_path(rootfs: &Path, path: &str) -> Result<PathStat, ArchiveError> {
    let root = open_root(rootfs)?;
    Ok(resolve(&root, path)?.stat)
}

/// Writes `path` inside the rootfs at `rootfs` to `out` as a tar (its top entry named
/// [`PathStat::archive_name`]) and returns its stat.
pub fn archive_path(
    rootfs: &Path,
    path: &str,
    out: &mut dyn Write,
) -> Result<PathStat, ArchiveError> {
    archive_path_as(rootfs, path, None, out)
}

/// [`archive_path`] with the top entry named `top_name` (none: [`PathStat::archive_name`]):
/// the sending side of docker's `RebaseArchiveEntries`, so that the receiver extracts the
/// entry straight under the name the copy rules chose.
pub fn archive_path_as(
    rootfs: &Path,
    path: &str,
    top_name: Option<&str>,
    out: &mut dyn Write,
) -> Result<PathStat, ArchiveError> {
    let root = open_root(rootfs)?;
    let resolved = resolve(&root, path)?;
    let top = top_name.unwrap_or(resolved.stat.archive_name());
    let mut writer = TreeWriter::new(out, true);
    writer.write_tree(&resolved.node, top.as_bytes(), &resolved.path)?;
    writer
        .finish()?
        .flush()
        .map_err(|e| ArchiveError::io("write archive of", &resolved.path, e))?;
    Ok(resolved.stat)
}

pub fn open_root(rootfs: &Path) -> Result<RootDir, ArchiveError> {
    RootDir::open(rootfs)
        .map_err(|e| ArchiveError::io("open rootfs", rootfs.display().to_string(), e))
}

/// docker's path rules (module doc) on `path` under `root`.
pub fn resolve(root: &RootDir, path: &str) -> Result<Resolved, ArchiveError> {
    let cleaned = normalize(Path::new(&format!("/{path}")));
    let cleaned_str = cleaned.to_string_lossy().into_owned();
    let current_dir = path == "." || path.ends_with("/.");
    let asserts_dir = current_dir || path.ends_with('/');
    let not_found = |e: std::io::Error| match e.raw_os_error() {
        Some(libc::ENOENT) => ArchiveError::NotFound(path_for_messages(path)),
        Some(libc::ENOTDIR) => ArchiveError::NotADirectory(path_for_messages(path)),
        _ => ArchiveError::io("resolve", path_for_messages(path), e),
    };
    let (node, name, parent) = if cleaned_str == "/" || asserts_dir {
        // The root, or a path that must be a directory: followed all the way.
        let fd = root
            .open_in_root(&cleaned_str, libc::O_PATH | libc::O_DIRECTORY)
            .map_err(not_found)?;
        let name = if current_dir {
            ".".to_string()
        } else if cleaned_str == "/" {
            "/".to_string()
        } else {
            base_name(&cleaned)
        };
        (Node::from_fd(fd).map_err(not_found)?, name, None)
    } else {
        let parent_path = cleaned.parent().unwrap_or(Path::new("/"));
        let parent = root
            .open_in_root(
                &parent_path.to_string_lossy(),
                libc::O_PATH | libc::O_DIRECTORY,
            )
            .map_err(not_found)?;
        let base = cleaned.file_name().unwrap_or(OsStr::new("."));
        let node = Node::open_at(parent.as_raw_fd(), base).map_err(not_found)?;
        (node, base_name(&cleaned), Some(parent))
    };
    let link_target = if node.meta.file_type().is_symlink() {
        link_target(root, &cleaned_str, &node, parent.as_ref())?
    } else {
        String::new()
    };
    let stat = PathStat::from_meta(name, &node.meta, link_target);
    Ok(Resolved {
        node,
        stat,
        path: cleaned_str,
    })
}

/// The container path `path` as users wrote it, made absolute.
fn path_for_messages(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

fn base_name(cleaned: &Path) -> String {
    cleaned
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".to_string())
}

/// Where the symlink at `path` leads inside the root, as an absolute container path: the
/// kernel's answer when it resolves, else (dangling) the lexical join of the link's parent
/// and target, as moby's `FollowSymlinkInScope` would give.
fn link_target(
    root: &RootDir,
    path: &str,
    node: &Node,
    parent: Option<&std::os::fd::OwnedFd>,
) -> Result<String, ArchiveError> {
    let root_real = berth_in_root::sys::fd_target(root.fd())
        .map_err(|e| ArchiveError::io("resolve", root.path().display().to_string(), e))?;
    let in_root = |real: PathBuf| -> Option<String> {
        let rel = real.strip_prefix(&root_real).ok()?;
        Some(format!("/{}", rel.to_string_lossy()).replace("//", "/"))
    };
    if let Ok(fd) = root.open_in_root(path, libc::O_PATH) {
        if let Some(p) = berth_in_root::sys::fd_target(fd.as_raw_fd())
            .ok()
            .and_then(in_root)
        {
            return Ok(if p.len() > 1 {
                p.trim_end_matches('/').to_string()
            } else {
                p
            });
        }
    }
    let target = node
        .read_link()
        .map_err(|e| ArchiveError::io("read link", path, e))?;
    let target = OsStr::from_bytes(&target).to_string_lossy().into_owned();
    let base = match parent
        .and_then(|p| berth_in_root::sys::fd_target(p.as_raw_fd()).ok())
        .and_then(in_root)
    {
        Some(p) => p,
        None => "/".to_string(),
    };
    let joined = if target.starts_with('/') {
        target
    } else {
        format!("{base}/{target}")
    };
    Ok(normalize(Path::new(&joined)).to_string_lossy().into_owned())
}
