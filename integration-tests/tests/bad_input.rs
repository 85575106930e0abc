//! Hostile or broken input to berthd that once left something behind or
//! said the wrong thing (issue 13 item 8, and `--sysctl` of a host
//! parameter): each case fails with one clear line and leaves no blob,
//! ingest, snapshot or container.

use berth_integration_tests::berthd::Berthd;
use berth_integration_tests::containers::Fixture;
use berth_integration_tests::registry::{make_tar, sha256_hex, FakeRegistry, FakeResponse};
use berth_integration_tests::{require_root, stderr, TestDir};
use std::collections::HashMap;
use std::path::Path;

/// Every file under `dir` (recursively), as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// The committed blobs of a berthd root.
fn blobs(d: &Berthd) -> Vec<String> {
    files_under(&d.root.join("content/blobs"))
}

/// The ingests (downloads and writes under way or abandoned) of a root.
fn ingests(d: &Berthd) -> Vec<String> {
    files_under(&d.root.join("content/ingest"))
}

/// Whether a message has a control character other than a line end (the
/// CLI adds docker's "See 'berth run --help'." line).
fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n')
}

/// The first line of the CLI's error, the one that says what failed.
fn first_line(err: &str) -> &str {
    err.lines().next().unwrap_or_default()
}

/// A tar whose first header has a name with a NUL and a terminal escape
/// sequence and a size field of binary garbage (the tar reader quotes
/// both in its error), followed by the end-of-archive blocks.
fn hostile_tar() -> Vec<u8> {
    let mut header = [0u8; 512];
    let name = b"evil\x1b[31mred\x07";
    header[..name.len()].copy_from_slice(name);
    header[100..108].copy_from_slice(b"0000644\0");
    header[124..136].copy_from_slice(b"\x01\x02\x1b[2J\xff\xfe\x00zz\x00");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| *b as u32).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(&[0u8; 1024]);
    tar
}

#[test]
fn a_failed_import_escapes_the_tars_bytes_and_leaves_no_blob() {
    require_root();
    let d = Berthd::start();
    let work = TestDir::new("badimport");
    let tarball = work.join("hostile.tar");
    std::fs::write(&tarball, hostile_tar()).unwrap();
    let before = blobs(&d);
    let out = d.berth(&["import", tarball.to_str().unwrap(), "bt/hostile:1"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(!first_line(&err).is_empty(), "{err:?}");
    assert_eq!(blobs(&d), before, "the failed import's blob is left");
    assert!(ingests(&d).is_empty(), "{:?}", ingests(&d));
    assert!(!has_control(&err), "raw bytes in the error: {err:?}");
    assert!(err.contains("\\u{1b}"), "escaped, not dropped: {err:?}");
    assert_eq!(d.ok(&["images", "-q"]), "");
}

#[test]
fn an_env_file_with_a_nul_is_refused_at_create_and_nothing_is_left() {
    let f = Fixture::new();
    let env = f.work.join("nul.env");
    std::fs::write(&env, b"GOOD=1\nBAD=a\0b\n").unwrap();
    let name = f.name("envnul");
    let out = f.berth(&[
        "create",
        "--name",
        &name,
        "--env-file",
        env.to_str().unwrap(),
        "busybox",
        "true",
    ]);
    // berthd's refusal: a plain error of `create` (docker's exit 1).
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("invalid environment variable") && err.contains("NUL"),
        "{err}"
    );
    assert!(!has_control(&err), "{err:?}");
    assert!(
        !f.all_names().contains(&name),
        "a Created container is left"
    );
    assert!(f.mounts_under_berthd().is_empty());
}

#[test]
fn a_host_sysctl_is_refused_with_dockers_words_and_nothing_is_left() {
    let f = Fixture::new();
    let before = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let name = f.name("sysctl");
    let out = f.berth(&[
        "run",
        "--name",
        &name,
        "--sysctl",
        "kernel.core_pattern=|/bin/x",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        first_line(&stderr(&out)),
        "invalid argument \"kernel.core_pattern=|/bin/x\" for \"--sysctl\" flag: sysctl 'kernel.core_pattern=|/bin/x' is not whitelisted"
    );
    assert!(!f.all_names().contains(&name));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before
    );
}

/// A fake registry serving `manifests` (path after `/v2/` -> (media type,
/// body)) and `blobs` (digest -> body), everything else 404.
fn serve(
    manifests: Vec<(String, &'static str, Vec<u8>)>,
    blobs: HashMap<String, Vec<u8>>,
) -> FakeRegistry {
    FakeRegistry::start(move |req| {
        if req.path == "/v2/" {
            return FakeResponse::new(200, "application/json", "{}");
        }
        for (path, media_type, body) in &manifests {
            if req.path == format!("/v2/{path}") {
                return FakeResponse::new(200, media_type, body.clone());
            }
        }
        if let Some((_, digest)) = req.path.split_once("/blobs/") {
            if let Some(body) = blobs.get(digest) {
                return FakeResponse::new(200, "application/octet-stream", body.clone());
            }
        }
        FakeResponse::new(
            404,
            "application/json",
            r#"{"errors":[{"code":"NOT_FOUND"}]}"#,
        )
    })
}

/// A one-layer image: (config digest, config bytes, layer digest, layer).
fn tiny_image() -> (String, Vec<u8>, String, Vec<u8>) {
    let layer = make_tar(&[("hello", "file", "hi")]);
    let layer_digest = format!("sha256:{}", sha256_hex(&layer));
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .unwrap();
    let config_digest = format!("sha256:{}", sha256_hex(&config));
    (config_digest, config, layer_digest, layer)
}

fn manifest(
    config_digest: &str,
    config_len: usize,
    layer_digest: &str,
    layer_size: i64,
) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_len},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer_size}],
    }))
    .unwrap()
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[test]
fn an_index_that_nests_an_index_is_named_not_a_missing_platform() {
    require_root();
    let nested = format!("sha256:{}", "ab".repeat(32));
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_INDEX, "digest": nested, "size": 10,
                       "platform": {"os": "linux", "architecture": "amd64"}}],
    }))
    .unwrap();
    let fake = serve(
        vec![("loop/manifests/1".into(), OCI_INDEX, index)],
        HashMap::new(),
    );
    let d = Berthd::start();
    let err = d.fails(&["pull", &format!("{}/loop:1", fake.host())]);
    assert!(!err.contains("no manifest for platform"), "{err}");
    assert!(
        err.contains("nested image indexes") && err.contains(&nested),
        "{err}"
    );
    assert_eq!(d.ok(&["images", "-q"]), "");
}

