//! docker's `local` log files read from outside, for tests that compare
//! what berth-shim wrote with what dockerd wrote: the files of one log
//! (`container.log`, `container.log.N[.gz]`), oldest first, decompressed,
//! cut into `[size][protobuf LogEntry][size]` frames and decoded (a
//! decoder of its own, written from entry.proto, not berth's).

use std::io::Read;
use std::path::{Path, PathBuf};

/// One decoded entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalEntry {
    pub source: String,
    pub time_nano: i64,
    pub line: Vec<u8>,
    pub partial: bool,
    /// (last, id, ordinal) of field 5.
    pub meta: Option<(bool, String, i32)>,
}

impl LocalEntry {
    /// What must be equal between two writers: all but the time and the
    /// random partial ID (its length stays).
    pub fn normalized(&self) -> String {
        let meta = self
            .meta
            .as_ref()
            .map(|(last, id, ord)| format!(" last={last} id_len={} ordinal={ord}", id.len()))
            .unwrap_or_default();
        format!(
            "{} partial={} line={:?}{meta} time_set={}",
            self.source,
            self.partial,
            String::from_utf8_lossy(&self.line),
            self.time_nano > 1_600_000_000_000_000_000
        )
    }
}

/// One file of the log: its name and entries.
#[derive(Debug)]
pub struct LocalFile {
    pub name: String,
    /// Bytes on disk.
    pub size: u64,
    /// Bytes of entries (decompressed).
    pub plain_size: u64,
    pub entries: Vec<LocalEntry>,
}

/// Every file of the log whose live file is `live`, oldest first.
pub fn read_local_log(live: &Path) -> Vec<LocalFile> {
    let dir = live.parent().unwrap();
    let base = live.file_name().unwrap().to_str().unwrap().to_string();
    let mut names: Vec<(u32, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .filter_map(|name| {
            let rest = name.strip_prefix(&base)?;
            let number = match rest.trim_end_matches(".gz").strip_prefix('.') {
                None if rest.is_empty() => 0,
                Some(n) => n.parse().ok()?,
                None => return None,
            };
            Some((number, name))
        })
        .collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.0));
    names
        .into_iter()
        .map(|(_, name)| {
            let path: PathBuf = dir.join(&name);
            let raw = std::fs::read(&path).unwrap();
            let data = if name.ends_with(".gz") {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&raw[..])
                    .read_to_end(&mut out)
                    .unwrap_or_else(|e| panic!("gunzip {}: {e}", path.display()));
                out
            } else {
                raw.clone()
            };
            LocalFile {
                name,
                size: raw.len() as u64,
                plain_size: data.len() as u64,
                entries: decode_frames(&data),
            }
        })
        .collect()
}

/// The gzip header's extra field of a compressed file (docker's
/// `{"lastTime":...}`).
pub fn gzip_extra(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    let d = flate2::read::GzDecoder::new(&raw[..]);
    d.header()
        .and_then(|h| h.extra())
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// Cuts and decodes every frame; panics on a frame that does not check
/// out.
pub fn decode_frames(mut data: &[u8]) -> Vec<LocalEntry> {
    let mut out = Vec::new();
    while !data.is_empty() {
        assert!(data.len() >= 8, "torn frame: {} bytes left", data.len());
        let n = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
        assert!(data.len() >= n + 8, "frame of {n} bytes runs past the file");
        let footer = u32::from_be_bytes(data[4 + n..8 + n].try_into().unwrap()) as usize;
        assert_eq!(n, footer, "header and footer sizes differ");
        out.push(decode_entry(&data[4..4 + n]));
        data = &data[8 + n..];
    }
    out
}

fn varint(b: &mut &[u8]) -> u64 {
    let mut v = 0;
    let mut shift = 0;
    loop {
        let byte = b[0];
        *b = &b[1..];
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn decode_entry(mut b: &[u8]) -> LocalEntry {
    let mut e = LocalEntry {
        source: String::new(),
        time_nano: 0,
        line: Vec::new(),
        partial: false,
        meta: None,
    };
    while !b.is_empty() {
        let key = varint(&mut b);
        match (key >> 3, key & 7) {
            (2, 0) => e.time_nano = varint(&mut b) as i64,
            (4, 0) => e.partial = varint(&mut b) != 0,
            (field, 2) => {
                let n = varint(&mut b) as usize;
                let v = &b[..n];
                b = &b[n..];
                match field {
                    1 => e.source = String::from_utf8(v.to_vec()).unwrap(),
                    3 => e.line = v.to_vec(),
                    5 => {
                        let mut m = v;
                        let (mut last, mut id, mut ord) = (false, String::new(), 0);
                        while !m.is_empty() {
                            let k = varint(&mut m);
                            match (k >> 3, k & 7) {
                                (1, 0) => last = varint(&mut m) != 0,
                                (3, 0) => ord = varint(&mut m) as i32,
                                (2, 2) => {
                                    let n = varint(&mut m) as usize;
                                    id = String::from_utf8(m[..n].to_vec()).unwrap();
                                    m = &m[n..];
                                }
                                other => panic!("unexpected metadata field {other:?}"),
                            }
                        }
                        e.meta = Some((last, id, ord));
                    }
                    other => panic!("unexpected field {other}"),
                }
            }
            other => panic!("unexpected field {other:?}"),
        }
    }
    e
}
