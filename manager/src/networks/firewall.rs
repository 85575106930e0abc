//! berthd's nftables table: published ports (DNAT), the loopback path to
//! them, and the isolation of our bridges.
//!
//! Everything lives in ONE table of our own, `ip <table>` (daemon.json
//! `"nft-table"`, default `berth`). berthd never touches another table and
//! never flushes the ruleset; every change is one `nft -j -f -` transaction
//! built with the `nftables` crate's typed JSON schema (libnftables-json(5)).
//!
//! ```text
//! table ip <table>
//!   chain localnet     filter hook prerouting  prio raw      per bridge, comment "bridge <name>":
//!                          iifname B ip daddr 127.0.0.0/8 drop
//!   chain prerouting   nat    hook prerouting  prio dstnat   fib daddr type local jump ports
//!   chain output       nat    hook output      prio dstnat   fib daddr type local jump ports
//!   chain ports        (regular)  per published port, comment "container <id>":
//!                          [ip daddr IP] tcp|udp dport HOST dnat to CIP:CTR
//!   chain postrouting  nat    hook postrouting prio srcnat   per bridge, comment "bridge <name>":
//!                          ip saddr 127.0.0.0/8 oifname B masquerade
//!   chain forward      filter hook forward     prio filter   per bridge, comment "bridge <name>":
//!                          iifname B oifname B accept
//!                          iifname B drop
//!                          oifname B ct state established,related accept
//!                          oifname B drop
//! ```
//!
//! Rule counts: one rule per published port (per container: as many rules
//! as `-p` bindings, nothing else); six rules per bridge; two jumps.
//! Rules are found again by their comment and deleted by handle.
//!
//! Loopback path (`wget 127.0.0.1:HOST` on the host): the output chain
//! DNATs the host's own connection to the container; the kernel then routes
//! a packet with source 127.0.0.1 out of the bridge, which it only allows
//! with `net.ipv4.conf.<bridge>.route_localnet=1` (set per bridge, never
//! globally), and the postrouting rule masquerades that source to the
//! bridge's address, so the container answers the bridge and conntrack
//! turns the reply back. This NATs host-to-container traffic on the host
//! only: no rule ever masquerades traffic leaving the host, and berthd
//! never enables ip_forward. We chose this over a userland proxy (docker's
//! docker-proxy) because it costs no process or copy per port and the
//! kernel does the work; the price is route_localnet on our bridges, which
//! only concerns packets to/from 127/8 on those bridges.
//!
//! That price has to be paid back: with route_localnet a bridge also
//! accepts packets *addressed to* 127/8, so any container (CAP_NET_RAW is
//! in the default set) could write a frame to the gateway's MAC for
//! 127.0.0.1:PORT and reach host services bound to loopback only (the
//! CVE-2020-8558 pattern). The `localnet` chain drops everything arriving
//! from one of our bridges with a 127/8 destination, at priority raw:
//! before conntrack and NAT, so the container's legitimate answers on the
//! loopback path (addressed to the gateway, turned back into 127.0.0.1
//! only later by conntrack) still pass.
//!
//! Isolation: traffic entering from one of our bridges may leave only by
//! the same bridge (so nothing is routed between networks or out of the
//! host even if ip_forward is on); traffic arriving on our bridges from
//! anywhere else is dropped unless it belongs to a connection already
//! established (replies). Traffic between containers of one bridge is
//! switched by the bridge and never reaches these hooks (no br_netfilter).

use nftables::batch::Batch;
use nftables::expr::{Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression};
use nftables::expr::{Payload, PayloadField, Prefix, CT};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{JumpTarget, Match, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use super::ports::PublishedPort;

/// What a firewall change can fail with.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// `nft` could not be run at all.
    #[error("run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// `nft` refused the change; `stderr` is its own message.
    #[error("nft {what} in table ip {table}: {stderr}")]
    Nft {
        what: String,
        table: String,
        stderr: String,
    },
    /// `nft -j list` answered something that is not its JSON.
    #[error("read nft -j list table ip {table}: {message}")]
    Listing { table: String, message: String },
    /// A sysctl of a bridge could not be set.
    #[error("set {path}: {source}")]
    Sysctl {
        path: String,
        source: std::io::Error,
    },
    /// A table name nft would not take.
    #[error("invalid nft table name {0:?} (letters, digits and _ only, at most 32)")]
    TableName(String),
}

/// A bridge of ours and its subnet (the isolation and loopback rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    /// The host interface (`berth0`, `br-<id12>`).
    pub name: String,
    /// Its IPv4 subnet, `(network address, prefix length)`.
    pub subnet: (Ipv4Addr, u8),
}

