//! The volumes domain: docker's named and anonymous volumes with the `local`
//! driver (`volume create/ls/inspect/rm/prune`, `-v NAME:/path`, `-v /path`,
//! `--mount type=volume`, image `VOLUME`s).
//!
//! # On disk and in the metadata database
//!
//! ```text
//! <root>/volumes/<name>/_data            the data (docker's layout); the volume's Mountpoint
//! meta.redb
//! └── volumes: <name> -> json VolumeRecord   (record.rs)
//!     ├── name, driver ("local"), created_at (RFC 3339)
//!     ├── labels                            `com.docker.volume.anonymous` marks anonymous ones
//!     └── options                           the local driver's type/device/o
//! containers: <id> -> ContainerRecord       (the containers domain's)
//!     └── volumes: [VolumeMount]            which volume is mounted where (attach.rs),
//!                                           read here through [`VolumeUsers`]
//! ```
//!
//! A volume is *in use* while any container record names it (running or
//! not, as docker's reference counting): `rm` and `prune` leave it. The
//! record is written after the directory is made and the directory is
//! removed after the record, so a crash leaves at worst an orphan directory
//! (never a record without its data).
//!
//! # What a container does with volumes
//!
//! * create ([`VolumeService::attach`]): the volumes the containers domain
//!   worked out from `-v`/`--mount` and the image's `VOLUME`s (an anonymous
//!   volume each, unless the user mounts something at that path), missing
//!   ones created, and an
//!   empty volume is filled from the image's content at its path
//!   ([`populate`], docker's copy-up) unless `nocopy`; the list is kept in
//!   the container's record so every later start mounts the same volumes;
//! * start/exit ([`VolumeService::container_started`],
//!   [`VolumeService::container_stopped`]): `mount`/`unmount` events;
//!   mount-backed volumes (`--opt type=tmpfs ...`) are mounted at first use
//!   and unmounted when no running container uses them ([`local`]);
//! * rm: with `-v` (or `run --rm`) the container's anonymous volumes go too,
//!   never its named ones ([`VolumeService::remove_anonymous`]).

pub mod attach;
pub mod filter;
pub mod local;
pub mod populate;
pub mod record;
pub mod service;
pub mod users;

pub use attach::{VolumeAttachment, VolumeCreateOptions, VolumeMount, WantedVolume};
pub use record::VolumeRecord;
pub use service::VolumeService;
pub use users::{VolumeUser, VolumeUsers};

use std::path::PathBuf;

/// What a volume operation can fail with; the gRPC adapter maps each
/// variant to one status code.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// No volume by that name (docker's wording: `get NAME: no such volume`).
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// A bad name, option, label or filter; the message names it.
    #[error("{0}")]
    InvalidArgument(String),
    /// Containers (running or not) still reference the volume (docker's
    /// wording).
    #[error("remove {name}: volume is in use - [{}]", .containers.join(", "))]
    InUse {
        name: String,
        containers: Vec<String>,
    },
    /// A feature Berth does not have yet.
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// A file system operation on a volume's directory failed.
    #[error("{op} {}: {source}", .path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Mounting or unmounting a mount-backed volume failed.
    #[error("volume {name}: {source}")]
    Mount {
        name: String,
        #[source]
        source: berth_store::mount::MountError,
    },
    /// A record in the database does not parse.
    #[error("volume record {name}: {source}")]
    Record {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Metadata(#[from] berth_store::metadata::MetadataError),
}

impl VolumeError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        VolumeError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
