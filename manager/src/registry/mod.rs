//! A client for the OCI distribution API (Docker Registry HTTP API v2):
//! manifests and blobs by digest, resumable blob downloads with `Range`,
//! uploads with cross-repository mounts, and anonymous, basic and bearer
//! token authentication ([`auth`]).
//!
//! Registries are spoken to over HTTPS with verified certificates, except:
//! * `localhost` and loopback addresses: plain HTTP;
//! * hosts the daemon config names insecure (docker's `insecure-registries`):
//!   HTTPS first, without certificate verification, and plain HTTP when the
//!   HTTPS attempt fails below HTTP (no TLS, refused, handshake error), as
//!   docker's `lookupV2Endpoints` orders them. The first request of a
//!   session settles which one is used for the rest of it.
//!
//! No registry can hold a connection of berthd for as long as it likes
//! ([`RegistryTimeouts`], daemon.json `registry-timeouts`): connecting (TCP
//! and TLS handshake) is bounded as docker's dialer is, the response headers
//! must come within a bound, and every body (manifest, token, blob) is read
//! through [`GuardedBody`], which fails a body that goes silent (`read`) or
//! that trickles (`stall`: less than [`STALL_MIN_RATE`] bytes a second over a
//! whole window, curl's `--speed-limit`/`--speed-time`), so a registry that
//! drips one byte at a time fails the pull with a timeout error instead of
//! holding it for hours.
//!
//! Spec: <https://github.com/opencontainers/distribution-spec/blob/main/spec.md>.

pub mod auth;

use auth::{parse_challenge, Challenge, Credentials, TokenResponse};
use berth_docker::manifest::{self, ACCEPTED_MANIFESTS};
use berth_docker::reference::Reference;
use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RANGE};
use reqwest::{Method, StatusCode};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

/// Largest manifest or index accepted (containerd's limit is 4 MiB).
pub const MAX_MANIFEST_SIZE: usize = 8 << 20;

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{method} {url}: {reason}")]
    Http {
        method: Method,
        url: String,
        reason: String,
    },
    #[error("{method} {url}: unexpected status {status}: {body}")]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("{what} not found in {url}: {body}")]
    NotFound {
        what: String,
        url: String,
        body: String,
    },
    /// A manifest the registry does not have, worded as docker's pull
    /// words it: `manifest for REF not found: manifest unknown: manifest
    /// unknown` (the registry's error code, then its message).
    #[error("manifest for {reference} not found: {errors}")]
    ManifestUnknown { reference: String, errors: String },
    #[error("authentication to {url} failed: {reason}")]
    Unauthorized { url: String, reason: String },
    #[error("manifest {reference} is larger than {MAX_MANIFEST_SIZE} bytes")]
    ManifestTooLarge { reference: String },
    #[error("manifest {reference} from {url} has digest {actual}, expected {expected}")]
    ManifestDigestMismatch {
        reference: String,
        url: String,
        expected: String,
        actual: String,
    },
    #[error("registry {url} gave no upload location")]
    NoUploadLocation { url: String },
    #[error("invalid registry url {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("{method} {url}: timed out: {reason}")]
    Timeout {
        method: Method,
        url: String,
        reason: String,
    },
}

/// Slowest body accepted, in bytes per second averaged over a `stall`
/// window (a registry that drips bytes, or a link too slow to finish a pull
/// in any useful time).
pub const STALL_MIN_RATE: u64 = 1024;

/// The bounds on every registry connection, in seconds (daemon.json
/// `registry-timeouts`; every key optional). Docker's registry transport
/// dials with a 30 s timeout and gives TLS handshakes 10 s; reqwest bounds
/// the two as one connect phase, so `connect` covers both. Docker has no
/// bound on a body: a stalled registry held its pulls forever (issue 13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RegistryTimeouts {
    /// TCP connect and TLS handshake.
    pub connect: u64,
    /// From sending a request to its response headers (a registry or
    /// token server that accepts and never answers).
    pub response: u64,
    /// Longest silence inside a body.
    pub read: u64,
    /// The window over which a body must average [`STALL_MIN_RATE`].
    pub stall: u64,
}

impl Default for RegistryTimeouts {
    fn default() -> Self {
        RegistryTimeouts {
            connect: 30,
            response: 120,
            read: 60,
            stall: 60,
        }
    }
}

impl RegistryTimeouts {
    fn secs(n: u64) -> Duration {
        // 0 would fail every request at once: the least is one second.
        Duration::from_secs(n.max(1))
    }
}

