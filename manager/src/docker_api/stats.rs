//! `GET /containers/{id}/stats`: the containers domain's samples
//! ([`ContainerService::stats`], the same `berth stats` shows) as docker's
//! `types.StatsJSON`: the runtime's cgroup reading (runc's `events
//! --stats` shape) mapped to docker's names, each sample carrying the one
//! before as `precpu_stats`/`preread` (the CLI's CPU % is their
//! difference). `stream=false` waits for a second sample, as dockerd does;
//! `one-shot=true` answers the first at once.
//!
//! [`ContainerService::stats`]: crate::containers::ContainerService::stats

use super::progress::json_stream;
use super::server::{ApiRequest, Reply};
use super::DockerApi;
use crate::containers::ops::StatsSample;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

/// docker's zero `time.Time`.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn u64_at(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// docker's `CPUStats` of a sample.
fn cpu_stats(s: &StatsSample) -> Value {
    let cpu = &s.runtime_stats["cpu"];
    let mut usage = json!({
        "total_usage": s.cpu_total_ns,
        "usage_in_kernelmode": u64_at(cpu, "/usage/kernel"),
        "usage_in_usermode": u64_at(cpu, "/usage/user"),
    });
    if let Some(percpu) = cpu.pointer("/usage/percpu").filter(|p| p.is_array()) {
        usage["percpu_usage"] = percpu.clone();
    }
    let mut stats = json!({
        "cpu_usage": usage,
        "throttling_data": {
            "periods": u64_at(cpu, "/throttling/periods"),
            "throttled_periods": u64_at(cpu, "/throttling/throttledPeriods"),
            "throttled_time": u64_at(cpu, "/throttling/throttledTime"),
        },
    });
    if s.running {
        stats["system_cpu_usage"] = json!(s.system_cpu_ns);
        stats["online_cpus"] = json!(s.online_cpus);
    }
    stats
}

/// docker's `MemoryStats` (cgroup v1 form: the raw counters as `stats`).
fn memory_stats(s: &StatsSample) -> Value {
    if !s.running {
        return json!({});
    }
    let memory = &s.runtime_stats["memory"];
    let mut m = json!({
        "usage": s.memory_usage,
        "max_usage": u64_at(memory, "/usage/max"),
        "stats": memory.get("raw").cloned().unwrap_or_else(|| json!({})),
        "limit": s.memory_limit,
    });
    let failcnt = u64_at(memory, "/usage/failcnt");
    if failcnt > 0 {
        m["failcnt"] = json!(failcnt);
    }
    m
}

/// docker's `BlkioStats`: runc's camelCase lists under docker's names
/// (each a list, empty when the cgroup reports none, as dockerd's on v1).
fn blkio_stats(s: &StatsSample) -> Value {
    let blkio = &s.runtime_stats["blkio"];
    let mut out = Map::new();
    for (docker, runc) in [
        ("io_service_bytes_recursive", "ioServiceBytesRecursive"),
        ("io_serviced_recursive", "ioServicedRecursive"),
        ("io_queue_recursive", "ioQueuedRecursive"),
        ("io_service_time_recursive", "ioServiceTimeRecursive"),
        ("io_wait_time_recursive", "ioWaitTimeRecursive"),
        ("io_merged_recursive", "ioMergedRecursive"),
        ("io_time_recursive", "ioTimeRecursive"),
        ("sectors_recursive", "sectorsRecursive"),
    ] {
        let list = blkio
            .get(runc)
            .and_then(Value::as_array)
            .map(|a| {
                Value::Array(
                    a.iter()
                        .map(|e| {
                            json!({
                                "major": e["major"].as_u64().unwrap_or(0),
                                "minor": e["minor"].as_u64().unwrap_or(0),
                                "op": e["op"].as_str().unwrap_or(""),
                                "value": e["value"].as_u64().unwrap_or(0),
                            })
                        })
                        .collect(),
                )
            })
            .unwrap_or_else(|| json!([]));
        out.insert(docker.to_string(), list);
    }
    Value::Object(out)
}

