//! Volumes end to end: `berth volume ...`, `-v NAME:/path`, `-v /path`,
//! `--mount type=volume` and image `VOLUME`s, against a private berthd with
//! real containers. Each test checks what the user sees (output, exit codes)
//! and what is left on the host (volume directories and records).

use berth_integration_tests::containers::{mounts_under, Fixture};
use berth_integration_tests::volumes::{
    import_volume_image, volume_dirs, volume_names, volumes_dir,
};
use berth_integration_tests::{stderr, stdout};

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

/// The volume events berthd remembers, one docker line each.
fn volume_events(f: &Fixture) -> String {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    f.ok(&[
        "events",
        // 0 would mean "from now".
        "--since",
        "1",
        "--until",
        &until.to_string(),
        "--filter",
        "type=volume",
    ])
}

#[test]
fn named_volume_data_survives_container_removal() {
    let f = Fixture::new();
    let vol = f.name("data");
    let spec = format!("{vol}:/data");
    let writer = f.name("writer");
    // Created on first use.
    f.ok(&[
        "run",
        "--name",
        &writer,
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(volume_names(&f), vec![vol.clone()]);
    f.ok(&["rm", &writer]);
    // The data is in docker's layout on the host, and a new container sees it.
    let on_host = volumes_dir(&f).join(&vol).join("_data/f");
    assert_eq!(std::fs::read_to_string(&on_host).unwrap(), "kept\n");
    let out = f.ok(&["run", "--rm", "-v", &spec, "busybox", "cat", "/data/f"]);
    assert_eq!(out.trim(), "kept");
    // `--mount type=volume` reaches the same volume; readonly is enforced.
    let mount = format!("type=volume,source={vol},target=/m,readonly");
    let out = f.berth(&[
        "run",
        "--rm",
        "--mount",
        &mount,
        "busybox",
        "sh",
        "-c",
        "cat /m/f; echo x > /m/g",
    ]);
    assert_ne!(code(&out), Some(0));
    assert!(stdout(&out).contains("kept"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    // A named volume outlives `rm -v` and `run --rm`; removed by volume rm.
    assert_eq!(volume_names(&f), vec![vol.clone()]);
    assert_eq!(f.ok(&["volume", "rm", &vol]).trim(), vol);
    assert!(volume_dirs(&f).is_empty(), "{:?}", volume_dirs(&f));
    assert!(volume_names(&f).is_empty());
}

#[test]
fn first_mount_copies_image_content_and_later_mounts_keep_changes() {
    let f = Fixture::new();
    let vol = f.name("etc");
    let spec = format!("{vol}:/etc");
    // The busybox image's /etc (passwd, group) is copied into the empty volume.
    let out = f.ok(&["run", "--rm", "-v", &spec, "busybox", "cat", "/etc/passwd"]);
    assert!(out.starts_with("root:x:0:0:"), "{out}");
    let data = volumes_dir(&f).join(&vol).join("_data");
    assert!(data.join("group").is_file());
    // A change made through one container is what the next one sees: no
    // second copy over it.
    f.ok(&[
        "run",
        "--rm",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo changed > /etc/passwd",
    ]);
    let out = f.ok(&["run", "--rm", "-v", &spec, "busybox", "cat", "/etc/passwd"]);
    assert_eq!(out.trim(), "changed");
    // berthd's hostname file is mounted over the volume, not hidden by it.
    let out = f.ok(&[
        "run",
        "--rm",
        "--hostname",
        "bt-etc-vol",
        "-v",
        &spec,
        "busybox",
        "cat",
        "/etc/hostname",
    ]);
    assert_eq!(out.trim(), "bt-etc-vol");
    // nocopy: an empty volume stays empty.
    let empty = f.name("nocopy");
    let out = f.ok(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=volume,source={empty},target=/bin2,volume-nocopy"),
        "-v",
        &format!("{empty}x:/root:nocopy"),
        "busybox",
        "ls",
        "-A",
        "/bin2",
        "/root",
    ]);
    assert!(!out.contains("busybox"), "{out}");
    assert_eq!(
        std::fs::read_dir(volumes_dir(&f).join(&empty).join("_data"))
            .unwrap()
            .count(),
        0
    );
    // Volume inspect: docker's object.
    let v: serde_json::Value = serde_json::from_str(&f.ok(&["volume", "inspect", &vol])).unwrap();
    let v = &v[0];
    assert_eq!(v["Name"], vol.as_str());
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Mountpoint"], data.to_str().unwrap());
    assert!(v["CreatedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        f.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", &vol])
            .trim(),
        data.to_str().unwrap()
    );
    // `berth inspect` finds volumes too (after containers and images).
    assert_eq!(
        f.ok(&[
            "inspect",
            "--type",
            "volume",
            "-f",
            "{{.Name}} {{.Scope}}",
            &vol
        ])
        .trim(),
        format!("{vol} local")
    );
    assert_eq!(
        f.ok(&["inspect", "-f", "{{.Driver}}", &vol]).trim(),
        "local"
    );
}

#[test]
fn image_volumes_are_anonymous_and_go_with_rm_v_and_run_rm() {
    let f = Fixture::new();
    let image = format!("{}:v", f.name("volimg"));
    import_volume_image(&f, &image);
    // Populated from the image.
    let a = f.name("a");
    let out = f.ok(&["run", "--name", &a, &image, "cat", "/data/seed"]);
    assert_eq!(out.trim(), "seed");
    let names = volume_names(&f);
    assert_eq!(names.len(), 1, "{names:?}");
    let anon = names[0].clone();
    assert_eq!(anon.len(), 64);
    assert!(anon.chars().all(|c| c.is_ascii_hexdigit()));
    // inspect Mounts lists it as docker does.
    let mounts = f.inspect(&a)["Mounts"].clone();
    let m = mounts
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/data")
        .unwrap_or_else(|| panic!("no /data in {mounts}"));
    assert_eq!(m["Type"], "volume");
    assert_eq!(m["Name"], anon.as_str());
    assert_eq!(m["Driver"], "local");
    assert_eq!(m["RW"], true);
    assert!(m["Source"]
        .as_str()
        .unwrap()
        .ends_with(&format!("{anon}/_data")));
    // ps --filter volume=NAME|/path finds the container.
    for v in [anon.as_str(), "/data"] {
        let out = f.ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("volume={v}"),
            "--format",
            "{{.Names}}",
        ]);
        assert_eq!(out.trim(), a, "volume={v}");
    }
    let out = f.ok(&["ps", "-a", "--filter", "volume=/nope", "-q"]);
    assert!(out.trim().is_empty(), "{out}");
    // Plain rm keeps the anonymous volume.
    f.ok(&["rm", &a]);
    assert_eq!(volume_names(&f), vec![anon.clone()]);
    // rm -v removes the container's anonymous volumes, not named ones.
    let b = f.name("b");
    let named = f.name("named");
    f.ok(&[
        "run",
        "--name",
        &b,
        "-v",
        &format!("{named}:/n"),
        "-v",
        "/anon2",
        &image,
        "true",
    ]);
    assert_eq!(volume_names(&f).len(), 4, "{:?}", volume_names(&f));
    f.ok(&["rm", "-v", &b]);
    let mut want = vec![anon.clone(), named.clone()];
    want.sort();
    assert_eq!(volume_names(&f), want);
    assert_eq!(volume_dirs(&f), want);
    // A user mount at the image's VOLUME path replaces the anonymous one
    // (no new volume), and is filled from the image as it is still empty.
    let out = f.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{named}:/data"),
        &image,
        "ls",
        "/data",
    ]);
    assert_eq!(out.trim(), "seed");
    assert_eq!(volume_names(&f), want);
    // run --rm removes its anonymous volumes.
    let out = f.ok(&["run", "--rm", &image, "cat", "/data/seed"]);
    assert_eq!(out.trim(), "seed");
    assert_eq!(volume_names(&f), want);
    assert_eq!(volume_dirs(&f), want);
}

