//! The containers domain: container records, their shims and tasks, and
//! what users do with them (docker's container commands).
//!
//! * [`spec`]: the OCI runtime spec made from an image config and the user's
//!   options, with docker's defaults (capabilities, masked paths, seccomp);
//! * [`logs`]: reading a container's json-file log (tail, since, follow);
//! * [`archive`]: `cp`, `diff` and `export` over a container's root
//!   filesystem.

pub mod archive;
pub mod logs;
pub mod spec;
