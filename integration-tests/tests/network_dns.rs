//! The embedded DNS server of user networks, end to end: busybox's
//! `nslookup`, `ping` and `wget` by name, alias and short id between
//! containers of one network, nothing across networks, a name gone after
//! rm, forwarding (UDP, and TCP after a truncated reply) to a test resolver
//! this test runs on the network's gateway address (never the internet),
//! DNS kept across a berthd restart, and `--network none`/`bridge` left as
//! they were (no server, the host's resolv.conf).

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::networks::{network_inspect, network_name};
use berth_integration_tests::{stderr, stdout};
use berth_manager::networks::dns::wire;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Answered by [`TestResolver`]: `outside.test` (UDP and TCP).
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);
/// `big.test`: over UDP a truncated reply without answers, over TCP this.
const BIG: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

/// A DNS server on `gateway:53` (UDP and TCP) standing for the upstream
/// resolver: `outside.test` and `big.test` have addresses, every other name
/// is an authoritative NXDOMAIN. Counts the TCP queries it served.
struct TestResolver {
    stop: Arc<AtomicBool>,
    tcp_queries: Arc<std::sync::atomic::AtomicUsize>,
    threads: Vec<JoinHandle<()>>,
}

/// The reply of the test resolver (built on berthd's own wire module, the
/// encoding being already unit-tested there).
fn upstream_reply(query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let q = wire::parse_query(query).ok()?;
    let name = q.question.name.to_ascii_lowercase();
    let reply = match (name.as_str(), q.question.qtype) {
        ("outside.test", wire::TYPE_A) => {
            wire::local_reply(&q, &[wire::Answer::A(OUTSIDE)], 512, tcp)
        }
        ("big.test", wire::TYPE_A) if tcp => {
            wire::local_reply(&q, &[wire::Answer::A(BIG)], 65535, true)
        }
        ("big.test", wire::TYPE_A) => {
            // As a server whose answer does not fit: TC set, no answers.
            let mut r = wire::local_reply(&q, &[], 512, false);
            r[2] |= 0x02;
            r
        }
        ("outside.test", _) | ("big.test", _) => wire::local_reply(&q, &[], 512, tcp),
        _ => {
            let mut r = wire::error_reply(&q, wire::RCODE_NXDOMAIN);
            r[2] |= 0x04; // AA: an authoritative NXDOMAIN ends the search
            r
        }
    };
    Some(reply)
}

impl TestResolver {
    fn start(gateway: &str) -> TestResolver {
        let at: SocketAddr = format!("{gateway}:53").parse().unwrap();
        let udp = UdpSocket::bind(at).expect("bind the test resolver (udp)");
        udp.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let tcp = TcpListener::bind(at).expect("bind the test resolver (tcp)");
        tcp.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let tcp_queries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let s = stop.clone();
        let udp_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::SeqCst) {
                if let Ok((n, from)) = udp.recv_from(&mut buf) {
                    if let Some(r) = upstream_reply(&buf[..n], false) {
                        let _ = udp.send_to(&r, from);
                    }
                }
            }
        });
        let (s, count) = (stop.clone(), tcp_queries.clone());
        let tcp_thread = std::thread::spawn(move || {
            use std::io::{Read, Write};
            while !s.load(Ordering::SeqCst) {
                let Ok((mut c, _)) = tcp.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                c.set_nonblocking(false).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut len = [0u8; 2];
                while c.read_exact(&mut len).is_ok() {
                    let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                    if c.read_exact(&mut q).is_err() {
                        break;
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    if let Some(r) = upstream_reply(&q, true) {
                        let mut out = (r.len() as u16).to_be_bytes().to_vec();
                        out.extend_from_slice(&r);
                        let _ = c.write_all(&out);
                    }
                }
            }
        });
        TestResolver {
            stop,
            tcp_queries,
            threads: vec![udp_thread, tcp_thread],
        }
    }
}

impl Drop for TestResolver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The container's address on its (first) network: docker's top-level
/// `IPAddress` is the default bridge's only, so it is read from `Networks`.
fn ip_of(f: &Fixture, name: &str) -> String {
    let inspect = f.inspect(name);
    let networks = inspect["NetworkSettings"]["Networks"]
        .as_object()
        .expect("Networks");
    networks
        .values()
        .filter_map(|n| n["IPAddress"].as_str())
        .find(|a| !a.is_empty())
        .unwrap_or("")
        .to_string()
}