#[test]
fn a_volume_in_use_cannot_be_removed() {
    let f = Fixture::new();
    let vol = f.name("busy");
    let c = f.name("user");
    let id = f.ok(&[
        "run",
        "-d",
        "--name",
        &c,
        "-v",
        &format!("{vol}:/d"),
        "busybox",
        "sleep",
        "60",
    ]);
    let expect_in_use = |f: &Fixture, id: &str| {
        let out = f.berth(&["volume", "rm", &vol]);
        assert_eq!(code(&out), Some(1));
        assert_eq!(
            stderr(&out).trim(),
            format!("Error response from daemon: remove {vol}: volume is in use - [{id}]")
        );
        // -f does not override it (docker's); prune leaves it.
        assert_eq!(code(&f.berth(&["volume", "rm", "-f", &vol])), Some(1));
        f.ok(&["volume", "prune", "-f", "-a"]);
        assert_eq!(volume_names(f), vec![vol.clone()]);
        assert!(volumes_dir(f).join(&vol).join("_data").is_dir());
    };
    // Running, then stopped: in use either way.
    expect_in_use(&f, &id);
    f.ok(&["rm", "-f", &c]);
    let id = f.ok(&[
        "create",
        "--name",
        &c,
        "-v",
        &format!("{vol}:/d"),
        "busybox",
        "true",
    ]);
    expect_in_use(&f, &id);
    f.ok(&["rm", &c]);
    f.ok(&["volume", "rm", &vol]);
    assert!(volume_dirs(&f).is_empty());
}

