//! berth-runtime's cgroup handling against runc 1.1 on this hybrid host
//! (v1 hierarchies plus a cgroup2 mount at /sys/fs/cgroup/unified): a
//! pre-existing frozen cgroup is refused (never joined: the init would stop
//! in it and `run -d` hang), a non-empty one warned about, v2-only
//! `unified` resources refused before anything is made (or changed, by
//! `update`), and `exec
//! --cgroup` in runc's forms. Every cgroup lives under `/bt-cgr-<pid>`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use berth_integration_tests::runtime::{container_id, CgroupParentCleanup, Cleanup, Runtime};
use berth_integration_tests::{have_program, require_root, Bundle, TestDir};
use serde_json::json;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

fn parent() -> String {
    format!("bt-cgr-{}", std::process::id())
}

/// The container's cgroup path (below every hierarchy's root).
fn cgroup_path(id: &str) -> String {
    format!("/{}/{id}", parent())
}

/// Every hierarchy mount on this host (v1 ones and the cgroup2 one).
fn hierarchies() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(CGROUP_ROOT)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").exists() && !p.is_symlink())
        .collect();
    v.sort();
    v
}

/// Removes what a test left under the parent, deepest first, thawing on the
/// way; the parent itself goes with the file's last test (see
/// `CgroupParentCleanup`).
///
/// It also holds the file's parent lock: shared by every test, exclusive
/// for the one that freezes the parent (which would freeze every other
/// test's container, and which another test's cleanup would thaw).
struct CgroupCleanup {
    id: String,
    // Dropped after `drop` below, in this order: the parent goes (if this
    // was its last test), then the lock is released.
    _parent: CgroupParentCleanup,
    _lock: ParentLock,
}

