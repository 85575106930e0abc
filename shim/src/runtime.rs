//! Driving a runc-compatible runtime CLI (berth-runtime, runc, crun) by exec,
//! as containerd's runc shim and conmon do. Every call is
//! `RUNTIME [--root R] --log F --log-format json VERB ARGS...` with its own
//! log file: when the call fails, the `msg` of the last error line the
//! runtime wrote there is the error, verbatim. A runtime that wrote no such
//! line is reported by its exit status and the last line of its stderr.
//!
//! Calls never block the shim's one thread: the runtime is spawned, and its
//! exit arrives through the [`Reaper`]. Its stdout and stderr go to files in
//! the state dir (no pipe to drain), read once it has exited.

use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::reaper::{ChildExit, Reaper};

/// Failures of a runtime call.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("run {binary} {verb}: {source}")]
    Spawn {
        binary: PathBuf,
        verb: String,
        source: std::io::Error,
    },
    /// The runtime's own error message, verbatim.
    #[error("{0}")]
    Failed(String),
    #[error("{binary} {verb} output: {reason}")]
    BadOutput {
        binary: PathBuf,
        verb: String,
        reason: String,
    },
    #[error("{binary} {verb}: {what} {path}: {source}")]
    File {
        binary: PathBuf,
        verb: String,
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The stdio a runtime call passes on (to the container, for `create` and
/// `exec` without a tty).
pub struct CallStdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// A runc-compatible runtime binary and its `--root`.
pub struct Runtime {
    binary: PathBuf,
    root: Option<PathBuf>,
    /// Where each call's log, stdout and stderr files go (the state dir).
    work_dir: PathBuf,
    reaper: Arc<Reaper>,
    seq: AtomicU64,
}

/// A runtime call that was started.
pub struct PendingCall {
    verb: String,
    binary: PathBuf,
    files: [PathBuf; 3],
    /// The runtime's exit.
    pub exit: oneshot::Receiver<ChildExit>,
}

impl Runtime {
    pub fn new(
        binary: PathBuf,
        root: Option<PathBuf>,
        work_dir: PathBuf,
        reaper: Arc<Reaper>,
    ) -> Runtime {
        Runtime {
            binary,
            root,
            work_dir,
            reaper,
            seq: AtomicU64::new(0),
        }
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Starts `RUNTIME [--root R] --log F --log-format json ARGS...`.
    pub fn spawn<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        stdio: Option<CallStdio>,
    ) -> Result<PendingCall, RuntimeError> {
        let verb = args
            .first()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .unwrap_or_default();
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let files = ["log", "out", "err"].map(|ext| self.work_dir.join(format!("rt-{n}.{ext}")));
        let file_err = |what, path: &Path, source| RuntimeError::File {
            binary: self.binary.clone(),
            verb: verb.clone(),
            what,
            path: path.to_path_buf(),
            source,
        };
        let mut cmd = Command::new(&self.binary);
        if let Some(root) = &self.root {
            cmd.arg("--root").arg(root);
        }
        cmd.arg("--log")
            .arg(&files[0])
            .arg("--log-format")
            .arg("json")
            .args(args);
        match stdio {
            Some(s) => {
                cmd.stdin(s.stdin).stdout(s.stdout).stderr(s.stderr);
            }
            None => {
                let out = std::fs::File::create(&files[1])
                    .map_err(|e| file_err("create", &files[1], e))?;
                let err = std::fs::File::create(&files[2])
                    .map_err(|e| file_err("create", &files[2], e))?;
                cmd.stdin(Stdio::null()).stdout(out).stderr(err);
            }
        }
        let child = cmd.spawn().map_err(|source| RuntimeError::Spawn {
            binary: self.binary.clone(),
            verb: verb.clone(),
            source,
        })?;
        // Nothing can reap the child before this: the shim has one thread.
        let exit = self.reaper.watch(child.id() as i32);
        Ok(PendingCall {
            verb,
            binary: self.binary.clone(),
            files,
            exit,
        })
    }

    /// Runs a call to its end; its stdout on success.
    pub async fn run<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        stdio: Option<CallStdio>,
    ) -> Result<Vec<u8>, RuntimeError> {
        let mut call = self.spawn(args, stdio)?;
        let exit = (&mut call.exit).await;
        call.finish(exit.ok())
    }

    /// `create --bundle B --pid-file P [--console-socket S] ID`.
    pub fn create_args(
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
    ) -> Vec<OsString> {
        let args = ["create".into(), "--bundle".into(), bundle.into()];
        with_pid_console_id(args.into(), pid_file, console_socket, id)
    }

    /// `exec --process F --detach --pid-file P [--console-socket S] ID`.
    pub fn exec_args(
        id: &str,
        process_file: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
    ) -> Vec<OsString> {
        let args = [
            "exec".into(),
            "--process".into(),
            process_file.into(),
            "--detach".into(),
        ];
        with_pid_console_id(args.into(), pid_file, console_socket, id)
    }

    /// `ps --format json ID`: the container's pids.
    pub async fn ps(&self, id: &str) -> Result<Vec<u32>, RuntimeError> {
        let out = self.run(&["ps", "--format", "json", id], None).await?;
        let v: serde_json::Value = serde_json::from_slice(&out).map_err(|e| self.bad("ps", e))?;
        let pids = match v {
            serde_json::Value::Array(a) => a,
            serde_json::Value::Null => Vec::new(),
            other => return Err(self.bad("ps", format!("not a JSON array: {other}"))),
        };
        pids.iter()
            .map(|p| {
                p.as_u64()
                    .map(|p| p as u32)
                    .ok_or_else(|| self.bad("ps", format!("not a pid: {p}")))
            })
            .collect()
    }

    /// `events --stats ID`: the stats object (runc's `data`).
    pub async fn stats(&self, id: &str) -> Result<serde_json::Value, RuntimeError> {
        let out = self.run(&["events", "--stats", id], None).await?;
        let v: serde_json::Value =
            serde_json::from_slice(&out).map_err(|e| self.bad("events", e))?;
        match v.get("data") {
            Some(data) => Ok(data.clone()),
            None => Err(self.bad("events", "no \"data\" object")),
        }
    }

    fn bad(&self, verb: &str, reason: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::BadOutput {
            binary: self.binary.clone(),
            verb: verb.to_string(),
            reason: reason.to_string(),
        }
    }
}

impl PendingCall {
    /// Turns the runtime's exit into the call's result (its stdout on
    /// success), and removes the call's files. `None`: the exit was lost.
    pub fn finish(self, exit: Option<ChildExit>) -> Result<Vec<u8>, RuntimeError> {
        let log = std::fs::read(&self.files[0]).unwrap_or_default();
        let out = std::fs::read(&self.files[1]).unwrap_or_default();
        let err = std::fs::read(&self.files[2]).unwrap_or_default();
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        match exit {
            Some(ChildExit::Exited(0)) => Ok(out),
            other => {
                if let Some(msg) = last_error(&log) {
                    return Err(RuntimeError::Failed(msg));
                }
                let how = match other {
                    Some(ChildExit::Exited(code)) => format!("exited with status {code}"),
                    Some(ChildExit::Signaled(sig)) => format!("was killed by signal {sig}"),
                    None => "ended, its exit status was lost".to_string(),
                };
                let stderr = String::from_utf8_lossy(&err);
                let last = stderr.trim().lines().last().unwrap_or("").to_string();
                Err(RuntimeError::Failed(if last.is_empty() {
                    format!("{} {} {how}", self.binary.display(), self.verb)
                } else {
                    format!("{} {} {how}: {last}", self.binary.display(), self.verb)
                }))
            }
        }
    }
}

/// Appends `--pid-file P [--console-socket S] ID`, the tail `create` and
/// `exec` share.
fn with_pid_console_id(
    mut args: Vec<OsString>,
    pid_file: &Path,
    console_socket: Option<&Path>,
    id: &str,
) -> Vec<OsString> {
    args.push("--pid-file".into());
    args.push(pid_file.into());
    if let Some(s) = console_socket {
        args.push("--console-socket".into());
        args.push(s.into());
    }
    args.push(id.into());
    args
}

/// The `msg` of the last `error` or `fatal` line of a runtime's JSON log.
pub fn last_error(log: &[u8]) -> Option<String> {
    String::from_utf8_lossy(log)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| matches!(v["level"].as_str(), Some("error" | "fatal")))
        .filter_map(|v| v["msg"].as_str().map(str::to_string))
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_and_exec_command_lines() {
        let strs = |v: Vec<OsString>| -> Vec<String> {
            v.into_iter().map(|s| s.into_string().unwrap()).collect()
        };
        assert_eq!(
            strs(Runtime::create_args(
                "c1",
                Path::new("/b"),
                Path::new("/p"),
                None
            )),
            ["create", "--bundle", "/b", "--pid-file", "/p", "c1"]
        );
        assert_eq!(
            strs(Runtime::exec_args(
                "c1",
                Path::new("/f.json"),
                Path::new("/p"),
                Some(Path::new("/s.con"))
            )),
            [
                "exec",
                "--process",
                "/f.json",
                "--detach",
                "--pid-file",
                "/p",
                "--console-socket",
                "/s.con",
                "c1"
            ]
        );
    }

    #[test]
    fn last_error_line_wins() {
        let log = br#"{"level":"warning","msg":"w","time":"t"}
{"level":"error","msg":"first","time":"t"}
not json
{"level":"error","msg":"runc create failed: exec: \"x\": not found","time":"t"}
{"level":"info","msg":"i","time":"t"}"#;
        assert_eq!(
            last_error(log).as_deref(),
            Some("runc create failed: exec: \"x\": not found")
        );
        assert_eq!(last_error(b"{\"level\":\"info\",\"msg\":\"x\"}"), None);
    }
}
