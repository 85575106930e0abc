//! berth-shim: one per container. Started by berthd, it leaves its parent
//! (new session, double fork), becomes the child subreaper of the container's
//! processes, and serves the `berth.shim.v1.Shim` gRPC API on a short unix
//! socket. It drives a runc-compatible runtime by exec, holds the
//! container's stdio (pipes, or the pty master from the console socket),
//! writes the container's log through its log driver (json-file, syslog),
//! and records the init's exit in its state dir before anyone is told of it. One current-thread tokio runtime keeps it
//! small (the target is conmon's 2 MiB RSS).
//!
//! Modules, from the outside in: [`daemon`] and [`address`] (starting),
//! [`server`] (the runtime and signals), [`service`] (gRPC adapter),
//! [`task`] and [`process`] (lifecycle), [`runtime`] (the runtime CLI),
//! [`reaper`] (children), [`stdio`], [`console`] and [`logging`] (I/O and
//! the log drivers), [`events`], [`record`] (the state dir) and
//! [`timefmt`].

pub mod address;
pub mod console;
pub mod daemon;
pub mod events;
pub mod logging;
pub mod memory;
pub mod oom;
pub mod process;
pub mod reaper;
pub mod record;
pub mod runtime;
pub mod server;
pub mod service;
pub mod stdio;
pub mod task;
pub mod timefmt;
