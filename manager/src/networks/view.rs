//! What users see of networks: docker's `network inspect` JSON, `ls`
//! filters, and a container's `NetworkSettings`.

use super::record::{Endpoint, NetworkRecord};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// docker's `network inspect` object; `names` maps container ids to their
/// current names.
pub fn inspect(n: &NetworkRecord, names: &BTreeMap<String, String>) -> Value {
    let containers: serde_json::Map<String, Value> = n
        .endpoints
        .iter()
        .map(|(id, ep)| {
            let name = names
                .get(id)
                .cloned()
                .unwrap_or_else(|| ep.container_name.clone());
            (
                id.clone(),
                json!({
                    "Name": name,
                    "EndpointID": ep.endpoint_id,
                    "MacAddress": ep.mac,
                    "IPv4Address": format!("{}/{}", ep.address, n.subnet.prefix()),
                    "IPv6Address": "",
                }),
            )
        })
        .collect();
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [{"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()}],
        },
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigOnly": false,
        "Containers": containers,
        "Options": n.options,
        "Labels": n.labels,
    })
}

/// One entry of a container's `NetworkSettings.Networks`.
pub fn endpoint_settings(n: &NetworkRecord, ep: &Endpoint) -> Value {
    json!({
        "IPAMConfig": null,
        "Links": null,
        "Aliases": ep.aliases,
        "NetworkID": n.id,
        "EndpointID": if ep.attached { ep.endpoint_id.clone() } else { String::new() },
        "Gateway": if ep.attached { n.gateway.to_string() } else { String::new() },
        "IPAddress": if ep.attached { ep.address.to_string() } else { String::new() },
        "IPPrefixLen": if ep.attached { n.subnet.prefix() } else { 0 },
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": if ep.attached { ep.mac.clone() } else { String::new() },
    })
}

/// Whether `n` passes `network ls --filter` (keys name, id, label, driver;
/// values of one key OR, keys AND). Unknown keys are an error.
pub fn matches(n: &NetworkRecord, filters: &BTreeMap<String, Vec<String>>) -> Result<bool, String> {
    for (key, values) in filters {
        let ok = match key.as_str() {
            "name" => values.iter().any(|v| n.name.contains(v.as_str())),
            "id" => values.iter().any(|v| n.id.starts_with(v.as_str())),
            "driver" => values.iter().any(|v| &n.driver == v),
            "label" => values.iter().any(|v| match v.split_once('=') {
                Some((k, val)) => n.labels.get(k).is_some_and(|x| x == val),
                None => n.labels.contains_key(v),
            }),
            "scope" => values.iter().any(|v| v == "local"),
            "type" => values.iter().any(|v| (v == "builtin") == n.default),
            other => return Err(format!("invalid filter '{other}'")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}
