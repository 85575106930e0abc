//! Published ports and network isolation.
//!
//! The firewall tests drive berthd's `networks::firewall` and
//! `networks::ports` on the real kernel inside a private network namespace
//! of the test thread (bridges, veths and namespaces made with `ip`), where
//! ip_forward may be switched on without touching the machine: so the
//! isolation rules are what keeps two networks apart, and the test fails
//! without them.

use berth_integration_tests::ports::{
    datagrams_within, enter_private_netns, http_get, http_get_eventually, loopback_udp_listener,
    sh, TestBridge, TestEndpoint, RAW_UDP_TO_GATEWAY,
};
use berth_integration_tests::{require_root, unique_name, TestDir};
use berth_manager::networks::firewall::{BridgeRules, Firewall};
use berth_manager::networks::ports::{parse_publish, PortError, PortPublisher, PublishError};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

/// Runs `f` on a thread of its own inside a fresh network namespace.
fn in_private_netns(f: impl FnOnce() + Send + 'static) {
    let handle = std::thread::spawn(move || {
        enter_private_netns();
        f()
    });
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
}

/// A UDP echo server (argument: the port).
const UDP_ECHO: &str = "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',int(sys.argv[1])))\nwhile True:\n d,a=s.recvfrom(2048)\n s.sendto(d,a)\n";

