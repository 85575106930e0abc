//! `service berthd start|stop|restart|status` on a machine without systemd:
//! the package's init script (dist/init.d/berthd) drives a private berthd
//! (see `berth_integration_tests::service`). What an admin and a user meet:
//! exit codes and messages of the script, the socket's owner and mode, a
//! member of the socket's group using berth without root, a non-member
//! refused with a message naming the socket, containers that outlive a
//! `stop` and are re-adopted by the next `start`, and a bad daemon.json
//! failing `start`.

use berth_integration_tests::service::{process_alive, Service};
use berth_integration_tests::{stderr, stdout};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

fn group_id(name: &str) -> u32 {
    let out = std::process::Command::new("getent")
        .args(["group", name])
        .output()
        .unwrap();
    stdout(&out).split(':').nth(2).unwrap().parse().unwrap()
}

#[test]
fn start_serves_the_group_and_refuses_others() {
    let s = Service::new();
    assert_eq!(s.script("status").status.code(), Some(3), "stopped");

    let out = s.script("start");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("started"), "{}", stdout(&out));
    let pid = s.pid().expect("pidfile names a live berthd");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "berthd");
    let status = s.script("status");
    assert_eq!(status.status.code(), Some(0));
    assert!(stdout(&status).contains(&pid.to_string()));
    // A second start leaves the running berthd alone.
    let again = s.script("start");
    assert_eq!(again.status.code(), Some(0));
    assert!(
        stdout(&again).contains("already running"),
        "{}",
        stdout(&again)
    );
    assert_eq!(s.pid(), Some(pid));

    // Nothing world-accessible: the socket is 0660 root:GROUP in the state
    // dir, which is 0710 root:GROUP; the root dir is 0710 root:root
    // (moby's CVE-2021-41091); the log is not readable by others.
    let gid = group_id(&s.group);
    let sock = std::fs::metadata(&s.socket).unwrap();
    assert_eq!(sock.mode() & 0o777, 0o660);
    assert_eq!((sock.uid(), sock.gid()), (0, gid));
    for (dir, want_gid) in [(&s.state, gid), (&s.root, 0)] {
        let meta = std::fs::metadata(dir).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o710, "{dir:?}");
        assert_eq!((meta.uid(), meta.gid()), (0, want_gid), "{dir:?}");
    }
    assert_eq!(std::fs::metadata(&s.log).unwrap().mode() & 0o007, 0);
    let meta_db = s.root.join("meta.redb");
    assert!(meta_db.exists());
    for user in [&s.outsider, &s.member] {
        let out = s.as_user(user, &["cat", meta_db.to_str().unwrap()]);
        assert!(!out.status.success(), "{user} read {meta_db:?}");
    }
    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(
        log.contains("berthd serving"),
        "berthd's log goes to the log file:\n{log}"
    );

    s.import_busybox();
    // A member of the group runs a container without root.
    let out = s.berth_as(Some(&s.member), &["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi");
    // Anyone else is refused, in one line that names the socket.
    let out = s.berth_as(Some(&s.outsider), &["ps"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("permission denied")
            && err.contains(&format!("unix://{}", s.socket.display()))
            && err.contains(&format!("group {}", s.group)),
        "{err}"
    );

    let out = s.script("stop");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!process_alive(pid), "berthd {pid} still runs");
    assert!(!s.pidfile.exists());
    assert_eq!(s.script("status").status.code(), Some(3));
    // Stopping again is no error.
    assert_eq!(s.script("stop").status.code(), Some(0));
}

#[test]
fn stop_keeps_containers_and_start_readopts_them() {
    let s = Service::new();
    let out = s.script("start");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    s.import_busybox();
    let name = berth_integration_tests::unique_name("svc");
    s.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]);
    let inspect = |s: &Service| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", &name])).unwrap();
        v[0]["State"].clone()
    };
    let ctr_pid = inspect(&s)["Pid"].as_i64().unwrap() as i32;
    assert!(ctr_pid > 0);
    let berthd = s.pid().unwrap();

    let out = s.script("stop");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!process_alive(berthd));
    // The container (and its shim) outlive berthd.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        process_alive(ctr_pid),
        "container {ctr_pid} died with berthd"
    );
    let out = s.berth(&["ps"]);
    assert_eq!(out.status.code(), Some(1), "no berthd answers");

    let out = s.script("start");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_ne!(s.pid(), Some(berthd));
    let state = inspect(&s);
    assert_eq!(state["Running"], true, "{state}");
    assert_eq!(state["Pid"].as_i64().unwrap() as i32, ctr_pid);
    assert!(s.ok(&["ps"]).contains(&name));

    // restart and force-reload keep it too.
    for action in ["restart", "force-reload"] {
        let before = s.pid().unwrap();
        let out = s.script(action);
        assert_eq!(out.status.code(), Some(0), "{action}: {}", stderr(&out));
        assert_ne!(s.pid(), Some(before), "{action} started a new berthd");
        assert!(process_alive(ctr_pid));
    }
    assert_eq!(inspect(&s)["Pid"].as_i64().unwrap() as i32, ctr_pid);

    // The re-adopted container is fully managed: stop and rm work.
    s.ok(&["stop", "-t", "1", &name]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while process_alive(ctr_pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!process_alive(ctr_pid), "stop did not end the container");
    s.ok(&["rm", &name]);
    assert!(!s.ok(&["ps", "-a"]).contains(&name));
    assert_eq!(s.script("stop").status.code(), Some(0));
}

#[test]
fn a_bad_daemon_json_fails_start_with_berthds_message() {
    let s = Service::new();
    s.write_config(&format!(
        r#"{{"bridge": "{}", "nft-table": "{}", "bogus-key": 1}}"#,
        s.bridge, s.nft_table
    ));
    let out = s.script("start");
    assert_eq!(out.status.code(), Some(1), "start must fail");
    let err = stderr(&out);
    assert!(err.contains("failed to start"), "{err}");
    // berthd's own line, naming the file and the key, from the log.
    assert!(
        err.contains(&format!("config {}", s.config.display())) && err.contains("bogus-key"),
        "{err}"
    );
    assert!(
        s.pid().is_none() && !s.pidfile.exists(),
        "nothing left running"
    );
    assert_eq!(s.script("status").status.code(), Some(3));
    assert!(!s.socket.exists());
}
