//! One supervised process: the container's init (exec id "") or a process
//! exec'd into it. Its lifecycle is
//! `Created -> Running (<-> Paused, init only) -> Stopped -> Deleted`, and its
//! exit is published once through a watch channel that every Wait, early or
//! late, reads.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use berth_proto::shim::v1::Status as ProtoStatus;
use tokio::sync::watch;

use crate::runtime::CallStdio;
use crate::stdio::ProcessIo;

/// Where a process is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessStatus {
    Created,
    Running,
    Paused,
    Stopped,
    Deleted,
}

impl ProcessStatus {
    pub fn to_proto(self) -> ProtoStatus {
        match self {
            ProcessStatus::Created => ProtoStatus::Created,
            ProcessStatus::Running => ProtoStatus::Running,
            ProcessStatus::Paused => ProtoStatus::Paused,
            ProcessStatus::Stopped => ProtoStatus::Stopped,
            ProcessStatus::Deleted => ProtoStatus::Deleted,
        }
    }
}

/// A process's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    pub status: u32,
    pub at: SystemTime,
}

/// What waiters see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitState {
    Pending,
    Exited(Exit),
    /// Deleted without ever running.
    Abandoned,
}

struct ProcessState {
    status: ProcessStatus,
    pid: u32,
    /// A start is under way (refuses a second one).
    starting: bool,
    /// The child's ends of the stdio pipes, until the process starts.
    child_stdio: Option<CallStdio>,
}

/// A supervised process.
pub struct Process {
    /// "" for the init.
    pub exec_id: String,
    /// "container ID" or "exec E of container ID".
    pub label: String,
    pub terminal: bool,
    pub stdin: bool,
    pub io: Arc<ProcessIo>,
    state: Mutex<ProcessState>,
    exit: watch::Sender<ExitState>,
    /// Woken when a start ends (see [`Process::start_settled`]).
    start_ended: tokio::sync::Notify,
}

impl Process {
    pub fn new(
        exec_id: String,
        label: String,
        terminal: bool,
        stdin: bool,
        io: Arc<ProcessIo>,
        child_stdio: Option<CallStdio>,
    ) -> Arc<Process> {
        Arc::new(Process {
            exec_id,
            label,
            terminal,
            stdin,
            io,
            state: Mutex::new(ProcessState {
                status: ProcessStatus::Created,
                pid: 0,
                starting: false,
                child_stdio,
            }),
            exit: watch::channel(ExitState::Pending).0,
            start_ended: tokio::sync::Notify::new(),
        })
    }

    pub fn status(&self) -> ProcessStatus {
        self.state.lock().unwrap().status
    }

    pub fn pid(&self) -> u32 {
        self.state.lock().unwrap().pid
    }

    pub fn is_running(&self) -> bool {
        matches!(
            self.status(),
            ProcessStatus::Running | ProcessStatus::Paused
        ) || self.state.lock().unwrap().starting
    }

    pub fn set_pid(&self, pid: u32) {
        self.state.lock().unwrap().pid = pid;
    }

    /// Marks a start under way; the status the process is in when that is
    /// refused.
    pub fn begin_start(&self) -> Result<(), (ProcessStatus, bool)> {
        let mut s = self.state.lock().unwrap();
        if s.status == ProcessStatus::Created && !s.starting {
            s.starting = true;
            Ok(())
        } else {
            Err((s.status, s.starting))
        }
    }

    /// A start ended; on success the process runs (unless it has already
    /// exited).
    pub fn end_start(&self, started: bool) {
        {
            let mut s = self.state.lock().unwrap();
            s.starting = false;
            if started && s.status == ProcessStatus::Created {
                s.status = ProcessStatus::Running;
            }
        }
        self.start_ended.notify_waiters();
    }

    /// Waits until no start is under way: a process that exits while its
    /// start call is still running has its exit published after the
    /// STARTED event, as containerd does.
    pub async fn start_settled(&self) {
        loop {
            let ended = self.start_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if !self.state.lock().unwrap().starting {
                return;
            }
            ended.await;
        }
    }

    pub fn take_child_stdio(&self) -> Option<CallStdio> {
        self.state.lock().unwrap().child_stdio.take()
    }

    /// Moves between Running and Paused (init only).
    pub fn set_paused(&self, paused: bool) {
        let mut s = self.state.lock().unwrap();
        match (s.status, paused) {
            (ProcessStatus::Running, true) => s.status = ProcessStatus::Paused,
            (ProcessStatus::Paused, false) => s.status = ProcessStatus::Running,
            _ => {}
        }
    }

    pub fn set_deleted(&self) {
        self.state.lock().unwrap().status = ProcessStatus::Deleted;
        self.exit.send_if_modified(|e| {
            if *e == ExitState::Pending {
                *e = ExitState::Abandoned;
                true
            } else {
                false
            }
        });
    }

    /// Records the exit and wakes every waiter.
    pub fn set_exited(&self, exit: Exit) {
        {
            let mut s = self.state.lock().unwrap();
            s.status = ProcessStatus::Stopped;
            s.child_stdio = None;
        }
        self.exit.send_replace(ExitState::Exited(exit));
    }

    pub fn exit(&self) -> Option<Exit> {
        match *self.exit.borrow() {
            ExitState::Exited(e) => Some(e),
            _ => None,
        }
    }

    /// Waits for the exit (at once if it has happened).
    pub async fn wait(&self) -> ExitState {
        let mut rx = self.exit.subscribe();
        let state = match rx.wait_for(|e| *e != ExitState::Pending).await {
            Ok(e) => *e,
            Err(_) => ExitState::Abandoned,
        };
        state
    }
}
