//! Which cgroup filesystems the host has mounted, and where.
//!
//! Three layouts exist in the wild (kernel `Documentation/admin-guide/cgroup-v2.rst`,
//! "Mounting"; systemd's "unified", "hybrid" and "legacy" modes):
//!
//! * **v2** (unified): `/sys/fs/cgroup` is a `cgroup2` mount. One
//!   statfs(2) tells (`CGROUP2_SUPER_MAGIC`), so the common case costs one
//!   system call and no parsing.
//! * **v1** (legacy): `/sys/fs/cgroup` is a tmpfs holding one `cgroup` mount
//!   per hierarchy (`cpu`, `memory`, `name=systemd`, ... where two
//!   controllers can share a hierarchy, as in `cpu,cpuacct`).
//! * **hybrid**: v1 hierarchies plus a `cgroup2` mount (usually
//!   `/sys/fs/cgroup/unified`) that holds no or few controllers. The
//!   controllers are used through v1, as runc does; the cgroup2 mount is
//!   kept as one more hierarchy (the container gets a directory there too,
//!   and `linux.resources.unified` is written there).
//!
//! v1 and hybrid are told apart from v2 by one read of
//! `/proc/self/mountinfo` (proc(5)): the super options of each `cgroup`
//! mount name its controllers.

use crate::errno::Errno;
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where cgroup filesystems are normally mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// `CGROUP2_SUPER_MAGIC` from `include/uapi/linux/magic.h`.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// What went wrong finding the cgroup mounts.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// `/proc/self/mountinfo` could not be read.
    #[error("read /proc/self/mountinfo: {0}")]
    Mountinfo(Errno),
    /// No `cgroup` or `cgroup2` filesystem is mounted.
    #[error(
        "no cgroup filesystem is mounted (looked for cgroup and cgroup2 in /proc/self/mountinfo)"
    )]
    NoCgroupfs,
}

/// A cgroup v1 controller, or a named hierarchy that carries none
/// (`name=systemd`), or the cgroup2 mount of a hybrid host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Controller {
    Cpu = 1 << 0,
    Cpuacct = 1 << 1,
    Cpuset = 1 << 2,
    Memory = 1 << 3,
    Devices = 1 << 4,
    Freezer = 1 << 5,
    Blkio = 1 << 6,
    Pids = 1 << 7,
    NetCls = 1 << 8,
    NetPrio = 1 << 9,
    PerfEvent = 1 << 10,
    Hugetlb = 1 << 11,
    Rdma = 1 << 12,
    Misc = 1 << 13,
    /// The `name=systemd` named hierarchy (process tracking only).
    NameSystemd = 1 << 14,
    /// The cgroup2 hierarchy of a hybrid host.
    Unified = 1 << 15,
}

impl Controller {
    const ALL: [Controller; 16] = [
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Devices,
        Controller::Freezer,
        Controller::Blkio,
        Controller::Pids,
        Controller::NetCls,
        Controller::NetPrio,
        Controller::PerfEvent,
        Controller::Hugetlb,
        Controller::Rdma,
        Controller::Misc,
        Controller::NameSystemd,
        Controller::Unified,
    ];

    /// The name in mount options and `/proc/<pid>/cgroup`.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Devices => "devices",
            Controller::Freezer => "freezer",
            Controller::Blkio => "blkio",
            Controller::Pids => "pids",
            Controller::NetCls => "net_cls",
            Controller::NetPrio => "net_prio",
            Controller::PerfEvent => "perf_event",
            Controller::Hugetlb => "hugetlb",
            Controller::Rdma => "rdma",
            Controller::Misc => "misc",
            Controller::NameSystemd => "name=systemd",
            Controller::Unified => "unified",
        }
    }

    /// The controller a mount option names, if any.
    pub fn from_name(name: &str) -> Option<Controller> {
        Controller::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A set of controllers: the ones one v1 hierarchy carries. Serialized as a
/// comma-separated list (`"cpu,cpuacct"`), as in mount options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ControllerSet(u32);

impl ControllerSet {
    /// The empty set.
    pub const EMPTY: ControllerSet = ControllerSet(0);

    /// The set holding one controller.
    pub fn of(c: Controller) -> ControllerSet {
        ControllerSet(c as u32)
    }

    /// Whether `c` is in the set.
    pub fn has(self, c: Controller) -> bool {
        self.0 & c as u32 != 0
    }

    /// Adds `c`.
    pub fn insert(&mut self, c: Controller) {
        self.0 |= c as u32;
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The controllers in the set, in a fixed order.
    pub fn iter(self) -> impl Iterator<Item = Controller> {
        Controller::ALL.into_iter().filter(move |c| self.has(*c))
    }
}

impl fmt::Display for ControllerSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(c.name())?;
        }
        Ok(())
    }
}

