//! Performing the mounts snapshotters return, and always undoing them.

use std::path::Path;

use berth_store::mount::{Mount, MountError, MountGuard};

fn mounted(target: &Path) -> usize {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let t = target.to_str().unwrap();
    info.lines()
        .filter(|l| l.split(' ').nth(4) == Some(t))
        .count()
}

fn bind(source: &Path, opt: &str) -> Mount {
    Mount {
        kind: "bind".into(),
        source: source.to_str().unwrap().into(),
        options: vec![opt.into(), "rbind".into()],
    }
}

#[test]
fn stacked_binds_are_read_only_when_asked_and_all_undone_on_drop() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root (mounts)"
    );
    let dir = tempfile::Builder::new()
        .prefix("bt-mount-")
        .tempdir()
        .unwrap();
    let (a, b, target) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("t"),
    );
    for d in [&a, &b, &target] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::write(b.join("from-b"), "b").unwrap();
    {
        let _guard = MountGuard::mount(&[bind(&a, "rw"), bind(&b, "ro")], &target).unwrap();
        assert_eq!(mounted(&target), 2);
        assert_eq!(
            std::fs::read_to_string(target.join("from-b")).unwrap(),
            "b",
            "the last mount is on top"
        );
        let err = std::fs::write(target.join("x"), "x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    }
    assert_eq!(mounted(&target), 0, "the guard unmounted both");

    let guard = MountGuard::mount(&[bind(&a, "rw")], &target).unwrap();
    guard.unmount().unwrap();
    assert_eq!(mounted(&target), 0);
}

#[test]
fn a_failed_mount_names_what_and_where_and_leaves_nothing() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root (mounts)"
    );
    let dir = tempfile::Builder::new()
        .prefix("bt-mount-")
        .tempdir()
        .unwrap();
    let (a, target) = (dir.path().join("a"), dir.path().join("t"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&target).unwrap();
    let missing = dir.path().join("missing");
    let err = MountGuard::mount(&[bind(&a, "rw"), bind(&missing, "ro")], &target).unwrap_err();
    assert!(matches!(err, MountError::Mount { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "mount bind {} on {}: No such file or directory (os error 2)",
            missing.display(),
            target.display()
        )
    );
    assert_eq!(mounted(&target), 0, "the first mount was undone");
}
