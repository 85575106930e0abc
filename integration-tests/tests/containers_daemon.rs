//! berthd as the keeper of containers: a crash of berthd (kill -9) loses no
//! container, no log line and no exit code; many `run --rm` at once leave
//! nothing behind.

use berth_integration_tests::containers::{mounts_under, Fixture};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn kill9_of_berthd_loses_no_container_log_line_or_exit_code() {
    let mut f = Fixture::new();
    let d = &mut f.d;
    // Ten containers, each printing numbered lines every 50 ms until a file
    // appears in its rootfs, then exiting with its own code.
    let mut names = Vec::new();
    for i in 0..10 {
        let name = format!("bt-k9-{i}-{}", std::process::id());
        let script = format!(
            "n=0; while [ ! -e /tmp/go ]; do echo line $n; n=$((n+1)); sleep 0.05; done; echo last $n; exit {}",
            10 + i
        );
        d.ok(&["run", "-d", "--name", &name, "busybox", "sh", "-c", &script]);
        names.push(name);
    }
    std::thread::sleep(Duration::from_millis(500));
    d.kill9();
    // While berthd is down the containers go on logging; some finish.
    std::thread::sleep(Duration::from_millis(500));
    let mut ids_by_name = Vec::new();
    d.restart();
    for name in &names {
        let id = d.ok(&["inspect", "--format", "{{.Id}}", name]);
        ids_by_name.push((name.clone(), id.trim().to_string()));
    }
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    for name in &names {
        assert!(
            ps.contains(&format!("{name} Up")),
            "{name} not running after restart:\n{ps}"
        );
    }
    // Crash again, end the first five while berthd is down, restart.
    d.kill9();
    for (_, id) in &ids_by_name[..5] {
        std::fs::write(
            d.state.join("containers").join(id).join("rootfs/tmp/go"),
            "",
        )
        .unwrap();
    }
    wait_for("five containers to end", Duration::from_secs(20), || {
        ids_by_name[..5].iter().all(|(_, id)| {
            d.state
                .join("containers")
                .join(id)
                .join("shim/exit")
                .exists()
                || !d.state.join("containers").join(id).join("shim").exists()
        })
    });
    d.restart();
    for (name, id) in &ids_by_name[5..] {
        std::fs::write(
            d.state.join("containers").join(id).join("rootfs/tmp/go"),
            "",
        )
        .unwrap();
        let _ = name;
    }
    for (i, (name, _)) in ids_by_name.iter().enumerate() {
        let code = d.ok(&["wait", name]);
        assert_eq!(code.trim(), (10 + i).to_string(), "exit code of {name}");
        let state = d.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            name,
        ]);
        assert_eq!(state.trim(), format!("exited {}", 10 + i));
        // Every line from 0 to the last, none missing, none twice.
        let logs = d.ok(&["logs", name]);
        let lines: Vec<&str> = logs.lines().collect();
        let last = lines.last().unwrap_or(&"");
        let n: usize = last
            .strip_prefix("last ")
            .unwrap_or_else(|| panic!("{name}: log does not end with its last line:\n{logs}"))
            .parse()
            .unwrap();
        assert!(n > 10, "{name} logged only {n} lines");
        let want: Vec<String> = (0..n).map(|k| format!("line {k}")).collect();
        assert_eq!(
            lines[..lines.len() - 1].to_vec(),
            want,
            "{name}: log lines lost or repeated"
        );
    }
    for (name, _) in &ids_by_name {
        d.ok(&["rm", name]);
    }
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn twenty_concurrent_run_rm_leave_nothing_behind() {
    let f = Fixture::new();
    let d = &f.d;
    let before_mounts = mounts_under(&d.dir.path).len();
    let cgroups = || -> BTreeSet<String> {
        std::fs::read_dir("/sys/fs/cgroup/memory/berth")
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let before_cgroups = cgroups();
    let host = d.host();
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let host = host.clone();
            std::thread::spawn(move || {
                let out = Command::new(berth_integration_tests::bin("berth"))
                    .args(["-H", &host, "run", "--rm", "busybox", "sh", "-c"])
                    .arg(format!("echo run {i}; exit {}", i % 3))
                    .output()
                    .unwrap();
                (i, out)
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    for h in handles {
        let (i, out) = h.join().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("run {i}\n"),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(i % 3), "exit code of run {i}");
        seen.insert(i);
    }
    assert_eq!(seen.len(), 20);
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "", "--rm left containers");
    assert_eq!(
        mounts_under(&d.dir.path).len(),
        before_mounts,
        "--rm left mounts"
    );
    let bundles: Vec<_> = std::fs::read_dir(d.state.join("containers"))
        .unwrap()
        .collect();
    assert!(bundles.is_empty(), "--rm left bundle dirs");
    // Only this berthd's containers count (other tests run alongside): the
    // ids its event history names.
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let events = d.ok(&["events", "--since", "1", "--until", &until.to_string()]);
    let ours: BTreeSet<String> = events
        .split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() == 64)
        .map(str::to_string)
        .collect();
    assert!(
        ours.len() >= 20,
        "events name {} containers:\n{events}",
        ours.len()
    );
    let left: Vec<String> = cgroups()
        .difference(&before_cgroups)
        .filter(|c| ours.contains(*c))
        .cloned()
        .collect();
    assert!(left.is_empty(), "--rm left cgroups: {left:?}");
}

#[test]
fn runtime_is_chosen_per_container_and_runc_works_too() {
    let f = Fixture::new();
    let d = &f.d;
    for runtime in ["berth", "runc"] {
        let name = format!("bt-rt-{runtime}-{}", std::process::id());
        d.ok(&[
            "run",
            "-d",
            "--runtime",
            runtime,
            "--name",
            &name,
            "--memory",
            "48m",
            "busybox",
            "sleep",
            "1000",
        ]);
        let id = d
            .ok(&["inspect", "--format", "{{.Id}}", &name])
            .trim()
            .to_string();
        let shown = d.ok(&["inspect", "--format", "{{.HostConfig.Runtime}}", &name]);
        assert_eq!(shown.trim(), runtime);
        // The shim drives that runtime binary: its state lives under the runtime's root.
        let cmdline = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .find(|c| c.contains("berth-shim") && c.contains(&id))
            .unwrap_or_else(|| panic!("no shim for {name}"));
        let want = if runtime == "runc" {
            "runc"
        } else {
            "berth-runtime"
        };
        assert!(cmdline.contains(want), "{runtime}: shim runs {cmdline}");
        // The limit is in the container's own cgroup.
        let limit = std::fs::read_to_string(format!(
            "/sys/fs/cgroup/memory/berth/{id}/memory.limit_in_bytes"
        ))
        .unwrap();
        assert_eq!(limit.trim(), (48u64 << 20).to_string());
        let out = d.ok(&["exec", &name, "cat", "/proc/self/cgroup"]);
        assert!(!out.is_empty());
        d.ok(&["rm", "-f", &name]);
        assert!(
            !std::path::Path::new(&format!("/sys/fs/cgroup/memory/berth/{id}")).exists(),
            "{runtime}: cgroup left after rm -f"
        );
    }
    let bad = d.berth(&["run", "--rm", "--runtime", "nosuch", "busybox", "true"]);
    assert_eq!(bad.status.code(), Some(125), "run with an unknown runtime");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("unknown or invalid runtime name: nosuch"),
        "{stderr}"
    );
    assert_eq!(
        d.ok(&["ps", "-aq"]).trim(),
        "",
        "a failed run left a container"
    );
}