impl Serialize for ControllerSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ControllerSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ControllerSet, D::Error> {
        let text = String::deserialize(d)?;
        let mut set = ControllerSet::EMPTY;
        for name in text.split(',').filter(|n| !n.is_empty()) {
            let c = Controller::from_name(name).ok_or_else(|| {
                serde::de::Error::custom(format!("unknown cgroup controller {name:?}"))
            })?;
            set.insert(c);
        }
        Ok(set)
    }
}

/// One mounted v1 hierarchy (or the cgroup2 mount of a hybrid host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// The controllers it carries.
    pub controllers: ControllerSet,
    /// Where it is mounted (`/sys/fs/cgroup/cpu`).
    pub mount: PathBuf,
    /// Which cgroup of the hierarchy is the mount's root (`/` unless the
    /// mount was made inside a cgroup namespace or bind-mounted).
    pub root: String,
}

impl Hierarchy {
    /// The directory of the cgroup `rel` (relative to the hierarchy's root
    /// cgroup, no leading `/`) under this mount. When the mount's root is a
    /// sub-cgroup that holds `rel`, the common prefix is stripped, as the
    /// kernel shows paths relative to the mount.
    pub fn dir_of(&self, rel: &str) -> PathBuf {
        let root = self.root.trim_start_matches('/');
        let inner = if !root.is_empty() {
            rel.strip_prefix(root)
                .and_then(|r| {
                    r.strip_prefix('/')
                        .or(if r.is_empty() { Some(r) } else { None })
                })
                .unwrap_or(rel)
        } else {
            rel
        };
        self.mount.join(inner)
    }
}

/// The host's cgroup layout, detected once per runtime call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// v1 or hybrid: one hierarchy per mount (including, on hybrid hosts, the
    /// cgroup2 mount with [`Controller::Unified`]).
    V1 { hierarchies: Vec<Hierarchy> },
    /// Pure v2: one hierarchy mounted at `mount`.
    V2 { mount: PathBuf },
}

impl Layout {
    /// Detects the layout: one statfs(2) of `/sys/fs/cgroup` for v2 hosts;
    /// otherwise one read of `/proc/self/mountinfo`.
    pub fn detect() -> Result<Layout, LayoutError> {
        if is_cgroup2(Path::new(CGROUP_ROOT)) {
            return Ok(Layout::V2 {
                mount: PathBuf::from(CGROUP_ROOT),
            });
        }
        let mountinfo = crate::interface_file::read(Path::new("/proc/self/mountinfo"))
            .map_err(|e| LayoutError::Mountinfo(e.errno().unwrap_or(Errno(libc::EIO))))?;
        Layout::from_mountinfo(&mountinfo)
    }

    /// The layout described by the text of a `mountinfo` file.
    pub fn from_mountinfo(mountinfo: &str) -> Result<Layout, LayoutError> {
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        let mut unified: Option<Hierarchy> = None;
        for line in mountinfo.lines() {
            let Some(mount) = MountinfoLine::parse(line) else {
                continue;
            };
            match mount.fstype {
                "cgroup" => {
                    let mut controllers = ControllerSet::EMPTY;
                    for opt in mount.super_options.split(',') {
                        if let Some(c) = Controller::from_name(opt) {
                            controllers.insert(c);
                        }
                    }
                    // Only the first mount of a hierarchy counts (it may be
                    // bind-mounted again elsewhere); named hierarchies other
                    // than name=systemd carry nothing the runtime uses.
                    if controllers.is_empty()
                        || hierarchies.iter().any(|h| h.controllers == controllers)
                    {
                        continue;
                    }
                    hierarchies.push(Hierarchy {
                        controllers,
                        mount: PathBuf::from(unescape(mount.mount_point)),
                        root: unescape(mount.root),
                    });
                }
                "cgroup2" if unified.is_none() => {
                    unified = Some(Hierarchy {
                        controllers: ControllerSet::of(Controller::Unified),
                        mount: PathBuf::from(unescape(mount.mount_point)),
                        root: unescape(mount.root),
                    });
                }
                _ => {}
            }
        }
        match (hierarchies.is_empty(), unified) {
            (true, None) => Err(LayoutError::NoCgroupfs),
            (true, Some(u)) => Ok(Layout::V2 { mount: u.mount }),
            (false, u) => {
                hierarchies.extend(u);
                Ok(Layout::V1 { hierarchies })
            }
        }
    }

