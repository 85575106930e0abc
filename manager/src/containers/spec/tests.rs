//! Unit tests of [`build_spec`]'s output: args, env, cwd, user, caps,
//! mounts, seccomp, namespaces and resources, on a tiny rootfs with an
//! /etc/passwd (no kernel work: the integration tests run the specs).

use super::*;
use std::path::PathBuf;

/// A rootfs dir with /etc/passwd and /etc/group, removed on drop.
struct Rootfs(PathBuf);

impl Rootfs {
    fn new(tag: &str) -> Rootfs {
        // Tests run in parallel and share tags: a counter keeps dirs apart.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("bt-spec-unit-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(
            dir.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("etc/group"),
            "root:x:0:\nstaff:x:50:app\nnogroup:x:65534:\n",
        )
        .unwrap();
        Rootfs(dir)
    }
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const ID: &str = "0123456789abcdef0123";

fn ctx(root: &Rootfs) -> SpecContext<'_> {
    SpecContext {
        id: ID,
        rootfs: &root.0,
        cgroups_path: format!("/berth/{ID}"),
        init_binary: None,
        hosts_files: None,
        cgroup_v2: false,
        swap_accounting: true,
        volumes: Vec::new(),
        host_resources: resources::HostResources {
            blkio_weight: false,
            blkio_throttle: true,
            cpu_realtime: false,
            cpus: "0-1".into(),
            mems: "0".into(),
        },
        cdi_spec_dirs: Vec::new(),
        link_env: Vec::new(),
        shareable_shm: None,
    }
}

fn image() -> ImageRuntimeConfig {
    ImageRuntimeConfig {
        env: vec!["PATH=/usr/bin:/bin".into(), "LANG=C.UTF-8".into()],
        entrypoint: Some(vec!["/entry".into()]),
        cmd: Some(vec!["serve".into(), "--port=80".into()]),
        working_dir: Some("/srv".into()),
        ..Default::default()
    }
}

fn spec_of(opts: &ContainerOptions) -> Spec {
    let root = Rootfs::new("spec");
    build_spec(&image(), opts, &ctx(&root)).unwrap()
}

fn err_of(image: &ImageRuntimeConfig, opts: &ContainerOptions) -> String {
    let root = Rootfs::new("err");
    build_spec(image, opts, &ctx(&root))
        .unwrap_err()
        .to_string()
}

fn process(spec: &Spec) -> &Process {
    spec.process.as_ref().unwrap()
}

fn linux(spec: &Spec) -> &berth_oci::Linux {
    spec.linux.as_ref().unwrap()
}

#[test]
fn args_compose_like_docker() {
    let p = |opts: ContainerOptions| process(&spec_of(&opts)).args.clone();
    assert_eq!(p(Default::default()), ["/entry", "serve", "--port=80"]);
    assert_eq!(
        p(ContainerOptions {
            cmd: vec!["debug".into()],
            ..Default::default()
        }),
        ["/entry", "debug"]
    );
    // --entrypoint drops the image's Cmd.
    assert_eq!(
        p(ContainerOptions {
            entrypoint: Some(vec!["sh".into()]),
            ..Default::default()
        }),
        ["sh"]
    );
    assert_eq!(
        p(ContainerOptions {
            entrypoint: Some(vec![]),
            cmd: vec!["ls".into(), "-l".into()],
            ..Default::default()
        }),
        ["ls", "-l"]
    );
    assert_eq!(
        p(ContainerOptions {
            entrypoint: Some(vec![String::new()]),
            cmd: vec!["ls".into()],
            ..Default::default()
        }),
        ["ls"]
    );
    assert_eq!(
        err_of(
            &image(),
            &ContainerOptions {
                entrypoint: Some(vec![]),
                ..Default::default()
            }
        ),
        "no command specified"
    );
    assert_eq!(
        err_of(&ImageRuntimeConfig::default(), &Default::default()),
        "no command specified"
    );
}

