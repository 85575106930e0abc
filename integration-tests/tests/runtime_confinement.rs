//! Confinement seen from inside a container: seccomp profiles (podman's
//! default, which is Docker's format, and a hand-written one) and a rootless
//! container run by an unprivileged user.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use berth_integration_tests::runtime::{container_id, Runtime};
use berth_integration_tests::{bin, require_root, Bundle, TestDir};
use serde_json::json;

fn run_with(edit: impl FnOnce(&mut serde_json::Value), script: &str) -> (i32, String, String) {
    let rt = Runtime::berth();
    let dir = TestDir::new("conf");
    let mut b = Bundle::new(&dir.join("b"), &["sh", "-c", script]);
    edit(&mut b.spec);
    b.save();
    rt.run_bundle(&b.dir, &container_id("conf"))
}

#[test]
fn podman_default_seccomp_profile_loads_and_confines() {
    require_root();
    let profile: serde_json::Value = serde_json::from_slice(
        &std::fs::read("/usr/share/containers/seccomp.json")
            .expect("/usr/share/containers/seccomp.json (install podman / containers-common)"),
    )
    .unwrap();
    let (code, out, err) = run_with(
        |s| s["linux"]["seccomp"] = profile,
        "grep Seccomp: /proc/self/status; echo hi > /tmp/x 2>&1; ls / >/dev/null && echo ls-ok; \
         hostname other 2>&1 | grep -c 'not permitted'",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["Seccomp:", "2"]
    );
    assert_eq!(lines[1], "ls-ok");
    assert_eq!(lines[2], "1", "sethostname must be refused: {out}");
}

#[test]
fn a_custom_profile_denies_with_its_errno_and_kills() {
    require_root();
    let (code, out, err) = run_with(
        |s| {
            s["root"]["readonly"] = json!(false);
            s["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [
                    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                    {"names": ["chmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO"}
                ]
            });
        },
        "mkdir /newdir 2>&1 | sed 's/.*: //'; chmod 700 /tmp 2>&1 | sed 's/.*: //'; echo alive",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["Permission denied", "Operation not permitted", "alive"]
    );
    // SCMP_ACT_KILL_PROCESS: the process dies of SIGSYS, `run` reports 128+31.
    let (code, _, _) = run_with(
        |s| {
            s["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]})
        },
        "exec cat /proc/self/status > /dev/null; exec sh -c 'echo $PPID'",
    );
    assert_eq!(code, 128 + libc::SIGSYS);
    // Notify without a listenerPath: runc's error at create (the agent
    // protocol itself is tested in runtime_seccomp_notify.rs).
    let (code, _, err) = run_with(
        |s| {
            s["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]})
        },
        "true",
    );
    assert_eq!(code, 1);
    assert!(err.contains("listenerPath is not set"), "{err}");
}

#[test]
fn rootless_container_run_by_an_unprivileged_user() {
    require_root();
    let dir = TestDir::new("rootless");
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let b = Bundle::new(&dir.join("b"), &["true"]);
    std::fs::remove_file(b.dir.join("config.json")).unwrap();
    let chown = Command::new("chown")
        .args(["-R", "65534:65534", dir.path.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(chown.success());
    let runtime = bin("berth-runtime");
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(&runtime)
            .args(args)
            .current_dir(&b.dir)
            .output()
            .unwrap()
    };
    let out = as_nobody(&["spec", "--rootless"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.dir.join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(["sh", "-c", "id -u; cat /proc/self/uid_map; echo $$"]);
    std::fs::write(b.dir.join("config.json"), spec.to_string()).unwrap();
    let state = dir.join("state");
    let out = as_nobody(&[
        "--root",
        state.to_str().unwrap(),
        "run",
        &container_id("rootless"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, ["0", "0 65534 1", "1"]);
}
