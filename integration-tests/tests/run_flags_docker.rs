//! The run/create flags of issue 14 side by side with docker 20.10 (a
//! private dockerd, Debian's docker.io, with runc): the same command lines
//! must give the same exit code and, with `docker` read as `berth`, the
//! same message (the daemon's "Error response from daemon: " prefix and
//! docker's closing full stop aside, which are the CLI's business) and the
//! same warnings.

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::engines::{Dockerd, Runtime, IMAGE};
use berth_integration_tests::stderr;

/// The lines a user reads, with docker's name, the daemon prefix and
/// trailing full stops taken out.
fn normalized(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            l.replace("docker", "berth")
                .replace("Error response from daemon: ", "")
                .trim_end_matches('.')
                .to_string()
        })
        .filter(|l| !l.is_empty())
        // docker adds "See 'docker run --help'" to errors of its create
        // and not to those of its start; berth checks at create some of
        // what docker finds only at start (devices), so the hint line is
        // left out of the comparison.
        .filter(|l| !(l.starts_with("See '") && l.ends_with(" --help'")))
        // The docker CLI's own log lines (`time="..." level=error msg="error
        // waiting for container: context canceled"` after a failed start).
        .filter(|l| !l.starts_with("time=\""))
        .collect()
}

#[test]
fn flag_errors_and_warnings_match_docker() {
    let f = Fixture::new();
    let dockerd = Dockerd::new(Runtime::Runc);
    let block = std::fs::read_dir("/sys/block")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|n| n.starts_with("vd") || n.starts_with("sd") || n.starts_with("nvme"))
        .map(|n| format!("/dev/{n}"))
        .expect("a block device");
    let bps = format!("{block}:fast");
    let cases: Vec<Vec<&str>> = vec![
        vec!["--nme", "x"],
        vec!["-z"],
        vec!["-a", "stdot"],
        vec!["--cpu-period", "10"],
        vec!["--cpus", "1", "--cpu-quota", "5000"],
        vec!["--cpu-quota", "500"],
        vec!["--memory-swappiness", "101"],
        vec!["-m", "16m", "--memory-reservation", "32m"],
        vec!["--memory-reservation", "1m"],
        vec!["--oom-score-adj", "1001"],
        vec!["--device-read-bps", &bps],
        vec!["--device-write-iops", "vda:1"],
        vec!["--blkio-weight-device", "/dev/null:5"],
        vec!["--device", "/etc/passwd"],
        vec!["--device", "/dev/null:/x:rwz"],
        vec!["--device-cgroup-rule", "c 1:3"],
        vec!["--pid", "bogus"],
        vec!["--ipc", "bogus"],
        vec!["--uts", "bogus"],
        vec!["--uts", "host", "-h", "x"],
        vec!["--cpuset-cpus", "64"],
        vec!["--cpu-rt-period", "1000", "--cpu-rt-runtime", "2000"],
        vec!["--storage-opt", "size=1G"],
        // Accepted with docker's warnings on this kernel.
        vec!["--kernel-memory", "8m"],
        vec!["--blkio-weight", "300"],
        vec!["--oom-kill-disable"],
    ];
    for flags in &cases {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[IMAGE, "true"]);
        let docker = dockerd.docker(&args);
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "true"]);
        let berth = f.berth(&args);
        let (want, got) = (normalized(&docker.stderr()), normalized(&stderr(&berth)));
        assert_eq!(
            berth.status.code(),
            Some(docker.code()),
            "{flags:?}: exit codes\ndocker: {want:?}\nberth:  {got:?}"
        );
        assert_eq!(got, want, "{flags:?}: messages");
    }
    assert!(f.all_names().is_empty(), "{:?}", f.all_names());
}

/// A command line run by one engine: its exit code, stdout and stderr.
type Run<'a> = Box<dyn Fn(&[&str]) -> (i32, String, String) + 'a>;

