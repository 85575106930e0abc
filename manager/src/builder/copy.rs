//! COPY and ADD: selecting the sources, checksumming them for the cache key,
//! and writing them into the step's snapshot.
//!
//! Two phases, as BuildKit's: the *plan* reads each source (a path of the
//! context, of another stage's or an image's root filesystem, a heredoc, a
//! downloaded URL, or the entries of a local tar archive ADD unpacks) into a
//! tar file in the build's work directory, with docker's copy rules applied
//! to every entry (the `.dockerignore` matcher, owner 0:0 as COPY gives
//! every file, `--chmod`) and hashes what it writes *except mtimes*: a
//! source's checksum is its names, types, modes, owners, link targets and
//! contents. The *apply* extracts those tars into the mounted snapshot with
//! berth-docker's `cp` extractor (every path resolved with
//! `RESOLVE_IN_ROOT`: a symlink in the image cannot redirect a write out of
//! the root filesystem), then applies `--chown`, whose names are looked up
//! in the snapshot's own /etc/passwd and /etc/group.
//!
//! The source side is read through berth-docker's `cp` archiver, which
//! resolves the path inside its root too: `COPY link /x` of a symlink that
//! leads out of the context reads the context's own file of that name, or
//! fails as not found.

use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use berth_docker::archive::copy_in::{extract_renamed, ExtractOptions};
use berth_docker::archive::copy_out::{archive_path_as, stat_path};
use berth_runtime::in_root::RootDir;
use sha2::{Digest as _, Sha256};

use super::context::{clean_source, expand_wildcards, has_wildcards, BuildContext};
use super::BuildError;

/// Where a COPY reads from.
pub struct SourceRoot<'a> {
    /// The directory that is `/` for the sources.
    pub dir: &'a Path,
    /// The build context (its ignore file applies), or none for a stage or
    /// image.
    pub context: Option<&'a BuildContext>,
}

/// How one planned item lands at the destination.
#[derive(Debug, Clone)]
enum ItemKind {
    /// A directory's contents: extracted into the destination directory.
    Contents,
    /// One file named `name` in the tar: into the destination directory, or
    /// as the destination itself when that is no directory.
    File { name: String },
}

/// One source, ready to extract.
#[derive(Debug)]
struct Item {
    kind: ItemKind,
    tar: PathBuf,
    /// The entry names, for `--chown` afterwards.
    names: Vec<String>,
}

/// A COPY/ADD planned: its sources in tar files and their checksum.
#[derive(Debug)]
pub struct CopyPlan {
    items: Vec<Item>,
    /// The destination, absolute.
    dest: String,
    /// Whether the destination is a directory by the way it is written
    /// (trailing `/`, or several sources).
    dest_is_dir: bool,
    /// sha256 of every source entry (not their mtimes), hex.
    pub checksum: String,
}

/// What to copy, the frontend's step reduced to what the plan needs.
pub struct CopyRequest<'a> {
    /// Sources as written (expanded).
    pub sources: &'a [String],
    /// Heredoc files: name, content.
    pub contents: &'a [(String, String)],
    /// Destination as written (expanded).
    pub dest: &'a str,
    /// WORKDIR in force.
    pub workdir: &'a str,
    /// `--chmod`, parsed.
    pub chmod: Option<u32>,
    /// ADD: local archives are unpacked.
    pub unpack_archives: bool,
    /// `--exclude` patterns.
    pub excludes: &'a [String],
    /// Instruction name for messages.
    pub instruction: &'a str,
}

/// `--chmod`: octal only (docker 20.10's classic builder takes no symbolic
/// modes; BuildKit's octal).
pub fn parse_chmod(chmod: &str) -> Result<Option<u32>, BuildError> {
    if chmod.is_empty() {
        return Ok(None);
    }
    match u32::from_str_radix(chmod, 8) {
        Ok(m) if m <= 0o7777 => Ok(Some(m)),
        _ => Err(BuildError::Invalid(format!(
            "invalid chmod parameter: {chmod}"
        ))),
    }
}

