//! `berth volume create|ls|inspect|rm|prune`: docker's volume commands
//! over berthd's Volumes API, with docker's output (`ls` table and
//! `--format`, inspect JSON, prune summary) and exit codes (1 when the
//! daemon refuses, 125 for usage errors).

use super::context::Context;
use super::inspect::{inspect_template, print_inspected};
use super::template::{self, ListFormat};
use super::{connection, CliError};
use berth_docker::humanize;
use berth_proto::v1 as pb;
use berth_proto::v1::volumes_client::VolumesClient;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tonic::transport::Channel;

/// `berth volume ...`.
#[derive(Subcommand)]
pub enum VolumeCommand {
    /// Create a volume.
    Create(CreateArgs),
    /// List volumes.
    #[command(name = "ls", visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes.
    Inspect(InspectArgs),
    /// Remove one or more volumes.
    #[command(name = "rm", visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes.
    Prune(PruneArgs),
}

#[derive(Args)]
pub struct CreateArgs {
    /// Specify volume driver name (only "local").
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Specify volume name.
    #[arg(long = "name")]
    pub name_flag: Option<String>,
    /// Set metadata for a volume (KEY=VALUE).
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options (type, device, o).
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// The volume's name (random when none).
    pub name: Option<String>,
}

#[derive(Args)]
pub struct LsArgs {
    /// Only display volume names.
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (dangling=true, name=NAME, label=KEY[=VALUE],
    /// driver=local).
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output: table (default), json, or a Go template ({{.Name}},
    /// {{.Driver}}, {{.Scope}}, {{.Mountpoint}}, {{.Labels}}, {{.Links}}).
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output: json, or a Go template ({{.Mountpoint}} ...).
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args)]
pub struct RmArgs {
    /// Do not fail on volumes that do not exist.
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones.
    #[arg(short, long)]
    pub all: bool,
    /// Provide filter values (label=KEY[=VALUE], label!=KEY[=VALUE]).
    #[arg(long)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

pub async fn client(host: &str) -> Result<VolumesClient<Channel>, CliError> {
    Ok(VolumesClient::new(connection::connect(host).await?))
}

/// Runs a `berth volume` command.
pub async fn dispatch(ctx: &Context, command: VolumeCommand) -> Result<i32, CliError> {
    match command {
        VolumeCommand::Create(a) => create(ctx, a).await,
        VolumeCommand::Ls(a) => list(ctx, a).await,
        VolumeCommand::Inspect(a) => inspect(ctx, a).await,
        VolumeCommand::Rm(a) => remove(ctx, a).await,
        VolumeCommand::Prune(a) => prune(ctx, a).await,
    }
}

/// `KEY=VALUE` pairs (a bare `KEY` has an empty value, as docker's).
fn key_values(values: &[String]) -> BTreeMap<String, String> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, val)) => (k.to_string(), val.to_string()),
            None => (v.clone(), String::new()),
        })
        .collect()
}

async fn create(ctx: &Context, a: CreateArgs) -> Result<i32, CliError> {
    let name = match (&a.name_flag, &a.name) {
        (Some(f), Some(n)) if f != n => {
            return Err(CliError::Usage(format!(
                "conflicting options: either specify --name or provide positional arg, not both ({f}, {n})"
            )))
        }
        (Some(f), _) => f.clone(),
        (None, Some(n)) => n.clone(),
        (None, None) => String::new(),
    };
    let mut options = BTreeMap::new();
    for o in &a.opt {
        let (k, v) = o.split_once('=').ok_or_else(|| {
            CliError::Usage(format!(
                "invalid argument \"{o}\" for \"-o, --opt\" flag: bad format of option (expected key=value)"
            ))
        })?;
        options.insert(k.to_string(), v.to_string());
    }
    let resp = client(&ctx.host)
        .await?
        .create(pb::CreateVolumeRequest {
            name,
            driver: a.driver,
            labels: key_values(&a.label).into_iter().collect(),
            options: options.into_iter().collect(),
        })
        .await?
        .into_inner();
    println!("{}", resp.volume.map(|v| v.name).unwrap_or_default());
    Ok(0)
}

/// docker's `volume ls` table (cli/command/formatter `volume.go`).
const VOLUMES_TABLE: &str = "table {{.Driver}}\\t{{.Name}}";

