//! A process's stdio, held by the shim: pipes (no tty) or the pty master
//! (tty). Output goes to the log (init only: docker logs the container's
//! init, not its execs) and to every attached client, each chunk to each
//! client, in order, nothing dropped.
//!
//! The log: each read is cut into lines ([`crate::logging::copier`]) and
//! queued to the log driver's worker ([`crate::logging::sink`]); the pump
//! never runs a driver itself. In blocking mode a full queue holds the pump
//! (and so the process) back; in non-blocking mode it never does.
//!
//! Back-pressure, as docker's attach: each client has a bounded queue
//! ([`ATTACH_QUEUE`] chunks of at most [`READ_SIZE`] bytes); while any
//! client's queue is full the shim stops reading the process's pipe (or
//! pty), so the process blocks in write(2) until the slowest client takes
//! more. The log is queued as each chunk is read, before the clients are
//! served, so nothing but a client's pace (or a blocking log driver's)
//! holds it up, and it gets every byte. A client that goes away (its stream dropped, its connection
//! closed) fails its pending send at once and is forgotten with its queue:
//! it never stalls the process. Memory stays bounded: one chunk in flight
//! per stream plus each live client's queue.
//!
//! Input comes from attached clients; detaching disturbs nothing.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use berth_proto::shim::v1::{AttachResponse, StdStream};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, watch};
use tonic::Status;

use crate::logging::{LineSplitter, LogHandle, LogSink, OutputStream};
use crate::runtime::CallStdio;

/// Chunks queued for one attached client; while its queue is full the
/// process's output is not read (back-pressure, see the module docs).
pub const ATTACH_QUEUE: usize = 32;
/// One read from a pipe or the pty, and the most one queued chunk holds.
pub const READ_SIZE: usize = 8192;

/// What an attached client receives.
pub type AttachItem = Result<AttachResponse, Status>;

/// Failures of a process's stdio.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("create stdio pipes for {label}: {source}")]
    Pipe {
        label: String,
        source: std::io::Error,
    },
    #[error("{label} has no stdin (it was not asked for)")]
    NoStdin { label: String },
    #[error("write stdin of {label}: {source}")]
    WriteStdin {
        label: String,
        source: std::io::Error,
    },
    #[error("{label} has no tty")]
    NoTty { label: String },
    #[error("{label} has not started: its tty does not exist yet")]
    NoTtyYet { label: String },
    #[error("resize tty of {label}: {source}")]
    Resize {
        label: String,
        source: std::io::Error,
    },
    #[error("set up pty master of {label}: {source}")]
    Console {
        label: String,
        source: std::io::Error,
    },
}

/// One stream's way into the log: its line splitter and queue handle.
struct StreamLog {
    handle: Option<LogHandle>,
    lines: LineSplitter,
}

impl StreamLog {
    fn new(sink: Option<&LogSink>, stream: OutputStream) -> StreamLog {
        StreamLog {
            handle: sink.and_then(LogSink::handle),
            lines: LineSplitter::new(stream),
        }
    }

    async fn write(&mut self, data: &[u8]) {
        if let Some(h) = &self.handle {
            if let Some(batch) = self.lines.split(data, SystemTime::now()) {
                h.send(batch).await;
            }
        }
    }

    /// The stream ended: its unfinished line is logged, and the handle let
    /// go (the driver's worker ends once every stream's is).
    async fn finish(&mut self) {
        if let Some(h) = self.handle.take() {
            if let Some(batch) = self.lines.finish(SystemTime::now()) {
                h.send(batch).await;
            }
        }
    }
}

/// The shim's ends of a process's pipes.
pub struct ParentPipes {
    stdin: Option<OwnedFd>,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

/// Makes the pipes of a process without a tty: the child's ends (for the
/// runtime to pass on) and the shim's. Without `stdin` the child's stdin is
/// /dev/null.
pub fn pipes(label: &str, stdin: bool) -> Result<(CallStdio, ParentPipes), StdioError> {
    let err = |source: std::io::Error| StdioError::Pipe {
        label: label.to_string(),
        source,
    };
    let make =
        || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| err(e.into()));
    let (out_r, out_w) = make()?;
    let (err_r, err_w) = make()?;
    let (child_in, parent_in) = if stdin {
        let (r, w) = make()?;
        (r, Some(w))
    } else {
        let null = std::fs::File::open("/dev/null").map_err(err)?;
        (OwnedFd::from(null), None)
    };
    Ok((
        CallStdio {
            stdin: child_in,
            stdout: out_w,
            stderr: err_w,
        },
        ParentPipes {
            stdin: parent_in,
            stdout: out_r,
            stderr: err_r,
        },
    ))
}

enum StdinWriter {
    Pipe(pipe::Sender),
    Pty(Arc<AsyncFd<OwnedFd>>),
}

struct Output {
    subscribers: Vec<mpsc::Sender<AttachItem>>,
    /// Output streams not at their end yet.
    open: u8,
    ended: bool,
}

