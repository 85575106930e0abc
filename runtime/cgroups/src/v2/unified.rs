//! `linux.resources.unified`: raw cgroup v2 `key: value` pairs written as
//! files in the container's v2 directory (runtime-spec
//! `config-linux.md#unified`). Written after every other resource, so they
//! override. A key must name a file directly in the directory: no `/`, no
//! `.`/`..`, and not `cgroup.procs`/`cgroup.threads`/`cgroup.kill`
//! (moving or killing tasks is not a resource setting).

use crate::interface_file;
use crate::CgroupError;
use std::collections::BTreeMap;
use std::path::Path;

/// Checks one key.
pub fn validate_key(key: &str) -> Result<(), CgroupError> {
    let bad = |reason| CgroupError::Invalid {
        field: "unified",
        value: format!("{key:?}"),
        reason,
    };
    if key.is_empty() || key == "." || key == ".." || key.contains('/') || key.contains('\0') {
        return Err(bad("want a cgroup interface file name"));
    }
    if !key.contains('.') {
        return Err(bad("want <controller>.<file>"));
    }
    if matches!(
        key,
        "cgroup.procs" | "cgroup.threads" | "cgroup.kill" | "cgroup.freeze"
    ) {
        return Err(bad("moves, freezes or kills tasks; not a resource"));
    }
    Ok(())
}

/// Writes every pair (all keys validated first, so a bad key writes nothing).
pub fn apply(dir: &Path, unified: &BTreeMap<String, String>) -> Result<(), CgroupError> {
    for key in unified.keys() {
        validate_key(key)?;
    }
    for (key, value) in unified {
        interface_file::write_in(dir, key, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        validate_key("memory.high").unwrap();
        validate_key("cpu.weight.nice").unwrap();
        for bad in [
            "",
            "..",
            "../memory.max",
            "a/b.c",
            "nodot",
            "cgroup.procs",
            "cgroup.kill",
        ] {
            assert!(validate_key(bad).is_err(), "{bad}");
        }
    }
}
