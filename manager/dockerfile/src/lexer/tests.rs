//! The lexer's rules as tables: BuildKit's own cases (envVarTest, wordsTest,
//! lex_test.go) restated, plus the error messages docker users see.

use super::*;
use crate::env::{EnvList, NoEnv};

fn env(pairs: &[(&str, &str)]) -> EnvList {
    let mut e = EnvList::new();
    for (k, v) in pairs {
        e.set(k, v);
    }
    e
}

/// `input -> Some(expected)` or `None` for an error, one word, with
/// PWD=/home SHELL=bash KOREAN=한국어 and NULL set to the empty string.
#[test]
fn single_word_expansion() {
    let env = env(&[
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]);
    let cases: &[(&str, Option<&str>)] = &[
        ("hello", Some("hello")),
        ("he'll'o", Some("hello")),
        ("he'llo", None),
        ("he\\'llo", Some("he'llo")),
        ("he\\\\'llo", None),
        ("abc\\tdef", Some("abctdef")),
        ("\"abc\\tdef\"", Some("abc\\tdef")),
        ("\"abc\\\\tdef\"", Some("abc\\tdef")),
        ("'abc\\tdef'", Some("abc\\tdef")),
        ("hello\\", Some("hello")),
        ("hello\\\\", Some("hello\\")),
        ("\"hello", None),
        ("\"hello\\\"", None),
        ("\"hel'lo\"", Some("hel'lo")),
        ("'hello", None),
        ("'hello\\'", Some("hello\\")),
        ("'hello\\there'", Some("hello\\there")),
        ("'hello\\\\there'", Some("hello\\\\there")),
        ("\"''\"", Some("''")),
        ("$.", Some("$.")),
        ("he$1x", Some("hex")),
        ("he$.x", Some("he$.x")),
        ("he$pwd.", Some("he.")),
        ("he$PWD", Some("he/home")),
        ("he\\$PWD", Some("he$PWD")),
        ("he\\\\$PWD", Some("he\\/home")),
        ("\"he\\$PWD\"", Some("he$PWD")),
        ("\"he\\\\$PWD\"", Some("he\\/home")),
        ("\\${}", Some("${}")),
        ("\\${}aaa", Some("${}aaa")),
        ("he\\${}xx", Some("he${}xx")),
        ("${}", None),
        ("${}aaa", None),
        ("he${}xx", None),
        ("he${hi}", Some("he")),
        ("he${hi}xx", Some("hexx")),
        ("he${PWD}", Some("he/home")),
        ("he${.}", None),
        ("he${XXX:-000}xx", Some("he000xx")),
        ("he${PWD:-000}xx", Some("he/homexx")),
        ("he${XXX:-$PWD}xx", Some("he/homexx")),
        ("he${XXX:-${PWD:-yyy}}xx", Some("he/homexx")),
        ("he${XXX:-${YYY:-yyy}}xx", Some("heyyyxx")),
        ("he${XXX:YYY}", None),
        ("he${XXX?}", None),
        ("he${XXX:?}", None),
        ("he${PWD?}", Some("he/home")),
        ("he${PWD:?}", Some("he/home")),
        ("he${NULL?}", Some("he")),
        ("he${NULL:?}", None),
        ("he${XXX:+${PWD}}xx", Some("hexx")),
        ("he${PWD:+${XXX}}xx", Some("hexx")),
        ("he${PWD:+${SHELL}}xx", Some("hebashxx")),
        ("he${XXX:+000}xx", Some("hexx")),
        ("he${PWD:+000}xx", Some("he000xx")),
        ("'he${XX}'", Some("he${XX}")),
        ("\"he${PWD}\"", Some("he/home")),
        ("\"he'$PWD'\"", Some("he'/home'")),
        ("\"$PWD\"", Some("/home")),
        ("'$PWD'", Some("$PWD")),
        ("'\\$PWD'", Some("\\$PWD")),
        ("'\"hello\"'", Some("\"hello\"")),
        ("he${PWD", None),
        ("he${PWD:=000}xx", None),
        ("he${PWD:+${PWD}:}xx", Some("he/home:xx")),
        ("he${XXX:-\\$PWD:}xx", Some("he$PWD:xx")),
        ("he${XXX:-\\${PWD}z}xx", Some("he${PWDz}xx")),
        ("안녕하세요", Some("안녕하세요")),
        ("안'녕'하세요", Some("안녕하세요")),
        ("안'녕하세요", None),
        ("안녕\\'하세요", Some("안녕'하세요")),
        ("안녕$KOREAN", Some("안녕한국어")),
        ("안녕${XXX:-${YYY:-yyy}}xx", Some("안녕yyyxx")),
        ("${{aaa}", None),
        ("${aaa}}", Some("}")),
        ("${aaa", None),
        ("${{aaa:-bbb}", None),
        ("${aaa:-bbb}}", Some("bbb}")),
        ("${aaa:-bbb", None),
        ("${aaa:-${bbb:-ccc}}", Some("ccc")),
        ("${aaa:-bbb ${foo}", None),
        ("${aaa:-bbb {foo}", Some("bbb {foo")),
        ("${:}", None),
        ("${:-bbb}", None),
        ("${:+bbb}", None),
        // Positional and special parameters are never set.
        ("$1", Some("")),
        ("${1:-bbb}", Some("bbb")),
        ("${1:+bbb}", Some("")),
        ("$999aaa", Some("aaa")),
        ("${999:-bbb}aaa", Some("bbbaaa")),
        ("$001aaa", Some("aaa")),
        ("$@@@", Some("@@")),
        ("$@aaa", Some("aaa")),
        ("${@:-bbb}aaa", Some("bbbaaa")),
        ("$*", Some("")),
        ("${#:-bbb}", Some("bbb")),
        ("${?}", Some("")),
        ("${-:+bbb}", Some("")),
        ("$$", Some("")),
        ("${!:-bbb}", Some("bbb")),
        ("$0", Some("")),
        ("${0:-bbb}", Some("bbb")),
    ];
    let lex = Lexer::new('\\');
    for (input, expected) in cases {
        let got = lex.process_word(input, &env);
        match expected {
            Some(want) => assert_eq!(got.as_deref(), Ok(*want), "input {input:?}"),
            None => assert!(got.is_err(), "input {input:?} gave {got:?}"),
        }
    }
}