/// Settings shared by every registry connection of the daemon.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// Hosts (`host[:port]` or `host`) whose TLS is not verified and that
    /// may fall back to plain HTTP.
    pub insecure: Vec<String>,
    /// Bounds on connecting, waiting and reading.
    pub timeouts: RegistryTimeouts,
}

/// How a registry host is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS with verified certificates.
    Https,
    /// Plain HTTP only (loopback).
    Http,
    /// HTTPS without verification, else plain HTTP (insecure registries).
    HttpsThenHttp,
}

impl RegistryConfig {
    /// How `host` is reached: plain HTTP for loopback, HTTPS then HTTP
    /// for insecure hosts, verified HTTPS for the rest.
    pub fn transport(&self, host: &str) -> Transport {
        let name = host_without_port(host);
        let loopback = name == "localhost"
            || name == "::1"
            || name.starts_with("127.")
            || name.ends_with(".localhost");
        if loopback {
            Transport::Http
        } else if self.insecure.iter().any(|h| h == host || h == name) {
            Transport::HttpsThenHttp
        } else {
            Transport::Https
        }
    }
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// How requests of a session are authorised.
#[derive(Debug, Clone, Default)]
enum Authorization {
    #[default]
    Anonymous,
    Basic(String),
    Bearer(String),
}

/// A connection to one repository of one registry, with the credentials and
/// token that go with it. Cheap to share between the tasks of one pull.
pub struct Repository {
    http: reqwest::Client,
    /// `host[:port]`.
    host: String,
    transport: Transport,
    /// Set once an HTTPS attempt to an insecure host failed: the session
    /// speaks plain HTTP from then on.
    fell_back: std::sync::atomic::AtomicBool,
    /// Set once HTTPS answered: a later transport error (a dropped
    /// connection) is then an error, not a reason to fall back.
    https_answered: std::sync::atomic::AtomicBool,
    timeouts: RegistryTimeouts,
    /// Repository path (`library/busybox`).
    pub name: String,
    credentials: Credentials,
    /// Token scopes asked for (`repository:NAME:pull`, ...).
    scopes: Mutex<BTreeSet<String>>,
    authorization: Mutex<Authorization>,
}

/// A manifest as fetched: its bytes, media type and digest.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub media_type: String,
    pub digest: String,
    pub bytes: Bytes,
}

/// The client for insecure registries: certificates are not verified
/// (one per daemon, built on first use with the daemon's timeouts).
fn insecure_http_client(timeouts: &RegistryTimeouts) -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        client_builder(timeouts)
            .danger_accept_invalid_certs(true)
            .build()
            .expect("build http client")
    })
}

fn client_builder(timeouts: &RegistryTimeouts) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(RegistryTimeouts::secs(timeouts.connect))
        // Below hyper as well as in GuardedBody: a read that never returns
        // (headers included) ends.
        .read_timeout(RegistryTimeouts::secs(timeouts.read))
        .pool_idle_timeout(Duration::from_secs(30))
}

/// Builds the daemon's HTTP client (one per daemon, connections pooled).
pub fn http_client(timeouts: &RegistryTimeouts) -> reqwest::Client {
    client_builder(timeouts).build().expect("build http client")
}

impl Repository {
    /// A session for the repository of `reference`, asking for `actions`
    /// (`pull`, or `pull,push`).
    pub fn new(
        http: reqwest::Client,
        config: &RegistryConfig,
        reference: &Reference,
        credentials: Credentials,
        actions: &str,
    ) -> Repository {
        Self::for_host(
            http,
            config,
            reference.api_host(),
            &reference.path,
            credentials,
            actions,
        )
    }

    /// A session for repository `name` on `host`.
    pub fn for_host(
        http: reqwest::Client,
        config: &RegistryConfig,
        host: &str,
        name: &str,
        credentials: Credentials,
        actions: &str,
    ) -> Repository {
        let mut scopes = BTreeSet::new();
        if !name.is_empty() {
            scopes.insert(format!("repository:{name}:{actions}"));
        }
        Repository {
            http,
            host: host.to_string(),
            transport: config.transport(host),
            fell_back: std::sync::atomic::AtomicBool::new(false),
            https_answered: std::sync::atomic::AtomicBool::new(false),
            timeouts: config.timeouts,
            name: name.to_string(),
            credentials,
            scopes: Mutex::new(scopes),
            authorization: Mutex::new(Authorization::Anonymous),
        }
    }