#[test]
fn volume_commands_create_ls_inspect_rm_prune() {
    let f = Fixture::new();
    let a = f.name("a");
    let b = f.name("b");
    assert_eq!(f.ok(&["volume", "create", &a]).trim(), a);
    // Idempotent, as docker's.
    assert_eq!(f.ok(&["volume", "create", &a]).trim(), a);
    assert_eq!(
        f.ok(&["volume", "create", "--name", &b, "--label", "env=prod", "-d", "local"])
            .trim(),
        b
    );
    let random = f.ok(&["volume", "create"]).trim().to_string();
    assert_eq!(random.len(), 64);
    // ls: docker's table, -q, filters, --format.
    let table = f.ok(&["volume", "ls"]);
    let mut lines = table.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["DRIVER", "VOLUME", "NAME"]
    );
    assert_eq!(lines.count(), 3);
    let q = |filter: &str| {
        f.ok(&["volume", "ls", "-q", "--filter", filter])
            .trim()
            .to_string()
    };
    assert_eq!(q("label=env=prod"), b);
    assert_eq!(q(&format!("name={a}")), a);
    assert_eq!(q("driver=local").lines().count(), 3);
    let out = f.ok(&[
        "volume",
        "ls",
        "--format",
        "{{.Name}} {{.Labels}}",
        "--filter",
        "label=env",
    ]);
    assert_eq!(out.trim(), format!("{b} env=prod"));
    let out = f.berth(&["volume", "ls", "--filter", "nope=1"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("invalid filter 'nope'"),
        "{}",
        stderr(&out)
    );
    // dangling: a is used by a container, the others are not.
    let c = f.name("c");
    f.ok(&[
        "create",
        "--name",
        &c,
        "-v",
        &format!("{a}:/x"),
        "-v",
        "/anon",
        "busybox",
        "true",
    ]);
    let dangling = q("dangling=true");
    assert!(
        !dangling.contains(&a) && dangling.contains(&b),
        "{dangling}"
    );
    assert!(q("dangling=false").contains(&a));
    // inspect: several, with a missing one (exit 1, others printed).
    let out = f.berth(&["volume", "inspect", &a, "bt-nosuch", &b]);
    assert_eq!(code(&out), Some(1));
    assert!(stderr(&out).contains("Error: No such volume: bt-nosuch"));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["Labels"]["env"], "prod");
    // rm: several; a missing one is an error unless -f.
    let out = f.berth(&["volume", "rm", "bt-nosuch"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("Error: No such volume: bt-nosuch"),
        "{}",
        stderr(&out)
    );
    f.ok(&["volume", "rm", "-f", "bt-nosuch", &random]);
    // prune (docker 23+): unused anonymous volumes only; -a: named too.
    f.ok(&["rm", &c]);
    let anon: Vec<String> = volume_names(&f)
        .into_iter()
        .filter(|n| n.len() == 64)
        .collect();
    assert_eq!(anon.len(), 1, "{:?}", volume_names(&f));
    std::fs::write(
        volumes_dir(&f).join(&anon[0]).join("_data/blob"),
        vec![7u8; 64 * 1024],
    )
    .unwrap();
    let out = f.ok(&["volume", "prune", "-f"]);
    assert!(out.starts_with("Deleted Volumes:\n"), "{out}");
    assert!(out.contains(&anon[0]), "{out}");
    assert!(!out.contains(&a) && !out.contains(&b), "{out}");
    assert!(out.contains("Total reclaimed space: 65.54kB"), "{out}");
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(volume_names(&f), want);
    // Label filters narrow prune; -a takes named ones.
    let out = f.ok(&["volume", "prune", "-f", "-a", "--filter", "label=env=prod"]);
    assert!(out.contains(&b) && !out.contains(&a), "{out}");
    // Without -f and nothing confirmed on stdin: nothing removed.
    let _ = f.berth(&["volume", "prune", "-a"]);
    assert_eq!(volume_names(&f), vec![a.clone()]);
    let out = f.ok(&["volume", "prune", "-f", "-a"]);
    assert!(out.contains(&a), "{out}");
    assert_eq!(
        f.ok(&["volume", "prune", "-f"]).trim(),
        "Total reclaimed space: 0B"
    );
    assert!(volume_dirs(&f).is_empty(), "{:?}", volume_dirs(&f));
    // Events: create and destroy (mount and unmount: the tmpfs test).
    let events = volume_events(&f);
    for action in ["create", "destroy"] {
        assert!(
            events.contains(&format!("volume {action} {a}")),
            "{action}:\n{events}"
        );
    }
}

