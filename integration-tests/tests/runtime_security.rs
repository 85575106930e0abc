//! berth-runtime's security regressions: CVE-2019-5736 (host binary through
//! /proc/<pid>/exe), CVE-2024-21626 (host fds and cwd), and symlinks in
//! hostile root filesystems (CVE-2021-30465 and kin).

use std::os::fd::AsRawFd;
use std::os::unix::fs::symlink;
use std::process::Stdio;

use berth_integration_tests::runtime::{container_id, Cleanup, Runtime};
use berth_integration_tests::{require_root, stderr, stdout, Bundle, TestDir};
use serde_json::json;

#[test]
fn cve_2019_5736_container_cannot_reach_the_host_runtime_binary() {
    require_root();
    let rt = Runtime::berth();
    let host_binary = std::fs::read(&rt.binary).unwrap();
    let dir = TestDir::new("5736");
    // A created container's init is the runtime's own code, waiting on the
    // exec FIFO: the moment a container process could reach the runtime
    // binary through /proc/1/exe. (Exec'ing /proc/self/exe from the
    // container fails with ENOENT on this kernel, for runc too.)
    let b = Bundle::new(&dir.join("b"), &["sleep", "1000"]);
    let id = container_id("cve5736");
    let _c = Cleanup {
        runtime: &rt,
        ids: vec![id.clone()],
    };
    let out = rt.exec(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let attack = "readlink /proc/1/exe || echo no-access; \
        (printf evil >> /proc/1/exe) 2>/dev/null && echo appended || echo append-refused; \
        (printf evil 1<> /proc/1/exe) 2>/dev/null && echo overwrote || echo write-refused";
    // Without CAP_SYS_PTRACE the init is not even inspectable (non-dumpable).
    let out = rt.exec(&["exec", &id, "sh", "-c", attack]);
    let text = stdout(&out);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["no-access", "append-refused", "write-refused"],
        "{text}"
    );
    // With it, and CAP_SYS_ADMIN to try remounting it read-write (a
    // privileged container), /proc/1/exe is the binary on a read-only mount
    // that is in no namespace.
    let privileged = format!(
        "mount -o remount,rw /proc/1/exe 2>/dev/null && echo remounted || echo remount-refused; {attack}"
    );
    let out = rt.exec(&[
        "exec",
        "--cap",
        "CAP_SYS_PTRACE",
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "sh",
        "-c",
        &privileged,
    ]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "remount-refused", "{text}");
    // A detached file mount: its path is its own root, never the host path.
    assert_eq!(lines[1], "/", "pid 1 must run from a detached view: {text}");
    assert_eq!(&lines[2..], ["append-refused", "write-refused"], "{text}");
    assert_eq!(
        std::fs::read(&rt.binary).unwrap(),
        host_binary,
        "the host binary changed"
    );
}

#[test]
fn cve_2024_21626_no_host_fd_or_cwd_reaches_the_container() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("21626");
    let b = Bundle::new(
        &dir.join("b"),
        &[
            "sh",
            "-c",
            "ls /proc/self/fd | tr '\\n' ' '; echo; readlink /proc/self/cwd",
        ],
    );
    // The caller leaks a host directory fd (not close-on-exec) at 7.
    let host_dir = std::fs::File::open("/etc").unwrap();
    let hd = host_dir.as_raw_fd();
    let mut cmd = rt.cmd();
    cmd.args([
        "run",
        "--bundle",
        b.dir.to_str().unwrap(),
        &container_id("fds"),
    ]);
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            libc::dup2(libc::dup(hd), 7);
            Ok(())
        });
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    // 0-2 and the fd ls opens for the directory itself, nothing else.
    assert_eq!(lines[0].trim(), "0 1 2 3", "{text}");
    assert_eq!(lines[1], "/");
    // cwd through a leaked fd (the CVE's attack) must not start.
    for n in 3..=12 {
        let mut b2 = Bundle::new(&dir.join(&format!("c{n}")), &["sh", "-c", "pwd; ls"]);
        b2.spec["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        b2.save();
        let id = container_id("cwd");
        let mut cmd = rt.cmd();
        cmd.args(["run", "--bundle", b2.dir.to_str().unwrap(), &id]);
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                libc::dup2(libc::dup(hd), 7);
                Ok(())
            });
        }
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        if out.status.success() {
            // Allowed only if the cwd really is inside the container.
            let pwd = stdout(&out);
            assert!(
                !pwd.contains("passwd") && !pwd.contains("(unreachable)"),
                "fd {n} leaked: {pwd}"
            );
        }
        assert!(rt.state(&id).is_none());
    }
    // The same through exec --cwd.
    let b3 = Bundle::new(&dir.join("x"), &["sleep", "1000"]);
    let id = container_id("execcwd");
    let _c = Cleanup {
        runtime: &rt,
        ids: vec![id.clone()],
    };
    rt.start_detached(&b3.dir, &id);
    for n in 3..=12 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = rt.exec(&["exec", "--cwd", &cwd, &id, "sh", "-c", "ls"]);
        if out.status.success() {
            let ls = stdout(&out);
            assert!(
                !ls.contains("passwd"),
                "exec cwd fd {n} reached the host: {ls}"
            );
        }
    }
}

#[test]
fn symlinked_proc_in_the_rootfs_is_refused_and_the_host_untouched() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("symproc");
    let b = Bundle::new(&dir.join("b"), &["true"]);
    std::fs::remove_dir(b.rootfs().join("proc")).unwrap();
    symlink("/", b.rootfs().join("proc")).unwrap();
    let id = container_id("symproc");
    let (code, _, err) = rt.run_bundle(&b.dir, &id);
    assert_eq!(code, 1);
    assert!(err.contains("symlink") && err.contains("/proc"), "{err}");
    assert!(rt.state(&id).is_none());
    assert!(!rt.root.join(&id).exists());
}

#[test]
fn mount_targets_through_symlinks_stay_inside_the_rootfs() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("symmnt");
    let src = dir.join("payload");
    std::fs::write(&src, "payload").unwrap();
    let mut b = Bundle::new(
        &dir.join("b"),
        &["sh", "-c", "cat /etc/bt-evil-file; echo; ls /tmp/bt-escape"],
    );
    symlink("/etc", b.rootfs().join("etc-link")).unwrap();
    symlink("../../../../../../tmp", b.rootfs().join("up")).unwrap();
    let mounts = b.spec["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/etc-link/bt-evil-file", "type": "bind", "source": src.to_str().unwrap(), "options": ["bind", "ro"]}));
    mounts.push(json!({"destination": "/up/bt-escape", "type": "tmpfs", "source": "tmpfs"}));
    mounts
        .push(json!({"destination": "/../../../../bt-dotdot", "type": "tmpfs", "source": "tmpfs"}));
    b.save();
    let (code, out, err) = rt.run_bundle(&b.dir, &container_id("symmnt"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().next(), Some("payload"));
    assert!(
        !std::path::Path::new("/etc/bt-evil-file").exists(),
        "wrote into the host's /etc"
    );
    assert!(
        !std::path::Path::new("/tmp/bt-escape").exists(),
        "wrote into the host's /tmp"
    );
    assert!(!std::path::Path::new("/bt-dotdot").exists());
    assert!(b.rootfs().join("etc/bt-evil-file").exists());
    assert!(b.rootfs().join("tmp/bt-escape").is_dir());
    assert!(b.rootfs().join("bt-dotdot").is_dir());
}
