//! berthd's command line. It lives in the library, not in the binary, so
//! that berth-dist can build berthd's man page and shell completions from
//! the very definition berthd parses ([`command`]).

use super::{DEFAULT_ROOT, DEFAULT_STATE};
use berth_proto::DEFAULT_ADDRESS;
use clap::{CommandFactory, Parser};
use std::path::PathBuf;

/// The Berth daemon: images, content, snapshots, containers, networks and
/// volumes over a gRPC API on a unix socket.
#[derive(Debug, Parser)]
#[command(
    name = "berthd",
    version,
    after_help = "Settings beyond these flags live in /etc/berth/daemon.json (--config)."
)]
pub struct BerthdArgs {
    /// Persistent state (metadata, content, snapshots).
    #[arg(long, default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Runtime state (a tmpfs).
    #[arg(long, default_value = DEFAULT_STATE)]
    pub state: PathBuf,
    /// The API socket.
    #[arg(long, default_value = DEFAULT_ADDRESS)]
    pub address: PathBuf,
    /// The Docker Engine API socket (docker CLI, docker-compose, SDKs:
    /// `DOCKER_HOST=unix://PATH`), mode 0660 like the API socket; default
    /// `docker.sock` in the --state dir (/run/berth/docker.sock); an empty
    /// value turns it off. Overrides daemon.json `docker-address`.
    #[arg(long, value_name = "PATH", value_parser = path_or_empty)]
    pub docker_address: Option<PathBuf>,
    /// The Kubernetes CRI socket (a kubelet's
    /// `--container-runtime-endpoint unix://PATH`), mode 0660 like the API
    /// socket; default `cri.sock` in the --state dir (/run/berth/cri.sock);
    /// an empty value turns it off. Overrides daemon.json `cri-address`.
    #[arg(long, value_name = "PATH", value_parser = path_or_empty)]
    pub cri_address: Option<PathBuf>,
    /// Group that owns the API socket (mode 0660): its members may use berth
    /// without root. Default: `berth` when that group exists, else root only;
    /// a group named here must exist (docker's --group).
    #[arg(short = 'G', long)]
    pub group: Option<String>,
    /// Config file (JSON; default /etc/berth/daemon.json when it exists).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Log filter (tracing's syntax: info, debug, berth_manager=trace).
    #[arg(long)]
    pub log_level: Option<String>,
}

/// A path, the empty one included (clap's path parser refuses "").
fn path_or_empty(s: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(s))
}

/// berthd's clap command (for man pages and completions).
pub fn command() -> clap::Command {
    BerthdArgs::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        command().debug_assert();
        let a = BerthdArgs::try_parse_from(["berthd", "-G", "docker"]).unwrap();
        assert_eq!(a.group.as_deref(), Some("docker"));
        assert_eq!(a.address, PathBuf::from(DEFAULT_ADDRESS));
        assert_eq!(a.docker_address, None);
        let a = BerthdArgs::try_parse_from(["berthd", "--docker-address", ""]).unwrap();
        assert_eq!(a.docker_address, Some(PathBuf::new()));
        let a = BerthdArgs::try_parse_from(["berthd", "--cri-address", "/x/c.sock"]).unwrap();
        assert_eq!(a.cri_address, Some(PathBuf::from("/x/c.sock")));
    }
}
