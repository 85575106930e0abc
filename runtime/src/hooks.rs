//! OCI hooks (runtime-spec `config.md#posix-platform-hooks`): a program run
//! with the container's state JSON on stdin, its own args and env, and an
//! optional timeout in seconds; a non-zero exit or a timeout is an error that
//! fails the operation (except poststart and poststop, whose failures the
//! runtime logs and goes on, as the spec says).

use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_oci::{Hook, State};

use crate::error::{Error, Result};

/// Runs `hooks` in order with `state` on stdin; stops at the first failure.
pub fn run_all(kind: &str, hooks: &[Hook], state: &State) -> Result<()> {
    if hooks.is_empty() {
        return Ok(());
    }
    let input = serde_json::to_vec(state).expect("state serializes");
    for hook in hooks {
        run_one(kind, hook, &input)?;
    }
    Ok(())
}

fn run_one(kind: &str, hook: &Hook, input: &[u8]) -> Result<()> {
    let fail = |why: String| Error::Container(format!("{kind} hook {}: {why}", hook.path));
    let mut cmd = Command::new(&hook.path);
    if let Some((argv0, rest)) = hook.args.split_first() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, argv0);
        cmd.args(rest);
    }
    cmd.env_clear();
    for e in &hook.env {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(format!("start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(input);
    }
    let deadline = hook
        .timeout
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| fail(format!("wait: {e}")))? {
            break status;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {}s",
                hook.timeout.unwrap_or(0)
            )));
        }
        // Wait on the child's stderr pipe (or a short sleep) rather than spin.
        let mut pfd = libc::pollfd {
            fd: child.stderr.as_ref().map_or(-1, |s| s.as_raw_fd()),
            events: libc::POLLIN,
            revents: 0,
        };
        unsafe { libc::poll(&mut pfd, 1, 5) };
        if pfd.revents != 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    if !status.success() {
        let mut err = String::new();
        if let Some(mut s) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut s, &mut err);
        }
        let err = err.trim();
        return Err(fail(format!(
            "{status}{}{}",
            if err.is_empty() { "" } else { ": " },
            err.lines().next().unwrap_or("")
        )));
    }
    Ok(())
}
