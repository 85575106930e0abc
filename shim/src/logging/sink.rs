//! The queue between the stdio pump and a log driver, and the driver's
//! worker thread (see the module docs of [`super`] for why a thread).
//!
//! Blocking mode: a queue of [`BLOCKING_QUEUE`] batches; a pump that finds
//! it full awaits room, so it reads no more of the container's pipe and the
//! container blocks in write(2), as under docker's blocking copier. Nothing
//! is lost.
//!
//! Non-blocking mode (docker's ring buffer, daemon/logger/ring.go): batches
//! queue until `max-buffer-size` bytes wait; a batch that would pass that
//! (while anything waits) is dropped and its lines counted. The pump never
//! waits.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::{Batch, LogDriver, LogError};

/// Batches queued in blocking mode (each at most one read of the pipe plus
/// a carried line: tens of KiB at worst).
pub const BLOCKING_QUEUE: usize = 16;
/// docker's default `max-buffer-size` (daemon/logger/ring.go
/// `defaultRingMaxSize`, 1 MB).
pub const DEFAULT_MAX_BUFFER: usize = 1_000_000;
/// The worker's stack: drivers do plain socket and file I/O (a TLS
/// handshake is the deepest call).
const WORKER_STACK: usize = 256 * 1024;

/// docker's `mode` log option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogMode {
    Blocking,
    /// At most this many bytes wait for the driver.
    NonBlocking {
        max_buffer: usize,
    },
}

/// What was lost, for State, the exit event and the shim's log.
#[derive(Debug, Default)]
pub struct LogCounters {
    /// Messages dropped because the non-blocking buffer was full.
    pub dropped: AtomicU64,
    /// Messages the driver failed to deliver (its sink went away).
    pub failed: AtomicU64,
}

impl LogCounters {
    /// Every message lost, for whatever reason.
    pub fn lost(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }
}

enum Tx {
    Blocking(mpsc::Sender<Batch>),
    NonBlocking(mpsc::UnboundedSender<Batch>),
}

enum Rx {
    Blocking(mpsc::Receiver<Batch>),
    NonBlocking(mpsc::UnboundedReceiver<Batch>),
}

impl Rx {
    fn blocking_recv(&mut self) -> Option<Batch> {
        match self {
            Rx::Blocking(rx) => rx.blocking_recv(),
            Rx::NonBlocking(rx) => rx.blocking_recv(),
        }
    }
}

/// A pump's way into the queue; the worker ends once every handle is gone.
pub struct LogHandle {
    tx: Tx,
    queued: Arc<AtomicUsize>,
    max_buffer: usize,
    counters: Arc<LogCounters>,
}

impl Clone for LogHandle {
    fn clone(&self) -> Self {
        LogHandle {
            tx: match &self.tx {
                Tx::Blocking(t) => Tx::Blocking(t.clone()),
                Tx::NonBlocking(t) => Tx::NonBlocking(t.clone()),
            },
            queued: self.queued.clone(),
            max_buffer: self.max_buffer,
            counters: self.counters.clone(),
        }
    }
}

impl LogHandle {
    /// Queues a batch: in blocking mode waits for room; in non-blocking
    /// mode drops it (counted) when the buffer is full.
    pub async fn send(&self, batch: Batch) {
        match &self.tx {
            Tx::Blocking(tx) => {
                let _ = tx.send(batch).await;
            }
            Tx::NonBlocking(tx) => {
                let size = batch.size();
                let queued = self.queued.load(Ordering::Acquire);
                // As docker's ring: one message larger than the whole buffer
                // still goes when nothing waits.
                if queued > 0 && queued + size > self.max_buffer {
                    self.counters
                        .dropped
                        .fetch_add(batch.lines.len() as u64, Ordering::Relaxed);
                    return;
                }
                self.queued.fetch_add(size, Ordering::AcqRel);
                let _ = tx.send(batch);
            }
        }
    }
}

/// A running driver: its worker thread and the queue into it.
pub struct LogSink {
    driver: &'static str,
    handle: Mutex<Option<LogHandle>>,
    finished: Mutex<Option<oneshot::Receiver<()>>>,
    counters: Arc<LogCounters>,
}

