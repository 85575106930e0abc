//! Every instruction typed from a line, and each refusal with its message.

use super::*;
use crate::stages::Dockerfile;

fn one(line: &str) -> Result<Instruction, String> {
    let df = Dockerfile::parse(format!("FROM scratch\n{line}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(df.stages[0].statements[0].instruction.clone())
}

fn fails(line: &str) -> String {
    one(line).unwrap_err()
}

#[test]
fn every_instruction_types() {
    assert!(
        matches!(one("run echo").unwrap(), Instruction::Run(r) if r.command.args == ["echo"] && r.command.prepend_shell)
    );
    assert!(
        matches!(one("CMD [\"a\"]").unwrap(), Instruction::Cmd(c) if c.args == ["a"] && !c.prepend_shell)
    );
    assert!(
        matches!(one("ENTRYPOINT a b").unwrap(), Instruction::Entrypoint(c) if c.args == ["a b"])
    );
    assert!(
        matches!(one("LABEL a=b").unwrap(), Instruction::Label(kv) if kv[0].key == "a" && !kv[0].legacy)
    );
    assert!(
        matches!(one("MAINTAINER Me <me@x>").unwrap(), Instruction::Maintainer(m) if m == "Me <me@x>")
    );
    assert!(
        matches!(one("EXPOSE 8080 443").unwrap(), Instruction::Expose(p) if p == ["443", "8080"])
    );
    assert!(
        matches!(one("ENV a b c").unwrap(), Instruction::Env(kv) if kv[0].value == "b c" && kv[0].legacy)
    );
    assert!(matches!(one("VOLUME /a").unwrap(), Instruction::Volume(v) if v == ["/a"]));
    assert!(matches!(one("USER u").unwrap(), Instruction::User(u) if u == "u"));
    assert!(matches!(one("WORKDIR /w").unwrap(), Instruction::Workdir(w) if w == "/w"));
    assert!(
        matches!(one("ARG a b=").unwrap(), Instruction::Arg(a) if a[0].value.is_none() && a[1].value.as_deref() == Some(""))
    );
    assert!(matches!(one("STOPSIGNAL 9").unwrap(), Instruction::StopSignal(s) if s == "9"));
    assert!(matches!(one("SHELL [\"sh\"]").unwrap(), Instruction::Shell(s) if s == ["sh"]));
    assert!(matches!(
        one("HEALTHCHECK none").unwrap(),
        Instruction::Healthcheck(Healthcheck::None)
    ));
    assert!(
        matches!(one("onbuild  RUN x").unwrap(), Instruction::Onbuild(o) if o.expression == "RUN x")
    );
}

#[test]
fn copy_and_add_flags_and_heredoc_sources() {
    let Instruction::Copy(c) = one(
        "COPY --from=b --chown=1:2 --chmod=600 --link --parents --exclude=a --exclude=b x y /d",
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        (c.from.as_str(), c.chown.as_str(), c.chmod.as_str()),
        ("b", "1:2", "600")
    );
    assert!(c.link && c.parents);
    assert_eq!(c.excludes, ["a", "b"]);
    assert_eq!(
        (c.paths.sources.as_slice(), c.paths.dest.as_str()),
        (&["x".to_string(), "y".into()][..], "/d")
    );
    let Instruction::Add(a) =
        one("ADD --keep-git-dir=false --checksum=sha256:x --unpack --link=false git@x:y /d")
            .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (a.keep_git_dir, a.unpack, a.link, a.checksum.as_str()),
        (Some(false), Some(true), false, "sha256:x")
    );
    let df = Dockerfile::parse(b"FROM scratch\nCOPY <<-A plain /d/\n\t\thello $X\n\tA\n").unwrap();
    let Instruction::Copy(c) = &df.stages[0].statements[0].instruction else {
        panic!()
    };
    assert_eq!(c.paths.sources, ["plain"]);
    assert_eq!(c.paths.contents[0].path, "A");
    assert_eq!(c.paths.contents[0].data, "hello $X\n");
    assert!(c.paths.contents[0].expand);
}

#[test]
fn run_flags() {
    let Instruction::Run(r) =
        one("RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --network=host x")
            .unwrap()
    else {
        panic!()
    };
    assert_eq!(r.mount_specs.len(), 2);
    assert_eq!(r.network, Network::Host);
    assert_eq!(r.mount_froms(), ["", ""]);
}

#[test]
fn healthcheck_options() {
    let Instruction::Healthcheck(Healthcheck::Cmd(h)) =
        one("HEALTHCHECK --interval=1m30s --timeout=3s --start-period=0s --start-interval=5ms --retries=2 CMD curl x").unwrap()
    else {
        panic!()
    };
    assert_eq!(h.test, ["CMD-SHELL", "curl x"]);
    assert_eq!(
        (
            h.interval,
            h.timeout,
            h.start_period,
            h.start_interval,
            h.retries
        ),
        (90_000_000_000, 3_000_000_000, 0, 5_000_000, 2)
    );
}

#[test]
fn refusals() {
    for (line, msg) in [
        ("FOO bar", "unknown instruction: FOO"),
        ("COPY a", "COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("ADD a", "ADD requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("COPY --bogus a b", "unknown flag: --bogus"),
        ("COPY --from a b", "missing a value on flag: --from"),
        ("COPY a <<EOF\nx\nEOF", "COPY cannot accept a heredoc as a destination"),
        ("COPY --link=maybe a b", "expecting boolean value for flag --link, not: maybe"),
        ("USER", "USER requires exactly one argument"),
        ("MAINTAINER", "MAINTAINER requires exactly one argument"),
        ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
        ("EXPOSE", "EXPOSE requires at least one argument"),
        ("VOLUME", "VOLUME requires at least one argument"),
        ("VOLUME [\"\"]", "VOLUME specified can not be an empty string"),
        ("ARG", "ARG requires at least one argument"),
        ("ARG =x", "ARG names can not be blank"),
        ("ENV", "ENV requires at least one argument"),
        ("LABEL", "LABEL requires at least one argument"),
        ("ENV =x", "ENV names can not be blank"),
        ("SHELL /bin/sh -c", "SHELL requires the arguments to be in JSON form"),
        ("SHELL []", "SHELL requires at least one argument"),
        ("ONBUILD", "ONBUILD requires at least one argument"),
        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
        ("ONBUILD maintainer x", "MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK foo x", "Unknown type \"FOO\" in HEALTHCHECK (try CMD)"),
        ("HEALTHCHECK --interval=1ns CMD x", "Interval \"interval\" cannot be less than 1ms"),
        ("HEALTHCHECK --timeout=5 CMD x", "time: missing unit in duration \"5\""),
        ("HEALTHCHECK --retries=x CMD x", "strconv.ParseInt: parsing \"x\": invalid syntax"),
        ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"),
        ("RUN --network=bridge x", "invalid network mode \"bridge\""),
        ("RUN --mount=from=$X,target=/t x", "'from' doesn't support variable expansion, define alias stage instead"),
        ("RUN --security=insecure x", "unknown flag: --security"),
        ("CMD --x=1 a", "unknown flag: --x"),
    ] {
        assert_eq!(fails(line), format!("dockerfile parse error line 2: {msg}"), "{line:?}");
    }
    // BuildKit reads no flags for STOPSIGNAL, ARG and HEALTHCHECK NONE.
    assert!(one("STOPSIGNAL --x=1 9").is_ok());
    assert!(one("ARG --x=1 a").is_ok());
    assert!(one("HEALTHCHECK --x=1 NONE").is_ok());
}