/// Sends a datagram to 127.0.0.1:`port` until it comes back (the server
/// may not listen yet); the answer.
fn udp_echo(port: u16) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    for _ in 0..30 {
        sock.send_to(b"ping over udp", ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 64];
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

fn table_name() -> String {
    unique_name("t").replace('-', "_")
}

/// The rules of our table as `nft -j list table` shows them.
fn listed_rules(table: &str) -> Vec<serde_json::Value> {
    let out = Command::new("nft")
        .args(["-j", "list", "table", "ip", table])
        .output()
        .expect("run nft");
    if !out.status.success() {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("nft json");
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("rule").cloned())
        .collect()
}

fn bridge_rules(b: &TestBridge) -> BridgeRules {
    let p: Vec<u8> = b.prefix.split('.').map(|x| x.parse().unwrap()).collect();
    BridgeRules {
        name: b.name.clone(),
        subnet: (Ipv4Addr::new(p[0], p[1], p[2], 0), 24),
    }
}

#[test]
fn bridges_are_isolated_from_each_other_but_not_within() {
    require_root();
    in_private_netns(|| {
        // Routing between the bridges is on in this namespace: only our
        // rules can keep the networks apart.
        sh("echo 1 > /proc/sys/net/ipv4/ip_forward");
        let a = TestBridge::new("btpa0", "10.231.1");
        let b = TestBridge::new("btpb0", "10.231.2");
        let a1 = TestEndpoint::new(&a, 2);
        let a2 = TestEndpoint::new(&a, 3);
        let b1 = TestEndpoint::new(&b, 2);
        assert!(
            a1.pings(&b1.address),
            "control: without rules the networks are routed"
        );
        let table = table_name();
        let fw = Firewall::new(&table).unwrap();
        fw.rebuild(&[bridge_rules(&a), bridge_rules(&b)], &[])
            .unwrap();
        assert!(a1.pings(&a2.address), "same network");
        assert!(!a1.pings(&b1.address), "a -> b must be dropped");
        assert!(!b1.pings(&a1.address), "b -> a must be dropped");
        assert!(
            a1.pings(&a.gateway()) && b1.pings(&b.gateway()),
            "own gateway"
        );
        assert_eq!(fw.count_rules("bridge btpa0").unwrap(), 6);
        // Removing b's rules opens b again, a stays closed to it.
        fw.remove_bridge("btpb0").unwrap();
        assert_eq!(fw.count_rules("bridge btpb0").unwrap(), 0);
        assert!(!b1.pings(&a1.address), "a still isolated");
        fw.add_bridge("btpb0", bridge_rules(&b).subnet).unwrap();
        assert_eq!(fw.count_rules("bridge btpb0").unwrap(), 6);
        fw.delete_table().unwrap();
        assert!(listed_rules(&table).is_empty());
    });
}

#[test]
fn published_ports_reach_the_container_from_loopback_and_go_at_unpublish() {
    require_root();
    in_private_netns(|| {
        let bridge = TestBridge::new("btpp0", "10.231.3");
        let mut ctr = TestEndpoint::new(&bridge, 2);
        let www = TestDir::new("www");
        std::fs::write(www.join("index.html"), "hello from the container\n").unwrap();
        ctr.spawn(&[
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            www.path.to_str().unwrap(),
        ]);
        // busybox-static has no UDP server: python3 echoes datagrams.
        ctr.spawn(&["python3", "-c", UDP_ECHO, "5353"]);
        let table = table_name();
        let publisher = PortPublisher::new(std::sync::Arc::new(Firewall::new(&table).unwrap()));
        publisher
            .firewall()
            .rebuild(&[bridge_rules(&bridge)], &[])
            .unwrap();
        let ip: Ipv4Addr = ctr.address.parse().unwrap();
        let mut bindings = parse_publish("127.0.0.1::80").unwrap();
        bindings.extend(parse_publish("80").unwrap());
        bindings.extend(parse_publish("127.0.0.1::5353/udp").unwrap());
        let published = publisher.publish("ctr1", ip, &bindings, &[]).unwrap();
        assert_eq!(published.len(), 3);
        assert!(published.iter().all(|p| p.host_port != 0));
        // One DNAT rule per published port, nothing else per container.
        assert_eq!(
            publisher.firewall().count_rules("container ctr1").unwrap(),
            3
        );
        let loopback = SocketAddr::from(([127, 0, 0, 1], published[0].host_port));
        assert_eq!(
            http_get_eventually(loopback, Duration::from_secs(10)).unwrap(),
            "hello from the container\n"
        );
        // 0.0.0.0 binding: reached on loopback and on the host's bridge address.
        let any = published[1].host_port;
        assert!(http_get(
            SocketAddr::from(([127, 0, 0, 1], any)),
            Duration::from_secs(5)
        )
        .is_ok());
        let gw: Ipv4Addr = bridge.gateway().parse().unwrap();
        assert!(http_get(SocketAddr::from((gw, any)), Duration::from_secs(5)).is_ok());
        // The 127.0.0.1-only binding is not DNAT'd on another address.
        assert!(http_get(
            SocketAddr::from((gw, published[0].host_port)),
            Duration::from_secs(2)
        )
        .is_err());
        // udp: a datagram to 127.0.0.1:HOST is echoed by the container.
        assert_eq!(
            udp_echo(published[2].host_port).as_deref(),
            Some(&b"ping over udp"[..])
        );
        // A second container on a held port: a clear error, nothing made.
        let clash = parse_publish(&format!("127.0.0.1:{}:80", published[0].host_port)).unwrap();
        let e = publisher.publish("ctr2", ip, &clash, &[]).unwrap_err();
        assert!(
            matches!(e, PublishError::Port(PortError::Allocated { .. })),
            "{e}"
        );
        assert!(e.to_string().contains("port is already allocated"), "{e}");
        assert_eq!(
            publisher.firewall().count_rules("container ctr2").unwrap(),
            0
        );
        // Unpublish: rules gone, port free, nothing answers any more.
        publisher.unpublish("ctr1").unwrap();
        assert_eq!(
            publisher.firewall().count_rules("container ctr1").unwrap(),
            0
        );
        assert!(listed_rules(&table)
            .iter()
            .all(|r| r["comment"].as_str() != Some("container ctr1")));
        assert!(http_get(loopback, Duration::from_secs(2)).is_err());
        std::net::TcpListener::bind(loopback).expect("the host port is free again");
        publisher.firewall().delete_table().unwrap();
    });
}

/// Runs the raw-frame sender in `cmd`'s network namespace: it must have
/// sent its frame (so silence at the listener means a drop, not a failure).
fn send_raw(mut cmd: Command, dst: &str, port: u16, payload: &str) {
    cmd.args([
        "python3",
        "-c",
        RAW_UDP_TO_GATEWAY,
        dst,
        &port.to_string(),
        payload,
    ]);
    let out = berth_integration_tests::run(&mut cmd);
    assert!(
        out.status.success(),
        "raw sender: {}",
        berth_integration_tests::stderr(&out)
    );
}

#[test]
fn a_frame_from_a_bridge_to_127_0_0_1_is_dropped_and_the_loopback_path_still_works() {
    require_root();
    in_private_netns(|| {
        let bridge = TestBridge::new("btpl0", "10.231.4");
        let mut ctr = TestEndpoint::new(&bridge, 2);
        let (listener, port) = loopback_udp_listener();
        // Control: route_localnet, which the loopback path needs, is all
        // it takes for a frame to the gateway's MAC to reach 127.0.0.1.
        sh("echo 1 > /proc/sys/net/ipv4/conf/btpl0/route_localnet");
        send_raw(ctr.command(&[]), "127.0.0.1", port, "before");
        let got = datagrams_within(&listener, Duration::from_secs(2));
        assert!(
            got.iter().any(|(d, _)| d == b"before"),
            "control: without our rules the loopback-only listener hears the container: {got:?}"
        );
        let table = table_name();
        let publisher = PortPublisher::new(std::sync::Arc::new(Firewall::new(&table).unwrap()));
        publisher
            .firewall()
            .rebuild(&[bridge_rules(&bridge)], &[])
            .unwrap();
        send_raw(ctr.command(&[]), "127.0.0.1", port, "after");
        let got = datagrams_within(&listener, Duration::from_secs(2));
        assert!(got.is_empty(), "reached 127.0.0.1 from a bridge: {got:?}");
        // The published-port loopback path still answers.
        let www = TestDir::new("www");
        std::fs::write(www.join("index.html"), "still served\n").unwrap();
        ctr.spawn(&[
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            www.path.to_str().unwrap(),
        ]);
        let ip: Ipv4Addr = ctr.address.parse().unwrap();
        let published = publisher
            .publish("ctrl", ip, &parse_publish("127.0.0.1::80").unwrap(), &[])
            .unwrap();
        let loopback = SocketAddr::from(([127, 0, 0, 1], published[0].host_port));
        assert_eq!(
            http_get_eventually(loopback, Duration::from_secs(10)).unwrap(),
            "still served\n"
        );
        publisher.firewall().delete_table().unwrap();
    });
}

// ---- end to end: berth run -p against a private berthd ----

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::{stderr, stdout};

/// A host port free right now on 127.0.0.1 (tcp).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The busybox command of a container serving `text` at / on port 80.
fn httpd(text: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www"),
    ]
}

