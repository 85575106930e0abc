//! berthd's start-up refusals, as an admin meets them: a daemon.json with an
//! unknown key or a value of the wrong type, and a second berthd on a root
//! or state dir that one already uses. Each is one line on stderr naming
//! what was wrong, exit 1, and nothing touched.

use berth_integration_tests::berthd::Berthd;
use berth_integration_tests::{bin, require_root, stderr, TestDir};
use std::path::Path;
use std::process::{Command, Output};

/// Runs berthd in the foreground with these paths; it must exit at once.
fn berthd(root: &Path, state: &Path, socket: &Path, config: &Path) -> Output {
    Command::new(bin("berthd"))
        .arg("--root")
        .arg(root)
        .arg("--state")
        .arg(state)
        .arg("--address")
        .arg(socket)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run berthd")
}

#[test]
fn a_bad_daemon_json_is_refused_with_the_file_and_the_key() {
    require_root();
    let dir = TestDir::new("bdjson");
    let config = dir.join("daemon.json");
    let cases = [
        (
            r#"{"insecure-registries": "r:5000"}"#,
            r#"key "insecure-registries": invalid type: string "r:5000", expected a sequence"#,
        ),
        (
            r#"{"runtimes": {"crun": {"path": 7}}}"#,
            r#"key "runtimes.crun.path": invalid type: integer `7`"#,
        ),
        (
            r#"{"bridge": "b0", "snapshoter": "native"}"#,
            "unknown field `snapshoter`, expected one of",
        ),
        (r#"{"log-level": "info",}"#, "trailing comma at line 1"),
    ];
    for (text, want) in cases {
        std::fs::write(&config, text).unwrap();
        let root = dir.join("root");
        let out = berthd(&root, &dir.join("state"), &dir.join("b.sock"), &config);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{text}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        let prefix = format!("berthd: config {}: ", config.display());
        assert!(err.starts_with(&prefix), "{text}: {err}");
        assert!(err.contains(want), "{text}: got {err}, want {want}");
        assert!(!root.exists(), "{text}: the root was created");
        assert!(!dir.join("b.sock").exists(), "{text}: a socket was made");
    }
}

#[test]
fn a_second_berthd_on_the_same_root_or_state_is_refused() {
    require_root();
    let first = Berthd::start();
    // A file the first berthd's start-up would clean out of its tmp/ were
    // a second one allowed to open the root.
    let marker = first.root.join("tmp").join("bt-marker");
    std::fs::write(&marker, "x").unwrap();
    let dir = TestDir::new("bdsecond");
    std::fs::write(dir.join("daemon.json"), "{}").unwrap();
    for (root, state, what) in [
        (first.root.clone(), dir.join("state"), &first.root),
        (dir.join("root"), first.state.clone(), &first.state),
    ] {
        let out = berthd(&root, &state, &dir.join("b.sock"), &dir.join("daemon.json"));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        let want = format!(
            "berthd: another berthd (pid {}) is already using {}",
            first.pid(),
            what.display()
        );
        assert_eq!(err.trim_end(), want);
        assert!(
            !dir.join("b.sock").exists(),
            "the second berthd made a socket"
        );
    }
    assert!(
        marker.exists(),
        "the second berthd cleaned the first one's tmp/"
    );
    // The first one still serves.
    first.ok(&["version"]);
}
