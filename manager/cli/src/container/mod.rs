//! docker's container commands on top of berthd's `Containers` and `Events`
//! services (proto/berth/v1/containers.proto).
//!
//! One file per concern:
//! * [`run`]: `create` and `run` flags turned into a `ContainerConfig`, the
//!   pull of a missing image, and docker's run flow (create, attach with
//!   start, exit with the container's code);
//! * [`attach`]: the bidirectional stdio stream shared by `run`, `start -a`,
//!   `attach` and `exec` (raw terminal, resizes, detach keys);
//! * [`lifecycle`]: start, stop, restart, kill, rm, rename, update, pause,
//!   unpause, wait;
//! * [`health`]: the `--health-*` flags checked as docker's CLI does;
//! * [`exec`], [`ps`], [`inspect`], [`logs`], [`top`], [`stats`],
//!   [`events`], [`prune`], [`filesystem`] (diff, export, commit, port); cp is
//!   [`crate::cp`].
//!
//! `--format` goes through the shared Go-template module
//! ([`crate::template`]) with docker's field names per command.
//!
//! Exit codes follow docker's CLI: a daemon error is `Error response from
//! daemon: ...` and exit 1; `run`/`create` exit 125 when berth or berthd
//! fails (so a script can tell those from the container's own code), and
//! `run` otherwise exits with the container's code.

pub mod attach;
pub mod events;
pub mod exec;
pub mod filesystem;
pub mod health;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod prune;
pub mod ps;
pub mod run;
pub mod stats;
pub mod top;

use super::context::Context;
use super::{connection, CliError};
use berth_proto::v1 as pb;
use berth_proto::v1::containers_client::ContainersClient;
use berth_proto::v1::events_client::EventsClient;
use clap::Subcommand;
use std::collections::HashMap;
use tonic::transport::Channel;

