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
//! │       ├── labels                      a pull's, load's or import's lease: io.berth.lease.purpose
//! │       │                               ("pull", "load", "import") and io.berth.lease.owner (the
//! │       │                               berthd process; berthd deletes other owners' at start)
//! │       └── created_at, expires_at      an expired lease protects nothing; gc deletes it
//! ├── containers: &str -> bytes          reserved for the containers issue (key: container id)
//! ├── networks: &str -> bytes            reserved for the networks issue (key: network id)
//! └── volumes: &str -> json             VolumeRecord of berth-manager volumes/record.rs (key: volume name)
//! ```
//!
//! Migrations: [`MetadataStore::open`] reads `schema/version` (absent = 0, a new database) and
//! runs each step from that version up to [`SCHEMA_VERSION`] in one write transaction; a
//! database newer than this build is refused rather than misread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::de::DeserializeOwned;
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
    /// A lease id, image name or record key that cannot be stored.
    #[error("invalid {kind} {key:?}: must be 1 to 4096 bytes")]
    Invalid {
        /// "image", "lease", "snapshot", or a collection name.
        kind: &'static str,
        /// The key.
        key: String,
    },
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

const SCHEMA: TableDefinition<&str, u64> = TableDefinition::new("schema");
const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
const SNAPSHOTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("snapshots");
const SNAPSHOT_IDS: TableDefinition<&str, u64> = TableDefinition::new("snapshot_ids");
const LEASES: TableDefinition<&str, &[u8]> = TableDefinition::new("leases");
const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
const NETWORKS: TableDefinition<&str, &[u8]> = TableDefinition::new("networks");
const VOLUMES: TableDefinition<&str, &[u8]> = TableDefinition::new("volumes");

/// Longest key accepted (names, ids); redb has no hard limit, but a key this long is a bug.
const MAX_KEY_LEN: usize = 4096;

/// One migration step: brings the database from version `i` (its index in [`MIGRATIONS`])
/// to `i + 1`, inside the caller's write transaction.
type Migration = fn(&WriteTransaction) -> Result<(), redb::Error>;

/// The migration steps, in order. Step 0 makes a new database: it creates every table, so
/// readers never meet a missing one.
const MIGRATIONS: &[Migration] = &[create_tables_v1];

fn create_tables_v1(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(IMAGES)?;
    tx.open_table(SNAPSHOTS)?;
    tx.open_table(SNAPSHOT_IDS)?;
    tx.open_table(LEASES)?;
    tx.open_table(CONTAINERS)?;
    tx.open_table(NETWORKS)?;
    tx.open_table(VOLUMES)?;
    Ok(())
}

impl Collection {
    fn table(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        match self {
            Collection::Containers => CONTAINERS,
            Collection::Networks => NETWORKS,
            Collection::Volumes => VOLUMES,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Collection::Containers => "container",
            Collection::Networks => "network",
            Collection::Volumes => "volume",
        }
    }
}

/// The metadata database. Thread-safe: share it in an `Arc`; redb serialises write
/// transactions and lets reads run concurrently.
pub struct MetadataStore {
    path: PathBuf,
    db: Database,
}

impl std::fmt::Debug for MetadataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataStore")
            .field("path", &self.path)
            .finish()
    }
}

fn check_key(kind: &'static str, key: &str) -> Result<(), MetadataError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(MetadataError::Invalid {
            kind,
            key: key.to_string(),
        });
    }
    Ok(())
}

