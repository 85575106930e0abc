//! Registries and images for the image tests.
//!
//! * [`Registry`]: Debian's `docker-registry` (distribution 2.8) on
//!   127.0.0.1 on a free port, storage in a temp dir, stopped by pid on drop.
//! * [`FakeRegistry`]: a tiny HTTP server answering with whatever a test's
//!   handler says, for what a real registry never serves (a manifest that is
//!   not JSON, an unknown media type, authentication challenges).
//! * Image builders: busybox OCI layouts made with `umoci` (one layer, and a
//!   second layer with a deletion (whiteout) and hardlinks), raw OCI layouts
//!   from hand-made layer tars (hostile layers), and `skopeo copy` into a
//!   registry.

use crate::{busybox_rootfs, stderr, TestDir};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// Runs a command and panics with its stderr if it fails.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("start {:?}: {e}", cmd.get_program()));
    assert!(out.status.success(), "{cmd:?} failed: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A plain HTTP GET on loopback; returns (status, body).
pub fn http_get(host: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Debian's docker-registry serving on 127.0.0.1 (or another loopback
/// address, optionally over TLS).
pub struct Registry {
    pub dir: TestDir,
    pub port: u16,
    /// The loopback address it listens on.
    pub ip: String,
    child: Child,
}

impl Registry {
    /// Starts a registry with storage in a new temp dir.
    pub fn start() -> Registry {
        Registry::start_on("127.0.0.1", false)
    }

    /// Starts a registry listening on `ip` (a loopback address), speaking
    /// TLS with a fresh self-signed certificate (openssl) when `tls`.
    pub fn start_on(ip: &str, tls: bool) -> Registry {
        let dir = TestDir::new("registry");
        let port = {
            let l = TcpListener::bind((ip, 0)).expect("bind a free port");
            l.local_addr().unwrap().port()
        };
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {ip}:{port}\n",
            dir.join("storage").display()
        );
        if tls {
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            run_ok(
                Command::new("openssl")
                    .args([
                        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    ])
                    .args(["-subj", "/CN=berth-test-registry", "-keyout"])
                    .arg(&key)
                    .arg("-out")
                    .arg(&cert),
            );
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry (apt install docker-registry)");
        let reg = Registry {
            dir,
            port,
            ip: ip.to_string(),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let ready = || {
            if tls {
                TcpStream::connect((ip, port)).is_ok()
            } else {
                matches!(http_get(&reg.host(), "/v2/"), Ok((200, _)))
            }
        };
        while !ready() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    /// `IP:PORT` (`127.0.0.1:PORT` unless started elsewhere).
    pub fn host(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// Where the registry keeps the bytes of a blob
    /// (`docker/registry/v2/blobs/sha256/<2>/<hex>/data`).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir
            .join("storage")
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request the fake registry received.
#[derive(Debug, Clone)]
pub struct FakeRequest {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
}

/// What the fake registry answers.
pub struct FakeResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl FakeResponse {
    /// A response with a content type and body.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> FakeResponse {
        FakeResponse {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> FakeResponse {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = dyn Fn(&FakeRequest) -> FakeResponse + Send + Sync;

/// A minimal HTTP/1.1 server on 127.0.0.1 (one connection at a time,
/// `Connection: close`), stopped on drop.
pub struct FakeRegistry {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Every request seen, in order.
    pub requests: Arc<std::sync::Mutex<Vec<FakeRequest>>>,
}

impl FakeRegistry {
    /// Starts serving with `handler`.
    pub fn start(
        handler: impl Fn(&FakeRequest) -> FakeResponse + Send + Sync + 'static,
    ) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let (stop2, requests2) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let _ = serve_one(conn, handler.as_ref(), &requests2);
            }
        });
        FakeRegistry {
            port,
            stop,
            thread: Some(thread),
            requests,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn serve_one(
    conn: TcpStream,
    handler: &Handler,
    log: &std::sync::Mutex<Vec<FakeRequest>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    if let Some(len) = headers
        .get("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body)?;
    }
    let req = FakeRequest {
        method,
        path,
        headers,
    };
    log.lock().unwrap().push(req.clone());
    let resp = handler(&req);
    let mut out = conn;
    write!(
        out,
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        resp.body.len()
    )?;
    for (k, v) in &resp.headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    write!(out, "\r\n")?;
    if req.method != "HEAD" {
        out.write_all(&resp.body)?;
    }
    out.flush()
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// sha256 hex of some bytes (Debian's sha256sum).
pub fn sha256_hex(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// `umoci` with its arguments.
fn umoci(args: &[&str]) -> String {
    run_ok(Command::new("umoci").args(args))
}

/// Makes an OCI layout at `layout` holding a busybox image tagged `tag`
/// (one layer: busybox-static and its applet links, /etc/passwd and group;
/// `CMD ["/bin/sh"]`). `work` is a scratch dir.
pub fn umoci_busybox(layout: &Path, tag: &str, work: &Path) {
    let l = layout.display().to_string();
    umoci(&["init", "--layout", &l]);
    umoci(&["new", "--image", &format!("{l}:empty")]);
    let bundle = work.join("bundle-base");
    umoci(&[
        "unpack",
        "--image",
        &format!("{l}:empty"),
        &bundle.display().to_string(),
    ]);
    busybox_rootfs(&bundle.join("rootfs"));
    std::fs::write(bundle.join("rootfs/etc/hostname"), "busybox\n").unwrap();
    umoci(&[
        "repack",
        "--image",
        &format!("{l}:{tag}"),
        &bundle.display().to_string(),
    ]);
    umoci(&[
        "config",
        "--image",
        &format!("{l}:{tag}"),
        "--config.cmd",
        "/bin/sh",
    ]);
    let _ = std::fs::remove_dir_all(&bundle);
}

/// Adds tag `to` to layout `layout`: the image `from` plus a second layer
/// that deletes /etc/hostname (a whiteout), replaces /home with new contents
/// (an opaque-like change), and adds /data/a and its hardlink /data/b.
pub fn umoci_second_layer(layout: &Path, from: &str, to: &str, work: &Path) {
    let l = layout.display().to_string();
    let bundle = work.join("bundle-second");
    umoci(&[
        "unpack",
        "--image",
        &format!("{l}:{from}"),
        &bundle.display().to_string(),
    ]);
    let rootfs = bundle.join("rootfs");
    std::fs::remove_file(rootfs.join("etc/hostname")).unwrap();
    std::fs::remove_dir_all(rootfs.join("home/user")).unwrap();
    std::fs::create_dir_all(rootfs.join("home/other")).unwrap();
    std::fs::create_dir_all(rootfs.join("data")).unwrap();
    std::fs::write(rootfs.join("data/a"), "hard linked\n").unwrap();
    std::fs::hard_link(rootfs.join("data/a"), rootfs.join("data/b")).unwrap();
    std::os::unix::fs::symlink("../data/a", rootfs.join("etc/link-to-a")).unwrap();
    umoci(&[
        "repack",
        "--image",
        &format!("{l}:{to}"),
        &bundle.display().to_string(),
    ]);
    let _ = std::fs::remove_dir_all(&bundle);
}

/// `skopeo copy` between two transports, TLS off (loopback registries).
pub fn skopeo_copy(from: &str, to: &str) {
    run_ok(Command::new("skopeo").args([
        "--insecure-policy",
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        from,
        to,
    ]));
}

/// `skopeo copy` with extra flags (`--format v2s2` converts to Docker
/// schema 2 media types).
pub fn skopeo_copy_with(flags: &[&str], from: &str, to: &str) {
    run_ok(
        Command::new("skopeo")
            .args([
                "--insecure-policy",
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
            ])
            .args(flags)
            .args([from, to]),
    );
}

/// A plain HTTP PUT on loopback; returns the status code.
pub fn http_put(host: &str, path: &str, content_type: &str, body: &[u8]) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    Ok(resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

/// `skopeo inspect` of a transport reference, as JSON.
pub fn skopeo_inspect(reference: &str, raw: bool) -> serde_json::Value {
    let mut cmd = Command::new("skopeo");
    cmd.args(["--insecure-policy", "inspect", "--tls-verify=false"]);
    if raw {
        cmd.arg("--raw");
    }
    serde_json::from_str(&run_ok(cmd.arg(reference))).expect("skopeo inspect JSON")
}

/// A tar archive of `entries` (python3's tarfile): each is
/// (path, type, data or link target), type one of "file", "dir",
/// "symlink", "hardlink", "chardev".
pub fn make_tar(entries: &[(&str, &str, &str)]) -> Vec<u8> {
    let spec = serde_json::to_string(entries).unwrap();
    let script = r#"
import io, json, sys, tarfile
entries = json.loads(sys.argv[1])
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as t:
    for path, kind, data in entries:
        info = tarfile.TarInfo(path)
        info.mode = 0o755 if kind == 'dir' else 0o644
        body = None
        if kind == 'file':
            body = data.encode(); info.size = len(body)
        elif kind == 'dir':
            info.type = tarfile.DIRTYPE
        elif kind == 'symlink':
            info.type = tarfile.SYMTYPE; info.linkname = data
        elif kind == 'hardlink':
            info.type = tarfile.LNKTYPE; info.linkname = data
        elif kind == 'chardev':
            info.type = tarfile.CHRTYPE; info.devmajor = 1; info.devminor = 3
        t.addfile(info, io.BytesIO(body) if body is not None else None)
sys.stdout.buffer.write(buf.getvalue())
"#;
    let out = Command::new("python3")
        .args(["-c", script, &spec])
        .output()
        .expect("run python3");
    assert!(out.status.success(), "make tar: {}", stderr(&out));
    out.stdout
}

/// Writes an OCI layout at `dir` with one image of uncompressed `layers`
/// (tar bytes), named `ref_name` in index.json. Returns the manifest digest.
pub fn write_oci_layout(dir: &Path, layers: &[Vec<u8>], ref_name: &str) -> String {
    write_oci_layout_compressed(dir, layers, ref_name, "")
}

/// Compresses with an external tool (`gzip`, `zstd`).
fn compress(data: &[u8], tool: &str) -> Vec<u8> {
    let mut child = Command::new(tool)
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{tool} failed");
    out.stdout
}

/// Like [`write_oci_layout`], with the layers compressed by `compression`
/// ("" for none, "gzip" or "zstd") and the matching media types.
pub fn write_oci_layout_compressed(
    dir: &Path,
    layers: &[Vec<u8>],
    ref_name: &str,
    compression: &str,
) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let hex = sha256_hex(data);
        std::fs::write(blobs.join(&hex), data).unwrap();
        format!("sha256:{hex}")
    };
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        diff_ids.push(format!("sha256:{}", sha256_hex(l)));
        let (blob, media_type) = match compression {
            "" => (l.clone(), "application/vnd.oci.image.layer.v1.tar"),
            "gzip" => (
                compress(l, "gzip"),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            ),
            "zstd" => (
                compress(l, "zstd"),
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
            other => panic!("unknown compression {other}"),
        };
        let d = put(&blob);
        layer_descs
            .push(serde_json::json!({ "mediaType": media_type, "digest": d, "size": blob.len() }));
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let config_digest = put(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": layer_descs,
    }))
    .unwrap();
    let manifest_digest = put(&manifest);
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest, "size": manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
            }],
        }))
        .unwrap(),
    )
    .unwrap();
    manifest_digest
}

/// Tars a directory's contents (`tar -C dir -cf out .`).
pub fn tar_dir(dir: &Path, out: &Path) {
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg(out)
            .arg("."),
    );
}

/// A TCP proxy to a registry that can slow the registry's answers down and
/// records what clients sent (to see `Range` requests of resumed pulls).
/// At low rates it drips: writes of a tenth of a second's worth (one byte
/// at 10 B/s or less), so a client sees a trickle, not bursts and silences.
pub struct SlowProxy {
    pub port: u16,
    /// Bytes per second from the registry to the client (0: unlimited).
    pub rate: Arc<std::sync::atomic::AtomicU64>,
    /// Everything clients sent, concatenated.
    pub sent: Arc<std::sync::Mutex<Vec<u8>>>,
    /// Connections open now (until the client closed its end or the
    /// registry finished).
    pub open: Arc<std::sync::atomic::AtomicUsize>,
    /// Bytes passed from the registry to clients.
    pub forwarded: Arc<std::sync::atomic::AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl SlowProxy {
    /// Proxies 127.0.0.1:<port> to `target` (`host:port`).
    pub fn start(target: &str, bytes_per_sec: u64) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let rate = Arc::new(std::sync::atomic::AtomicU64::new(bytes_per_sec));
        let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
        let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let forwarded = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (rate2, sent2, stop2, target) =
            (rate.clone(), sent.clone(), stop.clone(), target.to_string());
        let (open2, forwarded2) = (open.clone(), forwarded.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let (mut c_read, mut s_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let sent3 = sent2.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = c_read.read(&mut buf) {
                        if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        sent3.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_read, mut c_write) = (server, client);
                let (rate3, stop3) = (rate2.clone(), stop2.clone());
                let (open3, forwarded3) = (open2.clone(), forwarded2.clone());
                open3.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    'conn: while let Ok(n) = s_read.read(&mut buf) {
                        if n == 0 || stop3.load(Ordering::SeqCst) {
                            break;
                        }
                        let mut rest = &buf[..n];
                        while !rest.is_empty() {
                            let r = rate3.load(Ordering::SeqCst);
                            let piece = if r == 0 {
                                rest.len()
                            } else {
                                rest.len().min((r as usize / 10).max(1))
                            };
                            if c_write.write_all(&rest[..piece]).is_err() {
                                break 'conn;
                            }
                            forwarded3.fetch_add(piece as u64, Ordering::SeqCst);
                            rest = &rest[piece..];
                            if r > 0 {
                                std::thread::sleep(Duration::from_secs_f64(
                                    piece as f64 / r as f64,
                                ));
                            }
                        }
                    }
                    let _ = c_write.shutdown(std::net::Shutdown::Both);
                    open3.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        SlowProxy {
            port,
            rate,
            sent,
            open,
            forwarded,
            stop,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What clients sent, as text (lossy).
    pub fn sent_text(&self) -> String {
        String::from_utf8_lossy(&self.sent.lock().unwrap()).to_string()
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One raw HTTP request on loopback; returns (status, headers lower-cased).
fn http_request(
    host: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, HashMap<String, String>) {
    let mut s = TcpStream::connect(host).expect("connect to registry");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

/// Pushes the single image of an OCI layout written by
/// [`write_oci_layout_compressed`] to `repo:tag`, blobs and manifest exactly
/// as they are (skopeo would recompress the layers).
pub fn push_layout_raw(host: &str, repo: &str, tag: &str, layout: &Path) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = |d: &str| {
        std::fs::read(
            layout
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let manifest_bytes = blob(&manifest_digest);
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let mut digests = vec![manifest["config"]["digest"].as_str().unwrap().to_string()];
    for l in manifest["layers"].as_array().unwrap() {
        digests.push(l["digest"].as_str().unwrap().to_string());
    }
    for d in digests {
        let (status, headers) = http_request(
            host,
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            "application/octet-stream",
            b"",
        );
        assert_eq!(status, 202, "start upload of {d}");
        let location = headers["location"].clone();
        let path = location
            .split_once(host)
            .map(|(_, p)| p.to_string())
            .unwrap_or(location);
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, _) = http_request(
            host,
            "PUT",
            &format!("{path}{sep}digest={d}"),
            "application/octet-stream",
            &blob(&d),
        );
        assert_eq!(status, 201, "upload of {d}");
    }
    let media_type = manifest["mediaType"].as_str().unwrap();
    let (status, _) = http_request(
        host,
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        media_type,
        &manifest_bytes,
    );
    assert_eq!(status, 201, "put manifest {repo}:{tag}");
}
