//! Every config.json field berth-runtime implements, observed from inside
//! the container as a user would: /proc/self/status, mountinfo, limits, id,
//! hostname, devices, namespaces.

use std::io::Read;
use std::os::fd::AsRawFd;

use berth_integration_tests::runtime::{container_id, recv_fd, Cleanup, Runtime};
use berth_integration_tests::{require_root, stderr, Bundle, TestDir};
use serde_json::json;

/// Runs `script` with `sh -c` in a bundle edited by `edit`; returns stdout.
fn probe(edit: impl FnOnce(&mut serde_json::Value), script: &str) -> String {
    let rt = Runtime::berth();
    let dir = TestDir::new("cfg");
    let mut b = Bundle::new(&dir.join("bundle"), &["sh", "-c", script]);
    edit(&mut b.spec);
    b.save();
    let id = container_id("cfg");
    let (code, out, err) = rt.run_bundle(&b.dir, &id);
    assert_eq!(code, 0, "container failed: {err}\nstdout: {out}");
    out
}

fn line_with<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
}

#[test]
fn process_args_env_cwd_user_groups_and_umask() {
    require_root();
    let out = probe(
        |s| {
            s["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
            s["process"]["cwd"] = json!("/tmp");
            s["process"]["user"] =
                json!({"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000], "umask": 18});
        },
        "echo \"$FOO\"; pwd; id -u; id -g; id -G; umask",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec!["bar baz", "/tmp", "1000", "1000", "1000 2000 3000", "0022"]
    );
}

#[test]
fn capabilities_no_new_privs_rlimits_and_oom_score() {
    require_root();
    let out = probe(
        |s| {
            let caps = json!(["CAP_CHOWN", "CAP_KILL"]);
            s["process"]["capabilities"] = json!({
                "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
                "effective": caps, "permitted": caps, "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]
            });
            s["process"]["noNewPrivileges"] = json!(true);
            s["process"]["rlimits"] = json!([
                {"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256},
                {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}
            ]);
            s["process"]["oomScoreAdj"] = json!(123);
        },
        "grep -E '^(Cap|NoNewPrivs)' /proc/self/status; grep -E 'open files|core file' /proc/self/limits; cat /proc/self/oom_score_adj",
    );
    // CAP_CHOWN = 0, CAP_KILL = 5, CAP_NET_RAW = 13.
    assert_eq!(line_with(&out, "CapEff"), "CapEff:\t0000000000000021");
    assert_eq!(line_with(&out, "CapPrm"), "CapPrm:\t0000000000000021");
    assert_eq!(line_with(&out, "CapInh"), "CapInh:\t0000000000000020");
    assert_eq!(line_with(&out, "CapBnd"), "CapBnd:\t0000000000002021");
    assert_eq!(line_with(&out, "CapAmb"), "CapAmb:\t0000000000000020");
    assert_eq!(line_with(&out, "NoNewPrivs"), "NoNewPrivs:\t1");
    let files = line_with(&out, "Max open files");
    assert!(
        files.split_whitespace().collect::<Vec<_>>()[3..5] == ["256", "512"],
        "{files}"
    );
    assert!(
        line_with(&out, "Max core file size").contains(" 0 "),
        "{out}"
    );
    assert_eq!(out.lines().last().unwrap(), "123");
}

#[test]
fn namespaces_hostname_domainname_and_sysctl() {
    require_root();
    let out = probe(
        |s| {
            s["hostname"] = json!("berth-host");
            s["domainname"] = json!("berth.test");
            s["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "4096"});
        },
        "echo $$; hostname; cat /proc/sys/kernel/domainname; cat /proc/sys/net/ipv4/ip_forward; cat /proc/sys/kernel/msgmax; \
         tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /proc/self/cgroup | grep memory",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "pid namespace: the process is pid 1");
    assert_eq!(lines[1], "berth-host");
    assert_eq!(lines[2], "berth.test");
    assert_eq!(lines[3], "1", "sysctl in the container's own net namespace");
    assert_eq!(lines[4], "4096");
    assert_eq!(lines[5], "lo", "a new network namespace has only lo: {out}");
    assert_eq!(
        lines[6], "4:memory:/",
        "cgroup namespace rooted at the container's cgroup"
    );
    // The host's ip_forward and msgmax were not touched.
    assert_ne!(
        std::fs::read_to_string("/proc/sys/kernel/msgmax")
            .unwrap()
            .trim(),
        "4096"
    );
}

#[test]
fn time_namespace_offsets() {
    require_root();
    let out = probe(
        |s| {
            s["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "time"}));
            s["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400000, "nanosecs": 0}});
        },
        "cut -d. -f1 /proc/uptime",
    );
    let up: u64 = out.trim().parse().unwrap();
    assert!(up >= 86_400_000, "uptime {up} lacks the boottime offset");
}

#[test]
fn joins_namespaces_by_path() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("join");
    let mut a = Bundle::new(&dir.join("a"), &["sleep", "1000"]);
    a.spec["hostname"] = json!("first");
    a.save();
    let ida = container_id("joina");
    let _c = Cleanup {
        runtime: &rt,
        ids: vec![ida.clone()],
    };
    let pid = rt.start_detached(&a.dir, &ida);
    let mut b = Bundle::new(
        &dir.join("b"),
        &["sh", "-c", "hostname; readlink /proc/self/ns/net"],
    );
    for ns in b.spec["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "uts" {
            ns["path"] = json!(format!("/proc/{pid}/ns/uts"));
        }
        if ns["type"] == "network" {
            ns["path"] = json!(format!("/proc/{pid}/ns/net"));
        }
    }
    b.spec.as_object_mut().unwrap().remove("hostname");
    b.save();
    let (code, out, err) = rt.run_bundle(&b.dir, &container_id("joinb"));
    assert_eq!(code, 0, "{err}");
    let want_net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, vec!["first", want_net.to_str().unwrap()]);
}

#[test]
fn mounts_masked_and_readonly_paths_and_readonly_root() {
    require_root();
    let host = TestDir::new("bindsrc");
    std::fs::write(host.join("file"), "from host").unwrap();
    let src = host.path.to_str().unwrap().to_string();
    let out = probe(
        |s| {
            let mounts = s["mounts"].as_array_mut().unwrap();
            mounts.push(json!({"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "ro"]}));
            mounts.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700", "noexec"]}));
            s["linux"]["rootfsPropagation"] = json!("private");
        },
        "cat /data/file; echo; touch /data/x 2>&1 | grep -c 'Read-only'; grep ' /scratch ' /proc/self/mountinfo; stat -c %a /scratch; \
         touch /rootfile 2>&1 | grep -c 'Read-only'; wc -c < /proc/timer_list; grep -c ' /proc/timer_list ' /proc/self/mountinfo; ls /proc/acpi | wc -l; grep ' /proc/acpi ' /proc/self/mountinfo | grep -c ' ro,'; \
         (echo 1 > /proc/sys/kernel/shmmax) 2>&1 | grep -c 'Read-only'; grep ' /proc/sys ' /proc/self/mountinfo | grep -c ' ro,'; \
         awk '$5 == \"/\"' /proc/self/mountinfo",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "from host");
    assert_eq!(lines[1], "1", "ro bind mount must refuse writes: {out}");
    assert!(
        lines[2].contains("tmpfs")
            && lines[2].contains("noexec")
            && lines[2].contains("size=1024k"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "700");
    assert_eq!(lines[4], "1", "root.readonly must make / read-only: {out}");
    assert_eq!(lines[5], "0", "masked /proc/timer_list must read empty");
    assert_eq!(
        lines[6], "1",
        "masked /proc/timer_list must be a mount (of /dev/null)"
    );
    assert_eq!(lines[7], "0", "masked dir /proc/acpi must look empty");
    assert_eq!(
        lines[8], "1",
        "masked dir /proc/acpi must be a read-only mount"
    );
    assert_eq!(lines[9], "1", "readonly /proc/sys must refuse writes");
    assert_eq!(lines[10], "1");
    assert!(
        !lines[11].contains("shared:"),
        "rootfsPropagation private: {}",
        lines[11]
    );
    assert!(!host.join("x").exists());
}

#[test]
fn devices_and_dev_symlinks() {
    require_root();
    let out = probe(
        |s| {
            s["linux"]["devices"] = json!([
                {"path": "/dev/bt-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666, "uid": 1000, "gid": 1000},
                {"path": "/dev/bt-fifo", "type": "p", "major": 0, "minor": 0}
            ]);
            s["linux"]["resources"]["devices"] = json!([
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
            ]);
        },
        "stat -c '%n %F %t:%T %a %u:%g' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/bt-null; \
         stat -c '%F' /dev/bt-fifo; for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done; echo ok > /dev/bt-null && echo wrote",
    );
    let want = [
        "/dev/null character special file 1:3 666 0:0",
        "/dev/zero character special file 1:5 666 0:0",
        "/dev/full character special file 1:7 666 0:0",
        "/dev/random character special file 1:8 666 0:0",
        "/dev/urandom character special file 1:9 666 0:0",
        "/dev/tty character special file 5:0 666 0:0",
        "/dev/bt-null character special file 1:3 666 1000:1000",
        "fifo",
        "/proc/self/fd",
        "/proc/self/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
        "pts/ptmx",
        "wrote",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
}

#[test]
fn device_cgroup_denies_what_is_not_allowed() {
    require_root();
    let out = probe(
        |s| {
            s["linux"]["devices"] = json!([{"path": "/dev/bt-mem", "type": "c", "major": 1, "minor": 1}]);
        },
        "head -c1 /dev/bt-mem >/dev/null 2>&1 && echo opened || echo denied; head -c1 /dev/zero | wc -c",
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["denied", "1"]);
}

#[test]
fn terminal_through_the_console_socket() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("tty");
    let mut b = Bundle::new(
        &dir.join("b"),
        &[
            "sh",
            "-c",
            "tty; stty size; [ -t 0 ] && echo stdin-is-tty; ls -l /dev/console | cut -c1",
        ],
    );
    b.spec["process"]["terminal"] = json!(true);
    b.spec["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    b.save();
    let sock_path = dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let id = container_id("tty");
    let _c = Cleanup {
        runtime: &rt,
        ids: vec![id.clone()],
    };
    let out = rt.exec(&[
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        "--console-socket",
        sock_path.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (conn, _) = listener.accept().unwrap();
    let master = recv_fd(&conn);
    assert!(rt.exec(&["start", &id]).status.success());
    let mut f = std::fs::File::from(master);
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    // Read until the process exits and the pty reports EIO.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        if unsafe { libc::poll(&mut pfd, 1, 200) } <= 0 {
            if rt.status(&id).as_deref() == Some("stopped") {
                break;
            }
            continue;
        }
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(
        lines,
        vec!["/dev/pts/0", "33 101", "stdin-is-tty", "c"],
        "{text:?}"
    );
}

#[test]
fn preserved_fds_and_listen_fds_reach_the_container() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("fds");
    let b = Bundle::new(
        &dir.join("b"),
        &["sh", "-c", "cat <&3; echo; cat <&4; echo; echo $LISTEN_FDS"],
    );
    std::fs::write(dir.join("three"), "fd three").unwrap();
    std::fs::write(dir.join("four"), "fd four").unwrap();
    let three = std::fs::File::open(dir.join("three")).unwrap();
    let four = std::fs::File::open(dir.join("four")).unwrap();
    let mut cmd = rt.cmd();
    cmd.args([
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        b.dir.to_str().unwrap(),
        &container_id("fds"),
    ]);
    cmd.env("LISTEN_FDS", "1");
    let (t, f) = (three.as_raw_fd(), four.as_raw_fd());
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            // Move both out of the way first (either may already be 3 or 4),
            // then into place; dup2 clears close-on-exec.
            let (t2, f2) = (libc::dup(t), libc::dup(f));
            libc::dup2(t2, 3);
            libc::dup2(f2, 4);
            Ok(())
        });
    }
    let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        vec!["fd three", "fd four", "1"]
    );
}

#[test]
fn a_namespace_path_of_the_wrong_type_is_refused() {
    require_root();
    let rt = Runtime::berth();
    let dir = TestDir::new("nstype");
    let mut b = Bundle::new(&dir.join("b"), &["true"]);
    // The caller's network namespace file given as the uts namespace.
    for ns in b.spec["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "uts" {
            ns["path"] = json!("/proc/self/ns/net");
        }
    }
    b.spec.as_object_mut().unwrap().remove("hostname");
    b.save();
    let id = container_id("nstype");
    let (code, _, err) = rt.run_bundle(&b.dir, &id);
    assert_eq!(code, 1);
    assert!(
        err.contains("join uts namespace /proc/self/ns/net"),
        "{err}"
    );
    assert!(rt.state(&id).is_none());
}

#[test]
fn rootfs_propagation_shared_and_unbindable() {
    require_root();
    for (mode, want) in [("rshared", "shared:"), ("runbindable", "unbindable")] {
        let out = probe(
            |s| s["linux"]["rootfsPropagation"] = json!(mode),
            "awk '$5 == \"/\"' /proc/self/mountinfo",
        );
        assert!(out.contains(want), "{mode}: {out}");
    }
}

/// Two seccomp conditions on the same argument index: runc 1.1 makes each a
/// rule of its own (any one holding decides), as its own seccomp.bats
/// expects (`process_vm_readv` allowed for pid 100 or 9001); berth used to
/// require both (never true). Here `kill`'s signal (index 1) is 10 or 12:
/// USR1 and USR2 get errno 55 (ENOANO), HUP is delivered, under both.
#[test]
fn seccomp_conditions_on_one_index_are_alternatives_like_runc() {
    require_root();
    let dir = TestDir::new("seccor");
    let script = "trap 'echo got-HUP' HUP; \
        for s in USR1 USR2 HUP; do kill -$s $$ 2>&1 | sed 's/.*: //'; done; echo done";
    let mut outs = Vec::new();
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let mut b = Bundle::new(&dir.join(name), &["sh", "-c", script]);
        b.spec["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{
                "names": ["kill"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 55,
                "args": [
                    {"index": 1, "value": 10, "op": "SCMP_CMP_EQ"},
                    {"index": 1, "value": 12, "op": "SCMP_CMP_EQ"}
                ]
            }]
        });
        b.save();
        let out = rt.exec(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
        outs.push((
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ));
    }
    assert_eq!(outs[0], outs[1], "berth (left) and runc (right) differ");
    assert_eq!(outs[0].0, Some(0));
    assert_eq!(outs[0].1, "No anode\nNo anode\ngot-HUP\ndone\n");
}
