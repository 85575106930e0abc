//! Garbage collection: what images, leases and extra roots keep, and what goes.

use std::sync::Arc;
use std::time::Duration;

use berth_store::content::ContentStore;
use berth_store::gc::{collect, collect_pruning_ingests, GcRoots};
use berth_store::layer::{chain_ids, unpack_layer};
use berth_store::metadata::{Labels, LeaseResource, MetadataStore};
use berth_store::snapshot::overlay::OverlaySnapshotter;
use berth_store::snapshot::{SnapshotError, Snapshotter};
use berth_store::{Descriptor, Digest};

struct Env {
    dir: tempfile::TempDir,
    content: ContentStore,
    meta: Arc<MetadataStore>,
    sn: OverlaySnapshotter,
}

fn env() -> Env {
    assert!(
        rustix::process::geteuid().is_root(),
        "gc tests unpack layers (root)"
    );
    let dir = tempfile::Builder::new().prefix("bt-gc-").tempdir().unwrap();
    let content = ContentStore::open(dir.path()).unwrap();
    let meta = Arc::new(MetadataStore::open(&dir.path().join("meta.redb")).unwrap());
    let sn = OverlaySnapshotter::open(dir.path(), meta.clone()).unwrap();
    Env {
        dir,
        content,
        meta,
        sn,
    }
}

fn layer_tar(name: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(name.len() as u64);
    b.append_data(&mut h, name, name.as_bytes()).unwrap();
    b.into_inner().unwrap()
}

/// What an image made of `layers` left in the stores.
struct Image {
    index: Descriptor,
    blobs: Vec<Digest>,
    chains: Vec<String>,
}

/// Stores an image as a pull would: layer blobs, config, manifest, index; layers unpacked.
fn make_image(env: &Env, layers: &[&str]) -> Image {
    let tars: Vec<Vec<u8>> = layers.iter().map(|l| layer_tar(l)).collect();
    let diff_ids: Vec<Digest> = tars.iter().map(|t| Digest::of(t)).collect();
    let chains = chain_ids(&diff_ids);
    let mut blobs = Vec::new();
    let mut layer_descs = Vec::new();
    for (i, t) in tars.iter().enumerate() {
        let d = env.content.write_all(t).unwrap();
        layer_descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d.to_string(), "size": t.len()}));
        blobs.push(d);
        let parent = (i > 0).then(|| chains[i - 1].to_string());
        if env.sn.stat(&chains[i].to_string()).is_err() {
            unpack_layer(
                &env.sn,
                parent.as_deref(),
                &chains[i],
                Some(&diff_ids[i]),
                &format!("extract-{}", chains[i]),
                &mut &t[..],
            )
            .unwrap();
        }
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        // Every real image config has this object (docker's container
        // config); it has no digest and must not hide rootfs from the mark.
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
    }))
    .unwrap();
    let config_d = env.content.write_all(&config).unwrap();
    blobs.push(config_d.clone());
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_d.to_string(), "size": config.len()},
        "layers": layer_descs,
    }))
    .unwrap();
    let manifest_d = env.content.write_all(&manifest).unwrap();
    blobs.push(manifest_d.clone());
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_d.to_string(), "size": manifest.len()},
            // Another platform's manifest that was never pulled.
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": Digest::of(b"arm64").to_string(), "size": 5},
        ],
    }))
    .unwrap();
    let index_d = env.content.write_all(&index).unwrap();
    blobs.push(index_d.clone());
    Image {
        index: Descriptor {
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            digest: index_d,
            size: index.len() as u64,
        },
        blobs,
        chains: chains.iter().map(|c| c.to_string()).collect(),
    }
}

fn snapshot_keys(env: &Env) -> Vec<String> {
    env.sn.list().unwrap().into_iter().map(|i| i.key).collect()
}

