//! `berth.v1.Images`: the gRPC adapter over [`ImageService`].

use super::image_status;
use crate::images::cancel::OwnedTask;
use crate::images::filter::ImageFilters;
use crate::images::import::ImportOptions;
use crate::images::layer::ChannelReader;
use crate::images::progress::{Progress, ProgressSink};
use crate::images::save::ArchiveFormat;
use crate::images::{epoch_seconds, ImageError, ImageService, ImageSummary, Removed};
use crate::registry::auth::Credentials;
use berth_docker::manifest;
use berth_docker::timestamp::parse_time;
use berth_proto::v1 as pb;
use bytes::Bytes;
use pb::images_server::{Images, ImagesServer};
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, UnboundedReceiverStream};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

/// The Images service's adapter.
pub struct ImagesApi {
    images: Arc<ImageService>,
}

/// The tonic server of the Images service.
pub fn server(images: Arc<ImageService>) -> ImagesServer<ImagesApi> {
    // Configs and manifests are small, but inspect replies carry both.
    ImagesServer::new(ImagesApi { images }).max_decoding_message_size(64 << 20)
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::ProgressEvent, Status>> + Send>>;
type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::DataChunk, Status>> + Send>>;

fn credentials(auth: Option<pb::RegistryAuth>) -> Credentials {
    auth.map(|a| Credentials {
        username: a.username,
        password: a.password,
        identity_token: a.identity_token,
    })
    .unwrap_or_default()
}

fn progress_event(p: Progress) -> pb::ProgressEvent {
    use pb::progress_event::Event;
    let event = match p {
        Progress::Status(s) => Event::Status(s),
        Progress::Blob {
            digest,
            state,
            current,
            total,
        } => Event::Layer(pb::LayerProgress {
            digest,
            state: state.as_str().into(),
            current: current as i64,
            total: total as i64,
        }),
        Progress::Done(s) => Event::Done(pb::TransferDone {
            reference: s.reference,
            digest: s.digest,
            image_id: s.image_id,
            updated: s.updated,
            size: s.size as i64,
        }),
    };
    pb::ProgressEvent { event: Some(event) }
}

/// Runs a transfer, streaming its progress and ending with its result. The
/// transfer belongs to the stream: when the client goes away the server
/// drops the stream, and the transfer is cancelled with it
/// (`images::cancel`), rather than going on to tag an image nobody waits
/// for.
fn transfer_stream<F, Fut>(run: F) -> EventStream
where
    F: FnOnce(ProgressSink) -> Fut,
    Fut: std::future::Future<Output = Result<crate::images::progress::TransferSummary, ImageError>>
        + Send
        + 'static,
{
    let (ptx, prx) = mpsc::unbounded_channel::<Progress>();
    let (tx, rx) = mpsc::unbounded_channel::<Result<pb::ProgressEvent, Status>>();
    let fut = run(ProgressSink::new(ptx.clone()));
    let task = OwnedTask::spawn(async move {
        let result = fut.await;
        match result {
            Ok(summary) => {
                let _ = ptx.send(Progress::Done(summary));
            }
            Err(e) => {
                tracing::warn!(error = %e, "transfer failed");
                drop(ptx);
                // Progress sent before the failure goes out first.
                let _ = tx.send(Err(image_status(&e)));
            }
        }
    });
    let events = UnboundedReceiverStream::new(prx).map(|p| Ok(progress_event(p)));
    // Errors are delivered after every progress event (the error channel's
    // sender lives until the transfer ends).
    Box::pin(TransferEvents {
        events: Box::pin(events.chain(UnboundedReceiverStream::new(rx))),
        _transfer: task,
    })
}

/// A transfer's event stream that owns the transfer's task.
struct TransferEvents {
    events: EventStream,
    _transfer: OwnedTask<()>,
}

impl Stream for TransferEvents {
    type Item = Result<pb::ProgressEvent, Status>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.events.as_mut().poll_next(cx)
    }
}

fn summary_to_pb(s: &ImageSummary) -> pb::Image {
    pb::Image {
        name: s.name.clone(),
        id: s.resolved.id(),
        target: Some(pb::Descriptor {
            media_type: s.resolved.target.media_type.clone(),
            digest: s.resolved.target.digest.to_string(),
            size: s.resolved.target.size as i64,
            annotations: Default::default(),
            platform: None,
        }),
        created: s
            .resolved
            .config
            .created
            .as_deref()
            .and_then(parse_time)
            .unwrap_or(0),
        size: s.size as i64,
        repo_digests: s.repo_digests.clone(),
        record_created: epoch_seconds(s.record.created_at),
        record_updated: epoch_seconds(s.record.updated_at),
    }
}

