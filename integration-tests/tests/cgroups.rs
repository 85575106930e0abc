//! berth-runtime's cgroups against Debian's runc, the oracle: the same
//! bundle with the same `linux.resources`, created by each runtime under
//! its own `bt...` cgroupsPath, must give the same values in the cgroup
//! files (v1 hierarchies, as on the project's machines); `delete --force`
//! must remove each cgroup. Bad resource values must fail `create` with a
//! one-line error naming the file and leave no cgroup behind.

use berth_integration_tests::runtime::{container_id, Cleanup, Runtime};
use berth_integration_tests::{have_program, require_root, stderr, unique_name, Bundle, TestDir};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The hierarchies and files compared, all present on the project's v1
/// machines. The blkio weight file is added where the host has one
/// ([`blkio_weight_file`]).
const FILES: &[(&str, &str)] = &[
    ("memory", "memory.limit_in_bytes"),
    ("memory", "memory.soft_limit_in_bytes"),
    ("memory", "memory.memsw.limit_in_bytes"),
    ("memory", "memory.swappiness"),
    ("memory", "memory.oom_control"),
    ("cpu", "cpu.shares"),
    ("cpu", "cpu.cfs_quota_us"),
    ("cpu", "cpu.cfs_period_us"),
    ("cpuset", "cpuset.cpus"),
    ("cpuset", "cpuset.mems"),
    ("pids", "pids.max"),
    ("blkio", "blkio.throttle.read_bps_device"),
    ("blkio", "blkio.throttle.write_iops_device"),
    ("devices", "devices.list"),
];

/// The host's blkio weight file: `blkio.bfq.weight` with the BFQ I/O
/// scheduler, `blkio.weight` with CFQ (before Linux 5.0), none with
/// mq-deadline or none (then no runtime can set a weight).
fn blkio_weight_file() -> Option<&'static str> {
    ["blkio.bfq.weight", "blkio.weight"]
        .into_iter()
        .find(|f| Path::new("/sys/fs/cgroup/blkio").join(f).exists())
}

fn is_v1_host() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
}

/// A whole block device `major:minor` for throttles.
fn block_device() -> (i64, i64) {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort_by_key(|n| !(n.starts_with("vd") || n.starts_with("sd") || n.starts_with("nvme")));
    let dev = std::fs::read_to_string(Path::new("/sys/block").join(&names[0]).join("dev")).unwrap();
    let (a, b) = dev.trim().split_once(':').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

fn resources() -> serde_json::Value {
    let (major, minor) = block_device();
    let mut r = json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"}
        ],
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728,
                   "swappiness": 20, "disableOOMKiller": false},
        "cpu": {"shares": 512, "quota": 40000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 30},
        "blockIO": {
            "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]
        }
    });
    if blkio_weight_file().is_some() {
        r["blockIO"]["weight"] = json!(300);
    }
    r
}

fn cgroup_files(cgroup: &str) -> Vec<(String, String)> {
    let weight = blkio_weight_file().map(|f| ("blkio", f));
    FILES
        .iter()
        .copied()
        .chain(weight)
        .map(|(h, f)| {
            let path = PathBuf::from(format!("/sys/fs/cgroup/{h}{cgroup}/{f}"));
            let content = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let mut lines: Vec<&str> = content.lines().collect();
            lines.sort();
            (format!("{h}/{f}"), lines.join("\n"))
        })
        .collect()
}

/// Creates (not starts) a container of `rt` with `resources` at a fresh
/// cgroupsPath; returns the path.
fn create(rt: &Runtime, dir: &TestDir, id: &str, resources: serde_json::Value) -> String {
    let mut b = Bundle::new(&dir.join(id), &["sleep", "1000"]);
    let cgroup = format!("/{}", unique_name("cgdiff"));
    b.spec["linux"]["resources"] = resources;
    b.spec["linux"]["cgroupsPath"] = json!(cgroup);
    b.save();
    let out = rt.exec(&["create", "--bundle", b.dir.to_str().unwrap(), id]);
    assert!(
        out.status.success(),
        "{} create: {}",
        rt.binary.display(),
        stderr(&out)
    );
    cgroup
}

#[test]
fn resources_land_in_the_same_files_as_with_runc() {
    require_root();
    if !is_v1_host() || !have_program("runc") {
        eprintln!("skipped: needs a cgroup v1 host and runc");
        return;
    }
    let dir = TestDir::new("cgdiff");
    let berth = Runtime::berth();
    let runc = Runtime::runc();
    let (bid, rid) = (container_id("cgb"), container_id("cgr"));
    let _cb = Cleanup {
        runtime: &berth,
        ids: vec![bid.clone()],
    };
    let _cr = Cleanup {
        runtime: &runc,
        ids: vec![rid.clone()],
    };
    let berth_cg = create(&berth, &dir, &bid, resources());
    let runc_cg = create(&runc, &dir, &rid, resources());
    let got = cgroup_files(&berth_cg);
    let want = cgroup_files(&runc_cg);
    for ((name, g), (_, w)) in got.iter().zip(&want) {
        assert_eq!(g, w, "{name} differs: berth-runtime {g:?}, runc {w:?}");
    }
    for (rt, id, cg) in [(&berth, &bid, &berth_cg), (&runc, &rid, &runc_cg)] {
        let out = rt.exec(&["delete", "--force", id]);
        assert!(out.status.success(), "{}", stderr(&out));
        for h in [
            "memory", "cpu", "cpuset", "pids", "blkio", "devices", "freezer",
        ] {
            let d = format!("/sys/fs/cgroup/{h}{cg}");
            assert!(!Path::new(&d).exists(), "{} left {d}", rt.binary.display());
        }
    }
}

