//! What the shim leaves in its state dir, so that whoever comes next (berthd
//! after a restart, an operator) can tell what happened even if the shim is
//! gone:
//!
//! ```text
//! <state-dir>/
//!   shim.pid      the shim's pid, written before it reports its address
//!   address       the shim's socket path
//!   shim.log      the shim's own stderr (warnings, failures)
//!   init.pid      the container init's pid (the runtime's --pid-file)
//!   exit          the init's exit: {"pid":..,"exit_status":..,"exited_at":".."}
//!                 written (atomically) before any Wait returns or event is sent
//!   shim-exit     why the shim exited on its own: {"reason":..,"time":..}
//! ```
//!
//! A shim killed with SIGKILL writes nothing more: [`ShimRecord::read`] then
//! finds `shim.pid` naming a dead process and no `shim-exit`, and tells from
//! `init.pid` and `exit` whether the container was still running.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::timefmt::rfc3339_nano;

/// The shim's pid.
pub const SHIM_PID_FILE: &str = "shim.pid";
/// The shim's socket path.
pub const ADDRESS_FILE: &str = "address";
/// The shim's stderr.
pub const SHIM_LOG_FILE: &str = "shim.log";
/// The container init's pid (the runtime's `--pid-file`).
pub const INIT_PID_FILE: &str = "init.pid";
/// The init's exit ([`ExitRecord`]).
pub const EXIT_FILE: &str = "exit";
/// Why the shim exited on its own ([`write_shim_exit`]).
pub const SHIM_EXIT_FILE: &str = "shim-exit";

/// Failures reading or writing the state dir's records.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
}

/// Writes `content` to `dir/name` through a temp file and a rename, so a
/// reader never sees half a record.
pub fn write_atomic(dir: &Path, name: &str, content: &[u8]) -> Result<(), RecordError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let err = |source| RecordError::Write {
        path: path.clone(),
        source,
    };
    std::fs::write(&tmp, content).map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(err)
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitRecord {
    pub pid: u32,
    /// The exit code, or 128 + the signal that killed it.
    pub exit_status: u32,
    pub exited_at: SystemTime,
}

impl ExitRecord {
    /// Writes the init's exit file.
    pub fn write(&self, dir: &Path) -> Result<(), RecordError> {
        let since = self
            .exited_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let body = json!({
            "pid": self.pid,
            "exit_status": self.exit_status,
            "exited_at": rfc3339_nano(self.exited_at),
            "exited_at_unix_nanos": since.as_nanos() as u64,
        });
        write_atomic(dir, EXIT_FILE, format!("{body}\n").as_bytes())
    }

    /// Reads the init's exit file; `Ok(None)` when there is none.
    pub fn read(dir: &Path) -> Result<Option<ExitRecord>, RecordError> {
        let path = dir.join(EXIT_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(RecordError::Read { path, source }),
        };
        let parse = |reason: &str| RecordError::Parse {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| parse(&e.to_string()))?;
        let field = |name: &str| v[name].as_u64().ok_or_else(|| parse(&format!("no {name}")));
        Ok(Some(ExitRecord {
            pid: field("pid")? as u32,
            exit_status: field("exit_status")? as u32,
            exited_at: UNIX_EPOCH + Duration::from_nanos(field("exited_at_unix_nanos")?),
        }))
    }
}

/// Records why the shim exited on its own (`deleted`, `shutdown`,
/// `terminated by SIGTERM`, ...).
pub fn write_shim_exit(dir: &Path, reason: &str) -> Result<(), RecordError> {
    let body = json!({"reason": reason, "time": rfc3339_nano(SystemTime::now())});
    write_atomic(dir, SHIM_EXIT_FILE, format!("{body}\n").as_bytes())
}

/// What the state dir says about a shim and its container.
#[derive(Debug, PartialEq, Eq)]
pub enum ShimRecord {
    /// The shim process is alive.
    Running { shim_pid: u32 },
    /// The shim exited on its own, saying why.
    Exited {
        reason: String,
        exit: Option<ExitRecord>,
    },
    /// The shim died without a word (SIGKILL, OOM killer, crash).
    Killed {
        shim_pid: u32,
        init_pid: Option<u32>,
        /// Whether `init_pid` is still alive (the container outlived its shim).
        init_alive: bool,
        exit: Option<ExitRecord>,
    },
    /// No shim ever ran here.
    Absent,
}

