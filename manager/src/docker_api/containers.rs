//! `/containers/...`: docker's container endpoints over the containers
//! domain ([`ContainerService`]); the shapes come from the domain's own
//! docker-shaped views (`containers::view`).

use super::create;
use super::error::ApiError;
use super::server::{empty, json, stream_body, ApiRequest, Reply};
use super::DockerApi;
use crate::containers::files::LogsQuery;
use crate::containers::logs::LogStream;
use crate::containers::spec;
use crate::containers::ContainerService;
use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// Runs a blocking domain call (it reads records and files) off the
/// async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::containers::ContainerError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("background job: {e}")))?
        .map_err(ApiError::from)
}

/// `GET /containers/json`: docker's `types.Container` rows.
pub async fn list(api: &DockerApi, req: &ApiRequest) -> Reply {
    json(StatusCode::OK, &rows(api, &req.query).await?)
}

/// docker's `types.Container` rows of the containers `q` asks for (`all`,
/// `limit`, `size`, `filters`): `/containers/json` and `/system/df`.
pub async fn rows(api: &DockerApi, q: &super::query::Query) -> Result<Vec<Value>, ApiError> {
    let mut filters = q.filters()?;
    let network_filter = filters.remove("network");
    let last = q.int("limit")?.unwrap_or(-1).max(-1) as i32;
    let all = q.bool("all") || last > 0 || filters.contains_key("status");
    let size = q.bool("size");
    let service = api.containers.clone();
    blocking(move || {
        let mut list = service.list(all, size)?;
        let memberships = service.network_memberships();
        if let Some(wanted) = &network_filter {
            list.retain(|s| service.on_any_network(&memberships, &s.record, wanted));
        }
        let list = crate::containers::filter::apply(list, &filters, last)?;
        let mut rows = Vec::with_capacity(list.len());
        for s in list {
            // The inspect view holds the networks and mounts docker lists.
            let Ok(full) = service.inspect(&s.record.id, false) else {
                continue; // removed meanwhile
            };
            let r = &s.record;
            let ports: Vec<_> = crate::containers::ports::listed_ports(r)
                .into_iter()
                .map(|(ip, private, public, proto)| {
                    let mut p = json!({"PrivatePort": private, "Type": proto.as_str()});
                    if !ip.is_empty() {
                        p["IP"] = json!(ip);
                    }
                    if public != 0 {
                        p["PublicPort"] = json!(public);
                    }
                    p
                })
                .collect();
            let mut row = json!({
                "Id": r.id,
                "Names": s.names,
                "Image": r.image,
                "ImageID": r.image_id,
                "Command": s.command,
                "Created": s.created_unix,
                "Ports": ports,
                "Labels": r.config.options.labels,
                "State": r.state.status.as_str(),
                "Status": s.status,
                "HostConfig": {"NetworkMode": full.host_config.network_mode},
                "NetworkSettings": {"Networks": full.network_settings.networks},
                "Mounts": full.mounts,
            });
            if let Some(size) = s.size_rw {
                row["SizeRw"] = json!(size);
            }
            rows.push(row);
        }
        Ok(rows)
    })
    .await
}

/// `POST /containers/prune?filters=`: every stopped container matching
/// (`until`, `label`); docker's `ContainersDeleted` and `SpaceReclaimed`.
pub async fn prune(api: &DockerApi, req: &ApiRequest) -> Reply {
    let filters = req.query.filters()?;
    let (deleted, freed) = api.containers.prune(&filters).await?;
    json(
        StatusCode::OK,
        &json!({
            "ContainersDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
            "SpaceReclaimed": freed,
        }),
    )
}

/// `POST /containers/create?name=`.
pub async fn create(api: &DockerApi, mut req: ApiRequest) -> Reply {
    let body = req.body().await?;
    let (config, host, networking) = create::parse_body(&body)?;
    let config = create::container_config(config, host, networking)?;
    let name = req.query.string("name");
    let (id, warnings) = api.containers.create(name, config).await?;
    json(
        StatusCode::CREATED,
        &json!({"Id": id, "Warnings": warnings}),
    )
}