/// Word splitting: `input -> words` after the ENVs before it, in BuildKit's
/// wordsTest order; `None` is an error.
#[test]
fn word_splitting() {
    let mut env = EnvList::new();
    let lex = Lexer::new('\\');
    let check = |env: &EnvList, input: &str, want: Option<&[&str]>| {
        let got = lex.process_words(input, env);
        match want {
            Some(w) => assert_eq!(got.unwrap(), w, "input {input:?}"),
            None => assert!(got.is_err(), "input {input:?}"),
        }
    };
    check(&env, "hello", Some(&["hello"]));
    check(&env, "hello${hi}bye", Some(&["hellobye"]));
    env.set("hi", "hi");
    check(&env, "hello${hi}bye", Some(&["hellohibye"]));
    env.set("space", "abc  def");
    check(&env, "hello${space}bye", Some(&["helloabc", "defbye"]));
    check(&env, "hello\"${space}\"bye", Some(&["helloabc  defbye"]));
    check(
        &env,
        "hello \"${space}\"bye",
        Some(&["hello", "abc  defbye"]),
    );
    env.set("leading", "  ab c");
    check(&env, "hello${leading}def", Some(&["hello", "ab", "cdef"]));
    check(
        &env,
        "hello\"${leading}\" def",
        Some(&["hello  ab c", "def"]),
    );
    check(&env, "hello\"${leading}\"", Some(&["hello  ab c"]));
    check(&env, "hello${leading}", Some(&["hello", "ab", "c"]));
    env.set("trailing", "ab c   ");
    check(&env, "hello${trailing}", Some(&["helloab", "c"]));
    check(&env, "hello${trailing}d", Some(&["helloab", "c", "d"]));
    check(&env, "hello\"${trailing}\"d", Some(&["helloab c   d"]));
    check(&env, "hel\"lo${trailing}\"", Some(&["helloab c   "]));
    check(&env, "hello\" there  \"", Some(&["hello there  "]));
    check(&env, "hello there", Some(&["hello", "there"]));
    check(&env, "hello\\ there", Some(&["hello there"]));
    check(&env, "hello\" there", None);
    check(&env, "hello\\\" there", Some(&["hello\"", "there"]));
    check(&env, "hello\"\\\\there\"", Some(&["hello\\there"]));
    check(&env, "hello\"\\there\"", Some(&["hello\\there"]));
    check(&env, "hello'\\\\there'", Some(&["hello\\\\there"]));
    check(&env, "hello'$there'", Some(&["hello$there"]));
    // An empty quoted string is no word.
    check(&env, "a \"\" b", Some(&["a", "b"]));
}

