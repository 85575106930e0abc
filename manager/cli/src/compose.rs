//! `berth compose ...`: Compose files run by Debian's `docker-compose`
//! (or the `docker compose` plugin where that is installed) against
//! berthd's Docker API socket. Berth has no Compose parser of its own:
//! the real tool, talking to the Docker API berthd serves, is what users'
//! compose files were written for.
//!
//! The socket: `--docker-host`, else `BERTH_DOCKER_HOST`, else
//! `docker.sock` beside berthd's own socket (`/run/berth/docker.sock` for
//! the default `/run/berth/berthd.sock`, where berthd puts it). The tool
//! replaces this process (exec), so its terminal handling, signals and
//! exit code are the user's directly.

use super::context::Context;
use super::CliError;
use clap::Args;
use std::path::{Path, PathBuf};

/// `compose`'s arguments: everything after it goes to the tool.
#[derive(Args, Debug)]
pub struct ComposeArgs {
    /// berthd's Docker API socket (unix://PATH).
    #[arg(long = "docker-host", env = "BERTH_DOCKER_HOST")]
    pub docker_host: Option<String>,
    /// The tool's command and flags (`up -d`, `ps`, `down -v`...).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// The Docker API address beside berthd's socket.
fn default_docker_host(berthd_host: &str) -> String {
    let socket = berthd_host.strip_prefix("unix://").unwrap_or(berthd_host);
    let dir = Path::new(socket)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("/run/berth"));
    format!("unix://{}", dir.join("docker.sock").display())
}

/// A program's path on `PATH`.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// The tool to run: docker-compose, else `docker compose` when the docker
/// CLI has the plugin.
fn compose_tool() -> Option<(PathBuf, Vec<String>)> {
    if let Some(p) = on_path("docker-compose") {
        return Some((p, Vec::new()));
    }
    let docker = on_path("docker")?;
    let has_plugin = std::process::Command::new(&docker)
        .args(["compose", "version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    has_plugin.then(|| (docker, vec!["compose".to_string()]))
}

/// Runs the tool (never returns on success: the process is replaced).
pub fn compose(ctx: &Context, a: ComposeArgs) -> Result<i32, CliError> {
    use std::os::unix::process::CommandExt;
    let host = a
        .docker_host
        .unwrap_or_else(|| default_docker_host(&ctx.host));
    let Some((program, prefix)) = compose_tool() else {
        return Err(CliError::Other(
            "berth compose runs docker-compose, which is not installed: apt-get install docker-compose (or install the docker compose plugin)".into(),
        ));
    };
    let err = std::process::Command::new(&program)
        .args(prefix)
        .args(&a.args)
        .env("DOCKER_HOST", &host)
        .exec();
    Err(CliError::Other(format!("run {}: {err}", program.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_socket_sits_beside_berthds() {
        assert_eq!(
            default_docker_host("unix:///run/berth/berthd.sock"),
            "unix:///run/berth/docker.sock"
        );
        assert_eq!(
            default_docker_host("unix:///tmp/x/b.sock"),
            "unix:///tmp/x/docker.sock"
        );
    }
}
