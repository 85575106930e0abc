//! Connecting the CLI to berthd: gRPC over the unix socket named by
//! `-H unix://PATH`.

use super::CliError;
use berth_proto::v1::images_client::ImagesClient;
use berth_proto::v1::system_client::SystemClient;
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use tonic::transport::{Channel, Endpoint, Uri};

/// The socket path of a `unix://PATH` host (a bare absolute path works too).
pub fn socket_path(host: &str) -> Result<PathBuf, CliError> {
    let path = host.strip_prefix("unix://").unwrap_or(host);
    if !path.starts_with('/') {
        return Err(CliError::InvalidHost(host.to_string()));
    }
    Ok(PathBuf::from(path))
}

/// Opens a channel to berthd, failing with a message that names the socket
/// when nothing answers there.
pub async fn connect(host: &str) -> Result<Channel, CliError> {
    let path = socket_path(host)?;
    let shown = format!("unix://{}", path.display());
    // The URI is a placeholder: the connector always dials the socket.
    let endpoint = Endpoint::try_from("http://berthd.sock").expect("static uri");
    let dial = path.clone();
    endpoint
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let dial = dial.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(&dial).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|e| {
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                reason = s.to_string();
                source = s.source();
            }
            CliError::Connect {
                host: shown,
                reason,
            }
        })
}

/// An Images client.
pub async fn images(host: &str) -> Result<ImagesClient<Channel>, CliError> {
    Ok(ImagesClient::new(connect(host).await?)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20))
}

/// A System client.
pub async fn system(host: &str) -> Result<SystemClient<Channel>, CliError> {
    Ok(SystemClient::new(connect(host).await?))
}
