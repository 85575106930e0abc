//! Docker Engine API 1.41 (docker 20.10) object types: what `inspect`
//! prints for containers, images, volumes and networks, field for field in
//! docker's order, with docker's JSON types (`null` where Go has a nil
//! slice, map or pointer).
//!
//! Why typed structs and not `json!` maps: serde writes a struct's fields in
//! declaration order, so the key order is docker's (`Id` first) by
//! construction, a field cannot be forgotten on one code path, and the same
//! types serve every adapter that shows these objects (berthd's gRPC API
//! sends them as JSON text; a Docker REST adapter serves them as they are;
//! the CLI reads them back to print them or run templates over them).
//!
//! # Go's `omitempty` and templates
//!
//! docker leaves some fields out of its JSON when empty (`omitempty`:
//! `HostConfig.Tmpfs`, a mount's `Name`, `Config.StopTimeout`, ...). Yet
//! docker's `--format` templates run over the typed Go struct, where such a
//! field is still there with its zero value: `{{range .Mounts}}{{.Name}}{{end}}`
//! prints an empty name for a bind mount, never "map has no entry". So each
//! `omitempty` field here is skipped through [`omit`]'s predicates, which
//! skip it in docker's JSON but keep it inside [`with_every_field`], the
//! form the CLI gives to templates.

pub mod container;
pub mod image;
pub mod network;
pub mod volume;

use std::cell::Cell;

thread_local! {
    static EVERY_FIELD: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (a serialization) with every `omitempty` field kept, as the
/// fields of docker's Go structs are all there for its templates.
pub fn with_every_field<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            EVERY_FIELD.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(EVERY_FIELD.with(|c| c.replace(true)));
    f()
}

/// Serializes `value` to a JSON value with every field present (for
/// `--format` templates; see the module docs).
pub fn template_value<T: serde::Serialize>(value: &T) -> serde_json::Value {
    with_every_field(|| serde_json::to_value(value)).unwrap_or(serde_json::Value::Null)
}

/// The `skip_serializing_if` predicates of Go's `omitempty`: true (skip)
/// when the value is empty, except inside [`with_every_field`].
pub mod omit {
    use std::collections::BTreeMap;

    fn keep_all() -> bool {
        super::EVERY_FIELD.with(|c| c.get())
    }

    pub fn string(s: &str) -> bool {
        !keep_all() && s.is_empty()
    }

    pub fn none<T>(v: &Option<T>) -> bool {
        !keep_all() && v.is_none()
    }

    pub fn map<K, V>(m: &Option<BTreeMap<K, V>>) -> bool {
        !keep_all() && m.as_ref().is_none_or(|m| m.is_empty())
    }

    pub fn vec<T>(v: &Option<Vec<T>>) -> bool {
        !keep_all() && v.as_ref().is_none_or(|v| v.is_empty())
    }

    pub fn zero_i64(v: &i64) -> bool {
        !keep_all() && *v == 0
    }

    pub fn falsy(v: &bool) -> bool {
        !keep_all() && !*v
    }
}

/// Go's zero time, which docker prints for a time never set.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    struct T {
        #[serde(skip_serializing_if = "omit::string")]
        name: String,
        kept: String,
    }

    #[test]
    fn omitempty_fields_are_kept_only_for_templates() {
        let t = T {
            name: String::new(),
            kept: String::new(),
        };
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"kept":""}"#);
        assert_eq!(
            template_value(&t).to_string(),
            serde_json::json!({"name": "", "kept": ""}).to_string()
        );
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"kept":""}"#);
    }
}
