//! Connecting the CLI to berthd: gRPC over the unix socket named by
//! `-H unix://PATH`.

use super::CliError;
use berth_proto::v1::images_client::ImagesClient;
use berth_proto::v1::system_client::SystemClient;
use std::path::PathBuf;
use tonic::transport::Channel;

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
    berth_proto::dial_unix(&path).await.map_err(|e| {
        let mut reason = e.to_string();
        let mut denied = false;
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason = s.to_string();
            // The socket is 0660 root:berth: a user outside the group
            // gets EACCES from connect(2), which says nothing about
            // whether berthd runs.
            denied |= s
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied);
            source = s.source();
        }
        if denied {
            CliError::PermissionDenied {
                host: shown,
                group: socket_group(&path),
            }
        } else {
            CliError::Connect {
                host: shown,
                reason,
            }
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

/// The name (else the number) of the group that grants access to the
/// socket, for the permission error: the socket's, or when the user cannot
/// even reach it, that of the nearest directory above it the user can see
/// (berthd's state dir, 0710 root:berth, holds the default socket).
fn socket_group(path: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Some(meta) = path.ancestors().find_map(|p| std::fs::metadata(p).ok()) else {
        return "?".to_string();
    };
    let gid = meta.gid();
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16 * 1024];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: getgrgid_r writes only into grp and buf, both owned here and
    // sized as passed.
    let rc = unsafe {
        libc::getgrgid_r(
            gid,
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return gid.to_string();
    }
    // SAFETY: on success gr_name points to a NUL-terminated string in buf.
    unsafe { std::ffi::CStr::from_ptr(grp.gr_name) }
        .to_string_lossy()
        .into_owned()
}

/// A Builder client.
pub async fn builder(
    host: &str,
) -> Result<berth_proto::v1::builder_client::BuilderClient<Channel>, CliError> {
    Ok(
        berth_proto::v1::builder_client::BuilderClient::new(connect(host).await?)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20),
    )
}