/// `GET /containers/{id}/json`.
pub async fn inspect(api: &DockerApi, id: &str, req: &ApiRequest) -> Reply {
    let service = api.containers.clone();
    let (id, size) = (id.to_string(), req.query.bool("size"));
    let container = blocking(move || service.inspect(&id, size)).await?;
    json(StatusCode::OK, &container)
}

/// Whether the container is running (or restarting, paused): what
/// decides docker's 304 for start and stop.
fn is_live(service: &ContainerService, id: &str) -> Result<bool, ApiError> {
    Ok(service.resolve(id)?.state.status.is_live())
}

/// `POST /containers/{id}/start`: 304 when already running; an attach
/// waiting for this start ([`super::hijack`]) gets the process's output.
pub async fn start(api: &Arc<DockerApi>, id: &str) -> Reply {
    let record = api.containers.resolve(id)?;
    if record.state.status.is_live() {
        return empty(StatusCode::NOT_MODIFIED);
    }
    if let Some(result) = super::hijack::start_pending(api, &record.id).await {
        result?;
    } else {
        api.containers.start(&record.id, None).await?;
    }
    empty(StatusCode::NO_CONTENT)
}

fn timeout(req: &ApiRequest) -> Result<Option<i32>, ApiError> {
    Ok(req
        .query
        .int("t")?
        .map(|t| i32::try_from(t).unwrap_or(i32::MAX)))
}

fn signal(req: &ApiRequest) -> Result<Option<i32>, ApiError> {
    match req.query.string("signal") {
        None => Ok(None),
        Some(s) => spec::parse_signal(&s)
            .map(Some)
            .map_err(|e| ApiError::bad_request(e.to_string())),
    }
}

