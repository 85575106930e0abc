//! Keeping the shim's resident set to what it uses. One shim runs per
//! container, so every resident page counts (the target is under conmon's
//! 2 MiB RSS).
//!
//! When a page of a file mapping (the shim's own code, libc's) is touched,
//! the kernel maps not just that page but up to 64 KiB of its neighbours
//! that happen to be in the page cache ("fault-around": mm/memory.c
//! `do_fault_around`, sized by the `fault_around_bytes` debugfs knob). For
//! a small daemon that runs a sliver of its code, that is most of its
//! file-backed RSS. (`MADV_RANDOM` no longer turns it off on Linux 6.x.)
//! What works is `MADV_DONTNEED` on read-only private file mappings (code,
//! read-only data) when the shim goes idle: the pages mapped so far are
//! unmapped; they stay in the page cache (shared, clean: no memory is
//! freed or copied) and are mapped again when used. Writable or relocated
//! (RELRO) mappings are left alone: dropping their pages would lose their
//! contents.
//!
//! This makes RSS show what an idle shim keeps mapped. The memory a shim
//! really costs its host is its private dirty memory plus its share of the
//! code (PSS); bench/shim-memory.sh reports all three.

/// Drops the pages of the shim's read-only file mappings (code, read-only
/// data, libc's) that are mapped now. Best effort: a failure only costs
/// memory.
pub fn trim_file_mappings() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for mapping in droppable_mappings(&smaps) {
        // SAFETY: advice on a mapping of this process as the kernel lists
        // it: private, not writable, file-backed, holding no anonymous
        // (copied-on-write) page, so each of its pages is the file's own
        // and is faulted back unchanged when next used.
        unsafe {
            libc::madvise(
                mapping.0 as *mut libc::c_void,
                mapping.1,
                libc::MADV_DONTNEED,
            )
        };
    }
    drop(smaps);
    // Give the heap's free pages (the smaps text just read among them) back
    // to the kernel: glibc keeps freed memory below its trim threshold.
    // SAFETY: plain libc call, no pointers.
    unsafe { libc::malloc_trim(0) };
}

/// (start, length) of every mapping in /proc/self/smaps text whose pages
/// can be dropped without losing anything: private, not writable,
/// file-backed (inode != 0) and with `Anonymous: 0 kB` (RELRO data, which
/// the loader wrote before making it read-only, has anonymous pages and is
/// kept).
fn droppable_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        if let Some(anon) = line.strip_prefix("Anonymous:") {
            if let Some(m) = current.take() {
                if anon.trim() == "0 kB" {
                    out.push(m);
                }
            }
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms), Some(_offset), Some(_dev), Some(inode)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        // A mapping header: "start-end perms offset dev inode [path]".
        current =
            (perms.len() == 4 && perms.ends_with('p') && !perms.contains('w') && inode != "0")
                .then_some((start, end - start));
    }
    out
}

/// How long the shim must be quiet before its code pages are dropped again.
const IDLE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Drops the code pages again once the shim has been idle for a while after
/// serving calls: a shim spends its life waiting for its container, and
/// the code a call faulted in (with its fault-around neighbours) need not
/// stay mapped meanwhile. Costs one read of /proc/self/maps per burst of
/// calls.
#[derive(Default)]
pub struct IdleTrimmer {
    activity: tokio::sync::Notify,
}

impl IdleTrimmer {
    /// Something ran: trim once things are quiet again.
    pub fn touch(&self) {
        self.activity.notify_one();
    }

    /// Trims after each burst of activity, forever.
    pub async fn run(&self) {
        loop {
            self.activity.notified().await;
            while tokio::time::timeout(IDLE_AFTER, self.activity.notified())
                .await
                .is_ok()
            {}
            trim_file_mappings();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clean_read_only_file_mappings_are_dropped() {
        let smaps = "\
55a0-55b0 r--p 00000000 08:01 123 /usr/bin/berth-shim
Rss:                 64 kB
Anonymous:            0 kB
55b0-55c0 r-xp 00010000 08:01 123 /usr/bin/berth-shim
Anonymous:            0 kB
55c0-55d0 r--p 00020000 08:01 123 /usr/bin/berth-shim
Anonymous:            8 kB
55d0-55e0 rw-p 00030000 08:01 123 /usr/bin/berth-shim
Anonymous:            4 kB
55e0-55f0 rw-p 00000000 00:00 0 [heap]
Anonymous:            4 kB
7f00-7f10 r-xp 00000000 00:00 0 [vdso]
Anonymous:            0 kB
7f10-7f20 r--s 00000000 08:01 99 /dev/shm/x
Anonymous:            0 kB
";
        assert_eq!(droppable_mappings(smaps), [(0x55a0, 0x10), (0x55b0, 0x10)]);
    }

    #[test]
    fn trimming_this_process_is_harmless() {
        trim_file_mappings();
        // Code, read-only data and relocated data still work.
        let v: Vec<String> = (0..100).map(|i| format!("{i}")).collect();
        assert_eq!(v.join(",").len(), 289);
    }
}
