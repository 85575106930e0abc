//! The container's seccomp filter: compiled from `linux.seccomp` by
//! `berth-seccomp` in the parent, before clone, so the child only installs it.

use berth_oci::Spec;

use crate::error::Result;

pub use berth_seccomp::Filter;

/// Compiles the spec's filter, if it has one.
pub fn compile(spec: &Spec) -> Result<Option<Filter>> {
    match spec.linux.as_ref().and_then(|l| l.seccomp.as_ref()) {
        None => Ok(None),
        Some(s) => Ok(Some(berth_seccomp::compile(s)?)),
    }
}
