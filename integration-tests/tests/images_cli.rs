//! The image commands' docker-compatible output options end to end:
//! `images --format/--filter/-q/--digests/--no-trunc` and
//! `image inspect --format`, against a berthd with a private root.

use berth_integration_tests::berthd::Berthd;
use berth_integration_tests::registry::tar_dir;
use berth_integration_tests::{busybox_rootfs, require_root, stdout, TestDir};
use serde_json::Value;
use std::path::PathBuf;

/// A busybox rootfs tarball for `berth import`.
fn busybox_tarball(dir: &TestDir) -> PathBuf {
    let rootfs = dir.join("rootfs");
    busybox_rootfs(&rootfs);
    let tarball = dir.join("rootfs.tar");
    tar_dir(&rootfs, &tarball);
    tarball
}

/// Imports the tarball as `name` with a `color` label; returns the image ID.
fn import(d: &Berthd, tarball: &str, name: &str, color: &str) -> String {
    let label = format!("LABEL color={color}");
    let mut args = vec!["import", "-c", &label, tarball];
    if !name.is_empty() {
        args.push(name);
    }
    d.ok(&args)
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_string).collect()
}

#[test]
fn images_format_filters_and_inspect_templates() {
    require_root();
    let d = Berthd::start();
    let work = TestDir::new("imgfmt");
    let tarball = busybox_tarball(&work);
    let tarball = tarball.to_str().unwrap();
    // Creation times are in seconds: space the images out so before/since
    // have an order to work with.
    let a = import(&d, tarball, "bt/a:1", "red");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = import(&d, tarball, "bt/b:2", "blue");
    d.ok(&["tag", "bt/b:2", "other/c:3"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let dangling = import(&d, tarball, "", "green");
    let short = |id: &str| id[7..19].to_string();

    // Raw templates: one line per name, newest first, repo and tag apart.
    assert_eq!(
        lines(&d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])),
        vec![
            format!("<none>:<none> {}", short(&dangling)),
            format!("bt/b:2 {}", short(&b)),
            format!("other/c:3 {}", short(&b)),
            format!("bt/a:1 {}", short(&a)),
        ]
    );
    // --no-trunc gives full IDs; -q one ID per row, as docker does.
    assert_eq!(
        d.ok(&["images", "--no-trunc", "--format", "{{.ID}}", "bt/a"]),
        a
    );
    assert_eq!(
        lines(&d.ok(&["images", "-q"])),
        vec![short(&dangling), short(&b), short(&b), short(&a)]
    );

    // The default table is laid out by Go's tabwriter with docker's
    // settings: every column starts where its title starts.
    let table = d.ok(&["images"]);
    let rows = lines(&table);
    assert!(
        rows[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{table}"
    );
    let id_col = rows[0].find("IMAGE ID").unwrap();
    let size_col = rows[0].find("SIZE").unwrap();
    for row in &rows[1..] {
        let ids: Vec<String> = [&a, &b, &dangling].iter().map(|i| short(i)).collect();
        assert!(
            ids.contains(&row[id_col..id_col + 12].to_string()),
            "{table}"
        );
        assert!(row[size_col..].ends_with("MB"), "{table}");
    }
    // A custom table: the header comes from the same template.
    let t = d.ok(&["images", "--format", "table {{.ID}}\\t{{.Tag}}", "bt/a"]);
    assert_eq!(t, format!("IMAGE ID       TAG\n{}   1", short(&a)));
    let digests = d.ok(&["images", "--digests", "bt/a"]);
    assert!(
        digests.starts_with("REPOSITORY   TAG       DIGEST    IMAGE ID"),
        "{digests}"
    );
    // json: every field of a row, as strings, one object per line.
    let json = d.ok(&["images", "--format", "json", "bt/a"]);
    let row: Value = serde_json::from_str(&json).expect("one JSON line");
    assert_eq!(row["Repository"], "bt/a");
    assert_eq!(row["Tag"], "1");
    assert_eq!(row["ID"], short(&a));
    assert_eq!(row["Digest"], "<none>");
    assert!(row["CreatedAt"].as_str().unwrap().ends_with(" +0000 UTC"));

    // Filters, each against what it must keep.
    let names = |filters: &[&str]| {
        let mut args = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        for f in filters {
            args.push("--filter");
            args.push(f);
        }
        lines(&d.ok(&args))
    };
    assert_eq!(names(&["label=color=red"]), vec!["bt/a:1"]);
    assert_eq!(names(&["label=color"]).len(), 4);
    assert_eq!(
        names(&["label=color=blue", "label=color"]),
        vec!["bt/b:2", "other/c:3"]
    );
    assert!(names(&["label=nosuch"]).is_empty());
    assert_eq!(names(&["dangling=true"]), vec!["<none>:<none>"]);
    assert_eq!(names(&["dangling=false"]).len(), 3);
    assert_eq!(names(&["before=bt/b:2"]), vec!["bt/a:1"]);
    assert_eq!(
        names(&["since=bt/a:1"]),
        vec!["<none>:<none>", "bt/b:2", "other/c:3"]
    );
    assert_eq!(names(&["reference=bt/*"]), vec!["bt/b:2", "bt/a:1"]);
    assert_eq!(names(&["reference=*/c:3"]), vec!["other/c:3"]);
    assert_eq!(
        names(&["reference=other/*", "reference=bt/a"]),
        vec!["other/c:3", "bt/a:1"]
    );
    assert!(names(&["reference=c"]).is_empty());
    assert_eq!(
        names(&["reference=bt/*", "label=color=red"]),
        vec!["bt/a:1"]
    );

    // Bad filters and templates: one clear line, exit 1, nothing printed.
    let err = d.fails(&["images", "--filter", "color=red"]);
    assert_eq!(err, "Error response from daemon: invalid filter 'color'");
    let err = d.fails(&["images", "--filter", "dangling=maybe"]);
    assert!(err.contains("dangling=maybe"), "{err}");
    let err = d.fails(&["images", "--filter", "before=bt/nosuch"]);
    assert!(
        err.contains("No such image") && err.contains("bt/nosuch"),
        "{err}"
    );
    let err = d.fails(&["images", "--filter", "reference=["]);
    assert!(err.contains("reference=["), "{err}");
    let err = d.fails(&["images", "--format", "{{.Nope}}"]);
    assert!(
        err.starts_with("template parsing error: template: :1:2: executing")
            && err.contains("Nope"),
        "{err}"
    );
    let err = d.fails(&["images", "--format", "{{.ID"]);
    assert!(
        err.starts_with("template parsing error: template: :1:"),
        "{err}"
    );

    // history: docker's table and the same formatter options.
    // (the CREATED column's width depends on how long ago "N seconds" is)
    let table = d.ok(&["history", "bt/a:1"]);
    let rows = lines(&table);
    assert!(rows[0].starts_with("IMAGE          CREATED "), "{table}");
    // An import has no CREATED BY (docker's), and its comment.
    assert_eq!(
        rows[0].find("COMMENT"),
        rows[1].find("Imported from -"),
        "{table}"
    );
    assert!(rows[1].starts_with(&format!("{}   ", short(&a))), "{table}");
    assert_eq!(d.ok(&["history", "-q", "bt/a:1"]), short(&a));
    assert_eq!(
        d.ok(&["history", "--no-trunc", "--format", "{{.ID}}", "bt/a:1"]),
        a
    );
    let size = d.ok(&[
        "history",
        "--human=false",
        "--format",
        "{{.Size}}",
        "bt/a:1",
    ]);
    assert!(size.parse::<u64>().unwrap() > 500_000, "{size}");
    let json = d.ok(&["history", "--format", "json", "bt/a:1"]);
    let entry: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(entry["CreatedBy"], "", "{json}");
    assert_eq!(entry["Comment"], "Imported from -", "{json}");
    let err = d.fails(&["history", "--format", "{{.Nope}}", "bt/a:1"]);
    assert!(err.starts_with("template parsing error"), "{err}");

    // image inspect --format: ranges, index, json, functions.
    let fmt = |image: &str, format: &str| d.ok(&["image", "inspect", "--format", format, image]);
    assert_eq!(
        fmt("bt/b:2", "{{range .RepoTags}}{{.}} {{end}}"),
        "bt/b:2 other/c:3"
    );
    assert_eq!(fmt("bt/b:2", r#"{{index .Config.Labels "color"}}"#), "blue");
    assert_eq!(fmt("bt/b:2", "{{.Config.Labels}}"), "map[color:blue]");
    assert_eq!(
        fmt("bt/b:2", "{{json .Config.Labels}}"),
        r#"{"color":"blue"}"#
    );
    assert_eq!(
        fmt(
            "bt/a:1",
            "{{upper .Os}}/{{len .RootFS.Layers}} {{if .Config.User}}user{{else}}root{{end}}"
        ),
        "LINUX/1 root"
    );
    assert_eq!(
        fmt("bt/a:1", r#"{{join .RepoTags ","}}|{{title "bt image"}}"#),
        "bt/a:1|Bt Image"
    );
    // Two images, one line each.
    let two = d.ok(&[
        "image", "inspect", "--format", "{{.Id}}", "bt/a:1", "bt/b:2",
    ]);
    assert_eq!(lines(&two), vec![a.clone(), b.clone()]);
    // json: the array on one line; no format: indented by four spaces.
    let compact = d.ok(&["image", "inspect", "--format", "json", "bt/a:1"]);
    assert_eq!(compact.lines().count(), 1);
    let v: Value = serde_json::from_str(&compact).unwrap();
    assert_eq!(v[0]["Id"], a);
    let pretty = d.ok(&["image", "inspect", "bt/a:1"]);
    assert!(pretty.starts_with("[\n    {\n        \""), "{pretty}");
    // A template that does not parse exits 64 (docker's inspect); one that
    // fails on the data exits 1; both say which action.
    let out = d.berth(&["image", "inspect", "--format", "{{.Id", "bt/a:1"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        berth_integration_tests::stderr(&out).starts_with("template parsing error: template: :1:"),
        "{}",
        berth_integration_tests::stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    let err = d.fails(&["image", "inspect", "--format", "{{.Config.Nope}}", "bt/a:1"]);
    assert!(
        err.contains("executing \"\" at <.Config.Nope>: map has no entry for key \"Nope\""),
        "{err}"
    );
    let out = d.berth(&["image", "inspect", "--format", "{{nosuch .Id}}", "bt/a:1"]);
    assert_eq!(out.status.code(), Some(64));
    let err = berth_integration_tests::stderr(&out);
    assert!(err.contains("function \"nosuch\" not defined"), "{err}");
}
