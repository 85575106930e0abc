//! [`NetworkService`]: bridge networks, their addresses and the containers
//! on them, as a plain Rust API (the gRPC adapter is `crate::api::networks`;
//! the containers service calls the container hooks).
//!
//! Lifecycle of a container's endpoint (docs/networking.md has the why):
//!
//! | container event | hook | what happens |
//! |---|---|---|
//! | create | [`NetworkService::allocate`] | address allocated on its network (default `bridge`: created lazily) |
//! | start, after shim Create | [`NetworkService::attach`] | veth made, eth0 configured; its names join the network's [`NameTable`] |
//! | start, after attach | [`NetworkService::serve_dns`] | its embedded DNS server bound at 127.0.0.11:53 (user networks) |
//! | exit / failed start | [`NetworkService::detach`] | host veth deleted if still there; its names leave; its DNS server stops |
//! | rm | [`NetworkService::release`] | address freed |
//! | berthd start | [`NetworkService::recover`] | missing bridges recreated; endpoints of dead containers detached; names of the live ones back in the table (then `serve_dns` again) |
//!
//! No other container's files or state change when one joins or leaves:
//! the cost of a join does not grow with the network (docs/networking.md).
//!
//! One async mutex serialises every change of network records, so an
//! address is never handed out twice. New subnets are picked, and bridges
//! created, under a host-wide flock ([`SUBNET_LOCK`]) so that several berthds
//! on one host never choose the same subnet.

use super::dns::{NameTable, ResolverConfig, Resolvers};
use super::ipam::{self, Subnet};
use super::link::{self, VethPlan};
use super::record::{Endpoint, NetworkRecord};
use super::NetworkError;
use super::{Member, Members, NetworkMode};
use crate::events::{Event, EventBus};
use berth_store::metadata::{Collection, MetadataError, MetadataStore};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The host-wide lock file taken while picking a subnet and creating its
/// bridge.
pub const SUBNET_LOCK: &str = "/run/lock/berth-subnets.lock";

/// The default network's name.
pub const DEFAULT_NETWORK: &str = "bridge";

/// The default bridge interface (daemon.json `"bridge"`).
pub const DEFAULT_BRIDGE: &str = "berth0";

/// What daemon.json says about networks.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// The default network's host interface (`"bridge"`, default `berth0`).
    pub bridge: String,
    /// The default network's gateway in CIDR form (`"bip"`), else a subnet
    /// from the pool.
    pub bip: Option<String>,
    /// `<root>/containers`: each container's hosts file is `<id>/hosts`.
    pub containers_dir: PathBuf,
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    pub name: String,
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub internal: bool,
}

/// What a container asks of a network (`--network-alias`, `--ip`,
/// `--mac-address`).
#[derive(Debug, Clone, Default)]
pub struct EndpointRequest {
    pub aliases: Vec<String>,
    pub ip: Option<String>,
    pub mac: Option<String>,
    /// `--link NAME[:ALIAS]` on a user network: names the embedded DNS
    /// server answers for this container alone (docker keeps them as the
    /// endpoint's `Links`). Ignored on the default bridge, as docker's.
    pub links: Vec<String>,
    /// `--link-local-ip`: more addresses on the interface (user networks
    /// only; docker ignores them on the default bridge).
    pub link_local_ips: Vec<String>,
}

/// The networks service.
pub struct NetworkService {
    meta: Arc<MetadataStore>,
    events: Arc<EventBus>,
    config: NetworkConfig,
    /// The containers that exist (the containers domain's index).
    members: Arc<dyn Members>,
    /// Serialises every read-modify-write of network records.
    lock: tokio::sync::Mutex<()>,
    /// berthd's nftables table: each bridge's isolation and loopback rules
    /// are added when the bridge is made and removed with it.
    /// None: no rules are kept (tests of the domain without nftables).
    firewall: Option<Arc<super::firewall::Firewall>>,
    /// The embedded DNS servers and the names they answer.
    resolvers: Resolvers,
}

/// docker's network name rule.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The host's IPv4 routes (`/proc/net/route`), less the default route: a
/// new subnet must overlap none of them.
pub fn host_routes() -> Vec<Subnet> {
    parse_route_table(&std::fs::read_to_string("/proc/net/route").unwrap_or_default())
}

