//! The container's process, made from `process` in config.json: rlimits,
//! oom score, user and groups, capabilities, no_new_privs, umask, cwd, and
//! finally execve. Shared by the container's init (create/run) and by exec.

use std::ffi::CString;

use berth_oci::{PosixRlimit, Process};

use crate::capabilities::{self, CapSets};
use crate::error::{Context, Error, Result};
use crate::sys;

/// Everything execve needs, built before the process waits for `start` so
/// nothing is left to allocate or look up after it.
pub struct ExecPlan {
    pub program: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
}

impl ExecPlan {
    /// Finds `args[0]` (searching the process's PATH as execvp does, inside
    /// the container's root, which must be `/` by now, as the process's
    /// user from its cwd) and builds argv/envp.
    pub fn new(process: &Process) -> Result<ExecPlan> {
        let to_c = |s: &str, what: &str| {
            CString::new(s).map_err(|_| Error::Invalid(format!("{what} {s:?} contains a NUL byte")))
        };
        let argv = process
            .args
            .iter()
            .map(|a| to_c(a, "argument"))
            .collect::<Result<Vec<_>>>()?;
        let envp = process
            .env
            .iter()
            .map(|e| to_c(e, "environment variable"))
            .collect::<Result<Vec<_>>>()?;
        let program = find_program(&process.args[0], &process.env)?;
        Ok(ExecPlan {
            program: to_c(&program, "program")?,
            argv,
            envp,
        })
    }

    /// execve(2); returns only on failure.
    pub fn exec(&self) -> Error {
        let mut argv: Vec<*const libc::c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = self.envp.iter().map(|e| e.as_ptr()).collect();
        envp.push(std::ptr::null());
        unsafe { libc::execve(self.program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        let e = std::io::Error::last_os_error();
        Error::Container(format!(
            "exec {}: {}",
            self.program.to_string_lossy(),
            sys::errno_text(&e)
        ))
    }
}

/// Go's `exec.LookPath` (which runc uses) and then runc's `Eaccess` check:
/// a name with a slash is used as it is, otherwise the first regular file
/// with an x bit in the process's PATH; then the caller, by now the
/// process's user, must be allowed to execute it (faccessat with
/// AT_EACCESS also catches noexec mounts). Failing here fails `create`,
/// which engines map to exit codes 126/127; after `start` only execve can
/// fail.
fn find_program(name: &str, env: &[String]) -> Result<String> {
    let found = look_path(name, env)?;
    let c = CString::new(found.as_str())
        .map_err(|_| Error::Invalid(format!("program {found:?} contains a NUL byte")))?;
    if let Err(e) = eaccess(&c) {
        return Err(Error::Container(format!(
            "exec {found}: {}",
            sys::errno_text(&e)
        )));
    }
    Ok(found)
}

/// access(X_OK) with the effective ids. glibc's faccessat(AT_EACCESS) is
/// the faccessat2 syscall, which a seccomp profile may deny (or an old
/// kernel lack); then the older faccessat, which checks the real ids, the
/// same ones here since setresuid/setresgid set all three (runc does so).
fn eaccess(path: &CString) -> std::io::Result<()> {
    if unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::X_OK, libc::AT_EACCESS) } == 0
    {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if !matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOSYS)) {
        return Err(e);
    }
    sys::check_long(unsafe {
        libc::syscall(
            libc::SYS_faccessat,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::X_OK,
        )
    })
    .map(drop)
}

/// Whether `path` is something LookPath accepts: not a directory, some x bit.
fn executable_file(path: &CString) -> std::io::Result<bool> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::stat(path.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.st_mode & libc::S_IFMT != libc::S_IFDIR && st.st_mode & 0o111 != 0)
}

fn look_path(name: &str, env: &[String]) -> Result<String> {
    if name.contains('/') {
        let c = CString::new(name)
            .map_err(|_| Error::Invalid(format!("program {name:?} contains a NUL byte")))?;
        return match executable_file(&c) {
            Ok(true) => Ok(name.to_string()),
            Ok(false) => Err(Error::Container(format!(
                "exec: {name:?}: permission denied"
            ))),
            Err(e) => Err(Error::Container(format!(
                "exec: {name:?}: stat {name}: {}",
                sys::errno_text(&e)
            ))),
        };
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{}/{name}", dir.trim_end_matches('/'));
        let Ok(c) = CString::new(candidate.as_str()) else {
            continue;
        };
        if executable_file(&c).unwrap_or(false) {
            return Ok(candidate);
        }
    }
    Err(Error::Container(format!(
        "exec: {name:?}: executable file not found in $PATH"
    )))
}

/// Applies `process.rlimits`.
pub fn apply_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for r in rlimits {
        let resource = rlimit_resource(&r.kind)?;
        let lim = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        sys::check(unsafe { libc::setrlimit(resource, &lim) })
            .context(|| format!("setrlimit {} (soft {}, hard {})", r.kind, r.soft, r.hard))?;
    }
    Ok(())
}

