//! berthd's Kubernetes CRI v1 socket, driven by a CRI client generated from
//! the same vendored protos (integration-tests/src/cri.rs), as a kubelet
//! drives it: runtime identity, status and config, the image service
//! against Debian's docker-registry on loopback, and the calls berthd does
//! not serve yet answering `Unimplemented`.

use berth_integration_tests::berthd::Berthd;
use berth_integration_tests::cri::{self, CriClient};
use berth_integration_tests::registry::{
    make_tar, skopeo_copy, skopeo_inspect, umoci_busybox, write_oci_layout, FakeRegistry,
    FakeResponse, Registry,
};
use berth_integration_tests::{bin, require_root, TestDir};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tonic::Code;

fn connect(d: &Berthd) -> CriClient {
    CriClient::connect(&d.cri_socket)
}

#[test]
fn the_cri_socket_serves_version_status_and_runtime_config() {
    require_root();
    let empty = TestDir::new("cni-empty");
    let d = Berthd::start_with_config(&format!(
        r#"{{"cni-conf-dir": "{}"}}"#,
        empty.path.display()
    ));
    let meta = std::fs::metadata(&d.cri_socket).expect("cri.sock in the state dir by default");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.mode() & 0o777, 0o660, "cri.sock mode");
    assert_eq!(meta.uid(), 0);
    let mut c = connect(&d);

    let v = c
        .call(|c| {
            c.runtime.version(cri::VersionRequest {
                version: "0.1.0".into(),
            })
        })
        .unwrap();
    assert_eq!(v.version, "0.1.0");
    assert_eq!(v.runtime_name, "berth");
    assert_eq!(v.runtime_api_version, "v1");
    assert_eq!(v.runtime_version, env!("CARGO_PKG_VERSION"));

    let s = c
        .call(|c| c.runtime.status(cri::StatusRequest { verbose: false }))
        .unwrap();
    let conditions = s.status.expect("status").conditions;
    let ready = |t: &str| {
        conditions
            .iter()
            .find(|c| c.r#type == t)
            .unwrap_or_else(|| panic!("no {t} condition: {conditions:?}"))
            .clone()
    };
    assert!(ready("RuntimeReady").status);
    let network = ready("NetworkReady");
    assert!(!network.status, "no CNI config: {network:?}");
    assert_eq!(network.reason, "NetworkPluginNotReady");
    assert_eq!(
        network.message,
        format!(
            "pod network not ready: no CNI network config in {} (.conflist, .conf or .json)",
            empty.path.display()
        )
    );
    assert!(s.info.is_empty(), "info only when verbose: {:?}", s.info);
    // A config that loads makes the network ready, without a restart.
    std::fs::write(
        empty.join("10-lo.conf"),
        r#"{"cniVersion": "0.4.0", "name": "lo-only", "type": "loopback"}"#,
    )
    .unwrap();
    let s = c
        .call(|c| c.runtime.status(cri::StatusRequest { verbose: false }))
        .unwrap();
    let network = s.status.unwrap().conditions[1].clone();
    assert_eq!(network.r#type, "NetworkReady");
    assert!(network.status && network.reason.is_empty(), "{network:?}");
    let s = c
        .call(|c| c.runtime.status(cri::StatusRequest { verbose: true }))
        .unwrap();
    let config: serde_json::Value = serde_json::from_str(&s.info["config"]).unwrap();
    assert_eq!(config["cgroupDriver"], "cgroupfs");
    assert_eq!(config["root"], d.root.display().to_string());

    let rc = c
        .call(|c| c.runtime.runtime_config(cri::RuntimeConfigRequest {}))
        .unwrap();
    assert_eq!(
        rc.linux.expect("linux").cgroup_driver,
        cri::CgroupDriver::Cgroupfs as i32
    );
}

#[test]
fn calls_not_served_yet_answer_unimplemented_with_their_name() {
    require_root();
    let d = Berthd::start();
    let mut c = connect(&d);
    let e = c
        .call(|c| {
            c.runtime
                .create_container(cri::CreateContainerRequest::default())
        })
        .unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented);
    assert_eq!(e.message(), "not implemented: CRI CreateContainer");
    let e = c
        .call(|c| {
            c.runtime.container_status(cri::ContainerStatusRequest {
                container_id: "x".into(),
                verbose: false,
            })
        })
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::Unimplemented, "not implemented: CRI ContainerStatus")
    );
    let e = c
        .call(|c| c.runtime.exec(cri::ExecRequest::default()))
        .unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented);
    // The daemon goes on answering.
    c.call(|c| c.runtime.version(cri::VersionRequest::default()))
        .unwrap();
}

