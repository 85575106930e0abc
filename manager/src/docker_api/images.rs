//! `/images/...` over the images domain ([`ImageService`]): list, inspect
//! (the object `berth image inspect` prints, [`ImageDetail::docker_inspect`]),
//! history, create (pull from a registry, import from the body), push,
//! tag, delete, get/load (tarballs), search and prune. Pull, push, import
//! and load answer with docker's JSON progress stream ([`super::progress`]).
//!
//! [`ImageDetail::docker_inspect`]: crate::images::ImageDetail::docker_inspect

use super::error::ApiError;
use super::progress::{self, json_stream, line, status};
use super::server::{empty, json, ApiRequest, Reply};
use super::DockerApi;
use crate::images::filter::ImageFilters;
use crate::images::import::ImportOptions;
use crate::images::layer::ChannelReader;
use crate::images::save::ArchiveFormat;
use crate::images::{ImageError, ImageService, Removed};
use crate::registry::auth::Credentials;
use berth_docker::reference::familiar;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

async fn blocking<T: Send + 'static>(
    service: &Arc<ImageService>,
    f: impl FnOnce(&ImageService) -> Result<T, ImageError> + Send + 'static,
) -> Result<T, ApiError> {
    let service = service.clone();
    tokio::task::spawn_blocking(move || f(&service))
        .await
        .map_err(|e| ApiError::internal(format!("background job: {e}")))?
        .map_err(ApiError::from)
}

/// `GET /images/json?filters=`: docker's `ImageSummary`, one per image
/// id with all its tags, newest first.
pub async fn list(api: &DockerApi, req: &ApiRequest) -> Reply {
    json(StatusCode::OK, &summaries(api, req.query.filters()?).await?)
}

