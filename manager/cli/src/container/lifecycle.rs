//! start, stop, restart, kill, rm, rename, update, pause, unpause, wait.
//!
//! Commands over several containers go through all of them like docker's
//! CLI: each success prints the container as the user named it, each
//! failure prints `Error response from daemon: ...`, and the command exits
//! 1 at the end if any failed. `rm`, `stop`, `kill`, `pause` and `unpause`
//! send their requests concurrently (at most [`PARALLEL`] at a time) and
//! print the results in the order the containers were named, as docker's
//! `parallelOperation` does: removing 50 containers one after another
//! waited for 50 kills and teardowns in turn.

use super::attach::{self, StreamEnd, StreamKind, StreamOptions};
use super::{client, report_failure};
use crate::context::Context;
use crate::CliError;
use berth_docker::size;
use berth_proto::v1 as pb;
use clap::Args;
use std::future::Future;

/// `berth start`.
#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth stop` / `berth restart`.
#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container (-1: its own stop timeout).
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i32>,
    /// Signal to send to the container (default: its stop signal).
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth kill`.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container.
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth rm`.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link (/CONTAINER/ALIAS), not the container.
    #[arg(short = 'l', long)]
    pub link: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth rename`.
#[derive(Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

/// `berth update`.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Memory limit.
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap.
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs.
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// Tune container pids limit (-1 for unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits.
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth pause` / `berth unpause`.
#[derive(Args, Debug)]
pub struct PauseArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth wait`.
#[derive(Args, Debug)]
pub struct WaitArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Runs `op` on each container, one after another, printing the name on
/// success and docker's error on failure; exit 1 if any failed.
async fn for_each<F, Fut>(containers: &[String], op: F) -> Result<i32, CliError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(), tonic::Status>>,
{
    for_each_limited(containers, 1, report_failure, op).await
}

/// How many requests of one command are in flight at once (docker's
/// `parallelOperation` limit).
const PARALLEL: usize = 50;

/// [`for_each`] with up to [`PARALLEL`] requests in flight; results are
/// reported in the containers' order.
async fn for_each_parallel<F, Fut>(containers: &[String], op: F) -> Result<i32, CliError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(), tonic::Status>>,
{
    for_each_limited(containers, PARALLEL, report_failure, op).await
}

async fn for_each_limited<F, Fut>(
    containers: &[String],
    limit: usize,
    report: fn(&str, tonic::Status),
    mut op: F,
) -> Result<i32, CliError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(), tonic::Status>>,
{
    use futures_util::stream::{self, StreamExt};
    let mut results = stream::iter(containers.iter().map(|name| op(name.clone()))).buffered(limit);
    let mut code = 0;
    for name in containers {
        match results.next().await.expect("one result per container") {
            Ok(()) => println!("{name}"),
            Err(s) => {
                report(name, s);
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `berth start`: starts each container; with `-a`, attaches to the one
/// container (start included, so no output is lost) and exits with its code.
pub async fn start(ctx: &Context, a: StartArgs) -> Result<i32, CliError> {
    let c = client(&ctx.host).await?;
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(CliError::Other(
                "you cannot start and attach multiple containers at once".into(),
            ));
        }
        let id = &a.containers[0];
        // Whether the container has a tty decides raw mode and detach keys.
        let inspect = c
            .clone()
            .inspect(pb::InspectContainerRequest {
                id: id.clone(),
                size: false,
            })
            .await?
            .into_inner();
        let json: serde_json::Value = serde_json::from_str(&inspect.json).unwrap_or_default();
        let tty = json["Config"]["Tty"].as_bool().unwrap_or(false);
        let options = StreamOptions::new(a.interactive, tty, a.detach_keys.as_deref(), true)?;
        let first = attach::attach_request(id, &options, true);
        return match attach::stream(ctx, StreamKind::Attach, first, &options, Some(id)).await? {
            StreamEnd::Exited(code) => Ok(code),
            StreamEnd::Detached => Ok(0),
            // Never a silently short output.
            StreamEnd::Closed => Err(CliError::Daemon(
                "the attach stream ended before the container exited".into(),
            )),
        };
    }
    // One after another, as docker's CLI; then docker's summary line of
    // the ones that failed.
    let mut failed = Vec::new();
    for id in &a.containers {
        match c
            .clone()
            .start(pb::StartContainerRequest { id: id.clone() })
            .await
        {
            Ok(_) => println!("{id}"),
            Err(s) => {
                report_failure(id, s);
                failed.push(id.as_str());
            }
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(CliError::Other(format!(
            "Error: failed to start containers: {}",
            failed.join(", ")
        )))
    }
}

/// `berth stop`.
pub async fn stop(ctx: &Context, a: StopArgs) -> Result<i32, CliError> {
    let c = client(&ctx.host).await?;
    let timeout = a.time.unwrap_or(-1);
    let signal = a.signal.clone().unwrap_or_default();
    for_each_parallel(&a.containers, |id| {
        let mut c = c.clone();
        let signal = signal.clone();
        async move {
            c.stop(pb::StopContainerRequest {
                id,
                timeout,
                signal,
            })
            .await?;
            Ok(())
        }
    })
    .await
}

/// `berth restart`.
pub async fn restart(ctx: &Context, a: StopArgs) -> Result<i32, CliError> {
    let c = client(&ctx.host).await?;
    let timeout = a.time.unwrap_or(-1);
    let signal = a.signal.clone().unwrap_or_default();
    for_each(&a.containers, |id| {
        let mut c = c.clone();
        let signal = signal.clone();
        async move {
            c.restart(pb::RestartContainerRequest {
                id,
                timeout,
                signal,
            })
            .await?;
            Ok(())
        }
    })
    .await
}

/// `berth kill`.
pub async fn kill(ctx: &Context, a: KillArgs) -> Result<i32, CliError> {
    let c = client(&ctx.host).await?;
    for_each_parallel(&a.containers, |id| {
        let mut c = c.clone();
        let signal = a.signal.clone();
        async move {
            c.kill(pb::KillContainerRequest { id, signal }).await?;
            Ok(())
        }
    })
    .await
}

/// `berth rm`.
pub async fn rm(ctx: &Context, a: RmArgs) -> Result<i32, CliError> {
    let c = client(&ctx.host).await?;
    // docker's client wraps a remove's 404 as `Error: No such container:
    // X` (stop, kill, wait... print the daemon's words).
    let report = |name: &str, s: tonic::Status| eprintln!("{}", CliError::about(name, s));
    for_each_limited(&a.containers, PARALLEL, report, |id| {
        let mut c = c.clone();
        async move {
            c.remove(pb::RemoveContainerRequest {
                id,
                force: a.force,
                volumes: a.volumes,
                link: a.link,
            })
            .await?;
            Ok(())
        }
    })
    .await
}