impl CopyPlan {
    /// Plans a COPY/ADD: every source read into a tar file under `work`.
    /// `downloads` are ADD's URL sources already fetched (a directory holding
    /// one file each, by source index).
    pub fn new(
        root: &SourceRoot<'_>,
        req: &CopyRequest<'_>,
        downloads: &[(usize, PathBuf)],
        work: &Path,
    ) -> Result<Self, BuildError> {
        let dest = if req.dest.starts_with('/') {
            req.dest.to_string()
        } else {
            let wd = if req.workdir.is_empty() {
                "/"
            } else {
                req.workdir
            };
            format!("{}/{}", wd.trim_end_matches('/'), req.dest)
        };
        let mut hasher = Sha256::new();
        let mut items = Vec::new();
        let mut excludes = Vec::new();
        for p in req.excludes {
            excludes.push(
                berth_dockerfile::dockerignore::Matcher::new(&[p])
                    .map_err(|e| BuildError::Invalid(format!("--exclude={p}: {e}")))?,
            );
        }
        let mut n = 0usize;
        let mut next_tar = || {
            n += 1;
            work.join(format!("copy-{n}.tar"))
        };
        for (index, src) in req.sources.iter().enumerate() {
            if let Some((_, dir)) = downloads.iter().find(|(i, _)| *i == index) {
                let name = std::fs::read_dir(dir)
                    .ok()
                    .and_then(|mut d| d.next())
                    .and_then(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .unwrap_or_default();
                let tar = next_tar();
                let names = write_source(dir, &name, &name, req.chmod, &tar, &mut hasher)?;
                items.push(Item {
                    kind: ItemKind::File { name },
                    tar,
                    names,
                });
                continue;
            }
            let Some(clean) = clean_source(src) else {
                return Err(BuildError::Invalid(format!(
                    "forbidden path outside the build context: {src}"
                )));
            };
            let selected = if has_wildcards(&clean) {
                let all = expand_wildcards(root.dir, &clean)?;
                all.into_iter()
                    .filter(|p| !root.context.is_some_and(|c| c.is_excluded(p)))
                    .collect()
            } else {
                vec![clean]
            };
            for rel in selected {
                let excluded = |p: &str| {
                    root.context.is_some_and(|c| c.is_excluded(p))
                        || excludes.iter().any(|m| m.is_excluded(p))
                };
                if rel != "." && excluded(&rel) {
                    return Err(not_found(src));
                }
                let stat = stat_path(root.dir, &rel).map_err(|e| match e {
                    berth_docker::archive::ArchiveError::NotFound(_) => not_found(src),
                    other => BuildError::Invalid(format!("{src}: {other}")),
                })?;
                // An explicit source that is a symlink is followed (inside the root).
                let (rel, stat) = if stat.is_symlink() {
                    let target = stat.link_target.trim_start_matches('/').to_string();
                    let target = if target.is_empty() {
                        ".".into()
                    } else {
                        target
                    };
                    let s = stat_path(root.dir, &target).map_err(|_| not_found(src))?;
                    (target, s)
                } else {
                    (rel, stat)
                };
                let tar = next_tar();
                hasher.update(rel.as_bytes());
                if stat.is_dir() {
                    let prefix = if rel == "." {
                        String::new()
                    } else {
                        format!("{rel}/")
                    };
                    let filter = |name: &str| !excluded(&format!("{prefix}{name}"));
                    let names = write_tree(root.dir, &rel, &filter, req.chmod, &tar, &mut hasher)?;
                    items.push(Item {
                        kind: ItemKind::Contents,
                        tar,
                        names,
                    });
                } else if req.unpack_archives
                    && stat.is_regular()
                    && is_archive(&root.dir.join(&rel))
                {
                    let names = write_archive(&root.dir.join(&rel), req.chmod, &tar, &mut hasher)?;
                    items.push(Item {
                        kind: ItemKind::Contents,
                        tar,
                        names,
                    });
                } else {
                    let name = Path::new(&rel)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| rel.clone());
                    let names = write_source(root.dir, &rel, &name, req.chmod, &tar, &mut hasher)?;
                    items.push(Item {
                        kind: ItemKind::File { name },
                        tar,
                        names,
                    });
                }
            }
        }
        for (name, data) in req.contents {
            let tar = next_tar();
            let names = write_inline(
                name,
                data.as_bytes(),
                req.chmod.unwrap_or(0o644),
                &tar,
                &mut hasher,
            )?;
            items.push(Item {
                kind: ItemKind::File { name: name.clone() },
                tar,
                names,
            });
        }
        if items.is_empty() {
            return Err(BuildError::Invalid("no source files were specified".into()));
        }
        let dest_is_dir = dest.ends_with('/') || dest.ends_with("/.") || items.len() > 1;
        if items.len() > 1 && !(req.dest.ends_with('/') || req.dest.ends_with("/.")) {
            return Err(BuildError::Invalid(format!(
                "When using {} with more than one source file, the destination must be a directory and end with a /",
                req.instruction
            )));
        }
        hasher.update(dest.as_bytes());
        hasher.update([dest_is_dir as u8]);
        let checksum = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            items,
            dest,
            dest_is_dir,
            checksum,
        })
    }

    /// Extracts the sources into the root filesystem at `rootfs`; `owner` is
    /// `--chown` resolved (none: 0:0, ADD archives keep their owners).
    pub fn apply(&self, rootfs: &Path, owner: Option<(u32, u32)>) -> Result<(), BuildError> {
        let root = RootDir::open(rootfs).map_err(|e| BuildError::io("open", rootfs, e))?;
        let dest = self.dest.trim_end_matches('/');
        let dest = if dest.is_empty() { "/" } else { dest };
        let dest_exists_as_dir = root
            .open_in_root(dest, libc::O_PATH | libc::O_DIRECTORY)
            .is_ok();
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir: false,
            copy_uid_gid: true,
        };
        let identity = |n: &[u8]| Some(n.to_vec());
        for item in &self.items {
            let file =
                std::fs::File::open(&item.tar).map_err(|e| BuildError::io("open", &item.tar, e))?;
            let into_dir = match &item.kind {
                ItemKind::Contents => true,
                ItemKind::File { .. } => self.dest_is_dir || dest_exists_as_dir,
            };
            let (dir, renamed): (String, Option<(String, String)>) = if into_dir {
                (dest.to_string(), None)
            } else {
                let (parent, base) = match dest.rsplit_once('/') {
                    Some(("", b)) => ("/".to_string(), b.to_string()),
                    Some((p, b)) => (p.to_string(), b.to_string()),
                    None => ("/".to_string(), dest.to_string()),
                };
                let ItemKind::File { name } = &item.kind else {
                    unreachable!("contents go into a directory")
                };
                (parent, Some((name.clone(), base)))
            };
            root.create_dir_all(&dir)
                .map_err(|e| BuildError::Invalid(format!("create destination {dir}: {e}")))?;
            let shown = |e: berth_docker::archive::ArchiveError| {
                BuildError::Invalid(format!("copy to {dir}: {e}"))
            };
            match &renamed {
                None => extract_renamed(&root, &dir, file, opts, &identity).map_err(shown)?,
                Some((from, to)) => {
                    let rename = |n: &[u8]| {
                        if n == from.as_bytes() {
                            Some(to.as_bytes().to_vec())
                        } else {
                            Some(n.to_vec())
                        }
                    };
                    extract_renamed(&root, &dir, file, opts, &rename).map_err(shown)?
                }
            }
            if let Some((uid, gid)) = owner {
                for name in &item.names {
                    let name = match &renamed {
                        Some((from, to)) if name == from => to.clone(),
                        _ => name.clone(),
                    };
                    let rel = format!("{}/{name}", dir.trim_end_matches('/'));
                    chown_in_root(&root, &rel, uid, gid)?;
                }
            }
        }
        Ok(())
    }
}

