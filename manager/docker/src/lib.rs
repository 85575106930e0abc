//! Docker's conventions, shared by `berth` (the CLI) and berthd.
pub mod manifest;
pub mod reference;
