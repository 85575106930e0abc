//! The CRI `ImageService` over the images domain.
//!
//! A CRI image is an image ID (the config digest) with every name that
//! resolves to it, as containerd's CRI plugin shows them: `repo_tags` are
//! the records' normalised names (`docker.io/library/busybox:latest`),
//! `repo_digests` the `repository@sha256:...` names, both those a pull by
//! digest recorded and those a pull by tag learnt from the registry. An
//! image is found by any of these, or by its ID or a unique ID prefix.
//!
//! `ImageStatus` of a missing image is not an error (the CRI wants an empty
//! answer); `RemoveImage` of a missing one succeeds (the CRI's removal is
//! idempotent) and of a present one drops every name of the image, then
//! collects its content and snapshots. `PullImage` answers the image ID,
//! which a kubelet passes back as the image of the containers it creates.

use super::status::{image_status, missing_field, not_implemented, task_failed};
use crate::images::filter::ImageFilters;
use crate::images::progress::ProgressSink;
use crate::images::{is_dangling, ImageError, ImageService, ImageSummary, ResolvedImage};
use crate::registry::auth::Credentials;
use crate::system::SystemService;
use base64::Engine;
use berth_docker::reference::Reference;
use berth_proto::cri::v1 as pb;
use pb::image_service_server::ImageService as CriImageService;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// The `ImageService` adapter.
pub struct CriImages {
    images: Arc<ImageService>,
    system: Arc<SystemService>,
}

impl CriImages {
    pub fn new(images: Arc<ImageService>, system: Arc<SystemService>) -> CriImages {
        CriImages { images, system }
    }

    /// Runs `f` on a blocking thread with the images domain (listing reads
    /// every record, resolves it and sums its snapshots' usage).
    async fn blocking<T: Send + 'static>(
        &self,
        rpc: &'static str,
        f: impl FnOnce(&ImageService) -> Result<T, ImageError> + Send + 'static,
    ) -> Result<T, Status> {
        let images = self.images.clone();
        tokio::task::spawn_blocking(move || f(&images))
            .await
            .map_err(|e| task_failed(rpc, e))?
            .map_err(|e| image_status(&e))
    }
}

/// One image as the CRI sees it: its ID and every name of it.
#[derive(Debug, Clone)]
struct CriImage {
    resolved: ResolvedImage,
    tags: BTreeSet<String>,
    digests: BTreeSet<String>,
}

/// Every image, by ID, with its names gathered from its records.
fn all_images(images: &ImageService) -> Result<BTreeMap<String, CriImage>, ImageError> {
    let summaries = images.list(None, &ImageFilters::default())?;
    Ok(group_by_id(summaries))
}

fn group_by_id(summaries: Vec<ImageSummary>) -> BTreeMap<String, CriImage> {
    let mut out: BTreeMap<String, CriImage> = BTreeMap::new();
    for s in summaries {
        let entry = out.entry(s.resolved.id()).or_insert_with(|| CriImage {
            resolved: s.resolved.clone(),
            tags: BTreeSet::new(),
            digests: BTreeSet::new(),
        });
        let name = &s.record.name;
        if !is_dangling(name) {
            if name.contains('@') {
                entry.digests.insert(name.clone());
            } else {
                entry.tags.insert(name.clone());
            }
        }
        entry.digests.extend(s.repo_digests);
    }
    out
}

