//! v1 `freezer` controller (cgroup-v1 `freezer-subsystem.rst`).
//!
//! Writing `FROZEN` starts freezing; `freezer.state` reads `FREEZING`
//! until every task is frozen. A task in an uninterruptible sleep can hold
//! that up, so the write is repeated while waiting (as runc does) and the
//! wait is bounded.

use crate::interface_file;
use crate::{CgroupError, FreezerState};
use std::path::Path;
use std::time::{Duration, Instant};

/// Longest wait for `FROZEN`.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// Freezes and waits for `FROZEN`; on timeout, thaws again and fails.
pub fn freeze(dir: &Path) -> Result<(), CgroupError> {
    let start = Instant::now();
    let mut delay = Duration::from_micros(100);
    loop {
        interface_file::write_in(dir, "freezer.state", "FROZEN")?;
        if state(dir)? == FreezerState::Frozen {
            return Ok(());
        }
        if start.elapsed() > FREEZE_TIMEOUT {
            let _ = thaw(dir);
            return Err(CgroupError::FreezeTimeout {
                path: dir.to_path_buf(),
                seconds: FREEZE_TIMEOUT.as_secs(),
            });
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(10));
    }
}

/// Thaws.
pub fn thaw(dir: &Path) -> Result<(), CgroupError> {
    Ok(interface_file::write_in(dir, "freezer.state", "THAWED")?)
}

/// Reads `freezer.state`.
pub fn state(dir: &Path) -> Result<FreezerState, CgroupError> {
    let path = dir.join("freezer.state");
    let content = interface_file::read(&path)?;
    match content.trim() {
        "THAWED" => Ok(FreezerState::Thawed),
        "FREEZING" => Ok(FreezerState::Freezing),
        "FROZEN" => Ok(FreezerState::Frozen),
        other => Err(crate::FileError::Parse {
            path,
            content: other.to_string(),
        }
        .into()),
    }
}
