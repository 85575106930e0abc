//! berthd's use of glibc's allocator: few arenas, and freed memory handed
//! back to the kernel.
//!
//! Why (issue 21, measured with 100 containers run and removed): berthd
//! idled at 5.1 MiB of anonymous memory, grew by about 90 KiB per running
//! container, and after every container was removed still held all of it
//! (anonymous 14.7 MiB): the memory was free inside glibc's heaps, but
//! fragmented, so glibc's own trimming (only the top of the main heap) gave
//! nothing back. `malloc_trim(0)` releases the free pages inside every heap
//! (after the removal above: anonymous 11.1 -> 4.4 MiB). So:
//! * [`limit_arenas`] at start: glibc makes up to 8 arenas per core, each
//!   a heap of its own that fragments on its own; berthd runs two tokio
//!   workers and a few blocking threads, and two arenas keep them from
//!   contending while idle memory drops by about 3 MiB;
//! * [`trim_when_idle`]: a task that looks every few seconds at how much
//!   freed memory glibc holds (`mallinfo2`) and, past a threshold, trims.
//!   Nothing on a request's path pays for it, and an idle daemon whose
//!   containers are gone returns to about its idle size.

use std::time::Duration;

/// How much freed memory glibc may hold before berthd trims.
const HELD_FREE_LIMIT: usize = 1024 * 1024;
/// How often the held memory is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Caps glibc's arenas at two; call before any other thread starts.
pub fn limit_arenas() {
    // SAFETY: mallopt only changes glibc's allocator parameters.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Bytes glibc holds in free chunks (its arenas' `fordblks`).
fn held_free() -> usize {
    // SAFETY: mallinfo2 reads the allocator's statistics.
    unsafe { libc::mallinfo2() }.fordblks
}

/// Trims glibc's heaps whenever they hold more than [`HELD_FREE_LIMIT`] of
/// freed memory; runs until the runtime stops.
pub async fn trim_when_idle() {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if held_free() > HELD_FREE_LIMIT {
            // Walks every heap: a blocking thread, not a worker.
            let _ = tokio::task::spawn_blocking(|| {
                // SAFETY: malloc_trim releases free pages; it takes the
                // allocator's locks like any allocation does.
                unsafe { libc::malloc_trim(0) }
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Freed, fragmented memory counts as held, and a trim releases it
    /// (the pages no longer count in the process's resident memory).
    #[test]
    fn a_trim_returns_fragmented_free_memory() {
        // Many small blocks, every other one kept, so the freed ones cannot
        // be returned from the top of the heap.
        let mut blocks: Vec<Vec<u8>> = (0..20_000).map(|i| vec![i as u8; 1000]).collect();
        let kept: Vec<Vec<u8>> = blocks
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| i % 64 == 0)
            .map(|(_, b)| std::mem::take(b))
            .collect();
        drop(blocks);
        assert!(held_free() > HELD_FREE_LIMIT, "held {}", held_free());
        let anon = || {
            std::fs::read_to_string("/proc/self/smaps_rollup")
                .unwrap()
                .lines()
                .find(|l| l.starts_with("Anonymous:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap()
        };
        let before = anon();
        // SAFETY: as in trim_when_idle.
        unsafe { libc::malloc_trim(0) };
        let after = anon();
        assert!(after + 8192 < before, "anonymous KiB {before} -> {after}");
        drop(kept);
    }
}
