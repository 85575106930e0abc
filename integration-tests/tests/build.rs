//! `berth build` end to end: real builds through a private berthd (RUN steps are
//! containers of berthd's own), the image's config, history and files checked from
//! outside (`image inspect`, `run`), the cache (a rebuild is all `CACHED` and gives the
//! same image; a changed file re-runs its COPY and what follows; `--no-cache`; the cache
//! survives a berthd restart; `builder prune`), multi-stage builds (`--target` builds only
//! what it needs, `COPY --from`), RUN mounts (cache, tmpfs, secret, bind), heredocs, ADD
//! of a local tar, a differential build against dockerd 20.10's classic builder (the same
//! config fields and layer files), and bad input: one line naming the Dockerfile line, exit 1, and
//! nothing left behind (no container, no work directory, no mount).

use berth_integration_tests::berthd::Berthd;
use berth_integration_tests::engines::{busybox_tarball, IMAGE};
use berth_integration_tests::{stderr, stdout, unique_name, TestDir};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// A private berthd with [`IMAGE`] (busybox, `ENV PATH=/bin`, `CMD ["sh"]`).
fn berthd_with_image(work: &TestDir) -> Berthd {
    let d = Berthd::start();
    let tar = work.join("busybox.tar");
    busybox_tarball(&work.path, &tar);
    d.ok(&[
        "import",
        "--change",
        "ENV PATH=/bin",
        "--change",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        IMAGE,
    ]);
    d
}

/// Writes `files` (path, content) under `dir`.
fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn build(d: &Berthd, args: &[&str]) -> Output {
    let mut all = vec!["build", "--progress", "plain"];
    all.extend_from_slice(args);
    d.berth(&all)
}

fn build_ok(d: &Berthd, args: &[&str]) -> String {
    let out = build(d, args);
    assert_eq!(
        code(&out),
        0,
        "berth build {args:?} failed:\n{}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        d.log_tail()
    );
    stderr(&out)
}

fn inspect(d: &Berthd, image: &str) -> Value {
    let text = d.ok(&["image", "inspect", image]);
    let v: Value = serde_json::from_str(&text).expect("inspect JSON");
    v[0].clone()
}

/// Nothing of a build is left: no container, no work directory.
fn assert_nothing_left(d: &Berthd) {
    let ps = d.ok(&["ps", "-a", "-q"]);
    assert_eq!(ps.trim(), "", "build containers left behind");
    let work = d.root.join("builder/work");
    let left: Vec<_> = std::fs::read_dir(&work)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "work directories left: {left:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = d.root.to_string_lossy().to_string();
    let ours: Vec<&str> = mounts
        .lines()
        .filter(|l| l.contains(&root) && l.contains("builder"))
        .collect();
    assert!(ours.is_empty(), "build mounts left: {ours:?}");
}

const DOCKERFILE: &str = r#"FROM localhost/busybox:latest
ARG WHO=world
ENV GREETING=hello
WORKDIR /app
COPY a.txt ./
COPY dir/ /app/dir/
RUN echo "$GREETING $WHO" > /app/out.txt && echo built-output
LABEL org.example.k=v
EXPOSE 8080/tcp
USER 1000:1000
CMD ["cat", "/app/out.txt"]
"#;

