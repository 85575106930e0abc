//! Linux capabilities by name (`CAP_SYS_ADMIN`) and the five sets of
//! `process.capabilities` applied to the container's process.
//!
//! Order (capabilities(7), and what runc does): drop from the bounding set
//! while we still have CAP_SETPCAP, keep permitted caps across setuid with
//! PR_SET_KEEPCAPS, then set effective/permitted/inheritable with capset and
//! raise the ambient ones last (they must be permitted and inheritable).

use berth_oci::LinuxCapabilities;

use crate::error::{Context, Result};

/// Every capability the kernel headers name, by number.
pub const NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// A capability's number; names are matched without case and with or
/// without the `CAP_` prefix (runc accepts `--cap sys_admin`).
pub fn number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    NAMES.iter().position(|n| *n == full).map(|i| i as u32)
}

/// A set of capabilities as the kernel's 64-bit mask. Names the kernel
/// headers do not know are ignored, as runc does, so a newer engine's list
/// still works on this runtime.
pub fn mask(names: &[String]) -> u64 {
    names
        .iter()
        .filter_map(|n| number(n))
        .fold(0u64, |m, c| m | (1u64 << c))
}

/// The masks of the five sets.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
}

impl CapSets {
    pub fn from_spec(c: &LinuxCapabilities) -> CapSets {
        CapSets {
            bounding: mask(&c.bounding),
            effective: mask(&c.effective),
            inheritable: mask(&c.inheritable),
            permitted: mask(&c.permitted),
            ambient: mask(&c.ambient),
        }
    }
}

/// The highest capability number this kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(NAMES.len() as u32 - 1)
}

/// Drops every capability not in `bounding` from the bounding set.
pub fn drop_bounding(bounding: u64) -> Result<()> {
    for cap in 0..=last_cap().min(63) {
        if bounding & (1 << cap) == 0 {
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                // EINVAL: the kernel does not know this cap; nothing to drop.
                if e.raw_os_error() != Some(libc::EINVAL) {
                    return Err(e).context(|| {
                        format!("drop capability {} from bounding set", cap_name(cap))
                    });
                }
            }
        }
    }
    Ok(())
}

/// Sets effective, permitted and inheritable with capset(2) (version 3).
pub fn set_process_caps(sets: &CapSets) -> Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let word = |m: u64, i: usize| (m >> (32 * i)) as u32;
    let data = [0, 1].map(|i| Data {
        effective: word(sets.effective, i),
        permitted: word(sets.permitted, i),
        inheritable: word(sets.inheritable, i),
    });
    crate::sys::check_long(unsafe {
        libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr())
    })
    .context(|| "set capabilities (capset)".into())?;
    Ok(())
}

/// Raises the ambient set (after [`set_process_caps`]). A cap that is not
/// both permitted and inheritable cannot be ambient (EPERM): like runc, such
/// caps are skipped, since runc's own default spec lists ambient caps without
/// inheritable ones.
pub fn raise_ambient(ambient: u64) -> Result<()> {
    for cap in 0..64u32 {
        if ambient & (1 << cap) != 0 {
            let r = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    cap as libc::c_ulong,
                    0,
                    0,
                )
            };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EPERM) {
                    return Err(e)
                        .context(|| format!("raise ambient capability {}", cap_name(cap)));
                }
            }
        }
    }
    Ok(())
}

fn cap_name(cap: u32) -> String {
    NAMES
        .get(cap as usize)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("{cap}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_masks() {
        assert_eq!(number("CAP_CHOWN"), Some(0));
        assert_eq!(number("sys_admin"), Some(21));
        assert_eq!(number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(number("CAP_BOGUS"), None);
        let m = mask(&["CAP_KILL".into(), "CAP_BOGUS".into(), "CAP_BPF".into()]);
        assert_eq!(m, (1 << 5) | (1 << 39));
    }
}
