//! Log drivers end to end (issue 19): `berth run --log-driver/--log-opt`
//! against a private berthd, next to a private dockerd 20.10 with the same
//! options on the same kind of sink.
//!
//! * bad drivers and options fail create/run with docker's message, exit
//!   125, and leave no container;
//! * syslog messages are compared byte for byte with dockerd's (after the
//!   fields that must differ: the time, the writer's pid) on udp, tcp, unix
//!   and unixgram sinks in every `syslog-format`;
//! * a private rsyslogd receives them on its unix socket, udp and tcp and
//!   parses facility, severity, tag and text as docker's;
//! * a sink missing at start fails the start with docker's message; a sink
//!   that stops reading never blocks a `mode=non-blocking` container, and
//!   the drop is reported; a sink gone while running leaves the container
//!   running;
//! * daemon.json's `log-driver`/`log-opts` are the defaults, and inspect
//!   shows the options as given.

use berth_integration_tests::berthd::Berthd;
use berth_integration_tests::containers::Fixture;
use berth_integration_tests::engines::{Dockerd, Runtime, IMAGE};
use berth_integration_tests::local_log::{gzip_extra, read_local_log, LocalEntry, LocalFile};
use berth_integration_tests::log_sinks::{RawSink, Rsyslog, TlsSink, Transport};
use berth_integration_tests::registry::free_port;
use berth_integration_tests::{stderr, stdout, TestDir};

/// stdout: a line, an empty line (never sent), a 20000-byte line (two
/// messages: 16 KiB and the rest), and an unfinished last line; stderr: a
/// line.
const SCRIPT: &str =
    "echo out1; echo err1 >&2; echo; head -c 20000 /dev/zero | tr '\\0' x; echo; printf lasttail";

/// One syslog message with what must differ between two writers made
/// alike: digits of the time become `D`, the pid `PID`; the octet count (if
/// any) is checked against the message and dropped.
fn normalize(msg: &str) -> String {
    let shape = |ts: &str| -> String {
        ts.chars()
            .map(|c| if c.is_ascii_digit() { 'D' } else { c })
            .collect()
    };
    let gt = msg.find('>').expect("syslog message starts with <PRI>") + 1;
    let (pri, rest) = msg.split_at(gt);
    if let Some(r) = rest.strip_prefix("1 ") {
        let parts: Vec<&str> = r.splitn(7, ' ').collect();
        assert_eq!(parts.len(), 7, "rfc5424 message {msg:?}");
        format!(
            "{pri}1 {} {} {} PID {} {} {}",
            shape(parts[0]),
            parts[1],
            parts[2],
            parts[4],
            parts[5],
            parts[6]
        )
    } else {
        let (ts, r) = rest.split_at(15);
        let open = r.find('[').expect("TAG[PID]");
        let close = open + r[open..].find("]: ").expect("TAG[PID]: ");
        format!("{pri}{}{}[PID]{}", shape(ts), &r[..open], &r[close + 1..])
    }
}

/// The messages a sink received: one per datagram; on a stream, each ends
/// at its newline (no octet counting outside tcp+tls).
fn messages(sink: &RawSink) -> Vec<String> {
    let mut out = Vec::new();
    for entry in sink.received() {
        let text = String::from_utf8(entry).expect("utf-8 syslog message");
        match sink.transport {
            Transport::Udp | Transport::Unixgram => out.push(text),
            Transport::Tcp | Transport::Unix => {
                out.extend(text.split_inclusive('\n').map(str::to_string))
            }
        }
    }
    out
}

/// Runs SCRIPT under `engine` with the syslog driver on `sink`, returns the
/// normalized messages, sorted (stdout's and stderr's interleave freely).
fn syslog_run(sink: &RawSink, format: &str, run: &dyn Fn(&[&str]) -> (i32, String)) -> Vec<String> {
    sink.clear();
    let address = format!("syslog-address={}", sink.address());
    let format = format!("syslog-format={format}");
    let (code, err) = run(&[
        "--rm",
        "--log-driver",
        "syslog",
        "--log-opt",
        &address,
        "--log-opt",
        &format,
        "--log-opt",
        "tag=bt-tag",
        "--log-opt",
        "syslog-facility=local3",
    ]);
    assert_eq!(code, 0, "{err}");
    sink.wait_for("lasttail");
    sink.wait_for("err1");
    let mut got: Vec<String> = messages(sink).iter().map(|m| normalize(m)).collect();
    got.sort();
    got
}