fn gateway_of(f: &Fixture, net: &str) -> String {
    network_inspect(f, net)["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .expect("Gateway")
        .to_string()
}

/// `nslookup NAME` in container `c`: (exit code, stdout + stderr).
fn nslookup(f: &Fixture, c: &str, name: &str) -> (i32, String) {
    let out = f.berth(&["exec", c, "timeout", "10", "nslookup", name]);
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

/// The addresses an `nslookup` output gives for the name (after the
/// server's own `Address:` line).
fn looked_up(out: &str) -> Vec<String> {
    out.split("Name:")
        .skip(1)
        .flat_map(|block| {
            block
                .lines()
                .filter_map(|l| l.trim().strip_prefix("Address:"))
                .map(|a| a.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A user network with a test resolver on its gateway; `--dns` for it.
fn network_with_resolver(f: &Fixture, what: &str) -> (String, TestResolver, String) {
    let net = network_name(f, what);
    f.ok(&["network", "create", &net]);
    let gw = gateway_of(f, &net);
    let resolver = TestResolver::start(&gw);
    (net, resolver, gw)
}

/// `network rm` of networks made by [`network_with_resolver`], their
/// resolvers stopped first: a socket bound to a gateway outlives the
/// bridge's address, so a parallel test's berthd, handed the freed subnet
/// at once, would find the gateway's port 53 still taken.
fn remove_networks(f: &Fixture, networks: Vec<(String, TestResolver)>) {
    let names: Vec<String> = networks
        .into_iter()
        .map(|(net, resolver)| {
            drop(resolver);
            net
        })
        .collect();
    let mut args = vec!["network", "rm"];
    args.extend(names.iter().map(String::as_str));
    f.ok(&args);
}

fn run_on(f: &Fixture, net: &str, dns: &str, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name, "--network", net, "--dns", dns];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sleep", "300"]);
    f.ok(&args).trim().to_string()
}

#[test]
fn names_aliases_and_short_ids_resolve_on_own_network_only() {
    let f = Fixture::new();
    let (net, resolver, gw) = network_with_resolver(&f, "dns");
    let srv = f.name("srv");
    let srv_id = run_on(&f, &net, &gw, &srv, &["--network-alias", "web"]);
    let cli = f.name("cli");
    run_on(&f, &net, &gw, &cli, &[]);
    let srv_ip = ip_of(&f, &srv);

    // docker's resolv.conf: the embedded server, ndots:0.
    let resolv = f.ok(&["exec", &cli, "cat", "/etc/resolv.conf"]);
    assert_eq!(resolv.trim_end(), "nameserver 127.0.0.11\noptions ndots:0");

    for name in [srv.as_str(), "web", &srv_id[..12], &srv.to_uppercase()] {
        let (code, out) = nslookup(&f, &cli, name);
        assert_eq!(code, 0, "nslookup {name}: {out}");
        assert!(out.contains("Server:\t\t127.0.0.11"), "{out}");
        assert_eq!(
            looked_up(&out),
            vec![srv_ip.clone()],
            "nslookup {name}: {out}"
        );
    }
    // `name.network` too, and the reverse lookup answers `name.network`.
    let (code, out) = nslookup(&f, &cli, &format!("{srv}.{net}"));
    assert_eq!((code, looked_up(&out)), (0, vec![srv_ip.clone()]), "{out}");
    let (code, out) = nslookup(&f, &cli, &srv_ip);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("name = {srv}.{net}")), "{out}");

    // The libc resolver (ping, wget) sees the names too.
    f.ok(&["exec", &cli, "ping", "-c1", "-W2", &srv]);
    f.ok(&["exec", &cli, "ping", "-c1", "-W2", "web"]);

    // Its own /etc/hosts: itself and localhost only, never the others.
    let hosts = f.ok(&["exec", &cli, "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{}\t", ip_of(&f, &cli))), "{hosts}");
    assert!(!hosts.contains(&srv) && !hosts.contains(&srv_ip), "{hosts}");

    // Another network does not see these names.
    let (other, resolver2, gw2) = network_with_resolver(&f, "dns2");
    let far = f.name("far");
    run_on(&f, &other, &gw2, &far, &[]);
    for name in [srv.as_str(), "web", &srv_id[..12]] {
        let (code, out) = nslookup(&f, &far, name);
        assert_ne!(code, 0, "{name} resolved across networks: {out}");
        assert!(out.contains("NXDOMAIN"), "{out}");
    }
    f.ok(&["rm", "-f", &far]);

    // Gone after rm (the test resolver answers NXDOMAIN for it).
    f.ok(&["rm", "-f", &srv]);
    let (code, out) = nslookup(&f, &cli, &srv);
    assert_ne!(code, 0, "{srv} still resolves after rm: {out}");
    assert!(out.contains("NXDOMAIN"), "{out}");
    let (code, _) = nslookup(&f, &cli, "web");
    assert_ne!(code, 0);
    f.ok(&["rm", "-f", &cli]);
    remove_networks(&f, vec![(net, resolver), (other, resolver2)]);
}

#[test]
fn other_names_are_forwarded_over_udp_and_tcp() {
    let f = Fixture::new();
    let (net, resolver, gw) = network_with_resolver(&f, "fwd");
    let c = f.name("fwd");
    run_on(&f, &net, &gw, &c, &[]);
    let (code, out) = nslookup(&f, &c, "outside.test");
    assert_eq!(code, 0, "{out}");
    assert_eq!(looked_up(&out), [OUTSIDE.to_string()], "{out}");
    // The upstream's NXDOMAIN reaches the client as it is.
    let (code, out) = nslookup(&f, &c, "nothing.test");
    assert_ne!(code, 0);
    assert!(out.contains("NXDOMAIN"), "{out}");
    // A truncated UDP reply goes to the client, whose libc asks again over
    // TCP: the embedded server forwards that over TCP too.
    let before = resolver.tcp_queries.load(Ordering::SeqCst);
    let out = f.berth(&["exec", &c, "ping", "-c1", "-W1", "big.test"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains(&BIG.to_string()), "ping big.test: {text}");
    assert!(resolver.tcp_queries.load(Ordering::SeqCst) > before);
    // Without --dns the host's nameservers are the upstreams.
    let plain = f.name("plain");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &plain,
        "--network",
        &net,
        "busybox",
        "sleep",
        "300",
    ]);
    let resolv = f.ok(&["exec", &plain, "cat", "/etc/resolv.conf"]);
    assert!(
        resolv.starts_with("nameserver 127.0.0.11\n")
            || resolv.contains("\nnameserver 127.0.0.11\n"),
        "{resolv}"
    );
    f.ok(&["rm", "-f", &c, &plain]);
    remove_networks(&f, vec![(net, resolver)]);
}

#[test]
fn dns_keeps_working_across_a_berthd_restart() {
    let mut f = Fixture::new();
    let (net, resolver, gw) = network_with_resolver(&f, "rst");
    let (a, b) = (f.name("ra"), f.name("rb"));
    run_on(&f, &net, &gw, &a, &[]);
    run_on(&f, &net, &gw, &b, &["--network-alias", "bee"]);
    let ip_b = ip_of(&f, &b);
    assert_eq!(looked_up(&nslookup(&f, &a, "bee").1), vec![ip_b.clone()]);
    f.d.kill9();
    f.d.restart();
    let (code, out) = nslookup(&f, &a, &b);
    assert_eq!((code, looked_up(&out)), (0, vec![ip_b.clone()]), "{out}");
    let (code, out) = nslookup(&f, &a, "bee");
    assert_eq!((code, looked_up(&out)), (0, vec![ip_b]), "{out}");
    let (code, out) = nslookup(&f, &a, "outside.test");
    assert_eq!(
        (code, looked_up(&out)),
        (0, vec![OUTSIDE.to_string()]),
        "{out}"
    );
    // A container stopped after the restart is not answered for.
    f.ok(&["stop", "-t", "1", &b]);
    let (code, _) = nslookup(&f, &a, &b);
    assert_ne!(code, 0);
    f.ok(&["rm", "-f", &a, &b]);
    remove_networks(&f, vec![(net, resolver)]);
}

#[test]
fn joins_do_not_touch_other_members_and_connect_brings_dns() {
    let f = Fixture::new();
    let (net, resolver, gw) = network_with_resolver(&f, "join");
    let first = f.name("first");
    run_on(&f, &net, &gw, &first, &[]);
    let hosts_path =
        f.d.root
            .join("containers")
            .join(f.inspect(&first)["Id"].as_str().unwrap())
            .join("hosts");
    let before = std::fs::metadata(&hosts_path).map(|m| m.modified().unwrap());
    let hosts = f.ok(&["exec", &first, "cat", "/etc/hosts"]);
    let second = f.name("second");
    run_on(&f, &net, &gw, &second, &[]);
    assert_eq!(f.ok(&["exec", &first, "cat", "/etc/hosts"]), hosts);
    if let (Ok(b), Ok(a)) = (
        before,
        std::fs::metadata(&hosts_path).map(|m| m.modified().unwrap()),
    ) {
        assert_eq!(a, b, "{} rewritten by another's join", hosts_path.display());
    }
    assert_eq!(
        looked_up(&nslookup(&f, &first, &second).1),
        [ip_of(&f, &second)]
    );

    // A default-bridge container connected to the network gets the server.
    let late = f.name("late");
    f.ok(&[
        "run", "-d", "--name", &late, "--dns", &gw, "busybox", "sleep", "300",
    ]);
    let resolv = f.ok(&["exec", &late, "cat", "/etc/resolv.conf"]);
    assert!(!resolv.contains("127.0.0.11"), "{resolv}");
    f.ok(&["network", "connect", "--alias", "buddy", &net, &late]);
    let resolv = f.ok(&["exec", &late, "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 127.0.0.11\n"), "{resolv}");
    let (code, out) = nslookup(&f, &late, &first);
    assert_eq!(
        (code, looked_up(&out)),
        (0, vec![ip_of(&f, &first)]),
        "{out}"
    );
    let (code, out) = nslookup(&f, &first, "buddy");
    assert_eq!(code, 0, "{out}");
    f.ok(&["network", "disconnect", &net, &late]);
    let (code, _) = nslookup(&f, &first, "buddy");
    assert_ne!(code, 0, "buddy still resolves after disconnect");
    // One connected while stopped gets it at its next start.
    let cold = f.name("cold");
    f.ok(&[
        "create", "--name", &cold, "--dns", &gw, "busybox", "sleep", "300",
    ]);
    f.ok(&["network", "connect", &net, &cold]);
    f.ok(&["start", &cold]);
    let (code, out) = nslookup(&f, &cold, &first);
    assert_eq!(
        (code, looked_up(&out)),
        (0, vec![ip_of(&f, &first)]),
        "{out}"
    );
    let (code, out) = nslookup(&f, &first, &cold);
    assert_eq!(code, 0, "{out}");
    f.ok(&["rm", "-f", &cold]);
    // rename: the new name resolves, the old one does not.
    let renamed = f.name("renamed");
    f.ok(&["rename", &second, &renamed]);
    let (code, _) = nslookup(&f, &first, &renamed);
    assert_eq!(code, 0);
    let (code, _) = nslookup(&f, &first, &second);
    assert_ne!(code, 0);
    f.ok(&["rm", "-f", &first, &renamed, &late]);
    remove_networks(&f, vec![(net, resolver)]);
}

#[test]
fn none_and_default_bridge_have_no_embedded_server() {
    let f = Fixture::new();
    for mode in ["none", "bridge"] {
        let c = f.name(mode);
        f.ok(&[
            "run",
            "-d",
            "--name",
            &c,
            "--network",
            mode,
            "busybox",
            "sleep",
            "300",
        ]);
        let resolv = f.ok(&["exec", &c, "cat", "/etc/resolv.conf"]);
        assert!(!resolv.contains("127.0.0.11"), "{mode}: {resolv}");
        // Nothing listens on 127.0.0.11:53 (0B00007F:0035) in it.
        for table in ["/proc/net/udp", "/proc/net/tcp"] {
            let sockets = f.ok(&["exec", &c, "cat", table]);
            assert!(
                !sockets.contains("0B00007F:0035"),
                "{mode} {table}: {sockets}"
            );
        }
        f.ok(&["rm", "-f", &c]);
    }
    // On a user network the server is there, UDP and TCP.
    let net = network_name(&f, "srvchk");
    f.ok(&["network", "create", &net]);
    let c = f.name("usr");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &c,
        "--network",
        &net,
        "busybox",
        "sleep",
        "300",
    ]);
    for table in ["/proc/net/udp", "/proc/net/tcp"] {
        let sockets = f.ok(&["exec", &c, "cat", table]);
        assert!(sockets.contains("0B00007F:0035"), "{table}: {sockets}");
    }
    f.ok(&["rm", "-f", &c]);
    f.ok(&["network", "rm", &net]);
}

