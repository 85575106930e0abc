//! The container's mounts: docker's defaults (`/proc`, `/dev`, `/dev/pts`,
//! `/sys`, `/sys/fs/cgroup`, `/dev/mqueue`, `/dev/shm`; moby
//! `oci/defaults.go`) and the user's `-v`, `--mount` and `--tmpfs`, parsed
//! here into [`UserMount`] and turned into OCI `mounts` entries.
//!
//! * Binds are `rbind` (`bind` with `bind-nonrecursive`), `rprivate` unless a
//!   propagation is given, `ro` when read-only (moby `daemon/oci_linux.go`
//!   `WithMounts`).
//! * tmpfs gets `noexec,nosuid,nodev` before the user's options, which win
//!   on conflict (moby `MergeTmpfsOptions`).
//! * A user mount at the destination of a default replaces it (`--tmpfs
//!   /dev/shm`, `-v /x:/dev/mqueue`); user mounts are ordered by path depth
//!   so a parent is mounted before what is mounted inside it.
//! * SELinux relabel modes `z`/`Z` are accepted and have no effect: Berth
//!   applies no SELinux labels (README), as docker on a host without SELinux.
//! * Named and anonymous volumes (`-v NAME:/ctr`, `-v /ctr`,
//!   `--mount type=volume`) parse into [`UserMount::Volume`]; the volumes
//!   service (`crate::volumes`) resolves them to host directories at create
//!   and [`super::build_spec`] mounts each as an `rbind`, `rprivate` bind of
//!   the volume's `_data` directory ([`VolumeBind`]), as docker does.

use berth_oci::Mount;

use super::SpecError;
use berth_docker::size::parse_bytes;

/// Mount propagation of a bind (`mount(8)` "shared subtree").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Shared,
    Rshared,
    Slave,
    Rslave,
    Private,
    Rprivate,
}

impl Propagation {
    fn parse(s: &str) -> Option<Propagation> {
        Some(match s {
            "shared" => Self::Shared,
            "rshared" => Self::Rshared,
            "slave" => Self::Slave,
            "rslave" => Self::Rslave,
            "private" => Self::Private,
            "rprivate" => Self::Rprivate,
            _ => return None,
        })
    }

    /// The OCI mount option.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::Rshared => "rshared",
            Self::Slave => "slave",
            Self::Rslave => "rslave",
            Self::Private => "private",
            Self::Rprivate => "rprivate",
        }
    }
}

/// A mount the user asked for, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserMount {
    /// A host path bind-mounted into the container.
    Bind {
        /// Absolute host path.
        source: String,
        /// Absolute container path.
        target: String,
        read_only: bool,
        propagation: Propagation,
        /// `false` for `bind-nonrecursive`.
        recursive: bool,
        /// `-v` makes a missing source directory (docker's legacy
        /// behaviour); `--mount` refuses it.
        create_source: bool,
    },
    /// A fresh tmpfs.
    Tmpfs {
        target: String,
        /// Every option, defaults merged (`noexec`, `nosuid`, `size=64m` ...).
        options: Vec<String>,
    },
    /// A named (`-v NAME:/ctr`) or anonymous (`-v /ctr`, `name: None`)
    /// volume; mounted through the [`VolumeBind`] the volumes service
    /// resolves it to.
    Volume {
        /// A valid volume name, or `None` for a new anonymous volume.
        name: Option<String>,
        target: String,
        read_only: bool,
        /// `nocopy` / `volume-nocopy`: do not fill it from the image.
        no_copy: bool,
        /// `--mount volume-label=`/`volume-opt=`: used only when the
        /// volume is created by this mount.
        create_with: VolumeCreateOptions,
    },
}

pub use crate::volumes::VolumeCreateOptions;

/// A volume resolved to its host directory: mounted like docker mounts
/// volumes (`rbind`, `rprivate`, `ro` when read-only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeBind {
    /// The volume's `_data` directory on the host.
    pub source: String,
    /// Absolute, clean container path.
    pub target: String,
    pub read_only: bool,
}

