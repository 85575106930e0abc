//! [`Resolvers`]: one embedded DNS server per container on a user network,
//! listening on 127.0.0.11:53 (UDP and TCP) inside the container's network
//! namespace and served from berthd's runtime.
//!
//! The sockets are made by a short-lived thread that `setns`es into the
//! container's namespace, binds and hands the fds back (a socket belongs to
//! the namespace it was made in; no tokio worker ever changes namespace).
//! They die with berthd: recovery binds them again for every running
//! container.
//!
//! Answers follow libnetwork's resolver (docker 20.10):
//! * A: the container names, aliases and short ids of the asking
//!   container's networks ([`super::NameTable`]), TTL 600, RA set;
//! * AAAA or MX for such a name: NOERROR without answers (our networks
//!   are IPv4; the name exists, so it is not forwarded);
//! * PTR of such an address: `name.network`;
//! * anything else is forwarded, over the protocol it came in on, to at
//!   most three upstream servers, from inside the container's namespace (as
//!   docker's `ExecFunc` dials); SERVFAIL, REFUSED, a non-authoritative
//!   NXDOMAIN or another error moves on to the next server, the last reply
//!   is relayed as it is (a truncated UDP reply too: the client retries
//!   over TCP); 4 s per server;
//! * with `ndots` > 0 set by the user, an unknown single-label A/AAAA name
//!   gets an empty NOERROR instead of being forwarded (the client then
//!   tries its search domains).
//!
//! Where berth differs: with no upstream at all (docker would fall back to
//! 8.8.8.8) the reply is SERVFAIL at once; the listening port is 53 itself,
//! not a random port behind an iptables DNAT in the container (no rules to
//! make per container), so a process in the container cannot bind the
//! wildcard address on port 53.

use super::names::NameTable;
use super::wire::{self, Answer};
use super::DnsError;
use crate::networks::netns;
use std::collections::HashMap;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// The address of the embedded server inside every container.
pub const RESOLVER_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// docker's `maxExtDNS`.
pub const MAX_UPSTREAMS: usize = 3;

/// docker's `extIOTimeout`.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(4);

/// How long a TCP client may stay idle between queries.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// The pause after a failed receive or accept.
const ERROR_PAUSE: Duration = Duration::from_millis(20);

/// Forwarded queries in flight per container (docker: 1024 per resolver);
/// more are dropped, as docker drops them.
const MAX_FORWARDS: usize = 64;

/// What a container's resolver forwards to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolverConfig {
    /// `--dns`, else the host's nameservers (loopback ones left out: they
    /// are not reachable from the container's namespace); at most three.
    pub upstreams: Vec<IpAddr>,
    /// The user set `ndots` > 0 (docker's `NdotsSet`).
    pub ndots_set: bool,
}

/// A running resolver: its tasks end when it is dropped.
struct Running {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The state one container's queries are answered from.
struct Context {
    container: String,
    names: Arc<NameTable>,
    config: ResolverConfig,
    /// The container's network namespace (`/proc/PID/ns/net`, opened once).
    netns: Arc<File>,
    forwards: Arc<tokio::sync::Semaphore>,
}

/// The resolvers of every container on a user network.
pub struct Resolvers {
    names: Arc<NameTable>,
    running: Mutex<HashMap<String, Running>>,
}

/// Runs `f` on a new thread inside the network namespace `netns`.
fn in_namespace<T: Send + 'static>(
    netns: Arc<File>,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    netns::run(netns, Path::new("of the container"), f).map_err(std::io::Error::other)?
}

