//! The shim's life after daemonizing: one current-thread tokio runtime
//! (DESIGN.md: the shim is small, one thread, no pool) running the reaper,
//! the signal handlers and the gRPC server on the bound socket, until the
//! container is deleted (or Shutdown, or SIGTERM). Then the socket is
//! removed, `shim-exit` records why, and the process exits.

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_proto::shim::v1::shim_server::ShimServer;
use tokio::signal::unix::{signal, SignalKind};
use tokio_stream::wrappers::UnixListenerStream;

use crate::memory::IdleTrimmer;
use crate::reaper::Reaper;
use crate::record::{write_shim_exit, ADDRESS_FILE};
use crate::runtime::Runtime;
use crate::service::ShimService;
use crate::task::{Task, TaskConfig};

/// After a shutdown is asked for, how long open calls and streams may take
/// to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What the shim serves with.
pub struct ServeOptions {
    pub task: TaskConfig,
    pub runtime: PathBuf,
    pub runtime_root: Option<PathBuf>,
    pub socket_path: PathBuf,
}

/// Serves until the shim should exit; returns why.
pub fn serve(options: ServeOptions, listener: UnixListener) -> anyhow::Result<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let state_dir = options.task.state_dir.clone();
    let socket_path = options.socket_path.clone();
    let reason = rt.block_on(run(options, listener));
    let _ = std::fs::remove_file(&socket_path);
    let _ = std::fs::remove_file(state_dir.join(ADDRESS_FILE));
    let reason = reason?;
    write_shim_exit(&state_dir, &reason)?;
    Ok(reason)
}

async fn run(options: ServeOptions, listener: UnixListener) -> anyhow::Result<String> {
    // SIGCHLD is watched before any child can exist.
    let sigchld = signal(SignalKind::child())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let reaper = Arc::new(Reaper::new());
    tokio::spawn({
        let reaper = reaper.clone();
        async move { reaper.run(sigchld).await }
    });
    let runtime = Runtime::new(
        options.runtime,
        options.runtime_root,
        options.task.state_dir.clone(),
        reaper.clone(),
    );
    let task = Task::new(options.task, runtime, reaper);
    tokio::spawn({
        let task = task.clone();
        async move {
            let name = tokio::select! {
                _ = sigterm.recv() => "SIGTERM",
                _ = sigint.recv() => "SIGINT",
            };
            eprintln!(
                "berth-shim: {name}: killing and deleting container {}",
                task.config.id
            );
            task.terminate(&format!("terminated by {name}")).await;
        }
    });

    let trimmer = Arc::new(IdleTrimmer::default());
    tokio::spawn({
        let trimmer = trimmer.clone();
        async move { trimmer.run().await }
    });

    listener.set_nonblocking(true)?;
    let incoming = UnixListenerStream::new(tokio::net::UnixListener::from_std(listener)?);
    let mut shutdown = task.shutdown_requested();
    let server = tonic::transport::Server::builder()
        .add_service(ShimServer::with_interceptor(
            ShimService::new(task.clone()),
            move |req| {
                trimmer.touch();
                Ok(req)
            },
        ))
        .serve_with_incoming_shutdown(incoming, {
            let task = task.clone();
            let mut shutdown = shutdown.clone();
            async move {
                let _ = shutdown.wait_for(Option::is_some).await;
                // End the event streams so open connections can close.
                task.events.close();
            }
        });
    tokio::pin!(server);
    tokio::select! {
        r = &mut server => r?,
        _ = async {
            let _ = shutdown.wait_for(Option::is_some).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {}
    }
    let reason = shutdown
        .borrow()
        .clone()
        .unwrap_or_else(|| "server stopped".to_string());
    Ok(reason)
}

/// Writes `name` with `content` in the state dir (pid and address files).
pub fn write_state_file(state_dir: &Path, name: &str, content: &str) -> anyhow::Result<()> {
    crate::record::write_atomic(state_dir, name, content.as_bytes())?;
    Ok(())
}
