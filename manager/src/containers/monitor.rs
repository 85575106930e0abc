//! A container's life after its start: the task that waits for its exit
//! and records it, lost shims, and what a restart of berthd finds.
//!
//! Restart of berthd: [`ContainerService::recover`] reconnects to the shim of
//! every container recorded as running; a shim that is gone left its exit
//! file, which is read instead, so no exit code is lost. A start writes its
//! intent into the record before it spawns the shim (`record::StartIntent`),
//! so a berthd killed in the middle of a start finds the shim at its next
//! start and either adopts it (the process was started: it keeps its logs
//! and true exit code) or tears it down (it was not: the container stays
//! `created`). Whatever a container without a record left in the state dir
//! (a create or a `--rm` removal cut short) is torn down too.
//!
//! A shim that dies (kill -9, OOM killer) while its container runs is lost
//! supervision, not an exit. berthd does not try to adopt the orphaned
//! process with a new shim: a new shim could watch it by pidfd but could
//! never learn its exit code (only a parent or subreaper can wait for it, and
//! it was reparented to init), and its stdio pipes died with the old shim,
//! so from then on its output would be lost without anyone noticing.
//! Instead, as containerd does after a dead shim (`cleanupAfterDeadShim`:
//! the shim's delete runs `runc delete --force` and an exit of 128 + SIGKILL
//! is published), the container is killed through the runtime
//! (`delete --force`: process, cgroup, runtime state), its veth and ports go,
//! and the exit is recorded as 137 with the reason in `State.Error`; the
//! restart policy then applies like after any exit (`always` starts it again
//! with a new shim). A shim that recorded the init's exit before it died is
//! not a loss: that exit is recorded as it is.
//!
//! Removal waits for the shim to be gone before it removes the bundle (the
//! shim's state dir is inside it, and a shim still exiting after the Delete
//! of the exit writes its `shim-exit` record there), and `rm` fails rather
//! than answer success while the runtime's state or the bundle is left.

use super::crash_point;
use super::record::{ContainerRecord, ShimInfo, Status};
use super::service::{now_rfc3339, ContainerService, ExitInfo};

use super::task::shim::ShimProcess;
use super::task::{EventStream, Task, TaskEvent, TaskStatus};
use super::ContainerError;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

impl ContainerService {
    /// Spawns the task that waits for the container's exit and records it.
    pub(crate) fn monitor(self: &Arc<Self>, id: String) {
        self.start_health_monitor(&id);
        let service = self.clone();
        tokio::spawn(service.watch_exit(id));
    }

