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
