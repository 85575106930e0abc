//! What a config.json may ask the kernel for, berth-runtime against Debian's
//! runc 1.1: sysctls outside the container's namespaces (the host's
//! `kernel.core_pattern`, `net.*` without a network namespace of its own)
//! are refused before anything exists, with the same decision as runc and
//! runc's words; the host's values stay as they were; allowed sysctls land
//! in the container with the same values under both runtimes. Where Berth
//! deliberately decides differently (id maps without a user namespace) the
//! test says so.

use std::path::Path;

use berth_integration_tests::runtime::{container_id, Runtime};
use berth_integration_tests::{require_root, Bundle, TestDir};
use serde_json::json;

/// An explicit cgroup (runc would otherwise nest under the test's own).
fn cgroup_path(id: &str) -> String {
    format!("/bt-scope/{id}")
}

/// The container's cgroup dirs in every v1 hierarchy and the v2 mount.
fn cgroup_dirs(id: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path().join("bt-scope").join(id))
        .collect()
}

/// Removes the shared `/bt-scope` parents once empty; puts back a host
/// sysctl a broken runtime changed (the test still fails).
struct Restore {
    host: Vec<(&'static str, String)>,
}

impl Restore {
    fn new() -> Restore {
        Restore {
            host: HOST_SYSCTLS
                .iter()
                .map(|p| (*p, std::fs::read_to_string(p).unwrap()))
                .collect(),
        }
    }

    fn changed(&self) -> Vec<String> {
        self.host
            .iter()
            .filter(|(p, v)| std::fs::read_to_string(p).unwrap() != *v)
            .map(|(p, _)| p.to_string())
            .collect()
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        for (p, v) in &self.host {
            if std::fs::read_to_string(p).ok().as_deref() != Some(v.as_str()) {
                let _ = std::fs::write(p, v.trim_end());
            }
        }
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir(e.path().join("bt-scope"));
            }
        }
    }
}

/// The host values the refused configs below try to change.
const HOST_SYSCTLS: &[&str] = &[
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/net/core/somaxconn",
    "/proc/sys/kernel/shmmni",
];

/// A value for /proc/sys/net/core/somaxconn different from the host's (a
/// harmless one: only a listen backlog).
fn other_somaxconn() -> String {
    let now: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (now - 1).to_string()
}

/// The outcome of `run` of a bundle edited by `edit` under one runtime.
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    log: String,
}

fn run(rt: &Runtime, dir: &Path, args: &[&str], edit: &dyn Fn(&mut serde_json::Value)) -> Outcome {
    let mut b = Bundle::new(dir, args);
    let id = container_id("scope");
    b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(&id));
    edit(&mut b.spec);
    b.save();
    let log = dir.join("log.json");
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
    let _ = rt.exec(&["delete", "--force", &id]);
    let o = Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        log: std::fs::read_to_string(&log).unwrap_or_default(),
    };
    if o.code != 0 && rt.binary.ends_with("berth-runtime") {
        assert_nothing_made(rt, &b, &id);
    }
    o
}

impl Outcome {
    /// Whether `want` is in stderr or in a message of the JSON log.
    fn said(&self, want: &str) -> bool {
        self.stderr.contains(want)
            || self.log.lines().any(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v["msg"].as_str().map(|m| m.contains(want)))
                    .unwrap_or(false)
            })
    }
}

/// A refused create made nothing: no state dir under --root, no cgroup, no
/// mount of the bundle, no process.
fn assert_nothing_made(rt: &Runtime, b: &Bundle, id: &str) {
    let left: Vec<_> = std::fs::read_dir(&rt.root.path)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "state left under --root: {left:?}");
    for d in cgroup_dirs(id) {
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let bundle = b.dir.to_str().unwrap();
    assert!(
        !mounts.lines().any(|l| l.contains(bundle)),
        "a mount of {bundle} is left"
    );
    let procs = std::process::Command::new("pgrep")
        .args(["-f", bundle])
        .output()
        .unwrap();
    assert!(procs.stdout.is_empty(), "process left behind");
}

