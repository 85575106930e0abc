//! A build's progress as the builder reports it: BuildKit's model of
//! *vertices* (one per step: `[stage k/n] INSTR`), each started, its output
//! logged, then completed (cached or run, with its wall time, or failed).
//! The adapters turn these into their wire events (gRPC `BuildEvent`, the
//! Docker API's JSON stream); the CLI draws BuildKit's plain or tty view.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;

/// One report.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildEvent {
    /// A step began.
    Started {
        /// Its number (`#N`), from 1, in the order steps start.
        vertex: u32,
        /// `[stage k/n] INSTR`, `[internal] load build context`...
        name: String,
    },
    /// Output of a step's process.
    Log {
        vertex: u32,
        /// 1 stdout, 2 stderr.
        stream: u32,
        data: Vec<u8>,
    },
    /// A step ended.
    Completed {
        vertex: u32,
        /// Its result came from the cache.
        cached: bool,
        /// Its wall time.
        seconds: f64,
        /// What failed, when it did.
        error: Option<String>,
    },
    /// A free-form line (a warning).
    Message(String),
}

/// Where a build sends its reports; cloned into every stage. Dropping all
/// clones closes the channel.
#[derive(Clone)]
pub struct BuildProgress {
    tx: Option<UnboundedSender<BuildEvent>>,
    next: Arc<AtomicU32>,
}

impl BuildProgress {
    /// A sink sending to `tx`.
    pub fn new(tx: UnboundedSender<BuildEvent>) -> Self {
        Self {
            tx: Some(tx),
            next: Arc::new(AtomicU32::new(1)),
        }
    }

    /// A sink that drops everything.
    pub fn discard() -> Self {
        Self {
            tx: None,
            next: Arc::new(AtomicU32::new(1)),
        }
    }

    fn send(&self, event: BuildEvent) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(event);
        }
    }

    /// Starts a vertex named `name`.
    pub fn start(&self, name: impl Into<String>) -> Vertex {
        let vertex = self.next.fetch_add(1, Ordering::Relaxed);
        self.send(BuildEvent::Started {
            vertex,
            name: name.into(),
        });
        Vertex {
            progress: self.clone(),
            vertex,
            started: Instant::now(),
            done: false,
        }
    }

    /// A free-form line.
    pub fn message(&self, text: impl Into<String>) {
        self.send(BuildEvent::Message(text.into()));
    }
}

/// A started vertex; reports its end once (a vertex dropped without an end
/// is reported as cancelled).
pub struct Vertex {
    progress: BuildProgress,
    vertex: u32,
    started: Instant,
    done: bool,
}

impl Vertex {
    /// Output of the step's process.
    pub fn log(&self, stream: u32, data: Vec<u8>) {
        self.progress.send(BuildEvent::Log {
            vertex: self.vertex,
            stream,
            data,
        });
    }

    /// The step's sender, for output produced elsewhere.
    pub fn logger(&self) -> VertexLogger {
        VertexLogger {
            progress: self.progress.clone(),
            vertex: self.vertex,
        }
    }

    fn end(&mut self, cached: bool, error: Option<String>) {
        if self.done {
            return;
        }
        self.done = true;
        self.progress.send(BuildEvent::Completed {
            vertex: self.vertex,
            cached,
            seconds: self.started.elapsed().as_secs_f64(),
            error,
        });
    }

    /// The step ran and succeeded.
    pub fn done(mut self) {
        self.end(false, None);
    }

    /// The step's result came from the cache.
    pub fn cached(mut self) {
        self.end(true, None);
    }

    /// The step failed.
    pub fn failed(mut self, error: &str) {
        self.end(false, Some(error.to_string()));
    }
}

impl Drop for Vertex {
    fn drop(&mut self) {
        self.end(false, Some("cancelled".into()));
    }
}

/// Sends output for one vertex (moved into the task that reads a RUN's
/// output).
#[derive(Clone)]
pub struct VertexLogger {
    progress: BuildProgress,
    vertex: u32,
}

impl VertexLogger {
    /// Output of the step's process.
    pub fn log(&self, stream: u32, data: Vec<u8>) {
        self.progress.send(BuildEvent::Log {
            vertex: self.vertex,
            stream,
            data,
        });
    }
}
