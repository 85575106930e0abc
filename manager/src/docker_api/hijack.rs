//! Attach: docker's hijacked connection. The client asks for
//! `Connection: Upgrade` / `Upgrade: tcp`; the answer is `101 UPGRADED`,
//! then the connection carries the process's output (raw with a tty, else
//! in 8-byte-header frames) one way and the client's stdin the other; the
//! client's half-close is the end of stdin.
//!
//! `docker run` and `docker start -a` attach *before* they start the
//! container: such an attach waits here ([`PendingAttaches`]) until
//! `/start` hands it the start, so the domain starts the process with this
//! client's stdin and output attached from the first byte.

use super::containers::frame;
use super::error::ApiError;
use super::server::{full, ApiRequest, Reply};
use super::DockerApi;
use crate::containers::exec::OutputRelay;
use crate::containers::service::AttachOptions;
use crate::containers::task::{OutputStream, StdStream, StdinMessage, StdinSource};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::{Response, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::StreamExt;

/// Attaches waiting for their container's start, by container id.
pub(crate) type PendingAttaches = Mutex<HashMap<String, oneshot::Sender<StartHandoff>>>;

/// A `/start` handed to the attach that waits for it: the attach starts
/// the container and answers whether that worked.
pub(crate) struct StartHandoff {
    reply: oneshot::Sender<Result<(), ApiError>>,
}

/// Hands `/start` of container `id` to its waiting attach, if there is
/// one: the start's result, or none when no attach waits (or it left).
pub async fn start_pending(api: &DockerApi, id: &str) -> Option<Result<(), ApiError>> {
    let waiting = api
        .attaches
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id)?;
    let (reply, answer) = oneshot::channel();
    waiting.send(StartHandoff { reply }).ok()?;
    answer.await.ok()
}

/// Which of the process's streams the client wants.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub stdout: bool,
    pub stderr: bool,
    /// Raw bytes (a tty) rather than frames.
    pub tty: bool,
}

/// The `101` that hands the connection over, or a refusal when the client
/// did not ask for an upgrade.
pub fn upgrade_response(req: &ApiRequest) -> Reply {
    let wants_upgrade = req
        .inner
        .headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    if !wants_upgrade {
        return Err(ApiError::not_implemented(
            "an attach or exec stream without a connection upgrade (send Connection: Upgrade, Upgrade: tcp)",
        ));
    }
    let mut r = Response::new(full(""));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.docker.raw-stream"),
    );
    Ok(r)
}

/// The connection once upgraded.
pub type Hijacked = hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>;

/// Copies the client's bytes to the process's stdin (when it has one),
/// `Close` at the client's half-close; ends at the client's end.
pub fn pump_stdin(
    mut from: tokio::io::ReadHalf<Hijacked>,
    stdin: Option<mpsc::Sender<StdinMessage>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Some(tx) = &stdin {
                        if tx
                            .send(StdinMessage::Data(buf[..n].to_vec()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        }
        if let Some(tx) = &stdin {
            let _ = tx.send(StdinMessage::Close).await;
        }
    })
}

/// Writes the process's output to the client until it ends (true) or the
/// client is gone (false).
pub async fn copy_output(
    mut output: OutputStream,
    to: &mut tokio::io::WriteHalf<Hijacked>,
    wanted: Wanted,
    relay: Option<&OutputRelay>,
) -> bool {
    while let Some(chunk) = output.next().await {
        let Ok(chunk) = chunk else {
            return false;
        };
        if let Some(relay) = relay {
            relay.read_one();
        }
        let (id, want) = match chunk.stream {
            StdStream::Stdout => (1, wanted.stdout),
            StdStream::Stderr => (2, wanted.stderr),
        };
        if !want {
            continue;
        }
        let bytes = if wanted.tty {
            bytes::Bytes::from(chunk.data)
        } else {
            frame(id, &chunk.data)
        };
        if to.write_all(&bytes).await.is_err() || to.flush().await.is_err() {
            return false;
        }
    }
    true
}

/// A stdin channel for a process: the sender the connection feeds, the
/// source the domain reads.
pub fn stdin_channel() -> (mpsc::Sender<StdinMessage>, StdinSource) {
    let (tx, rx) = mpsc::channel(64);
    (tx, Arc::new(tokio::sync::Mutex::new(rx)))
}

/// `POST /containers/{id}/attach?stream=1&stdin=&stdout=&stderr=`.
pub async fn attach(api: Arc<DockerApi>, id: &str, mut req: ApiRequest) -> Reply {
    let q = &req.query;
    if q.bool("logs") {
        return Err(ApiError::not_implemented(
            "attach with logs=1 (read them with /containers/{id}/logs)",
        ));
    }
    if !q.bool("stream") {
        return Err(ApiError::not_implemented("attach without stream=1"));
    }
    let record = api.containers.resolve(id)?;
    let id = record.id.clone();
    let wanted = Wanted {
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        tty: record.config.options.tty,
    };
    let with_stdin = q.bool("stdin") && record.config.options.open_stdin;
    let response = upgrade_response(&req)?;
    let on_upgrade = hyper::upgrade::on(&mut req.inner);
    let (stdin_tx, stdin_src) = if with_stdin {
        let (tx, src) = stdin_channel();
        (Some(tx), Some(src))
    } else {
        (None, None)
    };
    let service = api.containers.clone();
    // The process's output: now for a running container, at its start
    // otherwise.
    enum Source {
        Running(OutputStream, OutputRelay),
        AtStart(oneshot::Receiver<StartHandoff>),
    }
    let source = if record.state.status.is_live() {
        let relay = service.output_relay(&id);
        let (_, output) = service.attach(&id, stdin_src.clone()).await?;
        Source::Running(output, relay)
    } else {
        let (tx, rx) = oneshot::channel();
        api.attaches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), tx);
        Source::AtStart(rx)
    };
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let (read, mut write) = tokio::io::split(hyper_util::rt::TokioIo::new(upgraded));
        let pump = pump_stdin(read, stdin_tx);
        let (output, relay) = match source {
            Source::Running(output, relay) => (output, relay),
            Source::AtStart(start) => {
                let Ok(handoff) = start.await else {
                    // The container was started without us, or removed.
                    pump.abort();
                    return;
                };
                let relay = service.output_relay(&id);
                let opts = AttachOptions {
                    stdin_rx: stdin_src,
                    width: 0,
                    height: 0,
                };
                match service.start(&id, Some(opts)).await {
                    Ok(Some(output)) => {
                        let _ = handoff.reply.send(Ok(()));
                        (output, relay)
                    }
                    Ok(None) => {
                        let _ = handoff.reply.send(Ok(()));
                        pump.abort();
                        return;
                    }
                    Err(e) => {
                        let _ = handoff.reply.send(Err(e.into()));
                        pump.abort();
                        return;
                    }
                }
            }
        };
        copy_output(output, &mut write, wanted, Some(&relay)).await;
        drop(relay);
        let _ = write.shutdown().await;
        pump.abort();
    });
    Ok(response)
}
