//! The containers domain's side of networking, kept here so
//! `containers/service.rs` holds one line per hook: checks and address
//! allocation at create, `container:ID` files (its namespace: `joins`), what
//! `inspect` and `ps` show of a container's networks, and the [`Members`]
//! the networks domain reads containers through (networks never imports
//! containers).

use super::record::ContainerRecord;
use super::service::ContainerIndex;
use super::spec::{ContainerOptions, HostsFiles};
use super::{ContainerError, ContainerService};
use crate::networks::dns::{resolv_conf, ResolverConfig};
use crate::networks::{
    EndpointRequest, Member, Members, NetworkMemberships, NetworkMode, NetworkService,
};
use berth_docker::types::container::{EndpointSettings, NetworkSettings};
use std::collections::BTreeMap;

/// Create: checks `--network` and allocates the container's address on
/// its bridge network (nothing for none/host/container:).
pub async fn check_and_allocate(
    containers: &ContainerService,
    id: &str,
    name: &str,
    o: &ContainerOptions,
) -> Result<(), ContainerError> {
    if let NetworkMode::Container(target) = &o.network {
        if o.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
            return Err(ContainerError::InvalidArgument(
                "conflicting options: hostname and the network mode".into(),
            ));
        }
        if !o.network_aliases.is_empty() || o.ip.is_some() || o.mac_address.is_some() {
            return Err(ContainerError::InvalidArgument(
                "conflicting options: --network-alias, --ip or --mac-address and --network container:".into(),
            ));
        }
        let other = containers.resolve(target)?;
        if other.id == id {
            return Err(ContainerError::InvalidArgument(
                "cannot join own network namespace".into(),
            ));
        }
        return Ok(());
    }
    let req = EndpointRequest {
        aliases: o.network_aliases.clone(),
        ip: o.ip.clone(),
        mac: o.mac_address.clone(),
        links: o.links.clone(),
        link_local_ips: o.link_local_ips.clone(),
    };
    containers
        .networks
        .allocate(id, name, &o.network, &req)
        .await
        .map_err(ContainerError::from)
}

/// The container `--network container:` names, if any.
fn joined(containers: &ContainerService, o: &ContainerOptions) -> Option<ContainerRecord> {
    match &o.network {
        NetworkMode::Container(target) => containers.resolve(target).ok(),
        _ => None,
    }
}

/// `container:ID`: the other container's hostname/hosts/resolv.conf, bind
/// mounted as they are (docker shares them too).
pub fn joined_files(containers: &ContainerService, o: &ContainerOptions) -> Option<HostsFiles> {
    let other = joined(containers, o)?;
    let dir = containers.paths.log_dir(&other.id);
    Some(HostsFiles {
        hostname: dir.join("hostname"),
        hosts: dir.join("hosts"),
        resolv_conf: dir.join("resolv.conf"),
    })
}

/// `container:ID`: the other container's hostname.
pub fn joined_hostname(containers: &ContainerService, o: &ContainerOptions) -> Option<String> {
    joined(containers, o).map(|r| r.hostname)
}

/// The names of the networks container `r` is on: its endpoints' networks
/// (first network first), or its mode (none, host, container:ID).
fn network_names(memberships: &NetworkMemberships, r: &ContainerRecord) -> Vec<String> {
    let names: Vec<String> = memberships
        .of(&r.id)
        .map(|(name, _)| name.to_string())
        .collect();
    if names.is_empty() {
        vec![r.config.options.network.as_str().into_owned()]
    } else {
        names
    }
}

/// Fills docker's `NetworkSettings` of `inspect`: the first network's
/// address at the top, one entry per network under `Networks` (the mode's
/// own entry, with every field zero, for none and host).
pub fn fill_network_settings(
    networks: &NetworkService,
    r: &ContainerRecord,
    settings: &mut NetworkSettings,
) {
    let endpoints = networks.endpoints_of(&r.id);
    for (n, ep) in &endpoints {
        settings.networks.insert(
            n.name.clone(),
            crate::networks::view::endpoint_settings(n, ep),
        );
    }
    if endpoints.is_empty() && !matches!(r.config.options.network, NetworkMode::Container(_)) {
        // host and none: docker's endpoint on the predefined network (the
        // network's id once the container has started, the endpoint's
        // while it runs; no address).
        let mode = r.config.options.network.as_str().into_owned();
        let mut endpoint = EndpointSettings::default();
        if let Some(p) = networks
            .find_predefined(&mode)
            .filter(|_| !r.state.sandbox_id.is_empty())
        {
            endpoint.network_id = p.id.clone();
            if r.state.status.is_live() {
                endpoint.endpoint_id =
                    crate::networks::predefined::endpoint_id(&p.id, &r.state.sandbox_id);
            }
        }
        settings.networks.insert(mode, endpoint);
    }
    // The top-level address fields are the default bridge's alone (docker's
    // `getDefaultNetworkSettings`): empty for a container on user networks
    // only, whose addresses are under `Networks`.
    if let Some((n, ep)) = endpoints.iter().find(|(n, _)| n.default) {
        let bridge = crate::networks::view::endpoint_settings(n, ep);
        settings.ip_address = bridge.ip_address;
        settings.gateway = bridge.gateway;
        settings.mac_address = bridge.mac_address;
        settings.ip_prefix_len = bridge.ip_prefix_len;
        settings.endpoint_id = bridge.endpoint_id;
        settings.bridge = n.bridge.clone();
    }
}

