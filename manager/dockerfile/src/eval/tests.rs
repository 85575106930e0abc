//! Scoping and config evaluation, each rule with a Dockerfile of its own.

use super::*;
use crate::stages::StageGraph;

fn opts(args: &[(&str, &str)]) -> BuildOptions {
    BuildOptions {
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        target: None,
        build_platform: Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: String::new(),
        },
        target_platform: Platform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: "v7".into(),
        },
    }
}

/// Evaluates every stage the target needs, each from its base (scratch or an
/// earlier stage; images start empty here), and returns the target's.
fn eval_target(src: &str, o: &BuildOptions) -> Result<EvaluatedStage, String> {
    let df = Dockerfile::parse(src.as_bytes()).map_err(|e| e.to_string())?;
    let global = global_scope(&df, o).map_err(|e| e.to_string())?;
    let graph = StageGraph::new(&df, &global).map_err(|e| e.to_string())?;
    let target = StageGraph::target(&df, o.target.as_deref()).map_err(|e| e.to_string())?;
    let mut done: Vec<Option<EvaluatedStage>> = vec![None; df.stages.len()];
    for i in graph.needed(target) {
        let start = match graph.nodes[i].base {
            crate::stages::Base::Stage(b) => StageStart::from_stage(done[b].as_ref().unwrap()),
            _ => StageStart::default(),
        };
        done[i] =
            Some(evaluate_stage(&df, &df.stages[i], start, &global, o).map_err(|e| e.to_string())?);
    }
    Ok(done[target].take().unwrap())
}

fn env_of(src: &str, o: &BuildOptions) -> Vec<String> {
    eval_target(src, o).unwrap().config.env.to_strings()
}

fn run_env(src: &str, o: &BuildOptions) -> Vec<String> {
    let st = eval_target(src, o).unwrap();
    match st
        .steps
        .iter()
        .rev()
        .find(|s| matches!(s, Step::Run { .. }))
    {
        Some(Step::Run { env, .. }) => env.clone(),
        _ => panic!("no RUN"),
    }
}

#[test]
fn env_expands_against_the_variables_before_the_instruction() {
    let src = "FROM scratch\nENV A=1\nENV A=2 B=$A\nENV C ${A}x y\nENV D=\"$C\" E='$C'\n";
    assert_eq!(
        env_of(src, &opts(&[])),
        ["A=2", "B=1", "C=2x y", "D=2x y", "E=$C"]
    );
}

#[test]
fn global_args_only_reach_from_and_declared_args() {
    let src = "ARG V=1\nARG IMG=scratch\nFROM $IMG\nENV A=$V\nARG V\nENV B=$V\n";
    let st = eval_target(src, &opts(&[])).unwrap();
    assert_eq!(st.config.env.to_strings(), ["A=", "B=1"]);
    // A build-arg wins over the global default, for FROM and inside.
    let st = eval_target(src, &opts(&[("V", "9")])).unwrap();
    assert_eq!(st.config.env.to_strings(), ["A=", "B=9"]);
}

#[test]
fn global_defaults_expand_in_order() {
    let src = "ARG A=x\nARG B=${A}y\nARG A=z\nFROM scratch\nARG A\nARG B\nENV R=$A$B\n";
    assert_eq!(env_of(src, &opts(&[])), ["R=zxy"]);
    assert_eq!(env_of(src, &opts(&[("A", "q")])), ["R=qqy"]);
}

#[test]
fn stage_arg_default_and_build_arg() {
    let src = "FROM scratch\nARG X=def\nENV A=$X\nARG Y\nENV B=${Y:-unset}\n";
    assert_eq!(env_of(src, &opts(&[])), ["A=def", "B=unset"]);
    assert_eq!(
        env_of(src, &opts(&[("X", "given"), ("Y", "")])),
        ["A=given", "B=unset"]
    );
    assert_eq!(env_of(src, &opts(&[("Y", "y")])), ["A=def", "B=y"]);
}

#[test]
fn args_are_in_run_env_but_not_in_image_env() {
    let src = "FROM scratch\nARG X=1\nENV E=2\nRUN true\n";
    let st = eval_target(src, &opts(&[])).unwrap();
    assert_eq!(st.config.env.to_strings(), ["E=2"]);
    assert_eq!(run_env(src, &opts(&[])), ["X=1", "E=2"]);
    assert_eq!(
        st.history.last().unwrap().created_by,
        "RUN |1 X=1 /bin/sh -c true # buildkit"
    );
}

#[test]
fn env_after_arg_of_the_same_name_wins_and_keeps_its_place() {
    let src = "FROM scratch\nARG V=arg\nENV V=env\nENV W=$V\nRUN true\n";
    assert_eq!(env_of(src, &opts(&[("V", "cli")])), ["V=env", "W=env"]);
    assert_eq!(run_env(src, &opts(&[("V", "cli")])), ["V=env", "W=env"]);
}

