//! The stdio stream of a container's main process (`Attach`) or of an exec'd
//! one (`Exec`): the protocol of containers.proto, driven from a terminal.
//!
//! The first request carries `AttachStart`/`ExecStart`; then stdin bytes
//! (read on a plain thread: a blocking read of fd 0 must not hold up the
//! async runtime or its shutdown), terminal resizes on SIGWINCH, and
//! `close_stdin` at EOF. Output goes to the CLI's stdout/stderr as it
//! arrives; the `Exited` message ends the stream with the process's code.
//!
//! With a tty and stdin, the local terminal is put in raw mode and docker's
//! detach keys (ctrl-p ctrl-q unless `--detach-keys`) are watched for:
//! detaching closes our side of the stream, which leaves the container
//! running. Without a tty, `--sig-proxy` forwards the signals a user sends
//! to the CLI (ctrl-c) to the container, as docker does.

use super::client;
use crate::context::Context;
use crate::terminal::{self, DetachDetector, RawMode, DEFAULT_DETACH_KEYS};
use crate::CliError;
use berth_proto::v1 as pb;
use berth_proto::v1::attach_stream_request::Request;
use berth_proto::v1::attach_stream_response::Response;
use std::io::{IsTerminal, Read, Write};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

/// Which RPC carries the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Attach,
    Exec,
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The process exited with this code.
    Exited(i32),
    /// The user typed the detach keys: the process keeps running.
    Detached,
    /// berthd closed the stream without an exit (detach from the other side).
    Closed,
}

/// What the local side of a stream does.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Forward the CLI's stdin.
    pub stdin: bool,
    /// The process has a terminal: raw mode, resizes, detach keys.
    pub tty: bool,
    /// The detach sequence (bytes), watched for with a tty.
    pub detach_keys: Vec<u8>,
    /// Forward SIGINT/SIGTERM/... to the container (no tty only).
    pub sig_proxy: bool,
}

impl StreamOptions {
    /// Checks the combination like docker does: `-it` needs stdin to be a
    /// terminal ("the input device is not a TTY").
    pub fn new(
        stdin: bool,
        tty: bool,
        detach_keys: Option<&str>,
        sig_proxy: bool,
    ) -> Result<StreamOptions, CliError> {
        if stdin && tty && !std::io::stdin().is_terminal() {
            return Err(CliError::NotATty);
        }
        let keys = terminal::parse_detach_keys(detach_keys.unwrap_or(DEFAULT_DETACH_KEYS))
            .map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(StreamOptions {
            stdin,
            tty,
            detach_keys: keys,
            sig_proxy: sig_proxy && !tty,
        })
    }

    /// The terminal size to announce: the CLI's stdout's (0, 0 without one).
    fn size(&self) -> (u32, u32) {
        if !self.tty {
            return (0, 0);
        }
        terminal::window_size(libc::STDOUT_FILENO)
            .or_else(|| terminal::window_size(libc::STDIN_FILENO))
            .map(|(cols, rows)| (cols as u32, rows as u32))
            .unwrap_or((0, 0))
    }
}

/// The first request of an Attach stream.
pub fn attach_request(id: &str, options: &StreamOptions, start: bool) -> pb::AttachStreamRequest {
    let (width, height) = options.size();
    pb::AttachStreamRequest {
        request: Some(Request::Attach(pb::AttachStart {
            id: id.to_string(),
            stdin: options.stdin,
            stdout: true,
            stderr: true,
            start,
            width,
            height,
        })),
    }
}

/// The first request of an Exec stream.
pub fn exec_request(mut exec: pb::ExecStart, options: &StreamOptions) -> pb::AttachStreamRequest {
    let (width, height) = options.size();
    exec.width = width;
    exec.height = height;
    pb::AttachStreamRequest {
        request: Some(Request::Exec(exec)),
    }
}

