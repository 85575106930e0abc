//! berth-dockerfile against docker itself (issue 17's groundwork): a private
//! dockerd 20.10 builds small Dockerfiles that exercise expansion, ARG/ENV
//! scoping, LABEL and the other metadata instructions, with its classic
//! builder and with BuildKit (`DOCKER_BUILDKIT=1`); the image config it
//! writes (`docker image inspect`) must be the config berth-dockerfile
//! computes for the same file and build args.
//!
//! The files use only metadata instructions (no RUN, no COPY), so nothing
//! runs and no network is needed; the base is the busybox image the Dockerd
//! helper imports (its config: `Env=["PATH=/bin"]`), or scratch. Where
//! docker's two builders disagree (platform ARGs exist only under BuildKit;
//! a stage built FROM another keeps that stage's ARG values only under
//! BuildKit), the case is compared with BuildKit alone, which is what
//! berth-dockerfile follows. The BuildKit in docker 20.10 has an old
//! Dockerfile frontend (1.2): it lacks `${V-x}`/`${V+x}` without the colon
//! and the `#`/`%`/`/` pattern modifiers, so those are covered by the unit
//! tests (BuildKit's own cases) and not here.

use std::collections::BTreeMap;

use berth_dockerfile::eval::{self, BuildOptions, EvaluatedStage, ImageConfig, StageStart};
use berth_dockerfile::stages::{Base, Dockerfile, StageGraph};
use berth_integration_tests::engines::{Dockerd, Runtime, IMAGE};
use berth_integration_tests::{require_root, TestDir};
use serde_json::Value;

/// Which of docker's builders a case is compared with.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Builders {
    Both,
    BuildKitOnly,
}

struct Case {
    name: &'static str,
    dockerfile: &'static str,
    build_args: &'static [(&'static str, &'static str)],
    target: Option<&'static str>,
    builders: Builders,
}

const CASES: &[Case] = &[
    Case {
        name: "expansion",
        dockerfile: r#"FROM localhost/busybox:latest
ENV A=1
ENV B=$A C=${A:-x} D=${NOPE:-def} E=${A:+alt} F=${NOPE:+alt}
ENV G="quoted $A" H='single $A' I=esc\ aped\$A
ENV A=2 J=$A
ENV legacy the rest  of  the line $A
LABEL l1=$A "l 2"="v 2" l3='$A'
LABEL legacy value with $J
"#,
        build_args: &[],
        target: None,
        builders: Builders::Both,
    },
    Case {
        name: "metadata",
        dockerfile: r#"FROM localhost/busybox:latest
ENV D=/data U=1000
WORKDIR /w
WORKDIR sub/../d
USER $U:staff
EXPOSE 80 53/udp 8000-8001
VOLUME ["/v1"]
VOLUME $D/v2 /v3
STOPSIGNAL SIGQUIT
SHELL ["/bin/sh", "-ec"]
CMD echo $D
HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD wget -q localhost || exit 1
ONBUILD ENV TRIGGERED=yes
MAINTAINER someone
"#,
        build_args: &[],
        target: None,
        builders: Builders::Both,
    },
    Case {
        name: "entrypoint-cmd",
        dockerfile: r#"FROM localhost/busybox:latest
CMD ["base-cmd"]
ENTRYPOINT ["/bin/echo", "x"]
HEALTHCHECK NONE
"#,
        build_args: &[],
        target: None,
        builders: Builders::Both,
    },
    Case {
        name: "arg-scoping",
        dockerfile: r#"ARG BASE=localhost/busybox:latest
ARG V=global
FROM $BASE
ENV BEFORE=${V:-unset}
ARG V
ENV AFTER=$V
ARG W=default
ENV W_IS=$W
ARG V2=${V}-x
ENV V2_IS=$V2
ARG E
ENV E_IS=[$E]
"#,
        build_args: &[],
        target: None,
        builders: Builders::Both,
    },
    Case {
        name: "arg-scoping-build-args",
        dockerfile: r#"ARG BASE=localhost/busybox:latest
ARG V=global
FROM $BASE
ENV BEFORE=${V:-unset}
ARG V
ENV AFTER=$V
ARG W=default
ENV W_IS=$W
ARG V2=${V}-x
ENV V2_IS=$V2
ARG E
ENV E_IS=[$E]
"#,
        build_args: &[("V", "cli"), ("W", "w"), ("E", "")],
        target: None,
        builders: Builders::Both,
    },
    Case {
        name: "env-beats-arg",
        dockerfile: r#"FROM localhost/busybox:latest
ARG X=arg
ENV X=env
ENV Y=$X
"#,
        build_args: &[("X", "cli")],
        target: None,
        builders: Builders::Both,
    },
    Case {
        name: "escape-directive",
        dockerfile: "# escape=`\nFROM localhost/busybox:latest\nENV P=c:\\dir\\$HOME `\n    Q=`$literal\nLABEL w=\"a`\"b\"\n",
        build_args: &[],
        target: None,
        builders: Builders::Both,
    },
    Case {
        name: "stages-and-target",
        dockerfile: r#"FROM localhost/busybox:latest AS base
ENV FROM_BASE=1
ENTRYPOINT ["/bin/echo"]
FROM base AS second
ENV SEEN=$FROM_BASE
CMD ["hello"]
FROM scratch AS other
LABEL other=1
"#,
        build_args: &[],
        target: Some("second"),
        builders: Builders::Both,
    },
    Case {
        name: "stage-inherits-args",
        dockerfile: r#"FROM localhost/busybox:latest AS base
ARG STAGE_ARG=a
FROM base
ENV SEEN=${STAGE_ARG:-unset}
"#,
        build_args: &[],
        target: None,
        builders: Builders::BuildKitOnly,
    },
    Case {
        name: "buildkit-platform-args",
        dockerfile: r#"FROM localhost/busybox:latest
ARG TARGETPLATFORM
ARG TARGETOS
ARG TARGETARCH
ARG BUILDPLATFORM
ENV T=$TARGETPLATFORM O=$TARGETOS A=$TARGETARCH B=$BUILDPLATFORM
"#,
        build_args: &[],
        target: None,
        builders: Builders::BuildKitOnly,
    },
];