    /// Waits for the container's exit (and its OOM kills meanwhile) and
    /// records it.
    ///
    /// This task lives as long as the container runs, one per container, so
    /// it is kept small (issue 21: berthd's memory per running container):
    /// the OOM events are taken in the same loop (no task of their own),
    /// and the exit's handling, which is large and runs once, is boxed so
    /// its state is not part of the waiting task's.
    pub(super) async fn watch_exit(self: Arc<Self>, id: String) {
        let entry = self.entry(&id);
        let Some(mut task) = entry.task() else {
            return;
        };
        let mut events = task.events().await.ok();
        loop {
            let waited = {
                let mut wait = task.wait("");
                loop {
                    tokio::select! {
                        waited = &mut wait => break waited,
                        event = next_event(&mut events) => match event {
                            Some(TaskEvent::Oom { exec_id }) if exec_id.is_empty() => {
                                entry.oom.store(true, std::sync::atomic::Ordering::SeqCst);
                                if let Ok(r) = self.get(&id) {
                                    self.publish(&r, "oom", &[]);
                                }
                            }
                            Some(_) => {}
                            None => events = None,
                        },
                    }
                }
            };
            match waited {
                Ok(exit) => {
                    // An OOM kill the event stream did not deliver (yet):
                    // its event goes before the exit's, as docker's.
                    if exit.oom_killed && !entry.oom.swap(true, std::sync::atomic::Ordering::SeqCst)
                    {
                        if let Ok(r) = self.get(&id) {
                            self.publish(&r, "oom", &[]);
                        }
                    }
                    let finished = exit
                        .exited_at
                        .map(|t| humantime::format_rfc3339_nanos(t).to_string())
                        .unwrap_or_else(now_rfc3339);
                    Box::pin(self.handle_exit(&id, exit.code, finished, Some(task), None)).await;
                    return;
                }
                Err(error) => {
                    let Some(shim) = self.get(&id).ok().and_then(|r| r.shim) else {
                        // Its exit was recorded (or it was removed) meanwhile.
                        return;
                    };
                    if ShimProcess::find(&shim.state_dir).is_some() {
                        // The shim lives: only the connection broke (or
                        // berthd is going down, and this task with it).
                        tracing::warn!(id, %error, "lost the connection to the shim; reconnecting");
                        tokio::time::sleep(RECONNECT_PAUSE).await;
                        if let Ok(t) =
                            Box::pin(self.launcher.connect(&id, &shim.address, &shim.state_dir))
                                .await
                        {
                            entry.set_task(Some(t.clone()));
                            task = t;
                        }
                        continue;
                    }
                    tracing::warn!(id, %error, "the shim died");
                    Box::pin(async {
                        let (code, at, error) = self.reap_lost_shim(&id, &shim).await;
                        self.handle_exit(&id, code, at, None, error).await;
                    })
                    .await;
                    return;
                }
            }
        }
    }

    /// A container whose shim died: its exit, from the exit file when the
    /// shim recorded one before it died; else the container is killed
    /// through the runtime (see [`LOST_SHIM_EXIT_CODE`]) and, like
    /// containerd after a dead shim, reported as killed. Either way nothing
    /// of the task is left: runtime state, cgroup, the dead shim's socket.
    pub(super) async fn reap_lost_shim(
        &self,
        id: &str,
        shim: &ShimInfo,
    ) -> (i32, String, Option<String>) {
        let exit = read_exit_file(&shim.state_dir);
        self.tear_down_task(id, Some(shim)).await;
        match exit {
            Some((code, at)) => (code, at, None),
            None => {
                tracing::warn!(
                    id,
                    "shim lost while the container ran: killed it through the runtime"
                );
                (
                    LOST_SHIM_EXIT_CODE,
                    now_rfc3339(),
                    Some(format!(
                        "the container's shim died ({}): its process was killed, since nothing could supervise it, hold its output or learn its exit code any more",
                        shim.state_dir.display()
                    )),
                )
            }
        }
    }

    /// Ends whatever task container `id` has: its shim (asked to
    /// force-delete the container and exit, or killed), the runtime's
    /// container (a forced delete kills the process and removes the cgroup
    /// and the runtime's state), the dead shim's socket, the published ports
    /// and the veth. Used after failed and interrupted starts and lost
    /// shims; a container that never started is left `created`.
    pub(crate) async fn tear_down_task(&self, id: &str, shim_info: Option<&ShimInfo>) {
        let state_dir = shim_info
            .map(|s| s.state_dir.clone())
            .unwrap_or_else(|| self.paths.shim_state(id));
        let address = shim_info
            .map(|s| s.address.clone())
            .filter(|a| !a.as_os_str().is_empty())
            .or_else(|| shim_address(&state_dir));
        if let Some(process) = ShimProcess::find(&state_dir) {
            if let Some(address) = &address {
                if let Ok(Ok(t)) = tokio::time::timeout(
                    SHIM_CONNECT_TIMEOUT,
                    self.launcher.connect(id, address, &state_dir),
                )
                .await
                {
                    let _ = tokio::time::timeout(SHIM_SHUTDOWN_TIMEOUT, shutdown_shim(t.as_ref()))
                        .await;
                }
            }
            if !process.end(SHIM_EXIT_GRACE).await {
                tracing::warn!(id, pid = process.pid, "shim did not die");
            }
        }
        if let Err(e) = self
            .force_delete_runtime_container(id, shim_info.map(|s| s.runtime.as_path()))
            .await
        {
            tracing::warn!(id, error = %e, "forced delete in the runtime");
        }
        if let Some(address) = &address {
            // A killed shim leaves its socket behind.
            if std::os::unix::net::UnixStream::connect(address).is_err() {
                let _ = std::fs::remove_file(address);
            }
        }
        self.unpublish_ports(id).await;
        self.networks.detach(id).await;
    }

