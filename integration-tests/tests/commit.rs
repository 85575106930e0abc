//! `berth commit` side by side with docker 20.10's (a private dockerd, Debian's docker.io,
//! runc): the same container changes (add, modify, delete a file, delete a directory,
//! replace a directory so that it is opaque, chmod, chown, a symlink, a hardlink, writes
//! into a volume and a bind mount, which must not be in the layer) committed by both;
//! the layers' entries (names, types, modes, owners, link targets, content digests), the
//! image configs and history entries compared; the committed image runs in berth, and
//! `berth save` of it loads into dockerd and runs there. Bad input (an unknown container,
//! a bad reference, a change docker refuses) fails as docker's and leaves nothing behind.

use berth_integration_tests::berthd::Berthd;
use berth_integration_tests::engines::{busybox_tarball, Dockerd, Runtime, IMAGE};
use berth_integration_tests::saved_image::read_saved;
use berth_integration_tests::{stderr, stdout, unique_name, TestDir};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// The history entries without their times.
fn history(config: &Value) -> Vec<Value> {
    config["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| {
            let mut h = h.clone();
            h.as_object_mut().expect("history entry").remove("created");
            h
        })
        .collect()
}

/// A container config without what differs between two runs by nature (the hostname is
/// the container's short ID).
fn comparable(config: &Value) -> Value {
    let mut c = config.clone();
    c.as_object_mut().expect("config object").remove("Hostname");
    c
}