/// `berth run -d --name NAME FLAGS... busybox httpd`: the id.
fn run_httpd(f: &Fixture, name: &str, flags: &[&str], text: &str) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    args.push("busybox");
    let cmd = httpd(text);
    args.extend(cmd.iter().map(String::as_str));
    f.ok(&args)
}

/// The rules of this berthd's table that belong to container `id`.
fn container_rules(f: &Fixture, id: &str) -> usize {
    let want = format!("container {id}");
    listed_rules(&f.d.nft_table)
        .iter()
        .filter(|r| r["comment"].as_str() == Some(want.as_str()))
        .count()
}

/// The host port `berth port NAME PRIVATE` shows.
fn shown_port(f: &Fixture, name: &str, private: &str) -> u16 {
    let out = f.ok(&["port", name, private]);
    let line = out.lines().next().unwrap_or_default();
    line.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("berth port {name} {private}: {out:?}"))
}

fn get(port: u16) -> Result<String, String> {
    http_get_eventually(
        SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(10),
    )
}

#[test]
fn run_p_publishes_on_loopback_given_random_and_all_ports() {
    let f = Fixture::new();
    // -p 127.0.0.1:HOST:80
    let host = free_port();
    let a = f.name("pa");
    let id = run_httpd(&f, &a, &["-p", &format!("127.0.0.1:{host}:80")], "given");
    assert_eq!(get(host).unwrap(), "given\n");
    assert_eq!(
        container_rules(&f, &id),
        1,
        "one DNAT rule per published port"
    );
    assert_eq!(f.ok(&["port", &a]), format!("80/tcp -> 127.0.0.1:{host}"));
    let ps = f.ok(&[
        "ps",
        "--filter",
        &format!("name={a}"),
        "--format",
        "{{.Ports}}",
    ]);
    assert_eq!(ps, format!("127.0.0.1:{host}->80/tcp"));
    let v = f.inspect(&a);
    assert_eq!(
        v["HostConfig"]["PortBindings"],
        serde_json::json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": host.to_string()}]})
    );
    assert_eq!(
        v["NetworkSettings"]["Ports"],
        serde_json::json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": host.to_string()}]})
    );
    // -p HOST:80 (every address)
    let host2 = free_port();
    let b = f.name("pb");
    run_httpd(&f, &b, &["-p", &format!("{host2}:80")], "everywhere");
    assert_eq!(get(host2).unwrap(), "everywhere\n");
    // -p 80: a random host port, read back with `berth port`.
    let c = f.name("pc");
    run_httpd(&f, &c, &["-p", "80"], "random");
    let random = shown_port(&f, &c, "80");
    assert_eq!(get(random).unwrap(), "random\n");
    // -P with --expose: every exposed port on a random host port.
    let d = f.name("pd");
    run_httpd(
        &f,
        &d,
        &["-P", "--expose", "80", "--expose", "9000/udp"],
        "all",
    );
    let all = shown_port(&f, &d, "80/tcp");
    assert_eq!(get(all).unwrap(), "all\n");
    assert!(shown_port(&f, &d, "9000/udp") > 0);
    // ps filters: publish= the -p ones, expose= every exposed port.
    let published = f.ok(&["ps", "--filter", "publish=80", "--format", "{{.Names}}"]);
    for n in [&a, &b, &c] {
        assert!(published.lines().any(|l| l == n.as_str()), "{published}");
    }
    assert!(
        !published.lines().any(|l| l == d.as_str()),
        "-P is not a -p binding"
    );
    let exposed = f.ok(&[
        "ps",
        "--filter",
        "expose=9000/udp",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(exposed, d);
}

#[test]
fn rules_and_reservations_go_at_stop_and_rm_and_come_back_at_start() {
    let f = Fixture::new();
    let host = free_port();
    let name = f.name("ps");
    let id = run_httpd(&f, &name, &["-p", &format!("127.0.0.1:{host}:80")], "again");
    assert_eq!(get(host).unwrap(), "again\n");
    f.ok(&["stop", "-t", "1", &name]);
    assert_eq!(container_rules(&f, &id), 0, "rules gone after stop");
    std::net::TcpListener::bind(("127.0.0.1", host)).expect("host port freed at stop");
    assert_eq!(
        f.inspect(&name)["NetworkSettings"]["Ports"],
        serde_json::json!({"80/tcp": null})
    );
    assert_eq!(f.ok(&["port", &name]), "");
    f.ok(&["start", &name]);
    assert_eq!(
        get(host).unwrap(),
        "again\n",
        "same host port after a restart"
    );
    f.ok(&["kill", &name]);
    f.eventually(10, "rules gone after kill", || {
        container_rules(&f, &id) == 0
    });
    f.ok(&["start", &name]);
    assert_eq!(container_rules(&f, &id), 1);
    f.ok(&["rm", "-f", &name]);
    assert_eq!(container_rules(&f, &id), 0, "rules gone after rm -f");
    std::net::TcpListener::bind(("127.0.0.1", host)).expect("host port freed at rm -f");
}

#[test]
fn a_taken_port_is_a_clear_error_at_run_and_nothing_is_left() {
    let f = Fixture::new();
    // A port another process holds.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let name = f.name("pt");
    let mut args = vec!["run", "-d", "--name", &name];
    let spec = format!("127.0.0.1:{port}:80");
    args.extend(["-p", &spec, "busybox", "sleep", "60"]);
    let out = f.berth(&args);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("127.0.0.1:{port}/tcp")) && err.contains("in use"),
        "{err}"
    );
    // docker keeps the created container, not running, with no rule.
    let v = f.inspect(&name);
    assert_ne!(v["State"]["Status"], "running");
    let id = v["Id"].as_str().unwrap().to_string();
    assert_eq!(container_rules(&f, &id), 0);
    f.ok(&["rm", &name]);
    drop(held);
    // A port another container holds: docker's "port is already allocated".
    let first = f.name("pu");
    run_httpd(&f, &first, &["-p", &spec], "first");
    let second = f.name("pv");
    let out = f.berth(&[
        "run", "-d", "--name", &second, "-p", &spec, "busybox", "sleep", "60",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("port is already allocated"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        get(port).unwrap(),
        "first\n",
        "the first container keeps its port"
    );
    let second_id = f.inspect(&second)["Id"].as_str().unwrap().to_string();
    assert_eq!(container_rules(&f, &second_id), 0);
}

#[test]
fn invalid_port_specs_fail_with_125_and_create_nothing() {
    let f = Fixture::new();
    for (flags, says) in [
        (vec!["-p", "99999:80"], "invalid hostPort: 99999"),
        (vec!["-p", "abc"], "invalid containerPort: abc"),
        (vec!["-p", "80/sctp"], "sctp"),
        (vec!["-p", "1.2.3:80:80"], "invalid IP address"),
        (vec!["-p", "8000-8002:80-81"], "invalid ranges"),
        (vec!["--expose", "80:80"], "--expose takes a port"),
    ] {
        let name = f.name("pi");
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend_from_slice(&flags);
        args.extend(["busybox", "true"]);
        let out = f.berth(&args);
        assert_eq!(out.status.code(), Some(125), "{flags:?}: {}", stdout(&out));
        assert!(stderr(&out).contains(says), "{flags:?}: {}", stderr(&out));
        assert!(!f.all_names().contains(&name), "{flags:?} left a container");
    }
    assert!(listed_rules(&f.d.nft_table).iter().all(|r| r["comment"]
        .as_str()
        .map(|c| !c.starts_with("container "))
        .unwrap_or(true)));
}

#[test]
fn published_ports_survive_a_berthd_kill_9_and_go_at_stop_after() {
    let mut f = Fixture::new();
    let host = free_port();
    let name = f.name("pk");
    let id = run_httpd(
        &f,
        &name,
        &["-p", &format!("127.0.0.1:{host}:80")],
        "survivor",
    );
    assert_eq!(get(host).unwrap(), "survivor\n");
    f.d.kill9();
    f.d.restart();
    assert_eq!(get(host).unwrap(), "survivor\n");
    assert_eq!(container_rules(&f, &id), 1, "rebuilt once, not doubled");
    // The reservation is held again: nobody else can take the port.
    assert!(std::net::TcpListener::bind(("127.0.0.1", host)).is_err());
    f.ok(&["stop", "-t", "1", &name]);
    assert_eq!(container_rules(&f, &id), 0);
    std::net::TcpListener::bind(("127.0.0.1", host)).expect("freed at stop");
}

#[test]
fn udp_is_published_too() {
    let f = Fixture::new();
    let name = f.name("pu");
    // busybox-static has no UDP server: the host's python3 (bind-mounted
    // read-only with its libraries) echoes datagrams.
    f.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        "127.0.0.1::5353/udp",
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/usr/lib:/lib:ro",
        "-v",
        "/usr/lib64:/lib64:ro",
        "busybox",
        "/usr/bin/python3",
        "-c",
        UDP_ECHO,
        "5353",
    ]);
    let port = shown_port(&f, &name, "5353/udp");
    assert_eq!(udp_echo(port).as_deref(), Some(&b"ping over udp"[..]));
}

