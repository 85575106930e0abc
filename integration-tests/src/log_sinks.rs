//! Log sinks the log driver tests (`tests/log_drivers.rs`) start privately:
//!
//! * [`RawSink`]: a syslog receiver in the test process (udp, tcp, unix
//!   stream or datagram socket) that keeps every byte it is sent, framing
//!   and all, so that berth's syslog messages can be compared byte for byte
//!   with dockerd's on the same kind of sink;
//! * [`Rsyslog`]: Debian's rsyslogd in the foreground with its own config,
//!   work dir and pid file, listening on a unix socket (imuxsock), on
//!   127.0.0.1 udp (imudp) and tcp (imtcp); it writes what it parsed of each
//!   message (facility, severity, tag, text) and its raw form to a file;
//! * [`Journald`]: a private systemd-journald in a mount namespace of its
//!   own.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engines::{require_program, Daemon, MountNs};
use crate::registry::free_port;
use crate::TestDir;

/// The transports of `syslog-address`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Unix,
    Unixgram,
}

impl Transport {
    pub const ALL: [Transport; 4] = [
        Transport::Udp,
        Transport::Tcp,
        Transport::Unix,
        Transport::Unixgram,
    ];
}

/// What a [`RawSink`] received: one entry per datagram, or per stream
/// connection (all its bytes).
type Received = Arc<Mutex<Vec<Vec<u8>>>>;

/// A syslog receiver that keeps the raw bytes (see the module docs).
/// Dropping it stops its thread (it polls a flag) and removes its socket.
pub struct RawSink {
    pub transport: Transport,
    address: String,
    received: Received,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: Option<TestDir>,
}