    /// `RUNTIME delete --force ID` when the runtime still has state for
    /// `id` under berthd's runtime root (the process killed, its cgroup and
    /// state removed). With no runtime named, each known runtime is tried.
    pub(crate) async fn force_delete_runtime_container(
        &self,
        id: &str,
        runtime: Option<&Path>,
    ) -> Result<(), ContainerError> {
        let state = self.paths.runtime_root.join(id);
        if !state.exists() {
            return Ok(());
        }
        let mut candidates: Vec<PathBuf> = runtime.map(Path::to_path_buf).into_iter().collect();
        candidates.extend(self.runtimes.paths.values().cloned());
        let mut last = String::new();
        for binary in candidates {
            let out = tokio::process::Command::new(&binary)
                .arg("--root")
                .arg(&self.paths.runtime_root)
                .args(["delete", "--force", id])
                .stdin(std::process::Stdio::null())
                .output()
                .await;
            match out {
                Ok(o) if o.status.success() && !state.exists() => return Ok(()),
                Ok(o) => last = String::from_utf8_lossy(&o.stderr).trim().to_string(),
                Err(e) => last = format!("run {}: {e}", binary.display()),
            }
        }
        if state.exists() {
            return Err(ContainerError::Internal(format!(
                "forced delete of container {id} in the runtime left {}: {last}",
                state.display()
            )));
        }
        Ok(())
    }

