//! berthd's open-file limit.
//!
//! berthd holds a few descriptors per running container while it waits for
//! the container's exit (a pidfd of its init and of its shim, its memory
//! cgroup's OOM eventfd: see `containers::task::shim`), so the usual soft
//! limit of 1024 would cap a host at a few hundred containers (issue 21's
//! target is 1000). berthd raises its soft limit to the hard one at start,
//! as dockerd and containerd get from their systemd units
//! (`LimitNOFILE=infinity`). What berthd starts inherits it, as under
//! those units: a container whose spec sets no `nofile` limit sees the
//! hard limit, as docker's do.

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; a failure is logged
/// and berthd goes on with the limit it has.
pub fn raise_open_files() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct of ours.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 || limit.rlim_cur >= limit.rlim_max
        {
            return;
        }
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            tracing::warn!(
                soft = limit.rlim_cur,
                hard = limit.rlim_max,
                error = %std::io::Error::last_os_error(),
                "could not raise the open-file limit"
            );
        }
    }
}
