//! Published ports: docker's `-p`/`-P`/`--expose` grammar, and the host port
//! reservations berthd holds for each running container.
//!
//! ```text
//! -p [IP:][HOST[-HOST_END]:]CTR[-CTR_END][/tcp|udp]
//!    -p 8080:80         0.0.0.0:8080 -> 80/tcp
//!    -p 127.0.0.1:8080:80/udp
//!    -p 127.0.0.1::80   a random host port on 127.0.0.1
//!    -p 80              a random host port on 0.0.0.0
//!    -p 8000-8001:80-81 one binding per port, pairwise
//!    -p 8000-8010:80    the first free host port of the range
//! -P                    every port the image EXPOSEs and every --expose, random host ports
//! ```
//!
//! A binding is parsed at `create` (bad specs are a clear `invalid ...`
//! error naming the spec, nothing is created) and made real at each start:
//! [`Reservations::reserve`] binds a socket on `IP:HOST/PROTO` and keeps it
//! open without ever accepting (docker-proxy does the same), so the port
//! cannot be taken by anyone else while the container runs, a port someone
//! already holds is an error at `run`/`start`, and a random host port is
//! whatever the kernel picks for `bind(IP:0)`. The DNAT rules themselves are
//! the firewall's ([`super::firewall`]); the packets never reach these
//! sockets, because NAT rewrites the destination before the socket lookup.

use berth_docker::types::container::{Empty, PortBinding as DockerPortBinding, PortMap};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::sync::Mutex;

/// What a port spec or a reservation can fail with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortError {
    /// A `-p`/`--expose` value that does not parse; names the spec.
    #[error("invalid port spec {spec:?}: {reason}")]
    InvalidSpec { spec: String, reason: String },
    /// The host port is held by another container of this berthd.
    #[error("Bind for {ip}:{port} failed: port is already allocated")]
    Allocated { ip: Ipv4Addr, port: u16 },
    /// bind(2) refused the address (another process holds it, or the
    /// address is not the host's).
    #[error("bind {ip}:{port}/{proto} failed: {message}")]
    Bind {
        ip: Ipv4Addr,
        port: u16,
        proto: Protocol,
        message: String,
    },
    /// Every port of a host range is taken.
    #[error("bind {ip}:{start}-{end}/{proto} failed: every port of the range is in use")]
    RangeExhausted {
        ip: Ipv4Addr,
        start: u16,
        end: u16,
        proto: Protocol,
    },
    /// Something berth does not do (yet).
    #[error("not implemented: {0}")]
    NotImplemented(String),
}

/// The transport protocols berth publishes (docker also knows sctp).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl Protocol {
    /// docker's spelling (`tcp`, `udp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    fn parse(spec: &str, s: &str) -> Result<Protocol, PortError> {
        match s.to_ascii_lowercase().as_str() {
            "" | "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Err(PortError::InvalidSpec {
                spec: spec.to_string(),
                reason: "protocol sctp is not supported (tcp or udp)".into(),
            }),
            other => Err(PortError::InvalidSpec {
                spec: spec.to_string(),
                reason: format!("invalid proto: {other}"),
            }),
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One requested binding: a container port and where on the host it goes.
/// Persisted in the container's config (`HostConfig.PortBindings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    pub proto: Protocol,
    pub container_port: u16,
    /// `0.0.0.0`: every address of the host.
    pub host_ip: Ipv4Addr,
    /// The host port, or the first of a range; 0: a random port.
    pub host_port: u16,
    /// The last port of a host range (== `host_port` for one port).
    pub host_port_end: u16,
    /// Whether the host IP was given (docker shows `""` for HostIp otherwise).
    #[serde(default)]
    pub host_ip_given: bool,
}

impl PortBinding {
    /// docker's `HostPort` string of the request ("" when random, "8000-8010").
    pub fn host_port_text(&self) -> String {
        match (self.host_port, self.host_port_end) {
            (0, _) => String::new(),
            (a, b) if a == b => a.to_string(),
            (a, b) => format!("{a}-{b}"),
        }
    }
}

/// A binding in effect while the container runs (`NetworkSettings.Ports`,
/// the DNAT rules, `berth port`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PublishedPort {
    pub proto: Protocol,
    pub container_port: u16,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
}

impl std::fmt::Display for PublishedPort {
    /// docker's `ps` form: `0.0.0.0:8080->80/tcp`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}->{}/{}",
            self.host_ip, self.host_port, self.container_port, self.proto
        )
    }
}

