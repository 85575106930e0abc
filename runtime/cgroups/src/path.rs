//! `linux.cgroupsPath` for the cgroupfs driver (runtime-spec
//! `config-linux.md#cgroups-path`).
//!
//! The spec lets a relative path be "relative to the runtime's cgroup"; we
//! deliberately do not do that: the runtime may run inside a cgroup that
//! belongs to someone else (on the project's machines the shell sits in
//! `memory:/process_api/...`, which must never be touched), and a container
//! nested under it would be destroyed with it. Both `/berth/x` and `berth/x`
//! therefore name the cgroup `berth/x` below the root of every hierarchy,
//! the way runc treats absolute paths.
//!
//! Validation refuses what could escape a hierarchy or address a
//! cgroup by accident: empty paths, the root itself, `.` and `..`
//! components, NUL bytes and over-long names.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a cgroupsPath was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    /// The path is empty or names the root cgroup.
    #[error("invalid cgroupsPath {0:?}: names the root cgroup")]
    Root(String),
    /// A component is `.` or `..`.
    #[error("invalid cgroupsPath {0:?}: contains a '.' or '..' component")]
    DotComponent(String),
    /// A NUL byte or a component longer than NAME_MAX.
    #[error("invalid cgroupsPath {0:?}: {1}")]
    Malformed(String, &'static str),
}

/// A validated cgroup path below the root of each hierarchy, stored without
/// a leading `/` and with repeated slashes collapsed (`berth/x`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CgroupsPath(String);

impl CgroupsPath {
    /// Validates and normalises a cgroupsPath.
    pub fn parse(path: &str) -> Result<CgroupsPath, PathError> {
        if path.contains('\0') {
            return Err(PathError::Malformed(
                path.to_string(),
                "contains a NUL byte",
            ));
        }
        let mut normal = String::with_capacity(path.len());
        for component in path.split('/').filter(|c| !c.is_empty()) {
            if component == "." || component == ".." {
                return Err(PathError::DotComponent(path.to_string()));
            }
            if component.len() > 255 {
                return Err(PathError::Malformed(
                    path.to_string(),
                    "a component is longer than 255 bytes",
                ));
            }
            if !normal.is_empty() {
                normal.push('/');
            }
            normal.push_str(component);
        }
        if normal.is_empty() {
            return Err(PathError::Root(path.to_string()));
        }
        Ok(CgroupsPath(normal))
    }

    /// The path used when the bundle gives no cgroupsPath: `/berth/<id>`.
    pub fn default_for(container_id: &str) -> Result<CgroupsPath, PathError> {
        CgroupsPath::parse(&format!("/berth/{container_id}"))
    }

    /// The path without a leading `/` (`berth/x`).
    pub fn as_relative(&self) -> &str {
        &self.0
    }

    /// The path components, outermost first.
    pub fn components(&self) -> impl DoubleEndedIterator<Item = &str> + Clone {
        self.0.split('/')
    }

    /// Number of components.
    pub fn depth(&self) -> usize {
        self.components().count()
    }
}

impl fmt::Display for CgroupsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

impl TryFrom<String> for CgroupsPath {
    type Error = PathError;
    fn try_from(s: String) -> Result<CgroupsPath, PathError> {
        CgroupsPath::parse(&s)
    }
}

impl From<CgroupsPath> for String {
    fn from(p: CgroupsPath) -> String {
        format!("/{}", p.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_relative_name_the_same_cgroup() {
        let a = CgroupsPath::parse("/berth/x").unwrap();
        let b = CgroupsPath::parse("berth//x/").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_relative(), "berth/x");
        assert_eq!(a.to_string(), "/berth/x");
        assert_eq!(a.depth(), 2);
    }

    #[test]
    fn dot_dot_is_refused() {
        assert_eq!(
            CgroupsPath::parse("/berth/../../etc")
                .unwrap_err()
                .to_string(),
            "invalid cgroupsPath \"/berth/../../etc\": contains a '.' or '..' component"
        );
        assert!(CgroupsPath::parse("./x").is_err());
    }

    #[test]
    fn root_and_malformed_are_refused() {
        assert!(matches!(CgroupsPath::parse("/"), Err(PathError::Root(_))));
        assert!(matches!(CgroupsPath::parse(""), Err(PathError::Root(_))));
        assert!(CgroupsPath::parse("/a\0b").is_err());
        assert!(CgroupsPath::parse(&format!("/{}", "x".repeat(256))).is_err());
    }

    #[test]
    fn default_path_is_under_berth() {
        assert_eq!(
            CgroupsPath::default_for("c1").unwrap().to_string(),
            "/berth/c1"
        );
        assert!(CgroupsPath::default_for("..").is_err());
    }

    #[test]
    fn serde_validates() {
        let p: CgroupsPath = serde_json::from_str("\"/a/b\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"/a/b\"");
        assert!(serde_json::from_str::<CgroupsPath>("\"/a/..\"").is_err());
    }
}
