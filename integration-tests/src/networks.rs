//! Helpers of the network tests (`tests/networks.rs`): what is on the host
//! (a bridge's ports, links, routes) seen with `ip -j`, as a user would.

use crate::containers::Fixture;
use std::process::Command;

/// Names of the interfaces enslaved to `bridge` (its ports).
pub fn bridge_ports(bridge: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-j", "link", "show", "master", bridge])
        .output()
        .expect("run ip");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["ifname"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a host interface `name` exists.
pub fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Every veth on the host (`ip -j link show type veth`).
pub fn host_veths() -> Vec<String> {
    let out = Command::new("ip")
        .args(["-j", "link", "show", "type", "veth"])
        .output()
        .expect("run ip");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["ifname"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// How many rules the nftables table `table` (family ip) holds; 0 when it
/// does not exist.
pub fn nft_rule_count(table: &str) -> usize {
    let out = Command::new("nft")
        .args(["-j", "list", "table", "ip", table])
        .output();
    let Ok(out) = out else { return 0 };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["nftables"]
        .as_array()
        .map(|a| a.iter().filter(|o| o.get("rule").is_some()).count())
        .unwrap_or(0)
}

/// `berth network inspect NAME`, parsed (the one object).
pub fn network_inspect(f: &Fixture, name: &str) -> serde_json::Value {
    let out = f.ok(&["network", "inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("network inspect JSON");
    v[0].clone()
}

/// A network name unique to this test (`bt...`).
pub fn network_name(f: &Fixture, what: &str) -> String {
    f.name(what)
}

/// The ids (12 digits) of this berthd's network `name`'s bridge: `br-<id>`.
pub fn bridge_of(f: &Fixture, name: &str) -> String {
    let n = network_inspect(f, name);
    if n["Name"] == "bridge" {
        return f.d.bridge.clone();
    }
    format!("br-{}", &n["Id"].as_str().expect("Id")[..12])
}
