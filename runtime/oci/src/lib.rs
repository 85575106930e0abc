//! The OCI runtime specification's documents as serde types.
//!
//! * [`Spec`]: a bundle's `config.json` (runtime-spec `config.md` and
//!   `config-linux.md`, version 1.x).
//! * [`State`]: the state JSON a runtime prints for `state` and gives hooks on
//!   stdin (runtime-spec `runtime.md#state`).
//!
//! Why our own types rather than the `oci-spec` crate: the runtime parses
//! config.json once on every container start, and DESIGN.md asks for serde
//! straight into the types it uses, with no builders or getters in between.
//! Field names follow the JSON (camelCase) through `serde(rename_all)`;
//! unknown fields are ignored so newer specs still parse; absent lists are
//! empty lists and absent optional values are `None`, so callers never see a
//! difference between "absent" and "empty" where the spec makes none.
//!
//! The linux resource types ([`LinuxResources`] and its parts) are shared by
//! the runtime's cgroup drivers (`berth-cgroups`) and by `update --resources`.
//! [`LinuxSeccomp`] is what `berth-seccomp` compiles to BPF.

mod resources;
mod seccomp;
mod spec;
mod state;

#[cfg(test)]
mod tests {
    #[test]
    fn null_lists_and_maps_parse_as_empty() {
        let spec: crate::Spec = serde_json::from_str(
            r#"{"ociVersion": "1.0.2", "mounts": null, "annotations": null,
                "process": {"args": ["sh"], "env": null, "cwd": "/"},
                "linux": {"namespaces": null, "seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                  "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": null}]}}}"#,
        )
        .unwrap();
        assert!(spec.mounts.is_empty());
        let sc = spec.linux.unwrap().seccomp.unwrap();
        assert!(sc.syscalls[0].args.is_empty());
    }
}

pub use resources::*;
pub use seccomp::*;
pub use spec::*;
pub use state::*;

/// Deserializes `null` as the type's default: Go's encoders write a nil
/// slice or map as `null` (podman's seccomp.json has `"args": null`), which
/// the spec means as "none".
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The runtime-spec version this crate implements and that `state` reports.
pub const OCI_VERSION: &str = "1.2.0";

/// What can go wrong reading an OCI document.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON, or a field has the wrong type or an unknown value.
    #[error("parse {path}: {source}")]
    Parse {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// The document parsed but says something the spec does not allow.
    #[error("invalid {path}: {reason}")]
    Invalid { path: String, reason: String },
}
