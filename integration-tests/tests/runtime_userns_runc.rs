//! Containers with a user namespace (container root is host uid 300000),
//! berth-runtime against runc 1.1: bind sources that only host root can
//! reach, and a cwd that the container's root cannot enter but its user
//! can (or neither can). runc 1.1 opens bind sources as host root before
//! the init enters the user namespace (`shouldSendMountSources`), and
//! enters the cwd first as the container's root, then again as its user
//! (`finalizeNamespace`).

use std::os::unix::fs::{chown, PermissionsExt};
use std::path::Path;

use berth_integration_tests::runtime::{container_id, Cleanup, Runtime};
use berth_integration_tests::{have_program, require_root, Bundle, TestDir};
use serde_json::json;

/// Host ids of the container's root; its user 1000 is HOST_ID + 1000.
const HOST_ID: u32 = 300000;

fn runtimes() -> [(&'static str, Runtime); 2] {
    require_root();
    assert!(
        have_program("runc"),
        "install runc (the differential oracle)"
    );
    [("berth", Runtime::berth()), ("runc", Runtime::runc())]
}

/// A bundle with a new user namespace mapping 0..65536 to HOST_ID...
fn userns_bundle(dir: &Path, args: &[&str]) -> Bundle {
    let mut b = Bundle::new(dir, args);
    b.spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    b.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": HOST_ID, "size": 65536}]);
    b.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": HOST_ID, "size": 65536}]);
    b.save();
    b
}

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs the bundle: (exit code, stdout, stderr with Go's \" unquoted).
fn run(rt: &Runtime, b: &Bundle, name: &str) -> (i32, String, String) {
    let id = container_id(name);
    let _c = Cleanup {
        runtime: rt,
        ids: vec![id.clone()],
    };
    let (code, out, err) = rt.run_bundle(&b.dir, &id);
    assert!(rt.state(&id).is_none(), "{name}: container left");
    (code, out, err.replace("\\\"", "\""))
}

/// A directory and a file below a host directory of mode 0700 (host
/// root's): the container's root, host uid 300000, cannot reach them by
/// path, yet runc 1.1 bind-mounts both, through fds it opened as host root.
#[test]
fn bind_sources_only_host_root_can_reach_are_mounted_as_runc_mounts_them() {
    let dir = TestDir::new("userns-bind");
    let private = dir.join("private");
    std::fs::create_dir_all(private.join("data")).unwrap();
    std::fs::write(private.join("data/hello"), "from the host\n").unwrap();
    std::fs::write(private.join("file"), "a file\n").unwrap();
    set_mode(&private.join("data/hello"), 0o644);
    set_mode(&private.join("file"), 0o644);
    set_mode(&private, 0o700);
    let mut outs = Vec::new();
    for (name, rt) in runtimes() {
        let mut b = userns_bundle(
            &dir.join(name),
            &["sh", "-c", "cat /mnt/data/hello /mnt-file"],
        );
        // The mount points exist: the rootfs is host root's, and the
        // container's root may not create in it.
        std::fs::create_dir_all(b.rootfs().join("mnt/data")).unwrap();
        std::fs::write(b.rootfs().join("mnt-file"), "").unwrap();
        let mounts = b.spec["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/mnt/data", "type": "bind",
            "source": private.join("data"), "options": ["rbind"]}));
        mounts.push(json!({"destination": "/mnt-file", "type": "bind",
            "source": private.join("file"), "options": ["bind", "ro"]}));
        b.save();
        let (code, out, err) = run(&rt, &b, name);
        assert_eq!(code, 0, "{name}: {err}");
        outs.push(out);
    }
    assert_eq!(outs[0], "from the host\na file\n");
    assert_eq!(outs[0], outs[1], "berth and runc differ");
}

/// cwd mode 0070, owned by host root and the container's group 1000: the
/// container's root (uid unmapped owner, not in the group, no
/// CAP_DAC_OVERRIDE over an unmapped owner's inode) cannot enter it, user
/// 1000:1000 can: entered after becoming the user, as runc does. Mode 0700
/// (host root's): nobody in the container can, and both fail with runc's
/// message.
#[test]
fn a_cwd_only_the_user_can_enter_is_entered_as_runc_enters_it() {
    let dir = TestDir::new("userns-cwd");
    for (name, rt) in runtimes() {
        let mut b = userns_bundle(&dir.join(name), &["pwd"]);
        let cwd = b.rootfs().join("groupdir");
        std::fs::create_dir(&cwd).unwrap();
        chown(&cwd, Some(0), Some(HOST_ID + 1000)).unwrap();
        set_mode(&cwd, 0o070);
        b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        b.spec["process"]["cwd"] = json!("/groupdir");
        b.save();
        let (code, out, err) = run(&rt, &b, name);
        assert_eq!((code, out.as_str()), (0, "/groupdir\n"), "{name}: {err}");

        set_mode(&cwd, 0o700);
        let (code, _, err) = run(&rt, &b, name);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(
            err.contains(
                "chdir to cwd (\"/groupdir\") set in config.json failed: permission denied"
            ),
            "{name}: {err}"
        );
    }
}