/// A running container's published ports, DNAT'd to its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortForward {
    pub container_id: String,
    pub container_ip: Ipv4Addr,
    pub ports: Vec<PublishedPort>,
}

/// The six base/regular chains of the table.
const CHAIN_LOCALNET: &str = "localnet";
const CHAIN_PREROUTING: &str = "prerouting";
const CHAIN_OUTPUT: &str = "output";
const CHAIN_POSTROUTING: &str = "postrouting";
const CHAIN_FORWARD: &str = "forward";
const CHAIN_PORTS: &str = "ports";

/// nft's priority names as numbers (nft(8) "CHAIN PRIORITIES", ip family).
const PRIORITY_RAW: i32 = -300;
const PRIORITY_DSTNAT: i32 = -100;
const PRIORITY_FILTER: i32 = 0;
const PRIORITY_SRCNAT: i32 = 100;

/// The comment that marks a container's rules.
pub fn container_comment(id: &str) -> String {
    format!("container {id}")
}

/// The comment that marks a bridge's rules.
pub fn bridge_comment(name: &str) -> String {
    format!("bridge {name}")
}

/// berthd's table, driven through `nft -j`.
#[derive(Debug)]
pub struct Firewall {
    table: String,
    /// The `nft` binary (PATH lookup by default).
    program: String,
    /// Serialises list-then-delete sequences.
    lock: Mutex<()>,
}

fn s(v: &str) -> Expression<'static> {
    Expression::String(Cow::Owned(v.to_string()))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn payload(protocol: &str, field: &str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Owned(protocol.to_string()),
            field: Cow::Owned(field.to_string()),
        },
    )))
}

fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn eq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    matches(left, Operator::EQ, right)
}

/// `fib daddr type local`: the packet is for one of the host's addresses.
fn to_local_address() -> Statement<'static> {
    eq(
        Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags: HashSet::from([FibFlag::Daddr]),
        })),
        s("local"),
    )
}