#[test]
fn syslog_messages_match_dockers_byte_for_byte_on_every_transport_and_format() {
    let f = Fixture::new();
    let docker = Dockerd::new(Runtime::Runc);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim();
    for transport in Transport::ALL {
        let sink = RawSink::start(transport);
        for format in ["", "rfc3164", "rfc5424", "rfc5424micro"] {
            let berth = syslog_run(&sink, format, &|opts| {
                let mut args = vec!["run"];
                args.extend_from_slice(opts);
                args.extend_from_slice(&["busybox", "sh", "-c", SCRIPT]);
                let out = f.berth(&args);
                (out.status.code().unwrap_or(-1), stderr(&out))
            });
            let dockers = syslog_run(&sink, format, &|opts| {
                let mut args = opts.to_vec();
                args.extend_from_slice(&[IMAGE, "sh", "-c", SCRIPT]);
                let ran = docker.run_container(&args);
                (ran.code(), ran.stderr())
            });
            assert_eq!(
                berth, dockers,
                "{transport:?} syslog-format={format:?}: berth's messages (left) differ from dockerd's"
            );
            // Not vacuous: 5 messages (empty line skipped), local3 (19):
            // info 158, err 155; the long line in a 16 KiB piece.
            assert_eq!(berth.len(), 5, "{berth:?}");
            assert_eq!(berth.iter().filter(|m| m.starts_with("<158>")).count(), 4);
            assert_eq!(berth.iter().filter(|m| m.starts_with("<155>")).count(), 1);
            assert!(berth.iter().any(|m| m.contains(&"x".repeat(16384))));
            assert!(berth.iter().all(|m| m.ends_with('\n')));
            if !format.is_empty() {
                assert!(berth.iter().all(|m| m.contains(host)), "{berth:?}");
            }
        }
    }
}

#[test]
fn the_default_tag_is_the_short_container_id() {
    let f = Fixture::new();
    let sink = RawSink::start(Transport::Udp);
    let name = f.name("tag");
    let address = format!("syslog-address={}", sink.address());
    f.d.ok(&[
        "run",
        "--name",
        &name,
        "--log-driver",
        "syslog",
        "--log-opt",
        &address,
        "busybox",
        "echo",
        "hello tag",
    ]);
    let id = f.inspect(&name)["Id"].as_str().unwrap().to_string();
    sink.wait_for("hello tag");
    let msgs = messages(&sink);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let want = format!(" {}[", &id[..12]);
    assert!(msgs[0].contains(&want), "{msgs:?} lacks {want:?}");
    assert!(msgs[0].starts_with("<30>"), "daemon.info: {msgs:?}");
    // A template of docker's fields.
    sink.clear();
    f.d.ok(&[
        "run",
        "--rm",
        "--name",
        &format!("{name}-t"),
        "--log-driver",
        "syslog",
        "--log-opt",
        &address,
        "--log-opt",
        "tag={{.Name}}/{{.ImageName}}/{{.DaemonName}}",
        "busybox",
        "echo",
        "templated",
    ]);
    sink.wait_for("templated");
    let msgs = messages(&sink);
    let want = format!(" {name}-t/busybox/berth[");
    assert!(msgs[0].contains(&want), "{msgs:?} lacks {want:?}");
    f.d.ok(&["rm", &name]);
}

/// Tag templates with docker's functions (split, join, title, lower,
/// upper, pad, truncate, json, pipes): the syslog messages of a berth and a
/// dockerd container of the same name are the same byte for byte.
#[test]
fn tag_template_functions_render_as_dockers() {
    let f = Fixture::new();
    let docker = Dockerd::new(Runtime::Runc);
    let sink = RawSink::start(Transport::Udp);
    let address = format!("syslog-address={}", sink.address());
    let name = format!("{}-ab-cD", f.name("tpl"));
    let templates = [
        r#"{{join (split .Name "-") "_"}}"#,
        r#"{{title .Name}}.{{upper .Name}}.{{lower .Name}}"#,
        r#"{{pad (truncate .Name 5) 1 2}}|{{pad "" 3 3}}|{{truncate .Name 200}}"#,
        r#"{{json (split .Name "-")}}{{json .Name}}"#,
        r#"{{.Name | split "-" }}{{ (.Name | upper) }}"#,
        // text/template's own functions and constructs.
        r#"{{printf "%s@%d" .Name 7}}{{if eq .Name "x"}}no{{else}}yes{{end}}"#,
        r#"{{range $i, $p := split .Name "-"}}{{if $i}}+{{end}}{{$p}}{{end}}"#,
        r#"{{with $n := .Name}}{{len $n}}{{end}}{{if and .Name (not .Hostname)}}a{{else}}b{{end}}"#,
    ];
    for template in templates {
        let tag = format!("tag={template}");
        let opts = [
            "--name",
            &name,
            "--log-driver",
            "syslog",
            "--log-opt",
            &address,
            "--log-opt",
            &tag,
        ];
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(&opts);
        args.extend_from_slice(&["busybox", "echo", "tagged"]);
        let out = f.berth(&args);
        let mut dargs = vec!["--rm"];
        dargs.extend_from_slice(&opts);
        dargs.extend_from_slice(&[IMAGE, "echo", "tagged"]);
        let ran = docker.run_container(&dargs);
        assert!(out.status.success(), "{template}: {}", stderr(&out));
        assert_eq!(ran.code(), 0, "{template}: {}", ran.stderr());
        sink.wait_for("tagged");
        let mut msgs: Vec<String> = messages(&sink).iter().map(|m| normalize(m)).collect();
        for _ in 0..100 {
            if msgs.len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            msgs = messages(&sink).iter().map(|m| normalize(m)).collect();
        }
        assert_eq!(msgs.len(), 2, "{template}: {msgs:?}");
        assert_eq!(
            msgs[0], msgs[1],
            "{template}: berth's (first) differs from docker's"
        );
        sink.clear();
    }
}

