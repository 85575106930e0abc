//! Planning and running a build.
//!
//! 1. **Plan** (nothing is created yet, every error is a Dockerfile error):
//!    the context is unpacked, the Dockerfile parsed, the global ARG scope
//!    computed, the [`StageGraph`] built and checked for cycles, the target
//!    chosen and the stages it needs listed ([`StageGraph::needed`]).
//! 2. **Stages in parallel**: every needed stage is a task of its own,
//!    started at once; a stage awaits the stages it needs (its base, its
//!    `COPY --from`s, its `RUN --mount=from=`s) through shared futures, so
//!    independent stages run side by side. The first failure fails the build
//!    and aborts the other stages (dropping a build's future does the same).
//! 3. **Steps**: a stage starts from its base (scratch, a stage's result, or
//!    an image, pulled when missing or with `--pull`), the frontend
//!    evaluates it ([`eval::evaluate_stage`]: config, history, filesystem
//!    steps), and each step is looked up in the cache by its key
//!    ([`super::cache::CacheKey`], chained from the parent's) and run on a
//!    miss: RUN as a container ([`super::run`]), COPY/ADD and WORKDIR into a
//!    fresh snapshot of the parent ([`super::copy`]). Each step's result is
//!    an intermediate image ([`super::layer`]).
//! 4. **Image**: the target stage's last state with the stage's config and
//!    history ([`super::image`]), tagged.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_docker::types::container::Config;
use berth_dockerfile::env::EnvList;
use berth_dockerfile::eval::{self, EvaluatedStage, Platform, StageStart, Step};
use berth_dockerfile::instruction::Network;
use berth_dockerfile::mount::MountType;
use berth_dockerfile::parser::Heredoc;
use berth_dockerfile::stages::{Base, Dockerfile, StageGraph};
use berth_store::metadata::LeaseResource;
use berth_store::mount::MountGuard;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use serde_json::Value;

use super::cache::{base_key, CacheKey};
use super::context::BuildContext;
use super::copy::{self, CopyPlan, CopyRequest, SourceRoot};
use super::image::{history_entry, now_rfc3339, record_tags, write_final, FinalImage};
use super::progress::{BuildProgress, Vertex};
use super::run::{self, MountSources, RunRequest};
use super::{BuildError, BuildOptions, BuildOutput, BuildService};
use crate::containers::spec::NetworkMode;
use crate::images::pull::LeaseGuard;
use crate::images::{ImageService, ResolvedImage};

/// How long a build's lease protects what it wrote if berthd dies mid-build
/// (berthd's next start releases it anyway).
const BUILD_LEASE_TTL: Duration = Duration::from_secs(24 * 3600);

/// A stage built.
pub struct StageResult {
    /// What the frontend made of it.
    pub evaluated: EvaluatedStage,
    /// Its last state.
    pub state: ResolvedImage,
    /// Its last cache key.
    pub key: String,
    /// The base's history entries, then the stage's.
    pub history: Vec<Value>,
    /// The stage's config, docker's form.
    pub config: Config,
}

type StageOutcome = Result<Arc<StageResult>, Arc<BuildError>>;
type SharedStage = Shared<BoxFuture<'static, StageOutcome>>;

/// A build's work directory, removed with everything in it when dropped.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Aborts the build's stage tasks when the build ends or is dropped.
struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// A read-only view of a state's root filesystem, unmounted and removed when
/// dropped.
struct View {
    dir: PathBuf,
    mount: Option<MountGuard>,
    key: Option<String>,
    images: Arc<ImageService>,
}