/// `berth rename`: no output on success.
pub async fn rename(ctx: &Context, a: RenameArgs) -> Result<i32, CliError> {
    let new_name = a.new_name.trim();
    if new_name.is_empty() {
        return Err(CliError::Other(
            "Error: Neither old nor new names may be empty".into(),
        ));
    }
    let renamed = client(&ctx.host)
        .await?
        .rename(pb::RenameContainerRequest {
            id: a.container.clone(),
            new_name: new_name.to_string(),
        })
        .await;
    // docker's CLI prints the daemon's error, then its own line.
    if let Err(s) = renamed {
        eprintln!("{}", CliError::from(s));
        return Err(CliError::Other(format!(
            "Error: failed to rename container named {}",
            a.container
        )));
    }
    Ok(0)
}

/// The fields of an `update`, parsed like `run`'s flags.
fn update_request(a: &UpdateArgs, id: String) -> Result<pb::UpdateContainerRequest, CliError> {
    let size = |flag: &str, v: &str| {
        size::parse_bytes(v).map_err(|e| {
            CliError::Usage(format!("invalid argument \"{v}\" for \"{flag}\" flag: {e}"))
        })
    };
    let (restart_policy, restart_max_retries) = match &a.restart {
        None => (None, None),
        Some(r) => match r.split_once(':') {
            Some(("on-failure", n)) => (
                Some("on-failure".to_string()),
                Some(n.parse::<i32>().map_err(|_| {
                    CliError::Usage(format!(
                        "invalid restart policy format: maximum retry count must be an integer: {r}"
                    ))
                })?),
            ),
            _ => (Some(r.clone()), None),
        },
    };
    Ok(pb::UpdateContainerRequest {
        id,
        memory: a
            .memory
            .as_deref()
            .map(|m| size("-m, --memory", m))
            .transpose()?,
        memory_swap: match a.memory_swap.as_deref() {
            None => None,
            Some("-1") => Some(-1),
            Some(s) => Some(size("--memory-swap", s)?),
        },
        nano_cpus: a
            .cpus
            .as_deref()
            .map(|c| {
                size::parse_cpus(c).map_err(|e| {
                    CliError::Usage(format!("invalid argument \"{c}\" for \"--cpus\" flag: {e}"))
                })
            })
            .transpose()?,
        cpu_shares: a.cpu_shares,
        pids_limit: a.pids_limit,
        restart_policy,
        restart_max_retries,
    })
}

