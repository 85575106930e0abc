//! Attached output end to end (issue 14, bug 0): what `berth run` (not
//! detached), `berth start -a` and `berth attach` print is every byte the
//! container wrote, in order, as docker's attach; a slow reader slows the
//! container (back-pressure) instead of being cut off; a reader that goes
//! away does not stall it; the json-file log still has every line; a reader
//! that must be dropped is told so (non-zero exit, a message on stderr),
//! never a silently short output.
//!
//! The containers write `seq 1 N | head -c BYTES`, a deterministic stream
//! whose lines also show the order; each test compares what it read with
//! the same stream made here, byte for byte, naming the first difference.

use berth_integration_tests::containers::Fixture;
use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const HUNDRED_MB: u64 = 100_000_000;

/// The container command writing `bytes` of `seq 1 N` to stdout.
fn seq_command(bytes: u64) -> String {
    // 13 million lines are more than 100 MB.
    format!("seq 1 13000000 | head -c {bytes}")
}

/// `seq 1 ∞ | head -c len`, made on demand and compared with what a reader
/// got, piece by piece.
struct ExpectedSeq {
    next: u64,
    line: Vec<u8>,
    pos: usize,
    /// Bytes compared so far.
    offset: u64,
    len: u64,
    /// `\r\n` line ends (a tty's output processing).
    crlf: bool,
}

impl ExpectedSeq {
    fn new(len: u64, crlf: bool) -> ExpectedSeq {
        ExpectedSeq {
            next: 1,
            line: Vec::new(),
            pos: 0,
            offset: 0,
            len,
            crlf,
        }
    }

    /// Compares `got` with the next bytes of the stream.
    fn feed(&mut self, mut got: &[u8]) -> Result<(), String> {
        while !got.is_empty() {
            if self.offset == self.len {
                return Err(format!(
                    "{} bytes more than the {} the container wrote, starting {:?}",
                    got.len(),
                    self.len,
                    String::from_utf8_lossy(&got[..got.len().min(40)])
                ));
            }
            if self.pos == self.line.len() {
                self.line =
                    format!("{}{}", self.next, if self.crlf { "\r\n" } else { "\n" }).into_bytes();
                self.next += 1;
                self.pos = 0;
            }
            let want = &self.line[self.pos..];
            let n = want
                .len()
                .min(got.len())
                .min((self.len - self.offset) as usize);
            if want[..n] != got[..n] {
                let at = (0..n).find(|&i| want[i] != got[i]).unwrap();
                return Err(format!(
                    "byte {} differs: expected {:?} (line {}), got {:?}",
                    self.offset + at as u64,
                    String::from_utf8_lossy(want),
                    self.next - 1,
                    String::from_utf8_lossy(&got[at..got.len().min(at + 40)])
                ));
            }
            self.pos += n;
            self.offset += n as u64;
            got = &got[n..];
        }
        Ok(())
    }

    /// Every byte arrived.
    fn finish(&self) -> Result<(), String> {
        if self.offset == self.len {
            Ok(())
        } else {
            Err(format!(
                "got {} of the {} bytes the container wrote: {} missing",
                self.offset,
                self.len,
                self.len - self.offset
            ))
        }
    }
}

/// Reads `r` to its end, comparing with `expected`; with `pause`, sleeps
/// that long after every read of at most `chunk` bytes (a slow reader).
/// `on_progress` sees the byte count after each read.
fn read_compare(
    mut r: impl Read,
    expected: &mut ExpectedSeq,
    chunk: usize,
    pause: Option<Duration>,
    mut on_progress: impl FnMut(u64),
) -> Result<(), String> {
    let mut buf = vec![0u8; chunk];
    loop {
        let n = r.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return expected.finish();
        }
        expected.feed(&buf[..n])?;
        on_progress(expected.offset);
        if let Some(p) = pause {
            std::thread::sleep(p);
        }
    }
}

/// Kills a berth CLI (by its pid, SIGKILL: the CLI passes SIGTERM on to
/// the container) that has not exited by a deadline, so that a stream that
/// hangs fails the test instead of blocking it forever.
struct Watchdog {
    done: std::sync::mpsc::Sender<()>,
}

