//! berth-runtime: a runc-compatible OCI runtime.
//!
//! The binary is a one-shot CLI (`main.rs` parses runc's command line and
//! calls one of [`commands`]); each lifecycle verb has its own file there.
//! The container's side of `create` is [`init`]; what it needs is split by
//! concept: [`namespaces`], [`rootfs`] (with [`mounts`], [`devices`],
//! [`cgroup_mount`] and the safe path resolution of [`in_root`]),
//! [`process`] (with [`capabilities`]), [`console`], [`hooks`], [`cgroups`],
//! [`seccomp`]. [`selfexe`] holds the CVE-2019-5736 protection.
//!
//! Single-threaded on purpose: it clones and forks, which a multithreaded
//! process must not do (DESIGN.md).
//!
//! Where it differs from runc 1.1 on purpose: `--no-pivot` for a config
//! without a mount namespace chroots into the rootfs, as without
//! `--no-pivot`. runc's msMoveRoot runs there too, in the caller's mount
//! namespace: it would detach every full proc and sysfs mount of the host
//! (made slaves first, which changes the host's propagation) and move the
//! rootfs over the host's `/`. With a mount namespace `--no-pivot` does what
//! runc's does ([`rootfs::enter`]).

pub mod capabilities;
pub mod cgroup_mount;
pub mod cgroups;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod console;
pub mod container;
pub mod criu;
pub mod devices;
pub mod error;
pub mod hooks;
pub use berth_in_root as in_root;
pub mod init;
pub mod kernel_scope;
pub mod log;
pub mod mountinfo;
pub mod mounts;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod selfexe;
pub mod signals;
pub mod sync;
pub mod sys;
pub mod terminal;

use std::path::PathBuf;

/// The global options every command sees.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// `--root`: where container state dirs live.
    pub root: PathBuf,
    pub log: log::Log,
    /// `--systemd-cgroup`.
    pub systemd_cgroup: bool,
    /// `--criu`: the CRIU binary for checkpoint and restore (default `criu`
    /// from PATH).
    pub criu: Option<String>,
}

/// Makes any panic end the process at once (after the panic message), as
/// `panic = "abort"` would: the workspace unwinds for berthd's sake (see the
/// release profile in Cargo.toml), but the runtime forks and clones, and a
/// child must never unwind into frames it shares with its parent.
pub fn abort_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::abort();
    }));
}
