//! A berthd started by a test: private `--root`, `--state` and `--address`
//! in a temp dir, driven with the `berth` CLI as a user would. Dropping it
//! stops the daemon by pid, unmounts whatever is still mounted under its
//! dir and removes the dir.
//!
//! Host-wide names are made unique per berthd: unless the test's
//! daemon.json names them, the default bridge is `bt<pid>x<n>` and the
//! nftables table `bt_<pid>x<n>`. Dropping it deletes that bridge, the
//! `br-*` bridges of its user networks and its nft table.

use crate::{bin, stderr, stdout, TestDir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static HOST_NAMES: AtomicUsize = AtomicUsize::new(0);

/// `bt<pid>x<n>`: at most 15 bytes, an interface name (IFNAMSIZ).
fn host_unique() -> String {
    format!(
        "bt{}x{}",
        std::process::id() % 10_000_000,
        HOST_NAMES.fetch_add(1, Ordering::SeqCst)
    )
}

/// `config` with a unique `bridge` and `nft-table` added where absent.
fn with_host_names(config: &str) -> String {
    let mut v: serde_json::Value = match serde_json::from_str(config) {
        Ok(v) => v,
        // A test of a bad config: leave it as it is.
        Err(_) => return config.to_string(),
    };
    let Some(map) = v.as_object_mut() else {
        return config.to_string();
    };
    let unique = host_unique();
    map.entry("bridge")
        .or_insert_with(|| serde_json::Value::String(unique.clone()));
    map.entry("nft-table")
        .or_insert_with(|| serde_json::Value::String(format!("bt_{unique}")));
    v.to_string()
}

/// A running berthd.
pub struct Berthd {
    pub dir: TestDir,
    pub root: PathBuf,
    pub state: PathBuf,
    pub socket: PathBuf,
    /// The Docker API socket (`--docker-address`, in the test's dir).
    pub docker_socket: PathBuf,
    /// The Kubernetes CRI socket: daemon.json's `cri-address` when the
    /// test's config names one, else berthd's default `cri.sock` in the
    /// state dir.
    pub cri_socket: PathBuf,
    /// Client config dir (credentials), passed as BERTH_CONFIG.
    pub client_config: PathBuf,
    /// berthd's config file (empty JSON object unless a test writes it).
    pub config: PathBuf,
    pub log: PathBuf,
    /// The default bridge's host interface (daemon.json `bridge`).
    pub bridge: String,
    /// berthd's nftables table (daemon.json `nft-table`).
    pub nft_table: String,
    child: Option<Child>,
    /// The mount namespace berthd runs in (and its shims with it).
    mount_ns: Option<crate::engines::MountNs>,
}

impl Berthd {
    /// Starts berthd with a fresh root in mount namespace `ns` (a private
    /// journald's, so that its shims reach that journald's socket).
    pub fn start_in_mount_ns(config: &str, ns: &crate::engines::MountNs) -> Berthd {
        let dir = TestDir::new("berthd");
        let root = dir.join("root");
        Berthd::launch_new(dir, root, config, Some(ns.clone()))
    }

    /// Starts berthd with a fresh root in a new temp dir.
    pub fn start() -> Berthd {
        Berthd::start_with_config("{}")
    }

    /// Starts berthd with `config` (daemon.json contents).
    pub fn start_with_config(config: &str) -> Berthd {
        let dir = TestDir::new("berthd");
        let root = dir.join("root");
        Berthd::start_in(dir, root, config)
    }

    /// Starts berthd in `dir` with its root at `root` (a test may mount a
    /// small tmpfs there first).
    pub fn start_in(dir: TestDir, root: PathBuf, config: &str) -> Berthd {
        Berthd::launch_new(dir, root, config, None)
    }

    fn launch_new(
        dir: TestDir,
        root: PathBuf,
        config: &str,
        mount_ns: Option<crate::engines::MountNs>,
    ) -> Berthd {
        let config_path = dir.join("daemon.json");
        let config = with_host_names(config);
        std::fs::write(&config_path, &config).expect("write daemon.json");
        let parsed: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
        let name = |key: &str, default: &str| {
            parsed
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or(default)
                .to_string()
        };
        let mut d = Berthd {
            bridge: name("bridge", "berth0"),
            nft_table: name("nft-table", "berth"),
            state: dir.join("state"),
            socket: dir.join("b.sock"),
            docker_socket: dir.join("d.sock"),
            cri_socket: parsed
                .get("cri-address")
                .and_then(|v| v.as_str())
                .map(PathBuf::from)
                .unwrap_or_else(|| dir.join("state").join("cri.sock")),
            client_config: dir.join("client"),
            log: dir.join("berthd.log"),
            config: config_path,
            root,
            dir,
            child: None,
            mount_ns,
        };
        d.launch();
        d
    }

    fn launch(&mut self) {
        self.launch_with_env(&[]);
    }

    fn launch_with_env(&mut self, env: &[(&str, &str)]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open berthd log");
        let mut cmd = Command::new(bin("berthd"));
        if let Some(ns) = &self.mount_ns {
            ns.enter(&mut cmd);
        }
        let child = cmd
            .arg("--root")
            .arg(&self.root)
            .arg("--state")
            .arg(&self.state)
            .arg("--address")
            .arg(&self.socket)
            .arg("--docker-address")
            .arg(&self.docker_socket)
            .arg("--config")
            .arg(&self.config)
            .arg("--log-level")
            .arg("debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start berthd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "berthd exited with {status} before serving:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not start serving in 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// berthd's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("berthd running").id()
    }

    /// `unix://<docker socket>`: DOCKER_HOST for docker clients.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.docker_socket.display())
    }

    /// `unix://<socket>`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// A `berth` command aimed at this daemon.
    pub fn berth_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("berth"));
        cmd.arg("-H")
            .arg(self.host())
            .args(args)
            .env("BERTH_CONFIG", &self.client_config)
            .env_remove("BERTH_HOST")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `berth ARGS`.
    pub fn berth(&self, args: &[&str]) -> Output {
        let out = self.berth_cmd(args).output().expect("run berth");
        eprintln!(
            "$ berth {}\n{}\n{}\n(exit {:?})",
            args.join(" "),
            stdout(&out),
            stderr(&out),
            out.status.code()
        );
        out
    }

    /// Runs `berth ARGS`, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {} failed: {}\nberthd log:\n{}",
            args.join(" "),
            stderr(&out),
            self.log_tail()
        );
        stdout(&out)
    }

    /// Runs `berth ARGS`, asserting failure with exit code 1; returns
    /// stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "berth {} should fail with exit 1; stdout: {}",
            args.join(" "),
            stdout(&out)
        );
        stderr(&out)
    }

    /// The last lines of berthd's log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("berthd running");
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("berthd did not exit within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills berthd with SIGKILL (a crash).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts berthd again on the same dirs.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop berthd first");
        self.launch();
    }

    /// Starts berthd again on the same dirs with `env` added to its
    /// environment (the crash tests arm `BERTHD_TEST_CRASH_AT` this way).
    pub fn restart_with_env(&mut self, env: &[(&str, &str)]) {
        assert!(self.child.is_none(), "stop berthd first");
        self.launch_with_env(env);
    }

    /// Whether the berthd process is gone (it exited or killed itself);
    /// it is reaped then, and [`Berthd::restart`] may start it again.
    pub fn has_exited(&mut self) -> bool {
        let exited = match self.child.as_mut() {
            Some(child) => child.try_wait().ok().flatten().is_some(),
            None => true,
        };
        if exited {
            self.child = None;
        }
        exited
    }

    /// Resident set size of berthd in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