#[test]
fn build_runs_the_dockerfile_and_tags_the_image() {
    let work = TestDir::new("build-basic");
    let d = berthd_with_image(&work);
    let ctx = work.join("ctx");
    write_files(
        &ctx,
        &[
            ("Dockerfile", DOCKERFILE),
            ("a.txt", "A\n"),
            ("dir/b.txt", "B\n"),
            ("dir/sub/c.txt", "C\n"),
            ("ignored.txt", "no\n"),
            (".dockerignore", "ignored.txt\n"),
        ],
    );
    let tag = format!("{}:v1", unique_name("bimg"));
    let err = build_ok(
        &d,
        &[
            "-t",
            &tag,
            "--build-arg",
            "WHO=berth",
            ctx.to_str().unwrap(),
        ],
    );
    // BuildKit's plain progress.
    assert!(
        err.contains("[1/11] FROM localhost/busybox:latest"),
        "{err}"
    );
    assert!(err.contains("[7/11] RUN echo \"$GREETING $WHO\""), "{err}");
    assert!(err.contains(" built-output"), "RUN output shown:\n{err}");
    assert!(err.contains("DONE"), "{err}");
    assert!(err.contains("naming to docker.io/library/"), "{err}");

    let out = d.ok(&["run", "--rm", &tag]);
    assert_eq!(out, "hello berth");
    let out = d.ok(&[
        "run",
        "--rm",
        "-u",
        "0",
        &tag,
        "sh",
        "-c",
        "cat /app/a.txt /app/dir/b.txt /app/dir/sub/c.txt; ls /app; stat -c '%u:%g %a' /app/a.txt",
    ]);
    assert_eq!(out, "A\nB\nC\na.txt\ndir\nout.txt\n0:0 644");

    let image = inspect(&d, &tag);
    let config = &image["Config"];
    assert_eq!(config["Cmd"], serde_json::json!(["cat", "/app/out.txt"]));
    assert_eq!(config["WorkingDir"], "/app");
    assert_eq!(config["User"], "1000:1000");
    assert_eq!(config["Labels"]["org.example.k"], "v");
    assert!(config["ExposedPorts"].get("8080/tcp").is_some(), "{config}");
    let env: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(env, ["PATH=/bin", "GREETING=hello"], "ARGs are not in Env");
    // One layer per filesystem instruction: busybox + WORKDIR + 2 COPY + RUN.
    let layers = image["RootFS"]["Layers"].as_array().unwrap().len();
    assert_eq!(layers, 5, "{image}");
    let history = d.ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", &tag]);
    assert!(
        history.contains("RUN |1 WHO=berth /bin/sh -c echo"),
        "{history}"
    );
    assert!(history.contains("COPY a.txt ./ # buildkit"), "{history}");
    assert_nothing_left(&d);
}

#[test]
fn a_rebuild_is_cached_and_a_changed_file_reruns_from_its_copy() {
    let work = TestDir::new("build-cache");
    let mut d = berthd_with_image(&work);
    let ctx = work.join("ctx");
    write_files(
        &ctx,
        &[
            (
                "Dockerfile",
                "FROM localhost/busybox:latest\nRUN echo first > /first\nCOPY f.txt /f.txt\nRUN cat /f.txt > /copied\n",
            ),
            ("f.txt", "one\n"),
        ],
    );
    let c = ctx.to_str().unwrap();
    let tag = format!("{}:c", unique_name("bcache"));
    build_ok(&d, &["-t", &tag, c]);
    let id1 = inspect(&d, &tag)["Id"].clone();
    let err = build_ok(&d, &["-t", &tag, c]);
    assert_eq!(
        err.matches("CACHED").count(),
        3,
        "every step cached:\n{err}"
    );
    assert_eq!(inspect(&d, &tag)["Id"], id1, "the same image");

    // A new mtime alone changes nothing.
    let f = std::fs::File::options()
        .write(true)
        .open(ctx.join("f.txt"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    let err = build_ok(&d, &["-t", &tag, c]);
    assert_eq!(
        err.matches("CACHED").count(),
        3,
        "mtime is not in the key:\n{err}"
    );

    std::fs::write(ctx.join("f.txt"), "two\n").unwrap();
    let err = build_ok(&d, &["-t", &tag, c]);
    assert_eq!(
        err.matches("CACHED").count(),
        1,
        "only the first RUN cached:\n{err}"
    );
    assert_eq!(d.ok(&["run", "--rm", &tag, "cat", "/copied"]), "two");

    // The cache survives a restart of berthd.
    d.stop();
    d.restart();
    let err = build_ok(&d, &["-t", &tag, c]);
    assert_eq!(
        err.matches("CACHED").count(),
        3,
        "cached after restart:\n{err}"
    );

    let err = build_ok(&d, &["--no-cache", "-t", &tag, c]);
    assert_eq!(err.matches("CACHED").count(), 0, "--no-cache:\n{err}");

    // `system df` counts the cache: the 3 steps and the image of the first build, then
    // the COPY, RUN and image after the change.
    let df = d.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}={{.TotalCount}}/{{.Active}}",
    ]);
    assert!(df.contains("Build Cache=7/"), "{df}");
    let out = d.ok(&["builder", "prune", "-a", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    let df = d.ok(&["system", "df", "--format", "{{.Type}}={{.TotalCount}}"]);
    assert!(df.contains("Build Cache=0"), "{df}");
    let err = build_ok(&d, &["-t", &tag, c]);
    assert_eq!(err.matches("CACHED").count(), 0, "pruned cache:\n{err}");
    assert_nothing_left(&d);
}

#[test]
fn multi_stage_builds_only_what_the_target_needs() {
    let work = TestDir::new("build-stages");
    let d = berthd_with_image(&work);
    let ctx = work.join("ctx");
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            r#"FROM localhost/busybox:latest AS one
RUN echo one > /one && sleep 1
FROM localhost/busybox:latest AS two
RUN echo two > /two && sleep 1
FROM localhost/busybox:latest AS unused
RUN echo unused-stage-ran && exit 9
FROM scratch AS final
COPY --from=one /one /one
COPY --from=two /two /bin/
COPY --from=0 /bin/busybox /bin/busybox
"#,
        )],
    );
    let tag = format!("{}:m", unique_name("bstage"));
    let err = build_ok(&d, &["-t", &tag, ctx.to_str().unwrap()]);
    assert!(!err.contains("unused-stage-ran"), "{err}");
    assert!(err.contains("[one 2/2] RUN"), "{err}");
    assert!(
        err.contains("[final 2/4] COPY --from=one /one /one"),
        "{err}"
    );
    let out = d.ok(&[
        "run",
        "--rm",
        &tag,
        "/bin/busybox",
        "cat",
        "/one",
        "/bin/two",
    ]);
    assert_eq!(out, "one\ntwo");
    let image = inspect(&d, &tag);
    assert_eq!(image["RootFS"]["Layers"].as_array().unwrap().len(), 3);

    let tag2 = format!("{}:t", unique_name("bstage"));
    build_ok(&d, &["-t", &tag2, "--target", "two", ctx.to_str().unwrap()]);
    assert_eq!(d.ok(&["run", "--rm", &tag2, "cat", "/two"]), "two");
    assert_nothing_left(&d);
}

