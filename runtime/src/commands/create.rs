//! `create`: set up a container whose init waits on the exec FIFO.
//!
//! The parent's side: check the id and bundle, make the state dir and the
//! FIFO, the cgroup, compile seccomp, open namespace paths, then one clone3
//! that makes the init with its new namespaces (crun's way: no intermediate
//! process). Then id maps, cgroup membership, hooks, and the init's "ready";
//! then state.json and the pid file. Any failure undoes everything: the init
//! is killed and reaped, the cgroup and state dir removed.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_oci::{ContainerStatus, Spec, State};

use crate::cli::Parsed;
use crate::container::{self, ContainerRecord, EXEC_FIFO};
use crate::error::{Context, Error, Result};
use crate::init::{self, InitContext};
use crate::namespaces::{self, NamespacePlan};
use crate::terminal::{ForegroundTerminal, HostConsole};
use crate::{cgroups, console, hooks, mounts, seccomp, sync, sys, Runtime};
use berth_cgroups::Cgroup;

/// The options shared by `create` and `run`.
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<String>,
    pub preserve_fds: i32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// `create`, or `run --detach`: nobody stays to proxy a terminal.
    pub detach: bool,
}

impl CreateOptions {
    pub fn from_flags(flags: &Parsed, id: &str) -> Result<CreateOptions> {
        container::validate_id(id)?;
        let bundle = flags.value("bundle").unwrap_or(".");
        let bundle = std::fs::canonicalize(bundle)
            .map_err(|e| Error::Invalid(format!("bundle {bundle}: {e}")))?;
        Ok(CreateOptions {
            id: id.to_string(),
            bundle,
            pid_file: flags.value("pid-file").map(absolute),
            console_socket: flags.value("console-socket").map(str::to_string),
            preserve_fds: flags.number("preserve-fds")?.unwrap_or(0),
            no_pivot: flags.is_set("no-pivot"),
            no_new_keyring: flags.is_set("no-new-keyring"),
            detach: true,
        })
    }
}

fn absolute(p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    }
}

/// A container whose init is waiting for `start`.
pub struct Created {
    pub record: ContainerRecord,
    /// The pty to proxy, when `run` has a foreground terminal.
    pub terminal: Option<ForegroundTerminal>,
}

/// `create [flags] ID`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let id = match flags.positional.as_slice() {
        [id] => id,
        _ => {
            return Err(Error::Usage(
                "create: exactly one container id is required".into(),
            ))
        }
    };
    let opts = CreateOptions::from_flags(flags, id)?;
    create(rt, &opts)?;
    Ok(0)
}

/// Undoes a half-made container if create fails before the end.
struct Undo<'a> {
    state_dir: &'a Path,
    child: Option<libc::pid_t>,
    cgroup: Option<berth_cgroups::Cgroup>,
    armed: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.child {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = sys::waitpid(pid, 0);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.destroy();
        }
        let _ = std::fs::remove_dir_all(self.state_dir);
    }
}

/// Loads and checks the bundle's config.json.
pub fn load_bundle(bundle: &Path) -> Result<(Spec, PathBuf)> {
    let spec = Spec::load(&bundle.join("config.json"))?;
    let root = spec
        .root
        .as_ref()
        .ok_or_else(|| Error::Invalid(format!("{}/config.json has no root", bundle.display())))?;
    let rootfs = if Path::new(&root.path).is_absolute() {
        PathBuf::from(&root.path)
    } else {
        bundle.join(&root.path)
    };
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::Invalid(format!(
                "rootfs {} is not a directory",
                rootfs.display()
            )))
        }
        Err(e) => {
            return Err(Error::Invalid(format!("rootfs {}: {e}", rootfs.display())));
        }
    }
    if spec.process.is_none() {
        return Err(Error::Invalid(format!(
            "{}/config.json has no process to run",
            bundle.display()
        )));
    }
    Ok((spec, rootfs))
}

