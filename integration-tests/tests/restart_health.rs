//! Restart policies and health checks on real containers: docker's
//! `--restart` rules and back-off applied by berthd (also across a kill -9
//! of berthd), and HEALTHCHECK probes run as execs in the container.

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::restart_health::{
    count_action, events_of, load_image_with_healthcheck, run_state,
};
use berth_integration_tests::{stderr, stdout};
use std::time::Duration;

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn on_failure_2_restarts_exactly_twice() {
    let f = Fixture::new();
    let name = f.name("onf");
    f.ok(&[
        "run",
        "-d",
        "--restart",
        "on-failure:2",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    f.eventually(30, "two restarts then exited", || {
        let s = run_state(&f, &name);
        s.status == "exited" && s.restart_count == 2
    });
    // No third restart comes.
    std::thread::sleep(Duration::from_millis(1500));
    let s = run_state(&f, &name);
    assert_eq!(
        (s.status.as_str(), s.restart_count, s.exit_code),
        ("exited", 2, 3)
    );
    let v = f.inspect(&name);
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
    let events = events_of(&f, &name);
    assert_eq!(count_action(&events, "start"), 3, "{events:?}");
    assert_eq!(count_action(&events, "die"), 3, "{events:?}");
    // docker's `restart` event is for the restart command only.
    assert_eq!(count_action(&events, "restart"), 0, "{events:?}");
    // A start by the user counts from zero again.
    f.ok(&["start", &name]);
    f.eventually(30, "two more restarts", || {
        let s = run_state(&f, &name);
        s.status == "exited"
            && s.restart_count == 2
            && count_action(&events_of(&f, &name), "start") == 6
    });
}

#[test]
fn on_failure_leaves_a_zero_exit_alone() {
    let f = Fixture::new();
    let name = f.name("onf0");
    f.ok(&[
        "run",
        "-d",
        "--restart",
        "on-failure",
        "--name",
        &name,
        "busybox",
        "true",
    ]);
    f.eventually(20, "exited", || run_state(&f, &name).status == "exited");
    std::thread::sleep(Duration::from_millis(800));
    let s = run_state(&f, &name);
    assert_eq!(
        (s.status.as_str(), s.restart_count, s.exit_code),
        ("exited", 0, 0)
    );
}

#[test]
fn always_restarts_a_clean_exit_until_stopped() {
    let f = Fixture::new();
    let name = f.name("alw");
    f.ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "sleep 0.3",
    ]);
    f.eventually(30, "two restarts", || {
        run_state(&f, &name).restart_count >= 2
    });
    f.eventually(30, "running again", || {
        run_state(&f, &name).status == "running"
    });
    f.ok(&["stop", "-t", "1", &name]);
    let s = run_state(&f, &name);
    assert_eq!(s.status, "exited", "{s:?}");
    let count = s.restart_count;
    std::thread::sleep(Duration::from_millis(2000));
    let after = run_state(&f, &name);
    assert_eq!(
        (after.status.as_str(), after.restart_count),
        ("exited", count)
    );
    // `wait` on the stopped container answers at once.
    let out = f.berth(&["wait", &name]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
}

#[test]
fn backoff_doubles_and_stop_cancels_the_pending_restart() {
    let f = Fixture::new();
    let name = f.name("bko");
    f.ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--name",
        &name,
        "busybox",
        "true",
    ]);
    // 100, 200, 400, 800, 1600 ms: five restarts take about 3.1 s; the
    // sixth waits 3.2 s, in the `restarting` state (RestartCount counts it
    // from the start of the wait, as docker's does).
    f.eventually(40, "the sixth restart pending", || {
        let s = run_state(&f, &name);
        s.restart_count >= 6 && s.status == "restarting"
    });
    let ps = f.ok(&[
        "ps",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ]);
    assert!(ps.starts_with("Restarting (0) "), "{ps}");
    let ps = f.ok(&[
        "ps",
        "--filter",
        "status=restarting",
        "--format",
        "{{.Names}}",
    ]);
    assert!(ps.lines().any(|l| l == name), "{ps}");
    let events = events_of(&f, &name);
    // The gap between each die and the start after it.
    let mut gaps = Vec::new();
    let mut last_die = None;
    for (t, action) in &events {
        match action.as_str() {
            "die" => last_die = Some(*t),
            "start" => {
                if let Some(d) = last_die.take() {
                    gaps.push(Duration::from_nanos((t - d) as u64));
                }
            }
            _ => {}
        }
    }
    assert!(gaps.len() >= 5, "{events:?}");
    assert!(
        gaps[0] < Duration::from_millis(900),
        "first restart after 100 ms: {gaps:?}"
    );
    assert!(
        gaps[3] >= Duration::from_millis(700),
        "fourth after 800 ms: {gaps:?}"
    );
    assert!(
        gaps[4] >= Duration::from_millis(1400),
        "fifth after 1.6 s: {gaps:?}"
    );
    assert!(
        gaps[4] > gaps[1] + Duration::from_millis(800),
        "gaps grow: {gaps:?}"
    );
    // stop during the delay: no restart comes any more.
    let count = run_state(&f, &name).restart_count;
    f.ok(&["stop", &name]);
    assert_eq!(run_state(&f, &name).status, "exited");
    std::thread::sleep(Duration::from_millis(4000));
    let s = run_state(&f, &name);
    assert_eq!((s.status.as_str(), s.restart_count), ("exited", count));
    let events = events_of(&f, &name);
    assert_eq!(
        events.last().map(|e| e.1.as_str()),
        Some("stop"),
        "{events:?}"
    );
}

