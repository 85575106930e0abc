//! Reaping children. The shim is a child subreaper (prctl
//! PR_SET_CHILD_SUBREAPER, see prctl(2)): the runtime commands it runs are its
//! children, and the container's processes become its children when the
//! runtime exits. On every SIGCHLD it collects every exited child with
//! `waitpid(-1, WNOHANG)` and hands each status to whoever watches that pid.
//!
//! A child can be reaped before anyone watches it (an exec'd process that
//! exits before `runtime exec` has written its pid file): such exits are kept
//! (a bounded number) and handed out when the pid is watched. The shim runs on
//! one thread, so between spawning a child and watching its pid nothing can
//! reap it.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::signal::unix::Signal;
use tokio::sync::oneshot;

/// Exits nobody watched yet, kept at most this many (the container's own
/// orphans end here too when it has no pid namespace).
const MAX_UNCLAIMED: usize = 128;

/// A child's end, as `waitpid` reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildExit {
    Exited(i32),
    Signaled(i32),
}

impl ChildExit {
    fn from_wait_status(status: i32) -> ChildExit {
        if libc::WIFSIGNALED(status) {
            ChildExit::Signaled(libc::WTERMSIG(status))
        } else {
            ChildExit::Exited(libc::WEXITSTATUS(status))
        }
    }

    /// The shell's convention: the exit code, or 128 + the signal.
    pub fn status_code(self) -> u32 {
        match self {
            ChildExit::Exited(code) => code as u32,
            ChildExit::Signaled(sig) => 128 + sig as u32,
        }
    }
}

/// Hands each reaped child's exit to its watcher.
#[derive(Default)]
pub struct Reaper {
    inner: Mutex<ReaperInner>,
}

#[derive(Default)]
struct ReaperInner {
    watchers: HashMap<i32, oneshot::Sender<ChildExit>>,
    unclaimed: HashMap<i32, ChildExit>,
    /// Reap order of `unclaimed`, oldest first, to drop the oldest.
    unclaimed_order: Vec<i32>,
}

impl Reaper {
    pub fn new() -> Reaper {
        Reaper::default()
    }

    /// The exit of child `pid`, when it comes (at once if it was already
    /// reaped).
    pub fn watch(&self, pid: i32) -> oneshot::Receiver<ChildExit> {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.inner.lock().unwrap();
        if let Some(exit) = inner.unclaimed.remove(&pid) {
            inner.unclaimed_order.retain(|&p| p != pid);
            let _ = tx.send(exit);
        } else {
            inner.watchers.insert(pid, tx);
        }
        rx
    }

    /// Collects every exited child now.
    pub fn reap(&self) {
        loop {
            let mut status = 0;
            // SAFETY: plain syscall on a local out-parameter.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            let exit = ChildExit::from_wait_status(status);
            let mut inner = self.inner.lock().unwrap();
            match inner.watchers.remove(&pid) {
                Some(tx) => {
                    let _ = tx.send(exit);
                }
                None => {
                    if inner.unclaimed_order.len() >= MAX_UNCLAIMED {
                        let oldest = inner.unclaimed_order.remove(0);
                        inner.unclaimed.remove(&oldest);
                    }
                    inner.unclaimed.insert(pid, exit);
                    inner.unclaimed_order.push(pid);
                }
            }
        }
    }

    /// Reaps on every SIGCHLD, forever.
    pub async fn run(&self, mut sigchld: Signal) {
        self.reap();
        while sigchld.recv().await.is_some() {
            self.reap();
        }
    }
}
