//! Drop-in (issue 3): real engines from Debian drive the OCI runtime as they
//! drive runc. Every scenario runs twice: with Debian's runc (the oracle:
//! proves the harness and the engine set-up) and with berth-runtime.
//!
//! * podman 4.3 (conmon) with `--runtime PATH`;
//! * containerd 1.6 with `ctr run --runc-binary PATH` (the runc shim's
//!   `BinaryName`);
//! * dockerd 20.10 on a private containerd with `--add-runtime NAME=PATH`.
//!
//! Each engine is private to its test (roots, state, sockets, cgroup parent
//! under a temp dir; see `berth_integration_tests::engines`) and is torn down
//! even when the test fails. Run as root with
//! `cargo test --release -p berth-integration-tests --test engines` after
//! `cargo build --release -p berth-runtime`. Needs the Debian packages
//! podman, conmon, containerd, runc, docker.io and busybox-static.

use std::time::Duration;

use berth_integration_tests::engines::{
    container_memory_limit_file, host_cgroup_file, host_frozen, host_has_cgroup_v1,
    host_memory_limit, sigterm_caught, wait_until, ContainerdEngine, Dockerd, Podman, Ran, Runtime,
    IMAGE, TRAP_EXIT, TRAP_SCRIPT,
};
use berth_integration_tests::require_root;

/// One test per runtime from a shared body: `name::runc` and `name::berth`.
/// A berth variant that berth-runtime cannot pass yet carries an
/// `ignore = "berth-runtime: <reason>"`; runc's never does.
macro_rules! both_runtimes {
    ($name:ident) => {
        mod $name {
            #[test]
            fn runc() {
                super::$name(super::Runtime::Runc)
            }
            #[test]
            fn berth() {
                super::$name(super::Runtime::Berth)
            }
        }
    };
    ($name:ident, ignore_berth = $why:literal) => {
        mod $name {
            #[test]
            fn runc() {
                super::$name(super::Runtime::Runc)
            }
            #[test]
            #[ignore = $why]
            fn berth() {
                super::$name(super::Runtime::Berth)
            }
        }
    };
}

/// 64 MiB, as `--memory 64m` asks.
const MEMORY_LIMIT: &str = "67108864";

/// How long a container may take to set its SIGTERM trap.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A busybox `sh -c` script printing one line to each stream, then exiting 42.
const STREAMS_SCRIPT: &str = "echo out; echo err >&2; exit 42";

/// What the stdin tests pipe in (two lines, so that `cat` must copy all).
const STDIN_TEXT: &str = "piped in\nsecond line\n";

/// The exec the detached tests run as a non-root user in another dir.
const USER_CWD_SCRIPT: &str = "id -u; pwd";

// ---------------------------------------------------------------------------
// podman
// ---------------------------------------------------------------------------

/// `podman run --rm`: stdout, stderr and exit code come back through conmon
/// and the runtime, and nothing is left.
fn podman_run_rm(runtime: Runtime) {
    require_root();
    let podman = Podman::new(runtime);
    podman
        .run_container(&["--rm", IMAGE, "echo", "hi"])
        .ok()
        .stdout_is("hi");
    podman
        .run_container(&["--rm", IMAGE, "sh", "-c", STREAMS_SCRIPT])
        .code_is(42)
        .stdout_is("out")
        .stderr_has("err");
    assert_eq!(
        podman.all_ids(),
        Vec::<String>::new(),
        "run --rm left containers"
    );
}
both_runtimes!(podman_run_rm);

/// stdio as podman users have it: `-i` (stdin piped through conmon to the
/// container), and `-t` (a pty from the runtime's --console-socket).
fn podman_stdio(runtime: Runtime) {
    require_root();
    let podman = Podman::new(runtime);
    Ran::with_input(
        &mut podman.container_command(&["--rm", "-i", IMAGE, "cat"]),
        Some(STDIN_TEXT.as_bytes()),
    )
    .ok()
    .stdout_is(STDIN_TEXT.trim_end());
    podman
        .run_container(&["--rm", "-t", IMAGE, "tty"])
        .ok()
        .stdout_is("/dev/pts/0");
    assert_eq!(podman.all_ids(), Vec::<String>::new());
}
both_runtimes!(podman_stdio);

