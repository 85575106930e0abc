//! Who the container's process runs as: `-u`/the image's `User` (`name`,
//! `uid`, `name:group`, `uid:gid`) looked up in the image's own /etc/passwd
//! and /etc/group, plus `--group-add`, as docker does through runc's
//! `user.GetExecUser`.
//!
//! The files are read through [`RootDir`] (`openat2` with
//! `RESOLVE_IN_ROOT`): a hostile image may make /etc/passwd a symlink to
//! `/etc/shadow` or `../../../../etc/shadow`, and that must resolve to the
//! image's own file, never the host's. A missing file is an empty one (a
//! `FROM scratch` image has none; numeric ids still work).
//!
//! [`ensure_workdir`] makes the working directory inside the rootfs the
//! same safe way (docker creates a missing `WorkingDir`).

use std::io::Read;
use std::path::Path;

use berth_runtime::in_root::RootDir;

use super::SpecError;

/// The largest id docker and runc accept (`user.GetExecUser`: ids are
/// positive int32).
const MAX_ID: u64 = i32::MAX as u64;

/// The identity resolved for a container's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: the primary group, groups of /etc/group
    /// listing the user, then `--group-add`, without duplicates.
    pub additional_gids: Vec<u32>,
    /// The passwd entry's home directory (`/` without one), for `HOME`.
    pub home: String,
}

/// One line of /etc/passwd: `name:x:uid:gid:gecos:home:shell`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// One line of /etc/group: `name:x:gid:member,member`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Parses /etc/passwd text; malformed lines are skipped (as libc and runc do).
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// Parses /etc/group text; malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// A numeric id in docker's range, or `None` if `s` is not a number.
fn numeric_id(s: &str) -> Result<Option<u32>, SpecError> {
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    match s.parse::<u64>() {
        Ok(n) if n <= MAX_ID => Ok(Some(n as u32)),
        _ => Err(SpecError::invalid(format!(
            "uids and gids must be in range 0-{MAX_ID}: {s}"
        ))),
    }
}

/// Resolves a user spec against parsed passwd and group entries (pure: the
/// files are read by [`resolve_user`]).
pub fn resolve_user_in(
    spec: &str,
    group_add: &[String],
    passwd: &[PasswdEntry],
    groups: &[GroupEntry],
) -> Result<ExecUser, SpecError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    // An empty user is root, found by uid 0 (for its home and gid).
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let uid_arg = numeric_id(user_part)?;
    let entry = passwd
        .iter()
        .find(|p| p.name == user_part || Some(p.uid) == uid_arg);
    let (uid, mut gid, home, name) = match (entry, uid_arg) {
        (Some(p), _) => (p.uid, p.gid, p.home.clone(), Some(p.name.as_str())),
        (None, Some(uid)) => (uid, 0, "/".to_string(), None),
        (None, None) => return Err(SpecError::UserNotFound(user_part.to_string())),
    };
    let lookup_group = |g: &str| -> Result<u32, SpecError> {
        let gid_arg = numeric_id(g)?;
        match groups
            .iter()
            .find(|e| e.name == g || Some(e.gid) == gid_arg)
        {
            Some(e) => Ok(e.gid),
            None => gid_arg.ok_or_else(|| SpecError::GroupNotFound(g.to_string())),
        }
    };
    // Docker (20.10) lists the primary group first among the supplementary
    // ones, so a process keeps it even after a setgid(2) to another group.
    let mut additional = Vec::new();
    match group_part {
        Some(g) if !g.is_empty() => gid = lookup_group(g)?,
        _ => {
            if let Some(name) = name {
                additional.extend(
                    groups
                        .iter()
                        .filter(|g| g.members.iter().any(|m| m == name))
                        .map(|g| g.gid),
                );
            }
        }
    }
    for g in group_add {
        additional.push(lookup_group(g)?);
    }
    additional.insert(0, gid);
    let mut seen = Vec::new();
    additional.retain(|g| {
        let new = !seen.contains(g);
        seen.push(*g);
        new
    });
    Ok(ExecUser {
        uid,
        gid,
        additional_gids: additional,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

/// Reads a file inside the rootfs without leaving it; a missing file is "".
fn read_in_root(root: &RootDir, rel: &str) -> Result<String, SpecError> {
    let fd = match root.open_in_root(rel, libc::O_RDONLY) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(String::new()),
        Err(source) => {
            return Err(SpecError::Io {
                what: "open",
                path: format!("{}{rel}", root.path().display()),
                source,
            })
        }
    };
    let mut text = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut text)
        .map_err(|source| SpecError::Io {
            what: "read",
            path: format!("{}{rel}", root.path().display()),
            source,
        })?;
    Ok(text)
}