/// Unmounts every mount at or under `dir` (deepest first, lazily).
pub fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.display().to_string();
    let mut targets: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|t| t == &prefix || t.starts_with(&format!("{prefix}/")))
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for t in targets {
        let c = std::ffi::CString::new(t).unwrap();
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

impl Berthd {
    /// Force-removes every container this berthd knows (their shims and
    /// cgroups go with them), then kills any shim still recorded in its
    /// state dir, by the pid it recorded.
    pub fn remove_all_containers(&self) {
        if self.child.is_some() {
            let ids = self.berth(&["ps", "-aq", "--no-trunc"]);
            let ids = String::from_utf8_lossy(&ids.stdout).to_string();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.berth(&args);
            }
        }
        let Ok(dirs) = std::fs::read_dir(self.state.join("containers")) else {
            return;
        };
        for d in dirs.flatten() {
            let pid_file = d.path().join("shim").join("shim.pid");
            if let Some(pid) = std::fs::read_to_string(pid_file)
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
            {
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let id = d.file_name().to_string_lossy().to_string();
            for controller in [
                "memory",
                "pids",
                "cpu,cpuacct",
                "freezer",
                "devices",
                "blkio",
                "cpuset",
                "net_cls,net_prio",
                "perf_event",
                "hugetlb",
                "rdma",
                "misc",
                "systemd",
                "unified",
            ] {
                let _ = std::fs::remove_dir(format!("/sys/fs/cgroup/{controller}/berth/{id}"));
            }
        }
    }
}

impl Berthd {
    /// The host bridges of this berthd's networks: `br-<id>` of each user
    /// network it lists (while it runs), and the default bridge.
    pub fn bridges(&self) -> Vec<String> {
        let mut out = vec![self.bridge.clone()];
        if self.child.is_some() {
            let ids = self.berth_cmd(&["network", "ls", "-q"]).output();
            if let Ok(o) = ids {
                for id in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    if id.len() >= 12 {
                        out.push(format!("br-{}", &id[..12]));
                    }
                }
            }
        }
        out
    }

    /// Deletes `bridges` and this berthd's nft table from the host (with
    /// `ip` and `nft`, as a user would).
    fn delete_host_network_state(&self, bridges: &[String]) {
        for b in bridges {
            let _ = Command::new("ip")
                .args(["link", "delete", b])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.nft_table])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Berthd {
    fn drop(&mut self) {
        self.remove_all_containers();
        let bridges = self.bridges();
        if let Some(child) = self.child.as_mut() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.delete_host_network_state(&bridges);
        unmount_under(&self.dir.path);
    }
}
