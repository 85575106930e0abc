//! `--tail N`: where the last N entries of a log begin, found by reading
//! the files backwards from their ends in blocks, so that the cost is the
//! size of those N entries, not of the log.
//!
//! An entry is a line ended by `\n`. What follows the last `\n` of a file
//! is an entry still being written (or a torn one) and is not counted: the
//! reader starts there when following and picks it up once complete.
//! As docker's, the count is over entries of both streams, before
//! `--since/--until` and stream selection filter them.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes read per step backwards.
const BLOCK: u64 = 64 * 1024;

/// Where reading forward must begin to see the last N entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailStart {
    /// Index into the files (oldest first).
    pub file: usize,
    /// Byte offset in that file.
    pub offset: u64,
    /// Bytes read to find it (what `--tail` costs).
    pub scanned: u64,
}

/// Finds the start of the last `n` complete entries of `files` (oldest
/// first). With no files, the start is file 0 offset 0.
pub fn find_tail_start(files: &[&File], n: usize) -> io::Result<TailStart> {
    let mut scanned = 0;
    let mut needed = n;
    let mut block = vec![0u8; BLOCK as usize];
    for index in (0..files.len()).rev() {
        let file = files[index];
        let mut end = file.metadata()?.len();
        // Newlines seen so far in this file; the first one from the end
        // ends its last complete entry.
        let mut newlines = 0usize;
        while end > 0 {
            let start = end.saturating_sub(BLOCK);
            let buf = &mut block[..(end - start) as usize];
            file.read_exact_at(buf, start)?;
            scanned += buf.len() as u64;
            for (i, &b) in buf.iter().enumerate().rev() {
                if b == b'\n' {
                    newlines += 1;
                    if newlines == needed + 1 {
                        return Ok(TailStart {
                            file: index,
                            offset: start + i as u64 + 1,
                            scanned,
                        });
                    }
                }
            }
            end = start;
        }
        // The whole file is within the last `n`.
        needed -= newlines;
        if needed == 0 || index == 0 {
            return Ok(TailStart {
                file: index,
                offset: 0,
                scanned,
            });
        }
    }
    Ok(TailStart {
        file: 0,
        offset: 0,
        scanned,
    })
}