fn invalid(spec: &str, reason: impl Into<String>) -> PortError {
    PortError::InvalidSpec {
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

/// `N` or `N-M` with 1 <= N <= M <= 65535.
fn parse_range(spec: &str, what: &str, s: &str) -> Result<(u16, u16), PortError> {
    let port = |p: &str| -> Result<u16, PortError> {
        match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
            _ => Err(invalid(spec, format!("invalid {what}: {s}"))),
        }
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if a > b {
                return Err(invalid(spec, format!("invalid {what} range: {s}")));
            }
            Ok((a, b))
        }
        None => {
            let p = port(s)?;
            Ok((p, p))
        }
    }
}

/// Parses one `-p` value into its bindings (one per container port).
pub fn parse_publish(spec: &str) -> Result<Vec<PortBinding>, PortError> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, Protocol::parse(spec, p)?),
        None => (spec, Protocol::Tcp),
    };
    if rest.starts_with('[') {
        return Err(PortError::NotImplemented(format!(
            "IPv6 host addresses in port spec {spec:?} (berth publishes on IPv4)"
        )));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => return Err(invalid(spec, "too many colons")),
    };
    if container.is_empty() {
        return Err(invalid(
            spec,
            "no port specified: the container port is missing",
        ));
    }
    let (host_ip, host_ip_given) = if ip.is_empty() {
        (Ipv4Addr::UNSPECIFIED, false)
    } else {
        let addr = ip
            .parse::<Ipv4Addr>()
            .map_err(|_| invalid(spec, format!("invalid IP address: {ip}")))?;
        (addr, true)
    };
    let (c_start, c_end) = parse_range(spec, "containerPort", container)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_range(spec, "hostPort", host)?)
    };
    let count = (c_end - c_start) as u32 + 1;
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        let container_port = c_start + i as u16;
        let (host_port, host_port_end) = match host_range {
            None => (0, 0),
            Some((h_start, h_end)) if count == 1 => (h_start, h_end),
            Some((h_start, h_end)) => {
                if (h_end - h_start) as u32 + 1 != count {
                    return Err(invalid(
                        spec,
                        format!(
                            "invalid ranges specified for container and host ports: {container} and {host}"
                        ),
                    ));
                }
                (h_start + i as u16, h_start + i as u16)
            }
        };
        out.push(PortBinding {
            proto,
            container_port,
            host_ip,
            host_port,
            host_port_end,
            host_ip_given,
        });
    }
    Ok(out)
}

/// Parses one `--expose` value (`80`, `80/udp`, `8000-8010/tcp`) or one
/// image `ExposedPorts` key into (port, protocol) pairs.
pub fn parse_expose(spec: &str) -> Result<Vec<(u16, Protocol)>, PortError> {
    let (ports, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, Protocol::parse(spec, p)?),
        None => (spec, Protocol::Tcp),
    };
    if ports.contains(':') {
        return Err(invalid(
            spec,
            "--expose takes a port or a range, not a mapping",
        ));
    }
    let (a, b) = parse_range(spec, "port", ports)?;
    Ok((a..=b).map(|p| (p, proto)).collect())
}

/// The ports a container exposes: the image's `ExposedPorts`, `--expose`,
/// and every published port (docker adds those to the config's
/// ExposedPorts too). Image ports berth cannot publish (sctp) are left out.
pub fn exposed_ports(
    image_exposed: &BTreeSet<String>,
    expose: &[String],
    publish: &[PortBinding],
) -> Result<BTreeSet<(u16, Protocol)>, PortError> {
    let mut out = BTreeSet::new();
    for spec in image_exposed {
        if let Ok(ports) = parse_expose(spec) {
            out.extend(ports);
        }
    }
    for spec in expose {
        out.extend(parse_expose(spec)?);
    }
    out.extend(publish.iter().map(|b| (b.container_port, b.proto)));
    Ok(out)
}

/// A container's ports: what it asked for (parsed at create) and, while
/// it runs, what it got. Kept in the container's record, so a restarted
/// berthd can rebuild the rules and re-bind the host ports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerPorts {
    /// The `-p` bindings (docker's `HostConfig.PortBindings`).
    pub bindings: Vec<PortBinding>,
    /// `-P`: every exposed port not in `bindings` gets a random host port.
    pub publish_all: bool,
    /// The image's `ExposedPorts`, `--expose` and the published ports.
    pub exposed: BTreeSet<(u16, Protocol)>,
    /// While running: the container address the DNAT rules point at.
    pub container_ip: Option<Ipv4Addr>,
    /// While running: the host ports it holds.
    pub published: Vec<PublishedPort>,
}