#[test]
fn mount_backed_tmpfs_volume_is_mounted_while_used() {
    let f = Fixture::new();
    let vol = f.name("tmpfs");
    f.ok(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=8m,nosuid",
        &vol,
    ]);
    let v: serde_json::Value = serde_json::from_str(&f.ok(&["volume", "inspect", &vol])).unwrap();
    assert_eq!(v[0]["Options"]["type"], "tmpfs");
    let data = volumes_dir(&f).join(&vol).join("_data");
    assert!(mounts_under(&data).is_empty(), "mounted before first use");
    let c = f.name("t");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &c,
        "-v",
        &format!("{vol}:/t"),
        "busybox",
        "sleep",
        "60",
    ]);
    let out = f.ok(&[
        "exec",
        &c,
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts; df -k /t | tail -1",
    ]);
    assert!(out.contains("tmpfs /t tmpfs"), "{out}");
    assert!(out.contains(" 8192 "), "8 MiB: {out}");
    assert_eq!(mounts_under(&data).len(), 1, "{:?}", mounts_under(&data));
    // Unmounted once no running container uses it.
    f.ok(&["stop", "-t", "1", &c]);
    f.eventually(10, "unmount of the tmpfs volume", || {
        mounts_under(&data).is_empty()
    });
    f.ok(&["rm", &c]);
    f.ok(&["volume", "rm", &vol]);
    assert!(volume_dirs(&f).is_empty());
    // --mount volume-opt/volume-label: the options of a volume it creates.
    let vol2 = f.name("tmpfs2");
    let spec = format!(
        "type=volume,source={vol2},target=/t,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=4m,volume-label=k=v"
    );
    let out = f.ok(&["run", "--rm", "--mount", &spec, "busybox", "df", "-k", "/t"]);
    assert!(out.contains(" 4096 "), "4 MiB tmpfs: {out}");
    let v: serde_json::Value = serde_json::from_str(&f.ok(&["volume", "inspect", &vol2])).unwrap();
    assert_eq!(v[0]["Options"]["o"], "size=4m");
    assert_eq!(v[0]["Labels"]["k"], "v");
    assert!(mounts_under(&volumes_dir(&f).join(&vol2)).is_empty());
    f.ok(&["volume", "rm", &vol2]);
    let events = volume_events(&f);
    for action in ["create", "mount", "unmount", "destroy"] {
        assert!(
            events.contains(&format!("volume {action} {vol}")),
            "{action}:\n{events}"
        );
    }
}

