//! Published ports and network isolation.
//!
//! The firewall tests drive berthd's `networks::firewall` and
//! `networks::ports` on the real kernel inside a private network namespace
//! of the test thread (bridges, veths and namespaces made with `ip`), where
//! ip_forward may be switched on without touching the machine: so the
//! isolation rules are what keeps two networks apart, and the test fails
//! without them.

use berth_integration_tests::ports::{
    enter_private_netns, http_get, http_get_eventually, sh, TestBridge, TestEndpoint,
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
        assert_eq!(fw.count_rules("bridge btpa0").unwrap(), 5);
        // Removing b's rules opens b again, a stays closed to it.
        fw.remove_bridge("btpb0").unwrap();
        assert_eq!(fw.count_rules("bridge btpb0").unwrap(), 0);
        assert!(!b1.pings(&a1.address), "a still isolated");
        fw.add_bridge("btpb0", bridge_rules(&b).subnet).unwrap();
        assert_eq!(fw.count_rules("bridge btpb0").unwrap(), 5);
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