impl Resolvers {
    pub fn new(names: Arc<NameTable>) -> Resolvers {
        Resolvers {
            names,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// The name table the resolvers answer from.
    pub fn names(&self) -> &Arc<NameTable> {
        &self.names
    }

    /// Whether container `id` has a resolver running.
    pub fn is_running(&self, id: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(id)
    }

    /// Starts container `id`'s resolver in the namespace of `pid` (its lo
    /// must be up); a running one is replaced.
    pub async fn start(&self, id: &str, pid: u32, config: ResolverConfig) -> Result<(), DnsError> {
        let path = format!("/proc/{pid}/ns/net");
        let netns = Arc::new(File::open(&path).map_err(|source| DnsError::Io {
            op: "open network namespace",
            what: path.clone(),
            source,
        })?);
        let ns = netns.clone();
        let (udp, tcp) = tokio::task::spawn_blocking(move || {
            in_namespace(ns, || {
                let at = SocketAddr::from((RESOLVER_ADDRESS, 53));
                let udp = std::net::UdpSocket::bind(at)?;
                let tcp = std::net::TcpListener::bind(at)?;
                udp.set_nonblocking(true)?;
                tcp.set_nonblocking(true)?;
                Ok((udp, tcp))
            })
        })
        .await
        .map_err(|e| DnsError::Io {
            op: "bind 127.0.0.11:53 in",
            what: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?
        .map_err(|source| DnsError::Io {
            op: "bind 127.0.0.11:53 in",
            what: path.clone(),
            source,
        })?;
        let io = |source| DnsError::Io {
            op: "register dns socket of",
            what: path.clone(),
            source,
        };
        let udp = Arc::new(UdpSocket::from_std(udp).map_err(io)?);
        let tcp = TcpListener::from_std(tcp).map_err(io)?;
        let ctx = Arc::new(Context {
            container: id.to_string(),
            names: self.names.clone(),
            config,
            netns,
            forwards: Arc::new(tokio::sync::Semaphore::new(MAX_FORWARDS)),
        });
        let running = Running {
            tasks: vec![
                tokio::spawn(serve_udp(ctx.clone(), udp)),
                tokio::spawn(serve_tcp(ctx, tcp)),
            ],
        };
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), running);
        Ok(())
    }

    /// Stops container `id`'s resolver (its sockets close).
    pub fn stop(&self, id: &str) {
        let gone = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        drop(gone);
    }
}

async fn serve_udp(ctx: Arc<Context>, socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // Never a busy loop on an error that repeats.
                tracing::debug!(id = %ctx.container, error = %e, "dns udp receive");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        let query = buf[..n].to_vec();
        let (ctx, socket) = (ctx.clone(), socket.clone());
        tokio::spawn(async move {
            if let Some(reply) = answer(&ctx, &query, false).await {
                let _ = socket.send_to(&reply, from).await;
            }
        });
    }
}

async fn serve_tcp(ctx: Arc<Context>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // EMFILE and the like: wait rather than spin.
            tokio::time::sleep(ERROR_PAUSE).await;
            continue;
        };
        tokio::spawn(serve_tcp_client(ctx.clone(), stream));
    }
}

/// One TCP client: length-prefixed queries (RFC 1035 4.2.2) until it
/// closes or stays idle.
async fn serve_tcp_client(ctx: Arc<Context>, mut stream: TcpStream) {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let mut query = vec![0u8; u16::from_be_bytes(len) as usize];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut query)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let Some(reply) = answer(&ctx, &query, true).await else {
            continue;
        };
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        out.extend_from_slice(&reply);
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// The IPv4 address of a PTR name (`4.3.2.1.in-addr.arpa`).
fn ptr_address(name: &str) -> Option<Ipv4Addr> {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    let rest = lower.strip_suffix(".in-addr.arpa")?;
    let mut parts: Vec<u8> = rest
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if parts.len() != 4 {
        return None;
    }
    parts.reverse();
    Some(Ipv4Addr::new(parts[0], parts[1], parts[2], parts[3]))
}

