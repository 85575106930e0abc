//! berthd's metadata: one redb database at `<root>/meta.redb`.
//!
//! redb gives ACID transactions with copy-on-write pages and a checksummed commit, so a crash
//! leaves the last committed state. Every change that touches more than one record (committing
//! a snapshot, deleting a lease and its references, a migration) happens in one write
//! transaction. Blobs never go in here: they are in the content store.
//!
//! Values are JSON (serde_json) of the record types below, so fields can be added without a
//! migration (new fields carry `#[serde(default)]`); a change of meaning bumps
//! [`SCHEMA_VERSION`] and adds a step to the migration list.
//!
//! Schema (tables, their keys, and the record each value holds):
//!
//! ```text
//! meta.redb
//! ├── schema: &str -> u64
//! │   └── "version"                       schema version of the whole database (SCHEMA_VERSION)
//! ├── images: &str -> json Image
//! │   └── <name>                          "docker.io/library/busybox:latest" or "name@sha256:..."
//! │       ├── target                      Descriptor {mediaType, digest, size} of the manifest/index
//! │       ├── labels                      {string: string}
//! │       └── created_at, updated_at
//! ├── snapshots: (&str, &str) -> json SnapshotRecord
//! │   └── (<snapshotter>, <key>)          "overlayfs", "sha256:<chain id>" or an active key
//! │       ├── id                          number naming its directory snapshots/<snapshotter>/<id>
//! │       ├── kind                        "active" | "view" | "committed"
//! │       ├── parent                      key of a committed snapshot of the same snapshotter
//! │       ├── labels
//! │       ├── usage                       {size, inodes}, recorded at commit
//! │       └── created_at, updated_at
//! ├── snapshot_ids: &str -> u64
//! │   └── <snapshotter>                   last snapshot id handed out (ids are never reused)
//! ├── leases: &str -> json Lease
//! │   └── <lease id>
//! │       ├── resources                   [{content: digest} | {snapshot: [snapshotter, key]} | {ingest: ref}]
//! │       ├── labels
//! │       └── created_at, expires_at      an expired lease protects nothing; gc deletes it
//! ├── containers: &str -> bytes          reserved for the containers issue (key: container id)
//! ├── networks: &str -> bytes            reserved for the networks issue (key: network id)
//! └── volumes: &str -> bytes             reserved for the volumes issue (key: volume name)
//! ```
//!
//! Migrations: [`MetadataStore::open`] reads `schema/version` (absent = 0, a new database) and
//! runs each step from that version up to [`SCHEMA_VERSION`] in one write transaction; a
//! database newer than this build is refused rather than misread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::digest::{Descriptor, Digest};
use crate::snapshot::{SnapshotKind, Usage};

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u64 = 1;

/// Free-form `key: value` labels on images, snapshots and leases.
pub type Labels = BTreeMap<String, String>;

/// A metadata failure, naming the record involved.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// Opening, reading or committing the database failed.
    #[error("metadata database {path}: {message}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// redb's error, rendered.
        message: String,
    },
    /// The database was written by a newer berthd.
    #[error("metadata database {path}: schema version {found} is newer than this build supports ({supported})")]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version in the database.
        found: u64,
        /// [`SCHEMA_VERSION`].
        supported: u64,
    },
    /// No record with this key.
    #[error("{kind} {key:?} not found")]
    NotFound {
        /// "image", "snapshot", "lease", or a collection name.
        kind: &'static str,
        /// The key looked up.
        key: String,
    },
    /// A record with this key exists already.
    #[error("{kind} {key:?} already exists")]
    AlreadyExists {
        /// "image", "snapshot", "lease".
        kind: &'static str,
        /// The key.
        key: String,
    },
    /// A change that would break the snapshot tree (parent missing or not committed, removing
    /// a parent, committing a non-active snapshot).
    #[error("snapshot {key:?}: {reason}")]
    SnapshotConflict {
        /// The snapshot key.
        key: String,
        /// Why the change was refused.
        reason: String,
    },
    /// A stored value could not be decoded.
    #[error("metadata {kind} {key:?}: corrupt record: {message}")]
    Corrupt {
        /// The table.
        kind: &'static str,
        /// The key.
        key: String,
        /// The decode error.
        message: String,
    },
    /// A key that cannot be stored (empty, or too long).
    #[error("invalid {kind} name {key:?}: {reason}")]
    InvalidKey {
        /// "image", "snapshot", "lease".
        kind: &'static str,
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not implemented yet.
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
}