    /// The registry's base URL as things stand (`https://host` until an
    /// insecure host fell back to `http://host`).
    pub fn base_url(&self) -> String {
        let plain = self.transport == Transport::Http
            || self.fell_back.load(std::sync::atomic::Ordering::SeqCst);
        format!("{}://{}", if plain { "http" } else { "https" }, self.host)
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{}", self.base_url(), self.name, tail)
    }

    /// The client for this host: one that skips certificate checks for an
    /// insecure host (docker's `InsecureSkipVerify` for those).
    fn client(&self) -> &reqwest::Client {
        if self.transport == Transport::HttpsThenHttp {
            insecure_http_client(&self.timeouts)
        } else {
            &self.http
        }
    }

    /// After an HTTPS request to an insecure host failed below HTTP:
    /// switches the session to plain HTTP and returns `url` rewritten, or
    /// `None` when no fallback applies.
    fn fall_back(&self, url: &str) -> Option<String> {
        if self.transport != Transport::HttpsThenHttp
            || self
                .https_answered
                .load(std::sync::atomic::Ordering::SeqCst)
        {
            return None;
        }
        let tail = url.strip_prefix(&format!("https://{}", self.host))?;
        tracing::info!(host = %self.host, "HTTPS failed; using plain HTTP (insecure registry)");
        self.fell_back
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Some(format!("http://{}{tail}", self.host))
    }

    /// A transport error's message, with a hint when verified HTTPS failed
    /// on a host that may speak plain HTTP.
    fn transport_error(&self, url: &str, source: &reqwest::Error) -> String {
        let reason = error_chain(source);
        if self.transport == Transport::Https && url.starts_with("https://") {
            format!(
                "{reason} (if {} is a plain-HTTP or self-signed registry, name it in \"insecure-registries\" in berthd's config)",
                self.host
            )
        } else {
            reason
        }
    }

    /// Adds a token scope (for example pull on a mount's source repository).
    pub fn add_scope(&self, scope: String) {
        let added = self.scopes.lock().unwrap().insert(scope);
        if added {
            // A token is bound to the scopes it was issued for.
            let mut auth = self.authorization.lock().unwrap();
            if matches!(*auth, Authorization::Bearer(_)) {
                *auth = Authorization::Anonymous;
            }
        }
    }

