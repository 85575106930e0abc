//! A container's files through the Docker API, over the containers
//! domain's cp machinery ([`crate::containers::archive`], the same
//! `berth cp`, `diff` and `export` use): `changes`, `export`, and
//! `archive` GET (a path's tar, its stat in `X-Docker-Container-Path-Stat`),
//! HEAD (the stat alone) and PUT (a tar extracted into a directory). Paths
//! are resolved inside the container's root without following symlinks
//! out of it (the domain's in-root resolution).

use super::error::ApiError;
use super::server::{empty, json, ApiRequest, Body, Reply};
use super::DockerApi;
use crate::containers::files::{ByteStream, CopyToOptions};
use crate::containers::ContainerError;
use berth_docker::archive::PathStat;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// A tar body from the domain's byte stream; an error mid-way cuts the
/// body short (the client sees a truncated archive, as with dockerd).
fn tar_body(mut stream: ByteStream) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                chunk = stream.recv() => match chunk {
                    Some(Ok(data)) => {
                        if tx.send(Bytes::from(data)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "docker API archive stream");
                        return;
                    }
                    None => return,
                },
                () = tx.closed() => return,
            }
        }
    });
    super::server::stream_body(rx)
}

fn tar_response(body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    r
}

/// docker's `X-Docker-Container-Path-Stat`: the stat's JSON, base64.
fn stat_header(stat: &PathStat) -> Result<HeaderValue, ApiError> {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(stat.to_json());
    HeaderValue::from_str(&text).map_err(|e| ApiError::internal(format!("path stat header: {e}")))
}

/// The `path` parameter, required.
fn path_param(req: &ApiRequest) -> Result<String, ApiError> {
    req.query
        .string("path")
        .ok_or_else(|| ApiError::bad_request("path is required"))
}

/// `GET /containers/{id}/changes`: `[{"Path", "Kind"}]` (null when
/// nothing changed, as dockerd's nil slice).
pub async fn changes(api: &DockerApi, id: &str) -> Reply {
    let changes = api.containers.diff(id).await?;
    let rows: Vec<Value> = changes
        .iter()
        .map(|c| json!({ "Path": c.path, "Kind": c.kind.code() }))
        .collect();
    json(
        StatusCode::OK,
        &if rows.is_empty() {
            Value::Null
        } else {
            Value::Array(rows)
        },
    )
}

/// `GET /containers/{id}/export`: the whole filesystem as a tar.
pub async fn export(api: &DockerApi, id: &str) -> Reply {
    let stream = api.containers.export(id).await?;
    Ok(tar_response(tar_body(stream)))
}

/// `GET /containers/{id}/archive?path=`: the path's tar with its stat.
pub async fn archive_get(api: &DockerApi, id: &str, req: &ApiRequest) -> Reply {
    let path = path_param(req)?;
    let (stat, stream) = api.containers.copy_from(id, &path, false).await?;
    let mut r = tar_response(tar_body(stream));
    r.headers_mut()
        .insert("X-Docker-Container-Path-Stat", stat_header(&stat)?);
    Ok(r)
}

/// `HEAD /containers/{id}/archive?path=`: the stat alone.
pub async fn archive_head(api: &DockerApi, id: &str, req: &ApiRequest) -> Reply {
    let path = path_param(req)?;
    let stat = api.containers.stat_path(id, &path).await?;
    let mut r = empty(StatusCode::OK)?;
    r.headers_mut()
        .insert("X-Docker-Container-Path-Stat", stat_header(&stat)?);
    Ok(r)
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`:
/// the body's tar extracted into the directory `path`, streamed.
pub async fn archive_put(api: &DockerApi, id: &str, mut req: ApiRequest) -> Reply {
    let options = CopyToOptions {
        id: id.to_string(),
        path: path_param(&req)?,
        no_overwrite_dir_non_dir: req.query.bool("noOverwriteDirNonDir"),
        copy_uid_gid: req.query.bool("copyUIDGID"),
    };
    let (tx, rx) = mpsc::channel::<Result<Vec<u8>, ContainerError>>(16);
    let body = req.take_body();
    let forward = tokio::spawn(async move {
        let Some(mut body) = body else { return };
        while let Some(frame) = body.frame().await {
            let item = match frame {
                Ok(f) => match f.into_data() {
                    Ok(d) => Ok(d.to_vec()),
                    Err(_) => continue,
                },
                Err(e) => Err(ContainerError::InvalidArgument(format!(
                    "read archive body: {e}"
                ))),
            };
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                return;
            }
        }
    });
    let result = api.containers.copy_to(options, rx).await;
    forward.abort();
    result?;
    empty(StatusCode::OK)
}
