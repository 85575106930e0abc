//! `berth cp`: copies between a container and the local filesystem, with docker's rules
//! (docs.docker.com/reference/cli/docker/container/cp/, docker/cli `cp.go` and moby
//! `pkg/archive/copy.go`).
//!
//! The work is split the way docker splits it. The daemon only ever stats a container path,
//! sends the tar of one ([`archive_path`]) or extracts a tar into an existing directory
//! ([`extract_into`]). Everything that depends on what exists where is decided here, on the
//! client:
//!
//! | source | destination | result |
//! |---|---|---|
//! | file | missing | the file is saved at DEST |
//! | file | missing, ends with `/` | error: no such directory |
//! | file | existing file | DEST's contents are replaced |
//! | file | existing directory | copied into it under its own name |
//! | directory | missing | DEST is created with the directory's contents |
//! | directory | existing file | error: cannot copy a directory to a file |
//! | directory | existing directory | copied into it (`SRC/.`: its contents are) |
//!
//! The client implements this by choosing the directory the daemon extracts into (DEST or
//! its parent) and the name of the archive's top entry (docker's `RebaseArchiveEntries`).
//! `-L` follows a symlink SRC (docker follows only the last component; the archive keeps the
//! name the user asked for). `-` reads or writes a tar on stdin/stdout unchanged; a `-`
//! destination in a container must be a directory.
//!
//! How the gRPC side uses this (the `CopyFrom`/`CopyTo` calls):
//!
//! * `CTR:SRC LOCAL`: [`plan`], then with `-L` stat SRC and ask
//!   [`FromContainer::source_request`] which path to fetch; fetch its tar and stat; hand them
//!   to [`receive_into_local`].
//! * `LOCAL CTR:DST`: [`plan`]; stat DST (if it is a symlink, stat
//!   [`PathStat::link_target`] and use that path); [`ToContainer::prepare`] with the result;
//!   send [`send_local`]'s bytes to the daemon, which extracts them into
//!   [`PreparedSend::extract_dir`] (`ExtractOptions { no_overwrite_dir_non_dir: true,
//!   copy_uid_gid: -a }`).

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use berth_docker::cp_path::{
    container_path, prepare_archive_copy, rebase_entry, rebase_name, split_cp_arg, split_dir_entry,
    CpPathError, DestInfo,
};
use clap::Args;

use berth_docker::archive::copy_in::extract_renamed;
use berth_docker::archive::copy_out::open_root;
use berth_docker::archive::{archive_path_as, stat_path, ArchiveError, ExtractOptions, PathStat};

pub mod transfer;

#[cfg(doc)]
use berth_docker::archive::{archive_path, extract_into};

/// `berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-` and
/// `berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH`.
#[derive(Args, Debug, Clone)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information).
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// Suppress progress output during copy (berth prints none).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, or a local SRC_PATH, or - (a tar on stdin).
    pub src: String,
    /// DEST_PATH, or - (a tar on stdout), or CONTAINER:DEST_PATH.
    pub dest: String,
}

/// What `berth cp` can fail with (the CLI prints it and exits 1).
#[derive(Debug, thiserror::Error)]
pub enum CpError {
    /// Neither side names a container.
    #[error("must specify at least one container source")]
    NoContainer,
    /// Both sides name a container.
    #[error("copying between containers is not supported")]
    BetweenContainers,
    /// An empty path.
    #[error("{0} can not be empty")]
    EmptyPath(&'static str),
    /// A local path that does not exist.
    #[error("stat {0}: no such file or directory")]
    LocalNotFound(String),
    /// docker's path rules refuse the copy (berth-docker's `cp_path`).
    #[error(transparent)]
    Path(#[from] CpPathError),
    /// A destination that must be a directory.
    #[error("destination {0:?} must be a directory")]
    MustBeDirectory(String),
    /// A destination that is neither directory nor regular file.
    #[error("destination {0:?} must be a directory or a regular file")]
    BadDestinationType(String),
    /// Too many symlinks in a local destination.
    #[error("too many symlinks in {0}")]
    TooManySymlinks(String),
    /// Reading or writing the archive.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// Local I/O.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: io::Error,
    },
}

/// Where a local side reads or writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Local {
    /// `-`: a tar on stdin or stdout.
    Stdio,
    /// A local path, as the user wrote it.
    Path(String),
}

