//! The Docker Engine API on berthd's docker socket (issue 18), driven by
//! Debian's docker CLI 20.10 (`/usr/bin/docker`, never /usr/local/bin's)
//! with DOCKER_HOST pointing at a private berthd's socket, and by raw HTTP
//! for what the CLI never sends (bad versions, malformed bodies, unknown
//! endpoints, clients that hang up). The differential test runs the same
//! docker commands against a private dockerd and compares exit codes,
//! output and the shapes of the JSON.

use berth_integration_tests::containers::{Fixture, Tmux};
use berth_integration_tests::docker_client::{
    docker, docker_in, docker_ok, fd_links, fds_return_to, http, raw_err, raw_out, TIMEOUT,
};
use berth_integration_tests::engines::{run_with_input, Dockerd, Runtime, DOCKER_CLI, IMAGE};
use berth_integration_tests::shapes::shape_differences;
use berth_integration_tests::{stderr, stdout};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Output};
use std::time::Duration;

#[test]
fn ping_version_and_info_answer_as_docker() {
    let f = Fixture::new();
    let sock = &f.d.docker_socket;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::metadata(sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.mode() & 0o777, 0o660, "socket mode");
    assert_eq!(meta.uid(), 0);

    for method in ["GET", "HEAD"] {
        let a = http(sock, method, "/_ping", None);
        assert_eq!(a.status, 200, "{method} /_ping");
        assert_eq!(a.header("api-version"), Some("1.41"));
        assert_eq!(a.header("ostype"), Some("linux"));
        assert_eq!(a.header("docker-experimental"), Some("false"));
        assert!(a.header("server").is_some());
        assert_eq!(a.header("builder-version"), None, "no BuildKit advertised");
        let want: &[u8] = if method == "GET" { b"OK" } else { b"" };
        assert_eq!(a.body, want);
    }
    let v = http(sock, "GET", "/v1.41/version", None).json();
    assert_eq!(v["ApiVersion"], "1.41");
    assert_eq!(v["MinAPIVersion"], "1.24");
    assert_eq!(v["Os"], "linux");

    let out = docker_ok(
        &f,
        &[
            "version",
            "--format",
            "{{.Server.APIVersion}} {{.Server.Os}}",
        ],
    );
    assert_eq!(out.trim(), "1.41 linux");
    let info: Value =
        serde_json::from_str(&docker_ok(&f, &["info", "--format", "{{json .}}"])).unwrap();
    // The berth CLI's own info says the same (one system domain).
    let berth_info: Value =
        serde_json::from_str(&f.ok(&["info", "--format", "{{json .}}"])).unwrap();
    assert_eq!(info["NCPU"], berth_info["NCPU"]);
    assert_eq!(info["Images"], 1);
    assert_eq!(info["DockerRootDir"], f.d.root.display().to_string());
}

#[test]
fn bad_requests_get_dockers_errors() {
    let f = Fixture::new();
    let sock = &f.d.docker_socket;
    let old = http(sock, "GET", "/v1.12/info", None);
    assert_eq!(old.status, 400);
    assert_eq!(
        old.json()["message"],
        "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"
    );
    let new = http(sock, "GET", "/v1.99/containers/json", None);
    assert_eq!(new.status, 400);
    assert_eq!(
        new.json()["message"],
        "client version 1.99 is too new. Maximum supported API version is 1.41"
    );
    let unknown = http(sock, "GET", "/v1.41/no/such/endpoint", None);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["message"], "page not found");
    assert_eq!(unknown.header("content-type"), Some("application/json"));

    let before = f.all_names().len();
    let cases = [
        (
            r#"{"Image": "busybox", "Cmd": ["true"]"#,
            "invalid JSON body",
        ),
        (
            r#"{"Image": "busybox", "HostConfig": {"Memory": "lots"}}"#,
            "HostConfig.Memory",
        ),
        (r#"{"Image": ["busybox"]}"#, "field Image"),
        ("", "empty body"),
    ];
    for (body, want) in cases {
        let a = http(sock, "POST", "/v1.41/containers/create", Some(body));
        assert_eq!(a.status, 400, "{body}");
        let message = a.json()["message"].as_str().unwrap().to_string();
        assert!(message.contains(want), "{body}: {message}");
    }
    // Unknown fields are ignored, as docker does.
    let a = http(
        sock,
        "POST",
        "/v1.41/containers/create?name=bt-api-unknown",
        Some(r#"{"Image": "busybox", "Cmd": ["true"], "NoSuchField": {"x": 1}}"#),
    );
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["Id"].as_str().unwrap().len(), 64);
    assert_eq!(f.all_names().len(), before + 1);
    let missing = http(sock, "POST", "/containers/bt-no-such/start", None);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "No such container: bt-no-such");
    let twice = http(sock, "POST", "/containers/bt-api-unknown/stop", None);
    assert_eq!(twice.status, 304, "stop of a stopped container");
    let gone = http(
        sock,
        "POST",
        "/images/create?fromSrc=http%3A%2F%2F127.0.0.1%3A9%2Fx.tar",
        None,
    );
    assert_eq!(gone.status, 501);
    assert!(gone.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("not implemented: "));
}