#[allow(dead_code)]
enum ParentLock {
    Shared(RwLockReadGuard<'static, ()>),
    Exclusive(RwLockWriteGuard<'static, ()>),
}

static PARENT_LOCK: RwLock<()> = RwLock::new(());

impl CgroupCleanup {
    fn new(id: &str) -> Self {
        let lock = ParentLock::Shared(PARENT_LOCK.read().unwrap_or_else(|e| e.into_inner()));
        CgroupCleanup {
            id: id.to_string(),
            _parent: CgroupParentCleanup::new(&parent()),
            _lock: lock,
        }
    }

    /// For a test that freezes the shared parent.
    fn exclusive(id: &str) -> Self {
        let lock = ParentLock::Exclusive(PARENT_LOCK.write().unwrap_or_else(|e| e.into_inner()));
        CgroupCleanup {
            id: id.to_string(),
            _parent: CgroupParentCleanup::new(&parent()),
            _lock: lock,
        }
    }
}

impl Drop for CgroupCleanup {
    fn drop(&mut self) {
        for h in hierarchies() {
            let dir = h.join(parent()).join(&self.id);
            let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
            let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
            let _ = std::fs::write(h.join(parent()).join("freezer.state"), "THAWED");
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for e in entries.flatten().filter(|e| e.path().is_dir()) {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

fn runtimes() -> [(&'static str, Runtime); 2] {
    require_root();
    assert!(
        have_program("runc"),
        "install runc (the differential oracle)"
    );
    assert!(
        Path::new("/sys/fs/cgroup/freezer").is_dir(),
        "these tests need the v1 freezer hierarchy"
    );
    [("berth", Runtime::berth()), ("runc", Runtime::runc())]
}

fn bundle(dir: &TestDir, name: &str, id: &str, args: &[&str]) -> Bundle {
    let mut b = Bundle::new(&dir.join(name), args);
    b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(id));
    // No cgroup namespace: /proc/self/cgroup then shows host paths.
    b.spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "cgroup");
    b.save();
    b
}

/// Runs the runtime, killing it after `limit` (a hang is the failure
/// these tests look for): (exit code or None when killed, stderr).
fn run_with_deadline(rt: &Runtime, args: &[&str], limit: Duration) -> (Option<i32>, String) {
    let err = rt.root.path.with_extension("stderr");
    let mut child: Child = rt
        .cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(&err).unwrap_or_default();
    let _ = std::fs::remove_file(err);
    (code, text.replace("\\\"", "\""))
}

/// The dirs of the container's cgroup that exist now.
fn existing_dirs(id: &str) -> Vec<PathBuf> {
    hierarchies()
        .into_iter()
        .map(|h| h.join(parent()).join(id))
        .filter(|d| d.is_dir())
        .collect()
}

/// `run -d` into a cgroup frozen beforehand by `freeze`: refused at once
/// with runc's message, no container and no cgroup left but the one that
/// was there.
fn refuses_frozen(rt: &Runtime, name: &str, freeze: &dyn Fn(&str) -> PathBuf, parent_too: bool) {
    let dir = TestDir::new("cgr-frozen");
    let id = container_id(&format!("{name}frz"));
    let _cg = if parent_too {
        CgroupCleanup::exclusive(&id)
    } else {
        CgroupCleanup::new(&id)
    };
    let _c = Cleanup {
        runtime: rt,
        ids: vec![id.clone()],
    };
    let frozen_dir = freeze(&id);
    let b = bundle(&dir, name, &id, &["sleep", "100"]);
    let (code, err) = run_with_deadline(
        rt,
        &["run", "-d", "--bundle", b.dir.to_str().unwrap(), &id],
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(1), "{name}: run -d must fail, not hang: {err}");
    assert!(
        err.contains("container's cgroup unexpectedly frozen"),
        "{name}: {err}"
    );
    assert!(rt.state(&id).is_none(), "{name}: no container left");
    assert_eq!(
        existing_dirs(&id),
        vec![frozen_dir.clone()],
        "{name}: only the cgroup that was there is left"
    );
}

#[test]
fn a_frozen_v1_cgroup_is_refused_as_runc_refuses_it() {
    for (name, rt) in runtimes() {
        refuses_frozen(
            &rt,
            name,
            &|id| {
                let d = Path::new("/sys/fs/cgroup/freezer").join(parent()).join(id);
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join("freezer.state"), "FROZEN").unwrap();
                d
            },
            false,
        );
    }
}

/// berth-runtime only: runc 1.1 checks `freezer.self_freezing` and the v1
/// freezer alone, and hangs in these two cases.
#[test]
fn a_cgroup_frozen_by_its_parent_or_through_cgroup_freeze_is_refused() {
    require_root();
    let rt = Runtime::berth();
    // The parent frozen: the container's cgroup reads FROZEN too.
    refuses_frozen(
        &rt,
        "berth",
        &|id| {
            let p = Path::new("/sys/fs/cgroup/freezer").join(parent());
            let d = p.join(id);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(p.join("freezer.state"), "FROZEN").unwrap();
            d
        },
        true,
    );
    // v2: cgroup.freeze in the hybrid host's cgroup2 mount.
    let unified = Path::new("/sys/fs/cgroup/unified");
    if unified.join("cgroup.procs").exists() {
        refuses_frozen(
            &rt,
            "berth",
            &|id| {
                let d = unified.join(parent()).join(id);
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join("cgroup.freeze"), "1").unwrap();
                d
            },
            false,
        );
    }
}

#[test]
fn unified_resources_are_refused_on_v1_before_anything_is_made() {
    for (name, rt) in runtimes() {
        let dir = TestDir::new("cgr-unified");
        let id = container_id(&format!("{name}uni"));
        let _cg = CgroupCleanup::new(&id);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let mut b = bundle(&dir, name, &id, &["true"]);
        b.spec["linux"]["resources"]["unified"] = json!({"pids.max": "10"});
        b.save();
        let (code, err) = run_with_deadline(
            &rt,
            &["run", "--bundle", b.dir.to_str().unwrap(), &id],
            Duration::from_secs(10),
        );
        assert_eq!(code, Some(1), "{name}: {err}");
        assert!(
            err.contains("invalid configuration: cannot use unified on cgroup v1"),
            "{name}: {err}"
        );
        assert!(rt.state(&id).is_none(), "{name}: no container");
        assert!(existing_dirs(&id).is_empty(), "{name}: no cgroup made");
        assert!(
            std::fs::read_dir(&rt.root.path).map_or(true, |mut d| d.next().is_none()),
            "{name}: no state dir"
        );
    }
}

/// `update -r FILE` whose resources carry `unified` on this hybrid host:
/// refused before anything changes (runc's v1 manager refuses it in `Set`),
/// so the memory and pids limits given beside it are not applied either.
#[test]
fn update_with_unified_is_refused_on_v1_and_changes_nothing() {
    for (name, rt) in runtimes() {
        let dir = TestDir::new("cgr-upduni");
        let id = container_id(&format!("{name}upduni"));
        let _cg = CgroupCleanup::new(&id);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let mut b = bundle(&dir, name, &id, &["sleep", "100"]);
        b.spec["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
        b.spec["linux"]["resources"]["pids"] = json!({"limit": 50});
        b.save();
        rt.start_detached(&b.dir, &id);
        let limits = || {
            let read = |file: &str| {
                std::fs::read_to_string(Path::new(CGROUP_ROOT).join(file))
                    .unwrap_or_else(|e| format!("{file}: {e}"))
            };
            (
                read(&format!("memory{}/memory.limit_in_bytes", cgroup_path(&id))),
                read(&format!("pids{}/pids.max", cgroup_path(&id))),
            )
        };
        let before = limits();
        assert_eq!(
            before,
            ((64 << 20).to_string() + "\n", "50\n".to_string()),
            "{name}"
        );
        let file = dir.join("resources.json");
        std::fs::write(
            &file,
            json!({
                "memory": {"limit": 128 << 20},
                "pids": {"limit": 20},
                "unified": {"pids.max": "10"}
            })
            .to_string(),
        )
        .unwrap();
        let (code, err) = run_with_deadline(
            &rt,
            &["update", "-r", file.to_str().unwrap(), &id],
            Duration::from_secs(10),
        );
        assert_eq!(code, Some(1), "{name}: {err}");
        assert!(
            err.contains("invalid configuration: cannot use unified on cgroup v1"),
            "{name}: {err}"
        );
        assert_eq!(limits(), before, "{name}: limits changed");
        assert_eq!(rt.status(&id).as_deref(), Some("running"), "{name}");
        // The same resources without `unified` are applied.
        std::fs::write(
            &file,
            json!({"memory": {"limit": 128 << 20}, "pids": {"limit": 20}}).to_string(),
        )
        .unwrap();
        let out = rt.exec(&["update", "-r", file.to_str().unwrap(), &id]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            limits(),
            ((128 << 20).to_string() + "\n", "20\n".to_string()),
            "{name}"
        );
    }
}

#[test]
fn a_non_empty_cgroup_is_joined_with_runc_s_warning() {
    for (name, rt) in runtimes() {
        let dir = TestDir::new("cgr-nonempty");
        let id = container_id(&format!("{name}ne"));
        let _cg = CgroupCleanup::new(&id);
        let mut c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        // A process of ours in the container's cgroup, in every v1
        // hierarchy (runc counts in one, berth in another).
        let mut sleeper = Command::new("sleep").arg("100").spawn().unwrap();
        for h in hierarchies().iter().filter(|h| !h.ends_with("unified")) {
            let d = h.join(parent()).join(&id);
            std::fs::create_dir_all(&d).unwrap();
            if h.ends_with("cpuset") {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let v = std::fs::read_to_string(h.join(f)).unwrap();
                    std::fs::write(h.join(parent()).join(f), v.trim()).unwrap();
                    std::fs::write(d.join(f), v.trim()).unwrap();
                }
            }
            std::fs::write(d.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
        }
        let b = bundle(&dir, name, &id, &["sleep", "100"]);
        let (code, err) = run_with_deadline(
            &rt,
            &["run", "-d", "--bundle", b.dir.to_str().unwrap(), &id],
            Duration::from_secs(10),
        );
        assert_eq!(code, Some(0), "{name}: {err}");
        assert!(
            err.contains("container's cgroup is not empty: 1 process(es) found"),
            "{name}: {err}"
        );
        rt.force_delete(&id);
        c.ids.clear();
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    }
}

/// What `/proc/self/cgroup` says for `controller` ("" for the cgroup2 line).
fn cgroup_line(out: &str, controller: &str) -> String {
    out.lines()
        .find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            ctrls
                .split(',')
                .any(|c| c == controller)
                .then(|| path.to_string())
        })
        .unwrap_or_default()
}

#[test]
fn exec_cgroup_joins_sub_cgroups_in_runc_s_forms() {
    for (name, rt) in runtimes() {
        let dir = TestDir::new("cgr-exec");
        let id = container_id(&format!("{name}ex"));
        let _cg = CgroupCleanup::new(&id);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let b = bundle(&dir, name, &id, &["sleep", "100"]);
        rt.start_detached(&b.dir, &id);
        let base = cgroup_path(&id);
        let exec = |args: &[&str]| {
            let mut a = vec!["exec"];
            a.extend_from_slice(args);
            a.push(&id);
            a.extend(["cat", "/proc/self/cgroup"]);
            let out = rt.exec(&a);
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).replace("\\\"", "\""),
            )
        };
        // Plain exec: the container's cgroup in every hierarchy, the
        // hybrid host's cgroup2 one included.
        for args in [&[][..], &["--cgroup", "/"][..]] {
            let (code, out, err) = exec(args);
            assert_eq!(code, Some(0), "{name} {args:?}: {err}");
            for line in out.lines() {
                assert!(line.ends_with(&base), "{name} {args:?}: {out}");
            }
            assert_eq!(cgroup_line(&out, ""), base, "{name}: {out}");
        }
        let refused: &[(&[&str], &str)] = &[
            (&["--cgroup", ".."], ".. is not a sub cgroup path"),
            // runc's words, as runc's exec.bats matches them.
            (
                &["--cgroup", "nonexistent"],
                "/nonexistent/cgroup.procs: no such file ",
            ),
            (
                &["--cgroup", "cpu:nonexistent"],
                "/nonexistent/cgroup.procs: no such file ",
            ),
            (&["--cgroup", "whaaat:/"], "unknown controller whaaat"),
        ];
        for (args, says) in refused {
            let (code, _, err) = exec(args);
            assert_eq!(code, Some(255), "{name} {args:?}: {err}");
            assert!(err.contains(says), "{name} {args:?}: {err}");
            if says.contains("cgroup.procs") {
                assert!(err.contains(" adding pid "), "{name} {args:?}: {err}");
            }
        }
        for (ctrl, sub) in [
            ("memory", "submem"),
            ("cpu", "subcpu"),
            ("cpuacct", "subcpu"),
        ] {
            let h = Path::new(CGROUP_ROOT).join(ctrl);
            let _ = std::fs::create_dir(h.join(base.trim_start_matches('/')).join(sub));
        }
        let (code, out, err) = exec(&[
            "--cgroup",
            "memory:submem",
            "--cgroup",
            "cpu,cpuacct:subcpu",
        ]);
        assert_eq!(code, Some(0), "{name}: {err}");
        assert_eq!(
            cgroup_line(&out, "memory"),
            format!("{base}/submem"),
            "{name}: {out}"
        );
        assert_eq!(
            cgroup_line(&out, "cpu"),
            format!("{base}/subcpu"),
            "{name}: {out}"
        );
        assert_eq!(cgroup_line(&out, "pids"), base, "{name}: {out}");
        let (code, out, err) = exec(&["--cgroup", "submem/.."]);
        assert_eq!(code, Some(0), "{name}: {err}");
        assert_eq!(cgroup_line(&out, "memory"), base, "{name}: {out}");
    }
}

