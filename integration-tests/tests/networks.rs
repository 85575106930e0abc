//! Bridge networks end to end: the default `bridge` network, user networks
//! with names and aliases (embedded DNS), connect/disconnect,
//! `--network container:ID`, IPAM across a berthd crash, bad input, and
//! no leftovers after 100 `run --rm` cycles. Traffic goes only between the
//! host and the namespaces these tests create.

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::networks::{
    bridge_of, bridge_ports, link_exists, network_inspect, network_name, nft_rule_count,
};
use berth_integration_tests::{stderr, stdout};
use std::process::Command;

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

/// Whether dotted `ip` is inside CIDR `subnet`.
fn in_subnet(ip: &str, subnet: &str) -> bool {
    let (net, prefix) = subnet.split_once('/').unwrap();
    let a: u32 = ip.parse::<std::net::Ipv4Addr>().unwrap().into();
    let n: u32 = net.parse::<std::net::Ipv4Addr>().unwrap().into();
    let p: u32 = prefix.parse().unwrap();
    let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
    a & mask == n & mask
}

#[test]
fn default_bridge_gives_address_route_and_files() {
    let f = Fixture::new();
    let c = f.name("def");
    let id = f.run_detached(&c, &["sleep", "300"]);
    let net = network_inspect(&f, "bridge");
    let subnet = net["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap()
        .to_string();
    let gateway = net["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .unwrap()
        .to_string();
    let ip = ip_of(&f, &c);
    assert!(in_subnet(&ip, &subnet), "{ip} in {subnet}");
    let settings = &f.inspect(&c)["NetworkSettings"];
    assert_eq!(settings["Gateway"], gateway.as_str());
    assert_eq!(settings["Networks"]["bridge"]["IPAddress"], ip.as_str());
    assert_eq!(f.inspect(&c)["HostConfig"]["NetworkMode"], "bridge");
    assert!(net["Containers"][&id].is_object(), "{net}");

    // eth0 with the address, the default route via the gateway.
    let addr = f.ok(&["exec", &c, "ip", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains(&format!("inet {ip}/")), "{addr}");
    let routes = f.ok(&["exec", &c, "ip", "route"]);
    assert!(
        routes.contains(&format!("default via {gateway}")),
        "{routes}"
    );
    // The host reaches it through the bridge.
    // busybox-static's ping (iputils may not be installed).
    let ping = Command::new("busybox")
        .args(["ping", "-c1", "-W2", &ip])
        .output()
        .unwrap();
    assert!(ping.status.success(), "host pings {ip}: {}", stdout(&ping));

    // Its name files.
    let hosts = f.ok(&["exec", &c, "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip}\t{}", &id[..12])), "{hosts}");
    assert_eq!(
        f.ok(&["exec", &c, "cat", "/etc/hostname"]).trim(),
        &id[..12]
    );
    let resolv = f.ok(&["exec", &c, "cat", "/etc/resolv.conf"]);
    assert!(!resolv.contains("nameserver 127."), "{resolv}");
    let ps = f.ok(&[
        "ps",
        "--filter",
        &format!("name={c}"),
        "--format",
        "{{.Networks}}",
    ]);
    assert_eq!(ps.trim(), "bridge");

    // The veth is on the bridge while it runs, gone after rm.
    assert_eq!(bridge_ports(&f.d.bridge).len(), 1);
    f.ok(&["rm", "-f", &c]);
    assert!(bridge_ports(&f.d.bridge).is_empty());
    assert!(network_inspect(&f, "bridge")["Containers"]
        .as_object()
        .unwrap()
        .is_empty());
}

#[test]
fn user_network_names_aliases_connect_disconnect() {
    let f = Fixture::new();
    let net = network_name(&f, "net");
    let id = f.ok(&["network", "create", &net]);
    assert_eq!(id.trim().len(), 64);
    let ls = f.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert!(ls.contains(&format!("{net} bridge")), "{ls}");
    assert!(link_exists(&bridge_of(&f, &net)));

    let srv = f.name("srv");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &srv,
        "--network",
        &net,
        "--network-alias",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo hello > /tmp/index.html && exec httpd -f -p 80 -h /tmp",
    ]);
    // By name and by alias, from another container on the network.
    for target in [srv.as_str(), "web"] {
        let got = f.ok(&[
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "wget",
            "-qO-",
            &format!("http://{target}/"),
        ]);
        assert_eq!(got.trim(), "hello", "wget http://{target}/");
    }
    f.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "ping",
        "-c1",
        "-W2",
        &srv,
    ]);
    // The default bridge has no names.
    let out = f.berth(&["run", "--rm", "busybox", "ping", "-c1", "-W1", &srv]);
    assert_ne!(out.status.code(), Some(0));

    // connect adds names both ways, disconnect takes them away again.
    let other = f.name("oth");
    f.run_detached(&other, &["sleep", "300"]);
    f.ok(&["network", "connect", "--alias", "buddy", &net, &other]);
    // Names come from the embedded DNS server (tests/network_dns.rs has
    // the rest); /etc/hosts never lists the others.
    for name in [other.as_str(), "buddy"] {
        f.ok(&["exec", &srv, "ping", "-c1", "-W2", name]);
    }
    let hosts = f.ok(&["exec", &srv, "cat", "/etc/hosts"]);
    assert!(
        !hosts.contains(&other) && !hosts.contains("buddy"),
        "{hosts}"
    );
    let got = f.ok(&["exec", &other, "wget", "-qO-", &format!("http://{srv}/")]);
    assert_eq!(got.trim(), "hello");
    let eth1 = f.ok(&["exec", &other, "ip", "-4", "addr", "show", "eth1"]);
    assert!(eth1.contains("inet "), "{eth1}");
    let inspect = f.inspect(&other);
    assert!(inspect["NetworkSettings"]["Networks"][&net]["IPAddress"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    f.ok(&["network", "disconnect", &net, &other]);
    let out = f.berth(&["exec", &srv, "ping", "-c1", "-W1", "buddy"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "buddy resolves after disconnect"
    );
    let out = f.berth(&["exec", &other, "ip", "link", "show", "eth1"]);
    assert_ne!(out.status.code(), Some(0), "eth1 gone after disconnect");

    // rm of a network in use: docker's message; then it goes.
    let err = stderr(&f.berth(&["network", "rm", &net]));
    assert!(err.contains("has active endpoints"), "{err}");
    let bridge = bridge_of(&f, &net);
    f.ok(&["rm", "-f", &srv, &other]);
    f.ok(&["network", "rm", &net]);
    assert!(!link_exists(&bridge), "bridge {bridge} deleted");
    let out = f.berth(&["network", "inspect", &net]);
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn container_network_mode_shares_eth0() {
    let f = Fixture::new();
    let a = f.name("a");
    f.run_detached(&a, &["sleep", "300"]);
    let ip = ip_of(&f, &a);
    let addr = f.ok(&[
        "run",
        "--rm",
        "--network",
        &format!("container:{a}"),
        "busybox",
        "ip",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(addr.contains(&format!("inet {ip}/")), "{addr}");
    f.ok(&["stop", "-t", "0", &a]);
    let out = f.berth(&[
        "run",
        "--rm",
        "--network",
        &format!("container:{a}"),
        "busybox",
        "true",
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("non running container"),
        "{}",
        stderr(&out)
    );
    let out = f.berth(&[
        "run",
        "--rm",
        "--network",
        "container:nosuchbt",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("No such container: nosuchbt"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ipam_survives_berthd_kill9() {
    let mut f = Fixture::new();
    let net = network_name(&f, "ipam");
    f.ok(&["network", "create", &net]);
    let a = f.name("a");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &a,
        "--network",
        &net,
        "busybox",
        "sleep",
        "300",
    ]);
    let ip_a = ip_of(&f, &a);
    f.d.kill9();
    f.d.restart();
    let b = f.name("b");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &b,
        "--network",
        &net,
        "busybox",
        "sleep",
        "300",
    ]);
    let ip_b = ip_of(&f, &b);
    assert_ne!(ip_a, ip_b);
    assert_eq!(ip_of(&f, &a), ip_a, "a keeps its address");
    // And they still reach each other.
    f.ok(&["exec", &b, "ping", "-c1", "-W2", &a]);
    f.ok(&["rm", "-f", &a, &b]);
    f.ok(&["network", "rm", &net]);
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    let f = Fixture::new();
    let net = network_name(&f, "bad");
    f.ok(&["network", "create", &net]);
    let subnet = network_inspect(&f, &net)["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap()
        .to_string();
    let other = network_name(&f, "overlap");
    let err = stderr(&f.berth(&["network", "create", "--subnet", &subnet, &other]));
    assert!(err.contains("overlaps"), "{err}");
    let err = stderr(&f.berth(&["network", "create", "--subnet", "10.0.0.1/8", &other]));
    assert!(err.contains("invalid subnet"), "{err}");
    let err = stderr(&f.berth(&["network", "create", &net]));
    assert!(err.contains("already exists"), "{err}");

    let bridge = bridge_of(&f, &net);
    let gateway = network_inspect(&f, &net)["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .unwrap()
        .to_string();
    for (args, want) in [
        (
            vec!["--network", "nosuchnetbt"],
            "network nosuchnetbt not found",
        ),
        (
            vec!["--network", &net, "--ip", "192.0.2.200"],
            "is not in subnet",
        ),
        (vec!["--network", &net, "--ip", &gateway], "reserved"),
        (vec!["--ip", "10.1.2.3"], "user defined networks only"),
    ] {
        let name = f.name("bad");
        let mut run = vec!["run", "--rm", "--name", &name];
        run.extend(args.iter().copied());
        run.extend(["busybox", "true"]);
        let out = f.berth(&run);
        assert_eq!(out.status.code(), Some(125), "{run:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{run:?}: {}", stderr(&out));
        assert!(f
            .ok(&["ps", "-aq", "--filter", &format!("name={name}")])
            .trim()
            .is_empty());
    }
    // An address taken.
    let a = f.name("a");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &a,
        "--network",
        &net,
        "busybox",
        "sleep",
        "300",
    ]);
    let ip_a = ip_of(&f, &a);
    let out = f.berth(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--ip",
        &ip_a,
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("already in use"), "{}", stderr(&out));
    let containers = network_inspect(&f, &net)["Containers"]
        .as_object()
        .unwrap()
        .len();
    assert_eq!(containers, 1, "only a holds an address");
    f.ok(&["rm", "-f", &a]);
    assert!(bridge_ports(&bridge).is_empty(), "no veth left on {bridge}");
    assert!(
        bridge_ports(&f.d.bridge).is_empty(),
        "no veth left on the default bridge"
    );
    let err = stderr(&f.berth(&["network", "rm", "bridge"]));
    assert!(err.contains("pre-defined"), "{err}");
    f.ok(&["network", "rm", &net]);
}

#[test]
fn hundred_run_rm_cycles_leave_nothing() {
    let f = Fixture::new();
    let net = network_name(&f, "cyc");
    f.ok(&["network", "create", &net]);
    let bridge = bridge_of(&f, &net);
    let rules_before = nft_rule_count(&f.d.nft_table);
    for i in 0..100 {
        let out = f.berth(&["run", "--rm", "--network", &net, "busybox", "true"]);
        assert_eq!(out.status.code(), Some(0), "cycle {i}: {}", stderr(&out));
    }
    assert!(bridge_ports(&bridge).is_empty(), "no veth on {bridge}");
    let n = network_inspect(&f, &net);
    assert!(n["Containers"].as_object().unwrap().is_empty(), "{n}");
    assert_eq!(nft_rule_count(&f.d.nft_table), rules_before);
    assert!(f.ok(&["ps", "-aq"]).trim().is_empty());
    f.ok(&["network", "rm", &net]);
}

#[test]
fn ls_filters_inspect_format_ps_filter_prune_and_events() {
    let f = Fixture::new();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let labelled = network_name(&f, "lab");
    let spare = network_name(&f, "spare");
    f.ok(&["network", "create", "--label", "team=a", &labelled]);
    f.ok(&["network", "create", &spare]);
    let ls = f.ok(&[
        "network",
        "ls",
        "--filter",
        "label=team=a",
        "--format",
        "{{.Name}}",
    ]);
    assert_eq!(ls.trim(), labelled);
    let q = f.ok(&["network", "ls", "-q", "--filter", &format!("name={spare}")]);
    assert_eq!(q.trim().len(), 12, "{q}");
    let err = stderr(&f.berth(&["network", "ls", "--filter", "bogus=1"]));
    assert!(err.contains("invalid filter"), "{err}");
    let line = f.ok(&[
        "network",
        "inspect",
        "--format",
        "{{.Name}} {{.Driver}}",
        &labelled,
    ]);
    assert_eq!(line.trim(), format!("{labelled} bridge"));
    let table = f.ok(&["network", "ls"]);
    assert!(table.starts_with("NETWORK ID"), "{table}");
    assert!(
        table.contains("bridge"),
        "the default network is listed: {table}"
    );

    let c = f.name("c");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &c,
        "--network",
        &labelled,
        "busybox",
        "sleep",
        "300",
    ]);
    let on = f.ok(&[
        "ps",
        "--filter",
        &format!("network={labelled}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(on.trim(), c);
    let off = f.ok(&["ps", "--filter", "network=bridge", "--format", "{{.Names}}"]);
    assert!(!off.contains(&c), "{off}");

    // prune takes the unused network only.
    let pruned = f.ok(&["network", "prune", "-f"]);
    assert!(
        pruned.contains(&spare) && !pruned.contains(&labelled),
        "{pruned}"
    );
    assert_ne!(
        f.berth(&["network", "inspect", &spare]).status.code(),
        Some(0)
    );
    f.ok(&["rm", "-f", &c]);
    f.ok(&["network", "rm", &labelled]);

    // Events up to a second from now: the stream ends then.
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let events = f.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=network",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    for want in [
        format!("create {labelled}"),
        format!("connect {labelled}"),
        format!("disconnect {labelled}"),
        format!("destroy {labelled}"),
        format!("destroy {spare}"),
    ] {
        assert!(events.contains(&want), "{want} in:\n{events}");
    }
}

/// Two user networks on one host: a container reaches its own network's
/// server but not the other network's, by address (names are per network
/// anyway), while the host reaches both. Isolation holds with this host's
/// ip_forward off and, through our nft forward rules, with it on (that case
/// is `ports.rs::bridges_are_isolated_from_each_other_but_not_within`).
#[test]
fn containers_on_two_user_networks_are_isolated() {
    let f = Fixture::new();
    let (na, nb) = (network_name(&f, "isa"), network_name(&f, "isb"));
    f.ok(&["network", "create", &na]);
    f.ok(&["network", "create", &nb]);
    let serve = "echo hello > /tmp/index.html && exec httpd -f -p 80 -h /tmp";
    let (sa, sb) = (f.name("sva"), f.name("svb"));
    for (name, net) in [(&sa, &na), (&sb, &nb)] {
        f.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "busybox",
            "sh",
            "-c",
            serve,
        ]);
    }
    let (ipa, ipb) = (ip_of(&f, &sa), ip_of(&f, &sb));
    let client = f.name("cli");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &client,
        "--network",
        &na,
        "busybox",
        "sleep",
        "300",
    ]);
    // busybox-static's `wget -T` crashes (SIGSEGV): bound it with `timeout`.
    let fetch = |ip: &str| {
        f.berth(&[
            "exec",
            &client,
            "timeout",
            "3",
            "wget",
            "-qO-",
            &format!("http://{ip}/"),
        ])
    };
    // Its own network: by name and by address.
    let own = fetch(&ipa);
    assert_eq!(stdout(&own).trim(), "hello", "{}", stderr(&own));
    let got = f.ok(&[
        "exec",
        &client,
        "timeout",
        "3",
        "wget",
        "-qO-",
        &format!("http://{sa}/"),
    ]);
    assert_eq!(got.trim(), "hello");
    // The other network: neither its address nor its name.
    let other = fetch(&ipb);
    assert_ne!(
        other.status.code(),
        Some(0),
        "reached {ipb} across networks"
    );
    assert!(stdout(&other).trim().is_empty());
    let by_name = f.berth(&[
        "exec",
        &client,
        "timeout",
        "3",
        "wget",
        "-qO-",
        &format!("http://{sb}/"),
    ]);
    assert_ne!(
        by_name.status.code(),
        Some(0),
        "{sb} resolved across networks"
    );
    // The host reaches both (the test's own namespaces only).
    for ip in [&ipa, &ipb] {
        let ping = Command::new("busybox")
            .args(["ping", "-c1", "-W2", ip])
            .output()
            .unwrap();
        assert!(ping.status.success(), "host pings {ip}");
    }
}
