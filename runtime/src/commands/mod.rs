//! One file per command of runc's command line.

pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod restore;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use crate::cli::Parsed;
use crate::error::{Error, Result};
use crate::Runtime;

/// Runs `command` with its parsed flags; returns the exit code.
pub fn dispatch(rt: &Runtime, command: &str, flags: &Parsed) -> Result<i32> {
    match command {
        "checkpoint" => checkpoint::command(rt, flags),
        "restore" => restore::command(rt, flags),
        "create" => create::command(rt, flags),
        "start" => start::command(rt, flags),
        "state" => state::command(rt, flags),
        "kill" => kill::command(rt, flags),
        "delete" => delete::command(rt, flags),
        "run" => run::command(rt, flags),
        "exec" => exec::command(rt, flags),
        "ps" => ps::command(rt, flags),
        "list" => list::command(rt, flags),
        "spec" => spec::command(rt, flags),
        "pause" => pause::pause(rt, flags),
        "resume" => pause::resume(rt, flags),
        "update" => update::command(rt, flags),
        "events" => events::command(rt, flags),
        "features" => features::command(rt, flags),
        other => Err(Error::Usage(format!("unknown command {other:?}"))),
    }
}

/// The single container id a command takes.
pub fn one_id<'a>(command: &str, flags: &'a Parsed) -> Result<&'a String> {
    match flags.positional.as_slice() {
        [id] => Ok(id),
        [] => Err(Error::Usage(format!(
            "{command}: a container id is required"
        ))),
        _ => Err(Error::Usage(format!("{command}: too many arguments"))),
    }
}
