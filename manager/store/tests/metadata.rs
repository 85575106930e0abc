//! Metadata database: round trips of every record kind, the snapshot tree rules, leases,
//! persistence across reopen, and schema migrations.

use std::time::Duration;

use berth_store::metadata::{
    Collection, Labels, LeaseResource, MetadataError, MetadataStore, SCHEMA_VERSION,
};
use berth_store::snapshot::{SnapshotKind, Usage};
use berth_store::{Descriptor, Digest};

fn db() -> (tempfile::TempDir, MetadataStore) {
    let dir = tempfile::Builder::new()
        .prefix("bt-meta-")
        .tempdir()
        .unwrap();
    let store = MetadataStore::open(&dir.path().join("meta.redb")).unwrap();
    (dir, store)
}

fn desc(data: &[u8]) -> Descriptor {
    Descriptor {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: Digest::of(data),
        size: data.len() as u64,
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn images_round_trip_and_retag_keeps_creation_time() {
    let (_dir, db) = db();
    let name = "docker.io/library/busybox:latest";
    let a = db
        .create_image(name, &desc(b"a"), &labels(&[("k", "v")]))
        .unwrap();
    assert_eq!(db.get_image(name).unwrap(), a);
    let err = db
        .create_image(name, &desc(b"b"), &Labels::new())
        .unwrap_err();
    assert_eq!(err.to_string(), format!("image {name:?} already exists"));

    std::thread::sleep(Duration::from_millis(5));
    let (b, old) = db.put_image(name, &desc(b"b"), &Labels::new()).unwrap();
    assert_eq!(old, Some(a.clone()));
    assert_eq!(b.created_at, a.created_at);
    assert!(b.updated_at > a.updated_at);
    assert_eq!(b.target.digest, Digest::of(b"b"));

    let (other, none) = db
        .put_image("docker.io/library/alpine:3", &desc(b"c"), &Labels::new())
        .unwrap();
    assert!(none.is_none());
    let names: Vec<_> = db
        .list_images()
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, vec![other.name.clone(), name.to_string()]);

    assert_eq!(db.delete_image(name).unwrap(), b);
    let err = db.get_image(name).unwrap_err();
    assert!(
        matches!(err, MetadataError::NotFound { kind: "image", .. }),
        "{err}"
    );
    assert!(matches!(
        db.delete_image(name),
        Err(MetadataError::NotFound { .. })
    ));
    assert!(matches!(
        db.create_image("", &desc(b"x"), &Labels::new()),
        Err(MetadataError::Invalid { .. })
    ));
}

#[test]
fn snapshot_records_follow_the_tree_rules() {
    let (_dir, db) = db();
    let sn = "overlayfs";
    let a = db
        .create_snapshot(sn, "a-active", SnapshotKind::Active, None, &Labels::new())
        .unwrap();
    assert_eq!(a.kind, SnapshotKind::Active);

    // A parent must exist and be committed.
    let err = db
        .create_snapshot(
            sn,
            "b",
            SnapshotKind::Active,
            Some("a-active"),
            &Labels::new(),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "snapshot \"b\": parent \"a-active\" is not committed"
    );
    let err = db
        .create_snapshot(sn, "b", SnapshotKind::Active, Some("nope"), &Labels::new())
        .unwrap_err();
    assert_eq!(err.to_string(), "snapshot \"b\": parent \"nope\" not found");
    assert!(db
        .create_snapshot(sn, "a-active", SnapshotKind::View, None, &Labels::new())
        .is_err());

    let usage = Usage {
        size: 4096,
        inodes: 3,
    };
    let committed = db
        .commit_snapshot(sn, "a-active", "a", &labels(&[("l", "1")]), usage)
        .unwrap();
    assert_eq!(committed.id, a.id, "commit keeps the directory");
    assert_eq!(committed.kind, SnapshotKind::Committed);
    assert_eq!(committed.usage, Some(usage));
    assert!(matches!(
        db.get_snapshot(sn, "a-active"),
        Err(MetadataError::NotFound { .. })
    ));
    assert!(matches!(
        db.commit_snapshot(sn, "a", "a2", &Labels::new(), usage),
        Err(MetadataError::SnapshotConflict { .. })
    ));

    let b = db
        .create_snapshot(sn, "b", SnapshotKind::View, Some("a"), &Labels::new())
        .unwrap();
    assert!(b.id > a.id, "ids are never reused");
    // Same key in another snapshotter is another snapshot.
    db.create_snapshot("native", "b", SnapshotKind::Active, None, &Labels::new())
        .unwrap();

    let err = db.remove_snapshot(sn, "a").unwrap_err();
    assert_eq!(
        err.to_string(),
        "snapshot \"a\": cannot remove: it is the parent of b"
    );
    let keys: Vec<_> = db
        .list_snapshots(sn)
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, vec!["a", "b"]);
    assert_eq!(db.list_snapshots("native").unwrap().len(), 1);

    db.remove_snapshot(sn, "b").unwrap();
    db.remove_snapshot(sn, "a").unwrap();
    assert!(db.list_snapshots(sn).unwrap().is_empty());
    let c = db
        .create_snapshot(sn, "a", SnapshotKind::Active, None, &Labels::new())
        .unwrap();
    assert!(c.id > b.id);
}