impl ContainerPorts {
    /// Parses a container's `-p`, `-P` and `--expose` against its image's
    /// `ExposedPorts` (at create: a bad spec creates nothing).
    pub fn from_options(
        publish: &[String],
        publish_all: bool,
        expose: &[String],
        image_exposed: &BTreeSet<String>,
    ) -> Result<ContainerPorts, PortError> {
        let mut bindings = Vec::new();
        for spec in publish {
            bindings.extend(parse_publish(spec)?);
        }
        let exposed = exposed_ports(image_exposed, expose, &bindings)?;
        Ok(ContainerPorts {
            bindings,
            publish_all,
            exposed,
            container_ip: None,
            published: Vec::new(),
        })
    }

    /// The bindings to make at start: the `-p` ones, and with `-P` a random
    /// host port on every address for each other exposed port.
    pub fn wanted(&self) -> Vec<PortBinding> {
        let mut out = self.bindings.clone();
        if self.publish_all {
            let explicit: BTreeSet<(u16, Protocol)> = self
                .bindings
                .iter()
                .map(|b| (b.container_port, b.proto))
                .collect();
            for &(port, proto) in &self.exposed {
                if !explicit.contains(&(port, proto)) {
                    out.push(PortBinding {
                        proto,
                        container_port: port,
                        host_ip: Ipv4Addr::UNSPECIFIED,
                        host_port: 0,
                        host_port_end: 0,
                        host_ip_given: false,
                    });
                }
            }
        }
        out
    }
}

/// docker's `HostConfig.PortBindings`: what `-p` asked for, by container port.
pub fn port_bindings(bindings: &[PortBinding]) -> PortMap {
    let mut map = PortMap::new();
    for b in bindings {
        map.entry(format!("{}/{}", b.container_port, b.proto))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(DockerPortBinding {
                host_ip: if b.host_ip_given {
                    b.host_ip.to_string()
                } else {
                    String::new()
                },
                host_port: b.host_port_text(),
            });
    }
    map
}

/// docker's `NetworkSettings.Ports`: every exposed port, with its host
/// bindings while running (`null` for a port that is only exposed).
pub fn network_ports(exposed: &BTreeSet<(u16, Protocol)>, published: &[PublishedPort]) -> PortMap {
    let mut map = PortMap::new();
    for (port, proto) in exposed {
        map.insert(format!("{port}/{proto}"), None);
    }
    for p in published {
        map.entry(format!("{}/{}", p.container_port, p.proto))
            .or_default()
            .get_or_insert_with(Vec::new)
            .push(DockerPortBinding {
                host_ip: p.host_ip.to_string(),
                host_port: p.host_port.to_string(),
            });
    }
    map
}

/// docker's `Config.ExposedPorts`: `{"80/tcp": {}}` (`None`, `null`, when none).
pub fn exposed_port_set(exposed: &BTreeSet<(u16, Protocol)>) -> Option<BTreeMap<String, Empty>> {
    (!exposed.is_empty()).then(|| {
        exposed
            .iter()
            .map(|(port, proto)| (format!("{port}/{proto}"), Empty {}))
            .collect()
    })
}