    /// Sends one request with the session's authorization, falling back
    /// from HTTPS to plain HTTP for an insecure host whose HTTPS attempt
    /// fails below HTTP. Returns the response and the URL that answered.
    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        build: &(dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Sync),
    ) -> Result<(reqwest::Response, String), RegistryError> {
        let request = |url: &str| {
            let req = build(self.client().request(method.clone(), url));
            match self.authorization.lock().unwrap().clone() {
                Authorization::Anonymous => req,
                Authorization::Basic(h) | Authorization::Bearer(h) => req.header(AUTHORIZATION, h),
            }
        };
        // The session may have fallen back since the caller built the URL.
        let url = match url.strip_prefix(&format!("https://{}", self.host)) {
            Some(tail) if self.fell_back.load(std::sync::atomic::Ordering::SeqCst) => {
                format!("http://{}{tail}", self.host)
            }
            _ => url.to_string(),
        };
        let https_error = match self.send_bounded(method, &url, request(&url)).await? {
            Ok(resp) => {
                if url.starts_with("https://") {
                    self.https_answered
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                }
                return Ok((resp, url));
            }
            Err(e) => e,
        };
        let Some(plain) = self.fall_back(&url) else {
            return Err(RegistryError::Http {
                method: method.clone(),
                reason: self.transport_error(&url, &https_error),
                url,
            });
        };
        match self.send_bounded(method, &plain, request(&plain)).await? {
            Ok(resp) => Ok((resp, plain)),
            Err(e) => Err(RegistryError::Http {
                method: method.clone(),
                reason: format!(
                    "{} (after HTTPS failed: {})",
                    error_chain(&e),
                    error_chain(&https_error)
                ),
                url: plain,
            }),
        }
    }

    /// Sends `request`, waiting at most the `response` timeout for its
    /// headers. The outer error is that timeout; the inner one reqwest's
    /// (the caller may fall back to plain HTTP on it).
    async fn send_bounded(
        &self,
        method: &Method,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Result<reqwest::Response, reqwest::Error>, RegistryError> {
        let limit = RegistryTimeouts::secs(self.timeouts.response);
        tokio::time::timeout(limit, request.send())
            .await
            .map_err(|_| RegistryError::Timeout {
                method: method.clone(),
                url: url.to_string(),
                reason: format!(
                    "no response within {} s (daemon.json registry-timeouts.response)",
                    limit.as_secs()
                ),
            })
    }

    /// The body of `response` (from `url`), read under the session's
    /// `read` and `stall` timeouts.
    pub fn body(&self, method: Method, url: &str, response: reqwest::Response) -> GuardedBody {
        GuardedBody::new(response, method, url, &self.timeouts)
    }

    /// Sends a request, authenticating and retrying once on 401. `build`
    /// makes the request (it may be called twice).
    async fn send(
        &self,
        method: Method,
        url: &str,
        build: &(dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Sync),
    ) -> Result<reqwest::Response, RegistryError> {
        for attempt in 0..2 {
            let (resp, url) = self.send_once(&method, url, build).await?;
            let url = url.as_str();
            if resp.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                if resp.status() == StatusCode::UNAUTHORIZED {
                    let body = resp.text().await.unwrap_or_default();
                    return Err(RegistryError::Unauthorized {
                        url: url.to_string(),
                        reason: short_body(&body),
                    });
                }
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_challenge);
            let Some(challenge) = challenge else {
                return Err(RegistryError::Unauthorized {
                    url: url.to_string(),
                    reason: "401 without a usable WWW-Authenticate challenge".into(),
                });
            };
            self.authenticate(challenge).await?;
        }
        unreachable!("the loop returns on its second attempt")
    }

    async fn authenticate(&self, challenge: Challenge) -> Result<(), RegistryError> {
        match challenge {
            Challenge::Basic => {
                if self.credentials.is_empty() {
                    return Err(RegistryError::Unauthorized {
                        url: self.base_url(),
                        reason: "the registry wants a user name and password (berth login)".into(),
                    });
                }
                *self.authorization.lock().unwrap() =
                    Authorization::Basic(self.credentials.basic_header());
            }
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                if let Some(scope) = scope {
                    for s in scope.split(' ') {
                        self.scopes.lock().unwrap().insert(s.to_string());
                    }
                }
                let token = self.fetch_token(&realm, service.as_deref()).await?;
                *self.authorization.lock().unwrap() =
                    Authorization::Bearer(format!("Bearer {token}"));
            }
        }
        Ok(())
    }

    /// Gets a bearer token from the realm (token.md; oauth.md when an
    /// identity token is stored).
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
    ) -> Result<String, RegistryError> {
        let scopes: Vec<String> = self.scopes.lock().unwrap().iter().cloned().collect();
        let resp = if !self.credentials.identity_token.is_empty() {
            let mut form = vec![
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", self.credentials.identity_token.clone()),
                ("client_id", "berth".to_string()),
            ];
            if let Some(s) = service {
                form.push(("service", s.to_string()));
            }
            if !scopes.is_empty() {
                form.push(("scope", scopes.join(" ")));
            }
            self.send_bounded(&Method::POST, realm, self.client().post(realm).form(&form))
                .await?
        } else {
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(s) = service {
                query.push(("service", s.to_string()));
            }
            for s in &scopes {
                query.push(("scope", s.clone()));
            }
            let mut req = self.client().get(realm).query(&query);
            if !self.credentials.is_empty() {
                req = req.header(AUTHORIZATION, self.credentials.basic_header());
            }
            self.send_bounded(&Method::GET, realm, req).await?
        }
        .map_err(|source| RegistryError::Http {
            method: Method::GET,
            url: realm.to_string(),
            reason: error_chain(&source),
        })?;
        let status = resp.status();
        let body = read_limited(self.body(Method::GET, realm, resp), MAX_TOKEN_RESPONSE)
            .await?
            .ok_or_else(|| RegistryError::Unauthorized {
                url: realm.to_string(),
                reason: format!("token response larger than {MAX_TOKEN_RESPONSE} bytes"),
            })?;
        if !status.is_success() {
            return Err(RegistryError::Unauthorized {
                url: realm.to_string(),
                reason: format!(
                    "token server answered {status}: {}",
                    short_body_bytes(&body)
                ),
            });
        }
        let token: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Unauthorized {
                url: realm.to_string(),
                reason: format!("token response is not valid JSON: {e}"),
            })?;
        token
            .bearer()
            .map(str::to_string)
            .ok_or_else(|| RegistryError::Unauthorized {
                url: realm.to_string(),
                reason: "token response holds no token".into(),
            })
    }

    /// Checks that the registry accepts the credentials (`GET /v2/`), as
    /// `docker login` does.
    pub async fn ping(&self) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.base_url());
        let resp = self.send(Method::GET, &url, &|r| r).await?;
        check_status(Method::GET, &url, resp).await.map(|_| ())
    }

    /// `object` (a tag or a digest) of this repository as docker names it
    /// in messages: `host/name:tag` or `host/name@digest`, docker.io's
    /// images without the host (and `library/`).
    fn familiar_reference(&self, object: &str) -> String {
        let full = format!("{}/{}", self.host, self.name);
        let familiar = match full
            .strip_prefix("registry-1.docker.io/")
            .or_else(|| full.strip_prefix("docker.io/"))
        {
            Some(rest) => rest.strip_prefix("library/").unwrap_or(rest).to_string(),
            None => full,
        };
        let sep = if object.contains(':') { '@' } else { ':' };
        format!("{familiar}{sep}{object}")
    }

    /// Fetches a manifest or index by tag or digest. The digest is computed
    /// over the bytes received and must equal the one asked for.
    pub async fn get_manifest(&self, object: &str) -> Result<FetchedManifest, RegistryError> {
        let url = self.url(&format!("manifests/{object}"));
        let accept = ACCEPTED_MANIFESTS.join(", ");
        let resp = self
            .send(Method::GET, &url, &|r| r.header(ACCEPT, accept.as_str()))
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            let body = resp.text().await.unwrap_or_default();
            return Err(RegistryError::ManifestUnknown {
                reference: self.familiar_reference(object),
                errors: registry_errors(&body).unwrap_or_else(|| short_body(&body)),
            });
        }
        let resp = check_status(Method::GET, &url, resp).await?;
        let media_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        if resp.content_length().unwrap_or(0) > MAX_MANIFEST_SIZE as u64 {
            return Err(RegistryError::ManifestTooLarge {
                reference: object.to_string(),
            });
        }
        let bytes = read_limited(self.body(Method::GET, &url, resp), MAX_MANIFEST_SIZE)
            .await?
            .ok_or_else(|| RegistryError::ManifestTooLarge {
                reference: object.to_string(),
            })?;
        let digest = manifest::sha256_digest(&bytes);
        if object.contains(':') && object != digest {
            return Err(RegistryError::ManifestDigestMismatch {
                reference: format!("{}@{object}", self.name),
                url,
                expected: object.to_string(),
                actual: digest,
            });
        }
        Ok(FetchedManifest {
            media_type,
            digest,
            bytes,
        })
    }

    /// Fetches a small blob (a config) whole, checking its digest.
    pub async fn get_blob_bytes(&self, digest: &str, limit: usize) -> Result<Bytes, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.get_blob(digest, 0).await?;
        let bytes = read_limited(self.body(Method::GET, &url, resp.response), limit)
            .await?
            .ok_or_else(|| RegistryError::Status {
                method: Method::GET,
                url: url.clone(),
                status: StatusCode::PAYLOAD_TOO_LARGE,
                body: format!("blob larger than {limit} bytes"),
            })?;
        Ok(bytes)
    }

    /// Starts downloading a blob from `offset` (a `Range` request when it is
    /// not 0). The answer says whether the registry honoured the range.
    pub async fn get_blob(&self, digest: &str, offset: u64) -> Result<BlobResponse, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let range = (offset > 0).then(|| format!("bytes={offset}-"));
        let resp = self
            .send(Method::GET, &url, &|r| match &range {
                Some(range) => r.header(RANGE, range.as_str()),
                None => r,
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            let body = resp.text().await.unwrap_or_default();
            return Err(RegistryError::NotFound {
                what: format!("blob {digest} of {}", self.name),
                url,
                body: short_body(&body),
            });
        }
        if offset > 0 && resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
            // The partial download is already complete or too long: start over.
            return Box::pin(self.get_blob(digest, 0)).await;
        }
        let resp = check_status(Method::GET, &url, resp).await?;
        let resumed = offset > 0 && resp.status() == StatusCode::PARTIAL_CONTENT;
        Ok(BlobResponse {
            url,
            offset: if resumed { offset } else { 0 },
            response: resp,
        })
    }

    /// Whether the registry already has a blob (`HEAD`).
    pub async fn blob_exists(&self, digest: &str) -> Result<bool, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(Method::HEAD, &url, &|r| r).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => check_status(Method::HEAD, &url, resp).await.map(|_| false),
        }
    }

    /// Asks the registry to mount a blob from another repository of the same
    /// registry (spec "Mounting a blob from another repository"). Returns
    /// whether it was mounted; when not, the upload session the registry
    /// opened instead is cancelled and a normal upload must follow.
    pub async fn mount_blob(&self, digest: &str, from: &str) -> Result<bool, RegistryError> {
        self.add_scope(format!("repository:{from}:pull"));
        let url = format!(
            "{}?mount={}&from={}",
            self.url("blobs/uploads/"),
            digest,
            from
        );
        let resp = self
            .send(Method::POST, &url, &|r| r.header("Content-Length", "0"))
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                if let Some(location) = location(&resp) {
                    let cancel = self.absolute(&location);
                    let _ = self.send(Method::DELETE, &cancel, &|r| r).await;
                }
                Ok(false)
            }
            _ => check_status(Method::POST, &url, resp).await.map(|_| false),
        }
    }

    /// Uploads a blob in one `PUT` (spec "Pushing a blob monolithically",
    /// POST then PUT), streaming `body`.
    pub async fn upload_blob<S>(
        &self,
        digest: &str,
        size: u64,
        body: S,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static,
    {
        let start = self.url("blobs/uploads/");
        let resp = self
            .send(Method::POST, &start, &|r| r.header("Content-Length", "0"))
            .await?;
        let resp = check_status(Method::POST, &start, resp).await?;
        let location =
            location(&resp).ok_or(RegistryError::NoUploadLocation { url: start.clone() })?;
        let mut put = self.absolute(&location);
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str("digest=");
        put.push_str(digest);
        // The body is a one-shot stream: the POST above settled
        // authentication, so the PUT is sent once.
        let mut req = self
            .client()
            .put(&put)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header("Content-Length", size.to_string())
            .body(reqwest::Body::wrap_stream(body));
        if let Some(h) = self.auth_header() {
            req = req.header(AUTHORIZATION, h);
        }
        let resp = req.send().await.map_err(|source| RegistryError::Http {
            method: Method::PUT,
            url: put.clone(),
            reason: error_chain(&source),
        })?;
        check_status(Method::PUT, &put, resp).await.map(|_| ())
    }

    /// Uploads a manifest under a tag or digest.
    pub async fn put_manifest(
        &self,
        object: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<(), RegistryError> {
        let url = self.url(&format!("manifests/{object}"));
        let resp = self
            .send(Method::PUT, &url, &|r| {
                r.header(CONTENT_TYPE, media_type).body(bytes.clone())
            })
            .await?;
        check_status(Method::PUT, &url, resp).await.map(|_| ())
    }

    fn auth_header(&self) -> Option<HeaderValue> {
        match &*self.authorization.lock().unwrap() {
            Authorization::Anonymous => None,
            Authorization::Basic(h) | Authorization::Bearer(h) => HeaderValue::from_str(h).ok(),
        }
    }

    /// Resolves an upload `Location` that may be relative to the registry.
    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{}", self.base_url(), location)
        }
    }
}