/// [`find_tail_start`] for docker's local format, whose entries are framed
/// by their size before and after (`[n][entry][n]`, n a big-endian u32):
/// walked back from each file's end by its footers, one read per entry. A
/// frame that does not check out (a footer and header that differ, a
/// write under way) ends the walk there: the file is read from its start.
pub fn find_tail_start_framed(files: &[&File], n: usize) -> io::Result<TailStart> {
    let mut scanned = 0;
    let mut needed = n;
    for index in (0..files.len()).rev() {
        let file = files[index];
        let mut end = file.metadata()?.len();
        let mut found_all = needed == 0;
        while end >= 8 && !found_all {
            let mut size = [0u8; 4];
            file.read_exact_at(&mut size, end - 4)?;
            let len = u64::from(u32::from_be_bytes(size));
            let Some(start) = end.checked_sub(len + 8) else {
                end = 0;
                break;
            };
            let mut head = [0u8; 4];
            file.read_exact_at(&mut head, start)?;
            scanned += 8;
            if head != size {
                end = 0;
                break;
            }
            end = start;
            needed -= 1;
            found_all = needed == 0;
        }
        if found_all {
            return Ok(TailStart {
                file: index,
                offset: end,
                scanned,
            });
        }
        if index == 0 {
            break;
        }
    }
    Ok(TailStart {
        file: 0,
        offset: 0,
        scanned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::logs::scratch::ScratchDir;
    use std::io::Write;

    fn temp_dir(name: &str) -> ScratchDir {
        ScratchDir::new(&format!("tail-{name}"))
    }

    fn file(dir: &std::path::Path, name: &str, text: &str) -> File {
        std::fs::write(dir.join(name), text).unwrap();
        File::open(dir.join(name)).unwrap()
    }

    fn at(file: usize, offset: u64) -> (usize, u64) {
        (file, offset)
    }

    fn tail(files: &[&File], n: usize) -> (usize, u64) {
        let s = find_tail_start(files, n).unwrap();
        (s.file, s.offset)
    }

    #[test]
    fn within_one_file() {
        let dir = temp_dir("one");
        let f = file(&dir, "log", "a\nbb\nccc\n");
        assert_eq!(tail(&[&f], 0), at(0, 9));
        assert_eq!(tail(&[&f], 1), at(0, 5));
        assert_eq!(tail(&[&f], 2), at(0, 2));
        assert_eq!(tail(&[&f], 3), at(0, 0));
        assert_eq!(tail(&[&f], 100), at(0, 0));
    }

    #[test]
    fn a_partial_last_line_is_not_counted() {
        let dir = temp_dir("partial");
        let f = file(&dir, "log", "a\nbb\ncc");
        assert_eq!(tail(&[&f], 0), at(0, 5));
        assert_eq!(tail(&[&f], 1), at(0, 2));
        let only_partial = file(&dir, "log2", "xyz");
        assert_eq!(tail(&[&only_partial], 0), at(0, 0));
    }

    #[test]
    fn across_rotated_files() {
        let dir = temp_dir("rotated");
        let old = file(&dir, "log.2", "1\n2\n");
        let mid = file(&dir, "log.1", "3\n4\n");
        let live = file(&dir, "log", "5\n");
        let files = [&old, &mid, &live];
        assert_eq!(tail(&files, 1), at(2, 0));
        assert_eq!(tail(&files, 2), at(1, 2));
        assert_eq!(tail(&files, 3), at(1, 0));
        assert_eq!(tail(&files, 4), at(0, 2));
        assert_eq!(tail(&files, 5), at(0, 0));
        assert_eq!(tail(&files, 9), at(0, 0));
        let empty = file(&dir, "empty", "");
        assert_eq!(tail(&[&old, &empty], 1), at(0, 2));
        assert_eq!(tail(&[], 3), at(0, 0));
    }

    #[test]
    fn lines_across_block_boundaries() {
        let dir = temp_dir("blocks");
        // Lines of 1000 bytes: block edges fall inside lines.
        let line = format!("{}\n", "x".repeat(999));
        let f = file(&dir, "log", &line.repeat(300));
        for n in [1, 65, 66, 131, 299, 300] {
            assert_eq!(tail(&[&f], n), at(0, (300 - n as u64) * 1000), "tail {n}");
        }
    }

    fn framed(entries: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in entries {
            let n = (e.len() as u32).to_be_bytes();
            out.extend_from_slice(&n);
            out.extend_from_slice(e.as_bytes());
            out.extend_from_slice(&n);
        }
        out
    }

    #[test]
    fn framed_entries_across_files() {
        let dir = temp_dir("framed");
        std::fs::write(dir.join("old"), framed(&["a", "bb"])).unwrap();
        std::fs::write(dir.join("live"), framed(&["ccc"])).unwrap();
        let old = File::open(dir.join("old")).unwrap();
        let live = File::open(dir.join("live")).unwrap();
        let t = |n| {
            let s = find_tail_start_framed(&[&old, &live], n).unwrap();
            (s.file, s.offset)
        };
        assert_eq!(t(0), at(1, 11));
        assert_eq!(t(1), at(1, 0));
        assert_eq!(t(2), at(0, 9));
        assert_eq!(t(3), at(0, 0));
        assert_eq!(t(9), at(0, 0));
    }

    /// A huge log (a sparse 64 GiB file, so the test writes almost
    /// nothing): the tail reads only the last block, where a scan from the
    /// start would read 64 GiB.
    #[test]
    fn huge_file_reads_only_its_end() {
        let dir = temp_dir("huge");
        let path = dir.join("log");
        let f = File::create(&path).unwrap();
        f.set_len(64 << 30).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        for i in 0..10 {
            writeln!(f, "entry {i}").unwrap();
        }
        drop(f);
        let f = File::open(&path).unwrap();
        let start = find_tail_start(&[&f], 3).unwrap();
        assert_eq!(start.file, 0);
        let mut buf = vec![0u8; 100];
        let got = f.read_at(&mut buf, start.offset).unwrap();
        assert_eq!(&buf[..got], b"entry 7\nentry 8\nentry 9\n");
        assert!(start.scanned <= BLOCK, "scanned {} bytes", start.scanned);
    }
}
