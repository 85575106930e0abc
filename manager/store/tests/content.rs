//! Content store behaviour, from outside: what is visible on disk after each operation.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use berth_store::content::{ContentError, ContentStore};
use berth_store::Digest;

fn store() -> (tempfile::TempDir, ContentStore) {
    let dir = tempfile::Builder::new()
        .prefix("bt-content-")
        .tempdir()
        .unwrap();
    let store = ContentStore::open(dir.path()).unwrap();
    (dir, store)
}

fn blob_count(root: &Path) -> usize {
    std::fs::read_dir(root.join("content/blobs/sha256"))
        .unwrap()
        .count()
}

fn ingest_count(root: &Path) -> usize {
    std::fs::read_dir(root.join("content/ingest"))
        .unwrap()
        .count()
}

#[test]
fn write_verify_commit_makes_a_read_only_blob() {
    let (dir, store) = store();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let digest = Digest::of(&data);
    let mut w = store
        .writer("pull-1", Some(&digest), Some(data.len() as u64))
        .unwrap();
    for chunk in data.chunks(7919) {
        w.write_all(chunk).unwrap();
    }
    assert_eq!(w.offset(), data.len() as u64);
    assert_eq!(w.digest(), digest);
    let info = w.commit(None, None).unwrap();
    assert_eq!(info.digest, digest);
    assert_eq!(info.size, data.len() as u64);

    let path = dir.path().join("content/blobs/sha256").join(digest.hex());
    assert_eq!(store.blob_path(&digest), path);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o444);
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert_eq!(store.read_all(&digest).unwrap(), data);
    assert_eq!(ingest_count(dir.path()), 0);
    assert_eq!(store.info(&digest).unwrap().size, data.len() as u64);
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn wrong_digest_is_an_error_and_nothing_is_visible() {
    let (dir, store) = store();
    let claimed = Digest::of(b"what the registry promised");
    let mut w = store.writer("pull-bad", Some(&claimed), None).unwrap();
    w.write_all(b"what it sent").unwrap();
    let err = w.commit(None, None).unwrap_err();
    assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("digest mismatch") && msg.contains(&claimed.to_string()),
        "{msg}"
    );
    assert!(!store.exists(&claimed));
    assert!(!store.exists(&Digest::of(b"what it sent")));
    assert_eq!(blob_count(dir.path()), 0);
    assert_eq!(ingest_count(dir.path()), 0);
}

