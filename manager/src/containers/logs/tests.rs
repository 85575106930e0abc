//! Reader tests on real files in temp dirs, written the way berth-shim
//! writes and rotates them (shim/src/jsonlog.rs), read by a real reader
//! thread; following tests interleave writes and reads.

use super::scratch::ScratchDir;
use super::*;
use berth_docker::timestamp::{format_timestamp, parse_log_time};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

/// A json-file log written like berth-shim's: rotation checked before each
/// entry, renames `.k` to `.k+1` then live to `.1`, truncation for max-file 1.
struct TestLog {
    path: PathBuf,
    max_size: u64,
    max_file: u32,
    file: File,
    size: u64,
}

impl TestLog {
    fn new(path: &Path, max_size: u64, max_file: u32) -> TestLog {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        TestLog {
            path: path.to_path_buf(),
            max_size,
            max_file,
            file,
            size: 0,
        }
    }

    fn numbered(&self, n: u32) -> PathBuf {
        PathBuf::from(format!("{}.{n}", self.path.display()))
    }

    fn entry(&mut self, stream: &str, log: &str, time: SystemTime) {
        if self.max_size > 0 && self.size >= self.max_size {
            if self.max_file < 2 {
                self.file.set_len(0).unwrap();
            } else {
                // The shim tries every n below max-file - 1; only the
                // existing (contiguous) ones matter.
                let existing = (1..).take_while(|&n| self.numbered(n).exists()).count() as u32;
                for n in (1..=existing.min(self.max_file - 2)).rev() {
                    std::fs::rename(self.numbered(n), self.numbered(n + 1)).unwrap();
                }
                std::fs::rename(&self.path, self.numbered(1)).unwrap();
                self.file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .unwrap();
            }
            self.size = 0;
        }
        let mut line = serde_json::json!({
            "log": log,
            "stream": stream,
            "time": format_timestamp(time),
        })
        .to_string();
        line.push('\n');
        self.raw(line.as_bytes());
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.file.write_all(bytes).unwrap();
        self.size += bytes.len() as u64;
    }
}

fn temp_dir(name: &str) -> ScratchDir {
    ScratchDir::new(&format!("logs-{name}"))
}

/// Entry `i`'s time: one second apart from 2026-11-22T10:00:00Z.
fn t(i: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_341_600 + i)
}

/// Writes entries "0\n" .. "n-1\n", stdout for even, stderr for odd.
fn write_numbered(log: &mut TestLog, range: std::ops::Range<u64>) {
    for i in range {
        let stream = if i % 2 == 0 { "stdout" } else { "stderr" };
        log.entry(stream, &format!("{i}\n"), t(i));
    }
}

fn text(e: &LogEntry) -> String {
    String::from_utf8(e.line.clone()).unwrap()
}

fn numbers(entries: &[LogEntry]) -> Vec<u64> {
    entries
        .iter()
        .map(|e| text(e).trim_end().parse().unwrap())
        .collect()
}

/// Reads a whole stream (a safety timeout keeps a broken reader from
/// hanging the test run; it is not what the tests measure).
async fn collect(mut reader: LogReader) -> (Vec<LogEntry>, Vec<LogError>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(60), reader.next_entry()).await {
            Ok(Some(Ok(e))) => entries.push(e),
            Ok(Some(Err(e))) => errors.push(e),
            Ok(None) => return (entries, errors),
            Err(_) => panic!("log reader did not end"),
        }
    }
}

/// The next item of a following reader.
async fn next(reader: &mut LogReader) -> LogEntry {
    match tokio::time::timeout(Duration::from_secs(60), reader.next_entry()).await {
        Ok(Some(Ok(e))) => e,
        other => panic!("expected an entry, got {other:?}"),
    }
}

async fn read_all(path: &Path, opts: LogOptions) -> (Vec<LogEntry>, Vec<LogError>) {
    collect(read_logs(path, LogFormat::JsonFile, opts, std::future::pending()).unwrap()).await
}

#[tokio::test]
async fn reads_every_file_oldest_first() {
    let dir = temp_dir("all");
    let path = dir.join("c-json.log");
    let mut log = TestLog::new(&path, 300, 5);
    write_numbered(&mut log, 0..20);
    assert!(
        dir.join("c-json.log.3").exists(),
        "the test wants rotations"
    );
    let (entries, errors) = read_all(&path, LogOptions::default()).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(numbers(&entries), (0..20).collect::<Vec<_>>());
    assert_eq!(entries[1].stream, LogStream::Stderr);
    assert_eq!(entries[1].time, t(1));
    assert_eq!(entries[1].line, b"1\n");
}

