//! A pod's record: what the CRI asked for and what berthd made, one JSON
//! file per pod under `<root>/pods/`, written to a temp file, synced and
//! renamed over the old one, so a crash leaves the old or the new record,
//! never half of one.

use super::PodError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How a pod shares a namespace kind (the CRI's NamespaceMode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NamespaceMode {
    /// One namespace for the pod (held by the infra process).
    #[default]
    Pod,
    /// Each container its own.
    Container,
    /// The host's.
    Node,
}

/// The namespaces of a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodNamespaces {
    pub network: NamespaceMode,
    pub pid: NamespaceMode,
    pub ipc: NamespaceMode,
}

/// A published port (the CNI `portMappings` capability).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    pub container_port: u16,
    pub host_port: u16,
    pub host_ip: String,
}

/// The pod's DNS settings (its resolv.conf).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// What a pod is asked to be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodConfig {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub attempt: u32,
    pub hostname: String,
    pub log_directory: String,
    pub dns: Option<DnsConfig>,
    pub port_mappings: Vec<PortMapping>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub cgroup_parent: String,
    pub sysctls: BTreeMap<String, String>,
    pub namespaces: PodNamespaces,
    pub runtime_handler: String,
}

impl PodConfig {
    /// The name a pod reserves (kubelet's name, namespace, uid, attempt):
    /// two live records never share it.
    pub fn reserved_name(&self) -> String {
        format!(
            "{}_{}_{}_{}",
            self.name, self.namespace, self.uid, self.attempt
        )
    }
}

/// The infra process: its pid and its start time (field 22 of
/// /proc/PID/stat), so a recycled pid is never taken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfraProcess {
    pub pid: u32,
    pub start_time: u64,
}

/// The pod's network as CNI made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodNetwork {
    /// The first IPv4 address (else the first address), without prefix.
    pub ip: String,
    pub additional_ips: Vec<String>,
    /// The network list's name and the final ADD result, for DEL.
    pub network_name: String,
    pub result: serde_json::Value,
    /// Whether DEL has been done (stop runs it once).
    pub torn_down: bool,
}

/// A pod's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodRecord {
    pub id: String,
    pub config: PodConfig,
    pub created_at_nanos: i64,
    pub infra: Option<InfraProcess>,
    /// The pinned network namespace (none: the host's).
    pub netns: Option<PathBuf>,
    pub network: Option<PodNetwork>,
    /// Set by a stop: a stopped pod never becomes ready again.
    pub stopped: bool,
}

/// The records on disk.
pub struct PodStore {
    dir: PathBuf,
}

impl PodStore {
    /// The store in `dir` (created).
    pub fn open(dir: &Path) -> Result<PodStore, PodError> {
        std::fs::create_dir_all(dir).map_err(PodError::io("create directory", dir))?;
        Ok(PodStore {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Every record (an unreadable one is logged and skipped).
    pub fn load_all(&self) -> Result<Vec<PodRecord>, PodError> {
        let mut out = Vec::new();
        let entries =
            std::fs::read_dir(&self.dir).map_err(PodError::io("read directory", &self.dir))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<PodRecord>(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping unreadable pod record")
                }
            }
        }
        Ok(out)
    }

    /// Writes `record` atomically.
    pub fn save(&self, record: &PodRecord) -> Result<(), PodError> {
        let path = self.path(&record.id);
        let tmp = self.dir.join(format!(".{}.tmp", record.id));
        let bytes = serde_json::to_vec_pretty(record).expect("pod records serialise");
        let mut file = std::fs::File::create(&tmp).map_err(PodError::io("create", &tmp))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(PodError::io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(PodError::io("rename into place", &path))
    }

    /// Deletes a record (a missing one is gone already).
    pub fn delete(&self, id: &str) -> Result<(), PodError> {
        let path = self.path(id);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(PodError::io("remove", &path)(e))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_delete_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = PodStore::open(&dir.path().join("pods")).unwrap();
        let record = PodRecord {
            id: "abc".into(),
            config: PodConfig {
                name: "web".into(),
                namespace: "default".into(),
                uid: "u1".into(),
                attempt: 2,
                ..Default::default()
            },
            created_at_nanos: 7,
            infra: Some(InfraProcess {
                pid: 42,
                start_time: 9,
            }),
            netns: None,
            network: None,
            stopped: false,
        };
        store.save(&record).unwrap();
        std::fs::write(dir.path().join("pods/bad.json"), "{").unwrap();
        assert_eq!(store.load_all().unwrap(), vec![record.clone()]);
        assert_eq!(record.config.reserved_name(), "web_default_u1_2");
        store.delete("abc").unwrap();
        store.delete("abc").unwrap();
        assert_eq!(store.load_all().unwrap(), vec![]);
    }
}
