//! Real-kernel tests (root): a forked child sets no_new_privs, installs a
//! compiled filter and makes syscalls; its exit status says what the kernel did.
//!
//! The test harness is multi-threaded, so the child only makes raw syscalls
//! (no allocation, no locks) and leaves with `_exit`. A body returns 0 when
//! every check held, or the number of the first check that did not.

use serde_json::json;

use super::engine_profile::podman_default;
use crate::{compile, Filter, InstallError};

fn require_root() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the seccomp kernel tests must run as root"
    );
}

fn filter(v: serde_json::Value) -> Filter {
    compile(&serde_json::from_value(v).expect("test profile parses"))
        .expect("test profile compiles")
}

fn errno() -> i32 {
    unsafe { *libc::__errno_location() }
}

/// Whether the raw syscall result `r` is a failure with `want`.
fn failed_with(r: libc::c_long, want: i32) -> bool {
    r == -1 && errno() == want
}

/// How a child ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Exited(i32),
    Signaled(i32),
}

/// Forks a child that (optionally) sets no_new_privs, installs `filter` and
/// exits with `body()`. Exit 100: no_new_privs failed; 101: install failed.
fn in_child(filter: &Filter, no_new_privs: bool, body: fn() -> i32) -> Ended {
    require_root();
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        unsafe {
            if no_new_privs && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(100);
            }
            if filter.install().is_err() {
                libc::_exit(101);
            }
            libc::_exit(body());
        }
    }
    let mut status = 0;
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "waitpid: {}", std::io::Error::last_os_error());
    if libc::WIFEXITED(status) {
        Ended::Exited(libc::WEXITSTATUS(status))
    } else {
        Ended::Signaled(libc::WTERMSIG(status))
    }
}

#[test]
fn mkdir_fails_with_eperm_while_getpid_works() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    }));
    let path = c"/tmp/bt-seccomp-mkdir-must-fail";
    let ended = in_child(&f, true, || unsafe {
        let path = c"/tmp/bt-seccomp-mkdir-must-fail";
        if !failed_with(
            libc::syscall(libc::SYS_mkdir, path.as_ptr(), 0o700),
            libc::EPERM,
        ) {
            return 1;
        }
        if !failed_with(
            libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, path.as_ptr(), 0o700),
            libc::EPERM,
        ) {
            return 2;
        }
        if libc::syscall(libc::SYS_getpid) <= 0 {
            return 3;
        }
        0
    });
    assert_eq!(ended, Ended::Exited(0));
    assert!(!std::path::Path::new(path.to_str().unwrap()).exists());
}

#[test]
fn kill_process_on_getppid_kills_the_child_with_sigsys() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]
    }));
    let ended = in_child(&f, true, || unsafe {
        if libc::syscall(libc::SYS_getpid) <= 0 {
            return 1;
        }
        libc::syscall(libc::SYS_getppid);
        2
    });
    assert_eq!(ended, Ended::Signaled(libc::SIGSYS));
}

#[test]
fn argument_conditions_compare_all_64_bits() {
    // personality(0xffffffff) queries the persona: allowed; any other value: EPERM.
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_NE"}]}]
    }));
    let ended = in_child(&f, true, || unsafe {
        if libc::syscall(libc::SYS_personality, 0xffff_ffffu64) < 0 {
            return 1;
        }
        if !failed_with(libc::syscall(libc::SYS_personality, 0u64), libc::EPERM) {
            return 2;
        }
        // The kernel would read this as 0xffffffff (an unsigned int), but the
        // filter sees the whole register: not equal, so EPERM.
        if !failed_with(
            libc::syscall(libc::SYS_personality, 0x1_ffff_ffffu64),
            libc::EPERM,
        ) {
            return 3;
        }
        0
    });
    assert_eq!(ended, Ended::Exited(0));
}

#[test]
fn a_default_deny_profile_allows_only_what_it_lists() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["exit_group", "exit", "getpid", "personality"], "action": "SCMP_ACT_ALLOW"}]
    }));
    let ended = in_child(&f, true, || unsafe {
        if libc::syscall(libc::SYS_getpid) <= 0 {
            return 1;
        }
        if !failed_with(libc::syscall(libc::SYS_getppid), libc::EPERM) {
            return 2;
        }
        // Above the highest number the profile names: ENOSYS, as under runc.
        if !failed_with(libc::syscall(libc::SYS_pidfd_open, 0, 0), libc::ENOSYS) {
            return 3;
        }
        0
    });
    assert_eq!(ended, Ended::Exited(0));
}

