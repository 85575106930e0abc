//! Tests of the archive domain on real files (tempdirs under /tmp, prefix `bt-archive-`).
//! Those marked so need root: whiteout devices, ownership, overlay and tmpfs mounts.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_store::layer::WhiteoutStyle;
use berth_store::mount::{Mount, MountGuard};
use berth_store::snapshot::ApplyTarget;

use super::*;
use berth_docker::archive::*;

fn require_root() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test needs root (whiteout devices, ownership, mounts)"
    );
}

fn sandbox() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("bt-archive-")
        .tempdir()
        .unwrap()
}

fn write(path: &Path, data: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

fn mknod(path: &Path, kind: libc::mode_t, dev: libc::dev_t) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    assert_eq!(
        unsafe { libc::mknod(c.as_ptr(), kind | 0o644, dev) },
        0,
        "mknod {}",
        path.display()
    );
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "setxattr {name} on {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

fn lchown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
}

fn listing(changes: &[Change]) -> Vec<String> {
    changes.iter().map(|c| c.to_string()).collect()
}

fn overlay(lowers: &[&Path], upper: &Path, work: &Path, target: &Path) -> MountGuard {
    let lowerdir: Vec<String> = lowers.iter().map(|l| l.display().to_string()).collect();
    MountGuard::mount(
        &[Mount {
            kind: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                format!("lowerdir={}", lowerdir.join(":")),
                format!("upperdir={}", upper.display()),
                format!("workdir={}", work.display()),
            ],
        }],
        target,
    )
    .unwrap()
}