/// Runs the config under both runtimes; both must refuse it, berth with
/// exit 1, one line naming `want`, in the JSON log too, and nothing made;
/// the host's sysctls unchanged.
fn both_refuse(what: &str, edit: impl Fn(&mut serde_json::Value), want: &str) {
    let restore = Restore::new();
    let dir = TestDir::new("scope");
    let berth = run(&Runtime::berth(), &dir.join("berth"), &["true"], &edit);
    let runc = run(&Runtime::runc(), &dir.join("runc"), &["true"], &edit);
    assert_ne!(runc.code, 0, "{what}: runc accepted it: {}", runc.stderr);
    assert!(
        runc.said(want),
        "{what}: runc said {} {}",
        runc.stderr,
        runc.log
    );
    assert_eq!(berth.code, 1, "{what}: berth-runtime: {}", berth.stderr);
    assert_eq!(
        berth.stderr.trim_end().lines().count(),
        1,
        "{}",
        berth.stderr
    );
    assert!(
        berth.stderr.contains(want),
        "{what}: berth said {:?}, runc {:?}",
        berth.stderr,
        runc.stderr
    );
    let last = berth.log.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains(want), "{v}");
    assert!(
        restore.changed().is_empty(),
        "{what}: host sysctls changed: {:?}",
        restore.changed()
    );
}

fn set_sysctl(s: &mut serde_json::Value, key: &str, value: &str) {
    s["linux"]["sysctl"] = json!({ key: value });
}