/// A command that does not exist: the runtime's create fails, podman says
/// so and exits 127, as it does with runc; one that is not executable: 126.
/// (podman picks the code from the runtime's error text.)
fn podman_missing_command(runtime: Runtime) {
    require_root();
    let podman = Podman::new(runtime);
    podman
        .run_container(&["--rm", IMAGE, "/nonexistent"])
        .code_is(127)
        .stderr_has("/nonexistent");
    podman
        .run_container(&["--rm", IMAGE, "nosuchcommand"])
        .code_is(127)
        .stderr_has("nosuchcommand");
    // A file that is there but not executable: 126.
    podman
        .run_container(&["--rm", IMAGE, "/etc/passwd"])
        .code_is(126)
        .stderr_has("permission denied");
    assert_eq!(podman.all_ids(), Vec::<String>::new());
}
both_runtimes!(podman_missing_command);

/// `--memory 64m`: the limit is set on the container's cgroup (read from
/// the host), and the container sees its own cgroup's limit at
/// /sys/fs/cgroup/memory, as runc mounts it.
fn podman_memory_limit(runtime: Runtime) {
    require_root();
    let podman = Podman::new(runtime);
    let name = format!("{}-mem", podman.sandbox.name);
    podman
        .run_container(&[
            "-d", "--memory", "64m", "--name", &name, IMAGE, "sleep", "1000",
        ])
        .ok();
    let pid: u32 = podman
        .inspect(&name, "{{.State.Pid}}")
        .parse()
        .expect("container pid");
    assert_eq!(host_memory_limit(pid), MEMORY_LIMIT, "limit on the host");
    podman
        .run(&["exec", &name, "cat", container_memory_limit_file()])
        .ok()
        .stdout_is(MEMORY_LIMIT);
    podman.run(&["rm", "-f", "-t", "0", &name]).ok();
    assert_eq!(podman.all_ids(), Vec::<String>::new());
}
both_runtimes!(podman_memory_limit);

/// `podman run -d`, then `exec` (output, exit code, user and cwd), `stop`
/// (SIGTERM reaches the container's trap), `start`, `kill` (SIGKILL),
/// `start`, `rm -f`; the runtime's state and the container's cgroups go.
fn podman_detached_lifecycle(runtime: Runtime) {
    require_root();
    let podman = Podman::new(runtime);
    let name = format!("{}-life", podman.sandbox.name);
    let id = podman
        .run_container(&["-d", "--name", &name, IMAGE, "sh", "-c", TRAP_SCRIPT])
        .ok()
        .stdout();
    let wait_for_trap = || {
        wait_until("the container's SIGTERM trap", READY_TIMEOUT, || {
            sigterm_caught(
                &podman
                    .run(&["exec", &name, "cat", "/proc/1/status"])
                    .ok()
                    .stdout(),
            )
        })
    };
    wait_for_trap();
    podman
        .run(&["exec", &name, "sh", "-c", STREAMS_SCRIPT])
        .code_is(42)
        .stdout_is("out")
        .stderr_has("err");
    podman
        .run(&[
            "exec",
            "-u",
            "1000",
            "-w",
            "/tmp",
            &name,
            "sh",
            "-c",
            USER_CWD_SCRIPT,
        ])
        .ok()
        .stdout_is("1000\n/tmp");

    podman.run(&["stop", "-t", "30", &name]).ok();
    assert_eq!(podman.inspect(&name, "{{.State.Status}}"), "exited");
    assert_eq!(
        podman.inspect(&name, "{{.State.ExitCode}}"),
        TRAP_EXIT.to_string()
    );

    podman.run(&["start", &name]).ok();
    wait_for_trap();
    podman.run(&["kill", &name]).ok();
    wait_until("podman kill to end the container", READY_TIMEOUT, || {
        podman.inspect(&name, "{{.State.Status}}") == "exited"
    });
    assert_eq!(podman.inspect(&name, "{{.State.ExitCode}}"), "137");

    podman.run(&["start", &name]).ok();
    wait_for_trap();
    podman.run(&["rm", "-f", "-t", "0", &name]).ok();
    assert_eq!(podman.all_ids(), Vec::<String>::new());
    let state = runtime.default_root().join(&id);
    assert!(!state.exists(), "runtime state left at {}", state.display());
    assert_eq!(
        podman.sandbox.cgroups_named(&id),
        Vec::<std::path::PathBuf>::new()
    );
}
both_runtimes!(podman_detached_lifecycle);