/// A private berthd with the image dockerd gets ([`IMAGE`], `ENV PATH=/bin`, no CMD).
fn berthd_with_image(work: &TestDir) -> Berthd {
    let d = Berthd::start();
    let tar = work.join("busybox.tar");
    busybox_tarball(&work.path, &tar);
    d.ok(&[
        "import",
        "--change",
        "ENV PATH=/bin",
        tar.to_str().unwrap(),
        IMAGE,
    ]);
    d
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// The container's first changes (committed as the base of the second).
const PREPARE: &str = "mkdir -p /d1/sub /d2/keep /d3 && echo a > /d1/sub/f && echo b > /d2/keep/g \
    && echo old > /mod && echo x > /home/user/del && echo c > /d3/c";

/// Every kind of change, and writes into a volume and a bind mount.
const CHANGES: &str = "echo added > /added && echo more >> /mod && rm /home/user/del \
    && rm -r /d1 && rm -r /d2 && mkdir /d2 && echo n > /d2/new && chmod 0750 /d3 \
    && chown 1000:2000 /d3/c && chmod 0600 /d3/c && ln -s /etc/passwd /link \
    && ln /added /hard && echo v > /vol/in-volume && echo b > /bind/in-bind \
    && mkdir -p /etc/app && echo conf > /etc/app/conf";

#[test]
fn commit_matches_dockerd_layer_config_and_history() {
    let work = TestDir::new("commit");
    let d = berthd_with_image(&work);
    let dockerd = Dockerd::new(Runtime::Runc);
    let bind_berth = work.join("bind-berth");
    let bind_docker = work.join("bind-docker");
    std::fs::create_dir_all(&bind_berth).unwrap();
    std::fs::create_dir_all(&bind_docker).unwrap();

    let prep = unique_name("cprep");
    let ctr = unique_name("cchg");
    let base_ref = format!("{}-base:v1", unique_name("cimg"));
    let final_ref = format!("{}-final:v2", unique_name("cimg"));
    let berth_bind = format!("{}:/bind", bind_berth.display());
    let docker_bind = format!("{}:/bind", bind_docker.display());

    // Both engines: the same containers, the same commits.
    d.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        &prep,
        IMAGE,
        "sh",
        "-c",
        PREPARE,
    ]);
    dockerd
        .run_container(&["--name", &prep, IMAGE, "sh", "-c", PREPARE])
        .ok();
    d.ok(&[
        "commit",
        "-a",
        "someone <s@example.org>",
        "-m",
        "the base",
        &prep,
        &base_ref,
    ]);
    dockerd
        .docker(&[
            "commit",
            "-a",
            "someone <s@example.org>",
            "-m",
            "the base",
            &prep,
            &base_ref,
        ])
        .ok();
    d.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        &ctr,
        "-v",
        "/vol",
        "-v",
        &berth_bind,
        &base_ref,
        "sh",
        "-c",
        CHANGES,
    ]);
    dockerd
        .run_container(&[
            "--name",
            &ctr,
            "-v",
            "/vol",
            "-v",
            &docker_bind,
            &base_ref,
            "sh",
            "-c",
            CHANGES,
        ])
        .ok();
    let changes = [
        "-c",
        "ENV FOO=bar",
        "-c",
        "CMD [\"cat\", \"/added\"]",
        "-c",
        "LABEL team=core",
        "-c",
        "EXPOSE 8080",
        "-c",
        "WORKDIR /d3",
        "-c",
        "USER 1000",
        "-c",
        "VOLUME /data",
        "-c",
        "ONBUILD RUN true",
        "-c",
        "HEALTHCHECK --interval=5s --retries=2 CMD true",
    ];
    let mut args = vec!["commit", "-m", "the changes"];
    args.extend_from_slice(&changes);
    args.extend_from_slice(&[&ctr, &final_ref]);
    let berth_id = d.ok(&args);
    let docker_id = stdout(&dockerd.docker(&args).ok().output);
    assert!(
        berth_id.starts_with("sha256:") && berth_id.len() == 71,
        "{berth_id}"
    );
    assert!(docker_id.starts_with("sha256:"), "{docker_id}");

    let berth_tar = work.join("berth.tar");
    let docker_tar = work.join("docker.tar");
    d.ok(&["save", "-o", berth_tar.to_str().unwrap(), &final_ref]);
    dockerd
        .docker(&["save", "-o", docker_tar.to_str().unwrap(), &final_ref])
        .ok();
    let b = read_saved(&berth_tar);
    let k = read_saved(&docker_tar);
    assert_eq!(b.layers.len(), 3, "base, prepare, changes");
    assert_eq!(k.layers.len(), 3, "docker: base, prepare, changes");
    for (i, (bl, kl)) in b.layers.iter().zip(&k.layers).enumerate().skip(1) {
        assert_eq!(
            bl, kl,
            "layer {i}: berth's entries (left) differ from docker's (right)"
        );
    }
    // What the layers must hold, whatever docker does.
    let top = &b.layers[2];
    let names: Vec<&str> = top.iter().map(|e| e.path.as_str()).collect();
    for want in [
        "added",
        "hard",
        "link",
        "mod",
        "d2/.wh..wh..opq",
        "d2/new",
        ".wh.d1",
        "home/user/.wh.del",
        "etc/app/conf",
    ] {
        assert!(
            names.contains(&want),
            "{want} missing from the layer: {names:?}"
        );
    }
    for never in [
        "vol/in-volume",
        "bind/in-bind",
        "etc/hosts",
        "etc/resolv.conf",
        "etc/hostname",
        "proc",
        "sys",
    ] {
        assert!(
            !names.contains(&never),
            "{never} is in the layer: {names:?}"
        );
    }

    // The config, container_config and history as docker writes them.
    for key in ["architecture", "os", "author"] {
        assert_eq!(b.config[key], k.config[key], "{key}");
    }
    assert_eq!(
        comparable(&b.config["config"]),
        comparable(&k.config["config"]),
        "config"
    );
    assert_eq!(
        comparable(&b.config["container_config"]),
        comparable(&k.config["container_config"]),
        "container_config"
    );
    assert_eq!(history(&b.config), history(&k.config), "history");
    let berth_inspect: Value =
        serde_json::from_str(&d.ok(&["image", "inspect", &final_ref])).unwrap();
    assert_eq!(berth_inspect[0]["Id"], Value::String(berth_id.clone()));
    assert_eq!(
        berth_inspect[0]["RepoTags"][0],
        Value::String(final_ref.clone())
    );

    // The image runs in berth, and in dockerd once loaded from berth's save.
    let run = d.ok(&["run", "--rm", "--network", "none", &final_ref]);
    assert_eq!(run, "added");
    let check =
        "test ! -e /d1 && test ! -e /d2/keep && test ! -e /home/user/del && cat /d2/new /mod \
        && stat -c '%a %u %g' /d3/c && readlink /link && test ! -e /vol/in-volume";
    let want = "n\nold\nmore\n600 1000 2000\n/etc/passwd";
    let in_berth = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-u",
        "0",
        &final_ref,
        "sh",
        "-c",
        check,
    ]);
    assert_eq!(in_berth, want);
    dockerd.docker(&["rmi", &final_ref]).ok();
    dockerd
        .docker(&["load", "-i", berth_tar.to_str().unwrap()])
        .ok();
    let in_docker = dockerd
        .run_container(&["--rm", "-u", "0", &final_ref, "sh", "-c", check])
        .ok();
    assert_eq!(stdout(&in_docker.output), want);
}

