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
use berth_integration_tests::engines::{Dockerd, Runtime, IMAGE};
use berth_integration_tests::{stderr, stdout};
use serde_json::Value;
use std::collections::BTreeMap;
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

/// The JSON type of a value, as the differential test compares them.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Objects whose keys are data (labels, ports, networks...), not fields:
/// their own type is compared, not their keys.
const DATA_MAPS: [&str; 14] = [
    "Labels",
    "Ports",
    "Networks",
    "Data",
    "Options",
    "Containers",
    "ExposedPorts",
    "Volumes",
    "Tmpfs",
    "Sysctls",
    "PortBindings",
    "StorageOpt",
    "DriverOpts",
    "Config",
];

/// Every key path of `v` (`.HostConfig.Ulimits[].Name`) with its JSON type.
fn key_paths(v: &Value, path: &str, out: &mut BTreeMap<String, &'static str>) {
    out.insert(path.to_string(), json_type(v));
    match v {
        Value::Object(m) => {
            let last = path.rsplit('.').next().unwrap_or("");
            // `.Config` and `.ContainerConfig` are docker's structs; a
            // `LogConfig.Config` is a map of options.
            let is_struct = matches!(path, ".Config" | ".ContainerConfig");
            if DATA_MAPS.contains(&last) && !is_struct {
                return;
            }
            for (k, x) in m {
                key_paths(x, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            if let Some(first) = a.first() {
                key_paths(first, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// The key paths docker's object has that Berth's lacks or types otherwise.
fn shape_differences(docker: &Value, berth: &Value) -> Vec<String> {
    let mut d = BTreeMap::new();
    let mut b = BTreeMap::new();
    key_paths(docker, "", &mut d);
    key_paths(berth, "", &mut b);
    d.iter()
        .filter_map(|(path, ty)| match b.get(path) {
            None => Some(format!("missing {path} ({ty})")),
            Some(other) if other != ty => Some(format!("{path}: docker {ty}, berth {other}")),
            Some(_) => None,
        })
        .collect()
}

fn first_object(text: &str) -> Value {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v[0].clone()
}

/// The first line of a table's output: its headers, spacing ignored.
fn headers(text: &str) -> Vec<String> {
    text.lines()
        .next()
        .unwrap_or("")
        .split("  ")
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect()
}

/// The differential scenario (issue 14, Tests): the same commands against
/// a private dockerd 20.10 and a private berthd, on the same busybox image
/// (imported from the same tarball with the same `ENV PATH=/bin`).
#[test]
fn berth_matches_docker_on_the_same_scenario() {
    let f = Fixture::new();
    let dockerd = Dockerd::new(Runtime::Runc);
    let tarball = f.work.join("rootfs.tar");
    f.ok(&[
        "import",
        "-c",
        "ENV PATH=/bin",
        tarball.to_str().unwrap(),
        IMAGE,
    ]);
    let bind = f.work.join("bind");
    std::fs::create_dir_all(&bind).unwrap();
    let bind_spec = format!("{}:/b:ro", bind.display());
    let volume = f.name("dvol");
    let name = f.name("dc");
    let network = f.name("dnet");
    let docker = |args: &[&str]| dockerd.docker_command(args).output().expect("run docker");
    let berth = |args: &[&str]| f.berth(args);
    // Two subnets: docker's bridge for its network is on the host too.
    for (run, subnet) in [
        (&docker as &dyn Fn(&[&str]) -> Output, "10.213.7.0/24"),
        (&berth, "10.213.8.0/24"),
    ] {
        let out = run(&["volume", "create", &volume]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let out = run(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "-v",
            &format!("{volume}:/data"),
            "-v",
            &bind_spec,
            "--log-opt",
            "max-size=1k",
            "-l",
            "a=b",
            "--ulimit",
            "nofile=20000:20000",
            IMAGE,
            "sleep",
            "1000",
        ]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let out = run(&["network", "create", "--subnet", subnet, &network]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }

    // inspect: every key path docker has, with docker's JSON type.
    for (what, docker_args, berth_args) in [
        ("container", vec!["inspect", &name], vec!["inspect", &name]),
        (
            "image",
            vec!["image", "inspect", IMAGE],
            vec!["image", "inspect", IMAGE],
        ),
        (
            "volume",
            vec!["volume", "inspect", &volume],
            vec!["volume", "inspect", &volume],
        ),
        (
            "network",
            vec!["network", "inspect", &network],
            vec!["network", "inspect", &network],
        ),
    ] {
        let d = docker(&docker_args);
        let b = berth(&berth_args);
        assert_eq!(code(&d), 0, "docker {what}: {}", stderr(&d));
        assert_eq!(code(&b), 0, "berth {what}: {}", stderr(&b));
        let differences = shape_differences(&first_object(&stdout(&d)), &first_object(&stdout(&b)));
        assert!(
            differences.is_empty(),
            "{what} inspect differs from docker's:\n{}",
            differences.join("\n")
        );
    }
    // docker's key order (Id first, every nested object's keys too): the
    // keys of the container's inspect JSON as they come in the text
    // (serde_json's map here would sort them).
    {
        let args = ["inspect", name.as_str()];
        let keys = |out: Output| -> Vec<String> {
            stdout(&out)
                .split('"')
                .collect::<Vec<_>>()
                .windows(2)
                .filter(|w| w[1].starts_with(':'))
                .map(|w| w[0].to_string())
                .collect()
        };
        let d = keys(docker(&args));
        let b = keys(berth(&args));
        assert_eq!(d, b, "key order of {args:?}");
    }

    // Table headers.
    for args in [
        vec!["ps", "-a"],
        vec!["images"],
        vec!["volume", "ls"],
        vec!["network", "ls"],
        vec!["stats", "--no-stream", &name],
    ] {
        let d = headers(&stdout(&docker(&args)));
        let b = headers(&stdout(&berth(&args)));
        assert_eq!(d, b, "headers of {args:?}");
    }

    // The common mistakes: exit codes, and messages with docker -> berth.
    let nosuch = "bt-nosuch";
    for args in [
        vec!["run"],
        vec!["exec", &name],
        vec!["frobnicate"],
        vec!["container", "inspect", nosuch],
        vec!["image", "inspect", nosuch],
        vec!["volume", "inspect", nosuch],
        vec!["network", "inspect", nosuch],
        vec!["volume", "rm", nosuch],
        vec!["network", "rm", nosuch],
    ] {
        let d = docker(&args);
        let b = berth(&args);
        assert_eq!(
            code(&d),
            code(&b),
            "exit code of {args:?}: docker {}",
            stderr(&d)
        );
        let first = |out: &Output| {
            stderr(out)
                .lines()
                .next()
                .unwrap_or("")
                .replace("docker", "berth")
        };
        assert_eq!(first(&d), first(&b), "message of {args:?}");
    }

    for run in [&docker as &dyn Fn(&[&str]) -> Output, &berth] {
        run(&["rm", "-f", &name]);
        run(&["volume", "rm", &volume]);
        run(&["network", "rm", &network]);
    }
}
