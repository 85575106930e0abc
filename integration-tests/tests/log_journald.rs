//! The journald log driver end to end (issue 19): a private
//! systemd-journald in a mount namespace of its own, a private berthd and a
//! private dockerd 20.10 in that namespace (so both reach its socket at
//! `/run/systemd/journal/socket`), the same container output through both.
//!
//! * the entries' fields (MESSAGE, PRIORITY, CONTAINER_*, IMAGE_NAME,
//!   SYSLOG_IDENTIFIER, the partial-line fields, the `labels`/`env`
//!   attributes under docker's key sanitising) are docker's, read back with
//!   journalctl;
//! * `berth logs` (plain, `--tail`, `--details`, `--since`) prints what
//!   `docker logs` prints for the same entries, and `-f` follows until the
//!   container exits;
//! * without a journald socket the start fails with docker's message.

use berth_integration_tests::berthd::Berthd;
use berth_integration_tests::containers::Fixture;
use berth_integration_tests::engines::{Dockerd, Runtime, IMAGE};
use berth_integration_tests::log_sinks::Journald;
use berth_integration_tests::{stderr, stdout};

/// stdout: a line, an empty line (an entry of its own), a 20000-byte line (two
/// pieces: 16 KiB and the rest), an unfinished last line; stderr: a line
/// with a tab.
const SCRIPT: &str =
    "echo out1; printf 'err\\t1\\n' >&2; echo; head -c 20000 /dev/zero | tr '\\0' x; echo; printf lasttail";

/// The fields a writer sets (journald's own start with `_`), with what
/// must differ between two containers made alike replaced: the ids, the
/// name, the image's name, the partial-line id.
fn user_fields(
    entry: &serde_json::Value,
    ids: &[(&str, &str)],
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in entry.as_object().expect("an entry is an object") {
        if k.starts_with('_') {
            continue;
        }
        let mut v = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if k == "CONTAINER_PARTIAL_ID" {
            assert_eq!(v.len(), 64, "partial id {v}");
            v = "PARTIAL".to_string();
        }
        for (from, to) in ids {
            v = v.replace(from, to);
        }
        out.insert(k.clone(), v);
    }
    out
}