/// Parses `/proc/net/route`: the kernel prints each `__be32` as the hex of
/// its native integer, so the integer's native bytes are the address.
fn parse_route_table(text: &str) -> Vec<Subnet> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let dest = u32::from_str_radix(cols.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(cols.get(7)?, 16).ok()?;
            let prefix = mask.count_ones() as u8;
            (prefix > 0).then(|| Subnet::new(Ipv4Addr::from(dest.to_ne_bytes()), prefix))
        })
        .collect()
}

/// A held host-wide flock; released on drop (close).
struct SubnetLock(#[allow(dead_code)] std::fs::File);

async fn lock_subnets() -> Result<SubnetLock, NetworkError> {
    tokio::task::spawn_blocking(|| {
        let path = Path::new(SUBNET_LOCK);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|source| NetworkError::SubnetLock {
                op: "open",
                path: SUBNET_LOCK,
                source,
            })?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(NetworkError::SubnetLock {
                op: "lock",
                path: SUBNET_LOCK,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(SubnetLock(f))
    })
    .await?
}

impl NetworkService {
    /// Builds the service; call [`NetworkService::recover`] once the
    /// containers are known.
    pub fn new(
        meta: Arc<MetadataStore>,
        events: Arc<EventBus>,
        config: NetworkConfig,
        members: Arc<dyn Members>,
        firewall: Option<Arc<super::firewall::Firewall>>,
    ) -> NetworkService {
        NetworkService {
            meta,
            events,
            config,
            members,
            lock: tokio::sync::Mutex::new(()),
            firewall,
            resolvers: Resolvers::new(Arc::new(NameTable::default())),
        }
    }

    /// Every bridge of ours with its subnet, for the nftables table's
    /// rebuild at berthd start.
    pub fn bridge_rules(&self) -> Vec<super::firewall::BridgeRules> {
        self.list()
            .unwrap_or_default()
            .into_iter()
            .map(|n| super::firewall::BridgeRules {
                name: n.bridge,
                subnet: (n.subnet.network(), n.subnet.prefix()),
            })
            .collect()
    }

    /// Adds the isolation/loopback rules of `n`'s bridge (which exists).
    async fn firewall_add(&self, n: &NetworkRecord) -> Result<(), NetworkError> {
        let Some(fw) = self.firewall.clone() else {
            return Ok(());
        };
        let (name, subnet) = (n.bridge.clone(), (n.subnet.network(), n.subnet.prefix()));
        tokio::task::spawn_blocking(move || fw.add_bridge(&name, subnet))
            .await?
            .map_err(|source| NetworkError::Firewall {
                bridge: n.bridge.clone(),
                source,
            })
    }

    /// Removes the rules of `n`'s bridge.
    async fn firewall_remove(&self, n: &NetworkRecord) {
        let Some(fw) = self.firewall.clone() else {
            return;
        };
        let name = n.bridge.clone();
        match tokio::task::spawn_blocking(move || fw.remove_bridge(&name)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(bridge = %n.bridge, error = %e, "remove bridge rules"),
            Err(e) => tracing::warn!(bridge = %n.bridge, error = %e, "remove bridge rules"),
        }
    }

    /// The address of container `id` on its first network (eth0), while
    /// attached: where its published ports go.
    pub fn primary_address(&self, id: &str) -> Option<Ipv4Addr> {
        self.endpoints_of(id)
            .into_iter()
            .find(|(_, e)| e.attached && e.interface == "eth0")
            .map(|(_, e)| e.address)
    }

    // ---- records ----

    /// Every network, by name.
    pub fn list(&self) -> Result<Vec<NetworkRecord>, NetworkError> {
        let mut out = Vec::new();
        for (key, value) in self.meta.list_records(Collection::Networks)? {
            match serde_json::from_slice::<NetworkRecord>(&value) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(id = %key, error = %e, "unreadable network record"),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn put(&self, record: &NetworkRecord) -> Result<(), NetworkError> {
        let bytes = serde_json::to_vec(record).expect("network record serialises");
        self.meta
            .put_record(Collection::Networks, &record.id, &bytes)?;
        Ok(())
    }

    /// docker's `host` and `none` networks of this daemon.
    pub fn predefined(&self) -> Vec<super::predefined::Predefined> {
        super::predefined::all(&self.config)
    }

    /// docker's `network inspect` of predefined network `p`, its running
    /// containers listed.
    pub fn inspect_predefined(
        &self,
        p: &super::predefined::Predefined,
    ) -> berth_docker::types::network::NetworkResource {
        p.inspect(p.containers(&self.members.members()))
    }

    /// The predefined network `input` names (name, id or id prefix), if any.
    pub fn find_predefined(&self, input: &str) -> Option<super::predefined::Predefined> {
        super::predefined::find(&self.config, input)
    }

    /// The network a user means: full id, name, or a unique id prefix.
    pub fn resolve(&self, input: &str) -> Result<NetworkRecord, NetworkError> {
        let all = self.list()?;
        if let Some(r) = all.iter().find(|r| r.id == input || r.name == input) {
            return Ok(r.clone());
        }
        let matches: Vec<&NetworkRecord> = all
            .iter()
            .filter(|r| !input.is_empty() && r.id.starts_with(input))
            .collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(NetworkError::NotFound(input.to_string())),
            _ => Err(NetworkError::InvalidArgument(format!(
                "network {input} is ambiguous ({} matches found based on ID prefix)",
                matches.len()
            ))),
        }
    }

    fn publish(&self, record: &NetworkRecord, action: &str, container: Option<&str>) {
        let mut attributes = BTreeMap::new();
        attributes.insert("name".to_string(), record.name.clone());
        attributes.insert("type".to_string(), record.driver.clone());
        if let Some(c) = container {
            attributes.insert("container".to_string(), c.to_string());
        }
        self.events
            .publish(Event::now("network", action, record.id.clone(), attributes));
    }

    /// Subnets taken on this host: ours and the host's routes.
    fn subnets_in_use(&self) -> Result<Vec<Subnet>, NetworkError> {
        let mut used: Vec<Subnet> = self.list()?.iter().map(|n| n.subnet).collect();
        used.extend(host_routes());
        Ok(used)
    }

    // ---- network commands ----

    /// `network create`.
    pub async fn create(&self, req: CreateNetwork) -> Result<NetworkRecord, NetworkError> {
        if !valid_name(&req.name) {
            return Err(NetworkError::InvalidArgument(format!(
                "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                req.name
            )));
        }
        let driver = if req.driver.is_empty() {
            "bridge"
        } else {
            req.driver.as_str()
        };
        if driver != "bridge" {
            return Err(NetworkError::NotImplemented(format!(
                "network driver {driver:?} (only bridge)"
            )));
        }
        if matches!(req.name.as_str(), "none" | "host" | DEFAULT_NETWORK) {
            return Err(NetworkError::Conflict(format!(
                "network with name {} already exists (a pre-defined network)",
                req.name
            )));
        }
        let requested = req.subnet.as_deref().map(Subnet::parse).transpose()?;
        let gateway = req
            .gateway
            .as_deref()
            .map(ipam::parse_address)
            .transpose()?;
        if gateway.is_some() && requested.is_none() {
            return Err(NetworkError::InvalidArgument(
                "--gateway needs --subnet".into(),
            ));
        }
        let _guard = self.lock.lock().await;
        if self.list()?.iter().any(|n| n.name == req.name) {
            return Err(NetworkError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let _flock = lock_subnets().await?;
        let in_use = self.subnets_in_use()?;
        let subnet = match requested {
            Some(s) => {
                if let Some(o) = in_use.iter().find(|u| u.overlaps(&s)) {
                    return Err(NetworkError::InvalidArgument(format!(
                        "invalid pool request: Pool overlaps with other one on this address space: {s} overlaps {o}"
                    )));
                }
                s
            }
            None => ipam::pick_subnet(&in_use)?,
        };
        let gateway = gateway.unwrap_or_else(|| subnet.first_host());
        if !subnet.contains(gateway) || gateway == subnet.network() || gateway == subnet.broadcast()
        {
            return Err(NetworkError::InvalidArgument(format!(
                "invalid gateway {gateway}: not a host address of subnet {subnet}"
            )));
        }
        let id = crate::ids::new_id();
        let record = NetworkRecord {
            bridge: format!("br-{}", &id[..12]),
            id,
            name: req.name,
            created: crate::events::now_rfc3339(),
            driver: driver.to_string(),
            subnet,
            gateway,
            labels: req.labels,
            options: req.options,
            internal: req.internal,
            default: false,
            endpoints: BTreeMap::new(),
        };
        link::ensure_bridge(&record.bridge, gateway, subnet.prefix()).await?;
        let made = match self.firewall_add(&record).await {
            Ok(()) => self.put(&record),
            Err(e) => Err(e),
        };
        if let Err(e) = made {
            self.firewall_remove(&record).await;
            let _ = link::delete_link(&record.bridge).await;
            return Err(e);
        }
        self.publish(&record, "create", None);
        Ok(record)
    }

    /// The default network, made (record and bridge) on first use.
    async fn default_network_locked(&self) -> Result<NetworkRecord, NetworkError> {
        if let Some(r) = self.list()?.into_iter().find(|n| n.default) {
            return Ok(r);
        }
        let _flock = lock_subnets().await?;
        let (subnet, gateway) = match &self.config.bip {
            Some(bip) => {
                let (gw, prefix) = ipam::parse_cidr(bip).ok_or_else(|| {
                    NetworkError::InvalidArgument(format!(
                        "daemon.json bip {bip:?}: want the gateway in CIDR form such as 172.18.0.1/16"
                    ))
                })?;
                (Subnet::new(gw, prefix), gw)
            }
            None => {
                let s = ipam::pick_subnet(&self.subnets_in_use()?)?;
                (s, s.first_host())
            }
        };
        let record = NetworkRecord {
            id: crate::ids::new_id(),
            name: DEFAULT_NETWORK.to_string(),
            created: crate::events::now_rfc3339(),
            driver: "bridge".into(),
            bridge: self.config.bridge.clone(),
            subnet,
            gateway,
            labels: BTreeMap::new(),
            options: BTreeMap::from([(
                "com.docker.network.bridge.name".to_string(),
                self.config.bridge.clone(),
            )]),
            internal: false,
            default: true,
            endpoints: BTreeMap::new(),
        };
        link::ensure_bridge(&record.bridge, gateway, subnet.prefix()).await?;
        if let Err(e) = self.firewall_add(&record).await {
            let _ = link::delete_link(&record.bridge).await;
            return Err(e);
        }
        self.put(&record)?;
        self.publish(&record, "create", None);
        Ok(record)
    }

    /// `network rm`.
    pub async fn remove(&self, input: &str) -> Result<NetworkRecord, NetworkError> {
        let _guard = self.lock.lock().await;
        let record = self.resolve(input)?;
        if record.default {
            return Err(NetworkError::FailedPrecondition(format!(
                "{} is a pre-defined network and cannot be removed",
                record.name
            )));
        }
        if !record.endpoints.is_empty() {
            return Err(NetworkError::FailedPrecondition(format!(
                "error while removing network: network {} id {} has active endpoints",
                record.name, record.id
            )));
        }
        self.firewall_remove(&record).await;
        link::delete_link(&record.bridge).await?;
        self.meta.delete_record(Collection::Networks, &record.id)?;
        self.publish(&record, "destroy", None);
        Ok(record)
    }

    /// `network prune`: every user network without containers; answers
    /// their names.
    pub async fn prune(&self) -> Result<Vec<String>, NetworkError> {
        let candidates: Vec<String> = self
            .list()?
            .into_iter()
            .filter(|n| !n.default && n.endpoints.is_empty())
            .map(|n| n.id)
            .collect();
        let mut removed = Vec::new();
        for id in candidates {
            match self.remove(&id).await {
                Ok(r) => removed.push(r.name),
                Err(NetworkError::FailedPrecondition(_)) | Err(NetworkError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    // ---- container hooks ----

    /// Adds an endpoint for container `id` on `network` (locked).
    fn add_endpoint(
        &self,
        network: &mut NetworkRecord,
        id: &str,
        name: &str,
        req: &EndpointRequest,
        interface: String,
    ) -> Result<Endpoint, NetworkError> {
        if network.endpoints.contains_key(id) {
            return Err(NetworkError::Conflict(format!(
                "endpoint with name {name} already exists in network {}",
                network.name
            )));
        }
        if network.default && (!req.aliases.is_empty() || req.ip.is_some()) {
            return Err(NetworkError::InvalidArgument(
                "network-scoped aliases and user specified IP addresses are supported on user defined networks only".into(),
            ));
        }
        for a in &req.aliases {
            if !valid_name(a) {
                return Err(NetworkError::InvalidArgument(format!(
                    "invalid network alias {a:?}"
                )));
            }
        }
        let used: BTreeSet<Ipv4Addr> = network.endpoints.values().map(|e| e.address).collect();
        let address = match &req.ip {
            Some(ip) => {
                let a = ipam::parse_address(ip)?;
                ipam::check_requested(&network.subnet, network.gateway, &used, a).map_err(|e| {
                    NetworkError::InvalidArgument(format!("network {}: {e}", network.name))
                })?;
                a
            }
            None => ipam::next_free(&network.subnet, network.gateway, &used)?,
        };
        let mac = match &req.mac {
            Some(m) => ipam::parse_mac(m).ok_or_else(|| {
                NetworkError::InvalidArgument(format!("invalid MAC address: {m}"))
            })?,
            None => ipam::mac_for(address),
        };
        let (links, link_local) = if network.default {
            (Vec::new(), Vec::new())
        } else {
            (
                req.links.clone(),
                link_local_addresses(&req.link_local_ips)?,
            )
        };
        let endpoint = Endpoint {
            endpoint_id: crate::ids::new_id(),
            container_name: name.to_string(),
            aliases: req.aliases.clone(),
            address,
            mac: ipam::format_mac(&mac),
            attached: false,
            interface,
            requested_address: req.ip.is_some(),
            links,
            link_local,
        };
        network.endpoints.insert(id.to_string(), endpoint.clone());
        Ok(endpoint)
    }

    /// Create hook: allocates the container's address on the network its
    /// `--network` names. Nothing for none/host/container:.
    pub async fn allocate(
        &self,
        id: &str,
        name: &str,
        mode: &NetworkMode,
        req: &EndpointRequest,
    ) -> Result<(), NetworkError> {
        let _guard = self.lock.lock().await;
        let mut network = match mode {
            NetworkMode::Bridge => self.default_network_locked().await?,
            NetworkMode::Named(n) => self.resolve(n)?,
            _ => {
                if !req.aliases.is_empty() || req.ip.is_some() {
                    return Err(NetworkError::InvalidArgument(format!(
                        "--network-alias and --ip need a bridge network, not --network {}",
                        mode.as_str()
                    )));
                }
                return Ok(());
            }
        };
        self.add_endpoint(&mut network, id, name, req, "eth0".into())?;
        self.put(&network)
    }

    /// rm hook: frees every address of container `id` (deleting a veth
    /// berthd missed).
    pub async fn release(&self, id: &str) -> Result<(), NetworkError> {
        let _guard = self.lock.lock().await;
        let mut changed = Vec::new();
        for mut network in self.list()? {
            if let Some(ep) = network.endpoints.remove(id) {
                if ep.attached {
                    let _ = link::delete_link(&ep.host_veth()).await;
                }
                self.put(&network)?;
                self.resolvers.names().leave(&network.id, id);
                changed.push(network);
            }
        }
        drop(_guard);
        self.resolvers.stop(id);
        for n in &changed {
            self.publish(n, "disconnect", Some(id));
        }
        Ok(())
    }

    /// Start hook: the container's init (`pid`) exists, not yet exec'd:
    /// makes its veths (eth0 on its first network) and adds its names to
    /// its user networks' tables. On failure whatever was made is removed
    /// again.
    pub async fn attach(&self, id: &str, pid: u32) -> Result<(), NetworkError> {
        let guard = self.lock.lock().await;
        let mut networks: Vec<NetworkRecord> = self
            .list()?
            .into_iter()
            .filter(|n| n.endpoints.contains_key(id))
            .collect();
        if networks.is_empty() {
            return Ok(());
        }
        networks.sort_by_key(|n| n.endpoints[id].interface.clone());
        let netns = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let mut done: Vec<String> = Vec::new();
        for network in &mut networks {
            let ep = network.endpoints.get_mut(id).expect("filtered");
            let plan = VethPlan {
                host_name: ep.host_veth(),
                bridge: network.bridge.clone(),
                netns: netns.clone(),
                interface: ep.interface.clone(),
                mac: ipam::parse_mac(&ep.mac).unwrap_or_else(|| ipam::mac_for(ep.address)),
                address: ep.address,
                prefix: network.subnet.prefix(),
                gateway: network.gateway,
                default_route: ep.interface == "eth0",
                link_local: ep.link_local.clone(),
            };
            // A bridge deleted behind berthd's back is made again.
            let made = async {
                link::ensure_bridge(&network.bridge, network.gateway, network.subnet.prefix())
                    .await?;
                link::attach_veth(&plan).await
            }
            .await;
            if let Err(e) = made {
                for veth in &done {
                    let _ = link::delete_link(veth).await;
                }
                return Err(NetworkError::Attach {
                    container: id.to_string(),
                    network: network.name.clone(),
                    source: e,
                });
            }
            done.push(plan.host_name.clone());
            ep.attached = true;
        }
        for network in &networks {
            self.put(network)?;
            self.join_names(network, id);
        }
        drop(guard);
        Ok(())
    }

    /// Adds container `id`'s names on `network` (a user network) to the
    /// table.
    fn join_names(&self, network: &NetworkRecord, id: &str) {
        let Some(ep) = network.endpoints.get(id) else {
            return;
        };
        if network.default || !ep.attached {
            return;
        }
        self.resolvers.names().join(
            &network.id,
            &network.name,
            id,
            &ep.container_name,
            &ep.aliases,
            &ep.links,
            ep.address,
            &ep.interface,
        );
    }

    /// Start hook, after [`NetworkService::attach`] (and at berthd start for
    /// running containers): starts container `id`'s embedded DNS server in
    /// the namespace of `pid` when it is attached to a user network.
    pub async fn serve_dns(
        &self,
        id: &str,
        pid: u32,
        config: ResolverConfig,
    ) -> Result<(), NetworkError> {
        if self.resolvers.names().networks_of(id).is_empty() {
            return Ok(());
        }
        Ok(self.resolvers.start(id, pid, config).await?)
    }

    /// Whether container `id` has an embedded DNS server running.
    pub fn serves_dns(&self, id: &str) -> bool {
        self.resolvers.is_running(id)
    }

    /// rename hook: container `id` is now `name` on its networks (records
    /// and names).
    pub async fn rename(&self, id: &str, old: &str, name: &str) -> Result<(), NetworkError> {
        let _guard = self.lock.lock().await;
        for mut network in self.list()? {
            if let Some(ep) = network.endpoints.get_mut(id) {
                ep.container_name = name.to_string();
                self.put(&network)?;
            }
        }
        self.resolvers.names().rename(id, old, name);
        Ok(())
    }

    /// Exit hook: marks the container's endpoints detached, deletes a host
    /// veth still there, takes its names out of the table and stops its
    /// DNS server.
    pub async fn detach(&self, id: &str) {
        let guard = self.lock.lock().await;
        let Ok(all) = self.list() else { return };
        for mut network in all {
            let Some(ep) = network.endpoints.get_mut(id) else {
                continue;
            };
            if !ep.attached {
                continue;
            }
            ep.attached = false;
            let veth = ep.host_veth();
            if let Err(e) = link::delete_link(&veth).await {
                tracing::warn!(id, veth, error = %e, "delete host veth");
            }
            if let Err(e) = self.put(&network) {
                tracing::warn!(id, error = %e, "record detach");
            }
            self.resolvers.names().leave(&network.id, id);
        }
        drop(guard);
        self.resolvers.stop(id);
    }

    /// berthd start: recreates a missing bridge of each recorded network,
    /// detaches endpoints of containers not running any more, drops those
    /// of containers that no longer exist, and fills the name table with the
    /// running ones.
    pub async fn recover(&self, live: &BTreeSet<String>) -> Result<(), NetworkError> {
        let guard = self.lock.lock().await;
        let members = self.members.members();
        for mut network in self.list()? {
            if let Err(e) =
                link::ensure_bridge(&network.bridge, network.gateway, network.subnet.prefix()).await
            {
                tracing::warn!(network = %network.name, error = %e, "recreate bridge");
            }
            let mut changed = false;
            let ids: Vec<String> = network.endpoints.keys().cloned().collect();
            for cid in ids {
                if !members.contains_key(&cid) {
                    let ep = network.endpoints.remove(&cid).expect("listed");
                    let _ = link::delete_link(&ep.host_veth()).await;
                    changed = true;
                    continue;
                }
                let ep = network.endpoints.get_mut(&cid).expect("listed");
                if ep.attached && !live.contains(&cid) {
                    ep.attached = false;
                    let _ = link::delete_link(&ep.host_veth()).await;
                    changed = true;
                }
            }
            if changed {
                self.put(&network)?;
            }
            for cid in network.endpoints.keys() {
                self.join_names(&network, cid);
            }
        }
        drop(guard);
        Ok(())
    }

    // ---- connect, disconnect ----

    /// `network connect`: allocates an endpoint and, when the container
    /// runs (`pid`), attaches it now as the next `ethN`.
    pub async fn connect(
        &self,
        network: &str,
        container: &Member,
        req: &EndpointRequest,
        pid: Option<u32>,
    ) -> Result<(), NetworkError> {
        let guard = self.lock.lock().await;
        let mut record = self.resolve(network)?;
        if matches!(
            container.mode,
            NetworkMode::None | NetworkMode::Host | NetworkMode::Container(_)
        ) {
            return Err(NetworkError::InvalidArgument(format!(
                "container {} is on --network {}: it cannot be connected to another network",
                container.name,
                container.mode.as_str()
            )));
        }
        let all = self.list()?;
        let taken: BTreeSet<String> = all
            .iter()
            .filter_map(|n| n.endpoints.get(&container.id))
            .map(|e| e.interface.clone())
            .collect();
        let interface = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !taken.contains(n))
            .expect("a free name");
        let ep = self.add_endpoint(&mut record, &container.id, &container.name, req, interface)?;
        if let Some(pid) = pid {
            let plan = VethPlan {
                host_name: ep.host_veth(),
                bridge: record.bridge.clone(),
                netns: PathBuf::from(format!("/proc/{pid}/ns/net")),
                interface: ep.interface.clone(),
                mac: ipam::parse_mac(&ep.mac).unwrap_or_else(|| ipam::mac_for(ep.address)),
                address: ep.address,
                prefix: record.subnet.prefix(),
                gateway: record.gateway,
                default_route: ep.interface == "eth0",
                link_local: ep.link_local.clone(),
            };
            link::ensure_bridge(&record.bridge, record.gateway, record.subnet.prefix()).await?;
            link::attach_veth(&plan)
                .await
                .map_err(|source| NetworkError::Attach {
                    container: container.id.clone(),
                    network: record.name.clone(),
                    source,
                })?;
            record
                .endpoints
                .get_mut(&container.id)
                .expect("just added")
                .attached = true;
        }
        self.put(&record)?;
        self.join_names(&record, &container.id);
        drop(guard);
        self.publish(&record, "connect", Some(&container.id));
        Ok(())
    }

    /// `network disconnect`: removes the container's interface (when it
    /// runs) and frees its address.
    pub async fn disconnect(
        &self,
        network: &str,
        container: &Member,
        pid: Option<u32>,
    ) -> Result<(), NetworkError> {
        let guard = self.lock.lock().await;
        let mut record = self.resolve(network)?;
        let Some(ep) = record.endpoints.remove(&container.id) else {
            return Err(NetworkError::FailedPrecondition(format!(
                "container {} is not connected to network {}",
                container.id, record.name
            )));
        };
        if ep.attached {
            if let Some(pid) = pid {
                let netns = PathBuf::from(format!("/proc/{pid}/ns/net"));
                if let Err(e) = link::delete_in_namespace(&netns, &ep.interface).await {
                    tracing::warn!(id = %container.id, error = %e, "remove interface in container");
                }
            }
            let _ = link::delete_link(&ep.host_veth()).await;
        }
        self.put(&record)?;
        self.resolvers.names().leave(&record.id, &container.id);
        if self.resolvers.names().networks_of(&container.id).is_empty() {
            self.resolvers.stop(&container.id);
        }
        drop(guard);
        self.publish(&record, "disconnect", Some(&container.id));
        Ok(())
    }

    /// `disconnect -f` of a container that no longer exists: drops the
    /// endpoint whose container id starts with, or whose name is, `container`.
    pub async fn release_on(&self, network: &str, container: &str) -> Result<(), NetworkError> {
        let guard = self.lock.lock().await;
        let mut record = self.resolve(network)?;
        let key = record
            .endpoints
            .iter()
            .find(|(id, ep)| id.starts_with(container) || ep.container_name == container)
            .map(|(id, _)| id.clone())
            .ok_or_else(|| {
                NetworkError::NotFound(format!("{container} on network {}", record.name))
            })?;
        let ep = record.endpoints.remove(&key).expect("found");
        let _ = link::delete_link(&ep.host_veth()).await;
        self.put(&record)?;
        self.resolvers.names().leave(&record.id, &key);
        drop(guard);
        self.publish(&record, "disconnect", Some(&key));
        Ok(())
    }

    // ---- what containers see ----

    /// Every container's networks at once, for a listing (`ps`): one read
    /// of the network records, where [`Self::endpoints_of`] per container
    /// read and parsed every network (with all its endpoints) for each one,
    /// O(N^2): 780 ms for `ps -a` with 1000 containers on one network
    /// (issue 21).
    pub fn memberships(&self) -> NetworkMemberships {
        let mut by_container: HashMap<String, Vec<(String, String, String)>> = HashMap::new();
        for n in self.list().unwrap_or_default() {
            for (container, ep) in &n.endpoints {
                by_container.entry(container.clone()).or_default().push((
                    ep.interface.clone(),
                    n.name.clone(),
                    n.id.clone(),
                ));
            }
        }
        for v in by_container.values_mut() {
            v.sort();
        }
        NetworkMemberships { by_container }
    }

    /// The networks container `id` has an endpoint on, with that endpoint,
    /// its first network (eth0) first.
    pub fn endpoints_of(&self, id: &str) -> Vec<(NetworkRecord, Endpoint)> {
        let mut out: Vec<(NetworkRecord, Endpoint)> = self
            .list()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| {
                let ep = n.endpoints.get(id).cloned()?;
                Some((n, ep))
            })
            .collect();
        out.sort_by(|a, b| a.1.interface.cmp(&b.1.interface));
        out
    }
}

/// Which networks each container is on (see [`NetworkService::memberships`]).
pub struct NetworkMemberships {
    /// Container id -> (interface, network name, network id), eth0 first.
    by_container: HashMap<String, Vec<(String, String, String)>>,
}

impl NetworkMemberships {
    /// The names and ids of the networks container `id` is on, its first
    /// network (eth0) first.
    pub fn of(&self, id: &str) -> impl Iterator<Item = (&str, &str)> {
        self.by_container
            .get(id)
            .into_iter()
            .flatten()
            .map(|(_, name, id)| (name.as_str(), id.as_str()))
    }
}

impl From<ipam::IpamError> for NetworkError {
    fn from(e: ipam::IpamError) -> NetworkError {
        match e {
            ipam::IpamError::Exhausted(_) | ipam::IpamError::PoolExhausted => {
                NetworkError::FailedPrecondition(e.to_string())
            }
            other => NetworkError::InvalidArgument(other.to_string()),
        }
    }
}

impl From<MetadataError> for NetworkError {
    fn from(e: MetadataError) -> NetworkError {
        NetworkError::Metadata(Box::new(e))
    }
}

/// `--link-local-ip` values: each an IP address (docker's words for any
/// that is not, listed together), and each link-local unicast (libnetwork's
/// check, made at start by docker and at create here, so that a container
/// that could never start is not made).
fn link_local_addresses(values: &[String]) -> Result<Vec<IpAddr>, NetworkError> {
    let parsed: Vec<Option<IpAddr>> = values.iter().map(|v| v.parse().ok()).collect();
    let invalid: Vec<&str> = values
        .iter()
        .zip(&parsed)
        .filter(|(_, p)| p.is_none())
        .map(|(v, _)| v.as_str())
        .collect();
    if !invalid.is_empty() {
        return Err(NetworkError::InvalidArgument(format!(
            "Invalid link-local IP address: [{}]",
            invalid.join(" ")
        )));
    }
    let mut out: Vec<IpAddr> = Vec::new();
    for address in parsed.into_iter().flatten() {
        let link_local = match address {
            IpAddr::V4(a) => a.is_link_local(),
            IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
        };
        if !link_local {
            return Err(NetworkError::InvalidArgument(format!(
                "invalid link local IP address: {address}"
            )));
        }
        if !out.contains(&address) {
            out.push(address);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_names_follow_docker() {
        assert!(valid_name("front-end_1.a"));
        assert!(valid_name("n"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(""));
    }

    #[test]
    fn route_table_parses() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let routes = parse_route_table(text);
        if cfg!(target_endian = "little") {
            assert_eq!(routes, vec![Subnet::parse("192.0.2.0/24").unwrap()]);
        }
        assert_eq!(routes.len(), 1);
    }
}