/// A blob download under way.
pub struct BlobResponse {
    pub url: String,
    /// Where the body starts in the blob (the range honoured, or 0).
    pub offset: u64,
    pub response: reqwest::Response,
}

fn location(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn check_status(
    method: Method,
    url: &str,
    resp: reqwest::Response,
) -> Result<reqwest::Response, RegistryError> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    Err(RegistryError::Status {
        method,
        url: url.to_string(),
        status,
        body: short_body(&body),
    })
}

/// A response body read chunk by chunk under two bounds (see the module
/// doc): no silence longer than `read`, and at least [`STALL_MIN_RATE`]
/// bytes a second over each `stall` window. Every registry body is read
/// through one, so no registry holds a connection of berthd for longer than
/// its bytes are worth.
pub struct GuardedBody {
    response: reqwest::Response,
    method: Method,
    url: String,
    read: Duration,
    stall: Duration,
    window_start: tokio::time::Instant,
    window_bytes: u64,
}

impl GuardedBody {
    fn new(
        response: reqwest::Response,
        method: Method,
        url: &str,
        timeouts: &RegistryTimeouts,
    ) -> GuardedBody {
        GuardedBody {
            response,
            method,
            url: url.to_string(),
            read: RegistryTimeouts::secs(timeouts.read),
            stall: RegistryTimeouts::secs(timeouts.stall),
            window_start: tokio::time::Instant::now(),
            window_bytes: 0,
        }
    }

