//! The v2 driver over a fake cgroupfs tree in a temp dir: interface files
//! are pre-created as regular files, the driver runs, and the test reads
//! what it wrote. Covers the controllers this machine's cgroup2 mount
//! lacks (memory, cpu, io, pids, hugetlb, rdma, cpuset) and the parsing of
//! their statistics. Runs without root.

use berth_cgroups::{Cgroup, CgroupsPath, FreezerState, Layout};
use berth_oci::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static N: AtomicUsize = AtomicUsize::new(0);

/// A temp dir shaped like a v2 hierarchy with `berth/ctr` pre-created.
struct FakeTree {
    root: PathBuf,
}

const LEAF_FILES: &[&str] = &[
    "cgroup.procs",
    "cgroup.freeze",
    "cgroup.kill",
    "memory.max",
    "memory.low",
    "memory.swap.max",
    "memory.high",
    "cpu.weight",
    "cpu.max",
    "cpu.max.burst",
    "cpu.idle",
    "cpuset.cpus",
    "cpuset.mems",
    "pids.max",
    "io.weight",
    "io.max",
    "hugetlb.2MB.max",
    "rdma.max",
];

impl FakeTree {
    fn new() -> FakeTree {
        let root = std::env::temp_dir().join(format!(
            "bt{}-fake-v2-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("berth/ctr")).unwrap();
        fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids rdma misc\n",
        )
        .unwrap();
        fs::write(root.join("cgroup.subtree_control"), "").unwrap();
        fs::write(root.join("berth/cgroup.controllers"), "").unwrap();
        fs::write(root.join("berth/cgroup.subtree_control"), "cpu memory\n").unwrap();
        for f in LEAF_FILES {
            fs::write(root.join("berth/ctr").join(f), "").unwrap();
        }
        // What the kernel shows in a cgroup that is not frozen: joining
        // one that is (create of an existing cgroup) is refused.
        fs::write(root.join("berth/ctr/cgroup.freeze"), "0\n").unwrap();
        fs::write(
            root.join("berth/ctr/cgroup.events"),
            "populated 1\nfrozen 0\n",
        )
        .unwrap();
        FakeTree { root }
    }

    fn layout(&self) -> Layout {
        Layout::V2 {
            mount: self.root.clone(),
        }
    }

    fn leaf(&self) -> PathBuf {
        self.root.join("berth/ctr")
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join(rel)).unwrap()
    }
}

impl Drop for FakeTree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn path() -> CgroupsPath {
    CgroupsPath::parse("/berth/ctr").unwrap()
}

#[test]
fn create_enables_missing_controllers_in_each_ancestor() {
    let tree = FakeTree::new();
    let cg = Cgroup::create(&tree.layout(), &path()).unwrap();
    assert_eq!(cg.dirs(), vec![tree.leaf().as_path()]);
    assert_eq!(
        tree.read("cgroup.subtree_control"),
        "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc"
    );
    // berth already had cpu and memory: only the rest is written.
    assert_eq!(
        tree.read("berth/cgroup.subtree_control"),
        "+cpuset +io +hugetlb +pids +rdma +misc"
    );
    // The leaf pre-existed: joined, never removed.
    cg.destroy().unwrap();
    assert!(tree.leaf().is_dir());
}

