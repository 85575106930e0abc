//! The stage graph: bases, --from by name or index, mounts, targets, cycles
//! and the errors of instructions that no stage can hold.

use super::*;

fn graph(src: &str, global: &[(&str, &str)]) -> Result<(Dockerfile, StageGraph), String> {
    let df = Dockerfile::parse(src.as_bytes()).map_err(|e| e.to_string())?;
    let mut env = EnvList::new();
    for (k, v) in global {
        env.set(k, v);
    }
    let g = StageGraph::new(&df, &env).map_err(|e| e.to_string())?;
    Ok((df, g))
}

#[test]
fn bases_and_sources() {
    let src = concat!(
        "FROM busybox AS Build\n",               // 0: image, name lower-cased
        "FROM scratch\n",                        // 1
        "FROM build AS two\n",                   // 2: stage 0
        "FROM Build\n",                          // 3: an image (exact match only)
        "FROM $BASE\n",                          // 4: from the global scope
        "COPY --from=BUILD /a /a\n",             // stage 0, any case
        "COPY --from=1 /b /b\n",                 // stage 1 by index
        "COPY --from=alpine:3 /c /c\n",          // an image
        "RUN --mount=from=two,target=/m true\n", // stage 2
        "RUN --mount=type=bind,from=img,target=/i true\n", // an image
    );
    let (df, g) = graph(src, &[("BASE", "two")]).unwrap();
    assert_eq!(df.stages[0].from.name.as_deref(), Some("build"));
    let bases: Vec<_> = g.nodes.iter().map(|n| n.base.clone()).collect();
    assert_eq!(
        bases,
        [
            Base::Image("busybox".into()),
            Base::Scratch,
            Base::Stage(0),
            Base::Image("Build".into()),
            Base::Stage(2),
        ]
    );
    let sources: Vec<_> = g.nodes[4].sources.iter().map(|(_, s)| s.clone()).collect();
    assert_eq!(
        sources,
        [
            Source::Stage(0),
            Source::Stage(1),
            Source::Image("alpine:3".into()),
            Source::Stage(2),
            Source::Image("img".into()),
        ]
    );
    assert_eq!(g.deps(4), [2, 0, 1]);
}

#[test]
fn only_what_the_target_needs_in_dependency_order() {
    let src = concat!(
        "FROM scratch AS a\n",
        "FROM scratch AS b\n",
        "FROM scratch AS unused\n",
        "FROM a AS c\n",
        "COPY --from=b / /\n",
        "FROM scratch AS d\n",
        "COPY --from=c / /\n",
    );
    let (df, g) = graph(src, &[]).unwrap();
    assert_eq!(
        g.needed(StageGraph::target(&df, None).unwrap()),
        [0, 1, 3, 4]
    );
    assert_eq!(
        g.needed(StageGraph::target(&df, Some("C")).unwrap()),
        [0, 1, 3]
    );
    assert_eq!(
        g.needed(StageGraph::target(&df, Some("unused")).unwrap()),
        [2]
    );
    assert_eq!(
        StageGraph::target(&df, Some("nope"))
            .unwrap_err()
            .to_string(),
        "target stage \"nope\" could not be found"
    );
}

#[test]
fn a_later_stage_by_name_is_allowed_and_cycles_are_not() {
    let (_, g) = graph(
        "FROM scratch\nCOPY --from=later / /\nFROM scratch AS later\n",
        &[],
    )
    .unwrap();
    assert_eq!(g.needed(0), [1, 0]);
    assert_eq!(
        graph(
            "FROM scratch AS x\nCOPY --from=y / /\nFROM scratch AS y\nCOPY --from=x / /\n",
            &[]
        )
        .unwrap_err(),
        "circular dependency detected on stage: x"
    );
    assert_eq!(
        graph("FROM scratch\nCOPY --from=0 / /\n", &[]).unwrap_err(),
        "circular dependency detected on stage: stage-0"
    );
}

#[test]
fn graph_errors() {
    for (src, global, msg) in [
        ("FROM scratch\nCOPY --from=$X / /\n", &[][..], "dockerfile parse error line 2: variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround"),
        ("FROM scratch\nCOPY --from=3 / /\n", &[], "dockerfile parse error line 2: invalid stage index 3"),
        ("FROM scratch\nRUN --mount=from=b,target=/t true\nFROM scratch AS b\n", &[], "dockerfile parse error line 2: cannot mount from stage \"b\" to \"/t\", stage needs to be defined before current command"),
        ("FROM $NOTHING\n", &[], "dockerfile parse error line 1: base name ($NOTHING) should not be blank"),
        ("FROM --platform=$P scratch\n", &[], "dockerfile parse error line 1: empty platform value from expression $P"),
        ("FROM ${X:?required}\n", &[], "dockerfile parse error line 1: failed to process \"${X:?required}\": X: required"),
    ] {
        assert_eq!(graph(src, global).unwrap_err(), msg, "{src:?}");
    }
}

#[test]
fn meta_args_and_stage_errors() {
    let df = Dockerfile::parse(b"ARG A=1 B\n# c\nARG C\nFROM scratch\nARG D\n").unwrap();
    assert_eq!(df.meta_args.len(), 2);
    assert_eq!(df.meta_args[0].0, 1);
    assert_eq!(df.meta_args[1].0, 3);
    assert_eq!(df.stages[0].statements.len(), 1);
    for (src, msg) in [
        ("RUN x\nFROM scratch\n", "dockerfile parse error line 1: no build stage in current context"),
        ("ARG A\n", "dockerfile parse error line 1: no build stage in current context"),
        ("FROM a b\n", "dockerfile parse error line 1: FROM requires either one or three arguments"),
        ("FROM a AS 1x\n", "dockerfile parse error line 1: invalid name for build stage: \"1x\", name can't start with a number or contain symbols"),
        ("FROM --plat=x a\n", "dockerfile parse error line 1: unknown flag: --plat"),
    ] {
        assert_eq!(Dockerfile::parse(src.as_bytes()).unwrap_err().to_string(), msg, "{src:?}");
    }
}