    /// The URL the body comes from.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next chunk; `None` at the end of the body.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, RegistryError> {
        loop {
            let window_end = self.window_start + self.stall;
            let now = tokio::time::Instant::now();
            let wait = self.read.min(window_end.saturating_duration_since(now));
            match tokio::time::timeout(wait, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    self.window_bytes += chunk.len() as u64;
                    self.end_window_if_due()?;
                    return Ok(Some(chunk));
                }
                Ok(Ok(None)) => return Ok(None),
                Ok(Err(source)) => {
                    // reqwest's own read timeout (the same `read` bound).
                    let reason = error_chain(&source);
                    return Err(if source.is_timeout() {
                        self.timeout(format!("{reason} (daemon.json registry-timeouts.read)"))
                    } else {
                        RegistryError::Http {
                            method: self.method.clone(),
                            url: self.url.clone(),
                            reason,
                        }
                    });
                }
                Err(_) if tokio::time::Instant::now() >= window_end => self.end_window_if_due()?,
                Err(_) => {
                    return Err(self.timeout(format!(
                        "no data for {} s (daemon.json registry-timeouts.read)",
                        self.read.as_secs()
                    )))
                }
            }
        }
    }

    /// At the end of a `stall` window: fails when it carried less than the
    /// least rate, else starts the next window.
    fn end_window_if_due(&mut self) -> Result<(), RegistryError> {
        let now = tokio::time::Instant::now();
        if now < self.window_start + self.stall {
            return Ok(());
        }
        let least = STALL_MIN_RATE * self.stall.as_secs();
        if self.window_bytes < least {
            return Err(self.timeout(format!(
                "stalled: {} bytes in {} s, less than {least} (daemon.json registry-timeouts.stall)",
                self.window_bytes,
                self.stall.as_secs()
            )));
        }
        self.window_start = now;
        self.window_bytes = 0;
        Ok(())
    }

    fn timeout(&self, reason: String) -> RegistryError {
        RegistryError::Timeout {
            method: self.method.clone(),
            url: self.url.clone(),
            reason,
        }
    }
}

