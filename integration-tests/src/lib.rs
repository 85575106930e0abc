//! Shared pieces of Berth's end-to-end tests: where the built binaries are,
//! unique names and temp dirs that clean up after themselves, and busybox
//! bundles built from Debian's `busybox-static` (no registry is reachable
//! from the project's machines, so every test image starts from it).
//!
//! Each area keeps its tests in its own file under `tests/` and its own
//! helpers in its own module here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub mod berthd;
pub mod bundle;
pub mod containers;
pub mod cri;
pub mod docker_client;
pub mod engines;
pub mod local_log;
pub mod log_sinks;
pub mod networks;
pub mod ports;
pub mod registry;
pub mod restart_health;
pub mod runtime;
pub mod saved_image;
pub mod service;
pub mod shapes;
pub mod shim;
pub mod volumes;

pub use bundle::{busybox_rootfs, Bundle};

/// The directory holding the built binaries (`target/release` when the tests
/// run with `--release`); `BERTH_BIN_DIR` overrides it.
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("BERTH_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // A test executable lives in target/<profile>/deps/.
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary is in target/<profile>/deps")
        .to_path_buf()
}

/// The path of one of Berth's binaries; panics with a hint if it was not built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} not found: build it first (cargo build --release)",
        path.display()
    );
    path
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this test process and call: `bt<pid>-<prefix>-<n>`.
/// Every container, cgroup and temp dir the tests make carries the `bt` prefix
/// so leftovers can be found.
pub fn unique_name(prefix: &str) -> String {
    format!(
        "bt{}-{}-{}",
        std::process::id(),
        prefix,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A temp dir removed (with everything in it) when dropped.
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(prefix: &str) -> TestDir {
        let path = std::env::temp_dir().join(unique_name(prefix));
        std::fs::create_dir_all(&path).expect("create test dir");
        TestDir { path }
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Panics unless the tests run as root: they need namespaces, mounts and cgroups.
pub fn require_root() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the integration tests must run as root"
    );
}

/// Runs a command, returning its output; panics only if it could not be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("start {:?}: {e}", cmd.get_program()))
}

/// stdout as a trimmed string.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// stderr as a trimmed string.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim_end().to_string()
}

/// Whether a program is on PATH (peers such as runc are installed by .ci/run).
pub fn have_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}
