//! The container's filesystem from outside: `diff` (changes against the
//! image, docker's `C`/`A`/`D` lines), `export` (the whole rootfs as a
//! tar), `commit` (its changes as a new image) and `port` (published ports from the inspect JSON: none until
//! bridge networks exist, so it prints nothing). `cp` is in [`crate::cp`].

use super::client;
use crate::context::Context;
use crate::CliError;
use berth_proto::v1 as pb;
use clap::Args;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use tokio_stream::StreamExt;

/// `berth diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    pub container: String,
}

/// `berth export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    pub container: String,
}

/// `berth commit`.
#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short = 'c', long)]
    pub change: Vec<String>,
    /// Commit message.
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit.
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

/// `berth port`.
#[derive(Args, Debug)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub private_port: Option<String>,
}

/// docker's letter for a change kind.
fn kind_letter(kind: i32) -> char {
    match kind {
        1 => 'A',
        2 => 'D',
        _ => 'C',
    }
}

/// `berth diff`.
pub async fn diff(ctx: &Context, a: DiffArgs) -> Result<i32, CliError> {
    let r = client(&ctx.host)
        .await?
        .diff(pb::DiffRequest { id: a.container })
        .await?
        .into_inner();
    for c in &r.changes {
        println!("{} {}", kind_letter(c.kind), c.path);
    }
    Ok(0)
}

/// `berth commit`: prints the new image's ID. The reference is checked here
/// first, as docker's client does (its error is not the daemon's).
pub async fn commit(ctx: &Context, a: CommitArgs) -> Result<i32, CliError> {
    let reference = a.reference.unwrap_or_default();
    if !reference.is_empty() {
        let parsed = berth_docker::reference::Reference::parse(&reference)
            .map_err(|e| CliError::Other(e.docker_message().into()))?;
        if parsed.digest.is_some() {
            return Err(CliError::Other(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
    }
    let r = client(&ctx.host)
        .await?
        .commit(pb::CommitContainerRequest {
            id: a.container.clone(),
            reference,
            author: a.author.unwrap_or_default(),
            comment: a.message.unwrap_or_default(),
            changes: a.change,
            pause: a.pause,
        })
        .await?
        .into_inner();
    println!("{}", r.image_id);
    Ok(0)
}

/// `berth export`: refuses to write a tar to a terminal, like docker.
pub async fn export(ctx: &Context, a: ExportArgs) -> Result<i32, CliError> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::Other(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
        ));
    }
    let mut stream = client(&ctx.host)
        .await?
        .export(pb::ExportContainerRequest {
            id: a.container.clone(),
        })
        .await?
        .into_inner();
    let (mut out, shown): (Box<dyn Write>, String) = match &a.output {
        Some(path) => (
            Box::new(std::fs::File::create(path).map_err(|e| CliError::Io {
                op: "create",
                path: path.display().to_string(),
                source: e,
            })?),
            path.display().to_string(),
        ),
        None => (Box::new(std::io::stdout().lock()), "stdout".into()),
    };
    let result = async {
        while let Some(chunk) = stream.next().await {
            out.write_all(&chunk?.data).map_err(|e| CliError::Io {
                op: "write",
                path: shown.clone(),
                source: e,
            })?;
        }
        out.flush().map_err(|e| CliError::Io {
            op: "write",
            path: shown.clone(),
            source: e,
        })
    }
    .await;
    if result.is_err() {
        if let Some(path) = &a.output {
            // No half-written archive left behind under the asked name.
            let _ = std::fs::remove_file(path);
        }
    }
    result.map(|_| 0)
}

/// The `port` lines of docker's `NetworkSettings.Ports` map.
fn port_lines(ports: &serde_json::Value, wanted: Option<&str>) -> Vec<String> {
    let Some(map) = ports.as_object() else {
        return Vec::new();
    };
    let wanted = wanted.map(|w| {
        if w.contains('/') {
            w.to_string()
        } else {
            format!("{w}/tcp")
        }
    });
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let mut lines = Vec::new();
    for key in keys {
        if wanted.as_deref().is_some_and(|w| w != key) {
            continue;
        }
        for binding in map[key].as_array().into_iter().flatten() {
            let ip = binding["HostIp"].as_str().unwrap_or("");
            let port = binding["HostPort"].as_str().unwrap_or("");
            let ip = if ip.is_empty() { "0.0.0.0" } else { ip };
            if wanted.is_some() {
                lines.push(format!("{ip}:{port}"));
            } else {
                lines.push(format!("{key} -> {ip}:{port}"));
            }
        }
    }
    lines
}

/// `berth port`.
pub async fn port(ctx: &Context, a: PortArgs) -> Result<i32, CliError> {
    let r = client(&ctx.host)
        .await?
        .inspect(pb::InspectContainerRequest {
            id: a.container.clone(),
            size: false,
        })
        .await
        .map_err(|s| CliError::about(&a.container, s))?
        .into_inner();
    let json: serde_json::Value = serde_json::from_str(&r.json).unwrap_or_default();
    let lines = port_lines(&json["NetworkSettings"]["Ports"], a.private_port.as_deref());
    if let (Some(p), true) = (&a.private_port, lines.is_empty()) {
        let shown = if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        };
        return Err(CliError::Other(format!(
            "Error: No public port '{shown}' published for {}",
            a.container
        )));
    }
    for l in lines {
        println!("{l}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_letters() {
        assert_eq!(kind_letter(0), 'C');
        assert_eq!(kind_letter(1), 'A');
        assert_eq!(kind_letter(2), 'D');
    }

    #[test]
    fn port_lines_like_docker() {
        let ports = serde_json::json!({
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
            "53/udp": null
        });
        assert_eq!(port_lines(&ports, None), vec!["80/tcp -> 0.0.0.0:8080"]);
        assert_eq!(port_lines(&ports, Some("80")), vec!["0.0.0.0:8080"]);
        assert!(port_lines(&ports, Some("53/udp")).is_empty());
        assert!(port_lines(&serde_json::Value::Null, None).is_empty());
    }
}