/// Largest token server answer accepted.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;

/// Reads a body up to `limit` bytes; `None` when it is longer.
async fn read_limited(mut body: GuardedBody, limit: usize) -> Result<Option<Bytes>, RegistryError> {
    let mut buf = Vec::new();
    loop {
        let Some(chunk) = body.chunk().await? else {
            break;
        };
        if buf.len() + chunk.len() > limit {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(Bytes::from(buf)))
}

/// An error and its causes on one line (reqwest's own message omits the
/// cause: "error sending request" hides "connection refused").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}

/// A registry error body cut to one readable line.
/// A registry's error body (distribution's `{"errors": [{"code",
/// "message"}]}`) as docker's errcode prints it: the code in lower case
/// with spaces, a colon, the message (`manifest unknown: manifest
/// unknown`); several errors on lines of their own after `errors:`.
fn registry_errors(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let parsed: Errors = serde_json::from_str(body).ok()?;
    let texts: Vec<String> = parsed
        .errors
        .iter()
        .map(|e| format!("{}: {}", e.code.to_lowercase().replace('_', " "), e.message))
        .collect();
    match texts.len() {
        0 => None,
        1 => texts.into_iter().next(),
        _ => Some(format!("errors:\n{}\n", texts.join("\n"))),
    }
}

fn short_body(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.len() > 300 {
        let mut end = 300;
        while !one_line.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &one_line[..end])
    } else {
        one_line
    }
}