#[test]
fn an_x32_syscall_without_scmp_arch_x32_is_killed() {
    let f =
        filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"]}));
    let ended = in_child(&f, true, || unsafe {
        // x32 getpid: 39 with __X32_SYSCALL_BIT.
        libc::syscall(0x4000_0000 | libc::SYS_getpid);
        1
    });
    assert_eq!(ended, Ended::Signaled(libc::SIGSYS));
}

#[test]
fn podman_default_profile_in_the_kernel() {
    let f = compile(&podman_default()).expect("podman's profile compiles");
    let ended = in_child(&f, true, || unsafe {
        // Ordinary work: files, pipes, fork + wait.
        let fd = libc::open(
            c"/proc/self/status".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return 1;
        }
        let mut buf = [0u8; 64];
        if libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) <= 0 || libc::close(fd) != 0 {
            return 2;
        }
        let mut p = [0; 2];
        if libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) != 0
            || libc::write(p[1], b"ok".as_ptr().cast(), 2) != 2
            || libc::read(p[0], buf.as_mut_ptr().cast(), 2) != 2
        {
            return 3;
        }
        let child = libc::fork();
        if child == 0 {
            libc::_exit(7);
        }
        let mut status = 0;
        if child < 0
            || libc::waitpid(child, &mut status, 0) != child
            || libc::WEXITSTATUS(status) != 7
        {
            return 4;
        }
        // Refused: the explicit EPERM list, CAP_SYS_ADMIN-only calls.
        if !failed_with(libc::syscall(libc::SYS_kexec_load, 0, 0, 0, 0), libc::EPERM) {
            return 5;
        }
        if !failed_with(
            libc::syscall(libc::SYS_sethostname, c"bt".as_ptr(), 2),
            libc::EPERM,
        ) {
            return 6;
        }
        // Not listed: the profile's defaultErrnoRet, ENOSYS.
        if !failed_with(libc::syscall(libc::SYS_personality, 0x1234), libc::ENOSYS) {
            return 7;
        }
        // socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT): EINVAL by the profile.
        if !failed_with(libc::syscall(libc::SYS_socket, 16, 3, 9), libc::EINVAL) {
            return 8;
        }
        // Podman leaves mount namespaces to capabilities: unshare is allowed.
        if libc::syscall(libc::SYS_unshare, libc::CLONE_NEWNS) != 0 {
            return 9;
        }
        0
    });
    assert_eq!(ended, Ended::Exited(0));
}

#[test]
fn the_kernel_accepts_every_flag() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33}]
    }));
    let ended = in_child(&f, true, || unsafe {
        if !failed_with(libc::syscall(libc::SYS_getppid), 33) {
            return 1;
        }
        0
    });
    assert_eq!(ended, Ended::Exited(0));
}

#[test]
fn root_installs_without_no_new_privs() {
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}));
    let ended = in_child(&f, false, || unsafe {
        if !failed_with(libc::syscall(libc::SYS_getppid), libc::EPERM) {
            return 1;
        }
        0
    });
    assert_eq!(ended, Ended::Exited(0));
}

#[test]
fn without_no_new_privs_or_cap_sys_admin_install_fails_with_eacces() {
    require_root();
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        unsafe {
            // Drop every capability (capset with all-zero sets, version 3).
            let mut header = [0x2008_0522u32, 0];
            let data = [0u32; 6];
            if libc::syscall(libc::SYS_capset, header.as_mut_ptr(), data.as_ptr()) != 0 {
                libc::_exit(2);
            }
            let code = match f.install() {
                Err(InstallError::Refused {
                    errno: libc::EACCES,
                    ..
                }) => 0,
                Err(_) => 3,
                Ok(()) => 4,
            };
            libc::_exit(code);
        }
    }
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status));
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "install must fail with EACCES"
    );
}