// ---------------------------------------------------------------------------
// containerd
// ---------------------------------------------------------------------------

/// `ctr run --rm`: output and exit code through the runc shim, and nothing
/// left (container record, runtime state, cgroup).
fn containerd_run_rm(runtime: Runtime) {
    require_root();
    let engine = ContainerdEngine::new(runtime);
    let id = format!("{}-echo", engine.sandbox.name);
    engine
        .run(&["--rm"], &id, &["echo", "hi"])
        .ok()
        .stdout_is("hi");
    let id2 = format!("{}-streams", engine.sandbox.name);
    engine
        .run(&["--rm"], &id2, &["sh", "-c", STREAMS_SCRIPT])
        .code_is(42)
        .stdout_is("out")
        .stderr_has("err");
    // ctr run (not detached) always attaches stdin; it does not pass on
    // EOF, so the container reads one line rather than to the end.
    let id3 = format!("{}-stdin", engine.sandbox.name);
    Ran::with_input(
        &mut engine.run_command(
            &["--rm"],
            &id3,
            &["sh", "-c", "read line; echo \"got $line\""],
        ),
        Some(STDIN_TEXT.as_bytes()),
    )
    .ok()
    .stdout_is("got piped in");
    assert_containerd_clean(&engine, &[&id, &id2, &id3]);
}
both_runtimes!(containerd_run_rm);

/// A command that does not exist, and one that is not executable: the task
/// cannot be created, and ctr reports the runtime's error (which the shim
/// reads from the runtime's --log file).
fn containerd_missing_command(runtime: Runtime) {
    require_root();
    let engine = ContainerdEngine::new(runtime);
    let id = format!("{}-missing", engine.sandbox.name);
    let ran = engine.run(&["--rm"], &id, &["/nonexistent"]);
    assert_ne!(ran.code(), 0, "ctr run of /nonexistent succeeded");
    ran.stderr_has("/nonexistent");
    let id2 = format!("{}-noexec", engine.sandbox.name);
    let ran = engine.run(&["--rm"], &id2, &["/etc/passwd"]);
    assert_ne!(ran.code(), 0, "ctr run of /etc/passwd succeeded");
    ran.stderr_has("permission denied");
    assert_containerd_clean(&engine, &[&id, &id2]);
}
both_runtimes!(containerd_missing_command);