#[test]
fn rsyslog_receives_on_its_unix_socket_udp_and_tcp() {
    let f = Fixture::new();
    let rsyslog = Rsyslog::start();
    // The local socket gets the local form (imuxsock parses it as such),
    // the network inputs RFC 5424.
    let addresses = [
        (
            format!("unixgram://{}", rsyslog.socket_path().display()),
            "",
        ),
        (format!("udp://127.0.0.1:{}", rsyslog.udp_port), "rfc5424"),
        (format!("tcp://127.0.0.1:{}", rsyslog.tcp_port), "rfc5424"),
    ];
    for (i, (address, format)) in addresses.iter().enumerate() {
        let opt = format!("syslog-address={address}");
        let format = format!("syslog-format={format}");
        let script = format!("echo to-rsyslog-{i}; echo err-rsyslog-{i} >&2");
        f.d.ok(&[
            "run",
            "--rm",
            "--log-driver",
            "syslog",
            "--log-opt",
            &opt,
            "--log-opt",
            "syslog-facility=local5",
            "--log-opt",
            &format,
            "--log-opt",
            "tag=bt-rs",
            "busybox",
            "sh",
            "-c",
            &script,
        ]);
        rsyslog.wait_for(&format!("err-rsyslog-{i}"));
        let lines = rsyslog.wait_for(&format!("to-rsyslog-{i}"));
        let out = lines
            .iter()
            .find(|l| l.contains(&format!("to-rsyslog-{i}|<")))
            .unwrap_or_else(|| panic!("{address}: no parsed stdout line in {lines:?}"));
        assert!(out.starts_with("local5|info|bt-rs"), "{address}: {out}");
        let err = lines
            .iter()
            .find(|l| l.contains(&format!("err-rsyslog-{i}|<")))
            .unwrap();
        assert!(err.starts_with("local5|err|bt-rs"), "{address}: {err}");
    }
}

/// `berth run` with these options fails as docker's create does: exit 125,
/// docker's message, no container left.
#[test]
fn bad_drivers_and_options_fail_create_with_dockers_message_and_leave_nothing() {
    let f = Fixture::new();
    let docker = Dockerd::new(Runtime::Runc);
    let cases: &[&[&str]] = &[
        &["--log-driver", "nope"],
        &["--log-opt", "foo=bar"],
        &["--log-driver", "syslog", "--log-opt", "max-size=1k"],
        &["--log-driver", "syslog", "--log-opt", "mode=fast"],
        &["--log-opt", "max-buffer-size=1m"],
        &[
            "--log-opt",
            "mode=non-blocking",
            "--log-opt",
            "max-buffer-size=lots",
        ],
        &[
            "--log-driver",
            "syslog",
            "--log-opt",
            "syslog-address=localhost:514",
        ],
        &[
            "--log-driver",
            "syslog",
            "--log-opt",
            "syslog-address=unix:///nonexistent/bt.sock",
        ],
        &["--log-driver", "syslog", "--log-opt", "syslog-facility=99"],
        &["--log-driver", "syslog", "--log-opt", "syslog-format=rfc1"],
        &["--log-opt", "cache-disabled=maybe"],
        &["--log-driver", "local", "--log-opt", "tag=x"],
    ];
    for opts in cases {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["busybox", "true"]);
        let out = f.berth(&args);
        let mut dargs = vec!["--rm"];
        dargs.extend_from_slice(opts);
        dargs.extend_from_slice(&[IMAGE, "true"]);
        let ran = docker.run_container(&dargs);
        // docker's CLI exits 127 when the message says "no such file or
        // directory" (its guess at a missing command); berth keeps 125.
        assert!(
            [125, 127].contains(&ran.code()),
            "docker {opts:?}: {}",
            ran.stderr()
        );
        let derr = ran.stderr();
        let want = derr
            .split("Error response from daemon: ")
            .nth(1)
            .and_then(|s| s.lines().next())
            .map(|s| s.trim_end_matches('.'))
            .unwrap_or_else(|| panic!("docker's message for {opts:?}: {derr}"))
            .to_string();
        assert_eq!(out.status.code(), Some(125), "{opts:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&want),
            "{opts:?}: berth said {:?}, docker {want:?}",
            stderr(&out)
        );
    }
    assert_eq!(
        f.d.ok(&["ps", "-a", "-q"]),
        "",
        "a failed create left a container"
    );
    // Values docker checks only at start: berth refuses them at create.
    for opt in ["max-size=abc", "max-file=0"] {
        let out = f.berth(&["run", "--rm", "--log-opt", opt, "busybox", "true"]);
        assert_eq!(out.status.code(), Some(125), "{opt}");
    }
    assert_eq!(f.d.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn a_sink_missing_at_start_fails_the_start_with_dockers_message() {
    let f = Fixture::new();
    let docker = Dockerd::new(Runtime::Runc);
    let port = free_port();
    let opt = format!("syslog-address=tcp://127.0.0.1:{port}");
    let out = f.berth(&[
        "run",
        "--log-driver",
        "syslog",
        "--log-opt",
        &opt,
        "busybox",
        "true",
    ]);
    let ran = docker.run_container(&["--log-driver", "syslog", "--log-opt", &opt, IMAGE, "true"]);
    let want = format!(
        "failed to initialize logging driver: dial tcp 127.0.0.1:{port}: connect: connection refused"
    );
    assert!(ran.stderr().contains(&want), "docker said {}", ran.stderr());
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains(&want), "berth said {}", stderr(&out));
}