impl Local {
    fn from_arg(arg: &str) -> Local {
        if arg == "-" {
            Local::Stdio
        } else {
            Local::Path(arg.to_string())
        }
    }
}

/// A copy out of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FromContainer {
    /// The container name or id.
    pub container: String,
    /// SRC_PATH inside it.
    pub src_path: String,
    /// DEST_PATH or stdout.
    pub dest: Local,
    /// `-L`.
    pub follow_link: bool,
}

/// A copy into a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToContainer {
    /// The container name or id.
    pub container: String,
    /// DEST_PATH inside it.
    pub dst_path: String,
    /// SRC_PATH or stdin.
    pub src: Local,
    /// `-L`.
    pub follow_link: bool,
    /// `-a`: keep the archive's owners.
    pub copy_uid_gid: bool,
}

/// `berth cp`'s arguments, understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyPlan {
    /// `CTR:SRC DEST`.
    FromContainer(FromContainer),
    /// `SRC CTR:DEST`.
    ToContainer(ToContainer),
}

/// Understands `berth cp`'s arguments.
pub fn plan(args: &CpArgs) -> Result<CopyPlan, CpError> {
    if args.src.is_empty() {
        return Err(CpError::EmptyPath("source"));
    }
    if args.dest.is_empty() {
        return Err(CpError::EmptyPath("destination"));
    }
    match (split_cp_arg(&args.src), split_cp_arg(&args.dest)) {
        ((None, _), (None, _)) => Err(CpError::NoContainer),
        ((Some(_), _), (Some(_), _)) => Err(CpError::BetweenContainers),
        ((Some(ctr), src), (None, dest)) => Ok(CopyPlan::FromContainer(FromContainer {
            container: ctr.to_string(),
            src_path: container_path(src),
            dest: Local::from_arg(dest),
            follow_link: args.follow_link,
        })),
        ((None, src), (Some(ctr), dst)) => Ok(CopyPlan::ToContainer(ToContainer {
            container: ctr.to_string(),
            dst_path: container_path(dst),
            src: Local::from_arg(src),
            follow_link: args.follow_link,
            copy_uid_gid: args.archive,
        })),
    }
}

/// Which container path to fetch, and the name its entries must take locally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRequest {
    /// The container path to ask `CopyFrom` for.
    pub path: String,
    /// With `-L` through a symlink: the name the user asked for (docker's `RebaseName`).
    pub rebase_name: Option<String>,
}

impl FromContainer {
    /// The path to fetch. With `-L`, pass the stat of [`FromContainer::src_path`]: a symlink
    /// is replaced by its target, whose entries then take the link's name.
    pub fn source_request(&self, src_stat: Option<&PathStat>) -> SourceRequest {
        match src_stat {
            Some(stat) if self.follow_link && stat.is_symlink() && !stat.link_target.is_empty() => {
                let (path, rebase_name) = rebase_name(&self.src_path, &stat.link_target);
                SourceRequest { path, rebase_name }
            }
            _ => SourceRequest {
                path: self.src_path.clone(),
                rebase_name: None,
            },
        }
    }
}

/// An absolute local path (relative ones taken from the current directory), keeping a
/// trailing `/` or `/.`.
fn absolute_local(p: &str) -> Result<String, CpError> {
    if p.starts_with('/') {
        return Ok(p.to_string());
    }
    let cwd = std::env::current_dir().map_err(|e| CpError::Io {
        op: "get current directory for",
        path: p.to_string(),
        source: e,
    })?;
    Ok(format!("{}/{p}", cwd.display()))
}

