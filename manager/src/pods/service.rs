//! The pods service: run, stop, remove, status and list of pod sandboxes,
//! with every step of a failed run undone (see the module doc of `pods`).
//! Run, stop and remove are serialised by one lock (`ops`): a kubelet works
//! on one pod at a time anyway, and CNI plugins (IPAM leases, bridge set-up)
//! expect no concurrent calls for one network. The records' own lock is
//! held only to read or swap a record, never across processes, mounts or
//! plugins, so status and list answer while a pod starts.

use super::cni::{self, Attachment, CniSettings, NetworkList};
use super::infra::{self, InfraSpec};
use super::netns;
use super::record::{InfraProcess, NamespaceMode, PodConfig, PodNetwork, PodRecord, PodStore};
use super::PodError;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;
use std::time::Duration;

/// Where the pods service keeps things and what it runs.
#[derive(Debug, Clone)]
pub struct PodSettings {
    /// Records (`<root>/pods`).
    pub records_dir: PathBuf,
    /// Per-pod runtime files (`<state>/pods`).
    pub state_dir: PathBuf,
    /// The infra program (berth-pause).
    pub pause_binary: PathBuf,
    pub cni: CniSettings,
}

/// A pod as read now: its record and whether it is ready.
#[derive(Debug, Clone)]
pub struct PodView {
    pub record: PodRecord,
    pub ready: bool,
}

struct Pods {
    records: BTreeMap<String, PodRecord>,
    /// Infra processes this berthd started (it reaps them); those of a
    /// previous berthd were reparented and are reaped by init.
    children: HashMap<String, Child>,
}

/// The pods service.
pub struct PodService {
    settings: PodSettings,
    store: PodStore,
    pods: Mutex<Pods>,
    /// Held for the whole of a run, stop or remove.
    ops: Mutex<()>,
}

impl PodService {
    /// Opens the records of a previous berthd: their pods are as the kernel
    /// says (a pod whose infra process died while berthd was down reads as
    /// not ready, and its CNI DEL is still done at stop).
    pub fn open(settings: PodSettings) -> Result<PodService, PodError> {
        let store = PodStore::open(&settings.records_dir)?;
        std::fs::create_dir_all(&settings.state_dir)
            .map_err(PodError::io("create directory", &settings.state_dir))?;
        let records = store
            .load_all()?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        Ok(PodService {
            settings,
            store,
            pods: Mutex::new(Pods {
                records,
                children: HashMap::new(),
            }),
            ops: Mutex::new(()),
        })
    }

    /// Whether pod networking can work: the conf dir's network config
    /// loads (the `NetworkReady` condition); the error says why not.
    pub fn network_ready(&self) -> Result<(), PodError> {
        cni::load(&self.settings.cni.conf_dir)
            .map(drop)
            .map_err(|e| PodError::NetworkNotReady(e.to_string()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pods> {
        self.pods.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn one_op_at_a_time(&self) -> std::sync::MutexGuard<'_, ()> {
        self.ops.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn view(record: &PodRecord) -> PodView {
        let ready = !record.stopped
            && record
                .infra
                .is_some_and(|i| infra::is_alive(i.pid, i.start_time));
        PodView {
            record: record.clone(),
            ready,
        }
    }

    /// Every pod.
    pub fn list(&self) -> Vec<PodView> {
        self.lock().records.values().map(Self::view).collect()
    }

    /// One pod by its id or a unique prefix of it (as containerd's CRI
    /// accepts them).
    pub fn get(&self, id: &str) -> Result<PodView, PodError> {
        let pods = self.lock();
        if let Some(r) = pods.records.get(id) {
            return Ok(Self::view(r));
        }
        let mut found = pods
            .records
            .values()
            .filter(|r| !id.is_empty() && r.id.starts_with(id));
        match (found.next(), found.next()) {
            (Some(r), None) => Ok(Self::view(r)),
            (Some(_), Some(_)) => Err(PodError::InvalidArgument(format!(
                "pod sandbox id prefix {id:?} is ambiguous"
            ))),
            _ => Err(PodError::NotFound(id.to_string())),
        }
    }

    fn pod_dir(&self, id: &str) -> PathBuf {
        self.settings.state_dir.join(id)
    }

    fn attachment(record: &PodRecord, netns: &Path, ifname: &str) -> Attachment {
        let c = &record.config;
        Attachment {
            container_id: record.id.clone(),
            netns: netns.to_path_buf(),
            ifname: ifname.to_string(),
            args: vec![
                ("IgnoreUnknown".into(), "1".into()),
                ("K8S_POD_NAMESPACE".into(), c.namespace.clone()),
                ("K8S_POD_NAME".into(), c.name.clone()),
                ("K8S_POD_INFRA_CONTAINER_ID".into(), record.id.clone()),
                ("K8S_POD_UID".into(), c.uid.clone()),
            ],
            port_mappings: c
                .port_mappings
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "hostPort": p.host_port,
                        "containerPort": p.container_port,
                        "protocol": p.protocol,
                        "hostIP": p.host_ip,
                    })
                })
                .collect(),
        }
    }