#[test]
fn truncated_blob_is_a_size_mismatch_and_nothing_is_visible() {
    let (dir, store) = store();
    let data = b"0123456789";
    let digest = Digest::of(data);
    let mut w = store.writer("pull-short", Some(&digest), Some(10)).unwrap();
    w.write_all(&data[..6]).unwrap();
    let err = w.commit(None, None).unwrap_err();
    assert!(
        matches!(
            err,
            ContentError::SizeMismatch {
                expected: 10,
                actual: 6,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(blob_count(dir.path()), 0);
    assert_eq!(ingest_count(dir.path()), 0);
}

#[test]
fn writing_past_the_expected_size_fails() {
    let (_dir, store) = store();
    let mut w = store.writer("pull-long", None, Some(4)).unwrap();
    w.write_all(b"abc").unwrap();
    let err = w.write_all(b"de").unwrap_err();
    assert!(
        err.to_string().contains("write past expected size 4"),
        "{err}"
    );
}

#[test]
fn an_interrupted_ingest_resumes_where_it_stopped() {
    let (dir, store) = store();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let digest = Digest::of(&data);
    {
        let mut w = store
            .writer("pull-resume", Some(&digest), Some(data.len() as u64))
            .unwrap();
        w.write_all(&data[..123_457]).unwrap();
        // dropped: the connection broke
    }
    let status = store.ingest_status("pull-resume").unwrap();
    assert_eq!(status.offset, 123_457);
    assert_eq!(store.ingests().unwrap(), vec![status]);
    assert!(!store.exists(&digest));

    let mut w = store
        .writer("pull-resume", Some(&digest), Some(data.len() as u64))
        .unwrap();
    assert_eq!(w.offset(), 123_457);
    assert_eq!(w.digest(), Digest::of(&data[..123_457]));
    w.write_all(&data[123_457..]).unwrap();
    w.commit(None, None).unwrap();
    assert_eq!(store.read_all(&digest).unwrap(), data);
    assert_eq!(ingest_count(dir.path()), 0);
}

#[test]
fn truncate_restarts_an_ingest() {
    let (_dir, store) = store();
    let mut w = store.writer("pull-restart", None, None).unwrap();
    w.write_all(b"stale bytes").unwrap();
    w.truncate().unwrap();
    assert_eq!(w.offset(), 0);
    w.write_all(b"fresh").unwrap();
    let info = w.commit(Some(5), Some(&Digest::of(b"fresh"))).unwrap();
    assert_eq!(info.digest, Digest::of(b"fresh"));
}

#[test]
fn a_second_writer_of_the_same_ref_is_refused_while_the_first_holds_it() {
    let (_dir, store) = store();
    let mut first = store.writer("pull-shared", None, None).unwrap();
    first.write_all(b"first writer's bytes").unwrap();

    // Another thread (as berthd's concurrent pulls would be) cannot take the ref.
    let other = store.clone();
    let err = std::thread::spawn(move || other.writer("pull-shared", None, None).map(|_| ()))
        .join()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, ContentError::Locked(ref r) if r == "pull-shared"),
        "{err}"
    );
    assert!(matches!(
        store.abort("pull-shared"),
        Err(ContentError::Locked(_))
    ));

    let info = first.commit(None, None).unwrap();
    assert_eq!(
        store.read_all(&info.digest).unwrap(),
        b"first writer's bytes"
    );
    // Once committed, the ref is free again and starts empty.
    let again = store.writer("pull-shared", None, None).unwrap();
    assert_eq!(again.offset(), 0);
}

#[test]
fn concurrent_writers_racing_on_one_ref_never_mix_bytes() {
    let (_dir, store) = store();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8).collect();
    let digest = Digest::of(&data);
    let mut handles = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        let data = data.clone();
        let digest = digest.clone();
        handles.push(std::thread::spawn(move || {
            for _ in 0..20 {
                match store.writer("pull-race", Some(&digest), Some(data.len() as u64)) {
                    Ok(mut w) => {
                        let start = w.offset() as usize;
                        w.write_all(&data[start..]).unwrap();
                        w.commit(None, None).unwrap();
                    }
                    Err(ContentError::Locked(_)) => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(store.read_all(&digest).unwrap(), data);
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn committing_an_existing_blob_keeps_it_and_drops_the_ingest() {
    let (dir, store) = store();
    let digest = store.write_all(b"same bytes").unwrap();
    assert_eq!(store.write_all(b"same bytes").unwrap(), digest);
    let mut w = store.writer("pull-dup", Some(&digest), None).unwrap();
    w.write_all(b"same bytes").unwrap();
    assert_eq!(w.commit(None, None).unwrap().digest, digest);
    assert_eq!(blob_count(dir.path()), 1);
    assert_eq!(ingest_count(dir.path()), 0);
}

#[test]
fn reader_reads_seeks_and_reads_ranges() {
    let (_dir, store) = store();
    let digest = store.write_all(b"hello, range reads").unwrap();
    let mut r = store.reader(&digest).unwrap();
    assert_eq!(r.size(), 18);
    r.seek(SeekFrom::Start(7)).unwrap();
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    assert_eq!(s, "range reads");
    let mut buf = [0u8; 5];
    assert_eq!(r.read_at(&mut buf, 0).unwrap(), 5);
    assert_eq!(&buf, b"hello");
}

#[test]
fn delete_abort_and_unknown_names_give_clear_errors() {
    let (dir, store) = store();
    let digest = store.write_all(b"to delete").unwrap();
    store.delete(&digest).unwrap();
    assert!(!store.exists(&digest));
    let err = store.delete(&digest).unwrap_err();
    assert_eq!(err.to_string(), format!("content {digest} not found"));
    assert!(matches!(
        store.reader(&digest),
        Err(ContentError::NotFound(_))
    ));
    assert!(matches!(
        store.info(&digest),
        Err(ContentError::NotFound(_))
    ));

    drop(store.writer("pull-abort", None, None).unwrap());
    store.abort("pull-abort").unwrap();
    assert_eq!(ingest_count(dir.path()), 0);
    let err = store.abort("pull-abort").unwrap_err();
    assert_eq!(err.to_string(), "ingest \"pull-abort\" not found");
    assert!(matches!(
        store.writer("", None, None),
        Err(ContentError::InvalidRef(_))
    ));
}

/// Unmounts the test's tmpfs even if the test fails.
struct TmpfsGuard<'a>(&'a Path);

impl Drop for TmpfsGuard<'_> {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

#[test]
fn a_full_disk_is_an_error_and_leaves_nothing_behind() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root (it mounts a tmpfs)"
    );
    let dir = tempfile::Builder::new()
        .prefix("bt-content-full-")
        .tempdir()
        .unwrap();
    rustix::mount::mount(
        "bt-tmpfs",
        dir.path(),
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        c"size=512k",
    )
    .unwrap();
    let _guard = TmpfsGuard(dir.path());
    let store = ContentStore::open(dir.path()).unwrap();
    let data = vec![0x5au8; 2 << 20];
    let digest = Digest::of(&data);
    let mut w = store
        .writer("pull-big", Some(&digest), Some(data.len() as u64))
        .unwrap();
    let err = w.write_all(&data).and_then(|_| w.flush()).unwrap_err();
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert!(err.to_string().contains("content/ingest/"), "{err}");
    // The writer is unusable, and commit says why.
    let err = w.commit(None, None).unwrap_err();
    assert!(matches!(err, ContentError::Discarded(_)), "{err}");
    assert_eq!(blob_count(dir.path()), 0);
    assert_eq!(ingest_count(dir.path()), 0);
    assert!(store.ingests().unwrap().is_empty());
    // The space is free again: a small blob fits.
    store.write_all(b"small").unwrap();
}
