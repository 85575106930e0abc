//! How `berth run`/`create`/`exec` read their command line (issue 14 bugs
//! 1 and 7): options end at the image (run, create) or the container
//! (exec), as docker's cobra commands with SetInterspersed(false); an
//! unknown flag before it is docker's usage error (`unknown flag: --nme`,
//! `See 'berth run --help'.`, exit 125) and leaves nothing behind, and
//! `-a`, `--cidfile` and `--label-file` work as docker's.

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::{stderr, stdout};

#[test]
fn an_unknown_flag_before_the_image_is_a_usage_error_and_leaves_nothing() {
    let f = Fixture::new();
    let snapshots = f.snapshot_count();
    for (args, see) in [
        (&["run", "--nme", "x", "busybox", "true"][..], "berth run"),
        (
            &["create", "--nme", "x", "busybox", "true"][..],
            "berth create",
        ),
        (
            &["container", "run", "--rm", "--bogus", "busybox"][..],
            "berth container run",
        ),
        (&["run", "-z", "busybox", "true"][..], "berth run"),
    ] {
        let out = f.berth(args);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", stderr(&out));
        let flag = args
            .iter()
            .find(|a| a.starts_with("--n") || *a == &"--bogus" || *a == &"-z");
        let first = match flag {
            Some(&"-z") => "unknown shorthand flag: 'z' in -z".to_string(),
            Some(flag) => format!("unknown flag: {flag}"),
            None => unreachable!(),
        };
        assert_eq!(
            stderr(&out),
            format!("{first}\nSee '{see} --help'."),
            "{args:?}"
        );
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
    assert!(f.all_names().is_empty(), "{:?}", f.all_names());
    assert_eq!(f.snapshot_count(), snapshots);
}

#[test]
fn flags_after_the_image_are_the_commands() {
    let f = Fixture::new();
    let out = f.berth(&["run", "--rm", "busybox", "echo", "--nme", "-a", "--", "-x"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "--nme -a -- -x");
}

#[test]
fn exec_options_end_at_the_container() {
    let f = Fixture::new();
    let name = f.name("exec");
    f.run_detached(&name, &["sleep", "60"]);
    let out = f.berth(&["exec", "--bogus", &name, "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out),
        "unknown flag: --bogus\nSee 'berth exec --help'."
    );
    let out = f.berth(&["exec", &name, "echo", "--bogus", "-e"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "--bogus -e");
}

#[test]
fn attach_names_the_streams_run_shows() {
    let f = Fixture::new();
    let script = "echo out; echo err >&2";
    let out = f.berth(&["run", "--rm", "-a", "stderr", "busybox", "sh", "-c", script]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "err");
    let out = f.berth(&["run", "--rm", "-a", "STDOUT", "busybox", "sh", "-c", script]);
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), ("out", ""));
    let out = f.berth(&[
        "run", "--rm", "--attach", "stdout", "-a", "stderr", "busybox", "sh", "-c", script,
    ]);
    assert_eq!(
        (stdout(&out).as_str(), stderr(&out).as_str()),
        ("out", "err")
    );

    let name = f.name("attach");
    let out = f.berth(&["run", "--name", &name, "-a", "stdot", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out).lines().next().unwrap(),
        // A flag's value error, printed as docker's (no program prefix).
        "invalid argument \"stdot\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
    );
    let out = f.berth(&[
        "run", "--name", &name, "-d", "-a", "stdout", "busybox", "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out).lines().next().unwrap(),
        "berth: Conflicting options: -a and -d"
    );
    assert!(!f.all_names().contains(&name));
}

#[test]
fn cidfile_gets_the_id_and_an_existing_one_refuses_the_create() {
    let f = Fixture::new();
    let cidfile = f.work.join("cid");
    let name = f.name("cid");
    let id = f.ok(&[
        "create",
        "--cidfile",
        cidfile.to_str().unwrap(),
        "--name",
        &name,
        "busybox",
        "true",
    ]);
    assert_eq!(std::fs::read_to_string(&cidfile).unwrap(), id.trim());

    // The file exists: nothing is created and the file is left alone.
    let other = f.name("cid2");
    let out = f.berth(&[
        "run",
        "--cidfile",
        cidfile.to_str().unwrap(),
        "--name",
        &other,
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out).lines().next().unwrap(),
        format!(
            "berth: Container ID file found, make sure the other container isn't running or delete {}",
            cidfile.display()
        )
    );
    assert!(!f.all_names().contains(&other));
    assert_eq!(std::fs::read_to_string(&cidfile).unwrap(), id.trim());

    // A create that fails removes the file it made.
    let fresh = f.work.join("cid-failed");
    let out = f.berth(&[
        "run",
        "--cidfile",
        fresh.to_str().unwrap(),
        "--name",
        &other,
        "no-such-image-here:v0",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(!fresh.exists());
    assert!(!f.all_names().contains(&other));
}

#[test]
fn label_file_labels_under_the_command_lines() {
    let f = Fixture::new();
    let file = f.work.join("labels");
    std::fs::write(&file, "# a comment\n\na=from-file\nbare\nb=file\n").unwrap();
    let name = f.name("labels");
    f.ok(&[
        "create",
        "--label-file",
        file.to_str().unwrap(),
        "-l",
        "b=flag",
        "--name",
        &name,
        "busybox",
    ]);
    let labels = &f.inspect(&name)["Config"]["Labels"];
    assert_eq!(labels["a"], "from-file");
    assert_eq!(labels["bare"], "");
    assert_eq!(labels["b"], "flag");

    let other = f.name("labels2");
    let out = f.berth(&[
        "create",
        "--label-file",
        "/nonexistent/labels",
        "--name",
        &other,
        "busybox",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out).lines().next().unwrap(),
        "berth: open /nonexistent/labels: no such file or directory"
    );
    assert!(!f.all_names().contains(&other));
}
