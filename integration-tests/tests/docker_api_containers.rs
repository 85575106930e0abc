//! The Docker API's container file and resource endpoints (issue 18):
//! `diff` (changes), `cp` both ways (archive GET/HEAD/PUT), `export`,
//! `stats` (one-shot and streamed), `update`, driven by Debian's docker
//! CLI 20.10 against a private berthd and, for the same commands, a
//! private dockerd; compared: exit codes, output and JSON shapes.

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::docker_client::{
    docker, docker_ok, fd_links, fds_return_to, http, TIMEOUT,
};
use berth_integration_tests::engines::{run_with_input, Dockerd, Runtime, IMAGE};
use berth_integration_tests::shapes::shape_differences;
use berth_integration_tests::{stderr, stdout};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Output};
use std::time::Duration;

#[test]
fn docker_cp_diff_export_stats_update_agree_with_dockerd() {
    let f = Fixture::new();
    f.ok(&["tag", "busybox:latest", IMAGE]);
    let dockerd = Dockerd::new(Runtime::Runc);
    let on_docker =
        |args: &[&str]| run_with_input(&mut dockerd.docker_command(args), None, TIMEOUT);
    let name = f.name("api-files");
    let local = f.work.join("local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("copied"), "from the host\n").unwrap();
    let both = |args: &[&str]| -> (Output, Output) {
        let (d, b) = (on_docker(args), docker(&f, args));
        assert_eq!(
            b.status.code(),
            d.status.code(),
            "docker {args:?}: dockerd {}, berthd {}",
            stderr(&d),
            stderr(&b)
        );
        (d, b)
    };
    let same = |args: &[&str]| {
        let (d, b) = both(args);
        assert_eq!(stdout(&b), stdout(&d), "docker {args:?} stdout");
        assert_eq!(stderr(&b), stderr(&d), "docker {args:?} stderr");
        stdout(&b)
    };
    let copied = local.join("copied");
    let out_dir = |engine: &str| f.work.join(&format!("out-{engine}"));
    both(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        IMAGE,
        "sleep",
        "1000",
    ]);
    same(&[
        "exec",
        &name,
        "sh",
        "-c",
        "mkdir /made && echo hi > /made/file && rm /bin/true",
    ]);
    // (dockerd lists in its overlay walk's order: compared sorted.)
    let (d, b) = both(&["diff", &name]);
    let sorted = |o: &Output| {
        let mut l: Vec<String> = stdout(o).lines().map(str::to_string).collect();
        l.sort();
        l
    };
    assert_eq!(sorted(&b), sorted(&d));
    let changes = stdout(&b);
    assert!(changes.contains("A /made/file"), "{changes}");
    assert!(changes.contains("D /bin/true"), "{changes}");

    // cp both ways, and the errors.
    same(&["cp", copied.to_str().unwrap(), &format!("{name}:/made/")]);
    assert_eq!(
        same(&["exec", &name, "cat", "/made/copied"]),
        "from the host"
    );
    for engine in ["dockerd", "berthd"] {
        let dir = out_dir(engine);
        std::fs::create_dir_all(&dir).unwrap();
        let args = ["cp", &format!("{name}:/made"), dir.to_str().unwrap()];
        let out = if engine == "dockerd" {
            on_docker(&args)
        } else {
            docker(&f, &args)
        };
        assert!(out.status.success(), "{engine}: {}", stderr(&out));
        assert_eq!(
            std::fs::read_to_string(dir.join("made/file")).unwrap(),
            "hi\n",
            "{engine}"
        );
    }
    same(&["cp", &format!("{name}:/no/such"), "/tmp"]);
    same(&[
        "cp",
        copied.to_str().unwrap(),
        &format!("{name}:/no/such/dir/"),
    ]);
    let path = format!("/v1.41/containers/{name}/archive?path=/made/file");
    let d = http(&dockerd.sandbox.path("d.sock"), "HEAD", &path, None);
    let b = http(&f.d.docker_socket, "HEAD", &path, None);
    assert_eq!(b.status, d.status);
    let stat = |a: &berth_integration_tests::docker_client::HttpAnswer| -> serde_json::Value {
        use base64::Engine as _;
        let text = a
            .header("x-docker-container-path-stat")
            .expect("stat header");
        serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap(),
        )
        .unwrap()
    };
    let (ds, bs) = (stat(&d), stat(&b));
    for key in ["name", "size", "mode", "linkTarget"] {
        assert_eq!(bs[key], ds[key], "path stat {key}");
    }

    // export: a tar of the whole filesystem with the container's files.
    let tar = f.work.join("export.tar");
    docker_ok(&f, &["export", "-o", tar.to_str().unwrap(), &name]);
    let list = Command::new("tar").arg("-tf").arg(&tar).output().unwrap();
    let list = stdout(&list);
    assert!(list.lines().any(|l| l == "made/file"), "{list}");
    assert!(!list.lines().any(|l| l == "bin/true"), "{list}");

    // stats: the same columns, one-shot JSON of the same shape.
    same(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        &name,
    ]);
    let path = format!("/v1.41/containers/{name}/stats?stream=false");
    let d = http(&dockerd.sandbox.path("d.sock"), "GET", &path, None).json();
    let b = http(&f.d.docker_socket, "GET", &path, None).json();
    let differences = shape_differences(&d, &b);
    assert!(differences.is_empty(), "stats: {differences:#?}");
    assert!(
        b["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > 0,
        "{b}"
    );
    assert_ne!(b["preread"], "0001-01-01T00:00:00Z", "{b}");

    // A streamed stats connection the client drops leaves nothing open.
    let baseline = fd_links(f.d.pid());
    let mut s = UnixStream::connect(&f.d.docker_socket).unwrap();
    write!(
        s,
        "GET /v1.41/containers/{name}/stats HTTP/1.1\r\nHost: docker\r\n\r\n"
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut first = [0u8; 512];
    let n = s.read(&mut first).unwrap();
    assert!(
        String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&first[..n])
    );
    drop(s);
    fds_return_to(&f, &baseline, "after a stats client went");

    // update: the same output and limits; what Berth cannot change is
    // refused, not ignored.
    same(&["update", "--memory", "64m", "--memory-swap", "128m", &name]);
    same(&[
        "inspect",
        "--format",
        "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}",
        &name,
    ]);
    same(&["update", "--restart", "on-failure:2", &name]);
    same(&[
        "inspect",
        "--format",
        "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
        &name,
    ]);
    let refused = docker(&f, &["update", "--cpuset-cpus", "0", &name]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("not implemented: updating CpusetCpus"),
        "{}",
        stderr(&refused)
    );
    same(&["rm", "-f", &name]);
}