    /// Runs a pod: its id. Blocking (processes, mounts, CNI plugins).
    pub fn run(&self, config: PodConfig) -> Result<String, PodError> {
        if config.name.is_empty() || config.namespace.is_empty() || config.uid.is_empty() {
            return Err(PodError::InvalidArgument(
                "pod sandbox metadata needs a name, a namespace and a uid".into(),
            ));
        }
        if config.namespaces.pid == NamespaceMode::Pod {
            return Err(PodError::NotImplemented(
                "a pid namespace shared by the pod (NamespaceMode POD for pid)".into(),
            ));
        }
        let own_net = config.namespaces.network != NamespaceMode::Node;
        let own_ipc = config.namespaces.ipc != NamespaceMode::Node;
        let sysctls: Vec<(String, String)> = config
            .sysctls
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        infra::check_sysctls(&sysctls, own_net, own_ipc)?;
        let _op = self.one_op_at_a_time();
        let reserved = config.reserved_name();
        if let Some(other) = self
            .lock()
            .records
            .values()
            .find(|r| r.config.reserved_name() == reserved)
        {
            return Err(PodError::NameInUse {
                name: reserved,
                id: other.id.clone(),
            });
        }
        let network = if own_net {
            Some(
                cni::load(&self.settings.cni.conf_dir)
                    .map_err(|e| PodError::NetworkNotReady(e.to_string()))?,
            )
        } else {
            None
        };
        let id = crate::ids::new_id();
        let mut record = PodRecord {
            id: id.clone(),
            config,
            created_at_nanos: crate::events::now_nanos(),
            infra: None,
            netns: None,
            network: None,
            stopped: false,
        };
        let mut child = None;
        match self.set_up(&mut record, network.as_ref(), &mut child) {
            Ok(()) => {
                let mut pods = self.lock();
                if let Some(c) = child {
                    pods.children.insert(id.clone(), c);
                }
                pods.records.insert(id.clone(), record);
                tracing::info!(pod = %id, "pod sandbox running");
                Ok(id)
            }
            Err(e) => {
                tracing::warn!(pod = %id, error = %e, "pod sandbox failed to start; undoing");
                self.tear_down(&mut record, network.as_ref(), child);
                let _ = self.store.delete(&id);
                let _ = std::fs::remove_dir_all(self.pod_dir(&id));
                Err(e)
            }
        }
    }