#[test]
fn rm_force_during_the_backoff_removes_the_container() {
    let f = Fixture::new();
    let name = f.name("bkrm");
    f.ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--name",
        &name,
        "busybox",
        "true",
    ]);
    f.eventually(40, "waiting to restart", || {
        let s = run_state(&f, &name);
        s.restart_count >= 3 && s.status == "restarting"
    });
    let out = f.berth(&["rm", &name]);
    assert_ne!(
        code(&out),
        Some(0),
        "rm without -f refuses a restarting container"
    );
    f.ok(&["rm", "-f", &name]);
    assert!(!f.all_names().contains(&name));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!f.all_names().contains(&name), "no restart brought it back");
}

#[test]
fn update_restart_changes_the_policy_of_a_running_container() {
    let f = Fixture::new();
    let name = f.name("upd");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "[ -e /tmp/again ] && exec sleep 1000; touch /tmp/again; sleep 1; exit 4",
    ]);
    f.ok(&["update", "--restart", "on-failure:1", &name]);
    let v = f.inspect(&name);
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 1);
    f.eventually(30, "restarted once", || {
        let s = run_state(&f, &name);
        s.status == "running" && s.restart_count == 1
    });
    let out = f.berth(&["update", "--restart", "bogus", &name]);
    assert_ne!(code(&out), Some(0));
    assert!(stderr(&out).contains("bogus"), "{}", stderr(&out));
    f.ok(&["rm", "-f", &name]);
}