/// Reads fd 0 on its own thread into `tx` until EOF (None) or until the
/// receiver is gone.
fn spawn_stdin_reader(tx: mpsc::Sender<Option<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.blocking_send(None);
                    return;
                }
                Ok(n) => {
                    if tx.blocking_send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// Forwards the signals a user sends to the CLI to the container, like
/// docker's `--sig-proxy` (ctrl-c reaches the container's process).
fn spawn_signal_proxy(ctx: &Context, id: &str) {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::user_defined2(), "SIGUSR2"),
    ];
    for (kind, name) in kinds {
        let Ok(mut sig) = signal(kind) else { continue };
        let host = ctx.host.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            while sig.recv().await.is_some() {
                if let Ok(mut c) = client(&host).await {
                    let _ = c
                        .kill(pb::KillContainerRequest {
                            id: id.clone(),
                            signal: name.to_string(),
                        })
                        .await;
                }
            }
        });
    }
}

/// Sends the new terminal size on every SIGWINCH.
fn spawn_resizer(tx: mpsc::Sender<pb::AttachStreamRequest>) {
    let Ok(changes) = terminal::window_changes(libc::STDOUT_FILENO) else {
        return;
    };
    tokio::spawn(async move {
        tokio::pin!(changes);
        while let Some((cols, rows)) = changes.next().await {
            let resize = pb::AttachStreamRequest {
                request: Some(Request::Resize(pb::TerminalSize {
                    width: cols as u32,
                    height: rows as u32,
                })),
            };
            if tx.send(resize).await.is_err() {
                return;
            }
        }
    });
}

/// Writes output bytes to the CLI's stdout or stderr at once (a terminal
/// user sees each keystroke's echo).
fn write_output(output: pb::Output) {
    let result = if output.stream == pb::OutputStream::Stderr as i32 {
        let mut err = std::io::stderr().lock();
        err.write_all(&output.data).and_then(|_| err.flush())
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(&output.data).and_then(|_| out.flush())
    };
    // A closed stdout (`berth run ... | head`) is not the container's
    // failure: keep draining to get its exit code.
    let _ = result;
}

/// Runs one stream to its end. `signal_target` is the container to proxy
/// signals to (run, start -a, attach).
pub async fn stream(
    ctx: &Context,
    kind: StreamKind,
    first: pb::AttachStreamRequest,
    options: &StreamOptions,
    signal_target: Option<&str>,
) -> Result<StreamEnd, CliError> {
    let mut containers = client(&ctx.host).await?;
    // The container as the user named it, for docker's `No such container`.
    let container = match &first.request {
        Some(Request::Attach(a)) => a.id.clone(),
        Some(Request::Exec(e)) => e.id.clone(),
        _ => String::new(),
    };
    let about = |s: tonic::Status| CliError::about(&container, s);
    let (tx, rx) = mpsc::channel::<pb::AttachStreamRequest>(16);
    tx.send(first)
        .await
        .map_err(|_| CliError::Other("attach: request stream closed".into()))?;
    let requests = ReceiverStream::new(rx);
    let mut responses = match kind {
        StreamKind::Attach => containers
            .attach(requests)
            .await
            .map_err(about)?
            .into_inner(),
        StreamKind::Exec => containers.exec(requests).await.map_err(about)?.into_inner(),
    };
    // Raw mode only once the daemon has accepted the stream, so an error
    // prints on a sane terminal; restored when `raw` drops.
    let raw = if options.tty && options.stdin {
        RawMode::stdin().map_err(|e| CliError::Other(e.to_string()))?
    } else {
        None
    };
    if options.tty {
        spawn_resizer(tx.clone());
    }
    if let (true, Some(id)) = (options.sig_proxy, signal_target) {
        spawn_signal_proxy(ctx, id);
    }
    // stdin goes to the daemon from a task of its own: the container may
    // stop reading its stdin while its output waits for us (`run -i ...
    // cat`), and a send waiting for room must never stop us reading that
    // output (both directions would wait for each other forever).
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    if options.stdin {
        let (stdin_tx, stdin_rx) = mpsc::channel::<Option<Vec<u8>>>(4);
        spawn_stdin_reader(stdin_tx);
        let watch_detach = options.tty;
        let detector = DetachDetector::new(options.detach_keys.clone());
        tokio::spawn(forward_stdin(
            stdin_rx,
            tx.clone(),
            detector,
            watch_detach,
            detach_tx,
        ));
    } else {
        drop(detach_tx);
    }
    let mut detach_open = options.stdin;
    let mut requests_tx = Some(tx);
    loop {
        tokio::select! {
            detached = &mut detach_rx, if detach_open => {
                if detached.is_err() {
                    // stdin ended: no detach can come any more.
                    detach_open = false;
                    continue;
                }
                // Closing our side detaches; the container runs on.
                drop(requests_tx.take());
                drop(raw);
                eprintln!("read escape sequence");
                return Ok(StreamEnd::Detached);
            }
            message = responses.next() => {
                match message {
                    None => return Ok(StreamEnd::Closed),
                    Some(Err(status)) => return Err(about(status)),
                    Some(Ok(pb::AttachStreamResponse { response: Some(Response::Output(o)) })) => write_output(o),
                    Some(Ok(pb::AttachStreamResponse { response: Some(Response::Exit(e)) })) => {
                        return Ok(StreamEnd::Exited(e.exit_code));
                    }
                    Some(Ok(_)) => {}
                }
            }
        }
    }
}