/// docker's `CopyInfoDestinationPath` on the local filesystem: symlinks at DEST are followed
/// (it may be dangling: the copy creates its target); a missing DEST needs an existing parent
/// directory.
fn local_destination(dest: &str) -> Result<DestInfo, CpError> {
    let mut path = absolute_local(dest)?;
    for _ in 0..=10 {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&path).map_err(|e| CpError::Io {
                    op: "read link",
                    path: path.clone(),
                    source: e,
                })?;
                let target = target.to_string_lossy().into_owned();
                path = if target.starts_with('/') {
                    target
                } else {
                    format!("{}/{target}", split_dir_entry(&path).0)
                };
            }
            Ok(m) => {
                return Ok(DestInfo {
                    path,
                    exists: true,
                    is_dir: m.is_dir(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let parent = split_dir_entry(&path).0;
                return match std::fs::metadata(&parent) {
                    Ok(m) if m.is_dir() => Ok(DestInfo {
                        path,
                        exists: false,
                        is_dir: false,
                    }),
                    _ => Err(CpPathError::NoSuchDirectory(parent).into()),
                };
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                return Err(CpPathError::NoSuchDirectory(split_dir_entry(&path).0).into())
            }
            Err(e) => {
                return Err(CpError::Io {
                    op: "stat",
                    path,
                    source: e,
                })
            }
        }
    }
    Err(CpError::TooManySymlinks(dest.to_string()))
}

/// Receives the tar of a container path (`stat` as the daemon sent it, for the path
/// `request` asked for) into the local destination, or writes it unchanged to `stdout` for
/// `-`. Local files belong to the caller (docker: `NoLchown`); an existing directory is
/// never replaced by a file or the other way round.
pub fn receive_into_local(
    plan: &FromContainer,
    request: &SourceRequest,
    stat: &PathStat,
    tar: impl Read,
    stdout: &mut dyn Write,
) -> Result<(), CpError> {
    let dest = match &plan.dest {
        Local::Stdio => {
            let mut tar = tar;
            io::copy(&mut tar, stdout).map_err(|e| CpError::Io {
                op: "write",
                path: "stdout".to_string(),
                source: e,
            })?;
            return Ok(());
        }
        Local::Path(p) => p,
    };
    let dst = local_destination(dest)?;
    let top = stat.archive_name().to_string();
    let src_shown = format!("{}:{}", plan.container, request.path);
    let (extract_dir, new_top) = prepare_archive_copy(
        stat.is_dir(),
        &src_shown,
        request.rebase_name.as_deref(),
        &dst,
    )?;
    let root = open_root(Path::new("/"))?;
    let opts = ExtractOptions {
        no_overwrite_dir_non_dir: true,
        copy_uid_gid: false,
    };
    match new_top {
        Some(new) if new != top => extract_renamed(&root, &extract_dir, tar, opts, &|n| {
            rebase_entry(n, &top, &new)
        })?,
        _ => extract_renamed(&root, &extract_dir, tar, opts, &|n| Some(n.to_vec()))?,
    }
    Ok(())
}

/// What to send to the daemon for a copy into a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedSend {
    /// The container directory the daemon extracts into.
    pub extract_dir: String,
    /// What goes into the tar.
    pub source: SendSource,
}

/// The bytes of a copy into a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendSource {
    /// stdin, a tar passed on unchanged.
    Stdin,
    /// The local path (symlinks resolved as the rules say), its top entry named `top_name`.
    Path { path: PathBuf, top_name: String },
}

impl ToContainer {
    /// Applies docker's rules. `dst_path` is [`ToContainer::dst_path`], or the symlink's
    /// [`PathStat::link_target`] when DST was a symlink; `dst_stat` is that path's stat (none:
    /// it does not exist, in which case the daemon's extraction finds out whether its parent
    /// does).
    pub fn prepare(
        &self,
        dst_path: &str,
        dst_stat: Option<&PathStat>,
    ) -> Result<PreparedSend, CpError> {
        let shown = format!("{}:{}", self.container, self.dst_path);
        if let Some(stat) = dst_stat {
            if !stat.is_dir() && !stat.is_regular() {
                return Err(CpError::BadDestinationType(shown));
            }
        }
        let dst = DestInfo {
            path: dst_path.to_string(),
            exists: dst_stat.is_some(),
            is_dir: dst_stat.is_some_and(PathStat::is_dir),
        };
        let src = match &self.src {
            Local::Stdio => {
                if !dst.is_dir {
                    return Err(CpError::MustBeDirectory(shown));
                }
                return Ok(PreparedSend {
                    extract_dir: dst.path,
                    source: SendSource::Stdin,
                });
            }
            Local::Path(p) => p,
        };
        let abs = absolute_local(src)?;
        let stat = stat_path(Path::new("/"), &abs).map_err(|e| match e {
            ArchiveError::NotFound(_) => CpError::LocalNotFound(src.clone()),
            e => e.into(),
        })?;
        let (path, stat, rebase) = if self.follow_link && stat.is_symlink() {
            let (resolved, rebase) = rebase_name(&abs, &stat.link_target);
            let target_stat = stat_path(Path::new("/"), &resolved).map_err(|e| match e {
                ArchiveError::NotFound(_) => CpError::LocalNotFound(resolved.clone()),
                e => e.into(),
            })?;
            (resolved, target_stat, rebase)
        } else {
            (abs, stat, None)
        };
        let (extract_dir, new_top) =
            prepare_archive_copy(stat.is_dir(), src, rebase.as_deref(), &dst)?;
        let top_name = new_top.unwrap_or_else(|| stat.archive_name().to_string());
        Ok(PreparedSend {
            extract_dir,
            source: SendSource::Path {
                path: PathBuf::from(path),
                top_name,
            },
        })
    }
}