/// A sink that never reads (its listener never even accepts): with
/// mode=non-blocking the container writes 20 MB and exits (a blocking
/// writer would hang once the socket buffer fills); berthd reports the
/// lines it dropped.
#[test]
fn non_blocking_mode_never_blocks_on_a_stuck_sink_and_reports_the_drop() {
    let f = Fixture::new();
    let dir = TestDir::new("stuck");
    let path = dir.join("stuck.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let opt = format!("syslog-address=unix://{}", path.display());
    let out = f.berth(&[
        "run",
        "--rm",
        "--log-driver",
        "syslog",
        "--log-opt",
        &opt,
        "--log-opt",
        "mode=non-blocking",
        "--log-opt",
        "max-buffer-size=64k",
        "busybox",
        "sh",
        "-c",
        "awk 'BEGIN { for (i = 0; i < 400000; i++) print \"0123456789012345678901234567890123456789012345678\" }'; echo done",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).ends_with("done"));
    f.eventually(10, "berthd reports the dropped log messages", || {
        f.d.log_tail().contains("log message(s) lost")
    });
    drop(listener);
}

/// rsyslog stops while the container runs: the container keeps running and
/// the attached output is all there.
#[test]
fn a_sink_gone_while_running_leaves_the_container_running() {
    let f = Fixture::new();
    let mut rsyslog = Rsyslog::start();
    let name = f.name("gone");
    let opt = format!("syslog-address=tcp://127.0.0.1:{}", rsyslog.tcp_port);
    f.d.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--log-driver",
        "syslog",
        "--log-opt",
        &opt,
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done",
    ]);
    rsyslog.wait_for("tick 3");
    rsyslog.stop();
    // The dual-logging cache goes on: ticks written after the sink went
    // away are in `logs`.
    let after = f.berth(&["logs", &name]).stdout.len() + 200;
    f.eventually(
        20,
        "logs shows ticks written after the sink went away",
        || f.berth(&["logs", &name]).stdout.len() > after,
    );
    let running = f.inspect(&name)["State"]["Running"].as_bool();
    assert_eq!(running, Some(true), "the container died with its sink");
    let logs = stdout(&f.berth(&["logs", "--tail", "2", &name]));
    assert!(logs.starts_with("tick "), "{logs}");
    f.d.ok(&["rm", "-f", &name]);
}

