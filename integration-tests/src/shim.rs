//! Helpers for the berth-shim tests: a shim started on a busybox bundle with
//! a chosen runtime (runc, or berth-runtime), a gRPC client over its unix
//! socket, and readers for attach output and json-file logs. Everything a
//! [`Shim`] makes lives in one temp dir and is removed on drop, after the
//! container is force-deleted and the shim (by its pid) is killed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use berth_proto::shim::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::{bin, Bundle, TestDir};

/// The shim's gRPC client.
pub type Client = pb::shim_client::ShimClient<Channel>;

/// The OCI runtime a shim drives.
#[derive(Clone, Copy, Debug)]
pub enum Runtime {
    /// Debian's runc: the reference.
    Runc,
    /// Berth's own runtime, built in the same target dir.
    Berth,
}

impl Runtime {
    pub fn path(self) -> PathBuf {
        match self {
            Runtime::Runc => ["/usr/sbin/runc", "/usr/bin/runc"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .expect("runc not installed (apt-get install runc)"),
            Runtime::Berth => bin("berth-runtime"),
        }
    }
}

/// A running berth-shim for one container, in its own temp dir:
/// `bundle/`, `state/`, `root/` (the runtime's --root), `s/` (sockets).
pub struct Shim {
    pub id: String,
    pub runtime: PathBuf,
    pub bundle: Bundle,
    pub address: PathBuf,
    pub dir: TestDir,
}

impl Shim {
    /// A shim for a busybox container running `args` (no tty).
    pub fn start(runtime: Runtime, args: &[&str]) -> Shim {
        Shim::start_with(runtime, args, |_| {})
    }

