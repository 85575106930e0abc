//! The snapshotter conformance suite: one set of checks, run against every implementation,
//! as root on the real kernel. Each check mounts the mounts a snapshotter returns and looks
//! at the files, as a runtime would.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_store::layer::{
    chain_ids, commit_detached, snapshot_diff, unpack_detached, unpack_layer, LayerError,
};
use berth_store::metadata::{Labels, MetadataStore};
use berth_store::mount::MountGuard;
use berth_store::snapshot::native::NativeSnapshotter;
use berth_store::snapshot::overlay::OverlaySnapshotter;
use berth_store::snapshot::{SnapshotError, SnapshotKind, Snapshotter};
use berth_store::Digest;

type Open = fn(&Path, Arc<MetadataStore>) -> Box<dyn Snapshotter>;

fn open_overlay(root: &Path, meta: Arc<MetadataStore>) -> Box<dyn Snapshotter> {
    Box::new(OverlaySnapshotter::open(root, meta).unwrap())
}

fn open_native(root: &Path, meta: Arc<MetadataStore>) -> Box<dyn Snapshotter> {
    Box::new(NativeSnapshotter::open(root, meta).unwrap())
}

/// A store root with its metadata database and a snapshotter, plus a mount point.
struct Env {
    dir: tempfile::TempDir,
    meta: Arc<MetadataStore>,
    sn: Box<dyn Snapshotter>,
}

impl Env {
    fn new(open: Open) -> Env {
        assert!(
            rustix::process::geteuid().is_root(),
            "the snapshotter suite needs root (mounts)"
        );
        let dir = tempfile::Builder::new()
            .prefix("bt-snap-")
            .tempdir()
            .unwrap();
        let meta = Arc::new(MetadataStore::open(&dir.path().join("meta.redb")).unwrap());
        let sn = open(dir.path(), meta.clone());
        Env { dir, meta, sn }
    }