/// `ctr run -d`, `ctr task exec`, `ps`, `pause`/`resume`, `kill` (SIGTERM
/// reaches the trap), a restarted task killed with SIGKILL, then cleanup.
fn containerd_detached_exec_kill(runtime: Runtime) {
    require_root();
    let engine = ContainerdEngine::new(runtime);
    let id = format!("{}-life", engine.sandbox.name);
    engine.run(&["-d"], &id, &["sh", "-c", TRAP_SCRIPT]).ok();
    let mut execs = 0;
    let mut wait_for_trap = || {
        wait_until("the container's SIGTERM trap", READY_TIMEOUT, || {
            execs += 1;
            let exec_id = format!("ready{execs}");
            sigterm_caught(
                &engine
                    .exec(&id, &exec_id, &["cat", "/proc/1/status"])
                    .ok()
                    .stdout(),
            )
        })
    };
    wait_for_trap();
    engine
        .exec(&id, "streams", &["sh", "-c", STREAMS_SCRIPT])
        .code_is(42)
        .stdout_is("out")
        .stderr_has("err");

    let pid = engine.task_pid(&id);
    let ps = engine.containerd.ctr(&["task", "ps", &id]).ok().stdout();
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().next() == Some(&pid.to_string())),
        "ctr task ps lacks the init pid {pid}: {ps}"
    );
    engine.containerd.ctr(&["task", "pause", &id]).ok();
    assert_eq!(engine.task_status(&id).as_deref(), Some("PAUSED"));
    engine.containerd.ctr(&["task", "resume", &id]).ok();
    assert_eq!(engine.task_status(&id).as_deref(), Some("RUNNING"));

    engine.containerd.ctr(&["task", "kill", &id]).ok();
    wait_until("ctr task kill to stop the task", READY_TIMEOUT, || {
        engine.task_status(&id).as_deref() == Some("STOPPED")
    });
    // ctr 1.6 reports a non-zero exit status only as this warning.
    engine
        .containerd
        .ctr(&["task", "rm", &id])
        .ok()
        .stderr_has(&format!("exit code {TRAP_EXIT}"));

    let fifo = engine.containerd.fifo_dir();
    engine
        .containerd
        .ctr(&[
            "task",
            "start",
            "-d",
            "--fifo-dir",
            fifo.to_str().unwrap(),
            &id,
        ])
        .ok();
    wait_for_trap();
    engine
        .containerd
        .ctr(&["task", "kill", "-s", "SIGKILL", &id])
        .ok();
    wait_until("SIGKILL to stop the task", READY_TIMEOUT, || {
        engine.task_status(&id).as_deref() == Some("STOPPED")
    });
    engine
        .containerd
        .ctr(&["task", "rm", &id])
        .ok()
        .stderr_has("exit code 137");
    engine.containerd.ctr(&["containers", "rm", &id]).ok();
    assert_containerd_clean(&engine, &[&id]);
}
both_runtimes!(containerd_detached_exec_kill);

/// No container records, no runtime state, no cgroups left for `ids`.
fn assert_containerd_clean(engine: &ContainerdEngine, ids: &[&str]) {
    let left = engine
        .containerd
        .ctr(&["containers", "ls", "-q"])
        .ok()
        .stdout();
    assert_eq!(left, "", "containers left in containerd");
    let state = engine.containerd.runtime_root().join("default");
    for id in ids {
        let dir = state.join(id);
        assert!(!dir.exists(), "runtime state left at {}", dir.display());
        assert_eq!(
            engine.sandbox.cgroups_named(id),
            Vec::<std::path::PathBuf>::new()
        );
    }
}

// ---------------------------------------------------------------------------
// dockerd
// ---------------------------------------------------------------------------

/// `docker run --rm --runtime NAME --network none`: output and exit code,
/// and nothing left.
fn docker_run_rm(runtime: Runtime) {
    require_root();
    let dockerd = Dockerd::new(runtime);
    dockerd
        .run_container(&["--rm", IMAGE, "echo", "hi"])
        .ok()
        .stdout_is("hi");
    dockerd
        .run_container(&["--rm", IMAGE, "sh", "-c", STREAMS_SCRIPT])
        .code_is(42)
        .stdout_is("out")
        .stderr_has("err");
    let left = dockerd.docker(&["ps", "-a", "-q"]).ok().stdout();
    assert_eq!(left, "", "docker run --rm left containers");
}
both_runtimes!(docker_run_rm);

/// stdio as docker users have it: `-i` (stdin piped through the shim) and
/// `-t` (a pty from the runtime's --console-socket).
fn docker_stdio(runtime: Runtime) {
    require_root();
    let dockerd = Dockerd::new(runtime);
    Ran::with_input(
        &mut dockerd.container_command(&["--rm", "-i", IMAGE, "cat"]),
        Some(STDIN_TEXT.as_bytes()),
    )
    .ok()
    .stdout_is(STDIN_TEXT.trim_end());
    dockerd
        .run_container(&["--rm", "-t", IMAGE, "tty"])
        .ok()
        .stdout_is("/dev/pts/0");
    let left = dockerd.docker(&["ps", "-a", "-q"]).ok().stdout();
    assert_eq!(left, "");
}
both_runtimes!(docker_stdio);

