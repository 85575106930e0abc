//! `POST /build` and `POST /build/prune` over the builder domain
//! ([`BuildService`], the same `berth build` uses through gRPC).
//!
//! The classic builder's API (no BuildKit session is advertised by
//! `/_ping`): the body is the context tar, the query carries docker's
//! options (`t`, `dockerfile`, `buildargs`, `target`, `nocache`, `pull`,
//! `labels`, `networkmode`, `extrahosts`, `platform`, `q`), registry
//! credentials come in `X-Registry-Config`. The answer is docker's JSON
//! stream: each step's line and output as `{"stream": ...}` (the
//! builder's steps in BuildKit's plain form, `#N [k/n] INSTR`), then
//! `{"aux":{"ID":...}}`, `Successfully built SHORTID` and `Successfully
//! tagged NAME` (docker-py and docker-compose read the image from those),
//! or docker's error message. A client that hangs up cancels the build.
//!
//! [`BuildService`]: crate::builder::BuildService

use super::error::ApiError;
use super::progress::{self, json_stream, line};
use super::server::{json, ApiRequest, Reply};
use super::DockerApi;
use crate::builder::{BuildError, BuildEvent, BuildOptions, BuildProgress};
use crate::images::layer::ChannelReader;
use crate::registry::auth::Credentials;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io;
use tokio::sync::mpsc;