/// The config berth-dockerfile computes: every stage the target needs,
/// each from its base (the busybox image's config, scratch's empty one, or
/// the earlier stage's result).
fn ours(case: &Case, image_base: &ImageConfig) -> Value {
    let df = Dockerfile::parse(case.dockerfile.as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let opts = BuildOptions {
        build_args: case
            .build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        target: case.target.map(str::to_string),
        ..BuildOptions::default()
    };
    let global = eval::global_scope(&df, &opts).unwrap();
    let graph = StageGraph::new(&df, &global).unwrap();
    let target = StageGraph::target(&df, opts.target.as_deref()).unwrap();
    let mut done: Vec<Option<EvaluatedStage>> = vec![None; df.stages.len()];
    for i in graph.needed(target) {
        let start = match &graph.nodes[i].base {
            Base::Stage(b) => StageStart::from_stage(done[*b].as_ref().unwrap()),
            Base::Scratch => StageStart::default(),
            Base::Image(name) => {
                assert_eq!(name, IMAGE, "{}: the only image these cases use", case.name);
                StageStart::from_image(image_base.clone())
            }
        };
        done[i] = Some(eval::evaluate_stage(&df, &df.stages[i], start, &global, &opts).unwrap());
    }
    done[target].take().unwrap().config.to_docker_json()
}

/// The fields a Dockerfile sets, from docker's `Config`; empty maps and
/// lists as null (docker writes either, depending on the builder).
fn comparable(config: &Value) -> BTreeMap<&'static str, Value> {
    const FIELDS: [&str; 12] = [
        "User",
        "ExposedPorts",
        "Env",
        "Entrypoint",
        "Cmd",
        "Healthcheck",
        "Volumes",
        "WorkingDir",
        "Labels",
        "StopSignal",
        "Shell",
        "OnBuild",
    ];
    FIELDS
        .iter()
        .map(|f| {
            let v = config.get(*f).cloned().unwrap_or(Value::Null);
            let v = match &v {
                Value::Object(m) if m.is_empty() => Value::Null,
                Value::Array(a) if a.is_empty() => Value::Null,
                Value::String(s) if s.is_empty() => Value::Null,
                _ => v,
            };
            (*f, v)
        })
        .collect()
}

