//! `berth.v1.Containers` and `berth.v1.Events`: the gRPC adapters over
//! [`ContainerService`] and the [`EventBus`].

use crate::containers::config::{ContainerConfig, LogConfig, RestartPolicy};
use crate::containers::exec::ExecOptions;
use crate::containers::exec::OutputRelay;
use crate::containers::files::{CopyToOptions, LogsQuery};
use crate::containers::health::HealthConfig;
use crate::containers::logs::{format_details, LogStream};
use crate::containers::restart::{PolicyKind, RestartError};
use crate::containers::service::AttachOptions;
use crate::containers::spec::{self, ContainerOptions, NetworkMode};
use crate::containers::task::{OutputChunk, OutputStream, StdStream, StdinMessage};
use crate::containers::{ContainerError, ContainerService};
use crate::events::{self, EventBus};
use berth_proto::v1 as pb;
use pb::containers_server::{Containers, ContainersServer};
use pb::events_server::{Events, EventsServer};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Code, Request, Response, Status, Streaming};

/// The gRPC status of a container error; a failed start carries docker's
/// exit code (126/127/...) in the `berth-exit-code` metadata.
pub fn container_status(e: &ContainerError) -> Status {
    use berth_proto::status::{MISSING, MISSING_CONTAINER, MISSING_IMAGE, MISSING_PATH};
    let missing = match e {
        ContainerError::NotFound(_) => Some(MISSING_CONTAINER),
        ContainerError::ImageNotFound(_) => Some(MISSING_IMAGE),
        ContainerError::PathNotFound(_) => Some(MISSING_PATH),
        _ => None,
    };
    if let Some(what) = missing {
        let mut status = Status::new(Code::NotFound, e.to_string());
        status
            .metadata_mut()
            .insert(MISSING, tonic::metadata::MetadataValue::from_static(what));
        return status;
    }
    let code = match e {
        ContainerError::Conflict(_) => Code::AlreadyExists,
        ContainerError::InvalidArgument(_) => Code::InvalidArgument,
        ContainerError::FailedPrecondition(_) => Code::FailedPrecondition,
        ContainerError::NotImplemented(_) => Code::Unimplemented,
        ContainerError::Spec(s) if s.is_invalid_argument() => Code::InvalidArgument,
        ContainerError::Spec(spec::SpecError::NotImplemented(_)) => Code::Unimplemented,
        ContainerError::Image(i) => return super::image_status(i),
        ContainerError::Volume(v) => return super::volumes::volume_status(v),
        ContainerError::Network(n) => return super::networks::network_status(n),
        ContainerError::StartFailed { .. } | ContainerError::ExecFailed(_) => {
            let code = match e {
                ContainerError::StartFailed { code, .. } => *code,
                _ => crate::containers::EXEC_START_FAILED,
            };
            let mut status = Status::new(Code::FailedPrecondition, e.to_string());
            if let Ok(v) = code.to_string().parse() {
                status
                    .metadata_mut()
                    .insert(berth_proto::status::EXIT_CODE, v);
            }
            return status;
        }
        _ => Code::Internal,
    };
    Status::new(code, e.to_string())
}

fn st(e: ContainerError) -> Status {
    container_status(&e)
}

/// The Containers service's adapter.
pub struct ContainersApi {
    containers: Arc<ContainerService>,
}

