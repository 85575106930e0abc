//! Mounts, paths and small CLI behaviours against runc 1.1: recursive
//! mount options (`rro`, `rnoexec`) against plain `ro` on an `rbind`, a
//! proc mount on a symlink or a file, `--pid-file` in a missing directory, duplicate
//! namespaces, exec into a paused container, and `spec`'s namespaces.

use berth_integration_tests::runtime::{container_id, Cleanup, Runtime};
use berth_integration_tests::{have_program, require_root, stderr, Bundle, TestDir};
use serde_json::{json, Value};

fn runtimes() -> [(&'static str, Runtime); 2] {
    require_root();
    assert!(
        have_program("runc"),
        "install runc (the differential oracle)"
    );
    [("berth", Runtime::berth()), ("runc", Runtime::runc())]
}

/// A tmpfs mounted below a host directory, unmounted on drop.
struct Submount {
    dir: TestDir,
}

impl Submount {
    fn new() -> Submount {
        let dir = TestDir::new("mnt-src");
        std::fs::create_dir(dir.join("sub")).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(dir.join("sub"))
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount a tmpfs for the test");
        Submount { dir }
    }
}

impl Drop for Submount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.join("sub"))
            .status();
    }
}

/// Runs `args` in a container of each runtime after `edit`: (exit code,
/// stdout, stderr) for berth, then runc.
fn both(args: &[&str], edit: &dyn Fn(&mut Value)) -> Vec<(i32, String, String)> {
    let dir = TestDir::new("mnt");
    runtimes()
        .into_iter()
        .map(|(name, rt)| {
            let mut b = Bundle::new(&dir.join(name), args);
            edit(&mut b.spec);
            b.save();
            let id = container_id(name);
            let _c = Cleanup {
                runtime: &rt,
                ids: vec![id.clone()],
            };
            let (code, out, err) = rt.run_bundle(&b.dir, &id);
            (code, out, err.replace("\\\"", "\""))
        })
        .collect()
}

const PROBE: &str = "touch /mnt/a 2>/dev/null && echo top-rw || echo top-ro; \
    touch /mnt/sub/a 2>/dev/null && echo sub-rw || echo sub-ro; \
    grep ' /mnt' /proc/self/mountinfo | cut -d' ' -f5,6";

#[test]
fn recursive_mount_options_match_runc() {
    let src = Submount::new();
    let cases: &[(&[&str], &str)] = &[
        // runc 1.1: plain ro on an rbind is the top mount only.
        (
            &["rbind", "ro"],
            "top-ro\nsub-rw\n/mnt ro,relatime\n/mnt/sub rw,relatime\n",
        ),
        (
            &["rbind", "rro"],
            "top-ro\nsub-ro\n/mnt ro,relatime\n/mnt/sub ro,relatime\n",
        ),
        (
            &["rro", "rbind"],
            "top-ro\nsub-ro\n/mnt ro,relatime\n/mnt/sub ro,relatime\n",
        ),
        (
            &["rbind", "rnoexec"],
            "top-rw\nsub-rw\n/mnt rw,noexec,relatime\n/mnt/sub rw,noexec,relatime\n",
        ),
        // runc 1.1 collects set and clear bits apart: both orders ask
        // mount_setattr to set and clear read-only, and set wins.
        (
            &["rbind", "rro", "rrw"],
            "top-ro\nsub-ro\n/mnt ro,relatime\n/mnt/sub ro,relatime\n",
        ),
        (
            &["rbind", "rrw", "rro"],
            "top-ro\nsub-ro\n/mnt ro,relatime\n/mnt/sub ro,relatime\n",
        ),
    ];
    for (opts, want) in cases {
        let source = src.dir.path.to_str().unwrap().to_string();
        let outs = both(&["sh", "-c", PROBE], &|s| {
            s["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/mnt", "type": "bind", "source": source, "options": opts
            }));
        });
        for (name, (code, out, err)) in ["berth", "runc"].iter().zip(outs) {
            assert_eq!(code, 0, "{name} {opts:?}: {err}");
            assert_eq!(&out, want, "{name} {opts:?}");
        }
    }
}

