//! Docker's conventions, shared by `berth` (the CLI) and berthd.
pub mod env_file;
pub mod manifest;
pub mod reference;
pub mod size;