impl Watchdog {
    fn new(child: &Child, limit: Duration) -> Watchdog {
        let pid = child.id() as i32;
        let (done, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if rx.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                eprintln!("berth (pid {pid}) still streaming after {limit:?}: killed");
                // SAFETY: plain syscall on the CLI this test started and
                // has not waited for yet (finish() stops the watchdog first).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        });
        Watchdog { done }
    }

    fn stop(self) {
        let _ = self.done.send(());
    }
}

/// Waits for `child` to exit (at most `limit`), returning its exit code and
/// its stderr; kills it (by its pid) when it does not.
fn finish(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return (status.code(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("berth did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads a whole attached stream from `child`'s stdout, compares it with
/// `expected`, and returns the exit code and stderr.
fn read_all(mut child: Child, mut expected: ExpectedSeq, what: &str) -> (Option<i32>, String) {
    let out = child.stdout.take().unwrap();
    let watchdog = Watchdog::new(&child, Duration::from_secs(180));
    let compared = read_compare(out, &mut expected, 64 * 1024, None, |_| {});
    watchdog.stop();
    let (code, err) = finish(child, Duration::from_secs(60));
    if let Err(e) = compared {
        panic!("{what}: {e}\nstderr: {err}");
    }
    (code, err)
}

fn spawn(f: &Fixture, args: &[&str]) -> Child {
    f.d.berth_cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berth")
}

/// `berth logs NAME` compared with the stream the container wrote.
fn assert_log_has_every_byte(f: &Fixture, name: &str, expected: ExpectedSeq) {
    let mut expected = expected;
    let mut child = spawn(f, &["logs", name]);
    let out = child.stdout.take().unwrap();
    let watchdog = Watchdog::new(&child, Duration::from_secs(180));
    let compared = read_compare(out, &mut expected, 64 * 1024, None, |_| {});
    watchdog.stop();
    let (code, err) = finish(child, Duration::from_secs(120));
    assert_eq!(code, Some(0), "berth logs: {err}");
    if let Err(e) = compared {
        panic!("the json-file log of {name}: {e}");
    }
}

fn running(f: &Fixture, name: &str) -> bool {
    f.inspect(name)["State"]["Running"].as_bool() == Some(true)
}

/// The case at 100 MB: `berth run --rm` prints every byte the
/// container wrote (it printed ~44000 of 200000 lines: clients that fell
/// 32 messages behind were cut off, and the CLI stopped silently).
#[test]
fn run_delivers_100_mb_byte_for_byte() {
    let f = Fixture::new();
    let cmd = seq_command(HUNDRED_MB);
    let child = spawn(&f, &["run", "--rm", "busybox", "sh", "-c", &cmd]);
    let (code, err) = read_all(child, ExpectedSeq::new(HUNDRED_MB, false), "run");
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(err, "");
}

/// `berth start -a` of a created container: 100 MB, every byte.
#[test]
fn start_attach_delivers_100_mb_byte_for_byte() {
    let f = Fixture::new();
    let name = f.name("sa");
    let cmd = seq_command(HUNDRED_MB);
    f.ok(&["create", "--name", &name, "busybox", "sh", "-c", &cmd]);
    let child = spawn(&f, &["start", "-a", &name]);
    let (code, err) = read_all(child, ExpectedSeq::new(HUNDRED_MB, false), "start -a");
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(err, "");
    f.ok(&["rm", &name]);
}

/// `berth attach` to a running container: 100 MB written after the client
/// attached, every byte.
#[test]
fn attach_delivers_100_mb_byte_for_byte() {
    let f = Fixture::new();
    let name = f.name("at");
    // "waiting" lines until the test says go (so it knows it is attached),
    // then the stream.
    let cmd = format!(
        "until [ -e /tmp/go ]; do echo waiting; sleep 0.1; done; {}",
        seq_command(HUNDRED_MB)
    );
    f.run_detached(&name, &["sh", "-c", &cmd]);
    let mut child = spawn(&f, &["attach", &name]);
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    use std::io::BufRead;
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "waiting\n", "attach printed {line:?} first");
    f.ok(&["exec", &name, "touch", "/tmp/go"]);
    // The stream starts after the last "waiting".
    let mut expected = ExpectedSeq::new(HUNDRED_MB, false);
    loop {
        line.clear();
        out.read_line(&mut line).unwrap();
        if line != "waiting\n" {
            break;
        }
    }
    let first = line.clone();
    let watchdog = Watchdog::new(&child, Duration::from_secs(180));
    let compared = expected
        .feed(first.as_bytes())
        .and_then(|_| read_compare(out, &mut expected, 64 * 1024, None, |_| {}));
    watchdog.stop();
    let (code, err) = finish(child, Duration::from_secs(60));
    if let Err(e) = compared {
        panic!("attach: {e}\nstderr: {err}");
    }
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(err, "");
    f.ok(&["rm", &name]);
}

/// A reader slower than the container: the container is slowed (it is
/// still writing when half the stream has been read, though it could write
/// it all in well under a second), the reader gets every byte and the
/// container's stderr, the exit code is the container's, and the json-file
/// log has every line too.
#[test]
fn slow_reader_slows_the_container_and_gets_every_byte() {
    let f = Fixture::new();
    let name = f.name("slow");
    const BYTES: u64 = 40_000_000;
    let cmd = format!("{}; echo the end >&2; exit 7", seq_command(BYTES));
    let mut child = spawn(&f, &["run", "--name", &name, "busybox", "sh", "-c", &cmd]);
    let out = child.stdout.take().unwrap();
    let mut expected = ExpectedSeq::new(BYTES, false);
    let mut running_at_half = None;
    // At most 16 KiB every 2 ms: at most 8 MB/s, some 5 s or more.
    let watchdog = Watchdog::new(&child, Duration::from_secs(180));
    let compared = read_compare(
        out,
        &mut expected,
        16 * 1024,
        Some(Duration::from_millis(2)),
        |n| {
            if running_at_half.is_none() && n >= BYTES / 2 {
                running_at_half = Some(running(&f, &name));
            }
        },
    );
    watchdog.stop();
    let (code, err) = finish(child, Duration::from_secs(120));
    if let Err(e) = compared {
        panic!("slow reader: {e}\nstderr: {err}");
    }
    assert_eq!(code, Some(7), "stderr: {err}");
    assert_eq!(err, "the end\n");
    assert_eq!(
        running_at_half,
        Some(true),
        "the container had finished when the reader was half way: nothing slowed it"
    );
    assert_log_has_every_byte(&f, &name, ExpectedSeq::new(BYTES, false));
    f.ok(&["rm", &name]);
}

/// A reader that stops reading holds the container back; once it goes away
/// (killed), the container runs on to its end at once, and the log has
/// every byte.
#[test]
fn a_reader_that_goes_away_does_not_stall_the_container() {
    let f = Fixture::new();
    let name = f.name("gone");
    const BYTES: u64 = 30_000_000;
    let cmd = format!(
        "until [ -e /tmp/go ]; do echo waiting; sleep 0.1; done; {}",
        seq_command(BYTES)
    );
    f.run_detached(&name, &["sh", "-c", &cmd]);
    let mut child = spawn(&f, &["attach", &name]);
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 8];
    out.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"waiting\n");
    f.ok(&["exec", &name, "touch", "/tmp/go"]);
    // The client reads no more: the container is held back.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        running(&f, &name),
        "the container ran to its end though its attached client read nothing"
    );
    // SAFETY: plain syscall on the berth CLI this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    drop(out);
    let waited = Instant::now();
    let code = f.ok(&["wait", &name]);
    assert_eq!(code, "0");
    assert!(
        waited.elapsed() < Duration::from_secs(15),
        "the container took {:?} to finish once its reader was gone",
        waited.elapsed()
    );
    // The log: "waiting" lines, then the stream.
    let mut logs = spawn(&f, &["logs", &name]);
    let watchdog = Watchdog::new(&logs, Duration::from_secs(120));
    let mut r = std::io::BufReader::new(logs.stdout.take().unwrap());
    use std::io::BufRead;
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line != "waiting\n" {
            break;
        }
    }
    let mut expected = ExpectedSeq::new(BYTES, false);
    let compared = expected
        .feed(line.as_bytes())
        .and_then(|_| read_compare(r, &mut expected, 64 * 1024, None, |_| {}));
    watchdog.stop();
    let (code, err) = finish(logs, Duration::from_secs(60));
    assert_eq!(code, Some(0), "{err}");
    if let Err(e) = compared {
        panic!("the json-file log: {e}");
    }
    f.ok(&["rm", &name]);
}

