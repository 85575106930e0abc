//! Registry-facing image features end to end: credential helpers
//! (`credsStore`/`credHelpers`), HTTPS-first with a plain-HTTP fallback for
//! insecure registries, and multi-platform push, against Debian's
//! docker-registry on loopback (or a fake registry where a real one cannot
//! show the behaviour).

use berth_integration_tests::berthd::Berthd;
use berth_integration_tests::registry::{
    http_get, make_tar, sha256_hex, skopeo_copy, skopeo_inspect, tar_dir, umoci_busybox,
    FakeRegistry, FakeResponse, Registry,
};
use berth_integration_tests::{require_root, stderr, stdout, TestDir};
use serde_json::Value;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};

/// A credential helper `docker-credential-bt` in `dir/bin`: one credential
/// kept in `dir/store.json`, every call logged to `dir/calls.log`.
fn write_helper(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        r#"#!/bin/sh
store="{d}/store.json"
input=$(cat)
echo "$1 $input" >> "{d}/calls.log"
case "$1" in
  store) printf '%s' "$input" > "$store" ;;
  get)
    if [ -f "$store" ] && grep -q "\"ServerURL\":\"$input\"" "$store"; then cat "$store"
    else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase)
    if [ -f "$store" ]; then rm "$store"
    else echo "credentials not found in native keychain"; exit 1; fi ;;
  *) echo "unknown action $1"; exit 2 ;;
esac
"#,
        d = dir.display()
    );
    let path = bin.join("docker-credential-bt");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs `berth ARGS` with `dir/bin` first on PATH and `input` on stdin.
fn berth_with_helper(d: &Berthd, dir: &Path, args: &[&str], input: &str) -> Output {
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = d
        .berth_cmd(args)
        .env("PATH", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run berth");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    eprintln!(
        "$ berth {}\n{}\n{}\n(exit {:?})",
        args.join(" "),
        stdout(&out),
        stderr(&out),
        out.status.code()
    );
    out
}

fn client_config(d: &Berthd) -> Value {
    serde_json::from_slice(&std::fs::read(d.client_config.join("config.json")).unwrap()).unwrap()
}

