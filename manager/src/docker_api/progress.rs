//! docker's JSON progress stream: one `jsonmessage.JSONMessage` per line
//! (`{"status":...,"id":...,"progressDetail":{...},"progress":"[==>  ]"}`,
//! a failure as `{"errorDetail":{"message":...},"error":...}`), which the
//! docker CLI draws and the SDKs read for pull, push, import and load.
//!
//! dockerd answers a failure with a real HTTP status as long as nothing
//! has been written yet, and inside the stream (status 200) afterwards
//! (its `WriteFlusher`): [`transfer`] does the same, so `docker pull
//! no-such` gets a 404 and a registry dropping mid-layer an error line.
//! The transfer is owned by the response body ([`OwnedTask`]): a client
//! that hangs up cancels it, as the gRPC adapter's streams do.

use super::error::ApiError;
use super::server::{stream_body, Body, Reply};
use crate::images::cancel::OwnedTask;
use crate::images::progress::{BlobState, Progress, ProgressSink, TransferSummary};
use crate::images::ImageError;
use berth_docker::humanize;
use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Response;
use serde_json::{json, Value};
use std::future::Future;
use tokio::sync::{mpsc, oneshot};

/// One JSON message as a line of the stream.
pub fn line(message: &Value) -> Bytes {
    let mut text = message.to_string();
    text.push_str("\r\n");
    Bytes::from(text)
}

/// `{"status": text}`.
pub fn status(text: impl Into<String>) -> Value {
    json!({ "status": text.into() })
}

/// docker's error message inside a stream.
pub fn error(message: &str) -> Value {
    json!({ "errorDetail": { "message": message }, "error": message })
}

/// docker's bar (`jsonmessage.JSONProgress.String` without the terminal
/// width): 50 columns, then `current/total` in docker's units.
fn bar(current: u64, total: u64) -> String {
    if total == 0 {
        return humanize::size(current as i64);
    }
    let width = 50usize;
    let filled = ((current.min(total) as f64 / total as f64) * width as f64) as usize;
    let mut b = String::with_capacity(width + 2);
    b.push('[');
    for i in 0..width {
        b.push(if i < filled {
            '='
        } else if i == filled {
            '>'
        } else {
            ' '
        });
    }
    b.push(']');
    format!(
        "{b} {}/{}",
        humanize::size(current as i64),
        humanize::size(total as i64)
    )
}

/// A blob's state as docker writes it: the short id, docker's word, byte
/// counts while moving.
fn blob(digest: &str, state: BlobState, current: u64, total: u64) -> Value {
    let id = berth_docker::short_id::short_id(digest);
    let text = match state {
        BlobState::Waiting => "Pulling fs layer",
        other => other.as_str(),
    };
    match state {
        BlobState::Downloading | BlobState::Extracting | BlobState::Pushing => json!({
            "status": text,
            "progressDetail": { "current": current, "total": total },
            "progress": bar(current, total),
            "id": id,
        }),
        _ => json!({ "status": text, "progressDetail": {}, "id": id }),
    }
}

/// The message of one domain progress report (the summary is the
/// caller's: pull and push end differently).
fn message(p: &Progress) -> Option<Value> {
    match p {
        Progress::Status(s) => Some(match s.split_once(": Pulling from ") {
            // docker's own form: the tag as the id.
            Some((tag, repo)) => json!({ "status": format!("Pulling from {repo}"), "id": tag }),
            None => status(s.clone()),
        }),
        Progress::Blob {
            digest,
            state,
            current,
            total,
        } => Some(blob(digest, *state, *current, *total)),
        Progress::Done(_) => None,
    }
}