#[test]
fn run_mounts_heredocs_add_and_metadata_instructions() {
    let work = TestDir::new("build-mounts");
    let d = berthd_with_image(&work);
    let ctx = work.join("ctx");
    write_files(
        &ctx,
        &[
            (
                "Dockerfile",
                r#"# syntax=docker/dockerfile:1
FROM localhost/busybox:latest
RUN --mount=type=cache,target=/cache echo run >> /cache/runs && cat /cache/runs | wc -l > /count
RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && test ! -e /x
RUN --mount=type=secret,id=tok cat /run/secrets/tok > /secret-copy
RUN --mount=type=bind,source=data,target=/data cat /data/d.txt > /from-bind
RUN <<EOF
echo heredoc-one > /h1
echo heredoc-two >> /h1
EOF
COPY <<EOF /inline.txt
inline $HOSTNAME
EOF
ADD files.tar /unpacked/
COPY --chown=1000:1001 --chmod=600 data/d.txt /owned
SHELL ["/bin/sh", "-ec"]
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s CMD true
ONBUILD RUN echo triggered
VOLUME /vol
ENTRYPOINT ["/bin/sh", "-c"]
"#,
            ),
            ("data/d.txt", "bound\n"),
        ],
    );
    // A tar for ADD to unpack.
    let files = work.join("files");
    write_files(&files, &[("in-tar.txt", "tarred\n")]);
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(&files)
        .arg("-cf")
        .arg(ctx.join("files.tar"))
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let secret = work.join("tok");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let secret_arg = format!("id=tok,src={}", secret.display());
    let tag = format!("{}:x", unique_name("bmount"));
    build_ok(
        &d,
        &["-t", &tag, "--secret", &secret_arg, ctx.to_str().unwrap()],
    );
    let show = "cat /count /secret-copy /from-bind /h1 /inline.txt /unpacked/in-tar.txt; stat -c '%u:%g %a' /owned; ls -A /cache /scratch /run/secrets 2>/dev/null | wc -l";
    let out = d.ok(&["run", "--rm", &tag, show]);
    assert_eq!(
        out,
        "1\ns3cret\nbound\nheredoc-one\nheredoc-two\ninline \ntarred\n1000:1001 600\n0"
    );
    // The cache mount persists: a rebuild without cache sees the first run's line.
    build_ok(
        &d,
        &[
            "--no-cache",
            "-t",
            &tag,
            "--secret",
            &secret_arg,
            ctx.to_str().unwrap(),
        ],
    );
    assert_eq!(d.ok(&["run", "--rm", &tag, "cat /count"]), "2");

    let config = inspect(&d, &tag)["Config"].clone();
    assert_eq!(config["StopSignal"], "SIGUSR1");
    assert_eq!(config["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
    assert_eq!(
        config["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    assert_eq!(config["OnBuild"], serde_json::json!(["RUN echo triggered"]));
    assert!(config["Volumes"].get("/vol").is_some(), "{config}");
    assert_eq!(config["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));

    // The ONBUILD trigger runs in a stage built FROM the image.
    let child = work.join("child");
    write_files(
        &child,
        &[("Dockerfile", &format!("FROM {tag}\nRUN echo child\n"))],
    );
    let err = build_ok(&d, &[child.to_str().unwrap()]);
    assert!(err.contains(" triggered"), "{err}");
    assert_nothing_left(&d);
}

/// Each bad input: exit 1, one `ERROR:` line naming what is wrong (and the line), nothing
/// left behind.
#[test]
fn bad_input_fails_in_one_line_and_leaves_nothing() {
    let work = TestDir::new("build-bad");
    let d = berthd_with_image(&work);
    let cases: &[(&str, &str)] = &[
        ("FROM localhost/busybox:latest\nBOGUS x\n", "dockerfile parse error line 2: unknown instruction: BOGUS"),
        ("FROM localhost/busybox:latest\nCOPY --nope a /\n", "dockerfile parse error line 2: unknown flag: --nope"),
        ("FROM localhost/busybox:latest\nSHELL [\"a\",\n", "dockerfile parse error line 2: SHELL requires the arguments to be in JSON form"),
        ("FROM localhost/busybox:latest\nRUN <<EOF\necho\n", "dockerfile parse error line 2"),
        ("FROM localhost/busybox:latest\nCOPY missing.txt /\n", "Dockerfile:2: COPY missing.txt /: \"missing.txt\": not found"),
        ("FROM localhost/busybox:latest\nCOPY ../outside /\n", "Dockerfile:2: COPY ../outside /: forbidden path outside the build context: ../outside"),
        ("FROM localhost/busybox:latest\nCOPY link /\n", "Dockerfile:2: COPY link /: \"link\": not found"),
        ("FROM localhost/nosuch:latest\n", "Dockerfile:1: FROM localhost/nosuch:latest"),
        ("FROM localhost/busybox:latest\nRUN echo about-to-fail && exit 3\n", "Dockerfile:2: RUN echo about-to-fail && exit 3: process \"/bin/sh -c echo about-to-fail && exit 3\" did not complete successfully: exit code: 3"),
        ("FROM localhost/busybox:latest AS a\nCOPY --from=b /x /x\nFROM localhost/busybox:latest AS b\nCOPY --from=a /y /y\n", "circular dependency detected on stage: a"),
    ];
    for (i, (dockerfile, want)) in cases.iter().enumerate() {
        let ctx = work.join(&format!("ctx{i}"));
        write_files(&ctx, &[("Dockerfile", dockerfile), ("present.txt", "x")]);
        // A symlink leading out of the context.
        std::os::unix::fs::symlink("/etc/passwd", ctx.join("link")).unwrap();
        let out = build(&d, &[ctx.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(code(&out), 1, "{dockerfile:?}:\n{err}");
        let last = err.lines().last().unwrap_or("");
        assert!(
            last.starts_with("ERROR: failed to solve: "),
            "{dockerfile:?}: {err}"
        );
        assert!(
            last.contains(want),
            "{dockerfile:?}: want {want:?} in {last:?}"
        );
        if dockerfile.contains("exit 3") {
            assert!(
                err.contains("about-to-fail"),
                "the RUN's output is shown: {err}"
            );
        }
        assert_nothing_left(&d);
    }
    // An unknown --target.
    let ctx = work.join("ctx-target");
    write_files(&ctx, &[("Dockerfile", "FROM localhost/busybox:latest\n")]);
    let out = build(&d, &["--target", "nope", ctx.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("target stage \"nope\" could not be found"),
        "{}",
        stderr(&out)
    );
    // No Dockerfile at all.
    let empty = work.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = build(&d, &[empty.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    assert_nothing_left(&d);
}

/// Runs `cmd` with `input` on its stdin.
fn with_stdin(cmd: &mut std::process::Command, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berth");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn context_and_dockerfile_from_stdin() {
    let work = TestDir::new("build-stdin");
    let d = berthd_with_image(&work);
    // A Dockerfile on stdin, no context.
    let tag = format!("{}:s", unique_name("bstdin"));
    let out = with_stdin(
        &mut d.berth_cmd(&["build", "-q", "-t", &tag, "-"]),
        b"FROM localhost/busybox:latest\nRUN echo piped > /p\n",
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = stdout(&out);
    assert!(id.trim().starts_with("sha256:"), "-q prints the id: {id}");
    assert_eq!(d.ok(&["run", "--rm", &tag, "cat", "/p"]), "piped");
    // A tar context on stdin, with -f naming its Dockerfile.
    let ctx = work.join("ctx");
    write_files(
        &ctx,
        &[
            (
                "build/Dockerfile.alt",
                "FROM localhost/busybox:latest\nCOPY x /x\n",
            ),
            ("x", "from-tar\n"),
        ],
    );
    let tar = std::process::Command::new("tar")
        .arg("-C")
        .arg(&ctx)
        .arg("-cf")
        .arg("-")
        .arg(".")
        .output()
        .unwrap();
    let iid = work.join("iid");
    let out = with_stdin(
        &mut d.berth_cmd(&[
            "build",
            "-f",
            "build/Dockerfile.alt",
            "--iidfile",
            iid.to_str().unwrap(),
            "-t",
            &tag,
            "-",
        ]),
        &tar.stdout,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(d.ok(&["run", "--rm", &tag, "cat", "/x"]), "from-tar");
    let iid = std::fs::read_to_string(&iid).unwrap();
    assert_eq!(Value::String(iid), inspect(&d, &tag)["Id"]);
    assert_nothing_left(&d);
}

/// Every instruction and flag the classic builder of docker 20.10 shares with BuildKit,
/// in one Dockerfile: built by berth and by a private dockerd's classic builder from the
/// same context, the images' config fields and the files of each layer (names, types,
/// modes, owners, link targets, contents) must be the same.
const DIFFERENTIAL: &str = r#"FROM localhost/busybox:latest
MAINTAINER someone <s@example.org>
ARG VERSION=1.0
ENV APP=/app NAME="two words"
ENV LEGACY value with spaces
LABEL version=$VERSION other="x y"
WORKDIR $APP
COPY a.txt ./
COPY dir/ sub/
COPY --chown=1000:1001 a.txt owned.txt
COPY *.md docs/
ADD files.tar /unpacked/
RUN mkdir -p /made/deep && echo made > /made/deep/f && ln -s /made/deep/f /made/link \
    && ln /made/deep/f /made/hard && chmod 0751 /made/deep && chown 5:6 /made/deep/f \
    && rm -rf /home && echo "$NAME" > /made/name
RUN rm /made/hard
EXPOSE 80 53/udp 8000-8001
VOLUME ["/data", "/cache"]
USER 1000:1001
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD ["true"]
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo onbuild
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]
"#;

#[test]
fn build_matches_the_classic_builder_of_dockerd() {
    use berth_integration_tests::engines::{Dockerd, Runtime};
    use berth_integration_tests::saved_image::read_saved;
    let work = TestDir::new("build-diff");
    let d = berthd_with_image(&work);
    let dockerd = Dockerd::new(Runtime::Runc);
    let ctx = work.join("ctx");
    write_files(
        &ctx,
        &[
            ("Dockerfile", DIFFERENTIAL),
            ("a.txt", "A\n"),
            ("dir/b.txt", "B\n"),
            ("dir/sub/c.txt", "C\n"),
            ("one.md", "1\n"),
            ("two.md", "2\n"),
            ("skipped.md", "no\n"),
            (".dockerignore", "skipped.md\n"),
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        ctx.join("dir/b.txt"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("b.txt", ctx.join("dir/link")).unwrap();
    let files = work.join("files");
    write_files(&files, &[("in-tar.txt", "tarred\n"), ("tdir/t.txt", "t\n")]);
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(&files)
        .arg("--owner=7")
        .arg("--group=8")
        .arg("-cf")
        .arg(ctx.join("files.tar"))
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());

    let tag = format!("{}:diff", unique_name("bdiff"));
    build_ok(&d, &["-t", &tag, ctx.to_str().unwrap()]);
    let mut cmd = dockerd.docker_command(&["build", "-q", "-t", &tag, ctx.to_str().unwrap()]);
    cmd.env("DOCKER_BUILDKIT", "0");
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "docker build: {}", stderr(&out));

    let berth_tar = work.join("berth.tar");
    let docker_tar = work.join("docker.tar");
    d.ok(&["save", "-o", berth_tar.to_str().unwrap(), &tag]);
    dockerd
        .docker(&["save", "-o", docker_tar.to_str().unwrap(), &tag])
        .ok();
    let b = read_saved(&berth_tar);
    let k = read_saved(&docker_tar);
    for field in [
        "Cmd",
        "Entrypoint",
        "Env",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "Labels",
        "Healthcheck",
        "StopSignal",
        "Shell",
        "OnBuild",
    ] {
        assert_eq!(
            b.config["config"][field], k.config["config"][field],
            "config field {field}: berth (left), docker (right)"
        );
    }
    assert_eq!(b.config["author"], k.config["author"]);
    // The layers with entries, in order (docker's classic builder makes empty layers
    // for some metadata steps; BuildKit's and berth's make none).
    let non_empty = |layers: &[Vec<berth_integration_tests::saved_image::Entry>]| {
        layers
            .iter()
            .skip(1)
            .filter(|l| !l.is_empty())
            .cloned()
            .collect::<Vec<_>>()
    };
    let (bl, kl) = (non_empty(&b.layers), non_empty(&k.layers));
    assert_eq!(bl.len(), kl.len(), "layers: berth {bl:#?}\ndocker {kl:#?}");
    for (i, (x, y)) in bl.iter().zip(&kl).enumerate() {
        assert_eq!(
            x, y,
            "layer {i}: berth's entries (left) differ from docker's (right)"
        );
    }
    // The image runs under dockerd too (berth save, docker load).
    let other = format!("{}:loaded", unique_name("bdiff"));
    d.ok(&["tag", &tag, &other]);
    let loaded = work.join("loaded.tar");
    d.ok(&["save", "-o", loaded.to_str().unwrap(), &other]);
    dockerd
        .docker(&["load", "-i", loaded.to_str().unwrap()])
        .ok();
    let out = dockerd
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &other,
            "cat /made/name /app/owned.txt",
        ])
        .ok();
    assert_eq!(out.stdout().trim_end(), "two words\nA");
    assert_nothing_left(&d);
}

/// Ctrl-C during a RUN: the client goes away, berthd cancels the build, removes the
/// step's container and the build's work directory; only finished cache entries stay.
#[test]
fn an_interrupted_build_leaves_nothing_behind() {
    let work = TestDir::new("build-cancel");
    let d = berthd_with_image(&work);
    let ctx = work.join("ctx");
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM localhost/busybox:latest\nRUN echo before > /b\nRUN echo started && sleep 60\n",
        )],
    );
    let progress = work.join("progress.txt");
    let mut child = d
        .berth_cmd(&["build", "--progress", "plain", ctx.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&progress).unwrap())
        .spawn()
        .expect("spawn berth build");
    // Wait for the second RUN's output.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&progress)
        .unwrap_or_default()
        .lines()
        .any(|l| l.ends_with(" started"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the second RUN never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        !d.ok(&["ps", "-q"]).trim().is_empty(),
        "the RUN's container runs"
    );
    // SAFETY: a signal to the berth CLI this test started, by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = child.wait();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let ps = d.ok(&["ps", "-a", "-q"]);
        let work_left = std::fs::read_dir(d.root.join("builder/work"))
            .map(|r| r.count())
            .unwrap_or(0);
        if ps.trim().is_empty() && work_left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left after the interruption: containers {ps:?}, {work_left} work dirs"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_nothing_left(&d);
    // The finished first RUN is cached: a rebuild of it alone is CACHED.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM localhost/busybox:latest\nRUN echo before > /b\n",
    )
    .unwrap();
    let err = build_ok(&d, &[ctx.to_str().unwrap()]);
    assert!(err.contains("CACHED"), "{err}");
}
