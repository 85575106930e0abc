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