/// The image `input` names (a name, a repo digest, an ID or a unique ID
/// prefix), if there is one.
fn find_image(images: &ImageService, input: &str) -> Result<Option<CriImage>, ImageError> {
    let id = match images.lookup(input) {
        Ok(found) => Some(found.resolved.id()),
        Err(ImageError::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let all = all_images(images)?;
    if let Some(id) = id {
        return Ok(all.get(&id).cloned());
    }
    // A repository@digest the image was pulled by tag with: its record
    // is named by the tag, the digest is the registry's.
    let Ok(reference) = Reference::parse(input) else {
        return Ok(None);
    };
    if reference.digest.is_none() {
        return Ok(None);
    }
    let wanted = reference.to_string();
    Ok(all.into_values().find(|i| i.digests.contains(&wanted)))
}

/// The user an image's config runs as: a numeric `uid` or a `username`
/// (the part before any `:group`), as containerd splits it.
fn image_user(resolved: &ResolvedImage) -> (Option<pb::Int64Value>, String) {
    let config: serde_json::Value =
        serde_json::from_slice(&resolved.config_bytes).unwrap_or_default();
    let user = config
        .pointer("/config/User")
        .and_then(|u| u.as_str())
        .unwrap_or("");
    let name = user.split(':').next().unwrap_or("");
    if name.is_empty() {
        return (None, String::new());
    }
    match name.parse::<i64>() {
        Ok(uid) => (Some(pb::Int64Value { value: uid }), String::new()),
        Err(_) => (None, name.to_string()),
    }
}

/// The image's size as containerd's CRI reports it: the bytes of its
/// content (index or manifest, config, compressed layers), what a pull
/// transfers, not its unpacked size.
fn content_size(resolved: &ResolvedImage) -> u64 {
    let mut size = resolved.manifest_bytes.len() as u64 + resolved.config_bytes.len() as u64;
    if resolved.target.digest != resolved.manifest_digest {
        size += resolved.target.size;
    }
    size + resolved
        .manifest
        .layers
        .iter()
        .map(|l| l.size.max(0) as u64)
        .sum::<u64>()
}

fn to_pb(image: &CriImage) -> pb::Image {
    let (uid, username) = image_user(&image.resolved);
    let id = image.resolved.id();
    pb::Image {
        spec: Some(pb::ImageSpec {
            image: id.clone(),
            ..Default::default()
        }),
        id,
        repo_tags: image.tags.iter().cloned().collect(),
        repo_digests: image.digests.iter().cloned().collect(),
        size: content_size(&image.resolved),
        uid,
        username,
        pinned: false,
    }
}

/// What an `ImageStatus` with `verbose` adds under `info`: the image's
/// config (containerd's `imageSpec`) and where its layers are.
fn verbose_info(image: &CriImage) -> Result<HashMap<String, String>, ImageError> {
    let spec: serde_json::Value =
        serde_json::from_slice(&image.resolved.config_bytes).unwrap_or_default();
    let info = serde_json::json!({
        "imageSpec": spec,
        "manifestDigest": image.resolved.manifest_digest.to_string(),
        "chainID": image.resolved.chain_ids.last(),
    });
    Ok(HashMap::from([("info".to_string(), info.to_string())]))
}

/// The image a request names (an empty name is a bad request).
fn requested_image<'a>(rpc: &str, spec: &'a Option<pb::ImageSpec>) -> Result<&'a str, Status> {
    match spec {
        Some(s) if !s.image.is_empty() => Ok(&s.image),
        _ => Err(missing_field(rpc, "image.image")),
    }
}

/// The registry credentials of a `PullImage`: user and password, or the
/// `auth` field (base64 of `user:password`, docker's config.json form), or
/// an identity token. A bare registry token is not supported.
fn credentials(auth: Option<pb::AuthConfig>) -> Result<Credentials, Status> {
    let Some(auth) = auth else {
        return Ok(Credentials::default());
    };
    if !auth.registry_token.is_empty() {
        return Err(not_implemented("PullImage with AuthConfig.registry_token"));
    }
    let (mut username, mut password) = (auth.username, auth.password);
    if !auth.auth.is_empty() {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                Status::invalid_argument("PullImage: auth.auth is not base64 of user:password")
            })?;
        let (user, pass) = decoded.split_once(':').ok_or_else(|| {
            Status::invalid_argument("PullImage: auth.auth is not base64 of user:password")
        })?;
        username = user.to_string();
        password = pass.to_string();
    }
    Ok(Credentials {
        username,
        password,
        identity_token: auth.identity_token,
    })
}

/// Nanoseconds since the epoch (the CRI's timestamps).
fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

type ImagesStream = Pin<Box<dyn Stream<Item = Result<pb::StreamImagesResponse, Status>> + Send>>;

/// The images a `ListImages` filter selects: all, or the one it names.
fn filtered(
    images: &ImageService,
    filter: Option<pb::ImageFilter>,
) -> Result<Vec<pb::Image>, ImageError> {
    let wanted = filter
        .and_then(|f| f.image)
        .map(|s| s.image)
        .filter(|s| !s.is_empty());
    Ok(match wanted {
        Some(name) => find_image(images, &name)?.iter().map(to_pb).collect(),
        None => all_images(images)?.values().map(to_pb).collect(),
    })
}

#[tonic::async_trait]
impl CriImageService for CriImages {
    async fn list_images(
        &self,
        request: Request<pb::ListImagesRequest>,
    ) -> Result<Response<pb::ListImagesResponse>, Status> {
        let filter = request.into_inner().filter;
        let images = self
            .blocking("ListImages", move |images| filtered(images, filter))
            .await?;
        Ok(Response::new(pb::ListImagesResponse { images }))
    }

