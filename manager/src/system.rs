//! The system domain: what `version` and `info` report about this berthd
//! and its host, gathered from the other domains, for every API adapter
//! (gRPC today; Docker's `/version` and `/info` answer the same).

use crate::containers::ContainerService;
use crate::images::ImageService;
use std::path::PathBuf;
use std::sync::Arc;

/// The cgroup driver (docker's `CgroupDriver`, the CRI's `RuntimeConfig`).
pub const CGROUP_DRIVER: &str = "cgroupfs";

/// The daemon's build and host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub version: String,
    pub git_commit: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
}

/// What `info` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfo {
    pub root_dir: PathBuf,
    pub state_dir: PathBuf,
    pub address: PathBuf,
    pub snapshotter: String,
    pub images: i64,
    /// All, running, paused, stopped.
    pub containers: (usize, usize, usize, usize),
    pub content_size: i64,
    pub snapshots_size: i64,
    pub insecure_registries: Vec<String>,
    pub kernel_version: String,
    pub operating_system: String,
    pub os_type: String,
    pub architecture: String,
    pub ncpu: i64,
    pub mem_total: i64,
    pub name: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
}

/// Where berthd runs from (its `--root`, `--state`, `--address`).
#[derive(Debug, Clone)]
pub struct DaemonPaths {
    pub root: PathBuf,
    pub state: PathBuf,
    pub address: PathBuf,
}

/// The system service.
pub struct SystemService {
    paths: DaemonPaths,
    images: Arc<ImageService>,
    containers: Arc<ContainerService>,
}

impl SystemService {
    pub fn new(
        paths: DaemonPaths,
        images: Arc<ImageService>,
        containers: Arc<ContainerService>,
    ) -> SystemService {
        SystemService {
            paths,
            images,
            containers,
        }
    }

    /// Where berthd runs from.
    pub fn paths(&self) -> &DaemonPaths {
        &self.paths
    }

    /// How berthd's containers' cgroups are managed: directly in cgroupfs
    /// (berthd has no systemd driver); a kubelet must be set to the same.
    pub fn cgroup_driver(&self) -> &'static str {
        CGROUP_DRIVER
    }

    /// docker version's server part.
    pub fn version(&self) -> VersionInfo {
        VersionInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            git_commit: option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown").into(),
            os: std::env::consts::OS.into(),
            arch: berth_docker::manifest::Platform::host().architecture,
            kernel_version: kernel_version(),
        }
    }

    /// docker info (it walks the content store and the snapshots: call it
    /// from a blocking thread).
    pub fn info_blocking(&self) -> SystemInfo {
        let images = self.images.count().unwrap_or(0) as i64;
        let content_size: u64 = self
            .images
            .content()
            .list()
            .map(|l| l.iter().map(|i| i.size).sum())
            .unwrap_or(0);
        let snapshotter = self.images.snapshotter();
        let snapshots_size: u64 = snapshotter
            .list()
            .map(|l| {
                l.iter()
                    .filter_map(|s| snapshotter.usage(&s.key).ok())
                    .map(|u| u.size)
                    .sum()
            })
            .unwrap_or(0);
        SystemInfo {
            root_dir: self.paths.root.clone(),
            state_dir: self.paths.state.clone(),
            address: self.paths.address.clone(),
            snapshotter: snapshotter.name().to_string(),
            images,
            containers: self.containers.counts(),
            content_size: content_size as i64,
            snapshots_size: snapshots_size as i64,
            insecure_registries: self.images.registry_config().insecure.clone(),
            kernel_version: kernel_version(),
            operating_system: operating_system(),
            os_type: std::env::consts::OS.into(),
            architecture: std::env::consts::ARCH.into(),
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1),
            mem_total: mem_total(),
            name: hostname(),
            cgroup_driver: CGROUP_DRIVER.into(),
            cgroup_version: cgroup_version(),
        }
    }
}

/// `uname -r`.
fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// PRETTY_NAME of /etc/os-release.
fn operating_system() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "linux".into())
}

/// MemTotal of /proc/meminfo, in bytes.
fn mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// "2" on a unified cgroup hierarchy, "1" otherwise (hybrid counts as 1).
fn cgroup_version() -> String {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2".into()
    } else {
        "1".into()
    }
}