/// docker's documented examples, made by the kernel's overlayfs in a real upperdir.
#[test]
fn overlay_changes_match_docker_diff() {
    require_root();
    let sb = sandbox();
    let (lower, upper, work, merged) = (
        sb.path().join("lower"),
        sb.path().join("upper"),
        sb.path().join("work"),
        sb.path().join("merged"),
    );
    for d in [&lower, &upper, &work, &merged] {
        std::fs::create_dir_all(d).unwrap();
    }
    write(&lower.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
    write(&lower.join("etc/group"), "root:x:0:\n");
    std::fs::create_dir_all(lower.join("tmp")).unwrap();
    write(&lower.join("usr/lib/libc.so"), "elf");
    write(&lower.join("var/old"), "old");
    {
        let _m = overlay(&[&lower], &upper, &work, &merged);
        // touch /tmp/x
        write(&merged.join("tmp/x"), "");
        // rm /etc/passwd
        std::fs::remove_file(merged.join("etc/passwd")).unwrap();
        // an in-place write: only the file changed, its directories are copied up unchanged
        std::fs::write(merged.join("usr/lib/libc.so"), "ELF").unwrap();
        // mkdir -p /a/b
        std::fs::create_dir_all(merged.join("a/b")).unwrap();
        // the runtime's mount targets (docker's init layer): not changes
        write(&merged.join("etc/hostname"), "");
        std::fs::create_dir_all(merged.join("dev/pts")).unwrap();
        std::fs::create_dir_all(merged.join("proc/self")).unwrap();
        // rm -rf /var && mkdir /var && touch /var/new: an opaque directory
        std::fs::remove_dir_all(merged.join("var")).unwrap();
        std::fs::create_dir(merged.join("var")).unwrap();
        write(&merged.join("var/new"), "");
    }
    let target = ApplyTarget {
        dir: upper.clone(),
        whiteouts: WhiteoutStyle::Overlay,
        lowers: vec![lower.clone()],
    };
    let got = changes(&[lower], &target).unwrap();
    assert_eq!(
        listing(&got),
        [
            "A /a",
            "A /a/b",
            "C /etc",
            "D /etc/passwd",
            "C /tmp",
            "A /tmp/x",
            "C /usr/lib/libc.so",
            "D /var",
            "A /var/new",
        ]
    );
}

/// A layer stack built by hand: whiteouts and opaque directories in the lower layers hide
/// what is under them, and a lower layer's symlink is never followed to the host.
#[test]
fn overlay_changes_look_through_the_layer_stack() {
    require_root();
    let sb = sandbox();
    let (near, far, upper) = (
        sb.path().join("near"),
        sb.path().join("far"),
        sb.path().join("upper"),
    );
    // far (bottom): /etc/a, /opt/x, /keep
    write(&far.join("etc/a"), "a");
    write(&far.join("opt/x"), "x");
    write(&far.join("keep"), "k");
    // near: /etc/a deleted (whiteout), /opt made opaque, /lnk -> / (a host path if followed)
    std::fs::create_dir_all(near.join("etc")).unwrap();
    mknod(&near.join("etc/a"), libc::S_IFCHR, 0);
    std::fs::create_dir_all(near.join("opt")).unwrap();
    set_xattr(&near.join("opt"), "trusted.overlay.opaque", b"y");
    symlink("/", near.join("lnk")).unwrap();
    // upper: /etc/a again, /opt/x again, /keep rewritten, /lnk replaced by a dir with etc
    write(&upper.join("etc/a"), "new a");
    write(&upper.join("opt/x"), "new x");
    write(&upper.join("keep"), "new k");
    std::fs::create_dir_all(upper.join("lnk/etc")).unwrap();
    set_xattr(&upper.join("lnk"), "trusted.overlay.opaque", b"y");
    let lowers = vec![near, far];
    let target = ApplyTarget {
        dir: upper,
        whiteouts: WhiteoutStyle::Overlay,
        lowers: lowers.clone(),
    };
    let got = listing(&changes(&lowers, &target).unwrap());
    assert!(got.contains(&"A /etc/a".to_string()), "{got:?}");
    assert!(got.contains(&"A /opt/x".to_string()), "{got:?}");
    assert!(got.contains(&"C /keep".to_string()), "{got:?}");
    // /lnk existed below (as a symlink): the opaque dir replacing it is D; /lnk/etc is new
    // (moby would stat the host's /etc through the symlink and call it C).
    assert!(got.contains(&"D /lnk".to_string()), "{got:?}");
    assert!(got.contains(&"A /lnk/etc".to_string()), "{got:?}");
    let mut sorted = got.clone();
    sorted.sort_by(|a, b| a[2..].cmp(&b[2..]));
    assert_eq!(got, sorted, "sorted by path");
}

/// The native snapshotter's full trees: compared entry by entry.
#[test]
fn full_tree_changes_compare_with_the_parent_tree() {
    let sb = sandbox();
    let (lower, upper) = (sb.path().join("lower"), sb.path().join("upper"));
    write(&lower.join("etc/passwd"), "root");
    write(&lower.join("etc/hosts"), "localhost");
    write(&lower.join("bin/sh"), "sh");
    write(&lower.join("usr/share/doc/readme"), "doc");
    write(&lower.join("gone/file"), "x");
    symlink("sh", lower.join("bin/ash")).unwrap();
    std::fs::create_dir(&upper).unwrap();
    berth_store::snapshot::native::copy_tree(&lower, &upper).unwrap();
    // A copy is no change at all.
    let target = ApplyTarget {
        dir: upper.clone(),
        whiteouts: WhiteoutStyle::Delete,
        lowers: Vec::new(),
    };
    assert_eq!(
        changes(std::slice::from_ref(&lower), &target).unwrap(),
        Vec::new()
    );

    std::fs::write(upper.join("etc/passwd"), "root and more").unwrap();
    std::fs::set_permissions(upper.join("bin/sh"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::remove_dir_all(upper.join("gone")).unwrap();
    write(&upper.join("usr/share/doc/new"), "n");
    std::fs::remove_file(upper.join("bin/ash")).unwrap();
    symlink("busybox", upper.join("bin/ash")).unwrap();
    write(&upper.join("new/dir/file"), "f");
    let got = listing(&changes(&[lower], &target).unwrap());
    assert_eq!(
        got,
        [
            "C /bin",
            "C /bin/ash",
            "C /bin/sh",
            "C /etc",
            "C /etc/passwd",
            "D /gone",
            "A /new",
            "A /new/dir",
            "A /new/dir/file",
            "C /usr",
            "C /usr/share",
            "C /usr/share/doc",
            "A /usr/share/doc/new",
        ]
    );
    // Without a parent tree everything is new.
    let all = changes(&[], &target).unwrap();
    assert!(all.iter().all(|c| c.kind == ChangeKind::Added), "{all:?}");

    // Mount targets the runtime made are not changes, nor the directory holding only them.
    let (lower2, upper2) = (sb.path().join("lower2"), sb.path().join("upper2"));
    write(&lower2.join("etc/passwd"), "root");
    std::fs::create_dir(&upper2).unwrap();
    berth_store::snapshot::native::copy_tree(&lower2, &upper2).unwrap();
    write(&upper2.join("etc/hostname"), "");
    write(&upper2.join("etc/resolv.conf"), "");
    std::fs::create_dir_all(upper2.join("sys/fs")).unwrap();
    let target2 = ApplyTarget {
        dir: upper2.clone(),
        whiteouts: WhiteoutStyle::Delete,
        lowers: Vec::new(),
    };
    assert_eq!(
        listing(&changes(std::slice::from_ref(&lower2), &target2).unwrap()),
        Vec::<String>::new()
    );
    write(&upper2.join("etc/motd"), "hi");
    assert_eq!(
        listing(&changes(&[lower2], &target2).unwrap()),
        ["C /etc", "A /etc/motd"]
    );
}

/// What a tar holds, entry by entry: (type, mode, uid, gid, size, link, xattrs, content).
type Entries = BTreeMap<String, (char, u32, u64, u64, u64, String, Vec<String>, Vec<u8>)>;

fn tar_entries(bytes: &[u8]) -> Entries {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        assert!(
            h.as_gnu().is_none_or(|g| g.username_bytes().is_empty()),
            "numeric owners only"
        );
        let mut xattrs = Vec::new();
        if let Some(exts) = e.pax_extensions().unwrap() {
            for x in exts {
                let x = x.unwrap();
                xattrs.push(format!(
                    "{}={}",
                    x.key().unwrap(),
                    String::from_utf8_lossy(x.value_bytes())
                ));
            }
        }
        let kind = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Regular => 'f',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            tar::EntryType::Char => 'c',
            tar::EntryType::Fifo => 'p',
            other => panic!("unexpected {other:?}"),
        };
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.display().to_string())
            .unwrap_or_default();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(
            String::from_utf8_lossy(&e.path_bytes()).into_owned(),
            (
                kind,
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.size().unwrap(),
                link,
                xattrs,
                data,
            ),
        );
    }
    out
}

