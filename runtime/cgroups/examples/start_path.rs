//! What a container start costs in this crate, for `strace -c` and
//! `perf stat`: detect the layout, create `/bt<pid>-start/ctr` with a
//! memory and a pids limit (the benchmark's settings), move a child in,
//! then kill it and destroy the cgroup. Run as root:
//!
//! ```sh
//! cargo build --release -p berth-cgroups --example start_path
//! strace -c -f target/release/examples/start_path
//! ```

use berth_cgroups::{Cgroup, CgroupsPath, Layout};
use berth_oci::{LinuxMemory, LinuxPids, LinuxResources};

fn main() {
    let resources = LinuxResources {
        memory: Some(LinuxMemory {
            limit: Some(256 << 20),
            ..Default::default()
        }),
        pids: Some(LinuxPids { limit: 100 }),
        ..Default::default()
    };
    let path = CgroupsPath::parse(&format!("/bt{}-start/ctr", std::process::id())).unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("10")
        .spawn()
        .unwrap();

    let start = std::time::Instant::now();
    let layout = Layout::detect().unwrap();
    let cgroup = Cgroup::create_with_resources(&layout, &path, &resources).unwrap();
    cgroup.add_process(child.id() as i32).unwrap();
    let state = serde_json::to_string(&cgroup).unwrap();
    let elapsed = start.elapsed();

    let cgroup: Cgroup = serde_json::from_str(&state).unwrap();
    cgroup.kill_all(libc::SIGKILL).unwrap();
    child.wait().unwrap();
    cgroup.destroy().unwrap();
    eprintln!(
        "detect+create+apply+add: {elapsed:?}; state {} bytes",
        state.len()
    );
}