/// docker's `ImageSummary` rows, one per image id with all its tags,
/// newest first: `/images/json` and `/system/df`.
pub async fn summaries(
    api: &DockerApi,
    filters: BTreeMap<String, Vec<String>>,
) -> Result<Vec<Value>, ApiError> {
    let filters: Vec<String> = filters
        .into_iter()
        .flat_map(|(k, vs)| vs.into_iter().map(move |v| format!("{k}={v}")))
        .collect();
    let list = blocking(&api.images, move |s| {
        s.list(None, &ImageFilters::parse(&filters)?)
    })
    .await?;
    let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
    for s in &list {
        let id = s.resolved.id();
        let entry = by_id.entry(id.clone()).or_insert_with(|| {
            let config: Value =
                serde_json::from_slice(&s.resolved.config_bytes).unwrap_or_default();
            let created = s
                .resolved
                .config
                .created
                .as_deref()
                .and_then(|c| humantime::parse_rfc3339_weak(c).ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            json!({
                "Containers": -1,
                "Created": created,
                "Id": id,
                "Labels": config["config"]["Labels"],
                "ParentId": "",
                "RepoDigests": [],
                "RepoTags": [],
                "SharedSize": -1,
                "Size": s.size,
                "VirtualSize": s.size,
            })
        });
        if !s.name.is_empty() {
            entry["RepoTags"]
                .as_array_mut()
                .expect("array")
                .push(json!(s.name));
        }
        for d in &s.repo_digests {
            let digests = entry["RepoDigests"].as_array_mut().expect("array");
            if !digests.contains(&json!(d)) {
                digests.push(json!(d));
            }
        }
    }
    let mut rows: Vec<Value> = by_id.into_values().collect();
    for row in &mut rows {
        // docker 20.10: a nil slice (null) when the image has no digest,
        // `<none>` placeholders for a dangling image.
        let no_tags = row["RepoTags"].as_array().is_some_and(Vec::is_empty);
        let no_digests = row["RepoDigests"].as_array().is_some_and(Vec::is_empty);
        if no_tags && no_digests {
            row["RepoTags"] = json!(["<none>:<none>"]);
            row["RepoDigests"] = json!(["<none>@<none>"]);
        } else if no_digests {
            row["RepoDigests"] = Value::Null;
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r["Created"].as_i64().unwrap_or(0)));
    Ok(rows)
}

/// `POST /images/{name}/tag?repo=&tag=`.
pub async fn tag(api: &DockerApi, name: &str, req: &ApiRequest) -> Reply {
    let repo = req
        .query
        .string("repo")
        .ok_or_else(|| ApiError::bad_request("repository name must have at least one component"))?;
    let target = match req.query.string("tag") {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo,
    };
    let source = name.to_string();
    blocking(&api.images, move |s| s.tag(&source, &target)).await?;
    empty(StatusCode::CREATED)
}

/// `DELETE /images/{name}?force=&noprune=`: docker's list of what was
/// untagged and deleted.
pub async fn remove(api: &DockerApi, name: &str, req: &ApiRequest) -> Reply {
    let items = api
        .images
        .remove(name, req.query.bool("force"), !req.query.bool("noprune"))
        .await?;
    let items: Vec<Value> = items
        .into_iter()
        .map(|r| match r {
            Removed::Untagged(s) => json!({ "Untagged": s }),
            Removed::Deleted(s) => json!({ "Deleted": s }),
        })
        .collect();
    json(StatusCode::OK, &items)
}

/// `GET /images/{name}/json`: docker's `ImageInspect`, `ContainerConfig`
/// included (docker-compose reads it).
pub async fn inspect(api: &DockerApi, name: &str) -> Reply {
    let name = name.to_string();
    let detail = blocking(&api.images, move |s| s.inspect(&name)).await?;
    json(StatusCode::OK, &detail.docker_inspect())
}

/// `GET /images/{name}/history`: docker's rows, newest first.
pub async fn history(api: &DockerApi, name: &str) -> Reply {
    let name = name.to_string();
    let detail = blocking(&api.images, move |s| s.inspect(&name)).await?;
    json(StatusCode::OK, &detail.docker_history())
}

/// The credentials of docker's `X-Registry-Auth` header (base64url of
/// `{"username", "password", "identitytoken", ...}`; none when absent or
/// empty, as dockerd ignores an unreadable one).
fn registry_auth(req: &ApiRequest) -> Credentials {
    use base64::Engine as _;
    let Some(text) = req
        .inner
        .headers()
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
    else {
        return Credentials::default();
    };
    let text = text.trim().trim_end_matches('=');
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
    else {
        return Credentials::default();
    };
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let field = |k: &str| v[k].as_str().unwrap_or("").to_string();
    Credentials {
        username: field("username"),
        password: field("password"),
        identity_token: field("identitytoken"),
    }
}

/// `name` with docker's `tag` parameter: `name:tag`, or `name@tag` for a
/// digest.
fn with_tag(name: &str, tag: Option<&str>) -> String {
    match tag {
        Some(t) if t.contains(':') => format!("{name}@{t}"),
        Some(t) => format!("{name}:{t}"),
        None => name.to_string(),
    }
}

/// Whether the last path component of `name` carries a tag or digest (a
/// registry's port, `127.0.0.1:5000/x`, is not a tag).
fn has_tag(name: &str) -> bool {
    name.contains('@') || name.rsplit('/').next().is_some_and(|l| l.contains(':'))
}

/// `POST /images/create`: `fromImage` pulls from its registry, `fromSrc=-`
/// imports the body's tarball as a one-layer image.
pub async fn create(api: &DockerApi, mut req: ApiRequest) -> Reply {
    if let Some(image) = req.query.string("fromImage") {
        return pull(api, &image, &req).await;
    }
    match req.query.string("fromSrc").as_deref() {
        Some("-") => import(api, &mut req).await,
        Some(url) => Err(ApiError::not_implemented(format!(
            "importing an image from a URL ({url}): send the tarball as the body"
        ))),
        None => Err(ApiError::bad_request(
            "one of fromImage or fromSrc is required",
        )),
    }
}

async fn pull(api: &DockerApi, image: &str, req: &ApiRequest) -> Reply {
    let tag = req.query.string("tag");
    if tag.is_none() && !has_tag(image) {
        return Err(ApiError::not_implemented(
            "pulling every tag of a repository (docker pull --all-tags)",
        ));
    }
    let reference = with_tag(image, tag.as_deref());
    let platform = req.query.string("platform");
    let creds = registry_auth(req);
    let images = api.images.clone();
    tracing::info!(%reference, "docker API pull");
    progress::transfer(
        move |sink| async move {
            images
                .pull(&reference, platform.as_deref(), creds, sink)
                .await
        },
        |done| {
            let shown = familiar(&done.reference);
            vec![
                status(format!("Digest: {}", done.digest)),
                status(if done.updated {
                    format!("Status: Downloaded newer image for {shown}")
                } else {
                    format!("Status: Image is up to date for {shown}")
                }),
            ]
        },
    )
    .await
}

/// Feeds the request body to a blocking reader (import reads it as it
/// comes, never whole in memory).
fn body_reader(req: &mut ApiRequest) -> (ChannelReader, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(16);
    let mut body = req.take_body();
    let forward = tokio::spawn(async move {
        let Some(body) = body.as_mut() else { return };
        while let Some(frame) = body.frame().await {
            let item = match frame {
                Ok(f) => match f.into_data() {
                    Ok(d) => Ok(d),
                    Err(_) => continue,
                },
                Err(e) => Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    format!("read request body: {e}"),
                )),
            };
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                break;
            }
        }
    });
    (ChannelReader::new(rx), forward)
}