#[test]
fn unless_stopped_and_always_after_kill9_of_berthd() {
    let mut f = Fixture::new();
    // Runs until /tmp/go appears the first time; every later run sleeps.
    let script = "[ -e /tmp/again ] && exec sleep 1000; touch /tmp/again; while [ ! -e /tmp/go ]; do sleep 0.1; done";
    let crashed = f.name("us-exit");
    let stopped = f.name("us-stop");
    let always = f.name("al-stop");
    for (name, policy) in [
        (&crashed, "unless-stopped"),
        (&stopped, "unless-stopped"),
        (&always, "always"),
    ] {
        f.ok(&[
            "run",
            "-d",
            "--restart",
            policy,
            "--name",
            name,
            "busybox",
            "sh",
            "-c",
            script,
        ]);
    }
    f.ok(&["stop", "-t", "1", &stopped]);
    f.ok(&["stop", "-t", "1", &always]);
    let crashed_id = f.inspect(&crashed)["Id"].as_str().unwrap().to_string();
    let pid = f.pid(&crashed);
    f.d.kill9();
    // The process ends while berthd is down.
    std::fs::write(
        f.d.state
            .join("containers")
            .join(&crashed_id)
            .join("rootfs/tmp/go"),
        "",
    )
    .unwrap();
    f.eventually(20, "the container's process to end", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    f.d.restart();
    f.eventually(
        30,
        "the crashed unless-stopped container running again",
        || {
            let s = run_state(&f, &crashed);
            s.status == "running" && s.restart_count == 1
        },
    );
    // docker starts `always` containers at daemon start even when stopped.
    f.eventually(30, "the always container running again", || {
        run_state(&f, &always).status == "running"
    });
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        run_state(&f, &stopped).status,
        "exited",
        "stopped by the user"
    );
    // The re-adopted container keeps its policy: a crash restarts it.
    let pid = f.pid(&crashed);
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    f.eventually(30, "restarted after a crash", || {
        let s = run_state(&f, &crashed);
        s.status == "running" && s.restart_count == 2
    });
}

#[test]
fn rm_with_a_restart_policy_is_refused() {
    let f = Fixture::new();
    let name = f.name("rmr");
    let out = f.berth(&[
        "run",
        "--rm",
        "--restart",
        "always",
        "--name",
        &name,
        "busybox",
        "true",
    ]);
    assert_eq!(code(&out), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Conflicting options: --restart and --rm"),
        "{}",
        stderr(&out)
    );
    assert!(!f.all_names().contains(&name));
}

#[test]
fn bad_restart_and_health_flags_fail_with_125_and_leave_nothing() {
    let f = Fixture::new();
    let name = f.name("bad");
    for (flags, want) in [
        (vec!["--restart", "bogus"], "bogus"),
        (
            vec!["--restart", "on-failure:x"],
            "maximum retry count must be an integer",
        ),
        (
            vec!["--restart", "always:3"],
            "maximum retry count cannot be used with restart policy",
        ),
        (
            vec!["--health-interval", "1x"],
            "invalid argument \"1x\" for \"--health-interval\" flag",
        ),
        (
            vec!["--health-timeout", "-1s"],
            "--health-timeout cannot be negative",
        ),
        (
            vec!["--health-retries", "x"],
            "invalid argument \"x\" for \"--health-retries\" flag",
        ),
        (
            vec!["--no-healthcheck", "--health-cmd", "true"],
            "--no-healthcheck conflicts with --health-* options",
        ),
    ] {
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend(flags.iter().copied());
        args.extend(["busybox", "true"]);
        let out = f.berth(&args);
        assert_eq!(code(&out), Some(125), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
        assert!(!f.all_names().contains(&name), "{args:?} left a container");
    }
    assert_eq!(stdout(&f.berth(&["ps", "-aq"])), "");
}

// ---- health checks ----

fn health(f: &Fixture, name: &str) -> serde_json::Value {
    f.inspect(name)["State"]["Health"].clone()
}

fn ps_status(f: &Fixture, name: &str) -> String {
    f.ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ])
}