/// Waits for a socket at `path` to accept connections.
fn wait_for_socket(path: &Path, child: &mut std::process::Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(path).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "berthd exited with {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "no socket at {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cri_address_moves_the_socket_the_flag_wins_and_empty_turns_it_off() {
    require_root();
    // daemon.json's key moves it.
    let dir = TestDir::new("cri-addr");
    let from_config = dir.join("from-config.sock");
    let d = Berthd::start_with_config(&format!(
        r#"{{"cri-address": "{}"}}"#,
        from_config.display()
    ));
    assert_eq!(d.cri_socket, from_config);
    assert!(!d.state.join("cri.sock").exists());
    connect(&d)
        .call(|c| c.runtime.version(cri::VersionRequest::default()))
        .unwrap();
    drop(d);
    assert!(!from_config.exists(), "the socket goes with berthd");

    // "" turns it off.
    let d = Berthd::start_with_config(r#"{"cri-address": ""}"#);
    assert!(!d.state.join("cri.sock").exists());
    drop(d);

    // The flag wins over the config.
    let flag = dir.join("flag.sock");
    let not_used = dir.join("not-used.sock");
    let config = dir.join("daemon.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"cri-address": "{}", "nft-table": "bt_cri{pid}", "bridge": "btcri{pid}"}}"#,
            not_used.display(),
            pid = std::process::id() % 1_000_000
        ),
    )
    .unwrap();
    let log = dir.join("berthd.log");
    let mut child = Command::new(bin("berthd"))
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--state")
        .arg(dir.join("state"))
        .arg("--address")
        .arg(dir.join("b.sock"))
        .args(["--docker-address", ""])
        .arg("--cri-address")
        .arg(&flag)
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start berthd");
    wait_for_socket(&flag, &mut child, &log);
    let served = not_used.exists();
    CriClient::connect(&flag)
        .call(|c| c.runtime.version(cri::VersionRequest::default()))
        .unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(
        !served,
        "the config's address is not used when the flag is given"
    );
    assert!(
        status.success(),
        "{status}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(!flag.exists(), "the socket goes with berthd");
}

/// A busybox image pushed to a loopback registry as `bt/cri:1`; returns
/// the registry, the reference and the manifest digest.
fn registry_with_busybox() -> (Registry, String, String) {
    let reg = Registry::start();
    let work = TestDir::new("cri-img");
    let layout = work.join("layout");
    umoci_busybox(&layout, "v1", &work.path);
    let reference = format!("{}/bt/cri:1", reg.host());
    skopeo_copy(
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{reference}"),
    );
    let digest = skopeo_inspect(&format!("docker://{reference}"), false)["Digest"]
        .as_str()
        .expect("manifest digest")
        .to_string();
    (reg, reference, digest)
}

#[test]
fn images_pull_by_tag_and_digest_list_status_and_remove() {
    require_root();
    let (reg, reference, digest) = registry_with_busybox();
    let repo_digest = format!("{}/bt/cri@{digest}", reg.host());
    let d = Berthd::start();
    let mut c = connect(&d);

    // Nothing yet: an empty status is no error, and an empty list.
    let st = c.image_status(&reference, false).unwrap();
    assert!(st.image.is_none(), "{st:?}");
    assert!(c.list_images(None).is_empty());

    let id = c.pull(&reference, None).unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    // berth's own view agrees on the ID.
    assert_eq!(
        d.ok(&["image", "inspect", "--format", "{{.Id}}", &reference]),
        id
    );
    let list = c.list_images(None);
    assert_eq!(list.len(), 1, "{list:?}");
    let image = &list[0];
    assert_eq!(image.id, id);
    assert_eq!(image.repo_tags, vec![reference.clone()]);
    assert_eq!(image.repo_digests, vec![repo_digest.clone()]);
    assert_eq!(image.spec.as_ref().unwrap().image, id);
    assert!(
        image.size > 500_000,
        "busybox is about 1 MB: {}",
        image.size
    );
    assert!(image.uid.is_none() && image.username.is_empty(), "no User");
    assert!(!image.pinned);

    // Found by tag, repo digest, ID and ID prefix; nothing else.
    for name in [
        reference.as_str(),
        repo_digest.as_str(),
        id.as_str(),
        &id[7..19],
    ] {
        let st = c.image_status(name, false).unwrap();
        assert_eq!(
            st.image.as_ref().map(|i| i.id.as_str()),
            Some(id.as_str()),
            "{name}"
        );
        assert!(st.info.is_empty());
        assert_eq!(c.list_images(Some(name)).len(), 1, "filter {name}");
    }
    assert!(c.list_images(Some("busybox:nope")).is_empty());
    let st = c.image_status(&reference, true).unwrap();
    let info: serde_json::Value = serde_json::from_str(&st.info["info"]).unwrap();
    assert_eq!(info["imageSpec"]["config"]["Cmd"][0], "/bin/sh");
    assert_eq!(
        info["imageSpec"]["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // ImageFsInfo counts the unpacked layer.
    let fs = c
        .call(|c| c.images.image_fs_info(cri::ImageFsInfoRequest {}))
        .unwrap();
    let usage = &fs.image_filesystems[0];
    assert!(
        usage.used_bytes.as_ref().unwrap().value > 500_000,
        "{usage:?}"
    );
    assert!(usage.inodes_used.as_ref().unwrap().value > 10, "{usage:?}");
    assert!(usage.timestamp > 0);
    let mountpoint = &usage.fs_id.as_ref().unwrap().mountpoint;
    assert!(
        mountpoint.starts_with(&d.root.display().to_string()) && Path::new(mountpoint).is_dir(),
        "{mountpoint}"
    );

    // Removal by tag drops every name; again is no error.
    c.remove_image(&reference).unwrap();
    assert!(c.list_images(None).is_empty());
    assert!(c.image_status(&id, false).unwrap().image.is_none());
    c.remove_image(&reference).unwrap();
    c.remove_image(&id).unwrap();
    assert_eq!(d.ok(&["images", "-q"]), "");

    // By digest: the same image, named only by its repo digest.
    assert_eq!(c.pull(&repo_digest, None).unwrap(), id);
    let list = c.list_images(None);
    assert_eq!(list.len(), 1);
    assert!(list[0].repo_tags.is_empty(), "{:?}", list[0]);
    assert_eq!(list[0].repo_digests, vec![repo_digest.clone()]);
    c.remove_image(&id).unwrap();
    assert!(c.list_images(None).is_empty());
    let fs = c
        .call(|c| c.images.image_fs_info(cri::ImageFsInfoRequest {}))
        .unwrap();
    assert_eq!(
        fs.image_filesystems[0].used_bytes.as_ref().unwrap().value,
        0,
        "layers collected with the image"
    );
}

#[test]
fn bad_image_requests_get_the_right_codes_and_leave_nothing() {
    require_root();
    let reg = Registry::start();
    let d = Berthd::start();
    let mut c = connect(&d);
    let e = c
        .pull(&format!("{}/bt/missing:1", reg.host()), None)
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = c.pull("Bad//Name", None).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let e = c.pull("", None).unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "PullImage: image.image is required")
    );
    let e = c.image_status("", false).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c
        .call(|c| c.images.image_status(cri::ImageStatusRequest::default()))
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c.remove_image("").unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // A missing image is removed already.
    c.remove_image("busybox:never-pulled").unwrap();
    assert!(c.list_images(None).is_empty());
    assert_eq!(d.ok(&["images", "-qa"]), "");
}

#[test]
fn pull_uses_the_credentials_of_the_request() {
    require_root();
    // A registry that wants user "u", password "p" on every request and
    // serves one small OCI image from a layout.
    let work = TestDir::new("cri-auth");
    let layout = work.join("layout");
    let manifest_digest = write_oci_layout(&layout, &[make_tar(&[("hello", "file", "hi")])], "v1");
    let blobs = layout.join("blobs/sha256");
    let manifest_hex = manifest_digest.trim_start_matches("sha256:").to_string();
    let fake = FakeRegistry::start(move |req| {
        if req.headers.get("authorization").map(String::as_str) != Some("Basic dTpw") {
            return FakeResponse::new(
                401,
                "application/json",
                r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
            )
            .header("WWW-Authenticate", "Basic realm=\"test\"");
        }
        let path = req.path.as_str();
        if path == "/v2/" {
            return FakeResponse::new(200, "application/json", "{}");
        }
        let blob = |hex: &str| std::fs::read(blobs.join(hex)).ok();
        if let Some(object) = path.strip_prefix("/v2/bt/auth/manifests/") {
            if object == "v1" || object == format!("sha256:{manifest_hex}") {
                return FakeResponse::new(
                    200,
                    "application/vnd.oci.image.manifest.v1+json",
                    blob(&manifest_hex).unwrap(),
                )
                .header("Docker-Content-Digest", &format!("sha256:{manifest_hex}"));
            }
        }
        if let Some(digest) = path.strip_prefix("/v2/bt/auth/blobs/sha256:") {
            if let Some(bytes) = blob(digest) {
                return FakeResponse::new(200, "application/octet-stream", bytes);
            }
        }
        FakeResponse::new(
            404,
            "application/json",
            r#"{"errors":[{"code":"NOT_FOUND"}]}"#,
        )
    });
    let reference = format!("{}/bt/auth:v1", fake.host());
    let d = Berthd::start();
    let mut c = connect(&d);
    let e = c.pull(&reference, None).unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let wrong = cri::AuthConfig {
        username: "u".into(),
        password: "wrong".into(),
        ..Default::default()
    };
    let e = c.pull(&reference, Some(wrong)).unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(c.list_images(None).is_empty());
    // docker config.json's "auth" form: base64 of "u:p".
    let id = c
        .pull(
            &reference,
            Some(cri::AuthConfig {
                auth: "dTpw".into(),
                server_address: fake.host(),
                ..Default::default()
            }),
        )
        .unwrap();
    assert_eq!(c.list_images(None)[0].id, id);
    c.remove_image(&id).unwrap();
    // Username and password.
    let id2 = c
        .pull(
            &reference,
            Some(cri::AuthConfig {
                username: "u".into(),
                password: "p".into(),
                ..Default::default()
            }),
        )
        .unwrap();
    assert_eq!(id, id2);
}

// ---- Pod sandboxes ----

fn pod_config(name: &str, attempt: u32) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "bt-ns".into(),
            attempt,
        }),
        hostname: format!("{name}-host"),
        log_directory: String::new(),
        dns_config: Some(cri::DnsConfig {
            servers: vec!["10.96.0.10".into()],
            searches: vec!["bt-ns.svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        }),
        labels: [("app".to_string(), name.to_string())].into(),
        annotations: [("bt/note".to_string(), "hello".to_string())].into(),
        linux: Some(cri::LinuxPodSandboxConfig {
            sysctls: [(
                "net.ipv4.ip_unprivileged_port_start".to_string(),
                "81".to_string(),
            )]
            .into(),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: cri::NamespaceMode::Pod as i32,
                    pid: cri::NamespaceMode::Container as i32,
                    ipc: cri::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn run_pod(c: &mut CriClient, config: cri::PodSandboxConfig) -> Result<String, tonic::Status> {
    c.call(|c| {
        c.runtime.run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        })
    })
    .map(|r| r.pod_sandbox_id)
}

fn pod_status(
    c: &mut CriClient,
    id: &str,
) -> Result<(cri::PodSandboxStatus, serde_json::Value), tonic::Status> {
    let r = c.call(|c| {
        c.runtime.pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose: true,
        })
    })?;
    let info = serde_json::from_str(&r.info["info"]).unwrap();
    Ok((r.status.unwrap(), info))
}

fn stop_pod(c: &mut CriClient, id: &str) -> Result<(), tonic::Status> {
    c.call(|c| {
        c.runtime.stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: id.into(),
        })
    })
    .map(drop)
}

