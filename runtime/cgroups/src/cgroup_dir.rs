//! Making and removing one cgroup directory, remembering which of its
//! components this container made.
//!
//! A container's cgroup (`/berth/x`) may sit under directories that
//! already exist (`/berth`, shared with other containers) or that it makes
//! itself. [`CgroupDir`] records how many trailing components it made, so
//! destroying it removes exactly those, deepest first, and never a cgroup
//! that existed before (including the leaf itself, when the caller pointed
//! the container at an existing cgroup). The record is serializable: the
//! runtime keeps it in its `state.json` and reopens it for `delete`.
//!
//! Cost: on the common path (parents exist) one mkdir(2) per hierarchy.

use crate::errno::Errno;
use crate::CgroupError;
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a leaf's rmdir(2) is retried on `EBUSY` (tasks still exiting).
const RMDIR_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// One cgroup directory and how many of its trailing components we created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupDir {
    /// Full path (`/sys/fs/cgroup/memory/berth/x`); `dir` in JSON.
    #[serde(rename = "dir")]
    pub path: PathBuf,
    /// How many trailing components of `path` this container created
    /// (0: the cgroup existed before and is never removed).
    pub created: u32,
}

impl CgroupDir {
    /// Makes `path` and the missing ones of its last `depth` components.
    /// `on_created` runs for each directory made, outermost first (v1 cpuset
    /// copies its parent's CPUs there). On error, what this call made is
    /// removed again.
    pub fn make(
        path: PathBuf,
        depth: usize,
        mut on_created: impl FnMut(&Path) -> Result<(), CgroupError>,
    ) -> Result<CgroupDir, CgroupError> {
        let mut dir = CgroupDir { path, created: 0 };
        // Fast path: the parents exist.
        match mkdir(&dir.path) {
            Ok(()) => {
                dir.created = 1;
                if let Err(e) = on_created(&dir.path) {
                    dir.remove_quietly();
                    return Err(e);
                }
                return Ok(dir);
            }
            Err(Errno(libc::EEXIST)) => return Ok(dir),
            Err(Errno(libc::ENOENT)) if depth > 1 => {}
            Err(errno) => {
                return Err(CgroupError::Mkdir {
                    path: dir.path,
                    errno,
                })
            }
        }
        // Slow path: make each missing component, outermost first.
        for up in (0..depth).rev() {
            let component = dir
                .path
                .ancestors()
                .nth(up)
                .expect("depth is within the path")
                .to_path_buf();
            match mkdir(&component) {
                Ok(()) => {
                    dir.created += 1;
                    if let Err(e) = on_created(&component) {
                        dir.remove_quietly();
                        return Err(e);
                    }
                }
                // Made meanwhile by someone else: ours only below it.
                Err(Errno(libc::EEXIST)) if dir.created == 0 => {}
                Err(Errno(libc::EEXIST)) => dir.created += 1,
                Err(errno) => {
                    dir.remove_quietly();
                    return Err(CgroupError::Mkdir {
                        path: component,
                        errno,
                    });
                }
            }
        }
        Ok(dir)
    }

    /// Removes the directories this container created, deepest first. The
    /// leaf's rmdir is retried on `EBUSY` while its tasks exit, and
    /// sub-cgroups the container made inside its own cgroup (a delegated
    /// cgroup namespace, systemd in a container) are removed with it; an
    /// outer directory that is busy (another container's cgroup now lives
    /// in it) is left alone. Already-removed directories are fine.
    pub fn remove(&self) -> Result<(), CgroupError> {
        for (i, dir) in self
            .path
            .ancestors()
            .take(self.created as usize)
            .enumerate()
        {
            if i == 0 {
                remove_tree(dir)?;
                continue;
            }
            match rmdir(dir) {
                Ok(()) | Err(Errno(libc::ENOENT | libc::EBUSY | libc::ENOTEMPTY)) => {}
                Err(errno) => {
                    return Err(CgroupError::Rmdir {
                        path: dir.to_path_buf(),
                        errno,
                    })
                }
            }
            if dir.exists() {
                // Busy: someone else's cgroup lives here now; so do ours above.
                return Ok(());
            }
        }
        Ok(())
    }

    fn remove_quietly(&self) {
        let _ = self.remove();
    }
}

/// Removes the cgroup `dir` and any cgroups below it, deepest first. An
/// rmdir(2) that finds child cgroups fails with `EBUSY`, so children are
/// only looked for then; an rmdir that finds tasks still exiting is
/// retried until [`RMDIR_BUSY_TIMEOUT`].
fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        match rmdir(dir) {
            Ok(()) | Err(Errno(libc::ENOENT)) => return Ok(()),
            Err(Errno(libc::EBUSY | libc::ENOTEMPTY)) if start.elapsed() < RMDIR_BUSY_TIMEOUT => {
                let children: Vec<PathBuf> = std::fs::read_dir(dir)
                    .map(|entries| {
                        entries
                            .flatten()
                            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                            .map(|e| e.path())
                            .collect()
                    })
                    .unwrap_or_default();
                for child in &children {
                    remove_tree(child)?;
                }
                if children.is_empty() {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(50));
                }
            }
            Err(errno) => {
                return Err(CgroupError::Rmdir {
                    path: dir.to_path_buf(),
                    errno,
                })
            }
        }
    }
}

fn cpath(path: &Path) -> CString {
    CString::new(path.as_os_str().as_encoded_bytes()).unwrap_or_default()
}

fn mkdir(path: &Path) -> Result<(), Errno> {
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::mkdir(cpath(path).as_ptr(), 0o755) } == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

fn rmdir(path: &Path) -> Result<(), Errno> {
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::rmdir(cpath(path).as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("bt{}-cgdir-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn records_and_removes_only_what_it_made() {
        let root = tmp("made");
        std::fs::create_dir(root.join("pre")).unwrap();
        let mut made = Vec::new();
        let dir = CgroupDir::make(root.join("pre/a/b"), 3, |p| {
            made.push(p.to_path_buf());
            Ok(())
        })
        .unwrap();
        assert_eq!(dir.created, 2);
        assert_eq!(made, vec![root.join("pre/a"), root.join("pre/a/b")]);
        dir.remove().unwrap();
        assert!(!root.join("pre/a").exists());
        assert!(root.join("pre").exists());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn sub_cgroups_made_inside_the_leaf_go_with_it() {
        let root = tmp("subtree");
        let dir = CgroupDir::make(root.join("a"), 1, |_| Ok(())).unwrap();
        std::fs::create_dir_all(root.join("a/inner/deeper")).unwrap();
        std::fs::create_dir_all(root.join("a/other")).unwrap();
        dir.remove().unwrap();
        assert!(!root.join("a").exists());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn an_existing_leaf_is_never_removed() {
        let root = tmp("existing");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        let dir = CgroupDir::make(root.join("a/b"), 2, |_| panic!("nothing made")).unwrap();
        assert_eq!(dir.created, 0);
        dir.remove().unwrap();
        assert!(root.join("a/b").exists());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_failing_hook_undoes_the_mkdirs() {
        let root = tmp("undo");
        let err = CgroupDir::make(root.join("a/b"), 2, |p| {
            if p.ends_with("b") {
                Err(CgroupError::Mkdir {
                    path: p.to_path_buf(),
                    errno: Errno(libc::EIO),
                })
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert!(err.to_string().contains("EIO"), "{err}");
        assert!(!root.join("a").exists());
        std::fs::remove_dir_all(root).unwrap();
    }
}