/// Builds `case` with one of docker's builders and returns the image's
/// `Config`.
fn theirs(dockerd: &Dockerd, dir: &TestDir, case: &Case, buildkit: bool) -> Value {
    let ctx = dir.join(case.name);
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), case.dockerfile).unwrap();
    let tag = format!(
        "berthdf-{}-{}",
        case.name,
        if buildkit { "bk" } else { "classic" }
    );
    let mut args: Vec<String> = vec!["build".into(), "-q".into(), "-t".into(), tag.clone()];
    for (k, v) in case.build_args {
        args.push("--build-arg".into());
        args.push(format!("{k}={v}"));
    }
    if let Some(t) = case.target {
        args.push("--target".into());
        args.push(t.into());
    }
    args.push(ctx.to_str().unwrap().into());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = dockerd.docker_command(&argv);
    cmd.env("DOCKER_BUILDKIT", if buildkit { "1" } else { "0" });
    let out = berth_integration_tests::engines::run_with_timeout(
        &mut cmd,
        berth_integration_tests::engines::COMMAND_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "{} ({}): docker build failed: {}\n{}",
        case.name,
        if buildkit { "BuildKit" } else { "classic" },
        String::from_utf8_lossy(&out.stderr),
        dockerd.log_tail(20)
    );
    let inspect = dockerd
        .docker(&["image", "inspect", "-f", "{{json .Config}}", &tag])
        .ok();
    serde_json::from_str(inspect.stdout().trim()).unwrap()
}