fn names_with_health(f: &Fixture, health: &str) -> Vec<String> {
    f.ok(&[
        "ps",
        "--filter",
        &format!("health={health}"),
        "--format",
        "{{.Names}}",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn health_cmd_goes_starting_unhealthy_then_healthy() {
    let f = Fixture::new();
    let name = f.name("hc");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "--health-start-period",
        "1s",
        "busybox",
        "sleep",
        "1000",
    ]);
    // Failures in the first second do not count: starting, streak 0.
    std::thread::sleep(Duration::from_millis(600));
    let h = health(&f, &name);
    assert_eq!(h["Status"], "starting", "{h}");
    assert_eq!(h["FailingStreak"], 0, "{h}");
    assert!(!h["Log"].as_array().unwrap().is_empty(), "a probe ran: {h}");
    assert!(
        ps_status(&f, &name).ends_with("(health: starting)"),
        "{}",
        ps_status(&f, &name)
    );
    assert!(names_with_health(&f, "starting").contains(&name));
    let v = f.inspect(&name);
    assert_eq!(
        v["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "test -f /tmp/ok"])
    );
    assert_eq!(v["Config"]["Healthcheck"]["Interval"], 200_000_000);
    assert_eq!(v["Config"]["Healthcheck"]["Retries"], 2);
    f.eventually(20, "unhealthy", || {
        health(&f, &name)["Status"] == "unhealthy"
    });
    let h = health(&f, &name);
    assert!(h["FailingStreak"].as_u64().unwrap() >= 2, "{h}");
    let log = h["Log"].as_array().unwrap();
    assert!(!log.is_empty() && log.len() <= 5, "{h}");
    assert!(log.iter().all(|e| e["ExitCode"] == 1), "{h}");
    assert!(log[0]["Start"].as_str().unwrap().starts_with("20"), "{h}");
    assert!(
        ps_status(&f, &name).ends_with("(unhealthy)"),
        "{}",
        ps_status(&f, &name)
    );
    assert!(names_with_health(&f, "unhealthy").contains(&name));
    f.ok(&["exec", &name, "touch", "/tmp/ok"]);
    f.eventually(20, "healthy", || health(&f, &name)["Status"] == "healthy");
    let h = health(&f, &name);
    assert_eq!(h["FailingStreak"], 0, "{h}");
    assert_eq!(
        h["Log"].as_array().unwrap().last().unwrap()["ExitCode"],
        0,
        "{h}"
    );
    assert!(
        ps_status(&f, &name).ends_with("(healthy)"),
        "{}",
        ps_status(&f, &name)
    );
    assert!(names_with_health(&f, "healthy").contains(&name));
    assert!(!names_with_health(&f, "none").contains(&name));
    let events: Vec<String> = events_of(&f, &name).into_iter().map(|e| e.1).collect();
    for want in ["health_status: unhealthy", "health_status: healthy"] {
        assert!(events.iter().any(|e| e == want), "{want} in {events:?}");
    }
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("exec_start: /bin/sh -c test -f /tmp/ok")),
        "{events:?}"
    );
    // Probes stop with the container.
    f.ok(&["stop", "-t", "1", &name]);
    let n = health(&f, &name)["Log"]
        .as_array()
        .map(|l| l.len())
        .unwrap_or(0);
    let before = count_action(&events_of(&f, &name), "exec_die");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(count_action(&events_of(&f, &name), "exec_die"), before);
    assert_eq!(
        health(&f, &name)["Log"]
            .as_array()
            .map(|l| l.len())
            .unwrap_or(0),
        n
    );
}

#[test]
fn a_hung_probe_past_its_timeout_is_a_failure() {
    let f = Fixture::new();
    let name = f.name("hto");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--health-cmd",
        "sleep 30",
        "--health-interval",
        "100ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    f.eventually(20, "unhealthy", || {
        health(&f, &name)["Status"] == "unhealthy"
    });
    let h = health(&f, &name);
    let entry = &h["Log"][0];
    assert_eq!(entry["ExitCode"], -1, "{h}");
    assert!(
        entry["Output"]
            .as_str()
            .unwrap()
            .contains("Health check exceeded timeout"),
        "{h}"
    );
    // The probe was killed: no `sleep 30` is left in the container.
    let ps = f.ok(&["exec", &name, "ps", "-o", "args"]);
    assert!(!ps.contains("sleep 30"), "{ps}");
}

