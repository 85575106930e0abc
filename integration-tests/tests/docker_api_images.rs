//! The Docker API's image endpoints (issue 18), driven by Debian's docker
//! CLI 20.10 against a private berthd and, for the same commands, a
//! private dockerd: push and pull through Debian's docker-registry on
//! 127.0.0.1, inspect (with `ContainerConfig`), history, save/load both
//! ways between the two engines, import, search and prune. Compared: exit
//! codes, the lines users read, image ids and layers, and the JSON shapes.

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::docker_client::{docker, docker_ok, http, TIMEOUT};
use berth_integration_tests::engines::{busybox_tarball, run_with_input, Dockerd, Runtime};
use berth_integration_tests::registry::Registry;
use berth_integration_tests::shapes::shape_differences;
use berth_integration_tests::{stderr, stdout};
use serde_json::Value;
use std::process::Output;

/// The lines of a pull or push that do not name a layer (their order and
/// count are timing).
fn summary_lines(out: &Output) -> Vec<String> {
    stdout(out)
        .lines()
        .filter(|l| {
            let head = l.split(':').next().unwrap_or("");
            !(head.len() == 12 && head.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .map(str::to_string)
        .collect()
}

fn first_json(out: &Output) -> Value {
    let v: Value =
        serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)));
    v[0].clone()
}

