//! The gRPC adapter: `berth.shim.v1.Shim` over [`Task`]. It converts
//! messages and maps every [`TaskError`] to a status code in one place
//! ([`to_status`]).
//!
//! The calls that change the container (Create, Start, Kill, Delete,
//! Shutdown) run in a task of their own ([`to_completion`]): a server drops
//! a call's future when its client goes away, and a berthd killed in the
//! middle of a Start must not leave the process half started (a runtime
//! call running on, the task's state saying "being started" forever). The
//! call finishes; berthd, at its next start, asks State what came of it.

use std::pin::Pin;
use std::sync::Arc;

use berth_proto::shim::v1 as pb;
use berth_proto::shim::v1::shim_server::Shim;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::events::{timestamp, EventItem};
use crate::logging::LogSettings;
use crate::runtime::RuntimeError;
use crate::stdio::{AttachItem, StdioError};
use crate::task::{Task, TaskError};

/// Maps a task error to its gRPC status; the message is the error's text
/// (for a failed runtime call, the runtime's own message, verbatim).
pub fn to_status(err: TaskError) -> Status {
    use tonic::Code;
    let code = match &err {
        TaskError::NotFound(_) => Code::NotFound,
        TaskError::AlreadyExists(_) => Code::AlreadyExists,
        TaskError::InvalidArgument(_) => Code::InvalidArgument,
        TaskError::FailedPrecondition(_) => Code::FailedPrecondition,
        TaskError::Runtime(RuntimeError::Failed(_)) => Code::Unknown,
        TaskError::Runtime(_) => Code::Internal,
        TaskError::Stdio(
            StdioError::NoStdin { .. } | StdioError::NoTty { .. } | StdioError::NoTtyYet { .. },
        ) => Code::FailedPrecondition,
        TaskError::Stdio(_) | TaskError::Console(_) | TaskError::Record(_) => Code::Internal,
        TaskError::Log(e) if e.is_invalid_argument() => Code::InvalidArgument,
        // A sink that cannot be reached: docker's "failed to initialize
        // logging driver" at start.
        TaskError::Log(_) => Code::FailedPrecondition,
        TaskError::Io { .. } => Code::Internal,
    };
    Status::new(code, err.to_string())
}

/// The Shim service.
pub struct ShimService {
    task: Arc<Task>,
}

impl ShimService {
    pub fn new(task: Arc<Task>) -> ShimService {
        ShimService { task }
    }
}

type Reply<T> = Result<Response<T>, Status>;

/// Runs `call` to its end even if the client that made it goes away (see
/// the module docs).
async fn to_completion<T: Send + 'static>(
    call: impl std::future::Future<Output = Result<T, TaskError>> + Send + 'static,
) -> Result<T, Status> {
    match tokio::spawn(call).await {
        Ok(result) => result.map_err(to_status),
        Err(e) => Err(Status::internal(format!("shim call failed: {e}"))),
    }
}

fn ok<T>(t: T) -> Reply<T> {
    Ok(Response::new(t))
}