#[test]
fn image_configs_match_docker_builders() {
    require_root();
    let dockerd = Dockerd::new(Runtime::Runc);
    let dir = TestDir::new("dockerfile-diff");
    let busybox = ImageConfig {
        env: berth_dockerfile::env::EnvList::from_strings(&["PATH=/bin"]),
        ..ImageConfig::default()
    };
    let mut compared = 0;
    for case in CASES {
        let ours = comparable(&ours(case, &busybox));
        for buildkit in [true, false] {
            if !buildkit && case.builders == Builders::BuildKitOnly {
                continue;
            }
            let theirs = comparable(&theirs(&dockerd, &dir, case, buildkit));
            assert_eq!(
                ours,
                theirs,
                "{} ({}): berth-dockerfile's config (left) differs from docker's (right)",
                case.name,
                if buildkit { "BuildKit" } else { "classic" }
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 2 * CASES.len() - 2);
}

#[test]
fn onbuild_triggers_of_a_built_image_match_docker() {
    // An image with ONBUILD triggers, built by docker; a second Dockerfile
    // FROM it runs them first: docker's result and ours must agree.
    require_root();
    let dockerd = Dockerd::new(Runtime::Runc);
    let dir = TestDir::new("dockerfile-onbuild");
    let parent = "FROM localhost/busybox:latest\nENV P=1\nONBUILD ENV TRIGGERED=$P\nONBUILD LABEL from=trigger\n";
    let child = "FROM berthdf-onbuild-parent\nENV AFTER=${TRIGGERED:-no}\n";
    for buildkit in [true, false] {
        let write = |name: &str, content: &str| {
            let ctx = dir.join(&format!("{name}-{buildkit}"));
            std::fs::create_dir_all(&ctx).unwrap();
            std::fs::write(ctx.join("Dockerfile"), content).unwrap();
            ctx
        };
        let build = |ctx: &std::path::Path, tag: &str| {
            let mut cmd =
                dockerd.docker_command(&["build", "-q", "-t", tag, ctx.to_str().unwrap()]);
            cmd.env("DOCKER_BUILDKIT", if buildkit { "1" } else { "0" });
            let out = berth_integration_tests::engines::run_with_timeout(
                &mut cmd,
                berth_integration_tests::engines::COMMAND_TIMEOUT,
            );
            assert!(
                out.status.success(),
                "build {tag}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        build(&write("parent", parent), "berthdf-onbuild-parent");
        build(&write("child", child), "berthdf-onbuild-child");
        let inspect = dockerd
            .docker(&[
                "image",
                "inspect",
                "-f",
                "{{json .Config}}",
                "berthdf-onbuild-child",
            ])
            .ok();
        let theirs: Value = serde_json::from_str(inspect.stdout().trim()).unwrap();

        // Ours: the parent evaluated from busybox, the child from the parent's image config.
        let opts = BuildOptions::default();
        let eval_one = |src: &str, base: StageStart| {
            let df = Dockerfile::parse(src.as_bytes()).unwrap();
            let global = eval::global_scope(&df, &opts).unwrap();
            eval::evaluate_stage(&df, &df.stages[0], base, &global, &opts).unwrap()
        };
        let busybox = ImageConfig {
            env: berth_dockerfile::env::EnvList::from_strings(&["PATH=/bin"]),
            ..ImageConfig::default()
        };
        let parent_stage = eval_one(parent, StageStart::from_image(busybox));
        assert_eq!(
            parent_stage.config.on_build,
            ["ENV TRIGGERED=$P", "LABEL from=trigger"]
        );
        let child_stage = eval_one(child, StageStart::from_image(parent_stage.config.clone()));
        assert_eq!(
            comparable(&child_stage.config.to_docker_json()),
            comparable(&theirs),
            "{}",
            if buildkit { "BuildKit" } else { "classic" }
        );
        let _ = dockerd.docker(&["rmi", "berthdf-onbuild-child", "berthdf-onbuild-parent"]);
    }
}

#[test]
fn syntax_errors_read_as_dockerds() {
    // docker 20.10's classic builder and berth-dockerfile refuse the same
    // bad Dockerfiles with the same message (the CLI prefixes "Error
    // response from daemon: ").
    require_root();
    let dockerd = Dockerd::new(Runtime::Runc);
    let dir = TestDir::new("dockerfile-errors");
    // How docker shows each: errors of the instruction model name the line
    // (Line: "dockerfile parse error line N: ..."); errors of the line
    // parser do not (Parse: "failed to parse Dockerfile: ..."), nor does an
    // instruction before FROM (Bare). Ours always name the line. (docker
    // 20.10's classic builder words an unknown flag "Unknown flag: bogus";
    // BuildKit's, which we follow, "unknown flag: --bogus": not compared.)
    #[derive(Clone, Copy)]
    enum Shown {
        Line,
        Parse,
        Bare,
    }
    use Shown::*;
    let cases = [
        ("FROM localhost/busybox:latest\nFOO bar\n", Line),
        ("FROM localhost/busybox:latest\n\nENV a=1 b\n", Parse),
        ("FROM localhost/busybox:latest\nCOPY onlyone\n", Line),
        ("FROM localhost/busybox:latest AS 1st\n", Line),
        ("FROM localhost/busybox:latest\nCMD [\"a\", 1]\n", Parse),
        ("FROM localhost/busybox:latest\nUSER\n", Line),
        ("FROM localhost/busybox:latest\nHEALTHCHECK NONE x\n", Line),
        (
            "FROM localhost/busybox:latest\nONBUILD ONBUILD RUN x\n",
            Line,
        ),
        ("FROM localhost/busybox:latest\nENV key\n", Parse),
        ("RUN x\nFROM localhost/busybox:latest\n", Bare),
    ];
    let mut mismatches = Vec::new();
    for (i, (src, shown)) in cases.iter().enumerate() {
        let err = Dockerfile::parse(src.as_bytes()).expect_err(src);
        let want = match shown {
            Line => err.to_string(),
            Parse => format!("failed to parse Dockerfile: {}", err.kind),
            Bare => err.kind.to_string(),
        };
        let ctx = dir.join(&format!("bad{i}"));
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(ctx.join("Dockerfile"), src).unwrap();
        let mut cmd = dockerd.docker_command(&["build", "-q", ctx.to_str().unwrap()]);
        cmd.env("DOCKER_BUILDKIT", "0");
        let out = berth_integration_tests::engines::run_with_timeout(
            &mut cmd,
            berth_integration_tests::engines::COMMAND_TIMEOUT,
        );
        assert!(!out.status.success(), "{src:?}: docker built it");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.trim_end().ends_with(&want) {
            mismatches.push(format!("{src:?}: ours {want:?}, docker's {stderr:?}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
