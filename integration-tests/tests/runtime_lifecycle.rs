//! berth-runtime's commands end to end on busybox bundles: create, start,
//! state, kill, delete, run, exec, ps, list, spec, pause, resume, update,
//! events, --version; cgroup placement and removal.

use std::path::Path;

use berth_integration_tests::runtime::{container_id, default_cgroup_dirs, Cleanup, Runtime};
use berth_integration_tests::{require_root, stderr, stdout, Bundle, TestDir};
use serde_json::json;

fn bundle(dir: &TestDir, args: &[&str]) -> Bundle {
    Bundle::new(&dir.join("bundle"), args)
}

#[test]
fn run_returns_the_containers_output_and_exit_code() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("run");
    let b = bundle(&dir, &["sh", "-c", "echo hello from berth; exit 3"]);
    let id = container_id("run");
    let (code, out, err) = rt.run_bundle(&b.dir, &id);
    assert_eq!(code, 3, "stderr: {err}");
    assert_eq!(out.trim(), "hello from berth");
    // run deletes the container when it exits: no state, no cgroup.
    assert!(rt.state(&id).is_none());
    assert!(!rt.root.join(&id).exists());
    for d in default_cgroup_dirs(&id) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn create_start_state_kill_delete() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("life");
    let b = bundle(&dir, &["sleep", "1000"]);
    let id = container_id("life");
    let _c = Cleanup {
        runtime: &rt,
        ids: vec![id.clone()],
    };
    let pid_file = dir.join("pid");
    let out = rt.exec(&[
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let st = rt.state(&id).unwrap();
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["bundle"], b.dir.to_str().unwrap());
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    // The init waits; it is in the container's cgroup already.
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cg.contains(&format!("memory:/berth/{id}")), "{cg}");
    for d in default_cgroup_dirs(&id) {
        assert!(d.exists(), "{} missing", d.display());
    }
    let out = rt.exec(&["start", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(rt.status(&id).unwrap(), "running");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep");
    // The container got a session keyring of its own (runc's `_ses.<id>`).
    let keys = std::fs::read_to_string("/proc/keys").unwrap();
    assert!(keys.contains(&format!("_ses.{id}")), "{keys}");
    // start twice is refused.
    let out = rt.exec(&["start", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already running"), "{}", stderr(&out));
    // list and ps see it.
    let out = rt.exec(&["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "running");
    let out = rt.exec(&["list", "-q"]);
    assert_eq!(stdout(&out), id);
    let out = rt.exec(&["ps", "--format", "json", &id]);
    let pids: Vec<i64> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pids, vec![pid]);
    let out = rt.exec(&["ps", &id]);
    assert!(
        stdout(&out).lines().count() == 2 && stdout(&out).contains("sleep"),
        "{}",
        stdout(&out)
    );
    // delete without --force refuses a running container.
    let out = rt.exec(&["delete", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not stopped"), "{}", stderr(&out));
    // kill by name; sleep as pid 1 of its namespace only dies of SIGKILL.
    let out = rt.exec(&["kill", &id, "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    rt.wait_status(&id, "stopped");
    let out = rt.exec(&["kill", &id, "KILL"]);
    assert!(
        !out.status.success(),
        "kill of a stopped container must fail"
    );
    let out = rt.exec(&["delete", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(rt.state(&id).is_none());
    for d in default_cgroup_dirs(&id) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn delete_force_kills_a_running_container_and_removes_its_cgroup() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("delf");
    let b = bundle(&dir, &["sh", "-c", "sleep 1000 & sleep 1000"]);
    let id = container_id("delf");
    let pid = rt.start_detached(&b.dir, &id);
    let out = rt.exec(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !Path::new(&format!("/proc/{pid}/cmdline")).exists() || {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            s.contains(") Z")
        }
    );
    for d in default_cgroup_dirs(&id) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    // delete --force of a container that does not exist is not an error (runc).
    let out = rt.exec(&["delete", "--force", &id]);
    assert!(out.status.success());
    let out = rt.exec(&["delete", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

#[test]
fn kill_delivers_named_and_numbered_signals() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("kill");
    let mut b = bundle(
        &dir,
        &[
            "sh",
            "-c",
            "trap 'echo usr1 > /tmp/got' USR1; while true; do sleep 0.05; done",
        ],
    );
    b.spec["root"]["readonly"] = json!(false);
    b.save();
    let id = container_id("kill");
    let _c = Cleanup {
        runtime: &rt,
        ids: vec![id.clone()],
    };
    rt.start_detached(&b.dir, &id);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let out = rt.exec(&["kill", &id, "SIGUSR1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = b.rootfs().join("tmp/got");
    for _ in 0..100 {
        if got.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(&got).unwrap().trim(), "usr1");
    let out = rt.exec(&["kill", &id, "SIGBOGUS"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown signal"), "{}", stderr(&out));
    let out = rt.exec(&["kill", "--all", &id, "9"]);
    assert!(out.status.success(), "{}", stderr(&out));
    rt.wait_status(&id, "stopped");
}

#[test]
fn exec_runs_processes_with_their_own_exit_code_user_env_and_cwd() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("exec");
    let b = bundle(&dir, &["sleep", "1000"]);
    let id = container_id("exec");
    let _c = Cleanup {
        runtime: &rt,
        ids: vec![id.clone()],
    };
    rt.start_detached(&b.dir, &id);
    let out = rt.exec(&["exec", &id, "sh", "-c", "echo in $(hostname); exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(stdout(&out), "in runc");
    let out = rt.exec(&[
        "exec",
        "--env",
        "GREETING=hi",
        "--cwd",
        "/tmp",
        "--user",
        "1000:2000",
        &id,
        "sh",
        "-c",
        "echo $GREETING $(pwd) $(id -u) $(id -g)",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi /tmp 1000 2000");
    // Same pid namespace as the init: pid 1 is the container's sleep.
    let out = rt.exec(&["exec", &id, "cat", "/proc/1/comm"]);
    assert_eq!(stdout(&out), "sleep");
    // --process FILE
    let pfile = dir.join("process.json");
    std::fs::write(
        &pfile,
        json!({"args": ["sh", "-c", "echo from process file; exit 4"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}})
            .to_string(),
    )
    .unwrap();
    let out = rt.exec(&["exec", "--process", pfile.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(stdout(&out), "from process file");
    // Detached exec with a pid file.
    let pid_file = dir.join("exec.pid");
    let out = rt.exec(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "1000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cg.contains(&format!("memory:/berth/{id}")),
        "exec'd process not in the cgroup: {cg}"
    );
    // A command that does not exist is a clear error.
    let out = rt.exec(&["exec", &id, "no-such-command"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no-such-command"), "{}", stderr(&out));
    // No exec into a stopped container.
    rt.exec(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    let out = rt.exec(&["exec", &id, "true"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not running"), "{}", stderr(&out));
}

#[test]
fn pause_resume_update_and_events() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("pause");
    let b = bundle(&dir, &["sleep", "1000"]);
    let id = container_id("pause");
    let _c = Cleanup {
        runtime: &rt,
        ids: vec![id.clone()],
    };
    let pid = rt.start_detached(&b.dir, &id);
    let out = rt.exec(&["pause", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(rt.status(&id).unwrap(), "paused");
    let freezer = format!("/sys/fs/cgroup/freezer/berth/{id}/freezer.state");
    assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), "FROZEN");
    let out = rt.exec(&["resume", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(rt.status(&id).unwrap(), "running");
    let out = rt.exec(&["resume", &id]);
    assert!(
        !out.status.success(),
        "resume of a running container must fail"
    );
    let out = rt.exec(&["update", "--memory", "64m", "--pids-limit", "20", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let limit = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/berth/{id}/memory.limit_in_bytes"
    ))
    .unwrap();
    assert_eq!(limit.trim(), (64u64 << 20).to_string());
    let pids = std::fs::read_to_string(format!("/sys/fs/cgroup/pids/berth/{id}/pids.max")).unwrap();
    assert_eq!(pids.trim(), "20");
    let out = rt.exec(&["events", "--stats", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ev: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    assert_eq!(ev["data"]["pids"]["current"], 1);
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 64u64 << 20);
    let _ = pid;
}

#[test]
fn spec_writes_a_default_config_once_and_version_prints() {
    let rt = Runtime::berth();
    let dir = TestDir::new("spec");
    let out = rt.exec(&["spec", "--bundle", dir.path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["process"]["args"], json!(["sh"]));
    assert_eq!(spec["root"]["path"], "rootfs");
    let out = rt.exec(&["spec", "--bundle", dir.path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("exists"), "{}", stderr(&out));
    let rootless = TestDir::new("spec-rl");
    let out = rt.exec(&[
        "spec",
        "--rootless",
        "--bundle",
        rootless.path.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rootless.join("config.json")).unwrap()).unwrap();
    assert!(spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["type"] == "user"));
    let out = rt.exec(&["--version"]);
    assert!(
        stdout(&out).starts_with("berth-runtime version"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn events_stream_stats_and_oom_kills() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("oom");
    let mut b = bundle(
        &dir,
        &[
            "sh",
            "-c",
            "sleep 1; while true; do x=$(head -c 100000000 /dev/zero | tr '\\0' a); done",
        ],
    );
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 32 << 20, "swap": 32 << 20});
    b.save();
    let id = container_id("oom");
    let _c = Cleanup {
        runtime: &rt,
        ids: vec![id.clone()],
    };
    rt.start_detached(&b.dir, &id);
    let mut child = rt
        .cmd()
        .args(["events", "--interval", "1s", &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (mut stats, mut oom) = (0, 0);
    while std::time::Instant::now() < deadline && (stats == 0 || oom == 0) {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["id"], id.as_str());
            match v["type"].as_str() {
                Some("stats") => stats += 1,
                Some("oom") => oom += 1,
                other => panic!("unexpected event {other:?}"),
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(stats > 0, "no stats event");
    assert!(oom > 0, "no oom event within 20s");
}

/// `run --keep`: the container stays after its process exits, stopped,
/// with its cgroup, until `delete` (runc's run.bats "runc run --keep");
/// berth used to accept the flag and delete the container anyway.
#[test]
fn run_keep_leaves_a_stopped_container_like_runc() {
    require_root();
    let dir = TestDir::new("runkeep");
    let _parents = berth_integration_tests::runtime::CgroupParentCleanup::new("bt-keep");
    let mut seen = Vec::new();
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let mut b = Bundle::new(&dir.join(name), &["echo", "hello"]);
        b.spec["linux"]["cgroupsPath"] = json!(format!("/bt-keep/{id}"));
        b.save();
        let out = rt.exec(&["run", "--keep", "--bundle", b.dir.to_str().unwrap(), &id]);
        let pids = Path::new("/sys/fs/cgroup/pids/bt-keep").join(&id);
        let kept = (
            out.status.code(),
            stdout(&out),
            rt.status(&id),
            pids.join("pids.max").exists(),
        );
        let deleted = rt.exec(&["delete", &id]);
        seen.push((
            kept,
            deleted.status.code(),
            rt.state(&id).is_none(),
            pids.exists(),
        ));
    }
    assert_eq!(seen[0], seen[1], "berth (left) and runc (right) differ");
    assert_eq!(
        seen[0],
        (
            (
                Some(0),
                "hello".to_string(),
                Some("stopped".to_string()),
                true
            ),
            Some(0),
            true,
            false
        )
    );
}