#[test]
fn journald_entries_match_dockers_and_logs_reads_them_back() {
    let journal = Journald::start();
    let f = Fixture::with_daemon(Berthd::start_in_mount_ns("{}", &journal.ns()));
    let docker = Dockerd::in_mount_ns(Runtime::Runc, &journal.ns());
    let name = f.name("jd");
    let opts = [
        "--log-driver",
        "journald",
        "--label",
        "com.example.team=<a&b>",
        "-e",
        "STAGE=prod",
        "--log-opt",
        "labels=com.example.team",
        "--log-opt",
        "env=STAGE",
        "--log-opt",
        "tag=t-{{.Name}}",
    ];
    let mut args = vec!["run", "--name", &name];
    args.extend_from_slice(&opts);
    args.extend_from_slice(&["busybox", "sh", "-c", SCRIPT]);
    let out = f.berth(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut dargs = vec!["--name", "bt-jd"];
    dargs.extend_from_slice(&opts);
    dargs.extend_from_slice(&[IMAGE, "sh", "-c", SCRIPT]);
    docker.run_container(&dargs).ok();
    let id = f.inspect(&name)["Id"].as_str().unwrap().to_string();
    let did = docker
        .docker(&["inspect", "-f", "{{.Id}}", "bt-jd"])
        .ok()
        .stdout()
        .trim()
        .to_string();
    // out1, the empty line, err 1, the two pieces, lasttail.
    let b = journal.entries(&format!("CONTAINER_ID_FULL={id}"), 6);
    let d = journal.entries(&format!("CONTAINER_ID_FULL={did}"), 6);
    let messages = |es: &[serde_json::Value]| -> Vec<usize> {
        es.iter()
            .map(|e| e["MESSAGE"].as_str().map_or(0, str::len))
            .collect()
    };
    assert_eq!(
        d.len(),
        6,
        "docker wrote messages of {:?} bytes",
        messages(&d)
    );
    let b_ids = [
        (id.as_str(), "FULLID"),
        (&id[..12], "ID"),
        (name.as_str(), "NAME"),
        ("busybox", "IMAGE"),
    ];
    let d_ids = [
        (did.as_str(), "FULLID"),
        (&did[..12], "ID"),
        ("bt-jd", "NAME"),
        (IMAGE, "IMAGE"),
    ];
    // Each stream's entries in order (the two streams interleave freely).
    let by_stream = |es: &[serde_json::Value], ids: &[(&str, &str)]| {
        let mut v: Vec<_> = es.iter().map(|e| user_fields(e, ids)).collect();
        v.sort_by_key(|e| e["PRIORITY"].clone());
        v
    };
    let bf = by_stream(&b, &b_ids);
    let df = by_stream(&d, &d_ids);
    assert_eq!(
        bf.len(),
        df.len(),
        "berth wrote messages of {:?} bytes",
        messages(&b)
    );
    for (i, (be, de)) in bf.iter().zip(&df).enumerate() {
        let short = |m: &std::collections::BTreeMap<String, String>| {
            let mut m = m.clone();
            if let Some(v) = m.get_mut("MESSAGE") {
                *v = format!("{} bytes: {:.20}", v.len(), v);
            }
            m
        };
        assert!(
            be == de,
            "entry {i}: berth {:?}\ndocker {:?}",
            short(be),
            short(de)
        );
    }
    // The fields, spelled out once (docker's names and values).
    let first = bf.iter().find(|e| e["MESSAGE"] == "out1").expect("out1");
    assert_eq!(first["PRIORITY"], "6");
    assert_eq!(first["CONTAINER_TAG"], "t-NAME");
    assert_eq!(first["SYSLOG_IDENTIFIER"], "t-NAME");
    assert_eq!(first["COM_EXAMPLE_TEAM"], "<a&b>");
    assert_eq!(first["STAGE"], "prod");
    assert!(bf
        .iter()
        .any(|e| e["PRIORITY"] == "3" && e["MESSAGE"] == "err\t1"));
    assert!(bf
        .iter()
        .any(|e| e.get("CONTAINER_PARTIAL_MESSAGE").map(String::as_str) == Some("true")));

    // `--tail` counts both streams, whose order in the journal is the
    // copiers' (timing): berth's tail is checked against the journal.
    let tail = f.berth(&["logs", "--tail", "2", &name]);
    let (mut want_out, mut want_err) = (String::new(), String::new());
    for e in &b[b.len() - 2..] {
        let text = e["MESSAGE"].as_str().unwrap_or("");
        if text.is_empty() {
            continue; // logs shows no empty entry, as docker's
        }
        let nl = if e.get("CONTAINER_PARTIAL_MESSAGE").is_some() {
            ""
        } else {
            "\n"
        };
        let into = if e["PRIORITY"] == "3" {
            &mut want_err
        } else {
            &mut want_out
        };
        into.push_str(text);
        into.push_str(nl);
    }
    assert_eq!(stdout(&tail), want_out.trim_end(), "--tail 2 stdout");
    assert_eq!(stderr(&tail), want_err.trim_end(), "--tail 2 stderr");
    for extra in [&[][..], &["--details"], &["--since", "1h"]] {
        let mut a = vec!["logs"];
        a.extend_from_slice(extra);
        let out = f.berth(&[a.clone(), vec![name.as_str()]].concat());
        let ran = docker.docker(&[a, vec!["bt-jd"]].concat()).ok();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let shape = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .split_inclusive('\n')
                .map(|l| format!("{}:{:.12}", l.len(), l))
                .collect::<Vec<_>>()
        };
        // --details: the attributes name the image (named differently
        // here) and the partial-line ids (random).
        let same = |b: &[u8], image: &str| {
            let mut t = String::from_utf8_lossy(b).replace(image, "IMAGE");
            let key = "CONTAINER_PARTIAL_ID=";
            let mut at = 0;
            while let Some(i) = t[at..].find(key) {
                let start = at + i + key.len();
                let end = (start + 64).min(t.len());
                t.replace_range(start..end, "PARTIAL");
                at = start;
            }
            t
        };
        assert!(
            same(&out.stdout, "IMAGE_NAME=busybox")
                == same(
                    &ran.output.stdout,
                    "IMAGE_NAME=localhost%2Fbusybox%3Alatest"
                ),
            "logs {extra:?} stdout: berth {:?}, docker {:?}",
            shape(&out.stdout),
            shape(&ran.output.stdout)
        );
        let b_err = same(&out.stderr, "IMAGE_NAME=busybox").replace(&name, "NAME");
        let d_err = same(
            &ran.output.stderr,
            "IMAGE_NAME=localhost%2Fbusybox%3Alatest",
        )
        .replace("bt-jd", "NAME");
        assert_eq!(b_err.trim(), d_err.trim(), "logs {extra:?} stderr");
    }
    let out = f.berth(&["logs", "--since", "2100-01-01T00:00:00Z", &name]);
    assert_eq!(stdout(&out), "");
    docker.docker(&["rm", "bt-jd"]).ok();
    f.d.ok(&["rm", &name]);
}

