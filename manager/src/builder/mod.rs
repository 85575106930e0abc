//! The builder domain: `berth build`, a Dockerfile and a context made into an
//! image, beside the images and containers domains it builds on.
//!
//! | module | concept |
//! |---|---|
//! | [`context`] | the context tar unpacked, the Dockerfile and `.dockerignore` read from it, sources resolved inside it |
//! | [`solver`] | the plan (frontend: parse, scopes, stage graph, target) and its execution: needed stages only, independent ones in parallel, each step cached or run |
//! | [`run`] | RUN as a container of the containers domain, its `--mount`s |
//! | [`copy`] | COPY/ADD: sources checksummed, then written into the step's snapshot |
//! | [`layer`] | a step's diff as a layer, the intermediate images between steps |
//! | [`cache`] | content-addressed step keys and the cache kept in redb leases |
//! | [`image`] | the final image: config and history from the frontend, tags |
//! | [`progress`] | vertices (steps) and their output, for the adapters to stream |
//!
//! The Dockerfile itself is the frontend crate's ([`berth_dockerfile`]):
//! everything decided before a file is touched (syntax, scopes, which words
//! expand, the config each instruction leaves, history) is computed there;
//! this domain executes its [`berth_dockerfile::eval::Step`]s.
//!
//! Nothing a build makes outlives it except its image and completed cache
//! entries: everything it writes is under one lease (expiring, dropped at the
//! end), its work directory (context, source tars, secrets, views of other
//! stages) is removed, and a RUN's container is removed whether the step
//! succeeds, fails or the build is cancelled (the client hanging up drops the
//! build's future; every guard cleans up on drop).
//!
//! [`BuildService::build`] is the plain Rust API both adapters call (gRPC
//! `berth.v1.Builder/Build` and the Docker API's `/build`).

pub mod cache;
pub mod context;
pub mod copy;
pub mod image;
pub mod layer;
pub mod progress;
pub mod run;
pub mod solver;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::containers::{ContainerError, ContainerService};
use crate::images::{ImageError, ImageService};
use crate::registry::auth::Credentials;

pub use progress::{BuildEvent, BuildProgress};

/// What a build is asked for (`berth build`'s flags).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `-t`: names for the image.
    pub tags: Vec<String>,
    /// `-f`: the Dockerfile's path in the context (empty: `Dockerfile`).
    pub dockerfile: String,
    /// `-f -`: the Dockerfile itself.
    pub dockerfile_content: Option<Vec<u8>>,
    /// `--build-arg`.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--pull`.
    pub pull: bool,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--network` for RUN: `default`/`bridge`, `none`, `host`.
    pub network: String,
    /// `--add-host`.
    pub extra_hosts: Vec<String>,
    /// `--secret`: contents by id.
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// `--platform`.
    pub platform: Option<String>,
    /// Registry credentials by host, for base images.
    pub credentials: BTreeMap<String, Credentials>,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// `sha256:<config digest>`.
    pub image_id: String,
    /// The names applied (normalised).
    pub tags: Vec<String>,
}

/// Why a build failed. Messages are one line; [`BuildError::AtLine`] names
/// the Dockerfile line and instruction.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse or evaluate (the frontend's message,
    /// `dockerfile parse error line N: ...`).
    #[error("{0}")]
    Dockerfile(String),
    /// An instruction failed.
    #[error("Dockerfile:{line}: {instruction}: {source}")]
    AtLine {
        line: usize,
        instruction: String,
        source: Box<BuildError>,
    },
    /// A RUN exited non-zero.
    #[error("process \"{command}\" did not complete successfully: exit code: {code}")]
    RunFailed { command: String, code: i32 },
    /// A COPY/ADD source that is not there (or excluded by `.dockerignore`).
    #[error("\"{0}\": not found")]
    SourceNotFound(String),
    /// A bad value (flags, options, sources).
    #[error("{0}")]
    Invalid(String),
    /// The context could not be read.
    #[error("{0}")]
    Context(String),
    /// Not implemented yet.
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// The images domain (pull, store).
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The containers domain (a RUN's container).
    #[error(transparent)]
    Container(Box<ContainerError>),
    /// The metadata database.
    #[error(transparent)]
    Metadata(#[from] berth_store::metadata::MetadataError),
    /// The snapshotter.
    #[error(transparent)]
    Snapshot(#[from] berth_store::snapshot::SnapshotError),
    /// A mount of a snapshot.
    #[error(transparent)]
    Mount(#[from] berth_store::mount::MountError),
    /// A file of the build on the host.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The build was cancelled.
    #[error("build cancelled")]
    Cancelled,
    /// Another stage failed (its error, shared by every stage waiting on it).
    #[error(transparent)]
    Stage(Arc<BuildError>),
    /// A background job died.
    #[error("{0}")]
    Internal(String),
}

impl BuildError {
    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn container(e: ContainerError) -> Self {
        Self::Container(Box::new(e))
    }

    /// The error without the [`BuildError::Stage`] and [`BuildError::AtLine`]
    /// wrappers: what kind of failure it is (for an adapter's status).
    pub fn root_cause(&self) -> &BuildError {
        match self {
            Self::Stage(e) => e.root_cause(),
            Self::AtLine { source, .. } => source.root_cause(),
            other => other,
        }
    }
}

/// The builder: a plain Rust API over the images and containers domains.
pub struct BuildService {
    pub(crate) images: Arc<ImageService>,
    pub(crate) containers: Arc<ContainerService>,
    pub(crate) cache: cache::BuildCache,
    /// `<root>/builder`: work directories of running builds
    /// (`work/<id>`, removed at the end, and at start for those a previous
    /// berthd left) and persistent cache mounts (`cache-mounts/<id hash>`).
    pub(crate) root: PathBuf,
}

impl BuildService {
    /// The builder over berthd's domains; `root` is berthd's root directory.
    pub fn new(images: Arc<ImageService>, containers: Arc<ContainerService>, root: &Path) -> Self {
        let root = root.join("builder");
        // Work directories of builds a previous berthd was running.
        let _ = std::fs::remove_dir_all(root.join("work"));
        Self {
            cache: cache::BuildCache::new(images.clone()),
            images,
            containers,
            root,
        }
    }

    /// Builds: reads the context tar from `context` (blocking reads, done on
    /// a blocking thread), runs the Dockerfile, reports to `progress`.
    /// Dropping the future cancels the build and cleans up after it.
    pub async fn build(
        self: &Arc<Self>,
        options: BuildOptions,
        context: Box<dyn Read + Send>,
        progress: BuildProgress,
    ) -> Result<BuildOutput, BuildError> {
        solver::build(self.clone(), options, context, progress).await
    }

    /// `builder prune`: removes cache entries (with `all`, every one; else
    /// those whose result no image holds) and collects. Returns the removed
    /// keys and the space their layers used.
    pub async fn prune(&self, all: bool) -> Result<(Vec<String>, u64), BuildError> {
        let in_use: std::collections::BTreeSet<String> = if all {
            Default::default()
        } else {
            self.images
                .list_chain_ids()
                .map_err(BuildError::Image)?
                .into_iter()
                .collect()
        };
        let removed = self
            .cache
            .remove_where(|e| all || e.chain_id.as_ref().is_none_or(|c| !in_use.contains(c)))?;
        if all {
            let _ = std::fs::remove_dir_all(self.root.join("cache-mounts"));
        }
        self.images.collect_garbage().await?;
        Ok(removed)
    }

    /// The cache entries (for `system df`).
    pub fn cache_entries(&self) -> Result<Vec<cache::CacheEntry>, BuildError> {
        Ok(self.cache.entries()?)
    }
}
