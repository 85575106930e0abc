//! [`NameTable`]: the names of every user network's attached containers,
//! in memory, kept with the joins and leaves (one insert or removal per
//! container: a join costs the same on an empty network and on a full one).
//!
//! Per network: each name (container name, `--network-alias`es, short id;
//! lower-cased: DNS names are case-insensitive) maps to the containers that
//! answer to it, and each address to its container's name for PTR. A
//! lookup follows docker's `sandbox.ResolveName`: `a.b.c` is tried as a
//! name on every network of the asking container, then `a.b` on a network
//! named `c`, then `a` on a network named `b.c`; the first network with an
//! answer wins.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::RwLock;

/// One container on one network.
#[derive(Debug, Clone)]
struct Entry {
    /// Lower-cased names it answers to.
    names: Vec<String>,
    /// Its name as created (PTR answers `name.network`).
    name: String,
    address: Ipv4Addr,
    /// Its interface there (`eth0` first): the order of its networks.
    interface: String,
    /// Its `--link`s on this network: lower-cased alias -> lower-cased
    /// target name, answered for this container alone (libnetwork's
    /// endpoint aliases).
    links: Vec<(String, String)>,
}

/// The names of one network.
#[derive(Debug, Default)]
struct NetworkNames {
    /// The network's name (lower-cased), for `name.network` lookups.
    name: String,
    by_container: HashMap<String, Entry>,
    /// name -> (container id, address), in join order.
    by_name: HashMap<String, Vec<(String, Ipv4Addr)>>,
    by_address: HashMap<Ipv4Addr, String>,
}

impl NetworkNames {
    fn insert(&mut self, container: &str, entry: Entry) {
        self.remove(container);
        for n in &entry.names {
            let list = self.by_name.entry(n.clone()).or_default();
            if !list.iter().any(|(c, _)| c == container) {
                list.push((container.to_string(), entry.address));
            }
        }
        self.by_address.insert(entry.address, container.to_string());
        self.by_container.insert(container.to_string(), entry);
    }

    fn remove(&mut self, container: &str) {
        let Some(old) = self.by_container.remove(container) else {
            return;
        };
        for n in &old.names {
            if let Some(list) = self.by_name.get_mut(n) {
                list.retain(|(c, _)| c != container);
                if list.is_empty() {
                    self.by_name.remove(n);
                }
            }
        }
        if self.by_address.get(&old.address).map(String::as_str) == Some(container) {
            self.by_address.remove(&old.address);
        }
    }
}

/// Every user network's names; shared by all the containers' resolvers.
#[derive(Debug, Default)]
pub struct NameTable {
    networks: RwLock<HashMap<String, NetworkNames>>,
}

/// What a container on a network answers to: its name, its aliases and
/// its short id (docker adds the short id as an alias on user networks).
pub fn names_of(container_id: &str, name: &str, aliases: &[String]) -> Vec<String> {
    let mut out = vec![name.to_ascii_lowercase()];
    out.extend(aliases.iter().map(|a| a.to_ascii_lowercase()));
    out.push(container_id[..container_id.len().min(12)].to_ascii_lowercase());
    out.dedup();
    out
}

impl NameTable {
    /// Container `container` (named `name`, with `aliases`, and `links`
    /// as `--link` gives them) is on network `network` (id; named
    /// `network_name`) at `address`, on `interface`.
    #[allow(clippy::too_many_arguments)]
    pub fn join(
        &self,
        network: &str,
        network_name: &str,
        container: &str,
        name: &str,
        aliases: &[String],
        links: &[String],
        address: Ipv4Addr,
        interface: &str,
    ) {
        let links = links
            .iter()
            .filter_map(|l| berth_docker::link::parse_link(l).ok())
            .map(|(target, alias)| (alias.to_ascii_lowercase(), target.to_ascii_lowercase()))
            .collect();
        let mut all = self.networks.write().unwrap_or_else(|e| e.into_inner());
        let n = all.entry(network.to_string()).or_default();
        n.name = network_name.to_ascii_lowercase();
        n.insert(
            container,
            Entry {
                names: names_of(container, name, aliases),
                name: name.to_string(),
                address,
                interface: interface.to_string(),
                links,
            },
        );
    }

    /// Container `container` left network `network`.
    pub fn leave(&self, network: &str, container: &str) {
        let mut all = self.networks.write().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = all.get_mut(network) {
            n.remove(container);
            if n.by_container.is_empty() {
                all.remove(network);
            }
        }
    }

    /// Container `container` is now called `name` on every network.
    pub fn rename(&self, container: &str, old: &str, name: &str) {
        let mut all = self.networks.write().unwrap_or_else(|e| e.into_inner());
        for n in all.values_mut() {
            let Some(mut entry) = n.by_container.get(container).cloned() else {
                continue;
            };
            let old = old.to_ascii_lowercase();
            entry.names.retain(|x| *x != old);
            entry.names.insert(0, name.to_ascii_lowercase());
            entry.name = name.to_string();
            n.insert(container, entry);
        }
    }

    /// Whether container `container` is on network `network`.
    pub fn contains(&self, network: &str, container: &str) -> bool {
        let all = self.networks.read().unwrap_or_else(|e| e.into_inner());
        all.get(network)
            .is_some_and(|n| n.by_container.contains_key(container))
    }

    /// The networks (ids) container `container` is on, the one of its
    /// first interface first.
    pub fn networks_of(&self, container: &str) -> Vec<String> {
        let all = self.networks.read().unwrap_or_else(|e| e.into_inner());
        let mut found: Vec<(&str, &String)> = all
            .iter()
            .filter_map(|(id, n)| Some((n.by_container.get(container)?.interface.as_str(), id)))
            .collect();
        found.sort();
        found.into_iter().map(|(_, id)| id.clone()).collect()
    }

