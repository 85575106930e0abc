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
    let d = Berthd::start();
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
    assert!(!network.status, "no pod networking yet: {network:?}");
    assert_eq!(network.reason, "NetworkPluginNotReady");
    assert!(network.message.starts_with("not implemented: "));
    assert!(s.info.is_empty(), "info only when verbose: {:?}", s.info);
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
                .run_pod_sandbox(cri::RunPodSandboxRequest::default())
        })
        .unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented);
    assert_eq!(e.message(), "not implemented: CRI RunPodSandbox");
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
    assert!(status.success(), "{status}");
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