/// A small rootfs with one of everything a tar can hold.
fn make_rootfs(root: &Path) {
    write(&root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
    write(&root.join("bin/busybox"), "#!busybox");
    std::fs::set_permissions(
        root.join("bin/busybox"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    symlink("busybox", root.join("bin/sh")).unwrap();
    std::fs::hard_link(root.join("bin/busybox"), root.join("bin/ls")).unwrap();
    std::fs::create_dir_all(root.join("dev")).unwrap();
    mknod(&root.join("dev/null"), libc::S_IFCHR, libc::makedev(1, 3));
    mknod(&root.join("run.fifo"), libc::S_IFIFO, 0);
    write(&root.join("home/user/notes"), "mine");
    lchown(&root.join("home/user/notes"), 1234, 5678);
    lchown(&root.join("home/user"), 1234, 5678);
    set_xattr(&root.join("bin/busybox"), "user.berth", b"cap");
    std::fs::create_dir_all(root.join("mnt")).unwrap();
}

#[test]
fn export_writes_the_whole_tree_and_round_trips() {
    require_root();
    let sb = sandbox();
    let root = sb.path().join("rootfs");
    make_rootfs(&root);
    // A mount inside the rootfs (a volume seen through /proc/PID/root): left out.
    let tmpfs = MountGuard::mount(
        &[Mount {
            kind: "tmpfs".into(),
            source: "tmpfs".into(),
            options: vec![],
        }],
        &root.join("mnt"),
    )
    .unwrap();
    write(&root.join("mnt/volume-file"), "not exported");
    let mut out = Vec::new();
    export(&root, &mut out).unwrap();
    tmpfs.unmount().unwrap();
    let entries = tar_entries(&out);
    let names: Vec<&str> = entries.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "bin/",
            "bin/busybox",
            "bin/ls",
            "bin/sh",
            "dev/",
            "dev/null",
            "etc/",
            "etc/passwd",
            "home/",
            "home/user/",
            "home/user/notes",
            "mnt/",
            "run.fifo",
        ]
    );
    assert_eq!(entries["bin/busybox"].0, 'f');
    assert_eq!(entries["bin/busybox"].1, 0o4755);
    assert_eq!(entries["bin/busybox"].6, ["SCHILY.xattr.user.berth=cap"]);
    assert_eq!(entries["bin/ls"].0, 'h');
    assert_eq!(entries["bin/ls"].5, "bin/busybox");
    assert_eq!(entries["bin/sh"].0, 'l');
    assert_eq!(entries["bin/sh"].5, "busybox");
    assert_eq!(entries["dev/null"].0, 'c');
    assert_eq!(entries["run.fifo"].0, 'p');
    assert_eq!(
        (entries["home/user/notes"].2, entries["home/user/notes"].3),
        (1234, 5678)
    );
    assert_eq!(entries["etc/passwd"].7, b"root:x:0:0::/root:/bin/sh\n");

    // Round trip: extracting the export keeping owners gives the same tree back.
    let copy = sb.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    extract_into(
        &copy,
        "/",
        &out[..],
        ExtractOptions {
            no_overwrite_dir_non_dir: true,
            copy_uid_gid: true,
        },
    )
    .unwrap();
    let mut again = Vec::new();
    export(&copy, &mut again).unwrap();
    assert_eq!(tar_entries(&again), entries);
    let a = std::fs::metadata(copy.join("bin/busybox")).unwrap();
    let b = std::fs::metadata(copy.join("bin/ls")).unwrap();
    assert_eq!(a.ino(), b.ino(), "hardlink kept");
    assert_eq!(a.mode() & 0o7777, 0o4755, "setuid kept after chown");
    assert_eq!(
        std::fs::symlink_metadata(copy.join("etc/passwd"))
            .unwrap()
            .mtime(),
        std::fs::symlink_metadata(root.join("etc/passwd"))
            .unwrap()
            .mtime()
    );
    assert_eq!(
        std::fs::symlink_metadata(copy.join("home"))
            .unwrap()
            .mtime(),
        std::fs::symlink_metadata(root.join("home"))
            .unwrap()
            .mtime(),
        "directory times set after their contents"
    );
}

#[test]
fn stat_path_follows_docker_rules() {
    let sb = sandbox();
    let root = sb.path();
    write(&root.join("real/etc/passwd"), "12345");
    std::fs::set_permissions(
        root.join("real/etc/passwd"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    symlink("real/etc", root.join("etc")).unwrap();
    symlink("/real/etc/passwd", root.join("abs-link")).unwrap();
    symlink("../../nowhere/x", root.join("real/dangling")).unwrap();

    let s = stat_path(root, "/etc/passwd").unwrap();
    assert_eq!((s.name.as_str(), s.size, s.mode), ("passwd", 5, 0o640));
    assert!(s.is_regular() && !s.is_dir() && !s.is_symlink());
    assert!(s.link_target.is_empty());

    // The last component is not followed; link_target is resolved inside the rootfs.
    let s = stat_path(root, "etc").unwrap();
    assert!(s.is_symlink());
    assert_eq!(s.mode, (1 << 27) | 0o777);
    assert_eq!(s.link_target, "/real/etc");
    assert_eq!(
        stat_path(root, "/abs-link").unwrap().link_target,
        "/real/etc/passwd"
    );
    assert_eq!(
        stat_path(root, "/real/dangling").unwrap().link_target,
        "/nowhere/x"
    );

    // A trailing `/` or `/.` follows the link and asserts a directory.
    let s = stat_path(root, "/etc/").unwrap();
    assert_eq!((s.name.as_str(), s.mode), ("etc", (1 << 31) | 0o755));
    assert_eq!(stat_path(root, "/etc/.").unwrap().name, ".");
    assert_eq!(stat_path(root, "/").unwrap().name, "/");
    assert_eq!(stat_path(root, "/").unwrap().archive_name(), ".");
    let e = stat_path(root, "/etc/passwd/").unwrap_err();
    assert!(matches!(e, ArchiveError::NotADirectory(_)), "{e}");
    let e = stat_path(root, "/etc/missing").unwrap_err();
    assert_eq!(
        e.to_string(),
        "could not find the file /etc/missing in container"
    );

    // docker's header form round-trips.
    let s = stat_path(root, "/abs-link").unwrap();
    assert_eq!(PathStat::from_json(&s.to_json()).unwrap(), s);
    assert!(PathStat::from_json("{\"name\":1}").is_err());
}

#[test]
fn paths_never_leave_the_rootfs() {
    let sb = sandbox();
    let root = sb.path().join("rootfs");
    // `etc -> /` inside the rootfs: /etc/passwd must be the rootfs's /passwd, never the host's.
    write(&root.join("passwd"), "container passwd");
    std::fs::create_dir_all(&root).unwrap();
    symlink("/", root.join("etc")).unwrap();
    symlink("../../../../../../../../", root.join("up")).unwrap();
    for path in [
        "/etc/passwd",
        "/up/passwd",
        "/../../../passwd",
        "etc/../../passwd",
    ] {
        let mut out = Vec::new();
        let stat = archive_path(&root, path, &mut out).unwrap();
        assert_eq!(stat.size, 16, "{path}");
        let entries = tar_entries(&out);
        assert_eq!(entries["passwd"].7, b"container passwd", "{path}");
    }
    assert_eq!(stat_path(&root, "/etc").unwrap().link_target, "/");
}

#[test]
fn archive_path_names_the_top_entry() {
    let sb = sandbox();
    let root = sb.path();
    write(&root.join("data/a"), "a");
    write(&root.join("data/sub/b"), "b");
    symlink("data", root.join("link")).unwrap();
    let names = |path: &str| {
        let mut out = Vec::new();
        archive_path(root, path, &mut out).unwrap();
        tar_entries(&out).into_keys().collect::<Vec<_>>()
    };
    assert_eq!(
        names("/data"),
        ["data/", "data/a", "data/sub/", "data/sub/b"]
    );
    assert_eq!(names("/data/."), ["./", "a", "sub/", "sub/b"]);
    assert_eq!(names("/link"), ["link"], "a symlink is copied as a symlink");
    assert_eq!(
        names("/link/"),
        ["link/", "link/a", "link/sub/", "link/sub/b"]
    );
    let mut out = Vec::new();
    archive_path_as(root, "/data/sub", Some("renamed"), &mut out).unwrap();
    assert_eq!(
        tar_entries(&out).into_keys().collect::<Vec<_>>(),
        ["renamed/", "renamed/b"]
    );
}

/// A raw tar entry with any name (tar-rs refuses to write `..` and absolute names itself).
fn raw_entry(
    builder: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    link: &str,
    data: &[u8],
) {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(1_600_000_000);
    h.set_cksum();
    builder.append(&h, data).unwrap();
}

fn tar_of(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link, data) in entries {
        raw_entry(&mut b, name, *kind, link, data);
    }
    b.into_inner().unwrap()
}

const OPTS: ExtractOptions = ExtractOptions {
    no_overwrite_dir_non_dir: true,
    copy_uid_gid: false,
};

#[test]
fn extraction_never_writes_outside_the_rootfs() {
    use tar::EntryType::{Link, Regular, Symlink};
    let sb = sandbox();
    let root = sb.path().join("rootfs");
    std::fs::create_dir_all(root.join("dst")).unwrap();
    let marker = format!("bt-archive-escape-{}", std::process::id());

    // `..` out of the destination: refused, nothing written.
    let e = extract_into(
        &root,
        "/dst",
        &tar_of(&[(&format!("../../{marker}"), Regular, "", b"x")])[..],
        OPTS,
    )
    .unwrap_err();
    assert!(matches!(e, ArchiveError::Escape { .. }), "{e}");
    assert!(
        e.to_string().contains("is outside the destination /dst"),
        "{e}"
    );
    assert!(!sb.path().join(&marker).exists() && !root.join(&marker).exists());

    // An absolute name lands under the destination.
    extract_into(
        &root,
        "/dst",
        &tar_of(&[(&format!("/{marker}"), Regular, "", b"abs")])[..],
        OPTS,
    )
    .unwrap();
    assert_eq!(
        std::fs::read(root.join("dst").join(&marker)).unwrap(),
        b"abs"
    );

    // A symlink to / then a write through it: the write lands in the rootfs's /.
    let evil = format!("lnk/{marker}");
    extract_into(
        &root,
        "/dst",
        &tar_of(&[("lnk", Symlink, "/", b""), (&evil, Regular, "", b"through")])[..],
        OPTS,
    )
    .unwrap();
    assert!(
        !Path::new("/").join(&marker).exists(),
        "wrote to the host's /"
    );
    assert_eq!(std::fs::read(root.join(&marker)).unwrap(), b"through");
    let up = format!("up/{marker}-2");
    extract_into(
        &root,
        "/dst",
        &tar_of(&[
            ("up", Symlink, "../../../../../../../..", b""),
            (&up, Regular, "", b"x"),
        ])[..],
        OPTS,
    )
    .unwrap();
    assert!(!Path::new("/").join(format!("{marker}-2")).exists());
    assert!(root.join(format!("{marker}-2")).exists());

    // The destination itself behind a symlink to the host's /: stays in the rootfs.
    symlink("/", root.join("hostroot")).unwrap();
    extract_into(
        &root,
        "/hostroot",
        &tar_of(&[(&format!("{marker}-3"), Regular, "", b"x")])[..],
        OPTS,
    )
    .unwrap();
    assert!(!Path::new("/").join(format!("{marker}-3")).exists());
    assert!(root.join(format!("{marker}-3")).exists());

    // Hardlinks: never to a file outside the destination, nor to the host's.
    for target in ["../../etc/passwd", "/etc/passwd", "../dst/../../x"] {
        let e = extract_into(
            &root,
            "/dst",
            &tar_of(&[("hl", Link, target, b"")])[..],
            OPTS,
        )
        .unwrap_err();
        assert!(
            matches!(e, ArchiveError::InvalidHardlink { .. }),
            "{target}: {e}"
        );
    }
    assert!(!root.join("dst/hl").exists());
    extract_into(
        &root,
        "/dst",
        &tar_of(&[("f", Regular, "", b"f"), ("hl", Link, "f", b"")])[..],
        OPTS,
    )
    .unwrap();
    assert_eq!(
        std::fs::metadata(root.join("dst/hl")).unwrap().ino(),
        std::fs::metadata(root.join("dst/f")).unwrap().ino()
    );
    let _ = std::fs::remove_file(Path::new("/").join(&marker));
}

#[test]
fn extraction_follows_the_overwrite_rules() {
    use tar::EntryType::{Directory, Regular};
    let sb = sandbox();
    let root = sb.path();
    std::fs::create_dir_all(root.join("dst/dir/inner")).unwrap();
    write(&root.join("dst/file"), "old");

    let e = extract_into(
        root,
        "/dst",
        &tar_of(&[("dir", Regular, "", b"x")])[..],
        OPTS,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot overwrite directory \"/dst/dir\" with non-directory"
    );
    let e = extract_into(
        root,
        "/dst",
        &tar_of(&[("file", Directory, "", b"")])[..],
        OPTS,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot overwrite non-directory \"/dst/file\" with directory"
    );
    assert!(root.join("dst/dir/inner").is_dir() && root.join("dst/file").is_file());

    // A file replaces a file; without the rule, a file replaces a directory and back.
    extract_into(
        root,
        "/dst",
        &tar_of(&[("file", Regular, "", b"new")])[..],
        OPTS,
    )
    .unwrap();
    assert_eq!(std::fs::read(root.join("dst/file")).unwrap(), b"new");
    let loose = ExtractOptions {
        no_overwrite_dir_non_dir: false,
        copy_uid_gid: false,
    };
    extract_into(
        root,
        "/dst",
        &tar_of(&[("dir", Regular, "", b"x"), ("file", Directory, "", b"")])[..],
        loose,
    )
    .unwrap();
    assert!(root.join("dst/dir").is_file() && root.join("dst/file").is_dir());

    // Missing parents are made; the destination must exist and be a directory.
    extract_into(
        root,
        "/dst",
        &tar_of(&[("a/b/c", Regular, "", b"c")])[..],
        OPTS,
    )
    .unwrap();
    assert_eq!(std::fs::read(root.join("dst/a/b/c")).unwrap(), b"c");
    let e = extract_into(root, "/missing", &tar_of(&[])[..], OPTS).unwrap_err();
    assert_eq!(
        e.to_string(),
        "could not find the file /missing in container"
    );
    let e = extract_into(root, "/dst/dir", &tar_of(&[])[..], OPTS).unwrap_err();
    assert_eq!(e.to_string(), "/dst/dir: not a directory");
    let e = extract_into(root, "/dst", &b"this is not a tar archive at all"[..], OPTS);
    assert!(e.is_err());
}

#[test]
fn extraction_owners_follow_copy_uid_gid() {
    require_root();
    let sb = sandbox();
    let root = sb.path();
    std::fs::create_dir(root.join("dst")).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o2755);
    h.set_uid(1234);
    h.set_gid(5678);
    h.set_size(1);
    h.set_mtime(1_600_000_000);
    b.append_data(&mut h, "owned", &b"x"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    extract_into(root, "/dst", &tar[..], OPTS).unwrap();
    let m = std::fs::metadata(root.join("dst/owned")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777, m.mtime()),
        (0, 0, 0o2755, 1_600_000_000)
    );
    let archive = ExtractOptions {
        copy_uid_gid: true,
        ..OPTS
    };
    extract_into(root, "/dst", &tar[..], archive).unwrap();
    let m = std::fs::metadata(root.join("dst/owned")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1234, 5678, 0o2755));
}

