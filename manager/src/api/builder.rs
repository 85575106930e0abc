//! The gRPC adapter of the builder domain (`berth.v1.Builder`): the
//! context streamed in as tar chunks after the options, the build's
//! progress streamed out, the error as a status whose message is the
//! domain's one line. A client that hangs up cancels the build.

use std::io;
use std::pin::Pin;
use std::sync::Arc;

use berth_proto::v1 as pb;
use bytes::Bytes;
use pb::builder_server::{Builder, BuilderServer};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Code, Request, Response, Status, Streaming};

use crate::builder::{BuildError, BuildEvent, BuildOptions, BuildProgress, BuildService};
use crate::images::layer::ChannelReader;
use crate::registry::auth::Credentials;

/// The Builder service over the builder domain.
pub struct BuilderApi {
    builder: Arc<BuildService>,
}

/// The tonic server of the Builder service.
pub fn server(builder: Arc<BuildService>) -> BuilderServer<BuilderApi> {
    BuilderServer::new(BuilderApi { builder }).max_decoding_message_size(64 << 20)
}

/// The status of a build error: its kind decides the code, the message is
/// the whole line (with the Dockerfile line it names).
pub fn build_status(e: &BuildError) -> Status {
    let code = match e.root_cause() {
        BuildError::Dockerfile(_)
        | BuildError::Invalid(_)
        | BuildError::SourceNotFound(_)
        | BuildError::Context(_) => Code::InvalidArgument,
        BuildError::RunFailed { .. } => Code::FailedPrecondition,
        BuildError::NotImplemented(_) => Code::Unimplemented,
        BuildError::Cancelled => Code::Cancelled,
        BuildError::Image(i) => super::image_status(i).code(),
        BuildError::Container(c) => super::containers::container_status(c).code(),
        _ => Code::Internal,
    };
    Status::new(code, e.to_string())
}

fn event_to_pb(e: BuildEvent) -> pb::BuildEvent {
    use pb::build_event::Event;
    let event = match e {
        BuildEvent::Started { vertex, name } => Event::Started(pb::VertexStarted { vertex, name }),
        BuildEvent::Log {
            vertex,
            stream,
            data,
        } => Event::Log(pb::VertexLog {
            vertex,
            data,
            stream,
        }),
        BuildEvent::Completed {
            vertex,
            cached,
            seconds,
            error,
        } => Event::Completed(pb::VertexCompleted {
            vertex,
            cached,
            seconds,
            error: error.unwrap_or_default(),
        }),
        BuildEvent::Message(m) => Event::Message(m),
    };
    pb::BuildEvent { event: Some(event) }
}

fn options_from_pb(o: pb::BuildOptions) -> BuildOptions {
    BuildOptions {
        tags: o.tags,
        dockerfile: o.dockerfile,
        dockerfile_content: o.dockerfile_inline.then_some(o.dockerfile_content),
        build_args: o.build_args.into_iter().collect(),
        target: (!o.target.is_empty()).then_some(o.target),
        no_cache: o.no_cache,
        pull: o.pull,
        labels: o.labels.into_iter().collect(),
        network: o.network,
        extra_hosts: o.extra_hosts,
        secrets: o.secrets.into_iter().collect(),
        platform: (!o.platform.is_empty()).then_some(o.platform),
        credentials: o
            .auth
            .into_iter()
            .map(|(host, a)| {
                (
                    host,
                    Credentials {
                        username: a.username,
                        password: a.password,
                        identity_token: a.identity_token,
                    },
                )
            })
            .collect(),
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::BuildEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Builder for BuilderApi {
    type BuildStream = EventStream;

    async fn build(
        &self,
        request: Request<Streaming<pb::BuildRequest>>,
    ) -> Result<Response<EventStream>, Status> {
        let mut stream = request.into_inner();
        let first = stream
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("build: no options sent"))??;
        let options = match first.options {
            Some(o) => options_from_pb(o),
            None => {
                return Err(Status::invalid_argument(
                    "build: the first message must carry the options",
                ))
            }
        };
        let (data_tx, data_rx) = mpsc::channel::<io::Result<Bytes>>(16);
        let forward = tokio::spawn(async move {
            while let Some(msg) = stream.next().await {
                let item = match msg {
                    Ok(pb::BuildRequest {
                        options: None,
                        data,
                    }) => Ok(Bytes::from(data)),
                    Ok(_) => Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "build: options sent twice",
                    )),
                    Err(s) => Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        s.message().to_string(),
                    )),
                };
                let stop = item.is_err();
                if data_tx.send(item).await.is_err() || stop {
                    break;
                }
            }
        });
        let (out_tx, out_rx) = mpsc::channel::<Result<pb::BuildEvent, Status>>(64);
        let builder = self.builder.clone();
        tokio::spawn(async move {
            let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
            let progress = BuildProgress::new(ev_tx);
            let context = Box::new(ChannelReader::new(data_rx));
            let build = builder.build(options, context, progress);
            tokio::pin!(build);
            let result = loop {
                tokio::select! {
                    biased;
                    Some(ev) = ev_rx.recv() => {
                        if out_tx.send(Ok(event_to_pb(ev))).await.is_err() {
                            // The client went away: dropping the build cancels it.
                            forward.abort();
                            return;
                        }
                    }
                    r = &mut build => break r,
                    _ = out_tx.closed() => {
                        forward.abort();
                        return;
                    }
                }
            };
            forward.abort();
            while let Ok(ev) = ev_rx.try_recv() {
                let _ = out_tx.send(Ok(event_to_pb(ev))).await;
            }
            let last = match result {
                Ok(out) => Ok(pb::BuildEvent {
                    event: Some(pb::build_event::Event::Done(pb::BuildDone {
                        image_id: out.image_id,
                        tags: out.tags,
                    })),
                }),
                Err(e) => {
                    tracing::info!(error = %e, "build failed");
                    Err(build_status(&e))
                }
            };
            let _ = out_tx.send(last).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }

    async fn prune_cache(
        &self,
        request: Request<pb::PruneBuildCacheRequest>,
    ) -> Result<Response<pb::PruneBuildCacheResponse>, Status> {
        let all = request.into_inner().all;
        let (deleted, space) = self
            .builder
            .prune(all)
            .await
            .map_err(|e| build_status(&e))?;
        Ok(Response::new(pb::PruneBuildCacheResponse {
            deleted,
            space_reclaimed: space,
        }))
    }

    async fn cache_usage(
        &self,
        _request: Request<pb::BuildCacheUsageRequest>,
    ) -> Result<Response<pb::BuildCacheUsageResponse>, Status> {
        let entries = self.builder.cache_entries().map_err(|e| build_status(&e))?;
        let in_use: std::collections::BTreeSet<String> = self
            .builder
            .images
            .list_chain_ids()
            .map_err(|e| super::image_status(&e))?
            .into_iter()
            .collect();
        Ok(Response::new(pb::BuildCacheUsageResponse {
            entries: entries
                .into_iter()
                .map(|e| pb::BuildCacheEntry {
                    in_use: e.chain_id.as_ref().is_some_and(|c| in_use.contains(c)),
                    id: e.key,
                    description: e.description,
                    size: e.size,
                    created_at: humantime::format_rfc3339_seconds(e.created_at).to_string(),
                })
                .collect(),
        }))
    }
}