/// A tty: the pty's output (`\r\n` line ends) reaches `run -t` whole.
#[test]
fn tty_output_is_delivered_whole() {
    let f = Fixture::new();
    const LINES: u64 = 2_500_000;
    // Each line with the pty's "\r\n": some 20 MB.
    let len: u64 = (1..=LINES).map(|n| n.to_string().len() as u64 + 2).sum();
    let lines = LINES.to_string();
    let child = spawn(&f, &["run", "--rm", "-t", "busybox", "seq", "1", &lines]);
    let (code, err) = read_all(child, ExpectedSeq::new(len, true), "run -t");
    assert_eq!(code, Some(0), "stderr: {err}");
}

/// stdin and a slow output together (`berth run -i ... cat`): neither
/// direction waits for the other, every byte comes back.
#[test]
fn stdin_and_output_flow_together() {
    let f = Fixture::new();
    const BYTES: u64 = 30_000_000;
    let input = f.work.join("input");
    {
        let mut e = ExpectedSeq::new(BYTES, false);
        let mut data = Vec::with_capacity(BYTES as usize);
        while (data.len() as u64) < BYTES {
            data.extend_from_slice(format!("{}\n", e.next).as_bytes());
            e.next += 1;
        }
        data.truncate(BYTES as usize);
        std::fs::write(&input, data).unwrap();
    }
    let mut child =
        f.d.berth_cmd(&["run", "--rm", "-i", "busybox", "cat"])
            .stdin(std::fs::File::open(&input).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let out = child.stdout.take().unwrap();
    let mut expected = ExpectedSeq::new(BYTES, false);
    // Before the CLI sent stdin from a task of its own, this deadlocked:
    // its send of stdin waited for room while the output it did not read
    // held the container back from reading its stdin.
    let watchdog = Watchdog::new(&child, Duration::from_secs(120));
    let compared = read_compare(
        out,
        &mut expected,
        16 * 1024,
        Some(Duration::from_micros(500)),
        |_| {},
    );
    watchdog.stop();
    let (code, err) = finish(child, Duration::from_secs(120));
    if let Err(e) = compared {
        panic!("run -i cat: {e}\nstderr: {err}");
    }
    assert_eq!(code, Some(0), "stderr: {err}");
}

/// A reader stopped (^Z) while the container writes, then killed: the
/// exit waits for the reader's relay while it moves, and at most 30 s
/// when it does not; the reader, resumed, still gets every byte the
/// container wrote (the same as its log) and the container's exit code.
#[test]
fn a_stopped_reader_gets_every_byte_after_the_exit() {
    let f = Fixture::new();
    let name = f.name("stop");
    let cmd = format!(
        "until [ -e /tmp/go ]; do echo waiting; sleep 0.1; done; {}",
        seq_command(30_000_000)
    );
    let id = f.run_detached(&name, &["sh", "-c", &cmd]);
    let mut child = spawn(&f, &["attach", &name]);
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 8];
    out.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"waiting\n");
    let pid = child.id() as i32;
    // SAFETY: plain syscalls on the berth CLI this test started.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    f.ok(&["exec", &name, "touch", "/tmp/go"]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(running(&f, &name), "nothing held the container back");
    f.ok(&["kill", &name]);
    let waited = Instant::now();
    assert_eq!(f.ok(&["wait", &name]), "137");
    assert!(
        waited.elapsed() < Duration::from_secs(45),
        "the exit took {:?} with a stopped reader",
        waited.elapsed()
    );
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let watchdog = Watchdog::new(&child, Duration::from_secs(60));
    let mut got = first.to_vec();
    out.read_to_end(&mut got).unwrap();
    watchdog.stop();
    let (code, err) = finish(child, Duration::from_secs(30));
    assert_eq!(code, Some(137), "stderr: {err}");
    // The log holds every "waiting" line since the start; the reader
    // attached after some of them.
    let log = f.d.berth_cmd(&["logs", &id]).output().unwrap();
    assert!(log.status.success());
    assert!(
        got.len() > 1_000_000 && log.stdout.ends_with(&got),
        "the reader got {} bytes, not the end of the log's {}",
        got.len(),
        log.stdout.len()
    );
    f.ok(&["rm", &name]);
}