/// `berth update`: prints each container updated.
pub async fn update(ctx: &Context, a: UpdateArgs) -> Result<i32, CliError> {
    if a.memory.is_none()
        && a.memory_swap.is_none()
        && a.cpus.is_none()
        && a.cpu_shares.is_none()
        && a.pids_limit.is_none()
        && a.restart.is_none()
    {
        return Err(CliError::Usage(
            "you must provide one or more flags when using this command".into(),
        ));
    }
    let requests: Vec<pb::UpdateContainerRequest> = a
        .containers
        .iter()
        .map(|id| update_request(&a, id.clone()))
        .collect::<Result<_, _>>()?;
    let c = client(&ctx.host).await?;
    let mut requests = requests.into_iter();
    for_each(&a.containers, |_| {
        let mut c = c.clone();
        let request = requests.next().expect("one request per container");
        async move {
            let r = c.update(request).await?.into_inner();
            for w in r.warnings {
                eprintln!("WARNING: {w}");
            }
            Ok(())
        }
    })
    .await
}

/// `berth pause`.
pub async fn pause(ctx: &Context, a: PauseArgs) -> Result<i32, CliError> {
    let c = client(&ctx.host).await?;
    for_each_parallel(&a.containers, |id| {
        let mut c = c.clone();
        async move {
            c.pause(pb::PauseContainerRequest { id }).await?;
            Ok(())
        }
    })
    .await
}

/// `berth unpause`.
pub async fn unpause(ctx: &Context, a: PauseArgs) -> Result<i32, CliError> {
    let c = client(&ctx.host).await?;
    for_each_parallel(&a.containers, |id| {
        let mut c = c.clone();
        async move {
            c.unpause(pb::UnpauseContainerRequest { id }).await?;
            Ok(())
        }
    })
    .await
}

/// `berth wait`: blocks until each container stops, printing its exit code.
pub async fn wait(ctx: &Context, a: WaitArgs) -> Result<i32, CliError> {
    let c = client(&ctx.host).await?;
    let mut code = 0;
    for id in &a.containers {
        match c
            .clone()
            .wait(pb::WaitContainerRequest {
                id: id.clone(),
                condition: "not-running".into(),
            })
            .await
        {
            Ok(r) => {
                let r = r.into_inner();
                if !r.error.is_empty() {
                    eprintln!("Error response from daemon: {}", r.error);
                    code = 1;
                } else {
                    println!("{}", r.exit_code);
                }
            }
            Err(s) => {
                report_failure(id, s);
                code = 1;
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_sets_only_given_fields() {
        let a = UpdateArgs {
            memory: Some("64m".into()),
            memory_swap: Some("-1".into()),
            cpus: None,
            cpu_shares: None,
            pids_limit: Some(-1),
            restart: Some("on-failure:2".into()),
            containers: vec!["x".into()],
        };
        let r = update_request(&a, "x".into()).unwrap();
        assert_eq!(r.memory, Some(64 << 20));
        assert_eq!(r.memory_swap, Some(-1));
        assert_eq!(r.nano_cpus, None);
        assert_eq!(r.pids_limit, Some(-1));
        assert_eq!(r.restart_policy.as_deref(), Some("on-failure"));
        assert_eq!(r.restart_max_retries, Some(2));
    }
}
