//! Keeping the shim's resident set to what it uses. One shim runs per
//! container, so every resident page counts (the target is under conmon's
//! 2 MiB RSS).
//!
//! When a page of a file mapping (the shim's own code, libc's) is touched,
//! the kernel maps not just that page but up to 64 KiB of its neighbours
//! that happen to be in the page cache ("fault-around": mm/filemap.c
//! `filemap_map_pages`, sized by the `fault_around_bytes` debugfs knob). For a small daemon that runs a sliver of its code that is most of
//! its file-backed RSS. `madvise(MADV_RANDOM)` on a mapping turns
//! fault-around off for it (madvise(2): "expect page references in random
//! order"); `MADV_DONTNEED` on code mappings, which are never written, drops
//! the pages mapped so far (they stay in the page cache and come back, one
//! by one, when used). Writable or relocated (RELRO) mappings are left
//! alone: dropping their pages would lose their contents.

/// Turns off fault-around on every file mapping and unmaps the code pages
/// mapped so far. Best effort: a failure only costs memory.
pub fn trim_file_mappings() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for line in maps.lines() {
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
        // inode 0: anonymous memory, the stack, the vdso.
        if inode == "0" {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        let addr = start as *mut libc::c_void;
        let len = end - start;
        // SAFETY: advice on mappings of this process as listed by the
        // kernel; MADV_RANDOM changes no contents, and MADV_DONTNEED is
        // only applied to private read-only executable mappings (code),
        // whose pages are the file's and are faulted back unchanged.
        unsafe {
            libc::madvise(addr, len, libc::MADV_RANDOM);
            if perms == "r-xp" {
                libc::madvise(addr, len, libc::MADV_DONTNEED);
            }
        }
    }
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