/// The same words with quotes kept and unset variables left as written (the
/// mode heredoc detection uses).
#[test]
fn raw_quotes_and_skip_unset() {
    let mut lex = Lexer::new('\\');
    lex.raw_quotes = true;
    lex.skip_unset_env = true;
    let env = env(&[("hi", "hi")]);
    for (input, want) in [
        ("hello${hi}bye", vec!["hellohibye"]),
        ("a${unset}b", vec!["a${unset}b"]),
        ("a$unset", vec!["a$unset"]),
        ("x${unset:-d}", vec!["x${unset:-d}"]),
        ("x${unset/a/b}", vec!["x${unset/a/b}"]),
        ("'q t'\"d\"", vec!["'q t'\"d\""]),
        ("<<EOF more", vec!["<<EOF", "more"]),
    ] {
        assert_eq!(lex.process_words(input, &env).unwrap(), want, "{input:?}");
    }
}

#[test]
fn required_variables_name_the_message() {
    let lex = Lexer::new('\\');
    let set = env(&[("VAR", "plain"), ("ARG", "x")]);
    let empty = env(&[("VAR", ""), ("ARG", "x")]);
    let unset = env(&[("ARG", "x")]);
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";
    assert_eq!(lex.process_word(no_empty, &set).unwrap(), "plain");
    let err = lex.process_word(no_empty, &empty).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to process \"${VAR:?message here$ARG}\": VAR: message herex"
    );
    assert!(lex.process_word(no_empty, &unset).is_err());
    assert_eq!(lex.process_word(no_unset, &set).unwrap(), "plain");
    assert_eq!(lex.process_word(no_unset, &empty).unwrap(), "");
    assert!(lex.process_word(no_unset, &unset).is_err());
    assert_eq!(
        lex.process_word("${X?}", &NoEnv)
            .unwrap_err()
            .kind
            .to_string(),
        "X: is not allowed to be unset"
    );
    assert_eq!(
        lex.process_word("${VAR:?}", &empty)
            .unwrap_err()
            .kind
            .to_string(),
        "VAR: is not allowed to be empty"
    );
}

#[test]
fn matched_and_unmatched_variables() {
    let lex = Lexer::new('\\');
    let e = env(&[("FOO", "xxx"), ("BAR", "")]);
    let r = lex.process("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", &e).unwrap();
    assert_eq!(r.word, "xxx  ccc");
    assert_eq!(r.matched.iter().collect::<Vec<_>>(), ["BAR", "FOO"]);
    assert_eq!(r.unmatched.iter().collect::<Vec<_>>(), ["BAZ"]);
    let r = lex
        .process("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", &e)
        .unwrap();
    assert_eq!(r.word, "xxx bbb ccc");
    let r = lex.process("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", &e).unwrap();
    assert_eq!(r.word, "aaa bbb ");
    let r = lex
        .process("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", &e)
        .unwrap();
    assert_eq!(r.word, "aaa  ");
}

/// BuildKit's pattern modifiers; `None` is an error.
/// Input, variables set, result (`None`: an error).
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
);

