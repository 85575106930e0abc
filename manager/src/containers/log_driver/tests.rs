use super::tag::{extra_attributes, render, TagInfo};
use super::*;

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn err(driver: &str, pairs: &[(&str, &str)]) -> String {
    resolve(driver, &opts(pairs), &LogDefaults::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn docker_messages_for_bad_drivers_and_options() {
    assert_eq!(
        err("nope", &[]),
        "error looking up logging plugin nope: plugin \"nope\" not found"
    );
    assert_eq!(
        err("json-file", &[("foo", "1")]),
        "unknown log opt 'foo' for json-file log driver"
    );
    assert_eq!(
        err("syslog", &[("max-size", "1k")]),
        "unknown log opt 'max-size' for syslog log driver"
    );
    assert_eq!(
        err("syslog", &[("mode", "fast")]),
        "logger: logging mode not supported: fast"
    );
    assert_eq!(
        err("syslog", &[("max-buffer-size", "1m")]),
        "logger: max-buffer-size option is only supported with 'mode=non-blocking'"
    );
    assert_eq!(
        err(
            "syslog",
            &[("mode", "non-blocking"), ("max-buffer-size", "lots")]
        ),
        "error parsing option max-buffer-size: invalid size: 'lots'"
    );
    assert_eq!(
        err("syslog", &[("syslog-address", "localhost:514")]),
        "syslog-address should be in form proto://address, got localhost:514"
    );
    assert_eq!(
        err(
            "syslog",
            &[("syslog-address", "unix:///nonexistent/bt-sock")]
        ),
        "stat /nonexistent/bt-sock: no such file or directory"
    );
    assert_eq!(
        err("syslog", &[("syslog-facility", "24")]),
        "invalid syslog facility"
    );
    assert_eq!(
        err("syslog", &[("syslog-format", "rfc9999")]),
        "Invalid syslog format"
    );
    assert_eq!(
        err("json-file", &[("max-size", "-1")]),
        "invalid size: '-1'"
    );
    assert_eq!(
        err("json-file", &[("max-file", "x")]),
        "strconv.Atoi: parsing \"x\": invalid syntax"
    );
    assert_eq!(
        err("json-file", &[("max-file", "0")]),
        "max-file cannot be less than 1"
    );
    assert_eq!(
        err("json-file", &[("cache-disabled", "maybe")]),
        "invalid value for option cache-disabled: maybe"
    );
    assert!(err("gelf", &[]).starts_with("not implemented: log driver gelf"));
    assert_eq!(
        err("journald", &[("max-size", "1k")]),
        "unknown log opt 'max-size' for journald log driver"
    );
    assert!(resolve("journald", &opts(&[("tag", "x")]), &LogDefaults::default()).is_ok());
}

#[test]
fn journald_keys_are_sanitised_as_dockers() {
    assert_eq!(super::journald_key("com.example.team"), "COM_EXAMPLE_TEAM");
    assert_eq!(super::journald_key("_x-y"), "X_Y");
    assert_eq!(super::journald_key("..a"), "A");
    assert_eq!(super::journald_key("Stage9"), "STAGE9");
}

#[test]
fn options_are_kept_as_given_and_parsed_for_the_shim() {
    let c = resolve(
        "",
        &opts(&[("max-size", "1k"), ("max-file", "3")]),
        &LogDefaults::default(),
    )
    .unwrap();
    assert_eq!(c.driver, "json-file");
    assert_eq!(c.opts["max-size"], "1k");
    // FromHumanSize: decimal.
    assert_eq!(c.max_size, 1000);
    assert_eq!(c.max_file, 3);
    let c = resolve(
        "syslog",
        &opts(&[("mode", "non-blocking"), ("max-buffer-size", "4k")]),
        &LogDefaults::default(),
    )
    .unwrap();
    assert!(c.non_blocking);
    // RAMInBytes: binary.
    assert_eq!(c.max_buffer_size, 4096);
    // none takes anything, as docker's.
    resolve("none", &opts(&[("anything", "x")]), &LogDefaults::default()).unwrap();
}

#[test]
fn daemon_defaults_fill_in_for_their_driver_only() {
    let defaults = LogDefaults {
        driver: "syslog".to_string(),
        opts: opts(&[("syslog-format", "rfc5424"), ("cache-max-file", "2")]),
    };
    let c = resolve("", &BTreeMap::new(), &defaults).unwrap();
    assert_eq!(c.driver, "syslog");
    assert_eq!(c.opts["syslog-format"], "rfc5424");
    let c = resolve("syslog", &opts(&[("syslog-format", "rfc3164")]), &defaults).unwrap();
    assert_eq!(c.opts["syslog-format"], "rfc3164");
    let c = resolve("json-file", &BTreeMap::new(), &defaults).unwrap();
    assert!(!c.opts.contains_key("syslog-format"));
    assert_eq!(c.opts["cache-max-file"], "2");
}

#[test]
fn tags_render_docker_fields() {
    let info = TagInfo {
        full_id: "0123456789abcdef".repeat(4),
        name: "web".to_string(),
        image_full_id: "sha256:".to_string() + &"ab".repeat(32),
        image_name: "busybox".to_string(),
        daemon_name: "berth".to_string(),
        command: "sh -c x".to_string(),
        hostname: "h".to_string(),
    };
    assert_eq!(render("", "{{.ID}}", &info).unwrap(), "0123456789ab");
    assert_eq!(
        render(
            "{{.Name}}/{{ .ImageName }}-{{.ImageID}}@{{.DaemonName}}",
            "",
            &info
        )
        .unwrap(),
        "web/busybox-sha256:ababa@berth"
    );
    assert_eq!(render("", "", &info).unwrap(), "");
    let e = render("{{.Nope}}", "", &info).unwrap_err().to_string();
    assert!(
        e.starts_with("template: log-tag:1:") && e.contains("<.Nope>"),
        "{e}"
    );
    assert_eq!(
        render("{{if .Name}}x{{else}}y{{end}}", "", &info).unwrap(),
        "x"
    );
}

#[test]
fn tags_run_dockers_template_functions() {
    let info = TagInfo {
        full_id: "0123456789abcdef".repeat(4),
        name: "my-web_app".to_string(),
        image_name: "docker.io/library/busybox:1.36".to_string(),
        ..TagInfo::default()
    };
    let r = |t: &str| render(t, "", &info).unwrap();
    assert_eq!(
        r(r#"{{split .ImageName ":"}}"#),
        "[docker.io/library/busybox 1.36]"
    );
    assert_eq!(
        r(r#"{{join (split .ImageName "/") "_"}}"#),
        "docker.io_library_busybox:1.36"
    );
    assert_eq!(r(r#"{{.ImageName | split "x"}}"#), "[x]");
    assert_eq!(r("{{title .Name}}"), "My-Web_app");
    assert_eq!(r("{{upper .Name}}|{{lower `AbC`}}"), "MY-WEB_APP|abc");
    assert_eq!(r("{{pad .Name 2 1}}."), "  my-web_app .");
    assert_eq!(r(r#"{{pad "" 2 1}}."#), ".");
    assert_eq!(
        r("{{truncate .FullID 5}} {{truncate .Name 99}}"),
        "01234 my-web_app"
    );
    assert_eq!(
        r(r#"{{json (split .Name "-")}} {{json .Name}}"#),
        r#"["my","web_app"] "my-web_app""#
    );
    assert_eq!(r(r#"{{truncate (.Name | upper) 3}}"#), "MY-");
    let e = |t: &str| render(t, "", &info).unwrap_err().to_string();
    assert!(e("{{nope .Name}}").contains("function \"nope\" not defined"));
    assert!(e("{{split .Name}}").contains("wrong number of args for split: want 2 got 1"));
    assert!(e("{{.Nope | upper}}").contains("Nope"));
    // text/template's own functions and constructs.
    assert_eq!(
        r(r#"{{printf "%s-%s" .Name .ID}}"#),
        "my-web_app-0123456789ab"
    );
    assert_eq!(
        r(r#"{{range $i, $p := split .Name "-"}}{{if $i}}+{{end}}{{$p}}{{end}}"#),
        "my+web_app"
    );
    assert_eq!(
        r(r#"{{if and (eq .Name "my-web_app") (not (eq .ID ""))}}yes{{else}}no{{end}}"#),
        "yes"
    );
    assert_eq!(r(r#"{{or .Hostname "nohost"}}"#), "nohost");
    assert_eq!(r(r#"{{index (split .Name "-") 1}}"#), "web_app");
}

#[test]
fn extra_attributes_pick_labels_and_env() {
    let labels = opts(&[("a", "1"), ("b", "2"), ("com.x", "3")]);
    let env = vec!["PATH=/bin".to_string(), "MODE=prod".to_string()];
    let got = extra_attributes(
        &opts(&[
            ("labels", "a,zz"),
            ("env-regex", "^MO"),
            ("labels-regex", "^com"),
        ]),
        &labels,
        &env,
        |k| k.to_string(),
    )
    .unwrap();
    assert_eq!(got, opts(&[("a", "1"), ("com.x", "3"), ("MODE", "prod")]));
}

#[test]
fn syslog_has_the_dual_logging_cache_unless_disabled() {
    let on = resolve("syslog", &opts(&[]), &LogDefaults::default()).unwrap();
    assert!(super::uses_cache(&on));
    let off = resolve(
        "syslog",
        &opts(&[("cache-disabled", "true")]),
        &LogDefaults::default(),
    )
    .unwrap();
    assert!(!super::uses_cache(&off));
    let json = resolve("json-file", &opts(&[]), &LogDefaults::default()).unwrap();
    assert!(!super::uses_cache(&json));
    let rot = super::cache_rotation(&opts(&[])).unwrap();
    assert_eq!((rot.max_size, rot.max_file), (20 * 1024 * 1024, 5));
    let rot =
        super::cache_rotation(&opts(&[("cache-max-size", "1k"), ("cache-max-file", "2")])).unwrap();
    assert_eq!((rot.max_size, rot.max_file), (1000, 2));
    assert_eq!(
        err("syslog", &[("cache-max-file", "1")]),
        "compression cannot be enabled when max file count is 1"
    );
}
