//! A network's record: what berthd persists about it in the metadata
//! database (`networks` table, key = network id, value = this record as
//! JSON). The record is also the network's IPAM state: its endpoints hold
//! every address handed out on it, so allocating and releasing an address is
//! one read-modify-write of one record (under the service's lock).
//!
//! ```text
//! networks: <id> -> NetworkRecord
//!   ├── id, name, created, driver ("bridge"), scope ("local")
//!   ├── bridge                     host interface: berth0 (default) or br-<id[..12]>
//!   ├── subnet, gateway            172.18.0.0/16, 172.18.0.1
//!   ├── labels, options, internal
//!   ├── default                    true for the network named "bridge"
//!   └── endpoints: <container id> -> Endpoint
//!         ├── endpoint_id          64 hex; the host veth is veth<endpoint_id[..11]>
//!         ├── container_name, aliases
//!         ├── address, mac         allocated at create/connect, freed at rm/disconnect
//!         └── attached             veth in place (between start and exit)
//! ```

use super::ipam::Subnet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// A container's place on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// 64 hex digits (docker's EndpointID).
    pub endpoint_id: String,
    /// The container's name when it was connected (names in /etc/hosts use
    /// the current one, read from the container's record).
    pub container_name: String,
    /// `--network-alias` / `connect --alias`.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The container's address on the network.
    pub address: Ipv4Addr,
    /// Its eth MAC (`aa:bb:..`).
    pub mac: String,
    /// Whether the veth is in place (the container's task runs).
    #[serde(default)]
    pub attached: bool,
    /// The name of the interface inside the container (`eth0`, `eth1` ...).
    #[serde(default)]
    pub interface: String,
    /// Whether `address` was asked for (`--ip`: inspect's
    /// `IPAMConfig.IPv4Address`).
    #[serde(default)]
    pub requested_address: bool,
    /// `--link NAME[:ALIAS]` as given (user networks: DNS names for this
    /// container alone).
    #[serde(default)]
    pub links: Vec<String>,
    /// `--link-local-ip` addresses on the interface.
    #[serde(default)]
    pub link_local: Vec<std::net::IpAddr>,
}

impl Endpoint {
    /// The host end of the container's veth: `veth` + 11 hex digits of the
    /// endpoint id (15 bytes, the kernel's IFNAMSIZ - 1).
    pub fn host_veth(&self) -> String {
        format!("veth{}", &self.endpoint_id[..11])
    }
}

/// A network as berthd persists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// 64 hex digits.
    pub id: String,
    /// Unique among networks.
    pub name: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// Always "bridge" for now.
    pub driver: String,
    /// The host bridge interface.
    pub bridge: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// `--internal`: recorded (and shown); containers reach nothing outside
    /// the host on any network, so it changes nothing yet.
    #[serde(default)]
    pub internal: bool,
    /// The default network ("bridge"): no name resolution between its
    /// containers, as in docker.
    #[serde(default)]
    pub default: bool,
    /// By container id.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
}

impl NetworkRecord {
    /// The first 12 digits of the id.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}
