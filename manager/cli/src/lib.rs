//! `berth`: a docker-like command line that talks only to berthd's gRPC API.
//!
//! Commands, flags, output and exit codes follow docker's: errors from the
//! daemon print `Error response from daemon: ...` and exit 1; a daemon that
//! cannot be reached prints which socket was tried; usage errors exit 125.
//! The daemon is found with `-H/--host unix://PATH`, else `BERTH_HOST`, else
//! `unix:///run/berth/berthd.sock`. Registry credentials live in
//! `$BERTH_CONFIG/config.json` (default `~/.berth/config.json`), in docker's
//! config.json format. Exit codes of a failed start (126/127) are berthd's,
//! sent in the `berth-exit-code` status metadata, never read from a message.
//!
//! # Walls
//!
//! This crate depends on berth-proto (the API and `dial_unix`), berth-docker
//! (docker's conventions: references, sizes, durations, timestamps, `cp`'s
//! path rules and archive format) and generic crates only. It must never
//! depend on berth-manager, berth-store, berth-runtime or berth-oci: the CLI
//! talks only gRPC, and with the crates apart the compiler keeps it so (a
//! second client, or docker's own CLI, could do all `berth` does). What both
//! ends must agree on goes to berth-docker, not here and not in the daemon.
//!
//! # Where things are
//!
//! [`context`] (the global flags: host, config dir), [`connection`] (dialing
//! berthd), [`images`], [`container`] (run, exec, ps, logs, ...), [`cp`],
//! [`network`], [`volume`], [`system`], [`disk_usage`] (`system df`),
//! [`inspect`]; output: [`template`]
//! (Go templates for `--format`), [`tabwriter`], [`progress`]; [`terminal`]
//! (raw mode, detach keys); [`credentials`] (docker's config.json).

pub mod build;
pub mod compose;
pub mod connection;
pub mod container;
pub mod context;
pub mod cp;
pub mod credentials;
pub mod disk_usage;
pub mod help;
pub mod images;
pub mod inspect;
pub mod network;
pub mod progress;
pub mod system;
pub mod tabwriter;
pub mod template;
pub mod terminal;
pub mod usage;
pub mod volume;

use clap::{Args, Parser, Subcommand};
use context::Context;
use std::path::PathBuf;

/// Exit code of a usage error (docker's 125).
pub const EXIT_USAGE: i32 = 125;

/// What a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("Cannot connect to the Berth daemon at {host}. Is berthd running? ({reason})")]
    Connect { host: String, reason: String },
    /// connect(2) on the socket failed with EACCES: not root and not in
    /// the socket's group (docker's wording; the group is the one that owns
    /// the socket, `berth` unless berthd was told otherwise).
    #[error("permission denied while trying to connect to the Berth daemon socket at {host}: only root and members of group {group} may use it")]
    PermissionDenied { host: String, group: String },
    #[error("invalid host {0:?}: want unix:///path/to/berthd.sock")]
    InvalidHost(String),
    #[error("Error response from daemon: {0}")]
    Daemon(String),
    #[error("{0}")]
    Usage(String),
    /// A flag's value refused while the flags are read (docker's pflag
    /// `Set` errors, `invalid argument "X" for "-a, --attach" flag: ...`):
    /// a usage error that `run` and `create` print without their
    /// `berth: ` prefix, as docker's CLI prints it.
    #[error("{0}")]
    FlagValue(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
    /// A failure with its own exit code (docker's `cli.StatusError`).
    #[error("{message}")]
    Status { code: i32, message: String },
    /// `-it` with a stdin that is no terminal (docker's `CheckTty`).
    #[error("the input device is not a TTY")]
    NotATty,
    /// An object berthd does not have, as docker's client words a 404
    /// (`Error: No such container: NAME`), with the name the user typed.
    #[error("Error: No such {what}: {name}")]
    NoSuch { what: &'static str, name: String },
    /// The daemon could not start the container's process: docker's CLI
    /// exits 126 (cannot invoke) or 127 (not found) for it.
    #[error("Error response from daemon: {message}")]
    StartFailed { code: i32, message: String },
}

impl From<tonic::Status> for CliError {
    fn from(s: tonic::Status) -> Self {
        // berthd names the exit code of a process that could not start.
        let code = s
            .metadata()
            .get(berth_proto::status::EXIT_CODE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok());
        match code {
            Some(code) => CliError::StartFailed {
                code,
                message: s.message().to_string(),
            },
            None => CliError::Daemon(s.message().to_string()),
        }
    }
}

impl CliError {
    /// `status` of a request about `name`: docker's `No such container` /
    /// `No such image` when berthd says (in the status metadata, never in
    /// the text) that the container or image is missing, else as
    /// [`From<tonic::Status>`].
    pub fn about(name: &str, status: tonic::Status) -> CliError {
        use berth_proto::status::{missing, MISSING_CONTAINER, MISSING_IMAGE};
        let what = match missing(&status) {
            Some(MISSING_CONTAINER) => "container",
            Some(MISSING_IMAGE) => "image",
            _ => return status.into(),
        };
        CliError::NoSuch {
            what,
            name: name.to_string(),
        }
    }

    /// The exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) | CliError::FlagValue(_) | CliError::InvalidHost(_) => EXIT_USAGE,
            CliError::Status { code, .. } | CliError::StartFailed { code, .. } => *code,
            _ => 1,
        }
    }
}