#[test]
fn bad_input_is_named_and_leaves_nothing() {
    let f = Fixture::new();
    let usage = |args: &[&str], want: &str| {
        let out = f.berth(args);
        assert_eq!(code(&out), Some(125), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    };
    // A relative path is not a volume name.
    usage(
        &["run", "--rm", "-v", "a/b:/x", "busybox", "true"],
        "\"a/b\" includes invalid characters for a local volume name",
    );
    usage(
        &[
            "run",
            "--rm",
            "--mount",
            "type=volume,source=v1",
            "busybox",
            "true",
        ],
        "field Target must not be empty",
    );
    usage(
        &["run", "--rm", "-v", "v1:/x:rshared", "busybox", "true"],
        "invalid mode: rshared",
    );
    usage(
        &[
            "run", "--rm", "-v", "v1:/d", "-v", "v2:/d", "busybox", "true",
        ],
        "Duplicate mount point: /d",
    );
    usage(
        &[
            "run",
            "--rm",
            "--mount",
            "source=v7,target=/d,volume-opt=foo=1",
            "busybox",
            "true",
        ],
        "invalid option key: \"foo\"",
    );
    // A create that fails after its volumes were made removes them again.
    usage(
        &[
            "run",
            "--rm",
            "-v",
            "v3:/d",
            "-v",
            "/anon",
            "-u",
            "bt-nosuchuser",
            "busybox",
            "true",
        ],
        "unable to find user bt-nosuchuser",
    );
    let fails = |args: &[&str], want: &str| {
        let out = f.berth(args);
        assert_eq!(code(&out), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    };
    fails(
        &["volume", "create", "bad/name"],
        "create bad/name: \"bad/name\" includes invalid characters for a local volume name",
    );
    fails(
        &["volume", "create", "--opt", "foo=1", "v4"],
        "invalid option key: \"foo\"",
    );
    fails(
        &["volume", "create", "--opt", "type=tmpfs", "v5"],
        "must be given together",
    );
    fails(
        &["volume", "create", "-d", "nfs", "v6"],
        "plugin \"nfs\" not found",
    );
    fails(&["volume", "inspect", "v1"], "No such volume: v1");
    let out = f.berth(&["volume", "create", "--opt", "novalue"]);
    assert_eq!(code(&out), Some(125), "{}", stderr(&out));
    // Nothing half-made: no volume record or directory, no container.
    assert!(volume_names(&f).is_empty(), "{:?}", volume_names(&f));
    assert!(volume_dirs(&f).is_empty(), "{:?}", volume_dirs(&f));
    assert!(f.all_names().is_empty(), "{:?}", f.all_names());
    assert!(
        f.mounts_under_berthd().is_empty(),
        "{:?}",
        f.mounts_under_berthd()
    );
}

#[test]
fn system_prune_volumes_takes_unused_anonymous_volumes() {
    let f = Fixture::new();
    let named = f.name("keep");
    f.ok(&["volume", "create", &named]);
    let c1 = f.name("c");
    f.ok(&["create", "--name", &c1, "-v", "/anon", "busybox", "true"]);
    f.ok(&["rm", &c1]);
    let c2 = f.name("c");
    f.ok(&["create", "--name", &c2, "-v", "/anon2", "busybox", "true"]);
    assert_eq!(volume_names(&f).len(), 3);
    // The stopped container goes first, then every unused anonymous
    // volume (its own included); named volumes stay.
    let out = f.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(out.contains("Deleted Volumes:"), "{out}");
    assert_eq!(volume_names(&f), vec![named.clone()]);
    assert_eq!(volume_dirs(&f), vec![named]);
}

#[test]
fn volumes_and_their_users_survive_a_berthd_crash() {
    let mut f = Fixture::new();
    let vol = f.name("durable");
    let c = f.name("c");
    let id = f.ok(&[
        "run",
        "-d",
        "--name",
        &c,
        "-v",
        &format!("{vol}:/d"),
        "-v",
        "/anon",
        "busybox",
        "sh",
        "-c",
        "echo before > /d/f; sleep 60",
    ]);
    f.eventually(10, "the write to the volume", || {
        volumes_dir(&f).join(&vol).join("_data/f").exists()
    });
    let before = volume_names(&f);
    assert_eq!(before.len(), 2);
    f.d.kill9();
    f.d.restart();
    // Records and data are back; the running container still holds both.
    assert_eq!(volume_names(&f), before);
    let out = f.berth(&["volume", "rm", &vol]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains(&format!("volume is in use - [{id}]")),
        "{}",
        stderr(&out)
    );
    let out = f.ok(&["exec", &c, "cat", "/d/f"]);
    assert_eq!(out.trim(), "before");
    // rm -fv after the restart still takes the anonymous volume only.
    f.ok(&["rm", "-fv", &c]);
    assert_eq!(volume_names(&f), vec![vol.clone()]);
}

#[test]
fn a_volume_that_cannot_be_mounted_fails_the_create_cleanly() {
    let f = Fixture::new();
    let vol = f.name("badfs");
    // Accepted at create (docker checks the options, not the mount) ...
    f.ok(&[
        "volume",
        "create",
        "--opt",
        "type=bt-no-such-fs",
        "--opt",
        "device=none",
        &vol,
    ]);
    // ... and the first use fails with the mount error, nothing left.
    let out = f.berth(&["run", "--rm", "-v", &format!("{vol}:/d"), "busybox", "true"]);
    assert_eq!(code(&out), Some(125), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("volume {vol}:")), "{err}");
    assert!(err.contains("bt-no-such-fs"), "{err}");
    assert!(f.all_names().is_empty(), "{:?}", f.all_names());
    assert!(
        f.mounts_under_berthd().is_empty(),
        "{:?}",
        f.mounts_under_berthd()
    );
    f.ok(&["volume", "rm", &vol]);
    assert!(volume_dirs(&f).is_empty());
}
