//! berth-shim end to end: a real shim (daemonized, on its unix socket)
//! driven through its gRPC API by a test client, supervising real busybox
//! containers, with runc and with berth-runtime. Run as root with
//! `cargo test --release -p berth-integration-tests --test shim` after
//! `cargo build --release -p berth-shim -p berth-runtime`.

use std::time::Duration;

use berth_integration_tests::require_root;
use berth_integration_tests::shim::{
    attach, block_on, exec_process, log_entries, pb, Client, Runtime, Shim,
};
use tonic::Code;

/// One test per runtime from a shared body: `name::runc` and `name::berth`.
/// A berth variant that berth-runtime cannot pass yet carries an
/// `ignore = "needs berth-runtime <feature>"` reason.
macro_rules! both_runtimes {
    ($name:ident) => {
        mod $name {
            #[test]
            fn runc() {
                super::$name(super::Runtime::Runc)
            }
            #[test]
            fn berth() {
                super::$name(super::Runtime::Berth)
            }
        }
    };
    ($name:ident, ignore_berth = $why:literal) => {
        mod $name {
            #[test]
            fn runc() {
                super::$name(super::Runtime::Runc)
            }
            #[test]
            #[ignore = $why]
            fn berth() {
                super::$name(super::Runtime::Berth)
            }
        }
    };
}

fn code_of<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> (Code, String) {
    let s = r.expect_err("expected an error");
    (s.code(), s.message().to_string())
}

async fn wait(client: &mut Client, id: &str, exec_id: &str) -> pb::WaitResponse {
    tokio::time::timeout(
        Duration::from_secs(20),
        client.wait(pb::WaitRequest {
            id: id.into(),
            exec_id: exec_id.into(),
        }),
    )
    .await
    .expect("wait timed out")
    .expect("wait")
    .into_inner()
}

async fn state(client: &mut Client, id: &str, exec_id: &str) -> pb::StateResponse {
    client
        .state(pb::StateRequest {
            id: id.into(),
            exec_id: exec_id.into(),
        })
        .await
        .expect("state")
        .into_inner()
}

async fn start(client: &mut Client, id: &str, exec_id: &str) -> u32 {
    client
        .start(pb::StartRequest {
            id: id.into(),
            exec_id: exec_id.into(),
        })
        .await
        .expect("start")
        .into_inner()
        .pid
}

async fn kill(client: &mut Client, id: &str, exec_id: &str, signal: u32) {
    client
        .kill(pb::KillRequest {
            id: id.into(),
            exec_id: exec_id.into(),
            signal,
            all: false,
        })
        .await
        .expect("kill");
}

async fn delete(client: &mut Client, id: &str, exec_id: &str) -> pb::DeleteResponse {
    client
        .delete(pb::DeleteRequest {
            id: id.into(),
            exec_id: exec_id.into(),
        })
        .await
        .expect("delete")
        .into_inner()
}

async fn next_event(events: &mut tonic::Streaming<pb::Event>) -> pb::Event {
    tokio::time::timeout(Duration::from_secs(20), events.message())
        .await
        .expect("no event in time")
        .expect("events stream error")
        .expect("events stream ended")
}

// ---------------------------------------------------------------------------