/// A command that does not exist: docker reports the runtime's error and
/// exits 127, as with runc; one that is not executable: 126. (dockerd picks
/// the code from the runtime's error text.)
fn docker_missing_command(runtime: Runtime) {
    require_root();
    let dockerd = Dockerd::new(runtime);
    dockerd
        .run_container(&["--rm", IMAGE, "/nonexistent"])
        .code_is(127)
        .stderr_has("/nonexistent");
    dockerd
        .run_container(&["--rm", IMAGE, "/etc/passwd"])
        .code_is(126)
        .stderr_has("permission denied");
    let left = dockerd.docker(&["ps", "-a", "-q"]).ok().stdout();
    assert_eq!(left, "");
}
both_runtimes!(docker_missing_command);

/// `docker run -d --memory 64m`, `exec` (output, exit code, user, cwd),
/// `stop` (SIGTERM reaches the trap), `start`, `kill`, `start`, `rm -f`.
fn docker_detached_exec_rm(runtime: Runtime) {
    require_root();
    let dockerd = Dockerd::new(runtime);
    let name = format!("{}-life", dockerd.sandbox.name);
    let id = dockerd
        .run_container(&[
            "-d",
            "--memory",
            "64m",
            "--name",
            &name,
            IMAGE,
            "sh",
            "-c",
            TRAP_SCRIPT,
        ])
        .ok()
        .stdout();
    let wait_for_trap = || {
        wait_until("the container's SIGTERM trap", READY_TIMEOUT, || {
            sigterm_caught(
                &dockerd
                    .docker(&["exec", &name, "cat", "/proc/1/status"])
                    .ok()
                    .stdout(),
            )
        })
    };
    let inspect = |format: &str| {
        dockerd
            .docker(&["inspect", "-f", format, &name])
            .ok()
            .stdout()
    };
    wait_for_trap();
    dockerd
        .docker(&["exec", &name, "sh", "-c", STREAMS_SCRIPT])
        .code_is(42)
        .stdout_is("out")
        .stderr_has("err");
    dockerd
        .docker(&[
            "exec",
            "-u",
            "1000",
            "-w",
            "/tmp",
            &name,
            "sh",
            "-c",
            USER_CWD_SCRIPT,
        ])
        .ok()
        .stdout_is("1000\n/tmp");
    let pid: u32 = inspect("{{.State.Pid}}").parse().expect("container pid");
    assert_eq!(host_memory_limit(pid), MEMORY_LIMIT, "limit on the host");

    dockerd.docker(&["stop", "-t", "30", &name]).ok();
    assert_eq!(inspect("{{.State.ExitCode}}"), TRAP_EXIT.to_string());

    dockerd.docker(&["start", &name]).ok();
    wait_for_trap();
    dockerd.docker(&["kill", &name]).ok();
    wait_until("docker kill to end the container", READY_TIMEOUT, || {
        inspect("{{.State.Running}}") == "false"
    });
    assert_eq!(inspect("{{.State.ExitCode}}"), "137");

    dockerd.docker(&["start", &name]).ok();
    wait_for_trap();
    dockerd.docker(&["rm", "-f", &name]).ok();
    let left = dockerd.docker(&["ps", "-a", "-q"]).ok().stdout();
    assert_eq!(left, "", "docker rm -f left containers");
    let state = dockerd.runtime_root().join(&id);
    assert!(!state.exists(), "runtime state left at {}", state.display());
    assert_eq!(
        dockerd.sandbox.cgroups_named(&id),
        Vec::<std::path::PathBuf>::new()
    );
}
both_runtimes!(docker_detached_exec_rm);