#[test]
fn env_cwd_hostname_and_terminal() {
    let spec = spec_of(&ContainerOptions {
        env: vec!["LANG=de_DE".into(), "X=1".into()],
        tty: true,
        ..Default::default()
    });
    let p = process(&spec);
    assert_eq!(
        p.env,
        [
            "PATH=/usr/bin:/bin",
            "HOSTNAME=0123456789ab",
            "TERM=xterm",
            "LANG=de_DE",
            "X=1",
            "HOME=/root"
        ]
    );
    assert!(p.terminal);
    assert_eq!(p.cwd, "/srv");
    assert_eq!(spec.hostname.as_deref(), Some("0123456789ab"));
    let spec = spec_of(&ContainerOptions {
        working_dir: Some("/a/../b/".into()),
        hostname: Some("web-1.example".into()),
        ..Default::default()
    });
    assert_eq!(process(&spec).cwd, "/b");
    assert_eq!(spec.hostname.as_deref(), Some("web-1.example"));
    assert!(err_of(
        &image(),
        &ContainerOptions {
            working_dir: Some("rel".into()),
            ..Default::default()
        }
    )
    .contains("'rel' is invalid, it needs to be an absolute path"));
    assert_eq!(
        err_of(
            &image(),
            &ContainerOptions {
                hostname: Some("bad_name".into()),
                ..Default::default()
            }
        ),
        "invalid hostname format: bad_name"
    );
}

#[test]
fn user_from_the_image_passwd() {
    let spec = spec_of(&ContainerOptions {
        user: Some("app".into()),
        group_add: vec!["nogroup".into()],
        ..Default::default()
    });
    let u = &process(&spec).user;
    assert_eq!((u.uid, u.gid), (1000, 1000));
    assert_eq!(u.additional_gids, [1000, 50, 65534]);
    assert!(process(&spec).env.contains(&"HOME=/home/app".to_string()));
    let caps = process(&spec).capabilities.as_ref().unwrap();
    assert_eq!(caps.bounding.len(), 14);
    assert!(caps.effective.is_empty() && caps.permitted.is_empty());
    let mut img = image();
    img.user = Some("nobody".into());
    let root = Rootfs::new("imguser");
    let spec = build_spec(&img, &Default::default(), &ctx(&root)).unwrap();
    assert_eq!(process(&spec).user.uid, 65534);
    // An empty -u keeps the image's user.
    let opts = ContainerOptions {
        user: Some(String::new()),
        ..Default::default()
    };
    let spec = build_spec(&img, &opts, &ctx(&root)).unwrap();
    assert_eq!(process(&spec).user.uid, 65534);
    assert_eq!(
        err_of(
            &image(),
            &ContainerOptions {
                user: Some("ghost".into()),
                ..Default::default()
            }
        ),
        "unable to find user ghost: no matching entries in passwd file"
    );
}

#[test]
fn default_security_is_dockers() {
    let spec = spec_of(&Default::default());
    let caps = process(&spec).capabilities.as_ref().unwrap();
    assert_eq!(caps.bounding.len(), 14);
    assert_eq!(caps.effective, caps.bounding);
    assert_eq!(caps.permitted, caps.bounding);
    assert!(caps.inheritable.is_empty() && caps.ambient.is_empty());
    assert!(!process(&spec).no_new_privileges);
    let l = linux(&spec);
    assert_eq!(l.masked_paths.len(), MASKED_PATHS.len());
    assert_eq!(l.readonly_paths.len(), READONLY_PATHS.len());
    let seccomp = l.seccomp.as_ref().unwrap();
    assert_eq!(seccomp.default_action, berth_oci::SeccompAction::Errno);
    assert!(!seccomp
        .syscalls
        .iter()
        .any(|s| s.names.contains(&"unshare".to_string())));
    let kinds: Vec<_> = l.namespaces.iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(kinds, ["mount", "network", "uts", "pid", "ipc"]);
    assert_eq!(
        l.cgroups_path.as_deref(),
        Some("/berth/0123456789abcdef0123")
    );
    assert!(!l.resources.as_ref().unwrap().devices[0].allow);
    assert!(l.devices.is_empty());
    let dests: Vec<_> = spec.mounts.iter().map(|m| m.destination.as_str()).collect();
    assert_eq!(
        dests,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm"
        ]
    );
    assert!(!spec.root.as_ref().unwrap().readonly);
}