#[test]
fn pattern_modifiers() {
    let cases: &[Case] = &[
        ("${FOO=aaa}", &[("FOO", "xxx")], None),
        ("${FOO=:aaa}", &[("FOO", "xxx")], None),
        ("${FOO=}", &[], None),
        (
            "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
            &[("FOO", "()[]{}^$.*?|\\x")],
            Some("x"),
        ),
        ("${FOO%%\\**}", &[("FOO", "xx**")], Some("xx")),
        ("${FOO#*x*y}", &[("FOO", "xxyy")], Some("y")),
        ("${FOO#*}", &[("FOO", "xxyy")], Some("xxyy")),
        ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "x")], Some("xyy")),
        ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "")], Some("xxyy")),
        ("${FOO#}", &[("FOO", "xxyy")], Some("xxyy")),
        ("${FOO##*x}", &[("FOO", "xxyy")], Some("yy")),
        ("${FOO##}", &[("FOO", "xxyy")], Some("xxyy")),
        ("${FOO#?\\?}", &[("FOO", "???y")], Some("?y")),
        (
            "${ABC:-.}${FOO%x}${ABC:-.}",
            &[("FOO", "xxyy")],
            Some(".xxyy."),
        ),
        ("${FOO%%\\**\\*}", &[("FOO", "a***yy*")], Some("a")),
        ("${FOO%}", &[("FOO", "xxyy")], Some("xxyy")),
        (
            "${FOO%%$BAR}",
            &[("FOO", "xxyy"), ("BAR", "")],
            Some("xxyy"),
        ),
        ("${FOO%.*}", &[("FOO", "a.tar.gz")], Some("a.tar")),
        ("${FOO%%.*}", &[("FOO", "a.tar.gz")], Some("a")),
        ("${FOO:#}", &[], None),
        ("${FOO:##}", &[], None),
        ("${FOO:%}", &[], None),
        ("${FOO:%%}", &[], None),
        (
            "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
            &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
            Some("/foo.*/*.txt - /foo..*.txt"),
        ),
        (
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
            &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
            Some("/tmp/bar.txt - /bar.txt"),
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
            &[
                ("FOO", "/a/foo/b/c.txt"),
                ("NEEDLE", "/?/"),
                ("REPLACEMENT", "/"),
            ],
            Some("/foo/b/c.txt - /foo/c.txt"),
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT}",
            &[
                ("FOO", "http://google.de"),
                ("NEEDLE", "http://"),
                ("REPLACEMENT", "https://"),
            ],
            Some("https://google.de"),
        ),
        (
            "${FOO//\\//\\/}",
            &[("FOO", "/tmp/foo.txt")],
            Some("\\/tmp\\/foo.txt"),
        ),
        (
            "${FOO/$BAR/ww}",
            &[("FOO", "xxyy"), ("BAR", "")],
            Some("wwxxyy"),
        ),
        ("${FOO//ww}", &[("FOO", "xxyy")], None),
        ("${FOO//}", &[("FOO", "xxyy")], None),
        ("${FOO///}", &[("FOO", "xxyy")], Some("xxyy")),
        ("${FOO///}", &[], Some("")),
    ];
    let lex = Lexer::new('\\');
    for (input, vars, expected) in cases {
        let e = env(vars);
        let got = lex.process_word(input, &e);
        match expected {
            Some(want) => assert_eq!(got.as_deref(), Ok(*want), "{input:?} with {vars:?}"),
            None => assert!(got.is_err(), "{input:?} gave {got:?}"),
        }
    }
}

#[test]
fn error_messages_are_buildkits() {
    let lex = Lexer::new('\\');
    for (input, message) in [
        ("${}", "syntax error: bad substitution"),
        ("${aaa", "syntax error: missing '}'"),
        ("${aaa:-bbb", "syntax error: missing '}'"),
        ("${FOO//ww}", "syntax error: missing '/' in ${}"),
        ("${FOO:=x}", "unsupported modifier (:=) in substitution"),
        ("${FOO:#x}", "unsupported modifier (:#) in substitution"),
        (
            "'abc",
            "unexpected end of statement while looking for matching single-quote",
        ),
        (
            "\"abc",
            "unexpected end of statement while looking for matching double-quote",
        ),
        (
            "${FOO#\\x}",
            "invalid pattern (\\x) in substitution: invalid escape '\\x'",
        ),
    ] {
        let err = lex.process_word(input, &env(&[("FOO", "v")])).unwrap_err();
        assert_eq!(err.kind.to_string(), message, "{input:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "failed to process {}: {message}",
                crate::error::go_quote(input)
            )
        );
    }
}

/// With `# escape=`` the backtick escapes and the backslash is literal (a
/// Windows path stays whole).
#[test]
fn backtick_escape_token() {
    let lex = Lexer::new('`');
    let e = env(&[("V", "x")]);
    assert_eq!(lex.process_word("c:\\dir\\$V", &e).unwrap(), "c:\\dir\\x");
    assert_eq!(lex.process_word("`$V", &e).unwrap(), "$V");
    assert_eq!(lex.process_word("\"a`\"b\"", &e).unwrap(), "a\"b");
    assert_eq!(lex.process_words("a` b c", &e).unwrap(), ["a b", "c"]);
}

/// Heredoc bodies of COPY/ADD are expanded with quotes left alone.
#[test]
fn skip_process_quotes_keeps_quotes() {
    let mut lex = Lexer::new('\\');
    lex.skip_process_quotes = true;
    let e = env(&[("V", "x")]);
    assert_eq!(
        lex.process_word("'$V' \"$V\"\n", &e).unwrap(),
        "'x' \"x\"\n"
    );
}
