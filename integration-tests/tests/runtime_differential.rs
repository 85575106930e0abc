//! berth-runtime against Debian's runc on the same bundles: what a process
//! sees inside the container, the state JSON's shape and the exit codes must
//! match where runc defines the behaviour.

use berth_integration_tests::runtime::{container_id, CgroupParentCleanup, Cleanup, Runtime};
use berth_integration_tests::{have_program, require_root, Bundle, TestDir};
use serde_json::json;

/// What the container sees, normalised where the two may legitimately
/// differ (pids, pty numbers).
const PROBE: &str = "id; hostname; grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status; \
    cat /proc/self/limits; ls /dev | sort; ls -l /dev | awk '{print $1, $5, $6, $NF}' | sort; \
    umask; pwd; echo $$; cat /proc/self/oom_score_adj; \
    awk '{print $5}' /proc/self/mountinfo | sort; \
    for p in /proc/timer_list /proc/keys /proc/sys/kernel/hostname; do head -c 0 $p 2>&1 && echo readable $p; done; \
    (echo x > /proc/sys/kernel/hostname) 2>&1 | sed 's/^.*: //'";

/// An explicit cgroup for both runtimes: without one runc would nest the
/// container under the test's own cgroup, which may belong to the machine.
fn cgroup_path(id: &str) -> String {
    format!("/bt-diff/{id}")
}

fn run_both(edit: impl Fn(&mut serde_json::Value)) -> (String, String) {
    let dir = TestDir::new("diff");
    let _parents = CgroupParentCleanup::new("bt-diff");
    let mut outs = Vec::new();
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let mut b = Bundle::new(&dir.join(name), &["sh", "-c", PROBE]);
        edit(&mut b.spec);
        let id = container_id(name);
        b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(&id));
        b.save();
        let (code, out, err) = rt.run_bundle(&b.dir, &id);
        assert_eq!(code, 0, "{name}: {err}");
        outs.push(out);
    }
    (outs.remove(0), outs.remove(0))
}

fn assert_same(berth: &str, runc: &str) {
    let b: Vec<&str> = berth.lines().collect();
    let r: Vec<&str> = runc.lines().collect();
    for (i, (x, y)) in b.iter().zip(&r).enumerate() {
        assert_eq!(x, y, "line {i} differs\nberth:\n{berth}\nrunc:\n{runc}");
    }
    assert_eq!(b.len(), r.len(), "berth:\n{berth}\nrunc:\n{runc}");
}

#[test]
fn default_spec_looks_the_same_from_inside() {
    require_root();
    assert!(
        have_program("runc"),
        "install runc (the differential oracle)"
    );
    let (b, r) = run_both(|_| {});
    assert_same(&b, &r);
}

#[test]
fn user_caps_and_limits_look_the_same_from_inside() {
    require_root();
    let (b, r) = run_both(|s| {
        s["process"]["user"] =
            json!({"uid": 1000, "gid": 1000, "additionalGids": [2000], "umask": 63});
        s["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN"],
            "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"],
            "inheritable": ["CAP_CHOWN"], "ambient": ["CAP_CHOWN"]
        });
        s["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 300, "soft": 200}, {"type": "RLIMIT_NPROC", "hard": 500, "soft": 500}]);
        s["process"]["oomScoreAdj"] = json!(500);
        s["process"]["cwd"] = json!("/tmp");
        s["hostname"] = json!("differential");
        s["root"]["readonly"] = json!(false);
    });
    assert_same(&b, &r);
}

#[test]
fn state_and_exit_codes_match_runc() {
    require_root();
    let dir = TestDir::new("diffst");
    let _parents = CgroupParentCleanup::new("bt-diff");
    let mut states = Vec::new();
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let mut b = Bundle::new(&dir.join(name), &["sleep", "1000"]);
        let id = container_id(name);
        b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(&id));
        b.save();
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let out = rt.exec(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
        assert!(out.status.success());
        let created = rt.state(&id).unwrap();
        rt.exec(&["start", &id]);
        let running = rt.state(&id).unwrap();
        let exec = rt.exec(&["exec", &id, "sh", "-c", "exit 42"]);
        let missing = rt.exec(&["exec", &id, "/no/such/binary"]);
        rt.exec(&["kill", &id, "KILL"]);
        rt.wait_status(&id, "stopped");
        let stopped = rt.state(&id).unwrap();
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        states.push((
            keys(&running),
            created["status"].clone(),
            running["status"].clone(),
            stopped["status"].clone(),
            stopped["pid"].clone(),
            exec.status.code(),
            missing.status.success(),
        ));
    }
    assert_eq!(states[0], states[1], "berth vs runc");
}
