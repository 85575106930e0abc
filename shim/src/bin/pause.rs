//! berth-pause: the infra process of a Kubernetes pod (berthd's CRI). berthd
//! starts it in the pod's new network, IPC and UTS namespaces; it holds them
//! for the pod's life doing nothing, and the pod's containers join them.
//!
//! It does what Kubernetes' own `pause` does and no more: it waits for
//! signals, exits 0 on SIGTERM or SIGINT (a stop), and reaps children it
//! inherits when it is a namespace's init. No allocation, no threads: it
//! stays a few hundred KiB of RSS per pod.

fn main() {
    if std::env::args_os().len() > 1 {
        eprintln!("berth-pause: takes no arguments (berthd starts it as a pod's infra process)");
        std::process::exit(2);
    }
    // SAFETY: plain signal-mask and wait calls on this one thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGCHLD] {
            libc::sigaddset(&mut set, sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        loop {
            let mut sig: libc::c_int = 0;
            if libc::sigwait(&set, &mut sig) != 0 {
                continue;
            }
            match sig {
                libc::SIGCHLD => {
                    while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
                }
                _ => std::process::exit(0),
            }
        }
    }
}