/// A cpuset sub-cgroup made inside the container starts with empty cpus
/// and mems: berth-runtime copies them down before joining (runc 1.1 fails
/// with ENOSPC here).
#[test]
fn exec_into_a_new_cpuset_sub_cgroup_copies_cpus_down() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("cgr-cpuset");
    let id = container_id("cpuset");
    let _cg = CgroupCleanup::new(&id);
    let _c = Cleanup {
        runtime: &rt,
        ids: vec![id.clone()],
    };
    let b = bundle(&dir, "b", &id, &["sleep", "100"]);
    rt.start_detached(&b.dir, &id);
    let sub = Path::new("/sys/fs/cgroup/cpuset")
        .join(parent())
        .join(&id)
        .join("subcs");
    std::fs::create_dir(&sub).unwrap();
    assert_eq!(
        std::fs::read_to_string(sub.join("cpuset.cpus"))
            .unwrap()
            .trim(),
        ""
    );
    let out = rt.exec(&[
        "exec",
        "--cgroup",
        "cpuset:subcs",
        &id,
        "cat",
        "/proc/self/cgroup",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        cgroup_line(&text, "cpuset"),
        format!("{}/subcs", cgroup_path(&id))
    );
    let host = std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.cpus").unwrap();
    assert_eq!(
        std::fs::read_to_string(sub.join("cpuset.cpus"))
            .unwrap()
            .trim(),
        host.trim()
    );
}

