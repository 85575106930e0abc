//! [`VolumeService`]: volumes as a plain Rust API (the gRPC adapter in
//! `crate::api::volumes` wraps it; the containers service calls it at
//! create, start, exit and remove).

use super::attach::{VolumeAttachment, VolumeMount, WantedVolume};
use super::filter::VolumeFilters;
use super::record::{self, VolumeRecord, ANONYMOUS_LABEL, LOCAL_DRIVER};
use super::users::VolumeUsers;
use super::{local, populate, VolumeError};
use crate::events::{Event, EventBus};
use berth_docker::types::container::MountPoint;
use berth_store::metadata::{Collection, MetadataError, MetadataStore};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A volume with the containers that reference it (docker's `UsageData`
/// reference count, and `ls --filter dangling`).
#[derive(Debug, Clone)]
pub struct VolumeInfo {
    pub record: VolumeRecord,
    /// `<root>/volumes/<name>/_data`.
    pub mountpoint: PathBuf,
    /// Ids of the containers whose records name it, sorted.
    pub containers: Vec<String>,
}

/// The volumes service.
pub struct VolumeService {
    meta: Arc<MetadataStore>,
    events: Arc<EventBus>,
    /// Who uses which volume (the containers domain's index).
    users: Arc<dyn VolumeUsers>,
    /// `<root>/volumes`.
    dir: PathBuf,
    /// Serialises create and remove, so a name is checked and taken (or
    /// checked unused and freed) as one step.
    lock: Mutex<()>,
    /// Volumes attached by container creates whose records are not written
    /// yet: container id -> names. They count as in use.
    pending: Mutex<BTreeMap<String, Vec<String>>>,
}

/// Now, RFC 3339 to the second (docker's volume `CreatedAt`).
fn now_seconds() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl VolumeService {
    /// The service over `<root>/volumes` (made if missing).
    pub fn new(
        root: &Path,
        meta: Arc<MetadataStore>,
        events: Arc<EventBus>,
        users: Arc<dyn VolumeUsers>,
    ) -> Result<VolumeService, VolumeError> {
        let dir = root.join("volumes");
        // 0701 as docker's: others may traverse to a volume a container
        // user owns, but not list the volume names.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o701)
            .create(&dir)
            .map_err(|e| VolumeError::io("create directory", &dir, e))?;
        Ok(VolumeService {
            meta,
            events,
            users,
            dir,
            lock: Mutex::new(()),
            pending: Mutex::new(BTreeMap::new()),
        })
    }

    /// `<root>/volumes/<name>/_data`: the volume's Mountpoint.
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    fn publish(&self, action: &str, name: &str, extra: &[(&str, String)]) {
        let mut attributes = BTreeMap::new();
        attributes.insert("driver".to_string(), LOCAL_DRIVER.to_string());
        for (k, v) in extra {
            attributes.insert(k.to_string(), v.clone());
        }
        self.events
            .publish(Event::now("volume", action, name.to_string(), attributes));
    }

    // ---- records ----

    /// The record of `name`.
    pub fn get(&self, name: &str) -> Result<VolumeRecord, VolumeError> {
        match self.meta.get_record(Collection::Volumes, name) {
            Ok(v) => serde_json::from_slice(&v).map_err(|source| VolumeError::Record {
                name: name.to_string(),
                source,
            }),
            Err(MetadataError::NotFound { .. }) => Err(VolumeError::NotFound(name.to_string())),
            Err(MetadataError::Invalid { .. }) => Err(VolumeError::NotFound(name.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Every volume record, by name.
    pub fn records(&self) -> Result<Vec<VolumeRecord>, VolumeError> {
        let mut out = Vec::new();
        for (name, value) in self.meta.list_records(Collection::Volumes)? {
            match serde_json::from_slice(&value) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(volume = %name, error = %e, "unreadable volume record"),
            }
        }
        Ok(out)
    }

    /// Volume name -> ids of the containers that reference it (records,
    /// and creates in progress).
    fn users(&self) -> Result<BTreeMap<String, BTreeSet<String>>, VolumeError> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for user in self.users.volume_users() {
            for name in user.volumes {
                out.entry(name).or_default().insert(user.id.clone());
            }
        }
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (id, names) in pending.iter() {
            for n in names {
                out.entry(n.clone()).or_default().insert(id.clone());
            }
        }
        Ok(out)
    }

    fn info(&self, record: VolumeRecord, users: &BTreeMap<String, BTreeSet<String>>) -> VolumeInfo {
        VolumeInfo {
            mountpoint: self.mountpoint(&record.name),
            containers: users
                .get(&record.name)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
            record,
        }
    }

    /// `volume inspect`.
    pub fn inspect(&self, name: &str) -> Result<VolumeInfo, VolumeError> {
        let record = self.get(name)?;
        Ok(self.info(record, &self.users()?))
    }

    /// `volume ls`: the volumes `filters` keep, by name.
    pub fn list(&self, filters: &VolumeFilters) -> Result<Vec<VolumeInfo>, VolumeError> {
        let users = self.users()?;
        Ok(self
            .records()?
            .into_iter()
            .map(|r| self.info(r, &users))
            .filter(|v| filters.matches(v))
            .collect())
    }

    // ---- create ----

    /// `volume create`: a new volume, or the existing one of that name
    /// (docker's create is idempotent). No name: 64 random hex digits.
    pub fn create(
        &self,
        name: Option<&str>,
        driver: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<VolumeRecord, VolumeError> {
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => record::anonymous_name(),
        };
        record::validate_name(&name)?;
        let driver = driver.filter(|d| !d.is_empty()).unwrap_or(LOCAL_DRIVER);
        if driver != LOCAL_DRIVER {
            return Err(VolumeError::InvalidArgument(format!(
                "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found (berth has only the local driver)"
            )));
        }
        record::validate_options(&name, &options)?;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.create_locked(&name, labels, options).map(|(r, _)| r)
    }

    /// Creates `name` unless it exists; returns the record and whether it
    /// was created now. The caller holds `self.lock`.
    fn create_locked(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<(VolumeRecord, bool), VolumeError> {
        match self.get(name) {
            Ok(existing) => return Ok((existing, false)),
            Err(VolumeError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let data = self.mountpoint(name);
        let vol_dir = self.dir.join(name);
        // A directory left by a crash between mkdir and record: reuse it
        // only if it holds nothing.
        if vol_dir.exists() {
            let _ = std::fs::remove_dir(&data);
            std::fs::remove_dir(&vol_dir)
                .map_err(|e| VolumeError::io("remove stale volume directory", &vol_dir, e))?;
        }
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&vol_dir)
            .and_then(|_| std::fs::DirBuilder::new().mode(0o755).create(&data))
            .map_err(|e| {
                let _ = std::fs::remove_dir_all(&vol_dir);
                VolumeError::io("create volume directory", &data, e)
            })?;
        let record = VolumeRecord {
            name: name.to_string(),
            driver: LOCAL_DRIVER.to_string(),
            created_at: now_seconds(),
            labels,
            options,
        };
        let bytes = serde_json::to_vec(&record).expect("volume record serialises");
        if let Err(e) = self.meta.put_record(Collection::Volumes, name, &bytes) {
            let _ = std::fs::remove_dir_all(&vol_dir);
            return Err(e.into());
        }
        self.publish("create", name, &[]);
        Ok((record, true))
    }

    // ---- remove, prune ----

    /// `volume rm`: refused while any container references the volume;
    /// `force` only makes a missing volume no error (docker's `-f`).
    pub fn remove(&self, name: &str, force: bool) -> Result<(), VolumeError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        match self.get(name) {
            Ok(_) => {}
            Err(VolumeError::NotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        }
        if let Some(ids) = self.users()?.get(name) {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                containers: ids.iter().cloned().collect(),
            });
        }
        self.destroy_locked(name)
    }

    /// Removes a volume without the in-use check (a failed create's own
    /// volumes).
    pub(crate) fn destroy(&self, name: &str) -> Result<(), VolumeError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.destroy_locked(name)
    }

    fn destroy_locked(&self, name: &str) -> Result<(), VolumeError> {
        let record = self.get(name)?;
        local::ensure_unmounted(&record, &self.mountpoint(name))?;
        self.meta.delete_record(Collection::Volumes, name)?;
        let vol_dir = self.dir.join(name);
        if let Err(e) = std::fs::remove_dir_all(&vol_dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(VolumeError::io("remove volume directory", &vol_dir, e));
            }
        }
        self.publish("destroy", name, &[]);
        Ok(())
    }

    /// `volume prune`: removes unused volumes that `filters` keep, only
    /// anonymous ones unless `all` (docker 23+). Returns the names removed
    /// and the bytes they held.
    pub fn prune(
        &self,
        all: bool,
        filters: &VolumeFilters,
    ) -> Result<(Vec<String>, u64), VolumeError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let users = self.users()?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for record in self.records()? {
            if users.contains_key(&record.name) || !(all || record.is_anonymous()) {
                continue;
            }
            let info = self.info(record, &users);
            if !filters.matches(&info) {
                continue;
            }
            let size = disk_usage(&info.mountpoint);
            match self.destroy_locked(&info.record.name) {
                Ok(()) => {
                    deleted.push(info.record.name);
                    reclaimed += size;
                }
                Err(e) => tracing::warn!(volume = %info.record.name, error = %e, "prune volume"),
            }
        }
        self.publish_prune(reclaimed);
        Ok((deleted, reclaimed))
    }

    fn publish_prune(&self, reclaimed: u64) {
        let attributes = BTreeMap::from([("reclaimed".to_string(), reclaimed.to_string())]);
        self.events
            .publish(Event::now("volume", "prune", String::new(), attributes));
    }

    // ---- containers ----

    /// Resolves the volumes of a container being created (see
    /// [`super::attach`]): creates missing ones, fills empty ones from the
    /// image at `rootfs` (mounted), and returns them held as in use until
    /// the container's record is written. Everything is checked before
    /// anything is created.
    pub fn attach(
        &self,
        container: &str,
        wanted: Vec<WantedVolume>,
        rootfs: &Path,
    ) -> Result<VolumeAttachment<'_>, VolumeError> {
        for w in &wanted {
            let name = w.name.as_deref().unwrap_or("anonymous volume");
            record::validate_options(name, &w.create_with.options)?;
        }
        let mut attachment = VolumeAttachment {
            service: self,
            container: container.to_string(),
            mounts: Vec::new(),
            created: Vec::new(),
            committed: false,
        };
        for w in wanted {
            let anonymous = w.name.is_none();
            let name = w.name.unwrap_or_else(record::anonymous_name);
            let mut labels = w.create_with.labels.clone();
            if anonymous {
                labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
            }
            // Under the lock: two creates sharing a new volume must not
            // both find it empty and copy into it at once.
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            // `--volume-driver`: only a volume this create makes needs the
            // driver (docker ignores the flag otherwise); Berth has no
            // volume plugins, so another driver cannot make one.
            if let Some(driver) = w.create_with.driver.as_deref().filter(|d| *d != "local") {
                if anonymous || matches!(self.get(&name), Err(VolumeError::NotFound(_))) {
                    return Err(VolumeError::NotImplemented(format!(
                        "volume driver {driver:?} for {} (Berth has only the local driver, no volume plugins)",
                        if anonymous { "an anonymous volume" } else { name.as_str() }
                    )));
                }
            }
            let (record, created) =
                self.create_locked(&name, labels, w.create_with.options.clone())?;
            // Held from here: a concurrent `volume rm` sees it in use.
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(container.to_string())
                .or_default()
                .push(name.clone());
            if created {
                attachment.created.push(name.clone());
            }
            let data = self.mountpoint(&name);
            local::ensure_mounted(&record, &data)?;
            if !w.no_copy {
                populate::populate(rootfs, &w.destination, &data)?;
            }
            drop(_guard);
            attachment.mounts.push(VolumeMount {
                name,
                destination: w.destination,
                read_only: w.read_only,
                anonymous,
                no_copy: w.no_copy,
            });
        }
        Ok(attachment)
    }

    /// Ends the in-use hold of a create (its record is written, or it
    /// failed).
    pub(crate) fn end_pending(&self, container: &str) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(container);
    }

    /// docker's `Mounts` entries (container inspect) of a container's
    /// volumes. `Mode` is docker's default for a volume, `z`, or `ro`; the
    /// caller puts the mode the user wrote in its place when it has it.
    pub fn mount_points(&self, mounts: &[VolumeMount]) -> Vec<MountPoint> {
        mounts
            .iter()
            .map(|m| MountPoint {
                kind: "volume".into(),
                name: m.name.clone(),
                source: self.mountpoint(&m.name).to_string_lossy().into_owned(),
                destination: m.destination.clone(),
                driver: LOCAL_DRIVER.into(),
                mode: if m.read_only { "ro" } else { "z" }.into(),
                rw: !m.read_only,
                propagation: String::new(),
            })
            .collect()
    }

    /// Before a container's task starts: its mount-backed volumes are
    /// mounted (first use); then a `mount` event per volume (docker's).
    pub fn container_starting(
        &self,
        container: &str,
        mounts: &[VolumeMount],
    ) -> Result<(), VolumeError> {
        for m in mounts {
            let record = self.get(&m.name)?;
            local::ensure_mounted(&record, &self.mountpoint(&m.name))?;
            self.publish(
                "mount",
                &m.name,
                &[
                    ("container", container.to_string()),
                    ("destination", m.destination.clone()),
                    ("read/write", (!m.read_only).to_string()),
                    ("propagation", "rprivate".to_string()),
                ],
            );
        }
        Ok(())
    }

    /// After a container's task ended: an `unmount` event per volume, and
    /// mount-backed volumes that no other running container uses are
    /// unmounted.
    pub fn container_stopped(&self, container: &str, mounts: &[VolumeMount]) {
        if mounts.is_empty() {
            return;
        }
        let running: Vec<_> = self
            .users
            .volume_users()
            .into_iter()
            .filter(|u| u.running)
            .collect();
        for m in mounts {
            self.publish("unmount", &m.name, &[("container", container.to_string())]);
            let Ok(record) = self.get(&m.name) else {
                continue;
            };
            let used = running
                .iter()
                .any(|u| u.id != container && u.volumes.contains(&m.name));
            if record.is_mount_backed() && !used {
                if let Err(e) = local::ensure_unmounted(&record, &self.mountpoint(&m.name)) {
                    tracing::warn!(volume = %m.name, error = %e, "unmount volume");
                }
            }
        }
    }

    /// After a container's record is deleted: its mount-backed volumes are
    /// unmounted, and with `anonymous_too` (`rm -v`, `run --rm`) its
    /// anonymous volumes removed (docker logs and skips one still in use).
    pub fn container_removed(&self, mounts: &[VolumeMount], anonymous_too: bool) {
        for m in mounts {
            let result = if anonymous_too && m.anonymous {
                self.remove(&m.name, true)
            } else {
                self.get(&m.name)
                    .and_then(|r| local::ensure_unmounted(&r, &self.mountpoint(&m.name)))
                    .or_else(|e| match e {
                        VolumeError::NotFound(_) => Ok(()),
                        e => Err(e),
                    })
            };
            if let Err(e) = result {
                tracing::warn!(volume = %m.name, error = %e, "release volume of a removed container");
            }
        }
    }
}

