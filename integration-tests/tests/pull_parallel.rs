//! Pulls whose second layer unpacks while the first is still unpacking
//! (berth_store::layer::unpack_detached): the result must be the tree an
//! unpack over the committed parent gives. Layer 1 carries 24 MiB of
//! incompressible data, so it is still being written when layer 2 arrives;
//! the checks hold whichever way the timing goes.

use berth_integration_tests::berthd::{unmount_under, Berthd};
use berth_integration_tests::registry::{skopeo_copy, write_oci_layout_compressed, Registry};
use berth_integration_tests::{require_root, run, stderr, TestDir};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tar (python3's tarfile, PAX) of (path, kind, mode, uid, data or link
/// target) entries; kind is "file", "dir" or "hardlink"; a file whose data
/// is "@random:N" holds N random bytes.
fn tar_of(entries: &[(&str, &str, u32, u32, &str)]) -> Vec<u8> {
    let spec = serde_json::to_string(entries).unwrap();
    let script = r#"
import io, json, os, sys, tarfile
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as t:
    for path, kind, mode, uid, data in json.loads(sys.argv[1]):
        info = tarfile.TarInfo(path)
        info.mode = mode; info.uid = uid; info.gid = 0; info.mtime = 1600000000
        body = None
        if kind == 'file':
            body = os.urandom(int(data[8:])) if data.startswith('@random:') else data.encode()
            info.size = len(body)
        elif kind == 'dir':
            info.type = tarfile.DIRTYPE
        elif kind == 'hardlink':
            info.type = tarfile.LNKTYPE; info.linkname = data
        t.addfile(info, io.BytesIO(body) if body is not None else None)
sys.stdout.buffer.write(buf.getvalue())
"#;
    let out = run(Command::new("python3").args(["-c", script, &spec]));
    assert!(out.status.success(), "make tar: {}", stderr(&out));
    out.stdout
}

/// The base layer both images share: a big file, a 0700 directory owned by
/// uid 1234 with a file in it.
fn base_layer() -> Vec<u8> {
    tar_of(&[
        ("big", "file", 0o644, 0, "@random:25165824"),
        ("d/", "dir", 0o700, 1234, ""),
        ("d/x", "file", 0o640, 1234, "shared\n"),
    ])
}

/// Pushes a two-layer gzip image and pulls it into a fresh berthd; returns
/// the daemon (its root holds the snapshots).
fn pull_two_layers(reg: &Registry, work: &TestDir, name: &str, top: Vec<u8>) -> Berthd {
    let layout = work.join(&format!("layout-{name}"));
    write_oci_layout_compressed(&layout, &[base_layer(), top], "1", "gzip");
    let reference = format!("{}/{name}:1", reg.host());
    skopeo_copy(
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{reference}"),
    );
    let d = Berthd::start();
    let out = d.ok(&["pull", &reference]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    d
}

/// Mounts the committed layers of a fresh root read-only (oldest snapshot
/// lowest) and runs `check` on the merged tree.
fn with_merged_tree(root: &Path, work: &TestDir, check: impl FnOnce(&Path)) {
    let base = root.join("snapshots/overlayfs");
    let mut ids: Vec<u64> = std::fs::read_dir(&base)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 2, "two layer snapshots expected: {ids:?}");
    let leftovers: Vec<PathBuf> = std::fs::read_dir(&base)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("scratch-")
        })
        .collect();
    assert!(leftovers.is_empty(), "scratch dirs left: {leftovers:?}");
    let lower: Vec<String> = ids
        .iter()
        .rev()
        .map(|i| base.join(i.to_string()).join("fs").display().to_string())
        .collect();
    let target = work.join("merged");
    std::fs::create_dir_all(&target).unwrap();
    let out = run(Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o"])
        .arg(format!("ro,lowerdir={}", lower.join(":")))
        .arg(&target));
    assert!(out.status.success(), "mount overlay: {}", stderr(&out));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&target)));
    unmount_under(&target);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn a_layer_unpacked_before_its_parent_keeps_the_parents_directory_attributes() {
    require_root();
    let reg = Registry::start();
    let work = TestDir::new("pull-parallel-dirs");
    // No "d/" entry: d must stay 0700 uid 1234 in the merged tree, not
    // become the 0755 root directory an upper dir would make by default.
    let top = tar_of(&[("d/new", "file", 0o600, 7, "new\n")]);
    let d = pull_two_layers(&reg, &work, "dirs", top);
    with_merged_tree(&d.root, &work, |root| {
        let dir = std::fs::metadata(root.join("d")).unwrap();
        assert_eq!((dir.mode() & 0o7777, dir.uid()), (0o700, 1234));
        assert_eq!(
            std::fs::read_to_string(root.join("d/x")).unwrap(),
            "shared\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("d/new")).unwrap(),
            "new\n"
        );
        assert_eq!(std::fs::metadata(root.join("big")).unwrap().len(), 24 << 20);
    });
}

#[test]
fn a_layer_hardlinking_its_parents_file_is_unpacked_over_the_parent() {
    require_root();
    let reg = Registry::start();
    let work = TestDir::new("pull-parallel-links");
    let top = tar_of(&[
        ("e/", "dir", 0o755, 0, ""),
        ("e/y", "hardlink", 0o640, 1234, "d/x"),
    ]);
    let d = pull_two_layers(&reg, &work, "links", top);
    with_merged_tree(&d.root, &work, |root| {
        assert_eq!(
            std::fs::read_to_string(root.join("e/y")).unwrap(),
            "shared\n"
        );
        let x = std::fs::metadata(root.join("d/x")).unwrap();
        assert_eq!((x.mode() & 0o7777, x.uid()), (0o640, 1234));
    });
}
