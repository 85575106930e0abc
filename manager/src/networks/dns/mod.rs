//! The embedded DNS server of user networks (docker's model): every
//! container on a user-defined network gets `nameserver 127.0.0.11` in its
//! resolv.conf, and berthd answers there, from inside the container's
//! network namespace, with the names of the container's own networks,
//! forwarding everything else to the upstream servers.
//!
//! * [`wire`]: the DNS message format, the few record types needed;
//! * [`names`]: [`NameTable`], every network's names in memory, changed
//!   by one insert or removal per join or leave;
//! * [`server`]: [`Resolvers`], each container's UDP and TCP server and
//!   the forwarding;
//! * [`resolv_conf`]: the container's resolv.conf and what its resolver
//!   forwards to, as docker 20.10 writes and reads them.
//!
//! This replaces the earlier /etc/hosts rewrites of every member at every
//! join and leave (O(N) per container, O(N^2) per network): /etc/hosts is
//! written once, at create, with the container's own name only.

pub mod names;
pub mod resolv_conf;
pub mod server;
pub mod wire;

pub use names::NameTable;
pub use server::{ResolverConfig, Resolvers, RESOLVER_ADDRESS};

/// Why a container's resolver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("{op} {what}: {source}")]
    Io {
        op: &'static str,
        what: String,
        #[source]
        source: std::io::Error,
    },
}