    fn mountpoint(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("mnt").join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Mounts the mounts of `key` (unmounted when the guard drops, even if the test fails).
    fn mount(&self, key: &str) -> (MountGuard, PathBuf) {
        let target = self.mountpoint(key);
        let guard = MountGuard::mount(&self.sn.mounts(key).unwrap(), &target).unwrap();
        (guard, target)
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn prepare_commit_and_view_a_chain(open: Open) {
    let env = Env::new(open);
    let sn = &*env.sn;
    let mounts = sn.prepare("a", None, &Labels::new()).unwrap();
    assert!(!mounts.is_empty());
    {
        let (_g, root) = env.mount("a");
        std::fs::write(root.join("file1"), "base").unwrap();
        std::fs::create_dir(root.join("dir")).unwrap();
        std::fs::write(root.join("dir/x"), "x").unwrap();
    }
    sn.commit("base", "a", &Labels::new()).unwrap();
    assert!(matches!(sn.stat("a"), Err(SnapshotError::NotFound(_))));

    sn.prepare("b", Some("base"), &Labels::new()).unwrap();
    {
        let (_g, root) = env.mount("b");
        assert_eq!(read(&root.join("file1")), "base", "parent's files visible");
        std::fs::write(root.join("file1"), "changed").unwrap();
        std::fs::remove_file(root.join("dir/x")).unwrap();
        std::fs::write(root.join("file2"), "new").unwrap();
    }
    sn.commit("top", "b", &Labels::new()).unwrap();

    sn.view("v-top", Some("top"), &Labels::new()).unwrap();
    sn.view("v-base", Some("base"), &Labels::new()).unwrap();
    {
        let (_g, root) = env.mount("v-top");
        assert_eq!(read(&root.join("file1")), "changed");
        assert_eq!(read(&root.join("file2")), "new");
        assert!(!root.join("dir/x").exists(), "deleted in the child");
        let err = std::fs::write(root.join("file3"), "no").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "a view is read-only");
    }
    {
        let (_g, root) = env.mount("v-base");
        assert_eq!(
            read(&root.join("file1")),
            "base",
            "committed layers never change"
        );
        assert_eq!(read(&root.join("dir/x")), "x");
        assert!(!root.join("file2").exists());
    }
    // Two active snapshots on one committed parent share it and do not see each other.
    sn.prepare("c1", Some("top"), &Labels::new()).unwrap();
    sn.prepare("c2", Some("top"), &Labels::new()).unwrap();
    let (_g1, r1) = env.mount("c1");
    let (_g2, r2) = env.mount("c2");
    std::fs::write(r1.join("only-c1"), "1").unwrap();
    assert!(!r2.join("only-c1").exists());
    assert_eq!(read(&r2.join("file2")), "new");
}

fn stat_and_list_report_kinds_parents_and_labels(open: Open) {
    let env = Env::new(open);
    let sn = &*env.sn;
    let labels: Labels = [("purpose".to_string(), "test".to_string())].into();
    sn.prepare("a", None, &Labels::new()).unwrap();
    sn.commit("base", "a", &labels).unwrap();
    sn.prepare("work", Some("base"), &Labels::new()).unwrap();
    sn.view("look", Some("base"), &Labels::new()).unwrap();
    let base = sn.stat("base").unwrap();
    assert_eq!(
        (base.kind, base.parent.as_deref(), &base.labels),
        (SnapshotKind::Committed, None, &labels)
    );
    let work = sn.stat("work").unwrap();
    assert_eq!(
        (work.kind, work.parent.as_deref()),
        (SnapshotKind::Active, Some("base"))
    );
    assert_eq!(sn.stat("look").unwrap().kind, SnapshotKind::View);
    let keys: Vec<String> = sn.list().unwrap().into_iter().map(|i| i.key).collect();
    assert_eq!(keys, vec!["base", "look", "work"]);
}

fn remove_refuses_parents_and_cleans_up(open: Open) {
    let env = Env::new(open);
    let sn = &*env.sn;
    sn.prepare("a", None, &Labels::new()).unwrap();
    sn.commit("base", "a", &Labels::new()).unwrap();
    sn.prepare("child", Some("base"), &Labels::new()).unwrap();
    let err = sn.remove("base").unwrap_err();
    assert!(matches!(err, SnapshotError::Conflict { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "snapshot \"base\": cannot remove: it is the parent of child"
    );
    sn.remove("child").unwrap();
    sn.remove("base").unwrap();
    assert!(sn.list().unwrap().is_empty());
    let dir = env.dir.path().join("snapshots").join(sn.name());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "directories removed with their records"
    );
    assert!(matches!(sn.remove("base"), Err(SnapshotError::NotFound(_))));
}

fn bad_requests_give_clear_errors(open: Open) {
    let env = Env::new(open);
    let sn = &*env.sn;
    sn.prepare("a", None, &Labels::new()).unwrap();
    let err = sn.prepare("a", None, &Labels::new()).unwrap_err();
    assert_eq!(err.to_string(), "snapshot \"a\" already exists");
    let err = sn.prepare("b", Some("a"), &Labels::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "snapshot \"b\": parent \"a\" is not committed"
    );
    let err = sn
        .prepare("b", Some("missing"), &Labels::new())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "snapshot \"b\": parent \"missing\" not found"
    );
    sn.view("v", None, &Labels::new()).unwrap();
    assert!(matches!(
        sn.commit("x", "v", &Labels::new()),
        Err(SnapshotError::Conflict { .. })
    ));
    sn.commit("base", "a", &Labels::new()).unwrap();
    sn.prepare("a2", None, &Labels::new()).unwrap();
    assert!(matches!(
        sn.commit("base", "a2", &Labels::new()),
        Err(SnapshotError::AlreadyExists(_))
    ));
    assert!(matches!(sn.mounts("nope"), Err(SnapshotError::NotFound(_))));
    assert!(matches!(
        sn.mounts("base"),
        Err(SnapshotError::Conflict { .. })
    ));
    assert!(matches!(
        sn.apply_target("base"),
        Err(SnapshotError::Conflict { .. })
    ));
    // Failed calls left nothing behind.
    let keys: Vec<String> = sn.list().unwrap().into_iter().map(|i| i.key).collect();
    assert_eq!(keys, vec!["a2", "base", "v"]);
}

fn usage_counts_own_bytes_and_inodes(open: Open) {
    let env = Env::new(open);
    let sn = &*env.sn;
    sn.prepare("a", None, &Labels::new()).unwrap();
    let empty = sn.usage("a").unwrap();
    {
        let (_g, root) = env.mount("a");
        std::fs::write(root.join("big"), vec![1u8; 1 << 20]).unwrap();
        std::fs::hard_link(root.join("big"), root.join("big-link")).unwrap();
        std::fs::create_dir(root.join("d")).unwrap();
    }
    let active = sn.usage("a").unwrap();
    assert_eq!(
        active.inodes,
        empty.inodes + 2,
        "file (hardlink once) and dir"
    );
    assert!(
        active.size >= empty.size + (1 << 20) && active.size < empty.size + (1 << 20) + 64 * 1024,
        "{active:?}"
    );
    sn.commit("base", "a", &Labels::new()).unwrap();
    assert_eq!(sn.usage("base").unwrap(), active, "recorded at commit");
    sn.prepare("b", Some("base"), &Labels::new()).unwrap();
    {
        let (_g, root) = env.mount("b");
        std::fs::write(root.join("small"), "1").unwrap();
    }
    let b = sn.usage("b").unwrap();
    if sn.name() == "overlayfs" {
        assert!(
            b.size < 64 * 1024,
            "an overlay layer holds only its own changes: {b:?}"
        );
    } else {
        assert!(b.size >= 1 << 20, "a native snapshot is a full copy: {b:?}");
    }
}

/// Builds a tar with the `tar` crate (paths here are benign).
fn layer(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        match data {
            Some(d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(d.len() as u64);
                b.append_data(&mut h, path, *d).unwrap();
            }
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn unpacked_layers_stack_with_whiteouts(open: Open) {
    let env = Env::new(open);
    let sn = &*env.sn;
    let l1 = layer(&[
        ("etc/", None),
        ("etc/a", Some(b"a1")),
        ("etc/b", Some(b"b1")),
        ("opt/", None),
        ("opt/o", Some(b"o")),
    ]);
    let l2 = layer(&[
        ("etc/", None),
        ("etc/a", Some(b"a2")),
        ("etc/.wh.b", Some(b"")),
        ("opt/", None),
        ("opt/.wh..wh..opq", Some(b"")),
        ("opt/n", Some(b"n")),
    ]);
    let diffs = [Digest::of(&l1), Digest::of(&l2)];
    let chains = chain_ids(&diffs);
    let a1 = unpack_layer(
        sn,
        None,
        &chains[0],
        Some(&diffs[0]),
        "extract-1",
        &mut &l1[..],
    )
    .unwrap();
    assert_eq!(a1.diff_id, diffs[0]);
    let parent = chains[0].to_string();
    unpack_layer(
        sn,
        Some(&parent),
        &chains[1],
        Some(&diffs[1]),
        "extract-2",
        &mut &l2[..],
    )
    .unwrap();
    assert_eq!(
        sn.stat(&chains[1].to_string()).unwrap().parent.as_deref(),
        Some(parent.as_str())
    );

    sn.view("rootfs", Some(&chains[1].to_string()), &Labels::new())
        .unwrap();
    let (_g, root) = env.mount("rootfs");
    assert_eq!(read(&root.join("etc/a")), "a2");
    assert!(!root.join("etc/b").exists());
    assert!(!root.join("opt/o").exists());
    assert_eq!(read(&root.join("opt/n")), "n");

    // A wrong diff id: nothing committed, the extract snapshot is gone.
    let wrong = Digest::of(b"not the layer");
    let err = unpack_layer(
        sn,
        None,
        &Digest::of(b"chain"),
        Some(&wrong),
        "extract-bad",
        &mut &l1[..],
    )
    .unwrap_err();
    assert!(matches!(err, LayerError::DiffIdMismatch { .. }), "{err}");
    assert!(matches!(
        sn.stat("extract-bad"),
        Err(SnapshotError::NotFound(_))
    ));
    assert!(matches!(
        sn.stat(&Digest::of(b"chain").to_string()),
        Err(SnapshotError::NotFound(_))
    ));

    // Unpacking a layer that is already there keeps the existing one (extracted once).
    unpack_layer(
        sn,
        None,
        &chains[0],
        Some(&diffs[0]),
        "extract-again",
        &mut &l1[..],
    )
    .unwrap();
    assert!(matches!(
        sn.stat("extract-again"),
        Err(SnapshotError::NotFound(_))
    ));
}

/// A layer of (path, kind, mode, uid, data or link target) entries, built with the tar crate.
fn layer_of(entries: &[(&str, tar::EntryType, u32, u64, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, mode, uid, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(*mode);
        h.set_uid(*uid);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        if *kind == tar::EntryType::Link {
            h.set_size(0);
            b.append_link(&mut h, path, std::str::from_utf8(data).unwrap())
                .unwrap();
        } else {
            h.set_size(data.len() as u64);
            b.append_data(&mut h, path, *data).unwrap();
        }
    }
    b.into_inner().unwrap()
}

/// Unpacks `layers` as a chain and returns the top chain id's snapshot name.
fn unpack_chain(sn: &dyn Snapshotter, layers: &[Vec<u8>]) -> String {
    let diffs: Vec<Digest> = layers.iter().map(|l| Digest::of(l)).collect();
    let chains = chain_ids(&diffs);
    for (i, l) in layers.iter().enumerate() {
        let parent = (i > 0).then(|| chains[i - 1].to_string());
        unpack_layer(
            sn,
            parent.as_deref(),
            &chains[i],
            Some(&diffs[i]),
            &format!("x-{i}"),
            &mut &l[..],
        )
        .unwrap();
    }
    chains.last().unwrap().to_string()
}

fn hardlinks_to_lower_files_and_recreated_dirs(open: Open) {
    use tar::EntryType::{Directory, Link, Regular};
    let env = Env::new(open);
    let sn = &*env.sn;
    let l1 = layer_of(&[
        ("d/", Directory, 0o755, 0, b""),
        ("d/x", Regular, 0o640, 7, b"shared"),
        ("gone/", Directory, 0o700, 5, b""),
    ]);
    let l2 = layer_of(&[
        ("e/", Directory, 0o755, 0, b""),
        ("e/y", Link, 0o640, 7, b"d/x"),
        (".wh.gone", Regular, 0o644, 0, b""),
    ]);
    // "gone/f" without a "gone/" entry: the parent is created anew, not like the deleted one.
    let l3 = layer_of(&[("gone/f", Regular, 0o644, 0, b"f")]);
    let top = unpack_chain(sn, &[l1, l2, l3]);
    sn.view("v", Some(&top), &Labels::new()).unwrap();
    let (_g, root) = env.mount("v");
    assert_eq!(read(&root.join("e/y")), "shared");
    let x = std::fs::metadata(root.join("d/x")).unwrap();
    let y = std::fs::metadata(root.join("e/y")).unwrap();
    assert_eq!((x.ino(), x.nlink()), (y.ino(), 2), "one inode, two names");
    assert_eq!((y.mode() & 0o7777, y.uid()), (0o640, 7));
    let gone = std::fs::metadata(root.join("gone")).unwrap();
    assert_eq!((gone.mode() & 0o7777, gone.uid()), (0o755, 0));
    assert_eq!(read(&root.join("gone/f")), "f");
}

fn concurrent_unpacks_of_one_layer_commit_it_once(open: Open) {
    let env = Env::new(open);
    let sn = &*env.sn;
    let files: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| (format!("f{i}"), vec![i as u8; 4096]))
        .collect();
    let entries: Vec<(&str, Option<&[u8]>)> = files
        .iter()
        .map(|(n, d)| (n.as_str(), Some(d.as_slice())))
        .collect();
    let tar = layer(&entries);
    let diff = Digest::of(&tar);
    std::thread::scope(|s| {
        for t in 0..4 {
            let tar = &tar;
            let diff = &diff;
            s.spawn(move || {
                unpack_layer(
                    sn,
                    None,
                    diff,
                    Some(diff),
                    &format!("extract-{t}"),
                    &mut &tar[..],
                )
                .unwrap();
            });
        }
    });
    let keys: Vec<String> = sn.list().unwrap().into_iter().map(|i| i.key).collect();
    assert_eq!(
        keys,
        vec![diff.to_string()],
        "one committed layer, no extract snapshot left"
    );
    let dir = env.dir.path().join("snapshots").join(sn.name());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "the losers' directories are gone"
    );
}

fn diff_of_an_active_snapshot_reapplies_to_the_same_tree(open: Open) {
    let env = Env::new(open);
    let sn = &*env.sn;
    let l1 = layer(&[
        ("keep", Some(b"k")),
        ("gone", Some(b"g")),
        ("d/", None),
        ("d/old", Some(b"o")),
    ]);
    let c1 = Digest::of(&l1);
    unpack_layer(sn, None, &c1, None, "x", &mut &l1[..]).unwrap();
    sn.prepare("work", Some(&c1.to_string()), &Labels::new())
        .unwrap();
    {
        let (_g, root) = env.mount("work");
        std::fs::remove_file(root.join("gone")).unwrap();
        std::fs::write(root.join("new"), "n").unwrap();
        std::fs::write(root.join("d/old"), "changed").unwrap();
    }
    let mut diff = Vec::new();
    let applied = snapshot_diff(sn, "work", &mut diff).unwrap();
    assert_eq!(applied.diff_id, Digest::of(&diff));
    // The diff on top of the parent gives the same tree.
    let c2 = chain_ids(&[c1.clone(), applied.diff_id.clone()])[1].clone();
    unpack_layer(
        sn,
        Some(&c1.to_string()),
        &c2,
        Some(&applied.diff_id),
        "y",
        &mut &diff[..],
    )
    .unwrap();
    sn.view("check", Some(&c2.to_string()), &Labels::new())
        .unwrap();
    let (_g, root) = env.mount("check");
    assert_eq!(read(&root.join("keep")), "k");
    assert_eq!(read(&root.join("new")), "n");
    assert_eq!(read(&root.join("d/old")), "changed");
    assert!(!root.join("gone").exists());
}

fn reopening_keeps_snapshots_and_drops_orphans(open: Open) {
    let env = Env::new(open);
    env.sn.prepare("a", None, &Labels::new()).unwrap();
    {
        let (_g, root) = env.mount("a");
        std::fs::write(root.join("f"), "kept").unwrap();
    }
    env.sn.commit("base", "a", &Labels::new()).unwrap();
    let dir = env.dir.path().join("snapshots").join(env.sn.name());
    let orphan = dir.join("999999");
    std::fs::create_dir_all(orphan.join("fs")).unwrap();
    let sn = open(env.dir.path(), env.meta.clone());
    assert!(
        !orphan.exists(),
        "a directory without a record is removed on open"
    );
    sn.view("v", Some("base"), &Labels::new()).unwrap();
    let target = env.mountpoint("v");
    let _g = MountGuard::mount(&sn.mounts("v").unwrap(), &target).unwrap();
    assert_eq!(read(&target.join("f")), "kept");
    let _ = std::fs::metadata(&target).unwrap().ino();
}

/// Layers unpacked before their parent (overlay-style snapshotters) end up as if unpacked
/// over it: implicit parent directories take the lower directory's owner and mode; a layer
/// that needs the parent's files says so and leaves nothing behind. A full-copy snapshotter
/// refuses with a clear "not implemented".
fn detached_unpacks_match_unpacks_over_the_parent(open: Open) {
    use tar::EntryType::{Directory, Link, Regular};
    let env = Env::new(open);
    let sn = &*env.sn;
    let l1 = layer_of(&[
        ("d/", Directory, 0o750, 5, b""),
        ("d/x", Regular, 0o640, 7, b"shared"),
        ("file", Regular, 0o644, 0, b"f"),
    ]);
    // No "d/" entry: d is implicit. "n/" is implicit too, with nothing below it.
    let l2 = layer_of(&[
        ("d/new", Regular, 0o600, 3, b"n"),
        ("n/m", Regular, 0o644, 0, b"m"),
    ]);
    let diffs = [Digest::of(&l1), Digest::of(&l2)];
    let chains = chain_ids(&diffs);
    let detached = match unpack_detached(sn, &chains[1], Some(&diffs[1]), &mut &l2[..]) {
        Ok(d) => d,
        Err(LayerError::Snapshot(SnapshotError::NotImplemented(what))) => {
            assert!(what.contains("scratch"), "{what}");
            assert!(sn.list().unwrap().is_empty());
            return;
        }
        Err(e) => panic!("unpack detached: {e}"),
    };
    assert_eq!(detached.applied.diff_id, diffs[1]);
    let dir = env.dir.path().join("snapshots").join(sn.name());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "one scratch dir"
    );
    assert!(sn.list().unwrap().is_empty(), "no record while it waits");
    // The parent is unpacked after the child.
    unpack_layer(sn, None, &chains[0], Some(&diffs[0]), "x0", &mut &l1[..]).unwrap();
    let parent = chains[0].to_string();
    commit_detached(sn, detached, Some(&parent), "x1").unwrap();
    assert_eq!(
        sn.stat(&chains[1].to_string()).unwrap().parent.as_deref(),
        Some(parent.as_str())
    );
    sn.view("v", Some(&chains[1].to_string()), &Labels::new())
        .unwrap();
    {
        let (_g, root) = env.mount("v");
        let d = std::fs::metadata(root.join("d")).unwrap();
        assert_eq!(
            (d.mode() & 0o7777, d.uid()),
            (0o750, 5),
            "d as in the lower"
        );
        assert_eq!(read(&root.join("d/x")), "shared");
        assert_eq!(read(&root.join("d/new")), "n");
        let n = std::fs::metadata(root.join("n")).unwrap();
        assert_eq!((n.mode() & 0o7777, n.uid()), (0o755, 0));
        assert_eq!(read(&root.join("file")), "f");
    }
    sn.remove("v").unwrap();

    // A hardlink to a lower file: refused before the parent is known, nothing left.
    let l3 = layer_of(&[("y", Link, 0o640, 7, b"d/x")]);
    let d3 = Digest::of(&l3);
    let c3 = chain_ids(&[diffs[0].clone(), diffs[1].clone(), d3.clone()])[2].clone();
    let err = unpack_detached(sn, &c3, Some(&d3), &mut &l3[..]).unwrap_err();
    assert!(matches!(err, LayerError::NeedsParent { .. }), "{err}");
    assert!(err.to_string().contains("\"y\""), "{err}");
    // A directory where the parent has a file: judged only over the parent.
    let l4 = layer_of(&[("file/z", Regular, 0o644, 0, b"z")]);
    let d4 = Digest::of(&l4);
    let c4 = chain_ids(&[diffs[0].clone(), d4.clone()])[1].clone();
    let detached = unpack_detached(sn, &c4, Some(&d4), &mut &l4[..]).unwrap();
    let err = commit_detached(sn, detached, Some(&parent), "x4").unwrap_err();
    assert!(matches!(err, LayerError::NeedsParent { .. }), "{err}");
    assert!(sn.stat(&c4.to_string()).is_err());
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with("scratch-")),
        "no scratch dir left: {names:?}"
    );
    // A scratch directory a crash left behind goes when the snapshotter opens.
    let scratch = sn.prepare_scratch(None).unwrap();
    assert!(scratch.target.dir.is_dir());
    let _reopened = open(env.dir.path(), env.meta.clone());
    assert!(!scratch.target.dir.exists());
}