    /// The steps of `run`; what they made is in `record` and `child` for
    /// [`Self::tear_down`] to undo.
    fn set_up(
        &self,
        record: &mut PodRecord,
        network: Option<&NetworkList>,
        child: &mut Option<Child>,
    ) -> Result<(), PodError> {
        let dir = self.pod_dir(&record.id);
        std::fs::create_dir_all(&dir).map_err(PodError::io("create directory", &dir))?;
        let c = &record.config;
        write_pod_files(&dir, c)?;
        let own_net = c.namespaces.network != NamespaceMode::Node;
        let spec = InfraSpec {
            new_net: own_net,
            new_ipc: c.namespaces.ipc != NamespaceMode::Node,
            // A pod on the host's network has the host's name too (kubelet).
            new_uts: own_net,
            hostname: (!c.hostname.is_empty()).then(|| c.hostname.clone()),
            sysctls: c
                .sysctls
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let started = infra::start(&self.settings.pause_binary, &spec)?;
        let pid = started.id();
        *child = Some(started);
        let start_time = infra::start_time(pid).ok_or_else(|| {
            PodError::io(
                "read start time of infra process",
                format!("/proc/{pid}/stat"),
            )(std::io::Error::from(std::io::ErrorKind::NotFound))
        })?;
        record.infra = Some(InfraProcess { pid, start_time });
        if own_net {
            let path = dir.join("netns");
            netns::pin(pid, &path)?;
            record.netns = Some(path);
        }
        // Saved before CNI runs: a crash in ADD leaves a record whose stop
        // or removal deletes what ADD made.
        self.store.save(record)?;
        if let (Some(list), Some(ns)) = (network, record.netns.clone()) {
            let settings = &self.settings.cni;
            settings.add(&cni::loopback(), &Self::attachment(record, &ns, "lo"))?;
            let mut pod_network = PodNetwork {
                ip: String::new(),
                additional_ips: Vec::new(),
                network_name: list.name.clone(),
                result: serde_json::Value::Null,
                torn_down: false,
            };
            // Recorded before ADD: a failed ADD is deleted from it.
            record.network = Some(pod_network.clone());
            self.store.save(record)?;
            let result = settings.add(list, &Self::attachment(record, &ns, cni::POD_INTERFACE))?;
            let mut ips = cni::result_ips(&result).into_iter();
            pod_network.ip = ips.next().unwrap_or_default();
            pod_network.additional_ips = ips.collect();
            pod_network.result = result;
            record.network = Some(pod_network);
        }
        self.store.save(record)
    }

    /// Undoes what a pod holds: kills its infra process, deletes its
    /// network (once; with the cached config when the conf dir changed
    /// since), unpins its netns. Errors are logged: each step is tried.
    fn tear_down(
        &self,
        record: &mut PodRecord,
        network: Option<&NetworkList>,
        child: Option<Child>,
    ) {
        if let Some(i) = record.infra {
            kill_infra(i, child);
        }
        let att = record
            .netns
            .as_ref()
            .map(|ns| Self::attachment(record, ns, cni::POD_INTERFACE));
        if let (Some(net), Some(att)) = (record.network.as_mut(), att) {
            if !net.torn_down {
                let list = match network {
                    Some(l) => Ok(l.clone()),
                    None => cni::load(&self.settings.cni.conf_dir),
                };
                match list {
                    Ok(list) if list.name == net.network_name => {
                        let result = (!net.result.is_null()).then_some(&net.result);
                        match self.settings.cni.del(&list, &att, result) {
                            Ok(()) => net.torn_down = true,
                            Err(e) => {
                                tracing::warn!(pod = %att.container_id, error = %e, "CNI DEL")
                            }
                        }
                    }
                    Ok(list) => {
                        tracing::warn!(pod = %att.container_id, network = %net.network_name, now = %list.name, "the pod's CNI network is no longer configured: DEL skipped")
                    }
                    Err(e) => {
                        tracing::warn!(pod = %att.container_id, error = %e, "CNI DEL: no config")
                    }
                }
            }
        }
        if let Some(ns) = &record.netns {
            if let Err(e) = netns::unpin(ns) {
                tracing::warn!(pod = %record.id, error = %e, "unpin netns");
            }
        }
    }

    /// Stops a pod: kills its infra process, deletes its network. Idempotent.
    pub fn stop(&self, id: &str) -> Result<(), PodError> {
        let _op = self.one_op_at_a_time();
        self.stop_locked(id)
    }

    /// [`Self::stop`] with the ops lock held.
    fn stop_locked(&self, id: &str) -> Result<(), PodError> {
        let mut record = self.get(id)?.record;
        let id = record.id.clone();
        let child = self.lock().children.remove(&id);
        self.tear_down(&mut record, None, child);
        record.stopped = true;
        let saved = self.store.save(&record);
        // What was torn down is gone whether or not the record was saved.
        self.lock().records.insert(id.clone(), record);
        saved?;
        tracing::info!(pod = %id, "pod sandbox stopped");
        Ok(())
    }

    /// Removes a pod (stopping it first); a missing one is removed already.
    pub fn remove(&self, id: &str) -> Result<(), PodError> {
        let _op = self.one_op_at_a_time();
        let id = match self.get(id) {
            Ok(view) => view.record.id,
            Err(PodError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let id = id.as_str();
        self.stop_locked(id)?;
        let dir = self.pod_dir(id);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(PodError::io("remove directory", &dir)(e))
            }
            _ => {}
        }
        self.store.delete(id)?;
        self.lock().records.remove(id);
        tracing::info!(pod = %id, "pod sandbox removed");
        Ok(())
    }
}

/// Kills the infra process if it is still the one started, and reaps it
/// (or, started by an earlier berthd, waits until init has).
fn kill_infra(infra: InfraProcess, child: Option<Child>) {
    if infra::is_alive(infra.pid, infra.start_time) {
        // SAFETY: a plain kill of the pid whose start time matched.
        unsafe { libc::kill(infra.pid as i32, libc::SIGKILL) };
    }
    match child {
        Some(mut c) => {
            let _ = c.wait();
        }
        None => {
            for _ in 0..200 {
                if !infra::is_alive(infra.pid, infra.start_time) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The pod's own files: resolv.conf (its DNS config, else the host's) and
/// hostname, for its containers to mount.
fn write_pod_files(dir: &Path, config: &PodConfig) -> Result<(), PodError> {
    let resolv = dir.join("resolv.conf");
    let text = match &config.dns {
        Some(dns)
            if !dns.servers.is_empty() || !dns.searches.is_empty() || !dns.options.is_empty() =>
        {
            let mut t = String::new();
            for s in &dns.servers {
                t.push_str(&format!("nameserver {s}\n"));
            }
            if !dns.searches.is_empty() {
                t.push_str(&format!("search {}\n", dns.searches.join(" ")));
            }
            if !dns.options.is_empty() {
                t.push_str(&format!("options {}\n", dns.options.join(" ")));
            }
            t
        }
        _ => std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    };
    std::fs::write(&resolv, text).map_err(PodError::io("write", &resolv))?;
    if !config.hostname.is_empty() {
        let path = dir.join("hostname");
        std::fs::write(&path, format!("{}\n", config.hostname))
            .map_err(PodError::io("write", &path))?;
    }
    Ok(())
}