/// The tonic server of the Containers service.
pub fn server(containers: Arc<ContainerService>) -> ContainersServer<ContainersApi> {
    ContainersServer::new(ContainersApi { containers })
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

/// The Events service.
pub struct EventsApi {
    bus: Arc<EventBus>,
}

/// The tonic server of the Events service.
pub fn events_server(bus: Arc<EventBus>) -> EventsServer<EventsApi> {
    EventsServer::new(EventsApi { bus })
}

/// `cp`'s stat of a path, as the API sends it.
fn path_stat(s: &berth_docker::archive::PathStat) -> pb::PathStat {
    pb::PathStat {
        name: s.name.clone(),
        size: s.size,
        mode: s.mode,
        mtime: s
            .mtime
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
        link_target: s.link_target.clone(),
    }
}

fn opt_string(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// The user's `--log-driver` and `--log-opt` as given; the containers
/// domain resolves and checks them at create (daemon.json's defaults).
fn log_config(driver: &str, opts: &std::collections::HashMap<String, String>) -> LogConfig {
    LogConfig {
        driver: driver.to_string(),
        opts: opts.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        ..LogConfig::default()
    }
}

// `..ContainerOptions::default()` stays so that an option added to the
// spec defaults until its API field exists.
#[allow(clippy::needless_update)]
fn container_config(mut c: pb::ContainerConfig) -> Result<ContainerConfig, Status> {
    let network =
        NetworkMode::parse(&c.network).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let log = log_config(&c.log_driver, &c.log_opts);
    let healthcheck = HealthConfig::from_request(
        std::mem::take(&mut c.health_test),
        [c.health_interval, c.health_timeout, c.health_start_period],
        c.health_retries,
    )
    .map_err(|e| Status::invalid_argument(e.to_string()))?;
    let options = ContainerOptions {
        entrypoint: c.entrypoint_set.then_some(c.entrypoint),
        cmd: c.cmd,
        env: c.env,
        working_dir: opt_string(c.working_dir),
        user: opt_string(c.user),
        hostname: opt_string(c.hostname),
        domainname: opt_string(c.domainname),
        tty: c.tty,
        open_stdin: c.open_stdin,
        attach_stdin: c.attach_stdin,
        attach_stdout: c.attach_stdout,
        attach_stderr: c.attach_stderr,
        stdin_once: c.stdin_once,
        binds: c.binds,
        volumes_from: c.volumes_from,
        links: c.links,
        link_local_ips: c.link_local_ips,
        volume_driver: opt_string(c.volume_driver),
        mounts: c.mounts,
        tmpfs: c.tmpfs,
        read_only: c.read_only,
        privileged: c.privileged,
        cap_add: c.cap_add,
        cap_drop: c.cap_drop,
        security_opt: c.security_opt,
        seccomp_profile: (!c.seccomp_profile.is_empty()).then_some(c.seccomp_profile),
        memory: (c.memory != 0).then_some(c.memory),
        memory_swap: (c.memory_swap != 0).then_some(c.memory_swap),
        cpus: (c.nano_cpus != 0).then_some(c.nano_cpus as f64 / 1e9),
        cpu_shares: (c.cpu_shares != 0).then_some(c.cpu_shares),
        pids_limit: (c.pids_limit != 0).then_some(c.pids_limit),
        network,
        init: c.init,
        labels: c.labels.into_iter().collect(),
        stop_signal: opt_string(c.stop_signal),
        sysctls: c.sysctls.into_iter().collect(),
        ulimits: c.ulimits,
        shm_size: (c.shm_size != 0).then_some(c.shm_size),
        healthcheck,
        group_add: c.group_add,
        publish: c.publish,
        publish_all: c.publish_all,
        expose: c.expose,
        extra_hosts: c.extra_hosts,
        dns: c.dns,
        network_aliases: c.network_aliases,
        ip: opt_string(c.ip),
        mac_address: opt_string(c.mac_address),
        cpu_period: (c.cpu_period != 0).then_some(c.cpu_period),
        cpu_quota: (c.cpu_quota != 0).then_some(c.cpu_quota),
        cpu_rt_period: (c.cpu_rt_period != 0).then_some(c.cpu_rt_period),
        cpu_rt_runtime: (c.cpu_rt_runtime != 0).then_some(c.cpu_rt_runtime),
        cpuset_cpus: opt_string(c.cpuset_cpus),
        cpuset_mems: opt_string(c.cpuset_mems),
        memory_reservation: (c.memory_reservation != 0).then_some(c.memory_reservation),
        memory_swappiness: c.memory_swappiness.filter(|s| *s != -1),
        oom_kill_disable: c.oom_kill_disable,
        oom_score_adj: (c.oom_score_adj != 0).then_some(c.oom_score_adj),
        kernel_memory: (c.kernel_memory != 0).then_some(c.kernel_memory),
        blkio_weight: match c.blkio_weight {
            0 => None,
            w => Some(u16::try_from(w).map_err(|_| {
                Status::invalid_argument("Range of blkio weight is from 10 to 1000")
            })?),
        },
        blkio_weight_device: c.blkio_weight_device,
        device_read_bps: c.device_read_bps,
        device_write_bps: c.device_write_bps,
        device_read_iops: c.device_read_iops,
        device_write_iops: c.device_write_iops,
        cgroup_parent: opt_string(c.cgroup_parent),
        pid_mode: opt_string(c.pid_mode),
        ipc_mode: opt_string(c.ipc_mode),
        uts_mode: opt_string(c.uts_mode),
        cgroupns_mode: opt_string(c.cgroupns_mode),
        userns_mode: opt_string(c.userns_mode),
        gpus: opt_string(c.gpus),
        devices: c.devices,
        device_cgroup_rules: c.device_cgroup_rules,
        dns_search: c.dns_search,
        dns_options: c.dns_options,
        ..ContainerOptions::default()
    };
    let restart = RestartPolicy::checked(&c.restart_policy, c.restart_max_retries)
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    if c.auto_remove && restart.kind() != PolicyKind::No {
        return Err(Status::invalid_argument(
            RestartError::ConflictsWithAutoRemove.to_string(),
        ));
    }
    Ok(ContainerConfig {
        image: c.image,
        options,
        log,
        auto_remove: c.auto_remove,
        runtime: opt_string(c.runtime),
        stop_timeout: (c.stop_timeout >= 0).then_some(c.stop_timeout),
        restart,
    })
}

fn signal_number(s: &str) -> Result<Option<i32>, Status> {
    if s.is_empty() {
        return Ok(None);
    }
    spec::parse_signal(s)
        .map(Some)
        .map_err(|e| Status::invalid_argument(e.to_string()))
}

type AttachStream = Pin<Box<dyn Stream<Item = Result<pb::AttachStreamResponse, Status>> + Send>>;
type Sender = mpsc::Sender<Result<pb::AttachStreamResponse, Status>>;

fn output_message(r: OutputChunk) -> pb::AttachStreamResponse {
    let stream = match r.stream {
        StdStream::Stderr => pb::OutputStream::Stderr,
        StdStream::Stdout => pb::OutputStream::Stdout,
    };
    pb::AttachStreamResponse {
        response: Some(pb::attach_stream_response::Response::Output(pb::Output {
            stream: stream as i32,
            data: r.data,
        })),
    }
}

fn exit_message(code: i32) -> pb::AttachStreamResponse {
    pb::AttachStreamResponse {
        response: Some(pb::attach_stream_response::Response::Exit(pb::Exited {
            exit_code: code,
        })),
    }
}

/// Forwards a task's output to the client, message by message: each waits
/// for room in the client's bounded queue, so a slow client slows the
/// task's stream (and through it the process), never a dropped message.
/// True when the output ended; false when the client left or the stream
/// broke: the client is then told so (an error status, never a silent
/// end). `relay` (the main output's) notes progress and is dropped once
/// the stream was read to its end.
async fn forward_output(
    mut output: OutputStream,
    tx: &Sender,
    what: &str,
    relay: Option<OutputRelay>,
) -> bool {
    use tokio_stream::StreamExt;
    loop {
        tokio::select! {
            msg = output.next() => match msg {
                Some(Ok(r)) => {
                    if let Some(relay) = &relay {
                        relay.read_one();
                    }
                    if tx.send(Ok(output_message(r))).await.is_err() {
                        return false;
                    }
                }
                None => return true,
                Some(Err(e)) => {
                    drop(relay);
                    let _ = tx
                        .send(Err(Status::aborted(format!(
                            "output of {what} cut off before its end: {e}"
                        ))))
                        .await;
                    return false;
                }
            },
            _ = tx.closed() => return false,
        }
    }
}

/// Reads the client's requests after the first: stdin bytes go to
/// `stdin_tx`, resizes to `on_resize`.
fn pump_requests(
    mut requests: Streaming<pb::AttachStreamRequest>,
    stdin_tx: Option<mpsc::Sender<StdinMessage>>,
    service: Arc<ContainerService>,
    id: Arc<std::sync::Mutex<(String, String)>>,
) {
    tokio::spawn(async move {
        while let Ok(Some(req)) = requests.message().await {
            use pb::attach_stream_request::Request as R;
            match req.request {
                Some(R::Stdin(data)) => {
                    if let Some(tx) = &stdin_tx {
                        let _ = tx.send(StdinMessage::Data(data)).await;
                    }
                }
                Some(R::CloseStdin(true)) => {
                    if let Some(tx) = &stdin_tx {
                        let _ = tx.send(StdinMessage::Close).await;
                    }
                }
                Some(R::Resize(size)) => {
                    let (cid, exec_id) = id.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    service
                        .resize(&cid, &exec_id, size.width, size.height)
                        .await;
                }
                _ => {}
            }
        }
    });
}

fn filters(
    map: std::collections::HashMap<String, pb::FilterValues>,
) -> BTreeMap<String, Vec<String>> {
    map.into_iter().map(|(k, v)| (k, v.values)).collect()
}

impl ContainersApi {
    fn service(&self) -> Arc<ContainerService> {
        self.containers.clone()
    }
}

#[tonic::async_trait]
impl Containers for ContainersApi {
    type AttachStream = AttachStream;
    type ExecStream = AttachStream;
    type StatsStream = Pin<Box<dyn Stream<Item = Result<pb::StatsSample, Status>> + Send>>;
    type LogsStream = Pin<Box<dyn Stream<Item = Result<pb::LogChunk, Status>> + Send>>;
    type CopyFromStream = Pin<Box<dyn Stream<Item = Result<pb::CopyChunk, Status>> + Send>>;
    type ExportStream = Pin<Box<dyn Stream<Item = Result<pb::DataChunk, Status>> + Send>>;

    async fn create(
        &self,
        request: Request<pb::CreateContainerRequest>,
    ) -> Result<Response<pb::CreateContainerResponse>, Status> {
        let req = request.into_inner();
        let config = container_config(req.config.unwrap_or_default())?;
        let (id, warnings) = self
            .service()
            .create(opt_string(req.name), config)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::CreateContainerResponse { id, warnings }))
    }

    async fn start(
        &self,
        request: Request<pb::StartContainerRequest>,
    ) -> Result<Response<pb::StartContainerResponse>, Status> {
        let req = request.into_inner();
        self.service().start(&req.id, None).await.map_err(st)?;
        Ok(Response::new(pb::StartContainerResponse {}))
    }

    async fn stop(
        &self,
        request: Request<pb::StopContainerRequest>,
    ) -> Result<Response<pb::StopContainerResponse>, Status> {
        let req = request.into_inner();
        let signal = signal_number(&req.signal)?;
        let timeout = (req.timeout >= 0).then_some(req.timeout);
        self.service()
            .stop(&req.id, timeout, signal)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::StopContainerResponse {}))
    }

    async fn restart(
        &self,
        request: Request<pb::RestartContainerRequest>,
    ) -> Result<Response<pb::RestartContainerResponse>, Status> {
        let req = request.into_inner();
        let signal = signal_number(&req.signal)?;
        let timeout = (req.timeout >= 0).then_some(req.timeout);
        self.service()
            .restart(&req.id, timeout, signal)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::RestartContainerResponse {}))
    }

    async fn kill(
        &self,
        request: Request<pb::KillContainerRequest>,
    ) -> Result<Response<pb::KillContainerResponse>, Status> {
        let req = request.into_inner();
        let signal = signal_number(&req.signal)?.unwrap_or(libc::SIGKILL);
        self.service().kill(&req.id, signal).await.map_err(|e| {
            // docker's API wraps every kill error so (container_routes.go).
            let s = st(e);
            Status::with_metadata(
                s.code(),
                format!("Cannot kill container: {}: {}", req.id, s.message()),
                s.metadata().clone(),
            )
        })?;
        Ok(Response::new(pb::KillContainerResponse {}))
    }

    async fn remove(
        &self,
        request: Request<pb::RemoveContainerRequest>,
    ) -> Result<Response<pb::RemoveContainerResponse>, Status> {
        let req = request.into_inner();
        if req.link {
            self.service().remove_link(&req.id).map_err(st)?;
            return Ok(Response::new(pb::RemoveContainerResponse {}));
        }
        self.service()
            .remove_with_volumes(&req.id, req.force, req.volumes)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::RemoveContainerResponse {}))
    }

    async fn rename(
        &self,
        request: Request<pb::RenameContainerRequest>,
    ) -> Result<Response<pb::RenameContainerResponse>, Status> {
        let req = request.into_inner();
        self.service()
            .rename(&req.id, &req.new_name)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::RenameContainerResponse {}))
    }

    async fn update(
        &self,
        request: Request<pb::UpdateContainerRequest>,
    ) -> Result<Response<pb::UpdateContainerResponse>, Status> {
        let req = request.into_inner();
        if let Some(name) = &req.restart_policy {
            let policy = RestartPolicy::checked(name, req.restart_max_retries.unwrap_or(0))
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            self.service()
                .update_restart_policy(&req.id, policy)
                .await
                .map_err(st)?;
        }
        let update = crate::containers::ops::ResourceUpdate {
            memory: req.memory,
            memory_swap: req.memory_swap,
            cpus: req.nano_cpus.map(|n| n as f64 / 1e9),
            cpu_shares: req.cpu_shares,
            pids_limit: req.pids_limit,
        };
        self.service()
            .update_resources(&req.id, update)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::UpdateContainerResponse {
            warnings: vec![],
        }))
    }

    async fn pause(
        &self,
        request: Request<pb::PauseContainerRequest>,
    ) -> Result<Response<pb::PauseContainerResponse>, Status> {
        self.service()
            .pause(&request.into_inner().id)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::PauseContainerResponse {}))
    }

    async fn unpause(
        &self,
        request: Request<pb::UnpauseContainerRequest>,
    ) -> Result<Response<pb::UnpauseContainerResponse>, Status> {
        self.service()
            .unpause(&request.into_inner().id)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::UnpauseContainerResponse {}))
    }

    async fn wait(
        &self,
        request: Request<pb::WaitContainerRequest>,
    ) -> Result<Response<pb::WaitContainerResponse>, Status> {
        let req = request.into_inner();
        let code = self
            .service()
            .wait(&req.id, &req.condition)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::WaitContainerResponse {
            exit_code: code,
            error: String::new(),
        }))
    }

    async fn attach(
        &self,
        request: Request<Streaming<pb::AttachStreamRequest>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let mut requests = request.into_inner();
        let first = requests
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("attach: no request"))?;
        let Some(pb::attach_stream_request::Request::Attach(a)) = first.request else {
            return Err(Status::invalid_argument(
                "attach: the first request must be AttachStart",
            ));
        };
        let service = self.service();
        let record = service.resolve(&a.id).map_err(st)?;
        let id = record.id.clone();
        // Before the stream opens: a process that exits at once waits for it.
        let relay = service.output_relay(&id);
        let (stdin_tx, stdin_rx) = if a.stdin {
            let (tx, rx) = mpsc::channel(64);
            (Some(tx), Some(Arc::new(tokio::sync::Mutex::new(rx))))
        } else {
            (None, None)
        };
        let ids = Arc::new(std::sync::Mutex::new((id.clone(), String::new())));
        let (output, seen) = if a.start {
            let seen = service.exit_generation(&id);
            let opts = AttachOptions {
                stdin_rx: stdin_rx.filter(|_| record.config.options.open_stdin),
                width: a.width,
                height: a.height,
            };
            let out = service.start(&id, Some(opts)).await.map_err(st)?;
            (out.expect("attach requested"), seen)
        } else {
            let seen = service.exit_generation(&id);
            let (_, out) = service.attach(&id, stdin_rx).await.map_err(st)?;
            if a.width > 0 && a.height > 0 {
                service.resize(&id, "", a.width, a.height).await;
            }
            (out, seen)
        };
        pump_requests(requests, stdin_tx, service.clone(), ids);
        let (tx, rx) = mpsc::channel(64);
        let auto_remove = record.config.auto_remove;
        let (want_out, want_err) = (a.stdout, a.stderr);
        tokio::spawn(async move {
            let (ftx, mut frx) = mpsc::channel(64);
            let what = format!("container {id}");
            let fwd =
                tokio::spawn(async move { forward_output(output, &ftx, &what, Some(relay)).await });
            while let Some(msg) = frx.recv().await {
                let keep = match &msg {
                    Ok(pb::AttachStreamResponse {
                        response: Some(pb::attach_stream_response::Response::Output(o)),
                    }) => {
                        if o.stream == pb::OutputStream::Stderr as i32 {
                            want_err
                        } else {
                            want_out
                        }
                    }
                    _ => true,
                };
                if keep && tx.send(msg).await.is_err() {
                    return;
                }
            }
            if !fwd.await.unwrap_or(false) {
                return;
            }
            let code = service.wait_run_end(&id, seen, auto_remove).await;
            let _ = tx.send(Ok(exit_message(code))).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn exec(
        &self,
        request: Request<Streaming<pb::AttachStreamRequest>>,
    ) -> Result<Response<Self::ExecStream>, Status> {
        let mut requests = request.into_inner();
        let first = requests
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("exec: no request"))?;
        let Some(pb::attach_stream_request::Request::Exec(e)) = first.request else {
            return Err(Status::invalid_argument(
                "exec: the first request must be ExecStart",
            ));
        };
        let service = self.service();
        let (stdin_tx, stdin_rx) = if e.stdin {
            let (tx, rx) = mpsc::channel(64);
            (Some(tx), Some(Arc::new(tokio::sync::Mutex::new(rx))))
        } else {
            (None, None)
        };
        let opts = ExecOptions {
            cmd: e.cmd,
            env: e.env,
            working_dir: e.working_dir,
            user: e.user,
            tty: e.tty,
            privileged: e.privileged,
            stdin: stdin_rx,
            width: e.width,
            height: e.height,
        };
        let mut started = service.exec(&e.id, opts).await.map_err(st)?;
        let ids = Arc::new(std::sync::Mutex::new((
            started.container_id.clone(),
            started.exec_id.clone(),
        )));
        pump_requests(requests, stdin_tx, service.clone(), ids);
        let (tx, rx) = mpsc::channel(64);
        let started_msg = pb::AttachStreamResponse {
            response: Some(pb::attach_stream_response::Response::Started(pb::Started {
                id: started.exec_id.clone(),
            })),
        };
        let _ = tx.send(Ok(started_msg)).await;
        let detach = e.detach;
        tokio::spawn(async move {
            let output = started.output.take();
            if detach {
                // The process runs on; reap it in the background.
                drop(tx);
                drop(output);
                let _ = started.wait().await;
                return;
            }
            if let Some(output) = output {
                let what = format!(
                    "exec {} of container {}",
                    started.exec_id, started.container_id
                );
                if !forward_output(output, &tx, &what, None).await {
                    return;
                }
            }
            match started.wait().await {
                Ok(code) => {
                    let _ = tx.send(Ok(exit_message(code))).await;
                }
                Err(e) => {
                    let _ = tx.send(Err(st(e))).await;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list(
        &self,
        request: Request<pb::ListContainersRequest>,
    ) -> Result<Response<pb::ListContainersResponse>, Status> {
        let req = request.into_inner();
        let mut filters = filters(req.filters);
        // `network=`: every network a container is on (crate::networks).
        let network_filter = filters.remove("network");
        let service = self.service();
        let all = req.all || req.last > 0 || !filters.is_empty() && filters.contains_key("status");
        let (summaries, memberships) = tokio::task::spawn_blocking(move || {
            let mut list = service.list(all, req.size)?;
            // Read once for the whole listing.
            let memberships = service.network_memberships();
            if let Some(wanted) = &network_filter {
                list.retain(|s| service.on_any_network(&memberships, &s.record, wanted));
            }
            crate::containers::filter::apply(list, &filters, req.last).map(|l| (l, memberships))
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(st)?;
        let containers = summaries
            .into_iter()
            .map(|s| {
                let r = &s.record;
                let networks = self.containers.network_names(&memberships, r);
                pb::ContainerSummary {
                    id: r.id.clone(),
                    names: s.names.clone(),
                    image: r.image.clone(),
                    image_id: r.image_id.clone(),
                    command: s.command.clone(),
                    created: s.created_unix,
                    state: r.state.status.as_str().to_string(),
                    status: s.status.clone(),
                    ports: crate::containers::ports::listed_ports(r)
                        .into_iter()
                        .map(|(ip, private, public, proto)| pb::Port {
                            ip,
                            private_port: private as u32,
                            public_port: public as u32,
                            r#type: proto.as_str().to_string(),
                        })
                        .collect(),
                    labels: r.config.options.labels.clone().into_iter().collect(),
                    size_rw: s.size_rw.unwrap_or(0) as i64,
                    size_root_fs: 0,
                    networks,
                    mounts: r.volumes.iter().map(|v| v.name.clone()).collect(),
                }
            })
            .collect();
        Ok(Response::new(pb::ListContainersResponse { containers }))
    }

    async fn inspect(
        &self,
        request: Request<pb::InspectContainerRequest>,
    ) -> Result<Response<pb::InspectContainerResponse>, Status> {
        let req = request.into_inner();
        let service = self.service();
        let container = tokio::task::spawn_blocking(move || service.inspect(&req.id, req.size))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(st)?;
        Ok(Response::new(pb::InspectContainerResponse {
            json: serde_json::to_string(&container).expect("serialise a container"),
        }))
    }

    async fn top(
        &self,
        request: Request<pb::TopRequest>,
    ) -> Result<Response<pb::TopResponse>, Status> {
        let req = request.into_inner();
        let (titles, rows) = self
            .service()
            .top(&req.id, &req.ps_args)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::TopResponse {
            titles,
            processes: rows
                .into_iter()
                .map(|columns| pb::TopRow { columns })
                .collect(),
        }))
    }

    async fn stats(
        &self,
        request: Request<pb::StatsRequest>,
    ) -> Result<Response<Self::StatsStream>, Status> {
        let req = request.into_inner();
        let rx = self
            .service()
            .stats(req.ids, req.all, req.stream)
            .await
            .map_err(st)?;
        let samples = ReceiverStream::new(rx).map(|s| {
            Ok(pb::StatsSample {
                id: s.id,
                name: s.name,
                read: s.read,
                cpu_total_ns: s.cpu_total_ns,
                system_cpu_ns: s.system_cpu_ns,
                online_cpus: s.online_cpus,
                memory_usage: s.memory_usage,
                memory_limit: s.memory_limit,
                memory_cache: s.memory_cache,
                pids: s.pids,
                net_rx_bytes: s.net_rx_bytes,
                net_tx_bytes: s.net_tx_bytes,
                block_read_bytes: s.block_read_bytes,
                block_write_bytes: s.block_write_bytes,
                running: s.running,
            })
        });
        Ok(Response::new(Box::pin(samples)))
    }

    async fn logs(
        &self,
        request: Request<pb::LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        let req = request.into_inner();
        let at = |nanos: i64| {
            (nanos > 0).then(|| {
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(nanos as u64)
            })
        };
        // Neither stream asked for: both, as docker.
        let both = !req.stdout && !req.stderr;
        let query = LogsQuery {
            follow: req.follow,
            tail: (req.tail >= 0).then_some(req.tail as usize),
            since: at(req.since),
            until: at(req.until),
            stdout: req.stdout || both,
            stderr: req.stderr || both,
            id: req.id,
        };
        let details = req.details;
        let rx = self.service().logs(query).await.map_err(st)?;
        let chunks = ReceiverStream::new(rx).map(move |entry| {
            entry.map_err(st).map(|e| pb::LogChunk {
                stream: match e.stream {
                    LogStream::Stderr => pb::OutputStream::Stderr as i32,
                    _ => pb::OutputStream::Stdout as i32,
                },
                // As docker's daemon/logs.go: the attributes, then the line.
                data: if details {
                    let mut data = format_details(&e.attrs).into_bytes();
                    data.extend_from_slice(&e.line);
                    data
                } else {
                    e.line
                },
                time: e
                    .time
                    .duration_since(std::time::SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as i64)
                    .unwrap_or(0),
            })
        });
        Ok(Response::new(Box::pin(chunks)))
    }

    async fn diff(
        &self,
        request: Request<pb::DiffRequest>,
    ) -> Result<Response<pb::DiffResponse>, Status> {
        let req = request.into_inner();
        let changes = self.service().diff(&req.id).await.map_err(st)?;
        let changes = changes
            .into_iter()
            .map(|c| pb::Change {
                kind: c.kind.code() as i32,
                path: c.path,
            })
            .collect();
        Ok(Response::new(pb::DiffResponse { changes }))
    }

    async fn commit(
        &self,
        request: Request<pb::CommitContainerRequest>,
    ) -> Result<Response<pb::CommitContainerResponse>, Status> {
        let req = request.into_inner();
        let image_id = self
            .service()
            .commit(crate::containers::commit::CommitOptions {
                container: req.id,
                reference: req.reference,
                author: req.author,
                comment: req.comment,
                changes: req.changes,
                pause: req.pause,
            })
            .await
            .map_err(st)?;
        Ok(Response::new(pb::CommitContainerResponse { image_id }))
    }

    async fn copy_from(
        &self,
        request: Request<pb::CopyFromRequest>,
    ) -> Result<Response<Self::CopyFromStream>, Status> {
        let req = request.into_inner();
        let (stat, rx) = self
            .service()
            .copy_from(&req.id, &req.path, req.follow_link)
            .await
            .map_err(st)?;
        // The stat first, then the tar.
        let first = pb::CopyChunk {
            stat: Some(path_stat(&stat)),
            data: Vec::new(),
        };
        let data = ReceiverStream::new(rx).map(|chunk| {
            chunk
                .map_err(st)
                .map(|data| pb::CopyChunk { stat: None, data })
        });
        Ok(Response::new(Box::pin(
            tokio_stream::once(Ok(first)).chain(data),
        )))
    }

    async fn copy_to(
        &self,
        request: Request<Streaming<pb::CopyToRequest>>,
    ) -> Result<Response<pb::CopyToResponse>, Status> {
        let mut requests = request.into_inner();
        let first = requests
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("copy: no request"))?;
        let Some(pb::copy_to_request::Request::Options(options)) = first.request else {
            return Err(Status::invalid_argument(
                "copy: the first request must carry the options",
            ));
        };
        let options = CopyToOptions {
            id: options.id,
            path: options.path,
            no_overwrite_dir_non_dir: options.no_overwrite_dir_non_dir,
            copy_uid_gid: options.copy_uid_gid,
        };
        // The client's tar, message by message; a broken stream ends the copy.
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let chunk = match requests.message().await {
                    Ok(Some(msg)) => match msg.request {
                        Some(pb::copy_to_request::Request::Data(d)) => Ok(d),
                        _ => continue,
                    },
                    Ok(None) => return,
                    Err(s) => Err(ContainerError::InvalidArgument(format!(
                        "copy: {}",
                        s.message()
                    ))),
                };
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    return;
                }
            }
        });
        self.service().copy_to(options, rx).await.map_err(st)?;
        Ok(Response::new(pb::CopyToResponse {}))
    }

    async fn export(
        &self,
        request: Request<pb::ExportContainerRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let req = request.into_inner();
        let rx = self.service().export(&req.id).await.map_err(st)?;
        let chunks = ReceiverStream::new(rx)
            .map(|chunk| chunk.map_err(st).map(|data| pb::DataChunk { data }));
        Ok(Response::new(Box::pin(chunks)))
    }

    async fn prune(
        &self,
        request: Request<pb::PruneContainersRequest>,
    ) -> Result<Response<pb::PruneContainersResponse>, Status> {
        let req = request.into_inner();
        let (deleted, space_reclaimed) = self
            .service()
            .prune(&filters(req.filters))
            .await
            .map_err(st)?;
        Ok(Response::new(pb::PruneContainersResponse {
            deleted,
            space_reclaimed,
        }))
    }
}

#[tonic::async_trait]
impl Events for EventsApi {
    type SubscribeStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeEventsRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let req = request.into_inner();
        let filters = filters(req.filters);
        let rx = self.bus.stream(events::Subscription {
            since: req.since,
            until: req.until,
            filters,
        });
        let to_pb = |e: events::Event| {
            Ok(pb::Event {
                r#type: e.kind.to_string(),
                action: e.action,
                actor_id: e.actor_id,
                attributes: e.attributes.into_iter().collect(),
                time: e.time_nano,
            })
        };
        Ok(Response::new(Box::pin(ReceiverStream::new(rx).map(to_pb))))
    }
}
