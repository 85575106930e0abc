//! v2 freezer: `cgroup.freeze` (write 1/0) and the `frozen` key of
//! `cgroup.events` (cgroup-v2.rst, "Core Interface Files"). The kernel
//! sets `frozen 1` once every task has stopped; we wait for it (bounded).

use crate::interface_file::{self, parse_flat_keyed};
use crate::{CgroupError, FreezerState};
use std::path::Path;
use std::time::{Duration, Instant};

/// Longest wait for `frozen 1`.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// Freezes and waits for `frozen 1`; on timeout, thaws again and fails.
pub fn freeze(dir: &Path) -> Result<(), CgroupError> {
    interface_file::write_in(dir, "cgroup.freeze", "1")?;
    let start = Instant::now();
    let mut delay = Duration::from_micros(100);
    while !frozen(dir)? {
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
    Ok(())
}

/// Thaws.
pub fn thaw(dir: &Path) -> Result<(), CgroupError> {
    Ok(interface_file::write_in(dir, "cgroup.freeze", "0")?)
}

fn frozen(dir: &Path) -> Result<bool, CgroupError> {
    let events = interface_file::read_in(dir, "cgroup.events")?;
    let frozen = parse_flat_keyed(&events).any(|(k, v)| k == "frozen" && v == 1);
    Ok(frozen)
}

/// Whether tasks joining `dir` would be frozen: its own `cgroup.freeze`,
/// or `frozen 1` in `cgroup.events`, which an ancestor's freeze sets too.
pub fn frozen_for_joining(dir: &Path) -> Result<bool, CgroupError> {
    Ok(interface_file::read_u64(dir, "cgroup.freeze")? != 0 || frozen(dir)?)
}

/// The freezer state: `cgroup.freeze` says what was asked, `cgroup.events`
/// whether it is done.
pub fn state(dir: &Path) -> Result<FreezerState, CgroupError> {
    let wanted = interface_file::read_u64(dir, "cgroup.freeze")?;
    if wanted == 0 {
        return Ok(FreezerState::Thawed);
    }
    Ok(if frozen(dir)? {
        FreezerState::Frozen
    } else {
        FreezerState::Freezing
    })
}