/// `POST /containers/{id}/stop?t=`: 304 when not running.
pub async fn stop(api: &DockerApi, id: &str, req: &ApiRequest) -> Reply {
    if !is_live(&api.containers, id)? {
        return empty(StatusCode::NOT_MODIFIED);
    }
    api.containers.stop(id, timeout(req)?, signal(req)?).await?;
    empty(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/restart?t=`.
pub async fn restart(api: &DockerApi, id: &str, req: &ApiRequest) -> Reply {
    api.containers
        .restart(id, timeout(req)?, signal(req)?)
        .await?;
    empty(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/kill?signal=` (default SIGKILL).
pub async fn kill(api: &DockerApi, id: &str, req: &ApiRequest) -> Reply {
    let signal = signal(req)?.unwrap_or(libc::SIGKILL);
    api.containers
        .kill(id, signal)
        .await
        // docker's API wraps every kill error so (container_routes.go).
        .map_err(|e| ApiError::from(e).prefixed(&format!("Cannot kill container: {id}: ")))?;
    empty(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/wait?condition=`: the headers at once, the
/// `{"StatusCode": N, "Error": null}` body when the condition is met (the
/// docker CLI sends this before it starts the container).
pub async fn wait(api: &DockerApi, id: &str, req: &ApiRequest) -> Reply {
    let condition = req.query.string("condition").unwrap_or_default();
    if !matches!(
        condition.as_str(),
        "" | "not-running" | "next-exit" | "removed"
    ) {
        return Err(ApiError::bad_request(format!(
            "invalid condition: {condition:?}"
        )));
    }
    let record = api.containers.resolve(id)?;
    let service = api.containers.clone();
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let waited = tokio::select! {
            r = service.wait(&record.id, &condition) => r,
            // The client left: stop waiting.
            _ = tx.closed() => return,
        };
        let body = match waited {
            Ok(code) => json!({"StatusCode": code, "Error": null}),
            Err(e) => json!({"StatusCode": -1, "Error": {"Message": e.to_string()}}),
        };
        let _ = tx.send(Bytes::from(body.to_string() + "\n")).await;
    });
    let mut r = Response::new(stream_body(rx));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

/// `DELETE /containers/{id}?force=&v=`.
pub async fn remove(api: &DockerApi, id: &str, req: &ApiRequest) -> Reply {
    if req.query.bool("link") {
        api.containers.remove_link(id)?;
        return empty(StatusCode::NO_CONTENT);
    }
    api.containers
        .remove_with_volumes(id, req.query.bool("force"), req.query.bool("v"))
        .await?;
    empty(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(api: &DockerApi, id: &str, req: &ApiRequest) -> Reply {
    let name = req.query.get("name").unwrap_or_default();
    api.containers.rename(id, name).await?;
    empty(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/pause`.
pub async fn pause(api: &DockerApi, id: &str) -> Reply {
    api.containers.pause(id).await?;
    empty(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/unpause`.
pub async fn unpause(api: &DockerApi, id: &str) -> Reply {
    api.containers.unpause(id).await?;
    empty(StatusCode::NO_CONTENT)
}

/// `GET /containers/{id}/top?ps_args=`.
pub async fn top(api: &DockerApi, id: &str, req: &ApiRequest) -> Reply {
    let ps_args = req.query.get("ps_args").unwrap_or_default();
    let (titles, processes) = api.containers.top(id, ps_args).await?;
    json(
        StatusCode::OK,
        &json!({"Titles": titles, "Processes": processes}),
    )
}

/// The terminal size of a resize request.
pub fn size(req: &ApiRequest) -> Result<(u32, u32), ApiError> {
    let dim = |key: &str| -> Result<u32, ApiError> {
        let v = req.query.int(key)?.unwrap_or(0);
        u32::try_from(v).map_err(|_| ApiError::bad_request(format!("invalid {key}: {v}")))
    };
    Ok((dim("w")?, dim("h")?))
}

/// `POST /containers/{id}/resize?h=&w=`.
pub async fn resize(api: &DockerApi, id: &str, req: &ApiRequest) -> Reply {
    let (w, h) = size(req)?;
    let record = api.containers.resolve(id)?;
    if !record.state.status.is_live() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Container {} is not running", record.id),
        ));
    }
    api.containers.resize(&record.id, "", w, h).await;
    empty(StatusCode::OK)
}

/// docker's `since`/`until`: unix seconds, fractional or not; 0 is none.
fn log_time(req: &ApiRequest, key: &str) -> Result<Option<SystemTime>, ApiError> {
    let Some(v) = req.query.string(key) else {
        return Ok(None);
    };
    let (secs, nanos) = v.split_once('.').unwrap_or((&v, "0"));
    let bad = || ApiError::bad_request(format!("invalid value for {key}: {v:?}"));
    let secs: u64 = secs.parse().map_err(|_| bad())?;
    let nanos: u32 = format!("{nanos:0<9}")[..9].parse().map_err(|_| bad())?;
    Ok((secs > 0 || nanos > 0).then(|| SystemTime::UNIX_EPOCH + Duration::new(secs, nanos)))
}

/// The 8-byte header of a multiplexed stream frame: stream (1 stdout, 2
/// stderr), three zero bytes, the length big-endian.
pub fn frame(stream: u8, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    Bytes::from(out)
}

/// `GET /containers/{id}/logs`: raw with a tty, else framed per stream.
pub async fn logs(api: &DockerApi, id: &str, req: &ApiRequest) -> Reply {
    let q = &req.query;
    let (stdout, stderr) = (q.bool("stdout"), q.bool("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match q.get("tail").unwrap_or("all") {
        "all" | "" => None,
        n => match n.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n as usize),
            _ => None,
        },
    };
    let record = api.containers.resolve(id)?;
    let tty = record.config.options.tty;
    let timestamps = q.bool("timestamps");
    let query = LogsQuery {
        id: record.id.clone(),
        follow: q.bool("follow"),
        tail,
        since: log_time(req, "since")?,
        until: log_time(req, "until")?,
        stdout,
        stderr,
    };
    let mut entries = api.containers.logs(query).await?;
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        loop {
            let entry = tokio::select! {
                e = entries.recv() => e,
                // The client hung up: drop the reader (and its follow).
                _ = tx.closed() => return,
            };
            let Some(Ok(e)) = entry else {
                // The end, or a broken log: the stream just ends, as docker's.
                return;
            };
            let mut line = Vec::with_capacity(e.line.len() + 40);
            if timestamps {
                line.extend_from_slice(
                    humantime::format_rfc3339_nanos(e.time)
                        .to_string()
                        .as_bytes(),
                );
                line.push(b' ');
            }
            line.extend_from_slice(&e.line);
            let chunk = if tty {
                Bytes::from(line)
            } else {
                let stream = if e.stream == LogStream::Stderr { 2 } else { 1 };
                frame(stream, &line)
            };
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(stream_body(rx));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.docker.raw-stream"),
    );
    Ok(r)
}

/// The fields of docker's `UpdateConfig` Berth applies; any other set to
/// a non-zero value is refused as not implemented, never ignored.
const UPDATABLE: &[&str] = &[
    "Memory",
    "MemorySwap",
    "NanoCpus",
    "CpuShares",
    "PidsLimit",
    "RestartPolicy",
];

/// Whether a JSON value is Go's zero value (docker's CLI sends every
/// field of `Resources`, unset ones as zero).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_zero),
    }
}

/// `POST /containers/{id}/update`: docker's `UpdateConfig` (memory, swap,
/// CPUs, shares, pids limit, restart policy), applied at once to a running
/// container; `{"Warnings": null}`.
pub async fn update(api: &DockerApi, id: &str, mut req: ApiRequest) -> Reply {
    use crate::containers::config::RestartPolicy;
    let body = req.body().await?;
    let body: serde_json::Map<String, Value> = if body.is_empty() {
        Default::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid update body: {e}")))?
    };
    if let Some((key, _)) = body
        .iter()
        .find(|(k, v)| !UPDATABLE.contains(&k.as_str()) && !is_zero(v))
    {
        return Err(ApiError::not_implemented(format!(
            "updating {key} of a container"
        )));
    }
    let int = |key: &str| -> Result<Option<i64>, ApiError> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_i64().map(|n| (n != 0).then_some(n)).ok_or_else(|| {
                ApiError::bad_request(format!("invalid value for {key}: {v}: not an integer"))
            }),
        }
    };
    let update = crate::containers::ops::ResourceUpdate {
        memory: int("Memory")?,
        memory_swap: int("MemorySwap")?,
        cpus: int("NanoCpus")?.map(|n| n as f64 / 1e9),
        cpu_shares: int("CpuShares")?.map(|n| n.max(0) as u64),
        pids_limit: int("PidsLimit")?,
    };
    if let Some(policy) = body.get("RestartPolicy").filter(|p| !is_zero(p)) {
        let name = policy["Name"].as_str().unwrap_or("");
        let retries = policy["MaximumRetryCount"].as_i64().unwrap_or(0);
        let policy = RestartPolicy::checked(name, retries as _)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        api.containers.update_restart_policy(id, policy).await?;
    }
    api.containers.update_resources(id, update).await?;
    json(StatusCode::OK, &json!({ "Warnings": null }))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`:
/// the container's changes as a new image (the containers domain's
/// commit); 201 `{"Id": ...}`. A config body other than empty or `null`
/// is refused (Berth applies `changes` only).
pub async fn commit(api: &DockerApi, mut req: ApiRequest) -> Reply {
    let body = req.body().await?;
    let config: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid commit config: {e}")))?
    };
    if !is_zero(&config) {
        return Err(ApiError::not_implemented(
            "a commit's config body (use changes=)",
        ));
    }
    let container = req
        .query
        .string("container")
        .ok_or_else(|| ApiError::bad_request("container is required"))?;
    let reference = match req.query.string("repo") {
        Some(repo) => match req.query.string("tag") {
            Some(tag) => format!("{repo}:{tag}"),
            None => repo,
        },
        None => String::new(),
    };
    let options = crate::containers::commit::CommitOptions {
        container,
        reference,
        author: req.query.get("author").unwrap_or("").to_string(),
        comment: req.query.get("comment").unwrap_or("").to_string(),
        changes: req.query.all("changes"),
        // docker's default is to pause.
        pause: req.query.get("pause").is_none() || req.query.bool("pause"),
    };
    let id = api.containers.commit(options).await?;
    json(StatusCode::CREATED, &json!({ "Id": id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_stream_and_big_endian_length() {
        assert_eq!(&frame(2, b"hi")[..], &[2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    }
}
