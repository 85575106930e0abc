//! RUN: the step's command as a container of berthd's own.
//!
//! The container is an ordinary one of the containers domain, created from
//! the build's current intermediate image ([`super::layer`]), so it gets
//! exactly what `berth run` gives (the default seccomp profile,
//! capabilities, masked and read-only paths, the default bridge network
//! unless `--network` says otherwise) with the step's argv, environment,
//! user and working directory, no entrypoint, and logs to no driver: its
//! output is attached and streamed to the build's progress. Its layer is its
//! snapshot's diff without the files the runtime makes (`/etc/hosts`...) nor
//! the mount points of its `--mount`s; the container is removed once the
//! layer is taken, or when the step fails or the build is cancelled
//! ([`StepContainer`]'s drop).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_dockerfile::mount::{Mount, MountType};
use berth_store::layer::{write_diff_filtered, Keep};
use tokio_stream::StreamExt;

use super::progress::VertexLogger;
use super::BuildError;
use crate::containers::config::{ContainerConfig, LogConfig};
use crate::containers::lifecycle::AttachOptions;
use crate::containers::spec::{ContainerOptions, NetworkMode};
use crate::containers::task::StdStream;
use crate::containers::ContainerService;
use crate::images::pull::LeaseGuard;
use crate::images::{ImageService, ResolvedImage};

/// A RUN step as the container is made of it.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub workdir: String,
    pub network: NetworkMode,
    pub extra_hosts: Vec<String>,
    /// `-v`-style binds (`host:target[:ro]`) of the step's mounts.
    pub binds: Vec<String>,
    /// `--tmpfs`-style specs.
    pub tmpfs: Vec<String>,
    /// Where the mounts land (left out of the layer).
    pub mount_targets: Vec<String>,
}

/// A step's container, removed (forcibly) when dropped.
struct StepContainer {
    containers: Arc<ContainerService>,
    id: String,
}

impl Drop for StepContainer {
    fn drop(&mut self) {
        if self.id.is_empty() {
            return;
        }
        let containers = self.containers.clone();
        let id = std::mem::take(&mut self.id);
        let remove = async move {
            if let Err(e) = containers.remove(&id, true).await {
                tracing::warn!(container = %id, error = %e, "remove build step container");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(remove);
            }
            Err(_) => {
                tracing::warn!(container = %self.id, "no runtime to remove build step container")
            }
        }
    }
}

/// Runs `req` on `state`; returns the new state (with the step's layer, if
/// it changed anything) or the failure (non-zero exit: [`BuildError::RunFailed`]).
pub(crate) async fn run(
    containers: &Arc<ContainerService>,
    images: &Arc<ImageService>,
    lease: &Arc<LeaseGuard>,
    state: &ResolvedImage,
    req: &RunRequest,
    logger: VertexLogger,
) -> Result<(ResolvedImage, bool), BuildError> {
    let options = ContainerOptions {
        entrypoint: Some(Vec::new()),
        cmd: req.args.clone(),
        env: req.env.clone(),
        working_dir: (!req.workdir.is_empty()).then(|| req.workdir.clone()),
        user: (!req.user.is_empty()).then(|| req.user.clone()),
        attach_stdout: true,
        attach_stderr: true,
        network: req.network.clone(),
        extra_hosts: req.extra_hosts.clone(),
        binds: req.binds.clone(),
        tmpfs: req.tmpfs.clone(),
        ..ContainerOptions::default()
    };
    let config = ContainerConfig {
        image: state.id(),
        options,
        log: LogConfig {
            driver: "none".into(),
            ..LogConfig::default()
        },
        auto_remove: false,
        runtime: None,
        stop_timeout: None,
        restart: Default::default(),
    };
    let id = containers
        .create_build_step(config, state.clone())
        .await
        .map_err(BuildError::container)?;
    let mut guard = StepContainer {
        containers: containers.clone(),
        id: id.clone(),
    };
    let result = run_created(containers, images, lease, state, req, logger, &id).await;
    // Removed before the step's result is reported (a failed build leaves no
    // container); the guard does it only for a build dropped meanwhile.
    guard.id.clear();
    if let Err(e) = containers.remove(&id, true).await {
        tracing::warn!(container = %id, error = %e, "remove build step container");
    }
    result
}

