//! `berth stats`: resource usage per container. berthd streams one sample
//! per container and second; the CPU percentage is computed here from two
//! successive samples, as docker's CLI does (`calculateCPUPercentUnix`:
//! container CPU delta over host CPU delta, times the online CPUs).
//! Without `--no-stream` the table is redrawn every second in place.

use super::{client, short_container_id};
use crate::context::Context;
use crate::template::{self, ListFormat};
use crate::CliError;
use berth_docker::humanize::{self, binary_size};
use berth_proto::v1 as pb;
use clap::Args;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;

/// `berth stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result.
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template.
    #[arg(long)]
    pub format: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// docker's default stats table.
const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// docker's CPU percentage from two samples of one container.
pub fn cpu_percent(previous: &pb::StatsSample, current: &pb::StatsSample) -> f64 {
    let cpu_delta = current.cpu_total_ns as f64 - previous.cpu_total_ns as f64;
    let system_delta = current.system_cpu_ns as f64 - previous.system_cpu_ns as f64;
    let cpus = current.online_cpus.max(1) as f64;
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * cpus * 100.0
    } else {
        0.0
    }
}

/// One container's row (docker's stats fields, as strings).
fn row(previous: Option<&pb::StatsSample>, s: &pb::StatsSample, trunc: bool) -> Value {
    let id = if trunc {
        short_container_id(&s.id)
    } else {
        s.id.clone()
    };
    let cpu = previous.map(|p| cpu_percent(p, s)).unwrap_or(0.0);
    let mem = s.memory_usage.saturating_sub(s.memory_cache);
    let mem_percent = if s.memory_limit > 0 {
        mem as f64 / s.memory_limit as f64 * 100.0
    } else {
        0.0
    };
    let name = s.name.trim_start_matches('/').to_string();
    let mut fields = BTreeMap::new();
    fields.insert("ID", id);
    fields.insert("Container", name.clone());
    fields.insert("Name", name);
    fields.insert("CPUPerc", format!("{cpu:.2}%"));
    fields.insert(
        "MemUsage",
        format!("{} / {}", binary_size(mem), binary_size(s.memory_limit)),
    );
    fields.insert("MemPerc", format!("{mem_percent:.2}%"));
    fields.insert(
        "NetIO",
        format!(
            "{} / {}",
            humanize::size3(s.net_rx_bytes as i64),
            humanize::size3(s.net_tx_bytes as i64)
        ),
    );
    fields.insert(
        "BlockIO",
        format!(
            "{} / {}",
            humanize::size3(s.block_read_bytes as i64),
            humanize::size3(s.block_write_bytes as i64)
        ),
    );
    fields.insert("PIDs", s.pids.to_string());
    template::row(fields)
}

/// The last two samples of each container, in first-seen order.
#[derive(Default)]
struct Samples {
    order: Vec<String>,
    by_id: HashMap<String, (Option<pb::StatsSample>, pb::StatsSample, usize)>,
}

impl Samples {
    /// Records a sample; returns how many samples the container has had.
    fn add(&mut self, s: pb::StatsSample) -> usize {
        match self.by_id.get_mut(&s.id) {
            Some((previous, current, count)) => {
                *previous = Some(std::mem::replace(current, s));
                *count += 1;
                *count
            }
            None => {
                self.order.push(s.id.clone());
                self.by_id.insert(s.id.clone(), (None, s, 1));
                1
            }
        }
    }

    fn rows(&self, trunc: bool) -> Vec<Value> {
        self.order
            .iter()
            .map(|id| {
                let (p, c, _) = &self.by_id[id];
                row(p.as_ref(), c, trunc)
            })
            .collect()
    }
}

/// `berth stats`.
pub async fn stats(ctx: &Context, a: StatsArgs) -> Result<i32, CliError> {
    let format = a
        .format
        .clone()
        .unwrap_or_else(|| DEFAULT_TABLE.to_string());
    let list_format =
        ListFormat::parse(&format, DEFAULT_TABLE).map_err(|e| CliError::Usage(e.to_string()))?;
    let headers = template::headers(HEADERS);
    // Even --no-stream needs two samples for a CPU percentage.
    let mut stream = client(&ctx.host)
        .await?
        .stats(pb::StatsRequest {
            ids: a.containers.clone(),
            all: a.all,
            stream: true,
        })
        .await?
        .into_inner();
    let mut samples = Samples::default();
    let render = |samples: &Samples| {
        list_format
            .render(&samples.rows(!a.no_trunc), &headers)
            .map_err(|e| CliError::Other(e.to_string()))
    };
    if a.no_stream {
        let deadline = tokio::time::sleep(Duration::from_secs(3));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                next = stream.next() => match next {
                    None => break,
                    Some(s) => {
                        let count = samples.add(s?);
                        // Every container of the first round has arrived
                        // once one comes round again; stop when all have two.
                        if count >= 3 || samples.by_id.values().all(|(_, _, n)| *n >= 2) {
                            break;
                        }
                    }
                }
            }
        }
        print!("{}", render(&samples)?);
        return Ok(0);
    }
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            next = stream.next() => match next {
                None => {
                    print!("\x1b[2J\x1b[H{}", render(&samples)?);
                    return Ok(0);
                }
                Some(s) => { samples.add(s?); continue; }
            }
        }
        if last_draw.elapsed() >= Duration::from_millis(900) {
            print!("\x1b[2J\x1b[H{}", render(&samples)?);
            let _ = std::io::stdout().flush();
            last_draw = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(cpu: u64, system: u64) -> pb::StatsSample {
        pb::StatsSample {
            id: "abcdef0123456789".into(),
            name: "/x".into(),
            cpu_total_ns: cpu,
            system_cpu_ns: system,
            online_cpus: 2,
            memory_usage: 3 << 20,
            memory_cache: 1 << 20,
            memory_limit: 8 << 20,
            pids: 4,
            running: true,
            ..Default::default()
        }
    }

    #[test]
    fn cpu_percent_like_docker() {
        // 0.5 s of CPU over 2 s of host time on 2 CPUs: 50 %.
        let p = sample(1_000_000_000, 10_000_000_000);
        let c = sample(1_500_000_000, 12_000_000_000);
        assert!((cpu_percent(&p, &c) - 50.0).abs() < 1e-9);
        assert_eq!(cpu_percent(&c, &c), 0.0);
    }

    #[test]
    fn rows_like_docker() {
        let p = sample(1_000_000_000, 10_000_000_000);
        let c = sample(1_500_000_000, 12_000_000_000);
        let r = row(Some(&p), &c, true);
        assert_eq!(r["ID"], "abcdef012345");
        assert_eq!(r["Name"], "x");
        assert_eq!(r["CPUPerc"], "50.00%");
        assert_eq!(r["MemUsage"], "2MiB / 8MiB");
        assert_eq!(r["MemPerc"], "25.00%");
        assert_eq!(r["PIDs"], "4");
        assert_eq!(binary_size(1536 * 1024), "1.5MiB");
        assert_eq!(binary_size(0), "0B");
    }
}
