//! The Docker API's HTTP server: HTTP/1.1 on a unix socket (hyper), each
//! connection served with upgrades (attach and exec hijack it), the
//! `/v1.NN` prefix checked against the supported range, then routed to a
//! handler per endpoint. Every answer carries docker's `Api-Version`,
//! `Ostype`, `Docker-Experimental` and `Server` headers.

use super::error::ApiError;
use super::query::Query;
use super::{
    build, containers, events, exec, files, images, networks, stats, system, volumes, DockerApi,
    API_VERSION, MIN_API_VERSION,
};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::UnixListener;

/// A response body: whole, or a stream (logs, waits).
pub type Body = BoxBody<Bytes, std::io::Error>;

/// What a handler answers.
pub type Reply = Result<Response<Body>, ApiError>;

/// The largest request body read whole (create bodies, network configs).
const MAX_BODY: usize = 16 << 20;

/// A request as handlers see it: the path after the version prefix split
/// into segments, the query, the head (with the upgrade a hijacking
/// handler takes) and the body, read at most once.
pub struct ApiRequest {
    pub method: Method,
    pub segments: Vec<String>,
    pub query: Query,
    pub inner: hyper::Request<()>,
    body: Option<Incoming>,
}

impl ApiRequest {
    /// The body as it arrives, for handlers that stream it (import, load,
    /// archive uploads); `None` once taken.
    pub fn take_body(&mut self) -> Option<Incoming> {
        self.body.take()
    }

    /// The body, read whole (at most 16 MiB).
    pub async fn body(&mut self) -> Result<Bytes, ApiError> {
        let Some(body) = self.body.take() else {
            return Ok(Bytes::new());
        };
        http_body_util::Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| ApiError::bad_request(format!("read request body: {e}")))
    }
}

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|e: Infallible| match e {})
        .boxed()
}

/// A body streamed from `rx` until its sender is dropped; the sender sees
/// `closed()` when the client hangs up (hyper drops the body).
pub fn stream_body(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    use tokio_stream::StreamExt;
    let frames = tokio_stream::wrappers::ReceiverStream::new(rx)
        .map(|b| Ok::<_, std::io::Error>(hyper::body::Frame::data(b)));
    http_body_util::StreamBody::new(frames).boxed()
}

/// A JSON answer.
pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Reply {
    let mut body = serde_json::to_vec(value)
        .map_err(|e| ApiError::internal(format!("encode response: {e}")))?;
    body.push(b'\n');
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

/// An empty answer (204 for most actions, 304 for no change).
pub fn empty(status: StatusCode) -> Reply {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = status;
    Ok(r)
}

/// docker's error body.
fn error_response(e: &ApiError) -> Response<Body> {
    let body = serde_json::json!({ "message": e.message }).to_string() + "\n";
    let mut r = Response::new(full(body));
    *r.status_mut() = e.status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Serves the Docker API on `listener` until the task is dropped.
pub async fn serve(api: Arc<DockerApi>, listener: UnixListener) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and the like: keep serving the connections we have.
                tracing::warn!(error = %e, "docker API: accept");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let api = api.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let api = api.clone();
                async move { Ok::<_, Infallible>(handle(api, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "docker API connection");
            }
        });
    }
}