/// Dual logging (docker 20.10): `logs` of a syslog container reads the
/// local-format cache, as docker's does; `cache-disabled=true` makes
/// `logs` fail with docker's message; the cache's options take the local
/// driver's values and messages.
#[test]
fn logs_of_a_syslog_container_read_the_dual_logging_cache_as_dockers() {
    let f = Fixture::new();
    let docker = Dockerd::new(Runtime::Runc);
    let sink = RawSink::start(Transport::Udp);
    let address = format!("syslog-address={}", sink.address());
    let name = f.name("dual");
    let opts = ["--log-driver", "syslog", "--log-opt", &address];
    let mut args = vec!["run", "--name", &name];
    args.extend_from_slice(&opts);
    // stdout only: `--tail` counts both streams, whose order is the
    // copiers' (timing), not the script's.
    let script = "echo out1; echo; head -c 20000 /dev/zero | tr '\\0' x; echo; printf lasttail";
    args.extend_from_slice(&[
        "--log-opt",
        "cache-max-size=1m",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    f.d.ok(&args);
    let mut dargs = vec!["--name", "bt-dual"];
    dargs.extend_from_slice(&opts);
    dargs.extend_from_slice(&["--log-opt", "cache-max-size=1m", IMAGE, "sh", "-c", script]);
    docker.run_container(&dargs).ok();
    for extra in [&[][..], &["--tail", "2"], &["--tail", "1"]] {
        let mut a = vec!["logs"];
        a.extend_from_slice(extra);
        let out = f.berth(&[a.clone(), vec![name.as_str()]].concat());
        let ran = docker.docker(&[a, vec!["bt-dual"]].concat()).ok();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let shape = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .split_inclusive('\n')
                .map(|l| format!("{}:{:.12}", l.len(), l))
                .collect::<Vec<_>>()
        };
        assert!(
            out.stdout == ran.output.stdout,
            "logs {extra:?}: berth {:?}, docker {:?}",
            shape(&out.stdout),
            shape(&ran.output.stdout)
        );
        assert_eq!(stderr(&out).trim(), ran.stderr().trim(), "logs {extra:?}");
    }
    let id = f.inspect(&name)["Id"].as_str().unwrap().to_string();
    let cache =
        f.d.root
            .join("containers")
            .join(&id)
            .join("container-cached.log");
    assert!(cache.exists(), "no cache at {}", cache.display());

    // cache-disabled: no cache, and logs fails as docker's.
    let off = f.name("nocache");
    let mut args = vec!["run", "--name", &off];
    args.extend_from_slice(&opts);
    args.extend_from_slice(&["--log-opt", "cache-disabled=true", "busybox", "true"]);
    f.d.ok(&args);
    let mut dargs = vec!["--name", "bt-nocache"];
    dargs.extend_from_slice(&opts);
    dargs.extend_from_slice(&["--log-opt", "cache-disabled=true", IMAGE, "true"]);
    docker.run_container(&dargs).ok();
    let out = f.berth(&["logs", &off]);
    let ran = docker.docker(&["logs", "bt-nocache"]);
    let want = "configured logging driver does not support reading";
    assert!(ran.stderr().contains(want), "docker said {}", ran.stderr());
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains(want), "berth said {}", stderr(&out));

    // A bad cache option fails create with the local driver's message
    // (berthd's refusal: a plain error of `create`, exit 1 as docker's).
    let out = f.berth(&[
        "create",
        "--log-driver",
        "syslog",
        "--log-opt",
        &address,
        "--log-opt",
        "cache-max-file=x",
        "busybox",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(e.contains("invalid value for max-file: x"), "{e}");
    docker.docker(&["rm", "bt-dual", "bt-nocache"]).ok();
    f.d.ok(&["rm", &name, &off]);
}

#[test]
fn daemon_json_defaults_and_inspect_shows_options_as_given() {
    let sink = RawSink::start(Transport::Udp);
    let config = serde_json::json!({
        "log-driver": "syslog",
        "log-opts": {"syslog-address": sink.address(), "tag": "from-daemon-json"},
    });
    let d = Berthd::start_with_config(&config.to_string());
    let f = Fixture::with_daemon(d);
    let name = f.name("dflt");
    f.d.ok(&["run", "--name", &name, "busybox", "echo", "defaulted"]);
    sink.wait_for("defaulted");
    assert!(messages(&sink)[0].contains(" from-daemon-json["));
    let log_config = f.inspect(&name)["HostConfig"]["LogConfig"].clone();
    assert_eq!(log_config["Type"], "syslog");
    assert_eq!(log_config["Config"]["tag"], "from-daemon-json");
    // Another driver takes none of the daemon's options; max-size as given.
    let other = f.name("json");
    f.d.ok(&[
        "create",
        "--name",
        &other,
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=1k",
        "busybox",
        "true",
    ]);
    let log_config = f.inspect(&other)["HostConfig"]["LogConfig"].clone();
    assert_eq!(
        log_config,
        serde_json::json!({"Type": "json-file", "Config": {"max-size": "1k"}})
    );
    f.d.ok(&["rm", &name, &other]);
}

/// stdout only (docker logs the two streams from two goroutines, so where
/// a stderr line lands among stdout's, and so which file it is rotated
/// into, is not deterministic; stderr is compared separately): 1000
/// numbered lines, a 20000-byte line (a 16 KiB piece and the rest: partial
/// metadata), an unfinished last line. About 36 KB of local-format
/// entries.
const LOCAL_SCRIPT: &str = "i=0; while [ $i -lt 1000 ]; do echo line$i; i=$((i+1)); done; \
     head -c 20000 /dev/zero | tr '\\0' x; echo; printf lasttail";

/// The local driver's options under test: rotation at 10 kB, three files
/// (the live one and two gzip'd).
const LOCAL_OPTS: [&str; 6] = [
    "--log-driver",
    "local",
    "--log-opt",
    "max-size=10k",
    "--log-opt",
    "max-file=3",
];

/// The local driver's files, read from outside (docker's place:
/// `<container dir>/local-logs/container.log`), compared file by file with
/// dockerd's for the same output: the same names, the same entries in each
/// (all fields but the time and the random partial ID), rotated files
/// gzip'd with docker's `lastTime` header; and `berth logs` (with --tail,
/// -t, --since, --until) reads them back as `docker logs` does.
#[test]
fn local_driver_rotates_and_compresses_as_dockers_and_logs_reads_it_back() {
    let f = Fixture::new();
    let docker = Dockerd::new(Runtime::Runc);
    let name = f.name("local");
    let mut args = vec!["run", "--name", &name];
    args.extend_from_slice(&LOCAL_OPTS);
    args.extend_from_slice(&["busybox", "sh", "-c", LOCAL_SCRIPT]);
    f.d.ok(&args);
    let berth_live = berth_live_of(&f, &name);
    let mut dargs = vec!["--name", "bt-local"];
    dargs.extend_from_slice(&LOCAL_OPTS);
    dargs.extend_from_slice(&[IMAGE, "sh", "-c", LOCAL_SCRIPT]);
    docker.run_container(&dargs).ok();
    let did = docker
        .docker(&["inspect", "-f", "{{.Id}}", "bt-local"])
        .ok()
        .stdout();
    let docker_live = docker
        .sandbox
        .path("data/containers")
        .join(did.trim())
        .join("local-logs/container.log");

    let berth_files = read_local_log(&berth_live);
    let docker_files = read_local_log(&docker_live);
    let names = |files: &[LocalFile]| files.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&berth_files),
        ["container.log.2.gz", "container.log.1.gz", "container.log"]
    );
    assert_eq!(names(&berth_files), names(&docker_files));
    for (b, d) in berth_files.iter().zip(&docker_files) {
        let norm = |f: &LocalFile| {
            let mut v: Vec<String> = f.entries.iter().map(LocalEntry::normalized).collect();
            // stdout and stderr interleave freely.
            v.sort();
            v
        };
        let (nb, nd) = (norm(b), norm(d));
        let summary = |v: &[String], f: &LocalFile| {
            format!(
                "{} entries, {} bytes: {:?} .. {:?}",
                v.len(),
                f.plain_size,
                v.first(),
                v.last()
            )
        };
        assert!(
            nb == nd,
            "{}: berth's entries differ from dockerd's:\nberth  {}\ndocker {}\nonly berth: {:?}\nonly docker: {:?}",
            b.name,
            summary(&nb, b),
            summary(&nd, d),
            nb.iter().filter(|e| !nd.contains(e)).take(5).collect::<Vec<_>>(),
            nd.iter().filter(|e| !nb.contains(e)).take(5).collect::<Vec<_>>(),
        );
        if b.name.ends_with(".gz") {
            // At most one entry (the 16 KiB piece, at most) past max-size
            // before compression, and compressed.
            assert!(
                (10_000..10_000 + 16_384 + 100).contains(&b.plain_size)
                    && b.size < b.plain_size / 2,
                "{}: {} bytes, {} compressed",
                b.name,
                b.plain_size,
                b.size
            );
            let extra = String::from_utf8(gzip_extra(&berth_live.with_file_name(&b.name))).unwrap();
            assert!(extra.starts_with("{\"lastTime\":\"20"), "{extra}");
            let dextra =
                String::from_utf8(gzip_extra(&docker_live.with_file_name(&d.name))).unwrap();
            assert!(dextra.starts_with("{\"lastTime\":\"20"), "{dextra}");
        }
    }
    // Not vacuous: older lines rotated away, the newest kept.
    let all: Vec<&LocalEntry> = berth_files.iter().flat_map(|f| &f.entries).collect();
    assert!(all.len() > 200 && all.len() < 1000, "{} entries", all.len());
    assert!(!all.iter().any(|e| e.line == b"line0"));
    assert!(all.iter().any(|e| e.line == b"line999"));
    assert!(all
        .iter()
        .any(|e| e.meta.as_ref().is_some_and(|m| m.0 && m.2 == 2)));

    // berth logs reads it back as docker logs does.
    let berth_logs = |extra: &[&str]| {
        let mut a = vec!["logs"];
        a.extend_from_slice(extra);
        a.push(&name);
        let out = f.berth(&a);
        assert!(
            out.status.success(),
            "berth logs {extra:?}: {}",
            stderr(&out)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let docker_logs = |extra: &[&str]| {
        let mut a = vec!["logs"];
        a.extend_from_slice(extra);
        a.push("bt-local");
        let ran = docker.docker(&a).ok();
        (
            String::from_utf8_lossy(&ran.output.stdout).into_owned(),
            String::from_utf8_lossy(&ran.output.stderr).into_owned(),
        )
    };
    for extra in [
        &[][..],
        &["--tail", "5"],
        &["--tail", "0"],
        &["--tail", "400"],
    ] {
        let (b, d) = (berth_logs(extra), docker_logs(extra));
        if b != d {
            let at = b.0.bytes().zip(d.0.bytes()).position(|(x, y)| x != y);
            panic!(
                "logs {extra:?}: berth's output ({} + {} bytes) differs from docker's ({} + {}); \
                 stdout differs at {at:?}: berth {:?} docker {:?}; stderr {:?} vs {:?}",
                b.0.len(),
                b.1.len(),
                d.0.len(),
                d.1.len(),
                &b.0[..b.0.len().min(60)],
                &d.0[..d.0.len().min(60)],
                b.1,
                d.1
            );
        }
    }
    let (all_out, all_err) = berth_logs(&[]);
    assert!(
        all_out.starts_with("line") && all_out.ends_with("lasttail"),
        "{all_out:.80}"
    );
    assert!(all_out.contains(&"x".repeat(20_000)));
    assert_eq!(all_err, "");
    // -t: docker's RFC 3339 with nine digits, then the line.
    let (stamped, _) = berth_logs(&["-t", "--tail", "3"]);
    let first = stamped.lines().next().unwrap();
    let (stamp, rest) = first.split_once(' ').unwrap();
    assert_eq!(stamp.len(), 30, "{first}");
    assert!(stamp.ends_with('Z') && !rest.is_empty(), "{first}");
    // --since that time shows at least those 3; --until it, at most up to it.
    let (since, _) = berth_logs(&["--since", stamp]);
    let (tail3, _) = berth_logs(&["--tail", "3"]);
    assert!(
        since.ends_with(&tail3) && since.len() < all_out.len(),
        "{since:.200}"
    );
    let (until, _) = berth_logs(&["--until", stamp]);
    assert!(
        all_out.starts_with(&until) && until.starts_with("line"),
        "{until:.80}"
    );
    let (none, _) = berth_logs(&["--until", "2000-01-01T00:00:00Z"]);
    assert_eq!(none, "");
    docker.docker(&["rm", "bt-local"]).ok();
    f.d.ok(&["rm", &name]);
    assert!(!berth_live.parent().unwrap().exists(), "rm left the log");

    // Both streams, and the defaults (20 MB, 5 files, compressed: one
    // file here), read back as docker's.
    let both = "echo out1; echo err1 >&2; printf 'a\\n\\nb'";
    f.d.ok(&[
        "run",
        "--name",
        &name,
        "--log-driver",
        "local",
        "busybox",
        "sh",
        "-c",
        both,
    ]);
    docker
        .run_container(&[
            "--name",
            "bt-local",
            "--log-driver",
            "local",
            IMAGE,
            "sh",
            "-c",
            both,
        ])
        .ok();
    let (b, d) = (berth_logs(&[]), docker_logs(&[]));
    assert_eq!(b, d);
    assert_eq!(b, ("out1\na\n\nb".to_string(), "err1\n".to_string()));
    let files = read_local_log(&berth_live_of(&f, &name));
    assert_eq!(files.len(), 1);
    docker.docker(&["rm", "bt-local"]).ok();
    f.d.ok(&["rm", &name]);
}

/// A berth container's local-format live file.
fn berth_live_of(f: &Fixture, name: &str) -> std::path::PathBuf {
    let id = f.inspect(name)["Id"].as_str().unwrap().to_string();
    f.d.root
        .join("containers")
        .join(id)
        .join("local-logs/container.log")
}

/// `logs -f` on a running local-driver container follows the live file
/// through rotations and compressions: it shows a gap-free, duplicate-free
/// run of lines that ends with the container's last, and then ends with
/// the container.
#[test]
fn local_driver_logs_follow_across_rotation_and_compression() {
    let f = Fixture::new();
    let name = f.name("localf");
    let fifo = f.work.join("go");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let bind = format!("{}:/go", fifo.display());
    let mut run = vec!["run", "-d", "--name", &name, "-v", &bind];
    run.extend_from_slice(&LOCAL_OPTS);
    run.extend_from_slice(&[
        "busybox",
        "sh",
        "-c",
        "read x < /go; i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done",
    ]);
    f.d.ok(&run);
    let follower =
        f.d.berth_cmd(&["logs", "-f", &name])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    // Release the container once the follower runs (it reads an empty log).
    std::fs::write(&fifo, "go\n").unwrap();
    let out = follower.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<u32> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.strip_prefix("line").unwrap().parse().unwrap())
        .collect();
    assert_eq!(lines.last(), Some(&2999));
    let first = lines[0];
    let want: Vec<u32> = (first..3000).collect();
    assert_eq!(lines, want, "followed lines have gaps or repeats");
    // It saw lines the rotation then removed (all of them, when it kept up).
    let kept = f.ok(&["logs", &name]).lines().count();
    assert!(lines.len() >= kept, "{} followed, {kept} kept", lines.len());
    f.d.ok(&["rm", "-f", &name]);
}

/// json-file with `compress=true` and the `labels`/`env`/`env-regex`/`tag`
/// attributes, next to dockerd's: the same files (`-json.log.N.gz`), the
/// same entries in each (all but the time, `attrs` included, as JSON text
/// in docker's key order), and `berth logs` reads the compressed files
/// back as `docker logs` does.
#[test]
fn json_file_compresses_rotated_files_and_writes_attrs_as_dockers() {
    let f = Fixture::new();
    let docker = Dockerd::new(Runtime::Runc);
    let name = f.name("jcomp");
    let opts = [
        "--label",
        "team=<a&b>",
        "--label",
        "other=no",
        "-e",
        "STAGE=prod",
        "-e",
        "REGION_X=eu",
        "--log-opt",
        "max-size=10k",
        "--log-opt",
        "max-file=3",
        "--log-opt",
        "compress=true",
        "--log-opt",
        "labels=team,missing",
        "--log-opt",
        "env=STAGE",
        "--log-opt",
        "env-regex=^REGION_",
        "--log-opt",
        "tag=app-tag",
    ];
    let mut args = vec!["run", "--name", &name];
    args.extend_from_slice(&opts);
    args.extend_from_slice(&["busybox", "sh", "-c", LOCAL_SCRIPT]);
    f.d.ok(&args);
    let mut dargs = vec!["--name", "bt-jcomp"];
    dargs.extend_from_slice(&opts);
    dargs.extend_from_slice(&[IMAGE, "sh", "-c", LOCAL_SCRIPT]);
    docker.run_container(&dargs).ok();
    let id = f.inspect(&name)["Id"].as_str().unwrap().to_string();
    let did = docker
        .docker(&["inspect", "-f", "{{.Id}}", "bt-jcomp"])
        .ok()
        .stdout();
    let berth_dir = f.d.root.join("containers").join(&id);
    let docker_dir = docker.sandbox.path("data/containers").join(did.trim());
    // Each file's entries with the time taken out, attrs as written.
    let read = |dir: &std::path::Path, id: &str| -> Vec<(String, Vec<String>)> {
        let base = format!("{id}-json.log");
        let mut out = Vec::new();
        for suffix in [".2.gz", ".1.gz", ""] {
            let path = dir.join(format!("{base}{suffix}"));
            let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let text = if suffix.ends_with(".gz") {
                let mut s = String::new();
                use std::io::Read;
                flate2::read::GzDecoder::new(&raw[..])
                    .read_to_string(&mut s)
                    .unwrap();
                s
            } else {
                String::from_utf8(raw).unwrap()
            };
            let entries = text
                .lines()
                .map(|l| {
                    let cut = l.rfind(",\"time\":").expect("time last");
                    l[..cut].to_string()
                })
                .collect();
            out.push((suffix.to_string(), entries));
        }
        assert!(!dir.join(format!("{base}.3.gz")).exists());
        assert!(!dir.join(format!("{base}.1")).exists());
        out
    };
    let (b, d) = (read(&berth_dir, &id), read(&docker_dir, did.trim()));
    for ((suffix, be), (_, de)) in b.iter().zip(&d) {
        assert!(
            be == de,
            "{suffix}: berth {} entries {:?}..{:?}, docker {} {:?}..{:?}",
            be.len(),
            be.first(),
            be.last(),
            de.len(),
            de.first(),
            de.last()
        );
    }
    let last = b[2].1.last().unwrap().clone();
    let want_attrs = concat!(
        r#","attrs":{"REGION_X":"eu","STAGE":"prod","#,
        r#""tag":"app-tag","team":"\u003ca\u0026b\u003e"}"#
    );
    assert!(last.ends_with(want_attrs), "{last}");
    assert!(
        b[0].1.len() > 50,
        "rotated away too much: {:?}",
        b[0].1.len()
    );
    for extra in [&[][..], &["--tail", "300"], &["--details", "--tail", "300"]] {
        let mut a = vec!["logs"];
        a.extend_from_slice(extra);
        let out = f.berth(&[a.clone(), vec![name.as_str()]].concat());
        let ran = docker.docker(&[a, vec!["bt-jcomp"]].concat()).ok();
        assert!(
            out.stdout == ran.output.stdout,
            "logs {extra:?} differs from docker's"
        );
        assert!(out.stdout.len() > 5_000);
        if extra.contains(&"--details") {
            // docker's attrs before each line: sorted, URL query escaped.
            let text = String::from_utf8_lossy(&out.stdout);
            let first = text.lines().next().unwrap_or("");
            assert!(
                first.starts_with("REGION_X=eu,STAGE=prod,tag=app-tag,team=%3Ca%26b%3E "),
                "{first}"
            );
        }
    }
    docker.docker(&["rm", "bt-jcomp"]).ok();
    f.d.ok(&["rm", &name]);
}

/// Messages of a tcp+tls stream: octet-counted (`LEN MSG`, docker's
/// RFC 5425 framer for rfc5424 formats over tls; the count is checked) or
/// newline-ended (docker's other formats).
fn tls_messages(data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && rest.get(digits) == Some(&b' ') {
            let n: usize = std::str::from_utf8(&rest[..digits])
                .unwrap()
                .parse()
                .unwrap();
            let msg = &rest[digits + 1..];
            assert!(msg.len() >= n, "octet count {n} runs past the data");
            out.push(format!("COUNTED {}", String::from_utf8_lossy(&msg[..n])));
            rest = &msg[n..];
        } else {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |p| p + 1);
            out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
            rest = &rest[end..];
        }
    }
    out
}