#[tonic::async_trait]
impl Shim for ShimService {
    async fn create(&self, req: Request<pb::CreateRequest>) -> Reply<pb::CreateResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        let log = req.log.unwrap_or_default();
        let task = self.task.clone();
        let settings = LogSettings {
            driver: log.driver,
            path: log.path,
            max_size: log.max_size,
            max_file: log.max_file,
            options: log.options.into_iter().collect(),
            tag: log.tag,
            attrs: log.attrs.into_iter().collect(),
            non_blocking: log.non_blocking,
            max_buffer_size: log.max_buffer_size,
        };
        let pid = to_completion(async move { task.create(req.stdin, settings).await }).await?;
        ok(pb::CreateResponse { pid })
    }

    async fn start(&self, req: Request<pb::StartRequest>) -> Reply<pb::StartResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        let task = self.task.clone();
        let pid = to_completion(async move { task.start(&req.exec_id).await }).await?;
        ok(pb::StartResponse { pid })
    }

    async fn state(&self, req: Request<pb::StateRequest>) -> Reply<pb::StateResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        let v = self.task.state(&req.exec_id).map_err(to_status)?;
        ok(pb::StateResponse {
            id: req.id,
            exec_id: req.exec_id,
            bundle: self.task.config.bundle.to_string_lossy().into_owned(),
            pid: v.pid,
            status: v.status.to_proto() as i32,
            terminal: v.terminal,
            stdin: v.stdin,
            exit_status: v.exit.map(|e| e.status).unwrap_or(0),
            exited_at: v.exit.map(|e| timestamp(e.at)),
            log_lost: v.log_lost,
        })
    }

    async fn kill(&self, req: Request<pb::KillRequest>) -> Reply<pb::KillResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        let task = self.task.clone();
        to_completion(async move { task.kill(&req.exec_id, req.signal, req.all).await }).await?;
        ok(pb::KillResponse {})
    }

    async fn delete(&self, req: Request<pb::DeleteRequest>) -> Reply<pb::DeleteResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        let task = self.task.clone();
        let (pid, exit) = to_completion(async move { task.delete(&req.exec_id).await }).await?;
        ok(pb::DeleteResponse {
            pid,
            exit_status: exit.map(|e| e.status).unwrap_or(0),
            exited_at: exit.map(|e| timestamp(e.at)),
        })
    }

    async fn wait(&self, req: Request<pb::WaitRequest>) -> Reply<pb::WaitResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        let exit = self.task.wait(&req.exec_id).await.map_err(to_status)?;
        ok(pb::WaitResponse {
            exit_status: exit.status,
            exited_at: Some(timestamp(exit.at)),
            oom_killed: req.exec_id.is_empty() && self.task.oom_killed(),
        })
    }

    async fn exec(&self, req: Request<pb::ExecRequest>) -> Reply<pb::ExecResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        self.task
            .exec(&req.exec_id, &req.process, req.stdin)
            .map_err(to_status)?;
        ok(pb::ExecResponse {})
    }

    async fn resize_pty(&self, req: Request<pb::ResizePtyRequest>) -> Reply<pb::ResizePtyResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        let (Ok(width), Ok(height)) = (u16::try_from(req.width), u16::try_from(req.height)) else {
            return Err(Status::invalid_argument(format!(
                "tty size {}x{} out of range: at most 65535x65535",
                req.width, req.height
            )));
        };
        let process = self.task.process(&req.exec_id).map_err(to_status)?;
        process
            .io
            .resize(width, height)
            .map_err(|e| to_status(e.into()))?;
        ok(pb::ResizePtyResponse {})
    }

    async fn close_stdin(
        &self,
        req: Request<pb::CloseStdinRequest>,
    ) -> Reply<pb::CloseStdinResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        let process = self.task.process(&req.exec_id).map_err(to_status)?;
        process
            .io
            .close_stdin()
            .await
            .map_err(|e| to_status(e.into()))?;
        ok(pb::CloseStdinResponse {})
    }

    type AttachStream = ReceiverStream<AttachItem>;

    async fn attach(
        &self,
        req: Request<Streaming<pb::AttachRequest>>,
    ) -> Reply<Self::AttachStream> {
        let mut inbound = req.into_inner();
        let first = inbound.message().await?.ok_or_else(|| {
            Status::invalid_argument("attach: the stream ended before naming a process")
        })?;
        self.task.check_id(&first.id).map_err(to_status)?;
        let process = self.task.process(&first.exec_id).map_err(to_status)?;
        // Subscribed before the response headers go out: a client that
        // starts the process after Attach returned misses no output.
        let output = process.io.subscribe();
        let io = process.io.clone();
        // The client's side of the stream is read until it ends or the shim
        // shuts down: a client that keeps it open (berthd does, while the
        // output flows) must not hold the connection, and with it the
        // shim's exit, for the whole shutdown grace.
        let mut shutdown = self.task.shutdown_requested();
        tokio::spawn(async move {
            let mut msg = Some(first);
            while let Some(m) = msg {
                if !m.stdin.is_empty() {
                    if let Err(e) = io.write_stdin(&m.stdin).await {
                        eprintln!("berth-shim: attach: {e}");
                    }
                }
                if m.close_stdin {
                    let _ = io.close_stdin().await;
                }
                msg = tokio::select! {
                    m = inbound.message() => m.ok().flatten(),
                    _ = shutdown.wait_for(Option::is_some) => None,
                };
            }
        });
        ok(ReceiverStream::new(output))
    }

    async fn pids(&self, req: Request<pb::PidsRequest>) -> Reply<pb::PidsResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        let pids = self.task.pids().await.map_err(to_status)?;
        ok(pb::PidsResponse {
            processes: pids
                .into_iter()
                .map(|(pid, exec_id)| pb::ProcessInfo { pid, exec_id })
                .collect(),
        })
    }

    async fn stats(&self, req: Request<pb::StatsRequest>) -> Reply<pb::StatsResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        let s = self.task.stats().await.map_err(to_status)?;
        ok(pb::StatsResponse {
            json: s.json.to_string(),
            memory_usage_bytes: s.memory_usage,
            memory_limit_bytes: s.memory_limit,
            cpu_usage_total_ns: s.cpu_total,
            pids_current: s.pids,
        })
    }

    async fn pause(&self, req: Request<pb::PauseRequest>) -> Reply<pb::PauseResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        self.task.pause().await.map_err(to_status)?;
        ok(pb::PauseResponse {})
    }

    async fn resume(&self, req: Request<pb::ResumeRequest>) -> Reply<pb::ResumeResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        self.task.resume().await.map_err(to_status)?;
        ok(pb::ResumeResponse {})
    }

    async fn update(&self, req: Request<pb::UpdateRequest>) -> Reply<pb::UpdateResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        self.task.update(&req.resources).await.map_err(to_status)?;
        ok(pb::UpdateResponse {})
    }

    type EventsStream = Pin<Box<ReceiverStream<EventItem>>>;

    async fn events(&self, _req: Request<pb::EventsRequest>) -> Reply<Self::EventsStream> {
        ok(Box::pin(ReceiverStream::new(self.task.events.subscribe())))
    }

    async fn shutdown(&self, req: Request<pb::ShutdownRequest>) -> Reply<pb::ShutdownResponse> {
        let req = req.into_inner();
        self.task.check_id(&req.id).map_err(to_status)?;
        let task = self.task.clone();
        to_completion(async move { task.shutdown(req.now).await }).await?;
        ok(pb::ShutdownResponse {})
    }
}
