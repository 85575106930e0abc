//! What users see of networks: docker's `network inspect` JSON, `ls`
//! filters, and a container's `NetworkSettings`.

use super::record::{Endpoint, NetworkRecord};
use berth_docker::types::container::{EndpointIpamConfig, EndpointSettings};
use berth_docker::types::network::{
    ConfigReference, EndpointResource, Ipam, IpamConfig, NetworkResource,
};
use std::collections::BTreeMap;

/// docker's `network inspect` object; `names` maps container ids to their
/// current names.
pub fn inspect(n: &NetworkRecord, names: &BTreeMap<String, String>) -> NetworkResource {
    let containers = n
        .endpoints
        .iter()
        .map(|(id, ep)| {
            let name = names
                .get(id)
                .cloned()
                .unwrap_or_else(|| ep.container_name.clone());
            (
                id.clone(),
                EndpointResource {
                    name,
                    endpoint_id: ep.endpoint_id.clone(),
                    mac_address: ep.mac.clone(),
                    ipv4_address: format!("{}/{}", ep.address, n.subnet.prefix()),
                    ipv6_address: String::new(),
                },
            )
        })
        .collect();
    NetworkResource {
        name: n.name.clone(),
        id: n.id.clone(),
        created: n.created.clone(),
        scope: "local".into(),
        driver: n.driver.clone(),
        enable_ipv6: false,
        ipam: Ipam {
            driver: "default".into(),
            options: Some(BTreeMap::new()),
            config: vec![IpamConfig {
                subnet: n.subnet.to_string(),
                ip_range: String::new(),
                gateway: n.gateway.to_string(),
            }],
        },
        internal: n.internal,
        attachable: false,
        ingress: false,
        config_from: ConfigReference::default(),
        config_only: false,
        containers,
        options: n.options.clone(),
        labels: n.labels.clone(),
    }
}

/// One entry of a container's `NetworkSettings.Networks`.
pub fn endpoint_settings(n: &NetworkRecord, ep: &Endpoint) -> EndpointSettings {
    let attached = |s: String| if ep.attached { s } else { String::new() };
    let ipam_config =
        (ep.requested_address || !ep.link_local.is_empty()).then(|| EndpointIpamConfig {
            ipv4_address: if ep.requested_address {
                ep.address.to_string()
            } else {
                String::new()
            },
            ipv6_address: String::new(),
            link_local_ips: (!ep.link_local.is_empty())
                .then(|| ep.link_local.iter().map(|a| a.to_string()).collect()),
        });
    EndpointSettings {
        ipam_config,
        links: (!ep.links.is_empty()).then(|| ep.links.clone()),
        aliases: (!ep.aliases.is_empty()).then(|| ep.aliases.clone()),
        network_id: n.id.clone(),
        endpoint_id: attached(ep.endpoint_id.clone()),
        gateway: attached(n.gateway.to_string()),
        ip_address: attached(ep.address.to_string()),
        ip_prefix_len: if ep.attached {
            n.subnet.prefix() as i64
        } else {
            0
        },
        mac_address: attached(ep.mac.clone()),
        ..EndpointSettings::default()
    }
}

/// What `network ls --filter` looks at, for stored networks and the
/// predefined `host` and `none` alike.
pub struct FilterView<'a> {
    pub name: &'a str,
    pub id: &'a str,
    pub driver: &'a str,
    pub labels: Option<&'a BTreeMap<String, String>>,
    /// docker's `type=builtin` (predefined) rather than `custom`.
    pub builtin: bool,
}

impl<'a> FilterView<'a> {
    /// The facts of a stored network.
    pub fn of(n: &'a NetworkRecord) -> FilterView<'a> {
        FilterView {
            name: &n.name,
            id: &n.id,
            driver: &n.driver,
            labels: Some(&n.labels),
            builtin: n.default,
        }
    }
}

/// Whether `n` passes `network ls --filter` (keys name, id, label, driver;
/// values of one key OR, keys AND). Unknown keys are an error.
pub fn matches(
    n: &FilterView<'_>,
    filters: &BTreeMap<String, Vec<String>>,
) -> Result<bool, String> {
    let label = |k: &str| n.labels.and_then(|l| l.get(k));
    for (key, values) in filters {
        let ok = match key.as_str() {
            "name" => values.iter().any(|v| n.name.contains(v.as_str())),
            "id" => values.iter().any(|v| n.id.starts_with(v.as_str())),
            "driver" => values.iter().any(|v| n.driver == v),
            "label" => values.iter().any(|v| match v.split_once('=') {
                Some((k, val)) => label(k).is_some_and(|x| x == val),
                None => label(v).is_some(),
            }),
            "scope" => values.iter().any(|v| v == "local"),
            "type" => values.iter().any(|v| (v == "builtin") == n.builtin),
            other => return Err(format!("invalid filter '{other}'")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}