impl LogSink {
    /// Starts the worker thread that feeds `driver`.
    pub fn start(mut driver: Box<dyn LogDriver>, mode: LogMode) -> Result<LogSink, LogError> {
        let name = driver.name();
        let (tx, mut rx, max_buffer) = match mode {
            LogMode::Blocking => {
                let (tx, rx) = mpsc::channel(BLOCKING_QUEUE);
                (Tx::Blocking(tx), Rx::Blocking(rx), usize::MAX)
            }
            LogMode::NonBlocking { max_buffer } => {
                let (tx, rx) = mpsc::unbounded_channel();
                (Tx::NonBlocking(tx), Rx::NonBlocking(rx), max_buffer)
            }
        };
        let counters = Arc::new(LogCounters::default());
        let queued = Arc::new(AtomicUsize::new(0));
        let (done_tx, done_rx) = oneshot::channel();
        let worker_counters = counters.clone();
        let worker_queued = queued.clone();
        std::thread::Builder::new()
            .name(format!("log-{name}"))
            .stack_size(WORKER_STACK)
            .spawn(move || {
                while let Some(batch) = rx.blocking_recv() {
                    for msg in batch.messages() {
                        if let Err(e) = driver.log(&msg) {
                            report_failure(name, &worker_counters, &e);
                        }
                    }
                    if let Err(e) = driver.flush() {
                        report_failure(name, &worker_counters, &e);
                    }
                    worker_queued.fetch_sub(batch.size(), Ordering::AcqRel);
                }
                drop(driver);
                let _ = done_tx.send(());
            })
            .map_err(|source| LogError::Worker {
                driver: name,
                source,
            })?;
        Ok(LogSink {
            driver: name,
            handle: Mutex::new(Some(LogHandle {
                tx,
                queued,
                max_buffer,
                counters: counters.clone(),
            })),
            finished: Mutex::new(Some(done_rx)),
            counters,
        })
    }

    /// A handle for one pump; `None` once the sink is closing.
    pub fn handle(&self) -> Option<LogHandle> {
        self.handle.lock().unwrap().clone()
    }

    /// The driver's name.
    pub fn driver(&self) -> &'static str {
        self.driver
    }

    pub fn counters(&self) -> &Arc<LogCounters> {
        &self.counters
    }

    /// Stops taking output and waits until the worker has written all that
    /// is queued (the pumps must have dropped their handles).
    pub async fn close(&self) {
        self.handle.lock().unwrap().take();
        let finished = self.finished.lock().unwrap().take();
        if let Some(rx) = finished {
            let _ = rx.await;
        }
    }
}

/// A driver failure: the first is written to the shim's log, later ones
/// every 10000th (a dead sink fails every line); all are counted.
fn report_failure(driver: &str, counters: &LogCounters, e: &LogError) {
    let n = counters.failed.fetch_add(1, Ordering::Relaxed);
    if n.is_multiple_of(10_000) {
        eprintln!(
            "berth-shim: log driver {driver}: {e} ({} message(s) lost so far)",
            n + 1
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::{LineSplitter, LogMessage, OutputStream};
    use std::sync::mpsc as std_mpsc;
    use std::time::UNIX_EPOCH;

    /// A driver that records lines and, while `gate` holds no token, waits
    /// (a sink that stopped reading).
    struct Gated {
        gate: std_mpsc::Receiver<()>,
        out: Arc<Mutex<Vec<String>>>,
    }

    impl LogDriver for Gated {
        fn name(&self) -> &'static str {
            "gated"
        }
        fn log(&mut self, msg: &LogMessage<'_>) -> Result<(), LogError> {
            let _ = self.gate.recv();
            self.out
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(msg.line).into_owned());
            Ok(())
        }
    }

    fn batch(text: &str) -> Batch {
        LineSplitter::new(OutputStream::Stdout)
            .split(text.as_bytes(), UNIX_EPOCH)
            .unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn non_blocking_drops_what_does_not_fit_and_counts_it() {
        let (gate_tx, gate) = std_mpsc::channel();
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = LogSink::start(
            Box::new(Gated {
                gate,
                out: out.clone(),
            }),
            LogMode::NonBlocking { max_buffer: 10 },
        )
        .unwrap();
        let h = sink.handle().unwrap();
        // The sink is stuck: the first batch waits, the rest overflow and
        // the pump never waits for them.
        h.send(batch("aaaa\nbbbb\n")).await;
        for _ in 0..5 {
            h.send(batch("cccc\ndddd\n")).await;
        }
        assert_eq!(sink.counters().dropped.load(Ordering::Relaxed), 10);
        drop(h);
        for _ in 0..2 {
            gate_tx.send(()).unwrap();
        }
        sink.close().await;
        assert_eq!(*out.lock().unwrap(), ["aaaa", "bbbb"]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn blocking_loses_nothing() {
        let (gate_tx, gate) = std_mpsc::channel();
        for _ in 0..200 {
            gate_tx.send(()).unwrap();
        }
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = LogSink::start(
            Box::new(Gated {
                gate,
                out: out.clone(),
            }),
            LogMode::Blocking,
        )
        .unwrap();
        let h = sink.handle().unwrap();
        for i in 0..100 {
            h.send(batch(&format!("{i}\n{i}\n"))).await;
        }
        drop(h);
        sink.close().await;
        assert_eq!(out.lock().unwrap().len(), 200);
        assert_eq!(sink.counters().lost(), 0);
    }
}
