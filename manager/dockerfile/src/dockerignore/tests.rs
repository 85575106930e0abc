//! The matcher's rules as tables, moby/patternmatcher's tricky cases
//! restated.

use super::*;

fn excluded(patterns: &[&str], path: &str) -> bool {
    Matcher::new(patterns).unwrap().is_excluded(path)
}

#[test]
fn one_pattern() {
    for (pattern, path, want) in [
        ("*", "fileutils.go", true),
        ("*.go", "fileutils.go", true),
        ("*.go", "a/fileutils.go", false),
        ("**", "file", true),
        ("**/", "file", true),
        ("**", "dir/file", true),
        ("**/**", "dir/file", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/dir2/file", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "ab", false),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        ("a?b", "a☺b", true),
        ("a?b", "a/b", false),
        ("a*b", "a/b", false),
        ("[a-ζ]*", "α", true),
        ("a*/b", "a/c/b", false),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
        // A pattern matching a parent directory excludes what is inside.
        ("docs", "docs/README.md", true),
        ("docs/", "docs/README.md", true),
        ("a/b", "a/b/c/d", true),
        // Patterns are cleaned; a leading slash is dropped by the file
        // reader, not by the matcher.
        ("./docs/../docs", "docs/x", true),
        ("/docs", "docs", false),
    ] {
        assert_eq!(excluded(&[pattern], path), want, "{pattern:?} vs {path:?}");
    }
    assert!(!excluded(&["*.go"], "."));
}

#[test]
fn last_match_wins_and_exceptions_reinclude() {
    for (patterns, path, want) in [
        (&["!fileutils.go", "*.go"][..], "fileutils.go", true),
        (&["*.go", "!fileutils.go"], "fileutils.go", false),
        (&["docs", "!docs/README.md"], "docs/README.md", false),
        (&["docs/*", "!docs/README.md"], "docs/README.md", false),
        (&["docs", "!docs/README.md"], "docs/other.md", true),
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            true,
        ),
        (&["**", "!dist/*.whl"], "dist/x.whl", false),
        (&["**", "!dist/*.whl"], "dist/x.tar", true),
        // An exception of a directory re-includes its contents.
        (&["*", "!keep"], "keep/deep/file", false),
        (&["a", "!a/b", "a/b/c"], "a/b/c/d", true),
        (&["a", "!a/b", "a/b/c"], "a/b/x", false),
    ] {
        assert_eq!(excluded(patterns, path), want, "{patterns:?} vs {path:?}");
    }
}

#[test]
fn walker_view_agrees_and_knows_when_to_descend() {
    let m = Matcher::new(&["build", "!build/keep", "*.tmp"]).unwrap();
    let (dir_excluded, info) = m.is_excluded_under("build", &MatchInfo::default());
    assert!(dir_excluded);
    assert!(m.may_include_under("build"));
    assert!(!m.may_include_under("other"));
    let (keep, _) = m.is_excluded_under("build/keep", &info);
    assert!(!keep);
    let (drop, _) = m.is_excluded_under("build/drop", &info);
    assert!(drop);
    assert!(m.has_exclusions());
    let m = Matcher::new(&["x", "!**/y"]).unwrap();
    assert!(m.may_include_under("x/deep/er"));
    assert!(!Matcher::new(&["x"]).unwrap().may_include_under("x"));
}

#[test]
fn reading_the_file() {
    let content = b"\xef\xbb\xbf# comment\n  docs  \n!  docs/README.md \n\n/abs/./path/\n !x\n#!not an exception\n../up\n";
    assert_eq!(
        read_patterns(content),
        ["docs", "!docs/README.md", "abs/path", "!x", "../up"]
    );
    assert_eq!(
        ignore_file_names("sub/Dockerfile.dev"),
        ["sub/Dockerfile.dev.dockerignore", ".dockerignore"]
    );
}

#[test]
fn bad_patterns() {
    assert_eq!(
        Matcher::new(&["!"]).unwrap_err().to_string(),
        "illegal exclusion pattern: \"!\""
    );
    assert_eq!(
        Matcher::new(&["["]).unwrap_err().to_string(),
        "syntax error in pattern"
    );
    assert_eq!(
        Matcher::new(&["a\\"]).unwrap_err().to_string(),
        "syntax error in pattern"
    );
    // Empty and blank patterns are skipped.
    assert!(!Matcher::new(&["", "  "]).unwrap().is_excluded("a"));
}