/// The same command lines run against the private dockerd and berthd.
fn engines<'a>(f: &'a Fixture, dockerd: &'a Dockerd) -> (Run<'a>, Run<'a>) {
    let docker: Run = Box::new(move |args: &[&str]| {
        let r = dockerd.docker(args);
        (r.code(), r.stdout(), r.stderr())
    });
    let berth: Run = Box::new(move |args: &[&str]| {
        let o = f.berth(args);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        (o.status.code().unwrap_or(-1), out, stderr(&o))
    });
    (docker, berth)
}

/// `--pid container:NAME` and `--ipc container:NAME` on both engines: the
/// joiner sees the donor's processes and /dev/shm and is in its
/// namespaces; the refusals (no such donor, a stopped one, a donor whose
/// IPC is not shareable) read and exit as docker's.
#[test]
fn pid_and_ipc_join_another_container_like_docker() {
    let f = Fixture::new();
    let dockerd = Dockerd::new(Runtime::Runc);
    let donor = f.name("donor");
    let private = f.name("private");
    let stopped = f.name("stopped");
    let nosuch = f.name("nosuch");
    let (docker, berth) = engines(&f, &dockerd);
    let mut refusals = Vec::new();
    for (engine, image, run) in [("docker", IMAGE, &docker), ("berth", "busybox", &berth)] {
        let ok = |args: &[&str]| {
            let (code, out, err) = run(args);
            assert_eq!(code, 0, "{engine} {args:?}: {err}");
            out
        };
        let sleeper = |name: &str, ipc: &str| {
            ok(&[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "none",
                "--ipc",
                ipc,
                image,
                "sleep",
                "1000",
            ])
        };
        sleeper(&donor, "shareable");
        let private_id = sleeper(&private, "private");
        let stopped_id = ok(&[
            "create",
            "--name",
            &stopped,
            "--network",
            "none",
            image,
            "true",
        ]);
        ok(&["exec", &donor, "sh", "-c", "echo shared > /dev/shm/note"]);
        let donor_ns = ok(&[
            "exec",
            &donor,
            "sh",
            "-c",
            "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc",
        ]);

        let pid_join = format!("container:{donor}");
        let seen = ok(&[
            "run", "--rm", "--network", "none", "--pid", &pid_join, "--ipc", &pid_join, image,
            "sh", "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /dev/shm/note; readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc",
        ]);
        assert_eq!(
            seen.trim_end(),
            format!("sleep 1000 \nshared\n{}", donor_ns.trim_end()),
            "{engine}: the joiner's view"
        );
        // What the joiner writes to /dev/shm, the donor sees.
        ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--ipc",
            &pid_join,
            image,
            "sh",
            "-c",
            "echo back > /dev/shm/reply",
        ]);
        assert_eq!(
            ok(&["exec", &donor, "cat", "/dev/shm/reply"]).trim_end(),
            "back"
        );

        let mut outcomes = Vec::new();
        for mode in [
            ["--pid", &format!("container:{nosuch}")],
            ["--ipc", &format!("container:{nosuch}")],
            ["--pid", &format!("container:{stopped}")],
            ["--ipc", &format!("container:{stopped}")],
            ["--ipc", &format!("container:{private}")],
        ] {
            let (code, _, err) = run(&[
                "run",
                "--rm",
                "--network",
                "none",
                mode[0],
                mode[1],
                image,
                "true",
            ]);
            let said: Vec<String> = normalized(&err)
                .into_iter()
                .map(|l| {
                    l.replace(stopped_id.trim(), "STOPPED")
                        .replace(private_id.trim(), "PRIVATE")
                })
                .collect();
            outcomes.push((mode[0].to_string(), mode[1].to_string(), code, said));
        }
        refusals.push(outcomes);
        ok(&["rm", "-f", &donor, &private, &stopped]);
    }
    assert_eq!(refusals[1], refusals[0], "berth's refusals, then docker's");
    assert!(f.all_names().is_empty(), "{:?}", f.all_names());
    // The shareable donor's host-side /dev/shm went with it.
    assert!(
        f.mounts_under_berthd().is_empty(),
        "{:?}",
        f.mounts_under_berthd()
    );
}

