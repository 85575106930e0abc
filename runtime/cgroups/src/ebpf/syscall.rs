//! bpf(2) calls for device programs: load, query, attach, detach
//! (`include/uapi/linux/bpf.h`, `union bpf_attr`).

use super::program::Insn;
use crate::errno::Errno;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;

const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;
const BPF_F_REPLACE: u32 = 1 << 2;

/// What went wrong loading or attaching a device program.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// The kernel refused the program; `log` is the verifier's first line.
    #[error("load eBPF device program for {cgroup}: {errno}{log}")]
    Load {
        cgroup: String,
        errno: Errno,
        log: String,
    },
    /// Attaching, querying or detaching failed.
    #[error("{op} eBPF device program on {cgroup}: {errno}")]
    Attach {
        op: &'static str,
        cgroup: String,
        errno: Errno,
    },
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<i32, Errno> {
    // SAFETY: attr is a valid, initialised bpf_attr prefix of the given size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(rc as i32)
    }
}

/// Loads `insns` as a cgroup device program; `cgroup` only names the target
/// in errors.
pub fn load_device_program(insns: &[Insn], cgroup: &Path) -> Result<OwnedFd, BpfError> {
    static LICENSE: &[u8] = b"Apache-2.0\0";
    let mut name = [0u8; 16];
    name[..9].copy_from_slice(b"berth_dev");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: a successful BPF_PROG_LOAD returns a new fd we own.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        Err(errno) => {
            // Load again with the verifier log on, only to explain the failure.
            let mut log = vec![0u8; 4096];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr).map(|fd| {
                // SAFETY: closes the fd the retry unexpectedly returned.
                unsafe { libc::close(fd) }
            });
            let text = String::from_utf8_lossy(&log);
            let first = text
                .trim_matches('\0')
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            Err(BpfError::Load {
                cgroup: cgroup.display().to_string(),
                errno,
                log: if first.is_empty() {
                    String::new()
                } else {
                    format!(" ({first})")
                },
            })
        }
    }
}

/// The ids of the device programs attached directly to the cgroup `dir_fd`.
pub fn attached_device_programs(
    dir_fd: BorrowedFd<'_>,
    cgroup: &Path,
) -> Result<Vec<u32>, BpfError> {
    let mut ids = [0u32; 64];
    let mut attr = QueryAttr {
        target_fd: dir_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr).map_err(|errno| BpfError::Attach {
        op: "query",
        cgroup: cgroup.display().to_string(),
        errno,
    })?;
    Ok(ids[..attr.prog_cnt as usize].to_vec())
}

/// Loads the program `insns` and attaches it to the cgroup `dir_fd`,
/// replacing the device programs already attached there.
pub fn attach_device_program(
    dir_fd: BorrowedFd<'_>,
    insns: &[Insn],
    cgroup: &Path,
) -> Result<(), BpfError> {
    let prog = load_device_program(insns, cgroup)?;
    let old_ids = attached_device_programs(dir_fd, cgroup)?;
    let err = |op: &'static str| {
        let cgroup = cgroup.display().to_string();
        move |errno| BpfError::Attach { op, cgroup, errno }
    };
    let mut old_fds = Vec::with_capacity(old_ids.len());
    for id in &old_ids {
        let mut attr = GetFdByIdAttr {
            prog_id: *id,
            ..Default::default()
        };
        match bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) {
            // SAFETY: a successful GET_FD_BY_ID returns a new fd we own.
            Ok(fd) => old_fds.push(unsafe { OwnedFd::from_raw_fd(fd) }),
            // Detached and freed in the meantime.
            Err(Errno(libc::ENOENT)) => {}
            Err(errno) => return Err(err("open attached")(errno)),
        }
    }
    let mut attr = AttachAttr {
        target_fd: dir_fd.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    if old_fds.len() == 1 {
        attr.attach_flags |= BPF_F_REPLACE;
        attr.replace_bpf_fd = old_fds[0].as_raw_fd() as u32;
        bpf(BPF_PROG_ATTACH, &mut attr).map_err(err("replace"))?;
        return Ok(());
    }
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(err("attach"))?;
    for old in &old_fds {
        let mut attr = AttachAttr {
            target_fd: dir_fd.as_raw_fd() as u32,
            attach_bpf_fd: old.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        match bpf(BPF_PROG_DETACH, &mut attr) {
            Ok(_) | Err(Errno(libc::ENOENT)) => {}
            Err(errno) => return Err(err("detach old")(errno)),
        }
    }
    Ok(())
}
