//! Images as `save` writes them (docker-archive), read back for comparisons: the
//! config and each layer's entries (names, types, modes, owners, link targets, content
//! digests; no times, which differ between two builds by nature). `commit` and `build`
//! compare berth's images with docker's through it.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// One tar entry as the comparison sees it (no times: they differ by nature).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub path: String,
    pub kind: char,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub link: String,
    pub sha256: String,
}

/// The entries of a layer tar, sorted by path.
pub fn entries(layer: &[u8]) -> Vec<Entry> {
    let plain: Vec<u8> = if layer.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(layer)
            .read_to_end(&mut out)
            .expect("gunzip layer");
        out
    } else {
        layer.to_vec()
    };
    let mut archive = tar::Archive::new(plain.as_slice());
    let mut out = Vec::new();
    for e in archive.entries().expect("layer entries") {
        let mut e = e.expect("layer entry");
        let h = e.header().clone();
        let path = e.path().expect("entry path").to_string_lossy().into_owned();
        let path = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        let kind = match h.entry_type() {
            tar::EntryType::Regular => 'f',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            tar::EntryType::Char => 'c',
            other => panic!("unexpected entry type {other:?} for {path}"),
        };
        // Only links have a target (docker's tar writer leaves a stale link name in some
        // whiteout headers: moby reuses the header of the entry before).
        let link = match kind {
            'l' | 'h' => e
                .link_name()
                .expect("link name")
                .map(|l| l.to_string_lossy().trim_start_matches("./").to_string())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let mut content = Vec::new();
        e.read_to_end(&mut content).expect("entry content");
        let sha256 = if kind == 'f' {
            format!("{:x}", Sha256::digest(&content))
        } else {
            String::new()
        };
        out.push(Entry {
            path,
            kind,
            mode: h.mode().expect("mode") & 0o7777,
            uid: h.uid().expect("uid"),
            gid: h.gid().expect("gid"),
            link,
            sha256,
        });
    }
    out.sort();
    out
}

/// The files of a docker-archive (`save`), by name.
pub fn archive_files(archive: &Path) -> BTreeMap<String, Vec<u8>> {
    let file = std::fs::File::open(archive).expect("open saved archive");
    let mut tar = tar::Archive::new(file);
    let mut files = BTreeMap::new();
    for e in tar.entries().expect("archive entries") {
        let mut e = e.expect("archive entry");
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = e.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read archive entry");
        files.insert(name, data);
    }
    files
}

/// A saved image: its config and the entries of its layers, bottom first.
pub struct Saved {
    /// The image config.
    pub config: Value,
    /// Each layer's entries.
    pub layers: Vec<Vec<Entry>>,
}

pub fn read_saved(archive: &Path) -> Saved {
    let files = archive_files(archive);
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).expect("manifest.json");
    let image = &manifest[0];
    let config: Value = serde_json::from_slice(&files[image["Config"].as_str().expect("Config")])
        .expect("config JSON");
    let layers = image["Layers"]
        .as_array()
        .expect("Layers")
        .iter()
        .map(|l| entries(&files[l.as_str().expect("layer name")]))
        .collect();
    Saved { config, layers }
}