/// The stdio of one process (the init or an exec'd one).
pub struct ProcessIo {
    /// "container ID" or "exec E of container ID", for messages.
    label: String,
    terminal: bool,
    stdin: tokio::sync::Mutex<Option<StdinWriter>>,
    console: OnceLock<Arc<AsyncFd<OwnedFd>>>,
    /// The log driver's sink (the init's, when it logs).
    log: Option<LogSink>,
    output: Mutex<Output>,
    done: watch::Sender<bool>,
}

impl ProcessIo {
    pub fn new(label: String, terminal: bool, log: Option<LogSink>) -> Arc<ProcessIo> {
        Arc::new(ProcessIo {
            label,
            terminal,
            stdin: tokio::sync::Mutex::new(None),
            console: OnceLock::new(),
            log,
            output: Mutex::new(Output {
                subscribers: Vec::new(),
                open: 0,
                ended: false,
            }),
            done: watch::channel(false).0,
        })
    }

    pub fn terminal(&self) -> bool {
        self.terminal
    }

    /// Starts copying from the pipes.
    pub fn start_pipes(self: &Arc<Self>, pipes: ParentPipes) -> Result<(), StdioError> {
        let err = |source| StdioError::Pipe {
            label: self.label.clone(),
            source,
        };
        let stdout = pipe::Receiver::from_owned_fd(pipes.stdout).map_err(err)?;
        let stderr = pipe::Receiver::from_owned_fd(pipes.stderr).map_err(err)?;
        if let Some(w) = pipes.stdin {
            let w = pipe::Sender::from_owned_fd(w).map_err(err)?;
            *self
                .stdin
                .try_lock()
                .expect("stdin is set before anyone uses it") = Some(StdinWriter::Pipe(w));
        }
        self.output.lock().unwrap().open = 2;
        for (stream, mut rx) in [
            (OutputStream::Stdout, stdout),
            (OutputStream::Stderr, stderr),
        ] {
            let io = self.clone();
            let mut log = StreamLog::new(self.log.as_ref(), stream);
            tokio::spawn(async move {
                let mut buf = vec![0u8; READ_SIZE];
                loop {
                    match rx.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            log.write(&buf[..n]).await;
                            io.publish(stream, &buf[..n]).await
                        }
                    }
                }
                log.finish().await;
                io.stream_ended(stream);
            });
        }
        Ok(())
    }

    /// Starts copying from the pty master; with `stdin`, clients may type.
    pub fn start_console(self: &Arc<Self>, master: OwnedFd, stdin: bool) -> Result<(), StdioError> {
        let err = |source| StdioError::Console {
            label: self.label.clone(),
            source,
        };
        let flags = rustix::fs::fcntl_getfl(&master).map_err(|e| err(e.into()))?;
        rustix::fs::fcntl_setfl(&master, flags | rustix::fs::OFlags::NONBLOCK)
            .map_err(|e| err(e.into()))?;
        // SAFETY: an OwnedFd keeps its descriptor open and unchanged for as
        // long as it lives, which is as long as the AsyncFd owns it.
        let master = unsafe { AsyncFd::register(master) }.map_err(|e| err(e.into()))?;
        let master = Arc::new(master);
        let _ = self.console.set(master.clone());
        if stdin {
            *self
                .stdin
                .try_lock()
                .expect("stdin is set before anyone uses it") =
                Some(StdinWriter::Pty(master.clone()));
        }
        self.output.lock().unwrap().open = 1;
        let io = self.clone();
        let mut log = StreamLog::new(self.log.as_ref(), OutputStream::Stdout);
        tokio::spawn(async move {
            let mut buf = vec![0u8; READ_SIZE];
            loop {
                let Ok(mut ready) = master.readable().await else {
                    break;
                };
                match ready.try_io(|fd| {
                    rustix::io::read(fd.get_ref(), &mut buf).map_err(std::io::Error::from)
                }) {
                    Ok(Ok(0)) => break,
                    Ok(Ok(n)) => {
                        log.write(&buf[..n]).await;
                        io.publish(OutputStream::Stdout, &buf[..n]).await
                    }
                    // EIO: every holder of the pty's slave side has gone.
                    Ok(Err(_)) => break,
                    Err(_would_block) => continue,
                }
            }
            log.finish().await;
            io.stream_ended(OutputStream::Stdout);
        });
        Ok(())
    }

    /// Hands a chunk of output to every attached client, waiting while a
    /// client's queue is full: the caller reads no more of the process's
    /// output meanwhile (back-pressure, see the module docs).
    async fn publish(&self, stream: OutputStream, data: &[u8]) {
        let subscribers = {
            let mut out = self.output.lock().unwrap();
            // Clients that went away are forgotten (their queues with them).
            out.subscribers.retain(|tx| !tx.is_closed());
            if out.subscribers.is_empty() {
                return;
            }
            out.subscribers.clone()
        };
        let msg = AttachResponse {
            stream: match stream {
                OutputStream::Stdout => StdStream::Stdout,
                OutputStream::Stderr => StdStream::Stderr,
            } as i32,
            data: data.to_vec(),
        };
        // One client at a time: the slowest sets the pace, as docker's
        // broadcaster. A client gone meanwhile fails at once (its receiver
        // was dropped) and is forgotten at the next chunk.
        for tx in subscribers {
            let _ = tx.send(Ok(msg.clone())).await;
        }
    }

    fn stream_ended(self: &Arc<Self>, _stream: OutputStream) {
        let mut out = self.output.lock().unwrap();
        out.open = out.open.saturating_sub(1);
        if out.open == 0 {
            out.ended = true;
            // Dropping the senders ends every client's stream.
            out.subscribers.clear();
            drop(out);
            self.end_log();
        }
    }

    /// Marks the output as ended without it ever starting (the process
    /// never ran).
    pub fn close_unstarted(self: &Arc<Self>) {
        let mut out = self.output.lock().unwrap();
        if out.open == 0 && !out.ended {
            out.ended = true;
            out.subscribers.clear();
            drop(out);
            self.end_log();
        }
    }

    /// All output was read: once the log driver has written what is queued,
    /// the output is done.
    fn end_log(self: &Arc<Self>) {
        let io = self.clone();
        tokio::spawn(async move {
            if let Some(sink) = &io.log {
                sink.close().await;
                let lost = sink.counters().lost();
                if lost > 0 {
                    eprintln!(
                        "berth-shim: {}: log driver {}: {lost} log message(s) lost \
                         ({} dropped by mode=non-blocking, {} failed to reach the sink)",
                        io.label,
                        sink.driver(),
                        sink.counters()
                            .dropped
                            .load(std::sync::atomic::Ordering::Relaxed),
                        sink.counters()
                            .failed
                            .load(std::sync::atomic::Ordering::Relaxed),
                    );
                }
            }
            io.done.send_replace(true);
        });
    }

    /// Log messages lost so far (dropped in non-blocking mode, or failed to
    /// reach the sink).
    pub fn log_lost(&self) -> u64 {
        self.log.as_ref().map(|s| s.counters().lost()).unwrap_or(0)
    }

    /// A new client's queue of output; it ends with the process's output.
    pub fn subscribe(&self) -> mpsc::Receiver<AttachItem> {
        let (tx, rx) = mpsc::channel(ATTACH_QUEUE);
        let mut out = self.output.lock().unwrap();
        if !out.ended {
            out.subscribers.push(tx);
        }
        rx
    }

    /// Waits (at most `limit`) until all output has been read and logged.
    pub async fn wait_output_end(&self, limit: Duration) {
        let mut rx = self.done.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|done| *done)).await;
    }

    /// Writes to the process's stdin.
    pub async fn write_stdin(&self, data: &[u8]) -> Result<(), StdioError> {
        let mut stdin = self.stdin.lock().await;
        let err = |source| StdioError::WriteStdin {
            label: self.label.clone(),
            source,
        };
        match stdin.as_mut() {
            None => Err(StdioError::NoStdin {
                label: self.label.clone(),
            }),
            Some(StdinWriter::Pipe(w)) => w.write_all(data).await.map_err(err),
            Some(StdinWriter::Pty(fd)) => {
                let mut data = data;
                while !data.is_empty() {
                    let mut ready = fd.writable().await.map_err(err)?;
                    match ready.try_io(|fd| {
                        rustix::io::write(fd.get_ref(), data).map_err(std::io::Error::from)
                    }) {
                        Ok(Ok(n)) => data = &data[n..],
                        Ok(Err(e)) => return Err(err(e)),
                        Err(_would_block) => continue,
                    }
                }
                Ok(())
            }
        }
    }

    /// Closes the process's stdin: the pipe is closed; on a tty, which
    /// cannot be closed without hanging up the process, an end-of-file
    /// character (^D, VEOF) is typed instead.
    pub async fn close_stdin(&self) -> Result<(), StdioError> {
        let mut stdin = self.stdin.lock().await;
        match stdin.as_ref() {
            None => Ok(()),
            Some(StdinWriter::Pipe(_)) => {
                *stdin = None;
                Ok(())
            }
            Some(StdinWriter::Pty(_)) => {
                drop(stdin);
                self.write_stdin(&[0x04]).await
            }
        }
    }

    /// Sets the tty's size (TIOCSWINSZ on the master; the kernel sends the
    /// process SIGWINCH).
    pub fn resize(&self, width: u16, height: u16) -> Result<(), StdioError> {
        if !self.terminal {
            return Err(StdioError::NoTty {
                label: self.label.clone(),
            });
        }
        let Some(master) = self.console.get() else {
            return Err(StdioError::NoTtyYet {
                label: self.label.clone(),
            });
        };
        let size = rustix::termios::Winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(master.get_ref().as_fd(), size).map_err(|e| {
            StdioError::Resize {
                label: self.label.clone(),
                source: e.into(),
            }
        })
    }
}