fn not_found(src: &str) -> BuildError {
    BuildError::SourceNotFound(src.to_string())
}

fn chown_in_root(root: &RootDir, rel: &str, uid: u32, gid: u32) -> Result<(), BuildError> {
    let (parent, name) = root
        .parent_of(rel)
        .map_err(|e| BuildError::Invalid(format!("chown {rel}: {e}")))?;
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall on a valid directory fd and a NUL-terminated name;
    // AT_SYMLINK_NOFOLLOW changes a symlink itself, never what it points to.
    let rc = unsafe {
        libc::fchownat(
            parent.as_raw_fd(),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(BuildError::Invalid(format!(
            "chown {rel}: {}",
            io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Whether `path` is a tar archive (plain or compressed) ADD unpacks.
fn is_archive(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(reader) = crate::images::layer::decompress(file) else {
        return false;
    };
    let mut archive = tar::Archive::new(reader);
    let Ok(mut entries) = archive.entries() else {
        return false;
    };
    matches!(entries.next(), Some(Ok(_)))
}

/// Feeds what it reads to a hasher.
struct HashingReader<'a, R> {
    inner: R,
    hasher: &'a mut Sha256,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// How [`rewrite_tar`] changes entries.
#[derive(Clone, Copy)]
struct Rewrite<'a> {
    /// New name of an entry (none: skipped).
    rename: &'a dyn Fn(&str) -> Option<String>,
    /// Owner given to every entry (none: kept).
    owner: Option<(u32, u32)>,
    /// Mode given to every entry but symlinks (none: kept).
    chmod: Option<u32>,
}

/// Copies the entries of the tar `input` into the tar file `out`, renamed by
/// `rename` (none: skipped), owners set to `owner` when given, modes to
/// `chmod` when given, each hashed (not its mtime). Returns the names.
fn rewrite_tar(
    input: impl Read,
    rules: &Rewrite<'_>,
    out: &Path,
    hasher: &mut Sha256,
) -> Result<Vec<String>, BuildError> {
    let Rewrite {
        rename,
        owner,
        chmod,
    } = *rules;
    let file = std::fs::File::create(out).map_err(|e| BuildError::io("create", out, e))?;
    let mut builder = tar::Builder::new(io::BufWriter::new(file));
    builder.mode(tar::HeaderMode::Complete);
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(input);
    let bad = |e: io::Error| BuildError::Invalid(format!("read source: {e}"));
    for entry in archive.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(name) = rename(raw.trim_end_matches('/')) else {
            continue;
        };
        let mut header = entry.header().clone();
        if let Some((uid, gid)) = owner {
            header.set_uid(uid as u64);
            header.set_gid(gid as u64);
            header.set_username("").ok();
            header.set_groupname("").ok();
        }
        let kind = header.entry_type();
        if let Some(mode) = chmod {
            if !kind.is_symlink() {
                header.set_mode(mode);
            }
        }
        hasher.update(name.as_bytes());
        hasher.update([kind.as_byte()]);
        hasher.update(header.mode().unwrap_or(0).to_le_bytes());
        hasher.update(header.uid().unwrap_or(0).to_le_bytes());
        hasher.update(header.gid().unwrap_or(0).to_le_bytes());
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let written = if kind.is_symlink() || kind.is_hard_link() {
            let target = link.unwrap_or_default();
            let target = if kind.is_hard_link() {
                match rename(target.trim_end_matches('/')) {
                    Some(t) => t,
                    None => continue,
                }
            } else {
                target
            };
            hasher.update(target.as_bytes());
            header.set_size(0);
            builder.append_link(&mut header, &name, &target)
        } else {
            let mut reader = HashingReader {
                inner: entry,
                hasher,
            };
            builder.append_data(&mut header, &name, &mut reader)
        };
        written.map_err(|e| BuildError::io("write", out, e))?;
        names.push(name);
    }
    builder
        .into_inner()
        .and_then(|mut w| w.flush())
        .map_err(|e| BuildError::io("write", out, e))?;
    Ok(names)
}

/// Archives `rel` under `root` (named `top`) through a pipe into [`rewrite_tar`].
fn archive_through(
    root: &Path,
    rel: &str,
    top: &str,
    rules: &Rewrite<'_>,
    out: &Path,
    hasher: &mut Sha256,
) -> Result<Vec<String>, BuildError> {
    let (reader, mut writer) =
        UnixStream::pair().map_err(|e| BuildError::io("make pipe for", out, e))?;
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let r = archive_path_as(root, rel, Some(top), &mut writer);
            drop(writer);
            r
        });
        let names = rewrite_tar(reader, rules, out, hasher);
        let produced = producer.join().expect("archiver thread");
        match (names, produced) {
            (Ok(n), Ok(_)) => Ok(n),
            (_, Err(e)) => Err(BuildError::Invalid(format!("read source {rel}: {e}"))),
            (Err(e), Ok(_)) => Err(e),
        }
    })
}

