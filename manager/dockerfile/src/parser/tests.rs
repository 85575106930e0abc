//! The parser's rules, each with a small Dockerfile of our own; the tricky
//! cases of BuildKit's parser testfiles (escapes, indented continuations,
//! comments inside continuations, oddly quoted JSON) restated.

use super::*;

/// A compact view of the nodes: `instr[flags] args` with `json` marked.
fn dump(src: &str) -> Vec<String> {
    parse(src.as_bytes())
        .unwrap_or_else(|e| panic!("{src:?}: {e}"))
        .nodes
        .iter()
        .map(|n| {
            let mut s = n.instruction.to_ascii_lowercase();
            if !n.flags.is_empty() {
                s.push_str(&format!(" {:?}", n.flags));
            }
            if n.json {
                s.push_str(" json");
            }
            for a in &n.args {
                s.push_str(&format!(" {a:?}"));
            }
            s
        })
        .collect()
}

fn err(src: &str) -> String {
    parse(src.as_bytes()).unwrap_err().to_string()
}

#[test]
fn continuations_join_lines_and_keep_their_indentation() {
    let src = "FROM a\nRUN echo hello\\\n  world\\\n  goodnight  \\\n  moon\\\nning\nRUN echo hi  \\  \nthere\nRUN a \\\n# a comment inside\n  b\n";
    assert_eq!(
        dump(src),
        [
            "from \"a\"",
            "run \"echo hello  world  goodnight    moonning\"",
            "run \"echo hi  there\"",
            "run \"a   b\"",
        ]
    );
}

#[test]
fn empty_continuation_lines_are_skipped_with_a_warning() {
    let src = "FROM a\nRUN foo \\\n\nbar \\\n   \nbaz\n";
    let ast = parse(src.as_bytes()).unwrap();
    assert_eq!(ast.nodes[1].args, ["foo bar baz"]);
    assert_eq!((ast.nodes[1].start_line, ast.nodes[1].end_line), (2, 6));
    assert_eq!(ast.warnings.len(), 1);
    assert!(ast.warnings[0]
        .message
        .starts_with("Empty continuation line found in: RUN foo bar baz"));
}

#[test]
fn continuation_at_end_of_file_ends_the_instruction() {
    assert_eq!(
        dump("FROM a\nRUN echo hi \\"),
        ["from \"a\"", "run \"echo hi\""]
    );
    assert_eq!(
        dump("FROM a\nRUN echo hi \\\n"),
        ["from \"a\"", "run \"echo hi\""]
    );
}

#[test]
fn escaped_escape_token_does_not_continue() {
    let ast = parse(b"FROM a\nRUN echo a\\\\\nRUN b\n").unwrap();
    assert_eq!(ast.nodes[1].args, ["echo a\\\\"]);
    assert_eq!(ast.nodes[2].args, ["b"]);
}

#[test]
fn escapes_stay_in_arguments_until_expansion() {
    let src = "FROM a\nLABEL maintainer Erik \\\\Holl <e@h.org>\\\"\nRUN apt-get \\update && \\\n  apt-get \\\"install x\nADD \\conf\\\\\" /.znc\nCMD [ \"\\/usr\\\\\\\"/bin/znc\", \"-f\" ]\n";
    assert_eq!(
        dump(src),
        [
            "from \"a\"",
            "label \"maintainer\" \"Erik \\\\\\\\Holl <e@h.org>\\\\\\\"\" \"\"",
            "run \"apt-get \\\\update &&   apt-get \\\\\\\"install x\"",
            "add \"\\\\conf\\\\\\\\\\\"\" \"/.znc\"",
            "cmd json \"/usr\\\\\\\"/bin/znc\" \"-f\"",
        ]
    );
}

#[test]
fn escape_directive_switches_to_backtick() {
    let src = "# escape=`\nFROM windows\nRUN dir c:\\ `\n  /w\nCOPY c:\\a\\ d:\\\n";
    let ast = parse(src.as_bytes()).unwrap();
    assert_eq!(ast.escape, '`');
    assert_eq!(ast.directives.escape.as_deref(), Some("`"));
    assert_eq!(ast.nodes[1].args, ["dir c:\\   /w"]);
    assert_eq!(ast.nodes[2].args, ["c:\\a\\", "d:\\"]);
}