/// docker's `StatsJSON` of `s`, `before` being the previous sample.
pub fn stats_json(s: &StatsSample, before: Option<&StatsSample>) -> Value {
    let read = |s: &StatsSample| {
        if s.running {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(s.read.max(0) as u64);
            humantime::format_rfc3339_nanos(t).to_string()
        } else {
            ZERO_TIME.to_string()
        }
    };
    let mut pids = json!({});
    if s.running {
        pids["current"] = json!(s.pids);
        let limit = u64_at(&s.runtime_stats, "/pids/limit");
        if limit > 0 {
            pids["limit"] = json!(limit);
        }
    }
    let mut v = json!({
        "read": read(s),
        "preread": before.map(read).unwrap_or_else(|| ZERO_TIME.to_string()),
        "pids_stats": pids,
        "blkio_stats": blkio_stats(s),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_stats(s),
        "precpu_stats": before.map(cpu_stats).unwrap_or_else(|| json!({
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        })),
        "memory_stats": memory_stats(s),
        "name": format!("/{}", s.name),
        "id": s.id,
    });
    if !s.interfaces.is_empty() {
        let networks: Map<String, Value> = s
            .interfaces
            .iter()
            .map(|i| {
                (
                    i.name.clone(),
                    json!({
                        "rx_bytes": i.rx_bytes,
                        "rx_packets": i.rx_packets,
                        "rx_errors": i.rx_errors,
                        "rx_dropped": i.rx_dropped,
                        "tx_bytes": i.tx_bytes,
                        "tx_packets": i.tx_packets,
                        "tx_errors": i.tx_errors,
                        "tx_dropped": i.tx_dropped,
                    }),
                )
            })
            .collect();
        v["networks"] = Value::Object(networks);
    }
    v
}

/// `GET /containers/{id}/stats?stream=&one-shot=`.
pub async fn stats(api: &DockerApi, id: &str, req: &ApiRequest) -> Reply {
    // docker's default is a stream.
    let stream = req.query.get("stream").is_none() || req.query.bool("stream");
    let one_shot = req.query.bool("one-shot");
    let mut samples = api
        .containers
        .stats(vec![id.to_string()], false, stream || !one_shot)
        .await?;
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        let mut before: Option<StatsSample> = None;
        loop {
            let sample = tokio::select! {
                s = samples.recv() => match s {
                    Some(s) => s,
                    None => return,
                },
                // The client went: dropping `samples` ends the domain's task.
                () = tx.closed() => return,
            };
            // Not streaming: the answer is the second sample (with the
            // first as its `precpu_stats`), or the first with one-shot.
            if !stream && !one_shot && before.is_none() {
                before = Some(sample);
                continue;
            }
            let mut text = stats_json(&sample, before.as_ref()).to_string();
            text.push('\n');
            if tx.send(Bytes::from(text)).await.is_err() || !stream {
                return;
            }
            before = Some(sample);
        }
    });
    Ok(json_stream(rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_runc_stats_to_dockers_names() {
        let s = StatsSample {
            id: "abc".into(),
            name: "web".into(),
            read: 1_000_000_000,
            cpu_total_ns: 500,
            system_cpu_ns: 9000,
            online_cpus: 2,
            memory_usage: 4096,
            memory_limit: 8192,
            pids: 3,
            running: true,
            runtime_stats: json!({
                "cpu": {"usage": {"total": 500, "percpu": [200, 300], "kernel": 100, "user": 400},
                        "throttling": {"throttledPeriods": 2}},
                "memory": {"usage": {"max": 5000, "limit": 8192}, "raw": {"total_inactive_file": 1024}},
                "pids": {"current": 3, "limit": 10},
                "blkio": {"ioServiceBytesRecursive": [{"major": 8, "minor": 0, "op": "Read", "value": 7}]},
            }),
            ..Default::default()
        };
        let v = stats_json(&s, None);
        assert_eq!(v["name"], "/web");
        assert_eq!(
            v["cpu_stats"]["cpu_usage"]["percpu_usage"],
            json!([200, 300])
        );
        assert_eq!(v["cpu_stats"]["cpu_usage"]["usage_in_usermode"], 400);
        assert_eq!(v["cpu_stats"]["throttling_data"]["throttled_periods"], 2);
        assert_eq!(v["cpu_stats"]["online_cpus"], 2);
        assert_eq!(v["memory_stats"]["max_usage"], 5000);
        assert_eq!(v["memory_stats"]["stats"]["total_inactive_file"], 1024);
        assert_eq!(v["pids_stats"], json!({"current": 3, "limit": 10}));
        assert_eq!(
            v["blkio_stats"]["io_service_bytes_recursive"][0]["value"],
            7
        );
        assert_eq!(v["blkio_stats"]["io_serviced_recursive"], json!([]));
        assert_eq!(v["preread"], ZERO_TIME);
        assert!(v.get("networks").is_none());
        let stopped = stats_json(&StatsSample::default(), None);
        assert_eq!(stopped["read"], ZERO_TIME);
        assert_eq!(stopped["memory_stats"], json!({}));
    }
}