/// Writes the bytes [`PreparedSend`] describes to `out`: the tar of the local path, or
/// stdin's tar unchanged.
pub fn send_local(
    prepared: &PreparedSend,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
) -> Result<(), CpError> {
    match &prepared.source {
        SendSource::Stdin => {
            io::copy(stdin, out).map_err(|e| CpError::Io {
                op: "read",
                path: "stdin".to_string(),
                source: e,
            })?;
        }
        SendSource::Path { path, top_name } => {
            let p = path.to_string_lossy();
            archive_path_as(Path::new("/"), &p, Some(top_name), out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_docker::archive::{archive_path, extract_into};
    use std::os::unix::fs::symlink;

    fn args(src: &str, dest: &str) -> CpArgs {
        CpArgs {
            archive: false,
            follow_link: false,
            quiet: false,
            src: src.into(),
            dest: dest.into(),
        }
    }

    #[test]
    fn arguments_split_like_docker() {
        assert_eq!(split_cp_arg("ctr:/etc"), (Some("ctr"), "/etc"));
        assert_eq!(split_cp_arg("/abs:x"), (None, "/abs:x"));
        assert_eq!(split_cp_arg("./file:name"), (None, "./file:name"));
        assert_eq!(split_cp_arg("file"), (None, "file"));
        assert_eq!(split_cp_arg("ctr:rel/x"), (Some("ctr"), "rel/x"));
        assert!(matches!(plan(&args("a", "b")), Err(CpError::NoContainer)));
        assert!(matches!(
            plan(&args("a:/x", "b:/y")),
            Err(CpError::BetweenContainers)
        ));
        assert_eq!(
            plan(&args("", "b:/y")).unwrap_err().to_string(),
            "source can not be empty"
        );
        assert_eq!(
            plan(&args("ctr:etc/", "-")).unwrap(),
            CopyPlan::FromContainer(FromContainer {
                container: "ctr".into(),
                src_path: "/etc/".into(),
                dest: Local::Stdio,
                follow_link: false,
            })
        );
        let mut a = args("./f", "ctr:/tmp");
        a.archive = true;
        a.follow_link = true;
        assert_eq!(
            plan(&a).unwrap(),
            CopyPlan::ToContainer(ToContainer {
                container: "ctr".into(),
                dst_path: "/tmp".into(),
                src: Local::Path("./f".into()),
                follow_link: true,
                copy_uid_gid: true,
            })
        );
    }

    /// A container rootfs: /file, /dir/{a,sub/b}, /link -> /dir, /flink -> file.
    fn container(sb: &Path) -> PathBuf {
        let root = sb.join("rootfs");
        std::fs::create_dir_all(root.join("dir/sub")).unwrap();
        std::fs::write(root.join("file"), "F").unwrap();
        std::fs::write(root.join("dir/a"), "A").unwrap();
        std::fs::write(root.join("dir/sub/b"), "B").unwrap();
        symlink("/dir", root.join("link")).unwrap();
        symlink("file", root.join("flink")).unwrap();
        root
    }

    /// The lead's `CTR:SRC DEST` flow, with the daemon's calls made in-process.
    fn copy_from(root: &Path, src: &str, dest: &str, follow: bool) -> Result<Vec<u8>, CpError> {
        let mut a = args(&format!("ctr:{src}"), dest);
        a.follow_link = follow;
        let CopyPlan::FromContainer(p) = plan(&a)? else {
            panic!("not a copy from a container")
        };
        let first = stat_path(root, &p.src_path).ok();
        let request = p.source_request(first.as_ref());
        let mut tar = Vec::new();
        let stat = archive_path(root, &request.path, &mut tar)?;
        let mut stdout = Vec::new();
        receive_into_local(&p, &request, &stat, &tar[..], &mut stdout)?;
        Ok(stdout)
    }

    /// The lead's `SRC CTR:DEST` flow, with the daemon's calls made in-process.
    fn copy_to(
        root: &Path,
        src: &str,
        dst: &str,
        follow: bool,
        stdin: &[u8],
    ) -> Result<(), CpError> {
        let mut a = args(src, &format!("ctr:{dst}"));
        a.follow_link = follow;
        let CopyPlan::ToContainer(p) = plan(&a)? else {
            panic!("not a copy into a container")
        };
        let mut dst_path = p.dst_path.clone();
        let mut dst_stat = stat_path(root, &dst_path).ok();
        if let Some(s) = dst_stat.clone().filter(PathStat::is_symlink) {
            dst_path = s.link_target.clone();
            dst_stat = stat_path(root, &dst_path).ok();
        }
        let prepared = p.prepare(&dst_path, dst_stat.as_ref())?;
        let mut body = Vec::new();
        send_local(&prepared, &mut &stdin[..], &mut body)?;
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir: true,
            copy_uid_gid: p.copy_uid_gid,
        };
        extract_into(root, &prepared.extract_dir, &body[..], opts)?;
        Ok(())
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn copies_out_of_a_container_follow_the_rules_table() {
        let sb = tempfile::Builder::new()
            .prefix("bt-archive-cp-")
            .tempdir()
            .unwrap();
        let root = container(sb.path());
        let out = sb.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let o = |p: &str| format!("{}/{p}", out.display());

        // file -> missing: saved under the new name
        copy_from(&root, "/file", &o("new"), false).unwrap();
        assert_eq!(read(&out.join("new")), "F");
        // file -> missing with a trailing `/`: no such directory
        let e = copy_from(&root, "/file", &o("nodir/"), false).unwrap_err();
        assert!(
            matches!(e, CpError::Path(CpPathError::NoSuchDirectory(_))),
            "{e}"
        );
        assert!(!out.join("nodir").exists());
        // file -> existing file: replaced
        std::fs::write(out.join("existing"), "old contents").unwrap();
        copy_from(&root, "/file", &o("existing"), false).unwrap();
        assert_eq!(read(&out.join("existing")), "F");
        // file -> existing dir: copied into it
        std::fs::create_dir(out.join("d")).unwrap();
        copy_from(&root, "/file", &o("d"), false).unwrap();
        assert_eq!(read(&out.join("d/file")), "F");
        // dir -> missing: created with the contents
        copy_from(&root, "/dir", &o("copy"), false).unwrap();
        assert_eq!(read(&out.join("copy/sub/b")), "B");
        assert!(!out.join("copy/dir").exists());
        // dir -> existing file: error
        let e = copy_from(&root, "/dir", &o("existing"), false).unwrap_err();
        assert!(
            matches!(e, CpError::Path(CpPathError::CannotCopyDir { .. })),
            "{e}"
        );
        // dir -> existing dir: copied into it; dir/. -> its contents
        copy_from(&root, "/dir", &o("d"), false).unwrap();
        assert_eq!(read(&out.join("d/dir/a")), "A");
        std::fs::create_dir(out.join("e")).unwrap();
        copy_from(&root, "/dir/.", &o("e"), false).unwrap();
        assert_eq!(read(&out.join("e/a")), "A");
        // a symlink: copied as one, or followed with -L under the link's name
        copy_from(&root, "/link", &o("nolink"), false).unwrap();
        assert_eq!(
            std::fs::read_link(out.join("nolink")).unwrap(),
            Path::new("/dir")
        );
        copy_from(&root, "/link", &o("d"), true).unwrap();
        assert_eq!(read(&out.join("d/link/sub/b")), "B");
        copy_from(&root, "/flink", &o("f2"), true).unwrap();
        assert_eq!(read(&out.join("f2")), "F");
        // `-`: the daemon's tar, unchanged
        let raw = copy_from(&root, "/dir", "-", false).unwrap();
        let mut direct = Vec::new();
        archive_path(&root, "/dir", &mut direct).unwrap();
        assert_eq!(raw, direct);
        // a missing source
        let e = copy_from(&root, "/missing", &o("x"), false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "could not find the file /missing in container"
        );
    }

    #[test]
    fn copies_into_a_container_follow_the_rules_table() {
        let sb = tempfile::Builder::new()
            .prefix("bt-archive-cp-")
            .tempdir()
            .unwrap();
        let root = container(sb.path());
        let local = sb.path().join("local");
        std::fs::create_dir_all(local.join("tree/sub")).unwrap();
        std::fs::write(local.join("f"), "local f").unwrap();
        std::fs::write(local.join("tree/x"), "X").unwrap();
        std::fs::write(local.join("tree/sub/y"), "Y").unwrap();
        symlink("tree", local.join("tlink")).unwrap();
        let l = |p: &str| format!("{}/{p}", local.display());

        // file -> missing: created under the new name
        copy_to(&root, &l("f"), "/newfile", false, b"").unwrap();
        assert_eq!(read(&root.join("newfile")), "local f");
        // file -> missing with `/`: no such directory
        let e = copy_to(&root, &l("f"), "/nodir/", false, b"").unwrap_err();
        assert!(
            matches!(e, CpError::Path(CpPathError::NoSuchDirectory(_))),
            "{e}"
        );
        assert!(!root.join("nodir").exists());
        // file -> existing file: replaced
        copy_to(&root, &l("f"), "/file", false, b"").unwrap();
        assert_eq!(read(&root.join("file")), "local f");
        // file -> existing dir: into it
        copy_to(&root, &l("f"), "/dir", false, b"").unwrap();
        assert_eq!(read(&root.join("dir/f")), "local f");
        // dir -> missing: created with the contents
        copy_to(&root, &l("tree"), "/newdir", false, b"").unwrap();
        assert_eq!(read(&root.join("newdir/sub/y")), "Y");
        // dir -> existing file: error
        let e = copy_to(&root, &l("tree"), "/file", false, b"").unwrap_err();
        assert!(
            matches!(e, CpError::Path(CpPathError::CannotCopyDir { .. })),
            "{e}"
        );
        // dir/. -> existing dir: the contents merge in
        copy_to(&root, &l("tree/."), "/dir", false, b"").unwrap();
        assert_eq!(read(&root.join("dir/x")), "X");
        assert_eq!(read(&root.join("dir/a")), "A");
        // a destination symlink is followed (inside the container)
        copy_to(&root, &l("f"), "/link", false, b"").unwrap();
        assert!(root.join("link").is_symlink());
        // -L on the source: its target under the link's name
        copy_to(&root, &l("tlink"), "/dir", true, b"").unwrap();
        assert_eq!(read(&root.join("dir/tlink/sub/y")), "Y");
        copy_to(&root, &l("tlink"), "/", false, b"").unwrap();
        assert_eq!(
            std::fs::read_link(root.join("tlink")).unwrap(),
            Path::new("tree")
        );
        // stdin: a tar into a directory only
        let mut tar = Vec::new();
        archive_path(&local, "/f", &mut tar).unwrap();
        copy_to(&root, "-", "/dir/sub", false, &tar).unwrap();
        assert_eq!(read(&root.join("dir/sub/f")), "local f");
        let e = copy_to(&root, "-", "/file", false, &tar).unwrap_err();
        assert_eq!(
            e.to_string(),
            "destination \"ctr:/file\" must be a directory"
        );
        // a missing local source
        let e = copy_to(&root, &l("missing"), "/dir", false, b"").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("stat {}: no such file or directory", l("missing"))
        );
    }
}