/// The local reply to `q`, if the name is ours (docker's `ServeDNS` before
/// forwarding).
pub fn local_answer(
    names: &NameTable,
    container: &str,
    config: &ResolverConfig,
    q: &wire::Query,
    max_size: usize,
    tcp: bool,
) -> Option<Vec<u8>> {
    let networks = names.networks_of(container);
    let name = &q.question.name;
    let reply = |answers: &[Answer]| Some(wire::local_reply(q, answers, max_size, tcp));
    match q.question.qtype {
        wire::TYPE_A => {
            let found = names.resolve(container, &networks, name);
            if !found.is_empty() {
                let answers: Vec<Answer> = found.into_iter().map(Answer::A).collect();
                return reply(&answers);
            }
        }
        wire::TYPE_AAAA | wire::TYPE_MX
            if !names.resolve(container, &networks, name).is_empty() =>
        {
            return reply(&[]);
        }
        wire::TYPE_PTR => {
            if let Some(host) = ptr_address(name).and_then(|a| names.reverse(&networks, a)) {
                return reply(&[Answer::Ptr(host)]);
            }
        }
        _ => {}
    }
    if config.ndots_set
        && matches!(q.question.qtype, wire::TYPE_A | wire::TYPE_AAAA)
        && !name.trim_end_matches('.').contains('.')
    {
        return reply(&[]);
    }
    None
}

/// The reply to one query (None: no reply at all).
async fn answer(ctx: &Context, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let q = match wire::parse_query(query) {
        Ok(q) => q,
        Err(wire::WireError::Short(_)) => return None,
        Err(_) => return wire::format_error(query),
    };
    let max_size = if tcp {
        65535
    } else {
        (q.udp_size.unwrap_or(0) as usize).max(512)
    };
    if let Some(r) = local_answer(&ctx.names, &ctx.container, &ctx.config, &q, max_size, tcp) {
        return Some(r);
    }
    if ctx.config.upstreams.is_empty() {
        return Some(wire::error_reply(&q, wire::RCODE_SERVFAIL));
    }
    let _permit = ctx.forwards.clone().try_acquire_owned().ok()?;
    let mut last = None;
    for server in ctx.config.upstreams.iter().take(MAX_UPSTREAMS) {
        let at = SocketAddr::new(*server, 53);
        let got = if tcp {
            forward_tcp(&ctx.netns, at, query).await
        } else {
            forward_udp(&ctx.netns, at, query, max_size).await
        };
        let reply = match got {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(id = %ctx.container, %at, error = %e, "dns forward");
                continue;
            }
        };
        let Ok(h) = wire::parse_reply_header(&reply) else {
            continue;
        };
        let done = match h.rcode {
            wire::RCODE_NOERROR => true,
            wire::RCODE_NXDOMAIN => h.authoritative,
            _ => false,
        };
        last = Some(reply);
        if done {
            break;
        }
    }
    last
}

/// A socket of `kind` made inside the container's namespace.
async fn socket_in(
    netns: &Arc<File>,
    udp_v6: Option<bool>,
) -> std::io::Result<std::os::fd::OwnedFd> {
    let ns = netns.clone();
    tokio::task::spawn_blocking(move || {
        in_namespace(ns, move || {
            use std::os::fd::FromRawFd;
            let (domain, kind) = match udp_v6 {
                Some(false) => (libc::AF_INET, libc::SOCK_DGRAM),
                Some(true) => (libc::AF_INET6, libc::SOCK_DGRAM),
                None => (libc::AF_INET, libc::SOCK_STREAM),
            };
            // SAFETY: a new socket; the fd is owned at once.
            let fd =
                unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
        })
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))?
}

async fn forward_udp(
    netns: &Arc<File>,
    to: SocketAddr,
    query: &[u8],
    max_size: usize,
) -> std::io::Result<Vec<u8>> {
    let fd = socket_in(netns, Some(to.is_ipv6())).await?;
    let socket = UdpSocket::from_std(std::net::UdpSocket::from(fd))?;
    socket.connect(to).await?;
    let work = async {
        socket.send(query).await?;
        let mut buf = vec![0u8; max_size.max(512)];
        let n = socket.recv(&mut buf).await?;
        buf.truncate(n);
        Ok(buf)
    };
    tokio::time::timeout(UPSTREAM_TIMEOUT, work)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply"))?
}