    /// The addresses `name` has for container `asking` on `networks` (ids,
    /// its first network first); empty when the name is not ours. As
    /// libnetwork's `ResolveName`, each form of the name is tried first as
    /// one of the asking container's link aliases, then as a name.
    pub fn resolve(&self, asking: &str, networks: &[String], name: &str) -> Vec<Ipv4Addr> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let all = self.networks.read().unwrap_or_else(|e| e.into_inner());
        // (name, network name or "" for all of them), docker's order.
        let mut tries = vec![(name.as_str(), "")];
        let mut cut = name.as_str();
        while let Some(i) = cut.rfind('.') {
            tries.push((&name[..i], &name[i + 1..]));
            cut = &name[..i];
        }
        let lookup = |wanted: &str, network_name: &str, via_link: bool| {
            for id in networks {
                let Some(n) = all.get(id) else { continue };
                if !network_name.is_empty() && n.name != network_name {
                    continue;
                }
                let wanted = if via_link {
                    let Some(me) = n.by_container.get(asking) else {
                        continue;
                    };
                    match me.links.iter().find(|(alias, _)| alias == wanted) {
                        Some((_, target)) => target.as_str(),
                        None => continue,
                    }
                } else {
                    wanted
                };
                if let Some(list) = n.by_name.get(wanted) {
                    if !list.is_empty() {
                        return list.iter().map(|(_, a)| *a).collect();
                    }
                }
            }
            Vec::new()
        };
        for (wanted, network_name) in tries {
            for via_link in [true, false] {
                let found = lookup(wanted, network_name, via_link);
                if !found.is_empty() {
                    return found;
                }
            }
        }
        Vec::new()
    }

    /// The name (`container.network`) of `address` on `networks`.
    pub fn reverse(&self, networks: &[String], address: Ipv4Addr) -> Option<String> {
        let all = self.networks.read().unwrap_or_else(|e| e.into_inner());
        networks.iter().find_map(|id| {
            let n = all.get(id)?;
            let c = n.by_address.get(&address)?;
            let entry = n.by_container.get(c)?;
            Some(format!("{}.{}", entry.name, n.name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C1: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const C2: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    fn table() -> NameTable {
        let t = NameTable::default();
        t.join(
            "n1",
            "front",
            C1,
            "Web",
            &["www".into()],
            &["db:base".into()],
            "172.20.0.2".parse().unwrap(),
            "eth0",
        );
        t.join(
            "n2",
            "back.end",
            C2,
            "db",
            &[],
            &[],
            "172.21.0.2".parse().unwrap(),
            "eth0",
        );
        t
    }

    #[test]
    fn names_aliases_short_ids_on_own_networks_only() {
        let t = table();
        let n1 = vec!["n1".to_string()];
        let a: Ipv4Addr = "172.20.0.2".parse().unwrap();
        assert_eq!(t.resolve(C1, &n1, "web"), [a]);
        assert_eq!(t.resolve(C1, &n1, "WWW."), [a]);
        assert_eq!(t.resolve(C1, &n1, "0123456789ab"), [a]);
        assert_eq!(t.resolve(C1, &n1, "web.front"), [a]);
        assert!(t.resolve(C1, &n1, "web.back.end").is_empty());
        // Another network's names are not seen.
        assert!(t.resolve(C1, &n1, "db").is_empty());
        let both = vec!["n1".to_string(), "n2".to_string()];
        assert_eq!(t.resolve(C1, &both, "db.back.end").len(), 1);
        assert_eq!(t.reverse(&n1, a).as_deref(), Some("Web.front"));
        assert_eq!(t.reverse(&n1, "172.21.0.2".parse().unwrap()), None);
    }

    #[test]
    fn link_aliases_answer_for_the_linking_container_alone() {
        let t = table();
        let db: Ipv4Addr = "172.20.0.9".parse().unwrap();
        t.join("n1", "front", C2, "DB", &[], &[], db, "eth1");
        let n1 = vec!["n1".to_string()];
        assert_eq!(t.resolve(C1, &n1, "base"), [db]);
        assert_eq!(t.resolve(C1, &n1, "BASE.front."), [db]);
        assert!(t.resolve(C2, &n1, "base").is_empty());
        // A link whose target is not on the network answers nothing.
        t.leave("n1", C2);
        assert!(t.resolve(C1, &n1, "base").is_empty());
    }

    #[test]
    fn shared_aliases_leave_and_rename() {
        let t = table();
        let n1 = vec!["n1".to_string()];
        t.join(
            "n1",
            "front",
            C2,
            "api",
            &["www".into()],
            &[],
            "172.20.0.3".parse().unwrap(),
            "eth1",
        );
        assert_eq!(t.networks_of(C2), ["n2", "n1"]);
        assert_eq!(t.resolve(C1, &n1, "www").len(), 2);
        t.leave("n1", C1);
        assert_eq!(
            t.resolve(C1, &n1, "www"),
            ["172.20.0.3".parse::<Ipv4Addr>().unwrap()]
        );
        assert!(t.resolve(C1, &n1, "web").is_empty());
        assert!(!t.contains("n1", C1) && t.contains("n1", C2));
        t.rename(C2, "api", "svc");
        assert!(t.resolve(C1, &n1, "api").is_empty());
        assert_eq!(t.resolve(C1, &n1, "svc").len(), 1);
        t.leave("n1", C2);
        assert!(t.resolve(C1, &n1, "www").is_empty());
    }
}