/// proc's target a symlink, or a regular file: refused with runc's words.
#[test]
fn proc_on_a_symlink_or_a_file_is_refused_with_runc_s_message() {
    let dir = TestDir::new("mnt-proc");
    for (name, rt) in runtimes() {
        for (i, make) in [
            (|p: &std::path::Path| std::os::unix::fs::symlink("/tmp", p).unwrap())
                as fn(&std::path::Path),
            |p| std::fs::write(p, "not a dir").unwrap(),
        ]
        .into_iter()
        .enumerate()
        {
            let b = Bundle::new(&dir.join(&format!("{name}{i}")), &["true"]);
            let proc = b.rootfs().join("proc");
            std::fs::remove_dir(&proc).unwrap();
            make(&proc);
            let id = container_id(name);
            let _c = Cleanup {
                runtime: &rt,
                ids: vec![id.clone()],
            };
            let (code, _, err) = rt.run_bundle(&b.dir, &id);
            assert_eq!(code, 1, "{name} case {i}: {err}");
            assert!(
                err.replace("\\\"", "\"")
                    .contains("filesystem \"proc\" must be mounted on ordinary directory"),
                "{name} case {i}: {err}"
            );
            assert!(rt.state(&id).is_none(), "{name} case {i}");
        }
    }
}

#[test]
fn pid_file_in_a_missing_dir_and_duplicate_namespaces_fail_as_with_runc() {
    let dir = TestDir::new("mnt-pid");
    for (name, rt) in runtimes() {
        let b = Bundle::new(&dir.join(name), &["sleep", "100"]);
        let id = container_id(name);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let pid_file = dir.join("missing/ctr.pid");
        let out = rt.exec(&[
            "run",
            "-d",
            "--pid-file",
            pid_file.to_str().unwrap(),
            "--bundle",
            b.dir.to_str().unwrap(),
            &id,
        ]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        // runc writes `.<name>` and renames it; Go's words for the open.
        let want = format!(
            "open {}: no such file or directory",
            dir.join("missing/.ctr.pid").display()
        );
        assert!(stderr(&out).contains(&want), "{name}: {}", stderr(&out));
        assert!(rt.state(&id).is_none(), "{name}: nothing left");

        let mut b = Bundle::new(&dir.join(&format!("{name}-dup")), &["true"]);
        b.spec["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "pid"}));
        b.save();
        let (code, _, err) = rt.run_bundle(&b.dir, &id);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(
            err.replace("\\\"", "\"")
                .contains("malformed spec file: duplicated ns {\"pid\" \"\"}"),
            "{name}: {err}"
        );
        assert!(rt.state(&id).is_none(), "{name}: nothing left");
    }
}

#[test]
fn exec_into_a_paused_container_fails_with_255_as_runc() {
    let dir = TestDir::new("mnt-paused");
    for (name, rt) in runtimes() {
        let mut b = Bundle::new(&dir.join(name), &["sleep", "100"]);
        let id = container_id(name);
        b.spec["linux"]["cgroupsPath"] = json!(format!("/bt-paused-{}/{id}", std::process::id()));
        b.save();
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        rt.start_detached(&b.dir, &id);
        assert!(rt.exec(&["pause", &id]).status.success(), "{name}: pause");
        let out = rt.exec(&["exec", &id, "true"]);
        assert_eq!(out.status.code(), Some(255), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out)
                .contains("cannot exec in a paused container (use --ignore-paused to override)"),
            "{name}: {}",
            stderr(&out)
        );
        let _ = rt.exec(&["resume", &id]);
        rt.force_delete(&id);
        for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let _ = std::fs::remove_dir(h.path().join(format!("bt-paused-{}", std::process::id())));
        }
    }
}

#[test]
fn spec_has_runc_s_namespaces() {
    let dir = TestDir::new("mnt-spec");
    let mut namespaces = Vec::new();
    for (name, rt) in runtimes() {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let ok = rt
            .cmd()
            .arg("spec")
            .current_dir(&d)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{name} spec");
        let v: Value =
            serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap();
        namespaces.push(v["linux"]["namespaces"].clone());
    }
    assert_eq!(namespaces[0], namespaces[1]);
}

/// A cwd the user cannot enter but root can (mode 0700, root's): runc
/// enters it as root before dropping to the user, and so does
/// berth-runtime; a cwd that does not exist is made.
#[test]
fn a_cwd_only_root_can_enter_is_entered_as_runc_does() {
    let dir = TestDir::new("mnt-cwd");
    for (name, rt) in runtimes() {
        let mut b = Bundle::new(&dir.join(name), &["pwd"]);
        let private = b.rootfs().join("private");
        std::fs::create_dir(&private).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        b.spec["process"]["cwd"] = json!("/private");
        b.save();
        let id = container_id(name);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let (code, out, err) = rt.run_bundle(&b.dir, &id);
        assert_eq!((code, out.as_str()), (0, "/private\n"), "{name}: {err}");

        // A missing cwd is made (runc 1.1's createCwd), the root being
        // read-only notwithstanding.
        b.spec["process"]["cwd"] = json!("/missing/deeper");
        b.save();
        let (code, out, err) = rt.run_bundle(&b.dir, &id);
        assert_eq!(
            (code, out.as_str()),
            (0, "/missing/deeper\n"),
            "{name}: {err}"
        );
    }
}

