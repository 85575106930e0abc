//! The build context: the tar stream a client sends, unpacked into the
//! build's work directory, and the rules for reading it.
//!
//! * The stream is a tar (plain, gzip or zstd, detected as a layer is), or
//!   nothing at all (`berth build -` with only a Dockerfile). It is unpacked
//!   by berth-store's layer applier, which refuses entries that would land
//!   outside the directory (`..`, absolute names, through symlinks).
//! * Every later read resolves paths inside the context with
//!   `RESOLVE_IN_ROOT` (berth-in-root): a symlink in the context that leads
//!   out of it (`/etc/passwd`, `../../x`) resolves inside the context, as
//!   docker's `FollowSymlinkInScope`; a source written as a path out of the
//!   context (`../x`) is refused outright.
//! * `.dockerignore` (or `<Dockerfile>.dockerignore`, which wins) is applied
//!   to what COPY and ADD select, with docker's matcher
//!   ([`berth_dockerfile::dockerignore`]).

use std::io::Read;
use std::path::{Path, PathBuf};

use berth_dockerfile::dockerignore::{self, Matcher};
use berth_runtime::in_root::RootDir;

use super::BuildError;

/// A context unpacked on disk.
pub struct BuildContext {
    dir: PathBuf,
    ignore: Option<Matcher>,
}

impl BuildContext {
    /// Unpacks the context read from `input` into `dir` (created).
    pub fn receive(dir: &Path, input: &mut dyn Read) -> Result<Self, BuildError> {
        std::fs::create_dir_all(dir).map_err(|e| BuildError::io("create directory", dir, e))?;
        let mut first = [0u8; 1];
        let n = loop {
            match input.read(&mut first) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(BuildError::Context(format!("read build context: {e}"))),
            }
        };
        if n > 0 {
            let whole = (&first[..n]).chain(input);
            let tar = crate::images::layer::decompress(whole)
                .map_err(|e| BuildError::Context(format!("read build context: {e}")))?;
            berth_store::layer::apply_tar(
                tar,
                dir,
                berth_store::layer::ApplyOptions {
                    whiteouts: berth_store::layer::WhiteoutStyle::Delete,
                },
            )
            .map_err(|e| BuildError::Context(format!("unpack build context: {e}")))?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            ignore: None,
        })
    }

    /// The directory the context is unpacked in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads a file of the context (the Dockerfile, an ignore file); `None`
    /// when it is not there.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, BuildError> {
        let root = RootDir::open(&self.dir).map_err(|e| BuildError::io("open", &self.dir, e))?;
        let fd = match root.open_in_root(name, libc::O_RDONLY) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(BuildError::io("open", &self.dir.join(name), e)),
        };
        let mut data = Vec::new();
        std::fs::File::from(fd)
            .read_to_end(&mut data)
            .map_err(|e| BuildError::io("read", &self.dir.join(name), e))?;
        Ok(Some(data))
    }

    /// Loads the ignore file that goes with the Dockerfile `dockerfile`.
    pub fn load_ignore(&mut self, dockerfile: &str) -> Result<(), BuildError> {
        for name in dockerignore::ignore_file_names(dockerfile) {
            if let Some(content) = self.read(&name)? {
                let patterns = dockerignore::read_patterns(&content);
                let matcher = Matcher::new(&patterns)
                    .map_err(|e| BuildError::Context(format!("{name}: {e}")))?;
                self.ignore = Some(matcher);
                return Ok(());
            }
        }
        Ok(())
    }

    /// Whether `rel` (relative to the context root) is left out by the
    /// ignore file.
    pub fn is_excluded(&self, rel: &str) -> bool {
        self.ignore.as_ref().is_some_and(|m| m.is_excluded(rel))
    }
}

/// A source path of COPY/ADD cleaned relative to its root (`.` for the root
/// itself); `None` when it climbs out of it (`../x`).
pub fn clean_source(src: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in src.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    })
}

/// Whether a source has wildcards (Go `filepath.Match` syntax).
pub fn has_wildcards(src: &str) -> bool {
    src.contains(['*', '?', '['])
}

/// The paths under `root` that the wildcard pattern `pattern` (cleaned,
/// relative) matches, each component matched by Go's `filepath.Match`
/// rules, sorted. Symlinks are not followed while walking.
pub fn expand_wildcards(root: &Path, pattern: &str) -> Result<Vec<String>, BuildError> {
    let matcher =
        Matcher::new(&[pattern]).map_err(|e| BuildError::Context(format!("{pattern}: {e}")))?;
    let depth = pattern.split('/').count();
    let mut found = Vec::new();
    let mut frontier = vec![String::new()];
    for level in 1..=depth {
        let mut next = Vec::new();
        for dir in &frontier {
            let host = if dir.is_empty() {
                root.to_path_buf()
            } else {
                root.join(dir)
            };
            let Ok(entries) = std::fs::read_dir(&host) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let rel = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                let prefix: Vec<&str> = pattern.split('/').take(level).collect();
                let part_matcher = Matcher::new(&[prefix.join("/")])
                    .map_err(|e| BuildError::Context(format!("{pattern}: {e}")))?;
                if !part_matcher.is_excluded(&rel) {
                    continue;
                }
                if level == depth {
                    if matcher.is_excluded(&rel) {
                        found.push(rel);
                    }
                } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    next.push(rel);
                }
            }
        }
        frontier = next;
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_cleaned_and_escapes_refused() {
        assert_eq!(clean_source("a/./b/").as_deref(), Some("a/b"));
        assert_eq!(clean_source("/a/../b").as_deref(), Some("b"));
        assert_eq!(clean_source(".").as_deref(), Some("."));
        assert_eq!(clean_source("../x"), None);
        assert_eq!(clean_source("a/../../x"), None);
    }

    #[test]
    fn wildcards_match_per_component() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a.txt", "b.txt", "c.md", "sub/d.txt", "sub/e.md"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        assert_eq!(
            expand_wildcards(dir.path(), "*.txt").unwrap(),
            ["a.txt", "b.txt"]
        );
        assert_eq!(
            expand_wildcards(dir.path(), "s*/*.md").unwrap(),
            ["sub/e.md"]
        );
        assert_eq!(
            expand_wildcards(dir.path(), "[ab].txt").unwrap(),
            ["a.txt", "b.txt"]
        );
        assert!(expand_wildcards(dir.path(), "*.none").unwrap().is_empty());
    }
}