/// What a user sees in a container on a user network, made comparable
/// between engines: resolv.conf as it is, /etc/hosts and `nslookup` lines
/// with addresses and ids replaced, deduplicated and sorted (busybox prints
/// the A and AAAA replies in the order they arrive).
fn user_view(resolv: &str, lookups: &str) -> (String, Vec<String>) {
    let mut lines: Vec<String> = lookups
        .lines()
        .map(|l| {
            l.split(['\t', ' '])
                .map(|w| {
                    let bare = w.trim_end_matches(".in-addr.arpa");
                    if bare.parse::<Ipv4Addr>().is_ok() {
                        "ADDR"
                    } else if w.len() == 12 && w.chars().all(|c| c.is_ascii_hexdigit()) {
                        "ID"
                    } else {
                        w
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines.sort();
    lines.dedup();
    (resolv.to_string(), lines)
}

/// The script both engines run in a client container: resolv.conf, then
/// lookups of a server's name, alias, name.network, own short id, the
/// server's address (PTR) and an AAAA of its name.
const LOOKUPS: &str = "cat /etc/resolv.conf; echo ---; \
    nslookup srv; nslookup web; nslookup srv.NET; nslookup $(hostname); \
    nslookup $(nslookup srv | sed -n 's/^Address: //p' | tail -1); \
    nslookup -type=aaaa srv";

/// Differential: docker 20.10's embedded DNS and berth's give a container
/// the same resolv.conf and the same `nslookup` answers (modulo addresses).
#[test]
fn resolv_conf_and_nslookup_match_docker() {
    use berth_integration_tests::engines::{Dockerd, Runtime as EngineRuntime, IMAGE};
    let f = Fixture::new();
    let net = network_name(&f, "dif");
    f.ok(&["network", "create", &net]);
    f.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        &net,
        "--network-alias",
        "web",
        "busybox",
        "sleep",
        "300",
    ]);
    let script = LOOKUPS.replace("NET", &net);
    let ours = f.berth(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "sh",
        "-c",
        &script,
    ]);
    let ours = stdout(&ours);
    f.ok(&["rm", "-f", "srv"]);
    f.ok(&["network", "rm", &net]);

    let dockerd = Dockerd::new(EngineRuntime::Runc);
    dockerd.docker(&["network", "create", &net]).ok();
    dockerd
        .docker(&[
            "run",
            "-d",
            "--name",
            "srv",
            "--network",
            &net,
            "--network-alias",
            "web",
            IMAGE,
            "sleep",
            "300",
        ])
        .ok();
    let theirs = dockerd
        .docker(&["run", "--rm", "--network", &net, IMAGE, "sh", "-c", &script])
        .stdout();
    dockerd.docker(&["rm", "-f", "srv"]).ok();
    dockerd.docker(&["network", "rm", &net]).ok();

    let split = |s: &str| {
        let (resolv, rest) = s.split_once("---\n").unwrap_or((s, ""));
        user_view(resolv, rest)
    };
    let (ours_resolv, ours_lines) = split(&ours);
    let (theirs_resolv, theirs_lines) = split(&theirs);
    assert_eq!(ours_resolv, theirs_resolv, "resolv.conf: berth vs docker");
    assert_eq!(
        ours_lines, theirs_lines,
        "nslookup: berth\n{ours}\ndocker\n{theirs}"
    );
    assert!(
        ours_lines
            .iter()
            .any(|l| l.contains(&format!("name = srv.{net}"))),
        "{ours}"
    );
}
