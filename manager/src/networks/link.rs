//! The kernel side of a bridge network, over rtnetlink (no `ip` commands):
//! the host bridge with its gateway address, and the veth pair that puts a
//! container on it.
//!
//! How a container is attached (the container's init exists, stopped before
//! exec, after the shim's Create):
//!
//! 1. on the host, `RTM_NEWLINK` of a veth pair whose peer is created
//!    straight inside the container's network namespace (`IFLA_NET_NS_FD`
//!    of `/proc/<pid>/ns/net` in the peer's message) with its final name
//!    (`eth0`) and MAC; the host end is enslaved to the bridge and set up;
//! 2. on a dedicated thread that `setns(CLONE_NEWNET)`s into the container's
//!    namespace, a second rtnetlink socket (a netlink socket belongs to the
//!    namespace it was opened in, see netlink(7)): address on eth0, eth0 and
//!    lo up, default route via the gateway. The thread ends there, so no
//!    thread of berthd's runtime ever changes namespace.
//!
//! The container's namespace dies with its last process; that destroys its
//! veth end and, with it, the host end. [`delete_link`] is for the case
//! berthd missed that (killed at the wrong moment).

use super::netns::{self, NetnsError};
use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// What failed, on which interface or namespace.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{op} {name}: {message}")]
    Netlink {
        op: &'static str,
        name: String,
        message: String,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Netns(#[from] NetnsError),
}

/// errno of a failed netlink request (positive), 0 if none.
fn errno(e: &rtnetlink::Error) -> i32 {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.raw_code().abs(),
        _ => 0,
    }
}

fn nl_err(op: &'static str, name: &str, e: rtnetlink::Error) -> LinkError {
    let message = match &e {
        rtnetlink::Error::NetlinkError(m) => m.to_io().to_string(),
        other => other.to_string(),
    };
    LinkError::Netlink {
        op,
        name: name.to_string(),
        message,
    }
}

/// A connection in the calling thread's network namespace, driven on the
/// current tokio runtime.
fn connect(what: &str) -> Result<Handle, LinkError> {
    let (connection, handle, _) = rtnetlink::new_connection().map_err(|source| LinkError::Io {
        op: "open rtnetlink socket for",
        path: PathBuf::from(what),
        source,
    })?;
    tokio::spawn(connection);
    Ok(handle)
}

/// The index of interface `name`, if it exists.
async fn index_of(handle: &Handle, name: &str) -> Result<Option<u32>, LinkError> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(Some(msg.header.index)),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == libc::ENODEV => Ok(None),
        Err(e) => Err(nl_err("look up interface", name, e)),
    }
}

/// Whether a host interface `name` exists.
pub async fn link_exists(name: &str) -> Result<bool, LinkError> {
    let handle = connect(name)?;
    Ok(index_of(&handle, name).await?.is_some())
}

/// Makes sure bridge `name` exists, holds `gateway/prefix` and is up.
pub async fn ensure_bridge(name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<(), LinkError> {
    let handle = connect(name)?;
    let index = match index_of(&handle, name).await? {
        Some(i) => i,
        None => {
            match handle
                .link()
                .add(LinkBridge::new(name).build())
                .execute()
                .await
            {
                Ok(()) => {}
                Err(e) if errno(&e) == libc::EEXIST => {}
                Err(e) => return Err(nl_err("create bridge", name, e)),
            }
            index_of(&handle, name)
                .await?
                .ok_or_else(|| LinkError::Netlink {
                    op: "create bridge",
                    name: name.to_string(),
                    message: "not there after creation".into(),
                })?
        }
    };
    match handle
        .address()
        .add(index, IpAddr::V4(gateway), prefix)
        .execute()
        .await
    {
        Ok(()) => {}
        Err(e) if errno(&e) == libc::EEXIST => {}
        Err(e) => return Err(nl_err("add gateway address to bridge", name, e)),
    }
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| nl_err("set up bridge", name, e))
}

/// Deletes host interface `name`; false when it was not there.
pub async fn delete_link(name: &str) -> Result<bool, LinkError> {
    let handle = connect(name)?;
    let Some(index) = index_of(&handle, name).await? else {
        return Ok(false);
    };
    match handle.link().del(index).execute().await {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == libc::ENODEV => Ok(false),
        Err(e) => Err(nl_err("delete interface", name, e)),
    }
}

/// One veth to make for a container.
#[derive(Debug, Clone)]
pub struct VethPlan {
    /// The host end (`veth<11 hex>`).
    pub host_name: String,
    /// The bridge it joins.
    pub bridge: String,
    /// `/proc/<pid>/ns/net` of the container's init.
    pub netns: PathBuf,
    /// The name inside (`eth0`).
    pub interface: String,
    pub mac: [u8; 6],
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    /// Whether the container's default route goes through this one (its
    /// first network only).
    pub default_route: bool,
    /// `--link-local-ip` addresses, added with docker's link-local
    /// prefixes (/16 for IPv4, /64 for IPv6).
    pub link_local: Vec<IpAddr>,
}

