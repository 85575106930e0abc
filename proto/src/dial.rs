//! Dialing a gRPC server over a unix socket: berthd's API socket and every
//! shim's task socket are unix sockets, and tonic's `Endpoint` only knows TCP
//! URIs. This is the one connector the CLI, berthd (to its shims), the shim
//! tools and the integration tests use.

use std::path::Path;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

/// Where berthd listens and where `berth` dials when `-H` is not given.
pub const DEFAULT_ADDRESS: &str = "/run/berth/berthd.sock";

/// Opens a channel to the gRPC server listening on the unix socket `path`.
///
/// The channel's URI is a placeholder (`http://localhost`): the connector
/// always dials `path`, and reconnects to it when the connection drops. The
/// error is tonic's; its source chain ends in the `io::Error` of connect(2)
/// (`ENOENT`, `ECONNREFUSED`, `EACCES`, ...), which callers turn into their
/// own message.
pub async fn dial_unix(path: &Path) -> Result<Channel, tonic::transport::Error> {
    let dial = path.to_path_buf();
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let dial = dial.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(&dial).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
}