    /// Records an exit: shim cleaned up, state exited, watchers told, and
    /// the container removed when it was created with `--rm`.
    pub(super) async fn handle_exit(
        self: &Arc<Self>,
        id: &str,
        code: i32,
        finished: String,
        task: Option<Arc<dyn Task>>,
        error: Option<String>,
    ) {
        let entry = self.entry(id);
        self.stop_health_monitor(&entry);
        // The shim's Delete ends its attach streams: clients attached
        // through berthd get the output's tail first.
        super::exec::drain_output_relays(id, &entry).await;
        let guard = entry.lock.lock().await;
        if let Some(task) = task {
            // The shim counted the log lines it could not deliver: said
            // here once, as dockerd logs its ring buffer's drops.
            if let Ok(state) = task.state("").await {
                if state.log_lost > 0 {
                    tracing::warn!(
                        container = id,
                        lost = state.log_lost,
                        "container {id}: {} log message(s) lost (mode=non-blocking buffer full or log driver sink unreachable)",
                        state.log_lost
                    );
                }
            }
            if task.delete("").await.is_err() {
                // The shim refuses Delete while an exec it has not reaped yet
                // still counts as running (a health probe caught by the
                // exit); the container is gone either way, and a shim left
                // waiting would never exit: have it force-delete and exit.
                shutdown_shim(task.as_ref()).await;
            }
            crash_point::reached("exit-deleted", id);
        }
        entry.set_task(None);
        self.unpublish_ports(id).await;
        self.networks.detach(id).await;
        super::shm::release(&self.paths.shm_dir(id));
        let oom = entry.oom.load(std::sync::atomic::Ordering::SeqCst);
        let record = self.update(id, |r| {
            r.state.status = Status::Exited;
            r.state.pid = 0;
            r.state.exit_code = code;
            r.state.finished_at = finished.clone();
            r.state.oom_killed = oom;
            if let Some(e) = &error {
                r.state.error = e.clone();
            }
            r.shim = None;
            r.starting = None;
        });
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(id, error = %e, "record exit");
                return;
            }
        };
        self.publish(&record, "die", &[("exitCode", code.to_string())]);
        self.volumes.container_stopped(id, &record.volumes);
        let record = self.schedule_restart(record, &entry);
        let generation = entry.exits.borrow().0 + 1;
        entry
            .exits
            .send_replace((generation, Some(ExitInfo { code })));
        drop(guard);
        if record.config.auto_remove {
            if let Err(e) = self.remove(id, true).await {
                tracing::warn!(id, error = %e, "auto-remove");
            }
        }
    }

    /// After a berthd restart, before serving: makes the records and what is
    /// on disk agree.
    ///
    /// * a record with a start under way (`starting`): the start is
    ///   reconciled ([`Self::recover_interrupted_start`]);
    /// * a live record: its shim is reconnected; a shim that is gone left
    ///   its exit file, which is read instead, or (none) the container lost
    ///   its supervisor and is killed ([`Self::reap_lost_shim`]);
    /// * any other record whose state dir still holds a live shim: reconciled
    ///   like an interrupted start (a shim nobody tracks is adopted or ended);
    /// * state left by containers without a record (bundle dirs, the
    ///   runtime's state, log dirs, dead shims' sockets): torn down
    ///   ([`Self::reap_orphans`]);
    /// * then restart policies run, and the networks drop what is not live.
    pub async fn recover(self: &Arc<Self>) -> Result<(), ContainerError> {
        let mut restarts = Vec::new();
        for record in self.records()? {
            if record.starting.is_some()
                || (!record.state.status.is_live()
                    && ShimProcess::find(&self.paths.shim_state(&record.id)).is_some())
            {
                let id = record.id.clone();
                self.recover_interrupted_start(record).await;
                if let Ok(r) = self.get(&id) {
                    if matches!(r.state.status, Status::Exited | Status::Restarting) {
                        restarts.push(id);
                    }
                }
                continue;
            }
            if matches!(record.state.status, Status::Exited | Status::Restarting) {
                restarts.push(record.id.clone());
                continue;
            }
            if !record.state.status.is_live() {
                if record.state.status == Status::Removing {
                    let _ = self.remove(&record.id, true).await;
                }
                continue;
            }
            let entry = self.entry(&record.id);
            let connected = match &record.shim {
                Some(s) => self
                    .launcher
                    .connect(&record.id, &s.address, &s.state_dir)
                    .await
                    .ok(),
                None => None,
            };
            match (connected, &record.shim) {
                (Some(task), _) => {
                    entry.set_task(Some(task));
                    tracing::info!(id = %record.id, "re-adopted shim");
                    self.monitor(record.id.clone());
                }
                (None, Some(shim)) => {
                    let (code, at, error) = self.reap_lost_shim(&record.id, shim).await;
                    tracing::info!(id = %record.id, code, "shim gone; recorded its exit");
                    self.handle_exit(&record.id, code, at, None, error).await;
                }
                (None, None) => {
                    self.tear_down_task(&record.id, None).await;
                    self.handle_exit(&record.id, LOST_SHIM_EXIT_CODE, now_rfc3339(), None, None)
                        .await;
                }
            }
        }
        self.reap_orphans().await;
        for id in restarts {
            if let Ok(record) = self.get(&id) {
                self.restart_at_daemon_start(&record);
            }
        }
        let running: Vec<ContainerRecord> = self
            .records()?
            .into_iter()
            .filter(|r| r.state.status.is_live())
            .collect();
        let live = running.iter().map(|r| r.id.clone()).collect();
        if let Err(e) = self.networks.recover(&live).await {
            tracing::warn!(error = %e, "recover networks");
        }
        // Their embedded DNS servers died with the previous berthd.
        for r in running.iter().filter(|r| r.state.pid > 0) {
            let dns = super::network::resolver_config(r);
            if let Err(e) = self.networks.serve_dns(&r.id, r.state.pid, dns).await {
                tracing::warn!(id = %r.id, error = %e, "restart embedded dns server");
            }
        }
        Ok(())
    }

    /// A start berthd did not finish (it died after writing the intent), or
    /// a shim found alive for a container its record says is not running.
    /// What the shim says decides: a process that was started (running,
    /// paused, or already exited) is adopted, so it keeps its logs and its
    /// true exit code (`wait` gets it from the shim; `--rm` removes it only
    /// once it exits); anything short of that (no shim, no init, an init
    /// never started) is torn down and the container stays as it was
    /// (`created`, or `exited` from an earlier run), ready for `start`.
    pub(super) async fn recover_interrupted_start(self: &Arc<Self>, record: ContainerRecord) {
        let id = record.id.clone();
        let shim_info = match &record.starting {
            Some(intent) => intent.shim.clone(),
            None => {
                let (_, runtime) = self
                    .runtimes
                    .resolve(Some(&record.runtime))
                    .unwrap_or_else(|_| (String::new(), PathBuf::new()));
                ShimInfo {
                    address: PathBuf::new(),
                    state_dir: self.paths.shim_state(&id),
                    runtime,
                    runtime_root: self.paths.runtime_root.clone(),
                }
            }
        };
        let mut shim_info = shim_info;
        if shim_info.address.as_os_str().is_empty() {
            if let Some(a) = shim_address(&shim_info.state_dir) {
                shim_info.address = a;
            }
        }
        let step = record.starting.as_ref().map(|i| i.step);
        let mut adopted = None;
        if ShimProcess::find(&shim_info.state_dir).is_some()
            && !shim_info.address.as_os_str().is_empty()
        {
            let connect = self
                .launcher
                .connect(&id, &shim_info.address, &shim_info.state_dir);
            if let Ok(Ok(task)) = tokio::time::timeout(SHIM_CONNECT_TIMEOUT, connect).await {
                if let Ok(state) = task.state("").await {
                    if matches!(
                        state.status,
                        TaskStatus::Running | TaskStatus::Paused | TaskStatus::Stopped
                    ) {
                        adopted = Some((task, state.pid, state.status));
                    }
                }
            }
        }
        match adopted {
            Some((task, pid, status)) => {
                let info = shim_info.clone();
                let updated = self.update(&id, |r| {
                    r.state.status = if status == TaskStatus::Paused {
                        Status::Paused
                    } else {
                        Status::Running
                    };
                    r.state.pid = pid;
                    if r.starting.is_some() || r.state.started_at.is_empty() {
                        r.state.started_at = now_rfc3339();
                    }
                    r.state.exit_code = 0;
                    r.state.error.clear();
                    r.state.oom_killed = false;
                    r.state.stopped_by_user = false;
                    r.shim = Some(info);
                    r.starting = None;
                });
                match updated {
                    Ok(record) => {
                        tracing::info!(id, ?step, pid, "adopted the shim of an interrupted start");
                        let entry = self.entry(&id);
                        entry.set_task(Some(task));
                        self.publish(&record, "start", &[]);
                        self.monitor(id);
                    }
                    Err(e) => tracing::warn!(id, error = %e, "record an adopted start"),
                }
            }
            None => {
                // An exit file: the process ran and exited while its shim
                // was lost too; its code is the true one.
                let exit = read_exit_file(&shim_info.state_dir);
                self.tear_down_task(&id, Some(&shim_info)).await;
                let _ = std::fs::remove_dir_all(&shim_info.state_dir);
                tracing::info!(id, ?step, "tore down an interrupted start");
                let _ = self.update(&id, |r| {
                    r.starting = None;
                    r.shim = None;
                    r.state.pid = 0;
                    match exit {
                        Some((code, at)) => {
                            r.state.status = Status::Exited;
                            r.state.exit_code = code;
                            r.state.finished_at = at;
                        }
                        None if r.state.status.is_live() => {
                            r.state.status = Status::Exited;
                            r.state.exit_code = LOST_SHIM_EXIT_CODE;
                            r.state.finished_at = now_rfc3339();
                        }
                        None => {
                            r.state.error =
                                "the start was interrupted by a restart of berthd".to_string();
                        }
                    }
                });
            }
        }
    }

    /// What containers without a record left: a bundle dir (its shim, the
    /// runtime's container, the rootfs mount and snapshot, the network
    /// addresses go too), the runtime's state, a log dir, and any socket in
    /// the shim socket dir no shim listens on. A berthd killed during a
    /// create or during the removal of a `--rm` container leaves these.
    pub(super) async fn reap_orphans(&self) {
        let known: BTreeSet<String> = match self.records() {
            Ok(r) => r.into_iter().map(|r| r.id).collect(),
            Err(_) => return,
        };
        let orphans = |dir: &Path| -> Vec<String> {
            std::fs::read_dir(dir)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| !n.starts_with('.') && !known.contains(n))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut ids: BTreeSet<String> = orphans(&self.paths.bundles).into_iter().collect();
        ids.extend(orphans(&self.paths.runtime_root));
        ids.extend(orphans(&self.paths.persistent));
        let snapshotter = self.images.snapshotter().name().to_string();
        for id in ids {
            tracing::info!(id, "removing what a container without a record left");
            self.tear_down_task(&id, None).await;
            self.discard_filesystem(&id, &snapshotter, &format!("container-{id}"));
            if let Err(e) = self.networks.release(&id).await {
                tracing::warn!(id, error = %e, "release network addresses");
            }
        }
        // Sockets of shims killed with SIGKILL (and console sockets of
        // creates they did not finish).
        if let Ok(rd) = std::fs::read_dir(&self.paths.sockets) {
            for e in rd.flatten() {
                let path = e.path();
                if std::os::unix::net::UnixStream::connect(&path).is_err() {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
}

/// The exit code recorded for a container killed because its shim died:
/// 128 + SIGKILL, what containerd reports after a dead shim (its
/// `cleanupAfterDeadShim` runs the shim's delete: `runc delete --force`).
pub const LOST_SHIM_EXIT_CODE: i32 = 128 + libc::SIGKILL;
/// Before a connection to a shim that lives is tried again.
pub(super) const RECONNECT_PAUSE: Duration = Duration::from_millis(200);
/// How long a shim being torn down may take to accept a connection.
pub(super) const SHIM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long its forced Shutdown may take (it waits for a create in flight
/// and for the init's death).
pub(super) const SHIM_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(45);
/// How long a shim told to go may take to exit before it is killed.
pub(super) const SHIM_EXIT_GRACE: Duration = Duration::from_secs(2);

/// The socket a shim recorded in its state dir (`address`).
pub(super) fn shim_address(state_dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(state_dir.join("address")).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| PathBuf::from(text))
}

/// Tells a shim to go (killing and deleting its container first).
pub(super) async fn shutdown_shim(task: &dyn Task) {
    let _ = task.shutdown(true).await;
}

/// The exit the shim recorded in its state dir: (code, finished-at).
pub(super) fn read_exit_file(state_dir: &Path) -> Option<(i32, String)> {
    let bytes = std::fs::read(state_dir.join("exit")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let code = v.get("exit_status")?.as_i64()? as i32;
    let at = v
        .get("exited_at")
        .and_then(|t| t.as_str())
        .map(str::to_string)
        .unwrap_or_else(now_rfc3339);
    Some((code, at))
}

/// The next event of a task's stream; never, when there is none (ended).
async fn next_event(events: &mut Option<EventStream>) -> Option<TaskEvent> {
    use tokio_stream::StreamExt;
    match events {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}