/// Mounts as docker users ask for them: a read-write bind volume (writes
/// reach the host), a read-only one (`:ro`: writes fail, nothing reaches the
/// host), a read-only rootfs (`--read-only`, which also makes docker's
/// /etc/hosts, /etc/hostname and /etc/resolv.conf binds read-only) and a
/// `--tmpfs` mount on it.
fn docker_mounts(runtime: Runtime) {
    require_root();
    let dockerd = Dockerd::new(runtime);
    let vol = dockerd.sandbox.path("vol");
    std::fs::create_dir_all(&vol).expect("mkdir volume");
    std::fs::write(vol.join("f"), "data\n").expect("write volume file");
    let rw = format!("{}:/data", vol.display());
    dockerd
        .run_container(&[
            "--rm",
            "-v",
            &rw,
            IMAGE,
            "sh",
            "-c",
            "cat /data/f; echo new > /data/g",
        ])
        .ok()
        .stdout_is("data");
    assert_eq!(
        std::fs::read_to_string(vol.join("g")).unwrap_or_default(),
        "new\n"
    );

    let ro = format!("{}:/data:ro", vol.display());
    dockerd
        .run_container(&[
            "--rm",
            "-v",
            &ro,
            IMAGE,
            "sh",
            "-c",
            "cat /data/f; touch /data/x",
        ])
        .code_is(1)
        .stdout_is("data")
        .stderr_has("Read-only file system");
    assert!(!vol.join("x").exists(), "a write went through a :ro volume");

    dockerd
        .run_container(&["--rm", "--read-only", IMAGE, "touch", "/x"])
        .code_is(1)
        .stderr_has("Read-only file system");
    dockerd
        .run_container(&[
            "--rm",
            "--read-only",
            "--tmpfs",
            "/scratch",
            IMAGE,
            "sh",
            "-c",
            "touch /scratch/x && echo ok",
        ])
        .ok()
        .stdout_is("ok");
}
both_runtimes!(docker_mounts);

/// What dockerd asks of the runtime beyond the lifecycle: `pause` and
/// `unpause` (runtime pause/resume: the freezer), `top` (the shim asks the
/// runtime's `ps` for the pids) and `update --memory` (runtime update), seen
/// from the host's cgroup files.
fn docker_pause_top_update(runtime: Runtime) {
    require_root();
    let dockerd = Dockerd::new(runtime);
    let name = format!("{}-ops", dockerd.sandbox.name);
    dockerd
        .run_container(&[
            "-d", "--memory", "64m", "--name", &name, IMAGE, "sleep", "1000",
        ])
        .ok();
    let inspect = |format: &str| {
        dockerd
            .docker(&["inspect", "-f", format, &name])
            .ok()
            .stdout()
    };
    let pid: u32 = inspect("{{.State.Pid}}").parse().expect("container pid");

    dockerd.docker(&["pause", &name]).ok();
    assert_eq!(inspect("{{.State.Status}}"), "paused");
    assert!(
        host_frozen(pid),
        "the paused container's cgroup is not frozen"
    );
    dockerd.docker(&["unpause", &name]).ok();
    assert_eq!(inspect("{{.State.Status}}"), "running");
    assert!(
        !host_frozen(pid),
        "the unpaused container's cgroup is still frozen"
    );

    let top = dockerd.docker(&["top", &name]).ok().stdout();
    assert!(
        top.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(&pid.to_string())),
        "docker top lacks the container's pid {pid}: {top}"
    );

    dockerd
        .docker(&["update", "--memory", "128m", "--memory-swap", "256m", &name])
        .ok();
    assert_eq!(host_memory_limit(pid), "134217728", "limit after update");
    dockerd.docker(&["rm", "-f", &name]).ok();
}
both_runtimes!(docker_pause_top_update);

