//! How berthd follows a running container (issue 21): it holds no
//! connection to the container's shim while nothing is asked of it, learns
//! of the exit from pidfds, and of OOM kills from the container's memory
//! cgroup; the exit code, `State.OOMKilled` and the `oom` / `die` events
//! are what docker gives.

use berth_integration_tests::containers::{read_lines_until, Fixture};
use berth_integration_tests::{stderr, stdout};
use std::time::Duration;

/// Longer than berthd's idle delay before it closes a shim's connection
/// (2 s).
const PAST_IDLE: Duration = Duration::from_secs(4);

/// The unix sockets berthd has open.
fn berthd_sockets(f: &Fixture) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", f.d.pid()))
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path())
                .map(|t| t.to_string_lossy().starts_with("socket:"))
                .unwrap_or(false)
        })
        .count()
}

#[test]
fn a_running_container_holds_no_connection_of_berthd() {
    let f = Fixture::new();
    // Settle: the image import's and the first run's connections idle out.
    f.ok(&["run", "--rm", "busybox", "true"]);
    std::thread::sleep(PAST_IDLE);
    let idle = berthd_sockets(&f);
    let names: Vec<String> = (0..5).map(|i| f.name(&format!("idle{i}"))).collect();
    for n in &names {
        f.run_detached(n, &["sleep", "1000"]);
    }
    std::thread::sleep(PAST_IDLE);
    assert_eq!(
        berthd_sockets(&f),
        idle,
        "berthd keeps a socket per running container"
    );
    // Every call still reaches the shim (a new connection each time).
    assert_eq!(f.ok(&["exec", &names[0], "echo", "hi"]), "hi");
    let out = f.berth(&["top", &names[1]]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("sleep 1000"), "{}", stdout(&out));
    f.ok(&["stop", "-t", "1", &names[2]]);
    assert_eq!(
        f.inspect(&names[2])["State"]["ExitCode"],
        serde_json::json!(137)
    );
    f.remove_all();
}

#[test]
fn an_exit_after_the_connection_idled_is_recorded_at_once() {
    let f = Fixture::new();
    let name = f.name("late");
    f.run_detached(&name, &["sh", "-c", "sleep 5; exit 7"]);
    std::thread::sleep(PAST_IDLE);
    let out = f.berth(&["wait", &name]);
    assert_eq!(stdout(&out), "7", "{}", stderr(&out));
    let state = &f.inspect(&name)["State"];
    assert_eq!(state["Status"], "exited");
    assert_eq!(state["ExitCode"], 7);
    assert_eq!(state["OOMKilled"], false);
    // A restart policy still acts on such an exit.
    let again = f.name("again");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &again,
        "--restart",
        "on-failure:1",
        "busybox",
        "sh",
        "-c",
        "sleep 3; exit 3",
    ]);
    f.eventually(20, "the restart after an idle exit", || {
        f.inspect(&again)["RestartCount"] == 1
    });
    f.remove_all();
}

/// The main process killed by the OOM killer: exit 137, `OOMKilled`, and
/// an `oom` event before the `die`, as docker 20.10.
#[test]
fn an_oom_kill_of_the_main_process_is_recorded_and_published_first() {
    let f = Fixture::new();
    let name = f.name("hog");
    let events = f.spawn(&[
        "events",
        "--filter",
        &format!("container={name}"),
        "--format",
        "{{.Action}}",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    f.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-m",
        "8m",
        "--memory-swap",
        "8m",
        "busybox",
        "sh",
        "-c",
        // Past the idle delay first: the kill comes to a container berthd
        // holds no connection for.
        "sleep 3; tail /dev/zero",
    ]);
    let out = f.berth(&["wait", &name]);
    assert_eq!(stdout(&out), "137", "{}", stderr(&out));
    assert_eq!(f.inspect(&name)["State"]["OOMKilled"], true);
    let (seen, found) = read_lines_until(events, 15, |l| l == "die");
    assert!(found, "events: {seen:?}");
    let oom = seen.iter().position(|a| a == "oom");
    let die = seen.iter().position(|a| a == "die");
    assert!(
        oom.is_some() && oom < die,
        "an oom event before the die: {seen:?}"
    );
    f.remove_all();
}

/// A process of an exec killed by the OOM killer while the main process
/// lives on: the `oom` event comes as it happens (the container keeps
/// running, as under docker).
#[test]
fn an_oom_kill_in_a_running_container_is_published_as_it_happens() {
    let f = Fixture::new();
    let name = f.name("survivor");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sleep",
        "1000",
    ]);
    std::thread::sleep(PAST_IDLE);
    let events = f.spawn(&[
        "events",
        "--filter",
        &format!("container={name}"),
        "--format",
        "{{.Action}}",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let out = f.berth(&["exec", &name, "tail", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    let (seen, found) = read_lines_until(events, 15, |l| l == "oom");
    assert!(found, "events: {seen:?}");
    assert_eq!(f.inspect(&name)["State"]["Running"], true);
    f.remove_all();
}
