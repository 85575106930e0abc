//! Restart policies and health checks on real containers: docker's
//! `--restart` rules and back-off applied by berthd (also across a kill -9
//! of berthd), and HEALTHCHECK probes run as execs in the container.

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::restart_health::{count_action, events_of, run_state};
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