async fn run_created(
    containers: &Arc<ContainerService>,
    images: &Arc<ImageService>,
    lease: &Arc<LeaseGuard>,
    state: &ResolvedImage,
    req: &RunRequest,
    logger: VertexLogger,
    id: &str,
) -> Result<(ResolvedImage, bool), BuildError> {
    let stream = containers
        .start(
            id,
            Some(AttachOptions {
                stdin_rx: None,
                width: 0,
                height: 0,
            }),
        )
        .await
        .map_err(BuildError::container)?;
    if let Some(mut stream) = stream {
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => logger.log(if c.stream == StdStream::Stderr { 2 } else { 1 }, c.data),
                Err(e) => {
                    tracing::warn!(container = %id, error = %e, "build step output");
                    break;
                }
            }
        }
    }
    let code = containers
        .wait(id, "not-running")
        .await
        .map_err(BuildError::container)?;
    if code != 0 {
        return Err(BuildError::RunFailed {
            command: req.args.join(" "),
            code,
        });
    }
    let record = containers.get(id).map_err(BuildError::container)?;
    let snapshotter = images.snapshotter().clone();
    let images = images.clone();
    let lease = lease.clone();
    let parent = state.clone();
    let targets = req.mount_targets.clone();
    tokio::task::spawn_blocking(move || {
        let (lowers, upper) = snapshotter.diff_dirs(&record.snapshot_key)?;
        let layer = Box::new(move |out: &mut dyn std::io::Write| {
            let keep = |rel: &str, meta: Option<&std::fs::Metadata>| {
                keep_in_step_layer(&lowers, &targets, rel, meta)
            };
            write_diff_filtered(&lowers, &upper.dir, upper.whiteouts, &keep, out)
        });
        super::layer::add_layer(&images, &lease, &parent, layer).map_err(BuildError::from)
    })
    .await
    .map_err(|e| BuildError::Internal(format!("layer of RUN: {e}")))?
}

/// commit's rule (the runtime's mount targets are not the step's) plus the
/// step's own mount points.
fn keep_in_step_layer(
    lowers: &[PathBuf],
    targets: &[String],
    rel: &str,
    meta: Option<&std::fs::Metadata>,
) -> Keep {
    let path = format!("/{rel}");
    for t in targets {
        let t = t.trim_end_matches('/');
        if path == t
            || (path.len() > t.len() && path.starts_with(t) && path.as_bytes()[t.len()] == b'/')
        {
            return Keep::Skip;
        }
        if t.len() > path.len() && t.starts_with(&path) && t.as_bytes()[path.len()] == b'/' {
            return match crate::containers::commit::keep_in_layer(lowers, rel, meta) {
                Keep::Skip => Keep::Skip,
                _ => Keep::IfHolding,
            };
        }
    }
    crate::containers::commit::keep_in_layer(lowers, rel, meta)
}

/// Where a mount's host side lives.
pub struct MountSources<'a> {
    /// The build context directory (`bind` without `from`).
    pub context: &'a Path,
    /// Directories of stages and images by their `from` name.
    pub from_dirs: &'a [(String, PathBuf)],
    /// The builder's persistent cache mounts.
    pub cache_root: &'a Path,
    /// The build's work directory (secrets are written there).
    pub work: &'a Path,
    /// `--secret` contents by id.
    pub secrets: &'a std::collections::BTreeMap<String, Vec<u8>>,
}

