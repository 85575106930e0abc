//! Helpers of the volume tests (`tests/volumes.rs`): an image with a
//! `VOLUME` entry and content at that path, and views of berthd's volume
//! directories and records to prove what is (not) left behind.

use crate::bundle::busybox_rootfs;
use crate::containers::Fixture;
use crate::registry::tar_dir;
use std::path::PathBuf;

/// Imports `TAG`: busybox with `/data/seed` (text "seed") and
/// `VOLUME /data`.
pub fn import_volume_image(f: &Fixture, tag: &str) {
    let rootfs = f.work.join(&format!("{tag}-rootfs"));
    busybox_rootfs(&rootfs);
    std::fs::create_dir_all(rootfs.join("data")).expect("mkdir data");
    std::fs::write(rootfs.join("data/seed"), "seed\n").expect("write seed");
    let tarball = f.work.join(&format!("{tag}.tar"));
    tar_dir(&rootfs, &tarball);
    f.ok(&[
        "import",
        "-c",
        "CMD [\"/bin/sh\"]",
        "-c",
        "VOLUME /data",
        tarball.to_str().unwrap(),
        tag,
    ]);
}

/// `<root>/volumes`.
pub fn volumes_dir(f: &Fixture) -> PathBuf {
    f.d.root.join("volumes")
}

/// The names of the volume directories under `<root>/volumes`, sorted.
pub fn volume_dirs(f: &Fixture) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(volumes_dir(f))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `volume ls -q`: the names berthd has records of, sorted.
pub fn volume_names(f: &Fixture) -> Vec<String> {
    let mut names: Vec<String> = f
        .ok(&["volume", "ls", "-q"])
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    names.sort();
    names
}
