//! `exec [flags] ID [COMMAND [ARG...]]`: run another process in a running
//! container.
//!
//! The runtime joins the container's ipc, uts, net, pid, cgroup and time
//! namespaces itself (they change nothing it needs), clones one child
//! (which is then inside the container's pid namespace, and starts in its
//! cgroup), and the child joins the user and mount namespaces, then becomes
//! the process like the init does. The sync socket is close-on-exec: EOF
//! means the execve succeeded. Without `--detach` the runtime waits for the
//! process, forwarding signals (or proxying its terminal, for `--tty`
//! without a console socket: [`crate::terminal`]), and returns its exit code.

use std::os::fd::{AsRawFd, OwnedFd};

use berth_oci::{ContainerStatus, NamespaceType, Process, State};

use crate::cli::Parsed;
use crate::commands::create::write_pid_file;
use crate::container::ContainerRecord;
use crate::error::{Context, Error, Result};
use crate::namespaces::NamespaceToJoin;
use crate::process::{self, ExecPlan};
use crate::terminal::{ForegroundTerminal, HostConsole, ProxyEnd};
use crate::{cgroups, console, seccomp, signals, sync, sys, Runtime};

/// runc's exit code for an `exec` that failed before the process ran, so
/// callers can tell it from the process's own exit code (runc: `exec
/// failed`, fatalWithCode 255). Usage errors stay 1, as runc's.
const EXEC_FAILED: i32 = 255;

/// `exec`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    match exec(rt, flags) {
        Err(e) if !matches!(e, Error::Usage(_)) => {
            rt.log.error(&e.to_string());
            Ok(EXEC_FAILED)
        }
        r => r,
    }
}

fn exec(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let (id, args) = match flags.positional.split_first() {
        Some((id, args)) => (id, args),
        None => return Err(Error::Usage("exec: a container id is required".into())),
    };
    let record = ContainerRecord::load(&rt.root, id)?;
    let status = record.status(&rt.root);
    match status {
        ContainerStatus::Running | ContainerStatus::Created => {}
        ContainerStatus::Paused if flags.is_set("ignore-paused") => {}
        ContainerStatus::Paused => {
            return Err(Error::State {
                id: id.clone(),
                status: "paused",
                why: "cannot exec in a paused container (use --ignore-paused to override)",
            })
        }
        s => {
            return Err(Error::State {
                id: id.clone(),
                status: s.as_str(),
                why: "cannot exec in a container that is not running",
            })
        }
    }
    let mut process = build_process(&record, flags, args)?;
    let detach = flags.is_set("detach");
    let console_socket = flags.value("console-socket");
    crate::commands::create::check_terminal(process.terminal, detach, console_socket.is_some())?;
    let preserve_fds: i32 = flags.number("preserve-fds")?.unwrap_or(0);
    // A foreground terminal (`exec --tty` without a console socket): the
    // child sends the pty master over a socket pair of ours.
    let mut foreground = None;
    let console = match console_socket {
        Some(path) => Some(console::connect(path)?),
        None if process.terminal => {
            let host = HostConsole::find()?;
            // The pty is made with the caller's window size (see create).
            if let Some(size) = host.size() {
                process.console_size = Some(size);
            }
            let (ours, theirs) =
                sys::seqpacket_pair().context(|| "socketpair for the process's terminal".into())?;
            foreground = Some((host, ours));
            Some(theirs)
        }
        None => None,
    };
    let cgroup_args: Vec<&str> = flags.values("cgroup").into_iter().collect();
    let sub =
        berth_cgroups::SubCgroups::parse(&cgroup_args).map_err(berth_cgroups::CgroupError::from)?;
    let pid = spawn(&record, &process, console, preserve_fds, &sub)?;
    let terminal = match foreground {
        Some((host, sock)) => match console::receive_master(sock.as_raw_fd()) {
            Ok(master) => Some(ForegroundTerminal { master, host }),
            Err(e) => {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = sys::waitpid(pid, 0);
                return Err(e);
            }
        },
        None => None,
    };
    if let Some(p) = flags.value("pid-file") {
        write_pid_file(std::path::Path::new(p), pid)?;
    }
    if detach {
        return Ok(0);
    }
    // Blocked after the clone (the child must not inherit the mask); a child
    // that exits before this is still reaped by the loop's first waitpid.
    let _old = signals::block_all();
    let status = match terminal {
        Some(t) => match t.proxy(pid)? {
            ProxyEnd::Exited(status) => status,
            // runc's handleInterrupt: exit 0, the process left running.
            ProxyEnd::Interrupted => return Ok(0),
        },
        None => signals::forward_until_exit(pid)?,
    };
    Ok(sys::exit_code(status))
}