#[test]
fn predefined_platform_args() {
    let src = "FROM --platform=$BUILDPLATFORM scratch\nARG TARGETPLATFORM\nARG BUILDARCH\nARG TARGETVARIANT\nARG TARGETSTAGE\nENV T=$TARGETPLATFORM B=$BUILDARCH V=$TARGETVARIANT S=$TARGETSTAGE U=$TARGETOS\n";
    assert_eq!(
        env_of(src, &opts(&[])),
        ["T=linux/arm/v7", "B=amd64", "V=v7", "S=default", "U="]
    );
    assert_eq!(
        env_of(src, &opts(&[("TARGETPLATFORM", "linux/s390x")])),
        ["T=linux/s390x", "B=amd64", "V=v7", "S=default", "U="]
    );
    let df = Dockerfile::parse(src.as_bytes()).unwrap();
    let global = global_scope(&df, &opts(&[])).unwrap();
    let graph = StageGraph::new(&df, &global).unwrap();
    assert_eq!(graph.nodes[0].platform.as_deref(), Some("linux/amd64"));
}

#[test]
fn proxy_build_args_reach_run_only() {
    let src = "FROM scratch\nENV A=${HTTP_PROXY:-none}\nRUN true\n";
    let o = opts(&[
        ("HTTP_PROXY", "http://p:3128"),
        ("no_proxy", "x"),
        ("OTHER", "o"),
    ]);
    assert_eq!(env_of(src, &o), ["A=none"]);
    assert_eq!(
        run_env(src, &o),
        ["A=none", "HTTP_PROXY=http://p:3128", "no_proxy=x"]
    );
    let st = eval_target(src, &o).unwrap();
    assert_eq!(
        st.history.last().unwrap().created_by,
        "RUN /bin/sh -c true # buildkit"
    );
}

#[test]
fn a_stage_from_a_stage_inherits_env_args_and_config() {
    let src = "FROM scratch AS base\nARG V=1\nENV E=2\nWORKDIR /w\nUSER u\nFROM base\nENV F=$V$E\nRUN true\n";
    let st = eval_target(src, &opts(&[])).unwrap();
    assert_eq!(st.config.env.to_strings(), ["E=2", "F=12"]);
    assert_eq!(
        (st.config.working_dir.as_str(), st.config.user.as_str()),
        ("/w", "u")
    );
    assert_eq!(run_env(src, &opts(&[])), ["V=1", "E=2", "F=12"]);
}

#[test]
fn metadata_instructions_set_the_config() {
    let src = concat!(
        "FROM scratch\n",
        "ENV P=/opt\n",
        "LABEL a=1 \"b c\"=\"d e\" $P=x\n",
        "EXPOSE 80 53/UDP 8000-8002 ${P:+9000}\n",
        "VOLUME /data $P/v\n",
        "WORKDIR $P\n",
        "WORKDIR sub/../app\n",
        "USER ${P#/}:staff\n",
        "STOPSIGNAL SIGQUIT\n",
        "SHELL [\"/bin/bash\", \"-c\"]\n",
        "CMD echo $P\n",
        "HEALTHCHECK --interval=30s --retries=3 CMD [\"true\"]\n",
        "ONBUILD RUN echo hi\n",
        "MAINTAINER me\n",
    );
    let c = eval_target(src, &opts(&[])).unwrap().config;
    assert_eq!(
        c.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
        ["/opt=x", "a=1", "b c=d e"]
    );
    assert_eq!(
        c.exposed_ports.iter().cloned().collect::<Vec<_>>(),
        ["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp", "9000/tcp"]
    );
    assert_eq!(
        c.volumes.iter().cloned().collect::<Vec<_>>(),
        ["/data", "/opt/v"]
    );
    assert_eq!(c.working_dir, "/opt/app");
    assert_eq!(c.user, "opt:staff");
    assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(
        c.cmd.as_deref(),
        Some(&["/bin/bash".to_string(), "-c".into(), "echo $P".into()][..])
    );
    let h = c.healthcheck.unwrap();
    assert_eq!(
        (h.test, h.interval, h.retries),
        (vec!["CMD".to_string(), "true".into()], 30_000_000_000, 3)
    );
    assert_eq!(c.on_build, ["RUN echo hi"]);
    assert_eq!(c.author.as_deref(), Some("me"));
}