async fn forward_tcp(netns: &Arc<File>, to: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    if to.is_ipv6() {
        return Err(std::io::Error::other("tcp to an IPv6 upstream"));
    }
    let fd = socket_in(netns, None).await?;
    let socket = tokio::net::TcpSocket::from_std_stream(std::net::TcpStream::from(fd));
    let work = async {
        let mut stream = socket.connect(to).await?;
        let mut out = Vec::with_capacity(query.len() + 2);
        out.extend_from_slice(&(query.len() as u16).to_be_bytes());
        out.extend_from_slice(query);
        stream.write_all(&out).await?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut reply).await?;
        Ok(reply)
    };
    tokio::time::timeout(UPSTREAM_TIMEOUT, work)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptr_names_parse() {
        assert_eq!(
            ptr_address("2.0.20.172.in-addr.arpa"),
            Some(Ipv4Addr::new(172, 20, 0, 2))
        );
        assert_eq!(ptr_address("2.0.20.in-addr.arpa"), None);
        assert_eq!(ptr_address("example.org"), None);
    }

    #[test]
    fn local_answers_follow_docker() {
        let names = NameTable::default();
        let c1 = "a".repeat(64);
        let c2 = "b".repeat(64);
        names.join(
            "n1",
            "net1",
            &c1,
            "web",
            &[],
            &[],
            Ipv4Addr::new(172, 20, 0, 2),
            "eth0",
        );
        names.join(
            "n1",
            "net1",
            &c2,
            "db",
            &[],
            &[],
            Ipv4Addr::new(172, 20, 0, 3),
            "eth0",
        );
        let config = ResolverConfig::default();
        let ask = |name: &str, qtype| {
            let q = wire::parse_query(&wire::build_query(1, name, qtype, None)).unwrap();
            local_answer(&names, &c1, &config, &q, 512, false)
        };
        let a = ask("db", wire::TYPE_A).unwrap();
        assert_eq!(
            wire::reply_answers(&a).unwrap(),
            [(wire::TYPE_A, vec![172, 20, 0, 3])]
        );
        // A known name without an IPv6 address: NOERROR, no answers.
        let aaaa = ask("db", wire::TYPE_AAAA).unwrap();
        assert_eq!(wire::parse_reply_header(&aaaa).unwrap().rcode, 0);
        assert!(wire::reply_answers(&aaaa).unwrap().is_empty());
        let ptr = ask("3.0.20.172.in-addr.arpa", wire::TYPE_PTR).unwrap();
        let answers = wire::reply_answers(&ptr).unwrap();
        assert_eq!(wire::name_at(&answers[0].1, 0).unwrap(), "db.net1");
        // Unknown: forwarded (no local reply), unless ndots is set.
        assert!(ask("example", wire::TYPE_A).is_none());
        assert!(ask("example.org", wire::TYPE_AAAA).is_none());
        let ndots = ResolverConfig {
            upstreams: vec![],
            ndots_set: true,
        };
        let q = wire::parse_query(&wire::build_query(1, "example", wire::TYPE_A, None)).unwrap();
        assert!(local_answer(&names, &c1, &ndots, &q, 512, false).is_some());
        let q =
            wire::parse_query(&wire::build_query(1, "example.org", wire::TYPE_A, None)).unwrap();
        assert!(local_answer(&names, &c1, &ndots, &q, 512, false).is_none());
        // A container on no network sees no names.
        let q = wire::parse_query(&wire::build_query(1, "db", wire::TYPE_A, None)).unwrap();
        assert!(local_answer(&names, "c".repeat(64).as_str(), &config, &q, 512, false).is_none());
    }
}