impl Drop for View {
    fn drop(&mut self) {
        drop(self.mount.take());
        if let Some(key) = &self.key {
            if let Err(e) = self.images.snapshotter().remove(key) {
                tracing::warn!(snapshot = %key, error = %e, "remove build view");
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// One build in progress.
struct Build {
    service: Arc<BuildService>,
    options: BuildOptions,
    df: Dockerfile,
    global: EnvList,
    graph: StageGraph,
    frontend: eval::BuildOptions,
    context: BuildContext,
    work: PathBuf,
    lease: Arc<LeaseGuard>,
    progress: BuildProgress,
}

/// Runs a build (see the module doc).
pub(super) async fn build(
    service: Arc<BuildService>,
    options: BuildOptions,
    context: Box<dyn Read + Send>,
    progress: BuildProgress,
) -> Result<BuildOutput, BuildError> {
    let work = service.root.join("work").join(crate::ids::random_hex());
    std::fs::create_dir_all(&work).map_err(|e| BuildError::io("create directory", &work, e))?;
    let work_guard = WorkDir(work.clone());

    let vertex = progress.start("[internal] load build context");
    let ctx_dir = work.join("context");
    let mut context = context;
    let mut ctx =
        tokio::task::spawn_blocking(move || BuildContext::receive(&ctx_dir, &mut context))
            .await
            .map_err(|e| BuildError::Internal(format!("receive context: {e}")))??;
    vertex.done();

    let name = if options.dockerfile.is_empty() {
        "Dockerfile".to_string()
    } else {
        options.dockerfile.clone()
    };
    let content = match &options.dockerfile_content {
        Some(c) => c.clone(),
        None => ctx.read(&name)?.ok_or_else(|| {
            BuildError::Dockerfile(format!(
                "failed to read dockerfile: open {name}: no such file or directory"
            ))
        })?,
    };
    ctx.load_ignore(&name)?;
    if let Some(p) = options.platform.as_deref().filter(|p| !p.is_empty()) {
        let host = Platform::host().format();
        if p != host {
            return Err(BuildError::NotImplemented(format!(
                "--platform {p}: berth builds only for the daemon's platform ({host})"
            )));
        }
    }
    let df = Dockerfile::parse(&content).map_err(|e| BuildError::Dockerfile(e.to_string()))?;
    for w in &df.warnings {
        progress.message(format!("[warning] {w:?}"));
    }
    let frontend = eval::BuildOptions {
        build_args: options.build_args.clone(),
        target: options.target.clone().filter(|t| !t.is_empty()),
        ..eval::BuildOptions::default()
    };
    let global =
        eval::global_scope(&df, &frontend).map_err(|e| BuildError::Dockerfile(e.to_string()))?;
    let graph = StageGraph::new(&df, &global).map_err(|e| BuildError::Dockerfile(e.to_string()))?;
    let target = StageGraph::target(&df, frontend.target.as_deref())
        .map_err(|e| BuildError::Dockerfile(e.to_string()))?;
    let needed = graph.needed(target);

    let lease = Arc::new(
        LeaseGuard::create(&service.images.meta, "build", BUILD_LEASE_TTL)
            .map_err(BuildError::Image)?,
    );
    let build = Arc::new(Build {
        service: service.clone(),
        options,
        df,
        global,
        graph,
        frontend,
        context: ctx,
        work: work.clone(),
        lease: lease.clone(),
        progress,
    });

    let mut stages: Vec<Option<SharedStage>> = vec![None; build.df.stages.len()];
    let mut aborts = AbortOnDrop(Vec::new());
    for &index in &needed {
        let deps: Vec<(usize, SharedStage)> = build
            .graph
            .deps(index)
            .into_iter()
            .map(|d| (d, stages[d].clone().expect("dependencies come first")))
            .collect();
        let b = build.clone();
        let task = tokio::spawn(async move { b.stage(index, deps).await.map_err(Arc::new) });
        aborts.0.push(task.abort_handle());
        let shared = async move {
            match task.await {
                Ok(r) => r,
                Err(e) if e.is_cancelled() => Err(Arc::new(BuildError::Cancelled)),
                Err(e) => Err(Arc::new(BuildError::Internal(format!("build stage: {e}")))),
            }
        }
        .boxed()
        .shared();
        stages[index] = Some(shared);
    }
    let result = stages[target]
        .clone()
        .expect("the target is needed")
        .await
        .map_err(BuildError::Stage)?;
    drop(aborts);

    let mut config = result.config.clone();
    if !build.options.labels.is_empty() {
        let mut labels = config.labels.clone().unwrap_or_default();
        labels.extend(build.options.labels.clone());
        config.labels = Some(labels);
    }
    // The image itself is cached too: a rebuild with every step cached
    // gives the same image (its times are those of the first build), as
    // BuildKit's.
    let mut k = CacheKey::new(&result.key, "image");
    k.field(&serde_json::to_vec(&config).expect("serialise config"));
    for h in &result.history {
        k.field(h["created_by"].as_str().unwrap_or("").as_bytes());
        k.field(&[h.get("empty_layer").is_some() as u8]);
    }
    k.field(
        result
            .evaluated
            .config
            .author
            .as_deref()
            .unwrap_or("")
            .as_bytes(),
    );
    let image_key = k.finish();
    let cached_image = build.cached(&image_key);
    let images = service.images.clone();
    let tags = build.options.tags.clone();
    let final_lease = lease.clone();
    let cache = build.clone();
    let (image_id, names) = tokio::task::spawn_blocking(move || {
        if let Some(image) = cached_image {
            return record_tags(&images, &image, &tags);
        }
        let author = result.evaluated.config.author.clone();
        let made = write_final(
            &images,
            &final_lease,
            &FinalImage {
                state: &result.state,
                config: &config,
                author: author.as_deref(),
                history: &result.history,
            },
        )?;
        cache.remember(&image_key, "image", &made)?;
        record_tags(&images, &made, &tags)
    })
    .await
    .map_err(|e| BuildError::Internal(format!("write image: {e}")))??;
    drop(build);
    drop(lease);
    drop(work_guard);
    Ok(BuildOutput {
        image_id,
        tags: names,
    })
}

impl Build {
    fn images(&self) -> &Arc<ImageService> {
        &self.service.images
    }

    /// `[stage k/n]` of the stage's instruction number `k` (FROM is 1).
    fn prefix(&self, index: usize, k: usize) -> String {
        let stage = &self.df.stages[index];
        let total = stage.statements.len() + 1;
        if self.df.stages.len() == 1 {
            format!("[{k}/{total}]")
        } else {
            format!("[{} {k}/{total}]", stage.display_name())
        }
    }

    async fn dep(
        deps: &[(usize, SharedStage)],
        index: usize,
    ) -> Result<Arc<StageResult>, BuildError> {
        let shared = deps
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| BuildError::Internal(format!("stage {index} is no dependency")))?;
        shared.await.map_err(BuildError::Stage)
    }

    /// An image for FROM or `--from`: the local one unless `--pull`, else
    /// pulled.
    async fn image(&self, name: &str) -> Result<ResolvedImage, BuildError> {
        let images = self.images();
        if !self.options.pull {
            if let Ok(found) = images.lookup(name) {
                return Ok(found.resolved);
            }
        }
        let reference = berth_docker::reference::Reference::parse(name)
            .map_err(|e| BuildError::Invalid(format!("invalid reference {name:?}: {e}")))?;
        let credentials = self
            .options
            .credentials
            .get(&reference.domain)
            .cloned()
            .unwrap_or_default();
        images
            .pull(
                name,
                None,
                credentials,
                crate::images::progress::ProgressSink::discard(),
            )
            .await?;
        Ok(images.lookup(name)?.resolved)
    }

    async fn stage(
        self: Arc<Self>,
        index: usize,
        deps: Vec<(usize, SharedStage)>,
    ) -> Result<Arc<StageResult>, BuildError> {
        let stage = &self.df.stages[index];
        let node = &self.graph.nodes[index];
        let at_from = |e: BuildError| BuildError::AtLine {
            line: stage.line,
            instruction: stage.source.clone(),
            source: Box::new(e),
        };
        let (start, mut state, mut key, mut history, base_config) = match &node.base {
            Base::Scratch => {
                let images = self.images().clone();
                let lease = self.lease.clone();
                let state =
                    tokio::task::spawn_blocking(move || super::layer::scratch(&images, &lease))
                        .await
                        .map_err(|e| BuildError::Internal(format!("scratch: {e}")))??;
                (
                    StageStart::default(),
                    state,
                    base_key(None),
                    Vec::new(),
                    Config::default(),
                )
            }
            Base::Stage(b) => {
                let r = Self::dep(&deps, *b).await?;
                (
                    StageStart::from_stage(&r.evaluated),
                    r.state.clone(),
                    r.key.clone(),
                    r.history.clone(),
                    r.config.clone(),
                )
            }
            Base::Image(name) => {
                let vertex = self
                    .progress
                    .start(format!("{} FROM {name}", self.prefix(index, 1)));
                let resolved = match self.image(name).await {
                    Ok(r) => r,
                    Err(e) => {
                        vertex.failed(&e.to_string());
                        return Err(at_from(e));
                    }
                };
                vertex.done();
                let whole: Value =
                    serde_json::from_slice(&resolved.config_bytes).unwrap_or(Value::Null);
                let config: Config = whole
                    .get("config")
                    .cloned()
                    .and_then(|c| serde_json::from_value(c).ok())
                    .unwrap_or_default();
                let history = whole
                    .get("history")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let start = StageStart::from_image(crate::images::change::image_config_of(&config));
                let key = base_key(Some(&resolved.id()));
                (start, resolved, key, history, config)
            }
        };
        let evaluated = eval::evaluate_stage(&self.df, stage, start, &self.global, &self.frontend)
            .map_err(|e| BuildError::Dockerfile(e.to_string()))?;
        let mut layer_flags = Vec::with_capacity(evaluated.steps.len());
        for step in &evaluated.steps {
            let line = step_line(step);
            let position = stage.statements.iter().position(|s| s.line == line);
            let source = position
                .map(|p| stage.statements[p].source.trim().to_string())
                .unwrap_or_else(|| format!("ONBUILD trigger of {}", stage.source));
            let shown = source.lines().next().unwrap_or("").to_string();
            let name = format!(
                "{} {shown}",
                self.prefix(index, position.map_or(1, |p| p + 2))
            );
            let vertex = self.progress.start(name);
            let before = state.config.rootfs.diff_ids.len();
            match self.step(step, &state, &key, &deps, &vertex).await {
                Ok((next, next_key, cached)) => {
                    if cached {
                        vertex.cached();
                    } else {
                        vertex.done();
                    }
                    layer_flags.push(next.config.rootfs.diff_ids.len() > before);
                    state = next;
                    key = next_key;
                }
                Err(e) => {
                    vertex.failed(&e.to_string());
                    return Err(BuildError::AtLine {
                        line,
                        instruction: shown,
                        source: Box::new(e),
                    });
                }
            }
        }
        let created = now_rfc3339();
        let mut fs_steps = layer_flags.into_iter();
        for h in &evaluated.history {
            let empty = h.empty_layer || !fs_steps.next().unwrap_or(false);
            history.push(history_entry(&h.created_by, empty, &created));
        }
        let config = crate::images::change::with_image_config(&base_config, &evaluated.config);
        Ok(Arc::new(StageResult {
            evaluated,
            state,
            key,
            history,
            config,
        }))
    }

    /// Runs (or finds in the cache) one step: the new state, its key, and
    /// whether it came from the cache.
    async fn step(
        &self,
        step: &Step,
        state: &ResolvedImage,
        parent_key: &str,
        deps: &[(usize, SharedStage)],
        vertex: &Vertex,
    ) -> Result<(ResolvedImage, String, bool), BuildError> {
        match step {
            Step::Mkdir { path, user, .. } => {
                let mut k = CacheKey::new(parent_key, "workdir");
                k.field(path.as_bytes()).field(user.as_bytes());
                let key = k.finish();
                if let Some(hit) = self.cached(&key) {
                    return Ok((hit, key, true));
                }
                let path = path.clone();
                let next = self
                    .in_snapshot(state, move |rootfs| {
                        let root = berth_runtime::in_root::RootDir::open(rootfs)
                            .map_err(|e| BuildError::io("open", rootfs, e))?;
                        root.create_dir_all(&path)
                            .map_err(|e| BuildError::Invalid(format!("mkdir {path}: {e}")))?;
                        Ok(())
                    })
                    .await?;
                self.remember(&key, "WORKDIR", &next)?;
                Ok((next, key, false))
            }
            Step::Run { .. } => self.run_step(step, state, parent_key, deps, vertex).await,
            Step::Copy { .. } => self.copy_step(step, state, parent_key, deps).await,
        }
    }

    fn cached(&self, key: &str) -> Option<ResolvedImage> {
        if self.options.no_cache {
            return None;
        }
        let hit = self.service.cache.get(key)?;
        // The build's lease holds what it uses from the cache too, so a
        // prune meanwhile cannot take it.
        for r in [
            LeaseResource::Content(hit.target.digest.clone()),
            LeaseResource::Content(hit.config_digest.clone()),
        ] {
            self.lease.add(r).ok()?;
        }
        if let Some(c) = hit.chain_ids.last() {
            self.lease
                .add(LeaseResource::Snapshot(
                    self.images().snapshotter().name().to_string(),
                    c.clone(),
                ))
                .ok()?;
        }
        Some(hit)
    }

    fn remember(
        &self,
        key: &str,
        description: &str,
        state: &ResolvedImage,
    ) -> Result<(), BuildError> {
        self.service.cache.put(key, description, state)?;
        Ok(())
    }

    /// A fresh snapshot on `state`, mounted; `work` writes into it; its diff
    /// becomes the new state's layer.
    async fn in_snapshot(
        &self,
        state: &ResolvedImage,
        work: impl FnOnce(&Path) -> Result<(), BuildError> + Send + 'static,
    ) -> Result<ResolvedImage, BuildError> {
        let images = self.images().clone();
        let lease = self.lease.clone();
        let parent = state.clone();
        let dir = self
            .work
            .join(format!("snapshot-{}", crate::ids::random_hex()));
        tokio::task::spawn_blocking(move || {
            let snapshotter = images.snapshotter().clone();
            let key = format!("build-{}", crate::ids::random_hex());
            lease.add(LeaseResource::Snapshot(
                snapshotter.name().to_string(),
                key.clone(),
            ))?;
            let mounts = snapshotter.prepare(
                &key,
                parent.chain_ids.last().map(String::as_str),
                &Default::default(),
            )?;
            let result = (|| {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| BuildError::io("create directory", &dir, e))?;
                let guard = MountGuard::mount(&mounts, &dir)?;
                let worked = work(&dir);
                guard.unmount()?;
                let _ = std::fs::remove_dir(&dir);
                worked?;
                let (lowers, upper) = snapshotter.diff_dirs(&key)?;
                let layer = Box::new(move |out: &mut dyn std::io::Write| {
                    berth_store::layer::write_diff(&lowers, &upper.dir, upper.whiteouts, out)
                });
                let (next, _) = super::layer::add_layer(&images, &lease, &parent, layer)?;
                Ok(next)
            })();
            if let Err(e) = snapshotter.remove(&key) {
                tracing::warn!(snapshot = %key, error = %e, "remove build snapshot");
            }
            result
        })
        .await
        .map_err(|e| BuildError::Internal(format!("build step: {e}")))?
    }

    /// A read-only view of `state`'s root filesystem.
    async fn view(&self, state: &ResolvedImage) -> Result<View, BuildError> {
        let images = self.images().clone();
        let lease = self.lease.clone();
        let top = state.chain_ids.last().cloned();
        let dir = self.work.join(format!("view-{}", crate::ids::random_hex()));
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)
                .map_err(|e| BuildError::io("create directory", &dir, e))?;
            let mut view = View {
                dir: dir.clone(),
                mount: None,
                key: None,
                images: images.clone(),
            };
            let Some(top) = top else {
                return Ok(view);
            };
            let key = format!("build-view-{}", crate::ids::random_hex());
            lease.add(LeaseResource::Snapshot(
                images.snapshotter().name().to_string(),
                key.clone(),
            ))?;
            let mounts = images
                .snapshotter()
                .view(&key, Some(&top), &Default::default())?;
            view.key = Some(key);
            view.mount = Some(MountGuard::mount(&mounts, &dir)?);
            Ok(view)
        })
        .await
        .map_err(|e| BuildError::Internal(format!("view: {e}")))?
    }

    /// The state and cache key of `--from` (a stage or an image).
    async fn source_of(
        &self,
        from: &str,
        deps: &[(usize, SharedStage)],
    ) -> Result<(ResolvedImage, String), BuildError> {
        let stage = match from.parse::<usize>() {
            Ok(i) if i < self.df.stages.len() => Some(i),
            _ => self.df.stage_by_name(from),
        };
        match stage {
            Some(i) => {
                let r = Self::dep(deps, i).await?;
                Ok((r.state.clone(), r.key.clone()))
            }
            None => {
                let resolved = self.image(from).await?;
                let key = base_key(Some(&resolved.id()));
                Ok((resolved, key))
            }
        }
    }

    async fn run_step(
        &self,
        step: &Step,
        state: &ResolvedImage,
        parent_key: &str,
        deps: &[(usize, SharedStage)],
        vertex: &Vertex,
    ) -> Result<(ResolvedImage, String, bool), BuildError> {
        let Step::Run {
            args,
            env,
            user,
            workdir,
            mounts,
            network,
            files,
            build_args,
            ..
        } = step
        else {
            unreachable!("a RUN step")
        };
        let network = match network {
            Network::None => NetworkMode::None,
            Network::Host => NetworkMode::Host,
            Network::Default => match self.options.network.as_str() {
                "" | "default" | "bridge" => NetworkMode::Bridge,
                "none" => NetworkMode::None,
                "host" => NetworkMode::Host,
                other => {
                    return Err(BuildError::Invalid(format!(
                    "network mode {other:?} not supported by the builder (default, none or host)"
                )))
                }
            },
        };
        let mut req = RunRequest {
            args: with_heredocs(args, files)?,
            env: env.clone(),
            user: user.clone(),
            workdir: workdir.clone(),
            network: network.clone(),
            extra_hosts: self.options.extra_hosts.clone(),
            binds: Vec::new(),
            tmpfs: Vec::new(),
            mount_targets: Vec::new(),
        };
        let mut k = CacheKey::new(parent_key, "run");
        k.strings(&req.args)
            .strings(env)
            .field(user.as_bytes())
            .field(workdir.as_bytes())
            .field(format!("{network:?}").as_bytes())
            .strings(&req.extra_hosts)
            .strings(build_args);
        // A bind of the context is not checksummed: such a step always runs.
        let mut cacheable = true;
        let mut from_states = Vec::new();
        for m in mounts {
            k.field(format!("{m:?}").as_bytes());
            if m.mount_type == MountType::Bind && m.from.is_empty() {
                cacheable = false;
            }
            if m.mount_type == MountType::Secret {
                // A secret's content changes the step's outcome, not its key
                // (BuildKit's rule): only its id is in the key.
            }
            if !m.from.is_empty() && !from_states.iter().any(|(n, _): &(String, _)| n == &m.from) {
                let (s, key) = self.source_of(&m.from, deps).await?;
                k.field(key.as_bytes());
                from_states.push((m.from.clone(), s));
            }
        }
        let key = k.finish();
        if cacheable {
            if let Some(hit) = self.cached(&key) {
                return Ok((hit, key, true));
            }
        }
        let mut views = Vec::new();
        let mut from_dirs = Vec::new();
        for (name, s) in &from_states {
            let v = self.view(s).await?;
            from_dirs.push((name.clone(), v.dir.clone()));
            views.push(v);
        }
        let heredoc_scripts = self.work.join(format!("run-{}", crate::ids::random_hex()));
        let _scripts = WorkDir(heredoc_scripts.clone());
        if let Some((name, body)) = shebang_heredoc(args, files) {
            std::fs::create_dir_all(&heredoc_scripts)
                .map_err(|e| BuildError::io("create directory", &heredoc_scripts, e))?;
            let file = heredoc_scripts.join("script");
            std::fs::write(&file, body).map_err(|e| BuildError::io("write", &file, e))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| BuildError::io("chmod", &file, e))?;
            let target = format!("/dev/pipes/{name}");
            req.binds.push(format!("{}:{target}:ro", file.display()));
            req.args = vec![target];
        }
        run::mounts_to_container(
            mounts,
            &MountSources {
                context: self.context.dir(),
                from_dirs: &from_dirs,
                cache_root: &self.service.root.join("cache-mounts"),
                work: &self.work,
                secrets: &self.options.secrets,
            },
            &mut req,
        )?;
        let (next, _) = run::run(
            &self.service.containers,
            self.images(),
            &self.lease,
            state,
            &req,
            vertex.logger(),
        )
        .await?;
        drop(views);
        if cacheable {
            self.remember(&key, &format!("RUN {}", args.join(" ")), &next)?;
        }
        Ok((next, key, false))
    }

    async fn copy_step(
        &self,
        step: &Step,
        state: &ResolvedImage,
        parent_key: &str,
        deps: &[(usize, SharedStage)],
    ) -> Result<(ResolvedImage, String, bool), BuildError> {
        let Step::Copy {
            add,
            sources,
            contents,
            dest,
            from,
            chown,
            chmod,
            parents,
            excludes,
            checksum,
            keep_git_dir,
            unpack,
            workdir,
            ..
        } = step
        else {
            unreachable!("a COPY step")
        };
        let instruction = if *add { "ADD" } else { "COPY" };
        if *parents {
            return Err(BuildError::NotImplemented("COPY --parents".into()));
        }
        if !checksum.is_empty() {
            return Err(BuildError::NotImplemented("ADD --checksum".into()));
        }
        if keep_git_dir.is_some() || (*add && sources.iter().any(|s| copy::is_git(s))) {
            return Err(BuildError::NotImplemented("ADD of a git repository".into()));
        }
        if !*add {
            if let Some(url) = sources.iter().find(|s| copy::is_url(s)) {
                return Err(BuildError::Invalid(format!(
                    "source can't be a URL for COPY: {url}"
                )));
            }
        }
        let chmod = copy::parse_chmod(chmod)?;
        let mut downloads = Vec::new();
        let mut local = Vec::new();
        for (i, s) in sources.iter().enumerate() {
            if *add && copy::is_url(s) {
                let dir = self
                    .work
                    .join(format!("download-{}", crate::ids::random_hex()));
                self.download(s, &dir).await?;
                downloads.push((local.len(), dir));
                local.push(s.clone());
            } else {
                let _ = i;
                local.push(s.clone());
            }
        }
        let (source_state, from_key) = if from.is_empty() {
            (None, String::new())
        } else {
            let (s, k) = self.source_of(from, deps).await?;
            (Some(s), k)
        };
        let view = match &source_state {
            Some(s) => Some(self.view(s).await?),
            None => None,
        };
        let plan_dir = self.work.join(format!("copy-{}", crate::ids::random_hex()));
        std::fs::create_dir_all(&plan_dir)
            .map_err(|e| BuildError::io("create directory", &plan_dir, e))?;
        let plan_guard = WorkDir(plan_dir.clone());
        let source_dir = view
            .as_ref()
            .map(|v| v.dir.clone())
            .unwrap_or_else(|| self.context.dir().to_path_buf());
        let use_context = view.is_none();
        let contents = contents.clone();
        let dest = dest.clone();
        let workdir = workdir.clone();
        let excludes = excludes.clone();
        let unpack_archives = *add && unpack.unwrap_or(true);
        // The plan reads the context through `self`; run it here on a
        // blocking-allowed section of this task.
        let plan = tokio::task::block_in_place(|| {
            CopyPlan::new(
                &SourceRoot {
                    dir: &source_dir,
                    context: use_context.then_some(&self.context),
                },
                &CopyRequest {
                    sources: &local,
                    contents: &contents,
                    dest: &dest,
                    workdir: &workdir,
                    chmod,
                    unpack_archives,
                    excludes: &excludes,
                    instruction,
                },
                &downloads,
                &plan_dir,
            )
        })?;
        drop(view);
        let mut k = CacheKey::new(parent_key, if *add { "add" } else { "copy" });
        k.field(plan.checksum.as_bytes())
            .field(chown.as_bytes())
            .field(from_key.as_bytes());
        let key = k.finish();
        if let Some(hit) = self.cached(&key) {
            return Ok((hit, key, true));
        }
        let chown = chown.clone();
        let next = self
            .in_snapshot(state, move |rootfs| {
                let owner = resolve_chown(rootfs, &chown)?;
                plan.apply(rootfs, owner)?;
                drop(plan_guard);
                Ok(())
            })
            .await?;
        self.remember(&key, instruction, &next)?;
        Ok((next, key, false))
    }

    /// Fetches an ADD URL into `dir` (one file, named as docker names it).
    async fn download(&self, url: &str, dir: &Path) -> Result<(), BuildError> {
        let fail = |e: String| BuildError::Invalid(format!("failed to fetch {url}: {e}"));
        let response = self
            .images()
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(BuildError::Invalid(format!(
                "failed to GET {url} with status {}",
                response.status()
            )));
        }
        let bytes = response.bytes().await.map_err(|e| fail(e.to_string()))?;
        copy::save_download(dir, &copy::url_file_name(url), &bytes)
    }
}