/// `ps --filter network=V`: whether container `r` is on a network named
/// V, or whose id starts with V, or (none, host, container:) in mode V.
pub fn on_any_network(
    memberships: &NetworkMemberships,
    r: &ContainerRecord,
    wanted: &[String],
) -> bool {
    let mode = r.config.options.network.as_str();
    let on_none = memberships.of(&r.id).next().is_none();
    wanted.iter().any(|v| {
        memberships
            .of(&r.id)
            .any(|(name, id)| name == v || (!v.is_empty() && id.starts_with(v.as_str())))
            || (on_none && mode == v.as_str())
    })
}

/// What container `r`'s embedded DNS server forwards to: its `--dns`, else
/// the host's nameservers (without loopback ones), read now, as docker
/// derives them from the container's resolv.conf source.
pub fn resolver_config(r: &ContainerRecord) -> ResolverConfig {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let source = crate::networks::hosts::container_resolv_conf(&host, &r.config.options.dns);
    resolv_conf::embedded(&source).1
}

/// Start, and `network connect` of a running container: starts container
/// `r`'s embedded DNS server in the namespace of `pid` when it is on a user
/// network, and points its resolv.conf at that server if it does not yet
/// (a container created on the default bridge and connected to a user
/// network later; docker's `rebuildDNS`).
pub async fn serve_dns(
    containers: &ContainerService,
    r: &ContainerRecord,
    pid: u32,
) -> Result<(), ContainerError> {
    if matches!(
        r.config.options.network,
        NetworkMode::Host | NetworkMode::Container(_)
    ) {
        return Ok(());
    }
    containers
        .networks
        .serve_dns(&r.id, pid, resolver_config(r))
        .await?;
    if !containers.networks.serves_dns(&r.id) {
        return Ok(());
    }
    let path = containers.paths.log_dir(&r.id).join("resolv.conf");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if !resolv_conf::is_embedded(&current) {
        let (text, _) = resolv_conf::embedded(&current);
        crate::networks::hosts::rewrite_in_place(&path, &text).map_err(|source| {
            ContainerError::Io {
                op: "rewrite",
                path: path.clone(),
                source,
            }
        })?;
    }
    Ok(())
}

/// A container as its networks see it.
pub fn member(r: &ContainerRecord) -> Member {
    let o = &r.config.options;
    Member {
        id: r.id.clone(),
        name: r.name.clone(),
        hostname: r.hostname.clone(),
        domainname: o.domainname.clone(),
        mode: o.network.clone(),
        extra_hosts: o
            .extra_hosts
            .iter()
            .filter_map(|h| super::spec::hosts_files::parse_extra_host(h).ok())
            .collect(),
        sandbox_id: (r.state.status.is_live() && !r.state.sandbox_id.is_empty())
            .then(|| r.state.sandbox_id.clone()),
    }
}

impl Members for ContainerIndex {
    fn members(&self) -> BTreeMap<String, Member> {
        self.records()
            .iter()
            .map(|r| (r.id.clone(), member(r)))
            .collect()
    }
}

impl ContainerService {
    /// Every container's networks, read once for a listing.
    pub fn network_memberships(&self) -> NetworkMemberships {
        self.networks.memberships()
    }

    /// The names of the networks container `r` is on (its mode when none).
    pub fn network_names(
        &self,
        memberships: &NetworkMemberships,
        r: &ContainerRecord,
    ) -> Vec<String> {
        network_names(memberships, r)
    }

    /// `ps --filter network=V`.
    pub fn on_any_network(
        &self,
        memberships: &NetworkMemberships,
        r: &ContainerRecord,
        wanted: &[String],
    ) -> bool {
        on_any_network(memberships, r, wanted)
    }

    /// `network connect`: an endpoint for the container on `network`,
    /// attached at once when it runs.
    pub async fn connect_network(
        &self,
        network: &str,
        container: &str,
        req: &EndpointRequest,
    ) -> Result<(), ContainerError> {
        let r = self.resolve(container)?;
        let pid = (r.state.status.is_live() && r.state.pid > 0).then_some(r.state.pid);
        self.networks
            .connect(network, &member(&r), req, pid)
            .await?;
        if let Some(pid) = pid.filter(|_| !self.networks.serves_dns(&r.id)) {
            serve_dns(self, &r, pid).await?;
        }
        Ok(())
    }

    /// `network disconnect [-f]`: the container's endpoint on `network`
    /// goes (with `force`, also that of a container that no longer exists).
    pub async fn disconnect_network(
        &self,
        network: &str,
        container: &str,
        force: bool,
    ) -> Result<(), ContainerError> {
        let r = match self.resolve(container) {
            Ok(r) => r,
            Err(ContainerError::NotFound(_)) if force => {
                return Ok(self.networks.release_on(network, container).await?);
            }
            Err(e) => return Err(e),
        };
        let pid = (r.state.status.is_live() && r.state.pid > 0).then_some(r.state.pid);
        Ok(self.networks.disconnect(network, &member(&r), pid).await?)
    }
}
