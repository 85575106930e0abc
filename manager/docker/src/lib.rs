//! Docker's conventions, shared by `berth` (the CLI) and berthd.
pub mod archive;
pub mod cp_path;
pub mod duration;
pub mod env_file;
pub mod humanize;
pub mod manifest;
pub mod reference;
pub mod short_id;
pub mod size;
pub mod sysctl;
pub mod timestamp;