/// Sends the CLI's stdin to the daemon until it ends (then closes the
/// process's stdin) or, with `watch_detach`, until the detach keys were
/// typed (then tells `detached`).
async fn forward_stdin(
    mut input: mpsc::Receiver<Option<Vec<u8>>>,
    tx: mpsc::Sender<pb::AttachStreamRequest>,
    mut detector: DetachDetector,
    watch_detach: bool,
    detached: tokio::sync::oneshot::Sender<()>,
) {
    let send = |bytes: Vec<u8>| pb::AttachStreamRequest {
        request: Some(Request::Stdin(bytes)),
    };
    while let Some(Some(bytes)) = input.recv().await {
        let (forward, detach) = if watch_detach {
            detector.feed(&bytes)
        } else {
            (bytes, false)
        };
        if !forward.is_empty() && tx.send(send(forward)).await.is_err() {
            return;
        }
        if detach {
            let _ = detached.send(());
            return;
        }
    }
    // Bytes held back as a possible detach start are input too.
    let held = if watch_detach {
        detector.finish()
    } else {
        Vec::new()
    };
    if !held.is_empty() && tx.send(send(held)).await.is_err() {
        return;
    }
    let _ = tx
        .send(pb::AttachStreamRequest {
            request: Some(Request::CloseStdin(true)),
        })
        .await;
}

/// `berth attach`.
#[derive(clap::Args, Debug)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN.
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process.
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    pub container: String,
}

/// `berth attach`: the running container's stdio until it exits (its code)
/// or the user detaches.
pub async fn attach_command(ctx: &Context, a: AttachArgs) -> Result<i32, CliError> {
    let inspect = client(&ctx.host)
        .await?
        .inspect(pb::InspectContainerRequest {
            id: a.container.clone(),
            size: false,
        })
        .await?
        .into_inner();
    let json: serde_json::Value = serde_json::from_str(&inspect.json).unwrap_or_default();
    if json["State"]["Running"].as_bool() == Some(false) {
        return Err(CliError::Other(
            "You cannot attach to a stopped container, start it first".into(),
        ));
    }
    if json["State"]["Paused"].as_bool() == Some(true) {
        return Err(CliError::Other(
            "You cannot attach to a paused container, unpause it first".into(),
        ));
    }
    let tty = json["Config"]["Tty"].as_bool().unwrap_or(false);
    let open_stdin = json["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let options = StreamOptions::new(
        open_stdin && !a.no_stdin,
        tty,
        a.detach_keys.as_deref(),
        a.sig_proxy,
    )?;
    let first = attach_request(&a.container, &options, false);
    match stream(ctx, StreamKind::Attach, first, &options, Some(&a.container)).await? {
        StreamEnd::Exited(code) => Ok(code),
        StreamEnd::Detached => Ok(0),
        // Never a silently short output.
        StreamEnd::Closed => Err(CliError::Daemon(
            "the attach stream ended before the container exited".into(),
        )),
    }
}
