//! Reading a container's docker json-file or local log while berth-shim
//! writes it: what `berth logs [-f] [--tail N] [--since T] [--until T] [-t]
//! [--details]` shows. The two formats differ only in how entries are cut
//! from the bytes ([`LogFormat`]): json-file's are lines, local's are
//! protobuf entries framed by their size before and after; files, rotation,
//! compression (`PATH.N.gz`), tail and follow are the same.
//!
//! The shim (shim/src/jsonlog.rs) writes one JSON object per line to
//! `<id>-json.log` and rotates it like docker's `loggerutils.LogFile`:
//! `PATH` becomes `PATH.1`, `PATH.1` becomes `PATH.2` ... up to max-file,
//! and a new `PATH` is created (max-file 1: `PATH` is truncated instead).
//! [`read_logs`] reads all of them, oldest first, and with `follow` keeps
//! reading across rotations until the caller says the container is done.
//!
//! Semantics are docker's (daemon/logger/loggerutils):
//!
//! * `tail` counts the last N entries of both streams across all files,
//!   read backwards from the end ([`tail`]), then `since`/`until` and the
//!   stream selection filter them (so `--tail 5 --since T` can show fewer
//!   than 5);
//! * `since` drops entries older than it; the first entry newer than
//!   `until` ends the stream; a follower also ends once the clock passes
//!   `until`;
//! * a line that is not an entry yields a [`LogError::Malformed`] item and
//!   reading goes on; a last line still being written is waited for when
//!   following and skipped silently otherwise;
//! * a log that does not exist yet is empty, or waited for when following
//!   (the caller refuses drivers that write no log, e.g. `none`).
//!
//! Time values (`--since/--until` parsing, the json-file `time` field, the
//! `-t` format) are docker's conventions: `berth_docker::timestamp`.
//! Modules: [`entry`] (one decoded line, `--details`), [`files`] (the set
//! of rotated files, followed by inode), [`tail`], [`watch`] (waking a
//! follower), and `reader` (the loop); [`journal`] reads a journald
//! container's entries back with journalctl into the same [`LogReader`].

pub mod entry;
pub mod files;
pub mod journal;
mod reader;
pub mod tail;
pub mod watch;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use futures_util::Stream;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

pub use entry::{format_details, EntryError, LogEntry, LogStream};
pub use files::FilesError;

/// How entries are laid out in a log's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line.
    JsonFile,
    /// docker's local driver: `[u32 size][LogEntry][u32 size]`.
    Local,
}

/// What to read from a log (`berth logs` flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep reading new entries until told to stop (`-f`).
    pub follow: bool,
    /// Only the last N entries (`--tail N`); `None` for all.
    pub tail: Option<usize>,
    /// Only entries at or after this time (`--since`).
    pub since: Option<SystemTime>,
    /// Only entries at or before this time (`--until`).
    pub until: Option<SystemTime>,
    /// Include the container's stdout.
    pub stdout: bool,
    /// Include the container's stderr.
    pub stderr: bool,
}

impl Default for LogOptions {
    /// Everything, both streams, not following: plain `berth logs`.
    fn default() -> Self {
        LogOptions {
            follow: false,
            tail: None,
            since: None,
            until: None,
            stdout: true,
            stderr: true,
        }
    }
}

/// Failures while reading a log. [`LogError::Malformed`] and
/// [`LogError::TooLong`] concern one line, and reading goes on after them;
/// any other error is the last item of the stream.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error("read log file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("malformed entry in log file {path} at byte {offset}: {source}")]
    Malformed {
        path: PathBuf,
        offset: u64,
        source: EntryError,
    },
    #[error("line in log file {path} at byte {offset} is longer than {limit} bytes: skipped")]
    TooLong {
        path: PathBuf,
        offset: u64,
        limit: usize,
    },
    /// journalctl could not be run or failed (journald logs).
    #[error("read the journal: {0}")]
    Journal(String),
    /// A local-format frame whose sizes are wrong: what follows cannot be
    /// cut into entries (docker's reader stops there too).
    #[error("corrupt entry frame in log file {path} at byte {offset}: {what}")]
    Frame {
        path: PathBuf,
        offset: u64,
        what: &'static str,
    },
}

