//! The containers' records and in-memory state: reading and writing
//! records, resolving what a user names (id, name, prefix), names reserved
//! while a create or rename is under way, and the [`ContainerIndex`] the
//! images domain asks which images and snapshots are in use.
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
use std::sync::{Arc, Mutex};
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

/// Containers that exist, or are being created, for image GC and the
/// images domain's in-use check.
pub struct ContainerIndex {
    meta: Arc<MetadataStore>,
    /// Snapshots being prepared for containers not yet recorded.
    pub(super) creating: Mutex<BTreeSet<(String, String)>>,
}

impl ContainerIndex {
    pub fn new(meta: Arc<MetadataStore>) -> Arc<ContainerIndex> {
        Arc::new(ContainerIndex {
            meta,
            creating: Mutex::new(BTreeSet::new()),
        })
    }

    pub(crate) fn records(&self) -> Vec<ContainerRecord> {
        self.meta
            .list_records(Collection::Containers)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect()
    }
}

impl crate::images::ImageUsers for ContainerIndex {
    fn containers_using(&self, image_id: &str) -> Vec<String> {
        self.records()
            .into_iter()
            .filter(|r| r.image_id == image_id)
            .map(|r| r.id)
            .collect()
    }

    fn gc_roots(&self) -> GcRoots {
        let mut roots = GcRoots::default();
        for r in self.records() {
            roots.snapshots.push((r.snapshotter, r.snapshot_key));
        }
        let creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        roots.snapshots.extend(creating.iter().cloned());
        roots
    }
}

impl ContainerService {
    pub(crate) fn records(&self) -> Result<Vec<ContainerRecord>, ContainerError> {
        let mut out = Vec::new();
        for (key, value) in self.meta.list_records(Collection::Containers)? {
            match serde_json::from_slice::<ContainerRecord>(&value) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(id = %key, error = %e, "unreadable container record"),
            }
        }
        Ok(out)
    }

    pub(crate) fn get(&self, id: &str) -> Result<ContainerRecord, ContainerError> {
        match self.meta.get_record(Collection::Containers, id) {
            Ok(v) => serde_json::from_slice(&v)
                .map_err(|e| ContainerError::Internal(format!("container record {id}: {e}"))),
            Err(MetadataError::NotFound { .. }) => Err(ContainerError::NotFound(id.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn put(&self, record: &ContainerRecord) -> Result<(), ContainerError> {
        let bytes = serde_json::to_vec(record).expect("record serialises");
        self.meta
            .put_record(Collection::Containers, &record.id, &bytes)?;
        Ok(())
    }

    /// Changes the record of `id` with `f` (read-modify-write).
    pub(crate) fn update(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord, ContainerError> {
        let mut record = self.get(id)?;
        f(&mut record);
        self.put(&record)?;
        Ok(record)
    }

    /// The container a user means: full id, name (with or without '/'),
    /// or a unique id prefix, as docker resolves them.
    pub fn resolve(&self, input: &str) -> Result<ContainerRecord, ContainerError> {
        if input.is_empty() {
            return Err(ContainerError::NotFound(input.to_string()));
        }
        let records = self.records()?;
        let name = input.strip_prefix('/').unwrap_or(input);
        if let Some(r) = records.iter().find(|r| r.id == input) {
            return Ok(r.clone());
        }
        if let Some(r) = records.iter().find(|r| r.name == name) {
            return Ok(r.clone());
        }
        let matches: Vec<&ContainerRecord> =
            records.iter().filter(|r| r.id.starts_with(input)).collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(ContainerError::NotFound(input.to_string())),
            _ => Err(ContainerError::InvalidArgument(format!(
                "multiple IDs found with provided prefix: {input}"
            ))),
        }
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
        let records = self.records()?;
        let holder = |n: &str| {
            records
                .iter()
                .find(|r| r.name == n)
                .map(|r| r.id.clone())
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
        let records = self.records().unwrap_or_default();
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
}