/// The resource number of an `RLIMIT_*` name.
pub fn rlimit_resource(name: &str) -> Result<libc::__rlimit_resource_t> {
    Ok(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        other => return Err(Error::Invalid(format!("unknown rlimit type {other:?}"))),
    })
}

/// Writes `process.oomScoreAdj` for the calling process.
pub fn set_oom_score_adj(value: Option<i32>) -> Result<()> {
    if let Some(v) = value {
        std::fs::write("/proc/self/oom_score_adj", v.to_string())
            .context(|| format!("write {v} to /proc/self/oom_score_adj"))?;
    }
    Ok(())
}

/// Becomes the process's user, in runc's order: chdir to the cwd (as
/// root, which may enter directories the user cannot), capabilities
/// dropped from the bounding set, then groups, gid and uid with
/// PR_SET_KEEPCAPS; a cwd root was refused (EACCES/EPERM: say a root-squashed
/// or user-owned 0700 dir) is entered again as the user; then the
/// effective/permitted/inheritable and ambient sets and the umask.
/// `setgroups_allowed` is false in a user namespace whose setgroups is denied.
pub fn become_user(process: &Process, setgroups_allowed: bool) -> Result<()> {
    let caps = process
        .capabilities
        .as_ref()
        .map(CapSets::from_spec)
        .unwrap_or_default();
    let cwd_as_user = match chdir(&process.cwd) {
        Ok(()) => false,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => true,
        Err(e) => return Err(cwd_error(&process.cwd, &e)),
    };
    capabilities::drop_bounding(caps.bounding)?;
    sys::check(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) })
        .context(|| "prctl PR_SET_KEEPCAPS".into())?;
    let u = &process.user;
    if setgroups_allowed {
        let groups: Vec<libc::gid_t> = u.additional_gids.clone();
        sys::check(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) })
            .context(|| format!("setgroups {:?}", u.additional_gids))?;
    }
    sys::check(unsafe { libc::setresgid(u.gid, u.gid, u.gid) })
        .context(|| format!("setgid {}", u.gid))?;
    sys::check(unsafe { libc::setresuid(u.uid, u.uid, u.uid) })
        .context(|| format!("setuid {}", u.uid))?;
    if cwd_as_user {
        chdir(&process.cwd).map_err(|e| cwd_error(&process.cwd, &e))?;
    }
    check_cwd(&process.cwd)?;
    sys::check(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) })
        .context(|| "prctl PR_SET_KEEPCAPS".into())?;
    capabilities::set_process_caps(&caps)?;
    capabilities::raise_ambient(caps.ambient)?;
    if let Some(mask) = u.umask {
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    Ok(())
}

fn chdir(cwd: &str) -> std::io::Result<()> {
    let c = sys::cstr(cwd)?;
    sys::check(unsafe { libc::chdir(c.as_ptr()) }).map(drop)
}

/// runc's message for a cwd that cannot be entered.
fn cwd_error(cwd: &str, e: &std::io::Error) -> Error {
    Error::Container(format!(
        "chdir to cwd ({cwd:?}) set in config.json failed: {}",
        sys::errno_text(e)
    ))
}

/// Sets no_new_privs when the spec asks for it.
pub fn set_no_new_privs(enabled: bool) -> Result<()> {
    if enabled {
        sys::check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
            .context(|| "prctl PR_SET_NO_NEW_PRIVS".into())?;
    }
    Ok(())
}

/// Checks the cwd just entered is inside the container's root: getcwd(2)
/// reports "(unreachable)" for a directory outside the process's root,
/// which is how a leaked host fd would show (CVE-2024-21626).
fn check_cwd(cwd: &str) -> Result<()> {
    let here = std::env::current_dir().context(|| format!("getcwd after chdir to {cwd:?}"))?;
    if !here.starts_with("/") || here.to_string_lossy().contains("(unreachable)") {
        return Err(Error::Container(format!(
            "cwd {cwd:?} resolves outside the container's root"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path() {
        assert_eq!(find_program("/bin/sh", &[]).unwrap(), "/bin/sh");
        let e = find_program("/x/y", &[]).unwrap_err().to_string();
        assert_eq!(e, "exec: \"/x/y\": stat /x/y: no such file or directory");
        let e = find_program("/etc/passwd", &[]).unwrap_err().to_string();
        assert_eq!(e, "exec: \"/etc/passwd\": permission denied");
        let e = find_program("/etc", &[]).unwrap_err().to_string();
        assert_eq!(e, "exec: \"/etc\": permission denied");
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        let p = find_program("sh", &env).unwrap();
        assert!(p == "/bin/sh" || p == "/usr/bin/sh", "{p}");
        let e = find_program("no-such-program-berth", &env).unwrap_err();
        assert!(e.to_string().contains("not found in $PATH"), "{e}");
    }

    #[test]
    fn rlimit_names() {
        assert_eq!(
            rlimit_resource("RLIMIT_NOFILE").unwrap(),
            libc::RLIMIT_NOFILE
        );
        assert!(rlimit_resource("RLIMIT_BOGUS").is_err());
    }
}
