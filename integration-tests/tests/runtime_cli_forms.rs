//! runc's command-line forms, berth-runtime against Debian's runc: the
//! version lines, help on every command and for an unknown one, `kill`'s
//! signal forms (0, names, numbers, `--all` after the init died), `update`'s
//! flags and `-r FILE` / `-r -` (compared by the cgroup files they write),
//! and `--debug` lines on stderr or in `--log` as text or JSON.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use berth_integration_tests::runtime::{container_id, CgroupParentCleanup, Cleanup, Runtime};
use berth_integration_tests::{require_root, stderr, stdout, Bundle, TestDir};
use serde_json::json;

fn both() -> [(&'static str, Runtime); 2] {
    [("berth", Runtime::berth()), ("runc", Runtime::runc())]
}

/// The name each binary calls itself by in its help and version text.
fn program(rt: &Runtime) -> String {
    rt.binary
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn cgroup_path(id: &str) -> String {
    format!("/bt-cli/{id}")
}

fn bundle(dir: &TestDir, name: &str, id: &str, args: &[&str]) -> Bundle {
    let mut b = Bundle::new(&dir.join(name), args);
    b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(id));
    b.spec["root"]["readonly"] = json!(false);
    b.save();
    b
}

/// `X.Y.Z` at the start of `s` (digits and two dots).
fn starts_with_version(s: &str) -> bool {
    let v: Vec<&str> = s.split(|c: char| !c.is_ascii_digit() && c != '.').collect();
    let parts: Vec<&str> = v[0].split('.').collect();
    parts.len() >= 3 && parts[..3].iter().all(|p| !p.is_empty())
}

#[test]
fn version_prints_runcs_three_lines() {
    for (name, rt) in both() {
        for flag in ["--version", "-v"] {
            let out = rt.exec(&[flag]);
            assert!(out.status.success(), "{name} {flag}: {}", stderr(&out));
            let text = stdout(&out);
            let lines: Vec<&str> = text.lines().collect();
            let first = format!("{} version ", program(&rt));
            assert!(
                lines[0].starts_with(&first) && starts_with_version(&lines[0][first.len()..]),
                "{name} {flag}: {text}"
            );
            assert!(lines[1].starts_with("commit: "), "{name}: {text}");
            let spec = lines[2].strip_prefix("spec: ").unwrap_or("");
            assert!(starts_with_version(spec), "{name}: {text}");
        }
    }
}

#[test]
fn help_on_every_command_and_unknown_commands_as_runc() {
    let commands = [
        "checkpoint",
        "create",
        "delete",
        "events",
        "exec",
        "kill",
        "list",
        "pause",
        "ps",
        "restore",
        "resume",
        "run",
        "spec",
        "start",
        "state",
        "update",
        "features",
    ];
    for (name, rt) in both() {
        let prog = program(&rt);
        for flag in ["-h", "--help"] {
            let out = rt.exec(&[flag]);
            assert!(out.status.success(), "{name} {flag}");
            let text = stdout(&out);
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines[0], "NAME:", "{name}: {text}");
            assert_eq!(
                lines[1].trim(),
                format!("{prog} - Open Container Initiative runtime"),
                "{name}"
            );
            for c in commands {
                assert!(
                    lines.iter().any(|l| l.trim_start().starts_with(c)),
                    "{name}: {c} missing from the command list: {text}"
                );
            }
        }
        for c in commands {
            for args in [vec![c, "-h"], vec![c, "--help"], vec!["help", c]] {
                let out = rt.exec(&args);
                assert!(out.status.success(), "{name} {args:?}: {}", stderr(&out));
                let text = stdout(&out);
                let lines: Vec<&str> = text.lines().collect();
                assert_eq!(lines[0], "NAME:", "{name} {args:?}: {text}");
                assert!(
                    lines[1].trim().starts_with(&format!("{prog} {c} - ")),
                    "{name} {args:?}: {text}"
                );
                assert!(text.contains("USAGE:"), "{name} {args:?}: {text}");
            }
        }
        // `-h` after the container id of exec belongs to the command run.
        let out = rt.exec(&["kill", "-h", "extra"]);
        assert!(out.status.success(), "{name}: kill -h extra");
        for args in [vec!["foo"], vec!["foo", "-h"], vec!["help", "foo"]] {
            let out = rt.exec(&args);
            assert_eq!(out.status.code(), Some(3), "{name} {args:?}");
            assert!(
                stderr(&out).contains("No help topic for 'foo'"),
                "{name} {args:?}: {}",
                stderr(&out)
            );
        }
    }
}

