//! Bad input to berth-runtime: each case gets a one-line error naming the
//! problem, exit code 1, a JSON error line in `--log` with `--log-format
//! json`, and leaves no state dir, cgroup or process behind.

use std::path::Path;

use berth_integration_tests::runtime::{container_id, default_cgroup_dirs, Runtime};
use berth_integration_tests::{require_root, Bundle, TestDir};
use serde_json::json;

/// Runs `create` on a bundle edited by `edit` and checks the failure.
fn assert_create_fails(edit: impl FnOnce(&Bundle), id: Option<&str>, want: &str) {
    let rt = Runtime::berth();
    let dir = TestDir::new("bad");
    let b = Bundle::new(&dir.join("b"), &["true"]);
    edit(&b);
    let id = id
        .map(str::to_string)
        .unwrap_or_else(|| container_id("bad"));
    let log = dir.join("log.json");
    let out = rt.exec(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        &id,
    ]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "want failure for {want:?}, stderr: {err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(want), "error {err:?} should mention {want:?}");
    let line = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains(want), "{v}");
    assert!(v["time"].is_string());
    // Nothing left: no state dir, no cgroup, no container process.
    let leftovers: Vec<_> = std::fs::read_dir(&rt.root.path)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.is_empty(), "state left behind: {leftovers:?}");
    // (`..` would name the shared parent cgroup itself.)
    if id != ".." {
        for d in default_cgroup_dirs(&id) {
            assert!(!d.exists(), "{} left behind", d.display());
        }
    }
    let procs = std::process::Command::new("pgrep")
        .args(["-f", b.dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        procs.stdout.is_empty(),
        "process left: {}",
        String::from_utf8_lossy(&procs.stdout)
    );
}

fn edit_spec(b: &Bundle, f: impl FnOnce(&mut serde_json::Value)) {
    let mut spec = b.spec.clone();
    f(&mut spec);
    std::fs::write(b.dir.join("config.json"), spec.to_string()).unwrap();
}

#[test]
fn invalid_json() {
    require_root();
    assert_create_fails(
        |b| std::fs::write(b.dir.join("config.json"), "{not json").unwrap(),
        None,
        "config.json",
    );
}

#[test]
fn unknown_oci_version_major() {
    require_root();
    assert_create_fails(
        |b| edit_spec(b, |s| s["ociVersion"] = json!("2.0.0")),
        None,
        "ociVersion",
    );
}

#[test]
fn missing_rootfs() {
    require_root();
    assert_create_fails(
        |b| std::fs::remove_dir_all(b.rootfs()).unwrap(),
        None,
        "rootfs",
    );
}

#[test]
fn unknown_namespace_type() {
    require_root();
    assert_create_fails(
        |b| {
            edit_spec(b, |s| {
                s["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "bogus"}))
            })
        },
        None,
        "bogus",
    );
}

#[test]
fn process_without_args() {
    require_root();
    assert_create_fails(
        |b| edit_spec(b, |s| s["process"]["args"] = json!([])),
        None,
        "process.args",
    );
}

#[test]
fn program_not_found() {
    require_root();
    assert_create_fails(
        |b| edit_spec(b, |s| s["process"]["args"] = json!(["no-such-program"])),
        None,
        "no-such-program",
    );
}

#[test]
fn failing_mount_cleans_up() {
    require_root();
    assert_create_fails(
        |b| {
            edit_spec(b, |s| {
                s["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/x", "type": "bind", "source": "/nonexistent-bt"}))
            })
        },
        None,
        "/nonexistent-bt",
    );
}

#[test]
fn malformed_ids() {
    require_root();
    for id in ["..", "a/b", "../escape", "with space"] {
        assert_create_fails(|_| {}, Some(id), "invalid container id");
    }
}

#[test]
fn relative_or_missing_bundle_and_duplicate_id() {
    require_root();
    let rt = Runtime::berth();
    let out = rt.exec(&[
        "create",
        "--bundle",
        "/nonexistent-bt-bundle",
        &container_id("nob"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent-bt-bundle"));
    let out = rt.exec(&[
        "create",
        "--bundle",
        "relative/nowhere",
        &container_id("rel"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("relative/nowhere"));
    // A duplicate id is refused and does not disturb the first container.
    let dir = TestDir::new("dup");
    let b = Bundle::new(&dir.join("b"), &["sleep", "1000"]);
    let id = container_id("dup");
    let _c = berth_integration_tests::runtime::Cleanup {
        runtime: &rt,
        ids: vec![id.clone()],
    };
    rt.start_detached(&b.dir, &id);
    let out = rt.exec(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    assert!(Path::new(&format!("/sys/fs/cgroup/memory/berth/{id}")).exists());
}

#[test]
fn unknown_signal_command_and_container() {
    let rt = Runtime::berth();
    let out = rt.exec(&["kill", "nonexistent-bt", "SIGNOPE"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown signal"));
    let out = rt.exec(&["state", "nonexistent-bt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    // runc's words and exit status for a command it does not have.
    let out = rt.exec(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No help topic for 'frobnicate'"));
    let out = rt.exec(&["--log-format", "xml", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("log-format"));
}