#[tokio::test]
async fn tail_counts_across_rotated_files_then_filters() {
    let dir = temp_dir("tail");
    let path = dir.join("c-json.log");
    let mut log = TestLog::new(&path, 300, 10);
    write_numbered(&mut log, 0..30);
    let tail = |n, since| LogOptions {
        tail: Some(n),
        since,
        ..LogOptions::default()
    };
    let (e, _) = read_all(&path, tail(12, None)).await;
    assert_eq!(numbers(&e), (18..30).collect::<Vec<_>>());
    let (e, _) = read_all(&path, tail(0, None)).await;
    assert!(e.is_empty());
    let (e, _) = read_all(&path, tail(1000, None)).await;
    assert_eq!(e.len(), 30);
    // docker: the last 12, then those since entry 25.
    let (e, _) = read_all(&path, tail(12, Some(t(25)))).await;
    assert_eq!(numbers(&e), (25..30).collect::<Vec<_>>());
    // Stream selection after the count too: 6 of the last 12 are stdout.
    let (e, _) = read_all(
        &path,
        LogOptions {
            stderr: false,
            ..tail(12, None)
        },
    )
    .await;
    assert_eq!(numbers(&e), [18, 20, 22, 24, 26, 28]);
}

#[tokio::test]
async fn since_and_until_are_inclusive_bounds() {
    let dir = temp_dir("since");
    let path = dir.join("log");
    let mut log = TestLog::new(&path, 0, 1);
    write_numbered(&mut log, 0..10);
    let opts = |since, until| LogOptions {
        since,
        until,
        ..LogOptions::default()
    };
    let (e, _) = read_all(&path, opts(Some(t(3)), None)).await;
    assert_eq!(numbers(&e), (3..10).collect::<Vec<_>>());
    let (e, _) = read_all(&path, opts(None, Some(t(5)))).await;
    assert_eq!(numbers(&e), (0..6).collect::<Vec<_>>());
    let (e, _) = read_all(
        &path,
        opts(Some(t(2) + Duration::from_millis(1)), Some(t(4))),
    )
    .await;
    assert_eq!(numbers(&e), [3, 4]);
    // A relative value, as the CLI passes it: everything is older than 10m ago.
    let (e, _) = read_all(
        &path,
        opts(Some(parse_log_time("10m", t(1_000)).unwrap()), None),
    )
    .await;
    assert!(e.is_empty());
}

#[tokio::test]
async fn streams_are_selected() {
    let dir = temp_dir("streams");
    let path = dir.join("log");
    let mut log = TestLog::new(&path, 0, 1);
    write_numbered(&mut log, 0..6);
    let (e, _) = read_all(
        &path,
        LogOptions {
            stdout: false,
            ..LogOptions::default()
        },
    )
    .await;
    assert_eq!(numbers(&e), [1, 3, 5]);
    assert!(e.iter().all(|e| e.stream == LogStream::Stderr));
    let (e, _) = read_all(
        &path,
        LogOptions {
            stderr: false,
            ..LogOptions::default()
        },
    )
    .await;
    assert_eq!(numbers(&e), [0, 2, 4]);
}