/// A socket held open to keep a host port.
#[derive(Debug)]
enum HeldSocket {
    Tcp(#[allow(dead_code)] TcpListener),
    Udp(#[allow(dead_code)] UdpSocket),
}

/// One bind(2): the socket and the port it got.
fn bind_one(ip: Ipv4Addr, port: u16, proto: Protocol) -> Result<(HeldSocket, u16), PortError> {
    let addr = SocketAddrV4::new(ip, port);
    let err = |e: std::io::Error| PortError::Bind {
        ip,
        port,
        proto,
        message: e.to_string(),
    };
    match proto {
        Protocol::Tcp => {
            let l = TcpListener::bind(addr).map_err(err)?;
            let got = l.local_addr().map_err(err)?.port();
            Ok((HeldSocket::Tcp(l), got))
        }
        Protocol::Udp => {
            let s = UdpSocket::bind(addr).map_err(err)?;
            let got = s.local_addr().map_err(err)?.port();
            Ok((HeldSocket::Udp(s), got))
        }
    }
}

/// Whether two host addresses overlap (one of them is the wildcard, or
/// they are equal).
fn overlaps(a: Ipv4Addr, b: Ipv4Addr) -> bool {
    a == b || a.is_unspecified() || b.is_unspecified()
}

/// The host ports berthd holds, by container id.
#[derive(Debug, Default)]
pub struct Reservations {
    held: Mutex<HashMap<String, Vec<(PublishedPort, HeldSocket)>>>,
}

impl Reservations {
    pub fn new() -> Reservations {
        Reservations::default()
    }

    /// Binds every binding of container `id` (all or nothing) and answers
    /// what was published. `previous` are the ports of its last run (or
    /// those recorded before a berthd restart): a random binding gets its
    /// old port back when that port is free.
    pub fn reserve(
        &self,
        id: &str,
        bindings: &[PortBinding],
        previous: &[PublishedPort],
    ) -> Result<Vec<PublishedPort>, PortError> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        // A container re-reserving (restart) gives its own ports back first.
        held.remove(id);
        let taken: Vec<PublishedPort> = held.values().flatten().map(|(p, _)| *p).collect();
        let is_taken = |ip: Ipv4Addr, port: u16, proto: Protocol, mine: &[PublishedPort]| {
            taken
                .iter()
                .chain(mine.iter())
                .any(|p| p.proto == proto && p.host_port == port && overlaps(p.host_ip, ip))
        };
        let mut mine: Vec<(PublishedPort, HeldSocket)> = Vec::new();
        for b in bindings {
            let published: Vec<PublishedPort> = mine.iter().map(|(p, _)| *p).collect();
            let (socket, port) = if b.host_port == 0 {
                let old = previous.iter().find(|p| {
                    p.proto == b.proto
                        && p.container_port == b.container_port
                        && p.host_ip == b.host_ip
                });
                match old
                    .filter(|p| !is_taken(b.host_ip, p.host_port, b.proto, &published))
                    .and_then(|p| bind_one(b.host_ip, p.host_port, b.proto).ok())
                {
                    Some(got) => got,
                    None => bind_one(b.host_ip, 0, b.proto)?,
                }
            } else if b.host_port == b.host_port_end {
                if is_taken(b.host_ip, b.host_port, b.proto, &published) {
                    return Err(PortError::Allocated {
                        ip: b.host_ip,
                        port: b.host_port,
                    });
                }
                bind_one(b.host_ip, b.host_port, b.proto)?
            } else {
                let mut got = None;
                for port in b.host_port..=b.host_port_end {
                    if is_taken(b.host_ip, port, b.proto, &published) {
                        continue;
                    }
                    if let Ok(s) = bind_one(b.host_ip, port, b.proto) {
                        got = Some(s);
                        break;
                    }
                }
                got.ok_or(PortError::RangeExhausted {
                    ip: b.host_ip,
                    start: b.host_port,
                    end: b.host_port_end,
                    proto: b.proto,
                })?
            };
            mine.push((
                PublishedPort {
                    proto: b.proto,
                    container_port: b.container_port,
                    host_ip: b.host_ip,
                    host_port: port,
                },
                socket,
            ));
        }
        let published: Vec<PublishedPort> = mine.iter().map(|(p, _)| *p).collect();
        if !mine.is_empty() {
            held.insert(id.to_string(), mine);
        }
        Ok(published)
    }

    /// Closes container `id`'s sockets (its ports are free again).
    pub fn release(&self, id: &str) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// The ports container `id` holds.
    pub fn held_by(&self, id: &str) -> Vec<PublishedPort> {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .map(|v| v.iter().map(|(p, _)| *p).collect())
            .unwrap_or_default()
    }
}

/// What publishing can fail with: the reservation, or the rules.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Firewall(#[from] super::firewall::FirewallError),
}

/// Host port reservations plus the DNAT rules, made and unmade together
/// (all or nothing): what the containers service calls at start and exit.
#[derive(Debug)]
pub struct PortPublisher {
    firewall: std::sync::Arc<super::firewall::Firewall>,
    reservations: Reservations,
}

impl PortPublisher {
    /// A publisher over `firewall` (shared with the networks service,
    /// which adds and removes its bridges' rules).
    pub fn new(firewall: std::sync::Arc<super::firewall::Firewall>) -> PortPublisher {
        PortPublisher {
            firewall,
            reservations: Reservations::new(),
        }
    }

    /// The firewall (for the networks service's bridges).
    pub fn firewall(&self) -> &std::sync::Arc<super::firewall::Firewall> {
        &self.firewall
    }