/// A JSON-object query parameter (`buildargs`, `labels`): string values;
/// a null build-arg takes its value from the environment, which a daemon
/// does not have: it is left out, as dockerd does.
fn json_map(req: &ApiRequest, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(raw) = req.query.string(key) else {
        return Ok(BTreeMap::new());
    };
    let map: BTreeMap<String, Option<String>> = serde_json::from_str(&raw)
        .map_err(|e| ApiError::bad_request(format!("invalid {key} {raw:?}: {e}")))?;
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

/// docker's `X-Registry-Config`: base64 JSON of credentials by registry.
fn registry_config(req: &ApiRequest) -> BTreeMap<String, Credentials> {
    use base64::Engine as _;
    let Some(text) = req
        .inner
        .headers()
        .get("X-Registry-Config")
        .and_then(|v| v.to_str().ok())
    else {
        return BTreeMap::new();
    };
    let text = text.trim().trim_end_matches('=');
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
    else {
        return BTreeMap::new();
    };
    let map: BTreeMap<String, Value> = serde_json::from_slice(&bytes).unwrap_or_default();
    map.into_iter()
        .map(|(host, a)| {
            let field = |k: &str| a[k].as_str().unwrap_or("").to_string();
            (
                host,
                Credentials {
                    username: field("username"),
                    password: field("password"),
                    identity_token: field("identitytoken"),
                },
            )
        })
        .collect()
}

/// The build's options from docker's query.
fn options(req: &ApiRequest) -> Result<BuildOptions, ApiError> {
    if let Some(remote) = req.query.string("remote") {
        return Err(ApiError::not_implemented(format!(
            "building from a remote context ({remote}): send the context as the body"
        )));
    }
    let network = match req.query.string("networkmode").as_deref() {
        None | Some("default") => String::new(),
        Some(n) => n.to_string(),
    };
    Ok(BuildOptions {
        tags: req
            .query
            .all("t")
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect(),
        dockerfile: req.query.string("dockerfile").unwrap_or_default(),
        dockerfile_content: None,
        build_args: json_map(req, "buildargs")?,
        target: req.query.string("target"),
        no_cache: req.query.bool("nocache"),
        pull: req.query.bool("pull"),
        labels: json_map(req, "labels")?,
        network,
        extra_hosts: req
            .query
            .all("extrahosts")
            .iter()
            .flat_map(|h| h.split(','))
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect(),
        secrets: BTreeMap::new(),
        platform: req.query.string("platform"),
        credentials: registry_config(req),
    })
}

/// The stream text of one builder report (none for `quiet`).
fn event_text(e: &BuildEvent) -> Option<String> {
    match e {
        BuildEvent::Started { vertex, name } => Some(format!("#{vertex} {name}\n")),
        BuildEvent::Log { data, .. } => Some(String::from_utf8_lossy(data).into_owned()),
        BuildEvent::Completed {
            vertex,
            cached: true,
            ..
        } => Some(format!("#{vertex} CACHED\n")),
        BuildEvent::Completed {
            vertex,
            error: Some(error),
            ..
        } => Some(format!("#{vertex} ERROR: {error}\n")),
        BuildEvent::Completed {
            vertex, seconds, ..
        } => Some(format!("#{vertex} DONE {seconds:.1}s\n")),
        BuildEvent::Message(m) => Some(format!("{m}\n")),
    }
}

/// `POST /build`.
pub async fn build(api: &DockerApi, mut req: ApiRequest) -> Reply {
    let options = options(&req)?;
    let quiet = req.query.bool("q");
    let (data_tx, data_rx) = mpsc::channel::<io::Result<Bytes>>(16);
    let body = req.take_body();
    let forward = tokio::spawn(async move {
        let Some(mut body) = body else { return };
        while let Some(frame) = body.frame().await {
            let item = match frame {
                Ok(f) => match f.into_data() {
                    Ok(d) => Ok(d),
                    Err(_) => continue,
                },
                Err(e) => Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    format!("read the build context: {e}"),
                )),
            };
            let stop = item.is_err();
            if data_tx.send(item).await.is_err() || stop {
                return;
            }
        }
    });
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let builder = api.builder.clone();
    tokio::spawn(async move {
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
        let build = builder.build(
            options,
            Box::new(ChannelReader::new(data_rx)),
            BuildProgress::new(ev_tx),
        );
        tokio::pin!(build);
        let send_event = |e: BuildEvent| {
            let text = (!quiet).then(|| event_text(&e)).flatten();
            text.map(|t| line(&json!({ "stream": t })))
        };
        let result = loop {
            tokio::select! {
                biased;
                Some(ev) = ev_rx.recv() => {
                    if let Some(l) = send_event(ev) {
                        if tx.send(l).await.is_err() {
                            // The client went: dropping the build cancels it.
                            forward.abort();
                            return;
                        }
                    }
                }
                r = &mut build => break r,
                () = tx.closed() => {
                    forward.abort();
                    return;
                }
            }
        };
        forward.abort();
        while let Ok(ev) = ev_rx.try_recv() {
            if let Some(l) = send_event(ev) {
                let _ = tx.send(l).await;
            }
        }
        let lines = match result {
            Ok(out) => {
                let short = berth_docker::short_id::short_id(&out.image_id);
                let mut lines = vec![json!({ "aux": { "ID": out.image_id } })];
                if quiet {
                    // dockerd's quiet answer: the id alone (the CLI prints it).
                    lines.push(json!({ "stream": format!("{}\n", out.image_id) }));
                } else {
                    lines.push(json!({ "stream": format!("Successfully built {short}\n") }));
                    for t in &out.tags {
                        lines.push(json!({ "stream": format!(
                            "Successfully tagged {}\n",
                            berth_docker::reference::familiar(t)
                        ) }));
                    }
                }
                lines
            }
            Err(e) => {
                tracing::info!(error = %e, "docker API build failed");
                vec![progress::error(&e.to_string())]
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

/// `POST /build/prune?all=`: the builder's cache entries no image holds
/// (every one with `all`), and the space their layers took.
pub async fn prune(api: &DockerApi, req: &ApiRequest) -> Reply {
    let all = req.query.bool("all");
    let (removed, freed) = api.builder.prune(all).await.map_err(ApiError::from)?;
    json(
        StatusCode::OK,
        &json!({
            "CachesDeleted": if removed.is_empty() { Value::Null } else { json!(removed) },
            "SpaceReclaimed": freed,
        }),
    )
}

impl From<BuildError> for ApiError {
    /// docker's status of a build failing before its stream began.
    fn from(e: BuildError) -> ApiError {
        let status = match e.root_cause() {
            BuildError::Dockerfile(_)
            | BuildError::Invalid(_)
            | BuildError::SourceNotFound(_)
            | BuildError::Context(_) => StatusCode::BAD_REQUEST,
            BuildError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}
