//! The images domain through its Rust API (no daemon, no gRPC): import,
//! list, tag, remove with docker's untag/delete rules, the in-use check and
//! garbage collection, on a native snapshotter in a temp dir.

use berth_docker::manifest::Platform;
use berth_manager::events::EventBus;
use berth_manager::images::import::ImportOptions;
use berth_manager::images::{
    ImageError, ImageService, ImageStores, ImageUsers, NoImageUsers, Removed,
};
use berth_manager::registry::RegistryConfig;
use berth_store::content::ContentStore;
use berth_store::gc::GcRoots;
use berth_store::metadata::MetadataStore;
use berth_store::snapshot::native::NativeSnapshotter;
use std::path::Path;
use std::sync::Arc;
use support::layer_tar;

mod support;

fn service(root: &Path, users: Arc<dyn ImageUsers>) -> ImageService {
    let content = ContentStore::open(root).unwrap();
    let meta = Arc::new(MetadataStore::open(&root.join("meta.redb")).unwrap());
    let snapshotter = Arc::new(NativeSnapshotter::open(root, meta.clone()).unwrap());
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    ImageService::new(
        ImageStores {
            content,
            meta,
            snapshotter,
        },
        RegistryConfig::default(),
        Platform::host(),
        users,
        Arc::new(EventBus::new()),
        root.join("tmp"),
    )
}

fn import(svc: &ImageService, name: &str) -> String {
    svc.import_blocking(
        &mut &layer_tar()[..],
        &ImportOptions {
            reference: Some(name.into()),
            changes: vec!["CMD [\"/bin/sh\"]".into()],
            ..Default::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn import_tag_untag_delete_and_collect() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), Arc::new(NoImageUsers));
    let id = import(&svc, "t:1");
    let list = svc.list(None, &Default::default()).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "docker.io/library/t:1");
    assert_eq!(list[0].resolved.id(), id);
    assert_eq!(list[0].resolved.chain_ids.len(), 1);

    svc.tag("t:1", "u:2").unwrap();
    assert_eq!(svc.list(None, &Default::default()).unwrap().len(), 2);
    assert_eq!(svc.list(Some("u"), &Default::default()).unwrap().len(), 1);
    assert_eq!(
        svc.remove("t:1", false, true).await.unwrap(),
        vec![Removed::Untagged("t:1".into())]
    );
    let removed = svc.remove("u:2", false, true).await.unwrap();
    assert_eq!(
        removed,
        vec![
            Removed::Untagged("u:2".into()),
            Removed::Deleted(id.clone())
        ]
    );
    assert!(svc.list(None, &Default::default()).unwrap().is_empty());
    assert!(
        svc.content().list().unwrap().is_empty(),
        "blobs left after delete"
    );
    assert!(
        svc.snapshotter().list().unwrap().is_empty(),
        "snapshots left after delete"
    );

    assert!(matches!(
        svc.remove("nope", false, true).await,
        Err(ImageError::NotFound(_))
    ));
    assert!(matches!(svc.tag("nope", "x"), Err(ImageError::NotFound(_))));
    let empty = svc.import_blocking(&mut &[][..], &ImportOptions::default());
    assert!(
        matches!(empty, Err(ImageError::InvalidArgument(_))),
        "{empty:?}"
    );
}

/// One container uses every image.
struct OneContainer;

impl ImageUsers for OneContainer {
    fn containers_using(&self, _image_id: &str) -> Vec<String> {
        vec!["c0ffee".into()]
    }
    fn gc_roots(&self) -> GcRoots {
        GcRoots::default()
    }
}

#[tokio::test]
async fn images_in_use_need_force_and_stay_as_dangling() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), Arc::new(OneContainer));
    let id = import(&svc, "busy:1");
    let err = svc.remove("busy:1", false, true).await.unwrap_err();
    assert!(
        matches!(&err, ImageError::Conflict(m) if m.contains("container c0ffee is using")),
        "{err}"
    );
    let removed = svc.remove("busy:1", true, true).await.unwrap();
    assert_eq!(removed, vec![Removed::Untagged("busy:1".into())]);
    let list = svc.list(None, &Default::default()).unwrap();
    assert_eq!(list.len(), 1, "the image is kept while a container uses it");
    assert_eq!(list[0].name, "");
    assert_eq!(list[0].resolved.id(), id);
    // prune -a keeps it too.
    let (pruned, _) = svc.prune(true).await.unwrap();
    assert!(pruned.is_empty(), "{pruned:?}");
}

#[test]
fn list_filters_by_label_reference_and_dangling() {
    use berth_manager::images::filter::ImageFilters;
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), Arc::new(NoImageUsers));
    let labelled = svc
        .import_blocking(
            &mut &layer_tar()[..],
            &ImportOptions {
                reference: Some("app/web:1".into()),
                changes: vec!["LABEL tier=front".into()],
                ..Default::default()
            },
        )
        .unwrap();
    import(&svc, "app/db:1");
    svc.import_blocking(&mut &layer_tar()[..], &ImportOptions::default())
        .unwrap();
    let names = |filters: &[&str]| -> Vec<String> {
        let filters =
            ImageFilters::parse(&filters.iter().map(|f| f.to_string()).collect::<Vec<_>>())
                .unwrap();
        let mut v: Vec<String> = svc
            .list(None, &filters)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&[]).len(), 3);
    assert_eq!(names(&["label=tier=front"]), vec!["docker.io/app/web:1"]);
    assert_eq!(names(&["dangling=true"]), vec![String::new()]);
    assert_eq!(
        names(&["reference=app/*"]),
        vec!["docker.io/app/db:1", "docker.io/app/web:1"]
    );
    assert_eq!(
        names(&["reference=app/*", "label=tier"]),
        vec!["docker.io/app/web:1"]
    );
    let by_id = svc
        .list(
            None,
            &ImageFilters::parse(&["label=tier=front".to_string()]).unwrap(),
        )
        .unwrap();
    assert_eq!(by_id[0].resolved.id(), labelled);
    // A filter naming an unknown image is an error, not an empty list.
    let err = svc
        .list(
            None,
            &ImageFilters::parse(&["before=nosuch".to_string()]).unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, ImageError::NotFound(_)), "{err}");
}
