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
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::signal::unix::{signal, SignalKind};
use tonic::service::interceptor::{InterceptedService, Interceptor};

use crate::memory::IdleTrimmer;
use crate::reaper::Reaper;
use crate::record::{write_shim_exit, ADDRESS_FILE};
use crate::runtime::Runtime;
use crate::service::ShimService;
use crate::task::{Task, TaskConfig};

/// After a shutdown is asked for, how long open calls and streams may take
/// to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(300);
/// Concurrent calls on one connection (Wait, Attach and Events calls stay
/// open; berthd multiplexes them on one connection).
const MAX_STREAMS: u32 = 256;

/// Resolves once the shim should exit.
async fn until_shutdown(rx: &mut tokio::sync::watch::Receiver<Option<String>>) {
    let _ = rx.wait_for(Option::is_some).await;
}

/// Every call is activity for the [`IdleTrimmer`].
#[derive(Clone)]
struct NoteActivity(Arc<IdleTrimmer>);

impl Interceptor for NoteActivity {
    fn call(&mut self, req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        self.0.touch();
        Ok(req)
    }
}

type Service = InterceptedService<ShimServer<ShimService>, NoteActivity>;

/// Serves one client connection: HTTP/2 straight from hyper (tonic's
/// router is for many services; the shim has one), until the client goes
/// or the shim shuts down (then GOAWAY, and calls in flight may finish).
async fn serve_connection(
    stream: tokio::net::UnixStream,
    service: Service,
    mut shutdown: tokio::sync::watch::Receiver<Option<String>>,
) {
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .max_concurrent_streams(MAX_STREAMS)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = until_shutdown(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
        }
    }
}

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
    let listener = tokio::net::UnixListener::from_std(listener)?;
    let service =
        ShimServer::with_interceptor(ShimService::new(task.clone()), NoteActivity(trimmer));
    let mut shutdown = task.shutdown_requested();
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.spawn(serve_connection(stream, service.clone(), shutdown.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = until_shutdown(&mut shutdown) => break,
        }
    }
    drop(listener);
    // End the event streams so that open connections can close, and let
    // the calls in flight (the Delete that asked for this) answer: each
    // connection ends once its calls did (GOAWAY), at most SHUTDOWN_GRACE
    // later. The shim exits as soon as they all ended, so that whoever
    // waits for it (berthd removing the bundle the state dir is in) waits
    // no longer than it must.
    task.events.close();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE * 2, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    // Whatever output is still queued for the log is written before the
    // shim exits (the worker thread would die with it).
    task.wait_logs_written(LOG_FLUSH).await;
    let reason = shutdown
        .borrow()
        .clone()
        .unwrap_or_else(|| "server stopped".to_string());
    Ok(reason)
}

/// How long the shim's exit waits for queued output to reach the log (a
/// process left holding the output open must not keep the shim forever).
const LOG_FLUSH: std::time::Duration = std::time::Duration::from_secs(10);

/// Writes `name` with `content` in the state dir (pid and address files).
pub fn write_state_file(state_dir: &Path, name: &str, content: &str) -> anyhow::Result<()> {
    crate::record::write_atomic(state_dir, name, content.as_bytes())?;
    Ok(())
}