#[test]
fn directives_only_at_the_top() {
    // After an instruction, a blank line or another comment, `# escape=` is a comment.
    for src in [
        "FROM a\n# escape=`\nRUN a \\\n b\n",
        "\n# escape=`\nFROM a\nRUN a \\\n b\n",
        "# hello\n# escape=`\nFROM a\nRUN a \\\n b\n",
    ] {
        let ast = parse(src.as_bytes()).unwrap();
        assert_eq!(ast.escape, '\\', "{src:?}");
        assert_eq!(ast.nodes.last().unwrap().args, ["a  b"], "{src:?}");
    }
    // Several directives, with syntax recorded (never acted on) and the
    // directive comments not taken as comments of the first instruction.
    let ast =
        parse(b"# syntax=docker/dockerfile:1\n# check=skip=all\n#escape=`\n# about from\nFROM a\n")
            .unwrap();
    assert_eq!(
        ast.directives.syntax.as_deref(),
        Some("docker/dockerfile:1")
    );
    assert_eq!(ast.directives.check.as_deref(), Some("skip=all"));
    assert_eq!(ast.escape, '`');
    assert_eq!(ast.nodes[0].comments, ["about from"]);
    assert_eq!(
        err("# escape=`\n# escape=\\\nFROM a\n"),
        "dockerfile parse error line 2: only one escape parser directive can be used"
    );
}

#[test]
fn byte_order_mark_and_crlf() {
    let ast = parse(b"\xef\xbb\xbf# escape=`\r\nFROM a\r\nRUN x `\r\n y\r\n").unwrap();
    assert_eq!(ast.escape, '`');
    assert_eq!(ast.nodes[1].args, ["x  y"]);
}

#[test]
fn json_or_shell_form_as_docker_decides() {
    let src = concat!(
        "FROM a\n",
        "RUN [\"ls\", \"-la\"]\n",
        "RUN [\"echo\", \"'1234'\"]\n",
        "CMD [ \"a\" , \"b\" ]\n",
        "CMD [\"a\", 'b']\n",         // not JSON: shell form
        "CMD [\"a\"\n",               // unterminated: shell form
        "ENTRYPOINT [\"a\" \"b\"]\n", // no comma: shell form
        "RUN [\"echo\", \"[\\\"nested\\\"]\"]\n",
        "COPY [\"a b\", \"/c\"]\n",
        "COPY a  b   /c\n",
        "VOLUME [\"/v1\", \"/v2\"]\n",
        "VOLUME /v3 /v4\n",
        "SHELL [\"/bin/bash\", \"-c\"]\n",
        "RUN []\n",
    );
    assert_eq!(
        dump(src),
        [
            "from \"a\"",
            "run json \"ls\" \"-la\"",
            "run json \"echo\" \"'1234'\"",
            "cmd json \"a\" \"b\"",
            "cmd \"[\\\"a\\\", 'b']\"",
            "cmd \"[\\\"a\\\"\"",
            "entrypoint \"[\\\"a\\\" \\\"b\\\"]\"",
            "run json \"echo\" \"[\\\"nested\\\"]\"",
            "copy json \"a b\" \"/c\"",
            "copy \"a\" \"b\" \"/c\"",
            "volume json \"/v1\" \"/v2\"",
            "volume \"/v3\" \"/v4\"",
            "shell json \"/bin/bash\" \"-c\"",
            "run json",
        ]
    );
    assert_eq!(
        err("FROM a\nCMD [\"a\", 1]\n"),
        "dockerfile parse error line 2: when using JSON array syntax, arrays must be comprised of strings only"
    );
}

