//! How a pull stops when nobody waits for it any more (issue 13: a pull
//! whose client went away went on and tagged the image minutes later).
//!
//! The API adapter runs each transfer as a task owned by the response
//! stream it feeds ([`OwnedTask`]): when the client goes, the server drops
//! that stream and the task is aborted. Aborting drops the pull's future
//! and with it the tasks it spawned (each an [`OwnedTask`] too), so every
//! download drops its registry connection at once. The blocking threads
//! that store and unpack cannot be aborted: they read through a
//! [`CancellableReader`] and stop at their next read once the pull's
//! [`CancelFlag`] is set (by the [`CancelOnDrop`] the dropped pull held).
//! What the pull made stays under its lease until the last of those
//! threads lets go of it; then the lease is deleted and the next collection
//! (`image prune`, an `rmi`) frees it. A download cut this way keeps its
//! ingest: the next pull of the blob resumes it with `Range`, and
//! `image prune` removes it when no pull comes back for it.
//!
//! Concurrent pulls are separate transfers joined per blob: a pull that
//! finds another one writing a blob waits for that ingest (`open_writer`)
//! and, when the other pull is cancelled, takes the ingest over and resumes
//! it. So a client that goes cancels only its own pull; every other client
//! pulling the same image keeps going and completes.

use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::task::{JoinError, JoinHandle};

/// A spawned task that is aborted when its handle is dropped (a plain
/// tokio `JoinHandle` lets the task run on, detached).
pub struct OwnedTask<T>(JoinHandle<T>);

impl<T: Send + 'static> OwnedTask<T> {
    /// Spawns `future` on the runtime, owned by the returned handle.
    pub fn spawn(future: impl Future<Output = T> + Send + 'static) -> OwnedTask<T> {
        OwnedTask(tokio::spawn(future))
    }
}

impl<T> Future for OwnedTask<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for OwnedTask<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Set once a pull is abandoned; shared by everything working for it.
#[derive(Clone, Debug, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A flag not set.
    pub fn new() -> CancelFlag {
        CancelFlag::default()
    }

    /// Whether the pull was abandoned.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// A guard that sets the flag when dropped: held by the pull's future,
    /// so dropping that future (an aborted task) reaches its blocking
    /// threads.
    pub fn on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }
}

/// Sets its [`CancelFlag`] when dropped (see [`CancelFlag::on_drop`]).
pub struct CancelOnDrop(CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        (self.0).0.store(true, Ordering::SeqCst);
    }
}

/// A reader that fails once its pull is cancelled, so a blocking thread
/// storing or unpacking a layer stops at its next read.
pub struct CancellableReader<R> {
    inner: R,
    flag: CancelFlag,
}

impl<R: Read> CancellableReader<R> {
    /// Reads `inner` until `flag` is set.
    pub fn new(inner: R, flag: CancelFlag) -> CancellableReader<R> {
        CancellableReader { inner, flag }
    }
}

impl<R: Read> Read for CancellableReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.flag.is_set() {
            // Not `Interrupted`: io::copy and read_exact retry that.
            return Err(io::Error::other("pull cancelled: its client went away"));
        }
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_reader_fails_its_next_read() {
        let flag = CancelFlag::new();
        let mut r = CancellableReader::new(&b"abcdef"[..], flag.clone());
        let mut buf = [0u8; 3];
        assert_eq!(r.read(&mut buf).unwrap(), 3);
        drop(flag.on_drop());
        assert!(flag.is_set());
        assert!(r.read(&mut buf).is_err());
    }

    #[tokio::test]
    async fn dropping_an_owned_task_aborts_it() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = OwnedTask::spawn(async move {
            let _tx = tx;
            std::future::pending::<()>().await
        });
        drop(task);
        // The task's future (and the sender it holds) is dropped.
        assert!(rx.await.is_err());
    }
}
