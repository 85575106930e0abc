//! What every command needs to know before it runs: which berthd to dial
//! and where the user's client config (registry credentials) lives. Made
//! once from the global flags and handed to every command.

use std::path::PathBuf;

use super::credentials;

/// Where berthd is, where credentials are.
pub struct Context {
    /// `unix://PATH` of berthd's socket: `-H`, else `BERTH_HOST`, else
    /// berth-proto's default address.
    pub host: String,
    /// The client config dir: `--config`, else `BERTH_CONFIG`, else
    /// `~/.berth`.
    pub config_dir: PathBuf,
}

impl Context {
    /// The context of the global flags as given (`None`: not given).
    pub fn new(host: Option<String>, config_dir: Option<PathBuf>) -> Context {
        Context {
            host: host.unwrap_or_else(|| format!("unix://{}", berth_proto::DEFAULT_ADDRESS)),
            config_dir: config_dir.unwrap_or_else(credentials::default_config_dir),
        }
    }
}
