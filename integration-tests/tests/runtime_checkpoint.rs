//! `checkpoint` and `restore` through CRIU, berth-runtime against runc on
//! the same counting container. Either CRIU works on this kernel and both
//! runtimes dump it and bring it back still counting, or it does not and
//! both fail with CRIU's reason: berth-runtime's error must carry the
//! `Error` lines of CRIU's own log, the container must keep running after
//! a failed dump, and a failed restore must leave no state, cgroup or mount
//! behind. (Debian 12's CRIU 3.17 fails on the project's 6.x kernel in its
//! vDSO check, for runc too: that is the branch the project's CI takes.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_integration_tests::runtime::{container_id, CgroupParentCleanup, Cleanup, Runtime};
use berth_integration_tests::{have_program, require_root, stderr, Bundle, TestDir};
use serde_json::json;

fn cgroup_path(id: &str) -> String {
    format!("/bt-ckpt/{id}")
}

/// The counter the container writes, or -1.
fn count(rootfs: &Path) -> i64 {
    std::fs::read_to_string(rootfs.join("tmp/count"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(-1)
}

/// CRIU's `Error` lines in a log, without their timestamps.
fn criu_errors(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("Error ("))
        .map(|l| l.split_once(") ").map_or(l, |(_, r)| r).to_string())
        .collect()
}

/// What happened to one runtime.
#[derive(Debug)]
struct Outcome {
    dump_ok: bool,
    restore_ok: bool,
}

fn checkpoint_and_restore(name: &str, rt: &Runtime, dir: &TestDir) -> Outcome {
    let id = container_id(name);
    let restored = format!("{id}-r");
    let _c = Cleanup {
        runtime: rt,
        ids: vec![id.clone(), restored.clone()],
    };
    let mut b = Bundle::new(
        &dir.join(name),
        &[
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done",
        ],
    );
    b.spec["root"]["readonly"] = json!(false);
    b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(&id));
    b.save();
    rt.start_detached(&b.dir, &id);
    std::thread::sleep(Duration::from_millis(500));
    let images: PathBuf = dir.join(&format!("{name}-images"));
    let work: PathBuf = dir.join(&format!("{name}-work"));
    let (img, wrk) = (images.to_str().unwrap(), work.to_str().unwrap());
    let out = rt.exec(&["checkpoint", "--image-path", img, "--work-path", wrk, &id]);
    let dump_ok = out.status.success();
    let at_dump = count(&b.rootfs());
    if !dump_ok {
        let errors = criu_errors(&work.join("dump.log"));
        assert!(!errors.is_empty(), "{name}: no CRIU log: {}", stderr(&out));
        if name == "berth" {
            // CRIU's own reason, not a generic failure.
            assert!(
                stderr(&out).contains(errors.last().unwrap()),
                "{name}: {}\nCRIU: {errors:?}",
                stderr(&out)
            );
        }
        // A failed dump leaves the container running and counting.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(rt.status(&id).as_deref(), Some("running"), "{name}");
        assert!(count(&b.rootfs()) > at_dump, "{name}: stopped counting");
        rt.exec(&["kill", &id, "KILL"]);
        rt.wait_status(&id, "stopped");
        // Its cgroup goes with it: the restore below makes its own.
        let out = rt.exec(&["delete", &id]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
    } else {
        // The dumped container is gone, its state with it.
        assert!(rt.state(&id).is_none(), "{name}: state after checkpoint");
    }
    let out = rt.exec(&[
        "restore",
        "--detach",
        "--image-path",
        img,
        "--work-path",
        wrk,
        "--bundle",
        b.dir.to_str().unwrap(),
        &restored,
    ]);
    let restore_ok = out.status.success();
    if restore_ok {
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(rt.status(&restored).as_deref(), Some("running"), "{name}");
        assert!(
            count(&b.rootfs()) > at_dump,
            "{name}: the restored container does not count"
        );
    } else {
        let errors = criu_errors(&work.join("restore.log"));
        assert!(
            !errors.is_empty(),
            "{name}: no CRIU restore log: {}",
            stderr(&out)
        );
        if name == "berth" {
            assert!(
                stderr(&out).contains(errors.last().unwrap()),
                "{name}: {}\nCRIU: {errors:?}",
                stderr(&out)
            );
            // Nothing left behind: no state, no cgroup, no mount.
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
            assert!(
                !mounts.contains(&restored),
                "{name}: a mount is left: {mounts}"
            );
            assert!(
                !Path::new(&format!("/sys/fs/cgroup/memory{}", cgroup_path(&id))).exists(),
                "{name}: a cgroup is left"
            );
        }
        assert!(
            rt.state(&restored).is_none(),
            "{name}: state after a failed restore"
        );
    }
    Outcome {
        dump_ok,
        restore_ok,
    }
}

#[test]
fn checkpoint_and_restore_match_runc() {
    require_root();
    assert!(
        have_program("criu"),
        "install criu (scripts/install-deps.sh)"
    );
    let dir = TestDir::new("ckpt");
    let _parents = CgroupParentCleanup::new("bt-ckpt");
    let runc = checkpoint_and_restore("runc", &Runtime::runc(), &dir);
    let berth = checkpoint_and_restore("berth", &Runtime::berth(), &dir);
    assert_eq!(
        (berth.dump_ok, berth.restore_ok),
        (runc.dump_ok, runc.restore_ok),
        "berth {berth:?}, runc {runc:?}"
    );
}

#[test]
fn checkpoint_refuses_what_runc_refuses() {
    require_root();
    let dir = TestDir::new("ckref");
    let _parents = CgroupParentCleanup::new("bt-ckpt");
    let mut seen = Vec::new();
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let mut b = Bundle::new(&dir.join(name), &["sleep", "1000"]);
        b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(&id));
        b.save();
        let img = dir.join(&format!("{name}-img"));
        let img = img.to_str().unwrap();
        let missing = rt.exec(&["checkpoint", "--image-path", img, "nonexistent-bt"]);
        let out = rt.exec(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let created = rt.exec(&["checkpoint", "--image-path", img, &id]);
        // restore without images: runc reads descriptors.json first.
        let empty = dir.join(&format!("{name}-empty"));
        std::fs::create_dir_all(&empty).unwrap();
        let no_images = rt.exec(&[
            "restore",
            "-d",
            "--image-path",
            empty.to_str().unwrap(),
            "--bundle",
            b.dir.to_str().unwrap(),
            &format!("{id}-r"),
        ]);
        let no_images_msg = stderr(&no_images).contains("descriptors.json");
        seen.push((
            missing.status.success(),
            created.status.success(),
            no_images.status.success(),
            no_images_msg,
        ));
    }
    assert_eq!(seen[0], seen[1], "berth vs runc");
    assert_eq!(seen[0], (false, false, false, true));
}