fn removed_to_pb(items: Vec<Removed>) -> Vec<pb::RemovedItem> {
    items
        .into_iter()
        .map(|r| pb::RemovedItem {
            item: Some(match r {
                Removed::Untagged(s) => pb::removed_item::Item::Untagged(s),
                Removed::Deleted(s) => pb::removed_item::Item::Deleted(s),
            }),
        })
        .collect()
}

fn manifest_descriptor(d: &manifest::Descriptor) -> pb::Descriptor {
    pb::Descriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
        annotations: d
            .annotations
            .clone()
            .map(|a| a.into_iter().collect())
            .unwrap_or_default(),
        platform: d.platform.as_ref().map(|p| pb::Platform {
            os: p.os.clone(),
            architecture: p.architecture.clone(),
            variant: p.variant.clone().unwrap_or_default(),
        }),
    }
}

/// Runs blocking domain work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ImageError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("task failed: {e}")))?
        .map_err(|e| image_status(&e))
}

/// Sends what is written as `DataChunk`s (from a blocking thread).
struct ChunkWriter {
    tx: mpsc::Sender<Result<pb::DataChunk, Status>>,
}

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(Ok(pb::DataChunk { data: buf.to_vec() }))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ImagesApi {
    fn images(&self) -> Arc<ImageService> {
        self.images.clone()
    }
}

#[tonic::async_trait]
impl Images for ImagesApi {
    type PullStream = EventStream;
    type PushStream = EventStream;
    type SaveStream = ChunkStream;

    async fn pull(
        &self,
        request: Request<pb::PullRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let req = request.into_inner();
        let images = self.images();
        let creds = credentials(req.auth);
        tracing::info!(reference = %req.reference, "pull");
        Ok(Response::new(transfer_stream(move |sink| async move {
            let platform = (!req.platform.is_empty()).then_some(req.platform);
            images
                .pull(&req.reference, platform.as_deref(), creds, sink)
                .await
        })))
    }

    async fn push(
        &self,
        request: Request<pb::PushRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let req = request.into_inner();
        let images = self.images();
        let creds = credentials(req.auth);
        tracing::info!(reference = %req.reference, "push");
        Ok(Response::new(transfer_stream(move |sink| async move {
            let platform = (!req.platform.is_empty()).then_some(req.platform);
            images
                .push(&req.reference, platform.as_deref(), creds, sink)
                .await
        })))
    }

    async fn list(
        &self,
        request: Request<pb::ListImagesRequest>,
    ) -> Result<Response<pb::ListImagesResponse>, Status> {
        let req = request.into_inner();
        let images = self.images();
        let list = blocking(move || {
            let filters = ImageFilters::parse(&req.filters)?;
            let filter = (!req.reference.is_empty()).then_some(req.reference);
            images.list(filter.as_deref(), &filters)
        })
        .await?;
        Ok(Response::new(pb::ListImagesResponse {
            images: list.iter().map(summary_to_pb).collect(),
        }))
    }

    async fn inspect(
        &self,
        request: Request<pb::InspectImageRequest>,
    ) -> Result<Response<pb::InspectImageResponse>, Status> {
        let req = request.into_inner();
        let images = self.images();
        let detail = blocking(move || images.inspect(&req.reference)).await?;
        let summary = ImageSummary {
            name: detail.record.name.clone(),
            record: detail.record.clone(),
            resolved: detail.resolved.clone(),
            size: detail.size,
            repo_digests: detail.repo_digests.clone(),
        };
        Ok(Response::new(pb::InspectImageResponse {
            repo_tags: detail.repo_tags.clone(),
            repo_digests: detail.repo_digests.clone(),
            image: Some(summary_to_pb(&summary)),
            manifest: detail.resolved.manifest_bytes.clone(),
            config: detail.resolved.config_bytes.clone(),
            layers: detail
                .layers
                .iter()
                .map(|l| pb::LayerInfo {
                    descriptor: Some(manifest_descriptor(&l.descriptor)),
                    diff_id: l.diff_id.clone(),
                    chain_id: l.chain_id.clone(),
                    unpacked_size: l.unpacked_size as i64,
                })
                .collect(),
            snapshotter: detail.snapshotter.clone(),
            graph_driver_data: detail.graph_driver_data.clone().into_iter().collect(),
        }))
    }

    async fn tag(
        &self,
        request: Request<pb::TagImageRequest>,
    ) -> Result<Response<pb::TagImageResponse>, Status> {
        let req = request.into_inner();
        let images = self.images();
        blocking(move || images.tag(&req.source, &req.target)).await?;
        Ok(Response::new(pb::TagImageResponse {}))
    }