/// Resolves `spec` (`""` is root) and `group_add` against the /etc/passwd
/// and /etc/group of the rootfs at `rootfs` (a host path).
pub fn resolve_user(
    rootfs: &Path,
    spec: &str,
    group_add: &[String],
) -> Result<ExecUser, SpecError> {
    let root = RootDir::open(rootfs).map_err(|source| SpecError::Io {
        what: "open rootfs",
        path: rootfs.display().to_string(),
        source,
    })?;
    let passwd = parse_passwd(&read_in_root(&root, "/etc/passwd")?);
    let groups = parse_group(&read_in_root(&root, "/etc/group")?);
    resolve_user_in(spec, group_add, &passwd, &groups)
}

/// Makes the working directory `cwd` (absolute, in the container) and its
/// missing parents inside the rootfs at `rootfs`, never following a symlink
/// out of it. Call after the rootfs is mounted, before the runtime starts.
pub fn ensure_workdir(rootfs: &Path, cwd: &str) -> Result<(), SpecError> {
    let io = |what, source| SpecError::Io {
        what,
        path: format!("{}{cwd}", rootfs.display()),
        source,
    };
    let root = RootDir::open(rootfs).map_err(|e| io("open rootfs for working directory", e))?;
    root.create_dir_all(cwd)
        .map_err(|e| io("create working directory", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        user:x:1000:1000:user:/home/user:/bin/sh\n\
        nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
        broken line\n";
    const GROUP: &str =
        "root:x:0:\nuser:x:1000:\nextra:x:2000:user,other\nwheel:x:10:root\nnogroup:x:65534:\n";

    fn resolve(spec: &str, add: &[&str]) -> Result<ExecUser, SpecError> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        resolve_user_in(spec, &add, &parse_passwd(PASSWD), &parse_group(GROUP))
    }

    #[test]
    fn parses_files() {
        assert_eq!(parse_passwd(PASSWD).len(), 3);
        let g = parse_group(GROUP);
        assert_eq!(g[2].members, ["user", "other"]);
    }

    #[test]
    fn names_and_ids() {
        let root = resolve("", &[]).unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        assert_eq!(root.additional_gids, [0, 10]);
        let u = resolve("user", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, [1000, 2000]);
        let u = resolve("1000", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/home/user"));
        let u = resolve("nobody:extra", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (65534, 2000));
        let u = resolve("4242:4343", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 4343, "/"));
        let u = resolve("4242", &["extra", "77", "extra"]).unwrap();
        assert_eq!((u.uid, u.gid), (4242, 0));
        assert_eq!(u.additional_gids, [0, 2000, 77]);
        let u = resolve("user:user", &[]).unwrap();
        assert_eq!(u.additional_gids, [1000]);
    }

    #[test]
    fn unknown_names_are_docker_errors() {
        assert_eq!(
            resolve("ghost", &[]).unwrap_err().to_string(),
            "unable to find user ghost: no matching entries in passwd file"
        );
        assert_eq!(
            resolve("user:ghosts", &[]).unwrap_err().to_string(),
            "unable to find group ghosts: no matching entries in group file"
        );
        assert_eq!(
            resolve("user", &["ghosts"]).unwrap_err().to_string(),
            "unable to find group ghosts: no matching entries in group file"
        );
        assert!(resolve("99999999999", &[]).is_err());
    }

    #[test]
    fn files_are_read_inside_the_rootfs() {
        let base = std::env::temp_dir().join(format!("bt-spec-user-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let rootfs = base.join("rootfs");
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        // A host file the link points at, outside the rootfs.
        std::fs::write(base.join("host-passwd"), "ghost:x:7:7::/:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("../../host-passwd", rootfs.join("etc/passwd")).unwrap();
        let e = resolve_user(&rootfs, "ghost", &[]).unwrap_err();
        assert!(matches!(e, SpecError::UserNotFound(_)), "{e}");
        // A missing passwd is an empty one: numeric ids still work.
        let u = resolve_user(&rootfs, "5:6", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (5, 6));
        // ensure_workdir makes dirs inside, even through a symlink to /.
        std::os::unix::fs::symlink("/", rootfs.join("up")).unwrap();
        ensure_workdir(&rootfs, "/up/srv/app").unwrap();
        assert!(rootfs.join("srv/app").is_dir());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