impl VolumeBind {
    /// The bind mount of the volume.
    pub fn to_user_mount(&self) -> UserMount {
        UserMount::Bind {
            source: self.source.clone(),
            target: self.target.clone(),
            read_only: self.read_only,
            propagation: Propagation::Rprivate,
            recursive: true,
            create_source: false,
        }
    }
}

impl UserMount {
    /// The container path.
    pub fn target(&self) -> &str {
        match self {
            UserMount::Bind { target, .. }
            | UserMount::Tmpfs { target, .. }
            | UserMount::Volume { target, .. } => target,
        }
    }

    /// The OCI mount entry. A [`UserMount::Volume`] has no host path of its
    /// own: [`super::build_spec`] replaces it by its [`VolumeBind`] first,
    /// and this gives the `volume` entry docker's API shows for it.
    pub fn to_oci(&self) -> Mount {
        match self {
            UserMount::Bind {
                source,
                target,
                read_only,
                propagation,
                recursive,
                ..
            } => {
                let mut options = vec![if *recursive { "rbind" } else { "bind" }.to_string()];
                if *read_only {
                    options.push("ro".into());
                }
                options.push(propagation.as_str().into());
                Mount {
                    destination: target.clone(),
                    kind: Some("bind".into()),
                    source: Some(source.clone()),
                    options,
                    ..Default::default()
                }
            }
            UserMount::Tmpfs { target, options } => Mount {
                destination: target.clone(),
                kind: Some("tmpfs".into()),
                source: Some("tmpfs".into()),
                options: options.clone(),
                ..Default::default()
            },
            UserMount::Volume {
                name,
                target,
                read_only,
                ..
            } => Mount {
                destination: target.clone(),
                kind: Some("volume".into()),
                source: name.clone(),
                options: if *read_only {
                    vec!["ro".into()]
                } else {
                    vec![]
                },
                ..Default::default()
            },
        }
    }
}

/// A clean absolute container path other than `/` (image `VOLUME`s).
pub fn container_path_of(path: &str) -> Result<String, SpecError> {
    container_path(path, path, "volume")
}

