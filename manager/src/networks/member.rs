//! The containers of a network as the networks domain sees them.
//!
//! networks never imports the containers domain (DESIGN.md: it is given
//! names and ids as arguments): what it needs of a container (its name,
//! hostname, mode and extra hosts, for the hosts files it writes and the
//! endpoints it keeps) comes as a [`Member`], and the current set of them
//! from whoever implements [`Members`] (the containers domain's index).

use super::NetworkMode;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A container, as far as its networks are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub hostname: String,
    pub domainname: Option<String>,
    pub mode: NetworkMode,
    /// `--add-host` entries: (name, address).
    pub extra_hosts: Vec<(String, IpAddr)>,
    /// While it runs: the id of its network sandbox (docker's
    /// `SandboxID`), from which its endpoint on `host` or `none` is named.
    pub sandbox_id: Option<String>,
}

/// The containers that exist now, by id.
pub trait Members: Send + Sync {
    fn members(&self) -> BTreeMap<String, Member>;
}