fn decode<T: DeserializeOwned>(
    kind: &'static str,
    key: &str,
    bytes: &[u8],
) -> Result<T, MetadataError> {
    serde_json::from_slice(bytes).map_err(|e| MetadataError::Corrupt {
        kind,
        key: key.to_string(),
        message: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain records into a Vec cannot fail.
    serde_json::to_vec(value).expect("serialize metadata record")
}

fn not_found(kind: &'static str, key: &str) -> MetadataError {
    MetadataError::NotFound {
        kind,
        key: key.to_string(),
    }
}

impl MetadataStore {
    /// Opens (creating if absent) the database at `path` and migrates it to
    /// [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<MetadataStore, MetadataError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| MetadataError::Database {
                path: path.to_path_buf(),
                message: format!("create {}: {e}", parent.display()),
            })?;
        }
        let db = Database::create(path).map_err(|e| MetadataError::Database {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let store = MetadataStore {
            path: path.to_path_buf(),
            db,
        };
        store.migrate()?;
        Ok(store)
    }

    fn err(&self, e: impl Into<redb::Error>) -> MetadataError {
        MetadataError::Database {
            path: self.path.clone(),
            message: e.into().to_string(),
        }
    }

    /// Runs the migration steps from the stored version up to [`SCHEMA_VERSION`], all in one
    /// write transaction (a crash mid-way leaves the old version intact), and returns the
    /// version the database had before.
    fn migrate(&self) -> Result<u64, MetadataError> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        let found = {
            let schema = tx.open_table(SCHEMA).map_err(|e| self.err(e))?;
            let v = schema
                .get("version")
                .map_err(|e| self.err(e))?
                .map(|v| v.value());
            v.unwrap_or(0)
        };
        if found > SCHEMA_VERSION {
            return Err(MetadataError::TooNew {
                path: self.path.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found == SCHEMA_VERSION {
            return Ok(found);
        }
        for step in &MIGRATIONS[found as usize..SCHEMA_VERSION as usize] {
            step(&tx).map_err(|e| self.err(e))?;
        }
        tx.open_table(SCHEMA)
            .and_then(|mut t| {
                t.insert("version", SCHEMA_VERSION)
                    .map(|_| ())
                    .map_err(Into::into)
            })
            .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(found)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version stored in the database.
    pub fn schema_version(&self) -> Result<u64, MetadataError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = tx.open_table(SCHEMA).map_err(|e| self.err(e))?;
        let v = table
            .get("version")
            .map_err(|e| self.err(e))?
            .map(|v| v.value());
        Ok(v.unwrap_or(0))
    }

    /// Reads one JSON record from a `&str`-keyed table.
    fn read_one<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        kind: &'static str,
        key: &str,
    ) -> Result<T, MetadataError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(table).map_err(|e| self.err(e))?;
        let v = t.get(key).map_err(|e| self.err(e))?;
        match v {
            Some(bytes) => decode(kind, key, bytes.value()),
            None => Err(not_found(kind, key)),
        }
    }

    /// Reads every JSON record of a `&str`-keyed table, in key order.
    fn read_all<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        kind: &'static str,
    ) -> Result<Vec<T>, MetadataError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(table).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            out.push(decode(kind, k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Runs `f` in one write transaction and commits it if `f` succeeds.
    fn write<R>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<R, MetadataError>,
    ) -> Result<R, MetadataError> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        let r = f(&tx)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(r)
    }

    // ---- images ----

    /// Creates an image record; [`MetadataError::AlreadyExists`] if the name is taken.
    pub fn create_image(
        &self,
        name: &str,
        target: &Descriptor,
        labels: &Labels,
    ) -> Result<Image, MetadataError> {
        check_key("image", name)?;
        self.write(|tx| {
            let mut t = tx.open_table(IMAGES).map_err(|e| self.err(e))?;
            if t.get(name).map_err(|e| self.err(e))?.is_some() {
                return Err(MetadataError::AlreadyExists {
                    kind: "image",
                    key: name.to_string(),
                });
            }
            let now = SystemTime::now();
            let image = Image {
                name: name.to_string(),
                target: target.clone(),
                labels: labels.clone(),
                created_at: now,
                updated_at: now,
            };
            t.insert(name, encode(&image).as_slice())
                .map_err(|e| self.err(e))?;
            Ok(image)
        })
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
        check_key("image", name)?;
        self.write(|tx| {
            let mut t = tx.open_table(IMAGES).map_err(|e| self.err(e))?;
            let old: Option<Image> = match t.get(name).map_err(|e| self.err(e))? {
                Some(v) => Some(decode("image", name, v.value())?),
                None => None,
            };
            let now = SystemTime::now();
            let image = Image {
                name: name.to_string(),
                target: target.clone(),
                labels: labels.clone(),
                created_at: old.as_ref().map_or(now, |o| o.created_at),
                updated_at: now,
            };
            t.insert(name, encode(&image).as_slice())
                .map_err(|e| self.err(e))?;
            Ok((image, old))
        })
    }

    /// The image record named `name`.
    pub fn get_image(&self, name: &str) -> Result<Image, MetadataError> {
        self.read_one(IMAGES, "image", name)
    }

    /// Every image record, by name.
    pub fn list_images(&self) -> Result<Vec<Image>, MetadataError> {
        self.read_all(IMAGES, "image")
    }

    /// Deletes the image record `name` and returns it (its content stays until gc).
    pub fn delete_image(&self, name: &str) -> Result<Image, MetadataError> {
        self.write(|tx| {
            let mut t = tx.open_table(IMAGES).map_err(|e| self.err(e))?;
            let old = t.remove(name).map_err(|e| self.err(e))?;
            match old {
                Some(v) => decode("image", name, v.value()),
                None => Err(not_found("image", name)),
            }
        })
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
        check_key("snapshot", key)?;
        if kind == SnapshotKind::Committed {
            return Err(MetadataError::SnapshotConflict {
                key: key.to_string(),
                reason:
                    "only active snapshots and views can be created; commit makes committed ones"
                        .into(),
            });
        }
        self.write(|tx| {
            let mut t = tx.open_table(SNAPSHOTS).map_err(|e| self.err(e))?;
            if t.get((snapshotter, key))
                .map_err(|e| self.err(e))?
                .is_some()
            {
                return Err(MetadataError::AlreadyExists {
                    kind: "snapshot",
                    key: key.to_string(),
                });
            }
            if let Some(parent) = parent {
                let p: SnapshotRecord =
                    match t.get((snapshotter, parent)).map_err(|e| self.err(e))? {
                        Some(v) => decode("snapshot", parent, v.value())?,
                        None => {
                            return Err(MetadataError::SnapshotConflict {
                                key: key.to_string(),
                                reason: format!("parent {parent:?} not found"),
                            })
                        }
                    };
                if p.kind != SnapshotKind::Committed {
                    return Err(MetadataError::SnapshotConflict {
                        key: key.to_string(),
                        reason: format!("parent {parent:?} is not committed"),
                    });
                }
            }
            let id = {
                let mut ids = tx.open_table(SNAPSHOT_IDS).map_err(|e| self.err(e))?;
                let last = ids
                    .get(snapshotter)
                    .map_err(|e| self.err(e))?
                    .map_or(0, |v| v.value());
                ids.insert(snapshotter, last + 1).map_err(|e| self.err(e))?;
                last + 1
            };
            let now = SystemTime::now();
            let record = SnapshotRecord {
                key: key.to_string(),
                id,
                kind,
                parent: parent.map(str::to_string),
                labels: labels.clone(),
                usage: None,
                created_at: now,
                updated_at: now,
            };
            t.insert((snapshotter, key), encode(&record).as_slice())
                .map_err(|e| self.err(e))?;
            Ok(record)
        })
    }

    /// The snapshot record `key` of `snapshotter`.
    pub fn get_snapshot(
        &self,
        snapshotter: &str,
        key: &str,
    ) -> Result<SnapshotRecord, MetadataError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(SNAPSHOTS).map_err(|e| self.err(e))?;
        let v = t.get((snapshotter, key)).map_err(|e| self.err(e))?;
        match v {
            Some(bytes) => decode("snapshot", key, bytes.value()),
            None => Err(not_found("snapshot", key)),
        }
    }

    /// Every snapshot record of `snapshotter`, by key.
    pub fn list_snapshots(&self, snapshotter: &str) -> Result<Vec<SnapshotRecord>, MetadataError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(SNAPSHOTS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for item in t.range((snapshotter, "")..).map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let (sn, key) = k.value();
            if sn != snapshotter {
                break;
            }
            out.push(decode("snapshot", key, v.value())?);
        }
        Ok(out)
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
        check_key("snapshot", name)?;
        self.write(|tx| {
            let mut t = tx.open_table(SNAPSHOTS).map_err(|e| self.err(e))?;
            let mut record: SnapshotRecord =
                match t.get((snapshotter, key)).map_err(|e| self.err(e))? {
                    Some(v) => decode("snapshot", key, v.value())?,
                    None => return Err(not_found("snapshot", key)),
                };
            if record.kind != SnapshotKind::Active {
                return Err(MetadataError::SnapshotConflict {
                    key: key.to_string(),
                    reason: "only an active snapshot can be committed".into(),
                });
            }
            if t.get((snapshotter, name))
                .map_err(|e| self.err(e))?
                .is_some()
            {
                return Err(MetadataError::AlreadyExists {
                    kind: "snapshot",
                    key: name.to_string(),
                });
            }
            t.remove((snapshotter, key)).map_err(|e| self.err(e))?;
            record.key = name.to_string();
            record.kind = SnapshotKind::Committed;
            record.labels = labels.clone();
            record.usage = Some(usage);
            record.updated_at = SystemTime::now();
            t.insert((snapshotter, name), encode(&record).as_slice())
                .map_err(|e| self.err(e))?;
            Ok(record)
        })
    }

    /// Deletes snapshot record `key` and returns it; refuses while any snapshot names it as
    /// parent. The caller removes the directory afterwards (a crash in between leaves an
    /// orphan directory, which the snapshotter cleans up on start, never a dangling record).
    pub fn remove_snapshot(
        &self,
        snapshotter: &str,
        key: &str,
    ) -> Result<SnapshotRecord, MetadataError> {
        self.write(|tx| {
            let mut t = tx.open_table(SNAPSHOTS).map_err(|e| self.err(e))?;
            let record: SnapshotRecord = match t.get((snapshotter, key)).map_err(|e| self.err(e))? {
                Some(v) => decode("snapshot", key, v.value())?,
                None => return Err(not_found("snapshot", key)),
            };
            let mut children = Vec::new();
            for item in t.range((snapshotter, "")..).map_err(|e| self.err(e))? {
                let (k, v) = item.map_err(|e| self.err(e))?;
                let (sn, child_key) = k.value();
                if sn != snapshotter {
                    break;
                }
                let child: SnapshotRecord = decode("snapshot", child_key, v.value())?;
                if child.parent.as_deref() == Some(key) {
                    children.push(child.key);
                }
            }
            if !children.is_empty() {
                return Err(MetadataError::SnapshotConflict {
                    key: key.to_string(),
                    reason: format!("cannot remove: it is the parent of {}", children.join(", ")),
                });
            }
            t.remove((snapshotter, key)).map_err(|e| self.err(e))?;
            Ok(record)
        })
    }

    // ---- leases ----

    /// Creates a lease that expires after `expires_in` (none: never).
    pub fn create_lease(
        &self,
        id: &str,
        expires_in: Option<Duration>,
        labels: &Labels,
    ) -> Result<Lease, MetadataError> {
        check_key("lease", id)?;
        self.write(|tx| {
            let mut t = tx.open_table(LEASES).map_err(|e| self.err(e))?;
            if t.get(id).map_err(|e| self.err(e))?.is_some() {
                return Err(MetadataError::AlreadyExists {
                    kind: "lease",
                    key: id.to_string(),
                });
            }
            let now = SystemTime::now();
            let lease = Lease {
                id: id.to_string(),
                resources: Vec::new(),
                labels: labels.clone(),
                created_at: now,
                expires_at: expires_in.map(|d| now + d),
            };
            t.insert(id, encode(&lease).as_slice())
                .map_err(|e| self.err(e))?;
            Ok(lease)
        })
    }

    /// Reads, changes and writes back one lease in one transaction.
    fn update_lease(&self, id: &str, f: impl FnOnce(&mut Lease)) -> Result<(), MetadataError> {
        self.write(|tx| {
            let mut t = tx.open_table(LEASES).map_err(|e| self.err(e))?;
            let mut lease: Lease = match t.get(id).map_err(|e| self.err(e))? {
                Some(v) => decode("lease", id, v.value())?,
                None => return Err(not_found("lease", id)),
            };
            f(&mut lease);
            t.insert(id, encode(&lease).as_slice())
                .map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// Adds a resource to a lease (no-op if it holds it already).
    pub fn add_lease_resource(
        &self,
        id: &str,
        resource: LeaseResource,
    ) -> Result<(), MetadataError> {
        self.update_lease(id, |lease| {
            if !lease.resources.contains(&resource) {
                lease.resources.push(resource);
            }
        })
    }

    /// Removes a resource from a lease (no-op if it does not hold it).
    pub fn remove_lease_resource(
        &self,
        id: &str,
        resource: &LeaseResource,
    ) -> Result<(), MetadataError> {
        self.update_lease(id, |lease| lease.resources.retain(|r| r != resource))
    }

    /// The lease `id`.
    pub fn get_lease(&self, id: &str) -> Result<Lease, MetadataError> {
        self.read_one(LEASES, "lease", id)
    }

    /// Every lease, by id.
    pub fn list_leases(&self) -> Result<Vec<Lease>, MetadataError> {
        self.read_all(LEASES, "lease")
    }

    /// Deletes the lease `id`: what it protected becomes collectable.
    pub fn delete_lease(&self, id: &str) -> Result<(), MetadataError> {
        self.write(|tx| {
            let mut t = tx.open_table(LEASES).map_err(|e| self.err(e))?;
            let old = t.remove(id).map_err(|e| self.err(e))?;
            match old {
                Some(_) => Ok(()),
                None => Err(not_found("lease", id)),
            }
        })
    }

    // ---- reserved collections ----

    /// Stores `value` under `key` in `collection`, replacing what was there.
    pub fn put_record(
        &self,
        collection: Collection,
        key: &str,
        value: &[u8],
    ) -> Result<(), MetadataError> {
        check_key(collection.kind(), key)?;
        self.write(|tx| {
            let mut t = tx.open_table(collection.table()).map_err(|e| self.err(e))?;
            t.insert(key, value).map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// The value under `key` in `collection`.
    pub fn get_record(&self, collection: Collection, key: &str) -> Result<Vec<u8>, MetadataError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(collection.table()).map_err(|e| self.err(e))?;
        let v = t.get(key).map_err(|e| self.err(e))?;
        match v {
            Some(bytes) => Ok(bytes.value().to_vec()),
            None => Err(not_found(collection.kind(), key)),
        }
    }

    /// Every (key, value) of `collection`, by key.
    pub fn list_records(
        &self,
        collection: Collection,
    ) -> Result<Vec<(String, Vec<u8>)>, MetadataError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(collection.table()).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Deletes `key` from `collection`.
    pub fn delete_record(&self, collection: Collection, key: &str) -> Result<(), MetadataError> {
        self.write(|tx| {
            let mut t = tx.open_table(collection.table()).map_err(|e| self.err(e))?;
            let old = t.remove(key).map_err(|e| self.err(e))?;
            match old {
                Some(_) => Ok(()),
                None => Err(not_found(collection.kind(), key)),
            }
        })
    }
}