#[test]
fn credential_helpers_store_get_and_erase_through_docker_protocol() {
    require_root();
    // Basic auth: user "u", password "p" (base64 "dTpw"); manifests are
    // never found, so a pull shows which credentials it sent and stops.
    let fake = FakeRegistry::start(|req| {
        if req.headers.get("authorization").map(String::as_str) != Some("Basic dTpw") {
            return FakeResponse::new(
                401,
                "application/json",
                r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
            )
            .header("WWW-Authenticate", "Basic realm=\"test\"");
        }
        if req.path == "/v2/" {
            FakeResponse::new(200, "application/json", "{}")
        } else {
            FakeResponse::new(
                404,
                "application/json",
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#,
            )
        }
    });
    let host = fake.host();
    let d = Berthd::start();
    let work = TestDir::new("credhelper");
    write_helper(&work.path);
    std::fs::create_dir_all(&d.client_config).unwrap();
    std::fs::write(
        d.client_config.join("config.json"),
        r#"{"credsStore": "bt"}"#,
    )
    .unwrap();

    // login: checked by berthd, then stored through the helper only.
    let out = berth_with_helper(
        &d,
        &work.path,
        &["login", "-u", "u", "--password-stdin", &host],
        "p\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Login Succeeded");
    assert!(!stderr(&out).contains("unencrypted"), "{}", stderr(&out));
    let stored: Value =
        serde_json::from_slice(&std::fs::read(work.join("store.json")).unwrap()).unwrap();
    assert_eq!(
        stored,
        serde_json::json!({"ServerURL": host, "Username": "u", "Secret": "p"})
    );
    // config.json lists the registry with no secret in it, as docker does.
    let config = client_config(&d);
    assert_eq!(config["auths"][&host], serde_json::json!({}));
    assert_eq!(config["credsStore"], "bt");

    // pull: the helper's credentials are the ones sent to the registry.
    let image = format!("{host}/bt/x:1");
    let out = berth_with_helper(&d, &work.path, &["pull", &image], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    let authorised_manifest_get = fake.requests.lock().unwrap().iter().any(|r| {
        r.path == "/v2/bt/x/manifests/1"
            && r.headers.get("authorization").map(String::as_str) == Some("Basic dTpw")
    });
    assert!(
        authorised_manifest_get,
        "the pull did not use the helper's credentials"
    );
    let calls = std::fs::read_to_string(work.join("calls.log")).unwrap();
    assert!(calls.contains(&format!("get {host}")), "{calls}");

    // logout erases from the helper and from the file.
    let out = berth_with_helper(&d, &work.path, &["logout", &host], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("Removing login credentials for {host}")
    );
    assert!(!work.join("store.json").exists());
    assert!(client_config(&d)["auths"].get(&host).is_none());
    let calls = std::fs::read_to_string(work.join("calls.log")).unwrap();
    assert!(calls.contains(&format!("erase {host}")), "{calls}");

    // credHelpers wins over credsStore for its registry; a helper that is
    // not installed is a one-line error naming it, and nothing is stored.
    std::fs::write(
        d.client_config.join("config.json"),
        format!(r#"{{"credsStore": "bt", "credHelpers": {{"{host}": "bt-missing"}}}}"#),
    )
    .unwrap();
    let out = berth_with_helper(
        &d,
        &work.path,
        &["login", "-u", "u", "--password-stdin", &host],
        "p\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "credential helper docker-credential-bt-missing store for {host}: executable file not found in $PATH"
        )
    );
    assert!(!work.join("store.json").exists());
    let out = berth_with_helper(&d, &work.path, &["pull", &image], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "credential helper docker-credential-bt-missing get for {host}: executable file not found in $PATH"
        )
    );
}