/// `--chown` resolved in the root filesystem being written: `user[:group]`,
/// names looked up in its /etc/passwd and /etc/group, a missing group the
/// same as the user (docker's rule). None: no `--chown` (the planned owners
/// stay: 0:0, an ADDed archive's own).
fn resolve_chown(rootfs: &Path, chown: &str) -> Result<Option<(u32, u32)>, BuildError> {
    if chown.is_empty() {
        return Ok(None);
    }
    let (user, group) = chown.split_once(':').unwrap_or((chown, chown));
    let spec = format!("{user}:{group}");
    let u = crate::containers::spec::user::resolve_user(rootfs, &spec, &[]).map_err(|e| {
        BuildError::Invalid(format!(
            "unable to convert uid/gid chown string to host mapping: {e}"
        ))
    })?;
    Ok(Some((u.uid, u.gid)))
}

fn step_line(step: &Step) -> usize {
    match step {
        Step::Run { line, .. } | Step::Copy { line, .. } | Step::Mkdir { line, .. } => *line,
    }
}

/// The shell command of a RUN with heredocs, as BuildKit runs it: a command
/// that is only `<<EOF` runs the heredoc's body as the script; otherwise the
/// bodies follow the command line, for the shell to read as its heredocs.
fn with_heredocs(args: &[String], files: &[Heredoc]) -> Result<Vec<String>, BuildError> {
    if files.is_empty() || args.is_empty() {
        return Ok(args.to_vec());
    }
    let mut out = args.to_vec();
    let last = out.last_mut().expect("not empty");
    if files.len() == 1 && is_lone_heredoc(last) {
        *last = files[0].body();
        return Ok(out);
    }
    let mut script = last.clone();
    for f in files {
        script.push('\n');
        script.push_str(&f.content);
        script.push_str(&f.name);
    }
    *last = script;
    Ok(out)
}