#[test]
fn images_keep_their_content_and_snapshots_and_the_rest_goes() {
    let env = env();
    let busy = make_image(&env, &["base", "app"]);
    let other = make_image(&env, &["base", "tool"]);
    env.meta
        .put_image("busy:latest", &busy.index, &Labels::new())
        .unwrap();
    env.meta
        .put_image("other:latest", &other.index, &Labels::new())
        .unwrap();
    let stray = env.content.write_all(b"stray blob").unwrap();
    env.sn
        .prepare("stray-active", None, &Labels::new())
        .unwrap();

    let sns: [&dyn Snapshotter; 1] = [&env.sn];
    let report = collect(&env.content, &env.meta, &sns, &GcRoots::default()).unwrap();
    assert_eq!(report.content_removed, vec![stray.clone()]);
    assert_eq!(
        report.snapshots_removed,
        vec![("overlayfs".to_string(), "stray-active".to_string())]
    );
    for d in busy.blobs.iter().chain(&other.blobs) {
        assert!(env.content.exists(d), "{d} kept");
    }
    assert_eq!(
        snapshot_keys(&env).len(),
        3,
        "base shared, app and tool on top"
    );

    // rmi of one image: its own layer goes, the shared base stays.
    env.meta.delete_image("busy:latest").unwrap();
    let report = collect(&env.content, &env.meta, &sns, &GcRoots::default()).unwrap();
    assert_eq!(
        report.snapshots_removed,
        vec![("overlayfs".to_string(), busy.chains[1].clone())]
    );
    assert!(!env.content.exists(&busy.index.digest));
    assert!(
        env.content.exists(&other.blobs[0]),
        "shared base layer blob kept"
    );
    assert!(env.sn.stat(&other.chains[0]).is_ok());

    // The last image gone: everything goes, children before parents.
    env.meta.delete_image("other:latest").unwrap();
    let report = collect(&env.content, &env.meta, &sns, &GcRoots::default()).unwrap();
    assert_eq!(
        report.snapshots_removed,
        vec![
            ("overlayfs".to_string(), other.chains[1].clone()),
            ("overlayfs".to_string(), other.chains[0].clone())
        ]
    );
    assert!(env.content.list().unwrap().is_empty());
    assert!(snapshot_keys(&env).is_empty());
    assert!(report.bytes_freed > 0);
}

#[test]
fn leases_protect_half_made_pulls_until_deleted_or_expired() {
    let env = env();
    let img = make_image(&env, &["l1", "l2"]);
    // A pull in progress: no image record yet, everything under a lease.
    env.meta
        .create_lease("pull-1", None, &Labels::new())
        .unwrap();
    env.meta
        .add_lease_resource("pull-1", LeaseResource::Content(img.index.digest.clone()))
        .unwrap();
    env.meta
        .add_lease_resource(
            "pull-1",
            LeaseResource::Snapshot("overlayfs".into(), img.chains[1].clone()),
        )
        .unwrap();
    let sns: [&dyn Snapshotter; 1] = [&env.sn];
    let report = collect(&env.content, &env.meta, &sns, &GcRoots::default()).unwrap();
    assert!(
        report.content_removed.is_empty() && report.snapshots_removed.is_empty(),
        "{report:?}"
    );

    env.meta.delete_lease("pull-1").unwrap();
    env.meta
        .create_lease("short", Some(Duration::from_millis(1)), &Labels::new())
        .unwrap();
    env.meta
        .add_lease_resource("short", LeaseResource::Content(img.index.digest.clone()))
        .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let report = collect(&env.content, &env.meta, &sns, &GcRoots::default()).unwrap();
    assert_eq!(report.leases_removed, vec!["short".to_string()]);
    assert_eq!(report.content_removed.len(), img.blobs.len());
    assert!(snapshot_keys(&env).is_empty());
}