/// The bytes of the files under `path`: apparent sizes (not blocks), each
/// inode once, directories not counted, as moby's `directory.Size` counts
/// a volume for `system df`. Symlinks are not followed.
pub fn apparent_size(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fn walk(path: &Path, seen: &mut BTreeSet<(u64, u64)>) -> u64 {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return 0;
        };
        if meta.is_dir() {
            let Ok(entries) = std::fs::read_dir(path) else {
                return 0;
            };
            return entries.flatten().map(|e| walk(&e.path(), seen)).sum();
        }
        if meta.nlink() > 1 && !seen.insert((meta.dev(), meta.ino())) {
            return 0;
        }
        meta.size()
    }
    walk(path, &mut BTreeSet::new())
}

/// Bytes used under `path` (files' allocated blocks, each inode once, not
/// crossing into other file systems), as docker's prune reports.
fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fn walk(path: &Path, dev: u64, seen: &mut BTreeSet<(u64, u64)>) -> u64 {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return 0;
        };
        if meta.dev() != dev || !seen.insert((meta.dev(), meta.ino())) {
            return 0;
        }
        let mut total = meta.blocks() * 512;
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(path) {
                for e in entries.flatten() {
                    total += walk(&e.path(), dev, seen);
                }
            }
        }
        total
    }
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let mut seen = BTreeSet::new();
    // The directory itself is not reclaimed content.
    walk(path, meta.dev(), &mut seen).saturating_sub(meta.blocks() * 512)
}
