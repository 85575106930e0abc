//! `berth network ...`: docker's network commands over the Networks API.

use super::context::Context;
use super::inspect::{inspect_template, print_inspected};
use super::template::{self, ListFormat};
use super::{connection, CliError};
use berth_proto::v1 as pb;
use berth_proto::v1::networks_client::NetworksClient;
use clap::{Args, Subcommand};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use tonic::transport::Channel;

/// `berth network` subcommands.
#[derive(Subcommand)]
pub enum NetworkCommand {
    /// Create a network.
    Create(CreateArgs),
    /// List networks.
    #[command(name = "ls", visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks.
    Inspect(InspectArgs),
    /// Remove one or more networks.
    #[command(name = "rm", visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks.
    Prune(PruneArgs),
    /// Connect a container to a network.
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
}

#[derive(Args)]
pub struct CreateArgs {
    /// Driver to manage the Network (bridge).
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment.
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 Gateway for the subnet.
    #[arg(long)]
    pub gateway: Option<String>,
    /// Set metadata on a network (key=value).
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options (key=value).
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
    /// Restrict external access to the network (recorded; containers never reach outside the host).
    #[arg(long)]
    pub internal: bool,
    pub name: String,
}

#[derive(Args)]
pub struct LsArgs {
    /// Only display network IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (e.g. 'driver=bridge').
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a Go template, or json.
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output.
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a Go template, or json.
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist.
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container.
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104).
    #[arg(long)]
    pub ip: Option<String>,
    /// Add link to another container (NAME[:ALIAS]).
    #[arg(long)]
    pub link: Vec<String>,
    /// Add a link-local address for the container.
    #[arg(long = "link-local-ip")]
    pub link_local_ip: Vec<String>,
    pub network: String,
    pub container: String,
}

#[derive(Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network.
    #[arg(short, long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

async fn client(ctx: &Context) -> Result<NetworksClient<Channel>, CliError> {
    Ok(NetworksClient::new(connection::connect(&ctx.host).await?))
}

/// `key=value` pairs of `--label`/`--opt` (a bare key has an empty value).
fn key_values(items: &[String]) -> HashMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

/// Runs one `network` subcommand; answers the exit code.
pub async fn dispatch(ctx: &Context, command: NetworkCommand) -> Result<i32, CliError> {
    match command {
        NetworkCommand::Create(a) => create(ctx, a).await,
        NetworkCommand::Ls(a) => ls(ctx, a).await,
        NetworkCommand::Inspect(a) => inspect(ctx, a).await,
        NetworkCommand::Rm(a) => rm(ctx, a).await,
        NetworkCommand::Prune(a) => prune(ctx, a).await,
        NetworkCommand::Connect(a) => {
            crate::container::run::validate_links(&a.link)?;
            client(ctx)
                .await?
                .connect_container(pb::ConnectNetworkRequest {
                    network: a.network,
                    container: a.container,
                    aliases: a.alias,
                    ip: a.ip.unwrap_or_default(),
                    links: a.link,
                    link_local_ips: a.link_local_ip,
                })
                .await?;
            Ok(0)
        }
        NetworkCommand::Disconnect(a) => {
            client(ctx)
                .await?
                .disconnect_container(pb::DisconnectNetworkRequest {
                    network: a.network,
                    container: a.container,
                    force: a.force,
                })
                .await?;
            Ok(0)
        }
    }
}

async fn create(ctx: &Context, a: CreateArgs) -> Result<i32, CliError> {
    let resp = client(ctx)
        .await?
        .create(pb::CreateNetworkRequest {
            name: a.name,
            driver: a.driver,
            subnet: a.subnet.unwrap_or_default(),
            gateway: a.gateway.unwrap_or_default(),
            labels: key_values(&a.label),
            options: key_values(&a.opt),
            internal: a.internal,
        })
        .await?
        .into_inner();
    println!("{}", resp.id);
    Ok(0)
}

async fn ls(ctx: &Context, a: LsArgs) -> Result<i32, CliError> {
    let mut filters: HashMap<String, pb::FilterValues> = HashMap::new();
    for f in &a.filter {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            CliError::Usage(format!("bad format of filter (expected name=value): {f}"))
        })?;
        filters
            .entry(k.to_string())
            .or_default()
            .values
            .push(v.to_string());
    }
    let list = client(ctx)
        .await?
        .list(pb::ListNetworksRequest { filters })
        .await?
        .into_inner()
        .networks;
    let id = |n: &pb::NetworkSummary| {
        if a.no_trunc {
            n.id.clone()
        } else {
            n.id.chars().take(12).collect()
        }
    };
    if a.quiet {
        for n in &list {
            println!("{}", id(n));
        }
        return Ok(0);
    }
    let format = ListFormat::parse(
        a.format.as_deref().unwrap_or(""),
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
    )
    .map_err(|e| CliError::Usage(e.to_string()))?;
    let rows: Vec<Value> = list
        .iter()
        .map(|n| {
            let labels = n
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            template::row(BTreeMap::from([
                ("ID", id(n)),
                ("Name", n.name.clone()),
                ("Driver", n.driver.clone()),
                ("Scope", n.scope.clone()),
                ("IPv6", "false".to_string()),
                ("Internal", n.internal.to_string()),
                ("Labels", labels),
                ("CreatedAt", n.created.clone()),
                ("Subnet", n.subnet.clone()),
                ("Gateway", n.gateway.clone()),
            ]))
        })
        .collect();
    let headers = template::headers(&[
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("CreatedAt", "CREATED AT"),
        ("Subnet", "SUBNET"),
        ("Gateway", "GATEWAY"),
    ]);
    let text = format
        .render(&rows, &headers)
        .map_err(|e| CliError::Other(e.to_string()))?;
    print!("{text}");
    Ok(0)
}

async fn inspect(ctx: &Context, a: InspectArgs) -> Result<i32, CliError> {
    let template = inspect_template(a.format.as_deref())?;
    let mut client = client(ctx).await?;
    let mut results = Vec::new();
    let mut code = 0;
    for name in &a.networks {
        match client
            .inspect(pb::InspectNetworkRequest { id: name.clone() })
            .await
        {
            Ok(r) => results.push(
                serde_json::from_str::<Value>(&r.into_inner().json)
                    .map_err(|e| CliError::Other(format!("network {name}: bad JSON: {e}")))?,
            ),
            // The one object a network inspect looks up is the network.
            Err(s) if s.code() == tonic::Code::NotFound => {
                eprintln!("Error: No such network: {name}");
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

async fn rm(ctx: &Context, a: RmArgs) -> Result<i32, CliError> {
    let mut client = client(ctx).await?;
    let mut code = 0;
    for name in &a.networks {
        match client
            .remove(pb::RemoveNetworkRequest { id: name.clone() })
            .await
        {
            Ok(_) => println!("{name}"),
            Err(s) if a.force && s.code() == tonic::Code::NotFound => {}
            Err(s) if s.code() == tonic::Code::NotFound => {
                eprintln!("Error: No such network: {name}");
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
        use std::io::{BufRead, IsTerminal, Write};
        if !std::io::stdin().is_terminal() {
            return Err(CliError::Usage(
                "network prune: refusing to prompt without a terminal: use -f".into(),
            ));
        }
        print!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let deleted = client(ctx)
        .await?
        .prune(pb::PruneNetworksRequest {})
        .await?
        .into_inner()
        .deleted;
    if !deleted.is_empty() {
        println!("Deleted Networks:");
        for d in deleted {
            println!("{d}");
        }
    }
    Ok(0)
}
