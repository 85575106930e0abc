//! Pulls that stop (issue 13, items 6 and 7): a pull whose client goes away
//! is cancelled (its registry connection closed, no tag, no lease; its
//! partial download kept for a resume until `image prune`), unless another
//! client pulls the same image; a registry that drips bytes fails the pull
//! with a timeout; a pull that died with berthd pins nothing after the
//! restart. The registry is Debian's docker-registry behind the harness's
//! SlowProxy, which throttles or drips its answers and counts connections.

use berth_integration_tests::berthd::Berthd;
use berth_integration_tests::registry::{
    make_tar, skopeo_copy, tar_dir, write_oci_layout, FakeRegistry, FakeResponse, Registry,
    SlowProxy,
};
use berth_integration_tests::{require_root, run, stderr, stdout, TestDir};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

/// A layer tar holding `mib` MiB of random (incompressible) bytes.
fn random_layer(work: &TestDir, mib: u64) -> Vec<u8> {
    let dir = work.join(&format!("random-{mib}"));
    std::fs::create_dir_all(&dir).unwrap();
    let out = run(Command::new("dd")
        .args(["if=/dev/urandom", "bs=1M", &format!("count={mib}")])
        .arg(format!("of={}", dir.join("random.bin").display())));
    assert!(out.status.success(), "dd: {}", stderr(&out));
    let tar = work.join(&format!("random-{mib}.tar"));
    tar_dir(&dir, &tar);
    std::fs::read(&tar).unwrap()
}

/// Pushes an image of `layers` (uncompressed tars) as `name:v1`.
fn push(reg: &Registry, work: &TestDir, name: &str, layers: &[Vec<u8>]) {
    let layout = work.join(&format!("layout-{name}"));
    write_oci_layout(&layout, layers, "v1");
    skopeo_copy(
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{}/{name}:v1", reg.host()),
    );
}

/// Bytes in the content store's ingests (partial downloads).
fn ingest_bytes(root: &Path) -> u64 {
    let Ok(dirs) = std::fs::read_dir(root.join("content/ingest")) else {
        return 0;
    };
    dirs.flatten()
        .filter_map(|e| std::fs::metadata(e.path().join("data")).ok())
        .map(|m| m.len())
        .sum()
}

/// Names of the committed blobs in the content store.
fn blobs(root: &Path) -> Vec<String> {
    let Ok(dirs) = std::fs::read_dir(root.join("content/blobs/sha256")) else {
        return Vec::new();
    };
    dirs.flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect()
}

/// Entries of the overlayfs snapshotter's directory: snapshots (by id) and
/// scratch directories of layers being unpacked.
fn snapshot_entries(root: &Path) -> Vec<String> {
    let Ok(dirs) = std::fs::read_dir(root.join("snapshots/overlayfs")) else {
        return Vec::new();
    };
    dirs.flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect()
}

/// Waits up to `secs` for `ready`, panicking with `what` after.
fn wait_until(what: &str, secs: u64, mut ready: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{what}: not within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// `berth pull REFERENCE` in the background, its output captured.
fn spawn_pull(d: &Berthd, reference: &str) -> Child {
    d.berth_cmd(&["pull", reference])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth pull")
}

/// Waits up to `secs` for `child` to exit; kills it (by its pid) and
/// panics if it does not.
fn wait_with_deadline(mut child: Child, secs: u64, what: &str) -> std::process::Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what}: still running after {secs} s\nstdout: {}\nstderr: {}",
                stdout(&out),
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_pull_whose_client_is_killed_stops_and_leaves_nothing_behind() {
    require_root();
    let reg = Registry::start();
    let work = TestDir::new("pull-cancel");
    push(&reg, &work, "cancel", &[random_layer(&work, 12)]);
    // 512 KiB/s: the whole pull would take about 24 s.
    let proxy = SlowProxy::start(&reg.host(), 512 * 1024);
    let reference = format!("{}/cancel:v1", proxy.host());
    let d = Berthd::start();

    let mut client = spawn_pull(&d, &reference);
    wait_until("the download starts", 30, || ingest_bytes(&d.root) >= MIB);
    let open_during = proxy.open.load(Ordering::SeqCst);
    assert!(open_during >= 1);
    client.kill().unwrap(); // SIGKILL, by the child's pid
    client.wait().unwrap();

    let closed_after = wait_until("berthd closes its download connection", 5, || {
        proxy.open.load(Ordering::SeqCst) < open_during
    });
    eprintln!("download connection closed {closed_after:?} after the client was killed");
    let before = proxy.forwarded.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        proxy.forwarded.load(Ordering::SeqCst),
        before,
        "berthd still fetches for a client that is gone"
    );
    // Were the pull still alive, it would now finish within a second.
    proxy.rate.store(0, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        d.ok(&["images", "-q"]),
        "",
        "a cancelled pull tagged its image"
    );
    // The partial download stays for a resume ...
    let partial = ingest_bytes(&d.root);
    assert!(
        partial >= MIB,
        "partial download not kept ({partial} bytes)"
    );
    // ... and no lease is left: a prune frees every blob the pull wrote
    // (manifest, config) and its partial download.
    assert!(!blobs(&d.root).is_empty(), "the pull stored no blob at all");
    d.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(
        blobs(&d.root),
        Vec::<String>::new(),
        "blobs left after prune"
    );
    assert_eq!(ingest_bytes(&d.root), 0, "ingest left after prune");
    assert_eq!(snapshot_entries(&d.root), Vec::<String>::new());
}

