//! What users do to a container: create (snapshot, volumes, spec, record),
//! start (shim, task, network, ports), kill, stop, restart, pause,
//! unpause, wait, remove and rename; each takes the container's lock
//! (its [`super::store::Entry`]) where docker's container lock is taken.

use super::config::ContainerConfig;
use super::crash_point;
use super::links::LinkContext;
use super::monitor::{shutdown_shim, SHIM_EXIT_GRACE};
use super::record::{ContainerRecord, ContainerState, ShimInfo, StartIntent, StartStep, Status};
use super::service::{io_err, is_mounted, now_rfc3339, ContainerService, Entry};
use super::store::valid_name;
use crate::ids::new_id;

use super::spec::{self, ImageRuntimeConfig, SpecContext};
use super::task::shim::ShimProcess;
use super::task::{StdinSource, TaskLaunch};
use super::ContainerError;
use crate::volumes::VolumeMount;
use berth_store::mount::{mount_all, unmount};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

impl ContainerService {
    /// Creates a container from `config`; returns its id and warnings.
    pub async fn create(
        &self,
        name: Option<String>,
        mut config: ContainerConfig,
    ) -> Result<(String, Vec<String>), ContainerError> {
        config.log =
            super::log_driver::resolve(&config.log.driver, &config.log.opts, &self.log_defaults)?;
        let name = name
            .filter(|n| !n.is_empty())
            .map(|n| n.trim_start_matches('/').to_string());
        if let Some(n) = &name {
            if !valid_name(n) {
                return Err(ContainerError::InvalidArgument(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
        }
        self.runtimes.resolve(config.runtime.as_deref())?;
        let lookup = self.images.lookup(&config.image).map_err(|e| match e {
            crate::images::ImageError::NotFound(what) => ContainerError::ImageNotFound(what),
            other => ContainerError::Image(Box::new(other)),
        })?;
        let image_ref = lookup.name.clone().unwrap_or_else(|| lookup.resolved.id());
        self.create_from_image(name, config, lookup.resolved, image_ref)
            .await
    }

    /// A container of the builder's (a RUN step) on `resolved`, an intermediate image
    /// of the build: no name, the log driver as given (resolved here as `create` does).
    pub(crate) async fn create_build_step(
        &self,
        mut config: ContainerConfig,
        resolved: crate::images::ResolvedImage,
    ) -> Result<String, ContainerError> {
        config.log =
            super::log_driver::resolve(&config.log.driver, &config.log.opts, &self.log_defaults)?;
        let image_ref = resolved.id();
        let (id, _) = self
            .create_from_image(None, config, resolved, image_ref)
            .await?;
        Ok(id)
    }

    /// [`Self::create`] from an image already resolved, which needs no record: the
    /// builder's RUN steps run on the intermediate images of a build, which only the
    /// build's lease holds.
    pub(crate) async fn create_from_image(
        &self,
        name: Option<String>,
        mut config: ContainerConfig,
        resolved: crate::images::ResolvedImage,
        image_ref: String,
    ) -> Result<(String, Vec<String>), ContainerError> {
        let (runtime_name, _) = self.runtimes.resolve(config.runtime.as_deref())?;
        let image_config = ImageRuntimeConfig::from_config_blob(&resolved.config_bytes)?;

        let id = new_id();
        let reservation = self.reserve_name(name, &id)?;
        let name = reservation.name.clone();
        super::joins::check_targets(self, &config.options)?;
        config.options.volumes_from_mounts = self.inherited_mounts(&config.options)?;
        config.options.legacy_links = super::links::register(self, &config.options)?;
        super::network::check_and_allocate(self, &id, &name, &config.options).await?;
        crash_point::reached("create-allocated", &id);
        let snapshotter = self.images.snapshotter().clone();
        let snapshot_key = format!("container-{id}");
        let gc_key = (snapshotter.name().to_string(), snapshot_key.clone());
        self.index
            .creating
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(gc_key.clone());
        let result = self
            .create_prepared(
                &id,
                &name,
                &config,
                &image_config,
                &resolved,
                &image_ref,
                &runtime_name,
            )
            .await;
        self.index
            .creating
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&gc_key);
        drop(reservation);
        match result {
            Ok((record, warnings)) => {
                self.publish(&record, "create", &[]);
                Ok((id, warnings))
            }
            Err(e) => {
                self.discard_filesystem(&id, snapshotter.name(), &snapshot_key);
                let _ = self.networks.release(&id).await;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn create_prepared(
        &self,
        id: &str,
        name: &str,
        config: &ContainerConfig,
        image_config: &ImageRuntimeConfig,
        resolved: &crate::images::ResolvedImage,
        image_ref: &str,
        runtime_name: &str,
    ) -> Result<(ContainerRecord, Vec<String>), ContainerError> {
        let snapshotter = self.images.snapshotter().clone();
        let snapshot_key = format!("container-{id}");
        let parent = resolved.chain_ids.last().cloned();
        let bundle = self.paths.bundle(id);
        let rootfs = self.paths.rootfs(id);
        std::fs::create_dir_all(&rootfs).map_err(|e| io_err("create directory", &rootfs, e))?;
        let log_dir = self.paths.log_dir(id);
        std::fs::create_dir_all(&log_dir).map_err(|e| io_err("create directory", &log_dir, e))?;
        if config.log.driver == "local" {
            // Made at create, so that `logs` of a container not started yet
            // reads an empty log.
            let local_dir = log_dir.join("local-logs");
            std::fs::create_dir_all(&local_dir)
                .map_err(|e| io_err("create directory", &local_dir, e))?;
        }
        let mounts = {
            let snapshotter = snapshotter.clone();
            let key = snapshot_key.clone();
            let labels = BTreeMap::from([("io.berth.container".to_string(), id.to_string())]);
            tokio::task::spawn_blocking(move || {
                snapshotter.prepare(&key, parent.as_deref(), &labels)
            })
            .await??
        };
        mount_all(&mounts, &rootfs)?;
        crash_point::reached("create-mounted", id);
        let (ports, port_warnings) = super::ports::container_ports(config, image_config)?;
        // Volumes are held (and removed again if the create fails) until
        // the record naming them is written.
        let volumes = self.volumes.attach(
            id,
            super::volumes::wanted_volumes(&config.options, image_config)?,
            &rootfs,
        )?;
        let (spec, mut warnings) = self.write_spec(
            id,
            config,
            image_config,
            &bundle,
            volumes.mounts(),
            &LinkContext::default(),
        )?;
        warnings.extend(port_warnings);
        let process = spec.process.as_ref();
        let args: Vec<String> = process.map(|p| p.args.clone()).unwrap_or_default();
        let hostname = spec.hostname.clone().unwrap_or_default();
        let record = ContainerRecord {
            id: id.to_string(),
            name: name.to_string(),
            created: now_rfc3339(),
            image: config.image.clone(),
            image_ref: image_ref.to_string(),
            image_id: resolved.id(),
            snapshotter: snapshotter.name().to_string(),
            snapshot_key,
            config: super::health::with_image_healthcheck(config, image_config),
            path: args.first().cloned().unwrap_or_default(),
            args: args.iter().skip(1).cloned().collect(),
            state: ContainerState::default(),
            shim: None,
            runtime: runtime_name.to_string(),
            hostname,
            stop_signal: spec::stop_signal(image_config, &config.options)?,
            ports,
            volumes: volumes.mounts().to_vec(),
            starting: None,
        };
        self.put(&record)?;
        volumes.commit();
        crash_point::reached("create-recorded", id);
        Ok((record, warnings))
    }

    /// Builds the container's OCI spec and writes `config.json` into the
    /// bundle (its rootfs must be mounted).
    pub(super) fn write_spec(
        &self,
        id: &str,
        config: &ContainerConfig,
        image_config: &ImageRuntimeConfig,
        bundle: &Path,
        volumes: &[VolumeMount],
        links: &LinkContext,
    ) -> Result<(berth_oci::Spec, Vec<String>), ContainerError> {
        let rootfs = bundle.join("rootfs");
        let o = &config.options;
        let hostname = spec::container_hostname(o, id)?;
        let hosts_files = match super::network::joined_files(self, o) {
            Some(files) => files,
            None => spec::HostsFiles::write(
                &self.paths.log_dir(id),
                &hostname,
                o.domainname.as_deref(),
                &o.network,
                self.networks
                    .endpoints_of(id)
                    .first()
                    .map(|(_, e)| e.address),
                &o.extra_hosts,
                &links.hosts,
                &spec::hosts_files::Resolver {
                    servers: &o.dns,
                    search: &o.dns_search,
                    options: &o.dns_options,
                },
            )?,
        };
        let mut ctx = SpecContext::new(id, &rootfs, spec::cgroups_path(o, id)?);
        ctx.init_binary = self.init_binary.as_deref();
        ctx.cdi_spec_dirs = self.cdi_spec_dirs.clone();
        ctx.hosts_files = Some(hosts_files);
        ctx.volumes = self.volume_binds(volumes);
        ctx.shareable_shm = Some(self.paths.shm_dir(id));
        ctx.link_env = links.env.clone();
        let mut spec = spec::build_spec(image_config, &config.options, &ctx)?;
        let (_, warnings) = spec::container_resources_and_warnings(o, &ctx)?;
        if let Some(h) = super::network::joined_hostname(self, o) {
            spec.hostname = Some(h);
        }
        if let Some(cwd) = spec.process.as_ref().map(|p| p.cwd.clone()) {
            spec::ensure_workdir(&rootfs, &cwd)?;
        }
        let path = bundle.join("config.json");
        let bytes = serde_json::to_vec(&spec).expect("spec serialises");
        std::fs::write(&path, bytes).map_err(|e| io_err("write", &path, e))?;
        Ok((spec, warnings))
    }

    /// Unmounts and removes a container's rootfs, snapshot and dirs (best
    /// effort: used on failed creates and on removal).
    pub(super) fn discard_filesystem(&self, id: &str, snapshotter_name: &str, snapshot_key: &str) {
        let rootfs = self.paths.rootfs(id);
        if is_mounted(&rootfs) {
            if let Err(e) = unmount(&rootfs) {
                tracing::warn!(id, error = %e, "unmount container rootfs");
            }
        }
        let snapshotter = self.images.snapshotter();
        if snapshotter.name() == snapshotter_name {
            match snapshotter.remove(snapshot_key) {
                Ok(()) => {}
                Err(berth_store::snapshot::SnapshotError::NotFound(_)) => {}
                Err(e) => tracing::warn!(id, error = %e, "remove container snapshot"),
            }
        }
        let _ = std::fs::remove_dir_all(self.paths.bundle(id));
        super::shm::release(&self.paths.shm_dir(id));
        let _ = std::fs::remove_dir_all(self.paths.log_dir(id));
    }

    /// Makes sure the bundle is there (after a reboot /run is empty): the
    /// rootfs mounted and config.json written.
    /// Mounts the container's rootfs and writes its spec unless both are
    /// there; with `links` (a start of a container with legacy links) the
    /// spec is written again, as it holds the targets' current addresses.
    pub(crate) async fn ensure_bundle(
        &self,
        record: &ContainerRecord,
        links: Option<&LinkContext>,
    ) -> Result<(), ContainerError> {
        let bundle = self.paths.bundle(&record.id);
        let rootfs = bundle.join("rootfs");
        let relink = links.is_some() && !record.config.options.legacy_links.is_empty();
        if !relink && bundle.join("config.json").exists() && is_mounted(&rootfs) {
            return Ok(());
        }
        std::fs::create_dir_all(&rootfs).map_err(|e| io_err("create directory", &rootfs, e))?;
        let snapshotter = self.images.snapshotter().clone();
        if !is_mounted(&rootfs) {
            let mounts = snapshotter.mounts(&record.snapshot_key)?;
            mount_all(&mounts, &rootfs)?;
        }
        let resolved = self
            .images
            .lookup(&record.image_id)
            .map_err(|e| ContainerError::Image(Box::new(e)))?
            .resolved;
        let image_config = ImageRuntimeConfig::from_config_blob(&resolved.config_bytes)?;
        self.write_spec(
            &record.id,
            &record.config,
            &image_config,
            &bundle,
            &record.volumes,
            links.unwrap_or(&LinkContext::default()),
        )?;
        Ok(())
    }

    /// Starts a container. With `attach`, the container's stdio is attached
    /// (shim Attach) before its process starts, and that stream returned.
    pub async fn start(
        self: &Arc<Self>,
        input: &str,
        attach: Option<AttachOptions>,
    ) -> Result<Option<super::task::OutputStream>, ContainerError> {
        let record = self.resolve(input)?;
        let entry = self.entry(&record.id);
        let _guard = entry.lock.lock().await;
        let record = self.get(&record.id)?;
        match record.state.status {
            Status::Running | Status::Restarting if attach.is_none() => return Ok(None),
            Status::Running | Status::Restarting => {
                return Err(ContainerError::FailedPrecondition(format!(
                    "container {} is already running",
                    record.id
                )))
            }
            Status::Paused => {
                return Err(ContainerError::FailedPrecondition(
                    "cannot start a paused container, try unpause instead".into(),
                ))
            }
            Status::Removing | Status::Dead => {
                return Err(ContainerError::FailedPrecondition(format!(
                    "container {} is marked for removal and cannot be started",
                    record.id
                )))
            }
            Status::Created | Status::Exited => {}
        }
        self.reset_restarts(&record.id, &entry)?;
        let auto_remove = record.config.auto_remove;
        let id = record.id.clone();
        let result = self.start_locked(record, &entry, attach).await;
        if result.is_err() && auto_remove {
            // docker removes a --rm container whose process could not start.
            drop(_guard);
            if let Err(e) = self.remove(&id, true).await {
                tracing::warn!(id, error = %e, "auto-remove after a failed start");
            }
        }
        result
    }

    pub(crate) async fn start_locked(
        self: &Arc<Self>,
        record: ContainerRecord,
        entry: &Arc<Entry>,
        attach: Option<AttachOptions>,
    ) -> Result<Option<super::task::OutputStream>, ContainerError> {
        let id = record.id.clone();
        let links = super::links::at_start(self, &record)?;
        self.ensure_bundle(&record, Some(&links)).await?;
        self.volumes.container_starting(&id, &record.volumes)?;
        super::joins::join_namespaces(self, &record)?;
        if record.config.options.ipc_mode.as_deref() == Some("shareable") {
            super::shm::mount(&self.paths.shm_dir(&id), &record.config.options)?;
        }
        let (_, runtime) = self.runtimes.resolve(Some(&record.runtime))?;
        let state_dir = self.paths.shim_state(&id);
        let _ = std::fs::remove_dir_all(&state_dir);
        let bundle = self.paths.bundle(&id);
        let launch = TaskLaunch {
            id: &id,
            bundle: &bundle,
            state_dir: &state_dir,
            runtime: &runtime,
            runtime_root: &self.paths.runtime_root,
        };
        let mut shim_info = ShimInfo {
            address: PathBuf::new(),
            state_dir: state_dir.clone(),
            runtime: runtime.clone(),
            runtime_root: self.paths.runtime_root.clone(),
        };
        // The intent goes first: a berthd killed from here on finds the
        // shim it spawned through the record (recover_interrupted_start).
        self.update(&id, |r| {
            r.starting = Some(StartIntent {
                step: StartStep::Spawning,
                shim: shim_info.clone(),
                pid: 0,
            })
        })?;
        crash_point::reached("start-intent", &id);
        let result = self
            .start_task(&record, entry, attach, &launch, &mut shim_info)
            .await;
        if result.is_err() {
            // Whatever the failed step left (a shim that could not be
            // reached, a created init) goes; the record keeps the error.
            self.tear_down_task(&id, Some(&shim_info)).await;
            let _ = self.update(&id, |r| r.starting = None);
        }
        result
    }

    /// The steps of a start after its intent is recorded: spawn the shim,
    /// create, network, ports, attach, start, record `running`.
    pub(super) async fn start_task(
        self: &Arc<Self>,
        record: &ContainerRecord,
        entry: &Arc<Entry>,
        attach: Option<AttachOptions>,
        launch: &TaskLaunch<'_>,
        shim_info: &mut ShimInfo,
    ) -> Result<Option<super::task::OutputStream>, ContainerError> {
        let id = record.id.clone();
        let record = record.clone();
        let address = self.launcher.spawn(launch).await?;
        shim_info.address = address.clone();
        crash_point::reached("start-shim-spawned", &id);
        let task = self
            .launcher
            .connect(&id, &address, launch.state_dir)
            .await?;
        let shim_info = shim_info.clone();
        // Read (spec and image config) only when an option names env.
        let opts = &record.config.log.opts;
        let env = if opts.contains_key("env") || opts.contains_key("env-regex") {
            self.config_env(&record)
        } else {
            Vec::new()
        };
        let task_log = super::log_driver::task_log(&record, &self.paths.log_paths(&id), &env)?;
        let created = task
            .create(record.config.options.open_stdin, &task_log)
            .await;
        let init_pid = match created {
            Ok(pid) => pid,
            Err(e) => {
                shutdown_shim(task.as_ref()).await;
                return Err(self.start_failed(&record, e.to_string()));
            }
        };
        self.update(&id, |r| {
            r.starting = Some(StartIntent {
                step: StartStep::Created,
                shim: shim_info.clone(),
                pid: init_pid,
            })
        })?;
        crash_point::reached("start-created", &id);
        if let Err(e) = self.networks.attach(&id, init_pid).await {
            shutdown_shim(task.as_ref()).await;
            return Err(self.start_failed(&record, e.to_string()));
        }
        if let Err(e) = super::network::serve_dns(self, &record, init_pid).await {
            shutdown_shim(task.as_ref()).await;
            self.networks.detach(&id).await;
            return Err(self.start_failed(&record, e.to_string()));
        }
        // A namespace with no network has loopback only: up, as docker's.
        if record.config.options.network == crate::networks::NetworkMode::None {
            let netns = std::path::PathBuf::from(format!("/proc/{init_pid}/ns/net"));
            if let Err(e) = crate::networks::link::loopback_up(&netns).await {
                shutdown_shim(task.as_ref()).await;
                return Err(self.start_failed(&record, e.to_string()));
            }
        }
        crash_point::reached("start-attached", &id);
        if let Some(ip) = self.networks.primary_address(&id) {
            if let Err(e) = self.publish_ports(&record, ip).await {
                shutdown_shim(task.as_ref()).await;
                self.networks.detach(&id).await;
                return Err(e);
            }
        }
        let stream = match &attach {
            Some(a) => {
                if a.width > 0 && a.height > 0 {
                    let _ = task.resize_pty("", a.width, a.height).await;
                }
                match task.attach("", a.stdin_rx.clone()).await {
                    Ok(stream) => Some(stream),
                    Err(e) => {
                        shutdown_shim(task.as_ref()).await;
                        self.unpublish_ports(&id).await;
                        self.networks.detach(&id).await;
                        return Err(e.into());
                    }
                }
            }
            None => None,
        };
        entry.oom.store(false, std::sync::atomic::Ordering::SeqCst);
        let pid = match task.start("").await {
            Ok(pid) => pid,
            Err(e) => {
                shutdown_shim(task.as_ref()).await;
                self.unpublish_ports(&id).await;
                self.networks.detach(&id).await;
                return Err(self.start_failed(&record, e.to_string()));
            }
        };
        crash_point::reached("start-started", &id);
        let record = self.update(&id, |r| {
            r.state.status = Status::Running;
            r.state.pid = pid;
            r.state.started_at = now_rfc3339();
            r.state.exit_code = 0;
            r.state.error.clear();
            r.state.oom_killed = false;
            r.state.stopped_by_user = false;
            r.state.sandbox_id = match r.config.options.network {
                crate::networks::NetworkMode::Container(_) => String::new(),
                _ => crate::ids::new_id(),
            };
            r.shim = Some(shim_info);
            r.starting = None;
        })?;
        crash_point::reached("start-recorded", &id);
        entry.set_task(Some(task));
        self.publish(&record, "start", &[]);
        self.monitor(id);
        Ok(stream)
    }

    /// Records a failed start (docker keeps the container, with the error
    /// and exit code 126/127/128) and returns the error.
    pub(super) fn start_failed(&self, record: &ContainerRecord, message: String) -> ContainerError {
        let code = start_failure_code(&message);
        let _ = self.update(&record.id, |r| {
            r.state.error = message.clone();
            r.state.exit_code = code;
            if r.state.status != Status::Created {
                r.state.status = Status::Exited;
                r.state.finished_at = now_rfc3339();
            }
            r.shim = None;
        });
        ContainerError::StartFailed { message, code }
    }

    /// Sends `signal` to the container's init.
    pub async fn kill(&self, input: &str, signal: i32) -> Result<(), ContainerError> {
        let record = self.resolve(input)?;
        if self.cancel_restart(&record.id).await? {
            return Ok(());
        }
        let entry = self.entry(&record.id);
        let Some(task) = entry.task().filter(|_| record.state.status.is_live()) else {
            return Err(ContainerError::FailedPrecondition(format!(
                "cannot kill container: {input}: container {} is not running",
                record.id
            )));
        };
        let _ = self.update(&record.id, |r| r.state.stopped_by_user = true);
        task.kill("", signal, false).await?;
        self.publish(&record, "kill", &[("signal", signal.to_string())]);
        Ok(())
    }

    /// Waits up to `timeout` for the exit that follows generation `seen`.
    pub(super) async fn wait_exit_after(
        entry: &Entry,
        seen: u64,
        timeout: Option<Duration>,
    ) -> bool {
        let mut rx = entry.exits.subscribe();
        let wait = rx.wait_for(|(g, _)| *g > seen);
        match timeout {
            Some(t) => matches!(tokio::time::timeout(t, wait).await, Ok(Ok(_))),
            None => wait.await.is_ok(),
        }
    }

    /// docker stop: the stop signal, `timeout` seconds, then SIGKILL.
    pub async fn stop(
        &self,
        input: &str,
        timeout: Option<i32>,
        signal: Option<i32>,
    ) -> Result<(), ContainerError> {
        let record = self.resolve(input)?;
        if self.cancel_restart(&record.id).await? {
            self.publish(&record, "stop", &[]);
            return Ok(());
        }
        let entry = self.entry(&record.id);
        let seen = entry.exits.borrow().0;
        let Some(task) = entry.task().filter(|_| record.state.status.is_live()) else {
            return Ok(());
        };
        let _ = self.update(&record.id, |r| r.state.stopped_by_user = true);
        let signal = signal.unwrap_or(record.stop_signal);
        let timeout = timeout.unwrap_or_else(|| record.stop_timeout());
        if record.state.status == Status::Paused {
            let _ = task.resume().await;
        }
        let _ = task.kill("", signal, false).await;
        let graceful = if timeout < 0 {
            Self::wait_exit_after(&entry, seen, None).await
        } else {
            Self::wait_exit_after(&entry, seen, Some(Duration::from_secs(timeout as u64))).await
        };
        if !graceful {
            let _ = task.kill("", libc::SIGKILL, true).await;
            Self::wait_exit_after(&entry, seen, Some(Duration::from_secs(30))).await;
        }
        self.publish(&record, "stop", &[]);
        Ok(())
    }

    /// docker restart: stop (if running) then start.
    pub async fn restart(
        self: &Arc<Self>,
        input: &str,
        timeout: Option<i32>,
        signal: Option<i32>,
    ) -> Result<(), ContainerError> {
        let record = self.resolve(input)?;
        self.stop(&record.id, timeout, signal).await?;
        self.start(&record.id, None).await?;
        self.publish(&record, "restart", &[]);
        Ok(())
    }

    pub async fn pause(&self, input: &str) -> Result<(), ContainerError> {
        let record = self.resolve(input)?;
        let entry = self.entry(&record.id);
        let _guard = entry.lock.lock().await;
        let record = self.get(&record.id)?;
        match record.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(ContainerError::FailedPrecondition(format!(
                    "container {} is already paused",
                    record.id
                )))
            }
            _ => {
                return Err(ContainerError::FailedPrecondition(format!(
                    "container {} is not running",
                    record.id
                )))
            }
        }
        let task = entry.task().ok_or_else(|| not_running(&record.id))?;
        task.pause().await?;
        let record = self.update(&record.id, |r| r.state.status = Status::Paused)?;
        self.publish(&record, "pause", &[]);
        Ok(())
    }

    pub async fn unpause(&self, input: &str) -> Result<(), ContainerError> {
        let record = self.resolve(input)?;
        let entry = self.entry(&record.id);
        let _guard = entry.lock.lock().await;
        let record = self.get(&record.id)?;
        if record.state.status != Status::Paused {
            return Err(ContainerError::FailedPrecondition(format!(
                "container {} is not paused",
                record.id
            )));
        }
        let task = entry.task().ok_or_else(|| not_running(&record.id))?;
        task.resume().await?;
        let record = self.update(&record.id, |r| r.state.status = Status::Running)?;
        self.publish(&record, "unpause", &[]);
        Ok(())
    }

    /// docker wait: blocks until `condition` and answers the exit code.
    pub async fn wait(&self, input: &str, condition: &str) -> Result<i32, ContainerError> {
        let record = self.resolve(input)?;
        let entry = self.entry(&record.id);
        match condition {
            "" | "not-running" => {
                let seen = entry.exits.borrow().0;
                let record = self.get(&record.id)?;
                if !record.state.status.is_live() {
                    return Ok(record.state.exit_code);
                }
                Self::wait_exit_after(&entry, seen, None).await;
                Ok(entry.exits.borrow().1.map(|e| e.code).unwrap_or(0))
            }
            "next-exit" => {
                let seen = entry.exits.borrow().0;
                Self::wait_exit_after(&entry, seen, None).await;
                Ok(entry.exits.borrow().1.map(|e| e.code).unwrap_or(0))
            }
            "removed" => {
                let mut rx = entry.removed.subscribe();
                let _ = rx.wait_for(|r| *r).await;
                Ok(entry
                    .exits
                    .borrow()
                    .1
                    .map(|e| e.code)
                    .unwrap_or(record.state.exit_code))
            }
            other => Err(ContainerError::InvalidArgument(format!(
                "invalid condition: {other:?} (want not-running, next-exit or removed)"
            ))),
        }
    }

    /// Waits for the current run's exit, then (auto-removed containers) for
    /// the removal; answers the exit code.
    pub(crate) async fn wait_run_end(&self, id: &str, seen: u64, auto_remove: bool) -> i32 {
        let entry = self.entry(id);
        Self::wait_exit_after(&entry, seen, None).await;
        let code = entry.exits.borrow().1.map(|e| e.code).unwrap_or(0);
        if auto_remove {
            let mut rx = entry.removed.subscribe();
            let _ = rx.wait_for(|r| *r).await;
        }
        code
    }

    /// docker rm: refuses a live container unless `force` (then kills it).
    /// A container created with `--rm` takes its anonymous volumes along.
    pub async fn remove(&self, input: &str, force: bool) -> Result<(), ContainerError> {
        self.remove_with_volumes(input, force, false).await
    }

    /// docker rm [-v]: with `volumes`, the container's anonymous volumes
    /// are removed too (never its named ones).
    pub async fn remove_with_volumes(
        &self,
        input: &str,
        force: bool,
        volumes: bool,
    ) -> Result<(), ContainerError> {
        let mut record = self.resolve(input)?;
        if force && self.cancel_restart(&record.id).await? {
            record = self.get(&record.id)?;
        }
        let id = record.id.clone();
        let entry = self.entry(&id);
        if record.state.status.is_live() {
            if !force {
                // docker 20.10's words (daemon/delete.go), with the full id.
                let state = record.state.status.as_str();
                let procedure = if record.state.status == Status::Paused {
                    "Unpause and then stop the container before attempting removal or force remove"
                } else {
                    "Stop the container before attempting removal or force remove"
                };
                return Err(ContainerError::FailedPrecondition(format!(
                    "You cannot remove a {state} container {id}. {procedure}"
                )));
            }
            let seen = entry.exits.borrow().0;
            // Killed by the user: its restart policy must not start it
            // again under the removal (docker's kill marks it so too).
            let _ = self.update(&id, |r| r.state.stopped_by_user = true);
            if let Some(task) = entry.task() {
                let _ = task.kill("", libc::SIGKILL, true).await;
                if record.state.status == Status::Paused {
                    let _ = task.resume().await;
                }
                Self::wait_exit_after(&entry, seen, Some(Duration::from_secs(30))).await;
            }
        }
        let _guard = entry.lock.lock().await;
        let record = match self.get(&id) {
            Ok(r) => r,
            // Removed meanwhile (auto-remove).
            Err(ContainerError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        if record.state.status.is_live() {
            return Err(ContainerError::FailedPrecondition(format!(
                "cannot remove container \"/{}\": could not kill it",
                record.name
            )));
        }
        let record = self.update(&id, |r| r.state.status = Status::Removing)?;
        if let Some(s) = &record.shim {
            // A shim left from a failed start.
            if let Ok(task) = self.launcher.connect(&id, &s.address, &s.state_dir).await {
                shutdown_shim(task.as_ref()).await;
            }
        }
        // The shim is gone before its state dir is: one still exiting after
        // the Delete of the exit writes `shim-exit` there, and a write racing
        // the removal of the bundle left the bundle dir behind (parallel
        // rm -f / stop / kill). A shim that will not go is killed.
        if let Some(process) = ShimProcess::find(&self.paths.shim_state(&id)) {
            if !process.end(SHIM_EXIT_GRACE).await {
                return Err(ContainerError::Internal(format!(
                    "remove container {id}: its shim (pid {}) does not exit",
                    process.pid
                )));
            }
        }
        // The runtime's container, if anything (a lost shim) left it.
        self.force_delete_runtime_container(&id, None).await?;
        self.discard_filesystem(&id, &record.snapshotter, &record.snapshot_key);
        let bundle = self.paths.bundle(&id);
        if bundle.exists() {
            return Err(ContainerError::Internal(format!(
                "remove container {id}: {} is left (rootfs mounted: {})",
                bundle.display(),
                is_mounted(&self.paths.rootfs(&id))
            )));
        }
        self.networks.release(&id).await?;
        self.delete_record(&id)?;
        self.volumes
            .container_removed(&record.volumes, volumes || record.config.auto_remove);
        self.publish(&record, "destroy", &[]);
        entry.removed.send_replace(true);
        self.drop_entry(&id);
        Ok(())
    }

    pub async fn rename(&self, input: &str, new_name: &str) -> Result<(), ContainerError> {
        let new_name = new_name.trim_start_matches('/');
        if !valid_name(new_name) {
            return Err(ContainerError::InvalidArgument(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let record = self.resolve(input)?;
        if record.name == new_name {
            return Err(ContainerError::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        let old = record.name.clone();
        // Held until the record carries the new name.
        let reservation = self.reserve_name(Some(new_name.to_string()), &record.id)?;
        let record = self.update(&record.id, |r| r.name = new_name.to_string())?;
        drop(reservation);
        self.networks.rename(&record.id, &old, new_name).await?;
        self.publish(&record, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }
}

/// What `start` attaches before starting.
#[derive(Clone)]
pub struct AttachOptions {
    /// Bytes for the process's stdin (none: no stdin is attached).
    pub stdin_rx: Option<StdinSource>,
    pub width: u32,
    pub height: u32,
}

/// The exit code docker reports when the runtime could not start the
/// process: 127 not found, 126 not executable, else 128.
pub fn start_failure_code(message: &str) -> i32 {
    let m = message.to_ascii_lowercase();
    if m.contains("not found") || m.contains("no such file") {
        127
    } else if m.contains("permission denied")
        || m.contains("not executable")
        || m.contains("is a directory")
    {
        126
    } else {
        128
    }
}

pub(super) fn not_running(id: &str) -> ContainerError {
    ContainerError::FailedPrecondition(format!("container {id} is not running"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_map_to_docker_codes() {
        assert_eq!(
            start_failure_code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(
            start_failure_code("exec /etc/passwd: permission denied"),
            126
        );
        assert_eq!(start_failure_code("cgroup: EBUSY"), 128);
    }
}
