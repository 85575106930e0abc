//! Scratch directories for this module's tests: `bt<pid>-<name>` under the
//! temp dir, removed on drop, so a failing test leaves nothing behind
//! either.

use std::ops::Deref;
use std::path::{Path, PathBuf};

/// A fresh, empty directory, removed with its contents on drop.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Makes `bt<pid>-<name>` (emptied first if a killed run left it).
    pub fn new(name: &str) -> ScratchDir {
        let dir = std::env::temp_dir().join(format!("bt{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        ScratchDir(dir)
    }
}

impl Deref for ScratchDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