/// syslog over tcp+tls (a private TLS receiver, its certificate from a CA
/// the test makes; `syslog-tls-ca-cert` names it) in every format, byte for
/// byte against dockerd's messages, framing included; a CA that did not
/// sign the server's certificate fails the start, as docker's.
#[test]
fn syslog_over_tls_matches_dockers_byte_for_byte() {
    let f = Fixture::new();
    let docker = Dockerd::new(Runtime::Runc);
    let sink = TlsSink::start();
    let address = format!("syslog-address={}", sink.address());
    let ca = format!("syslog-tls-ca-cert={}", sink.ca.display());
    for format in ["", "rfc3164", "rfc5424", "rfc5424micro"] {
        let format_opt = format!("syslog-format={format}");
        let opts = [
            "--rm",
            "--log-driver",
            "syslog",
            "--log-opt",
            &address,
            "--log-opt",
            &ca,
            "--log-opt",
            &format_opt,
            "--log-opt",
            "tag=bt-tls",
        ];
        let run = |berth: bool| -> Vec<String> {
            sink.clear();
            if berth {
                let mut args = vec!["run"];
                args.extend_from_slice(&opts);
                args.extend_from_slice(&["busybox", "sh", "-c", SCRIPT]);
                let out = f.berth(&args);
                assert!(out.status.success(), "berth {format:?}: {}", stderr(&out));
            } else {
                let mut args = opts.to_vec();
                args.extend_from_slice(&[IMAGE, "sh", "-c", SCRIPT]);
                docker.run_container(&args).ok();
            }
            sink.wait_for("lasttail");
            sink.wait_for("err1");
            let mut got: Vec<String> = tls_messages(&sink.received())
                .iter()
                .map(|m| match m.strip_prefix("COUNTED ") {
                    Some(rest) => format!("COUNTED {}", normalize(rest)),
                    None => normalize(m),
                })
                .collect();
            got.sort();
            got
        };
        let (b, d) = (run(true), run(false));
        assert_eq!(
            b, d,
            "syslog-format={format:?}: berth's (left) differ from dockerd's"
        );
        assert_eq!(b.len(), 5, "{b:?}");
        let counted = format.starts_with("rfc5424");
        assert!(
            b.iter().all(|m| m.starts_with("COUNTED ") == counted),
            "{b:?}"
        );
    }
    // A CA that did not sign the receiver's certificate.
    let other = f.work.join("other-ca.pem");
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(f.work.join("other-ca.key"))
        .arg("-out")
        .arg(&other)
        .args(["-days", "2", "-subj", "/CN=bt-other-ca"])
        .output()
        .unwrap();
    assert!(made.status.success());
    let bad_ca = format!("syslog-tls-ca-cert={}", other.display());
    let out = f.berth(&[
        "run",
        "--rm",
        "--log-driver",
        "syslog",
        "--log-opt",
        &address,
        "--log-opt",
        &bad_ca,
        "busybox",
        "true",
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("failed to initialize logging driver"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("certificate"), "{}", stderr(&out));
    assert_eq!(f.d.ok(&["ps", "-aq"]), "");
}