/// A parsed `/vMAJOR.MINOR` prefix.
fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The path without its version prefix, or docker's 400 for a version
/// outside 1.24..=1.41.
pub fn strip_version(path: &str) -> Result<&str, ApiError> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(path);
    };
    let (version, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Ok(path);
    }
    let Some(asked) = parse_version(version) else {
        return Err(ApiError::page_not_found());
    };
    let min = parse_version(MIN_API_VERSION).expect("valid");
    let max = parse_version(API_VERSION).expect("valid");
    if asked < min {
        return Err(ApiError::bad_request(format!(
            "client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    if asked > max {
        return Err(ApiError::bad_request(format!(
            "client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    Ok(tail)
}

/// Percent-decoded path segments.
fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect()
}

async fn handle(api: Arc<DockerApi>, req: hyper::Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let answer = match strip_version(&path) {
        Ok(tail) => {
            let query = Query::parse(req.uri().query());
            let (parts, body) = req.into_parts();
            let request = ApiRequest {
                method: method.clone(),
                segments: segments(tail),
                query,
                inner: hyper::Request::from_parts(parts, ()),
                body: Some(body),
            };
            route(api, request).await
        }
        Err(e) => Err(e),
    };
    let mut response = answer.unwrap_or_else(|e| {
        if e.status.is_server_error() {
            tracing::warn!(%method, %path, error = %e, "docker API");
        } else {
            tracing::debug!(%method, %path, error = %e, "docker API");
        }
        error_response(&e)
    });
    let h = response.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        "Server",
        HeaderValue::from_static(concat!("Berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    response
}

/// The handler of a method and path; docker's 404 `page not found` for
/// anything else.
async fn route(api: Arc<DockerApi>, req: ApiRequest) -> Reply {
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let m = &req.method;
    let get = m == Method::GET;
    let head = m == Method::HEAD;
    let post = m == Method::POST;
    let delete = m == Method::DELETE;
    match segs.as_slice() {
        ["_ping"] if get || head => system::ping(head),
        ["version"] if get => system::version(&api),
        ["info"] if get => system::info(&api).await,
        ["events"] if get => events::events(&api, &req).await,
        ["system", "df"] if get => system::df(&api).await,
        ["containers", "prune"] if post => containers::prune(&api, &req).await,
        ["networks", "prune"] if post => networks::prune(&api, &req).await,
        ["volumes", "prune"] if post => volumes::prune(&api, &req).await,
        ["build"] if post => build::build(&api, req).await,
        ["commit"] if post => containers::commit(&api, req).await,
        ["auth"] if post => system::auth(&api, req).await,
        ["build", "prune"] if post => build::prune(&api, &req).await,
        ["containers", "json"] if get => containers::list(&api, &req).await,
        ["containers", "create"] if post => containers::create(&api, req).await,
        ["containers", id, "json"] if get => containers::inspect(&api, id, &req).await,
        ["containers", id, "start"] if post => containers::start(&api, id).await,
        ["containers", id, "stop"] if post => containers::stop(&api, id, &req).await,
        ["containers", id, "restart"] if post => containers::restart(&api, id, &req).await,
        ["containers", id, "kill"] if post => containers::kill(&api, id, &req).await,
        ["containers", id, "wait"] if post => containers::wait(&api, id, &req).await,
        ["containers", id] if delete => containers::remove(&api, id, &req).await,
        ["containers", id, "logs"] if get => containers::logs(&api, id, &req).await,
        ["containers", id, "rename"] if post => containers::rename(&api, id, &req).await,
        ["containers", id, "pause"] if post => containers::pause(&api, id).await,
        ["containers", id, "unpause"] if post => containers::unpause(&api, id).await,
        ["containers", id, "top"] if get => containers::top(&api, id, &req).await,
        ["containers", id, "resize"] if post => containers::resize(&api, id, &req).await,
        ["containers", id, "stats"] if get => stats::stats(&api, id, &req).await,
        ["containers", id, "changes"] if get => files::changes(&api, id).await,
        ["containers", id, "export"] if get => files::export(&api, id).await,
        ["containers", id, "archive"] if get => files::archive_get(&api, id, &req).await,
        ["containers", id, "archive"] if head => files::archive_head(&api, id, &req).await,
        ["containers", id, "archive"] if m == Method::PUT => {
            let id = id.to_string();
            files::archive_put(&api, &id, req).await
        }
        ["containers", id, "update"] if post => {
            let id = id.to_string();
            containers::update(&api, &id, req).await
        }
        ["containers", id, "attach"] if post => {
            let id = id.to_string();
            super::hijack::attach(api, &id, req).await
        }
        ["containers", id, "exec"] if post => {
            let id = id.to_string();
            exec::create(&api, &id, req).await
        }
        ["exec", id, "start"] if post => {
            let id = id.to_string();
            exec::start(api, &id, req).await
        }
        ["exec", id, "json"] if get => exec::inspect(&api, id),
        ["exec", id, "resize"] if post => exec::resize(&api, id, &req).await,
        ["images", "json"] if get => images::list(&api, &req).await,
        ["images", "create"] if post => images::create(&api, req).await,
        ["images", "load"] if post => images::load(&api, req).await,
        ["images", "get"] if get => images::get(&api, req.query.all("names")).await,
        ["images", "search"] if get => images::search(&req),
        ["images", "prune"] if post => images::prune(&api, &req).await,
        ["images", name @ .., "json"] if get && !name.is_empty() => {
            images::inspect(&api, &name.join("/")).await
        }
        ["images", name @ .., "history"] if get && !name.is_empty() => {
            images::history(&api, &name.join("/")).await
        }
        ["images", name @ .., "push"] if post && !name.is_empty() => {
            let name = name.join("/");
            images::push(&api, &name, &req).await
        }
        ["images", name @ .., "get"] if get && !name.is_empty() => {
            images::get(&api, vec![name.join("/")]).await
        }
        ["images", name @ .., "tag"] if post && !name.is_empty() => {
            let name = name.join("/");
            images::tag(&api, &name, &req).await
        }
        ["images", name @ ..] if delete && !name.is_empty() => {
            let name = name.join("/");
            images::remove(&api, &name, &req).await
        }
        ["networks"] if get => networks::list(&api, &req).await,
        ["networks", "create"] if post => networks::create(&api, req).await,
        ["networks", id] if get && *id != "prune" => networks::inspect(&api, id).await,
        ["networks", id] if delete => networks::remove(&api, id).await,
        ["networks", id, "connect"] if post => {
            let id = id.to_string();
            networks::connect(&api, &id, req).await
        }
        ["networks", id, "disconnect"] if post => {
            let id = id.to_string();
            networks::disconnect(&api, &id, req).await
        }
        ["volumes"] if get => volumes::list(&api, &req).await,
        ["volumes", "create"] if post => volumes::create(&api, req).await,
        ["volumes", name] if get && *name != "prune" => volumes::inspect(&api, name).await,
        ["volumes", name] if delete => volumes::remove(&api, name, &req).await,
        // What docker serves and Berth does not yet: said so, not 404.
        ["images" | "networks" | "volumes" | "build" | "commit" | "events" | "auth" | "system", what, ..] => {
            Err(ApiError::not_implemented(format!(
                "the Docker API's {} endpoint ({})",
                req.inner.uri().path(),
                what
            )))
        }
        [what @ ("images" | "networks" | "volumes" | "build" | "commit" | "events" | "auth"
        | "system")] => Err(ApiError::not_implemented(format!(
            "the Docker API's /{what} endpoint"
        ))),
        _ => Err(ApiError::page_not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefixes_in_range_are_stripped_and_others_refused() {
        assert_eq!(
            strip_version("/v1.41/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(strip_version("/v1.24/_ping").unwrap(), "/_ping");
        assert_eq!(
            strip_version("/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(strip_version("/volumes").unwrap(), "/volumes");
        let old = strip_version("/v1.12/info").unwrap_err();
        assert_eq!(old.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            old.message,
            "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"
        );
        let new = strip_version("/v1.99/info").unwrap_err();
        assert_eq!(
            new.message,
            "client version 1.99 is too new. Maximum supported API version is 1.41"
        );
        assert_eq!(
            segments("/containers/a%2Fb/json"),
            vec!["containers", "a/b", "json"]
        );
    }
}
