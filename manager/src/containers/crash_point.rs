//! Fault injection for the crash tests: berthd kills itself (SIGKILL, as
//! `kill -9` would) right after a named step of a container's create or
//! start, so a test can prove that recovery at the next start finds every
//! container either adopted or gone, whichever step was reached.
//!
//! Off unless the environment berthd starts with says
//! `BERTHD_TEST_CRASH_AT=<step>[:<n>]` (the `n`-th time the step is reached,
//! default the first). It is read once, when the containers service is built;
//! nothing an API client sends can turn it on. The steps, in the order a
//! `run` reaches them:
//!
//! ```text
//! create-allocated    the network address is allocated, nothing on disk yet
//! create-mounted      bundle dir made, snapshot prepared and mounted, no record
//! create-recorded     the record (status created) is committed
//! start-intent        the record says a start is under way (step spawning)
//! start-shim-spawned  the shim runs and listens; no runtime create yet
//! start-created       runtime create done, the record says so (init pid)
//! start-attached      the container's veth is made
//! start-started       the shim started the process; the record still says created
//! start-recorded      the record says running
//! exit-deleted        an exited container's shim was told to delete it; the
//!                     record still says running
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The environment variable that arms a crash point.
pub const ENV: &str = "BERTHD_TEST_CRASH_AT";

/// The armed step and after how many hits it fires.
struct Armed {
    step: String,
    nth: u32,
    hits: AtomicU32,
}

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();

/// Reads [`ENV`] (once; later calls change nothing).
pub fn arm_from_env() {
    ARMED.get_or_init(|| {
        let value = std::env::var(ENV).ok()?;
        let (step, nth) = match value.split_once(':') {
            Some((s, n)) => (s.to_string(), n.parse().unwrap_or(1).max(1)),
            None => (value.clone(), 1),
        };
        tracing::warn!(step, nth, "test crash point armed");
        Some(Armed {
            step,
            nth,
            hits: AtomicU32::new(0),
        })
    });
}

/// Marks that container `id` reached `step`; kills berthd when that is the
/// armed step's n-th hit.
pub fn reached(step: &str, id: &str) {
    let Some(Some(armed)) = ARMED.get() else {
        return;
    };
    if armed.step != step {
        return;
    }
    if armed.hits.fetch_add(1, Ordering::SeqCst) + 1 == armed.nth {
        tracing::warn!(step, id, "test crash point reached: SIGKILL");
        // SAFETY: plain syscalls; SIGKILL of ourselves does not return.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}
