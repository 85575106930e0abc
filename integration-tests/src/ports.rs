//! Helpers for the published-ports tests: a private "host" network
//! namespace with bridges and network namespaces standing in for
//! containers (built with `ip`, as a test may), so berthd's firewall can be
//! driven on a real kernel without touching the machine's own network, and
//! a minimal HTTP GET over `TcpStream`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `ip ARGS...`, panicking with its stderr on failure.
pub fn ip(args: &[&str]) {
    let out = crate::run(Command::new("ip").args(args));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        crate::stderr(&out)
    );
}

/// Runs a shell command, panicking on failure.
pub fn sh(script: &str) {
    let out = crate::run(Command::new("sh").args(["-c", script]));
    assert!(out.status.success(), "{script}: {}", crate::stderr(&out));
}

/// Moves the calling thread into a new network namespace of its own (with
/// `lo` up), so every process it spawns, every socket it opens and every
/// `nft` it runs lives there. Call it on a thread made for the purpose.
pub fn enter_private_netns() {
    // SAFETY: unshare(2) only changes the calling thread's namespaces.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "unshare(CLONE_NEWNET): {}",
        std::io::Error::last_os_error()
    );
    ip(&["link", "set", "lo", "up"]);
}

/// A bridge in the current network namespace, with its gateway address.
pub struct TestBridge {
    pub name: String,
    /// `a.b.c` of the /24.
    pub prefix: String,
}

impl TestBridge {
    /// Bridge `name` with `<prefix>.1/24`, up.
    pub fn new(name: &str, prefix: &str) -> TestBridge {
        ip(&["link", "add", name, "type", "bridge"]);
        ip(&["addr", "add", &format!("{prefix}.1/24"), "dev", name]);
        ip(&["link", "set", name, "up"]);
        TestBridge {
            name: name.to_string(),
            prefix: prefix.to_string(),
        }
    }

    pub fn gateway(&self) -> String {
        format!("{}.1", self.prefix)
    }
}

impl Drop for TestBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .output();
    }
}

/// A named network namespace on a bridge: eth0 with `<prefix>.<host>/24`
/// and a default route via the bridge; stands in for a container.
pub struct TestEndpoint {
    pub netns: String,
    pub address: String,
    children: Vec<Child>,
}

impl TestEndpoint {
    pub fn new(bridge: &TestBridge, host: u8) -> TestEndpoint {
        let netns = crate::unique_name("pn");
        let veth = format!("btv{}", &netns[2..].replace('-', ""))
            .chars()
            .take(15)
            .collect::<String>();
        ip(&["netns", "add", &netns]);
        ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &netns,
        ]);
        ip(&["link", "set", &veth, "master", &bridge.name, "up"]);
        let address = format!("{}.{host}", bridge.prefix);
        let inside = |args: &[&str]| {
            let mut full = vec!["netns", "exec", &netns, "ip"];
            full.extend_from_slice(args);
            ip(&full);
        };
        inside(&["addr", "add", &format!("{address}/24"), "dev", "eth0"]);
        inside(&["link", "set", "eth0", "up"]);
        inside(&["link", "set", "lo", "up"]);
        inside(&["route", "add", "default", "via", &bridge.gateway()]);
        TestEndpoint {
            netns,
            address,
            children: Vec::new(),
        }
    }

    /// A command run inside the namespace.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns]).args(args);
        c
    }

    /// Starts a long-running process inside (killed on drop); its stdin
    /// is a pipe kept open (busybox nc quits at the end of its input).
    pub fn spawn(&mut self, args: &[&str]) -> &mut Child {
        let child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn in netns");
        self.children.push(child);
        self.children.last_mut().unwrap()
    }

    /// Whether one ping to `address` from inside gets an answer.
    pub fn pings(&self, address: &str) -> bool {
        self.command(&["busybox", "ping", "-c", "1", "-W", "1", address])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }
}

impl Drop for TestEndpoint {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
    }
}

/// `GET /` over HTTP/1.0; the body, or the connect/read error.
pub fn http_get(addr: SocketAddr, timeout: Duration) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    match out.split_once("\r\n\r\n") {
        Some((head, body)) if head.contains(" 200 ") => Ok(body.to_string()),
        _ => Err(format!("unexpected answer: {out:?}")),
    }
}

/// Retries `http_get` until it answers or `within` passes (a server just
/// started may not listen yet).
pub fn http_get_eventually(addr: SocketAddr, within: Duration) -> Result<String, String> {
    let deadline = Instant::now() + within;
    loop {
        match http_get(addr, Duration::from_secs(2)) {
            Ok(body) => return Ok(body),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A python3 program that does what a hostile container with CAP_NET_RAW
/// can: it writes one raw Ethernet frame to its default gateway's MAC
/// carrying a UDP datagram for `DST:PORT` (arguments `DST PORT PAYLOAD`),
/// bypassing the routing of its own namespace, which would never send a
/// 127/8 destination out of eth0. It finds the gateway in
/// /proc/net/route and its MAC by ARP (one ordinary datagram to it);
/// `/proc/net` is the caller's network namespace, so run it inside the
/// container's (nsenter -n / ip netns exec): the program itself may be the
/// host's python3.
pub const RAW_UDP_TO_GATEWAY: &str = r#"
import socket, struct, sys, time
dst, port, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
gw = dev = None
for l in open('/proc/net/route').read().splitlines()[1:]:
    f = l.split()
    if f[1] == '00000000':
        dev, gw = f[0], socket.inet_ntoa(struct.pack('<I', int(f[2], 16)))
if gw is None:
    sys.exit('no default route')
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.connect((gw, 9))
src = u.getsockname()[0]
mac = None
for _ in range(50):
    try:
        u.send(b'arp')
    except OSError:
        pass
    for l in open('/proc/net/arp').read().splitlines()[1:]:
        f = l.split()
        if f[0] == gw and f[3] != '00:00:00:00:00:00':
            mac = f[3]
    if mac:
        break
    time.sleep(0.1)
if not mac:
    sys.exit('no ARP answer from the gateway ' + gw)
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
udp = struct.pack('!HHHH', 40000, port, 8 + len(payload), 0) + payload
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
r = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
r.bind((dev, 0))
frame = bytes.fromhex(mac.replace(':', '')) + r.getsockname()[4] + b'\x08\x00' + ip + udp
for _ in range(3):
    r.send(frame)
    time.sleep(0.05)
print('sent', src, '->', dst, port, 'to', mac, 'on', dev)
"#;

/// A UDP socket bound to 127.0.0.1 only (a host service that trusts
/// loopback) in the calling thread's network namespace, and its port.
pub fn loopback_udp_listener() -> (std::net::UdpSocket, u16) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = sock.local_addr().unwrap().port();
    (sock, port)
}

/// The datagrams `sock` receives within `within`, with their senders.
pub fn datagrams_within(
    sock: &std::net::UdpSocket,
    within: Duration,
) -> Vec<(Vec<u8>, SocketAddr)> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return got;
        }
        sock.set_read_timeout(Some(left)).unwrap();
        let mut buf = [0u8; 2048];
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => got.push((buf[..n].to_vec(), from)),
            Err(_) => return got,
        }
    }
}