/// A docker-like CLI for Berth.
#[derive(Parser)]
#[command(name = "berth", version, about = "A container engine")]
pub struct Cli {
    /// Daemon socket to connect to (unix://PATH).
    #[arg(short = 'H', long = "host", env = "BERTH_HOST", global = true)]
    pub host: Option<String>,
    /// Location of client config files (default ~/.berth).
    #[arg(long = "config", env = "BERTH_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Subcommand)]
pub enum Command {
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
    /// List images.
    Images(ImagesArgs),
    /// Remove one or more images.
    Rmi(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(TagArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN.
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image.
    Import(ImportArgs),
    /// Build an image from a Dockerfile.
    Build(build::BuildArgs),
    /// Return low-level information on Berth objects (containers, images).
    Inspect(container::inspect::InspectArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Log in to a registry.
    Login(LoginArgs),
    /// Log out from a registry.
    Logout(LogoutArgs),
    /// Run docker-compose against berthd's Docker API socket.
    Compose(compose::ComposeArgs),
    /// Show the Berth version information.
    Version(system::FormatArgs),
    /// Display system-wide information.
    Info(system::FormatArgs),
    /// Manage networks.
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Manage builds.
    #[command(subcommand)]
    Builder(build::BuilderCommand),
    /// The container commands (run, ps, logs, exec ...).
    #[command(flatten)]
    Containers(Box<container::ContainerCommands>),
}

/// `berth image ...`.
#[derive(Subcommand)]
pub enum ImageCommand {
    /// List images.
    #[command(name = "ls", visible_alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images.
    #[command(name = "rm", visible_alias = "remove")]
    Rm(RmiArgs),
    /// Display detailed information on one or more images.
    Inspect(InspectArgs),
    /// Remove unused images.
    Prune(PruneArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(TagArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
    /// Save one or more images to a tar archive.
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN.
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image.
    Import(ImportArgs),
}

#[derive(Args)]
pub struct PullArgs {
    /// Set platform (os/arch[/variant]).
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    pub image: String,
}

#[derive(Args)]
pub struct PushArgs {
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Push only this platform's manifest of a multi-platform image (os/arch[/variant]).
    #[arg(long)]
    pub platform: Option<String>,
    /// Push every tag of the repository.
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    pub image: String,
}

#[derive(Args)]
pub struct ImagesArgs {
    /// Show all images (intermediate images too).
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output (dangling=true|false, label=KEY[=VALUE], before=IMAGE,
    /// since=IMAGE, reference=PATTERN).
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output: table (default), json, or a Go template
    /// ({{.Repository}}, {{.Tag}}, {{.ID}}, {{.Digest}}, {{.CreatedSince}},
    /// {{.CreatedAt}}, {{.Size}}).
    #[arg(long)]
    pub format: Option<String>,
    /// REPOSITORY[:TAG]
    pub repository: Option<String>,
}

#[derive(Args)]
pub struct RmiArgs {
    /// Force removal of the image.
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents (keep content and snapshots).
    #[arg(long)]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print sizes and dates in human readable format (default true).
    #[arg(long = "human", default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Format output: table (default), json, or a Go template ({{.ID}},
    /// {{.CreatedSince}}, {{.CreatedAt}}, {{.CreatedBy}}, {{.Size}}, {{.Comment}}).
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

#[derive(Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Archive format: docker-archive (default) or oci-archive (also "oci").
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN.
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Set commit message for imported image.
    #[arg(short, long, default_value = "")]
    pub message: String,
    /// Set platform if server is multi-platform capable.
    #[arg(long)]
    pub platform: Option<String>,
    /// FILE or - for STDIN.
    pub file: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output: json, or a Go template ({{.Id}}, {{json .Config}}, {{range .RepoTags}}...{{end}}).
    #[arg(short, long)]
    pub format: Option<String>,
    /// Only images (the only kind so far).
    #[arg(long = "type")]
    pub kind: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args)]
pub struct LoginArgs {
    /// Username.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password.
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Registry server (default docker.io).
    pub server: Option<String>,
}

#[derive(Args)]
pub struct LogoutArgs {
    pub server: Option<String>,
}

/// berth's clap command, for berth-dist's man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match help::early(&args) {
        Some(help::Early::Help) => {
            print!("{}", help::top_level(&command()));
            return 0;
        }
        Some(help::Early::Version) => {
            println!("{}", help::version_line());
            return 0;
        }
        None => {}
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            if let Some(text) = usage::unknown_flag(&e, std::env::args().skip(1)) {
                eprintln!("{text}");
                return EXIT_USAGE;
            }
            let (message, code) = help::usage_error(&e, &args);
            if code == 0 {
                print!("{message}");
            } else {
                eprint!("{message}");
            }
            return code;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth: start runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<i32, CliError> {
    let ctx = Context::new(cli.host.clone(), cli.config.clone());
    match cli.command {
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => images::pull(&ctx, a).await,
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => images::push(&ctx, a).await,
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::list(&ctx, a).await,
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => images::remove(&ctx, a).await,
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => images::tag(&ctx, a).await,
        Command::History(a) | Command::Image(ImageCommand::History(a)) => {
            images::history(&ctx, a).await
        }
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => images::save(&ctx, a).await,
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => images::load(&ctx, a).await,
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => {
            images::import(&ctx, a).await
        }
        Command::Build(a) => build::build(&ctx, a).await,
        Command::Image(ImageCommand::Inspect(a)) => inspect::inspect(&ctx, a).await,
        Command::Inspect(a) => container::inspect::inspect(&ctx, a, false).await,
        Command::Image(ImageCommand::Prune(a)) => images::prune(&ctx, a).await,
        Command::Login(a) => images::login(&ctx, a).await,
        Command::Logout(a) => images::logout(&ctx, a),
        Command::Compose(a) => compose::compose(&ctx, a),
        Command::Version(a) => system::version(&ctx, a).await,
        Command::Info(a) => system::info(&ctx, a).await,
        Command::Network(c) => network::dispatch(&ctx, c).await,
        Command::Builder(c) => build::builder(&ctx, c).await,
        Command::Containers(c) => container::dispatch(&ctx, *c).await,
        Command::Volume(v) => volume::dispatch(&ctx, v).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_exit_125() {
        assert_eq!(CliError::Usage("x".into()).exit_code(), 125);
        assert_eq!(CliError::Daemon("x".into()).exit_code(), 1);
    }
}