fn labels_text(labels: &std::collections::HashMap<String, String>) -> String {
    let sorted: BTreeMap<_, _> = labels.iter().collect();
    sorted
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

async fn list(ctx: &Context, a: LsArgs) -> Result<i32, CliError> {
    let user = a.format.clone().unwrap_or_default();
    let format = if (user.is_empty() || user == "table") && a.quiet {
        "{{.Name}}".to_string()
    } else {
        user
    };
    let format =
        ListFormat::parse(&format, VOLUMES_TABLE).map_err(|e| CliError::Other(e.to_string()))?;
    let resp = client(&ctx.host)
        .await?
        .list(pb::ListVolumesRequest {
            filters: a.filter.clone(),
            size: false,
        })
        .await?
        .into_inner();
    let rows: Vec<Value> = resp.volumes.iter().map(volume_row).collect();
    let headers = volume_headers();
    let text = format
        .render(&rows, &headers)
        .map_err(|e| CliError::Other(e.to_string()))?;
    print!("{text}");
    Ok(0)
}

/// One volume as a list template sees it (docker's `volumeContext`: every
/// field as text; `Size` only when the list measured it, else `N/A`).
pub fn volume_row(v: &pb::Volume) -> Value {
    let size = if v.size >= 0 {
        humanize::size(v.size)
    } else {
        "N/A".to_string()
    };
    template::row(
        [
            ("Driver", v.driver.clone()),
            ("Name", v.name.clone()),
            ("Scope", v.scope.clone()),
            ("Mountpoint", v.mountpoint.clone()),
            ("Labels", labels_text(&v.labels)),
            ("Links", v.containers.len().to_string()),
            ("Size", size),
        ]
        .into_iter()
        .collect(),
    )
}

/// Column titles of the volume fields.
pub fn volume_headers() -> serde_json::Map<String, Value> {
    template::headers(&[
        ("Driver", "DRIVER"),
        ("Name", "VOLUME NAME"),
        ("Scope", "SCOPE"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Size", "SIZE"),
    ])
}

/// docker's `volume inspect` object.
pub fn volume_json(v: &pb::Volume) -> Value {
    let sorted = |m: &std::collections::HashMap<String, String>| -> Value {
        json!(m.iter().collect::<BTreeMap<_, _>>())
    };
    json!({
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        "Labels": sorted(&v.labels),
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": sorted(&v.options),
        "Scope": v.scope,
    })
}

async fn inspect(ctx: &Context, a: InspectArgs) -> Result<i32, CliError> {
    let template = inspect_template(a.format.as_deref())?;
    let mut c = client(&ctx.host).await?;
    let mut results = Vec::new();
    let mut code = 0;
    for name in &a.names {
        match c
            .inspect(pb::InspectVolumeRequest { name: name.clone() })
            .await
        {
            Ok(resp) => {
                if let Some(v) = resp.into_inner().volume {
                    results.push(volume_json(&v));
                }
            }
            Err(s) if s.code() == tonic::Code::NotFound => {
                eprintln!("Error: No such volume: {name}");
                code = 1;
            }
            Err(s) => {
                eprintln!("Error response from daemon: {}", s.message());
                code = 1;
            }
        }
    }
    let printed = print_inspected(template.as_ref(), a.format.as_deref(), results);
    Ok(code.max(printed))
}

/// docker's inspect object of volume `name`; `None` when there is none
/// (`berth inspect` tries containers, images, then volumes).
pub async fn lookup(ctx: &Context, name: &str) -> Result<Option<Value>, CliError> {
    match client(&ctx.host)
        .await?
        .inspect(pb::InspectVolumeRequest {
            name: name.to_string(),
        })
        .await
    {
        Ok(r) => Ok(r.into_inner().volume.map(|v| volume_json(&v))),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
        Err(s) => Err(s.into()),
    }
}

async fn remove(ctx: &Context, a: RmArgs) -> Result<i32, CliError> {
    let mut c = client(&ctx.host).await?;
    let mut code = 0;
    for name in &a.names {
        match c
            .remove(pb::RemoveVolumeRequest {
                name: name.clone(),
                force: a.force,
            })
            .await
        {
            Ok(_) => println!("{name}"),
            // The one object a volume rm looks up is the volume.
            Err(s) if s.code() == tonic::Code::NotFound => {
                eprintln!("Error: No such volume: {name}");
                code = 1;
            }
            Err(s) => {
                eprintln!("Error response from daemon: {}", s.message());
                code = 1;
            }
        }
    }
    Ok(code)
}

async fn prune(ctx: &Context, a: PruneArgs) -> Result<i32, CliError> {
    if !a.force {
        let what = if a.all {
            "all local volumes not used by at least one container"
        } else {
            "all anonymous local volumes not used by at least one container"
        };
        // docker reads the answer from stdin, terminal or not; anything
        // but y (end of input included) removes nothing.
        if !super::container::prune::confirm(&format!("WARNING! This will remove {what}.")) {
            return Ok(0);
        }
    }
    let space = prune_volumes(ctx, a.all, a.filter).await?;
    println!("Total reclaimed space: {}", humanize::size(space as i64));
    Ok(0)
}

/// Prunes unused volumes (anonymous ones unless `all`), prints docker's
/// "Deleted Volumes:" block and returns the bytes reclaimed (`volume
/// prune`, `system prune --volumes`).
pub async fn prune_volumes(
    ctx: &Context,
    all: bool,
    filters: Vec<String>,
) -> Result<u64, CliError> {
    let resp = client(&ctx.host)
        .await?
        .prune(pb::PruneVolumesRequest { all, filters })
        .await?
        .into_inner();
    if !resp.deleted.is_empty() {
        println!("Deleted Volumes:");
        for name in &resp.deleted {
            println!("{name}");
        }
        println!();
    }
    Ok(resp.space_reclaimed)
}
