//! The systemd driver's cgroupsPath form, `slice:prefix:name` (as runc and
//! crun accept it; runtime-spec `config-linux.md#cgroups-path` leaves the
//! form to the runtime).
//!
//! * `slice`: the parent slice, like `system.slice` or `machine-foo.slice`
//!   (empty: `system.slice`). systemd nests slices by their dashes:
//!   `a-b-c.slice` lives in `/a.slice/a-b.slice/a-b-c.slice`
//!   (systemd.slice(5)).
//! * `prefix` and `name`: the unit is `<prefix>-<name>.scope` (only
//!   `<name>.scope` with an empty prefix). A `name` ending in `.slice` names
//!   a slice unit instead, as runc allows.

use super::SystemdError;

/// A parsed `slice:prefix:name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemdPath {
    /// The parent slice unit (`system.slice` when empty).
    pub slice: String,
    /// The scope name's prefix (`docker`, `crio`, `berth`).
    pub prefix: String,
    /// The container's name within the prefix (usually its id).
    pub name: String,
}

impl SystemdPath {
    /// Parses and validates `slice:prefix:name`.
    pub fn parse(text: &str) -> Result<SystemdPath, SystemdError> {
        let invalid = |reason: &'static str| SystemdError::InvalidPath {
            path: text.to_string(),
            reason,
        };
        let mut parts = text.split(':');
        let (Some(slice), Some(prefix), Some(name), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("want slice:prefix:name"));
        };
        if name.is_empty() {
            return Err(invalid("the name is empty"));
        }
        for part in [slice, prefix, name] {
            if part.contains('/') || part.contains('\0') || part == "." || part == ".." {
                return Err(invalid("a part contains '/', NUL or is '.'/'..'"));
            }
        }
        let slice = if slice.is_empty() {
            "system.slice"
        } else {
            slice
        };
        let path = SystemdPath {
            slice: slice.to_string(),
            prefix: prefix.to_string(),
            name: name.to_string(),
        };
        expand_slice(&path.slice).map_err(invalid)?;
        if path.name.ends_with(".slice") {
            expand_slice(&path.name).map_err(invalid)?;
        }
        Ok(path)
    }

    /// The unit systemd is asked to start: `<prefix>-<name>.scope`,
    /// `<name>.scope`, or `<name>` when it is a slice.
    pub fn unit_name(&self) -> String {
        if self.name.ends_with(".slice") {
            self.name.clone()
        } else if self.prefix.is_empty() {
            format!("{}.scope", self.name)
        } else {
            format!("{}-{}.scope", self.prefix, self.name)
        }
    }

    /// The cgroup path systemd gives the unit, relative to the hierarchy
    /// root: `system.slice/docker-abc.scope`, or for a slice unit its own
    /// expanded path.
    pub fn cgroup_path(&self) -> String {
        if self.name.ends_with(".slice") {
            return expand_slice(&self.name).unwrap_or_default();
        }
        format!(
            "{}/{}",
            expand_slice(&self.slice).unwrap_or_default(),
            self.unit_name()
        )
    }
}

/// Expands a slice name to its cgroup path (`a-b.slice` to
/// `a.slice/a-b.slice`; `-.slice` is the root and expands to ``), with
/// systemd's validity rules: ends in `.slice`, no leading, trailing or
/// doubled dash.
pub fn expand_slice(slice: &str) -> Result<String, &'static str> {
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err("a slice must end in .slice");
    };
    if stem == "-" {
        return Ok(String::new());
    }
    if stem.is_empty() || stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
        return Err("a slice name must not be empty or have a leading, trailing or doubled '-'");
    }
    let mut out = String::with_capacity(slice.len() * 2);
    for (i, _) in stem
        .match_indices('-')
        .chain(std::iter::once((stem.len(), "")))
    {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(&stem[..i]);
        out.push_str(".slice");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_parts() {
        let p = SystemdPath::parse("system.slice:docker:abc").unwrap();
        assert_eq!(p.unit_name(), "docker-abc.scope");
        assert_eq!(p.cgroup_path(), "system.slice/docker-abc.scope");
        let p = SystemdPath::parse(":berth:c1").unwrap();
        assert_eq!(p.slice, "system.slice");
        let p = SystemdPath::parse("machine.slice::c1").unwrap();
        assert_eq!(p.unit_name(), "c1.scope");
    }

    #[test]
    fn nested_slices_expand() {
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            "a.slice/a-b.slice/a-b-c.slice"
        );
        assert_eq!(expand_slice("-.slice").unwrap(), "");
        let p = SystemdPath::parse("user-1000.slice:podman:x").unwrap();
        assert_eq!(p.cgroup_path(), "user.slice/user-1000.slice/podman-x.scope");
        let p = SystemdPath::parse("system.slice:berth:pods-a.slice").unwrap();
        assert_eq!(p.unit_name(), "pods-a.slice");
        assert_eq!(p.cgroup_path(), "pods.slice/pods-a.slice");
    }

    #[test]
    fn bad_forms_are_refused() {
        for bad in [
            "",
            "/berth/x",
            "a:b",
            "a.slice:b:c:d",
            "system.slice:docker:",
            "notaslice:docker:x",
            "a--b.slice:docker:x",
            "-a.slice:docker:x",
            "system.slice:docker:../x",
            "system.slice:do/cker:x",
        ] {
            assert!(SystemdPath::parse(bad).is_err(), "{bad:?} accepted");
        }
        let err = SystemdPath::parse("a:b").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid systemd cgroupsPath \"a:b\": want slice:prefix:name"
        );
    }
}