fn remove_pod(c: &mut CriClient, id: &str) -> Result<(), tonic::Status> {
    c.call(|c| {
        c.runtime.remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: id.into(),
        })
    })
    .map(drop)
}

fn list_pods(c: &mut CriClient, filter: Option<cri::PodSandboxFilter>) -> Vec<cri::PodSandbox> {
    c.call(|c| {
        c.runtime
            .list_pod_sandbox(cri::ListPodSandboxRequest { filter })
    })
    .unwrap()
    .items
}

/// `nsenter` into namespaces of `pid` (`-n`, `-u`...) running `cmd`.
fn in_ns(pid: u64, flags: &[&str], cmd: &[&str]) -> String {
    let out = Command::new("nsenter")
        .arg("-t")
        .arg(pid.to_string())
        .args(flags)
        .args(cmd)
        .output()
        .expect("run nsenter");
    assert!(
        out.status.success(),
        "nsenter {flags:?} {cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn pid_alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn a_pod_sandbox_gets_its_namespaces_and_cni_network_and_stop_undoes_them() {
    require_root();
    let net = cri::PodNetwork::new(&[]);
    let d = Berthd::start_with_config(&net.daemon_json());
    let _reaper = cri::PodReaper::new(&d.root);
    let mut c = connect(&d);

    let id = run_pod(&mut c, pod_config("web", 0)).unwrap();
    assert!(
        id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    let (st, info) = pod_status(&mut c, &id).unwrap();
    assert_eq!(st.id, id);
    assert_eq!(st.state, cri::PodSandboxState::SandboxReady as i32);
    let meta = st.metadata.clone().unwrap();
    assert_eq!(
        (meta.name.as_str(), meta.namespace.as_str(), meta.attempt),
        ("web", "bt-ns", 0)
    );
    assert_eq!(st.labels["app"], "web");
    assert_eq!(st.annotations["bt/note"], "hello");
    assert!(
        st.created_at > 1_600_000_000_000_000_000,
        "nanoseconds: {}",
        st.created_at
    );
    let ip = st.network.clone().expect("pod IP").ip;
    assert!(
        ip.starts_with(&net.subnet_prefix),
        "{ip} in {}0/24",
        net.subnet_prefix
    );
    let ns = st.linux.unwrap().namespaces.unwrap().options.unwrap();
    assert_eq!(ns.pid, cri::NamespaceMode::Container as i32);

    // The infra process holds the namespaces: eth0 with the pod IP, lo up,
    // the hostname, the namespaced sysctl; the host's are untouched.
    let pid = info["pid"].as_u64().expect("infra pid");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "berth-pause");
    let addrs = in_ns(pid, &["-n"], &["ip", "-br", "addr"]);
    assert!(addrs.contains(&format!("{ip}/24")), "{addrs}");
    assert!(
        addrs
            .lines()
            .any(|l| l.starts_with("lo ") && l.contains("UNKNOWN")),
        "{addrs}"
    );
    assert_eq!(in_ns(pid, &["-u"], &["hostname"]), "web-host");
    assert_eq!(
        in_ns(
            pid,
            &["-n"],
            &["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]
        ),
        "81"
    );
    assert_ne!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .unwrap()
            .trim(),
        "81"
    );
    for kind in ["net", "ipc", "uts"] {
        assert_ne!(
            std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap(),
            std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap(),
            "{kind} namespace of its own"
        );
    }
    // The host reaches the pod over the bridge.
    let ping = Command::new("busybox")
        .args(["ping", "-c1", "-W2", &ip])
        .output()
        .expect("busybox ping (busybox-static)");
    assert!(ping.status.success(), "ping {ip}");
    let netns = info["netns"].as_str().expect("pinned netns").to_string();
    assert!(Path::new(&netns).exists());
    assert_eq!(net.leases(), vec![ip.clone()]);
    assert_eq!(net.veths().len(), 1, "one veth on {}", net.bridge);
    let resolv =
        std::fs::read_to_string(d.state.join("pods").join(&id).join("resolv.conf")).unwrap();
    assert_eq!(
        resolv,
        "nameserver 10.96.0.10\nsearch bt-ns.svc.cluster.local\noptions ndots:5\n"
    );

    // The same name and attempt is taken; the next attempt is not.
    let e = run_pod(&mut c, pod_config("web", 0)).unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    assert!(e.message().contains(&id), "{}", e.message());
    let id2 = run_pod(&mut c, pod_config("web", 1)).unwrap();
    let ip2 = pod_status(&mut c, &id2).unwrap().0.network.unwrap().ip;
    assert_ne!(ip, ip2);

    // Lists and filters.
    assert_eq!(list_pods(&mut c, None).len(), 2);
    let by_prefix = list_pods(
        &mut c,
        Some(cri::PodSandboxFilter {
            id: id[..12].to_string(),
            ..Default::default()
        }),
    );
    assert_eq!(
        by_prefix.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        vec![id.as_str()]
    );
    assert_eq!(
        pod_status(&mut c, &id[..12]).unwrap().0.id,
        id,
        "a unique prefix names it"
    );

    // Stop: the infra process, the veth, the lease and the netns go; the
    // status stays, not ready, without an IP. Again is no error.
    stop_pod(&mut c, &id).unwrap();
    let (st, _) = pod_status(&mut c, &id).unwrap();
    assert_eq!(st.state, cri::PodSandboxState::SandboxNotready as i32);
    assert!(st.network.is_none(), "{:?}", st.network);
    assert!(!pid_alive(pid), "infra process {pid} gone");
    assert!(!Path::new(&netns).exists(), "netns unpinned");
    assert_eq!(net.leases(), vec![ip2.clone()]);
    assert_eq!(net.veths().len(), 1);
    stop_pod(&mut c, &id).unwrap();
    let ready = list_pods(
        &mut c,
        Some(cri::PodSandboxFilter {
            state: Some(cri::PodSandboxStateValue {
                state: cri::PodSandboxState::SandboxReady as i32,
            }),
            ..Default::default()
        }),
    );
    assert_eq!(
        ready.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        vec![id2.as_str()]
    );
    let labelled = list_pods(
        &mut c,
        Some(cri::PodSandboxFilter {
            label_selector: [("app".to_string(), "nope".to_string())].into(),
            ..Default::default()
        }),
    );
    assert!(labelled.is_empty());

    // Remove: gone, NotFound afterwards, removing again is no error; a
    // ready pod is stopped by its removal.
    remove_pod(&mut c, &id).unwrap();
    assert_eq!(pod_status(&mut c, &id).unwrap_err().code(), Code::NotFound);
    remove_pod(&mut c, &id).unwrap();
    remove_pod(&mut c, &id2).unwrap();
    assert!(list_pods(&mut c, None).is_empty());
    assert!(net.leases().is_empty() && net.veths().is_empty());
    assert_eq!(std::fs::read_dir(d.state.join("pods")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(d.root.join("pods")).unwrap().count(), 0);
}

#[test]
fn pods_survive_a_berthd_crash_and_a_dead_infra_process_is_still_torn_down() {
    require_root();
    let net = cri::PodNetwork::new(&[]);
    let mut d = Berthd::start_with_config(&net.daemon_json());
    let _reaper = cri::PodReaper::new(&d.root);
    let mut c = connect(&d);
    let live = run_pod(&mut c, pod_config("live", 0)).unwrap();
    let doomed = run_pod(&mut c, pod_config("doomed", 0)).unwrap();
    let (st, info) = pod_status(&mut c, &live).unwrap();
    let live_ip = st.network.unwrap().ip;
    let doomed_pid = pod_status(&mut c, &doomed).unwrap().1["pid"]
        .as_u64()
        .unwrap();
    drop(c);

    d.kill9();
    // The infra process of one pod dies while berthd is down.
    unsafe { libc::kill(doomed_pid as i32, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_alive(doomed_pid) {
        assert!(Instant::now() < deadline, "pid {doomed_pid} lingers");
        std::thread::sleep(Duration::from_millis(20));
    }
    d.restart();
    let mut c = connect(&d);
    let (st, info2) = pod_status(&mut c, &live).unwrap();
    assert_eq!(
        st.state,
        cri::PodSandboxState::SandboxReady as i32,
        "the live pod is still ready"
    );
    assert_eq!(st.network.unwrap().ip, live_ip);
    assert_eq!(info2["pid"], info["pid"]);
    let (st, _) = pod_status(&mut c, &doomed).unwrap();
    assert_eq!(st.state, cri::PodSandboxState::SandboxNotready as i32);
    assert_eq!(
        net.leases().len(),
        2,
        "the dead pod's lease is held until its stop"
    );
    assert_eq!(net.veths().len(), 2, "its netns is pinned, so is its veth");

    // Stop after the crash still runs CNI DEL for the dead pod.
    stop_pod(&mut c, &doomed).unwrap();
    assert_eq!(net.leases(), vec![live_ip]);
    assert_eq!(net.veths().len(), 1);
    // The live pod's infra process, started by the previous berthd, is
    // stopped by this one.
    let live_pid = info["pid"].as_u64().unwrap();
    remove_pod(&mut c, &live).unwrap();
    remove_pod(&mut c, &doomed).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pid_alive(live_pid) {
        assert!(Instant::now() < deadline, "pid {live_pid} lingers");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(net.leases().is_empty() && net.veths().is_empty());
}

#[test]
fn a_failing_cni_plugin_fails_the_pod_and_leaves_nothing() {
    require_root();
    let fail = serde_json::json!({"type": "bt-fail"});
    let net = cri::PodNetwork::new(&[fail]);
    // A plugin that fails ADD with a CNI error and succeeds DEL.
    let plugin = net.bin_dir.join("bt-fail");
    std::fs::write(
        &plugin,
        "#!/bin/sh\ncat >/dev/null\nif [ \"$CNI_COMMAND\" = ADD ]; then\n  echo '{\"cniVersion\":\"0.4.0\",\"code\":11,\"msg\":\"bt-fail refuses\",\"details\":\"on purpose\"}'\n  exit 1\nfi\n",
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let d = Berthd::start_with_config(&net.daemon_json());
    let _reaper = cri::PodReaper::new(&d.root);
    let mut c = connect(&d);
    let e = run_pod(&mut c, pod_config("broken", 0)).unwrap_err();
    assert_eq!(e.code(), Code::Internal, "{e:?}");
    assert!(
        e.message().contains("CNI plugin bt-fail ADD")
            && e.message().contains("bt-fail refuses: on purpose"),
        "{}",
        e.message()
    );
    // Nothing left: no record, no pod dir or netns, no lease, no veth, no
    // infra process.
    assert!(list_pods(&mut c, None).is_empty());
    assert_eq!(std::fs::read_dir(d.state.join("pods")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(d.root.join("pods")).unwrap().count(), 0);
    assert!(net.leases().is_empty(), "{:?}", net.leases());
    assert!(net.veths().is_empty(), "{:?}", net.veths());
    let pauses: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .to_string();
            (stat.contains("(berth-pause)") && ppid == d.pid().to_string()).then_some(stat)
        })
        .collect();
    assert!(pauses.is_empty(), "{pauses:?}");
    // The same name runs once the network works.
    std::fs::write(
        net.conf_dir.join("00-first.conflist"),
        std::fs::read_to_string(net.conf_dir.join("10-bt.conflist"))
            .unwrap()
            .replace(r#",{"type":"bt-fail"}"#, ""),
    )
    .unwrap();
    let id = run_pod(&mut c, pod_config("broken", 0)).unwrap();
    remove_pod(&mut c, &id).unwrap();
}

#[test]
fn bad_pod_requests_get_the_right_codes_and_leave_nothing() {
    require_root();
    let net = cri::PodNetwork::new(&[]);
    let d = Berthd::start_with_config(&net.daemon_json());
    let _reaper = cri::PodReaper::new(&d.root);
    let mut c = connect(&d);
    let unknown = "0123456789abcdef".repeat(4);
    assert_eq!(
        pod_status(&mut c, &unknown).unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        stop_pod(&mut c, &unknown).unwrap_err().code(),
        Code::NotFound
    );
    remove_pod(&mut c, &unknown).unwrap();
    assert_eq!(
        pod_status(&mut c, "").unwrap_err().code(),
        Code::InvalidArgument
    );

    let e = c
        .call(|c| {
            c.runtime
                .run_pod_sandbox(cri::RunPodSandboxRequest::default())
        })
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "RunPodSandbox: config is required")
    );
    let mut no_meta = pod_config("x", 0);
    no_meta.metadata = None;
    assert_eq!(
        run_pod(&mut c, no_meta).unwrap_err().code(),
        Code::InvalidArgument
    );
    let mut no_uid = pod_config("x", 0);
    no_uid.metadata.as_mut().unwrap().uid.clear();
    assert_eq!(
        run_pod(&mut c, no_uid).unwrap_err().code(),
        Code::InvalidArgument
    );
    let mut shared_pid = pod_config("x", 0);
    shared_pid
        .linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap()
        .namespace_options
        .as_mut()
        .unwrap()
        .pid = cri::NamespaceMode::Pod as i32;
    let e = run_pod(&mut c, shared_pid).unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented);
    assert!(
        e.message().starts_with("not implemented: "),
        "{}",
        e.message()
    );
    let mut bad_sysctl = pod_config("x", 0);
    bad_sysctl.linux.as_mut().unwrap().sysctls =
        [("kernel.hostname".to_string(), "x".to_string())].into();
    let e = run_pod(&mut c, bad_sysctl).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("kernel.hostname"), "{}", e.message());
    let mut bad_port = pod_config("x", 0);
    bad_port.port_mappings = vec![cri::PortMapping {
        protocol: 0,
        container_port: 80,
        host_port: 70_000,
        host_ip: String::new(),
    }];
    assert_eq!(
        run_pod(&mut c, bad_port).unwrap_err().code(),
        Code::InvalidArgument
    );
    // No network config: the pod cannot start.
    std::fs::remove_file(net.conf_dir.join("10-bt.conflist")).unwrap();
    let e = run_pod(&mut c, pod_config("x", 0)).unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(
        e.message().contains("no CNI network config"),
        "{}",
        e.message()
    );
    // A pod on the host's network needs none: no netns, no IP, ready.
    let mut host = pod_config("host", 0);
    host.linux.as_mut().unwrap().sysctls.clear();
    host.linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap()
        .namespace_options
        .as_mut()
        .unwrap()
        .network = cri::NamespaceMode::Node as i32;
    let id = run_pod(&mut c, host).unwrap();
    let (st, info) = pod_status(&mut c, &id).unwrap();
    assert_eq!(st.state, cri::PodSandboxState::SandboxReady as i32);
    assert!(st.network.is_none());
    assert!(info["netns"].is_null());
    let pid = info["pid"].as_u64().unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap(),
        std::fs::read_link("/proc/self/ns/net").unwrap()
    );
    remove_pod(&mut c, &id).unwrap();
    assert!(list_pods(&mut c, None).is_empty());
    assert!(net.leases().is_empty() && net.veths().is_empty());
    assert_eq!(std::fs::read_dir(d.state.join("pods")).unwrap().count(), 0);
}