/// An image record: a name pointing at a manifest or index in the content store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The normalised reference, e.g. `docker.io/library/busybox:latest`.
    pub name: String,
    /// The manifest or index the name points at.
    pub target: Descriptor,
    /// Free-form labels.
    #[serde(default)]
    pub labels: Labels,
    /// When the name was first created.
    pub created_at: SystemTime,
    /// When the name last changed target or labels.
    pub updated_at: SystemTime,
}

/// A snapshot as recorded: its place in the tree and the directory holding it. Snapshotters
/// own these records; others read them through [`crate::snapshot::Snapshotter::stat`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// The snapshot's key (name, once committed).
    pub key: String,
    /// Names the directory `snapshots/<snapshotter>/<id>`; never reused.
    pub id: u64,
    /// Active, view or committed.
    pub kind: SnapshotKind,
    /// The committed snapshot this one is based on.
    pub parent: Option<String>,
    /// Free-form labels.
    #[serde(default)]
    pub labels: Labels,
    /// Disk usage, recorded when the snapshot was committed.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// When the snapshot was prepared.
    pub created_at: SystemTime,
    /// When it was last changed (committed, relabelled).
    pub updated_at: SystemTime,
}

/// A resource a lease keeps alive.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseResource {
    /// A blob in the content store.
    Content(Digest),
    /// A snapshot: (snapshotter name, key). Its parents are kept too.
    Snapshot(String, String),
    /// An ingest ref (informational: gc never removes ingests).
    Ingest(String),
}

/// A lease: a set of resources that garbage collection must keep while the lease lives, so a
/// pull can build content and snapshots before an image record references them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The lease id.
    pub id: String,
    /// What it protects.
    #[serde(default)]
    pub resources: Vec<LeaseResource>,
    /// Free-form labels.
    #[serde(default)]
    pub labels: Labels,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it stops protecting anything (none: until deleted).
    pub expires_at: Option<SystemTime>,
}

impl Lease {
    /// Whether the lease has expired at `now`.
    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// The tables reserved for later domains: opaque bytes by key, so those issues choose their
/// own record types without a schema change here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    /// Container records, by container id.
    Containers,
    /// Network records, by network id.
    Networks,
    /// Volume records, by volume name.
    Volumes,
}

/// The metadata database. Thread-safe: share it in an `Arc`; redb serialises write
/// transactions and lets reads run concurrently.
pub struct MetadataStore {
    path: PathBuf,
}

impl MetadataStore {
    /// Opens (creating if absent) the database at `path` and migrates it to
    /// [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<MetadataStore, MetadataError> {
        let _ = path;
        Err(MetadataError::NotImplemented("metadata store"))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version stored in the database.
    pub fn schema_version(&self) -> Result<u64, MetadataError> {
        Err(MetadataError::NotImplemented("schema_version"))
    }

    // ---- images ----

    /// Creates an image record; [`MetadataError::AlreadyExists`] if the name is taken.
    pub fn create_image(
        &self,
        name: &str,
        target: &Descriptor,
        labels: &Labels,
    ) -> Result<Image, MetadataError> {
        let _ = (name, target, labels);
        Err(MetadataError::NotImplemented("images"))
    }

    /// Points `name` at `target` (creating it, or replacing its target and labels and keeping
    /// its creation time): pull, tag, load and import all end with this. Returns the new record
    /// and the one it replaced.
    pub fn put_image(
        &self,
        name: &str,
        target: &Descriptor,
        labels: &Labels,
    ) -> Result<(Image, Option<Image>), MetadataError> {
        let _ = (name, target, labels);
        Err(MetadataError::NotImplemented("images"))
    }

    /// The image record named `name`.
    pub fn get_image(&self, name: &str) -> Result<Image, MetadataError> {
        let _ = name;
        Err(MetadataError::NotImplemented("images"))
    }

    /// Every image record, by name.
    pub fn list_images(&self) -> Result<Vec<Image>, MetadataError> {
        Err(MetadataError::NotImplemented("images"))
    }

    /// Deletes the image record `name` and returns it (its content stays until gc).
    pub fn delete_image(&self, name: &str) -> Result<Image, MetadataError> {
        let _ = name;
        Err(MetadataError::NotImplemented("images"))
    }

    // ---- snapshots (used by the snapshotters) ----

    /// Records a new active or view snapshot of `snapshotter` in one transaction: checks the
    /// key is free and the parent exists and is committed, allocates its id.
    pub fn create_snapshot(
        &self,
        snapshotter: &str,
        key: &str,
        kind: SnapshotKind,
        parent: Option<&str>,
        labels: &Labels,
    ) -> Result<SnapshotRecord, MetadataError> {
        let _ = (snapshotter, key, kind, parent, labels);
        Err(MetadataError::NotImplemented("snapshots"))
    }

