//! `exec --cgroup`: which sub-cgroup of the container's cgroup an exec'd
//! process joins, in runc 1.1's forms. One `SUB` puts it in `SUB` below the
//! container's cgroup in every hierarchy (the only form v2 has); one or
//! more `CTRL[,CTRL...]:SUB` put it there in those controllers'
//! hierarchies and at the container's cgroup in the others. `SUB` is
//! relative to the container's cgroup and may not leave it (`..`); `/` is
//! the container's cgroup itself. The sub-cgroup must exist: a missing one
//! fails when the process is written to its `cgroup.procs` (runc's check).

use crate::layout::{Controller, ControllerSet};

/// A refused `--cgroup` argument, in runc's words.
#[derive(Debug, thiserror::Error)]
pub enum SubCgroupError {
    /// More than one `:`.
    #[error("invalid --cgroup argument: {0}")]
    Invalid(String),
    /// Several arguments, one without a controller.
    #[error("invalid --cgroup argument: {0} (missing <controller>: prefix)")]
    MissingController(String),
    /// The path leaves the container's cgroup.
    #[error("{0} is not a sub cgroup path")]
    NotSub(String),
    /// A controller the container's cgroup does not have.
    #[error("unknown controller {0} in SubCgroupPaths")]
    UnknownController(String),
}

/// The parsed `--cgroup` arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubCgroups {
    /// `SUB` for every hierarchy.
    all: Option<String>,
    /// `(controller, SUB)` pairs.
    per_controller: Vec<(Controller, String)>,
}

impl SubCgroups {
    /// Parses runc's `[<controller>[,<controller>...]:]<cgroup>` arguments.
    pub fn parse(args: &[&str]) -> Result<SubCgroups, SubCgroupError> {
        let mut sub = SubCgroups::default();
        for &arg in args {
            let parts: Vec<&str> = arg.splitn(3, ':').collect();
            match parts.as_slice() {
                [path] if args.len() == 1 => sub.all = Some(clean(path)?),
                [_] => return Err(SubCgroupError::MissingController(arg.to_string())),
                [ctrls, path] => {
                    let path = clean(path)?;
                    for name in ctrls.split(',') {
                        let c = Controller::from_name(name)
                            .filter(|c| *c != Controller::Unified)
                            .ok_or_else(|| SubCgroupError::UnknownController(name.to_string()))?;
                        sub.per_controller.push((c, path.clone()));
                    }
                }
                _ => return Err(SubCgroupError::Invalid(arg.to_string())),
            }
        }
        Ok(sub)
    }

    /// Whether nothing was asked: the container's own cgroup.
    pub fn is_empty(&self) -> bool {
        self.all.is_none() && self.per_controller.is_empty()
    }

    /// The path below the container's cgroup for a hierarchy carrying
    /// `controllers` ("" for the container's cgroup itself).
    pub fn relative_for(&self, controllers: ControllerSet) -> &str {
        if let Some(all) = &self.all {
            return all;
        }
        self.per_controller
            .iter()
            .find(|(c, _)| controllers.has(*c))
            .map(|(_, p)| p.as_str())
            .unwrap_or("")
    }

    /// The controllers named per controller, to check the container has
    /// each of them.
    pub fn controllers(&self) -> impl Iterator<Item = Controller> + '_ {
        self.per_controller.iter().map(|(c, _)| *c)
    }
}

/// Resolves `.` and `..` lexically, as Go's `path.Join` (which runc uses)
/// does; a path that climbs above the container's cgroup is refused.
fn clean(sub: &str) -> Result<String, SubCgroupError> {
    let mut parts: Vec<&str> = Vec::new();
    for c in sub.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(SubCgroupError::NotSub(sub.to_string()));
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_forms() {
        let s = SubCgroups::parse(&["/"]).unwrap();
        assert_eq!(s.relative_for(ControllerSet::of(Controller::Memory)), "");
        let s = SubCgroups::parse(&["a/b/../c"]).unwrap();
        assert_eq!(s.relative_for(ControllerSet::of(Controller::Cpu)), "a/c");
        let s = SubCgroups::parse(&["memory:submem", "cpu,cpuacct:subcpu"]).unwrap();
        assert_eq!(
            s.relative_for(ControllerSet::of(Controller::Memory)),
            "submem"
        );
        assert_eq!(
            s.relative_for(ControllerSet::of(Controller::Cpuacct)),
            "subcpu"
        );
        assert_eq!(s.relative_for(ControllerSet::of(Controller::Pids)), "");
        let e = |args: &[&str]| SubCgroups::parse(args).unwrap_err().to_string();
        assert_eq!(e(&[".."]), ".. is not a sub cgroup path");
        assert_eq!(e(&["a/../.."]), "a/../.. is not a sub cgroup path");
        assert_eq!(
            e(&["whaaat:/"]),
            "unknown controller whaaat in SubCgroupPaths"
        );
        assert_eq!(e(&["a:b:c"]), "invalid --cgroup argument: a:b:c");
        assert_eq!(
            e(&["x", "memory:y"]),
            "invalid --cgroup argument: x (missing <controller>: prefix)"
        );
    }
}
