//! Commands over many containers (`rm -f`, `stop`, `kill`, `pause`,
//! `unpause`): berth sends their requests concurrently, as docker's
//! `parallelOperation` does, and must still report like docker: one line
//! per container in the order the user named them, docker's error for a
//! name that does not exist, exit 1 if any failed, and the others done.

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::{stderr, stdout};

#[test]
fn bulk_commands_report_in_the_order_given_and_do_the_rest() {
    let f = Fixture::new();
    let names: Vec<String> = (0..6).map(|i| f.name(&format!("bulk{i}"))).collect();
    for n in &names {
        f.run_detached(n, &["sleep", "1000"]);
    }
    // A name in the middle that does not exist.
    let missing = f.name("bulk-missing");
    let mut args: Vec<&str> = names[..3].iter().map(String::as_str).collect();
    args.push(&missing);
    args.extend(names[3..].iter().map(String::as_str));

    for cmd in [&["pause"][..], &["unpause"], &["kill", "-s", "CONT"]] {
        let mut argv = cmd.to_vec();
        argv.extend(&args);
        let out = f.berth(&argv);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {}", stderr(&out));
        assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), names, "{cmd:?}");
        assert!(
            stderr(&out).contains(&format!("No such container: {missing}")),
            "{cmd:?}: {}",
            stderr(&out)
        );
    }
    let mut argv = vec!["stop", "-t", "0"];
    argv.extend(&args[..4]);
    let out = f.berth(&argv);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), names[..3]);
    let running = f.berth(&["ps", "-q"]);
    assert_eq!(
        stdout(&running).lines().count(),
        3,
        "stop left the other three"
    );

    let mut argv = vec!["rm", "-f"];
    argv.extend(&args);
    let out = f.berth(&argv);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), names);
    assert!(
        stderr(&out).contains(&format!("No such container: {missing}")),
        "{}",
        stderr(&out)
    );
    assert!(f.all_names().is_empty(), "{:?}", f.all_names());
}