/// `podman pause` / `unpause` (runtime pause/resume), seen from the
/// container's freezer cgroup on the host.
fn podman_pause(runtime: Runtime) {
    require_root();
    let podman = Podman::new(runtime);
    let name = format!("{}-pause", podman.sandbox.name);
    podman
        .run_container(&["-d", "--name", &name, IMAGE, "sleep", "1000"])
        .ok();
    let pid: u32 = podman
        .inspect(&name, "{{.State.Pid}}")
        .parse()
        .expect("container pid");
    podman.run(&["pause", &name]).ok();
    assert_eq!(podman.inspect(&name, "{{.State.Status}}"), "paused");
    assert!(
        host_frozen(pid),
        "the paused container's cgroup is not frozen"
    );
    podman.run(&["unpause", &name]).ok();
    assert_eq!(podman.inspect(&name, "{{.State.Status}}"), "running");
    assert!(
        !host_frozen(pid),
        "the unpaused container's cgroup is still frozen"
    );
    podman.run(&["rm", "-f", "-t", "0", &name]).ok();
    assert_eq!(podman.all_ids(), Vec::<String>::new());
}
both_runtimes!(podman_pause);

/// `--memory`, `--pids-limit` and `--cpus` reach the container's cgroup,
/// read from the host.
fn docker_cgroup_limits(runtime: Runtime) {
    require_root();
    let dockerd = Dockerd::new(runtime);
    let name = format!("{}-limits", dockerd.sandbox.name);
    dockerd
        .run_container(&[
            "-d",
            "--memory",
            "64m",
            "--pids-limit",
            "10",
            "--cpus",
            "0.5",
            "--name",
            &name,
            IMAGE,
            "sleep",
            "1000",
        ])
        .ok();
    let pid: u32 = dockerd
        .docker(&["inspect", "-f", "{{.State.Pid}}", &name])
        .ok()
        .stdout()
        .parse()
        .expect("container pid");
    assert_eq!(host_memory_limit(pid), MEMORY_LIMIT);
    assert_eq!(host_cgroup_file(pid, "pids", "pids.max", "pids.max"), "10");
    let quota = host_cgroup_file(pid, "cpu", "cpu.cfs_quota_us", "cpu.max");
    let want = if host_has_cgroup_v1() {
        "50000"
    } else {
        "50000 100000"
    };
    assert_eq!(quota, want, "--cpus 0.5");
    dockerd.docker(&["rm", "-f", &name]).ok();
}
both_runtimes!(docker_cgroup_limits);

/// What a container sees of its own cgroup limits under /sys/fs/cgroup: on
/// a v1 host without a cgroup namespace (docker's default there), runc
/// bind-mounts the container's own cgroup of each hierarchy, so the files at
/// the hierarchy roots are the container's.
fn docker_cgroup_view(runtime: Runtime) {
    require_root();
    let dockerd = Dockerd::new(runtime);
    let script = if host_has_cgroup_v1() {
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
    } else {
        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
    };
    dockerd
        .run_container(&[
            "--rm",
            "--memory",
            "64m",
            "--pids-limit",
            "10",
            IMAGE,
            "sh",
            "-c",
            script,
        ])
        .ok()
        .stdout_is(&format!("{MEMORY_LIMIT}\n10"));
}
both_runtimes!(docker_cgroup_view);