#[test]
fn entrypoint_resets_an_inherited_cmd_but_not_its_own() {
    let src = "FROM scratch AS a\nCMD [\"x\"]\nFROM a\nENTRYPOINT [\"e\"]\n";
    let c = eval_target(src, &opts(&[])).unwrap().config;
    assert_eq!((c.entrypoint, c.cmd), (Some(vec!["e".to_string()]), None));
    let src = "FROM scratch\nCMD [\"x\"]\nENTRYPOINT e\n";
    let c = eval_target(src, &opts(&[])).unwrap().config;
    assert_eq!(
        c.entrypoint,
        Some(vec!["/bin/sh".to_string(), "-c".into(), "e".into()])
    );
    assert_eq!(c.cmd, Some(vec!["x".to_string()]));
}

#[test]
fn onbuild_triggers_of_the_base_run_first_and_are_not_inherited() {
    let src =
        "FROM scratch AS a\nONBUILD ENV FROM_TRIGGER=1\nENV X=1\nFROM a\nENV Y=$FROM_TRIGGER\n";
    let c = eval_target(src, &opts(&[])).unwrap().config;
    assert_eq!(c.env.to_strings(), ["X=1", "FROM_TRIGGER=1", "Y=1"]);
    assert!(c.on_build.is_empty());
}

#[test]
fn filesystem_steps_carry_their_state() {
    let src = concat!(
        "FROM scratch AS src\n",
        "FROM scratch\n",
        "ARG D=/dst\n",
        "WORKDIR /w\n",
        "USER 1:1\n",
        "COPY --chown=$D --from=src a${D} $D/\n",
        "COPY <<EOF <<'RAW' /x/\n",
        "v=$D\n",
        "EOF\n",
        "v=$D\n",
        "RAW\n",
        "RUN --mount=type=cache,id=c$D,target=/c --network=none [\"make\"]\n",
        "ADD --checksum=sha256:$D http://x/y /z\n",
    );
    let st = eval_target(src, &opts(&[])).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(st.steps.len(), 5);
    assert!(matches!(&st.steps[0], Step::Mkdir { path, .. } if path == "/w"));
    match &st.steps[1] {
        Step::Copy {
            sources,
            dest,
            chown,
            from,
            workdir,
            user,
            ..
        } => {
            assert_eq!(
                (sources.as_slice(), dest.as_str(), chown.as_str()),
                (&["a/dst".to_string()][..], "/dst/", "/dst")
            );
            assert_eq!(
                (from.as_str(), workdir.as_str(), user.as_str()),
                ("src", "/w", "1:1")
            );
        }
        s => panic!("{s:?}"),
    }
    match &st.steps[2] {
        Step::Copy { contents, .. } => assert_eq!(
            contents,
            &[
                ("EOF".to_string(), "v=/dst\n".to_string()),
                ("RAW".to_string(), "v=$D\n".to_string())
            ]
        ),
        s => panic!("{s:?}"),
    }
    match &st.steps[3] {
        Step::Run {
            args,
            mounts,
            network,
            ..
        } => {
            assert_eq!(args, &["make"]);
            assert_eq!((mounts[0].id.as_str(), *network), ("c/dst", Network::None));
        }
        s => panic!("{s:?}"),
    }
    assert!(
        matches!(&st.steps[4], Step::Copy { add: true, checksum, .. } if checksum == "sha256:/dst")
    );
    let created: Vec<_> = st
        .history
        .iter()
        .map(|h| (h.created_by.as_str(), h.empty_layer))
        .collect();
    assert_eq!(created[1], ("WORKDIR /w", false));
    assert_eq!(
        created[3],
        ("COPY --from=src --chown=/dst a/dst /dst/ # buildkit", false)
    );
}

#[test]
fn evaluation_errors_name_the_line() {
    for (src, msg) in [
        ("FROM scratch\n\nENV A=\"${B:?must be set}\"\n", "dockerfile parse error line 3: failed to process \"\\\"${B:?must be set}\\\"\": B: must be set"),
        ("FROM scratch\nSTOPSIGNAL NOPE\n", "dockerfile parse error line 2: Invalid signal: NOPE"),
        ("FROM scratch\nEXPOSE 80/\n", "dockerfile parse error line 2: invalid port: 80/"),
        ("FROM scratch\nRUN --mount=type=$T true\n", "dockerfile parse error line 2: unsupported mount type \"\""),
        ("ARG A=${B:?no}\nFROM scratch\n", "dockerfile parse error line 1: failed to process \"${B:?no}\": B: no"),
    ] {
        assert_eq!(eval_target(src, &opts(&[])).unwrap_err(), msg, "{src:?}");
    }
}

#[test]
fn workdir_normalization() {
    for (cur, req, want) in [
        ("", "a", "/a"),
        ("/x", "a/b/../c", "/x/a/c"),
        ("/x", "/y/./z/", "/y/z"),
        ("/", "..", "/"),
    ] {
        assert_eq!(normalize_workdir(cur, req), want, "{cur} {req}");
    }
}