#[test]
fn docker_image_commands_agree_with_dockerd() {
    let f = Fixture::new();
    let registry = Registry::start();
    let dockerd = Dockerd::new(Runtime::Runc);
    let on_docker =
        |args: &[&str]| run_with_input(&mut dockerd.docker_command(args), None, TIMEOUT);
    let name = f.name("api-img");
    let repo = format!("{}/{name}", registry.host());
    let v1 = format!("{repo}:v1");

    // Push from berthd: docker's lines, then the digest line.
    docker_ok(&f, &["tag", "busybox", &v1]);
    let pushed = docker(&f, &["push", &v1]);
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    let lines = summary_lines(&pushed);
    assert_eq!(
        lines[0],
        format!("The push refers to repository [{repo}]"),
        "{lines:?}"
    );
    let digest_line = lines.last().unwrap();
    assert!(
        digest_line.starts_with("v1: digest: sha256:") && digest_line.contains(" size: "),
        "{lines:?}"
    );

    // Pull into both engines: the same summary, the same image.
    let d = on_docker(&["pull", &v1]);
    assert!(d.status.success(), "dockerd pull: {}", stderr(&d));
    docker_ok(&f, &["rmi", &v1]);
    let b = docker(&f, &["pull", &v1]);
    assert!(b.status.success(), "berthd pull: {}", stderr(&b));
    assert_eq!(summary_lines(&b), summary_lines(&d), "pull output");
    assert_eq!(summary_lines(&b)[0], format!("v1: Pulling from {name}"));
    let again = |out: Output| summary_lines(&out);
    assert_eq!(
        again(docker(&f, &["pull", &v1])),
        again(on_docker(&["pull", &v1])),
        "a second pull"
    );
    for args in [
        vec!["pull", &format!("{repo}:nosuch")],
        vec!["push", &format!("{repo}:notlocal")],
        vec!["image", "inspect", "bt-no-such-image"],
        vec!["history", "bt-no-such-image"],
        vec!["search", "busybox"],
    ] {
        let (d, b) = (on_docker(&args), docker(&f, &args));
        assert_eq!(
            b.status.code(),
            d.status.code(),
            "docker {args:?}: dockerd {}, berthd {}",
            stderr(&d),
            stderr(&b)
        );
        if args[0] == "pull" {
            // The registry client's wording differs after docker's prefix.
            assert!(
                stderr(&b).starts_with("Error response from daemon: manifest for "),
                "{}",
                stderr(&b)
            );
        } else if args[0] != "search" {
            assert_eq!(stderr(&b), stderr(&d), "docker {args:?}");
        }
    }

    // Inspect: the same id, layers, config and shape (ContainerConfig
    // included: docker-compose reads it).
    let d = first_json(&on_docker(&["image", "inspect", &v1]));
    let b = first_json(&docker(&f, &["image", "inspect", &v1]));
    // (berthd's image also carries the busybox:latest it was tagged from.)
    assert!(b["RepoTags"]
        .as_array()
        .unwrap()
        .contains(&Value::from(v1.clone())));
    for key in ["Id", "RepoDigests", "RootFS", "Config", "Os"] {
        assert_eq!(b[key], d[key], "inspect {key}");
    }
    assert!(b["ContainerConfig"].is_object(), "{b}");
    let differences = shape_differences(&d, &b);
    assert!(differences.is_empty(), "image inspect: {differences:#?}");
    let format = "{{.Id}} {{.Config.Cmd}} {{len .RootFS.Layers}}";
    assert_eq!(
        docker_ok(&f, &["inspect", "--format", format, &v1]),
        stdout(&on_docker(&["inspect", "--format", format, &v1]))
    );

    // History: the same rows (sizes are each engine's own accounting).
    let format = "{{.ID}}|{{.CreatedBy}}|{{.Comment}}";
    assert_eq!(
        docker_ok(&f, &["history", "--no-trunc", "--format", format, &v1]),
        stdout(&on_docker(&[
            "history",
            "--no-trunc",
            "--format",
            format,
            &v1
        ]))
    );
    let path = format!("/v1.41/images/{v1}/history");
    let d = http(&dockerd.sandbox.path("d.sock"), "GET", &path, None);
    let b = http(&f.d.docker_socket, "GET", &path, None);
    assert_eq!(b.status, 200);
    let differences = shape_differences(&d.json()[0], &b.json()[0]);
    assert!(differences.is_empty(), "history: {differences:#?}");

    // save/load both ways: berthd's archive loads into dockerd, dockerd's
    // into berthd, each printing docker's line.
    let from_berth = f.work.join("from-berth.tar");
    docker_ok(&f, &["save", "-o", from_berth.to_str().unwrap(), &v1]);
    assert!(on_docker(&["rmi", &v1]).status.success());
    let loaded = on_docker(&["load", "-i", from_berth.to_str().unwrap()]);
    assert_eq!(
        stdout(&loaded),
        format!("Loaded image: {v1}"),
        "{}",
        stderr(&loaded)
    );
    let from_docker = dockerd.sandbox.path("from-docker.tar");
    assert!(
        on_docker(&["save", "-o", from_docker.to_str().unwrap(), &v1])
            .status
            .success()
    );
    docker_ok(&f, &["rmi", &v1]);
    assert_eq!(
        docker_ok(&f, &["load", "-i", from_docker.to_str().unwrap()]),
        format!("Loaded image: {v1}")
    );
    let id = "{{.Id}}";
    assert_eq!(
        docker_ok(&f, &["inspect", "--format", id, &v1]),
        stdout(&on_docker(&["inspect", "--format", id, &v1]))
    );
    let bad = docker(&f, &["load", "-i", "/etc/hostname"]);
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));

    // Import: the same layer from the same tarball, the change applied.
    let tar = f.work.join("busybox.tar");
    busybox_tarball(&f.work.join("import"), &tar);
    let imported = format!("{name}-imported:v2");
    let args = [
        "import",
        "--change",
        "ENV PATH=/bin",
        "-m",
        "from a tarball",
        tar.to_str().unwrap(),
        &imported,
    ];
    let d = on_docker(&args);
    let b = docker(&f, &args);
    assert!(b.status.success(), "{}", stderr(&b));
    assert!(stdout(&b).starts_with("sha256:"), "{}", stdout(&b));
    assert_eq!(stdout(&d).len(), stdout(&b).len());
    let format = "{{.RootFS.Layers}} {{.Config.Env}} {{.Comment}}";
    assert_eq!(
        docker_ok(&f, &["inspect", "--format", format, &imported]),
        stdout(&on_docker(&["inspect", "--format", format, &imported]))
    );

    // Prune: nothing dangling in either; docker's summary line.
    let d = on_docker(&["image", "prune", "-f"]);
    let b = docker(&f, &["image", "prune", "-f"]);
    assert_eq!(stdout(&b), stdout(&d));
    // prune -a: every image no container uses goes.
    let second = format!("{name}-second:v1");
    docker_ok(&f, &["tag", &imported, &second]);
    let pruned = docker_ok(&f, &["image", "prune", "-a", "-f"]);
    assert!(pruned.starts_with("Deleted Images:"), "{pruned}");
    assert!(pruned.contains(&format!("untagged: {second}")), "{pruned}");
    assert!(pruned.contains("deleted: sha256:"), "{pruned}");
    assert!(
        pruned
            .lines()
            .last()
            .unwrap()
            .starts_with("Total reclaimed space: "),
        "{pruned}"
    );
    assert_eq!(docker_ok(&f, &["images", "-q"]), "");
}