/// An unchanged container's commit is an empty layer (`empty_layer` in the history, no
/// new diff ID), as docker's; a running container is paused while it is committed
/// (docker's pause, commit, unpause events) and runs on.
#[test]
fn commit_of_a_running_container_pauses_it_and_an_unchanged_one_adds_no_layer() {
    let work = TestDir::new("commit-run");
    let d = berthd_with_image(&work);
    let dockerd = Dockerd::new(Runtime::Runc);
    let ctr = unique_name("crun");
    let reference = format!("{}:run", unique_name("cimg"));
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &ctr,
        IMAGE,
        "sleep",
        "1000",
    ]);
    dockerd
        .run_container(&["-d", "--name", &ctr, IMAGE, "sleep", "1000"])
        .ok();
    d.ok(&["commit", &ctr, &reference]);
    dockerd.docker(&["commit", &ctr, &reference]).ok();

    let events = |out: String| -> Vec<String> {
        out.lines()
            .filter(|l| {
                ["pause", "unpause", "commit", "tag"]
                    .iter()
                    .any(|a| l.split(' ').nth(1) == Some(a))
                    && (l.ends_with(&ctr) || l.ends_with(&reference))
            })
            .map(str::to_string)
            .collect()
    };
    let format = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}";
    let until = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    );
    let berth_events = events(d.ok(&[
        "events", "--since", "1", "--until", &until, "--format", format,
    ]));
    let docker_events = events(stdout(
        &dockerd
            .docker(&[
                "events", "--since", "1", "--until", &until, "--format", format,
            ])
            .ok()
            .output,
    ));
    assert_eq!(
        berth_events, docker_events,
        "events: berth (left), docker (right)"
    );
    assert_eq!(
        berth_events,
        [
            format!("container pause {ctr}"),
            format!("image tag {reference}"),
            format!("container commit {ctr}"),
            format!("container unpause {ctr}"),
        ]
    );
    let status = d.ok(&["inspect", "--format", "{{.State.Status}}", &ctr]);
    assert_eq!(status, "running");

    let inspect =
        |out: String| -> Value { serde_json::from_str::<Value>(&out).unwrap()[0].clone() };
    let b = inspect(d.ok(&["image", "inspect", &reference]));
    let k = inspect(stdout(
        &dockerd
            .docker(&["image", "inspect", &reference])
            .ok()
            .output,
    ));
    assert_eq!(
        b["RootFS"]["Layers"].as_array().unwrap().len(),
        1,
        "no new layer"
    );
    assert_eq!(k["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    let hist = |out: String| out.lines().map(str::to_string).collect::<Vec<_>>();
    // (Sizes aside: the imported base layer's tar is not byte for byte docker's.)
    let fmt = "{{.CreatedBy}}|{{.Comment}}";
    assert_eq!(
        hist(d.ok(&["history", "--no-trunc", "--format", fmt, &reference])),
        hist(stdout(
            &dockerd
                .docker(&["history", "--no-trunc", "--format", fmt, &reference])
                .ok()
                .output
        ))
    );
    // -p=false leaves the container running, unpaused, throughout.
    d.ok(&["commit", "-p=false", &ctr]);
    d.ok(&["rm", "-f", &ctr]);
}

/// Bad input: one line, docker's words and exit code, and nothing stored.
#[test]
fn commit_bad_input_fails_as_docker_and_leaves_nothing() {
    let work = TestDir::new("commit-bad");
    let d = berthd_with_image(&work);
    let dockerd = Dockerd::new(Runtime::Runc);
    let ctr = unique_name("cbad");
    d.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        &ctr,
        IMAGE,
        "sh",
        "-c",
        "echo x > /x",
    ]);
    dockerd
        .run_container(&["--name", &ctr, IMAGE, "sh", "-c", "echo x > /x"])
        .ok();
    let count = |dir: &Path| std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0);
    let blobs = d.root.join("content/blobs/sha256");
    let snapshots = d.root.join("snapshots/overlayfs");
    let before = (
        count(&blobs),
        count(&snapshots),
        d.ok(&["images", "-a", "-q", "--no-trunc"]),
    );
    let missing = unique_name("nosuch");
    let cases: Vec<Vec<&str>> = vec![
        vec!["commit", &missing],
        vec!["commit", &ctr, "Bad:Tag"],
        vec!["commit", &ctr, "repo:bad tag"],
        vec![
            "commit",
            &ctr,
            "repo@sha256:0123456789012345678901234567890123456789012345678901234567890123",
        ],
        vec!["commit", "-c", "RUN echo hi", &ctr],
        vec!["commit", "-c", "FROM busybox", &ctr],
        vec!["commit", "-c", "STOPSIGNAL SIGUSR1", &ctr],
        vec!["commit", "-c", "SHELL [\"/bin/sh\"]", &ctr],
        vec!["commit", "-c", "MAINTAINER me", &ctr],
        vec!["commit", "-c", "EXPOSE notaport", &ctr],
        vec!["commit", "-c", "ONBUILD FROM busybox", &ctr],
        vec!["commit", "-c", "WORKDIR", &ctr],
        vec!["commit", "-c", "ENV", &ctr],
    ];
    for args in &cases {
        let b = d.berth(args);
        let k = dockerd.docker(args).output;
        let shown = |o: &Output| stderr(o).replace("docker", "berth");
        assert_eq!(
            code(&b),
            code(&k),
            "{args:?}: exit code (berth {}, docker {})",
            shown(&b),
            shown(&k)
        );
        assert_ne!(code(&b), 0, "{args:?}");
        assert_eq!(shown(&b), shown(&k), "{args:?}: message");
        assert_eq!(stderr(&b).lines().count(), 1, "{args:?}: one line");
    }
    let after = (
        count(&blobs),
        count(&snapshots),
        d.ok(&["images", "-a", "-q", "--no-trunc"]),
    );
    assert_eq!(before, after, "a failed commit left something behind");
    let status = d.ok(&["inspect", "--format", "{{.State.Status}}", &ctr]);
    assert_eq!(status, "exited");
}