#[tokio::test]
async fn a_partial_last_line_is_skipped_and_a_bad_line_is_reported() {
    let dir = temp_dir("partial");
    let path = dir.join("log");
    let mut log = TestLog::new(&path, 0, 1);
    write_numbered(&mut log, 0..2);
    log.raw(b"this is not json\n\n");
    write_numbered(&mut log, 2..4);
    log.raw(br#"{"log":"4\n","stream":"std"#);
    let (e, errors) = read_all(&path, LogOptions::default()).await;
    assert_eq!(numbers(&e), [0, 1, 2, 3]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let msg = errors[0].to_string();
    let offset = std::fs::read(&path)
        .unwrap()
        .windows(4)
        .position(|w| w == b"this")
        .unwrap();
    assert!(
        msg.starts_with(&format!(
            "malformed entry in log file {} at byte {offset}: not a json-file entry",
            path.display()
        )),
        "{msg}"
    );
    assert!(errors[0].is_per_line());
}

#[tokio::test]
async fn an_endless_line_is_skipped_not_buffered() {
    let dir = temp_dir("endless");
    let path = dir.join("log");
    let mut log = TestLog::new(&path, 0, 1);
    write_numbered(&mut log, 0..1);
    log.raw(&vec![b'x'; reader::MAX_ENTRY_LINE * 3]);
    log.raw(b"\n");
    write_numbered(&mut log, 1..2);
    let (e, errors) = read_all(&path, LogOptions::default()).await;
    assert_eq!(numbers(&e), [0, 1]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].to_string().contains("is longer than"),
        "{}",
        errors[0]
    );
}

#[tokio::test]
async fn a_missing_log_is_empty_and_a_missing_directory_fails() {
    let dir = temp_dir("missing");
    let (e, errors) = read_all(&dir.join("log"), LogOptions::default()).await;
    assert!(e.is_empty() && errors.is_empty());
    let err = read_logs(
        &dir.join("gone/log"),
        LogFormat::JsonFile,
        LogOptions::default(),
        std::future::pending(),
    )
    .err()
    .unwrap();
    assert_eq!(
        err.to_string(),
        format!("log directory {}/gone does not exist", dir.display())
    );
}

fn following() -> LogOptions {
    LogOptions {
        follow: true,
        ..LogOptions::default()
    }
}

#[tokio::test]
async fn follow_reads_new_entries_waits_for_partial_lines_and_drains_on_stop() {
    let dir = temp_dir("follow");
    let path = dir.join("log");
    let mut log = TestLog::new(&path, 0, 1);
    write_numbered(&mut log, 0..2);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut reader = read_logs(&path, LogFormat::JsonFile, following(), async {
        let _ = stop_rx.await;
    })
    .unwrap();
    assert_eq!(
        numbers(&[next(&mut reader).await, next(&mut reader).await]),
        [0, 1]
    );
    write_numbered(&mut log, 2..3);
    assert_eq!(numbers(&[next(&mut reader).await]), [2]);
    // An entry written in two pieces arrives once, whole.
    let whole = format!(
        "{{\"log\":\"3\\n\",\"stream\":\"stdout\",\"time\":\"{}\"}}\n",
        format_timestamp(t(3))
    );
    let (a, b) = whole.as_bytes().split_at(20);
    log.raw(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    log.raw(b);
    assert_eq!(numbers(&[next(&mut reader).await]), [3]);
    // Written just before the stop: still read.
    write_numbered(&mut log, 4..6);
    stop_tx.send(()).unwrap();
    let (rest, errors) = collect(reader).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(numbers(&rest), [4, 5]);
}

#[tokio::test]
async fn follow_across_rotations_loses_and_repeats_nothing() {
    let dir = temp_dir("rotate");
    let path = dir.join("log");
    let mut log = TestLog::new(&path, 1000, 100_000);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let reader = read_logs(&path, LogFormat::JsonFile, following(), async {
        let _ = stop_rx.await;
    })
    .unwrap();
    // A writer as fast as it can go: about 150 rotations while followed.
    let writer = std::thread::spawn(move || {
        write_numbered(&mut log, 0..2000);
        log
    });
    let log = tokio::task::spawn_blocking(move || writer.join().unwrap())
        .await
        .unwrap();
    assert!(log.numbered(100).exists(), "the test wants many rotations");
    stop_tx.send(()).unwrap();
    let (entries, errors) = collect(reader).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(numbers(&entries), (0..2000).collect::<Vec<_>>());
}

#[tokio::test]
async fn follow_keeps_up_with_a_small_max_file() {
    let dir = temp_dir("maxfile");
    let path = dir.join("log");
    // About 14 entries per file, 2 files kept: a reader that fell a file
    // behind would lose entries, one that re-read a file would repeat them.
    let mut log = TestLog::new(&path, 1000, 2);
    let mut reader = read_logs(
        &path,
        LogFormat::JsonFile,
        following(),
        std::future::pending(),
    )
    .unwrap();
    let mut got = Vec::new();
    for batch in 0..40u64 {
        write_numbered(&mut log, batch * 5..batch * 5 + 5);
        for _ in 0..5 {
            got.push(next(&mut reader).await);
        }
    }
    assert_eq!(numbers(&got), (0..200).collect::<Vec<_>>());
    assert!(log.numbered(1).exists() && !log.numbered(2).exists());
    drop(reader);
}

#[tokio::test]
async fn follow_restarts_a_truncated_file() {
    let dir = temp_dir("truncate");
    let path = dir.join("log");
    let mut log = TestLog::new(&path, 700, 1);
    let mut reader = read_logs(
        &path,
        LogFormat::JsonFile,
        following(),
        std::future::pending(),
    )
    .unwrap();
    let mut got = Vec::new();
    for i in 0..30u64 {
        write_numbered(&mut log, i..i + 1);
        got.push(next(&mut reader).await);
    }
    assert_eq!(numbers(&got), (0..30).collect::<Vec<_>>());
    assert!(std::fs::metadata(&path).unwrap().len() < 800, "truncated");
}

#[tokio::test]
async fn follow_notices_a_truncation_already_written_past() {
    let dir = temp_dir("truncate2");
    let path = dir.join("log");
    let mut log = TestLog::new(&path, 0, 1);
    write_numbered(&mut log, 0..3);
    let mut reader = read_logs(
        &path,
        LogFormat::JsonFile,
        following(),
        std::future::pending(),
    )
    .unwrap();
    let got = [
        next(&mut reader).await,
        next(&mut reader).await,
        next(&mut reader).await,
    ];
    assert_eq!(numbers(&got), [0, 1, 2]);
    // Truncated and refilled past the old end before the reader looks
    // again (one write, so it cannot see the file short).
    let mut refill = Vec::new();
    for i in 3..10u64 {
        let line = serde_json::json!({"log": format!("{i}\n"), "stream": "stdout", "time": format_timestamp(t(i))});
        refill.extend_from_slice(format!("{line}\n").as_bytes());
    }
    let old_len = std::fs::metadata(&path).unwrap().len();
    assert!(refill.len() as u64 > old_len);
    log.file.set_len(0).unwrap();
    log.raw(&refill);
    let mut got = Vec::new();
    for _ in 3..10 {
        got.push(next(&mut reader).await);
    }
    assert_eq!(numbers(&got), (3..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn follow_waits_for_the_log_to_appear() {
    let dir = temp_dir("appear");
    let path = dir.join("log");
    // `--tail 0`: what is written once the log appears is new all the same.
    let opts = LogOptions {
        tail: Some(0),
        ..following()
    };
    let mut reader = read_logs(&path, LogFormat::JsonFile, opts, std::future::pending()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut log = TestLog::new(&path, 0, 1);
    write_numbered(&mut log, 0..2);
    assert_eq!(
        numbers(&[next(&mut reader).await, next(&mut reader).await]),
        [0, 1]
    );
}

#[tokio::test]
async fn follow_with_tail_zero_shows_only_new_entries() {
    let dir = temp_dir("tail0");
    let path = dir.join("log");
    let mut log = TestLog::new(&path, 0, 1);
    write_numbered(&mut log, 0..5);
    let mut reader = read_logs(
        &path,
        LogFormat::JsonFile,
        LogOptions {
            tail: Some(0),
            ..following()
        },
        std::future::pending(),
    )
    .unwrap();
    // Half an entry does not count for the tail whether the reader has
    // started yet or not: its completion is new either way.
    let whole = format!(
        "{{\"log\":\"5\\n\",\"stream\":\"stdout\",\"time\":\"{}\"}}\n",
        format_timestamp(t(5))
    );
    let (a, b) = whole.as_bytes().split_at(10);
    log.raw(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    log.raw(b);
    assert_eq!(numbers(&[next(&mut reader).await]), [5]);
}

#[tokio::test]
async fn follow_ends_by_itself_once_until_has_passed() {
    let dir = temp_dir("until");
    let path = dir.join("log");
    let mut log = TestLog::new(&path, 0, 1);
    let now = SystemTime::now();
    log.entry("stdout", "0\n", now - Duration::from_secs(1));
    log.entry("stdout", "1\n", now + Duration::from_secs(3600));
    let reader = read_logs(
        &path,
        LogFormat::JsonFile,
        LogOptions {
            until: Some(now + Duration::from_millis(200)),
            ..following()
        },
        // Never told to stop: the until ends it.
        std::future::pending(),
    )
    .unwrap();
    let (e, errors) = collect(reader).await;
    assert!(errors.is_empty());
    assert_eq!(numbers(&e), [0]);
    let reader = read_logs(
        &path,
        LogFormat::JsonFile,
        LogOptions {
            until: Some(now + Duration::from_secs(60)),
            ..following()
        },
        std::future::pending(),
    )
    .unwrap();
    // Here the entry after --until ends it.
    let (e, _) = collect(reader).await;
    assert_eq!(numbers(&e), [0]);
}
