//! `berth ps` / `berth container ls`: docker's container table (CONTAINER ID,
//! IMAGE, COMMAND, CREATED, STATUS, PORTS, NAMES), `-q`, `-a`, `-n`, `-l`,
//! `-s`, `--no-trunc`, `--filter` (evaluated by berthd) and `--format`
//! (through the shared Go-template module, with docker's field names:
//! `.ID .Image .Command .CreatedAt .RunningFor .Ports .State .Status .Size
//! .Names .Labels .Mounts .Networks`).

use super::{client, parse_filters, short_container_id};
use crate::context::Context;
use crate::template::{self, ListFormat};
use crate::CliError;
use berth_docker::humanize;
use berth_proto::v1 as pb;
use clap::Args;
use serde_json::Value;
use std::collections::BTreeMap;

/// `berth ps`.
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show n last created containers (includes all states).
    #[arg(short = 'n', long = "last", allow_hyphen_values = true)]
    pub last: Option<i32>,
    /// Show the latest created container (includes all states).
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Display total file sizes.
    #[arg(short = 's', long)]
    pub size: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided (status=exited, name=x, label=k=v ...).
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE').
    #[arg(long)]
    pub format: Option<String>,
}

/// docker's default `ps` table.
const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// docker's column titles per field.
pub const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

/// Go's `strconv.Quote`: double quotes, backslash escapes for quotes,
/// backslashes and control characters; printable Unicode (the `…`) kept.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// docker's `formatter.Ellipsis`: at most `max` characters, the last one
/// `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    let count = s.chars().count();
    if count <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut cut: String = s.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// Go's `time.Unix(t).String()` in UTC: `2026-11-22 10:00:00 +0000 UTC`.
fn created_at(epoch: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch.max(0) as u64);
    let rfc = humantime::format_rfc3339_seconds(t).to_string();
    // 2026-11-22T10:00:00Z
    format!("{} {} +0000 UTC", &rfc[..10], &rfc[11..19])
}

/// docker's `Ports` column: `0.0.0.0:8080->80/tcp, 443/tcp`.
fn ports_text(ports: &[pb::Port]) -> String {
    ports
        .iter()
        .map(|p| {
            if p.public_port > 0 {
                let ip = if p.ip.is_empty() { "0.0.0.0" } else { &p.ip };
                format!("{ip}:{}->{}/{}", p.public_port, p.private_port, p.r#type)
            } else {
                format!("{}/{}", p.private_port, p.r#type)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One container as the template sees it (every field a string, as
/// docker's `containerContext` gives them).
pub fn row(c: &pb::ContainerSummary, trunc: bool) -> Value {
    let id = if trunc {
        short_container_id(&c.id)
    } else {
        c.id.clone()
    };
    let image = if trunc && (c.image.starts_with("sha256:") || c.image.is_empty()) {
        berth_docker::short_id::short_id(if c.image.is_empty() {
            &c.image_id
        } else {
            &c.image
        })
    } else {
        c.image.clone()
    };
    let command = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    let names: Vec<String> = c
        .names
        .iter()
        .map(|n| n.trim_start_matches('/').to_string())
        // With truncation docker hides link names (`other/alias`).
        .filter(|n| !trunc || !n.contains('/'))
        .collect();
    let size = {
        let rw = humanize::size3(c.size_rw);
        if c.size_root_fs > 0 {
            format!("{rw} (virtual {})", humanize::size3(c.size_root_fs))
        } else {
            rw
        }
    };
    let mut labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    let mut fields = BTreeMap::new();
    fields.insert("ID", id);
    fields.insert("Image", image);
    fields.insert("Command", go_quote(&command));
    fields.insert("CreatedAt", created_at(c.created));
    fields.insert("RunningFor", humanize::ago(c.created));
    fields.insert("Ports", ports_text(&c.ports));
    fields.insert("State", c.state.clone());
    fields.insert("Status", c.status.clone());
    fields.insert("Size", size);
    fields.insert("Names", names.join(","));
    fields.insert("Labels", labels.join(","));
    fields.insert("Mounts", c.mounts.join(","));
    fields.insert("Networks", c.networks.join(","));
    fields.insert("LocalVolumes", c.mounts.len().to_string());
    template::row(fields)
}

/// `berth ps`.
pub async fn ps(ctx: &Context, a: PsArgs) -> Result<i32, CliError> {
    let filters = parse_filters(&a.filter)?;
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        match &a.format {
            Some(f) => f.clone(),
            None if a.size => format!("{DEFAULT_TABLE}\t{{{{.Size}}}}"),
            None => DEFAULT_TABLE.to_string(),
        }
    };
    let list_format =
        ListFormat::parse(&format, DEFAULT_TABLE).map_err(|e| CliError::Usage(e.to_string()))?;
    let last = if a.latest { 1 } else { a.last.unwrap_or(-1) };
    let want_size = a.size || format.contains(".Size");
    let response = client(&ctx.host)
        .await?
        .list(pb::ListContainersRequest {
            all: a.all || last > 0,
            last,
            size: want_size,
            filters,
        })
        .await?
        .into_inner();
    let rows: Vec<Value> = response
        .containers
        .iter()
        .map(|c| row(c, !a.no_trunc))
        .collect();
    let text = list_format
        .render(&rows, &template::headers(HEADERS))
        .map_err(|e| CliError::Other(e.to_string()))?;
    print!("{text}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_quoted_and_cut_like_docker() {
        assert_eq!(go_quote("sh -c \"x\""), r#""sh -c \"x\"""#);
        assert_eq!(ellipsis("echo hi", 20), "echo hi");
        let long = "sh -c 'while true; do sleep 1; done'";
        let cut = ellipsis(long, 20);
        assert_eq!(cut.chars().count(), 20);
        assert!(cut.ends_with('…') && cut.starts_with("sh -c 'while true;"));
        assert_eq!(go_quote("a\nb"), r#""a\nb""#);
    }

    #[test]
    fn rows_have_docker_fields() {
        let c = pb::ContainerSummary {
            id: "0123456789abcdef0123".into(),
            names: vec!["/web".into()],
            image: "busybox".into(),
            command: "sleep 100".into(),
            created: 1_700_000_000,
            state: "running".into(),
            status: "Up 5 seconds".into(),
            size_rw: 12,
            size_root_fs: 4_261_000,
            ..Default::default()
        };
        let r = row(&c, true);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Command"], "\"sleep 100\"");
        assert_eq!(r["CreatedAt"], "2023-11-14 22:13:20 +0000 UTC");
        assert_eq!(r["Size"], "12B (virtual 4.26MB)");
        let r = row(&c, false);
        assert_eq!(r["ID"], "0123456789abcdef0123");
    }

    #[test]
    fn ports_like_docker() {
        let p = vec![
            pb::Port {
                ip: "0.0.0.0".into(),
                private_port: 80,
                public_port: 8080,
                r#type: "tcp".into(),
            },
            pb::Port {
                private_port: 443,
                r#type: "tcp".into(),
                ..Default::default()
            },
        ];
        assert_eq!(ports_text(&p), "0.0.0.0:8080->80/tcp, 443/tcp");
    }
}