/// What a `--no-pivot` container sees of its mounts, and what it may mount,
/// against runc's: runc 1.1's msMoveRoot detaches the host's full proc and
/// sysfs mounts (outside the rootfs) before moving the rootfs over `/` and
/// chrooting, because the kernel lets a new proc be mounted (here: by
/// `unshare -mrpf` in the container, as runc's own no_pivot.bats) only while
/// a full, uncovered proc is visible in the mount namespace; berth used to
/// leave them, and the container could mount a fresh procfs. The container's
/// /proc/self/mountinfo (root, mount point, type of each line, in order)
/// must be runc's.
#[test]
fn no_pivot_detaches_the_host_proc_and_sys_like_runc() {
    let dir = TestDir::new("nopivot");
    let _parents = berth_integration_tests::runtime::CgroupParentCleanup::new("bt-nopivot");
    let script = "awk '{ for (i = 7; $i != \"-\"; i++); print $4, $5, $(i + 1) }' \
        /proc/self/mountinfo; \
        unshare -mrpf sh -c 'mount -t proc none /proc && echo mounted-proc'; echo rc=$?";
    let mut outs = Vec::new();
    for (name, rt) in runtimes() {
        let id = container_id(name);
        let mut b = Bundle::new(&dir.join(name), &["sh", "-c", script]);
        b.spec["linux"]["cgroupsPath"] = json!(format!("/bt-nopivot/{id}"));
        for set in ["bounding", "permitted"] {
            b.spec["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SETFCAP"));
        }
        b.save();
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let out = rt.exec(&[
            "run",
            "--no-pivot",
            "--bundle",
            b.dir.to_str().unwrap(),
            &id,
        ]);
        let text = String::from_utf8_lossy(&out.stdout)
            .replace(b.dir.to_str().unwrap(), "BUNDLE")
            .replace(&id, "ID");
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        outs.push((text, stderr(&out)));
    }
    assert_eq!(outs[0].0, outs[1].0, "berth (left) and runc (right) differ");
    // Spelled out, so that both breaking alike fails too: the rootfs is /,
    // the container's own proc and sysfs are there, and no new proc could
    // be mounted.
    let seen = &outs[0].0;
    assert!(seen.starts_with("BUNDLE/rootfs / "), "{seen}");
    assert!(seen.contains("\n/ /proc proc\n"), "{seen}");
    assert!(seen.contains("\n/ /sys sysfs\n"), "{seen}");
    assert!(seen.ends_with("rc=1\n"), "{seen}");
    assert!(!seen.contains("mounted-proc"), "{seen}");
    assert!(
        outs[0].1.contains("mount: permission denied"),
        "{}",
        outs[0].1
    );
}

/// A read-only `/dev` (runc's mounts.bats "ro /dev mount", runc issue 3248)
/// and a read-only tmpfs: runc mounts both read-write, fills /dev (devices,
/// symlinks, the /dev/pts mount point), and remounts them read-only at the
/// end; berth used to mount /dev read-only first and then fail to create
/// /dev/pts in it (EROFS).
#[test]
fn a_read_only_dev_and_tmpfs_are_filled_then_made_read_only_like_runc() {
    let script = "grep -E '^tmpfs /(dev|mnt) ' /proc/mounts | cut -d' ' -f2,4 | cut -d, -f1; \
        ls /dev/null /dev/pts/ptmx /dev/stdout; touch /dev/x /mnt/x 2>&1 | sed 's/.*: //'";
    let outs = both(&["sh", "-c", script], &|spec| {
        for m in spec["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push(json!("ro"));
            }
        }
        spec["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "mode=755"]}));
    });
    assert_eq!(outs[0], outs[1], "berth (left) and runc (right) differ");
    assert_eq!(outs[0].0, 0, "{:?}", outs[0]);
    assert_eq!(
        outs[0].1,
        "/dev ro\n/mnt ro\n/dev/null\n/dev/pts/ptmx\n/dev/stdout\nRead-only file system\nRead-only file system\n"
    );
}