#[test]
fn image_healthcheck_runs_and_no_healthcheck_disables_it() {
    let f = Fixture::new();
    let tag = format!("{}:hc", f.name("hcimg"));
    load_image_with_healthcheck(
        &f,
        &tag,
        serde_json::json!({
            "Test": ["CMD", "sh", "-c", "echo probe-out; exit 0"],
            "Interval": 200_000_000i64,
            "Retries": 2,
        }),
    );
    let name = f.name("img");
    f.ok(&["run", "-d", "--name", &name, &tag, "sleep", "1000"]);
    let v = f.inspect(&name);
    assert_eq!(
        v["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "sh", "-c", "echo probe-out; exit 0"])
    );
    f.eventually(20, "healthy", || health(&f, &name)["Status"] == "healthy");
    let h = health(&f, &name);
    assert_eq!(h["Log"][0]["Output"], "probe-out\n", "{h}");
    // The user's flags override the image's fields one by one.
    let over = f.name("over");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &over,
        "--health-cmd",
        "exit 1",
        "--health-retries",
        "1",
        &tag,
        "sleep",
        "1000",
    ]);
    let v = f.inspect(&over);
    assert_eq!(
        v["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "exit 1"])
    );
    assert_eq!(v["Config"]["Healthcheck"]["Interval"], 200_000_000);
    f.eventually(20, "unhealthy", || {
        health(&f, &over)["Status"] == "unhealthy"
    });
    // --no-healthcheck: no probe, no Health, filter health=none.
    let none = f.name("none");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &none,
        "--no-healthcheck",
        &tag,
        "sleep",
        "1000",
    ]);
    std::thread::sleep(Duration::from_millis(700));
    assert!(health(&f, &none).is_null(), "{}", health(&f, &none));
    assert_eq!(
        f.inspect(&none)["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["NONE"])
    );
    assert!(
        !ps_status(&f, &none).contains("health"),
        "{}",
        ps_status(&f, &none)
    );
    assert!(names_with_health(&f, "none").contains(&none));
    assert_eq!(count_action(&events_of(&f, &none), "exec_die"), 0);
    let out = f.berth(&["ps", "--filter", "health=bogus"]);
    assert_ne!(code(&out), Some(0));
    assert!(
        stderr(&out).contains("Unrecognised filter value for health: bogus"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn probes_resume_after_berthd_restart() {
    let mut f = Fixture::new();
    let name = f.name("hcr");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    f.eventually(20, "unhealthy", || {
        health(&f, &name)["Status"] == "unhealthy"
    });
    f.d.kill9();
    f.d.restart();
    f.ok(&["exec", &name, "touch", "/tmp/ok"]);
    f.eventually(20, "healthy after the restart", || {
        health(&f, &name)["Status"] == "healthy"
    });
}

#[test]
fn attached_run_and_wait_end_at_the_first_exit() {
    let f = Fixture::new();
    let name = f.name("att");
    let out = f.berth(&[
        "run",
        "--restart",
        "on-failure:1",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "[ -e /tmp/again ] && exec sleep 1000; touch /tmp/again; echo first; exit 3",
    ]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "first");
    f.eventually(30, "restarted once", || {
        let s = run_state(&f, &name);
        s.status == "running" && s.restart_count == 1
    });
    // wait answers at the next exit although the policy allows no more.
    let waiter = f.spawn(&["wait", &name]);
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(f.pid(&name) as i32, libc::SIGKILL) };
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "137");
    f.eventually(20, "exited", || run_state(&f, &name).status == "exited");
}

/// The shims whose command line names `id` (a shim outliving its container
/// would be a leak).
fn shims_of(id: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| {
            let c = String::from_utf8_lossy(c);
            c.contains("berth-shim") && c.contains(id)
        })
        .count()
}

#[test]
fn busy_probes_never_keep_a_container_from_ending() {
    let f = Fixture::new();
    for i in 0..5 {
        let name = f.name(&format!("busy{i}"));
        let id = f.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--health-cmd",
            "sleep 0.02",
            "--health-interval",
            "5ms",
            "busybox",
            "sleep",
            "1000",
        ]);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(shims_of(&id), 1, "one shim runs it");
        f.ok(&["kill", &name]);
        f.eventually(20, "exited", || run_state(&f, &name).status == "exited");
        f.eventually(20, "its shim gone", || shims_of(&id) == 0);
        f.ok(&["rm", &name]);
    }
}