#[test]
fn security_options_change_it() {
    let spec = spec_of(&ContainerOptions {
        security_opt: vec!["seccomp=unconfined".into(), "no-new-privileges".into()],
        cap_add: vec!["sys_admin".into()],
        cap_drop: vec!["NET_RAW".into()],
        read_only: true,
        ..Default::default()
    });
    assert!(linux(&spec).seccomp.is_none());
    assert!(process(&spec).no_new_privileges);
    assert!(spec.root.as_ref().unwrap().readonly);
    let caps = &process(&spec).capabilities.as_ref().unwrap().bounding;
    assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()));
    assert!(!caps.contains(&"CAP_NET_RAW".to_string()));
    // A user profile goes through the engine-format conversion.
    let spec = spec_of(&ContainerOptions {
        security_opt: vec!["seccomp=/p.json".into()],
        seccomp_profile: Some(
            br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#.to_vec(),
        ),
        ..Default::default()
    });
    let s = linux(&spec).seccomp.as_ref().unwrap();
    assert_eq!(s.default_action, berth_oci::SeccompAction::Allow);
    assert_eq!(s.syscalls[0].names, ["mkdir"]);
    assert!(err_of(
        &image(),
        &ContainerOptions {
            cap_add: vec!["CAP_BOGUS".into()],
            ..Default::default()
        }
    )
    .contains("unknown capability"));
}

#[test]
fn privileged_opens_everything() {
    let spec = spec_of(&ContainerOptions {
        privileged: true,
        ..Default::default()
    });
    let l = linux(&spec);
    assert!(l.seccomp.is_none());
    assert!(l.masked_paths.is_empty() && l.readonly_paths.is_empty());
    assert!(l.devices.iter().any(|d| d.path == "/dev/null"));
    assert!(l.resources.as_ref().unwrap().devices[0].allow);
    let sys = spec
        .mounts
        .iter()
        .find(|m| m.destination == "/sys")
        .unwrap();
    assert!(!sys.options.contains(&"ro".to_string()));
    let caps = &process(&spec).capabilities.as_ref().unwrap().bounding;
    assert_eq!(caps, &capabilities::grantable_capabilities());
}

#[test]
fn host_network_and_cgroup_v2() {
    let root = Rootfs::new("net");
    let mut c = ctx(&root);
    c.cgroup_v2 = true;
    let opts = ContainerOptions {
        network: NetworkMode::Host,
        ..Default::default()
    };
    let spec = build_spec(&image(), &opts, &c).unwrap();
    let kinds: Vec<_> = linux(&spec)
        .namespaces
        .iter()
        .map(|n| n.kind.as_str())
        .collect();
    assert_eq!(kinds, ["mount", "uts", "pid", "ipc", "cgroup"]);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(spec.hostname.as_deref(), Some(host.trim()));
    let e = build_spec(
        &image(),
        &ContainerOptions {
            network: NetworkMode::Host,
            sysctls: [("net.ipv4.ip_forward".to_string(), "1".to_string())].into(),
            ..Default::default()
        },
        &c,
    )
    .unwrap_err();
    assert!(e.to_string().contains("--network host"), "{e}");
    assert_eq!(NetworkMode::parse("bridge").unwrap(), NetworkMode::Bridge);
    assert_eq!(NetworkMode::parse("").unwrap(), NetworkMode::Bridge);
    assert_eq!(
        NetworkMode::parse("container:web").unwrap(),
        NetworkMode::Container("web".into())
    );
    assert!(NetworkMode::parse("container:").is_err());
    assert_eq!(
        NetworkMode::parse("front").unwrap(),
        NetworkMode::Named("front".into())
    );
}

#[test]
fn resources_like_docker() {
    let spec = spec_of(&ContainerOptions {
        memory: Some(64 << 20),
        cpus: Some(0.5),
        cpu_shares: Some(512),
        pids_limit: Some(100),
        ..Default::default()
    });
    let r = linux(&spec).resources.as_ref().unwrap();
    let mem = r.memory.as_ref().unwrap();
    assert_eq!((mem.limit, mem.swap), (Some(64 << 20), Some(128 << 20)));
    let cpu = r.cpu.as_ref().unwrap();
    assert_eq!(
        (cpu.quota, cpu.period, cpu.shares),
        (Some(50_000), Some(100_000), Some(512))
    );
    assert_eq!(r.pids.as_ref().unwrap().limit, 100);
    let spec = spec_of(&ContainerOptions {
        memory: Some(64 << 20),
        memory_swap: Some(-1),
        pids_limit: Some(0),
        ..Default::default()
    });
    let r = linux(&spec).resources.as_ref().unwrap();
    assert_eq!(r.memory.as_ref().unwrap().swap, Some(-1));
    assert_eq!(r.pids.as_ref().unwrap().limit, -1);
    for (opts, msg) in [
        (
            ContainerOptions {
                memory: Some(1 << 20),
                ..Default::default()
            },
            "minimum memory limit",
        ),
        (
            ContainerOptions {
                memory_swap: Some(1 << 30),
                ..Default::default()
            },
            "always set the memory limit",
        ),
        (
            ContainerOptions {
                memory: Some(64 << 20),
                memory_swap: Some(32 << 20),
                ..Default::default()
            },
            "larger than memory limit",
        ),
        (
            ContainerOptions {
                cpus: Some(1000.0),
                ..Default::default()
            },
            "range of CPUs",
        ),
    ] {
        let e = err_of(&image(), &opts);
        assert!(e.contains(msg), "{e}");
    }
}