#[test]
fn env_and_label_forms() {
    let src = concat!(
        "FROM a\n",
        "ENV SCUBA 1 DUBA 3\n",
        "ENV SCUBA \"1 DUBA 3\"\n",
        "ENV a=1 b=\"2 3\" c=4\\ 5 d='6 7'\n",
        "LABEL \"com.x\"=\"y z\" empty=\n",
        "ARG A B=1 \"C\"=\"2 3\"\n",
    );
    assert_eq!(
        dump(src),
        [
            "from \"a\"",
            "env \"SCUBA\" \"1 DUBA 3\" \"\"",
            "env \"SCUBA\" \"\\\"1 DUBA 3\\\"\" \"\"",
            "env \"a\" \"1\" \"=\" \"b\" \"\\\"2 3\\\"\" \"=\" \"c\" \"4\\\\ 5\" \"=\" \"d\" \"'6 7'\" \"=\"",
            "label \"\\\"com.x\\\"\" \"\\\"y z\\\"\" \"=\" \"empty\" \"\" \"=\"",
            "arg \"A\" \"B=1\" \"\\\"C\\\"=\\\"2 3\\\"\"",
        ]
    );
    assert_eq!(
        err("FROM a\nENV key\n"),
        "dockerfile parse error line 2: ENV must have two arguments"
    );
    assert_eq!(
        err("FROM a\nENV a=1 b\n"),
        "dockerfile parse error line 2: Syntax error - can't find = in \"b\". Must be of the form: name=value"
    );
}

#[test]
fn flags_are_split_off_with_quotes_processed() {
    let src = concat!(
        "FROM --platform=linux/amd64 a AS b\n",
        "COPY --from=b --chown=\"1:2\" --chmod=644 x /y\n",
        "RUN --mount=type=cache,target=/c --network=none make\n",
        "RUN -- --not-a-flag\n",
        "RUN --mount='type=bind,source=a b' x\n",
        "HEALTHCHECK --interval=5s --retries=3 CMD [\"true\"]\n",
        "ADD --checksum=sha256:abc --keep-git-dir=true https://x/y /z\n",
        "COPY --parents --exclude=*.tmp --link a/ /b\n",
    );
    assert_eq!(
        dump(src),
        [
            "from [\"--platform=linux/amd64\"] \"a\" \"AS\" \"b\"",
            "copy [\"--from=b\", \"--chown=1:2\", \"--chmod=644\"] \"x\" \"/y\"",
            "run [\"--mount=type=cache,target=/c\", \"--network=none\"] \"make\"",
            "run \"--not-a-flag\"",
            "run [\"--mount=type=bind,source=a b\"] \"x\"",
            "healthcheck [\"--interval=5s\", \"--retries=3\"] json \"CMD\" \"true\"",
            "add [\"--checksum=sha256:abc\", \"--keep-git-dir=true\"] \"https://x/y\" \"/z\"",
            "copy [\"--parents\", \"--exclude=*.tmp\", \"--link\"] \"a/\" \"/b\"",
        ]
    );
}

#[test]
fn onbuild_parses_its_trigger() {
    let ast =
        parse(b"FROM a\nONBUILD RUN [\"echo\", \"test\"]\nONBUILD COPY --from=x . /\n").unwrap();
    let n = &ast.nodes[1];
    assert_eq!(n.args, ["RUN", "echo", "test"]);
    assert!(n.trigger.as_ref().unwrap().json);
    let t = ast.nodes[2].trigger.as_ref().unwrap();
    assert_eq!(
        (t.instruction.as_str(), t.flags.as_slice()),
        ("COPY", &["--from=x".to_string()][..])
    );
}

#[test]
fn healthcheck_and_simple_forms() {
    let src = "FROM a\nHEALTHCHECK NONE\nHEALTHCHECK CMD curl -f http://x/ || exit 1\nUSER  docker:root \nEXPOSE 80  443/tcp\nSTOPSIGNAL SIGKILL\nWORKDIR /a b\n";
    assert_eq!(
        dump(src),
        [
            "from \"a\"",
            "healthcheck \"NONE\"",
            "healthcheck \"CMD\" \"curl -f http://x/ || exit 1\"",
            "user \"docker:root\"",
            "expose \"80\" \"443/tcp\"",
            "stopsignal \"SIGKILL\"",
            "workdir \"/a b\"",
        ]
    );
}

