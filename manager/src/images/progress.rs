//! Progress of a pull or push, as the domain reports it: one line of status,
//! per-blob states with byte counts, and a final summary. The gRPC adapter
//! turns these into `ProgressEvent`s; the CLI draws them.

use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// One progress report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A free-form status line.
    Status(String),
    /// The state of one blob.
    Blob {
        digest: String,
        state: BlobState,
        current: u64,
        total: u64,
    },
    /// The transfer finished.
    Done(TransferSummary),
}

/// The states a blob goes through (docker's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobState {
    Waiting,
    Downloading,
    Resuming,
    Verifying,
    DownloadComplete,
    Extracting,
    PullComplete,
    AlreadyExists,
    Preparing,
    Pushing,
    Pushed,
    LayerAlreadyExists,
    Mounted,
}

impl BlobState {
    /// The text docker prints for this state.
    pub fn as_str(self) -> &'static str {
        match self {
            BlobState::Waiting => "Waiting",
            BlobState::Downloading => "Downloading",
            BlobState::Resuming => "Resuming",
            BlobState::Verifying => "Verifying Checksum",
            BlobState::DownloadComplete => "Download complete",
            BlobState::Extracting => "Extracting",
            BlobState::PullComplete => "Pull complete",
            BlobState::AlreadyExists => "Already exists",
            BlobState::Preparing => "Preparing",
            BlobState::Pushing => "Pushing",
            BlobState::Pushed => "Pushed",
            BlobState::LayerAlreadyExists => "Layer already exists",
            BlobState::Mounted => "Mounted",
        }
    }
}

/// What a finished pull or push reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransferSummary {
    /// The normalised reference.
    pub reference: String,
    /// Manifest or index digest.
    pub digest: String,
    /// Image ID.
    pub image_id: String,
    /// Whether the local record changed.
    pub updated: bool,
    /// Size of the pushed manifest (push) or of the image (pull).
    pub size: u64,
}

/// Where progress goes. Sending never blocks and never fails the transfer:
/// a client that went away just stops receiving.
#[derive(Clone)]
pub struct ProgressSink {
    tx: Option<UnboundedSender<Progress>>,
}

impl ProgressSink {
    /// A sink sending to a channel.
    pub fn new(tx: UnboundedSender<Progress>) -> ProgressSink {
        ProgressSink { tx: Some(tx) }
    }

    /// A sink that drops everything.
    pub fn discard() -> ProgressSink {
        ProgressSink { tx: None }
    }

    /// Sends one report.
    pub fn send(&self, p: Progress) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(p);
        }
    }

    /// Sends a status line.
    pub fn status(&self, s: impl Into<String>) {
        self.send(Progress::Status(s.into()));
    }

    /// Sends a blob state.
    pub fn blob(&self, digest: &str, state: BlobState, current: u64, total: u64) {
        self.send(Progress::Blob {
            digest: digest.to_string(),
            state,
            current,
            total,
        });
    }

    /// Whether whoever listens has gone away.
    pub fn closed(&self) -> bool {
        self.tx.as_ref().is_some_and(|t| t.is_closed())
    }
}

/// Rate-limits byte-count reports of one blob to a few per second.
pub struct Throttle {
    last: Option<Instant>,
    every: Duration,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            last: None,
            every: Duration::from_millis(150),
        }
    }
}

impl Throttle {
    /// Whether a report is due now.
    pub fn due(&mut self) -> bool {
        let now = Instant::now();
        match self.last {
            Some(t) if now.duration_since(t) < self.every => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}
