//! `run [flags] ID`: create + start + wait, returning the container's exit
//! code; the container is deleted when it exits (kept, stopped, with
//! `--keep`). With `--detach` it returns
//! once the container runs. While waiting, every signal `run` receives is
//! forwarded to the container's init (runc's signal proxy). With
//! `process.terminal` and no `--console-socket`, the container's pty is
//! proxied to the caller's terminal ([`crate::terminal`]), and a SIGINT to
//! `run` makes it exit 0 at once, the container left running, as runc's.

use crate::cli::Parsed;
use crate::commands::create::{self, CreateOptions};
use crate::commands::{delete, start};
use crate::error::Result;
use crate::terminal::ProxyEnd;
use crate::{signals, sys, Runtime};

/// `run`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let id = super::one_id("run", flags)?;
    let mut opts = CreateOptions::from_flags(flags, id)?;
    let detach = flags.is_set("detach");
    opts.detach = detach;
    let created = create::create(rt, &opts)?;
    let record = created.record;
    // Block signals now so none is lost between start and the wait loop.
    let _old = signals::block_all();
    if let Err(e) = start::start(rt, &record) {
        let _ = delete::delete(rt, &record, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let status = match created.terminal {
        Some(t) => match t.proxy(record.pid)? {
            ProxyEnd::Exited(status) => status,
            // runc's handleInterrupt: exit 0, the container left as it is.
            ProxyEnd::Interrupted => return Ok(0),
        },
        None => signals::forward_until_exit(record.pid)?,
    };
    // `--keep`: the stopped container stays, with its state and cgroup,
    // for `state` and `delete` (runc's).
    if !flags.is_set("keep") {
        delete::destroy(rt, &record)?;
    }
    Ok(sys::exit_code(status))
}