/// The process to run: `--process FILE` as it is, or the container's own
/// process with the command line's args and overrides (as runc).
fn build_process(record: &ContainerRecord, flags: &Parsed, args: &[String]) -> Result<Process> {
    if let Some(path) = flags.value("process") {
        let bytes = if path == "-" {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
                .context(|| "read process from stdin".into())?;
            v
        } else {
            std::fs::read(path).context(|| format!("read process file {path}"))?
        };
        let p: Process = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Invalid(format!("parse process file {path}: {e}")))?;
        if p.args.is_empty() {
            return Err(Error::Invalid(format!(
                "process file {path}: args must not be empty"
            )));
        }
        return Ok(p);
    }
    if args.is_empty() {
        return Err(Error::Usage("exec: a command to run is required".into()));
    }
    let mut p = record.config.process.clone().unwrap_or_default();
    p.args = args.to_vec();
    p.terminal = flags.is_set("tty");
    p.console_size = None;
    for e in flags.values("env") {
        let key = e.split('=').next().unwrap_or(e);
        p.env.retain(|old| old.split('=').next() != Some(key));
        p.env.push(e.to_string());
    }
    if let Some(cwd) = flags.value("cwd") {
        p.cwd = cwd.to_string();
    }
    if let Some(user) = flags.value("user") {
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user, None),
        };
        p.user.uid = uid
            .parse()
            .map_err(|_| Error::Usage(format!("--user {user:?}: want UID[:GID] as numbers")))?;
        if let Some(g) = gid {
            p.user.gid = g
                .parse()
                .map_err(|_| Error::Usage(format!("--user {user:?}: want UID[:GID] as numbers")))?;
        }
    }
    for g in flags.values("additional-gids") {
        p.user.additional_gids.push(
            g.parse()
                .map_err(|_| Error::Usage(format!("--additional-gids {g:?} is not a number")))?,
        );
    }
    let caps = flags.values("cap");
    if !caps.is_empty() {
        let set = p.capabilities.get_or_insert_with(Default::default);
        for c in caps {
            if crate::capabilities::number(c).is_none() {
                return Err(Error::Usage(format!("--cap {c:?}: unknown capability")));
            }
            let name = c.to_ascii_uppercase();
            let name = if name.starts_with("CAP_") {
                name
            } else {
                format!("CAP_{name}")
            };
            for s in [
                &mut set.bounding,
                &mut set.effective,
                &mut set.permitted,
                &mut set.inheritable,
            ] {
                if !s.contains(&name) {
                    s.push(name.clone());
                }
            }
        }
    }
    if flags.is_set("no-new-privs") {
        p.no_new_privileges = true;
    }
    Ok(p)
}