/// Creates the container; the init is left waiting on the FIFO.
pub fn create(rt: &Runtime, opts: &CreateOptions) -> Result<Created> {
    let (mut spec, rootfs) = load_bundle(&opts.bundle)?;
    // Host sysctls and id maps without a user namespace are refused here,
    // before a state dir, cgroup or process exists.
    crate::kernel_scope::check(&spec)?;
    warn_unknown_capabilities(rt, &spec);
    let process = spec.process.as_ref().expect("checked by load_bundle");
    let plan = NamespacePlan::from_spec(&spec)?;
    let filter = seccomp::compile(&spec)?;
    check_terminal(process.terminal, opts.detach, opts.console_socket.is_some())?;
    // A foreground terminal: the init sends the pty master over a socket
    // pair of our own instead of the caller's console socket.
    let mut foreground: Option<(HostConsole, OwnedFd)> = None;
    let console_socket = match &opts.console_socket {
        Some(path) => Some(console::connect(path)?),
        None if process.terminal => {
            let host = HostConsole::find()?;
            // The pty is made with the caller's window size, so the process
            // never sees another one (runc resizes it only after start, and
            // a quick process may still see consoleSize, or 0x0).
            if let Some(size) = host.size() {
                if let Some(p) = spec.process.as_mut() {
                    p.console_size = Some(size);
                }
            }
            let (ours, theirs) = sys::seqpacket_pair()
                .context(|| "socketpair for the container's terminal".into())?;
            foreground = Some((host, ours));
            Some(theirs)
        }
        None => None,
    };

    std::fs::create_dir_all(&rt.root)
        .context(|| format!("create state root {}", rt.root.display()))?;
    let state_dir = container::state_dir(&rt.root, &opts.id);
    match std::fs::create_dir(&state_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::Exists(opts.id.clone()))
        }
        Err(e) => return Err(e).context(|| format!("create state dir {}", state_dir.display())),
    }
    let mut undo = Undo {
        state_dir: &state_dir,
        child: None,
        cgroup: None,
        armed: true,
    };
    let fifo_path = state_dir.join(EXEC_FIFO);
    let fifo_c = sys::cstr(&fifo_path).context(|| format!("mkfifo {}", fifo_path.display()))?;
    sys::check(unsafe { libc::mkfifo(fifo_c.as_ptr(), 0o622) })
        .context(|| format!("mkfifo {}", fifo_path.display()))?;
    // mkfifo honours the umask; the init may run as any user and must open it.
    sys::check(unsafe { libc::chmod(fifo_c.as_ptr(), 0o622) })
        .context(|| format!("chmod {}", fifo_path.display()))?;
    let fifo = sys::open(&fifo_path, libc::O_PATH, 0)
        .context(|| format!("open {}", fifo_path.display()))?;

    let cgroup_plan = cgroups::plan(&spec, &opts.id, rt.systemd_cgroup, &rt.log)?;
    let cgroup_fd: Option<OwnedFd> = match cgroup_plan.cgroup() {
        Some(cg) => match cg.open_dir() {
            Ok(fd) => fd,
            Err(e) => {
                let _ = cg.destroy();
                return Err(e.into());
            }
        },
        None => None,
    };
    let cgroup_rel = match &cgroup_plan {
        cgroups::CgroupPlan::Cgroupfs(c) => Some(c.path().as_relative().to_string()),
        _ => None,
    };
    // From here on, a failure must also remove the cgroup.
    if let cgroups::CgroupPlan::Cgroupfs(c) = &cgroup_plan {
        undo.cgroup = Some(Cgroup::clone(c));
    }
    let (parent_sock, child_sock) =
        sys::seqpacket_pair().context(|| "socketpair for the container's init".into())?;
    plan.enter_parent(&spec)?;
    let listen_fds = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|n| *n > 0);
    let preserve_fds = opts.preserve_fds + listen_fds.unwrap_or(0);

    let bind_sources = mounts::runtime_opens_bind_sources(&spec);
    let pid = sys::clone3(plan.clone_flags, cgroup_fd.as_ref().map(|f| f.as_raw_fd()))
        .context(|| format!("clone the init of container {}", opts.id))?;
    if pid == 0 {
        drop(parent_sock);
        init::run(InitContext {
            id: &opts.id,
            spec: &spec,
            bundle: opts.bundle.clone(),
            rootfs: rootfs.clone(),
            plan: &plan,
            sync: child_sock,
            fifo,
            console_socket,
            preserve_fds,
            no_pivot: opts.no_pivot,
            listen_fds,
            seccomp: filter,
            cgroup: cgroup_rel,
            no_new_keyring: opts.no_new_keyring,
            bind_sources,
        });
    }
    undo.child = Some(pid);
    drop(child_sock);
    drop(console_socket);
    let sock = parent_sock.as_raw_fd();

    if plan.new_user {
        namespaces::write_user_maps(pid, &spec)?;
    }
    undo.cgroup = cgroup_plan.attach(pid, cgroup_fd.is_some())?;
    if bind_sources {
        mounts::send_bind_sources(&spec, &opts.bundle, pid, sock)?;
    }
    sync::send(sock, sync::GO, b"")?;
    let state_for_hooks = |status| State {
        oci_version: berth_oci::OCI_VERSION.into(),
        id: opts.id.clone(),
        status,
        pid: Some(pid),
        bundle: opts.bundle.display().to_string(),
        annotations: spec.annotations.clone(),
    };
    loop {
        match sync::recv(sock)? {
            Some((sync::READY, _)) => break,
            Some((sync::HOOKS, _)) => {
                let h = spec
                    .hooks
                    .as_ref()
                    .expect("child asks only when there are hooks");
                let st = state_for_hooks(ContainerStatus::Creating);
                hooks::run_all("prestart", &h.prestart, &st)?;
                hooks::run_all("createRuntime", &h.create_runtime, &st)?;
                sync::send(sock, sync::GO, b"")?;
            }
            Some((sync::SECCOMP, _)) => {
                let st = state_for_hooks(ContainerStatus::Creating);
                seccomp::send_to_agent(&spec, sock, pid, &st)?;
            }
            Some((sync::ERROR, msg)) => {
                return Err(Error::Container(String::from_utf8_lossy(&msg).into_owned()))
            }
            Some((t, _)) => {
                return Err(Error::Container(format!(
                    "unexpected message {:?} from the container's init",
                    t as char
                )))
            }
            None => {
                let status = sys::waitpid(pid, 0)
                    .map(|(_, s)| sys::exit_code(s))
                    .unwrap_or(-1);
                undo.child = None;
                return Err(Error::Container(format!(
                    "the container's init exited during set-up (status {status})"
                )));
            }
        }
    }
    let (_, start_time) = container::proc_stat(pid)
        .ok_or_else(|| Error::Container("the container's init exited during set-up".into()))?;
    let record = ContainerRecord {
        id: opts.id.clone(),
        pid,
        pid_start_time: start_time,
        bundle: opts.bundle.display().to_string(),
        rootfs: rootfs.display().to_string(),
        created: crate::clock::now_rfc3339(),
        owner: String::new(),
        cgroup: undo.cgroup.as_ref().map(cgroups::to_record),
        systemd_cgroup: rt.systemd_cgroup,
        config: spec.clone(),
    };
    record.save(&rt.root)?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid)?;
    }
    let terminal = match foreground {
        Some((host, sock)) => Some(ForegroundTerminal {
            master: console::receive_master(sock.as_raw_fd())?,
            host,
        }),
        None => None,
    };
    undo.armed = false;
    Ok(Created { record, terminal })
}