/// A reader whose output is cut off (the shim died under it) is told so:
/// an error naming the container on stderr and a non-zero exit, never a
/// quiet end (berthd's relay took a broken shim stream for the output's
/// end).
#[test]
fn a_reader_cut_off_is_told_so() {
    let f = Fixture::new();
    let name = f.name("cut");
    let id = f.run_detached(
        &name,
        &["sh", "-c", "while true; do echo tick; sleep 0.1; done"],
    );
    let mut child = spawn(&f, &["attach", &name]);
    let mut out = child.stdout.take().unwrap();
    let watchdog = Watchdog::new(&child, Duration::from_secs(60));
    let mut first = [0u8; 5];
    out.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"tick\n");
    let shim_pid: i32 =
        std::fs::read_to_string(f.d.state.join("containers").join(&id).join("shim/shim.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    // SAFETY: plain syscall on the shim of this test's berthd.
    unsafe { libc::kill(shim_pid, libc::SIGKILL) };
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).unwrap();
    watchdog.stop();
    let (code, err) = finish(child, Duration::from_secs(30));
    assert_ne!(code, Some(0), "stderr: {err}");
    assert!(
        err.contains(&format!("output of container {id} cut off before its end")),
        "the reader was not told: {err:?}"
    );
    let _ = f.berth(&["rm", "-f", &name]);
}