    /// Like [`Shim::start`], editing the bundle's spec first.
    pub fn start_with(runtime: Runtime, args: &[&str], edit: impl FnOnce(&mut Bundle)) -> Shim {
        let dir = TestDir::new("shim");
        let id = crate::unique_name("c");
        let mut bundle = Bundle::new(&dir.join("bundle"), args);
        // The container's cgroups at the top of each hierarchy, named like
        // every test leftover (runc's default is under the caller's own
        // cgroup, which belongs to the machine).
        bundle.spec["linux"]["cgroupsPath"] = serde_json::json!(format!("/{id}"));
        edit(&mut bundle);
        bundle.save();
        let runtime = runtime.path();
        let out = Command::new(bin("berth-shim"))
            .args(["--id", &id, "--bundle"])
            .arg(&bundle.dir)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--runtime")
            .arg(&runtime)
            .arg("--runtime-root")
            .arg(dir.join("root"))
            .arg("--socket-dir")
            .arg(dir.join("s"))
            .output()
            .expect("run berth-shim");
        assert!(
            out.status.success(),
            "berth-shim failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let address = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Shim {
            id,
            runtime,
            bundle,
            address,
            dir,
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Where tests put the container's json-file log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("ctr.log")
    }

    /// The shim's pid, from its state dir.
    pub fn pid(&self) -> u32 {
        read_number(&self.state_dir().join("shim.pid")).expect("shim.pid")
    }

    /// Whether the shim process still exists (not a zombie).
    pub fn alive(&self) -> bool {
        pid_alive(self.pid())
    }

    /// Waits up to `limit` for the shim to exit.
    pub fn wait_gone(&self, limit: Duration) -> bool {
        let end = std::time::Instant::now() + limit;
        while std::time::Instant::now() < end {
            if !self.alive() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        !self.alive()
    }

    pub async fn connect(&self) -> Client {
        connect(&self.address).await
    }

    /// A Create request with a json-file log at [`Shim::log_path`].
    pub fn create_request(&self, stdin: bool) -> pb::CreateRequest {
        pb::CreateRequest {
            id: self.id.clone(),
            stdin,
            log: Some(pb::LogConfig {
                driver: "json-file".into(),
                path: self.log_path().to_string_lossy().into_owned(),
                ..Default::default()
            }),
        }
    }

    /// Runs the shim's runtime by hand (same --root) with a JSON log;
    /// returns (success, last error msg).
    pub fn runtime_cmd(&self, args: &[&str]) -> (bool, Option<String>) {
        let log = self
            .dir
            .join(&format!("manual-{}.log", crate::unique_name("l")));
        let out = Command::new(&self.runtime)
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json"])
            .args(args)
            .output()
            .expect("run runtime");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let msg = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["level"] == "error")
            .filter_map(|v| v["msg"].as_str().map(str::to_string))
            .next_back();
        (out.status.success(), msg)
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        let _ = Command::new(&self.runtime)
            .arg("--root")
            .arg(self.dir.join("root"))
            .args(["delete", "--force", &self.id])
            .output();
        if let Some(pid) = read_number(&self.state_dir().join("shim.pid")) {
            let is_shim = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains("berth-shim"))
                .unwrap_or(false);
            if is_shim && pid_alive(pid) {
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }
}

fn read_number(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether a pid exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(false)
}

/// A client over the shim's unix socket.
pub async fn connect(path: &Path) -> Client {
    let channel = berth_proto::dial_unix(path)
        .await
        .expect("connect to the shim");
    pb::shim_client::ShimClient::new(channel)
}

/// An attached client: a sender for stdin messages and the output stream.
pub struct Attached {
    pub stdin: mpsc::Sender<pb::AttachRequest>,
    pub output: tonic::Streaming<pb::AttachResponse>,
}

/// Attaches to the init ("") or an exec'd process.
pub async fn attach(client: &mut Client, id: &str, exec_id: &str) -> Attached {
    let (tx, rx) = mpsc::channel(16);
    tx.send(pb::AttachRequest {
        id: id.to_string(),
        exec_id: exec_id.to_string(),
        ..Default::default()
    })
    .await
    .unwrap();
    let output = client
        .attach(ReceiverStream::new(rx))
        .await
        .expect("attach")
        .into_inner();
    Attached { stdin: tx, output }
}

impl Attached {
    /// Sends bytes to the process's stdin (and maybe closes it).
    pub async fn send(&self, data: &[u8], close: bool) {
        self.stdin
            .send(pb::AttachRequest {
                stdin: data.to_vec(),
                close_stdin: close,
                ..Default::default()
            })
            .await
            .unwrap();
    }

    /// Reads until the output contains `needle` (panics after 10 s);
    /// returns everything read so far.
    pub async fn read_until(&mut self, seen: &mut String, needle: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !seen.contains(needle) {
            let msg = tokio::time::timeout_at(deadline, self.output.message())
                .await
                .unwrap_or_else(|_| panic!("no {needle:?} in attach output: {seen:?}"))
                .expect("attach stream error");
            match msg {
                Some(m) => seen.push_str(&String::from_utf8_lossy(&m.data)),
                None => panic!("attach stream ended without {needle:?}: {seen:?}"),
            }
        }
    }

    /// Reads to the end: (stdout, stderr).
    pub async fn read_to_end(&mut self) -> (String, String) {
        let (mut out, mut err) = (String::new(), String::new());
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(20), self.output.message())
                .await
                .expect("attach output did not end");
            match msg.expect("attach stream error") {
                Some(m) if m.stream == pb::StdStream::Stderr as i32 => {
                    err.push_str(&String::from_utf8_lossy(&m.data))
                }
                Some(m) => out.push_str(&String::from_utf8_lossy(&m.data)),
                None => return (out, err),
            }
        }
    }
}

/// The entries of a json-file log.
pub fn log_entries(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read log {}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}")))
        .collect()
}

/// A `process` object for Exec: runc's default, running `args`.
pub fn exec_process(args: &[&str], terminal: bool) -> Vec<u8> {
    let mut p = crate::bundle::default_spec()["process"].clone();
    p["args"] = serde_json::json!(args);
    p["terminal"] = serde_json::json!(terminal);
    serde_json::to_vec(&p).unwrap()
}

/// A current-thread tokio runtime for a test body.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