async fn import(api: &DockerApi, req: &mut ApiRequest) -> Reply {
    let reference = req
        .query
        .string("repo")
        .map(|repo| with_tag(&repo, req.query.string("tag").as_deref()));
    let options = ImportOptions {
        reference,
        message: req.query.get("message").unwrap_or("").to_string(),
        changes: req.query.all("changes"),
        platform: req.query.string("platform"),
    };
    let (mut reader, forward) = body_reader(req);
    let id = blocking(&api.images, move |s| {
        s.import_blocking(&mut reader, &options)
    })
    .await;
    forward.abort();
    let id = id?;
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.send(line(&status(id))).await;
    Ok(json_stream(rx))
}

/// `POST /images/{name}/push?tag=`: docker's progress, then the
/// `TAG: digest: D size: N` line and its `aux` record.
pub async fn push(api: &DockerApi, name: &str, req: &ApiRequest) -> Reply {
    let tag = req.query.string("tag");
    if tag.is_none() && !has_tag(name) {
        return Err(ApiError::not_implemented(
            "pushing every tag of a repository (docker push --all-tags)",
        ));
    }
    let reference = with_tag(name, tag.as_deref());
    let parsed = berth_docker::reference::Reference::parse(&reference)
        .map_err(|e| ApiError::from(ImageError::from(e)))?;
    let shown_tag = parsed.tag.clone().unwrap_or_else(|| "latest".into());
    // dockerd names the repository, then finds no such tag: a stream
    // error, not an HTTP one.
    let full = parsed.to_string();
    let exists = blocking(&api.images, move |s| match s.lookup(&full) {
        Ok(found) => Ok(found.name.is_some()),
        Err(ImageError::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    })
    .await?;
    if !exists {
        let (tx, rx) = mpsc::channel(2);
        let _ = tx.try_send(line(&status(format!(
            "The push refers to repository [{}]",
            parsed.familiar_repository()
        ))));
        let _ = tx.try_send(line(&progress::error(&format!(
            "tag does not exist: {}",
            parsed.familiar()
        ))));
        return Ok(json_stream(rx));
    }
    let creds = registry_auth(req);
    let images = api.images.clone();
    tracing::info!(%reference, "docker API push");
    progress::transfer(
        move |sink| async move { images.push(&reference, None, creds, sink).await },
        move |done| {
            vec![
                status(format!(
                    "{shown_tag}: digest: {} size: {}",
                    done.digest, done.size
                )),
                json!({
                    "progressDetail": {},
                    "aux": {"Tag": shown_tag, "Digest": done.digest, "Size": done.size},
                }),
            ]
        },
    )
    .await
}

/// Sends what is written as body chunks (from a blocking thread).
struct ChunkWriter {
    tx: mpsc::Sender<Bytes>,
}

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `GET /images/{name}/get` and `GET /images/get?names=...`: a
/// docker-archive tarball streamed as it is written. Every name is
/// resolved before the first byte (a missing one is a 404).
pub async fn get(api: &DockerApi, names: Vec<String>) -> Reply {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    let set = blocking(&api.images, move |s| s.prepare_save(&names)).await?;
    let (tx, rx) = mpsc::channel(4);
    let images = api.images.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = io::BufWriter::with_capacity(1 << 20, ChunkWriter { tx });
        let result = images
            .write_archive(&set, ArchiveFormat::DockerArchive, &mut out)
            .and_then(|()| {
                out.flush().map_err(|source| ImageError::Io {
                    op: "write archive",
                    path: "<response>".into(),
                    source,
                })
            });
        // A failure mid-archive can only cut the body short: the client
        // sees a truncated tarball, as with dockerd.
        if let Err(e) = result {
            tracing::warn!(error = %e, "docker API image get");
        }
    });
    let mut r = Response::new(super::server::stream_body(rx));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    Ok(r)
}