    /// The snapshot record `key` of `snapshotter`.
    pub fn get_snapshot(
        &self,
        snapshotter: &str,
        key: &str,
    ) -> Result<SnapshotRecord, MetadataError> {
        let _ = (snapshotter, key);
        Err(MetadataError::NotImplemented("snapshots"))
    }

    /// Every snapshot record of `snapshotter`, by key.
    pub fn list_snapshots(&self, snapshotter: &str) -> Result<Vec<SnapshotRecord>, MetadataError> {
        let _ = snapshotter;
        Err(MetadataError::NotImplemented("snapshots"))
    }

    /// Commits active snapshot `key` as `name` in one transaction (the record moves to the new
    /// key, keeping its id and directory): refuses if `key` is not active or `name` exists.
    pub fn commit_snapshot(
        &self,
        snapshotter: &str,
        key: &str,
        name: &str,
        labels: &Labels,
        usage: Usage,
    ) -> Result<SnapshotRecord, MetadataError> {
        let _ = (snapshotter, key, name, labels, usage);
        Err(MetadataError::NotImplemented("snapshots"))
    }

    /// Deletes snapshot record `key` and returns it; refuses while any snapshot names it as
    /// parent. The caller removes the directory afterwards (a crash in between leaves an
    /// orphan directory, which the snapshotter cleans up on start, never a dangling record).
    pub fn remove_snapshot(
        &self,
        snapshotter: &str,
        key: &str,
    ) -> Result<SnapshotRecord, MetadataError> {
        let _ = (snapshotter, key);
        Err(MetadataError::NotImplemented("snapshots"))
    }

    // ---- leases ----

    /// Creates a lease that expires after `expires_in` (none: never).
    pub fn create_lease(
        &self,
        id: &str,
        expires_in: Option<Duration>,
        labels: &Labels,
    ) -> Result<Lease, MetadataError> {
        let _ = (id, expires_in, labels);
        Err(MetadataError::NotImplemented("leases"))
    }

    /// Adds a resource to a lease (no-op if it holds it already).
    pub fn add_lease_resource(
        &self,
        id: &str,
        resource: LeaseResource,
    ) -> Result<(), MetadataError> {
        let _ = (id, resource);
        Err(MetadataError::NotImplemented("leases"))
    }

    /// Removes a resource from a lease (no-op if it does not hold it).
    pub fn remove_lease_resource(
        &self,
        id: &str,
        resource: &LeaseResource,
    ) -> Result<(), MetadataError> {
        let _ = (id, resource);
        Err(MetadataError::NotImplemented("leases"))
    }

    /// The lease `id`.
    pub fn get_lease(&self, id: &str) -> Result<Lease, MetadataError> {
        let _ = id;
        Err(MetadataError::NotImplemented("leases"))
    }

    /// Every lease, by id.
    pub fn list_leases(&self) -> Result<Vec<Lease>, MetadataError> {
        Err(MetadataError::NotImplemented("leases"))
    }

    /// Deletes the lease `id`: what it protected becomes collectable.
    pub fn delete_lease(&self, id: &str) -> Result<(), MetadataError> {
        let _ = id;
        Err(MetadataError::NotImplemented("leases"))
    }

    // ---- reserved collections ----

    /// Stores `value` under `key` in `collection`, replacing what was there.
    pub fn put_record(
        &self,
        collection: Collection,
        key: &str,
        value: &[u8],
    ) -> Result<(), MetadataError> {
        let _ = (collection, key, value);
        Err(MetadataError::NotImplemented("records"))
    }

    /// The value under `key` in `collection`.
    pub fn get_record(&self, collection: Collection, key: &str) -> Result<Vec<u8>, MetadataError> {
        let _ = (collection, key);
        Err(MetadataError::NotImplemented("records"))
    }

    /// Every (key, value) of `collection`, by key.
    pub fn list_records(
        &self,
        collection: Collection,
    ) -> Result<Vec<(String, Vec<u8>)>, MetadataError> {
        let _ = collection;
        Err(MetadataError::NotImplemented("records"))
    }

    /// Deletes `key` from `collection`.
    pub fn delete_record(&self, collection: Collection, key: &str) -> Result<(), MetadataError> {
        let _ = (collection, key);
        Err(MetadataError::NotImplemented("records"))
    }
}
