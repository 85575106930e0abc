//! Layer application, checked file by file on the real filesystem (as root: ownership,
//! device nodes, trusted xattrs and overlay mounts need it), and hostile layers that try to
//! write outside the target.

use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_store::layer::{apply_tar, chain_ids, Applied, ApplyOptions, LayerError, WhiteoutStyle};
use berth_store::mount::{Mount, MountGuard};
use berth_store::Digest;

const T0: u64 = 1_600_000_000;

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root (ownership, mknod, mounts)"
    );
}

fn sandbox() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("bt-layer-")
        .tempdir()
        .unwrap();
    let target = dir.path().join("target");
    std::fs::create_dir(&target).unwrap();
    (dir, target)
}

/// Builds layer tars entry by entry with full control over header fields (including paths the
/// `tar` crate's own setters would refuse, for hostile layers).
struct TarBuilder {
    out: Vec<u8>,
}

impl TarBuilder {
    fn new() -> TarBuilder {
        TarBuilder { out: Vec::new() }
    }

    #[allow(clippy::too_many_arguments)]
    fn raw(
        &mut self,
        path: &str,
        kind: tar::EntryType,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        link: &str,
        data: &[u8],
    ) {
        let mut h = tar::Header::new_ustar();
        {
            let bytes = h.as_mut_bytes();
            bytes[..100].fill(0);
            bytes[..path.len()].copy_from_slice(path.as_bytes());
            bytes[157..257].fill(0);
            bytes[157..157 + link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
    }

    fn dir(&mut self, path: &str, mode: u32, uid: u64, gid: u64, mtime: u64) -> &mut Self {
        self.raw(
            path,
            tar::EntryType::Directory,
            mode,
            uid,
            gid,
            mtime,
            "",
            b"",
        );
        self
    }

    fn file(
        &mut self,
        path: &str,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        data: &[u8],
    ) -> &mut Self {
        self.raw(
            path,
            tar::EntryType::Regular,
            mode,
            uid,
            gid,
            mtime,
            "",
            data,
        );
        self
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.raw(path, tar::EntryType::Symlink, 0o777, 0, 0, T0, target, b"");
        self
    }

    fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.raw(path, tar::EntryType::Link, 0o644, 0, 0, T0, target, b"");
        self
    }

    fn device(
        &mut self,
        path: &str,
        kind: tar::EntryType,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> &mut Self {
        let mut h = tar::Header::new_ustar();
        h.as_mut_bytes()[..path.len()].copy_from_slice(path.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(T0);
        h.set_size(0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        self.out.extend_from_slice(h.as_bytes());
        self
    }

    /// A PAX header carrying `records` for the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in records {
            // "<len> <key>=<value>\n", where len counts the whole record including itself.
            let rest = k.len() + v.len() + 3;
            let mut len = rest + 1;
            while len.to_string().len() + rest != len {
                len += 1;
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        self.raw(
            "PaxHeader",
            tar::EntryType::XHeader,
            0o644,
            0,
            0,
            T0,
            "",
            &body,
        );
        self
    }

    /// The archive with its end marker and some extra zero padding (as `tar` writes to fill a
    /// record), which the diff ID must include.
    fn finish(&self) -> Vec<u8> {
        let mut out = self.out.clone();
        out.extend(std::iter::repeat_n(0u8, 512 * 6));
        out
    }
}

/// A reader that hands out a few bytes at a time, like a decompressor fed by the network.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.step = self.step % 7 + 1;
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn apply(tar: &[u8], target: &Path, style: WhiteoutStyle) -> Result<Applied, LayerError> {
    apply_tar(
        Trickle { data: tar, step: 0 },
        target,
        ApplyOptions { whiteouts: style },
    )
}

fn lmeta(p: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let path = CString::new(p.as_os_str().as_bytes()).unwrap();
    let name = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

fn every_kind_layer() -> Vec<u8> {
    let mut t = TarBuilder::new();
    t.dir("./", 0o755, 0, 0, T0)
        .dir("etc/", 0o750, 1000, 1001, T0 + 1)
        .file("etc/hosts", 0o640, 5, 6, T0 + 2, b"127.0.0.1 localhost\n")
        .hardlink("etc/hosts.link", "etc/hosts")
        .dir("bin/", 0o755, 0, 0, T0 + 3)
        .file("bin/busybox", 0o4755, 1000, 0, T0 + 4, &vec![0x7f; 70_000])
        .symlink("bin/sh", "/bin/busybox")
        .dir("dev/", 0o755, 0, 0, T0 + 5)
        .device("dev/null", tar::EntryType::Char, 0o666, 1, 3)
        .device("dev/loop9", tar::EntryType::Block, 0o660, 7, 9)
        .device("dev/initctl", tar::EntryType::Fifo, 0o600, 0, 0)
        .pax(&[
            ("SCHILY.xattr.user.berth", b"yes"),
            ("SCHILY.xattr.trusted.overlay.redirect", b"/x"),
        ])
        .file("etc/xattr", 0o644, 0, 0, T0 + 6, b"x")
        .pax(&[
            ("uid", b"3000000"),
            ("gid", b"3000001"),
            ("mtime", b"1600000007.25"),
        ])
        .file("etc/big-ids", 0o600, 0, 0, 0, b"ids")
        .file(
            "deep/er/file",
            0o644,
            0,
            0,
            T0 + 8,
            b"parents made on the way",
        );
    t.finish()
}

#[test]
fn every_entry_kind_is_created_with_its_attributes() {
    require_root();
    for style in [WhiteoutStyle::Delete, WhiteoutStyle::Overlay] {
        let (_dir, target) = sandbox();
        let tar = every_kind_layer();
        let applied = apply(&tar, &target, style).unwrap();
        assert_eq!(
            applied.diff_id,
            Digest::of(&tar),
            "diff id covers the whole stream"
        );
        assert_eq!(applied.size, tar.len() as u64);

        let etc = lmeta(&target.join("etc"));
        assert!(etc.is_dir());
        assert_eq!(
            (etc.mode() & 0o7777, etc.uid(), etc.gid()),
            (0o750, 1000, 1001)
        );
        assert_eq!(
            etc.mtime() as u64,
            T0 + 1,
            "dir mtime set after its contents"
        );

        let hosts = lmeta(&target.join("etc/hosts"));
        assert_eq!(
            (hosts.mode() & 0o7777, hosts.uid(), hosts.gid()),
            (0o640, 5, 6)
        );
        assert_eq!(hosts.mtime() as u64, T0 + 2);
        assert_eq!(
            std::fs::read(target.join("etc/hosts")).unwrap(),
            b"127.0.0.1 localhost\n"
        );
        let link = lmeta(&target.join("etc/hosts.link"));
        assert_eq!(link.ino(), hosts.ino(), "hardlink shares the inode");
        assert_eq!(hosts.nlink(), 2);

        let bb = lmeta(&target.join("bin/busybox"));
        assert_eq!(
            (bb.mode() & 0o7777, bb.uid()),
            (0o4755, 1000),
            "setuid survives chown"
        );
        assert_eq!(bb.len(), 70_000);
        let sh = lmeta(&target.join("bin/sh"));
        assert!(sh.file_type().is_symlink());
        assert_eq!(
            std::fs::read_link(target.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );

        let null = lmeta(&target.join("dev/null"));
        assert!(null.file_type().is_char_device());
        assert_eq!(
            (null.rdev(), null.mode() & 0o7777),
            (libc::makedev(1, 3), 0o666)
        );
        let lp = lmeta(&target.join("dev/loop9"));
        assert!(lp.file_type().is_block_device());
        assert_eq!(lp.rdev(), libc::makedev(7, 9));
        let fifo = lmeta(&target.join("dev/initctl"));
        assert!(fifo.file_type().is_fifo());
        assert_eq!(fifo.mode() & 0o7777, 0o600);

        assert_eq!(
            xattr(&target.join("etc/xattr"), "user.berth").as_deref(),
            Some(&b"yes"[..])
        );
        assert_eq!(
            xattr(&target.join("etc/xattr"), "trusted.overlay.redirect"),
            None,
            "overlay xattrs dropped"
        );

        let big = lmeta(&target.join("etc/big-ids"));
        assert_eq!((big.uid(), big.gid()), (3_000_000, 3_000_001));
        assert_eq!(
            (big.mtime(), big.mtime_nsec()),
            (1_600_000_007, 250_000_000)
        );

        assert_eq!(
            std::fs::read(target.join("deep/er/file")).unwrap(),
            b"parents made on the way"
        );
        assert_eq!(lmeta(&target.join("deep/er")).mode() & 0o7777, 0o755);
        assert_eq!(
            lmeta(&target).mtime() as u64,
            T0,
            "root dir attributes from ./"
        );
    }
}

fn lower_tree(root: &Path) {
    std::fs::create_dir_all(root.join("dir")).unwrap();
    std::fs::write(root.join("dir/old1"), "old1").unwrap();
    std::fs::write(root.join("dir/old2"), "old2").unwrap();
    std::fs::write(root.join("gone"), "gone").unwrap();
    std::fs::create_dir_all(root.join("gonedir/sub")).unwrap();
    std::fs::write(root.join("gonedir/sub/f"), "f").unwrap();
    std::fs::write(root.join("stay"), "stay").unwrap();
}

fn whiteout_layer() -> Vec<u8> {
    let mut t = TarBuilder::new();
    t.dir("dir/", 0o755, 0, 0, T0)
        .file("dir/before-marker", 0o644, 0, 0, T0, b"kept")
        .file("dir/.wh..wh..opq", 0o644, 0, 0, T0, b"")
        .file("dir/new", 0o644, 0, 0, T0, b"new")
        .file(".wh.gone", 0o644, 0, 0, T0, b"")
        .file(".wh.gonedir", 0o644, 0, 0, T0, b"");
    t.finish()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn whiteouts_and_opaque_dirs_delete_in_a_full_tree() {
    let (_dir, target) = sandbox();
    lower_tree(&target);
    apply(&whiteout_layer(), &target, WhiteoutStyle::Delete).unwrap();
    assert_eq!(names(&target), vec!["dir", "stay"]);
    assert_eq!(names(&target.join("dir")), vec!["before-marker", "new"]);
}

#[test]
fn whiteouts_and_opaque_dirs_become_overlay_whiteouts_and_mount_right() {
    require_root();
    let (dir, upper) = sandbox();
    let lower = dir.path().join("lower");
    lower_tree(&lower);
    apply(&whiteout_layer(), &upper, WhiteoutStyle::Overlay).unwrap();
    let gone = lmeta(&upper.join("gone"));
    assert!(
        gone.file_type().is_char_device() && gone.rdev() == 0,
        "whiteout is a 0/0 char device"
    );
    assert!(lmeta(&upper.join("gonedir")).file_type().is_char_device());
    assert_eq!(
        xattr(&upper.join("dir"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );

    // What a container sees through overlayfs.
    let work = dir.path().join("work");
    let merged = dir.path().join("merged");
    std::fs::create_dir(&work).unwrap();
    std::fs::create_dir(&merged).unwrap();
    let mount = Mount {
        kind: "overlay".into(),
        source: "overlay".into(),
        options: vec![
            format!("lowerdir={}", lower.display()),
            format!("upperdir={}", upper.display()),
            format!("workdir={}", work.display()),
        ],
    };
    let guard = MountGuard::mount(&[mount], &merged).unwrap();
    assert_eq!(names(&merged), vec!["dir", "stay"]);
    assert_eq!(names(&merged.join("dir")), vec!["before-marker", "new"]);
    guard.unmount().unwrap();
}

#[test]
fn a_later_entry_replaces_an_earlier_one() {
    let (_dir, target) = sandbox();
    let mut t = TarBuilder::new();
    t.file("a", 0o644, 0, 0, T0, b"first")
        .file("a", 0o600, 0, 0, T0, b"second")
        .dir("b/", 0o755, 0, 0, T0)
        .file("b/x", 0o644, 0, 0, T0, b"x")
        .symlink("b", "a")
        .file("c", 0o644, 0, 0, T0, b"c")
        .dir("c/", 0o700, 0, 0, T0);
    apply(&t.finish(), &target, WhiteoutStyle::Delete).unwrap();
    assert_eq!(std::fs::read(target.join("a")).unwrap(), b"second");
    assert!(lmeta(&target.join("b")).file_type().is_symlink());
    assert!(lmeta(&target.join("c")).is_dir());
}

#[test]
fn a_directory_whited_out_later_in_the_layer_stays_gone() {
    require_root();
    for style in [WhiteoutStyle::Delete, WhiteoutStyle::Overlay] {
        let (_dir, target) = sandbox();
        let mut t = TarBuilder::new();
        t.dir("a/", 0o755, 0, 0, T0)
            .dir("a/b/", 0o700, 0, 0, T0)
            .file("a/b/f", 0o644, 0, 0, T0, b"f")
            .file(".wh.a", 0o644, 0, 0, T0, b"");
        apply(&t.finish(), &target, style).unwrap();
        let a = std::fs::symlink_metadata(target.join("a"));
        match style {
            WhiteoutStyle::Delete => assert!(a.is_err(), "a was recreated"),
            WhiteoutStyle::Overlay => assert!(a.unwrap().file_type().is_char_device()),
        }
    }
}

/// Runs a hostile layer and checks it failed with an escape error and wrote nothing outside
/// the target (the sandbox around it holds only the target, and `outside` does not exist).
fn assert_contained(tar: Vec<u8>, outside: &Path) -> String {
    let (dir, target) = sandbox();
    let err = apply(&tar, &target, WhiteoutStyle::Delete).unwrap_err();
    assert!(
        matches!(err, LayerError::Escape { .. }),
        "expected an escape error, got: {err}"
    );
    assert_eq!(
        names(dir.path()),
        vec!["target"],
        "nothing written next to the target"
    );
    assert!(!outside.exists(), "{} was written", outside.display());
    err.to_string()
}

fn host_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/tmp/bt-hostile-{}-{name}", std::process::id()))
}

#[test]
fn hostile_layers_cannot_write_outside_the_target() {
    require_root();
    let mut t = TarBuilder::new();
    t.file("../escape", 0o644, 0, 0, T0, b"x");
    let msg = assert_contained(t.finish(), Path::new("/tmp/escape"));
    assert!(
        msg.contains("layer entry \"../escape\": path contains \"..\": refusing to write outside"),
        "{msg}"
    );

    let abs = host_path("abs");
    let mut t = TarBuilder::new();
    t.file(abs.to_str().unwrap(), 0o644, 0, 0, T0, b"x");
    let msg = assert_contained(t.finish(), &abs);
    assert!(msg.contains("absolute path"), "{msg}");

    // A symlink to / and then a path through it.
    let through = host_path("through-symlink");
    let mut t = TarBuilder::new();
    t.symlink("a", "/")
        .file(&format!("a{}", through.display()), 0o644, 0, 0, T0, b"x");
    let msg = assert_contained(t.finish(), &through);
    assert!(msg.contains("a parent directory is a symlink"), "{msg}");
    let mut t = TarBuilder::new();
    t.symlink("a", "/")
        .file("a/etc/passwd", 0o644, 0, 0, T0, b"root::0:0::/:/bin/sh\n");
    assert_contained(t.finish(), &host_path("unused"));
    assert!(!std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .starts_with("root::0:0::/:/bin/sh"));

    // A directory swapped for a symlink mid-layer.
    let swapped = host_path("swapped");
    std::fs::create_dir_all("/tmp").unwrap();
    let mut t = TarBuilder::new();
    t.dir("d/", 0o755, 0, 0, T0)
        .file("d/f", 0o644, 0, 0, T0, b"x")
        .symlink("d", "/tmp")
        .file(
            &format!("d/{}", swapped.file_name().unwrap().to_str().unwrap()),
            0o644,
            0,
            0,
            T0,
            b"x",
        );
    assert_contained(t.finish(), &swapped);

    // Hardlinks out of the tree.
    let mut t = TarBuilder::new();
    t.hardlink("shadow", "/etc/shadow");
    let msg = assert_contained(t.finish(), &host_path("unused"));
    assert!(msg.contains("hardlink target outside the layer"), "{msg}");
    let mut t = TarBuilder::new();
    t.hardlink("shadow", "../../../../etc/shadow");
    assert_contained(t.finish(), &host_path("unused"));
    let mut t = TarBuilder::new();
    t.symlink("e", "/etc").hardlink("shadow", "e/shadow");
    let msg = assert_contained(t.finish(), &host_path("unused"));
    assert!(
        msg.contains("hardlink target's parent is a symlink"),
        "{msg}"
    );

    // Device nodes escaping.
    let dev = host_path("dev");
    let mut t = TarBuilder::new();
    t.device(
        &format!("../../../../..{}", dev.display()),
        tar::EntryType::Block,
        0o666,
        8,
        0,
    );
    assert_contained(t.finish(), &dev);
    let mut t = TarBuilder::new();
    t.symlink("t", "/tmp").device(
        &format!("t/{}", dev.file_name().unwrap().to_str().unwrap()),
        tar::EntryType::Char,
        0o666,
        1,
        1,
    );
    assert_contained(t.finish(), &dev);

    // Whiteouts through a symlink delete nothing outside.
    let victim = host_path("victim");
    std::fs::write(&victim, "keep me").unwrap();
    let mut t = TarBuilder::new();
    t.symlink("t", "/tmp").file(
        &format!("t/.wh.{}", victim.file_name().unwrap().to_str().unwrap()),
        0o644,
        0,
        0,
        T0,
        b"",
    );
    let (_dir, target) = sandbox();
    let err = apply(&t.finish(), &target, WhiteoutStyle::Delete).unwrap_err();
    assert!(matches!(err, LayerError::Escape { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    std::fs::remove_file(&victim).unwrap();
}

#[test]
fn a_truncated_layer_is_a_read_error() {
    let (_dir, target) = sandbox();
    let mut t = TarBuilder::new();
    t.file("big", 0o644, 0, 0, T0, &vec![1u8; 10_000]);
    let tar = t.finish();
    let err = apply(&tar[..3000], &target, WhiteoutStyle::Delete).unwrap_err();
    assert!(matches!(err, LayerError::Read(_)), "{err}");
    assert!(err.to_string().starts_with("read layer tar: "), "{err}");
}

/// A source that yields `data` and then fails, like a download that breaks.
struct Broken<'a> {
    data: &'a [u8],
}

impl Read for Broken<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "download: connection reset",
            ));
        }
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn a_failing_source_error_comes_back_as_it_was() {
    let (_dir, target) = sandbox();
    let mut t = TarBuilder::new();
    t.file("big", 0o644, 0, 0, T0, &vec![1u8; 3 << 20]);
    let tar = t.finish();
    let err = apply_tar(
        Broken {
            data: &tar[..2 << 20],
        },
        &target,
        ApplyOptions {
            whiteouts: WhiteoutStyle::Delete,
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, LayerError::Read(ref e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "read layer tar: download: connection reset"
    );
}

#[test]
fn a_bad_entry_early_in_a_long_layer_fails_without_hanging() {
    // The applying thread stops at the bad entry; the reading thread must stop too, not
    // block forever on a full pipeline.
    let (_dir, target) = sandbox();
    let mut t = TarBuilder::new();
    t.file("../early", 0o644, 0, 0, T0, b"x");
    for i in 0..40 {
        t.file(&format!("f{i}"), 0o644, 0, 0, T0, &vec![0u8; 1 << 20]);
    }
    let tar = t.finish();
    let err = apply_tar(
        &tar[..],
        &target,
        ApplyOptions {
            whiteouts: WhiteoutStyle::Delete,
        },
    )
    .unwrap_err();
    assert!(matches!(err, LayerError::Escape { .. }), "{err}");
    assert!(names(&target).is_empty());
}

#[test]
fn chain_ids_follow_the_image_spec() {
    let a = Digest::of(b"a");
    let b = Digest::of(b"b");
    let ids = chain_ids(&[a.clone(), b.clone()]);
    assert_eq!(ids[0], a);
    assert_eq!(ids[1], Digest::of(format!("{a} {b}").as_bytes()));
    assert!(chain_ids(&[]).is_empty());
}

/// `write_diff` over a full tree against its lower (the native snapshotter's case): what
/// changed, as the one tar entry writer writes it; a second diff of the same tree is the same
/// bytes (the diff ID is stable).
#[test]
fn write_diff_gives_the_changes_as_entries_and_a_stable_diff_id() {
    let (dir, _) = sandbox();
    let lower = dir.path().join("lower");
    let upper = dir.path().join("upper");
    for d in [&lower, &upper] {
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(d.join("etc/same"), "same\n").unwrap();
    }
    std::fs::write(lower.join("etc/changed"), "old\n").unwrap();
    std::fs::write(lower.join("etc/gone"), "bye\n").unwrap();
    std::fs::write(upper.join("etc/changed"), "new!\n").unwrap();
    std::fs::write(upper.join("added"), "hello\n").unwrap();
    std::fs::hard_link(upper.join("added"), upper.join("added-link")).unwrap();
    std::os::unix::fs::symlink("added", upper.join("sym")).unwrap();
    std::fs::create_dir(upper.join("newdir")).unwrap();

    let diff = |out: &mut Vec<u8>| {
        berth_store::layer::write_diff(
            std::slice::from_ref(&lower),
            &upper,
            WhiteoutStyle::Delete,
            out,
        )
        .unwrap()
    };
    let mut tar_bytes = Vec::new();
    let first = diff(&mut tar_bytes);
    let mut again = Vec::new();
    assert_eq!(diff(&mut again).diff_id, first.diff_id);
    assert_eq!(again, tar_bytes);
    assert_eq!(first.size, tar_bytes.len() as u64);

    let mut entries = Vec::new();
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let kind = e.header().entry_type();
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned());
        let mut data = String::new();
        e.read_to_string(&mut data).unwrap();
        entries.push((path, kind, link, data));
    }
    let find = |p: &str| {
        entries
            .iter()
            .find(|e| e.0 == p)
            .unwrap_or_else(|| panic!("no entry {p} in {entries:?}"))
    };
    assert_eq!(find("added").1, tar::EntryType::Regular);
    assert_eq!(find("added").3, "hello\n");
    assert_eq!(find("added-link").1, tar::EntryType::Link);
    assert_eq!(find("added-link").2.as_deref(), Some("added"));
    assert_eq!(find("sym").1, tar::EntryType::Symlink);
    assert_eq!(find("sym").2.as_deref(), Some("added"));
    assert_eq!(find("newdir/").1, tar::EntryType::Directory);
    assert_eq!(find("etc/changed").3, "new!\n");
    assert_eq!(find("etc/.wh.gone").1, tar::EntryType::Regular);
    assert!(
        !entries.iter().any(|e| e.0 == "etc/same"),
        "an unchanged file is not in the diff: {entries:?}"
    );
}

/// `write_diff_filtered` over an overlay upper dir (a whiteout device made with mknod):
/// a skipped entry takes what is under it along; a held directory is written only with an
/// entry under it that is kept, before it; whiteouts carry docker's mode 0600 and the
/// device's owner.
#[test]
fn write_diff_filtered_skips_subtrees_and_writes_held_dirs_only_when_they_hold_something() {
    use berth_store::layer::{write_diff_filtered, Keep};
    require_root();
    let (dir, _) = sandbox();
    let upper = dir.path().join("upper");
    for d in ["etc", "dev/pts", "proc", "keep/inner"] {
        std::fs::create_dir_all(upper.join(d)).unwrap();
    }
    std::fs::write(upper.join("etc/hosts"), "").unwrap();
    std::fs::write(upper.join("proc/x"), "").unwrap();
    std::fs::write(upper.join("keep/inner/f"), "f").unwrap();
    let gone = CString::new(upper.join("keep/gone").as_os_str().as_bytes()).unwrap();
    assert_eq!(
        unsafe { libc::mknod(gone.as_ptr(), libc::S_IFCHR | 0o600, 0) },
        0,
        "mknod whiteout"
    );
    unsafe { libc::lchown(gone.as_ptr(), 7, 8) };
    let keep = |rel: &str, _: Option<&std::fs::Metadata>| match rel {
        "etc/hosts" | "proc" | "dev/pts" => Keep::Skip,
        "etc" | "dev" | "keep" => Keep::IfHolding,
        _ => Keep::Entry,
    };
    let mut out = Vec::new();
    write_diff_filtered(&[], &upper, WhiteoutStyle::Overlay, &keep, &mut out).unwrap();
    let mut archive = tar::Archive::new(&out[..]);
    let entries: Vec<(String, u32, u64, u64)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
            )
        })
        .collect();
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        ["keep/", "keep/.wh.gone", "keep/inner/", "keep/inner/f"]
    );
    let wh = &entries[1];
    assert_eq!((wh.1 & 0o7777, wh.2, wh.3), (0o600, 7, 8), "{wh:?}");
}
