//! The container's init, from the clone in `create` to the execve of the
//! user's program. It runs in the child, single-threaded; any failure is
//! sent to the parent over the sync socket and the child exits.
//!
//! Order (runtime-spec `runtime.md#lifecycle`, and runc's standard init):
//! wait for the parent's id maps and cgroup; join/unshare the remaining
//! namespaces; hostname; rootfs (mounts, devices), createRuntime hooks (by the
//! parent) and createContainer hooks, pivot_root; console; sysctls, masked and
//! read-only paths; rlimits and oom score; mark every fd but stdio and
//! preserved ones close-on-exec; seccomp without no_new_privs (needs
//! CAP_SYS_ADMIN); user, groups, cwd and capabilities; find the program as
//! that user; report ready; wait on the exec FIFO for `start`;
//! startContainer hooks; seccomp with no_new_privs; execve.
//!
//! No failure is lost: until "ready" it goes over the sync socket to
//! `create`, afterwards into the exec FIFO to `start` (see [`Report`]).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use berth_oci::{ContainerStatus, Spec, State};

use crate::error::{Context, Error, Result};
use crate::namespaces::NamespacePlan;
use crate::process::{self, ExecPlan};
use crate::{console, hooks, rootfs, seccomp, sync, sys};

/// What the child needs, prepared by the parent before clone.
pub struct InitContext<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub plan: &'a NamespacePlan,
    pub sync: OwnedFd,
    /// O_PATH fd of the exec FIFO, reopened for writing after pivot_root.
    pub fifo: OwnedFd,
    pub console_socket: Option<OwnedFd>,
    pub preserve_fds: i32,
    pub no_pivot: bool,
    /// Set when the caller passed systemd socket-activation fds (LISTEN_FDS).
    pub listen_fds: Option<i32>,
    pub seccomp: Option<berth_seccomp::Filter>,
    /// The container's cgroup below each hierarchy's root, for /sys/fs/cgroup.
    pub cgroup: Option<String>,
    /// `--no-new-keyring`: keep the caller's session keyring.
    pub no_new_keyring: bool,
    /// The runtime sends the bind mount sources
    /// (`mounts::runtime_opens_bind_sources`, decided before the clone: in
    /// the new user namespace, before its maps, our euid is the overflow id).
    pub bind_sources: bool,
}

/// Where a failure of the init goes: the caller of `create` reads the sync
/// socket until the init reports ready; from then on only `start` is
/// listening, on the exec FIFO; in between (the FIFO's open) nobody is, and
/// the message goes to the init's stderr as runc's does.
enum Report {
    Sync,
    Stderr,
    Fifo(OwnedFd),
}

impl Report {
    /// Delivers `msg`; a channel that fails falls back to stderr, so a
    /// failure is never silent.
    fn deliver(&self, sync_fd: libc::c_int, msg: &str) {
        let sent = match self {
            Report::Sync => sync::send(sync_fd, sync::ERROR, msg.as_bytes()).is_ok(),
            // After the "0" that released `start`: the rest of what `start`
            // reads before end-of-file is the error.
            Report::Fifo(fd) => sys::write_all(fd.as_raw_fd(), msg.as_bytes()).is_ok(),
            Report::Stderr => false,
        };
        if !sent {
            let line = format!("berth-runtime init: {msg}\n");
            let _ = sys::write_all(2, line.as_bytes());
        }
    }
}

/// Runs the init; never returns.
pub fn run(ctx: InitContext) -> ! {
    let mut report = Report::Sync;
    let err = match init(&ctx, &mut report) {
        Ok(()) => unreachable!("init returns only with an error"),
        Err(e) => e,
    };
    report.deliver(ctx.sync.as_raw_fd(), &err.to_string());
    unsafe { libc::_exit(1) }
}