/// `logs -f` follows the journal until the container exits, then ends.
#[test]
fn journald_logs_follow_until_the_container_exits() {
    let journal = Journald::start();
    let f = Fixture::with_daemon(Berthd::start_in_mount_ns("{}", &journal.ns()));
    let name = f.name("jf");
    f.d.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--log-driver",
        "journald",
        "busybox",
        "sh",
        "-c",
        "echo one; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo two; echo three >&2",
    ]);
    let id = f.inspect(&name)["Id"].as_str().unwrap().to_string();
    let mut follower =
        f.d.berth_cmd(&["logs", "-f", &name])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    // The first line comes while the container runs; then it is let go.
    use std::io::BufRead;
    let mut out = std::io::BufReader::new(follower.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "one\n");
    f.d.ok(&["exec", &name, "touch", "/tmp/go"]);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let got = follower.wait_with_output().unwrap();
    assert_eq!(got.status.code(), Some(0));
    assert_eq!(rest, "two\n");
    assert_eq!(String::from_utf8_lossy(&got.stderr), "three\n");
    assert_eq!(
        journal.entries(&format!("CONTAINER_ID_FULL={id}"), 3).len(),
        3
    );
    f.d.ok(&["rm", &name]);
}

/// An entry bigger than a datagram may be (two 120000-byte `env`
/// attributes: over the socket's send buffer) goes through a sealed memfd,
/// as the native protocol allows, and arrives whole.
#[test]
fn an_entry_too_big_for_a_datagram_arrives_through_a_memfd() {
    let journal = Journald::start();
    let f = Fixture::with_daemon(Berthd::start_in_mount_ns("{}", &journal.ns()));
    let name = f.name("jbig");
    let (a, b) = ("a".repeat(120_000), "b".repeat(120_000));
    let (env_a, env_b) = (format!("BIG_A={a}"), format!("BIG_B={b}"));
    f.d.ok(&[
        "run",
        "--name",
        &name,
        "--log-driver",
        "journald",
        "--log-opt",
        "env=BIG_A,BIG_B",
        "-e",
        &env_a,
        "-e",
        &env_b,
        "busybox",
        "echo",
        "hello",
    ]);
    let id = f.inspect(&name)["Id"].as_str().unwrap().to_string();
    let entries = journal.entries(&format!("CONTAINER_ID_FULL={id}"), 1);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["MESSAGE"], "hello");
    assert_eq!(entries[0]["BIG_A"].as_str(), Some(a.as_str()));
    assert_eq!(entries[0]["BIG_B"].as_str(), Some(b.as_str()));
    assert_eq!(stdout(&f.d.berth(&["logs", &name])).trim_end(), "hello");
    f.d.ok(&["rm", &name]);
}

/// No journald socket (berthd and dockerd in the host's namespace, which
/// has none): the start fails with docker's message.
#[test]
fn journald_missing_at_start_fails_the_start_with_dockers_message() {
    if std::path::Path::new("/run/systemd/journal/socket").exists() {
        eprintln!("skipped: the host runs journald");
        return;
    }
    let f = Fixture::new();
    let docker = Dockerd::new(Runtime::Runc);
    let out = f.berth(&["run", "--log-driver", "journald", "busybox", "true"]);
    let ran = docker.run_container(&["--log-driver", "journald", IMAGE, "true"]);
    let want = "failed to initialize logging driver: journald is not enabled on this host";
    assert!(ran.stderr().contains(want), "docker said {}", ran.stderr());
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains(want), "berth said {}", stderr(&out));
}