#[test]
fn heredocs() {
    let src = concat!(
        "FROM a\n",
        "RUN <<EOF\n",
        "echo $HOME\n",
        "EOF\n",
        "RUN <<-EOT bash\n",
        "\t\techo tabbed\n",
        "\tEOT\n",
        "COPY <<'A' <<\"B\" /dest/\n",
        "$not expanded\n",
        "A\n",
        "b\n",
        "B\n",
        "RUN 3<<E\"O\"F cat /proc/self/fd/3\n",
        "x\n",
        "EOF\n",
        "RUN [\"cat\", \"<<EOF\"]\n",
        "ONBUILD RUN <<X\n",
        "y\n",
        "X\n",
        "RUN echo <<< nope\n",
    );
    let ast = parse(src.as_bytes()).unwrap();
    let n = &ast.nodes;
    assert_eq!(n[1].heredocs.len(), 1);
    assert_eq!(n[1].heredocs[0].name, "EOF");
    assert_eq!(n[1].heredocs[0].content, "echo $HOME\n");
    assert!(n[1].heredocs[0].expand && !n[1].heredocs[0].chomp);
    assert_eq!((n[1].start_line, n[1].end_line), (2, 4));
    assert_eq!(n[1].args, ["<<EOF"]);

    let h = &n[2].heredocs[0];
    assert!(h.chomp);
    assert_eq!(h.name, "EOT");
    assert_eq!(h.content, "\t\techo tabbed\n");
    assert_eq!(h.body(), "echo tabbed\n");

    assert_eq!(n[3].heredocs.len(), 2);
    assert_eq!(
        (n[3].heredocs[0].name.as_str(), n[3].heredocs[0].expand),
        ("A", false)
    );
    assert_eq!(
        (n[3].heredocs[1].name.as_str(), n[3].heredocs[1].expand),
        ("B", false)
    );
    assert_eq!(n[3].heredocs[0].content, "$not expanded\n");
    assert_eq!(n[3].heredocs[1].content, "b\n");

    assert_eq!(n[4].heredocs[0].fd, 3);
    assert_eq!(n[4].heredocs[0].name, "EOF");
    assert!(!n[4].heredocs[0].expand);

    // Exec form never has heredocs.
    assert!(n[5].heredocs.is_empty());
    // An ONBUILD trigger does.
    assert_eq!(n[6].heredocs[0].content, "y\n");
    // `<<<` is no heredoc.
    assert!(n[7].heredocs.is_empty());
    assert_eq!(n.len(), 8);

    assert_eq!(
        err("FROM a\nRUN <<EOF\nnever ends\n"),
        "dockerfile parse error line 2: unterminated heredoc"
    );
}

#[test]
fn heredoc_words() {
    for (word, want) in [
        ("<<EOF", Some(("EOF", true, false, 0))),
        ("<<-EOF", Some(("EOF", true, true, 0))),
        ("<<'EOF'", Some(("EOF", false, false, 0))),
        ("<<\"EOF\"", Some(("EOF", false, false, 0))),
        ("<< EOF", Some(("EOF", true, false, 0))),
        ("2<<EOF", Some(("EOF", true, false, 2))),
        ("<<", None),
        ("<<<EOF", None),
        ("x<<EOF", None),
        ("<<'EOF' x", None),
    ] {
        let got = parse_heredoc(word)
            .unwrap()
            .map(|h| (h.name, h.expand, h.chomp, h.fd));
        let want = want.map(|(n, e, c, f)| (n.to_string(), e, c, f));
        assert_eq!(got, want, "{word:?}");
    }
}

#[test]
fn comments_and_blank_files() {
    assert_eq!(
        err(""),
        "dockerfile parse error line 1: file with no instructions"
    );
    assert_eq!(
        err("# only\n\n#comments\n"),
        "dockerfile parse error line 3: file with no instructions"
    );
    let ast = parse(b"# first\n#\n# about a\n   # indented\nFROM a\n").unwrap();
    assert_eq!(ast.nodes[0].comments, ["about a", "# indented"]);
}

#[test]
fn unknown_instructions_parse_without_arguments() {
    let ast = parse(b"FROM a\nFOO bar baz\n").unwrap();
    assert_eq!(ast.nodes[1].instruction, "FOO");
    assert!(ast.nodes[1].args.is_empty());
}

#[test]
fn line_numbers_count_every_line() {
    let ast = parse(b"\n\nFROM a\n\n# c\nRUN a \\\n  b \\\n  c\n\nCMD x\n").unwrap();
    let lines: Vec<_> = ast
        .nodes
        .iter()
        .map(|n| (n.start_line, n.end_line))
        .collect();
    assert_eq!(lines, [(3, 3), (6, 8), (10, 10)]);
}