#[test]
fn docker_cli_runs_a_container_through_its_lifecycle() {
    let f = Fixture::new();
    let name = f.name("api-life");
    let id = docker_ok(
        &f,
        &[
            "run",
            "-d",
            "--name",
            &name,
            "-e",
            "GREETING=hi",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exec sleep 1000",
        ],
    );
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let ps = docker_ok(&f, &["ps", "--format", "{{.Names}} {{.Image}} {{.Status}}"]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&format!("{name} busybox Up"))),
        "{ps}"
    );
    let state = docker_ok(
        &f,
        &[
            "inspect",
            "--format",
            "{{.State.Status}} {{.Config.Env}}",
            &name,
        ],
    );
    assert!(state.starts_with("running [GREETING=hi"), "{state}");
    f.eventually(20, "both lines logged", || {
        stdout(&docker(&f, &["logs", &name])).contains("out")
    });
    let logs = docker(&f, &["logs", &name]);
    assert_eq!(raw_out(&logs), "out\n");
    assert_eq!(raw_err(&logs), "err\n", "stderr framed apart from stdout");
    let top = docker_ok(&f, &["top", &name]);
    assert!(top.contains("sleep 1000"), "{top}");
    docker_ok(&f, &["pause", &name]);
    assert_eq!(
        docker_ok(&f, &["inspect", "--format", "{{.State.Status}}", &name]).trim(),
        "paused"
    );
    docker_ok(&f, &["unpause", &name]);
    let renamed = f.name("api-renamed");
    docker_ok(&f, &["rename", &name, &renamed]);
    // sleep is PID 1: SIGTERM does not end it, docker's default SIGKILL does.
    docker_ok(&f, &["kill", &renamed]);
    assert_eq!(docker_ok(&f, &["wait", &renamed]).trim(), "137");
    docker_ok(&f, &["start", &renamed]);
    docker_ok(&f, &["restart", "-t", "1", &renamed]);
    assert_eq!(
        docker_ok(&f, &["inspect", "--format", "{{.State.Running}}", &renamed]).trim(),
        "true"
    );
    docker_ok(&f, &["stop", "-t", "1", &renamed]);
    assert_eq!(
        docker_ok(
            &f,
            &["inspect", "--format", "{{.State.ExitCode}}", &renamed]
        )
        .trim(),
        "137"
    );
    let rm = docker(&f, &["rm", "bt-no-such-ctr"]);
    assert_eq!(rm.status.code(), Some(1));
    assert_eq!(
        stderr(&rm).trim(),
        "Error: No such container: bt-no-such-ctr"
    );
    docker_ok(&f, &["rm", &renamed]);
    assert!(!f.all_names().contains(&renamed));
}