    type StreamImagesStream = ImagesStream;

    async fn stream_images(
        &self,
        request: Request<pb::StreamImagesRequest>,
    ) -> Result<Response<Self::StreamImagesStream>, Status> {
        let filter = request.into_inner().filter;
        let images = self
            .blocking("StreamImages", move |images| filtered(images, filter))
            .await?;
        // One batch: the list is built whole anyway.
        let batch = pb::StreamImagesResponse { images };
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(batch)))))
    }

    async fn image_status(
        &self,
        request: Request<pb::ImageStatusRequest>,
    ) -> Result<Response<pb::ImageStatusResponse>, Status> {
        let req = request.into_inner();
        let name = requested_image("ImageStatus", &req.image)?.to_string();
        let verbose = req.verbose;
        let (image, info) = self
            .blocking("ImageStatus", move |images| {
                let Some(found) = find_image(images, &name)? else {
                    return Ok((None, HashMap::new()));
                };
                let info = if verbose {
                    verbose_info(&found)?
                } else {
                    HashMap::new()
                };
                Ok((Some(to_pb(&found)), info))
            })
            .await?;
        Ok(Response::new(pb::ImageStatusResponse { image, info }))
    }

    async fn pull_image(
        &self,
        request: Request<pb::PullImageRequest>,
    ) -> Result<Response<pb::PullImageResponse>, Status> {
        let req = request.into_inner();
        let name = requested_image("PullImage", &req.image)?.to_string();
        let credentials = credentials(req.auth)?;
        tracing::info!(reference = %name, "CRI pull");
        let summary = self
            .images
            .pull(&name, None, credentials, ProgressSink::discard())
            .await
            .map_err(|e| image_status(&e))?;
        Ok(Response::new(pb::PullImageResponse {
            image_ref: summary.image_id,
        }))
    }

    async fn remove_image(
        &self,
        request: Request<pb::RemoveImageRequest>,
    ) -> Result<Response<pb::RemoveImageResponse>, Status> {
        let req = request.into_inner();
        let name = requested_image("RemoveImage", &req.image)?.to_string();
        let found = self
            .blocking("RemoveImage", move |images| find_image(images, &name))
            .await?;
        if let Some(image) = found {
            // By ID, forced: every name of the image goes, as containerd
            // removes them all.
            match self.images.remove(&image.resolved.id(), true, true).await {
                Ok(_) | Err(ImageError::NotFound(_)) => {}
                Err(e) => return Err(image_status(&e)),
            }
        }
        Ok(Response::new(pb::RemoveImageResponse {}))
    }

    async fn image_fs_info(
        &self,
        _request: Request<pb::ImageFsInfoRequest>,
    ) -> Result<Response<pb::ImageFsInfoResponse>, Status> {
        let mountpoint = self
            .system
            .paths()
            .root
            .join("snapshots")
            .join(self.images.snapshotter().name());
        let (bytes, inodes) = self
            .blocking("ImageFsInfo", |images| {
                // The layers' recorded usage: what images hold on disk.
                let snapshotter = images.snapshotter();
                let mut total = (0u64, 0u64);
                for snapshot in snapshotter.list()? {
                    if let Ok(u) = snapshotter.usage(&snapshot.key) {
                        total.0 += u.size;
                        total.1 += u.inodes;
                    }
                }
                Ok(total)
            })
            .await?;
        Ok(Response::new(pb::ImageFsInfoResponse {
            image_filesystems: vec![pb::FilesystemUsage {
                timestamp: now_nanos(),
                fs_id: Some(pb::FilesystemIdentifier {
                    mountpoint: mountpoint.display().to_string(),
                }),
                used_bytes: Some(pb::UInt64Value { value: bytes }),
                inodes_used: Some(pb::UInt64Value { value: inodes }),
            }],
            container_filesystems: Vec::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_field_is_base64_user_colon_password() {
        let c = credentials(Some(pb::AuthConfig {
            auth: base64::engine::general_purpose::STANDARD.encode("bob:s3:cret"),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("bob", "s3:cret")
        );
        let c = credentials(Some(pb::AuthConfig {
            username: "u".into(),
            password: "p".into(),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        assert!(credentials(None).unwrap().is_empty());
        let bad = credentials(Some(pb::AuthConfig {
            auth: "%%%".into(),
            ..Default::default()
        }))
        .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        let token = credentials(Some(pb::AuthConfig {
            registry_token: "t".into(),
            ..Default::default()
        }))
        .unwrap_err();
        assert_eq!(token.code(), tonic::Code::Unimplemented);
    }
}