    /// Binds the host ports of `bindings` for container `id` and DNATs them
    /// to `container_ip`; on any failure nothing is left (no socket, no rule).
    pub fn publish(
        &self,
        id: &str,
        container_ip: Ipv4Addr,
        bindings: &[PortBinding],
        previous: &[PublishedPort],
    ) -> Result<Vec<PublishedPort>, PublishError> {
        if bindings.is_empty() {
            return Ok(Vec::new());
        }
        let ports = self.reservations.reserve(id, bindings, previous)?;
        let forward = super::firewall::PortForward {
            container_id: id.to_string(),
            container_ip,
            ports: ports.clone(),
        };
        if let Err(e) = self.firewall.publish(&forward) {
            self.reservations.release(id);
            return Err(e.into());
        }
        Ok(ports)
    }

    /// Removes container `id`'s rules and frees its host ports.
    pub fn unpublish(&self, id: &str) -> Result<(), PublishError> {
        self.reservations.release(id);
        self.firewall.unpublish(id)?;
        Ok(())
    }

    /// After a berthd restart: re-binds the recorded host ports of every
    /// running container (exactly those) and makes the table anew with
    /// `bridges` and their rules. A port that cannot be bound again is
    /// left out of the rules and reported (container id, error).
    pub fn rebuild(
        &self,
        bridges: &[super::firewall::BridgeRules],
        running: &[(String, ContainerPorts)],
    ) -> Result<Vec<(String, PortError)>, PublishError> {
        let mut forwards = Vec::new();
        let mut failures = Vec::new();
        for (id, published) in running {
            let Some(ip) = published.container_ip else {
                continue;
            };
            let exact: Vec<PortBinding> = published
                .published
                .iter()
                .map(|p| PortBinding {
                    proto: p.proto,
                    container_port: p.container_port,
                    host_ip: p.host_ip,
                    host_port: p.host_port,
                    host_port_end: p.host_port,
                    host_ip_given: true,
                })
                .collect();
            match self.reservations.reserve(id, &exact, &published.published) {
                Ok(ports) => forwards.push(super::firewall::PortForward {
                    container_id: id.clone(),
                    container_ip: ip,
                    ports,
                }),
                Err(e) => failures.push((id.clone(), e)),
            }
        }
        self.firewall.rebuild(bridges, &forwards)?;
        Ok(failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> PortBinding {
        let v = parse_publish(spec).unwrap();
        assert_eq!(v.len(), 1, "{spec}");
        v[0].clone()
    }

    #[test]
    fn publish_specs_parse_like_docker() {
        let b = one("8080:80");
        assert_eq!(
            (b.proto, b.container_port, b.host_ip, b.host_port),
            (Protocol::Tcp, 80, Ipv4Addr::UNSPECIFIED, 8080)
        );
        assert!(!b.host_ip_given);
        let b = one("127.0.0.1:8080:80/udp");
        assert_eq!(
            (b.proto, b.host_ip, b.host_port),
            (Protocol::Udp, Ipv4Addr::LOCALHOST, 8080)
        );
        assert!(b.host_ip_given);
        let b = one("127.0.0.1::80");
        assert_eq!((b.host_ip, b.host_port), (Ipv4Addr::LOCALHOST, 0));
        let b = one("80");
        assert_eq!((b.container_port, b.host_port), (80, 0));
        let b = one("80/TCP");
        assert_eq!(b.proto, Protocol::Tcp);
        let v = parse_publish("8000-8001:80-81").unwrap();
        assert_eq!(
            v.iter()
                .map(|b| (b.host_port, b.container_port))
                .collect::<Vec<_>>(),
            vec![(8000, 80), (8001, 81)]
        );
        let b = one("8000-8010:80");
        assert_eq!((b.host_port, b.host_port_end), (8000, 8010));
        assert_eq!(b.host_port_text(), "8000-8010");
        assert_eq!(parse_publish("80-82").unwrap().len(), 3);
    }

    #[test]
    fn bad_publish_specs_name_the_spec() {
        for spec in [
            "99999:80",
            "abc",
            "80/sctp",
            "80/icmp",
            "8080:",
            "1.2.3:80:80",
            "a:b:c:d",
            "0:80",
            "81-80",
            "8000-8002:80-81",
            "",
        ] {
            let e = parse_publish(spec).unwrap_err();
            assert!(
                matches!(&e, PortError::InvalidSpec { spec: s, .. } if s == spec),
                "{spec}: {e}"
            );
        }
        assert!(matches!(
            parse_publish("[::1]:80:80"),
            Err(PortError::NotImplemented(_))
        ));
        assert_eq!(
            parse_publish("99999:80").unwrap_err().to_string(),
            "invalid port spec \"99999:80\": invalid hostPort: 99999"
        );
    }

    #[test]
    fn publish_all_adds_exposed_ports() {
        let image: BTreeSet<String> = ["80/tcp".to_string(), "53/udp".into(), "9/sctp".into()]
            .into_iter()
            .collect();
        let b =
            ContainerPorts::from_options(&["8080:80".into()], true, &["7000-7001".into()], &image)
                .unwrap()
                .wanted();
        let got: Vec<(u16, Protocol, u16)> = b
            .iter()
            .map(|b| (b.container_port, b.proto, b.host_port))
            .collect();
        assert_eq!(
            got,
            vec![
                (80, Protocol::Tcp, 8080),
                (53, Protocol::Udp, 0),
                (7000, Protocol::Tcp, 0),
                (7001, Protocol::Tcp, 0)
            ]
        );
        assert!(ContainerPorts::from_options(&[], false, &["x".into()], &image).is_err());
        let only_exposed = ContainerPorts::from_options(&[], false, &[], &image).unwrap();
        assert!(only_exposed.wanted().is_empty());
        assert_eq!(only_exposed.exposed.len(), 2);
    }

    #[test]
    fn docker_json_shapes() {
        let b = parse_publish("127.0.0.1:8080:80").unwrap();
        assert_eq!(
            serde_json::to_value(port_bindings(&b)).unwrap(),
            serde_json::json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]})
        );
        let b = parse_publish("80").unwrap();
        assert_eq!(
            serde_json::to_value(port_bindings(&b)).unwrap(),
            serde_json::json!({"80/tcp": [{"HostIp": "", "HostPort": ""}]})
        );
        let exposed: BTreeSet<(u16, Protocol)> = [(80, Protocol::Tcp), (53, Protocol::Udp)]
            .into_iter()
            .collect();
        let published = [PublishedPort {
            proto: Protocol::Tcp,
            container_port: 80,
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
        }];
        assert_eq!(
            serde_json::to_value(network_ports(&exposed, &published)).unwrap(),
            serde_json::json!({"53/udp": null, "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]})
        );
        assert_eq!(published[0].to_string(), "0.0.0.0:8080->80/tcp");
    }

    #[test]
    fn reservations_hold_ports_and_refuse_overlaps() {
        let r = Reservations::new();
        let random = parse_publish("127.0.0.1::80").unwrap();
        let got = r.reserve("a", &random, &[]).unwrap();
        assert_eq!(got.len(), 1);
        let port = got[0].host_port;
        assert_ne!(port, 0);
        // The kernel sees the port as taken while held.
        assert!(TcpListener::bind(("127.0.0.1", port)).is_err());
        // Another container asking for it (also via 0.0.0.0) is refused.
        let same = parse_publish(&format!("{port}:80")).unwrap();
        assert_eq!(
            r.reserve("b", &same, &[]).unwrap_err(),
            PortError::Allocated {
                ip: Ipv4Addr::UNSPECIFIED,
                port
            }
        );
        assert!(r.held_by("b").is_empty());
        // udp on the same number is another port.
        let udp = parse_publish(&format!("127.0.0.1:{port}:80/udp")).unwrap();
        assert_eq!(r.reserve("c", &udp, &[]).unwrap()[0].host_port, port);
        r.release("c");
        // A restart of "a" gets the same random port back.
        assert_eq!(r.reserve("a", &random, &got).unwrap(), got);
        r.release("a");
        assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
    }

    #[test]
    fn a_port_another_process_holds_is_a_bind_error_and_nothing_is_kept() {
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = other.local_addr().unwrap().port();
        let r = Reservations::new();
        let specs = ["127.0.0.1::81".to_string(), format!("127.0.0.1:{port}:80")];
        let bindings = ContainerPorts::from_options(&specs, false, &[], &BTreeSet::new())
            .unwrap()
            .wanted();
        let e = r.reserve("x", &bindings, &[]).unwrap_err();
        assert!(
            matches!(&e, PortError::Bind { port: p, .. } if *p == port),
            "{e}"
        );
        assert!(
            e.to_string().contains(&format!("127.0.0.1:{port}/tcp")),
            "{e}"
        );
        assert!(r.held_by("x").is_empty());
        // A range skips the held port.
        let range = parse_publish(&format!("127.0.0.1:{port}-{}:80", port + 1)).unwrap();
        if let Ok(got) = r.reserve("y", &range, &[]) {
            assert_eq!(got[0].host_port, port + 1);
        }
    }
}