/// A 200 answer streaming JSON messages from `rx`.
pub fn json_stream(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let mut r = Response::new(stream_body(rx));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Runs a pull or push: docker's error status when it fails before
/// reporting anything, else a 200 stream of its progress, then `finish`'s
/// lines of the summary (or the error line).
pub async fn transfer<F, Fut>(
    run: F,
    finish: impl FnOnce(&TransferSummary) -> Vec<Value> + Send + 'static,
) -> Reply
where
    F: FnOnce(ProgressSink) -> Fut,
    Fut: Future<Output = Result<TransferSummary, ImageError>> + Send + 'static,
{
    let (ptx, mut prx) = mpsc::unbounded_channel::<Progress>();
    let (done_tx, mut done_rx) = oneshot::channel();
    let fut = run(ProgressSink::new(ptx));
    let task = OwnedTask::spawn(async move {
        let _ = done_tx.send(fut.await);
    });
    // Nothing is written until the first report: a failure before it is
    // the HTTP status. `ended`: the result, when the transfer ended first.
    let mut ended: Option<Result<TransferSummary, ImageError>> = None;
    let first = tokio::select! {
        biased;
        p = prx.recv() => p,
        result = &mut done_rx => {
            ended = Some(result.unwrap_or_else(|_| {
                Err(ImageError::Cancelled("the transfer stopped without a result".into()))
            }));
            prx.recv().await
        }
    };
    if first.is_none() {
        // The sink closed with nothing sent: the transfer is over.
        let result = match ended.take() {
            Some(r) => r,
            None => (&mut done_rx).await.unwrap_or_else(|_| {
                Err(ImageError::Cancelled(
                    "the transfer stopped without a result".into(),
                ))
            }),
        };
        if let Err(e) = result {
            return Err(ApiError::from(e));
        }
        ended = Some(result);
    }
    let (tx, rx) = mpsc::channel::<Bytes>(32);
    tokio::spawn(async move {
        let _task = task;
        let mut next = first;
        loop {
            while let Some(p) = next.take() {
                if let Some(m) = message(&p) {
                    if tx.send(line(&m)).await.is_err() {
                        return;
                    }
                }
                next = prx.try_recv().ok();
            }
            tokio::select! {
                p = prx.recv() => match p {
                    Some(p) => next = Some(p),
                    None => break,
                },
                // The client went: dropping `_task` cancels the transfer.
                () = tx.closed() => return,
            }
        }
        let result = match ended {
            Some(r) => r,
            None => done_rx.await.unwrap_or_else(|_| {
                Err(ImageError::Cancelled(
                    "the transfer stopped without a result".into(),
                ))
            }),
        };
        let lines = match result {
            Ok(summary) => finish(&summary),
            Err(e) => {
                tracing::warn!(error = %e, "docker API transfer failed");
                vec![error(&e.to_string())]
            }
        };
        for l in lines {
            if tx.send(line(&l)).await.is_err() {
                return;
            }
        }
    });
    Ok(json_stream(rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_dockers() {
        let m = message(&Progress::Status(
            "latest: Pulling from library/busybox".into(),
        ))
        .unwrap();
        assert_eq!(
            m,
            json!({"status": "Pulling from library/busybox", "id": "latest"})
        );
        let m = message(&Progress::Blob {
            digest: "sha256:0123456789abcdef".into(),
            state: BlobState::Downloading,
            current: 512,
            total: 1024,
        })
        .unwrap();
        assert_eq!(m["id"], "0123456789ab");
        assert_eq!(m["progressDetail"], json!({"current": 512, "total": 1024}));
        assert!(m["progress"]
            .as_str()
            .unwrap()
            .starts_with("[=========================>"));
        let m = message(&Progress::Blob {
            digest: "sha256:0123456789abcdef".into(),
            state: BlobState::Waiting,
            current: 0,
            total: 0,
        })
        .unwrap();
        assert_eq!(
            m,
            json!({"status": "Pulling fs layer", "progressDetail": {}, "id": "0123456789ab"})
        );
        assert_eq!(
            error("boom"),
            json!({"errorDetail": {"message": "boom"}, "error": "boom"})
        );
    }
}