/// Starts the process in the container; returns its host pid.
fn spawn(
    record: &ContainerRecord,
    process: &Process,
    console: Option<OwnedFd>,
    preserve_fds: i32,
    sub: &berth_cgroups::SubCgroups,
) -> Result<libc::pid_t> {
    let spec = &record.config;
    let namespaces = spec
        .linux
        .as_ref()
        .map(|l| l.namespaces.as_slice())
        .unwrap_or(&[]);
    let mut parent_joins = Vec::new();
    let mut child_joins = Vec::new();
    for kind in NamespaceType::JOIN_ORDER {
        if !namespaces.iter().any(|n| n.kind == kind) {
            continue;
        }
        let path = format!("/proc/{}/ns/{}", record.pid, kind.proc_name());
        let fd = sys::open(&path, libc::O_RDONLY, 0).context(|| {
            format!(
                "open {} namespace of container {}",
                kind.as_str(),
                record.id
            )
        })?;
        let j = NamespaceToJoin { kind, path, fd };
        if matches!(kind, NamespaceType::User | NamespaceType::Mount) {
            child_joins.push(j);
        } else {
            parent_joins.push(j);
        }
    }
    let filter = seccomp::compile(spec)?;
    let cg = cgroups::of(record)?;
    let cgroup_fd: Option<OwnedFd> = match &cg {
        Some(c) => c.open_dir_sub(sub)?,
        None => None,
    };
    for j in &parent_joins {
        j.join()?;
    }
    let (parent_sock, child_sock) =
        sys::seqpacket_pair().context(|| "socketpair for exec".into())?;
    let pid = sys::clone3(0, cgroup_fd.as_ref().map(|f| f.as_raw_fd()))
        .context(|| format!("clone a process for container {}", record.id))?;
    if pid == 0 {
        drop(parent_sock);
        let err = match child(
            process,
            &child_joins,
            console,
            preserve_fds,
            filter.as_ref(),
            &child_sock,
        ) {
            Ok(()) => unreachable!(),
            Err(e) => e,
        };
        let _ = sync::send(
            child_sock.as_raw_fd(),
            sync::ERROR,
            err.to_string().as_bytes(),
        );
        unsafe { libc::_exit(1) }
    }
    drop(child_sock);
    drop(console);
    let fail = |e: Error| {
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = sys::waitpid(pid, 0);
        Err(e)
    };
    if cgroup_fd.is_none() {
        if let Some(c) = &cg {
            if let Err(e) = c.add_process_sub(pid, sub) {
                return fail(match e {
                    berth_cgroups::CgroupError::File(berth_cgroups::FileError::Write {
                        path,
                        errno,
                        ..
                    }) => Error::JoinCgroup {
                        pid,
                        path,
                        source: std::io::Error::from_raw_os_error(errno.0),
                    },
                    other => other.into(),
                });
            }
        }
    }
    if let Err(e) = sync::send(parent_sock.as_raw_fd(), sync::GO, b"") {
        return fail(e);
    }
    loop {
        match sync::recv(parent_sock.as_raw_fd()) {
            Ok(None) => return Ok(pid),
            Ok(Some((sync::SECCOMP, _))) => {
                // As runc's setnsProcess: the container's state is the
                // init's (running), the process is this one.
                let state = State {
                    oci_version: berth_oci::OCI_VERSION.into(),
                    id: record.id.clone(),
                    status: ContainerStatus::Running,
                    pid: Some(record.pid),
                    bundle: record.bundle.clone(),
                    annotations: spec.annotations.clone(),
                };
                if let Err(e) = seccomp::send_to_agent(spec, parent_sock.as_raw_fd(), pid, &state) {
                    return fail(e);
                }
            }
            Ok(Some((sync::ERROR, msg))) => {
                let _ = sys::waitpid(pid, 0);
                return Err(Error::Container(String::from_utf8_lossy(&msg).into_owned()));
            }
            Ok(Some((t, _))) => {
                return fail(Error::Container(format!(
                    "unexpected message {:?} from exec child",
                    t as char
                )))
            }
            Err(e) => return fail(e),
        }
    }
}

/// The child's side; returns only with an error.
fn child(
    process: &Process,
    joins: &[NamespaceToJoin],
    console: Option<OwnedFd>,
    preserve_fds: i32,
    filter: Option<&seccomp::Filter>,
    sock: &OwnedFd,
) -> Result<()> {
    crate::signals::reset_dispositions();
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if !sync::expect(sock.as_raw_fd(), sync::GO, "wait for parent")? {
        return Err(Error::Container("parent went away during exec".into()));
    }
    for j in joins {
        j.join()?;
    }
    // setns(mnt) leaves cwd in the old namespace: start from the container's /.
    sys::check(unsafe { libc::chdir(c"/".as_ptr()) }).context(|| "chdir / in container".into())?;
    if process.terminal {
        let socket = console
            .as_ref()
            .ok_or_else(|| Error::Invalid("no console socket".into()))?;
        console::setup(socket.as_raw_fd(), process.console_size, false)?;
    }
    drop(console);
    process::set_oom_score_adj(process.oom_score_adj)?;
    process::apply_rlimits(&process.rlimits)?;
    let setgroups_allowed = std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    // Before any filter: a strict profile may deny close_range (see init).
    sys::cloexec_from(3 + preserve_fds).context(|| "close inherited fds".into())?;
    // A filter that notifies sends its listener to the runtime, which hands
    // it to the seccomp agent before this goes on ([`seccomp::install`]).
    if !process.no_new_privileges {
        if let Some(f) = filter {
            seccomp::install(f, sock.as_raw_fd())?;
        }
    }
    console::give_stdio_to(process.user.uid)?;
    process::become_user(process, setgroups_allowed)?;
    let plan = ExecPlan::new(process)?;
    process::set_no_new_privs(process.no_new_privileges)?;
    if process.no_new_privileges {
        if let Some(f) = filter {
            seccomp::install(f, sock.as_raw_fd())?;
        }
    }
    Err(plan.exec())
}