/// A directory's contents (its top entry left out), `keep` deciding on each
/// path relative to it.
fn write_tree(
    root: &Path,
    rel: &str,
    keep: &dyn Fn(&str) -> bool,
    chmod: Option<u32>,
    out: &Path,
    hasher: &mut Sha256,
) -> Result<Vec<String>, BuildError> {
    let rename = |name: &str| -> Option<String> {
        let inner = name.strip_prefix("t/")?;
        keep(inner).then(|| inner.to_string())
    };
    let rules = Rewrite {
        rename: &rename,
        owner: Some((0, 0)),
        chmod,
    };
    archive_through(root, rel, "t", &rules, out, hasher)
}

/// One file (or a symlink's target) as `name`.
fn write_source(
    root: &Path,
    rel: &str,
    name: &str,
    chmod: Option<u32>,
    out: &Path,
    hasher: &mut Sha256,
) -> Result<Vec<String>, BuildError> {
    let rename = |n: &str| (n == name).then(|| n.to_string());
    let rules = Rewrite {
        rename: &rename,
        owner: Some((0, 0)),
        chmod,
    };
    archive_through(root, rel, name, &rules, out, hasher)
}

/// The entries of a local archive ADD unpacks (owners kept).
fn write_archive(
    path: &Path,
    chmod: Option<u32>,
    out: &Path,
    hasher: &mut Sha256,
) -> Result<Vec<String>, BuildError> {
    let file = std::fs::File::open(path).map_err(|e| BuildError::io("open", path, e))?;
    let reader = crate::images::layer::decompress(file)
        .map_err(|e| BuildError::io("decompress", path, e))?;
    let rename = |n: &str| {
        let c = clean_source(n)?;
        (c != ".").then_some(c)
    };
    let rules = Rewrite {
        rename: &rename,
        owner: None,
        chmod,
    };
    rewrite_tar(reader, &rules, out, hasher)
}