#[test]
fn a_negative_layer_size_is_refused() {
    require_root();
    let (cd, config, ld, layer) = tiny_image();
    let m = manifest(&cd, config.len(), &ld, -1);
    let fake = serve(
        vec![("neg/manifests/1".into(), OCI_MANIFEST, m)],
        HashMap::from([(cd, config), (ld.clone(), layer)]),
    );
    let d = Berthd::start();
    let err = d.fails(&["pull", &format!("{}/neg:1", fake.host())]);
    assert!(
        err.contains(&format!("layer {ld}")) && err.contains("negative size (-1)"),
        "{err}"
    );
    assert_eq!(d.ok(&["images", "-q"]), "");
}

#[test]
fn a_registry_that_sends_more_than_the_descriptor_says_is_named() {
    require_root();
    let (cd, config, ld, layer) = tiny_image();
    let m = manifest(&cd, config.len(), &ld, layer.len() as i64);
    let mut longer = layer.clone();
    longer.extend_from_slice(&[7u8; 4096]);
    let fake = serve(
        vec![("more/manifests/1".into(), OCI_MANIFEST, m)],
        HashMap::from([(cd, config), (ld.clone(), longer)]),
    );
    let d = Berthd::start();
    let err = d.fails(&["pull", &format!("{}/more:1", fake.host())]);
    assert!(!err.contains("truncated"), "{err}");
    assert!(err.contains("more than"), "{err}");
    assert!(err.contains(&layer.len().to_string()), "{err}");
    assert_eq!(d.ok(&["images", "-q"]), "");
    assert!(ingests(&d).is_empty(), "{:?}", ingests(&d));
}

#[test]
fn a_redirect_loop_leaves_no_empty_ingest() {
    require_root();
    let (cd, config, ld, layer) = tiny_image();
    let m = manifest(&cd, config.len(), &ld, layer.len() as i64);
    let config_path = format!("/v2/redir/blobs/{cd}");
    let fake = FakeRegistry::start(move |req| {
        if req.path == "/v2/" {
            FakeResponse::new(200, "application/json", "{}")
        } else if req.path == "/v2/redir/manifests/1" {
            FakeResponse::new(200, OCI_MANIFEST, m.clone())
        } else if req.path == config_path {
            FakeResponse::new(200, "application/octet-stream", config.clone())
        } else {
            // Every blob redirects to itself, for ever.
            FakeResponse::new(307, "text/plain", "").header("Location", &req.path)
        }
    });
    let d = Berthd::start();
    let err = d.fails(&["pull", &format!("{}/redir:1", fake.host())]);
    assert!(err.contains("redirect"), "{err}");
    let left: Vec<u64> = ingests(&d)
        .iter()
        .filter(|p| p.ends_with("data"))
        .map(|p| {
            std::fs::metadata(d.root.join("content/ingest").join(p))
                .unwrap()
                .len()
        })
        .collect();
    assert!(!left.contains(&0), "an empty ingest is left: {left:?}");
}

#[test]
fn cp_of_a_corrupt_tar_into_a_container_escapes_its_bytes() {
    use std::io::Write;
    let f = Fixture::new();
    let name = f.name("cptar");
    f.run_detached(&name, &["sleep", "60"]);
    let mut child =
        f.d.berth_cmd(&["cp", "-", &format!("{name}:/tmp")])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&hostile_tar())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(!has_control(&err), "raw bytes in the error: {err:?}");
    assert!(err.contains("\\u{1b}"), "escaped, not dropped: {err:?}");
}