#[test]
fn user_mounts_init_ulimits_sysctls() {
    let root = Rootfs::new("mounts");
    let src = root.0.join("host-src");
    std::fs::create_dir_all(&src).unwrap();
    let missing = root.0.join("made-by-v");
    let init = PathBuf::from("/usr/bin/tini-static");
    let mut c = ctx(&root);
    c.init_binary = Some(&init);
    let opts = ContainerOptions {
        binds: vec![
            format!("{}:/data:ro", src.display()),
            format!("{}:/made", missing.display()),
        ],
        mounts: vec![format!("type=bind,source={},target=/m", src.display())],
        tmpfs: vec!["/run:size=1m".into()],
        init: true,
        shm_size: Some(1 << 20),
        ulimits: vec!["nofile=100:200".into()],
        sysctls: [("kernel.shmmax".to_string(), "1000".to_string())].into(),
        ..Default::default()
    };
    let spec = build_spec(&image(), &opts, &c).unwrap();
    assert!(missing.is_dir(), "-v creates a missing source");
    let find = |d: &str| spec.mounts.iter().find(|m| m.destination == d).unwrap();
    assert_eq!(find("/data").options, ["rbind", "ro", "rprivate"]);
    assert_eq!(
        find("/run").options,
        ["noexec", "nosuid", "nodev", "size=1m"]
    );
    assert!(find("/dev/shm")
        .options
        .contains(&"size=1048576".to_string()));
    assert_eq!(find("/sbin/docker-init").options, ["bind", "ro"]);
    assert_eq!(
        process(&spec).args,
        ["/sbin/docker-init", "--", "/entry", "serve", "--port=80"]
    );
    let r = &process(&spec).rlimits[0];
    assert_eq!(
        (r.kind.as_str(), r.soft, r.hard),
        ("RLIMIT_NOFILE", 100, 200)
    );
    assert_eq!(linux(&spec).sysctl["kernel.shmmax"], "1000");

    // A --mount source must exist, and a failed check creates nothing.
    let never = root.0.join("never-made");
    let e = build_spec(
        &image(),
        &ContainerOptions {
            binds: vec![format!("{}:/x", never.display())],
            mounts: vec!["type=bind,source=/nonexistent-bt,target=/m".into()],
            ..Default::default()
        },
        &c,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-bt"
    );
    assert!(!never.exists());
    let e = build_spec(
        &image(),
        &ContainerOptions {
            init: true,
            ..Default::default()
        },
        &ctx(&root),
    )
    .unwrap_err();
    assert!(e.to_string().contains("tini"), "{e}");
}

#[test]
fn hosts_files_are_bound() {
    let root = Rootfs::new("hosts");
    let mut c = ctx(&root);
    c.hosts_files = Some(
        HostsFiles::write(
            &root.0,
            "0123456789ab",
            None,
            &NetworkMode::None,
            None,
            &[],
            &[],
            &hosts_files::Resolver::default(),
        )
        .unwrap(),
    );
    let spec = build_spec(
        &image(),
        &ContainerOptions {
            read_only: true,
            ..Default::default()
        },
        &c,
    )
    .unwrap();
    let hosts = spec
        .mounts
        .iter()
        .find(|m| m.destination == "/etc/hosts")
        .unwrap();
    assert_eq!(
        hosts.source.as_deref(),
        Some(root.0.join("hosts").to_str().unwrap())
    );
    assert!(hosts.options.contains(&"ro".to_string()));
}