fn is_lone_heredoc(command: &str) -> bool {
    let c = command.trim();
    c.starts_with("<<") && !c.contains(char::is_whitespace)
}

/// A lone heredoc whose body starts with `#!` runs as a script of its own
/// interpreter: its name and body.
fn shebang_heredoc(args: &[String], files: &[Heredoc]) -> Option<(String, String)> {
    let last = args.last()?;
    if files.len() != 1 || !is_lone_heredoc(last) {
        return None;
    }
    let body = files[0].body();
    body.starts_with("#!")
        .then(|| (files[0].name.clone(), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, content: &str) -> Heredoc {
        Heredoc {
            name: name.into(),
            content: content.into(),
            ..Heredoc::default()
        }
    }

    #[test]
    fn heredocs_become_the_shell_script() {
        let sh = |c: &str| vec!["/bin/sh".to_string(), "-c".into(), c.into()];
        assert_eq!(
            with_heredocs(&sh("<<EOF"), &[doc("EOF", "echo a\necho b\n")]).unwrap(),
            sh("echo a\necho b\n")
        );
        assert_eq!(
            with_heredocs(&sh("cat <<EOF > /x"), &[doc("EOF", "hi\n")]).unwrap(),
            sh("cat <<EOF > /x\nhi\nEOF")
        );
        assert_eq!(with_heredocs(&sh("true"), &[]).unwrap(), sh("true"));
        assert!(
            shebang_heredoc(&sh("<<EOF"), &[doc("EOF", "#!/bin/busybox sh\necho\n")]).is_some()
        );
        assert!(shebang_heredoc(&sh("<<EOF"), &[doc("EOF", "echo\n")]).is_none());
    }

    #[test]
    fn chown_is_user_and_group_or_the_user_twice() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resolve_chown(dir.path(), "").unwrap(), None);
        assert_eq!(resolve_chown(dir.path(), "10").unwrap(), Some((10, 10)));
        assert_eq!(resolve_chown(dir.path(), "10:20").unwrap(), Some((10, 20)));
        assert!(resolve_chown(dir.path(), "nobody").is_err());
    }
}
