//! Operations on running containers that read or change their resources:
//! `top`, `stats`, `update`, and `container prune`.

use super::record::Status;
use super::service::ContainerService;
use super::ContainerError;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The resource fields `update` may change (none: unchanged).
#[derive(Debug, Clone, Default)]
pub struct ResourceUpdate {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<i64>,
}

/// Splits `ps` output into titles and rows: the last column (the command)
/// keeps its spaces, as docker's top does.
pub fn parse_ps(output: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = output.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return (Vec::new(), Vec::new());
    };
    let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let n = titles.len();
    let rows = lines
        .map(|line| {
            let mut cols: Vec<String> = Vec::with_capacity(n);
            let mut rest = line.trim_start();
            while cols.len() + 1 < n {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                cols.push(rest[..end].to_string());
                rest = rest[end..].trim_start();
            }
            cols.push(rest.to_string());
            cols
        })
        .collect();
    (titles, rows)
}

/// Host CPU time of all CPUs in nanoseconds (the `cpu` line of /proc/stat).
fn system_cpu_ns() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let ticks: u64 = stat
        .lines()
        .next()
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(7)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * (1_000_000_000 / hz)
}

/// The host's memory (MemTotal), or u64::MAX when unknown.
fn host_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kib| kib * 1024)
        .unwrap_or(u64::MAX)
}

fn online_cpus() -> u32 {
    // SAFETY: sysconf has no memory effects.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u32
}

/// Reads the block I/O bytes (read, write) out of runc's stats JSON.
fn blkio(json: &serde_json::Value) -> (u64, u64) {
    let mut read = 0;
    let mut write = 0;
    if let Some(entries) = json
        .pointer("/blkio/ioServiceBytesRecursive")
        .and_then(|v| v.as_array())
    {
        for e in entries {
            let value = e.get("value").and_then(|v| v.as_u64()).unwrap_or(0);
            match e
                .get("op")
                .and_then(|v| v.as_str())
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("read") => read += value,
                Some("write") => write += value,
                _ => {}
            }
        }
    }
    (read, write)
}

/// Bytes received and sent by the interfaces of a `/proc/PID/net/dev`,
/// loopback left out (docker counts its sandbox's interfaces, never `lo`).
fn net_dev_bytes(text: &str) -> (u64, u64) {
    net_dev_interfaces(text)
        .iter()
        .fold((0, 0), |(rx, tx), i| (rx + i.rx_bytes, tx + i.tx_bytes))
}

/// One interface's counters in a container's network namespace (docker's
/// `NetworkStats`, keyed by interface in its stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// The interfaces of `/proc/PID/net/dev` but loopback (docker leaves it
/// out too).
fn net_dev_interfaces(text: &str) -> Vec<InterfaceCounters> {
    // Two header lines, then `  eth0: rx_bytes packets errs drop fifo frame
    // compressed multicast tx_bytes packets errs drop ...`.
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = counters
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        let at = |i: usize| f.get(i).copied().unwrap_or(0);
        out.push(InterfaceCounters {
            name: name.trim().to_string(),
            rx_bytes: at(0),
            rx_packets: at(1),
            rx_errors: at(2),
            rx_dropped: at(3),
            tx_bytes: at(8),
            tx_packets: at(9),
            tx_errors: at(10),
            tx_dropped: at(11),
        });
    }
    out
}

/// One `docker stats` reading of a container (all zero when it is not
/// running).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSample {
    pub id: String,
    pub name: String,
    /// Nanoseconds since the epoch when sampled.
    pub read: i64,
    pub cpu_total_ns: u64,
    /// Host CPU time of all CPUs (ns), to turn `cpu_total_ns` into a percentage.
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    pub memory_usage: u64,
    pub memory_limit: u64,
    /// Page cache charged to the container (docker subtracts it).
    pub memory_cache: u64,
    pub pids: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
    pub running: bool,
    /// Each interface's counters (what `net_*_bytes` add up).
    pub interfaces: Vec<InterfaceCounters>,
    /// The runtime's whole reading, in runc's `events --stats` shape
    /// (cpu, memory, pids, blkio): what the Docker API's stats show.
    pub runtime_stats: serde_json::Value,
}