#[test]
fn extra_roots_keep_a_container_snapshot_and_its_parents() {
    let env = env();
    let img = make_image(&env, &["l1", "l2"]);
    env.sn
        .prepare("container-rootfs", Some(&img.chains[1]), &Labels::new())
        .unwrap();
    let roots = GcRoots {
        content: Vec::new(),
        snapshots: vec![("overlayfs".into(), "container-rootfs".into())],
    };
    let sns: [&dyn Snapshotter; 1] = [&env.sn];
    collect(&env.content, &env.meta, &sns, &roots).unwrap();
    assert_eq!(snapshot_keys(&env).len(), 3);
    assert!(
        env.content.list().unwrap().is_empty(),
        "no image: blobs go, snapshots in use stay"
    );
    let err = env.sn.remove(&img.chains[0]).unwrap_err();
    assert!(matches!(err, SnapshotError::Conflict { .. }));
}

/// Makes an ingest look last written two days ago.
fn age_ingest(env: &Env, reference: &str) {
    let data = env
        .dir
        .path()
        .join("content/ingest")
        .join(Digest::of(reference.as_bytes()).hex())
        .join("data");
    let old = rustix::fs::Timespec {
        tv_sec: (std::time::SystemTime::now() - Duration::from_secs(48 * 3600))
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        &data,
        &rustix::fs::Timestamps {
            last_access: old,
            last_modification: old,
        },
        rustix::fs::AtFlags::empty(),
    )
    .unwrap();
}

#[test]
fn abandoned_ingests_go_leased_recent_and_busy_ones_stay() {
    use std::io::Write;
    let env = env();
    for r in ["abandoned", "leased", "recent"] {
        let mut w = env.content.writer(r, None, None).unwrap();
        w.write_all(b"partial download").unwrap();
    }
    let mut busy = env.content.writer("busy", None, None).unwrap();
    busy.write_all(b"still coming").unwrap();
    busy.flush().unwrap();
    for r in ["abandoned", "leased", "busy"] {
        age_ingest(&env, r);
    }
    env.meta.create_lease("pull", None, &Labels::new()).unwrap();
    env.meta
        .add_lease_resource("pull", LeaseResource::Ingest("leased".into()))
        .unwrap();
    let sns: [&dyn Snapshotter; 1] = [&env.sn];
    let report = collect(&env.content, &env.meta, &sns, &GcRoots::default()).unwrap();
    assert_eq!(report.ingests_removed, vec!["abandoned".to_string()]);
    let left: Vec<String> = env
        .content
        .ingests()
        .unwrap()
        .into_iter()
        .map(|i| i.reference)
        .collect();
    assert_eq!(left, vec!["busy", "leased", "recent"]);
    busy.write_all(b"!").unwrap();
    assert_eq!(busy.commit(None, None).unwrap().size, 13);
}

#[test]
fn a_prune_frees_recent_unleased_ingests_but_not_leased_or_busy_ones() {
    use std::io::Write;
    let env = env();
    for r in ["cancelled", "leased"] {
        let mut w = env.content.writer(r, None, None).unwrap();
        w.write_all(b"partial download").unwrap();
    }
    let mut busy = env.content.writer("busy", None, None).unwrap();
    busy.write_all(b"still coming").unwrap();
    busy.flush().unwrap();
    env.meta.create_lease("pull", None, &Labels::new()).unwrap();
    env.meta
        .add_lease_resource("pull", LeaseResource::Ingest("leased".into()))
        .unwrap();
    let sns: [&dyn Snapshotter; 1] = [&env.sn];
    // An ordinary collection keeps a recent ingest for a resume ...
    let report = collect(&env.content, &env.meta, &sns, &GcRoots::default()).unwrap();
    assert!(report.ingests_removed.is_empty());
    // ... a prune frees it at once.
    let report =
        collect_pruning_ingests(&env.content, &env.meta, &sns, &GcRoots::default()).unwrap();
    assert_eq!(report.ingests_removed, vec!["cancelled".to_string()]);
    let left: Vec<String> = env
        .content
        .ingests()
        .unwrap()
        .into_iter()
        .map(|i| i.reference)
        .collect();
    assert_eq!(left, vec!["busy", "leased"]);
}
