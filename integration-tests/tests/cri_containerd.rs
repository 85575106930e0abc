//! Differential: the same CRI calls against berthd and against Debian's
//! containerd 1.6 with its CRI plugin (a private instance: its own root,
//! state, socket, CNI conf dir, and a sandbox image from the loopback
//! registry), comparing the status fields and error codes a kubelet reads.

use berth_integration_tests::berthd::Berthd;
use berth_integration_tests::cri::{self, CriClient, PodNetwork, PodReaper};
use berth_integration_tests::engines::{Containerd, Sandbox};
use berth_integration_tests::registry::{skopeo_copy, umoci_busybox, Registry};
use berth_integration_tests::{require_root, TestDir};
use std::process::Command;
use tonic::Code;

/// A busybox image `bt/img:1` and a pause-like `bt/pause:1` (busybox
/// sleeping) in a loopback registry.
fn registry() -> Registry {
    let reg = Registry::start();
    let work = TestDir::new("cri-diff-img");
    let layout = work.join("layout");
    umoci_busybox(&layout, "v1", &work.path);
    let l = layout.display().to_string();
    let out = Command::new("umoci")
        .args(["config", "--image", &format!("{l}:v1"), "--tag", "pause"])
        .args(["--config.cmd", "/bin/sleep", "--config.cmd", "1000000"])
        .output()
        .expect("run umoci");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (tag, name) in [("v1", "img"), ("pause", "pause")] {
        skopeo_copy(
            &format!("oci:{l}:{tag}"),
            &format!("docker://{}/bt/{name}:1", reg.host()),
        );
    }
    reg
}

/// containerd with its CRI plugin: the registry over plain HTTP, its own
/// CNI conf dir, netns mounts under its state dir, and OOM score
/// adjustments no lower than its own (the pause container's -998 needs
/// CAP_SYS_RESOURCE, which the project's machines do not give root).
fn containerd(sandbox: &Sandbox, reg: &Registry, net: &PodNetwork) -> Containerd {
    let host = reg.host();
    Containerd::start_cri(
        &sandbox.path("containerd"),
        &format!(
            "  sandbox_image = \"{host}/bt/pause:1\"\n\
             netns_mounts_under_state_dir = true\n\
             restrict_oom_score_adj = true\n\
             [plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/usr/lib/cni\"\n  conf_dir = \"{conf}\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"{host}\"]\n  endpoint = [\"http://{host}\"]\n",
            conf = net.conf_dir.display(),
        ),
    )
}

fn image_of(c: &mut CriClient, image: &str) -> cri::Image {
    c.image_status(image, false)
        .unwrap()
        .image
        .unwrap_or_else(|| panic!("no image {image}"))
}

#[test]
fn image_service_answers_as_containerd_does() {
    require_root();
    let reg = registry();
    let net = PodNetwork::new(&[]);
    let sandbox = Sandbox::new("cri-ctd");
    let ctd = containerd(&sandbox, &reg, &net);
    let d = Berthd::start();
    let mut ours = CriClient::connect(&d.cri_socket);
    let mut theirs = CriClient::connect(&ctd.socket);
    let reference = format!("{}/bt/img:1", reg.host());

    // Missing: an empty status, and removal is no error, on both.
    for c in [&mut ours, &mut theirs] {
        assert!(c.image_status(&reference, false).unwrap().image.is_none());
        c.remove_image(&reference).unwrap();
    }
    let a = ours.pull(&reference, None).unwrap();
    let b = theirs.pull(&reference, None).unwrap();
    assert_eq!(a, b, "PullImage answers the image ID");
    let (a, b) = (
        image_of(&mut ours, &reference),
        image_of(&mut theirs, &reference),
    );
    assert_eq!(a.id, b.id);
    assert_eq!(a.repo_tags, b.repo_tags);
    assert_eq!(a.repo_digests, b.repo_digests);
    assert_eq!(a.size, b.size, "content size");
    assert_eq!((a.uid, &a.username), (b.uid, &b.username));
    // By repo digest and by ID, both find it.
    let digest = a.repo_digests[0].clone();
    for name in [digest.as_str(), a.id.as_str()] {
        assert_eq!(image_of(&mut ours, name).id, image_of(&mut theirs, name).id);
    }
    // A bad reference is refused by both.
    let (ea, eb) = (
        ours.pull("Bad//Name", None).unwrap_err(),
        theirs.pull("Bad//Name", None).unwrap_err(),
    );
    assert_ne!(ea.code(), Code::Ok);
    assert_ne!(eb.code(), Code::Ok);
    // Removal by tag drops the image on both.
    for c in [&mut ours, &mut theirs] {
        c.remove_image(&reference).unwrap();
        assert!(c.image_status(&a.id, false).unwrap().image.is_none());
    }
}