/// More of what dockerd does through the runtime: an OOM kill under
/// `--memory 8m` (exit 137, OOMKilled, from the cgroup the runtime made),
/// `--restart on-failure:2` (the runtime creates the container again),
/// `exec -t` (a pty through --console-socket) and `exec -d`.
fn docker_oom_restart_exec(runtime: Runtime) {
    require_root();
    let dockerd = Dockerd::new(runtime);
    let inspect = |name: &str, format: &str| {
        dockerd
            .docker(&["inspect", "-f", format, name])
            .ok()
            .stdout()
    };

    let hog = format!("{}-hog", dockerd.sandbox.name);
    dockerd
        .run_container(&[
            "-d",
            "--memory",
            "8m",
            "--memory-swap",
            "8m",
            "--name",
            &hog,
            IMAGE,
            "sh",
            "-c",
            // The shim watches the cgroup for OOM only once the runtime's
            // `start` has returned; a hog that fills 8 MiB in microseconds
            // is killed before that and dockerd never hears of it (with
            // runc too). A second's pause lets the watch be in place.
            "sleep 1; x=a; while true; do x=$x$x; done",
        ])
        .ok();
    dockerd.docker(&["wait", &hog]).ok().stdout_is("137");
    assert_eq!(inspect(&hog, "{{.State.OOMKilled}}"), "true");

    let flaky = format!("{}-flaky", dockerd.sandbox.name);
    dockerd
        .run_container(&[
            "-d",
            "--restart",
            "on-failure:2",
            "--name",
            &flaky,
            IMAGE,
            "sh",
            "-c",
            "exit 3",
        ])
        .ok();
    wait_until(
        "two restarts, then the end",
        Duration::from_secs(60),
        || inspect(&flaky, "{{.RestartCount}} {{.State.Running}}") == "2 false",
    );
    assert_eq!(inspect(&flaky, "{{.State.ExitCode}}"), "3");

    let name = format!("{}-exec", dockerd.sandbox.name);
    dockerd
        .run_container(&["-d", "--name", &name, IMAGE, "sleep", "1000"])
        .ok();
    dockerd
        .docker(&["exec", "-t", &name, "tty"])
        .ok()
        .stdout_is("/dev/pts/0");
    dockerd.docker(&["exec", "-d", &name, "sleep", "3000"]).ok();
    wait_until("the detached exec in docker top", READY_TIMEOUT, || {
        dockerd
            .docker(&["top", &name])
            .ok()
            .stdout()
            .contains("sleep 3000")
    });
    for n in [&hog, &flaky, &name] {
        dockerd.docker(&["rm", "-f", n]).ok();
    }
}
both_runtimes!(docker_oom_restart_exec);

/// A user namespace as podman sets it up (`--uidmap`/`--gidmap`: podman
/// chowns the image for the mapping, the runtime writes the maps): root in
/// the container is uid 100000 outside, and the image's files are the
/// container root's.
fn podman_userns(runtime: Runtime) {
    require_root();
    let podman = Podman::new(runtime);
    podman
        .run_container(&[
            "--rm",
            "--uidmap",
            "0:100000:65536",
            "--gidmap",
            "0:100000:65536",
            IMAGE,
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox",
        ])
        .ok()
        .stdout_is("         0     100000      65536\n         0     100000      65536\n0\n0");
}
both_runtimes!(podman_userns);

/// Mounts as podman users ask for them: a read-write bind volume, a
/// read-only one (`:ro`), a read-only rootfs (`--read-only`, with podman's
/// writable tmpfs on /tmp) and a `--tmpfs` mount.
fn podman_mounts(runtime: Runtime) {
    require_root();
    let podman = Podman::new(runtime);
    let vol = podman.sandbox.path("vol");
    std::fs::create_dir_all(&vol).expect("mkdir volume");
    std::fs::write(vol.join("f"), "data\n").expect("write volume file");
    let rw = format!("{}:/data", vol.display());
    podman
        .run_container(&[
            "--rm",
            "-v",
            &rw,
            IMAGE,
            "sh",
            "-c",
            "cat /data/f; echo new > /data/g",
        ])
        .ok()
        .stdout_is("data");
    assert_eq!(
        std::fs::read_to_string(vol.join("g")).unwrap_or_default(),
        "new\n"
    );

    let ro = format!("{}:/data:ro", vol.display());
    podman
        .run_container(&[
            "--rm",
            "-v",
            &ro,
            IMAGE,
            "sh",
            "-c",
            "cat /data/f; touch /data/x",
        ])
        .code_is(1)
        .stdout_is("data")
        .stderr_has("Read-only file system");
    assert!(!vol.join("x").exists(), "a write went through a :ro volume");

    podman
        .run_container(&[
            "--rm",
            "--read-only",
            IMAGE,
            "sh",
            "-c",
            "touch /tmp/ok && touch /x",
        ])
        .code_is(1)
        .stderr_has("Read-only file system");
    podman
        .run_container(&[
            "--rm",
            "--read-only",
            "--tmpfs",
            "/scratch",
            IMAGE,
            "sh",
            "-c",
            "touch /scratch/x && echo ok",
        ])
        .ok()
        .stdout_is("ok");
    assert_eq!(podman.all_ids(), Vec::<String>::new());
}
both_runtimes!(podman_mounts);
