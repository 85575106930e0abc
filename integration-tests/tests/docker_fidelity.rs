//! Docker fidelity (issue 14): what a docker user meets in the first hour,
//! as docker 20.10 does it. The bugs (`rm -f` of a container with a restart
//! policy, `image prune`'s question, loopback in every network mode,
//! templates over fields Berth once left out, `stats` NET I/O) each against
//! a private berthd; and one differential scenario that runs the same
//! commands against a private dockerd (Debian's docker.io) and berthd and
//! compares exit codes, table headers, the messages of the common mistakes
//! and every key path and JSON type of `inspect` for containers, images,
//! volumes and networks.

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::{stderr, stdout};
use std::io::Write;
use std::process::{Output, Stdio};
use std::time::Duration;

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// `berth ARGS` with `input` on its stdin (a pipe, not a terminal).
fn berth_with_stdin(f: &Fixture, args: &[&str], input: &str) -> Output {
    let mut child =
        f.d.berth_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait berth")
}

/// Bug 2: `rm -f` removes a running container whatever its restart policy,
/// and the policy does not bring it back.
#[test]
fn rm_force_removes_a_running_container_with_a_restart_policy() {
    let f = Fixture::new();
    for policy in ["always", "unless-stopped", "on-failure"] {
        let name = f.name("ra");
        f.ok(&[
            "run",
            "-d",
            "--restart",
            policy,
            "--name",
            &name,
            "busybox",
            "sleep",
            "1000",
        ]);
        let out = f.berth(&["rm", "-f", &name]);
        assert_eq!(
            code(&out),
            0,
            "rm -f with --restart {policy}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), name);
        // Nothing restarts it afterwards (the policy's delay is 100 ms at first).
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            !f.all_names().contains(&name),
            "{name} (--restart {policy}) still listed after rm -f"
        );
        let out = f.berth(&["inspect", &name]);
        assert_eq!(code(&out), 1);
    }
}

/// Bug 3: `image prune` asks docker's question on stdout, reads the answer
/// from stdin whatever it is, and deletes nothing unless told `y`.
#[test]
fn image_prune_asks_before_deleting() {
    let f = Fixture::new();
    let tarball = f.work.join("rootfs.tar");
    // Importing twice under one tag leaves the first image dangling.
    for _ in 0..2 {
        f.ok(&["import", tarball.to_str().unwrap(), "bt-prune:latest"]);
        std::thread::sleep(Duration::from_millis(1100));
    }
    let dangling = || f.ok(&["images", "-q", "--filter", "dangling=true"]);
    assert!(!dangling().is_empty(), "no dangling image to prune");

    for answer in ["n\n", ""] {
        let out = berth_with_stdin(&f, &["image", "prune"], answer);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] Total reclaimed space: 0B",
            "answer {answer:?}"
        );
        assert!(
            !dangling().is_empty(),
            "answer {answer:?} deleted the image"
        );
    }
    let out = berth_with_stdin(&f, &["image", "prune"], "y\n");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("deleted: sha256:"),
        "{}",
        stdout(&out)
    );
    assert!(dangling().is_empty(), "y did not prune");
    f.ok(&["rmi", "bt-prune:latest"]);
}

/// Bug 4: `lo` is up with 127.0.0.1 in every network mode with a namespace
/// of the container's own (none, the default bridge, a user network) and in
/// one joined with `container:`, and a server on 127.0.0.1 is reachable.
#[test]
fn loopback_is_up_in_every_network_mode() {
    let f = Fixture::new();
    let net = f.name("lonet");
    f.ok(&["network", "create", &net]);
    let base = f.name("lobase");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &base,
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    let joined = format!("container:{base}");
    let script =
        "ip addr show lo; nc -l -p 7777 -e echo pong & sleep 0.3; nc 127.0.0.1 7777 </dev/null";
    for mode in ["none", "bridge", net.as_str(), joined.as_str()] {
        let out = f.berth(&[
            "run",
            "--rm",
            "--network",
            mode,
            "busybox",
            "sh",
            "-c",
            script,
        ]);
        let text = stdout(&out);
        assert_eq!(code(&out), 0, "--network {mode}: {text} {}", stderr(&out));
        assert!(text.contains(",UP"), "--network {mode}: lo is down: {text}");
        assert!(
            text.contains("inet 127.0.0.1/8"),
            "--network {mode}: {text}"
        );
        assert!(
            text.ends_with("pong"),
            "--network {mode}: no answer on 127.0.0.1: {text}"
        );
    }
    f.ok(&["rm", "-f", &base]);
    f.ok(&["network", "rm", &net]);
}

/// Bug 5: templates see every field docker's objects have, with docker's
/// zero values: a bind mount's `Name`, `Gateway` with no network.
#[test]
fn templates_see_every_field_with_its_zero_value() {
    let f = Fixture::new();
    let name = f.name("tpl");
    let dir = f.work.join("bind");
    std::fs::create_dir_all(&dir).unwrap();
    let bind = format!("{}:/data:ro", dir.display());
    f.ok(&[
        "create",
        "--name",
        &name,
        "--network",
        "none",
        "-v",
        &bind,
        "busybox",
        "true",
    ]);
    let render = |format: &str| {
        let out = f.berth(&["inspect", "-f", format, &name]);
        assert_eq!(code(&out), 0, "{format}: {}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(
        render("{{range .Mounts}}[{{.Name}}|{{.Mode}}|{{.RW}}]{{end}}"),
        "[|ro|false]"
    );
    assert_eq!(render("[{{.NetworkSettings.Gateway}}]"), "[]");
    assert_eq!(
        render("[{{.HostConfig.CgroupParent}}|{{.Config.StopSignal}}]"),
        "[|]"
    );
    assert_eq!(
        render("{{.HostConfig.OomScoreAdj}} {{.HostConfig.Privileged}}"),
        "0 false"
    );
    // docker's key order, also inside {{json}}.
    let config = render("{{json .Config}}");
    assert!(config.starts_with(r#"{"Hostname":"#), "{config}");
    f.ok(&["rm", &name]);
}

/// Bug 6: `stats` NET I/O counts the container's own interfaces.
#[test]
fn stats_net_io_counts_the_containers_traffic() {
    let f = Fixture::new();
    let name = f.name("netio");
    f.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]);
    let gateway = f.ok(&["inspect", "-f", "{{.NetworkSettings.Gateway}}", &name]);
    assert!(!gateway.is_empty(), "no gateway on the default bridge");
    let out = f.berth(&["exec", &name, "ping", "-c", "3", "-s", "1000", &gateway]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let net_io = f.ok(&["stats", "--no-stream", "--format", "{{.NetIO}}", &name]);
    let (rx, tx) = net_io.split_once(" / ").expect("rx / tx");
    assert_ne!(rx, "0B", "{net_io}");
    assert_ne!(tx, "0B", "{net_io}");
    // 3 pings of 1000 bytes each way: a few kB.
    assert!(rx.ends_with("kB") && tx.ends_with("kB"), "{net_io}");
    f.ok(&["rm", "-f", &name]);
}
