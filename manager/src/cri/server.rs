//! The CRI socket's gRPC server: `RuntimeService` and `ImageService` on one
//! unix listener (bound by `daemon::socket`, 0660 root:berth), with the
//! same panic guard as the berth.v1 server, so a panicking call costs that
//! call only.

use super::image::CriImages;
use super::runtime::CriRuntime;
use crate::api::panic_guard::PanicGuardLayer;
use crate::images::ImageService;
use crate::pods::PodService;
use crate::system::SystemService;
use berth_proto::cri::v1 as pb;
use std::sync::Arc;
use tokio::net::UnixListener;

/// The domain services the CRI adapter serves (never the daemon itself).
pub struct CriDomains {
    pub pods: Arc<PodService>,
    pub images: Arc<ImageService>,
    pub system: Arc<SystemService>,
}

/// The largest CRI request accepted: a kubelet's configs are small, but
/// ImageStatus replies and list answers of many images are not.
const MAX_MESSAGE: usize = 16 << 20;

/// Serves the CRI on `listener` until the task is aborted (berthd's
/// shutdown does that, then removes the socket).
pub async fn serve(domains: CriDomains, listener: UnixListener) {
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    let runtime = pb::runtime_service_server::RuntimeServiceServer::new(CriRuntime::new(
        domains.pods,
        domains.system.clone(),
    ))
    .max_decoding_message_size(MAX_MESSAGE)
    .max_encoding_message_size(MAX_MESSAGE);
    let images = pb::image_service_server::ImageServiceServer::new(CriImages::new(
        domains.images,
        domains.system,
    ))
    .max_decoding_message_size(MAX_MESSAGE)
    .max_encoding_message_size(MAX_MESSAGE);
    let result = tonic::transport::Server::builder()
        .layer(PanicGuardLayer::from_env())
        .add_service(runtime)
        .add_service(images)
        .serve_with_incoming(incoming)
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "CRI server stopped");
    }
}