/// `--volumes-from` on both engines: a donor's named and anonymous volumes
/// and its binds, with its modes or `:ro`; the container's own mount at a
/// path wins; inspect's `VolumesFrom` and `Mounts`; the refusals.
#[test]
fn volumes_from_like_docker() {
    let f = Fixture::new();
    let dockerd = Dockerd::new(Runtime::Runc);
    let host_dir = f.work.join("bound");
    let own_dir = f.work.join("own");
    for d in [&host_dir, &own_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(own_dir.join("mine"), "").unwrap();
    let (host_dir, own_dir) = (
        host_dir.display().to_string(),
        own_dir.display().to_string(),
    );
    let volume = f.name("vfvol");
    let donor = f.name("vfdonor");
    let user = f.name("vfuser");
    let (docker, berth) = engines(&f, &dockerd);
    let mut seen = Vec::new();
    for (engine, image, run) in [("docker", IMAGE, &docker), ("berth", "busybox", &berth)] {
        let ok = |args: &[&str]| {
            let (code, out, err) = run(args);
            assert_eq!(code, 0, "{engine} {args:?}: {err}");
            out.trim_end().to_string()
        };
        let bind = format!("{host_dir}:/bound:ro");
        let named = format!("{volume}:/named");
        ok(&["volume", "create", &volume]);
        ok(&[
            "create",
            "--name",
            &donor,
            "--network",
            "none",
            "-v",
            &named,
            "-v",
            "/anon",
            "-v",
            &bind,
            image,
            "true",
        ]);
        let mut outputs = vec![
            ok(&[
                "run", "--rm", "--network", "none", "--volumes-from", &donor, image, "sh", "-c",
                "echo hi > /named/a && echo hi > /anon/b && (touch /bound/c 2>/dev/null && echo bound-rw || echo bound-ro)",
            ]),
            ok(&[
                "run", "--rm", "--network", "none", "--volumes-from", &format!("{donor}:ro"),
                image, "sh", "-c",
                "cat /named/a /anon/b; touch /named/z 2>/dev/null && echo rw || echo ro",
            ]),
            // The container's own mount at /named wins over the donor's.
            ok(&[
                "run", "--rm", "--network", "none", "--volumes-from", &donor, "-v",
                &format!("{own_dir}:/named"), image, "ls", "/named",
            ]),
        ];
        ok(&[
            "create",
            "--name",
            &user,
            "--network",
            "none",
            "--volumes-from",
            &donor,
            image,
            "true",
        ]);
        let inspect: serde_json::Value =
            serde_json::from_str(&ok(&["inspect", &user])).expect("inspect JSON");
        let mut destinations: Vec<String> = inspect[0]["Mounts"]
            .as_array()
            .expect("Mounts")
            .iter()
            .map(|m| {
                format!(
                    "{} {} rw={}",
                    m["Type"].as_str().unwrap(),
                    m["Destination"].as_str().unwrap(),
                    m["RW"]
                )
            })
            .collect();
        destinations.sort();
        outputs.push(destinations.join(", "));
        outputs.push(inspect[0]["HostConfig"]["VolumesFrom"].to_string());
        for bad in ["bt-nosuch-donor".to_string(), format!("{donor}:zz")] {
            let (code, _, err) = run(&["create", "--volumes-from", &bad, image, "true"]);
            outputs.push(format!("{code} {:?}", normalized(&err)));
        }
        ok(&["rm", "-f", &user, &donor]);
        ok(&["volume", "rm", &volume]);
        seen.push(outputs.join("\n").replace(&donor, "DONOR"));
    }
    assert_eq!(seen[1], seen[0], "berth's, then docker's");
    assert!(f.all_names().is_empty(), "{:?}", f.all_names());
}
