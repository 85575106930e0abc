//! `berth exec`: a process in a running container over the `Exec` stream
//! (same protocol as attach). The CLI exits with the process's code; with
//! `-d` it exits once the process has started.

use super::attach::{self, StreamEnd, StreamKind, StreamOptions};
use super::run::env_entry;
use crate::context::Context;
use crate::CliError;
use berth_docker::env_file;
use berth_proto::v1 as pb;
use clap::Args;

/// `berth exec`.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Keep STDIN open even if not attached.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Give extended privileges to the command.
    #[arg(long)]
    pub privileged: bool,
    /// CONTAINER COMMAND [ARG...]: everything after the container is the
    /// command; a flag before it is berth's (an unknown one is a usage error).
    #[arg(
        required = true,
        num_args = 2..,
        trailing_var_arg = true,
        value_name = "CONTAINER COMMAND [ARG...]"
    )]
    pub container_and_command: Vec<String>,
}

/// The ExecStart of the flags.
fn exec_start(a: &ExecArgs) -> Result<pb::ExecStart, CliError> {
    let lookup = |k: &str| std::env::var(k).ok();
    let mut env = Vec::new();
    for path in &a.env_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("open {path}: {}", super::io_reason(&e))))?;
        for entry in env_file::parse_env_file(&text)
            .map_err(|e| CliError::Usage(format!("env file {path}: {e}")))?
        {
            env.push(env_entry(&entry, &lookup)?);
        }
    }
    for e in &a.env {
        env.push(env_entry(e, &lookup)?);
    }
    let (id, cmd) = a
        .container_and_command
        .split_first()
        .expect("clap requires two values");
    Ok(pb::ExecStart {
        id: id.clone(),
        cmd: cmd.to_vec(),
        env,
        working_dir: a.workdir.clone().unwrap_or_default(),
        user: a.user.clone().unwrap_or_default(),
        tty: a.tty,
        stdin: a.interactive && !a.detach,
        detach: a.detach,
        privileged: a.privileged,
        width: 0,
        height: 0,
    })
}

/// `berth exec`.
pub async fn exec(ctx: &Context, a: ExecArgs) -> Result<i32, CliError> {
    let start = exec_start(&a)?;
    let options = StreamOptions::new(start.stdin, a.tty, a.detach_keys.as_deref(), false)?;
    let first = attach::exec_request(start, &options);
    match attach::stream(ctx, StreamKind::Exec, first, &options, None).await {
        Ok(StreamEnd::Exited(code)) => Ok(code),
        Ok(StreamEnd::Detached) | Ok(StreamEnd::Closed) => Ok(0),
        // A command that could not start: 127/126 like docker's CLI, as
        // berthd's `berth-exit-code` says.
        // docker's daemon writes the error into the exec's output stream:
        // its CLI prints it on stdout, without `Error response from
        // daemon:`.
        Err(CliError::StartFailed { code, message }) => {
            println!("{message}");
            Ok(code)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(e.exit_code())
        }
    }
}
