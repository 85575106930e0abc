//! docker's two networks that have no bridge: `host` (driver `host`: the
//! container shares the host's network namespace) and `none` (driver
//! `null`: a namespace with only `lo`). docker lists and inspects them
//! like any network and refuses to remove them; Berth implements both
//! modes in the container's spec (`--network host|none`, see
//! [`super::mode`]), so they have no record in the store: they are
//! described here, from what never changes for a daemon root.

use super::NetworkConfig;
use berth_docker::types::network::{ConfigReference, Ipam, NetworkResource};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// One of the predefined networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predefined {
    /// `host` or `none`.
    pub name: &'static str,
    /// docker's driver name: `host`, `null`.
    pub driver: &'static str,
    /// 64 hex digits, the same for every start of berthd on one root.
    pub id: String,
    /// RFC 3339: when berthd's root was made (the networks exist since).
    pub created: String,
}

/// The predefined networks of the daemon whose root holds
/// `config.containers_dir`, in docker's `network ls` order (by name).
pub fn all(config: &NetworkConfig) -> Vec<Predefined> {
    // The id is a digest of the root and the name: stable across restarts
    // (containers' inspect and scripts keep seeing the same id) and
    // different between daemons.
    let root = config.containers_dir.to_string_lossy().into_owned();
    let created = std::fs::metadata(&config.containers_dir)
        .and_then(|m| m.created().or_else(|_| m.modified()))
        .unwrap_or_else(|_| SystemTime::now());
    [("host", "host"), ("none", "null")]
        .into_iter()
        .map(|(name, driver)| {
            let mut h = Sha256::new();
            h.update(b"berth predefined network\0");
            h.update(root.as_bytes());
            h.update(b"\0");
            h.update(name.as_bytes());
            Predefined {
                name,
                driver,
                id: berth_docker::manifest::hex(&h.finalize()),
                created: humantime::format_rfc3339_nanos(created).to_string(),
            }
        })
        .collect()
}

/// The predefined network `input` names: its name, full id or an id
/// prefix (docker resolves these before user networks).
pub fn find(config: &NetworkConfig, input: &str) -> Option<Predefined> {
    let all = all(config);
    if let Some(p) = all.iter().find(|p| p.name == input || p.id == input) {
        return Some(p.clone());
    }
    let mut prefixed = all
        .into_iter()
        .filter(|p| !input.is_empty() && p.id.starts_with(input));
    match (prefixed.next(), prefixed.next()) {
        (Some(p), None) => Some(p),
        _ => None,
    }
}

/// The endpoint id of a running container on a predefined network: a
/// digest of the network's id and the container's sandbox id (docker makes
/// one endpoint per start; the sandbox id is new at each start too, so
/// this changes with it and needs no record of its own).
pub fn endpoint_id(network_id: &str, sandbox_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"berth predefined endpoint\0");
    h.update(network_id.as_bytes());
    h.update(b"\0");
    h.update(sandbox_id.as_bytes());
    berth_docker::manifest::hex(&h.finalize())
}

impl Predefined {
    /// The mode of the containers on this network (`--network host|none`).
    pub fn mode(&self) -> super::NetworkMode {
        match self.name {
            "host" => super::NetworkMode::Host,
            _ => super::NetworkMode::None,
        }
    }

    /// docker's `Containers` of this network: its running containers,
    /// each with its endpoint id and no address.
    pub fn containers(
        &self,
        members: &BTreeMap<String, super::Member>,
    ) -> BTreeMap<String, berth_docker::types::network::EndpointResource> {
        let mode = self.mode();
        members
            .values()
            .filter(|m| m.mode == mode)
            .filter_map(|m| {
                let sandbox = m.sandbox_id.as_deref()?;
                Some((
                    m.id.clone(),
                    berth_docker::types::network::EndpointResource {
                        name: m.name.clone(),
                        endpoint_id: endpoint_id(&self.id, sandbox),
                        ..Default::default()
                    },
                ))
            })
            .collect()
    }

    /// docker's `network inspect` object: no IPAM config, no options,
    /// `Containers` as given (the containers in this mode).
    pub fn inspect(
        &self,
        containers: BTreeMap<String, berth_docker::types::network::EndpointResource>,
    ) -> NetworkResource {
        NetworkResource {
            name: self.name.into(),
            id: self.id.clone(),
            created: self.created.clone(),
            scope: "local".into(),
            driver: self.driver.into(),
            enable_ipv6: false,
            ipam: Ipam {
                driver: "default".into(),
                options: None,
                config: Vec::new(),
            },
            internal: false,
            attachable: false,
            ingress: false,
            config_from: ConfigReference::default(),
            config_only: false,
            containers,
            options: BTreeMap::new(),
            labels: BTreeMap::new(),
        }
    }

    /// The facts `network ls --filter` looks at.
    pub fn filter_view(&self) -> super::view::FilterView<'_> {
        super::view::FilterView {
            name: self.name,
            id: &self.id,
            driver: self.driver,
            labels: None,
            builtin: true,
        }
    }
}