/// runc 1.1's check of the terminal flags (`checkTerminal`), with its
/// messages: a runtime that returns before the process ends (`create`,
/// `--detach`) can only hand a terminal over a console socket, and a console
/// socket is only for such a terminal.
pub fn check_terminal(terminal: bool, detach: bool, console_socket: bool) -> Result<()> {
    if detach && terminal && !console_socket {
        return Err(Error::Invalid(
            "cannot allocate tty if runc will detach without setting console socket".into(),
        ));
    }
    if (!detach || !terminal) && console_socket {
        return Err(Error::Invalid(
            "cannot use console socket if runc will not detach or allocate tty".into(),
        ));
    }
    Ok(())
}

/// Capability names this runtime does not know are ignored with a warning
/// in the log, as runc 1.1 does ("ignoring unknown or unavailable
/// capabilities"): an engine's list may name capabilities newer than this
/// runtime or kernel, and refusing them would fail every container it
/// starts. Ignoring one only ever grants less.
fn warn_unknown_capabilities(rt: &Runtime, spec: &berth_oci::Spec) {
    let Some(caps) = spec.process.as_ref().and_then(|p| p.capabilities.as_ref()) else {
        return;
    };
    let mut unknown: Vec<&str> = [
        &caps.bounding,
        &caps.effective,
        &caps.inheritable,
        &caps.permitted,
        &caps.ambient,
    ]
    .into_iter()
    .flatten()
    .map(String::as_str)
    .filter(|c| crate::capabilities::number(c).is_none())
    .collect();
    unknown.sort_unstable();
    unknown.dedup();
    if !unknown.is_empty() {
        rt.log.write(
            "warning",
            &format!("ignoring unknown or unavailable capabilities: {unknown:?}"),
        );
    }
}

/// Writes a pid file atomically (temp + rename), as runc: a reader polling
/// for it never sees an empty file. The temp file is runc's `.<name>`, and
/// failures read as runc's (`open DIR/.<name>: no such file or directory`).
pub fn write_pid_file(path: &Path, pid: libc::pid_t) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("pid")
    ));
    std::fs::write(&tmp, pid.to_string()).map_err(|source| Error::Path {
        op: "open",
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Path {
        op: "rename",
        path: tmp,
        source,
    })
}