fn init(ctx: &InitContext, report: &mut Report) -> Result<()> {
    crate::signals::reset_dispositions();
    let spec = ctx.spec;
    let sock = ctx.sync.as_raw_fd();
    let process = spec
        .process
        .as_ref()
        .ok_or_else(|| Error::Invalid("config.json has no process".into()))?;
    // Nothing in the container may ptrace us or open our /proc files while we
    // hold host fds; execve makes the process dumpable again. An
    // unprivileged parent must still write our id maps (it owns /proc/<pid>
    // files only while we are dumpable): then we wait for it first.
    let parent_writes_maps = ctx.plan.new_user && unsafe { libc::geteuid() } != 0;
    if !parent_writes_maps {
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    }
    // Bind sources the runtime opened for us (mounts::send_bind_sources)
    // come before GO; they are closed once the mounts are made.
    let source_fds = match ctx.bind_sources {
        true => crate::mounts::recv_bind_sources(spec, sock)?,
        false => Vec::new(),
    };
    if !sync::expect(sock, sync::GO, "wait for parent")? {
        return Err(Error::Container("parent went away during create".into()));
    }
    if parent_writes_maps {
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    }
    if ctx.plan.new_user {
        sys::check(unsafe { libc::setresgid(0, 0, 0) })
            .context(|| "setgid 0 in user namespace".into())?;
        sys::check(unsafe { libc::setresuid(0, 0, 0) })
            .context(|| "setuid 0 in user namespace".into())?;
    }
    for j in &ctx.plan.child_joins {
        j.join()?;
    }
    if ctx.plan.child_unshare != 0 {
        sys::unshare(ctx.plan.child_unshare).context(|| "unshare namespaces".into())?;
    }
    if !ctx.no_new_keyring {
        join_session_keyring(ctx.id)?;
    }
    let has_uts = spec.namespace(berth_oci::NamespaceType::Uts).is_some();
    if let Some(h) = &spec.hostname {
        if !has_uts {
            return Err(Error::Invalid(
                "hostname is set but there is no uts namespace".into(),
            ));
        }
        sys::check(unsafe { libc::sethostname(h.as_ptr().cast(), h.len()) })
            .context(|| format!("sethostname {h:?}"))?;
    }
    if let Some(d) = &spec.domainname {
        if !has_uts {
            return Err(Error::Invalid(
                "domainname is set but there is no uts namespace".into(),
            ));
        }
        sys::check(unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) })
            .context(|| format!("setdomainname {d:?}"))?;
    }
    let in_user_ns = spec.namespace(berth_oci::NamespaceType::User).is_some();
    let mount_ctx = crate::mounts::MountContext {
        bundle: &ctx.bundle,
        cgroup: ctx.cgroup.as_deref(),
        cgroupns: spec.namespace(berth_oci::NamespaceType::Cgroup).is_some(),
        source_fds: &source_fds,
    };
    rootfs::prepare(spec, &ctx.rootfs, &mount_ctx, in_user_ns)?;
    // No host fd stays open longer than it is needed.
    drop(source_fds);
    let spec_hooks = spec.hooks.as_ref();
    if spec_hooks.is_some_and(|h| !h.create_runtime.is_empty() || !h.prestart.is_empty()) {
        sync::send(sock, sync::HOOKS, b"")?;
        if !sync::expect(sock, sync::GO, "wait for createRuntime hooks")? {
            return Err(Error::Container("parent went away during hooks".into()));
        }
    }
    if let Some(h) = spec_hooks.filter(|h| !h.create_container.is_empty()) {
        let state = State {
            oci_version: berth_oci::OCI_VERSION.into(),
            id: ctx.id.into(),
            status: ContainerStatus::Creating,
            pid: Some(unsafe { libc::getpid() }),
            bundle: ctx.bundle.display().to_string(),
            annotations: spec.annotations.clone(),
        };
        hooks::run_all("createContainer", &h.create_container, &state)?;
    }
    let own_mount_ns = spec.namespace(berth_oci::NamespaceType::Mount).is_some();
    if own_mount_ns {
        rootfs::enter(&ctx.rootfs, ctx.no_pivot)?;
    } else {
        rootfs::enter_without_mount_ns(&ctx.rootfs)?;
    }
    if process.terminal {
        let socket = ctx.console_socket.as_ref().ok_or_else(|| {
            Error::Invalid("process.terminal is true but no --console-socket was given".into())
        })?;
        console::setup(socket.as_raw_fd(), process.console_size, true)?;
    }
    if own_mount_ns {
        rootfs::finalize(spec)?;
    } else {
        rootfs::finalize_without_mount_ns(spec)?;
    }
    process::set_oom_score_adj(process.oom_score_adj)?;
    process::apply_rlimits(&process.rlimits)?;
    let setgroups_allowed = std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    // Every fd but stdio and the preserved ones becomes close-on-exec before
    // any seccomp filter: a strict profile may deny close_range, and no host
    // fd may reach the container (CVE-2024-21626). Whatever the init opens
    // later is opened close-on-exec.
    sys::cloexec_from(3 + ctx.preserve_fds).context(|| "close inherited fds".into())?;
    if !process.no_new_privileges {
        if let Some(f) = &ctx.seccomp {
            seccomp::install(f, sock)?;
        }
    }
    console::give_stdio_to(process.user.uid)?;
    process::become_user(process, setgroups_allowed)?;
    // The program is looked up as the process's user, from its cwd, as
    // runc does: a file the user may not execute fails `create`.
    let mut plan = ExecPlan::new(process)?;
    if let Some(n) = ctx.listen_fds {
        let pid = unsafe { libc::getpid() };
        plan.envp
            .push(std::ffi::CString::new(format!("LISTEN_FDS={n}")).expect("no NUL"));
        plan.envp
            .push(std::ffi::CString::new(format!("LISTEN_PID={pid}")).expect("no NUL"));
    }
    process::set_no_new_privs(process.no_new_privileges)?;
    // A filter that notifies goes in while `create` still listens: it hands
    // the listener to the seccomp agent (runc 1.1 installs both kinds before
    // its create returns).
    if process.no_new_privileges {
        if let Some(f) = ctx.seccomp.as_ref().filter(|f| f.notifies()) {
            seccomp::install(f, sock)?;
        }
    }
    sync::send(sock, sync::READY, b"")?;
    // `create` has returned: until the FIFO is open, a failure can only go
    // to stderr.
    *report = Report::Stderr;
    // Held open (close-on-exec) until the execve below: `start` reads the
    // fifo to its end, so it returns, and runs poststart hooks, only once
    // the user process runs (runtime-spec: startContainer hooks, then the
    // process, then poststart). A failure from here on is written into it,
    // and `start` reports it.
    *report = Report::Fifo(wait_for_start(&ctx.fifo)?);
    if let Some(h) = spec_hooks.filter(|h| !h.start_container.is_empty()) {
        let state = State {
            oci_version: berth_oci::OCI_VERSION.into(),
            id: ctx.id.into(),
            status: ContainerStatus::Running,
            pid: Some(unsafe { libc::getpid() }),
            bundle: ctx.bundle.display().to_string(),
            annotations: spec.annotations.clone(),
        };
        hooks::run_all("startContainer", &h.start_container, &state)?;
    }
    // With no_new_privs the filter comes last, so only execve runs under it.
    if process.no_new_privileges {
        if let Some(f) = ctx.seccomp.as_ref().filter(|f| !f.notifies()) {
            f.install()?;
        }
    }
    Err(plan.exec())
}

/// Gives the container a session keyring of its own (`_ses.<id>`, as runc),
/// so it cannot see or use the keys of whoever started it. Kernels without
/// keyrings (ENOSYS) are fine.
fn join_session_keyring(id: &str) -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = std::ffi::CString::new(format!("_ses.{id}")).expect("ids have no NUL");
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOSYS) {
            return Err(e).context(|| format!("join session keyring _ses.{id}"));
        }
    }
    Ok(())
}

/// Blocks until `start` opens the FIFO for reading, then tells it we go on.
/// The FIFO is reopened for writing through our own /proc/self/fd (the
/// container's /proc by now): opening a FIFO for writing blocks until a reader
/// comes, which is the whole create/start split.
fn wait_for_start(fifo: &OwnedFd) -> Result<OwnedFd> {
    let path = sys::fd_path(fifo.as_raw_fd());
    let fd = sys::openat(libc::AT_FDCWD, &path, libc::O_WRONLY, 0)
        .context(|| "open exec fifo (is /proc mounted in the container?)".into())?;
    sys::write_all(fd.as_raw_fd(), b"0").context(|| "write exec fifo".into())?;
    Ok(fd)
}