/// A bad `--parent-path` is refused before CRIU runs, with runc's words
/// (runc's checkpoint.bats matches `--parent-path` in them): an absolute
/// one, and one missing under the images dir. The container runs on.
#[test]
fn a_bad_parent_path_is_refused_like_runc() {
    require_root();
    let dir = TestDir::new("ckparent");
    let _parents = CgroupParentCleanup::new("bt-ckpt");
    let mut seen = Vec::new();
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let mut b = Bundle::new(&dir.join(name), &["sleep", "1000"]);
        b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(&id));
        b.save();
        rt.start_detached(&b.dir, &id);
        let img = dir.join(&format!("{name}-img"));
        let img = img.to_str().unwrap();
        let absolute = rt.exec(&[
            "checkpoint",
            "--parent-path",
            "/parent-dir",
            "--image-path",
            img,
            &id,
        ]);
        let missing = rt.exec(&[
            "checkpoint",
            "--parent-path",
            "./parent-dir",
            "--image-path",
            img,
            &id,
        ]);
        let missing_msg = stderr(&missing).replace(img, "IMG");
        seen.push((
            absolute.status.code(),
            stderr(&absolute).contains("--parent-path must be relative"),
            missing.status.code(),
            missing_msg
                .contains("invalid --parent-path: stat IMG/parent-dir: no such file or directory"),
            rt.status(&id),
        ));
    }
    assert_eq!(seen[0], seen[1], "berth (left) and runc (right) differ");
    assert_eq!(
        seen[0],
        (Some(1), true, Some(1), true, Some("running".to_string()))
    );
}