/// The machine's host name and the loopback address it resolves to: a
/// registry name that is not `localhost` or an IP, so berthd does not
/// treat it as loopback, yet traffic stays on loopback.
fn loopback_host_name() -> (String, String) {
    use std::net::ToSocketAddrs;
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let ip = (name.as_str(), 0)
        .to_socket_addrs()
        .ok()
        .into_iter()
        .flatten()
        .find_map(|a| match a.ip() {
            std::net::IpAddr::V4(v4) if v4.is_loopback() => Some(v4.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| {
            panic!("this test needs the host name {name:?} to resolve to a loopback address (/etc/hosts)")
        });
    (name, ip)
}

#[test]
fn insecure_registries_try_https_then_fall_back_to_plain_http() {
    require_root();
    let (name, ip) = loopback_host_name();
    let plain = Registry::start_on(&ip, false);
    let tls = Registry::start_on(&ip, true);
    let work = TestDir::new("insecure");
    let layout = work.join("layout");
    umoci_busybox(&layout, "v1", &work.path);
    let source = format!("oci:{}:v1", layout.display());
    skopeo_copy(&source, &format!("docker://{}/bt/img:1", plain.host()));
    skopeo_copy(&source, &format!("docker://{}/bt/img:1", tls.host()));
    let plain_ref = format!("{name}:{}/bt/img:1", plain.port);
    let tls_ref = format!("{name}:{}/bt/img:1", tls.port);

    // Not named insecure: verified HTTPS only, and an error that says
    // what to do; nothing is recorded.
    let d = Berthd::start();
    let err = d.fails(&["pull", &plain_ref]);
    assert!(
        err.contains(&format!("https://{name}:{}/v2/", plain.port))
            && err.contains("insecure-registries"),
        "{err}"
    );
    let err = d.fails(&["pull", &tls_ref]);
    assert!(
        err.contains("certificate") && err.contains("insecure-registries"),
        "{err}"
    );
    assert_eq!(d.ok(&["images", "-q"]), "");
    drop(d);

    // Named insecure: the TLS registry is used over HTTPS without
    // verification (it speaks nothing else), the plain one after HTTPS fails.
    let config = format!(
        r#"{{"insecure-registries": ["{name}:{}", "{name}:{}"]}}"#,
        plain.port, tls.port
    );
    let d = Berthd::start_with_config(&config);
    d.ok(&["pull", &plain_ref]);
    let log = std::fs::read_to_string(&d.log).unwrap();
    assert!(
        log.contains("HTTPS failed; using plain HTTP")
            && log.contains(&format!("{name}:{}", plain.port)),
        "no fallback logged:\n{}",
        d.log_tail()
    );
    d.ok(&["pull", &tls_ref]);
    let ids = d.ok(&["images", "-q"]);
    assert_eq!(ids.lines().count(), 2, "{ids}");
    // Push works both ways too, and the registries hold what was pushed.
    for (reg, port) in [(&plain, plain.port), (&tls, tls.port)] {
        let target = format!("{name}:{port}/bt/pushed:1");
        d.ok(&["tag", &plain_ref, &target]);
        let out = d.ok(&["push", &target]);
        assert!(out.contains("digest: sha256:"), "{out}");
        let raw = skopeo_inspect(&format!("docker://{}/bt/pushed:1", reg.host()), true);
        assert_eq!(raw["schemaVersion"], 2);
    }
}

/// Writes `data` as a blob of the OCI layout at `dir`; returns its digest.
fn put_blob(dir: &Path, data: &[u8]) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let hex = sha256_hex(data);
    std::fs::write(blobs.join(&hex), data).unwrap();
    format!("sha256:{hex}")
}

/// One platform's image (a one-file layer, config, OCI manifest) written to
/// the layout at `dir`; returns the index entry for it.
fn platform_image(dir: &Path, arch: &str) -> Value {
    let layer = make_tar(&[(&format!("hello-{arch}"), "file", arch)]);
    let diff_id = put_blob(dir, &layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux", "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let config_digest = put_blob(dir, &config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": diff_id, "size": layer.len()}],
    }))
    .unwrap();
    let digest = put_blob(dir, &manifest);
    serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest, "size": manifest.len(),
        "platform": {"os": "linux", "architecture": arch},
    })
}

/// The architecture berthd picks here, in Go's names.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("no test platform for {other}"),
    }
}