/// A syscall through the i386 ABI (`int 0x80`): the kernel reports
/// `AUDIT_ARCH_I386` to the filter. Returns the raw result (value or -errno).
#[cfg(target_arch = "x86_64")]
fn i386_syscall(nr: i64, arg0: u32, arg1: u32) -> i64 {
    let mut ret: i64 = nr;
    unsafe {
        // The kernel zeroes r8-r11 on the way back from a 32-bit syscall.
        // rbx is LLVM's: swap the first argument in and out around the call.
        std::arch::asm!(
            "xchg rbx, {a0}",
            "int 0x80",
            "xchg rbx, {a0}",
            a0 = inout(reg) u64::from(arg0) => _,
            inout("rax") ret,
            in("ecx") arg1,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            options(nostack)
        );
    }
    ret
}

/// getpid (20) through the i386 ABI.
#[cfg(target_arch = "x86_64")]
fn i386_getpid() -> i64 {
    i386_syscall(20, 0, 0)
}

#[cfg(target_arch = "x86_64")]
#[test]
fn a_socket_rule_also_covers_i386_socketcall() {
    // socketcall(SYS_SOCKET, args): an old 32-bit libc's socket(). The rule on
    // "socket" reaches it (args[0] == 1); other socketcalls pass.
    let f = filter(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77}]}),
    );
    let ended = in_child(&f, true, || {
        // SYS_SOCKET = 1; the args pointer is never read: the filter decides first.
        if i386_syscall(102, 1, 0) != -77 {
            return 1;
        }
        // SYS_BIND = 2 with a NULL args pointer: runs, and fails with EFAULT.
        if i386_syscall(102, 2, 0) != -(libc::EFAULT as i64) {
            return 2;
        }
        0
    });
    assert_eq!(ended, Ended::Exited(0));
}

#[cfg(target_arch = "x86_64")]
#[test]
fn i386_syscalls_follow_the_x86_section_or_are_killed_without_one() {
    let with_x86 = filter(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77}]}),
    );
    let ended = in_child(&with_x86, true, || {
        if i386_getpid() != -77 {
            return 1;
        }
        // The rule names getpid on every ABI of the filter: x86_64's 39 too.
        if !failed_with(unsafe { libc::syscall(libc::SYS_getpid) }, 77) {
            return 2;
        }
        // ... and nothing else: x86_64's 20 is writev, not getpid.
        if unsafe { libc::syscall(libc::SYS_writev, -1, 0, 0) } != -1 || errno() != libc::EBADF {
            return 3;
        }
        0
    });
    assert_eq!(ended, Ended::Exited(0));
    let without = filter(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    let ended = in_child(&without, true, || {
        i386_getpid();
        1
    });
    assert_eq!(ended, Ended::Signaled(libc::SIGSYS));
}

static TRAPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_sigsys(_: libc::c_int) {
    TRAPPED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// seccomp(2) "Filter return values": what each action does to the caller.
#[test]
fn every_action_does_what_seccomp_2_says() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_TRAP"},
            {"names": ["getuid"], "action": "SCMP_ACT_TRACE", "errnoRet": 5},
            {"names": ["getgid"], "action": "SCMP_ACT_LOG"},
            {"names": ["geteuid"], "action": "SCMP_ACT_KILL_THREAD"},
            {"names": ["getegid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0}
        ]
    }));
    let ended = in_child(&f, true, || unsafe {
        // TRAP: SIGSYS, which a handler can catch; the syscall does not run.
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigsys as extern "C" fn(libc::c_int) as usize;
        if libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut()) != 0 {
            return 1;
        }
        libc::syscall(libc::SYS_getppid);
        if !TRAPPED.load(std::sync::atomic::Ordering::SeqCst) {
            return 2;
        }
        // TRACE without a tracer: ENOSYS.
        if !failed_with(libc::syscall(libc::SYS_getuid), libc::ENOSYS) {
            return 3;
        }
        // LOG: runs.
        if libc::syscall(libc::SYS_getgid) != libc::getgid() as libc::c_long {
            return 4;
        }
        // ERRNO(0): "succeeds" with 0 without running.
        if libc::syscall(libc::SYS_getegid) != 0 {
            return 5;
        }
        0
    });
    assert_eq!(ended, Ended::Exited(0));
    // KILL_THREAD of the only thread ends the process with SIGSYS.
    let ended = in_child(&f, true, || unsafe {
        libc::syscall(libc::SYS_geteuid);
        1
    });
    assert_eq!(ended, Ended::Signaled(libc::SIGSYS));
}
