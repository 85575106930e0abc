//! Networks: the default bridge network, user-defined bridge networks,
//! their addresses (IPAM) and the containers on them.
//!
//! * [`record`]: what is persisted per network (its endpoints are its IPAM
//!   state);
//! * [`ipam`]: subnets, the default pool, address allocation (pure);
//! * [`link`]: bridges and veths over rtnetlink, the container's end
//!   configured from inside its namespace;
//! * [`join`]: `--network container:ID` (the other's namespace path);
//! * [`hosts`]: resolv.conf contents without the embedded server;
//! * [`dns`]: the embedded DNS server of user networks (127.0.0.11 in
//!   each container), its name table and resolv.conf;
//! * [`service`]: [`NetworkService`], the network commands and the hooks
//!   the containers service calls at create, start, exit and rm;
//! * [`firewall`]: berthd's own nftables table (published ports, the
//!   loopback path to them, isolation between our bridges);
//! * [`ports`]: `-p`/`-P`/`--expose` parsing and the host port reservations.
//!
//! docs/networking.md explains the design (how the namespace is made, name
//! resolution, what is never done: no NAT, no ip_forward).

pub mod dns;
pub mod firewall;
pub mod hosts;
pub mod ipam;
pub mod link;
pub mod member;
pub mod mode;
pub mod netns;
pub mod ports;
pub mod predefined;
pub mod record;
pub mod service;
pub mod view;

pub use member::{Member, Members};
pub use mode::NetworkMode;
pub use record::{Endpoint, NetworkRecord};
pub use service::{
    CreateNetwork, EndpointRequest, NetworkConfig, NetworkMemberships, NetworkService,
};

/// What a network operation can fail with; the gRPC adapter maps each
/// variant to one status code.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// No network by that id, prefix or name (docker's wording).
    #[error("network {0} not found")]
    NotFound(String),
    /// A name in use.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidArgument(String),
    /// Containers still attached, a pre-defined network, no address left.
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// Putting a container on a network failed.
    #[error("attach container {container} to network {network}: {source}")]
    Attach {
        container: String,
        network: String,
        source: link::LinkError,
    },
    #[error(transparent)]
    Link(#[from] link::LinkError),
    /// A container's embedded DNS server.
    #[error(transparent)]
    Dns(#[from] dns::DnsError),
    #[error(transparent)]
    Metadata(Box<berth_store::metadata::MetadataError>),
    /// The file lock that serialises subnet choices between berthds.
    #[error("{op} {path}: {source}")]
    SubnetLock {
        op: &'static str,
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A bridge's nftables rules.
    #[error("nftables rules of bridge {bridge}: {source}")]
    Firewall {
        bridge: String,
        #[source]
        source: firewall::FirewallError,
    },
    /// A blocking job of the operation died (it panicked or was cancelled).
    #[error("background job: {0}")]
    Background(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Internal(String),
}