/// `POST /images/load?quiet=`: the body (a docker-archive or OCI layout
/// tarball) spooled to a file, loaded, then docker's `Loaded image: NAME`
/// lines as `{"stream": ...}` messages.
pub async fn load(api: &DockerApi, mut req: ApiRequest) -> Reply {
    let path = api
        .images
        .tmp_dir
        .join(format!("load-{}.tar", crate::images::random_hex()));
    let mut body = req.take_body();
    let spool = async {
        let mut file = tokio::fs::File::create(&path).await?;
        if let Some(body) = body.as_mut() {
            while let Some(frame) = body.frame().await {
                let frame =
                    frame.map_err(|e| io::Error::new(io::ErrorKind::ConnectionAborted, e))?;
                if let Ok(data) = frame.into_data() {
                    file.write_all(&data).await?;
                }
            }
        }
        file.flush().await
    };
    if let Err(source) = spool.await {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(ApiError::from(ImageError::Io {
            op: "spool archive",
            path,
            source,
        }));
    }
    let p = path.clone();
    let loaded = blocking(&api.images, move |s| s.load_archive(&p)).await;
    let _ = tokio::fs::remove_file(&path).await;
    let (tx, rx) = mpsc::channel(64);
    for l in loaded? {
        if tx
            .try_send(line(&json!({ "stream": format!("{l}\n") })))
            .is_err()
        {
            break;
        }
    }
    Ok(json_stream(rx))
}

/// `GET /images/search`: Berth has no index server (docker.io's is
/// unreachable and no other is configured), so it says so, as dockerd
/// does when its index cannot be reached.
pub fn search(req: &ApiRequest) -> Reply {
    let term = req.query.get("term").unwrap_or("");
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "search {term:?}: no registry index is configured (Berth searches no index; \
             a registry's /v2/_catalog lists its repositories)"
        ),
    ))
}

/// `POST /images/prune?filters=`: dangling images, or every unused one
/// with `dangling=false`; docker's `ImagesDeleted` and `SpaceReclaimed`.
pub async fn prune(api: &DockerApi, req: &ApiRequest) -> Reply {
    let filters = req.query.filters()?;
    let mut all = false;
    for (key, values) in &filters {
        match key.as_str() {
            "dangling" => {
                all = values
                    .iter()
                    .any(|v| matches!(v.to_ascii_lowercase().as_str(), "false" | "0"))
            }
            other => {
                return Err(ApiError::not_implemented(format!(
                    "the image prune filter {other:?}"
                )))
            }
        }
    }
    let (items, freed) = api.images.prune(all).await?;
    let deleted: Vec<Value> = items
        .into_iter()
        .map(|r| match r {
            Removed::Untagged(s) => json!({ "Untagged": s }),
            Removed::Deleted(s) => json!({ "Deleted": s }),
        })
        .collect();
    json(
        StatusCode::OK,
        &json!({
            "ImagesDeleted": if deleted.is_empty() { Value::Null } else { Value::Array(deleted) },
            "SpaceReclaimed": freed,
        }),
    )
}