#[test]
fn docker_build_commit_and_login_work() {
    let f = Fixture::new();
    let registry = Registry::start();
    let name = f.name("api-build");
    let ctx = f.work.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY greeting /greeting\nRUN echo built >> /greeting\nCMD [\"cat\", \"/greeting\"]\n",
    )
    .unwrap();
    std::fs::write(ctx.join("greeting"), "hello\n").unwrap();
    let tag = format!("{name}:b");
    let built = docker_ok(&f, &["build", "-t", &tag, ctx.to_str().unwrap()]);
    assert!(built.contains("Successfully built "), "{built}");
    assert!(
        built.ends_with(&format!("Successfully tagged {tag}")),
        "{built}"
    );
    assert_eq!(docker_ok(&f, &["run", "--rm", &tag]), "hello\nbuilt");
    // -q: the id alone; a second build is cached.
    let quiet = docker_ok(&f, &["build", "-q", "-t", &tag, ctx.to_str().unwrap()]);
    assert!(quiet.starts_with("sha256:"), "{quiet}");
    assert_eq!(
        quiet,
        docker_ok(&f, &["inspect", "--format", "{{.Id}}", &tag])
    );
    // A failing step: the build's error, exit 1, no image.
    let bad = f.work.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("Dockerfile"), "FROM busybox\nRUN exit 3\n").unwrap();
    let out = docker(&f, &["build", "-t", "bt-api-bad:x", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("exit code: 3"), "{}", stderr(&out));
    assert_eq!(
        docker(&f, &["image", "inspect", "bt-api-bad:x"])
            .status
            .code(),
        Some(1)
    );

    // docker-py builds from the same context, and commits.
    let script = format!(
        r#"
import docker
c = docker.DockerClient(base_url="{host}", version="1.41")
image, logs = c.images.build(path="{ctx}", tag="{name}:py")
assert "{name}:py" in image.tags, image.tags
ctr = c.containers.run("{name}:py", ["sh", "-c", "echo changed > /greeting"], name="{name}-c", detach=True)
assert ctr.wait()["StatusCode"] == 0
committed = ctr.commit(repository="{name}", tag="committed", message="from py")
assert c.containers.run("{name}:committed", ["cat", "/greeting"], remove=True) == b"changed\n"
ctr.remove()
print("docker-py ok")
"#,
        host = f.d.docker_host(),
        ctx = ctx.display(),
    );
    let out = run_with_input(
        std::process::Command::new("/usr/bin/python3").args(["-c", &script]),
        None,
        TIMEOUT,
    );
    assert_eq!(stdout(&out), "docker-py ok", "{}", stderr(&out));
    // The CLI's commit, with a change.
    let ctr = f.name("api-commit");
    docker_ok(
        &f,
        &["run", "--name", &ctr, "busybox", "sh", "-c", "echo x > /f"],
    );
    let id = docker_ok(
        &f,
        &[
            "commit",
            "-c",
            "CMD [\"cat\", \"/f\"]",
            &ctr,
            &format!("{name}:cli"),
        ],
    );
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(docker_ok(&f, &["run", "--rm", &format!("{name}:cli")]), "x");
    docker_ok(&f, &["rm", &ctr]);
    let pruned = docker_ok(&f, &["builder", "prune", "-a", "-f"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");

    // login against the local registry (no auth configured: accepted).
    let out = berth_integration_tests::docker_client::docker_in(
        &f,
        &[
            "login",
            "-u",
            "someone",
            "--password-stdin",
            &registry.host(),
        ],
        b"secret\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with("Login Succeeded"),
        "{}",
        stdout(&out)
    );
    let out = berth_integration_tests::docker_client::docker_in(
        &f,
        &["login", "-u", "someone", "--password-stdin", "127.0.0.1:9"],
        b"secret\n",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}