#[test]
fn stop_signals_and_labels() {
    let mut img = image();
    assert_eq!(
        stop_signal(&img, &Default::default()).unwrap(),
        libc::SIGTERM
    );
    img.stop_signal = Some("SIGQUIT".into());
    assert_eq!(
        stop_signal(&img, &Default::default()).unwrap(),
        libc::SIGQUIT
    );
    let empty = ContainerOptions {
        stop_signal: Some(String::new()),
        ..Default::default()
    };
    assert_eq!(stop_signal(&img, &empty).unwrap(), libc::SIGQUIT);
    let opts = ContainerOptions {
        stop_signal: Some("kill".into()),
        labels: [("a".to_string(), "user".to_string())].into(),
        ..Default::default()
    };
    assert_eq!(stop_signal(&img, &opts).unwrap(), libc::SIGKILL);
    img.labels = [
        ("a".to_string(), "img".to_string()),
        ("b".to_string(), "img".to_string()),
    ]
    .into();
    let labels = container_labels(&img, &opts);
    assert_eq!(
        (labels["a"].as_str(), labels["b"].as_str()),
        ("user", "img")
    );
}

#[test]
fn spec_serializes_to_runtime_json() {
    let spec = spec_of(&Default::default());
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(json["process"]["args"][0], "/entry");
    assert_eq!(json["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    let back: Spec = serde_json::from_value(json).unwrap();
    back.validate().unwrap();
}

#[test]
fn options_round_trip_through_json() {
    let opts = ContainerOptions {
        cmd: vec!["sh".into()],
        network: NetworkMode::Host,
        memory: Some(64 << 20),
        seccomp_profile: Some(b"{}".to_vec()),
        ..Default::default()
    };
    let json = serde_json::to_value(&opts).unwrap();
    assert_eq!(json["network"], "host");
    let back: ContainerOptions = serde_json::from_value(json).unwrap();
    assert_eq!(back.network, NetworkMode::Host);
    for mode in ["container:abc", "front", "bridge", "none"] {
        let m = NetworkMode::parse(mode).unwrap();
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v, mode);
        assert_eq!(serde_json::from_value::<NetworkMode>(v).unwrap(), m);
    }
    assert_eq!(back.cmd, ["sh"]);
    assert_eq!(back.memory, Some(64 << 20));
    // A record from before a field existed still loads.
    let old: ContainerOptions = serde_json::from_str(r#"{"cmd":["true"]}"#).unwrap();
    assert_eq!(old.network, NetworkMode::None);
}

#[test]
fn volumes_mount_as_private_rbinds_of_their_directories() {
    let root = Rootfs::new("volumes");
    let opts = ContainerOptions {
        binds: vec!["data:/data:ro".into(), "/anon".into()],
        ..Default::default()
    };
    // The volumes service did not resolve them: refused, nothing mounted.
    let e = build_spec(&image(), &opts, &ctx(&root)).unwrap_err();
    assert!(e.to_string().contains("not resolved"), "{e}");
    let vols = Rootfs::new("volume-dirs");
    let dir = |n: &str| {
        let d = vols.0.join(n);
        std::fs::create_dir_all(&d).unwrap();
        d.display().to_string()
    };
    let (data_dir, anon_dir, image_dir) = (dir("data"), dir("abc"), dir("def"));
    let mut c = ctx(&root);
    c.volumes = vec![
        mounts::VolumeBind {
            source: data_dir.clone(),
            target: "/data".into(),
            read_only: true,
        },
        mounts::VolumeBind {
            source: anon_dir,
            target: "/anon".into(),
            read_only: false,
        },
        // An image VOLUME: only in the resolved list.
        mounts::VolumeBind {
            source: image_dir.clone(),
            target: "/image/vol".into(),
            read_only: false,
        },
    ];
    let spec = build_spec(&image(), &opts, &c).unwrap();
    let find = |d: &str| spec.mounts.iter().find(|m| m.destination == d).unwrap();
    let data = find("/data");
    assert_eq!(data.source.as_deref(), Some(data_dir.as_str()));
    assert_eq!(data.kind.as_deref(), Some("bind"));
    assert_eq!(data.options, ["rbind", "ro", "rprivate"]);
    assert_eq!(find("/anon").options, ["rbind", "rprivate"]);
    assert_eq!(
        find("/image/vol").source.as_deref(),
        Some(image_dir.as_str())
    );
    assert!(!spec
        .mounts
        .iter()
        .any(|m| m.kind.as_deref() == Some("volume")));
}
