//! `docker cp`'s path rules (docker/cli `cp.go`, moby `pkg/archive/copy.go`):
//! how `CONTAINER:PATH` arguments split, which directory an archive is
//! extracted into and what its top entry is renamed to, given what exists at
//! the destination. Pure functions over paths and what a stat said: the CLI
//! applies them on both sides of a copy (the local side with a local stat,
//! the container side with berthd's stat), berthd only stats, tars and
//! extracts (`crate::archive`).

/// What the rules refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpPathError {
    /// The destination's parent directory does not exist or is not one.
    #[error("destination directory {0:?} does not exist")]
    NoSuchDirectory(String),
    /// A directory onto an existing non-directory.
    #[error("cannot copy directory {src:?} to file {dest:?}")]
    CannotCopyDir { src: String, dest: String },
}

/// docker's `splitCpArg`: `CONTAINER:PATH`, unless the argument is an absolute path or starts
/// with `.` (so `./file:name` is local), or has no `:`.
pub fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((ctr, path)) if !ctr.starts_with('.') => (Some(ctr), path),
        _ => (None, arg),
    }
}

/// A container path is taken from the container's `/` (docker: "paths are relative to the
/// container's root"); trailing `/` and `/.` are kept, they carry meaning.
pub fn container_path(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

/// docker's `GetRebaseName`: the resolved path keeps `path`'s trailing `/` or `/.`, and if
/// the last element changed, entries are renamed back to it.
pub fn rebase_name(path: &str, resolved: &str) -> (String, Option<String>) {
    let mut resolved = resolved.to_string();
    if specifies_current_dir(path) && !specifies_current_dir(&resolved) {
        resolved.push_str("/.");
    } else if path.ends_with('/') && !resolved.ends_with('/') {
        resolved.push('/');
    }
    let base = |p: &str| split_dir_entry(p).1;
    let rebase = (base(path) != base(&resolved)).then(|| base(path));
    (resolved, rebase)
}

pub fn specifies_current_dir(p: &str) -> bool {
    p == "." || p.ends_with("/.")
}

/// docker's `SplitPathDirEntry`: (parent, last element) of the cleaned path, `.` kept as the
/// last element of `X/.`.
pub fn split_dir_entry(p: &str) -> (String, String) {
    let absolute = p.starts_with('/');
    let mut comps: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if comps.last().is_some_and(|l| *l != "..") {
                    comps.pop();
                } else if !absolute {
                    comps.push("..");
                }
            }
            c => comps.push(c),
        }
    }
    if specifies_current_dir(p) {
        comps.push(".");
    }
    let join = |cs: &[&str]| {
        let s = cs.join("/");
        match (absolute, s.is_empty()) {
            (true, _) => format!("/{s}"),
            (false, true) => ".".to_string(),
            (false, false) => s,
        }
    };
    match comps.split_last() {
        Some((last, rest)) => (join(rest), last.to_string()),
        None => (join(&[]), if absolute { "/" } else { "." }.to_string()),
    }
}

/// docker's `CopyInfo` of a destination: where it is and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestInfo {
    /// The destination path (symlinks resolved).
    pub path: String,
    /// Whether something exists there.
    pub exists: bool,
    /// Whether that is a directory.
    pub is_dir: bool,
}

/// docker's `PrepareArchiveCopy`: the directory to extract into and the name the archive's
/// top entry must take there (none: unchanged).
pub fn prepare_archive_copy(
    src_is_dir: bool,
    src_shown: &str,
    rebase: Option<&str>,
    dst: &DestInfo,
) -> Result<(String, Option<String>), CpPathError> {
    let (dst_dir, dst_base) = split_dir_entry(&dst.path);
    if dst.exists && dst.is_dir {
        return Ok((dst.path.clone(), rebase.map(str::to_string)));
    }
    if dst.exists && src_is_dir {
        return Err(CpPathError::CannotCopyDir {
            src: src_shown.to_string(),
            dest: dst.path.clone(),
        });
    }
    if !dst.exists && !src_is_dir && (dst.path.ends_with('/') || specifies_current_dir(&dst.path)) {
        return Err(CpPathError::NoSuchDirectory(dst.path.clone()));
    }
    Ok((dst_dir, Some(dst_base)))
}

/// How one tar entry name maps when the top entry `old` becomes `new`. A top entry `.`
/// (from `SRC/.` or `/`) has no name prefix in the archive: every entry goes under `new`.
pub fn rebase_entry(name: &[u8], old: &str, new: &str) -> Option<Vec<u8>> {
    let trimmed: &[u8] = {
        let mut n = name;
        while let Some(rest) = n.strip_prefix(b"./") {
            n = rest;
        }
        n
    };
    if old == "." {
        let mut out = new.as_bytes().to_vec();
        if !(trimmed.is_empty() || trimmed == b"." || trimmed == b"/") {
            out.push(b'/');
            out.extend_from_slice(trimmed);
        }
        return Some(out);
    }
    let old_b = old.as_bytes();
    match trimmed.strip_prefix(old_b) {
        Some(rest) if rest.is_empty() || rest.starts_with(b"/") => {
            let mut out = new.as_bytes().to_vec();
            out.extend_from_slice(rest);
            Some(out)
        }
        _ => Some(name.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_helpers_match_docker() {
        let s = |p: &str| split_dir_entry(p);
        assert_eq!(s("/a/b"), ("/a".into(), "b".into()));
        assert_eq!(s("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(s("/a/b/."), ("/a/b".into(), ".".into()));
        assert_eq!(s("/"), ("/".into(), "/".into()));
        assert_eq!(s("a"), (".".into(), "a".into()));
        assert_eq!(s("/a/../b"), ("/".into(), "b".into()));
        assert_eq!(
            rebase_name("/link", "/real/target"),
            ("/real/target".into(), Some("link".into()))
        );
        assert_eq!(rebase_name("/x/link", "/y/link"), ("/y/link".into(), None));
        assert_eq!(rebase_name("/d/.", "/t"), ("/t/.".into(), None));
        assert_eq!(rebase_name("/d/", "/t"), ("/t/".into(), Some("d".into())));
        let r = |n: &str, old: &str, new: &str| {
            String::from_utf8(rebase_entry(n.as_bytes(), old, new).unwrap()).unwrap()
        };
        assert_eq!(r("data/", "data", "new"), "new/");
        assert_eq!(r("data/a", "data", "new"), "new/a");
        assert_eq!(r("database", "data", "new"), "database");
        assert_eq!(r("./", ".", "new"), "new");
        assert_eq!(r("sub/b", ".", "new"), "new/sub/b");
    }
}