/// A running container's own view, volumes included: berthd may pass `/proc/PID/root` as
/// the rootfs, and lookups from it walk that process's mount tree (here a tmpfs mounted in
/// a private mount namespace, invisible on the host path). Export still leaves mounts out.
#[test]
fn proc_pid_root_sees_the_containers_mounts() {
    require_root();
    let sb = sandbox();
    let dir = sb.path().join("ctr");
    std::fs::create_dir_all(dir.join("vol")).unwrap();
    let script = format!(
        "mount -t tmpfs bt-archive {d}/vol && echo on-volume > {d}/vol/f && exec sleep 60",
        d = dir.display()
    );
    let mut child = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .spawn()
        .unwrap();
    let view = PathBuf::from(format!("/proc/{}/root{}", child.id(), dir.display()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !view.join("vol/f").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the namespace never mounted its volume"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let result = std::panic::catch_unwind(|| {
        assert!(
            !dir.join("vol/f").exists(),
            "the volume is not on the host path"
        );
        let mut out = Vec::new();
        archive_path(&view, "/vol/f", &mut out).unwrap();
        assert_eq!(tar_entries(&out)["f"].7, b"on-volume\n");
        let mut out = Vec::new();
        export(&view, &mut out).unwrap();
        let names: Vec<String> = tar_entries(&out).into_keys().collect();
        assert_eq!(names, ["vol/"]);
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    result.unwrap();
}

#[test]
fn a_corrupt_headers_bytes_are_escaped_in_the_message() {
    let e = ArchiveError::Tar(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "numeric field did not have utf-8 text: \u{1b}[2J when getting size for a\u{7}",
    ));
    let shown = e.to_string();
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(shown.contains("\\u{1b}[2J"), "{shown}");
}