macro_rules! conformance {
    ($name:ident, $open:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn prepare_commit_and_view_a_chain() {
                super::prepare_commit_and_view_a_chain($open)
            }
            #[test]
            fn stat_and_list_report_kinds_parents_and_labels() {
                super::stat_and_list_report_kinds_parents_and_labels($open)
            }
            #[test]
            fn remove_refuses_parents_and_cleans_up() {
                super::remove_refuses_parents_and_cleans_up($open)
            }
            #[test]
            fn bad_requests_give_clear_errors() {
                super::bad_requests_give_clear_errors($open)
            }
            #[test]
            fn usage_counts_own_bytes_and_inodes() {
                super::usage_counts_own_bytes_and_inodes($open)
            }
            #[test]
            fn unpacked_layers_stack_with_whiteouts() {
                super::unpacked_layers_stack_with_whiteouts($open)
            }
            #[test]
            fn hardlinks_to_lower_files_and_recreated_dirs() {
                super::hardlinks_to_lower_files_and_recreated_dirs($open)
            }
            #[test]
            fn concurrent_unpacks_of_one_layer_commit_it_once() {
                super::concurrent_unpacks_of_one_layer_commit_it_once($open)
            }
            #[test]
            fn diff_of_an_active_snapshot_reapplies_to_the_same_tree() {
                super::diff_of_an_active_snapshot_reapplies_to_the_same_tree($open)
            }
            #[test]
            fn detached_unpacks_match_unpacks_over_the_parent() {
                super::detached_unpacks_match_unpacks_over_the_parent($open)
            }
            #[test]
            fn reopening_keeps_snapshots_and_drops_orphans() {
                super::reopening_keeps_snapshots_and_drops_orphans($open)
            }
        }
    };
}