/// The top-level container commands (flattened into `berth`'s own).
#[derive(Subcommand, Debug)]
pub enum ContainerCommands {
    /// Create and run a new container from an image.
    Run(run::RunArgs),
    /// Create a new container.
    Create(run::CreateArgs),
    /// Start one or more stopped containers.
    Start(lifecycle::StartArgs),
    /// Stop one or more running containers.
    Stop(lifecycle::StopArgs),
    /// Restart one or more containers.
    Restart(lifecycle::StopArgs),
    /// Kill one or more running containers.
    Kill(lifecycle::KillArgs),
    /// Remove one or more containers.
    Rm(lifecycle::RmArgs),
    /// Rename a container.
    Rename(lifecycle::RenameArgs),
    /// Update configuration of one or more containers.
    Update(lifecycle::UpdateArgs),
    /// Pause all processes within one or more containers.
    Pause(lifecycle::PauseArgs),
    /// Unpause all processes within one or more containers.
    Unpause(lifecycle::PauseArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(lifecycle::WaitArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(attach::AttachArgs),
    /// Execute a command in a running container.
    Exec(exec::ExecArgs),
    /// List containers.
    Ps(ps::PsArgs),
    /// Fetch the logs of a container.
    Logs(logs::LogsArgs),
    /// Display the running processes of a container.
    Top(top::TopArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(stats::StatsArgs),
    /// List port mappings or a specific mapping for the container.
    Port(filesystem::PortArgs),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(filesystem::DiffArgs),
    /// Export a container's filesystem as a tar archive.
    Export(filesystem::ExportArgs),
    /// Create a new image from a container's changes.
    Commit(filesystem::CommitArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(crate::cp::CpArgs),
    /// Get real time events from the server.
    Events(events::EventsArgs),
    /// Manage containers.
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage Berth.
    #[command(subcommand)]
    System(SystemCommand),
}

/// `berth container ...` (docker's management command).
#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Create and run a new container from an image.
    Run(run::RunArgs),
    /// Create a new container.
    Create(run::CreateArgs),
    /// Start one or more stopped containers.
    Start(lifecycle::StartArgs),
    /// Stop one or more running containers.
    Stop(lifecycle::StopArgs),
    /// Restart one or more containers.
    Restart(lifecycle::StopArgs),
    /// Kill one or more running containers.
    Kill(lifecycle::KillArgs),
    /// Remove one or more containers.
    #[command(visible_alias = "remove")]
    Rm(lifecycle::RmArgs),
    /// Rename a container.
    Rename(lifecycle::RenameArgs),
    /// Update configuration of one or more containers.
    Update(lifecycle::UpdateArgs),
    /// Pause all processes within one or more containers.
    Pause(lifecycle::PauseArgs),
    /// Unpause all processes within one or more containers.
    Unpause(lifecycle::PauseArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(lifecycle::WaitArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(attach::AttachArgs),
    /// Execute a command in a running container.
    Exec(exec::ExecArgs),
    /// List containers.
    #[command(name = "ls", visible_aliases = ["ps", "list"])]
    Ls(ps::PsArgs),
    /// Fetch the logs of a container.
    Logs(logs::LogsArgs),
    /// Display the running processes of a container.
    Top(top::TopArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(stats::StatsArgs),
    /// List port mappings or a specific mapping for the container.
    Port(filesystem::PortArgs),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(filesystem::DiffArgs),
    /// Export a container's filesystem as a tar archive.
    Export(filesystem::ExportArgs),
    /// Create a new image from a container's changes.
    Commit(filesystem::CommitArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(crate::cp::CpArgs),
    /// Display detailed information on one or more containers.
    Inspect(inspect::InspectArgs),
    /// Remove all stopped containers.
    Prune(prune::ContainerPruneArgs),
}

/// `berth system ...`.
#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Remove unused data (stopped containers, dangling or unused images).
    Prune(prune::SystemPruneArgs),
    /// Get real time events from the server.
    Events(events::EventsArgs),
    /// Display system-wide information.
    Info(crate::system::FormatArgs),
    /// Show Berth disk usage.
    Df(crate::disk_usage::DfArgs),
}

/// Runs one container command.
pub async fn dispatch(ctx: &Context, command: ContainerCommands) -> Result<i32, CliError> {
    use ContainerCommand as C;
    use ContainerCommands as T;
    match command {
        T::Run(a) | T::Container(C::Run(a)) => run::run(ctx, a).await,
        T::Create(a) | T::Container(C::Create(a)) => run::create(ctx, a).await,
        T::Start(a) | T::Container(C::Start(a)) => lifecycle::start(ctx, a).await,
        T::Stop(a) | T::Container(C::Stop(a)) => lifecycle::stop(ctx, a).await,
        T::Restart(a) | T::Container(C::Restart(a)) => lifecycle::restart(ctx, a).await,
        T::Kill(a) | T::Container(C::Kill(a)) => lifecycle::kill(ctx, a).await,
        T::Rm(a) | T::Container(C::Rm(a)) => lifecycle::rm(ctx, a).await,
        T::Rename(a) | T::Container(C::Rename(a)) => lifecycle::rename(ctx, a).await,
        T::Update(a) | T::Container(C::Update(a)) => lifecycle::update(ctx, a).await,
        T::Pause(a) | T::Container(C::Pause(a)) => lifecycle::pause(ctx, a).await,
        T::Unpause(a) | T::Container(C::Unpause(a)) => lifecycle::unpause(ctx, a).await,
        T::Wait(a) | T::Container(C::Wait(a)) => lifecycle::wait(ctx, a).await,
        T::Attach(a) | T::Container(C::Attach(a)) => attach::attach_command(ctx, a).await,
        T::Exec(a) | T::Container(C::Exec(a)) => exec::exec(ctx, a).await,
        T::Ps(a) | T::Container(C::Ls(a)) => ps::ps(ctx, a).await,
        T::Logs(a) | T::Container(C::Logs(a)) => logs::logs(ctx, a).await,
        T::Top(a) | T::Container(C::Top(a)) => top::top(ctx, a).await,
        T::Stats(a) | T::Container(C::Stats(a)) => stats::stats(ctx, a).await,
        T::Port(a) | T::Container(C::Port(a)) => filesystem::port(ctx, a).await,
        T::Diff(a) | T::Container(C::Diff(a)) => filesystem::diff(ctx, a).await,
        T::Export(a) | T::Container(C::Export(a)) => filesystem::export(ctx, a).await,
        T::Commit(a) | T::Container(C::Commit(a)) => filesystem::commit(ctx, a).await,
        T::Cp(a) | T::Container(C::Cp(a)) => crate::cp::transfer::copy(ctx, a).await,
        T::Events(a) | T::System(SystemCommand::Events(a)) => events::events(ctx, a).await,
        T::Container(C::Inspect(a)) => inspect::inspect(ctx, a, true).await,
        T::Container(C::Prune(a)) => prune::container_prune(ctx, a).await,
        T::System(SystemCommand::Prune(a)) => prune::system_prune(ctx, a).await,
        T::System(SystemCommand::Info(a)) => super::system::info(ctx, a).await,
        T::System(SystemCommand::Df(a)) => super::disk_usage::df(ctx, a).await,
    }
}

/// A `Containers` client on berthd's socket.
pub async fn client(host: &str) -> Result<ContainersClient<Channel>, CliError> {
    Ok(ContainersClient::new(connection::connect(host).await?)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20))
}

/// An `Events` client on berthd's socket.
pub async fn events_client(host: &str) -> Result<EventsClient<Channel>, CliError> {
    Ok(EventsClient::new(connection::connect(host).await?))
}

/// docker's `--filter key=value` flags grouped by key (values of one key
/// are OR-ed by the daemon, keys AND-ed).
pub fn parse_filters(flags: &[String]) -> Result<HashMap<String, pb::FilterValues>, CliError> {
    let mut filters: HashMap<String, pb::FilterValues> = HashMap::new();
    for f in flags {
        let Some((key, value)) = f.split_once('=') else {
            return Err(CliError::Usage(format!(
                "invalid argument \"{f}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)"
            )));
        };
        filters
            .entry(key.trim().to_lowercase())
            .or_default()
            .values
            .push(value.to_string());
    }
    Ok(filters)
}

/// Prints one per-container error the way docker's CLI does for commands
/// over several containers (`rm`, `stop`, `kill` ...), which go on with the
/// next container and exit 1 at the end.
pub fn report_failure(_name: &str, status: tonic::Status) {
    eprintln!("Error response from daemon: {}", status.message());
}

/// An I/O error's reason as Go prints it (`no such file or directory`),
/// for messages shaped like docker's.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let text = std::io::Error::from_raw_os_error(code).to_string();
            // Rust appends " (os error N)"; Go prints the lower-cased text.
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().collect::<String>() + chars.as_str(),
                None => text,
            }
        }
        None => e.to_string(),
    }
}

/// docker's code when the command cannot be invoked (permission denied).
/// berthd decides which of these a failed start is and sends it in the
/// `berth-exit-code` status metadata ([`CliError::StartFailed`]); the CLI
/// never reads it from the message.
pub const EXIT_CANNOT_INVOKE: i32 = 126;
/// docker's code when the command is not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// Now as Unix seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The 12-hex-digit form of a container id that `ps` and friends show.
pub fn short_container_id(id: &str) -> String {
    id.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_group_by_key() {
        let f = parse_filters(&[
            "status=exited".into(),
            "status=created".into(),
            "label=a=b".into(),
        ])
        .unwrap();
        assert_eq!(f["status"].values, vec!["exited", "created"]);
        assert_eq!(f["label"].values, vec!["a=b"]);
        let e = parse_filters(&["nonsense".into()]).unwrap_err();
        assert!(e.to_string().contains("bad format of filter"), "{e}");
        assert_eq!(e.exit_code(), 125);
    }
}