#[test]
fn every_resource_lands_in_its_file() {
    let tree = FakeTree::new();
    let resources = LinuxResources {
        memory: Some(LinuxMemory {
            limit: Some(100 << 20),
            reservation: Some(50 << 20),
            swap: Some(300 << 20),
            disable_oom_killer: Some(false),
            ..Default::default()
        }),
        cpu: Some(LinuxCpu {
            shares: Some(1024),
            quota: Some(50_000),
            period: Some(100_000),
            burst: Some(1000),
            idle: Some(0),
            cpus: Some("0-1".into()),
            mems: Some("0".into()),
            ..Default::default()
        }),
        pids: Some(LinuxPids { limit: 42 }),
        block_io: Some(LinuxBlockIo {
            weight: Some(1000),
            throttle_write_bps_device: vec![LinuxThrottleDevice {
                major: 8,
                minor: 0,
                rate: 4096,
            }],
            ..Default::default()
        }),
        hugepage_limits: vec![LinuxHugepageLimit {
            page_size: "2MB".into(),
            limit: 4 << 20,
        }],
        rdma: [(
            "mlx5_0".to_string(),
            LinuxRdma {
                hca_handles: Some(3),
                hca_objects: None,
            },
        )]
        .into(),
        unified: [("memory.high".to_string(), "90000000".to_string())].into(),
        ..Default::default()
    };
    let cg = Cgroup::create_with_resources(&tree.layout(), &path(), &resources).unwrap();
    let f = |name: &str| tree.read(&format!("berth/ctr/{name}"));
    assert_eq!(f("memory.max"), (100u64 << 20).to_string());
    assert_eq!(f("memory.low"), (50u64 << 20).to_string());
    assert_eq!(
        f("memory.swap.max"),
        (200u64 << 20).to_string(),
        "memsw 300M - memory 100M"
    );
    assert_eq!(f("cpu.weight"), "100", "1024 shares is the default weight");
    assert_eq!(f("cpu.max"), "50000 100000");
    assert_eq!(f("cpu.max.burst"), "1000");
    assert_eq!(f("cpu.idle"), "0");
    assert_eq!(f("cpuset.cpus"), "0-1");
    assert_eq!(f("cpuset.mems"), "0");
    assert_eq!(f("pids.max"), "42");
    assert_eq!(
        f("io.weight"),
        "10000",
        "no io.bfq.weight here: converted for io.weight"
    );
    assert_eq!(f("io.max"), "8:0 wbps=4096");
    assert_eq!(f("hugetlb.2MB.max"), (4u64 << 20).to_string());
    assert_eq!(f("rdma.max"), "mlx5_0 hca_handle=3");
    assert_eq!(f("memory.high"), "90000000");

    // update: only what is given changes; -1 is max.
    cg.apply(&LinuxResources {
        memory: Some(LinuxMemory {
            limit: Some(-1),
            ..Default::default()
        }),
        pids: Some(LinuxPids { limit: -1 }),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(f("memory.max"), "max");
    assert_eq!(f("memory.swap.max"), "max");
    assert_eq!(f("pids.max"), "max");
    assert_eq!(f("cpu.weight"), "100", "untouched");
}

#[test]
fn a_period_alone_keeps_the_current_quota() {
    let tree = FakeTree::new();
    fs::write(tree.leaf().join("cpu.max"), "30000 100000\n").unwrap();
    let cg = Cgroup::create(&tree.layout(), &path()).unwrap();
    cg.apply(&LinuxResources {
        cpu: Some(LinuxCpu {
            period: Some(200_000),
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap();
    assert!(tree.read("berth/ctr/cpu.max").starts_with("30000 200000"));
}

#[test]
fn values_v2_cannot_honour_are_refused_by_name() {
    let tree = FakeTree::new();
    let cg = Cgroup::create(&tree.layout(), &path()).unwrap();
    let cases: Vec<(LinuxResources, &str)> = vec![
        (
            LinuxResources {
                memory: Some(LinuxMemory {
                    kernel: Some(1 << 20),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "linux.resources.memory.kernel is not supported on cgroup v2",
        ),
        (
            LinuxResources {
                memory: Some(LinuxMemory {
                    swappiness: Some(10),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "linux.resources.memory.swappiness is not supported on cgroup v2",
        ),
        (
            LinuxResources {
                memory: Some(LinuxMemory {
                    disable_oom_killer: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "linux.resources.memory.disableOOMKiller is not supported on cgroup v2",
        ),
        (
            LinuxResources {
                memory: Some(LinuxMemory {
                    swap: Some(1 << 20),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "invalid linux.resources.memory.swap 1048576: a swap limit needs a memory limit on cgroup v2",
        ),
        (
            LinuxResources {
                network: Some(LinuxNetwork {
                    class_id: Some(7),
                    priorities: vec![],
                }),
                ..Default::default()
            },
            "linux.resources.network is not supported on cgroup v2 (net_cls and net_prio are v1-only controllers)",
        ),
        (
            LinuxResources {
                block_io: Some(LinuxBlockIo {
                    leaf_weight: Some(100),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "linux.resources.blockIO.leafWeight is not supported on cgroup v2",
        ),
        (
            LinuxResources {
                hugepage_limits: vec![LinuxHugepageLimit {
                    page_size: "../x".into(),
                    limit: 1,
                }],
                ..Default::default()
            },
            "invalid linux.resources.hugepageLimits.pageSize ../x: want a size like 2MB or 1GB",
        ),
        (
            LinuxResources {
                unified: [("cgroup.procs".to_string(), "1".to_string())].into(),
                ..Default::default()
            },
            "invalid linux.resources.unified \"cgroup.procs\": moves, freezes or kills tasks; not a resource",
        ),
    ];
    for (resources, want) in cases {
        let err = cg.apply(&resources).unwrap_err();
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn freeze_kill_procs_and_state_use_the_core_files() {
    let tree = FakeTree::new();
    let cg = Cgroup::create(&tree.layout(), &path()).unwrap();
    // The kernel reports the freeze done in cgroup.events; this fake tree
    // says so at once.
    fs::write(tree.leaf().join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
    cg.freeze().unwrap();
    assert_eq!(tree.read("berth/ctr/cgroup.freeze"), "1");
    assert_eq!(cg.freezer_state().unwrap(), FreezerState::Frozen);
    fs::write(tree.leaf().join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    assert_eq!(cg.freezer_state().unwrap(), FreezerState::Freezing);
    cg.thaw().unwrap();
    assert_eq!(cg.freezer_state().unwrap(), FreezerState::Thawed);
    cg.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(tree.read("berth/ctr/cgroup.kill"), "1");
    fs::write(tree.leaf().join("cgroup.procs"), "12\n34\n").unwrap();
    assert_eq!(cg.pids().unwrap(), vec![12, 34]);
    cg.add_process(99).unwrap();
    assert!(tree.read("berth/ctr/cgroup.procs").starts_with("99"));
}

#[test]
fn stats_parse_the_v2_files() {
    let tree = FakeTree::new();
    let leaf = tree.leaf();
    let w = |name: &str, content: &str| fs::write(leaf.join(name), content).unwrap();
    w(
        "cpu.stat",
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 2\nthrottled_usec 7\n",
    );
    w("memory.current", "4096\n");
    w("memory.max", "max\n");
    w("memory.peak", "8192\n");
    w("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    w("memory.swap.current", "0\n");
    w("memory.swap.max", "1024\n");
    w("memory.stat", "anon 100\nfile 200\n");
    w("pids.current", "2\n");
    w("pids.max", "max\n");
    w(
        "io.stat",
        "254:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
    );
    w("hugetlb.2MB.current", "0\n");
    w("hugetlb.2MB.events", "max 4\n");
    w("cpuset.cpus.effective", "0-1\n");
    let cg = Cgroup::create(&tree.layout(), &path()).unwrap();
    let s = cg.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 1_500_000);
    assert_eq!(s.cpu.usage.user, 1_000_000);
    assert_eq!(s.cpu.usage.kernel, 500_000);
    assert_eq!(s.cpu.throttling.throttled_periods, 2);
    assert_eq!(s.cpu.throttling.throttled_time, 7000);
    assert_eq!(s.memory.usage.usage, 4096);
    assert_eq!(s.memory.usage.limit, u64::MAX);
    assert_eq!(s.memory.usage.max, 8192);
    assert_eq!(s.memory.usage.failcnt, 3);
    assert_eq!(s.memory.swap.limit, 1024);
    assert_eq!(s.memory.cache, 200);
    assert_eq!(s.pids.current, 2);
    assert_eq!(s.pids.limit, 0, "max reads as 0, as runc reports it");
    assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
    assert_eq!(s.hugetlb["2MB"].failcnt, 4);
    assert_eq!(s.cpuset.cpus, vec![0, 1]);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["memory"]["raw"]["anon"], 100);
    assert_eq!(json["blkio"]["ioServiceBytesRecursive"][0]["op"], "Read");
}

#[test]
fn oom_kills_are_counted_from_memory_events() {
    let tree = FakeTree::new();
    fs::write(tree.leaf().join("memory.events"), "oom 1\noom_kill 1\n").unwrap();
    let cg = Cgroup::create(&tree.layout(), &path()).unwrap();
    let mut oom = cg.oom_notifier().unwrap();
    assert_eq!(oom.poll_events(), libc::POLLPRI);
    assert_eq!(
        oom.take().unwrap(),
        0,
        "kills before the notifier do not count"
    );
    fs::write(tree.leaf().join("memory.events"), "oom 3\noom_kill 3\n").unwrap();
    assert_eq!(oom.take().unwrap(), 2);
    assert_eq!(oom.take().unwrap(), 0);
}

#[test]
fn a_new_leaf_is_made_and_removed() {
    let tree = FakeTree::new();
    let cg = Cgroup::create(&tree.layout(), &CgroupsPath::parse("/berth/new").unwrap()).unwrap();
    assert!(tree.root.join("berth/new").is_dir());
    let json = serde_json::to_string(&cg).unwrap();
    assert!(json.contains("\"version\":\"v2\""), "{json}");
    assert!(json.contains("\"created\":1"), "{json}");
    let back: Cgroup = serde_json::from_str(&json).unwrap();
    back.destroy().unwrap();
    assert!(!tree.root.join("berth/new").exists());
    assert!(Path::new(&tree.root.join("berth")).is_dir());
}