fn pod_config(name: &str, cgroup_parent: &str) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "bt-diff".into(),
            attempt: 1,
        }),
        hostname: name.into(),
        labels: [("app".to_string(), name.to_string())].into(),
        annotations: [("bt/a".to_string(), "1".to_string())].into(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.into(),
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

fn run(c: &mut CriClient, config: cri::PodSandboxConfig) -> Result<String, tonic::Status> {
    c.call(|c| {
        c.runtime.run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        })
    })
    .map(|r| r.pod_sandbox_id)
}

fn status(c: &mut CriClient, id: &str) -> Result<cri::PodSandboxStatus, tonic::Status> {
    c.call(|c| {
        c.runtime.pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose: false,
        })
    })
    .map(|r| r.status.unwrap())
}

fn stop(c: &mut CriClient, id: &str) -> Result<(), tonic::Status> {
    c.call(|c| {
        c.runtime.stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: id.into(),
        })
    })
    .map(drop)
}

fn remove(c: &mut CriClient, id: &str) -> Result<(), tonic::Status> {
    c.call(|c| {
        c.runtime.remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: id.into(),
        })
    })
    .map(drop)
}

/// The fields of a status both runtimes fill from the same config.
#[derive(Debug, PartialEq)]
struct Comparable {
    state: i32,
    metadata: Option<cri::PodSandboxMetadata>,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
    namespaces: Option<cri::NamespaceOption>,
}

fn comparable(s: &cri::PodSandboxStatus) -> Comparable {
    let sorted = |m: &std::collections::HashMap<String, String>| {
        let mut v: Vec<_> = m.clone().into_iter().collect();
        v.sort();
        v
    };
    Comparable {
        state: s.state,
        metadata: s.metadata.clone(),
        labels: sorted(&s.labels),
        annotations: sorted(&s.annotations),
        namespaces: s
            .linux
            .clone()
            .and_then(|l| l.namespaces)
            .and_then(|n| n.options),
    }
}

#[test]
fn pod_sandboxes_answer_as_containerd_does() {
    require_root();
    let reg = registry();
    let our_net = PodNetwork::new(&[]);
    let their_net = PodNetwork::new(&[]);
    let sandbox = Sandbox::new("cri-ctd");
    let ctd = containerd(&sandbox, &reg, &their_net);
    let d = Berthd::start_with_config(&our_net.daemon_json());
    let _reaper = PodReaper::new(&d.root);
    let mut ours = CriClient::connect(&d.cri_socket);
    let mut theirs = CriClient::connect(&ctd.socket);
    let parent = sandbox.cgroup_parent();

    let a = run(&mut ours, pod_config("diff", &parent)).unwrap();
    let b = run(&mut theirs, pod_config("diff", &parent))
        .unwrap_or_else(|e| panic!("containerd: {e:?}\n{}", ctd.log_tail(40)));
    assert_eq!(a.len(), b.len(), "64 hex digits");
    let (sa, sb) = (
        status(&mut ours, &a).unwrap(),
        status(&mut theirs, &b).unwrap(),
    );
    assert_eq!(comparable(&sa), comparable(&sb));
    assert_eq!(sa.state, cri::PodSandboxState::SandboxReady as i32);
    let (ia, ib) = (sa.network.unwrap(), sb.network.unwrap());
    assert!(ia.ip.starts_with(&our_net.subnet_prefix), "{}", ia.ip);
    assert!(ib.ip.starts_with(&their_net.subnet_prefix), "{}", ib.ip);
    assert_eq!(ia.additional_ips, ib.additional_ips);

    // The same name and attempt again: refused by both.
    let ea = run(&mut ours, pod_config("diff", &parent)).unwrap_err();
    let eb = run(&mut theirs, pod_config("diff", &parent)).unwrap_err();
    assert_ne!(eb.code(), Code::Ok);
    assert_ne!(ea.code(), Code::Ok);

    // Unknown ids: NotFound for status and stop on both; removal is no error.
    let unknown = "0123456789abcdef".repeat(4);
    for c in [&mut ours, &mut theirs] {
        assert_eq!(status(c, &unknown).unwrap_err().code(), Code::NotFound);
        assert_eq!(stop(c, &unknown).unwrap_err().code(), Code::NotFound);
        remove(c, &unknown).unwrap();
    }

    // Stop: not ready on both, twice is fine; then removal, NotFound after.
    for (c, id) in [(&mut ours, &a), (&mut theirs, &b)] {
        stop(c, id).unwrap();
        stop(c, id).unwrap();
    }
    let (sa, sb) = (
        status(&mut ours, &a).unwrap(),
        status(&mut theirs, &b).unwrap(),
    );
    assert_eq!(comparable(&sa), comparable(&sb));
    assert_eq!(sa.state, cri::PodSandboxState::SandboxNotready as i32);
    for (c, id) in [(&mut ours, &a), (&mut theirs, &b)] {
        remove(c, id).unwrap();
        assert_eq!(status(c, id).unwrap_err().code(), Code::NotFound);
    }
    assert!(our_net.leases().is_empty() && their_net.leases().is_empty());
    assert!(our_net.veths().is_empty() && their_net.veths().is_empty());
}