/// A heredoc's content as a file `name` (0644, or `--chmod`).
fn write_inline(
    name: &str,
    data: &[u8],
    mode: u32,
    out: &Path,
    hasher: &mut Sha256,
) -> Result<Vec<String>, BuildError> {
    let mut tar_bytes = Vec::new();
    {
        let mut b = tar::Builder::new(&mut tar_bytes);
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        );
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data)
            .map_err(|e| BuildError::io("write", out, e))?;
        b.finish().map_err(|e| BuildError::io("write", out, e))?;
    }
    let rename = |n: &str| Some(n.to_string());
    let rules = Rewrite {
        rename: &rename,
        owner: None,
        chmod: None,
    };
    rewrite_tar(&tar_bytes[..], &rules, out, hasher)
}

/// The file name ADD gives a URL's download: the last path component
/// (`index.html` style names kept; none: `__unnamed__`, as docker).
pub fn url_file_name(url: &str) -> String {
    let path = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let name = path.split_once('/').map(|(_, p)| p).unwrap_or("");
    let last = name.rsplit('/').next().unwrap_or("");
    if last.is_empty() {
        "__unnamed__".to_string()
    } else {
        last.to_string()
    }
}

/// Whether an ADD source is a URL.
pub fn is_url(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// Whether an ADD source is a git repository.
pub fn is_git(src: &str) -> bool {
    src.starts_with("git@") || src.ends_with(".git") || src.starts_with("git://")
}

/// Saves a download as `dir/<name>` with mode 0600, as docker's ADD.
pub fn save_download(dir: &Path, name: &str, data: &[u8]) -> Result<(), BuildError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir).map_err(|e| BuildError::io("create directory", dir, e))?;
    let path = dir.join(std::ffi::OsStr::from_bytes(name.as_bytes()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| BuildError::io("create", &path, e))?;
    f.write_all(data)
        .map_err(|e| BuildError::io("write", &path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chmod_is_octal() {
        assert_eq!(parse_chmod("").unwrap(), None);
        assert_eq!(parse_chmod("755").unwrap(), Some(0o755));
        assert!(parse_chmod("u+x").is_err());
        assert!(parse_chmod("99999").is_err());
    }

    #[test]
    fn url_names_are_the_last_component() {
        assert_eq!(url_file_name("http://h:1/a/b.txt?x=1"), "b.txt");
        assert_eq!(url_file_name("http://h/"), "__unnamed__");
        assert_eq!(url_file_name("https://h"), "__unnamed__");
    }

    fn plan_of(
        ctx_dir: &Path,
        sources: &[&str],
        dest: &str,
        work: &Path,
    ) -> Result<CopyPlan, BuildError> {
        let ctx = BuildContext::receive(ctx_dir, &mut io::empty()).unwrap();
        let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
        CopyPlan::new(
            &SourceRoot {
                dir: ctx.dir(),
                context: Some(&ctx),
            },
            &CopyRequest {
                sources: &sources,
                contents: &[],
                dest,
                workdir: "/",
                chmod: None,
                unpack_archives: false,
                excludes: &[],
                instruction: "COPY",
            },
            &[],
            work,
        )
    }

    #[test]
    fn checksums_ignore_mtimes_but_not_content_or_mode() {
        use std::os::unix::fs::PermissionsExt;
        let ctx = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        std::fs::create_dir(ctx.path().join("d")).unwrap();
        std::fs::write(ctx.path().join("d/f"), "one").unwrap();
        let first = plan_of(ctx.path(), &["d"], "/x/", work.path())
            .unwrap()
            .checksum;
        let f = std::fs::File::options()
            .write(true)
            .open(ctx.path().join("d/f"))
            .unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(
            plan_of(ctx.path(), &["d"], "/x/", work.path())
                .unwrap()
                .checksum,
            first
        );
        std::fs::write(ctx.path().join("d/f"), "two").unwrap();
        let changed = plan_of(ctx.path(), &["d"], "/x/", work.path())
            .unwrap()
            .checksum;
        assert_ne!(changed, first);
        std::fs::set_permissions(
            ctx.path().join("d/f"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        assert_ne!(
            plan_of(ctx.path(), &["d"], "/x/", work.path())
                .unwrap()
                .checksum,
            changed
        );
    }

    #[test]
    fn sources_out_of_the_context_and_missing_ones_fail() {
        let ctx = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        std::fs::write(ctx.path().join("f"), "x").unwrap();
        let err = plan_of(ctx.path(), &["../f"], "/x", work.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "forbidden path outside the build context: ../f"
        );
        let err = plan_of(ctx.path(), &["nope"], "/x", work.path()).unwrap_err();
        assert!(matches!(err, BuildError::SourceNotFound(_)), "{err}");
        let err = plan_of(ctx.path(), &["f", "f"], "/x", work.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains("must be a directory and end with a /"),
            "{err}"
        );
    }
}