/// On a host without a blkio weight file, a weight is an error for runc
/// and for berth-runtime alike, and neither leaves a cgroup behind.
#[test]
fn a_blkio_weight_without_a_weight_file_fails_as_with_runc() {
    require_root();
    if !is_v1_host() || !have_program("runc") || blkio_weight_file().is_some() {
        eprintln!("skipped: needs a cgroup v1 host without a blkio weight file, and runc");
        return;
    }
    let dir = TestDir::new("cgweight");
    for rt in [Runtime::berth(), Runtime::runc()] {
        let id = container_id("cgw");
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let mut b = Bundle::new(&dir.join(&id), &["true"]);
        let cgroup = format!("/{}", unique_name("cgweight"));
        b.spec["linux"]["resources"] = json!({"blockIO": {"weight": 300}});
        b.spec["linux"]["cgroupsPath"] = json!(cgroup);
        b.save();
        let out = rt.exec(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", rt.binary.display());
        assert!(err.contains("weight"), "{}: {err}", rt.binary.display());
        let d = format!("/sys/fs/cgroup/blkio{cgroup}");
        assert!(!Path::new(&d).exists(), "{} left {d}", rt.binary.display());
        assert!(
            rt.state(&id).is_none(),
            "{} left state",
            rt.binary.display()
        );
    }
}

#[test]
fn a_value_the_kernel_refuses_fails_create_and_leaves_nothing() {
    require_root();
    if !is_v1_host() {
        eprintln!("skipped: needs a cgroup v1 host");
        return;
    }
    let dir = TestDir::new("cgbad");
    let rt = Runtime::berth();
    let id = container_id("cgbad");
    let _c = Cleanup {
        runtime: &rt,
        ids: vec![id.clone()],
    };
    let mut b = Bundle::new(&dir.join("b"), &["true"]);
    let cgroup = format!("/{}", unique_name("cgbad"));
    // CFS refuses quotas under 1 ms.
    b.spec["linux"]["resources"]["cpu"] = json!({"quota": 500, "period": 100000});
    b.spec["linux"]["cgroupsPath"] = json!(cgroup);
    b.save();
    let out = rt.exec(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "write 500 to /sys/fs/cgroup/cpu{cgroup}/cpu.cfs_quota_us: EINVAL"
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    for h in [
        "memory", "cpu", "cpuset", "pids", "blkio", "devices", "freezer", "systemd", "unified",
    ] {
        let d = format!("/sys/fs/cgroup/{h}{cgroup}");
        assert!(!Path::new(&d).exists(), "left {d}");
    }
    assert!(rt.state(&id).is_none(), "no state may be left");
}

/// Keys of an object whose values are not zero, empty or null (runc leaves
/// many of those out, so only these must appear on both sides).
fn nonzero_keys(v: &serde_json::Value) -> Vec<String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| match v {
                    serde_json::Value::Null => false,
                    serde_json::Value::Number(n) => n.as_f64() != Some(0.0),
                    serde_json::Value::Array(a) => !a.is_empty(),
                    serde_json::Value::Object(o) => !o.is_empty(),
                    _ => true,
                })
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn events_stats_has_runcs_shape() {
    require_root();
    if !is_v1_host() || !have_program("runc") {
        eprintln!("skipped: needs a cgroup v1 host and runc");
        return;
    }
    let dir = TestDir::new("cgstats");
    let berth = Runtime::berth();
    let runc = Runtime::runc();
    let (bid, rid) = (container_id("stb"), container_id("str"));
    let _cb = Cleanup {
        runtime: &berth,
        ids: vec![bid.clone()],
    };
    let _cr = Cleanup {
        runtime: &runc,
        ids: vec![rid.clone()],
    };
    let res = json!({"memory": {"limit": 67108864}, "pids": {"limit": 30}});
    let mut stats = Vec::new();
    for (rt, id) in [(&berth, &bid), (&runc, &rid)] {
        create(rt, &dir, id, res.clone());
        let out = rt.exec(&["start", id]);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = rt.exec(&["events", "--stats", id]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        stats.push(v["data"].clone());
    }
    let (ours, theirs) = (&stats[0], &stats[1]);
    for path in [
        "",
        "/cpu",
        "/cpu/usage",
        "/cpuset",
        "/memory",
        "/memory/usage",
        "/memory/swap",
        "/memory/kernel",
        "/pids",
    ] {
        let (o, t) = (ours.pointer(path).unwrap(), theirs.pointer(path).unwrap());
        let (ok, tk): (Vec<String>, Vec<String>) = (
            o.as_object().unwrap().keys().cloned().collect(),
            t.as_object().unwrap().keys().cloned().collect(),
        );
        for k in nonzero_keys(t) {
            assert!(
                ok.contains(&k),
                "runc has {path}/{k}, berth-runtime does not: {o}"
            );
        }
        for k in nonzero_keys(o) {
            assert!(
                tk.contains(&k),
                "berth-runtime has {path}/{k}, runc does not: {t}"
            );
        }
    }
    assert_eq!(
        ours["memory"]["usage"]["limit"],
        theirs["memory"]["usage"]["limit"]
    );
    assert_eq!(ours["pids"]["limit"], theirs["pids"]["limit"]);
    assert_eq!(ours["cpuset"]["cpus"], theirs["cpuset"]["cpus"]);
}