/// Creates the veth pair of `plan` and configures the container's end.
/// On failure the host end is deleted again (the container's end goes with
/// it), so nothing is left.
pub async fn attach_veth(plan: &VethPlan) -> Result<(), LinkError> {
    let result = attach_veth_inner(plan).await;
    if result.is_err() {
        let _ = delete_link(&plan.host_name).await;
    }
    result
}

async fn attach_veth_inner(plan: &VethPlan) -> Result<(), LinkError> {
    let netns = std::fs::File::open(&plan.netns).map_err(|source| LinkError::Io {
        op: "open network namespace",
        path: plan.netns.clone(),
        source,
    })?;
    let handle = connect(&plan.host_name)?;
    let bridge = index_of(&handle, &plan.bridge)
        .await?
        .ok_or_else(|| LinkError::Netlink {
            op: "find bridge",
            name: plan.bridge.clone(),
            message: "no such interface".into(),
        })?;
    // The peer is born inside the container's namespace, named and
    // addressed, so no half-configured interface ever shows on the host.
    let peer = LinkMessageBuilder::<LinkUnspec>::default()
        .name(plan.interface.clone())
        .address(plan.mac.to_vec())
        .setns_by_fd(netns.as_raw_fd())
        .build();
    let message = LinkVeth::new(&plan.host_name, &plan.interface)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .controller(bridge)
        .up()
        .build();
    handle
        .link()
        .add(message)
        .execute()
        .await
        .map_err(|e| nl_err("create veth", &plan.host_name, e))?;
    configure_inside(plan, netns).await
}

/// Runs the in-namespace part on a thread of its own (see the module doc).
async fn configure_inside(plan: &VethPlan, netns: std::fs::File) -> Result<(), LinkError> {
    let plan = plan.clone();
    let path = plan.netns.clone();
    netns::run_async(netns, &path, move || async move { configure(&plan).await }).await?
}

/// Address, eth0 and lo up, default route: inside the container's namespace.
async fn configure(plan: &VethPlan) -> Result<(), LinkError> {
    let handle = connect(&plan.interface)?;
    let name = &plan.interface;
    let index = index_of(&handle, name)
        .await?
        .ok_or_else(|| LinkError::Netlink {
            op: "find in container",
            name: name.clone(),
            message: "no such interface".into(),
        })?;
    handle
        .address()
        .add(index, IpAddr::V4(plan.address), plan.prefix)
        .execute()
        .await
        .map_err(|e| nl_err("add address in container to", name, e))?;
    for address in &plan.link_local {
        let prefix = if address.is_ipv4() { 16 } else { 64 };
        handle
            .address()
            .add(index, *address, prefix)
            .execute()
            .await
            .map_err(|e| nl_err("add link-local address in container to", name, e))?;
    }
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| nl_err("set up in container", name, e))?;
    set_loopback_up(&handle).await?;
    if plan.default_route {
        handle
            .route()
            .add(
                RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(plan.gateway)
                    .output_interface(index)
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| nl_err("add default route in container via", name, e))?;
    }
    Ok(())
}

/// `lo` up, on the namespace of `handle`'s socket.
async fn set_loopback_up(handle: &Handle) -> Result<(), LinkError> {
    if let Some(lo) = index_of(handle, "lo").await? {
        handle
            .link()
            .set(LinkUnspec::new_with_index(lo).up().build())
            .execute()
            .await
            .map_err(|e| nl_err("set up in container", "lo", e))?;
    }
    Ok(())
}

/// Sets `lo` up inside the network namespace at `netns` (the kernel gives
/// it 127.0.0.1/8 and ::1 when it comes up), as docker does in every
/// network mode with a namespace of its own: `--network none` has no veth,
/// and a server on 127.0.0.1 must still be reachable inside.
pub async fn loopback_up(netns: &Path) -> Result<(), LinkError> {
    let file = netns::open(netns)?;
    netns::run_async(file, netns, || async {
        let handle = connect("lo")?;
        set_loopback_up(&handle).await
    })
    .await?
}

/// Removes interface `name` from inside the network namespace at `netns`
/// (`disconnect` of a running container); its host end goes with it.
pub async fn delete_in_namespace(netns: &Path, name: &str) -> Result<(), LinkError> {
    let file = netns::open(netns)?;
    let name = name.to_string();
    // A namespace thread that died took the interface's namespace along.
    match netns::run_async(file, netns, move || async move { delete_link(&name).await }).await {
        Ok(result) => result.map(|_| ()),
        Err(NetnsError::ThreadDied { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Names of the interfaces whose controller is bridge `bridge` (its ports).
pub async fn bridge_ports(bridge: &str) -> Result<Vec<String>, LinkError> {
    let handle = connect(bridge)?;
    let Some(index) = index_of(&handle, bridge).await? else {
        return Ok(Vec::new());
    };
    let mut links = handle.link().get().execute();
    let mut out = Vec::new();
    while let Some(msg) = links
        .try_next()
        .await
        .map_err(|e| nl_err("list interfaces for bridge", bridge, e))?
    {
        let mut name = None;
        let mut controller = None;
        for a in &msg.attributes {
            match a {
                LinkAttribute::IfName(n) => name = Some(n.clone()),
                LinkAttribute::Controller(c) => controller = Some(*c),
                _ => {}
            }
        }
        if controller == Some(index) {
            out.extend(name);
        }
    }
    Ok(out)
}
