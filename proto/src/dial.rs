//! Dialing a gRPC server over a unix socket: berthd's API socket and every
//! shim's task socket are unix sockets, and tonic's `Endpoint` only knows TCP
//! URIs. This is the one connector the CLI, berthd (to its shims), the shim
//! tools and the integration tests use.

use std::path::Path;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

/// Where berthd listens and where `berth` dials when `-H` is not given.
pub const DEFAULT_ADDRESS: &str = "/run/berth/berthd.sock";

/// HTTP/2 flow-control windows of every connection over a unix socket
/// (each side's receive window; [`dial_unix`] for clients, the servers set
/// theirs with the same values). h2's defaults (64 KiB) made a bulk
/// transfer (`cp`, `load`, `export`, attach output) stop for a window
/// update every few messages (issue 21: 21k updates for 500 MB of `cp`).
/// Nothing is allocated for a window; it only bounds what may be in flight.
pub const STREAM_WINDOW: u32 = 1024 * 1024;
/// See [`STREAM_WINDOW`]: the whole connection's window.
pub const CONNECTION_WINDOW: u32 = 4 * 1024 * 1024;

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
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let dial = dial.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(&dial).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
}
