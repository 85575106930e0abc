//! A panic in one of berthd's request handlers costs that request only:
//! the caller gets an internal error naming the method, and the daemon keeps
//! serving other requests and supervising its containers (issue 16: berthd
//! unwinds; only the runtime and the shim abort on a panic).

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::stderr;

#[test]
fn a_panicking_request_is_answered_with_an_internal_error_and_berthd_serves_on() {
    let mut f = Fixture::new();
    let name = f.name("panic");
    f.d.stop();
    f.d.restart_with_env(&[("BERTHD_TEST_PANIC_IN", "/berth.v1.System/Version")]);
    let pid = f.d.pid();
    f.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "300"]);

    for _ in 0..3 {
        let out = f.berth(&["version"]);
        let err = stderr(&out);
        assert!(!out.status.success(), "version succeeded: {err}");
        assert!(
            err.contains("internal error: /berth.v1.System/Version panicked"),
            "{err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    }

    assert!(!f.d.has_exited(), "berthd died of a handler's panic");
    assert_eq!(f.d.pid(), pid);
    let running = f.ok(&["inspect", "--format", "{{.State.Running}}", &name]);
    assert_eq!(running.trim(), "true");
    assert_eq!(
        f.ok(&["exec", &name, "echo", "still supervised"]).trim(),
        "still supervised"
    );
    // Another method of the same service is unaffected.
    f.ok(&["info"]);
    f.ok(&["rm", "-f", &name]);
    let log = std::fs::read_to_string(&f.d.log).unwrap_or_default();
    assert!(
        log.contains("request handler panicked"),
        "not logged:\n{}",
        f.d.log_tail()
    );
}