fn short_body_bytes(body: &[u8]) -> String {
    short_body(&String::from_utf8_lossy(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_uses_http_and_insecure_hosts_try_https_first() {
        let cfg = RegistryConfig {
            insecure: vec!["reg.example:5000".into(), "plain.example".into()],
            ..Default::default()
        };
        assert_eq!(cfg.transport("127.0.0.1:5000"), Transport::Http);
        assert_eq!(cfg.transport("localhost"), Transport::Http);
        assert_eq!(cfg.transport("[::1]:5000"), Transport::Http);
        assert_eq!(cfg.transport("reg.example:5000"), Transport::HttpsThenHttp);
        assert_eq!(cfg.transport("plain.example:443"), Transport::HttpsThenHttp);
        assert_eq!(cfg.transport("registry-1.docker.io"), Transport::Https);
        assert_eq!(cfg.transport("reg.example"), Transport::Https);
    }

    #[test]
    fn an_insecure_session_falls_back_to_http_once() {
        let cfg = RegistryConfig {
            insecure: vec!["reg.example:5000".into()],
            ..Default::default()
        };
        let repo = Repository::for_host(
            http_client(&cfg.timeouts),
            &cfg,
            "reg.example:5000",
            "a/b",
            Credentials::default(),
            "pull",
        );
        assert_eq!(repo.base_url(), "https://reg.example:5000");
        assert_eq!(
            repo.fall_back("https://reg.example:5000/v2/a/b/manifests/1")
                .as_deref(),
            Some("http://reg.example:5000/v2/a/b/manifests/1")
        );
        assert_eq!(repo.base_url(), "http://reg.example:5000");
        assert_eq!(
            repo.url("blobs/x"),
            "http://reg.example:5000/v2/a/b/blobs/x"
        );
        // Verified hosts never fall back.
        let secure = Repository::for_host(
            http_client(&cfg.timeouts),
            &cfg,
            "other.example",
            "a",
            Credentials::default(),
            "pull",
        );
        assert_eq!(secure.fall_back("https://other.example/v2/"), None);
        assert_eq!(secure.base_url(), "https://other.example");
    }

    /// Serves one HTTP response on loopback whose `len`-byte body comes
    /// `step` bytes every `pace`; returns its URL.
    async fn serve_paced_body(len: usize, pace: Duration, step: usize) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = s.read(&mut request).await;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
            s.write_all(head.as_bytes()).await.unwrap();
            let mut sent = 0;
            while sent < len {
                tokio::time::sleep(pace).await;
                let n = step.min(len - sent);
                if s.write_all(&vec![b'x'; n]).await.is_err() {
                    return;
                }
                sent += n;
            }
        });
        format!("http://{addr}/blob")
    }

    /// Reads `url` through a GuardedBody; the bytes read and how it ended.
    async fn read_guarded(
        url: &str,
        timeouts: RegistryTimeouts,
    ) -> (usize, Result<(), RegistryError>, Duration) {
        let resp = http_client(&timeouts).get(url).send().await.unwrap();
        let mut body = GuardedBody::new(resp, Method::GET, url, &timeouts);
        let start = std::time::Instant::now();
        let mut n = 0;
        loop {
            match body.chunk().await {
                Ok(Some(c)) => n += c.len(),
                Ok(None) => return (n, Ok(()), start.elapsed()),
                Err(e) => return (n, Err(e), start.elapsed()),
            }
        }
    }

    const SHORT: RegistryTimeouts = RegistryTimeouts {
        connect: 5,
        response: 5,
        read: 1,
        stall: 1,
    };

    #[tokio::test]
    async fn a_dripping_body_fails_at_the_end_of_a_stall_window() {
        let url = serve_paced_body(1 << 20, Duration::from_millis(100), 1).await;
        let timeouts = RegistryTimeouts { read: 5, ..SHORT };
        let (_, result, took) = read_guarded(&url, timeouts).await;
        let e = result.unwrap_err();
        assert!(matches!(e, RegistryError::Timeout { .. }), "{e}");
        assert!(e.to_string().contains("stalled"), "{e}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[tokio::test]
    async fn a_silent_body_fails_after_the_read_timeout() {
        let url = serve_paced_body(1000, Duration::from_secs(10), 1000).await;
        let timeouts = RegistryTimeouts { stall: 30, ..SHORT };
        let (_, result, took) = read_guarded(&url, timeouts).await;
        let e = result.unwrap_err();
        assert!(matches!(e, RegistryError::Timeout { .. }), "{e}");
        assert!(e.to_string().contains("registry-timeouts.read"), "{e}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[tokio::test]
    async fn a_steady_body_is_read_whole_across_windows() {
        // 16 KiB every 20 ms for about 1.6 s: over the 1 KiB/s floor in
        // every 1 s window.
        let url = serve_paced_body(1280 << 10, Duration::from_millis(20), 16 << 10).await;
        let (n, result, _) = read_guarded(&url, SHORT).await;
        result.unwrap();
        assert_eq!(n, 1280 << 10);
    }

    #[test]
    fn error_bodies_are_one_short_line() {
        assert_eq!(short_body("a\n  b\tc"), "a b c");
        assert!(short_body(&"x".repeat(1000)).len() < 310);
    }
}