impl LogError {
    /// Whether the stream goes on after this error (it concerned one line).
    pub fn is_per_line(&self) -> bool {
        matches!(self, LogError::Malformed { .. } | LogError::TooLong { .. })
    }
}

/// Batches buffered between the reading thread and the consumer.
const CHANNEL_DEPTH: usize = 8;

/// Starts reading the log whose live file is `path` (its rotated files are
/// `path.1`, `path.2` ...); see the module doc for what is read.
///
/// With `opts.follow`, reading goes on until `stop` resolves (the caller
/// resolves it when the container has exited and the shim has flushed its
/// log), then what is left is read and the stream ends. Without it, `stop`
/// is dropped unpolled and the stream ends at the end of the live file.
///
/// The reading runs on a tokio blocking thread (one per reader, for as
/// long as it follows), so this must be called within a tokio runtime.
/// Dropping the returned [`LogReader`] stops it.
///
/// Fails at once when the log's directory does not exist.
pub fn read_logs(
    path: &Path,
    format: LogFormat,
    opts: LogOptions,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<LogReader, LogError> {
    let files = files::LogFileSet::new(path)?;
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let stop_flag = Arc::new(AtomicBool::new(false));
    let bell = Arc::new(watch::StopBell::new());
    let stop_task = if opts.follow {
        let flag = stop_flag.clone();
        let bell = bell.clone();
        Some(
            tokio::spawn(async move {
                stop.await;
                flag.store(true, Ordering::Release);
                bell.ring();
            })
            .abort_handle(),
        )
    } else {
        None
    };
    let reader = reader::Reader {
        files,
        format,
        seen: None,
        opts,
        tx,
        stop: stop_flag,
        bell: bell.clone(),
        batch: Vec::new(),
    };
    let done_abort = stop_task.clone();
    tokio::task::spawn_blocking(move || {
        reader.run();
        if let Some(task) = done_abort {
            task.abort();
        }
    });
    Ok(LogReader {
        rx,
        ready: std::collections::VecDeque::new(),
        stop_task,
        bell,
    })
}

/// The entries of a log, in the order they were written, as a [`Stream`].
/// Ends when the log has been read (see [`read_logs`]); dropping it stops
/// the reader.
pub struct LogReader {
    /// Batches from the reading thread (see `reader::Batch`).
    rx: mpsc::Receiver<reader::Batch>,
    /// The rest of the last batch received.
    ready: std::collections::VecDeque<Result<LogEntry, LogError>>,
    stop_task: Option<AbortHandle>,
    /// Rung on drop: a waiting follower ends at once.
    bell: Arc<watch::StopBell>,
}

impl LogReader {
    /// A reader of the batches another reading thread sends (the journal's,
    /// [`journal::read_journal`]); `stop_task` is aborted on drop.
    pub(crate) fn from_batches(
        rx: mpsc::Receiver<reader::Batch>,
        stop_task: Option<AbortHandle>,
    ) -> LogReader {
        LogReader {
            rx,
            ready: std::collections::VecDeque::new(),
            stop_task,
            bell: Arc::new(watch::StopBell::new()),
        }
    }

    /// The next entry or error; `None` at the end.
    pub async fn next_entry(&mut self) -> Option<Result<LogEntry, LogError>> {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<LogEntry, LogError>>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Poll::Ready(Some(item));
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(batch)) => self.ready.extend(batch),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Stream for LogReader {
    type Item = Result<LogEntry, LogError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_item(cx)
    }
}

impl Drop for LogReader {
    fn drop(&mut self) {
        if let Some(task) = &self.stop_task {
            task.abort();
        }
        self.rx.close();
        self.bell.ring();
    }
}

#[cfg(test)]
mod scratch;
#[cfg(test)]
mod tests;
