//! What a container start costs in this crate, for `strace -c` and
//! `perf stat`: detect the layout, create `/bt<pid>-start/ctr` (its parent
//! made beforehand, as `/berth` exists for the runtime) with a memory and a
//! pids limit (the benchmark's settings), move a child in; then kill it and
//! destroy both cgroups. Prints the wall and CPU time of the timed part.
//! Run as root:
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
    // The parent exists already, as `/berth` does for the runtime.
    let parent = CgroupsPath::parse(&format!("/bt{}-start", std::process::id())).unwrap();
    let parent = Cgroup::create(&Layout::detect().unwrap(), &parent).unwrap();
    let path = CgroupsPath::parse(&format!("/bt{}-start/ctr", std::process::id())).unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("10")
        .spawn()
        .unwrap();

    let cpu_before = cpu_time();
    let start = std::time::Instant::now();
    let layout = Layout::detect().unwrap();
    let cgroup = Cgroup::create_with_resources(&layout, &path, &resources).unwrap();
    cgroup.add_process(child.id() as i32).unwrap();
    let state = serde_json::to_string(&cgroup).unwrap();
    let elapsed = start.elapsed();
    let cpu = cpu_time() - cpu_before;

    let cgroup: Cgroup = serde_json::from_str(&state).unwrap();
    cgroup.kill_all(libc::SIGKILL).unwrap();
    child.wait().unwrap();
    cgroup.destroy().unwrap();
    parent.destroy().unwrap();
    eprintln!(
        "detect+create+apply+add: wall {elapsed:?}, cpu {cpu:?}; state {} bytes",
        state.len()
    );
}

/// This process's user+system CPU time (getrusage(2)).
fn cpu_time() -> std::time::Duration {
    // SAFETY: getrusage fills the zeroed struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| std::time::Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
