//! Hooks at the points the runtime spec names, user namespaces with id maps,
//! `run --detach` and `--no-pivot`.

use berth_integration_tests::runtime::{container_id, Cleanup, Runtime};
use berth_integration_tests::{require_root, stderr, Bundle, TestDir};
use serde_json::json;

fn hook(log: &std::path::Path, name: &str) -> serde_json::Value {
    // Each hook appends its name, the status it was given and whether its
    // root is the host's (hooks of the runtime namespace) to a log on the host.
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("read -r state; echo \"{name} $(echo \"$state\" | grep -o '\"status\":\"[a-z]*\"') $HOOKVAR\" >> {}", log.display())],
        "env": [format!("HOOKVAR=env-{name}")],
        "timeout": 5
    })
}

#[test]
fn hooks_run_in_order_with_state_on_stdin() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("hooks");
    let log = dir.join("hooks.log");
    let mut b = Bundle::new(&dir.join("b"), &["true"]);
    // createContainer and startContainer run inside the container's mount
    // namespace: give them the log's directory at the same path.
    b.spec["mounts"].as_array_mut().unwrap().push(json!({
        "destination": dir.path.to_str().unwrap(), "type": "bind",
        "source": dir.path.to_str().unwrap(), "options": ["rbind", "rw"]
    }));
    b.spec["root"]["readonly"] = json!(false);
    std::fs::create_dir_all(b.rootfs().join("usr/bin")).unwrap();
    b.spec["hooks"] = json!({
        "prestart": [hook(&log, "prestart")],
        "createRuntime": [hook(&log, "createRuntime")],
        "createContainer": [hook(&log, "createContainer")],
        "startContainer": [hook(&log, "startContainer")],
        "poststart": [hook(&log, "poststart")],
        "poststop": [hook(&log, "poststop")]
    });
    b.save();
    let (code, _, err) = rt.run_bundle(&b.dir, &container_id("hooks"));
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "prestart \"status\":\"creating\" env-prestart",
            "createRuntime \"status\":\"creating\" env-createRuntime",
            "createContainer \"status\":\"creating\" env-createContainer",
            "startContainer \"status\":\"running\" env-startContainer",
            "poststart \"status\":\"running\" env-poststart",
            "poststop \"status\":\"stopped\" env-poststop",
        ],
        "{text}"
    );
}

#[test]
fn a_failing_prestart_hook_fails_create_and_leaves_nothing() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("hookfail");
    let mut b = Bundle::new(&dir.join("b"), &["true"]);
    b.spec["hooks"] = json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo hook says no >&2; exit 3"]}]});
    b.save();
    let id = container_id("hookfail");
    let out = rt.exec(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("prestart hook") && err.contains("hook says no"),
        "{err}"
    );
    assert!(rt.state(&id).is_none());
    assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/memory/berth/{id}")).exists());
    // A hook past its timeout is killed and fails the create too.
    b.spec["hooks"] =
        json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]});
    b.save();
    let start = std::time::Instant::now();
    let out = rt.exec(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    assert!(rt.state(&id).is_none());
}

#[test]
fn user_namespace_with_id_maps() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("userns");
    let mut b = Bundle::new(&dir.join("b"), &["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox; grep CapEff /proc/self/status"]);
    b.spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    b.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.save();
    let (code, out, err) = rt.run_bundle(&b.dir, &container_id("userns"));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines[0], "0 200000 65536");
    assert_eq!(lines[1], "0 200000 65536");
    assert_eq!(lines[2], "0");
    // Host root's files are unmapped in the container: the overflow id.
    assert_eq!(lines[3], "65534");
    assert!(lines[4].starts_with("CapEff:"));
}

#[test]
fn run_detach_and_no_pivot() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("detach");
    let b = Bundle::new(&dir.join("b"), &["sleep", "1000"]);
    let id = container_id("detach");
    let _c = Cleanup {
        runtime: &rt,
        ids: vec![id.clone()],
    };
    let out = rt.exec(&["run", "--detach", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    let out = rt.exec(&["delete", "--force", &id]);
    assert!(out.status.success());
    let b2 = Bundle::new(
        &dir.join("np"),
        &["sh", "-c", "cat /proc/self/mountinfo | wc -l; ls /"],
    );
    let out = rt.exec(&[
        "run",
        "--no-pivot",
        "--bundle",
        b2.dir.to_str().unwrap(),
        &container_id("nopivot"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("bin"));
}

#[test]
fn failing_poststart_and_poststop_hooks_are_logged_not_fatal() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("hookwarn");
    let mut b = Bundle::new(&dir.join("b"), &["sh", "-c", "exit 5"]);
    b.spec["hooks"] = json!({
        "poststart": [{"path": "/bin/false"}],
        "poststop": [{"path": "/bin/false"}]
    });
    b.save();
    let log = dir.join("log.json");
    let id = container_id("hookwarn");
    let out = rt.exec(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "run",
        "--bundle",
        b.dir.to_str().unwrap(),
        &id,
    ]);
    // The container's own exit code, not a hook failure.
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        rt.state(&id).is_none(),
        "run deletes the container despite poststop"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("\"warning\"")).collect();
    assert_eq!(warnings.len(), 2, "{text}");
    assert!(warnings[0].contains("poststart hook /bin/false"), "{text}");
    assert!(warnings[1].contains("poststop hook /bin/false"), "{text}");
}