    async fn remove(
        &self,
        request: Request<pb::RemoveImageRequest>,
    ) -> Result<Response<pb::RemoveImageResponse>, Status> {
        let req = request.into_inner();
        let items = self
            .images()
            .remove(&req.reference, req.force, !req.no_prune)
            .await
            .map_err(|e| image_status(&e))?;
        Ok(Response::new(pb::RemoveImageResponse {
            items: removed_to_pb(items),
        }))
    }

    async fn prune(
        &self,
        request: Request<pb::PruneImagesRequest>,
    ) -> Result<Response<pb::PruneImagesResponse>, Status> {
        let req = request.into_inner();
        let (items, freed) = self
            .images()
            .prune(req.all)
            .await
            .map_err(|e| image_status(&e))?;
        Ok(Response::new(pb::PruneImagesResponse {
            items: removed_to_pb(items),
            space_reclaimed: freed as i64,
        }))
    }

    async fn save(
        &self,
        request: Request<pb::SaveImagesRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        let req = request.into_inner();
        let format = ArchiveFormat::parse(&req.format).map_err(|e| image_status(&e))?;
        let images = self.images();
        let images2 = images.clone();
        let set = blocking(move || images2.prepare_save(&req.references)).await?;
        let (tx, rx) = mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let mut out = io::BufWriter::with_capacity(1 << 20, ChunkWriter { tx: tx.clone() });
            let result = images.write_archive(&set, format, &mut out).and_then(|()| {
                out.flush().map_err(|source| ImageError::Io {
                    op: "write archive",
                    path: "<stream>".into(),
                    source,
                })
            });
            if let Err(e) = result {
                tracing::warn!(error = %e, "save failed");
                let _ = tx.blocking_send(Err(image_status(&e)));
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn load(
        &self,
        request: Request<Streaming<pb::DataChunk>>,
    ) -> Result<Response<pb::LoadImagesResponse>, Status> {
        let mut stream = request.into_inner();
        let images = self.images();
        let path = images
            .tmp_dir
            .join(format!("load-{}.tar", crate::images::random_hex()));
        let spool = async {
            let mut file = tokio::fs::File::create(&path).await?;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|s| {
                    io::Error::new(io::ErrorKind::ConnectionAborted, s.message().to_string())
                })?;
                file.write_all(&chunk.data).await?;
            }
            file.flush().await
        };
        if let Err(e) = spool.await {
            let _ = tokio::fs::remove_file(&path).await;
            let err = ImageError::Io {
                op: "spool archive",
                path: path.clone(),
                source: e,
            };
            return Err(image_status(&err));
        }
        let p = path.clone();
        let result = blocking(move || images.load_archive(&p)).await;
        let _ = tokio::fs::remove_file(&path).await;
        Ok(Response::new(pb::LoadImagesResponse { loaded: result? }))
    }

    async fn import(
        &self,
        request: Request<Streaming<pb::ImportRequest>>,
    ) -> Result<Response<pb::ImportImageResponse>, Status> {
        let mut stream = request.into_inner();
        let first = stream
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("import: no options sent"))??;
        let options = match first.part {
            Some(pb::import_request::Part::Options(o)) => ImportOptions {
                reference: (!o.reference.is_empty()).then_some(o.reference),
                message: o.message,
                changes: o.changes,
                platform: (!o.platform.is_empty()).then_some(o.platform),
            },
            _ => {
                return Err(Status::invalid_argument(
                    "import: the first message must carry the options",
                ))
            }
        };
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(16);
        let forward = tokio::spawn(async move {
            while let Some(msg) = stream.next().await {
                let item = match msg {
                    Ok(pb::ImportRequest {
                        part: Some(pb::import_request::Part::Data(d)),
                    }) => Ok(Bytes::from(d)),
                    Ok(_) => Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "import: options sent twice",
                    )),
                    Err(s) => Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        s.message().to_string(),
                    )),
                };
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    break;
                }
            }
        });
        let images = self.images();
        let id =
            blocking(move || images.import_blocking(&mut ChannelReader::new(rx), &options)).await;
        forward.abort();
        let id = id?;
        Ok(Response::new(pb::ImportImageResponse { image_id: id }))
    }

    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let req = request.into_inner();
        self.images
            .check_login(&req.server, credentials(req.auth))
            .await
            .map_err(|e| image_status(&e))?;
        Ok(Response::new(pb::LoginResponse {
            status: "Login Succeeded".into(),
            identity_token: String::new(),
        }))
    }
}