/// A device rule's access with letters other than r, w, m (`"rwa"`, as in
/// runc's own update.bats) is taken as runc takes it: the other letters are
/// ignored, the container runs and the rule applies (/dev/kmsg denied).
/// berth used to refuse the config.
#[test]
fn device_rule_access_letters_are_taken_as_runc_takes_them() {
    require_root();
    let dir = TestDir::new("devaccess");
    let mut seen = Vec::new();
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let _cg = CgroupCleanup::new(&id);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let mut b = Bundle::new(
            &dir.join(name),
            &[
                "sh",
                "-c",
                "head -c 1 /dev/kmsg > /dev/null 2>&1 && echo read || echo denied",
            ],
        );
        b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(&id));
        b.spec["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwa"}
        ]);
        b.spec["linux"]["devices"] =
            json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]);
        b.save();
        let out = rt.exec(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
        seen.push((
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    assert_eq!(seen[0], seen[1], "berth (left) and runc (right) differ");
    assert_eq!(seen[0].0, Some(0));
    assert_eq!(seen[0].1, "denied");
}

/// `update --cpu-period 10000 --cpu-quota 3000` of a container with quota
/// 500000 per 1000000 in a pod cgroup limited to 50% (quota 50000 of
/// 100000): the new period alone would put the old quota over the pod's
/// limit and the kernel refuses it (EINVAL); runc then
/// writes the quota and the period again, and so must we (runc's
/// update.bats "update cpu period in a pod cgroup with pod limit set").
#[test]
fn cpu_period_in_a_limited_pod_is_updated_like_runc() {
    let mut seen = Vec::new();
    for (name, rt) in runtimes() {
        let id = container_id(name);
        let _cg = CgroupCleanup::new(&id);
        let pod = Path::new(CGROUP_ROOT).join("cpu").join(parent()).join(&id);
        std::fs::create_dir_all(&pod).unwrap();
        std::fs::write(pod.join("cpu.cfs_quota_us"), "50000").unwrap();
        let dir = TestDir::new("cpupod");
        let mut b = Bundle::new(&dir.join(name), &["sleep", "1000"]);
        b.spec["linux"]["cgroupsPath"] = json!(format!("{}/c", cgroup_path(&id)));
        // 50% of the pod's 50%, as runc's update.bats sets up.
        b.spec["linux"]["resources"]["cpu"] = json!({"quota": 500000, "period": 1000000});
        b.save();
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        rt.start_detached(&b.dir, &id);
        let over = rt.exec(&["update", "--cpu-quota", "600000", &id]);
        let update = rt.exec(&[
            "update",
            "--cpu-period",
            "10000",
            "--cpu-quota",
            "3000",
            &id,
        ]);
        let read = |f: &str| {
            std::fs::read_to_string(pod.join("c").join(f))
                .unwrap()
                .trim()
                .to_string()
        };
        seen.push((
            over.status.code(),
            update.status.code(),
            read("cpu.cfs_period_us"),
            read("cpu.cfs_quota_us"),
        ));
    }
    assert_eq!(seen[0], seen[1], "berth (left) and runc (right) differ");
    assert_eq!(seen[0], (Some(1), Some(0), "10000".into(), "3000".into()));
}
