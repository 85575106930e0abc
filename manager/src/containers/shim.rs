//! Starting a container's berth-shim and talking to it.
//!
//! berthd runs `berth-shim --id ID --bundle B --state-dir S --runtime R
//! --runtime-root RR --socket-dir D`; the shim prints its socket path once
//! it listens and goes on in its own session (it outlives berthd: DESIGN.md
//! "Process model"). berthd then speaks `berth.shim.v1` to that socket, and
//! after a restart reconnects to the address kept in the record.

use berth_proto::shim::v1::shim_client::ShimClient;
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use tonic::transport::{Channel, Endpoint, Uri};

/// A shim client.
pub type Client = ShimClient<Channel>;

/// Why a shim could not be started or reached.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("start shim {binary} for container {id}: {source}")]
    Spawn {
        binary: PathBuf,
        id: String,
        source: std::io::Error,
    },
    #[error("shim for container {id} failed: {message}")]
    Failed { id: String, message: String },
    #[error("connect to shim at {address}: {message}")]
    Connect { address: PathBuf, message: String },
}

/// Where the programs berthd runs are.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub shim: PathBuf,
}

/// Finds `name` next to the running executable, else on PATH, else returns
/// the bare name (so the error names it).
pub fn find_binary(name: &str) -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from(name)
}

/// What a new shim is started with.
pub struct ShimLaunch<'a> {
    pub binary: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub state_dir: &'a Path,
    pub runtime: &'a Path,
    pub runtime_root: &'a Path,
    pub socket_dir: &'a Path,
}

/// Starts a shim and returns its socket address.
pub async fn spawn(launch: &ShimLaunch<'_>) -> Result<PathBuf, ShimError> {
    let output = tokio::process::Command::new(launch.binary)
        .arg("--id")
        .arg(launch.id)
        .arg("--bundle")
        .arg(launch.bundle)
        .arg("--state-dir")
        .arg(launch.state_dir)
        .arg("--runtime")
        .arg(launch.runtime)
        .arg("--runtime-root")
        .arg(launch.runtime_root)
        .arg("--socket-dir")
        .arg(launch.socket_dir)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|source| ShimError::Spawn {
            binary: launch.binary.to_path_buf(),
            id: launch.id.to_string(),
            source,
        })?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(ShimError::Failed {
            id: launch.id.to_string(),
            message: if message.is_empty() {
                format!("exited with {}", output.status)
            } else {
                message
            },
        });
    }
    let address = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if address.is_empty() {
        return Err(ShimError::Failed {
            id: launch.id.to_string(),
            message: "printed no socket address".into(),
        });
    }
    Ok(PathBuf::from(address))
}

/// Connects to the shim listening at `address`.
pub async fn connect(address: &Path) -> Result<Client, ShimError> {
    let endpoint = Endpoint::try_from("http://shim.sock").expect("static uri");
    let dial = address.to_path_buf();
    let channel = endpoint
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let dial = dial.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(&dial).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|e| {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message = s.to_string();
                source = s.source();
            }
            ShimError::Connect {
                address: address.to_path_buf(),
                message,
            }
        })?;
    Ok(ShimClient::new(channel)
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20))
}