/// A container's output reaches the json-file log, its exit code the Wait,
/// the exit file and the events (in lifecycle order); after Delete the shim
/// cleans up and exits.
fn run_echo(runtime: Runtime) {
    require_root();
    let shim = Shim::start(runtime, &["sh", "-c", "echo hello; echo oops >&2; exit 3"]);
    block_on(async {
        let mut c = shim.connect().await;
        let mut events = c.events(pb::EventsRequest {}).await.unwrap().into_inner();
        let pid = c
            .create(shim.create_request(false))
            .await
            .unwrap()
            .into_inner()
            .pid;
        assert!(pid > 0);
        let st = state(&mut c, &shim.id, "").await;
        assert_eq!(st.status, pb::Status::Created as i32);
        assert_eq!(st.pid, pid);
        assert_eq!(start(&mut c, &shim.id, "").await, pid);
        let w = wait(&mut c, &shim.id, "").await;
        assert_eq!(w.exit_status, 3);

        // The exit file was written before Wait returned.
        let exit: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(shim.state_dir().join("exit")).unwrap())
                .unwrap();
        assert_eq!(exit["exit_status"], 3);
        assert_eq!(exit["pid"], pid);

        let entries = log_entries(&shim.log_path());
        let got: Vec<(String, String)> = entries
            .iter()
            .map(|e| {
                (
                    e["stream"].as_str().unwrap().into(),
                    e["log"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert!(
            got.contains(&("stdout".into(), "hello\n".into())),
            "{got:?}"
        );
        assert!(got.contains(&("stderr".into(), "oops\n".into())), "{got:?}");
        assert!(entries[0]["time"].as_str().unwrap().ends_with('Z'));

        let st = state(&mut c, &shim.id, "").await;
        assert_eq!(st.status, pb::Status::Stopped as i32);
        assert_eq!(st.exit_status, 3);

        let d = delete(&mut c, &shim.id, "").await;
        assert_eq!(d.exit_status, 3);
        let kinds: Vec<i32> = {
            let mut v = Vec::new();
            for _ in 0..4 {
                v.push(next_event(&mut events).await.r#type);
            }
            v
        };
        use pb::EventType as E;
        assert_eq!(
            kinds,
            [
                E::Created as i32,
                E::Started as i32,
                E::Exited as i32,
                E::Deleted as i32
            ]
        );
    });
    assert!(
        shim.wait_gone(Duration::from_secs(5)),
        "shim still running after delete"
    );
    assert!(!shim.address.exists(), "socket left behind");
    let rec = std::fs::read_to_string(shim.state_dir().join("shim-exit")).unwrap();
    assert!(rec.contains("\"deleted\""), "{rec}");
    // The runtime no longer knows the container.
    let (ok, _) = shim.runtime_cmd(&["state", &shim.id]);
    assert!(!ok, "container still known to the runtime after delete");
}
both_runtimes!(run_echo);

/// Exit codes, including death by signal (128 + n, from Kill: the
/// container's pid 1 cannot be killed from inside).
fn exit_codes(runtime: Runtime) {
    require_root();
    for (script, signal, want) in [
        ("exit 0", 0, 0),
        ("exit 42", 0, 42),
        ("exec sleep 100", 9, 137),
    ] {
        let shim = Shim::start(runtime, &["sh", "-c", script]);
        block_on(async {
            let mut c = shim.connect().await;
            c.create(shim.create_request(false)).await.unwrap();
            start(&mut c, &shim.id, "").await;
            if signal != 0 {
                kill(&mut c, &shim.id, "", signal).await;
            }
            assert_eq!(
                wait(&mut c, &shim.id, "").await.exit_status,
                want,
                "{script}"
            );
            delete(&mut c, &shim.id, "").await;
        });
    }
}
both_runtimes!(exit_codes);

/// Stdin through Attach reaches the container; its echo comes back; closing
/// stdin ends `cat`.
fn stdin_echo(runtime: Runtime) {
    require_root();
    let shim = Shim::start(runtime, &["cat"]);
    block_on(async {
        let mut c = shim.connect().await;
        c.create(shim.create_request(true)).await.unwrap();
        let mut a = attach(&mut c, &shim.id, "").await;
        start(&mut c, &shim.id, "").await;
        a.send(b"ping\n", false).await;
        let mut seen = String::new();
        a.read_until(&mut seen, "ping\n").await;
        a.send(b"pong\n", true).await;
        a.read_until(&mut seen, "pong\n").await;
        assert_eq!(wait(&mut c, &shim.id, "").await.exit_status, 0);
        let (rest, _) = a.read_to_end().await;
        assert_eq!(rest, "");
        delete(&mut c, &shim.id, "").await;
    });
    let logged: String = log_entries(&shim.log_path())
        .iter()
        .map(|e| e["log"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(logged, "ping\npong\n");
}
both_runtimes!(stdin_echo);

/// A tty container: its size follows ResizePty (`stty size` inside).
fn tty_resize(runtime: Runtime) {
    require_root();
    let shim = Shim::start_with(
        runtime,
        &["sh", "-c", "read a; stty size; read b; stty size; exit 4"],
        |b| b.spec["process"]["terminal"] = serde_json::json!(true),
    );
    block_on(async {
        let mut c = shim.connect().await;
        c.create(shim.create_request(true)).await.unwrap();
        let resize = |w, h| pb::ResizePtyRequest {
            id: shim.id.clone(),
            exec_id: String::new(),
            width: w,
            height: h,
        };
        c.resize_pty(resize(100, 30)).await.unwrap();
        let mut a = attach(&mut c, &shim.id, "").await;
        start(&mut c, &shim.id, "").await;
        a.send(b"x\n", false).await;
        let mut seen = String::new();
        a.read_until(&mut seen, "30 100").await;
        c.resize_pty(resize(132, 50)).await.unwrap();
        a.send(b"y\n", false).await;
        a.read_until(&mut seen, "50 132").await;
        assert_eq!(wait(&mut c, &shim.id, "").await.exit_status, 4);
        let st = state(&mut c, &shim.id, "").await;
        assert!(st.terminal);
        delete(&mut c, &shim.id, "").await;
    });
    // A tty has one stream: everything is logged as stdout.
    let entries = log_entries(&shim.log_path());
    assert!(entries.iter().all(|e| e["stream"] == "stdout"));
    let logged: String = entries.iter().map(|e| e["log"].as_str().unwrap()).collect();
    assert!(logged.contains("50 132"), "{logged:?}");
}
both_runtimes!(tty_resize);

/// An exec'd process has its own stdio and exit code; the init is untouched.
fn exec_exit_code(runtime: Runtime) {
    require_root();
    let shim = Shim::start(runtime, &["sleep", "1000"]);
    block_on(async {
        let mut c = shim.connect().await;
        let mut events = c.events(pb::EventsRequest {}).await.unwrap().into_inner();
        c.create(shim.create_request(false)).await.unwrap();
        let init_pid = start(&mut c, &shim.id, "").await;
        c.exec(pb::ExecRequest {
            id: shim.id.clone(),
            exec_id: "e1".into(),
            process: exec_process(
                &["sh", "-c", "echo in-exec; echo err-exec >&2; exit 7"],
                false,
            ),
            stdin: false,
        })
        .await
        .unwrap();
        assert_eq!(
            state(&mut c, &shim.id, "e1").await.status,
            pb::Status::Created as i32
        );
        let mut a = attach(&mut c, &shim.id, "e1").await;
        let exec_pid = start(&mut c, &shim.id, "e1").await;
        assert_ne!(exec_pid, init_pid);
        assert_eq!(wait(&mut c, &shim.id, "e1").await.exit_status, 7);
        let (out, err) = a.read_to_end().await;
        assert_eq!((out.as_str(), err.as_str()), ("in-exec\n", "err-exec\n"));
        let st = state(&mut c, &shim.id, "e1").await;
        assert_eq!((st.status, st.exit_status), (pb::Status::Stopped as i32, 7));
        // The init still runs.
        assert_eq!(
            state(&mut c, &shim.id, "").await.status,
            pb::Status::Running as i32
        );
        // A tty exec: `stty size` follows the resize.
        c.exec(pb::ExecRequest {
            id: shim.id.clone(),
            exec_id: "tty".into(),
            process: exec_process(&["sh", "-c", "read x; stty size"], true),
            stdin: true,
        })
        .await
        .unwrap();
        let mut t = attach(&mut c, &shim.id, "tty").await;
        start(&mut c, &shim.id, "tty").await;
        c.resize_pty(pb::ResizePtyRequest {
            id: shim.id.clone(),
            exec_id: "tty".into(),
            width: 77,
            height: 11,
        })
        .await
        .unwrap();
        t.send(b"go\n", false).await;
        let mut seen = String::new();
        t.read_until(&mut seen, "11 77").await;
        assert_eq!(wait(&mut c, &shim.id, "tty").await.exit_status, 0);
        let d = delete(&mut c, &shim.id, "e1").await;
        assert_eq!(d.exit_status, 7);
        let (code, _) = code_of(
            c.state(pb::StateRequest {
                id: shim.id.clone(),
                exec_id: "e1".into(),
            })
            .await,
        );
        assert_eq!(code, Code::NotFound);
        kill(&mut c, &shim.id, "", 9).await;
        assert_eq!(wait(&mut c, &shim.id, "").await.exit_status, 137);
        // Exec events come before the init's exit.
        let mut kinds = Vec::new();
        loop {
            let e = next_event(&mut events).await;
            kinds.push((e.r#type, e.exec_id.clone()));
            if e.r#type == pb::EventType::Exited as i32 && e.exec_id.is_empty() {
                assert_eq!(e.exit_status, 137);
                break;
            }
        }
        use pb::EventType as E;
        let t = |k: E, x: &str| (k as i32, x.to_string());
        assert_eq!(
            kinds,
            [
                t(E::Created, ""),
                t(E::Started, ""),
                t(E::ExecAdded, "e1"),
                t(E::ExecStarted, "e1"),
                t(E::Exited, "e1"),
                t(E::ExecAdded, "tty"),
                t(E::ExecStarted, "tty"),
                t(E::Exited, "tty"),
                t(E::Exited, ""),
            ]
        );
        delete(&mut c, &shim.id, "").await;
    });
    // Exec output is not the container's log.
    let logged = std::fs::read_to_string(shim.log_path()).unwrap();
    assert!(!logged.contains("in-exec"), "{logged}");
}
both_runtimes!(exec_exit_code);

/// Wait may be called before Start, and by late callers on new
/// connections after the exit: the same answer each time.
fn wait_early_and_late(runtime: Runtime) {
    require_root();
    let shim = Shim::start(runtime, &["sh", "-c", "sleep 0.3; exit 5"]);
    block_on(async {
        let mut c = shim.connect().await;
        c.create(shim.create_request(false)).await.unwrap();
        let early = tokio::spawn({
            let mut c = c.clone();
            let id = shim.id.clone();
            async move { wait(&mut c, &id, "").await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !early.is_finished(),
            "wait returned before the container started"
        );
        start(&mut c, &shim.id, "").await;
        let early = early.await.unwrap();
        assert_eq!(early.exit_status, 5);
        for _ in 0..2 {
            let mut late = shim.connect().await;
            let w = wait(&mut late, &shim.id, "").await;
            assert_eq!(w.exit_status, 5);
            assert_eq!(w.exited_at, early.exited_at);
        }
        delete(&mut c, &shim.id, "").await;
    });
}
both_runtimes!(wait_early_and_late);

/// A client that dies mid-Attach and mid-Wait disturbs nothing: a new
/// client gets the exit, and the log has every line.
fn client_dies_and_reconnects(runtime: Runtime) {
    require_root();
    let shim = Shim::start(
        runtime,
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 20 ]; do echo tick $i; i=$((i+1)); sleep 0.05; done",
        ],
    );
    // The first client lives in its own runtime, dropped abruptly (its
    // connection is reset as if the process had been killed).
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    first.block_on(async {
        let mut c = shim.connect().await;
        c.create(shim.create_request(true)).await.unwrap();
        let mut a = attach(&mut c, &shim.id, "").await;
        tokio::spawn({
            let mut c = c.clone();
            let id = shim.id.clone();
            async move { wait(&mut c, &id, "").await }
        });
        start(&mut c, &shim.id, "").await;
        let mut seen = String::new();
        a.read_until(&mut seen, "tick 2\n").await;
        std::mem::forget(a);
    });
    drop(first);
    block_on(async {
        let mut c = shim.connect().await;
        assert_eq!(wait(&mut c, &shim.id, "").await.exit_status, 0);
        delete(&mut c, &shim.id, "").await;
    });
    let lines: Vec<String> = log_entries(&shim.log_path())
        .iter()
        .map(|e| e["log"].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = (0..20).map(|i| format!("tick {i}\n")).collect();
    assert_eq!(lines, want);
}
both_runtimes!(client_dies_and_reconnects);

/// json-file rotation keeps max-file files of about max-size; long lines
/// are split at 16 KiB; the `none` driver writes nothing while Attach still
/// gets the output.
fn log_rotation_and_drivers(runtime: Runtime) {
    require_root();
    let script = "i=0; while [ $i -lt 300 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done";
    let shim = Shim::start(runtime, &["sh", "-c", script]);
    block_on(async {
        let mut c = shim.connect().await;
        let mut req = shim.create_request(false);
        req.log.as_mut().unwrap().max_size = 2000;
        req.log.as_mut().unwrap().max_file = 3;
        c.create(req).await.unwrap();
        start(&mut c, &shim.id, "").await;
        assert_eq!(wait(&mut c, &shim.id, "").await.exit_status, 0);
        delete(&mut c, &shim.id, "").await;
    });
    let log = shim.log_path();
    let rotated = |n: u32| std::path::PathBuf::from(format!("{}.{n}", log.display()));
    assert!(
        rotated(1).exists() && rotated(2).exists(),
        "rotated files missing"
    );
    assert!(!rotated(3).exists(), "more than max-file files");
    let mut all = Vec::new();
    for f in [rotated(2), rotated(1), log.clone()] {
        let len = std::fs::metadata(&f).unwrap().len();
        assert!(len <= 2000 + 200, "{} is {len} bytes", f.display());
        all.extend(log_entries(&f));
    }
    // The newest entries, in order, end with the last line.
    let lines: Vec<&str> = all.iter().map(|e| e["log"].as_str().unwrap()).collect();
    assert!(lines.last().unwrap().starts_with("line-299-"));
    let first: usize = lines[0].split('-').nth(1).unwrap().parse().unwrap();
    for (k, l) in lines.iter().enumerate() {
        assert!(l.starts_with(&format!("line-{}-", first + k)), "{l}");
    }

    // A 40000-byte line: three entries, only the last ends the line.
    let shim = Shim::start(
        runtime,
        &["sh", "-c", "head -c 40000 /dev/zero | tr '\\0' x; echo"],
    );
    block_on(async {
        let mut c = shim.connect().await;
        c.create(shim.create_request(false)).await.unwrap();
        start(&mut c, &shim.id, "").await;
        wait(&mut c, &shim.id, "").await;
        delete(&mut c, &shim.id, "").await;
    });
    let lens: Vec<usize> = log_entries(&shim.log_path())
        .iter()
        .map(|e| e["log"].as_str().unwrap().len())
        .collect();
    assert_eq!(lens, [16384, 16384, 40000 - 2 * 16384 + 1]);

    // Driver none.
    let shim = Shim::start(runtime, &["sh", "-c", "sleep 0.2; echo quiet"]);
    block_on(async {
        let mut c = shim.connect().await;
        let mut req = shim.create_request(false);
        req.log = Some(pb::LogConfig {
            driver: "none".into(),
            ..Default::default()
        });
        c.create(req).await.unwrap();
        let mut a = attach(&mut c, &shim.id, "").await;
        start(&mut c, &shim.id, "").await;
        let (out, _) = a.read_to_end().await;
        assert_eq!(out, "quiet\n");
        wait(&mut c, &shim.id, "").await;
        delete(&mut c, &shim.id, "").await;
    });
    assert!(!shim.log_path().exists());
}
both_runtimes!(log_rotation_and_drivers);

/// Twenty shims and containers at once.
fn twenty_at_once(runtime: Runtime) {
    require_root();
    let shims: Vec<Shim> = (0..20)
        .map(|i| Shim::start(runtime, &["sh", "-c", &format!("echo n{i}; exit {i}")]))
        .collect();
    block_on(async {
        let mut tasks = Vec::new();
        for (i, shim) in shims.iter().enumerate() {
            let mut c = shim.connect().await;
            let id = shim.id.clone();
            let req = shim.create_request(false);
            tasks.push(tokio::spawn(async move {
                c.create(req).await.unwrap();
                start(&mut c, &id, "").await;
                let w = wait(&mut c, &id, "").await;
                assert_eq!(w.exit_status, i as u32);
                delete(&mut c, &id, "").await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    for (i, shim) in shims.iter().enumerate() {
        let e = log_entries(&shim.log_path());
        assert_eq!(e[0]["log"], format!("n{i}\n"));
        assert!(shim.wait_gone(Duration::from_secs(5)));
    }
}
both_runtimes!(twenty_at_once);

/// Every bad input is a gRPC error with the right code and a message, and
/// the shim keeps serving; a failing runtime's message comes back verbatim.
fn bad_inputs(runtime: Runtime) {
    require_root();
    let shim = Shim::start(runtime, &["sleep", "1000"]);
    block_on(async {
        let mut c = shim.connect().await;
        let id = shim.id.clone();
        let start_req = |exec_id: &str| pb::StartRequest {
            id: id.clone(),
            exec_id: exec_id.into(),
        };
        let (code, msg) = code_of(c.start(start_req("")).await);
        assert_eq!(code, Code::FailedPrecondition, "{msg}");
        assert!(msg.contains("not created"), "{msg}");

        let mut req = shim.create_request(false);
        req.id = "nope".into();
        let (code, msg) = code_of(c.create(req).await);
        assert_eq!(code, Code::NotFound, "{msg}");
        assert!(msg.contains("\"nope\""), "{msg}");
        let (code, _) = code_of(
            c.state(pb::StateRequest {
                id: "nope".into(),
                exec_id: String::new(),
            })
            .await,
        );
        assert_eq!(code, Code::NotFound);

        let mut req = shim.create_request(false);
        req.log.as_mut().unwrap().driver = "gelf".into();
        let (code, msg) = code_of(c.create(req).await);
        assert_eq!(code, Code::InvalidArgument, "{msg}");
        assert!(msg.contains("not implemented: log driver gelf"), "{msg}");
        let mut req = shim.create_request(false);
        req.log.as_mut().unwrap().max_file = 3;
        let (code, msg) = code_of(c.create(req).await);
        assert_eq!(code, Code::InvalidArgument, "{msg}");
        assert!(msg.contains("max-file"), "{msg}");

        c.create(shim.create_request(false)).await.unwrap();
        let (code, msg) = code_of(c.create(shim.create_request(false)).await);
        assert_eq!(code, Code::AlreadyExists, "{msg}");
        c.start(start_req("")).await.unwrap();
        let (code, msg) = code_of(c.start(start_req("")).await);
        assert_eq!(code, Code::FailedPrecondition, "{msg}");
        assert!(msg.contains("already started"), "{msg}");

        for signal in [0, 65, 1000] {
            let (code, msg) = code_of(
                c.kill(pb::KillRequest {
                    id: id.clone(),
                    exec_id: String::new(),
                    signal,
                    all: false,
                })
                .await,
            );
            assert_eq!(code, Code::InvalidArgument, "{msg}");
            assert!(msg.contains(&format!("signal {signal}")), "{msg}");
        }
        let (code, msg) = code_of(
            c.resize_pty(pb::ResizePtyRequest {
                id: id.clone(),
                exec_id: String::new(),
                width: 80,
                height: 24,
            })
            .await,
        );
        assert_eq!(code, Code::FailedPrecondition, "{msg}");
        assert!(msg.contains("no tty"), "{msg}");

        let exec = |exec_id: &str, process: Vec<u8>| pb::ExecRequest {
            id: id.clone(),
            exec_id: exec_id.into(),
            process,
            stdin: false,
        };
        let sleep = exec_process(&["sleep", "1000"], false);
        let (code, _) = code_of(c.exec(exec("", sleep.clone())).await);
        assert_eq!(code, Code::InvalidArgument);
        let (code, _) = code_of(c.exec(exec("a/b", sleep.clone())).await);
        assert_eq!(code, Code::InvalidArgument);
        let (code, _) = code_of(c.exec(exec("e0", b"not json".to_vec())).await);
        assert_eq!(code, Code::InvalidArgument);
        c.exec(exec("e1", sleep.clone())).await.unwrap();
        let (code, msg) = code_of(c.exec(exec("e1", sleep.clone())).await);
        assert_eq!(code, Code::AlreadyExists, "{msg}");
        let (code, msg) = code_of(
            c.kill(pb::KillRequest {
                id: id.clone(),
                exec_id: "e1".into(),
                signal: 9,
                all: false,
            })
            .await,
        );
        assert_eq!(code, Code::FailedPrecondition, "{msg}");
        for exec_id in ["zz"] {
            let (code, _) = code_of(
                c.wait(pb::WaitRequest {
                    id: id.clone(),
                    exec_id: exec_id.into(),
                })
                .await,
            );
            assert_eq!(code, Code::NotFound);
        }
        let (code, msg) = code_of(
            c.delete(pb::DeleteRequest {
                id: id.clone(),
                exec_id: String::new(),
            })
            .await,
        );
        assert_eq!(code, Code::FailedPrecondition, "{msg}");
        assert!(msg.contains("running"), "{msg}");

        // The runtime's own error, verbatim: the same exec by hand.
        let missing = exec_process(&["/nonexistent"], false);
        c.exec(exec("bad", missing.clone())).await.unwrap();
        let s = c
            .start(start_req("bad"))
            .await
            .expect_err("start of /nonexistent");
        let spec = shim.dir.join("missing.json");
        std::fs::write(&spec, &missing).unwrap();
        let (ok, by_hand) = shim.runtime_cmd(&[
            "exec",
            "--process",
            spec.to_str().unwrap(),
            "--detach",
            &shim.id,
        ]);
        assert!(!ok);
        assert_eq!(s.code(), Code::Unknown);
        assert_eq!(Some(s.message().to_string()), by_hand);

        // Still serving.
        assert_eq!(
            state(&mut c, &id, "").await.status,
            pb::Status::Running as i32
        );
        kill(&mut c, &id, "", 9).await;
        wait(&mut c, &id, "").await;
        delete(&mut c, &id, "e1").await;
        delete(&mut c, &id, "").await;
    });
}
both_runtimes!(bad_inputs);

/// A container whose process cannot run: runc refuses at create, a runtime
/// may also refuse only at start. Either way the caller gets the runtime's
/// message verbatim (compared with the same calls made by hand), and
/// nothing is left behind.
fn missing_executable(runtime: Runtime) {
    require_root();
    let shim = Shim::start(runtime, &["/nonexistent"]);
    block_on(async {
        let mut c = shim.connect().await;
        let other = format!("{}-byhand", shim.id);
        let bundle = shim.bundle.dir.to_str().unwrap().to_string();
        match c.create(shim.create_request(false)).await {
            Err(s) => {
                let (ok, by_hand) = shim.runtime_cmd(&["create", "--bundle", &bundle, &other]);
                shim.runtime_cmd(&["delete", "--force", &other]);
                assert!(!ok);
                assert_eq!(s.code(), Code::Unknown);
                assert_eq!(Some(s.message().to_string()), by_hand);
                let (code, _) = code_of(
                    c.state(pb::StateRequest {
                        id: shim.id.clone(),
                        exec_id: String::new(),
                    })
                    .await,
                );
                assert_eq!(code, Code::FailedPrecondition);
                c.shutdown(pb::ShutdownRequest {
                    id: shim.id.clone(),
                    now: false,
                })
                .await
                .unwrap();
            }
            Ok(_) => {
                let s = c
                    .start(pb::StartRequest {
                        id: shim.id.clone(),
                        exec_id: String::new(),
                    })
                    .await
                    .expect_err("start of /nonexistent");
                let (ok, _) = shim.runtime_cmd(&["create", "--bundle", &bundle, &other]);
                assert!(ok, "create by hand failed where the shim's succeeded");
                let (ok, by_hand) = shim.runtime_cmd(&["start", &other]);
                shim.runtime_cmd(&["delete", "--force", &other]);
                assert!(!ok);
                assert_eq!(s.code(), Code::Unknown);
                assert_eq!(Some(s.message().to_string()), by_hand);
                c.shutdown(pb::ShutdownRequest {
                    id: shim.id.clone(),
                    now: true,
                })
                .await
                .unwrap();
            }
        }
    });
    assert!(shim.wait_gone(Duration::from_secs(5)));
}
both_runtimes!(missing_executable);

/// A shim killed with SIGKILL leaves a state dir that says so (and that
/// its container still runs); SIGTERM kills and deletes the container
/// first and records its exit.
fn shim_killed(runtime: Runtime) {
    require_root();
    let shim = Shim::start(runtime, &["sleep", "1000"]);
    let init_pid = block_on(async {
        let mut c = shim.connect().await;
        c.create(shim.create_request(false)).await.unwrap();
        start(&mut c, &shim.id, "").await
    });
    unsafe { libc::kill(shim.pid() as i32, libc::SIGKILL) };
    assert!(shim.wait_gone(Duration::from_secs(5)));
    let status = shim_status(&shim);
    assert!(
        status.contains(&format!(
            "was killed; container init {init_pid} is still running"
        )),
        "{status}"
    );
    assert!(!shim.state_dir().join("exit").exists());

    let shim = Shim::start(runtime, &["sleep", "1000"]);
    let init_pid = block_on(async {
        let mut c = shim.connect().await;
        c.create(shim.create_request(false)).await.unwrap();
        start(&mut c, &shim.id, "").await
    });
    unsafe { libc::kill(shim.pid() as i32, libc::SIGTERM) };
    assert!(shim.wait_gone(Duration::from_secs(15)));
    let status = shim_status(&shim);
    assert!(
        status.contains(&format!(
            "shim exited (terminated by SIGTERM); container init {init_pid} exited with status 137"
        )),
        "{status}"
    );
    let (ok, _) = shim.runtime_cmd(&["state", &shim.id]);
    assert!(!ok, "container left behind after SIGTERM");
}
both_runtimes!(shim_killed);

fn shim_status(shim: &Shim) -> String {
    let out = std::process::Command::new(berth_integration_tests::bin("berth-shim"))
        .arg("status")
        .arg("--state-dir")
        .arg(shim.state_dir())
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Pids (with exec ids), Pause/Resume (state and events), Stats, Update.
fn pause_pids_stats_update(runtime: Runtime) {
    require_root();
    let shim = Shim::start(runtime, &["sleep", "1000"]);
    block_on(async {
        let mut c = shim.connect().await;
        let id = shim.id.clone();
        c.create(shim.create_request(false)).await.unwrap();
        let init_pid = start(&mut c, &id, "").await;
        let mut events = c.events(pb::EventsRequest {}).await.unwrap().into_inner();
        c.exec(pb::ExecRequest {
            id: id.clone(),
            exec_id: "e1".into(),
            process: exec_process(&["sleep", "1000"], false),
            stdin: false,
        })
        .await
        .unwrap();
        let exec_pid = start(&mut c, &id, "e1").await;
        let pids = c
            .pids(pb::PidsRequest { id: id.clone() })
            .await
            .unwrap()
            .into_inner()
            .processes;
        let find = |pid| {
            pids.iter()
                .find(|p| p.pid == pid)
                .map(|p| p.exec_id.clone())
        };
        assert_eq!(find(init_pid), Some(String::new()), "{pids:?}");
        assert_eq!(find(exec_pid), Some("e1".to_string()), "{pids:?}");

        c.pause(pb::PauseRequest { id: id.clone() }).await.unwrap();
        assert_eq!(
            state(&mut c, &id, "").await.status,
            pb::Status::Paused as i32
        );
        let (code, _) = code_of(c.pause(pb::PauseRequest { id: id.clone() }).await);
        assert_eq!(code, Code::FailedPrecondition);
        c.resume(pb::ResumeRequest { id: id.clone() })
            .await
            .unwrap();
        assert_eq!(
            state(&mut c, &id, "").await.status,
            pb::Status::Running as i32
        );
        let (code, _) = code_of(c.resume(pb::ResumeRequest { id: id.clone() }).await);
        assert_eq!(code, Code::FailedPrecondition);

        c.update(pb::UpdateRequest {
            id: id.clone(),
            resources: br#"{"pids":{"limit":50}}"#.to_vec(),
        })
        .await
        .unwrap();
        let (code, _) = code_of(
            c.update(pb::UpdateRequest {
                id: id.clone(),
                resources: b"[1]".to_vec(),
            })
            .await,
        );
        assert_eq!(code, Code::InvalidArgument);
        let stats = c
            .stats(pb::StatsRequest { id: id.clone() })
            .await
            .unwrap()
            .into_inner();
        let json: serde_json::Value = serde_json::from_str(&stats.json).unwrap();
        assert_eq!(json["pids"]["limit"], 50, "{json}");
        assert_eq!(stats.pids_current, 2, "{json}");
        assert!(stats.memory_usage_bytes > 0, "{json}");

        use pb::EventType as E;
        let mut kinds = Vec::new();
        for _ in 0..4 {
            kinds.push(next_event(&mut events).await.r#type);
        }
        assert_eq!(
            kinds,
            [
                E::ExecAdded as i32,
                E::ExecStarted as i32,
                E::Paused as i32,
                E::Resumed as i32
            ]
        );
        kill(&mut c, &id, "e1", 9).await;
        assert_eq!(wait(&mut c, &id, "e1").await.exit_status, 137);
        kill(&mut c, &id, "", 9).await;
        wait(&mut c, &id, "").await;
        delete(&mut c, &id, "").await;
    });
}
both_runtimes!(pause_pids_stats_update);

/// Shutdown is refused while the container exists; with `now` the
/// container is killed, its exit recorded, it is deleted, and the shim exits.
fn shutdown_rules(runtime: Runtime) {
    require_root();
    let shim = Shim::start(runtime, &["sleep", "1000"]);
    block_on(async {
        let mut c = shim.connect().await;
        c.create(shim.create_request(false)).await.unwrap();
        start(&mut c, &shim.id, "").await;
        let req = |now| pb::ShutdownRequest {
            id: shim.id.clone(),
            now,
        };
        let (code, msg) = code_of(c.shutdown(req(false)).await);
        assert_eq!(code, Code::FailedPrecondition, "{msg}");
        c.shutdown(req(true)).await.unwrap();
    });
    assert!(shim.wait_gone(Duration::from_secs(10)));
    let exit = std::fs::read_to_string(shim.state_dir().join("exit")).unwrap();
    assert!(exit.contains("\"exit_status\":137"), "{exit}");
    let (ok, _) = shim.runtime_cmd(&["state", &shim.id]);
    assert!(!ok, "container left behind after shutdown");
}
both_runtimes!(shutdown_rules);

/// The kernel's OOM killer striking in the container is an OOM event, sent
/// when it happens (the container goes on), and before the init's exit.
fn oom_event(runtime: Runtime) {
    require_root();
    let shim = Shim::start_with(
        runtime,
        &[
            "sh",
            "-c",
            // tail buffers the newline-free stream until the limit; it
            // raises its own oom_score_adj so the kernel always picks it, not
            // the shell that must survive to print (raising needs no
            // privilege; lowering the shell's would need CAP_SYS_RESOURCE).
            // 64 MiB leaves room for what the runtime's set-up charges to
            // the cgroup (runc 1.1 copies its binary into a memfd there).
            "head -c 256m /dev/zero | (echo 1000 > /proc/self/oom_score_adj; exec tail); echo survived; exec sleep 1000",
        ],
        |b| {
            b.spec["linux"]["resources"]["memory"] =
                serde_json::json!({"limit": 64 << 20, "swap": 64 << 20});
        },
    );
    block_on(async {
        let mut c = shim.connect().await;
        let mut events = c.events(pb::EventsRequest {}).await.unwrap().into_inner();
        c.create(shim.create_request(false)).await.unwrap();
        let mut a = attach(&mut c, &shim.id, "").await;
        start(&mut c, &shim.id, "").await;
        use pb::EventType as E;
        let mut kinds = Vec::new();
        for _ in 0..3 {
            kinds.push(next_event(&mut events).await.r#type);
        }
        assert_eq!(kinds, [E::Created as i32, E::Started as i32, E::Oom as i32]);
        let mut seen = String::new();
        a.read_until(&mut seen, "survived").await;
        assert_eq!(
            state(&mut c, &shim.id, "").await.status,
            pb::Status::Running as i32
        );
        kill(&mut c, &shim.id, "", 9).await;
        assert_eq!(wait(&mut c, &shim.id, "").await.exit_status, 137);
        // Exactly one OOM event: the exit does not repeat it.
        assert_eq!(next_event(&mut events).await.r#type, E::Exited as i32);
        delete(&mut c, &shim.id, "").await;
    });
}
both_runtimes!(oom_event);

/// Back-pressure (docker's attach): a client that does not read holds the
/// container back (it blocks writing, the shim stops reading its pipe)
/// instead of being cut off; a client that goes away (its stream dropped)
/// stalls nothing; a slow client gets every byte, in order; the log has
/// every line.
fn slow_client_is_slowed_not_cut(runtime: Runtime) {
    require_root();
    // 8000000 x's in lines of 99 (the last without a newline): far more
    // than the pipe, the client's queue and the HTTP/2 windows hold.
    const LEN: usize = 8_000_000 + 8_000_000_usize.div_ceil(99) - 1;
    let shim = Shim::start(
        runtime,
        &[
            "sh",
            "-c",
            "head -c 8000000 /dev/zero | tr '\\0' x | fold -w 99",
        ],
    );
    block_on(async {
        let mut c = shim.connect().await;
        let mut req = shim.create_request(false);
        req.log.as_mut().unwrap().max_size = 0;
        c.create(req).await.unwrap();
        // Each client on a connection of its own, as berthd does.
        let mut slow_conn = shim.connect().await;
        let mut slow = attach(&mut slow_conn, &shim.id, "").await;
        let mut gone_conn = shim.connect().await;
        let gone = attach(&mut gone_conn, &shim.id, "").await;
        start(&mut c, &shim.id, "").await;
        // Nobody reads: the container cannot finish.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let s = state(&mut c, &shim.id, "").await;
        assert_eq!(
            s.status,
            pb::Status::Running as i32,
            "the container ran to its end though its clients read nothing"
        );
        // One client goes away; the other reads slowly, and gets it all.
        drop(gone);
        drop(gone_conn);
        let mut got = Vec::with_capacity(LEN);
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(20), slow.output.message())
                .await
                .expect("the output stalled");
            match msg {
                Ok(Some(m)) => {
                    assert_eq!(m.stream, pb::StdStream::Stdout as i32);
                    got.extend_from_slice(&m.data);
                    tokio::time::sleep(Duration::from_micros(300)).await;
                }
                Ok(None) => break,
                Err(s) => panic!("the slow client was cut off: {s:?}"),
            }
        }
        let expected: Vec<u8> = {
            let mut v = Vec::with_capacity(LEN);
            for i in 0..8_000_000usize {
                if i > 0 && i % 99 == 0 {
                    v.push(b'\n');
                }
                v.push(b'x');
            }
            v
        };
        assert_eq!(got.len(), expected.len(), "bytes the slow client got");
        assert!(got == expected, "the slow client's bytes differ");
        assert_eq!(wait(&mut c, &shim.id, "").await.exit_status, 0);
        delete(&mut c, &shim.id, "").await;
    });
    let entries = log_entries(&shim.log_path());
    let bytes: usize = entries
        .iter()
        .map(|e| e["log"].as_str().unwrap().len())
        .sum();
    assert_eq!(bytes, LEN, "logged bytes");
}
both_runtimes!(slow_client_is_slowed_not_cut);

/// Bad command lines: a one-line error naming what was wrong, exit 1, no
/// shim left running and no socket left behind.
#[test]
fn bad_command_lines() {
    require_root();
    let shim = Shim::start(Runtime::Runc, &["sleep", "1000"]);
    let bundle = shim.bundle.dir.to_str().unwrap().to_string();
    let state = shim.state_dir().to_str().unwrap().to_string();
    let sockets = shim.dir.join("s").to_str().unwrap().to_string();
    let empty = shim.dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let long_dir = format!("/tmp/{}", "d".repeat(90));
    let runc = Runtime::Runc.path().to_str().unwrap().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--bundle", &bundle, "--state-dir", &state],
            "--id is required",
        ),
        (
            vec!["--id", "a b", "--bundle", &bundle, "--state-dir", &state],
            "container id \"a b\" is invalid",
        ),
        (
            vec![
                "--id",
                "x",
                "--bundle",
                empty.to_str().unwrap(),
                "--state-dir",
                &state,
            ],
            "has no config.json",
        ),
        (
            vec![
                "--id",
                "x",
                "--bundle",
                &bundle,
                "--state-dir",
                &state,
                "--runtime",
                "/nonexistent/rt",
            ],
            "runtime /nonexistent/rt is not an executable file",
        ),
        (
            vec![
                "--id",
                "x",
                "--bundle",
                &bundle,
                "--state-dir",
                &state,
                "--runtime",
                &runc,
                "--socket-dir",
                &long_dir,
            ],
            "sun_path holds at most 107",
        ),
        (
            vec![
                "--id",
                &shim.id,
                "--bundle",
                &bundle,
                "--state-dir",
                &state,
                "--runtime",
                &runc,
                "--socket-dir",
                &sockets,
            ],
            "a shim is already listening",
        ),
        (
            vec!["--id", "x", "--frobnicate", "1"],
            "unknown flag --frobnicate",
        ),
    ];
    for (args, want) in cases {
        let out = std::process::Command::new(berth_integration_tests::bin("berth-shim"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with("berth-shim: ") && err.contains(want),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let _ = std::fs::remove_dir_all(&long_dir);
    // The first shim still answers.
    block_on(async {
        let mut c = shim.connect().await;
        let (code, _) = code_of(
            c.start(pb::StartRequest {
                id: shim.id.clone(),
                exec_id: String::new(),
            })
            .await,
        );
        assert_eq!(code, Code::FailedPrecondition);
    });
    let socks = std::fs::read_dir(shim.dir.join("s")).unwrap().count();
    assert_eq!(socks, 1, "extra sockets left behind");
}

/// A created container that never started can be deleted: its init is
/// killed, its exit recorded, and the shim exits.
fn delete_created(runtime: Runtime) {
    require_root();
    let shim = Shim::start(runtime, &["sleep", "1000"]);
    block_on(async {
        let mut c = shim.connect().await;
        let pid = c
            .create(shim.create_request(false))
            .await
            .unwrap()
            .into_inner()
            .pid;
        let d = delete(&mut c, &shim.id, "").await;
        assert_eq!(d.pid, pid);
        assert_eq!(d.exit_status, 137);
    });
    assert!(shim.wait_gone(Duration::from_secs(5)));
    let exit = std::fs::read_to_string(shim.state_dir().join("exit")).unwrap();
    assert!(exit.contains("\"exit_status\":137"), "{exit}");
    let (ok, _) = shim.runtime_cmd(&["state", &shim.id]);
    assert!(!ok, "container left behind");
}
both_runtimes!(delete_created);