impl Firewall {
    /// The firewall of table `ip <table>`; touches nothing yet.
    pub fn new(table: &str) -> Result<Firewall, FirewallError> {
        if table.is_empty()
            || table.len() > 32
            || !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || table.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(FirewallError::TableName(table.to_string()));
        }
        Ok(Firewall {
            table: table.to_string(),
            program: "nft".into(),
            lock: Mutex::new(()),
        })
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn rule(
        &self,
        chain: &str,
        expr: Vec<Statement<'static>>,
        comment: &str,
    ) -> NfListObject<'static> {
        NfListObject::Rule(Rule {
            family: NfFamily::IP,
            table: Cow::Owned(self.table.clone()),
            chain: Cow::Owned(chain.to_string()),
            expr: Cow::Owned(expr),
            comment: (!comment.is_empty()).then(|| Cow::Owned(comment.to_string())),
            ..Rule::default()
        })
    }

    fn chain(&self, name: &str, base: Option<(NfChainType, NfHook, i32)>) -> NfListObject<'static> {
        NfListObject::Chain(Chain {
            family: NfFamily::IP,
            table: Cow::Owned(self.table.clone()),
            name: Cow::Owned(name.to_string()),
            _type: base.map(|b| b.0),
            hook: base.map(|b| b.1),
            prio: base.map(|b| b.2),
            policy: base.map(|_| NfChainPolicy::Accept),
            ..Chain::default()
        })
    }

    fn table_object(&self) -> NfListObject<'static> {
        NfListObject::Table(Table {
            family: NfFamily::IP,
            name: Cow::Owned(self.table.clone()),
            handle: None,
        })
    }

    /// The rules of one bridge (127/8 guard, forward isolation, loopback
    /// masquerade).
    fn bridge_rules(&self, bridge: &BridgeRules) -> Vec<NfListObject<'static>> {
        let c = bridge_comment(&bridge.name);
        let iif = || eq(meta(MetaKey::Iifname), s(&bridge.name));
        let oif = || eq(meta(MetaKey::Oifname), s(&bridge.name));
        let loopback_net = || {
            Expression::Named(NamedExpression::Prefix(Prefix {
                addr: Box::new(s("127.0.0.0")),
                len: 8,
            }))
        };
        vec![
            self.rule(
                CHAIN_LOCALNET,
                vec![
                    iif(),
                    eq(payload("ip", "daddr"), loopback_net()),
                    Statement::Drop(None),
                ],
                &c,
            ),
            self.rule(
                CHAIN_FORWARD,
                vec![iif(), oif(), Statement::Accept(None)],
                &c,
            ),
            self.rule(CHAIN_FORWARD, vec![iif(), Statement::Drop(None)], &c),
            self.rule(
                CHAIN_FORWARD,
                vec![
                    oif(),
                    matches(
                        Expression::Named(NamedExpression::CT(CT {
                            key: Cow::Borrowed("state"),
                            family: None,
                            dir: None,
                        })),
                        Operator::IN,
                        Expression::List(vec![s("established"), s("related")]),
                    ),
                    Statement::Accept(None),
                ],
                &c,
            ),
            self.rule(CHAIN_FORWARD, vec![oif(), Statement::Drop(None)], &c),
            self.rule(
                CHAIN_POSTROUTING,
                vec![
                    eq(payload("ip", "saddr"), loopback_net()),
                    oif(),
                    Statement::Masquerade(None),
                ],
                &c,
            ),
        ]
    }

    /// The DNAT rules of one container.
    fn port_rules(&self, forward: &PortForward) -> Vec<NfListObject<'static>> {
        let c = container_comment(&forward.container_id);
        forward
            .ports
            .iter()
            .map(|p| {
                let mut expr = Vec::new();
                if !p.host_ip.is_unspecified() {
                    expr.push(eq(payload("ip", "daddr"), s(&p.host_ip.to_string())));
                }
                expr.push(eq(
                    payload(p.proto.as_str(), "dport"),
                    Expression::Number(p.host_port as u32),
                ));
                expr.push(Statement::DNAT(Some(NAT {
                    addr: Some(s(&forward.container_ip.to_string())),
                    family: None,
                    port: Some(Expression::Number(p.container_port as u32)),
                    flags: None,
                })));
                self.rule(CHAIN_PORTS, expr, &c)
            })
            .collect()
    }

    /// The table, its chains and the two jumps to `ports`.
    fn skeleton(&self, batch: &mut Batch<'static>) {
        batch.add(self.table_object());
        batch.add(self.chain(
            CHAIN_LOCALNET,
            Some((NfChainType::Filter, NfHook::Prerouting, PRIORITY_RAW)),
        ));
        batch.add(self.chain(
            CHAIN_PREROUTING,
            Some((NfChainType::NAT, NfHook::Prerouting, PRIORITY_DSTNAT)),
        ));
        batch.add(self.chain(
            CHAIN_OUTPUT,
            Some((NfChainType::NAT, NfHook::Output, PRIORITY_DSTNAT)),
        ));
        batch.add(self.chain(
            CHAIN_POSTROUTING,
            Some((NfChainType::NAT, NfHook::Postrouting, PRIORITY_SRCNAT)),
        ));
        batch.add(self.chain(
            CHAIN_FORWARD,
            Some((NfChainType::Filter, NfHook::Forward, PRIORITY_FILTER)),
        ));
        batch.add(self.chain(CHAIN_PORTS, None));
        for chain in [CHAIN_PREROUTING, CHAIN_OUTPUT] {
            batch.add(self.rule(
                chain,
                vec![
                    to_local_address(),
                    Statement::Jump(JumpTarget {
                        target: Cow::Borrowed(CHAIN_PORTS),
                    }),
                ],
                "",
            ));
        }
    }

    /// Makes the table anew in one transaction: our table (only ours) is
    /// deleted and recreated with its chains, every bridge's rules and
    /// every running container's ports. Used at berthd start (the truth is
    /// redb's) so rules of containers that ended while berthd was down go.
    /// With nothing to add, the table is only deleted (it is made again by
    /// the first bridge or published port).
    pub fn rebuild(
        &self,
        bridges: &[BridgeRules],
        forwards: &[PortForward],
    ) -> Result<(), FirewallError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = Batch::new();
        // "add" then "delete": deleting a table that does not exist fails.
        batch.add(self.table_object());
        batch.delete(self.table_object());
        if bridges.is_empty() && forwards.iter().all(|f| f.ports.is_empty()) {
            return self.apply(batch.to_nftables(), "delete empty table");
        }
        self.skeleton(&mut batch);
        for b in bridges {
            set_route_localnet(&b.name)?;
            for r in self.bridge_rules(b) {
                batch.add(r);
            }
        }
        for f in forwards {
            for r in self.port_rules(f) {
                batch.add(r);
            }
        }
        self.apply(batch.to_nftables(), "rebuild")
    }

    /// A batch that first deletes the rules commented `comment` (or, when
    /// our table does not exist yet, makes the table).
    fn replacing(&self, comment: &str) -> Result<Batch<'static>, FirewallError> {
        let mut batch = Batch::new();
        match self.deletions(comment)? {
            Some(deletions) => {
                for r in deletions {
                    batch.delete(r);
                }
            }
            None => self.skeleton(&mut batch),
        }
        Ok(batch)
    }

    /// Adds (or re-adds) a bridge's isolation and loopback rules and sets
    /// its route_localnet; the bridge must exist.
    pub fn add_bridge(&self, name: &str, subnet: (Ipv4Addr, u8)) -> Result<(), FirewallError> {
        set_route_localnet(name)?;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = self.replacing(&bridge_comment(name))?;
        let bridge = BridgeRules {
            name: name.to_string(),
            subnet,
        };
        for r in self.bridge_rules(&bridge) {
            batch.add(r);
        }
        self.apply(batch.to_nftables(), &format!("add bridge {name}"))
    }

    /// Removes a bridge's rules (none there: nothing to do).
    pub fn remove_bridge(&self, name: &str) -> Result<(), FirewallError> {
        self.delete_commented(&bridge_comment(name), &format!("remove bridge {name}"))
    }

    /// DNATs container `id`'s published ports to `container_ip` (its rules
    /// from an earlier run, if any, are replaced).
    pub fn publish(&self, forward: &PortForward) -> Result<(), FirewallError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = self.replacing(&container_comment(&forward.container_id))?;
        for r in self.port_rules(forward) {
            batch.add(r);
        }
        self.apply(
            batch.to_nftables(),
            &format!("publish ports of container {}", forward.container_id),
        )
    }

    /// Removes container `id`'s DNAT rules (none there: nothing to do).
    pub fn unpublish(&self, id: &str) -> Result<(), FirewallError> {
        self.delete_commented(
            &container_comment(id),
            &format!("unpublish ports of container {id}"),
        )
    }

    /// Deletes the whole table (tests, and a berthd told to clean up).
    pub fn delete_table(&self) -> Result<(), FirewallError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = Batch::new();
        batch.add(self.table_object());
        batch.delete(self.table_object());
        self.apply(batch.to_nftables(), "delete table")
    }

    /// How many rules carry `comment` (tests, benchmarks, `berth` debug).
    pub fn count_rules(&self, comment: &str) -> Result<usize, FirewallError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self.deletions(comment)?.map(|d| d.len()).unwrap_or(0))
    }

    fn delete_commented(&self, comment: &str, what: &str) -> Result<(), FirewallError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let deletions = self.deletions(comment)?.unwrap_or_default();
        if deletions.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new();
        for r in deletions {
            batch.delete(r);
        }
        self.apply(batch.to_nftables(), what)
    }

    /// The rules of our table whose comment is `comment`, as delete
    /// objects (chain + handle); `None` when the table does not exist.
    fn deletions(
        &self,
        comment: &str,
    ) -> Result<Option<Vec<NfListObject<'static>>>, FirewallError> {
        let output = Command::new(&self.program)
            .args(["-j", "list", "table", "ip", &self.table])
            .stdin(Stdio::null())
            .output()
            .map_err(|source| FirewallError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if stderr.contains("No such file or directory") {
                return Ok(None);
            }
            return Err(FirewallError::Nft {
                what: "list".into(),
                table: self.table.clone(),
                stderr: stderr.trim().to_string(),
            });
        }
        let listing: serde_json::Value =
            serde_json::from_slice(&output.stdout).map_err(|e| FirewallError::Listing {
                table: self.table.clone(),
                message: e.to_string(),
            })?;
        Ok(Some(
            rules_with_comment(&listing, comment)
                .into_iter()
                .map(|(chain, handle)| {
                    NfListObject::Rule(Rule {
                        family: NfFamily::IP,
                        table: Cow::Owned(self.table.clone()),
                        chain: Cow::Owned(chain),
                        handle: Some(handle),
                        ..Rule::default()
                    })
                })
                .collect(),
        ))
    }

    /// One `nft -j -f -` transaction (all or nothing).
    fn apply(&self, ruleset: Nftables<'_>, what: &str) -> Result<(), FirewallError> {
        let payload = serde_json::to_vec(&ruleset).expect("nftables JSON serialises");
        let spawn_err = |source| FirewallError::Spawn {
            program: self.program.clone(),
            source,
        };
        let mut child = Command::new(&self.program)
            .args(["-j", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(&payload).map_err(spawn_err)?;
        }
        let output = child.wait_with_output().map_err(spawn_err)?;
        if !output.status.success() {
            return Err(FirewallError::Nft {
                what: what.to_string(),
                table: self.table.clone(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(())
    }
}

/// (chain, handle) of every rule in an `nft -j list` answer whose comment
/// is exactly `comment`.
fn rules_with_comment(listing: &serde_json::Value, comment: &str) -> Vec<(String, u32)> {
    listing["nftables"]
        .as_array()
        .map(|objects| {
            objects
                .iter()
                .filter_map(|o| o.get("rule"))
                .filter(|r| r["comment"].as_str() == Some(comment))
                .filter_map(|r| {
                    Some((
                        r["chain"].as_str()?.to_string(),
                        r["handle"].as_u64()? as u32,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `net.ipv4.conf.<bridge>.route_localnet = 1`: lets the host route its
/// own 127.0.0.1-sourced connections, DNAT'd to a container, out of this
/// bridge (ip-sysctl.rst, route_localnet). Per bridge, never `all`.
fn set_route_localnet(bridge: &str) -> Result<(), FirewallError> {
    let path = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    std::fs::write(&path, "1").map_err(|source| FirewallError::Sysctl { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::networks::ports::Protocol;

    #[test]
    fn table_names_are_checked() {
        assert!(Firewall::new("berth").is_ok());
        assert!(Firewall::new("bt_a1").is_ok());
        for bad in ["", "a b", "x;flush ruleset", "1abc", &"a".repeat(33)] {
            assert!(Firewall::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_are_the_documented_json() {
        let fw = Firewall::new("bt").unwrap();
        let f = PortForward {
            container_id: "abc".into(),
            container_ip: Ipv4Addr::new(10, 0, 0, 2),
            ports: vec![
                PublishedPort {
                    proto: Protocol::Tcp,
                    container_port: 80,
                    host_ip: Ipv4Addr::LOCALHOST,
                    host_port: 8080,
                },
                PublishedPort {
                    proto: Protocol::Udp,
                    container_port: 53,
                    host_ip: Ipv4Addr::UNSPECIFIED,
                    host_port: 5353,
                },
            ],
        };
        let rules = fw.port_rules(&f);
        assert_eq!(rules.len(), 2);
        let v = serde_json::to_value(&rules[0]).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"rule": {
                "family": "ip", "table": "bt", "chain": "ports", "comment": "container abc",
                "expr": [
                    {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "127.0.0.1"}},
                    {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}},
                    {"dnat": {"addr": "10.0.0.2", "port": 80}}
                ]
            }})
        );
        let v = serde_json::to_value(&rules[1]).unwrap();
        assert_eq!(v["rule"]["expr"].as_array().unwrap().len(), 2);
        let bridge = BridgeRules {
            name: "bt0".into(),
            subnet: (Ipv4Addr::new(10, 0, 0, 0), 24),
        };
        let rules = fw.bridge_rules(&bridge);
        assert_eq!(rules.len(), 6);
        // The 127/8 guard: first, in its own raw-priority prerouting chain.
        assert_eq!(
            serde_json::to_value(&rules[0]).unwrap(),
            serde_json::json!({"rule": {
                "family": "ip", "table": "bt", "chain": "localnet", "comment": "bridge bt0",
                "expr": [
                    {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "bt0"}},
                    {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                               "right": {"prefix": {"addr": "127.0.0.0", "len": 8}}}},
                    {"drop": null}
                ]
            }})
        );
        let mut batch = Batch::new();
        fw.skeleton(&mut batch);
        let skeleton = serde_json::to_value(batch.to_nftables()).unwrap();
        let guard = skeleton["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["add"]["chain"]["name"] == "localnet")
            .expect("the localnet chain is in the skeleton");
        assert_eq!(guard["add"]["chain"]["hook"], "prerouting");
        assert_eq!(guard["add"]["chain"]["type"], "filter");
        // Before conntrack (-200) and DNAT (-100): the loopback path's
        // answers are still addressed to the gateway there.
        assert_eq!(guard["add"]["chain"]["prio"], -300);
    }

    #[test]
    fn listed_rules_are_found_by_comment() {
        let listing = serde_json::json!({"nftables": [
            {"metainfo": {}},
            {"table": {"family": "ip", "name": "bt"}},
            {"rule": {"chain": "ports", "handle": 7, "comment": "container abc"}},
            {"rule": {"chain": "ports", "handle": 8, "comment": "container abcd"}},
            {"rule": {"chain": "forward", "handle": 9}},
            {"rule": {"chain": "output", "handle": 10, "comment": "container abc"}},
        ]});
        assert_eq!(
            rules_with_comment(&listing, "container abc"),
            vec![("ports".to_string(), 7), ("output".to_string(), 10)]
        );
        assert!(rules_with_comment(&serde_json::json!({}), "x").is_empty());
    }
}
