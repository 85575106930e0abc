//! The containers' records and in-memory state: reading and writing
//! records, resolving what a user names (id, name, prefix), names reserved
//! while a create or rename is under way, and the [`ContainerIndex`] the
//! images domain asks which images and snapshots are in use.
//!
//! Every record is also held in memory, in the [`RecordTable`] (loaded at
//! start, kept with each write), so resolving a name or listing containers
//! reads no database and parses no JSON.
//!
//! Each container has an [`Entry`] in memory: a lock serialising its
//! lifecycle operations (as dockerd's container lock does), the task (shim)
//! while a task runs, and watch channels that `wait` and `attach` use to
//! learn of exits and removal. The record in the metadata database is
//! rewritten at every state change; a *monitor* task per running container
//! waits on the shim and records the exit (then removes the container when
//! it was created with `--rm`).
//!

use super::record::{ContainerRecord, Status};
use super::service::{ContainerService, ExitInfo};

use super::task::Task;
use super::ContainerError;
use crate::events::Event;
use berth_store::gc::GcRoots;
use berth_store::metadata::{Collection, MetadataError, MetadataStore};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;

/// In-memory companion of a record.
pub(crate) struct Entry {
    /// Serialises lifecycle operations on the container.
    pub(crate) lock: tokio::sync::Mutex<()>,
    /// The task (its shim) while one exists.
    pub(crate) task: Mutex<Option<Arc<dyn Task>>>,
    /// Bumped at every exit: (generation, last exit).
    pub(crate) exits: watch::Sender<(u64, Option<ExitInfo>)>,
    /// Set once the container is removed.
    pub(crate) removed: watch::Sender<bool>,
    /// Set by the shim's OOM event during the current run.
    pub(crate) oom: std::sync::atomic::AtomicBool,
    /// Restart policy back-off and the pending restart (restart.rs).
    pub(crate) restart: Mutex<super::restart::RestartTracker>,
    /// Health state and probe task (health.rs).
    pub(crate) health: Mutex<super::health::HealthMonitor>,
    /// berthd's relays of the main process's output to clients (exec.rs
    /// [`super::exec::OutputRelay`]): an exit waits for them.
    pub(crate) output_relays: watch::Sender<super::exec::RelayCount>,
}

impl Entry {
    pub(super) fn new() -> Arc<Entry> {
        Arc::new(Entry {
            lock: tokio::sync::Mutex::new(()),
            task: Mutex::new(None),
            exits: watch::channel((0, None)).0,
            removed: watch::channel(false).0,
            oom: std::sync::atomic::AtomicBool::new(false),
            restart: Mutex::new(Default::default()),
            health: Mutex::new(Default::default()),
            output_relays: watch::channel(Default::default()).0,
        })
    }

    pub(crate) fn task(&self) -> Option<Arc<dyn Task>> {
        self.task.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn set_task(&self, task: Option<Arc<dyn Task>>) {
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = task;
    }
}

/// Containers that exist, or are being created: the record table every
/// read of the domain goes through, and what the images, volumes and
/// networks domains ask (images and snapshots in use, volume users,
/// network members).
pub struct ContainerIndex {
    /// Every container record, in memory, kept with the writes.
    pub(super) records: RecordTable,
    /// Snapshots being prepared for containers not yet recorded.
    pub(super) creating: Mutex<BTreeSet<(String, String)>>,
}

impl ContainerIndex {
    /// Loads every container record from `meta` (an unreadable one is
    /// logged and left out, as it always was).
    pub fn new(meta: Arc<MetadataStore>) -> Result<Arc<ContainerIndex>, MetadataError> {
        Ok(Arc::new(ContainerIndex {
            records: RecordTable::load(meta)?,
            creating: Mutex::new(BTreeSet::new()),
        }))
    }

    pub(crate) fn records(&self) -> Vec<Arc<ContainerRecord>> {
        self.records.all()
    }
}

/// The container records, in memory, over the metadata database's
/// `containers` collection.
///
/// Why: every `resolve` (inspect, start, rm by name), every create's name
/// check and every `ps` used to read and JSON-parse every record in redb,
/// so their cost grew with the number of containers (issue 21: 20% of
/// berthd's CPU at 200 containers). berthd is the database's only writer,
/// so a table loaded once at start and updated with each write is exact.
///
/// Writes go to redb first and then to the table, both under `writes`, so
/// the table never shows what the database does not hold, and two writers
/// of one record (a lifecycle operation and the exit monitor) cannot lose
/// each other's change in a read-modify-write. Readers take the table's
/// lock only to clone an `Arc`.
pub(crate) struct RecordTable {
    meta: Arc<MetadataStore>,
    table: RwLock<Table>,
    writes: Mutex<()>,
}

#[derive(Default)]
struct Table {
    /// id -> record; ordered, so an id prefix is a range.
    by_id: BTreeMap<String, Arc<ContainerRecord>>,
    /// name (without '/') -> id.
    by_name: HashMap<String, String>,
}

impl Table {
    fn insert(&mut self, record: Arc<ContainerRecord>) {
        if let Some(old) = self.by_id.get(&record.id) {
            if old.name != record.name && self.by_name.get(&old.name) == Some(&old.id) {
                self.by_name.remove(&old.name);
            }
        }
        self.by_name.insert(record.name.clone(), record.id.clone());
        self.by_id.insert(record.id.clone(), record);
    }