impl RawSink {
    pub fn start(transport: Transport) -> RawSink {
        let received: Received = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (received.clone(), stop.clone());
        let poll = Some(Duration::from_millis(50));
        let mut dir = None;
        let (address, thread) = match transport {
            Transport::Udp => {
                let sock = UdpSocket::bind("127.0.0.1:0").expect("bind udp sink");
                sock.set_read_timeout(poll).unwrap();
                let address = format!("udp://{}", sock.local_addr().unwrap());
                let t = std::thread::spawn(move || {
                    let mut buf = vec![0u8; 70_000];
                    while !s.load(Ordering::Relaxed) {
                        if let Ok(n) = sock.recv(&mut buf) {
                            r.lock().unwrap().push(buf[..n].to_vec());
                        }
                    }
                });
                (address, t)
            }
            Transport::Unixgram => {
                let d = TestDir::new("sink");
                let path = d.join("dg.sock");
                let sock = UnixDatagram::bind(&path).expect("bind unixgram sink");
                sock.set_read_timeout(poll).unwrap();
                let address = format!("unixgram://{}", path.display());
                dir = Some(d);
                let t = std::thread::spawn(move || {
                    let mut buf = vec![0u8; 70_000];
                    while !s.load(Ordering::Relaxed) {
                        if let Ok(n) = sock.recv(&mut buf) {
                            r.lock().unwrap().push(buf[..n].to_vec());
                        }
                    }
                });
                (address, t)
            }
            Transport::Tcp => {
                let l = TcpListener::bind("127.0.0.1:0").expect("bind tcp sink");
                l.set_nonblocking(true).unwrap();
                let address = format!("tcp://{}", l.local_addr().unwrap());
                let t = std::thread::spawn(move || {
                    accept_streams(&s, &r, || l.accept().map(|(c, _)| c))
                });
                (address, t)
            }
            Transport::Unix => {
                let d = TestDir::new("sink");
                let path = d.join("st.sock");
                let l = UnixListener::bind(&path).expect("bind unix sink");
                l.set_nonblocking(true).unwrap();
                let address = format!("unix://{}", path.display());
                dir = Some(d);
                let t = std::thread::spawn(move || {
                    accept_streams(&s, &r, || l.accept().map(|(c, _)| c))
                });
                (address, t)
            }
        };
        RawSink {
            transport,
            address,
            received,
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// The `syslog-address` of this sink.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Everything received so far, in arrival order, as one byte string
    /// per datagram or connection.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.received.lock().unwrap().clone()
    }

    /// Forgets what was received.
    pub fn clear(&self) {
        self.received.lock().unwrap().clear();
    }

    /// Waits (at most 10 s) until `text` is somewhere in what was received.
    pub fn wait_for(&self, text: &str) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received();
            let all: Vec<u8> = got.concat();
            if String::from_utf8_lossy(&all).contains(text) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} never reached the {:?} sink; got {:?}",
                self.transport,
                String::from_utf8_lossy(&all)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Accepts connections (the listener is non-blocking) and reads each to its
/// end on its own thread, appending its bytes to its own entry.
fn accept_streams<C: Read + Send + 'static + AsNonBlocking>(
    stop: &AtomicBool,
    received: &Received,
    accept: impl Fn() -> std::io::Result<C>,
) {
    while !stop.load(Ordering::Relaxed) {
        match accept() {
            Ok(mut conn) => {
                conn.blocking();
                let index = {
                    let mut r = received.lock().unwrap();
                    r.push(Vec::new());
                    r.len() - 1
                };
                let received = received.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        received.lock().unwrap()[index].extend_from_slice(&buf[..n]);
                    }
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A stream accepted from a non-blocking listener, made blocking again.
trait AsNonBlocking {
    fn blocking(&mut self);
}

impl AsNonBlocking for std::net::TcpStream {
    fn blocking(&mut self) {
        self.set_nonblocking(false).unwrap();
    }
}

impl AsNonBlocking for std::os::unix::net::UnixStream {
    fn blocking(&mut self) {
        self.set_nonblocking(false).unwrap();
    }
}

impl Drop for RawSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A private rsyslogd (see the module docs).
pub struct Rsyslog {
    daemon: Daemon,
    pub unix_socket: PathBuf,
    pub udp_port: u16,
    pub tcp_port: u16,
    out: PathBuf,
    _dir: TestDir,
}

impl Rsyslog {
    pub fn start() -> Rsyslog {
        require_program("rsyslogd", "rsyslog");
        let dir = TestDir::new("rsyslog");
        let unix_socket = dir.join("log.sock");
        let out = dir.join("messages");
        let (udp_port, tcp_port) = (free_port(), free_port());
        // One line per message: what rsyslog parsed, then the raw message
        // (its control characters escaped as rsyslog does, #012...).
        let conf = format!(
            r#"global(workDirectory="{work}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{sock}" RateLimit.Interval="0" UseSysTimeStamp="off")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{udp_port}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{tcp_port}")
template(name="fields" type="string" string="%syslogfacility-text%|%syslogseverity-text%|%syslogtag%|%msg%|%rawmsg%\n")
*.* action(type="omfile" file="{out}" template="fields")
"#,
            work = dir.path.display(),
            sock = unix_socket.display(),
            out = out.display(),
        );
        std::fs::write(dir.join("rsyslog.conf"), conf).unwrap();
        let mut cmd = Command::new("rsyslogd");
        cmd.arg("-n")
            .arg("-f")
            .arg(dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(dir.join("rsyslog.pid"));
        let mut daemon = Daemon::spawn("rsyslogd", &mut cmd, dir.join("rsyslogd.log"));
        let sock = unix_socket.clone();
        daemon.wait_ready(|| {
            sock.exists() && std::net::TcpStream::connect(("127.0.0.1", tcp_port)).is_ok()
        });
        Rsyslog {
            daemon,
            unix_socket,
            udp_port,
            tcp_port,
            out,
            _dir: dir,
        }
    }

    /// The lines rsyslog wrote, once one contains `text` (at most 10 s).
    pub fn wait_for(&self, text: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = std::fs::read_to_string(&self.out).unwrap_or_default();
            if got.contains(text) {
                return got.lines().map(str::to_string).collect();
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} never reached rsyslog; it wrote {got:?}; its log:\n{}",
                self.daemon.log_tail(20)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops rsyslogd (by its pid).
    pub fn stop(&mut self) {
        self.daemon.stop();
    }

    pub fn socket_path(&self) -> &Path {
        &self.unix_socket
    }
}

/// A syslog receiver for `tcp+tls://` in the test process: rustls on a
/// 127.0.0.1 listener (each connection read to its end on a thread of its
/// own, its bytes appended in arrival order), with a certificate for
/// 127.0.0.1 from a CA made for the test with the openssl CLI. `ca` is what
/// `syslog-tls-ca-cert` names.
pub struct TlsSink {
    dir: TestDir,
    pub port: u16,
    pub ca: PathBuf,
    received: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsSink {
    pub fn start() -> TlsSink {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        require_program("openssl", "openssl");
        let dir = TestDir::new("tlssink");
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir.path)
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=bt-test-ca",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ]);
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(dir.join("srv.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(dir.join("srv.key")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (received.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((tcp, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    };
                    tcp.set_nonblocking(false).unwrap();
                    let (config, received) = (config.clone(), received.clone());
                    std::thread::spawn(move || {
                        let conn = rustls::ServerConnection::new(config).unwrap();
                        let mut stream = rustls::StreamOwned::new(conn, tcp);
                        let mut buf = [0u8; 65536];
                        loop {
                            match stream.read(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => received.lock().unwrap().extend_from_slice(&buf[..n]),
                                // A reset (a client that closed with
                                // unread bytes) loses what was not read.
                                Err(_) => break,
                            }
                        }
                    });
                }
            })
        };
        TlsSink {
            ca: dir.join("ca.pem"),
            dir,
            port,
            received,
            stop,
            thread: Some(thread),
        }
    }

    /// The `syslog-address` of the sink.
    pub fn address(&self) -> String {
        format!("tcp+tls://127.0.0.1:{}", self.port)
    }

    /// Every byte received so far, in arrival order.
    pub fn received(&self) -> Vec<u8> {
        self.received.lock().unwrap().clone()
    }

    /// Forgets what was received.
    pub fn clear(&self) {
        self.received.lock().unwrap().clear();
    }

    /// Waits (at most 10 s) until `text` was received.
    pub fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !String::from_utf8_lossy(&self.received()).contains(text) {
            assert!(
                Instant::now() < deadline,
                "{text:?} never reached the tls sink; got {:?}",
                String::from_utf8_lossy(&self.received()),
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The sink's directory (certificates).
    pub fn dir(&self) -> &Path {
        &self.dir.path
    }
}

impl Drop for TlsSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A private systemd-journald (Debian's systemd 252; it runs without
/// systemd as PID 1). It is started by `unshare -m` in a mount namespace of
/// its own, with tmpfs on `/run/systemd`, `/run/log` and `/var/log/journal`
/// there, so it makes its native socket at the usual
/// `/run/systemd/journal/socket` without touching the host's. Daemons that
/// must log to it and `journalctl` run in that namespace
/// ([`Journald::ns`], [`MountNs::enter`]). Dropping it stops journald by
/// pid (its [`Daemon`]); the namespace and its tmpfs go with the last process in it.
pub struct Journald {
    /// Stopped (by pid) when dropped.
    _daemon: Daemon,
    pid: u32,
    _dir: TestDir,
}

impl Journald {
    pub fn start() -> Journald {
        let journald = "/lib/systemd/systemd-journald";
        assert!(
            Path::new(journald).exists(),
            "{journald} not found: install the Debian package systemd"
        );
        require_program("journalctl", "systemd");
        let dir = TestDir::new("journald");
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "set -e; for d in /run/systemd /run/log /var/log/journal; do \
             mount -t tmpfs -o mode=0755 tmpfs $d; done; exec {journald}"
            ));
        let mut daemon = Daemon::spawn("systemd-journald", &mut cmd, dir.join("journald.log"));
        let pid = daemon.pid();
        daemon.wait_ready(|| {
            Path::new(&format!("/proc/{pid}/root/run/systemd/journal/socket")).exists()
                && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "systemd-journal")
        });
        Journald {
            _daemon: daemon,
            pid,
            _dir: dir,
        }
    }

    /// The namespace journald runs in.
    pub fn ns(&self) -> MountNs {
        MountNs {
            path: PathBuf::from(format!("/proc/{}/ns/mnt", self.pid)),
        }
    }

    /// `journalctl ARGS` in journald's namespace.
    pub fn journalctl(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new("journalctl");
        cmd.args(args);
        self.ns().enter(&mut cmd);
        cmd.output().expect("run journalctl")
    }

    /// `journalctl -o json --all MATCH` once `count` entries match (at most
    /// 20 s): journald stores what it is sent on its own schedule.
    pub fn entries(&self, matches: &str, count: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.journalctl(&["--no-pager", "-o", "json", "--all", matches]);
            let entries: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if entries.len() >= count || Instant::now() > deadline {
                return entries;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