fn drop_namespace(s: &mut serde_json::Value, kind: &str) {
    s["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != kind);
}

#[test]
fn the_hosts_core_pattern_is_refused_as_runc_does() {
    require_root();
    for key in ["kernel.core_pattern", "kernel/core_pattern"] {
        both_refuse(
            key,
            |s| set_sysctl(s, key, "bt-core-%p"),
            "sysctl \"kernel.core_pattern\" is not in a separate kernel namespace",
        );
    }
    both_refuse(
        "vm.swappiness",
        |s| set_sysctl(s, "vm.swappiness", "1"),
        "sysctl \"vm.swappiness\" is not in a separate kernel namespace",
    );
}

#[test]
fn net_sysctls_need_a_network_namespace_of_their_own() {
    require_root();
    let value = other_somaxconn();
    both_refuse(
        "net.* without a network namespace",
        |s| {
            drop_namespace(s, "network");
            set_sysctl(s, "net.core.somaxconn", &value);
        },
        "sysctl \"net.core.somaxconn\" not allowed in host network namespace",
    );
    // A path naming the runtime's own (the host's) namespace is the host's.
    both_refuse(
        "net.* in the host's netns by path",
        |s| {
            drop_namespace(s, "network");
            s["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "network", "path": "/proc/self/ns/net"}));
            set_sysctl(s, "net.core.somaxconn", &value);
        },
        "not allowed in host network namespace",
    );
}

#[test]
fn ipc_and_uts_sysctls_need_their_namespaces() {
    require_root();
    both_refuse(
        "kernel.shmmni without ipc",
        |s| {
            drop_namespace(s, "ipc");
            set_sysctl(s, "kernel.shmmni", "4000");
        },
        "sysctl \"kernel.shmmni\" is not allowed in the hosts ipc namespace",
    );
    both_refuse(
        "kernel.domainname without uts",
        |s| {
            drop_namespace(s, "uts");
            // runc refuses a hostname without a UTS namespace first.
            s.as_object_mut().unwrap().remove("hostname");
            set_sysctl(s, "kernel.domainname", "x");
        },
        "sysctl \"kernel.domainname\" is not in a separate kernel namespace",
    );
    both_refuse(
        "kernel.hostname",
        |s| set_sysctl(s, "kernel.hostname", "x"),
        "conflicts with the OCI \"hostname\" field",
    );
}

#[test]
fn namespaced_sysctls_land_in_the_container_as_under_runc() {
    require_root();
    let restore = Restore::new();
    let dir = TestDir::new("scope");
    let value = other_somaxconn();
    let edit = |s: &mut serde_json::Value| {
        s["linux"]["sysctl"] = json!({
            "kernel.shmmni": "4001",
            "kernel/msgmax": "9000",
            "fs.mqueue.msg_max": "20",
            "net.core.somaxconn": value,
            "kernel.domainname": "bt.example",
        });
    };
    let probe = [
        "cat",
        "/proc/sys/kernel/shmmni",
        "/proc/sys/kernel/msgmax",
        "/proc/sys/fs/mqueue/msg_max",
        "/proc/sys/net/core/somaxconn",
        "/proc/sys/kernel/domainname",
    ];
    let berth = run(&Runtime::berth(), &dir.join("berth"), &probe, &edit);
    let runc = run(&Runtime::runc(), &dir.join("runc"), &probe, &edit);
    assert_eq!(runc.code, 0, "runc: {}", runc.stderr);
    assert_eq!(berth.code, 0, "berth-runtime: {}", berth.stderr);
    assert_eq!(berth.stdout, runc.stdout);
    assert_eq!(
        berth.stdout,
        format!("4001\n9000\n20\n{value}\nbt.example\n")
    );
    assert!(restore.changed().is_empty(), "{:?}", restore.changed());
}

#[test]
fn a_megabyte_key_is_refused_in_one_capped_line() {
    require_root();
    // Removes the cgroup parents the runs make.
    let _cleanup = Restore::new();
    let key = format!("kernel.{}", "x".repeat(1 << 20));
    let edit = |s: &mut serde_json::Value| set_sysctl(s, &key, "1");
    let dir = TestDir::new("scope");
    let runc = run(&Runtime::runc(), &dir.join("runc"), &["true"], &edit);
    assert_ne!(runc.code, 0);
    assert!(runc.said("is not in a separate kernel namespace"));
    // `run` checks that nothing was made.
    let berth = run(&Runtime::berth(), &dir.join("berth"), &["true"], &edit);
    assert_eq!(berth.code, 1);
    let line = berth.stderr.trim_end();
    assert_eq!(line.lines().count(), 1);
    assert!(
        line.starts_with("berth-runtime: sysctl \"kernel.xxx"),
        "{}",
        &line[..100]
    );
    assert!(line.len() <= 4096 + 64, "{} bytes", line.len());
    assert!(line.ends_with("..."), "a cut line says so");
    let last = berth.log.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    assert!(v["msg"].as_str().unwrap().len() <= 4096 + 3);
}

#[test]
fn id_maps_without_a_user_namespace_are_refused_where_runc_ignores_them() {
    require_root();
    // Removes the cgroup parents the runs make.
    let _cleanup = Restore::new();
    let dir = TestDir::new("scope");
    let edit = |s: &mut serde_json::Value| {
        s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    };
    // runc 1.1 drops the maps and runs the process as the host's root,
    // which the config says it is not: Berth refuses (README).
    let runc = run(&Runtime::runc(), &dir.join("runc"), &["id", "-u"], &edit);
    assert_eq!(
        (runc.code, runc.stdout.as_str()),
        (0, "0\n"),
        "{}",
        runc.stderr
    );
    let berth = run(&Runtime::berth(), &dir.join("berth"), &["id", "-u"], &edit);
    assert_eq!(berth.code, 1, "{}", berth.stderr);
    assert!(
        berth.stderr.contains("no user namespace"),
        "{}",
        berth.stderr
    );
}

#[test]
fn unknown_capabilities_are_ignored_with_a_warning_as_runc_does() {
    require_root();
    // Removes the cgroup parents the runs make.
    let _cleanup = Restore::new();
    let dir = TestDir::new("scope");
    let edit = |s: &mut serde_json::Value| {
        for set in ["bounding", "effective", "permitted"] {
            s["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_BT_BOGUS"));
        }
    };
    let probe = ["grep", "^CapEff", "/proc/self/status"];
    let runc = run(&Runtime::runc(), &dir.join("runc"), &probe, &edit);
    let berth = run(&Runtime::berth(), &dir.join("berth"), &probe, &edit);
    assert_eq!(runc.code, 0, "{}", runc.stderr);
    assert_eq!(berth.code, 0, "{}", berth.stderr);
    assert_eq!(berth.stdout, runc.stdout, "same capabilities in effect");
    assert!(
        runc.said("CAP_BT_BOGUS"),
        "runc warns: {} {}",
        runc.stderr,
        runc.log
    );
    let warning = berth
        .log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["level"] == "warning")
        .unwrap_or_else(|| panic!("no warning in {}", berth.log));
    assert!(
        warning["msg"].as_str().unwrap().contains("CAP_BT_BOGUS"),
        "{warning}"
    );
}