/// docker's volume name rule `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
fn volume_name_ok(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.len() > 1
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// A container path: absolute, not `/`, cleaned of `.`, `..` and `//`.
fn container_path(path: &str, spec: &str, kind: &str) -> Result<String, SpecError> {
    if !path.starts_with('/') {
        return Err(SpecError::invalid(format!(
            "invalid mount config for type \"{kind}\": invalid mount path: '{path}' mount path must be absolute ({spec})"
        )));
    }
    let clean = berth_runtime::in_root::normalize(std::path::Path::new(path))
        .to_string_lossy()
        .into_owned();
    if clean == "/" {
        return Err(SpecError::invalid(format!(
            "invalid specification: destination can't be '/' ({spec})"
        )));
    }
    Ok(clean)
}

/// Parses a `-v`/`--volume` spec `HOST:CTR[:MODES]` (docker's Linux parser):
/// MODES is a comma list of at most one of `ro`/`rw`, one propagation
/// (`shared`, `rslave`, ...), and `z`/`Z`; for volumes `nocopy` too and no
/// propagation. `NAME:CTR` is a named volume, `/ctr` alone an anonymous one.
pub fn parse_bind(spec: &str) -> Result<UserMount, SpecError> {
    let bad = || SpecError::invalid(format!("invalid volume specification: '{spec}'"));
    // docker's CLI finds no source in `:/data` (an empty section before
    // the first colon) and keeps the whole spec as an anonymous volume's
    // destination (`Config.Volumes[":/data"]`); its daemon cleans it as a
    // path, and the runtime puts the relative destination under the
    // container's root (`/:/data`). The same here.
    if spec.len() > 2 && spec.starts_with(':') {
        return Ok(UserMount::Volume {
            name: None,
            target: berth_runtime::in_root::normalize(std::path::Path::new(spec))
                .to_string_lossy()
                .into_owned(),
            read_only: false,
            no_copy: false,
            create_with: Default::default(),
        });
    }
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, modes) = match parts.as_slice() {
        [t] if !t.is_empty() => {
            return Ok(UserMount::Volume {
                name: None,
                target: container_path(t, spec, "volume")?,
                read_only: false,
                no_copy: false,
                create_with: Default::default(),
            })
        }
        [s, t] => (*s, *t, ""),
        [s, t, m] => (*s, *t, *m),
        _ => return Err(bad()),
    };
    if source.is_empty() || target.is_empty() {
        return Err(bad());
    }
    if !source.starts_with('/') {
        // Docker's volume name rule; anything else was meant as a path.
        if !volume_name_ok(source) {
            return Err(SpecError::invalid(format!(
                "invalid volume specification: '{spec}': \"{source}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        return parse_volume_modes(spec, source, target, modes);
    }
    let target = container_path(target, spec, "bind")?;
    let mut read_only = None;
    let mut propagation = None;
    let mut relabel = false;
    let bad_mode = |m: &str| {
        SpecError::invalid(format!(
            "invalid volume specification: '{spec}': invalid mode: {m}"
        ))
    };
    for mode in modes.split(',').filter(|m| !m.is_empty()) {
        match mode {
            "ro" | "rw" if read_only.is_none() => read_only = Some(mode == "ro"),
            "z" | "Z" if !relabel => relabel = true,
            // Docker for Mac's consistency hints: accepted, no effect on Linux.
            "consistent" | "cached" | "delegated" => {}
            m => match Propagation::parse(m) {
                Some(p) if propagation.is_none() => propagation = Some(p),
                _ => return Err(bad_mode(modes)),
            },
        }
    }
    Ok(UserMount::Bind {
        source: berth_runtime::in_root::normalize(std::path::Path::new(source))
            .to_string_lossy()
            .into_owned(),
        target,
        read_only: read_only.unwrap_or(false),
        propagation: propagation.unwrap_or(Propagation::Rprivate),
        recursive: true,
        create_source: true,
    })
}

/// The modes of `-v NAME:CTR:MODES`: `ro`/`rw`, `nocopy`, `z`/`Z`
/// (moby's `linuxValidMountMode` for volumes: propagation is a bind's).
fn parse_volume_modes(
    spec: &str,
    name: &str,
    target: &str,
    modes: &str,
) -> Result<UserMount, SpecError> {
    let target = container_path(target, spec, "volume")?;
    let mut read_only = None;
    let mut no_copy = false;
    let mut relabel = false;
    for mode in modes.split(',').filter(|m| !m.is_empty()) {
        match mode {
            "ro" | "rw" if read_only.is_none() => read_only = Some(mode == "ro"),
            "nocopy" if !no_copy => no_copy = true,
            "z" | "Z" if !relabel => relabel = true,
            "consistent" | "cached" | "delegated" => {}
            _ => {
                return Err(SpecError::invalid(format!(
                    "invalid volume specification: '{spec}': invalid mode: {modes}"
                )))
            }
        }
    }
    Ok(UserMount::Volume {
        name: Some(name.to_string()),
        target,
        read_only: read_only.unwrap_or(false),
        no_copy,
        create_with: Default::default(),
    })
}

/// A `--mount` boolean: the bare key, or `=true|1|false|0`.
fn mount_bool(key: &str, value: Option<&str>, field: &str) -> Result<bool, SpecError> {
    match value {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(v) => Err(SpecError::invalid(format!(
            "invalid value for {key}: {v} ({field})"
        ))),
    }
}

/// Parses a `--mount` spec: comma-separated `key=value` fields, `type=bind`
/// (`source|src`, `target|destination|dst`, `readonly|ro`,
/// `bind-propagation`, `bind-nonrecursive`), `type=tmpfs` (`tmpfs-size`,
/// `tmpfs-mode`) or `type=volume`, docker's default (`source` a volume
/// name or none for an anonymous volume, `volume-nocopy`,
/// `volume-driver=local`, `volume-label=K=V` and `volume-opt=K=V` for a
/// volume this mount creates).
pub fn parse_mount(spec: &str) -> Result<UserMount, SpecError> {
    let mut kind = None;
    let mut source = None;
    let mut target = None;
    let mut read_only = false;
    let mut propagation = None;
    let mut recursive = true;
    let mut tmpfs_size = None;
    let mut tmpfs_mode = None;
    let mut no_copy = false;
    let mut create_with = VolumeCreateOptions::default();
    // Options of another mount type given (docker refuses them).
    let mut bind_options = false;
    let mut volume_options = false;
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (field.trim(), None),
        };
        let need = || -> Result<&str, SpecError> {
            value.ok_or_else(|| {
                SpecError::invalid(format!("invalid field '{field}' must be a key=value pair"))
            })
        };
        match key.to_ascii_lowercase().as_str() {
            "type" => kind = Some(need()?.to_string()),
            "source" | "src" => source = Some(need()?.to_string()),
            "target" | "destination" | "dst" => target = Some(need()?.to_string()),
            "readonly" | "ro" => read_only = mount_bool(key, value, field)?,
            "bind-propagation" => {
                bind_options = true;
                let v = need()?;
                propagation =
                    Some(Propagation::parse(v).ok_or_else(|| {
                        SpecError::invalid(format!("invalid bind-propagation: {v}"))
                    })?);
            }
            "bind-nonrecursive" => {
                bind_options = true;
                recursive = !mount_bool(key, value, field)?
            }
            "tmpfs-size" => tmpfs_size = Some(parse_bytes(need()?)?),
            "tmpfs-mode" => {
                let v = need()?;
                tmpfs_mode = Some(u32::from_str_radix(v, 8).map_err(|_| {
                    SpecError::invalid(format!("invalid tmpfs-mode: {v}: must be octal"))
                })?);
            }
            "consistency" => {}
            "volume-nocopy" => {
                volume_options = true;
                no_copy = mount_bool(key, value, field)?
            }
            "volume-driver" => {
                let v = need()?;
                if v != "local" {
                    return Err(SpecError::invalid(format!(
                        "invalid volume-driver: {v}: berth has only the local driver"
                    )));
                }
                volume_options = true;
            }
            "volume-label" | "volume-opt" => {
                volume_options = true;
                let v = need()?;
                let (k, val) = v.split_once('=').unwrap_or((v, ""));
                if k.is_empty() {
                    return Err(SpecError::invalid(format!(
                        "invalid {key}: {v:?}: want KEY=VALUE"
                    )));
                }
                let map = if key.eq_ignore_ascii_case("volume-label") {
                    &mut create_with.labels
                } else {
                    &mut create_with.options
                };
                map.insert(k.to_string(), val.to_string());
            }
            _ => {
                return Err(SpecError::invalid(format!(
                    "unexpected key '{key}' in '{field}'"
                )))
            }
        }
    }
    let kind = kind.unwrap_or_else(|| "volume".into());
    let target = target.ok_or_else(|| {
        SpecError::invalid(format!(
            "invalid mount config for type \"{kind}\": field Target must not be empty"
        ))
    })?;
    if kind != "volume" && volume_options {
        return Err(SpecError::invalid(format!(
            "invalid mount config for type \"{kind}\": field VolumeOptions must not be specified"
        )));
    }
    match kind.as_str() {
        "bind" => {
            if tmpfs_size.is_some() || tmpfs_mode.is_some() {
                return Err(SpecError::invalid(
                    "invalid mount config for type \"bind\": tmpfs options are not allowed",
                ));
            }
            let source = source.filter(|s| !s.is_empty()).ok_or_else(|| {
                SpecError::invalid(
                    "invalid mount config for type \"bind\": field Source must not be empty",
                )
            })?;
            if !source.starts_with('/') {
                return Err(SpecError::invalid(format!(
                    "invalid mount config for type \"bind\": invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            Ok(UserMount::Bind {
                source,
                target: container_path(&target, spec, "bind")?,
                read_only,
                propagation: propagation.unwrap_or(Propagation::Rprivate),
                recursive,
                create_source: false,
            })
        }
        "tmpfs" => {
            if source.is_some() {
                return Err(SpecError::invalid(
                    "invalid mount config for type \"tmpfs\": field Source must be empty",
                ));
            }
            let mut extra = Vec::new();
            if read_only {
                extra.push("ro".to_string());
            }
            if let Some(size) = tmpfs_size {
                extra.push(format!("size={size}"));
            }
            if let Some(mode) = tmpfs_mode {
                extra.push(format!("mode={mode:o}"));
            }
            Ok(UserMount::Tmpfs {
                target: container_path(&target, spec, "tmpfs")?,
                options: merge_tmpfs_options(&extra)?,
            })
        }
        "volume" => {
            if bind_options {
                return Err(SpecError::invalid(
                    "invalid mount config for type \"volume\": field BindOptions must not be specified",
                ));
            }
            if tmpfs_size.is_some() || tmpfs_mode.is_some() {
                return Err(SpecError::invalid(
                    "invalid mount config for type \"volume\": field TmpfsOptions must not be specified",
                ));
            }
            let name = source.filter(|s| !s.is_empty());
            if let Some(n) = &name {
                if !volume_name_ok(n) {
                    return Err(SpecError::invalid(format!(
                        "invalid mount config for type \"volume\": \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
                    )));
                }
            }
            Ok(UserMount::Volume {
                name,
                target: container_path(&target, spec, "volume")?,
                read_only,
                no_copy,
                create_with,
            })
        }
        other => Err(SpecError::invalid(format!(
            "invalid mount type: {other:?} (berth supports bind, tmpfs and volume)"
        ))),
    }
}

/// Parses `--tmpfs PATH[:OPTIONS]` (`/run:rw,size=64m,mode=1777`).
pub fn parse_tmpfs(spec: &str) -> Result<UserMount, SpecError> {
    let (path, opts) = spec.split_once(':').unwrap_or((spec, ""));
    let options: Vec<String> = opts
        .split(',')
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect();
    Ok(UserMount::Tmpfs {
        target: container_path(path, spec, "tmpfs")?,
        options: merge_tmpfs_options(&options)?,
    })
}

/// tmpfs flags and the flag each one cancels.
const TMPFS_FLAGS: [(&str, &str); 14] = [
    ("rw", "ro"),
    ("ro", "rw"),
    ("exec", "noexec"),
    ("noexec", "exec"),
    ("suid", "nosuid"),
    ("nosuid", "suid"),
    ("dev", "nodev"),
    ("nodev", "dev"),
    ("atime", "noatime"),
    ("noatime", "atime"),
    ("diratime", "nodiratime"),
    ("nodiratime", "diratime"),
    ("strictatime", "relatime"),
    ("relatime", "strictatime"),
];

/// tmpfs `key=value` options (`tmpfs(5)`).
const TMPFS_KEYS: [&str; 8] = [
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
    "huge",
];

/// docker's tmpfs defaults merged with `user` options: a later flag cancels
/// its opposite, a later `key=` replaces the earlier. Unknown options are
/// refused: `invalid tmpfs option "foo"`.
pub fn merge_tmpfs_options(user: &[String]) -> Result<Vec<String>, SpecError> {
    let mut out: Vec<String> = ["noexec", "nosuid", "nodev"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for opt in user {
        if let Some((key, _)) = opt.split_once('=') {
            if !TMPFS_KEYS.contains(&key) {
                return Err(SpecError::invalid(format!("invalid tmpfs option {opt:?}")));
            }
            out.retain(|o| o.split_once('=').map(|(k, _)| k) != Some(key));
        } else if let Some((_, opposite)) = TMPFS_FLAGS.iter().find(|(f, _)| f == opt) {
            out.retain(|o| o != opposite && o != opt);
        } else if Propagation::parse(opt).is_none() {
            return Err(SpecError::invalid(format!("invalid tmpfs option {opt:?}")));
        }
        out.push(opt.clone());
    }
    Ok(out)
}

/// Docker's default `/dev/shm` size: 64 MiB.
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// Docker's default mounts. `privileged` leaves `/sys` and `/sys/fs/cgroup`
/// writable (moby clears `ro` on sysfs for privileged containers).
pub fn default_mounts(shm_size: i64, privileged: bool) -> Vec<Mount> {
    let m = |dest: &str, kind: &str, source: &str, opts: &[&str]| Mount {
        destination: dest.into(),
        kind: Some(kind.into()),
        source: Some(source.into()),
        options: opts
            .iter()
            .filter(|o| !(privileged && **o == "ro"))
            .map(|o| o.to_string())
            .collect(),
        ..Default::default()
    };
    let shm_size = format!("size={shm_size}");
    vec![
        m("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        m(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        m(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        m(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        m(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        m(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        m(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        ),
    ]
}

/// Replaces each [`UserMount::Volume`] by the bind of its resolved volume
/// and adds the other resolved volumes (the image's `VOLUME`s). A user
/// volume with no resolved directory is an error: the volumes service did
/// not run for this container.
pub fn resolve_volumes(user: &mut Vec<UserMount>, volumes: &[VolumeBind]) -> Result<(), SpecError> {
    for m in user.iter() {
        if let UserMount::Volume { target, .. } = m {
            if !volumes.iter().any(|v| v.target == *target) {
                return Err(SpecError::invalid(format!(
                    "volume at {target}: not resolved to a host directory"
                )));
            }
        }
    }
    user.retain(|m| !matches!(m, UserMount::Volume { .. }));
    user.extend(volumes.iter().map(VolumeBind::to_user_mount));
    Ok(())
}

/// The defaults with the user's mounts: a user mount replaces a default at
/// the same destination; user mounts follow, shallowest first (stable), as
/// docker's `sortMounts`.
///
/// A default below a user mount (`/etc/hosts` under a volume at `/etc`)
/// joins the user mounts' sort, so it is mounted on top of that mount and
/// not hidden by it (docker sorts its hosts files with the user's mounts).
pub fn container_mounts(defaults: Vec<Mount>, user: &[UserMount]) -> Vec<Mount> {
    let under_user = |d: &Mount| {
        user.iter().any(|u| {
            d.destination
                .strip_prefix(u.target())
                .is_some_and(|rest| rest.starts_with('/'))
        })
    };
    let (nested, mut out): (Vec<Mount>, Vec<Mount>) = defaults
        .into_iter()
        .filter(|d| !user.iter().any(|u| u.target() == d.destination))
        .partition(under_user);
    let mut mine: Vec<Mount> = user.iter().map(UserMount::to_oci).collect();
    mine.extend(nested);
    mine.sort_by_key(|m| m.destination.matches('/').count());
    out.extend(mine);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_like_docker() {
        let m = parse_bind("/host/dir:/ctr:ro,rslave").unwrap();
        assert_eq!(
            m,
            UserMount::Bind {
                source: "/host/dir".into(),
                target: "/ctr".into(),
                read_only: true,
                propagation: Propagation::Rslave,
                recursive: true,
                create_source: true,
            }
        );
        let oci = m.to_oci();
        assert_eq!(oci.options, ["rbind", "ro", "rslave"]);
        assert_eq!(oci.kind.as_deref(), Some("bind"));
        let m = parse_bind("/a:/b/../c/").unwrap();
        assert_eq!(m.target(), "/c");
        assert_eq!(m.to_oci().options, ["rbind", "rprivate"]);
        assert!(parse_bind("/a:/b:Z").is_ok());
    }

    #[test]
    fn bad_binds_name_the_spec() {
        assert_eq!(
            parse_bind("/a:/b:c:d").unwrap_err().to_string(),
            "invalid volume specification: '/a:/b:c:d'"
        );
        assert_eq!(
            parse_bind("/a:/b:xyz").unwrap_err().to_string(),
            "invalid volume specification: '/a:/b:xyz': invalid mode: xyz"
        );
        assert!(parse_bind("/a:/b:ro,rw").is_err());
        assert!(parse_bind("/a:rel")
            .unwrap_err()
            .to_string()
            .contains("mount path must be absolute"));
        assert!(parse_bind("/a:/").is_err());
        // docker's `:/b`: an anonymous volume, seen at `/:/b`.
        assert!(matches!(
            parse_bind(":/b").unwrap(),
            UserMount::Volume { name: None, ref target, .. } if target == "/:/b"
        ));
        let e = parse_bind("./data:/b").unwrap_err();
        assert!(e.is_invalid_argument());
        assert!(e.to_string().contains("use absolute path"), "{e}");
        let e = parse_bind("a/b:/x").unwrap_err();
        assert!(
            e.to_string()
                .contains("\"a/b\" includes invalid characters for a local volume name"),
            "{e}"
        );
        assert_eq!(
            parse_bind("data:/b:rshared").unwrap_err().to_string(),
            "invalid volume specification: 'data:/b:rshared': invalid mode: rshared"
        );
        assert!(parse_bind("data:rel").is_err());
        assert!(parse_bind("rel").is_err());
    }

    #[test]
    fn volumes_named_and_anonymous() {
        assert_eq!(
            parse_bind("data:/b/../srv:ro,nocopy").unwrap(),
            UserMount::Volume {
                name: Some("data".into()),
                target: "/srv".into(),
                read_only: true,
                no_copy: true,
                create_with: Default::default(),
            }
        );
        assert_eq!(
            parse_bind("/only/").unwrap(),
            UserMount::Volume {
                name: None,
                target: "/only".into(),
                read_only: false,
                no_copy: false,
                create_with: Default::default(),
            }
        );
        assert_eq!(
            parse_mount("type=volume,source=v1,target=/d,readonly,volume-nocopy").unwrap(),
            UserMount::Volume {
                name: Some("v1".into()),
                target: "/d".into(),
                read_only: true,
                no_copy: true,
                create_with: Default::default(),
            }
        );
        // type=volume is the default; no source: anonymous.
        assert_eq!(
            parse_mount("dst=/d,volume-driver=local").unwrap(),
            UserMount::Volume {
                name: None,
                target: "/d".into(),
                read_only: false,
                no_copy: false,
                create_with: Default::default(),
            }
        );
        let b = VolumeBind {
            source: "/var/lib/berth/volumes/v/_data".into(),
            target: "/d".into(),
            read_only: true,
        };
        assert_eq!(
            b.to_user_mount().to_oci().options,
            ["rbind", "ro", "rprivate"]
        );
    }

    #[test]
    fn mount_flag() {
        let m = parse_mount("type=bind,source=/src,target=/dst,readonly,bind-propagation=shared")
            .unwrap();
        assert_eq!(m.to_oci().options, ["rbind", "ro", "shared"]);
        assert!(matches!(
            m,
            UserMount::Bind {
                create_source: false,
                ..
            }
        ));
        let m = parse_mount("type=bind,src=/s,dst=/d,bind-nonrecursive,ro=false").unwrap();
        assert_eq!(m.to_oci().options, ["bind", "rprivate"]);
        let m = parse_mount("type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert_eq!(
            m.to_oci().options,
            ["noexec", "nosuid", "nodev", "size=1048576", "mode=1770"]
        );
    }

    #[test]
    fn bad_mount_flags() {
        for (spec, msg) in [
            ("type=bind,target=/d", "field Source must not be empty"),
            ("type=bind,source=/s", "field Target must not be empty"),
            (
                "type=bind,source=/s,target=/d,foo=1",
                "unexpected key 'foo'",
            ),
            ("type=bind,source", "must be a key=value pair"),
            ("type=tmpfs,target=/t,tmpfs-size=1x", "invalid size: '1x'"),
            ("type=tmpfs,target=/t,tmpfs-mode=9", "must be octal"),
            ("type=tmpfs,source=/x,target=/t", "Source must be empty"),
            ("type=npipe,target=/t", "invalid mount type"),
            ("type=bind,source=rel,target=/t", "must be absolute"),
            ("type=volume,source=v", "field Target must not be empty"),
            ("type=volume,source=a/b,target=/t", "invalid characters"),
            (
                "type=volume,target=/t,bind-propagation=shared",
                "BindOptions",
            ),
            ("type=volume,target=/t,tmpfs-size=1m", "TmpfsOptions"),
            (
                "type=bind,source=/s,target=/t,volume-nocopy",
                "VolumeOptions",
            ),
            (
                "type=volume,target=/t,volume-driver=nfs",
                "only the local driver",
            ),
            ("type=volume,target=/t,volume-nocopy=maybe", "invalid value"),
        ] {
            let e = parse_mount(spec).unwrap_err().to_string();
            assert!(e.contains(msg), "{spec}: {e}");
        }
        let m = parse_mount(
            "source=vv,target=/d,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-label=a=b",
        )
        .unwrap();
        let UserMount::Volume { create_with, .. } = m else {
            panic!("{m:?}")
        };
        assert_eq!(create_with.options.len(), 2);
        assert_eq!(create_with.options["type"], "tmpfs");
        assert_eq!(create_with.labels["a"], "b");
        assert!(parse_mount("type=bind,source=/s,target=/d,volume-opt=type=x").is_err());
        assert!(parse_mount("target=/d,volume-opt==x").is_err());
    }

    #[test]
    fn tmpfs_flag_merges_defaults() {
        let m = parse_tmpfs("/run:rw,size=64m,exec").unwrap();
        assert_eq!(
            m.to_oci().options,
            ["nosuid", "nodev", "rw", "size=64m", "exec"]
        );
        let m = parse_tmpfs("/run").unwrap();
        assert_eq!(m.to_oci().options, ["noexec", "nosuid", "nodev"]);
        assert_eq!(
            parse_tmpfs("/run:foo").unwrap_err().to_string(),
            "invalid tmpfs option \"foo\""
        );
        assert!(parse_tmpfs("run").is_err());
        assert_eq!(
            merge_tmpfs_options(&["size=1".into(), "size=2".into()]).unwrap(),
            ["noexec", "nosuid", "nodev", "size=2"]
        );
    }

    #[test]
    fn user_mounts_replace_defaults_and_sort() {
        let user = vec![
            parse_tmpfs("/a/b").unwrap(),
            parse_tmpfs("/dev/shm").unwrap(),
            parse_tmpfs("/a").unwrap(),
        ];
        let all = container_mounts(default_mounts(DEFAULT_SHM_SIZE, false), &user);
        let dests: Vec<&str> = all.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/a",
                "/a/b",
                "/dev/shm"
            ]
        );
        // A default below a user mount is mounted after it.
        let mut defaults = default_mounts(DEFAULT_SHM_SIZE, false);
        defaults.push(Mount {
            destination: "/etc/hosts".into(),
            ..Default::default()
        });
        let user = vec![parse_bind("/h/etc:/etc").unwrap()];
        let dests: Vec<String> = container_mounts(defaults, &user)
            .into_iter()
            .map(|m| m.destination)
            .collect();
        assert_eq!(&dests[dests.len() - 2..], ["/etc", "/etc/hosts"]);
        let priv_sys = &default_mounts(1, true)[3];
        assert!(!priv_sys.options.contains(&"ro".to_string()));
        let shm = &default_mounts(1 << 20, false)[6];
        assert!(shm.options.contains(&"size=1048576".to_string()));
    }
}