    /// Whether this is a v2 (unified) layout.
    pub fn is_v2(&self) -> bool {
        matches!(self, Layout::V2 { .. })
    }
}

/// Whether `path` is the root of a cgroup2 mount (statfs(2) `f_type`).
pub fn is_cgroup2(path: &Path) -> bool {
    let Ok(cpath) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: cpath is NUL-terminated and st is a valid out-pointer.
    let rc = unsafe { libc::statfs(cpath.as_ptr(), &mut st) };
    rc == 0 && st.f_type as i64 == CGROUP2_SUPER_MAGIC
}

/// The fields of one `/proc/self/mountinfo` line that matter here
/// (proc(5): `id parent major:minor root mount-point options
/// [optional...] - fstype source super-options`).
struct MountinfoLine<'a> {
    root: &'a str,
    mount_point: &'a str,
    fstype: &'a str,
    super_options: &'a str,
}

impl<'a> MountinfoLine<'a> {
    fn parse(line: &'a str) -> Option<MountinfoLine<'a>> {
        let (left, right) = line.split_once(" - ")?;
        let mut left = left.split(' ');
        let root = left.nth(3)?;
        let mount_point = left.next()?;
        let mut right = right.split(' ');
        let fstype = right.next()?;
        let _source = right.next()?;
        let super_options = right.next().unwrap_or("");
        Some(MountinfoLine {
            root,
            mount_point,
            fstype,
            super_options,
        })
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011` tab,
/// `\012` newline, `\134` backslash).
fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_string();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            if let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 4])
                .ok()
                .and_then(|oct| u8::from_str_radix(oct, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_is_v1_with_the_unified_mount_as_a_hierarchy() {
        let Layout::V1 { hierarchies } = Layout::from_mountinfo(HYBRID).unwrap() else {
            panic!("hybrid must be v1");
        };
        let names: Vec<String> = hierarchies
            .iter()
            .map(|h| h.controllers.to_string())
            .collect();
        assert_eq!(
            names,
            ["cpu", "cpuacct", "memory", "name=systemd", "unified"]
        );
        assert_eq!(hierarchies[4].mount, Path::new("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn combined_controllers_share_one_hierarchy() {
        let info = "1 0 0:1 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
                    2 0 0:1 / /mnt/again rw - cgroup cgroup rw,cpu,cpuacct\n";
        let Layout::V1 { hierarchies } = Layout::from_mountinfo(info).unwrap() else {
            panic!("v1 expected");
        };
        assert_eq!(hierarchies.len(), 1);
        assert!(hierarchies[0].controllers.has(Controller::Cpu));
        assert!(hierarchies[0].controllers.has(Controller::Cpuacct));
        assert!(!hierarchies[0].controllers.has(Controller::Memory));
    }

    #[test]
    fn only_cgroup2_is_v2() {
        let info = "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            Layout::from_mountinfo(info).unwrap(),
            Layout::V2 {
                mount: PathBuf::from("/sys/fs/cgroup")
            }
        );
    }

    #[test]
    fn no_cgroupfs_is_an_error() {
        let info = "1 0 0:1 / / rw - ext4 /dev/vda rw\n";
        assert!(matches!(
            Layout::from_mountinfo(info),
            Err(LayoutError::NoCgroupfs)
        ));
    }

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn dir_of_strips_a_namespaced_mount_root() {
        let h = Hierarchy {
            controllers: ControllerSet::of(Controller::Memory),
            mount: PathBuf::from("/sys/fs/cgroup/memory"),
            root: "/outer".to_string(),
        };
        assert_eq!(h.dir_of("outer/x"), Path::new("/sys/fs/cgroup/memory/x"));
        assert_eq!(
            h.dir_of("berth/x"),
            Path::new("/sys/fs/cgroup/memory/berth/x")
        );
    }

    #[test]
    fn controller_sets_round_trip_through_serde() {
        let mut set = ControllerSet::of(Controller::Cpu);
        set.insert(Controller::Cpuacct);
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, "\"cpu,cpuacct\"");
        assert_eq!(serde_json::from_str::<ControllerSet>(&json).unwrap(), set);
        assert!(serde_json::from_str::<ControllerSet>("\"bogus\"").is_err());
    }
}
