//! docker's container commands end to end: the `berth` CLI against a private
//! berthd with a busybox image imported from Debian's busybox-static, as a
//! user runs them. Each test checks what the user sees (output, exit codes)
//! and what is left on the host (nothing, once its containers are removed).

use berth_integration_tests::containers::{
    cgroup_dir, lines, raw_stdout, read_lines_until, Fixture, Tmux,
};
use berth_integration_tests::registry::free_port;
use berth_integration_tests::{bin, stderr, stdout, unique_name, TestDir};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn run_prints_output_and_exits_with_the_containers_code() {
    let f = Fixture::new();
    let out = f.berth(&["run", "--rm", "busybox", "echo", "hello from berth"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from berth");

    // stdout and stderr stay apart without -t.
    let out = f.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(code(&out), Some(3));
    assert_eq!(stdout(&out), "out");
    assert_eq!(stderr(&out), "err");

    // Flags after the image belong to the command.
    let out = f.berth(&["run", "--rm", "busybox", "echo", "-n", "--rm", "-d"]);
    assert_eq!(code(&out), Some(0));
    assert_eq!(raw_stdout(&out), "--rm -d");

    // -e, -w, -u, --entrypoint, -h, KEY alone from the CLI's environment.
    let out =
        f.d.berth_cmd(&[
            "run",
            "--rm",
            "-e",
            "A=1",
            "-e",
            "BT_FROM_CLI",
            "-w",
            "/tmp",
            "-u",
            "1000:1000",
            "-h",
            "bthost",
            "busybox",
            "sh",
            "-c",
            "echo $A $BT_FROM_CLI $(pwd) $(id -u):$(id -g) $(hostname)",
        ])
        .env("BT_FROM_CLI", "passed")
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1 passed /tmp 1000:1000 bthost");
    let out = f.berth(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/echo",
        "busybox",
        "via",
        "entrypoint",
    ]);
    assert_eq!(stdout(&out), "via entrypoint");

    // -i forwards stdin; its end closes the container's stdin.
    let mut child =
        f.d.berth_cmd(&["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped in\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "piped in\ndone");

    // -t without -i: a terminal inside, so output lines end in \r\n.
    let out = f.berth(&["run", "--rm", "-t", "busybox", "sh", "-c", "tty; echo x"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = raw_stdout(&out);
    assert!(
        text.starts_with("/dev/pts/") && text.ends_with("x\r\n"),
        "{text:?}"
    );

    // --rm left nothing behind.
    assert!(f.all_names().is_empty(), "{:?}", f.all_names());
    assert!(
        f.mounts_under_berthd().is_empty(),
        "{:?}",
        f.mounts_under_berthd()
    );
}

#[test]
fn run_exit_codes_125_126_127_like_docker() {
    let f = Fixture::new();
    let before = f.snapshot_count();
    // Bad flag: a usage error.
    let out = f.berth(&["run", "--no-such-flag", "busybox", "true"]);
    assert_eq!(code(&out), Some(125), "{}", stderr(&out));
    // Invalid memory size: named in the message, nothing created.
    let out = f.berth(&["run", "-m", "12x", "busybox", "true"]);
    assert_eq!(code(&out), Some(125));
    assert!(
        stderr(&out).contains("invalid size: '12x'"),
        "{}",
        stderr(&out)
    );
    // Unknown image: docker's message, a pull attempt (from a loopback
    // port nothing listens on), 125.
    let image = format!("127.0.0.1:{}/bt-no-such-image", free_port());
    let out = f.berth(&["run", "--rm", &image, "true"]);
    assert_eq!(code(&out), Some(125));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("Unable to find image '{image}:latest' locally")),
        "{err}"
    );
    assert!(err.contains("Error response from daemon"), "{err}");
    // Command not found: 127; not executable: 126 (the container's code).
    let out = f.berth(&["run", "--rm", "busybox", "/bt/no/such/command"]);
    assert_eq!(code(&out), Some(127), "{}", stderr(&out));
    let out = f.berth(&["run", "--rm", "busybox", "/etc"]);
    assert_eq!(code(&out), Some(126), "{}", stderr(&out));
    // Nothing half-made.
    assert!(f.all_names().is_empty(), "{:?}", f.all_names());
    assert_eq!(f.snapshot_count(), before);
    assert!(
        f.mounts_under_berthd().is_empty(),
        "{:?}",
        f.mounts_under_berthd()
    );
}

#[test]
fn detached_run_ps_stop_wait_rm() {
    let f = Fixture::new();
    let name = f.name("ps");
    let id = f.run_detached(&name, &["sleep", "1000"]);

    let table = f.ok(&["ps"]);
    let mut rows = table.lines();
    let header = rows.next().unwrap();
    for column in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let row = rows
        .find(|r| r.contains(&name))
        .expect("our container in ps");
    assert!(row.starts_with(&id[..12]), "{row}");
    assert!(
        row.contains("busybox") && row.contains("\"sleep 1000\""),
        "{row}"
    );
    assert!(row.contains("Up ") && row.contains(" ago"), "{row}");
    // Columns line up under the header (docker's tabwriter).
    assert_eq!(header.find("IMAGE"), row.find("busybox"), "{header}\n{row}");

    assert_eq!(
        f.ok(&["ps", "-q", "--filter", &format!("name={name}")]),
        &id[..12]
    );
    assert_eq!(
        f.ok(&[
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("id={}", &id[..8])
        ]),
        id
    );
    assert_eq!(
        f.ok(&[
            "ps",
            "--format",
            "{{.Names}} {{.State}}",
            "-f",
            &format!("name={name}")
        ]),
        format!("{name} running")
    );
    assert_eq!(f.ok(&["ps", "-l", "--format", "{{.ID}}"]), &id[..12]);
    let json_line = f.ok(&["ps", "--format", "json", "-f", &format!("name={name}")]);
    let v: serde_json::Value = serde_json::from_str(&json_line).unwrap();
    assert_eq!(v["Names"], name.as_str());

    // busybox sleep as PID 1 ignores SIGTERM: stop -t 1 kills it after 1 s.
    let start = Instant::now();
    assert_eq!(f.ok(&["stop", "-t", "1", &name]), name);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "stop -t 1 took {took:?}"
    );
    assert_eq!(f.ok(&["wait", &name]), "137");
    assert!(f.ok(&["ps", "-q"]).is_empty());
    let all = f.ok(&["ps", "-a", "--format", "{{.Names}}\t{{.Status}}"]);
    assert!(all.contains(&name) && all.contains("Exited (137)"), "{all}");
    assert_eq!(f.ok(&["rm", &name]), name);
    assert!(f.all_names().is_empty());
    assert!(
        f.mounts_under_berthd().is_empty(),
        "{:?}",
        f.mounts_under_berthd()
    );
}

#[test]
fn wait_start_attach_restart_kill() {
    let f = Fixture::new();
    let name = f.name("wait");
    f.run_detached(&name, &["sh", "-c", "sleep 0.3; exit 5"]);
    assert_eq!(f.ok(&["wait", &name]), "5");

    // create + start -a: output and exit code of the run.
    let created = f.name("created");
    let id = f.ok(&[
        "create",
        "--name",
        &created,
        "busybox",
        "sh",
        "-c",
        "echo started; exit 4",
    ]);
    assert_eq!(id.len(), 64);
    let status = f.ok(&[
        "ps",
        "-a",
        "-f",
        &format!("name={created}"),
        "--format",
        "{{.Status}}",
    ]);
    assert_eq!(status, "Created");
    let out = f.berth(&["start", "-a", &created]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert_eq!(stdout(&out), "started");
    // start without -a prints the name; the container runs again.
    assert_eq!(f.ok(&["start", &created]), created);
    assert_eq!(f.ok(&["wait", &created]), "4");

    // kill -s and restart.
    let k = f.name("kill");
    f.run_detached(
        &k,
        &[
            "sh",
            "-c",
            "trap 'exit 42' USR1; while true; do sleep 0.1; done",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(f.ok(&["kill", "-s", "USR1", &k]), k);
    assert_eq!(f.ok(&["wait", &k]), "42");
    assert_eq!(f.ok(&["restart", "-t", "1", &k]), k);
    assert_eq!(f.inspect(&k)["State"]["Status"], "running");
    assert_eq!(f.ok(&["kill", &k]), k);
    assert_eq!(f.ok(&["wait", &k]), "137");
}

#[test]
fn logs_tail_timestamps_and_follow() {
    let f = Fixture::new();
    let name = f.name("logs");
    f.run_detached(
        &name,
        &[
            "sh",
            "-c",
            "echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three; sleep 1000",
        ],
    );
    f.eventually(10, "three lines logged", || {
        f.berth(&["logs", &name]).stdout.ends_with(b"three\n")
    });
    let out = f.berth(&["logs", &name]);
    assert_eq!(stdout(&out), "one\nthree");
    assert_eq!(stderr(&out), "two");
    let out = f.berth(&["logs", "--tail", "1", &name]);
    assert_eq!(stdout(&out), "three");
    assert_eq!(stderr(&out), "");
    let out = f.berth(&["logs", "-t", "--tail", "1", &name]);
    let line = stdout(&out);
    // 2026-11-22T10:00:00.123456789Z three
    let (stamp, text) = line.split_once(' ').unwrap();
    assert_eq!(text, "three");
    assert!(
        stamp.len() == 30 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        "{line}"
    );
    let out = f.berth(&["logs", "--since", "1h", &name]);
    assert_eq!(stdout(&out), "one\nthree");
    let out = f.berth(&["logs", "--until", "2000-01-01T00:00:00Z", &name]);
    assert_eq!(stdout(&out), "");
    f.ok(&["rm", "-f", &name]);

    // -f picks up lines as they are written and ends when the container does.
    let ticker = f.name("follow");
    f.run_detached(
        &ticker,
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 8 ]; do echo tick$i; i=$((i+1)); sleep 0.2; done",
        ],
    );
    let child = f.spawn(&["logs", "-f", &ticker]);
    let (seen, found) = read_lines_until(child, 15, |l| l == "tick7");
    assert!(found, "logs -f saw {seen:?}");
    assert_eq!(seen.first().map(String::as_str), Some("tick0"));
    let out = f.berth(&["logs", "-f", &ticker]);
    assert_eq!(code(&out), Some(0), "logs -f of an exited container ends");
    assert_eq!(lines(&out).len(), 8);
}

#[test]
fn exec_output_codes_and_errors() {
    let f = Fixture::new();
    let name = f.name("exec");
    f.run_detached(&name, &["sleep", "1000"]);
    assert_eq!(f.ok(&["exec", &name, "echo", "hi"]), "hi");
    let out = f.berth(&["exec", &name, "sh", "-c", "exit 7"]);
    assert_eq!(code(&out), Some(7));
    assert_eq!(
        f.ok(&[
            "exec",
            "-e",
            "A=b",
            "-w",
            "/tmp",
            "-u",
            "1000",
            &name,
            "sh",
            "-c",
            "echo $A $(pwd) $(id -u)"
        ]),
        "b /tmp 1000"
    );
    let out = f.berth(&["exec", &name, "/bt/no/such/command"]);
    // docker 20.10 gives every exec that cannot start 126 (daemon/exec.go).
    assert_eq!(code(&out), Some(126), "{}", stderr(&out));
    // -d returns at once; the process runs on.
    assert_eq!(
        f.ok(&[
            "exec",
            "-d",
            &name,
            "sh",
            "-c",
            "sleep 0.2; touch /tmp/by-exec-d"
        ]),
        ""
    );
    f.eventually(10, "exec -d ran", || {
        f.berth(&["exec", &name, "test", "-e", "/tmp/by-exec-d"])
            .status
            .success()
    });
    // -i forwards stdin.
    let mut child =
        f.d.berth_cmd(&["exec", "-i", &name, "cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    child.stdin.take().unwrap().write_all(b"to exec\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "to exec");
    // top lists the container's processes.
    let top = f.ok(&["top", &name]);
    assert!(top.lines().next().unwrap().contains("PID"), "{top}");
    assert!(top.contains("sleep 1000"), "{top}");
    // Exec into a stopped container: docker's message, exit 1.
    f.ok(&["kill", &name]);
    f.ok(&["wait", &name]);
    let err = f.d.fails(&["exec", &name, "true"]);
    assert!(err.contains("is not running"), "{err}");
}

#[test]
fn rename_pause_unpause_update() {
    let f = Fixture::new();
    let name = f.name("ren");
    let new_name = f.name("renamed");
    f.run_detached(&name, &["sleep", "1000"]);
    assert_eq!(f.ok(&["rename", &name, &new_name]), "");
    assert_eq!(f.all_names(), vec![new_name.clone()]);
    assert!(f.berth(&["inspect", &name]).status.code() == Some(1));

    let pid = f.pid(&new_name);
    assert_eq!(f.ok(&["pause", &new_name]), new_name);
    let status = f.ok(&["ps", "--format", "{{.Status}}"]);
    assert!(status.ends_with("(Paused)"), "{status}");
    let freezer = cgroup_dir(pid, "freezer").join("freezer.state");
    assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), "FROZEN");
    assert_eq!(f.ok(&["unpause", &new_name]), new_name);
    assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), "THAWED");
    assert!(!f.ok(&["ps", "--format", "{{.Status}}"]).contains("Paused"));

    assert_eq!(
        f.ok(&["update", "-m", "64m", "--memory-swap", "-1", &new_name]),
        new_name
    );
    let limit = cgroup_dir(pid, "memory").join("memory.limit_in_bytes");
    assert_eq!(std::fs::read_to_string(&limit).unwrap().trim(), "67108864");
    assert_eq!(f.inspect(&new_name)["HostConfig"]["Memory"], 67108864);
    let out = f.berth(&["update", "-m", "12x", &new_name]);
    assert_eq!(code(&out), Some(125));
    assert!(
        stderr(&out).contains("invalid size: '12x'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn inspect_containers_and_images() {
    let f = Fixture::new();
    let name = f.name("insp");
    let id = f.run_detached(&name, &["sleep", "1000"]);
    let v = f.inspect(&name);
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["Name"], format!("/{name}"));
    assert_eq!(v["State"]["Status"], "running");
    assert_eq!(v["Config"]["Cmd"], serde_json::json!(["sleep", "1000"]));
    assert_eq!(
        f.ok(&["inspect", "--format", "{{.State.Status}}", &name]),
        "running"
    );
    assert_eq!(
        f.ok(&["inspect", "-f", "{{.Name}} {{.Config.Image}}", &id[..12]]),
        format!("/{name} busybox")
    );
    // Not a container: the image of that name.
    let image = f.ok(&["inspect", "--format", "{{index .RepoTags 0}}", "busybox"]);
    assert_eq!(image, "busybox:latest");
    let out = f.berth(&["inspect", "--type", "container", "busybox"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("No such container: busybox"),
        "{}",
        stderr(&out)
    );
    let out = f.berth(&["inspect", "bt-nothing-by-this-name"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("Error: No such object: bt-nothing-by-this-name"),
        "{}",
        stderr(&out)
    );
    // port: no published ports before bridge networks.
    assert_eq!(f.ok(&["port", &name]), "");
    // stats --no-stream: docker's columns, one row.
    let stats = f.ok(&["stats", "--no-stream", &name]);
    let header = stats.lines().next().unwrap();
    for column in [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert!(stats.lines().nth(1).unwrap().contains(&name), "{stats}");
}

#[test]
fn diff_export_and_cp() {
    let f = Fixture::new();
    let name = f.name("fs");
    f.run_detached(
        &name,
        &["sh", "-c", "touch /tmp/new-file; rm /etc/group; sleep 1000"],
    );
    f.eventually(10, "changes made", || {
        let diff = f.ok(&["diff", &name]);
        diff.contains("A /tmp/new-file") && diff.contains("D /etc/group")
    });
    let diff = f.ok(&["diff", &name]);
    for line in ["C /tmp", "A /tmp/new-file", "C /etc", "D /etc/group"] {
        assert!(diff.lines().any(|l| l == line), "{line} in {diff}");
    }
    let tar = f.work.join("export.tar");
    assert_eq!(f.ok(&["export", "-o", tar.to_str().unwrap(), &name]), "");
    let listing = Command::new("tar").arg("-tf").arg(&tar).output().unwrap();
    let listing = stdout(&listing);
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "bin/busybox"),
        "{listing}"
    );
    assert!(listing
        .lines()
        .any(|l| l.trim_start_matches("./") == "tmp/new-file"));

    // cp both ways, running and stopped.
    let local = TestDir::new("cp");
    std::fs::write(local.join("in.txt"), "from the host\n").unwrap();
    f.ok(&[
        "cp",
        local.join("in.txt").to_str().unwrap(),
        &format!("{name}:/tmp/"),
    ]);
    assert_eq!(
        f.ok(&["exec", &name, "cat", "/tmp/in.txt"]),
        "from the host"
    );
    f.ok(&[
        "exec",
        &name,
        "sh",
        "-c",
        "echo from the container > /tmp/out.txt",
    ]);
    f.ok(&["stop", "-t", "0", &name]);
    f.ok(&[
        "cp",
        &format!("{name}:/tmp/out.txt"),
        local.join("out.txt").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(local.join("out.txt")).unwrap(),
        "from the container\n"
    );
    let out = f.berth(&[
        "cp",
        &format!("{name}:/bt/no/such/path"),
        local.path.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), Some(1));
}

#[test]
fn events_stream_while_a_container_lives() {
    let f = Fixture::new();
    let name = f.name("ev");
    let child = f.spawn(&[
        "events",
        "--filter",
        "type=container",
        "--filter",
        &format!("container={name}"),
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let out = f.berth(&["run", "--rm", "--name", &name, "busybox", "true"]);
    assert_eq!(code(&out), Some(0));
    let (seen, found) = read_lines_until(child, 15, |l| l.contains(" container destroy "));
    assert!(found, "events seen: {seen:?}");
    let actions: Vec<&str> = seen.iter().filter_map(|l| l.split(' ').nth(2)).collect();
    for want in ["create", "start", "die", "destroy"] {
        assert!(actions.contains(&want), "{want} in {seen:?}");
    }
    let die = seen.iter().find(|l| l.contains(" die ")).unwrap();
    assert!(
        die.contains("exitCode=0") && die.contains(&format!("name={name}")),
        "{die}"
    );
    // --since replays the recent past, --until (a second from now) ends
    // the stream.
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    let until = until.to_string();
    let start = Instant::now();
    let out = f.berth(&[
        "events",
        "--since",
        "1m",
        "--until",
        &until,
        "--filter",
        &format!("container={name}"),
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).lines().any(|l| l == "start"),
        "{}",
        stdout(&out)
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "--until ended the stream"
    );
    // --since 0 is the epoch: every remembered event, as docker's.
    let out = f.berth(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        &format!("container={name}"),
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).lines().any(|l| l == "create"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn prune_removes_stopped_containers_only() {
    let f = Fixture::new();
    let stopped = f.name("stopped");
    let running = f.name("running");
    let out = f.berth(&["run", "--name", &stopped, "busybox", "true"]);
    assert_eq!(code(&out), Some(0));
    f.run_detached(&running, &["sleep", "1000"]);
    // No -f and no "y" on stdin: docker's question, nothing removed.
    let out = f.berth(&["container", "prune"]);
    assert_eq!(code(&out), Some(0));
    assert!(stdout(&out).contains("Are you sure you want to continue? [y/N]"));
    assert_eq!(f.all_names().len(), 2);
    let out = f.ok(&["container", "prune", "-f"]);
    assert!(
        out.starts_with("Deleted Containers:") && out.contains("Total reclaimed space:"),
        "{out}"
    );
    assert_eq!(f.all_names(), vec![running.clone()]);
    f.ok(&["rm", "-f", &running]);
    let out = f.ok(&["system", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space:"), "{out}");
}

#[test]
fn bad_input_gives_dockers_messages_and_leaves_nothing() {
    let f = Fixture::new();
    let snapshots = f.snapshot_count();
    let err = f.d.fails(&["start", "bt-no-such-container"]);
    assert!(
        err.contains("Error response from daemon: No such container: bt-no-such-container"),
        "{err}"
    );
    let err = f.d.fails(&["rm", "bt-no-such-container"]);
    assert!(err.contains("No such container"), "{err}");

    let name = f.name("bad");
    f.run_detached(&name, &["sleep", "1000"]);
    // Name in use: 125 from run, nothing new made.
    let out = f.berth(&["run", "--name", &name, "busybox", "true"]);
    assert_eq!(code(&out), Some(125));
    assert!(
        stderr(&out).contains("is already in use"),
        "{}",
        stderr(&out)
    );
    // rm of a running container without -f.
    let err = f.d.fails(&["rm", &name]);
    assert!(
        err.contains("Error response from daemon:") && err.to_lowercase().contains("running"),
        "{err}"
    );
    assert_eq!(f.all_names(), vec![name.clone()]);
    // rm -f of a running one; then start of the removed one.
    assert_eq!(f.ok(&["rm", "-f", &name]), name);
    let err = f.d.fails(&["start", &name]);
    assert!(err.contains("No such container"), "{err}");
    // Bad -v, missing bind source (--mount: -v would create it, as docker's does).
    let out = f.berth(&[
        "run",
        "--rm",
        "-v",
        "/bt-a:/x:bad-option",
        "busybox",
        "true",
    ]);
    assert_eq!(code(&out), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("bad-option"), "{}", stderr(&out));
    let missing = f.work.join("no-such-dir");
    let mount = format!("type=bind,source={},target=/x", missing.display());
    let out = f.berth(&["run", "--rm", "--mount", &mount, "busybox", "true"]);
    assert_eq!(code(&out), Some(125));
    assert!(
        stderr(&out).contains(&missing.display().to_string()),
        "{}",
        stderr(&out)
    );
    assert!(!missing.exists());
    // Nothing left: no record, no snapshot, no mount.
    assert!(f.all_names().is_empty(), "{:?}", f.all_names());
    assert_eq!(f.snapshot_count(), snapshots);
    assert!(
        f.mounts_under_berthd().is_empty(),
        "{:?}",
        f.mounts_under_berthd()
    );
}

#[test]
fn berthd_not_running_names_the_socket() {
    let dir = TestDir::new("nodaemon");
    let socket = dir.join("none.sock");
    let host = format!("unix://{}", socket.display());
    let berth = |args: &[&str]| {
        Command::new(bin("berth"))
            .arg("-H")
            .arg(&host)
            .args(args)
            .env_remove("BERTH_HOST")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = berth(&["ps"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "Cannot connect to the Berth daemon at {host}. Is berthd running?"
        )),
        "{}",
        stderr(&out)
    );
    let out = berth(&["run", "--rm", "busybox", "true"]);
    assert_eq!(code(&out), Some(125));
    assert!(
        stderr(&out).contains("Is berthd running?"),
        "{}",
        stderr(&out)
    );
    let _ = unique_name("unused");
}

/// `-it` in a real terminal (tmux): prompt, typing, the window size and its
/// changes, ctrl-p ctrl-q detach, `attach` back, exit code.
#[test]
fn interactive_terminal_resize_detach_and_attach() {
    let f = Fixture::new();
    let name = f.name("tty");
    let berth = |args: &str| {
        format!(
            "BERTH_CONFIG={} {} -H {} {args}; echo berth-exit=$?; sleep 60",
            f.d.client_config.display(),
            bin("berth").display(),
            f.d.host()
        )
    };
    let term = Tmux::start(
        &berth(&format!("run -it --name {name} busybox sh")),
        100,
        30,
    );
    term.wait_for("/ #", 15);
    term.keys(&["echo typed-$((6*7))", "Enter"]);
    term.wait_for("typed-42", 10);
    term.keys(&["stty size", "Enter"]);
    term.wait_for("30 100", 10);
    term.resize(120, 40);
    std::thread::sleep(Duration::from_millis(300));
    term.keys(&["clear; stty size", "Enter"]);
    term.wait_for("40 120", 10);
    // ctrl-p ctrl-q: the CLI leaves, the container runs on.
    term.keys(&["C-p", "C-q"]);
    term.wait_for("berth-exit=0", 10);
    assert_eq!(f.inspect(&name)["State"]["Status"], "running");
    drop(term);

    let term = Tmux::start(&berth(&format!("attach {name}")), 100, 30);
    std::thread::sleep(Duration::from_millis(500));
    term.keys(&["echo back-$((1+1))", "Enter"]);
    term.wait_for("back-2", 10);
    term.keys(&["exit 3", "Enter"]);
    term.wait_for("berth-exit=3", 10);
    assert_eq!(f.ok(&["wait", &name]), "3");
}