conformance!(overlay, open_overlay);
conformance!(native, open_native);

#[test]
fn overlay_is_supported_on_this_kernel() {
    let dir = tempfile::Builder::new()
        .prefix("bt-snap-")
        .tempdir()
        .unwrap();
    assert!(OverlaySnapshotter::supported(dir.path()));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "scratch directories removed"
    );
}

#[test]
fn overlay_mounts_a_chain_too_long_for_one_page_of_options() {
    let env = Env::new(open_overlay);
    let sn = &*env.sn;
    let mut parent: Option<String> = None;
    for i in 0..120 {
        let key = format!("extract-{i}");
        sn.prepare(&key, parent.as_deref(), &Labels::new()).unwrap();
        let dir = sn.apply_target(&key).unwrap().dir;
        std::fs::write(dir.join(format!("f{i}")), i.to_string()).unwrap();
        let name = format!("layer-{i}");
        sn.commit(&name, &key, &Labels::new()).unwrap();
        parent = Some(name);
    }
    let mounts = sn
        .prepare("rootfs", parent.as_deref(), &Labels::new())
        .unwrap();
    assert!(
        mounts[0].options.join(",").len() > 4096,
        "the options exceed a page"
    );
    let (_g, root) = env.mount("rootfs");
    for i in 0..120 {
        assert_eq!(read(&root.join(format!("f{i}"))), i.to_string());
    }
    std::fs::write(root.join("written"), "upper").unwrap();
}

/// Snapshot directories start their own block group hierarchies on ext2/3/4 (`chattr +T`, see
/// `spread_subdirectories` in snapshot/mod.rs); other filesystems are left as they are.
#[test]
fn snapshot_directories_are_orlov_top_directories_on_ext4() {
    let env = Env::new(open_overlay);
    let dir = env.dir.path().join("snapshots").join(env.sn.name());
    let fd = rustix::fs::open(
        &dir,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    const EXT4_SUPER_MAGIC: i64 = 0xef53;
    if rustix::fs::fstatfs(&fd).unwrap().f_type as i64 != EXT4_SUPER_MAGIC {
        eprintln!("not ext4: nothing to check");
        return;
    }
    let flags = rustix::fs::ioctl_getflags(&fd).unwrap();
    assert!(flags.contains(rustix::fs::IFlags::TOPDIR), "{flags:?}");
}