#[test]
fn multi_platform_images_push_whole_or_one_platform() {
    require_root();
    let reg = Registry::start();
    let work = TestDir::new("multipush");
    // An OCI layout holding two multi-platform images: "full" (the host's
    // platform and ppc64le, all here) and "partial" (those two plus s390x,
    // whose blobs are not in the archive).
    let layout = work.join("layout");
    let host = platform_image(&layout, host_arch());
    let ppc = platform_image(&layout, "ppc64le");
    let s390x = platform_image(&work.join("elsewhere"), "s390x");
    let index = |manifests: Vec<&Value>| {
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }))
        .unwrap();
        (put_blob(&layout, &bytes), bytes.len())
    };
    let (full, full_size) = index(vec![&host, &ppc]);
    let (partial, partial_size) = index(vec![&host, &ppc, &s390x]);
    let entry = |digest: &str, size: usize, name: &str| {
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest, "size": size,
            "annotations": {"io.containerd.image.name": name},
        })
    };
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [
                entry(&full, full_size, "docker.io/bt/multi:full"),
                entry(&partial, partial_size, "docker.io/bt/multi:partial"),
            ],
        }))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let archive = work.join("multi.tar");
    tar_dir(&layout, &archive);

    let d = Berthd::start();
    let loaded = d.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(
        loaded.contains("Loaded image: bt/multi:full")
            && loaded.contains("Loaded image: bt/multi:partial"),
        "{loaded}"
    );
    let r = reg.host();
    let digest_of = |v: &Value| v["digest"].as_str().unwrap().to_string();

    // All platforms here: every manifest by digest, then the index.
    d.ok(&["tag", "bt/multi:full", &format!("{r}/bt/multi:full")]);
    let out = d.ok(&["push", &format!("{r}/bt/multi:full")]);
    assert!(
        out.ends_with(&format!("full: digest: {full} size: {full_size}")),
        "{out}"
    );
    let raw = skopeo_inspect(&format!("docker://{r}/bt/multi:full"), true);
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let pushed: Vec<String> = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(digest_of)
        .collect();
    assert_eq!(pushed, vec![digest_of(&host), digest_of(&ppc)]);
    for m in [&host, &ppc] {
        let manifest = skopeo_inspect(&format!("docker://{r}/bt/multi@{}", digest_of(m)), true);
        for blob in
            std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().unwrap())
        {
            let (status, _) = http_get(
                &r,
                &format!("/v2/bt/multi/blobs/{}", blob["digest"].as_str().unwrap()),
            )
            .unwrap();
            assert_eq!(status, 200, "blob {blob} of {m} missing from the registry");
        }
    }

    // --platform: that platform's manifest alone, under the tag.
    d.ok(&["tag", "bt/multi:full", &format!("{r}/bt/ppc:1")]);
    let out = d.ok(&[
        "push",
        "--platform",
        "linux/ppc64le",
        &format!("{r}/bt/ppc:1"),
    ]);
    assert!(
        out.ends_with(&format!(
            "1: digest: {} size: {}",
            digest_of(&ppc),
            ppc["size"]
        )),
        "{out}"
    );
    let raw = skopeo_inspect(&format!("docker://{r}/bt/ppc:1"), true);
    assert_eq!(
        raw["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let ppc_manifest = skopeo_inspect(&format!("docker://{r}/bt/multi@{}", digest_of(&ppc)), true);
    assert_eq!(raw["config"], ppc_manifest["config"]);

    // Some but not all platforms here: ambiguous without --platform.
    let partial_ref = format!("{r}/bt/partial:1");
    d.ok(&["tag", "bt/multi:partial", &partial_ref]);
    let err = d.fails(&["push", &partial_ref]);
    assert!(
        err.contains("--platform") && err.contains("missing: linux/s390x"),
        "{err}"
    );
    let err = d.fails(&["push", "--platform", "linux/s390x", &partial_ref]);
    assert!(
        err.contains("no manifest for platform linux/s390x"),
        "{err}"
    );
    d.ok(&["push", "--platform", "linux/ppc64le", &partial_ref]);
    assert_eq!(
        skopeo_inspect(&format!("docker://{partial_ref}"), true)["config"],
        ppc_manifest["config"]
    );

    // push -a: every tag of the repository, each whole.
    for tag in ["1", "2"] {
        d.ok(&["tag", "bt/multi:full", &format!("{r}/bt/all:{tag}")]);
    }
    let out = d.ok(&["push", "-a", &format!("{r}/bt/all")]);
    for tag in ["1", "2"] {
        assert!(
            out.contains(&format!("{tag}: digest: {full} size: {full_size}")),
            "{out}"
        );
        let raw = skopeo_inspect(&format!("docker://{r}/bt/all:{tag}"), true);
        assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    }
    let out = d.berth(&["push", "-a", &format!("{r}/bt/all:1")]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(stderr(&out), "tag can't be used with --all-tags/-a");
    let err = d.fails(&["push", "-a", &format!("{r}/bt/none")]);
    assert!(err.contains("An image does not exist locally"), "{err}");

    // A pull keeps only the host's platform: a push sends that one, and
    // says so.
    let d2 = Berthd::start();
    d2.ok(&["pull", &format!("{r}/bt/multi:full")]);
    let single = format!("{r}/bt/single:1");
    d2.ok(&["tag", &format!("{r}/bt/multi:full"), &single]);
    let out = d2.ok(&["push", &single]);
    assert!(
        out.contains("Not all multi-platform content is here")
            && out.contains(&format!("digest: {}", digest_of(&host))),
        "{out}"
    );
    let raw = skopeo_inspect(&format!("docker://{single}"), true);
    assert_eq!(
        raw["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
}
