//! Docker's conventions, shared by `berth` (the CLI) and berthd: what a
//! docker user types and reads, and the formats docker writes, with no
//! daemon state.
//!
//! * image names and formats: [`reference`](mod@reference) (`busybox`, `host:5000/a/b:tag@sha256:...`,
//!   the familiar form), [`manifest`] (OCI and Docker v2 manifests, indexes, configs);
//! * flag values: [`size`] (`512m`, `--cpus 1.5`), [`blkio`] (`/dev/sda:1mb`), [`duration`] (Go's `time.Duration`:
//!   `30s`, `1m30s`), [`timestamp`] (`--since`/`--until`, the json-file log time, `-t`),
//!   [`env_file`] (`--env-file`), [`sysctl`] (which `--sysctl` keys are namespaced),
//!   [`device_rule`] (`--device-cgroup-rule`), [`link`] (`--link`: parsing, and the
//!   environment and /etc/hosts names a legacy link gives);
//! * what is printed: [`short_id`] (12 hex digits), [`humanize`] (`4.26MB`, `2 hours`);
//! * the objects `inspect` shows: [`types`] (docker's `ContainerJSON`, `ImageInspect`,
//!   `Volume`, `NetworkResource`, in docker's field order and JSON types);
//! * `cp` and `export`: [`cp_path`] (docker's path rules: where an archive lands, what
//!   its top entry is called) and [`archive`] (stat, tar and extraction of a path under a
//!   root, the tar format both ends of a copy read and write).
//!
//! # Walls
//!
//! Why a crate: the CLI needs these and must not link the daemon (`berth` talks only
//! gRPC; berth-cli depends on berth-proto and this crate alone), and berthd needs the
//! same rules so that both ends agree on what `512m`, `10m` or `busybox` mean.
//!
//! What must not come here: anything with daemon state or I/O beyond the file tree a
//! caller names (no redb, no store, no networks, no shim), and no async runtime or gRPC
//! (no tokio, no tonic): these are pure rules and the blocking archive code, callable
//! from the CLI, from berthd's blocking tasks and from berth-store (which shares
//! [`archive::printable`]). Dependencies stay small: serde, sha2, tar, libc, and
//! berth-in-root for resolving paths inside a root without leaving it.

pub mod archive;
pub mod blkio;
pub mod cp_path;
pub mod device_rule;
pub mod duration;
pub mod env_file;
pub mod humanize;
pub mod link;
pub mod manifest;
pub mod reference;
pub mod short_id;
pub mod size;
pub mod sysctl;
pub mod template;
pub mod timestamp;
pub mod types;