#[test]
fn a_container_cannot_reach_host_loopback_services_and_its_published_port_answers() {
    let f = Fixture::new();
    let host = free_port();
    let name = f.name("pl");
    run_httpd(
        &f,
        &name,
        &["-p", &format!("127.0.0.1:{host}:80")],
        "loopback",
    );
    let pid = f.pid(&name).to_string();
    let in_container = || {
        let mut c = Command::new("nsenter");
        c.args(["-t", &pid, "-n"]);
        c
    };
    // A frame for 127.0.0.1 from the container (the host's python3 in the
    // container's network namespace: a default container has CAP_NET_RAW).
    let (listener, port) = loopback_udp_listener();
    send_raw(in_container(), "127.0.0.1", port, "to loopback");
    let got = datagrams_within(&listener, Duration::from_secs(2));
    assert!(
        got.is_empty(),
        "a container reached a host service bound to 127.0.0.1: {got:?}"
    );
    // Control: the same sender reaches the gateway's own address, so the
    // silence above is the drop and not a sender that never sent.
    let gateway = f.inspect(&name)["NetworkSettings"]["Gateway"]
        .as_str()
        .unwrap()
        .to_string();
    let at_gateway = UdpSocket::bind((gateway.as_str(), 0)).unwrap();
    let gw_port = at_gateway.local_addr().unwrap().port();
    send_raw(in_container(), &gateway, gw_port, "to gateway");
    let got = datagrams_within(&at_gateway, Duration::from_secs(2));
    assert!(
        got.iter().any(|(d, _)| d == b"to gateway"),
        "control: the raw frame to the gateway arrives: {got:?}"
    );
    // The published port on the host's loopback still answers.
    assert_eq!(get(host).unwrap(), "loopback\n");
}