#[test]
fn two_clients_on_one_pull_one_killed_the_other_completes() {
    require_root();
    let reg = Registry::start();
    let work = TestDir::new("pull-shared");
    push(&reg, &work, "shared", &[random_layer(&work, 12)]);
    let proxy = SlowProxy::start(&reg.host(), MIB);
    let reference = format!("{}/shared:v1", proxy.host());
    let d = Berthd::start();

    // The first client's pull downloads the layer; the second one's waits
    // for that download.
    let mut first = spawn_pull(&d, &reference);
    wait_until("the download starts", 30, || ingest_bytes(&d.root) >= MIB);
    let second = spawn_pull(&d, &reference);
    std::thread::sleep(Duration::from_secs(1));
    first.kill().unwrap();
    first.wait().unwrap();

    let out = wait_with_deadline(second, 60, "the second client's pull");
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "the second pull failed: {}\n{text}",
        stderr(&out)
    );
    // It took the first pull's partial download over: the first one's pull
    // stopped rather than finishing the blob for it.
    assert!(
        text.contains("Resuming") && text.contains("Pull complete"),
        "{text}"
    );
    assert!(
        proxy.sent_text().to_lowercase().contains("range: bytes="),
        "no Range request: the first pull's download was not taken over"
    );
    assert!(d.ok(&["images"]).contains("shared"));
    assert_eq!(ingest_bytes(&d.root), 0);
}

#[test]
fn a_registry_that_drips_bytes_fails_the_pull_with_a_timeout() {
    require_root();
    let reg = Registry::start();
    let work = TestDir::new("pull-drip");
    push(&reg, &work, "drip", &[random_layer(&work, 4)]);
    let proxy = SlowProxy::start(&reg.host(), 256 * 1024);
    let reference = format!("{}/drip:v1", proxy.host());
    let d = Berthd::start_with_config(r#"{"registry-timeouts": {"read": 2, "stall": 3}}"#);

    let client = spawn_pull(&d, &reference);
    wait_until("the download starts", 30, || {
        ingest_bytes(&d.root) >= 256 * 1024
    });
    // From now on 20 bytes a second, two at a time: never silent for long,
    // never anywhere near done.
    proxy.rate.store(20, Ordering::SeqCst);
    let dripping = Instant::now();
    let out = wait_with_deadline(client, 30, "a pull from a dripping registry");
    let took = dripping.elapsed();
    let err = stderr(&out);
    eprintln!("the dripping pull failed {took:?} after the drip began: {err}");
    assert!(!out.status.success());
    assert!(
        err.contains("blob sha256:")
            && err.contains("timed out: stalled")
            && err.contains("registry-timeouts.stall"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    // Two 3 s windows at most (the drip may begin mid-window), and slack.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(d.ok(&["images", "-q"]), "");
}

#[test]
fn a_registry_that_never_answers_fails_the_pull_with_a_timeout() {
    require_root();
    // Accepts the request, then says nothing for 8 s.
    let reg = FakeRegistry::start(|req| {
        if req.path.contains("/manifests/") {
            std::thread::sleep(Duration::from_secs(8));
        }
        FakeResponse::new(404, "application/json", r#"{"errors":[]}"#)
    });
    let d = Berthd::start_with_config(r#"{"registry-timeouts": {"response": 2}}"#);
    let start = Instant::now();
    let err = d.fails(&["pull", &format!("{}/silent:v1", reg.host())]);
    let took = start.elapsed();
    eprintln!("a silent registry failed the pull after {took:?}: {err}");
    assert!(
        err.contains("timed out: no response within 2 s")
            && err.contains("registry-timeouts.response"),
        "{err}"
    );
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert_eq!(d.ok(&["images", "-q"]), "");
}

#[test]
fn a_pull_killed_with_berthd_pins_nothing_after_the_restart() {
    require_root();
    let reg = Registry::start();
    let work = TestDir::new("pull-crash");
    let small = make_tar(&[("etc", "dir", ""), ("etc/first", "file", "1")]);
    push(&reg, &work, "crash", &[small, random_layer(&work, 12)]);
    let proxy = SlowProxy::start(&reg.host(), 512 * 1024);
    let reference = format!("{}/crash:v1", proxy.host());
    let mut d = Berthd::start();

    let client = spawn_pull(&d, &reference);
    // The small layer is unpacked as a snapshot while the big one downloads.
    wait_until("a snapshot and a partial download", 30, || {
        snapshot_entries(&d.root)
            .iter()
            .any(|e| e.parse::<u64>().is_ok())
            && ingest_bytes(&d.root) >= MIB
    });
    d.kill9();
    let _ = wait_with_deadline(client, 10, "the client of a dead berthd");
    let pinned = blobs(&d.root);
    assert!(
        pinned.len() >= 3,
        "manifest, config, small layer: {pinned:?}"
    );

    d.restart();
    assert_eq!(d.ok(&["images", "-q"]), "");
    d.ok(&["system", "prune", "-a", "-f"]);
    assert_eq!(blobs(&d.root), Vec::<String>::new(), "blobs left");
    assert_eq!(ingest_bytes(&d.root), 0, "ingest left");
    assert_eq!(
        snapshot_entries(&d.root),
        Vec::<String>::new(),
        "snapshots left"
    );
}