#[test]
fn docker_run_attached_passes_output_stdin_and_exit_codes() {
    let f = Fixture::new();
    let out = docker(
        &f,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo hello; echo oops >&2; exit 3",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(raw_out(&out), "hello\n");
    assert_eq!(raw_err(&out), "oops\n");
    let out = docker_in(
        &f,
        &["run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z"],
        b"piped stdin\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(raw_out(&out), "PIPED STDIN\n");
    // --rm: nothing left.
    f.eventually(20, "--rm containers removed", || f.all_names().is_empty());
    // start -a on a created container.
    let name = f.name("api-starta");
    docker_ok(
        &f,
        &["create", "--name", &name, "busybox", "echo", "from start"],
    );
    let out = docker(&f, &["start", "-a", &name]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(raw_out(&out), "from start\n");
    docker_ok(&f, &["rm", &name]);
}

#[test]
fn docker_run_and_exec_it_in_a_terminal() {
    let f = Fixture::new();
    let name = f.name("api-tty");
    // tmux gives docker a real terminal: raw mode, the size, resizes.
    let docker_line = |args: &str| {
        format!(
            "DOCKER_HOST={} DOCKER_CONFIG={} {DOCKER_CLI} {args}; echo docker-exit=$?; sleep 60",
            f.d.docker_host(),
            f.work.join("docker-cli").display(),
        )
    };
    let term = Tmux::start(
        &docker_line(&format!("run -it --name {name} busybox sh")),
        100,
        30,
    );
    term.wait_for("/ #", 20);
    term.keys(&["echo typed-$((6*7)); tty", "Enter"]);
    term.wait_for("typed-42", 10);
    term.wait_for("/dev/pts/0", 10);
    term.keys(&["stty size", "Enter"]);
    term.wait_for("30 100", 10);
    term.resize(120, 40);
    std::thread::sleep(Duration::from_millis(300));
    term.keys(&["clear; stty size", "Enter"]);
    term.wait_for("40 120", 10);
    term.keys(&["exit 3", "Enter"]);
    term.wait_for("docker-exit=3", 10);
    drop(term);

    docker_ok(&f, &["start", &name]);
    let term = Tmux::start(&docker_line(&format!("exec -it {name} sh")), 90, 20);
    term.wait_for("/ #", 20);
    term.keys(&["stty size; echo in-exec-$((2+3))", "Enter"]);
    term.wait_for("20 90", 10);
    term.wait_for("in-exec-5", 10);
    term.keys(&["exit 4", "Enter"]);
    term.wait_for("docker-exit=4", 10);
    drop(term);
    docker_ok(&f, &["rm", "-f", &name]);
}

#[test]
fn docker_exec_runs_in_a_running_container() {
    let f = Fixture::new();
    let name = f.name("api-exec");
    docker_ok(
        &f,
        &["run", "-d", "--name", &name, "busybox", "sleep", "1000"],
    );
    assert_eq!(docker_ok(&f, &["exec", &name, "echo", "inside"]), "inside");
    let out = docker(&f, &["exec", &name, "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5));
    let out = docker_in(&f, &["exec", "-i", &name, "cat"], b"through exec\n");
    assert_eq!(raw_out(&out), "through exec\n", "{}", stderr(&out));
    docker_ok(&f, &["rm", "-f", &name]);
    let out = docker(&f, &["exec", &name, "true"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_client_hanging_up_leaks_no_descriptor() {
    let f = Fixture::new();
    let name = f.name("api-hang");
    docker_ok(
        &f,
        &[
            "run",
            "-d",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "while true; do echo tick; sleep 0.2; done",
        ],
    );
    let pid = f.d.pid();
    // One request first: the lazily opened things of the first request
    // (thread pools, the log file) count in the baseline.
    let _ = http(&f.d.docker_socket, "GET", "/_ping", None);
    let baseline = fd_links(pid);
    for _ in 0..3 {
        // logs -f, read a little, hang up.
        let mut s = UnixStream::connect(&f.d.docker_socket).unwrap();
        write!(
            s,
            "GET /v1.41/containers/{name}/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: d\r\n\r\n"
        )
        .unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        drop(s);
        // attach, hijacked, then hang up.
        let mut s = UnixStream::connect(&f.d.docker_socket).unwrap();
        write!(s, "POST /v1.41/containers/{name}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n").unwrap();
        let n = s.read(&mut buf).unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        let _ = s.read(&mut buf).unwrap();
        drop(s);
    }
    fds_return_to(
        &f,
        &baseline,
        "berthd closes hung-up logs and attach connections",
    );
    docker_ok(&f, &["rm", "-f", &name]);
}

#[test]
fn a_user_outside_the_socket_group_is_refused() {
    let f = Fixture::new();
    // Let others traverse to the socket: only its own mode may refuse them.
    use std::os::unix::fs::PermissionsExt;
    let mut dir = f.d.docker_socket.parent().unwrap().to_path_buf();
    while dir.starts_with(std::env::temp_dir()) && dir != std::env::temp_dir() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir = dir.parent().unwrap().to_path_buf();
    }
    let out = run_with_input(
        Command::new("runuser")
            .args([
                "-u",
                "nobody",
                "--",
                DOCKER_CLI,
                "-H",
                &f.d.docker_host(),
                "version",
            ])
            .env("DOCKER_CONFIG", "/tmp/bt-nobody-docker-cli"),
        None,
        TIMEOUT,
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );
}

/// The same docker commands against dockerd and berthd: exit codes,
/// output, error messages and the JSON shapes of `inspect` and `ps`.
#[test]
fn docker_cli_against_dockerd_and_berthd_agrees() {
    let f = Fixture::new();
    f.ok(&["tag", "busybox:latest", IMAGE]);
    let dockerd = Dockerd::new(Runtime::Runc);
    let on_docker =
        |args: &[&str]| run_with_input(&mut dockerd.docker_command(args), None, TIMEOUT);
    let name = f.name("api-diff");
    let scenario: Vec<Vec<String>> = vec![
        vec![
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "echo hi; exit 4",
        ],
        // The env and ulimit dockerd's image and flags give (engines.rs).
        vec![
            "run",
            "-d",
            "--network",
            "none",
            "-e",
            "PATH=/bin",
            "--ulimit",
            "nofile=20000:20000",
            "--name",
            &name,
            IMAGE,
            "sleep",
            "1000",
        ],
        vec![
            "inspect",
            "--format",
            "{{.State.Status}} {{.Name}} {{.Config.Cmd}}",
            &name,
        ],
        vec!["exec", &name, "sh", "-c", "echo in; exit 2"],
        vec!["exec", &name, "/no/such/binary"],
        vec!["start", &name],
        vec!["container", "inspect", "bt-no-such"],
        vec!["rm", &name],
        vec!["kill", "bt-no-such"],
        vec!["stop", "bt-no-such"],
        vec!["logs", "bt-no-such"],
        vec!["exec", "bt-no-such", "true"],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(str::to_string).collect())
    .collect();
    // Each engine's container id, for messages that name it.
    let (mut d_id, mut b_id) = (String::from("-"), String::from("-"));
    for args in &scenario {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let d = on_docker(&args);
        let b = docker(&f, &args);
        if args[1] == "-d" {
            d_id = stdout(&d).trim().to_string();
            b_id = stdout(&b).trim().to_string();
        }
        assert_eq!(
            b.status.code(),
            d.status.code(),
            "docker {args:?}: dockerd {}, berthd {}",
            stderr(&d),
            stderr(&b)
        );
        if args.contains(&"/no/such/binary") {
            // The runtime's wording differs (runc's against berth-runtime's).
            for out in [&d, &b] {
                assert!(
                    stdout(out).starts_with("OCI runtime exec failed: "),
                    "{}",
                    stdout(out)
                );
                assert!(
                    stdout(out).contains("stat /no/such/binary: no such file"),
                    "{}",
                    stdout(out)
                );
            }
        } else if args[0] != "run" || args[1] == "--rm" {
            assert_eq!(stdout(&b), stdout(&d), "docker {args:?} stdout");
        }
        assert_eq!(
            stderr(&b).replace(&b_id, "ID"),
            stderr(&d).replace(&d_id, "ID"),
            "docker {args:?} stderr"
        );
    }
    let shape = |out: Output| -> Value {
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        v[0].clone()
    };
    let d = shape(on_docker(&["inspect", &name]));
    let b = shape(docker(&f, &["inspect", &name]));
    let differences = shape_differences(&d, &b);
    assert!(
        differences.is_empty(),
        "container inspect: {differences:#?}"
    );
    // ps rows, from the API's /containers/json.
    let d = http(
        &dockerd.sandbox.path("d.sock"),
        "GET",
        "/v1.41/containers/json?all=1",
        None,
    )
    .json();
    let b = http(
        &f.d.docker_socket,
        "GET",
        "/v1.41/containers/json?all=1",
        None,
    )
    .json();
    let differences = shape_differences(&d[0], &b[0]);
    assert!(differences.is_empty(), "containers/json: {differences:#?}");
    let mut d = http(&dockerd.sandbox.path("d.sock"), "GET", "/v1.41/info", None).json();
    let mut b = http(&f.d.docker_socket, "GET", "/v1.41/info", None).json();
    // Maps keyed by data (runtime and registry names), and the host's
    // warnings (none here: null, as Go's nil slice), compared by type only.
    for v in [&mut d, &mut b] {
        for path in ["/Runtimes", "/RegistryConfig/IndexConfigs"] {
            let map = v.pointer_mut(path).unwrap();
            assert!(map.is_object(), "{map}");
            *map = serde_json::json!({});
        }
        assert!(v["Warnings"].is_null() || v["Warnings"].is_array());
        v["Warnings"] = Value::Null;
    }
    let differences = shape_differences(&d, &b);
    assert!(differences.is_empty(), "info: {differences:#?}");
    let d = http(
        &dockerd.sandbox.path("d.sock"),
        "GET",
        "/v1.41/version",
        None,
    )
    .json();
    let b = http(&f.d.docker_socket, "GET", "/v1.41/version", None).json();
    let differences = shape_differences(&d, &b);
    assert!(differences.is_empty(), "version: {differences:#?}");
    let rm = ["rm", "-f", name.as_str()];
    assert!(on_docker(&rm).status.success());
    docker_ok(&f, &rm);
}

#[test]
fn docker_volume_commands_work() {
    let f = Fixture::new();
    let vol = f.name("api-vol");
    assert_eq!(
        docker_ok(&f, &["volume", "create", "--label", "k=v", &vol]),
        vol
    );
    let ls = docker_ok(
        &f,
        &[
            "volume",
            "ls",
            "--filter",
            "label=k=v",
            "--format",
            "{{.Driver}} {{.Name}}",
        ],
    );
    assert_eq!(ls, format!("local {vol}"));
    let inspect: Value =
        serde_json::from_str(&docker_ok(&f, &["volume", "inspect", &vol])).unwrap();
    assert_eq!(inspect[0]["Labels"]["k"], "v");
    assert_eq!(inspect[0]["Scope"], "local");
    let name = f.name("api-voluser");
    let out = docker(
        &f,
        &[
            "run",
            "--name",
            &name,
            "-v",
            &format!("{vol}:/data"),
            "busybox",
            "sh",
            "-c",
            "echo kept > /data/f",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = docker(
        &f,
        &[
            "run",
            "--rm",
            "-v",
            &format!("{vol}:/data"),
            "busybox",
            "cat",
            "/data/f",
        ],
    );
    assert_eq!(raw_out(&out), "kept\n", "{}", stderr(&out));
    let in_use = docker(&f, &["volume", "rm", &vol]);
    assert_eq!(in_use.status.code(), Some(1));
    assert!(
        stderr(&in_use).contains("volume is in use"),
        "{}",
        stderr(&in_use)
    );
    docker_ok(&f, &["rm", &name]);
    docker_ok(&f, &["volume", "rm", &vol]);
    let gone = docker(&f, &["volume", "inspect", &vol]);
    assert_eq!(gone.status.code(), Some(1));
    assert_eq!(stderr(&gone), format!("Error: No such volume: {vol}"));
}

#[test]
fn docker_network_commands_work() {
    let f = Fixture::new();
    let net = f.name("api-net");
    let id = docker_ok(&f, &["network", "create", "--label", "k=v", &net]);
    assert_eq!(id.len(), 64, "{id}");
    let ls = docker_ok(
        &f,
        &[
            "network",
            "ls",
            "--filter",
            "label=k=v",
            "--format",
            "{{.Name}} {{.Driver}}",
        ],
    );
    assert_eq!(ls, format!("{net} bridge"));
    let all = docker_ok(&f, &["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        all.lines().any(|l| l == "host") && all.lines().any(|l| l == "none"),
        "{all}"
    );
    let name = f.name("api-netuser");
    docker_ok(
        &f,
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &net,
            "--network-alias",
            "web",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let inspect: Value =
        serde_json::from_str(&docker_ok(&f, &["network", "inspect", &net])).unwrap();
    assert_eq!(inspect[0]["Id"], id.as_str());
    let members: Vec<String> = inspect[0]["Containers"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(members, vec![name.clone()]);
    // The alias resolves on the network (the embedded DNS server).
    let out = docker(
        &f,
        &[
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "nslookup",
            "web",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let in_use = docker(&f, &["network", "rm", &net]);
    assert_eq!(in_use.status.code(), Some(1), "{}", stderr(&in_use));
    docker_ok(&f, &["network", "disconnect", &net, &name]);
    let members = |f: &Fixture| {
        docker_ok(
            f,
            &[
                "network",
                "inspect",
                "--format",
                "{{range $k, $v := .Containers}}{{$v.Name}} {{end}}",
                &net,
            ],
        )
    };
    assert_eq!(members(&f), "");
    docker_ok(&f, &["network", "connect", "--alias", "web2", &net, &name]);
    assert_eq!(members(&f), name);
    docker_ok(&f, &["rm", "-f", &name]);
    docker_ok(&f, &["network", "rm", &net]);
    let out = docker(&f, &["network", "rm", "host"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "Error response from daemon: host is a pre-defined network and cannot be removed"
    );
    let out = docker(&f, &["network", "inspect", &net]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), format!("Error: No such network: {net}"));
}

/// docker-py, Debian's python3-docker 5.0.3 (run by Debian's own python,
/// /usr/bin/python3, so a pip-installed docker package cannot shadow it).
#[test]
fn docker_py_runs_execs_and_removes_containers() {
    let f = Fixture::new();
    let name = f.name("api-py");
    let script = format!(
        r#"
import docker
assert docker.__version__ == "5.0.3", docker.__version__
c = docker.DockerClient(base_url="{host}", version="1.41")
assert c.ping()
out = c.containers.run("busybox", ["sh", "-c", "echo py-out; echo py-err >&2"], remove=True, stderr=True)
# Two pipes: their order in the log is the shim's reading order.
assert sorted(out.splitlines()) == [b"py-err", b"py-out"], out
ctr = c.containers.run("busybox", ["sleep", "1000"], name="{name}", detach=True)
ctr.reload()
assert ctr.status == "running", ctr.status
code, output = ctr.exec_run(["sh", "-c", "echo in-exec; exit 6"])
assert (code, output) == (6, b"in-exec\n"), (code, output)
assert "{name}" in [x.name for x in c.containers.list()]
ctr.kill()
assert ctr.wait()["StatusCode"] == 137
ctr.remove()
try:
    c.containers.get("{name}")
    raise SystemExit("still there")
except docker.errors.NotFound:
    pass
print("docker-py ok")
"#,
        host = f.d.docker_host(),
    );
    let out = run_with_input(
        Command::new("/usr/bin/python3").args(["-c", &script]),
        None,
        TIMEOUT,
    );
    assert_eq!(stdout(&out), "docker-py ok", "{}", stderr(&out));
}

#[test]
fn docker_images_tag_and_rmi_work() {
    let f = Fixture::new();
    let tag = format!("localhost/{}:v1", f.name("api-img"));
    docker_ok(&f, &["tag", "busybox", &tag]);
    let images = docker_ok(
        &f,
        &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
    );
    let ids: Vec<&str> = images
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(images.lines().count(), 2, "{images}");
    assert_eq!(ids[0], ids[1], "one image, two tags: {images}");
    assert!(
        images.contains(&tag) && images.contains("busybox:latest"),
        "{images}"
    );
    let json: Value =
        serde_json::from_slice(&http(&f.d.docker_socket, "GET", "/v1.41/images/json", None).body)
            .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json[0]["RepoTags"].as_array().unwrap().len(), 2, "{json}");
    assert_eq!(docker_ok(&f, &["rmi", &tag]), format!("Untagged: {tag}"));
    let out = docker(&f, &["rmi", "bt-no-such-image"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("No such image: bt-no-such-image"),
        "{}",
        stderr(&out)
    );
    assert_eq!(f.ok(&["images", "--format", "{{.Repository}}"]), "busybox");
}