    fn remove(&mut self, id: &str) {
        if let Some(old) = self.by_id.remove(id) {
            if self.by_name.get(&old.name).map(String::as_str) == Some(id) {
                self.by_name.remove(&old.name);
            }
        }
    }
}

impl RecordTable {
    fn load(meta: Arc<MetadataStore>) -> Result<RecordTable, MetadataError> {
        let mut table = Table::default();
        for (key, value) in meta.list_records(Collection::Containers)? {
            match serde_json::from_slice::<ContainerRecord>(&value) {
                Ok(r) => table.insert(Arc::new(r)),
                Err(e) => tracing::warn!(id = %key, error = %e, "unreadable container record"),
            }
        }
        Ok(RecordTable {
            meta,
            table: RwLock::new(table),
            writes: Mutex::new(()),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Every record, by id.
    pub(super) fn all(&self) -> Vec<Arc<ContainerRecord>> {
        self.read().by_id.values().cloned().collect()
    }

    pub(super) fn get(&self, id: &str) -> Option<Arc<ContainerRecord>> {
        self.read().by_id.get(id).cloned()
    }

    /// The id of the container called `name`.
    pub(super) fn id_of_name(&self, name: &str) -> Option<String> {
        self.read().by_name.get(name).cloned()
    }

    /// The container a user means: full id, name (with or without '/'),
    /// or a unique id prefix, in docker's order.
    fn resolve(&self, input: &str) -> Result<Arc<ContainerRecord>, ContainerError> {
        let table = self.read();
        if let Some(r) = table.by_id.get(input) {
            return Ok(r.clone());
        }
        let name = input.strip_prefix('/').unwrap_or(input);
        if let Some(r) = table.by_name.get(name).and_then(|id| table.by_id.get(id)) {
            return Ok(r.clone());
        }
        let mut matches = table
            .by_id
            .range::<str, _>((std::ops::Bound::Included(input), std::ops::Bound::Unbounded))
            .take_while(|(id, _)| id.starts_with(input))
            .map(|(_, r)| r);
        match (matches.next(), matches.next()) {
            (Some(r), None) => Ok(r.clone()),
            (None, _) => Err(ContainerError::NotFound(input.to_string())),
            (Some(_), Some(_)) => Err(ContainerError::InvalidArgument(format!(
                "multiple IDs found with provided prefix: {input}"
            ))),
        }
    }

    fn lock_writes(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store(&self, record: ContainerRecord) -> Result<Arc<ContainerRecord>, ContainerError> {
        let bytes = serde_json::to_vec(&record).expect("record serialises");
        self.meta
            .put_record(Collection::Containers, &record.id, &bytes)?;
        let record = Arc::new(record);
        self.table
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(record.clone());
        Ok(record)
    }

    pub(super) fn put(&self, record: &ContainerRecord) -> Result<(), ContainerError> {
        let _writes = self.lock_writes();
        self.store(record.clone()).map(drop)
    }

    /// Changes the record of `id` with `f` and stores it.
    pub(super) fn update(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord, ContainerError> {
        let _writes = self.lock_writes();
        let mut record = match self.get(id) {
            Some(r) => (*r).clone(),
            None => return Err(ContainerError::NotFound(id.to_string())),
        };
        f(&mut record);
        self.store(record.clone())?;
        Ok(record)
    }

    pub(super) fn delete(&self, id: &str) -> Result<(), ContainerError> {
        let _writes = self.lock_writes();
        self.meta.delete_record(Collection::Containers, id)?;
        self.table
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        Ok(())
    }
}

impl crate::images::ImageUsers for ContainerIndex {
    fn containers_using(&self, image_id: &str) -> Vec<String> {
        self.records()
            .into_iter()
            .filter(|r| r.image_id == image_id)
            .map(|r| r.id.clone())
            .collect()
    }

    fn gc_roots(&self) -> GcRoots {
        let mut roots = GcRoots::default();
        for r in self.records() {
            roots
                .snapshots
                .push((r.snapshotter.clone(), r.snapshot_key.clone()));
        }
        let creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        roots.snapshots.extend(creating.iter().cloned());
        roots
    }
}

impl ContainerService {
    /// Every container record (copies; the table keeps going).
    pub(crate) fn records(&self) -> Result<Vec<ContainerRecord>, ContainerError> {
        Ok(self
            .index
            .records
            .all()
            .iter()
            .map(|r| (**r).clone())
            .collect())
    }

    pub(crate) fn get(&self, id: &str) -> Result<ContainerRecord, ContainerError> {
        match self.index.records.get(id) {
            Some(r) => Ok((*r).clone()),
            None => Err(ContainerError::NotFound(id.to_string())),
        }
    }

    pub(crate) fn put(&self, record: &ContainerRecord) -> Result<(), ContainerError> {
        self.index.records.put(record)
    }

    /// Changes the record of `id` with `f` (read-modify-write, atomic
    /// against other writers of the record).
    pub(crate) fn update(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord, ContainerError> {
        self.index.records.update(id, f)
    }

    /// Deletes the record of `id`.
    pub(super) fn delete_record(&self, id: &str) -> Result<(), ContainerError> {
        self.index.records.delete(id)
    }

    /// The container a user means: full id, name (with or without '/'),
    /// or a unique id prefix, as docker resolves them.
    pub fn resolve(&self, input: &str) -> Result<ContainerRecord, ContainerError> {
        if input.is_empty() {
            return Err(ContainerError::NotFound(input.to_string()));
        }
        self.index.records.resolve(input).map(|r| (*r).clone())
    }

    pub(crate) fn entry(&self, id: &str) -> Arc<Entry> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .entry(id.to_string())
            .or_insert_with(Entry::new)
            .clone()
    }

    pub(super) fn drop_entry(&self, id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(id);
    }

    pub(crate) fn publish(&self, record: &ContainerRecord, action: &str, extra: &[(&str, String)]) {
        let mut attributes = BTreeMap::new();
        attributes.insert("name".to_string(), record.name.clone());
        attributes.insert("image".to_string(), record.image.clone());
        for (k, v) in &record.config.options.labels {
            attributes.insert(k.clone(), v.clone());
        }
        for (k, v) in extra {
            attributes.insert(k.to_string(), v.clone());
        }
        self.events.publish(Event::now(
            "container",
            action,
            record.id.clone(),
            attributes,
        ));
    }

    /// Reserves `name` (none: a random docker-like one) for container `id`
    /// until the returned guard drops; a name a record or another
    /// reservation holds is a conflict (docker's message).
    pub(super) fn reserve_name(
        &self,
        name: Option<String>,
        id: &str,
    ) -> Result<NameReservation<'_>, ContainerError> {
        let mut reserved = self
            .reserved_names
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let holder = |n: &str| {
            self.index
                .records
                .id_of_name(n)
                .or_else(|| reserved.get(n).cloned())
        };
        let name = match name {
            Some(n) => {
                if let Some(other) = holder(&n) {
                    return Err(ContainerError::Conflict(format!(
                        "Conflict. The container name \"/{n}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                    )));
                }
                n
            }
            None => {
                let mut n = random_name(id);
                if holder(&n).is_some() {
                    n = format!("{n}_{}", &id[..6]);
                }
                n
            }
        };
        reserved.insert(name.clone(), id.to_string());
        Ok(NameReservation {
            names: &self.reserved_names,
            name,
        })
    }

    /// Containers of any state, newest first.
    pub fn list_records(&self) -> Result<Vec<ContainerRecord>, ContainerError> {
        let mut records = self.records()?;
        records.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(records)
    }

    /// How many containers there are in each state: (all, running, paused, stopped).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let records = self.index.records.all();
        let running = records
            .iter()
            .filter(|r| r.state.status == Status::Running)
            .count();
        let paused = records
            .iter()
            .filter(|r| r.state.status == Status::Paused)
            .count();
        (
            records.len(),
            running,
            paused,
            records.len() - running - paused,
        )
    }
}

/// A name held for a container being created or renamed; released on drop
/// (by then the record carries it, or the operation failed).
pub(super) struct NameReservation<'a> {
    names: &'a Mutex<HashMap<String, String>>,
    pub(super) name: String,
}

impl Drop for NameReservation<'_> {
    fn drop(&mut self) {
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.name);
    }
}

/// docker's container name rule.
pub(super) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A docker-like random name (`brave_turing`), from the id's bytes.
pub(super) fn random_name(id: &str) -> String {
    const LEFT: &[&str] = &[
        "admiring", "brave", "calm", "eager", "festive", "gifted", "happy", "jolly", "keen",
        "lucid", "modest", "nifty", "quirky", "serene", "tender", "vibrant", "wizardly", "zen",
    ];
    const RIGHT: &[&str] = &[
        "babbage", "curie", "darwin", "euler", "feynman", "galois", "hopper", "kepler", "lovelace",
        "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak",
    ];
    let n = u64::from_str_radix(&id[..12], 16).unwrap_or(0);
    format!(
        "{}_{}",
        LEFT[(n % LEFT.len() as u64) as usize],
        RIGHT[((n / 97) % RIGHT.len() as u64) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::new_id;

    #[test]
    fn names_follow_docker_rule() {
        assert!(valid_name("web"));
        assert!(valid_name("a1.b_c-d"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-web"));
        assert!(!valid_name("we/b"));
        assert!(!valid_name(""));
    }

    #[test]
    fn names_derive_from_ids() {
        let id = new_id();
        let name = random_name(&id);
        assert!(valid_name(&name), "{name}");
    }

    fn record(id: &str, name: &str) -> ContainerRecord {
        let mut r: ContainerRecord = serde_json::from_value(serde_json::json!({
            "id": id, "name": name, "created": "", "image": "busybox", "image_ref": "",
            "image_id": "", "snapshotter": "overlayfs", "snapshot_key": id,
            "config": serde_json::from_str::<serde_json::Value>(CONFIG).unwrap(),
            "path": "true", "args": [], "state": {"status": "created"},
            "runtime": "berth", "stop_signal": 15
        }))
        .expect("a minimal record");
        r.name = name.to_string();
        r
    }

    const CONFIG: &str = r#"{"image":"busybox","options":{}}"#;

    fn table() -> (tempfile::TempDir, Arc<MetadataStore>, RecordTable) {
        let dir = tempfile::tempdir().unwrap();
        let meta = Arc::new(MetadataStore::open(&dir.path().join("meta.redb")).unwrap());
        let table = RecordTable::load(meta.clone()).unwrap();
        (dir, meta, table)
    }

    #[test]
    fn resolves_as_docker_by_id_then_name_then_unique_prefix() {
        let (_dir, _meta, t) = table();
        t.put(&record("abc111", "web")).unwrap();
        t.put(&record("abc222", "db")).unwrap();
        t.put(&record("def333", "abc111x")).unwrap();
        assert_eq!(t.resolve("abc111").unwrap().name, "web");
        assert_eq!(t.resolve("/db").unwrap().id, "abc222");
        assert_eq!(
            t.resolve("abc111x").unwrap().id,
            "def333",
            "a name before a prefix"
        );
        assert_eq!(t.resolve("def").unwrap().id, "def333");
        assert!(matches!(
            t.resolve("abc"),
            Err(ContainerError::InvalidArgument(m)) if m.contains("multiple IDs")
        ));
        assert!(matches!(t.resolve("zzz"), Err(ContainerError::NotFound(_))));
        assert!(matches!(t.resolve("abd"), Err(ContainerError::NotFound(_))));
    }

    #[test]
    fn renames_and_deletes_keep_names_exact() {
        let (_dir, _meta, t) = table();
        t.put(&record("aaa", "old")).unwrap();
        t.update("aaa", |r| r.name = "new".into()).unwrap();
        assert_eq!(t.id_of_name("new").as_deref(), Some("aaa"));
        assert_eq!(
            t.id_of_name("old"),
            None,
            "the old name is free after a rename"
        );
        t.delete("aaa").unwrap();
        assert_eq!(t.id_of_name("new"), None);
        assert!(t.get("aaa").is_none());
        assert!(t.delete("aaa").is_err(), "a second delete finds nothing");
        assert!(matches!(
            t.update("aaa", |_| ()),
            Err(ContainerError::NotFound(_))
        ));
    }

    #[test]
    fn the_table_is_what_the_database_holds() {
        let (_dir, meta, t) = table();
        for i in 0..20 {
            t.put(&record(&format!("{i:02}ff"), &format!("c{i}")))
                .unwrap();
        }
        t.update("03ff", |r| r.state.pid = 42).unwrap();
        t.delete("07ff").unwrap();
        t.update("05ff", |r| r.name = "five".into()).unwrap();
        let reloaded = RecordTable::load(meta).unwrap();
        let ids = |t: &RecordTable| t.all().iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&t), ids(&reloaded));
        assert_eq!(ids(&t).len(), 19);
        assert_eq!(reloaded.get("03ff").unwrap().state.pid, 42);
        assert_eq!(reloaded.id_of_name("five").as_deref(), Some("05ff"));
        assert_eq!(reloaded.id_of_name("c5"), None);
    }

    #[test]
    fn concurrent_updates_of_one_record_are_not_lost() {
        let (_dir, _meta, t) = table();
        t.put(&record("aaa", "n")).unwrap();
        let t = Arc::new(t);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        t.update("aaa", |r| r.state.pid += 1).unwrap();
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        assert_eq!(t.get("aaa").unwrap().state.pid, 100);
    }
}