/// Waits up to 5 s for `path` to have `n` lines; returns its text.
fn wait_lines(path: &Path, n: usize) -> String {
    for _ in 0..250 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= n {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn kill_takes_runcs_signal_forms_and_reaches_the_init() {
    require_root();
    let dir = TestDir::new("clikill");
    let _parents = CgroupParentCleanup::new("bt-cli");
    let script = "trap 'echo USR1 >> /tmp/got' USR1; trap 'echo USR2 >> /tmp/got' USR2; \
                  trap 'echo HUP >> /tmp/got' HUP; touch /tmp/ready; \
                  while true; do sleep 0.05; done";
    let mut seen = Vec::new();
    for (name, rt) in both() {
        let id = container_id(name);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let b = bundle(&dir, name, &id, &["sh", "-c", script]);
        rt.start_detached(&b.dir, &id);
        wait_lines(&b.rootfs().join("tmp/ready"), 0);
        std::thread::sleep(Duration::from_millis(100));
        let got = b.rootfs().join("tmp/got");
        let mut codes = Vec::new();
        let mut expect = 0;
        for sig in ["USR1", "SIGUSR2", "sighup", "10", "SIGusr2"] {
            let out = rt.exec(&["kill", &id, sig]);
            codes.push((sig, out.status.code()));
            expect += 1;
            // One at a time: sh runs a trap between commands.
            wait_lines(&got, expect);
        }
        let delivered = std::fs::read_to_string(&got).unwrap_or_default();
        for sig in ["0", "BOGUS", "SIGBOGUS", "-1"] {
            codes.push((sig, rt.exec(&["kill", &id, sig]).status.code()));
        }
        rt.exec(&["kill", &id, "KILL"]);
        rt.wait_status(&id, "stopped");
        let after = [
            rt.exec(&["kill", &id, "0"]).status.code(),
            rt.exec(&["kill", "-a", &id, "0"]).status.code(),
            rt.exec(&["kill", "--all", &id, "KILL"]).status.code(),
        ];
        seen.push((name, codes, delivered, after));
    }
    let (b, r) = (&seen[0], &seen[1]);
    assert_eq!(
        b.2, "USR1\nUSR2\nHUP\nUSR1\nUSR2\n",
        "berth: signals the init got"
    );
    assert_eq!(b.1, r.1, "exit codes per signal form (berth, runc)");
    assert_eq!(b.2, r.2, "signals delivered (berth, runc)");
    assert_eq!(b.3, r.3, "kill / kill -a after the init died (berth, runc)");
    assert_eq!(b.3, [Some(1), Some(0), Some(0)]);
}

/// The v1 cgroup files `update` writes, for one container.
fn limits(id: &str) -> Vec<(String, String)> {
    let cg = cgroup_path(id);
    [
        "memory/memory.limit_in_bytes",
        "memory/memory.memsw.limit_in_bytes",
        "memory/memory.soft_limit_in_bytes",
        "cpu/cpu.cfs_period_us",
        "cpu/cpu.cfs_quota_us",
        "cpu/cpu.shares",
        "cpuset/cpuset.cpus",
        "pids/pids.max",
    ]
    .iter()
    .map(|f| {
        let (ctl, file) = f.split_once('/').unwrap();
        let path = format!("/sys/fs/cgroup/{ctl}{cg}/{file}");
        (
            f.to_string(),
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| format!("{path}: {e}"))
                .trim()
                .to_string(),
        )
    })
    .collect()
}

#[test]
fn update_flags_and_resource_files_write_what_runc_writes() {
    require_root();
    let dir = TestDir::new("cliupd");
    let _parents = CgroupParentCleanup::new("bt-cli");
    let mut seen = Vec::new();
    for (name, rt) in both() {
        let id = container_id(name);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let b = bundle(&dir, name, &id, &["sleep", "1000"]);
        rt.start_detached(&b.dir, &id);
        let mut steps = Vec::new();
        let flags = rt.exec(&[
            "update",
            "--memory",
            "64m",
            "--memory-swap",
            "128M",
            "--memory-reservation",
            "32MiB",
            "--cpu-period",
            "100000",
            "--cpu-quota",
            "50000",
            "--cpu-share",
            "512",
            "--cpuset-cpus",
            "0",
            "--pids-limit",
            "20",
            "--kernel-memory",
            "10m",
            &id,
        ]);
        steps.push((flags.status.code(), limits(&id)));
        // One field: the rest stay.
        steps.push((
            rt.exec(&["update", "--cpu-quota", "20000", &id])
                .status
                .code(),
            limits(&id),
        ));
        // Realtime CPU needs a budget from the parent cgroup (none here).
        let rt_out = rt.exec(&[
            "update",
            "--cpu-rt-period",
            "100000",
            "--cpu-rt-runtime",
            "1000",
            &id,
        ]);
        steps.push((rt_out.status.code(), limits(&id)));
        // -r FILE: the other flags are ignored.
        let file = dir.join(&format!("{name}-res.json"));
        std::fs::write(
            &file,
            r#"{"memory": {"limit": 100663296}, "cpu": {"shares": 256}}"#,
        )
        .unwrap();
        let out = rt.exec(&[
            "update",
            "-r",
            file.to_str().unwrap(),
            "--pids-limit",
            "7",
            &id,
        ]);
        steps.push((out.status.code(), limits(&id)));
        // -r - reads stdin.
        let mut child = rt
            .cmd()
            .args(["update", "-r", "-", &id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(br#"{"pids": {"limit": 9}, "memory": {"swap": 268435456}}"#)
            .unwrap();
        steps.push((child.wait().unwrap().code(), limits(&id)));
        // Bad input: nothing changes, non-zero exit.
        steps.push((
            rt.exec(&["update", "--memory", "lots", &id]).status.code(),
            limits(&id),
        ));
        steps.push((
            rt.exec(&["update", "--cpu-share", "x", &id]).status.code(),
            limits(&id),
        ));
        // The devices the container had stay usable after updates.
        let dev = rt.exec(&[
            "exec",
            &id,
            "sh",
            "-c",
            "echo x > /dev/null && head -c 1 /dev/zero | wc -c",
        ]);
        seen.push((name, steps, dev.status.code(), stdout(&dev)));
        rt.exec(&["kill", &id, "KILL"]);
        rt.wait_status(&id, "stopped");
        let stopped = rt.exec(&["update", "--pids-limit", "5", &id]);
        assert!(
            !stopped.status.success(),
            "{name}: update of a stopped container"
        );
    }
    let (b, r) = (&seen[0], &seen[1]);
    for (i, (x, y)) in b.1.iter().zip(&r.1).enumerate() {
        assert_eq!(x, y, "update step {i} (berth, runc)");
    }
    assert_eq!(
        b.1[0].1[0].1,
        (64u64 << 20).to_string(),
        "berth: memory limit"
    );
    assert_eq!(
        (b.2, b.3.as_str()),
        (Some(0), "1"),
        "berth: /dev/null and /dev/zero after update"
    );
    assert_eq!(
        (b.2, &b.3),
        (r.2, &r.3),
        "devices after update (berth, runc)"
    );
}

#[test]
fn debug_lines_go_to_stderr_or_to_the_log_as_runcs() {
    require_root();
    let dir = TestDir::new("clidbg");
    let _parents = CgroupParentCleanup::new("bt-cli");
    for (name, rt) in both() {
        let id = container_id(name);
        let b = bundle(&dir, name, &id, &["true"]);
        let bdir = b.dir.to_str().unwrap();
        let out = rt.exec(&["--debug", "run", "--bundle", bdir, &id]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("level=debug"),
            "{name}: {}",
            stderr(&out)
        );
        for (format, marker) in [("text", "level=debug"), ("json", "\"level\":\"debug\"")] {
            let log = dir.join(&format!("{name}-{format}.log"));
            let out = rt.exec(&[
                "--log",
                log.to_str().unwrap(),
                "--log-format",
                format,
                "--debug",
                "run",
                "--bundle",
                bdir,
                &id,
            ]);
            assert!(out.status.success(), "{name}: {}", stderr(&out));
            assert!(
                !stderr(&out).contains("level=debug"),
                "{name} {format}: {}",
                stderr(&out)
            );
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(text.contains(marker), "{name} {format}: {text}");
            if format == "json" {
                for line in text.lines() {
                    let v: serde_json::Value = serde_json::from_str(line)
                        .unwrap_or_else(|e| panic!("{name}: {e}: {line}"));
                    assert!(
                        v["msg"].is_string() && v["time"].is_string(),
                        "{name}: {line}"
                    );
                }
            }
        }
        // Without --debug, nothing at debug level.
        let out = rt.exec(&["run", "--bundle", bdir, &id]);
        assert!(
            !stderr(&out).contains("level=debug"),
            "{name}: {}",
            stderr(&out)
        );
    }
}

/// The OCI validation suite's `killsig` check, as it runs it: a shell that
/// traps the signal while waiting on a child, `kill ID SIG` once running,
/// then the container must stop within 5 s having run the trap.
#[test]
fn kill_passes_the_validation_suites_killsig_check_as_runc() {
    require_root();
    let dir = TestDir::new("clikillsig");
    let _parents = CgroupParentCleanup::new("bt-cli");
    let mut seen = Vec::new();
    for (name, rt) in both() {
        for sig in ["TERM", "USR1", "USR2"] {
            let id = container_id(name);
            let _c = Cleanup {
                runtime: &rt,
                ids: vec![id.clone()],
            };
            let script = format!("trap 'touch /{sig}' {sig}; sleep 10 & wait $!");
            let b = bundle(&dir, &format!("{name}-{sig}"), &id, &["sh", "-c", &script]);
            rt.start_detached(&b.dir, &id);
            rt.wait_status(&id, "running");
            // sh must be waiting before the signal comes.
            std::thread::sleep(Duration::from_millis(200));
            let out = rt.exec(&["kill", &id, sig]);
            assert!(out.status.success(), "{name} {sig}: {}", stderr(&out));
            let started = std::time::Instant::now();
            while rt.status(&id).as_deref() != Some("stopped")
                && started.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            seen.push((name, sig, rt.status(&id), b.rootfs().join(sig).exists()));
        }
    }
    for (b, r) in seen[..3].iter().zip(&seen[3..]) {
        assert_eq!((b.1, &b.2, b.3), (r.1, &r.2, r.3), "berth vs runc");
        assert_eq!(
            (&b.2, b.3),
            (&Some("stopped".to_string()), true),
            "berth {}",
            b.1
        );
    }
}

/// Flags after the container id, as urfave/cli 1 lets runc take them
/// (runc's update.bats: `update ID --cpuset-cpus 1`; `kill ID KILL --all`),
/// but not for `exec`, which takes what follows the id as the command.
#[test]
fn flags_after_the_id_are_taken_like_runc() {
    require_root();
    let dir = TestDir::new("flagsafter");
    let _parents = CgroupParentCleanup::new("bt-cli");
    let mut seen = Vec::new();
    for (name, rt) in both() {
        let id = container_id(name);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let mut b = Bundle::new(&dir.join(name), &["sleep", "1000"]);
        b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(&id));
        b.save();
        rt.start_detached(&b.dir, &id);
        let update = rt.exec(&["update", &id, "--pids-limit", "42"]);
        let max = std::fs::read_to_string(
            Path::new("/sys/fs/cgroup/pids")
                .join(cgroup_path(&id).trim_start_matches('/'))
                .join("pids.max"),
        )
        .unwrap();
        let exec = rt.exec(&["exec", &id, "echo", "--pids-limit", "7"]);
        let kill = rt.exec(&["kill", &id, "KILL", "--all"]);
        rt.wait_status(&id, "stopped");
        seen.push((
            update.status.code(),
            max.trim().to_string(),
            stdout(&exec),
            kill.status.code(),
        ));
    }
    assert_eq!(seen[0], seen[1], "berth (left) and runc (right) differ");
    assert_eq!(
        seen[0],
        (Some(0), "42".into(), "--pids-limit 7".into(), Some(0))
    );
}