/// Turns the step's `--mount`s into binds and tmpfs specs of its container.
pub fn mounts_to_container(
    mounts: &[Mount],
    sources: &MountSources<'_>,
    req: &mut RunRequest,
) -> Result<(), BuildError> {
    for (i, m) in mounts.iter().enumerate() {
        let target = if m.target.starts_with('/') {
            m.target.clone()
        } else {
            let wd = if req.workdir.is_empty() {
                "/"
            } else {
                &req.workdir
            };
            format!("{}/{}", wd.trim_end_matches('/'), m.target)
        };
        match m.mount_type {
            MountType::Bind => {
                let base = if m.from.is_empty() {
                    sources.context.to_path_buf()
                } else {
                    sources
                        .from_dirs
                        .iter()
                        .find(|(n, _)| n == &m.from)
                        .map(|(_, d)| d.clone())
                        .ok_or_else(|| {
                            BuildError::Invalid(format!("mount from {}: unknown", m.from))
                        })?
                };
                let src = super::context::clean_source(&m.source).ok_or_else(|| {
                    BuildError::Invalid(format!(
                        "forbidden path outside the build context: {}",
                        m.source
                    ))
                })?;
                let host = resolve_host_path(&base, &src)?;
                if !m.read_only {
                    return Err(BuildError::NotImplemented(
                        "RUN --mount=type=bind,rw (writes to a bind mount are discarded in BuildKit; berth mounts binds read-only only)".into(),
                    ));
                }
                req.binds.push(format!("{}:{target}:ro", host.display()));
            }
            MountType::Cache => {
                let id = if m.id.is_empty() {
                    target.clone()
                } else {
                    m.id.clone()
                };
                let mut key = super::cache::CacheKey::new("", "cache-mount");
                key.field(id.as_bytes());
                let dir = sources.cache_root.join(key.finish());
                if !dir.exists() {
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| BuildError::io("create directory", &dir, e))?;
                    use std::os::unix::fs::PermissionsExt;
                    let mode = m.mode.unwrap_or(0o755);
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                        .map_err(|e| BuildError::io("chmod", &dir, e))?;
                    std::os::unix::fs::chown(
                        &dir,
                        Some(m.uid.unwrap_or(0)),
                        Some(m.gid.unwrap_or(0)),
                    )
                    .map_err(|e| BuildError::io("chown", &dir, e))?;
                }
                let ro = if m.read_only { ":ro" } else { "" };
                req.binds.push(format!("{}:{target}{ro}", dir.display()));
            }
            MountType::Tmpfs => {
                if m.size_limit > 0 {
                    req.tmpfs.push(format!("{target}:size={}", m.size_limit));
                } else {
                    req.tmpfs.push(target.clone());
                }
            }
            MountType::Secret => {
                let id = if m.id.is_empty() {
                    Path::new(&m.target)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                } else {
                    m.id.clone()
                };
                let target = if m.target.is_empty() {
                    format!("/run/secrets/{id}")
                } else {
                    target.clone()
                };
                if m.env.is_some() {
                    return Err(BuildError::NotImplemented(
                        "RUN --mount=type=secret,env=".into(),
                    ));
                }
                let Some(data) = sources.secrets.get(&id) else {
                    if m.required {
                        return Err(BuildError::Invalid(format!("secret {id} not found")));
                    }
                    continue;
                };
                let dir = sources.work.join("secrets");
                std::fs::create_dir_all(&dir)
                    .map_err(|e| BuildError::io("create directory", &dir, e))?;
                let file = dir.join(format!("{i}"));
                std::fs::write(&file, data).map_err(|e| BuildError::io("write", &file, e))?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(
                    &file,
                    std::fs::Permissions::from_mode(m.mode.unwrap_or(0o400)),
                )
                .map_err(|e| BuildError::io("chmod", &file, e))?;
                std::os::unix::fs::chown(&file, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))
                    .map_err(|e| BuildError::io("chown", &file, e))?;
                req.binds.push(format!("{}:{target}:ro", file.display()));
                req.mount_targets.push(target);
                continue;
            }
            MountType::Ssh => {
                return Err(BuildError::NotImplemented("RUN --mount=type=ssh".into()))
            }
        }
        req.mount_targets.push(target);
    }
    Ok(())
}

/// `rel` under `base`, resolved without leaving it; as a host path through
/// the resolved descriptor.
fn resolve_host_path(base: &Path, rel: &str) -> Result<PathBuf, BuildError> {
    let root =
        berth_runtime::in_root::RootDir::open(base).map_err(|e| BuildError::io("open", base, e))?;
    let fd = root
        .resolve(rel)
        .map_err(|_| BuildError::SourceNotFound(rel.to_string()))?;
    use std::os::fd::AsRawFd;
    let real = berth_runtime::in_root::sys::fd_target(fd.as_raw_fd())
        .map_err(|e| BuildError::io("resolve", &base.join(rel), e))?;
    Ok(real)
}