impl ContainerService {
    /// docker top: `ps ps_args` on the host, restricted to the container's
    /// processes.
    pub async fn top(
        &self,
        input: &str,
        ps_args: &str,
    ) -> Result<(Vec<String>, Vec<Vec<String>>), ContainerError> {
        let record = self.resolve(input)?;
        let task = self
            .entry(&record.id)
            .task()
            .filter(|_| record.state.status.is_live())
            .ok_or_else(|| {
                ContainerError::FailedPrecondition(format!(
                    "container {} is not running",
                    record.id
                ))
            })?;
        let pids = task.pids().await?;
        let args: Vec<&str> = if ps_args.trim().is_empty() {
            vec!["-ef"]
        } else {
            ps_args.split_whitespace().collect()
        };
        let output = tokio::process::Command::new("ps")
            .args(&args)
            .output()
            .await
            .map_err(|source| ContainerError::Io {
                op: "run",
                path: "ps".into(),
                source,
            })?;
        if !output.status.success() {
            return Err(ContainerError::InvalidArgument(format!(
                "ps: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let (titles, rows) = parse_ps(&String::from_utf8_lossy(&output.stdout));
        let Some(pid_col) = titles.iter().position(|t| t == "PID") else {
            return Err(ContainerError::InvalidArgument(
                "Couldn't find PID field in ps output".into(),
            ));
        };
        let rows = rows
            .into_iter()
            .filter(|r| {
                r.get(pid_col)
                    .and_then(|p| p.parse::<u32>().ok())
                    .is_some_and(|p| pids.contains(&p))
            })
            .collect();
        Ok((titles, rows))
    }

    async fn sample(&self, id: &str) -> StatsSample {
        let record = self.get(id).ok();
        let name = record.as_ref().map(|r| r.name.clone()).unwrap_or_default();
        let mut sample = StatsSample {
            id: id.to_string(),
            name,
            read: crate::events::now_nanos(),
            online_cpus: online_cpus(),
            ..Default::default()
        };
        let live = record.as_ref().is_some_and(|r| r.state.status.is_live());
        let Some(task) = self.entry(id).task().filter(|_| live) else {
            return sample;
        };
        if let Ok(s) = task.stats().await {
            let json: serde_json::Value = serde_json::from_str(&s.json).unwrap_or_default();
            sample.running = true;
            sample.cpu_total_ns = s.cpu_usage_total_ns;
            sample.memory_usage = s.memory_usage_bytes;
            // No limit: docker shows the host's memory.
            sample.memory_limit = s.memory_limit_bytes.min(host_memory_bytes());
            sample.pids = s.pids_current;
            sample.memory_cache = json
                .pointer("/memory/raw/total_inactive_file")
                .or_else(|| json.pointer("/memory/raw/inactive_file"))
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            let (r, w) = blkio(&json);
            sample.block_read_bytes = r;
            sample.block_write_bytes = w;
            sample.system_cpu_ns = system_cpu_ns();
            sample.runtime_stats = json;
        }
        // NET I/O: the counters of the container's own namespace (docker
        // reads its sandbox's interfaces; a host-mode container has none).
        if let Some(r) = record.as_ref().filter(|r| {
            r.state.pid > 0 && r.config.options.network != crate::networks::NetworkMode::Host
        }) {
            if let Ok(text) = std::fs::read_to_string(format!("/proc/{}/net/dev", r.state.pid)) {
                let (rx, tx) = net_dev_bytes(&text);
                sample.net_rx_bytes = rx;
                sample.net_tx_bytes = tx;
                sample.interfaces = net_dev_interfaces(&text);
            }
        }
        sample
    }

    /// docker stats: one sample per container now, and every second after
    /// while `stream`.
    pub async fn stats(
        self: &Arc<Self>,
        inputs: Vec<String>,
        all: bool,
        stream: bool,
    ) -> Result<mpsc::Receiver<StatsSample>, ContainerError> {
        let named: Vec<String> = inputs
            .iter()
            .map(|i| self.resolve(i).map(|r| r.id))
            .collect::<Result<_, _>>()?;
        let (tx, rx) = mpsc::channel(64);
        let service = self.clone();
        tokio::spawn(async move {
            loop {
                let ids: Vec<String> = if named.is_empty() {
                    service
                        .list_records()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|r| all || r.state.status.is_live())
                        .map(|r| r.id)
                        .collect()
                } else {
                    named.clone()
                };
                for id in ids {
                    let sample = service.sample(&id).await;
                    if tx.send(sample).await.is_err() {
                        return;
                    }
                }
                if !stream {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(rx)
    }

    /// docker update: new limits recorded, and applied at once to a
    /// running container (through the shim's runtime `update`).
    pub async fn update_resources(
        &self,
        input: &str,
        update: ResourceUpdate,
    ) -> Result<(), ContainerError> {
        let record = self.resolve(input)?;
        let entry = self.entry(&record.id);
        let _guard = entry.lock.lock().await;
        let mut record = self.get(&record.id)?;
        let o = &mut record.config.options;
        if let Some(m) = update.memory {
            o.memory = (m != 0).then_some(m);
        }
        if let Some(m) = update.memory_swap {
            o.memory_swap = (m != 0).then_some(m);
        }
        if let Some(c) = update.cpus {
            o.cpus = (c != 0.0).then_some(c);
        }
        if let Some(s) = update.cpu_shares {
            o.cpu_shares = (s != 0).then_some(s);
        }
        if let Some(p) = update.pids_limit {
            o.pids_limit = (p != 0).then_some(p);
        }
        let rootfs = self.paths.rootfs(&record.id);
        let ctx = super::spec::SpecContext::new(
            &record.id,
            &rootfs,
            super::spec::cgroups_path(o, &record.id)?,
        );
        let resources = super::spec::container_resources(o, &ctx)?;
        if record.state.status.is_live() {
            if let Some(task) = entry.task() {
                let json = serde_json::to_vec(&resources).expect("resources serialise");
                task.update(json).await.map_err(|e| {
                    ContainerError::Internal(format!("Cannot update container {}: {e}", record.id))
                })?;
            }
        }
        // The bundle's spec is rebuilt at the next start from the record.
        let _ = std::fs::remove_file(self.paths.bundle(&record.id).join("config.json"));
        self.put(&record)?;
        self.publish(&record, "update", &[]);
        Ok(())
    }

    /// docker container prune: removes every stopped container matching
    /// `filters` (until, label); answers the ids and bytes freed.
    pub async fn prune(
        &self,
        filters: &BTreeMap<String, Vec<String>>,
    ) -> Result<(Vec<String>, u64), ContainerError> {
        for key in filters.keys() {
            if key != "until" && key != "label" && key != "label!" {
                return Err(ContainerError::InvalidArgument(format!(
                    "invalid filter '{key}'"
                )));
            }
        }
        let mut deleted = Vec::new();
        let mut freed = 0;
        let candidates = self.list(true, false)?;
        let candidates = super::filter::apply(candidates, filters, 0)?;
        for s in candidates {
            let r = s.record;
            if !matches!(
                r.state.status,
                Status::Created | Status::Exited | Status::Dead
            ) {
                continue;
            }
            let size = self
                .images
                .snapshotter()
                .usage(&r.snapshot_key)
                .map(|u| u.size)
                .unwrap_or(0);
            match self.remove(&r.id, false).await {
                Ok(()) => {
                    deleted.push(r.id);
                    freed += size;
                }
                Err(e) => tracing::warn!(id = %r.id, error = %e, "prune"),
            }
        }
        Ok((deleted, freed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_counts_every_interface_but_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0
  eth0:    1200      10    0    0    0     0          0         0      800       8    0    0    0     0       0          0
  eth1:      34       1    0    0    0     0          0         0       66       1    0    0    0     0       0          0
";
        assert_eq!(net_dev_bytes(text), (1234, 866));
    }

    #[test]
    fn ps_output_keeps_the_command_whole() {
        let out =
            "UID PID PPID C STIME TTY TIME CMD\nroot 12 1 0 10:00 ? 00:00:00 sleep 1000 now\n";
        let (titles, rows) = parse_ps(out);
        assert_eq!(titles.len(), 8);
        assert_eq!(rows[0][1], "12");
        assert_eq!(rows[0][7], "sleep 1000 now");
    }

    #[test]
    fn blkio_sums_reads_and_writes() {
        let json: serde_json::Value = serde_json::json!({"blkio": {"ioServiceBytesRecursive": [
            {"major": 8, "minor": 0, "op": "Read", "value": 10},
            {"major": 8, "minor": 0, "op": "Write", "value": 5},
            {"major": 8, "minor": 16, "op": "read", "value": 1}
        ]}});
        assert_eq!(blkio(&json), (11, 5));
    }
}