#[test]
fn leases_hold_resources_and_expire() {
    let (_dir, db) = db();
    let lease = db.create_lease("pull-1", None, &Labels::new()).unwrap();
    assert!(!lease.expired(std::time::SystemTime::now()));
    let blob = LeaseResource::Content(Digest::of(b"layer"));
    let snap = LeaseResource::Snapshot("overlayfs".into(), "sha256:chain".into());
    db.add_lease_resource("pull-1", blob.clone()).unwrap();
    db.add_lease_resource("pull-1", blob.clone()).unwrap();
    db.add_lease_resource("pull-1", snap.clone()).unwrap();
    assert_eq!(
        db.get_lease("pull-1").unwrap().resources,
        vec![blob.clone(), snap.clone()]
    );
    db.remove_lease_resource("pull-1", &blob).unwrap();
    assert_eq!(db.get_lease("pull-1").unwrap().resources, vec![snap]);

    let short = db
        .create_lease("short", Some(Duration::from_millis(1)), &Labels::new())
        .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    assert!(short.expired(std::time::SystemTime::now()));
    assert!(matches!(
        db.create_lease("short", None, &Labels::new()),
        Err(MetadataError::AlreadyExists { .. })
    ));
    assert_eq!(db.list_leases().unwrap().len(), 2);
    db.delete_lease("pull-1").unwrap();
    let err = db.add_lease_resource("pull-1", blob).unwrap_err();
    assert_eq!(err.to_string(), "lease \"pull-1\" not found");
}

#[test]
fn reserved_collections_store_opaque_records() {
    let (_dir, db) = db();
    db.put_record(Collection::Containers, "c1", b"{\"id\":\"c1\"}")
        .unwrap();
    db.put_record(Collection::Volumes, "c1", b"vol").unwrap();
    assert_eq!(
        db.get_record(Collection::Containers, "c1").unwrap(),
        b"{\"id\":\"c1\"}"
    );
    assert_eq!(
        db.list_records(Collection::Volumes).unwrap(),
        vec![("c1".to_string(), b"vol".to_vec())]
    );
    assert!(db.list_records(Collection::Networks).unwrap().is_empty());
    db.delete_record(Collection::Containers, "c1").unwrap();
    let err = db.get_record(Collection::Containers, "c1").unwrap_err();
    assert_eq!(err.to_string(), "container \"c1\" not found");
}

#[test]
fn records_survive_reopening() {
    let dir = tempfile::Builder::new()
        .prefix("bt-meta-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("sub/meta.redb");
    {
        let db = MetadataStore::open(&path).unwrap();
        db.create_image("img", &desc(b"m"), &Labels::new()).unwrap();
        db.create_lease("l", None, &Labels::new()).unwrap();
    }
    let db = MetadataStore::open(&path).unwrap();
    assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(db.get_image("img").unwrap().target, desc(b"m"));
    assert_eq!(db.get_lease("l").unwrap().id, "l");
}

#[test]
fn a_database_without_schema_is_migrated_to_the_current_version() {
    let dir = tempfile::Builder::new()
        .prefix("bt-meta-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("meta.redb");
    // A version-0 database: an empty redb file, as a crash before the first migration leaves.
    drop(redb::Database::create(&path).unwrap());
    let db = MetadataStore::open(&path).unwrap();
    assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
    // Every table exists: reads of each kind work on the empty database.
    assert!(db.list_images().unwrap().is_empty());
    assert!(db.list_leases().unwrap().is_empty());
    assert!(db.list_snapshots("overlayfs").unwrap().is_empty());
    for c in [
        Collection::Containers,
        Collection::Networks,
        Collection::Volumes,
    ] {
        assert!(db.list_records(c).unwrap().is_empty());
    }
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::Builder::new()
        .prefix("bt-meta-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("meta.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx
                .open_table(redb::TableDefinition::<&str, u64>::new("schema"))
                .unwrap();
            t.insert("version", SCHEMA_VERSION + 5).unwrap();
        }
        tx.commit().unwrap();
    }
    let err = MetadataStore::open(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "metadata database {}: schema version {} is newer than this build supports ({SCHEMA_VERSION})",
            path.display(),
            SCHEMA_VERSION + 5
        )
    );
}