impl ShimRecord {
    /// Reads the state dir.
    pub fn read(dir: &Path) -> Result<ShimRecord, RecordError> {
        let exit = ExitRecord::read(dir)?;
        if let Some(text) = read_optional(&dir.join(SHIM_EXIT_FILE))? {
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| RecordError::Parse {
                    path: dir.join(SHIM_EXIT_FILE),
                    reason: e.to_string(),
                })?;
            return Ok(ShimRecord::Exited {
                reason: v["reason"].as_str().unwrap_or("").to_string(),
                exit,
            });
        }
        let Some(shim_pid) = read_pid(&dir.join(SHIM_PID_FILE))? else {
            return Ok(ShimRecord::Absent);
        };
        if pid_alive(shim_pid) {
            return Ok(ShimRecord::Running { shim_pid });
        }
        let init_pid = read_pid(&dir.join(INIT_PID_FILE))?;
        Ok(ShimRecord::Killed {
            shim_pid,
            init_pid,
            init_alive: exit.is_none() && init_pid.is_some_and(pid_alive),
            exit,
        })
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            ShimRecord::Running { shim_pid } => format!("shim running (pid {shim_pid})"),
            ShimRecord::Exited { reason, exit } => match exit {
                Some(e) => format!(
                    "shim exited ({reason}); container init {} exited with status {} at {}",
                    e.pid,
                    e.exit_status,
                    rfc3339_nano(e.exited_at)
                ),
                None => format!("shim exited ({reason}); the container never ran"),
            },
            ShimRecord::Killed {
                shim_pid,
                init_pid,
                init_alive,
                exit,
            } => match (exit, init_pid) {
                (Some(e), _) => format!(
                    "shim (pid {shim_pid}) was killed after container init {} exited with status {}",
                    e.pid, e.exit_status
                ),
                (None, Some(pid)) if *init_alive => format!(
                    "shim (pid {shim_pid}) was killed; container init {pid} is still running unsupervised"
                ),
                (None, Some(pid)) => format!(
                    "shim (pid {shim_pid}) was killed; container init {pid} is gone, its exit status was lost"
                ),
                (None, None) => {
                    format!("shim (pid {shim_pid}) was killed before the container was created")
                }
            },
            ShimRecord::Absent => "no shim record".to_string(),
        }
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, RecordError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RecordError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads a pid file (a decimal number, maybe with a newline).
pub fn read_pid(path: &Path) -> Result<Option<u32>, RecordError> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    text.trim()
        .parse()
        .map(Some)
        .map_err(|e| RecordError::Parse {
            path: path.to_path_buf(),
            reason: format!("{e}: {:?}", text.trim()),
        })
}

/// Whether a process exists and is not a zombie.
fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_record_round_trips() {
        let dir = std::env::temp_dir().join(format!("bt{}-record", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(ExitRecord::read(&dir).unwrap(), None);
        let rec = ExitRecord {
            pid: 42,
            exit_status: 137,
            exited_at: UNIX_EPOCH + Duration::new(1_700_000_000, 7),
        };
        rec.write(&dir).unwrap();
        assert_eq!(ExitRecord::read(&dir).unwrap(), Some(rec));
        std::fs::write(dir.join(SHIM_PID_FILE), "999999999\n").unwrap();
        std::fs::write(dir.join(INIT_PID_FILE), "42").unwrap();
        let r = ShimRecord::read(&dir).unwrap();
        assert!(
            r.describe()
                .contains("was killed after container init 42 exited with status 137"),
            "{}",
            r.describe()
        );
        write_shim_exit(&dir, "deleted").unwrap();
        assert!(
            matches!(ShimRecord::read(&dir).unwrap(), ShimRecord::Exited { ref reason, .. } if reason == "deleted")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
