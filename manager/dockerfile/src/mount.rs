//! `RUN --mount=...` specs, as BuildKit's `commands_runmount.go`.
//!
//! A spec is one CSV record of `key=value` fields (`ro`, `rw` and `required`
//! may stand alone). The type defaults to `bind`; `cache` and `tmpfs` mounts
//! are writable unless told otherwise, `bind`, `secret` and `ssh` mounts
//! read-only. Values are expanded with the stage's variables when the RUN is
//! evaluated ([`parse_mount`] with an expander); at parse time only `from`
//! is read (and checked), because a stage reference is resolved before any variable is
//! known: `from=$X` is refused there.

use crate::lexer::ExpandError;

/// What a mount mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// A path of the build context or of another stage or image (`from=`).
    Bind,
    /// A persistent cache directory, kept between builds, keyed by `id`.
    Cache,
    /// A fresh tmpfs.
    Tmpfs,
    /// A secret given to the build (`--secret id=...`), as a file.
    Secret,
    /// The SSH agent socket forwarded to the build.
    Ssh,
}

impl MountType {
    /// The name in a spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bind => "bind",
            Self::Cache => "cache",
            Self::Tmpfs => "tmpfs",
            Self::Secret => "secret",
            Self::Ssh => "ssh",
        }
    }
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Everyone uses the same directory at once (the default).
    Shared,
    /// A writer gets its own copy when the directory is in use.
    Private,
    /// Writers wait for each other.
    Locked,
}

/// One `--mount`, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The type.
    pub mount_type: MountType,
    /// `from=`: a stage name or an image the source path is read from.
    pub from: String,
    /// `source=` / `src=`.
    pub source: String,
    /// `target=` / `dst=` / `destination=`.
    pub target: String,
    /// Read-only (see the module doc for the default).
    pub read_only: bool,
    /// `size=` of a tmpfs, in bytes (0: no limit given).
    pub size_limit: i64,
    /// `id=`: the cache's or the secret's id.
    pub id: String,
    /// `sharing=` of a cache mount.
    pub sharing: Option<Sharing>,
    /// `required`: a missing secret or ssh socket fails the step.
    pub required: bool,
    /// `env=`: a secret exposed as an environment variable.
    pub env: Option<String>,
    /// `mode=` (octal) of a cache, secret or ssh mount.
    pub mode: Option<u32>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
}

/// A `--mount` that is wrong; messages are BuildKit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    /// Not a CSV record.
    #[error("failed to parse csv mounts: {0}")]
    Csv(String),
    /// `from=$X`.
    #[error("'from' doesn't support variable expansion, define alias stage instead")]
    FromExpansion,
    /// A lone word that is not `ro`, `rw` or `required`.
    #[error("invalid field '{0}' must be a key=value pair")]
    NotKeyValue(String),
    /// `required` or `size` on a type without it.
    #[error("unexpected key '{key}' for mount type '{mount_type}'")]
    KeyForType {
        /// The key.
        key: String,
        /// The type's name.
        mount_type: &'static str,
    },
    /// `type=volume`.
    #[error("unsupported mount type \"{0}\"")]
    UnsupportedType(String),
    /// `sharing=never`.
    #[error("unsupported sharing value \"{0}\"")]
    UnsupportedSharing(String),
    /// A boolean or size that does not parse.
    #[error("invalid value for {key}: {value}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// `mode`, `uid` or `gid` that does not parse.
    #[error("invalid value {value} for {key}")]
    InvalidNumber {
        /// The key.
        key: &'static str,
        /// The value.
        value: String,
    },
    /// A key no mount has.
    #[error("unexpected key '{key}' in '{field}'")]
    UnknownKey {
        /// The key.
        key: String,
        /// The whole field.
        field: String,
    },
    /// `mode`, `uid`, `gid` on a bind or tmpfs mount.
    #[error("{what} not allowed for \"{mount_type}\" type mounts")]
    FileInfoNotAllowed {
        /// `mode`, `uid` or `gid`.
        what: &'static str,
        /// The type's name.
        mount_type: &'static str,
    },
    /// A secret with `from=`.
    #[error("secret mount should not have a from")]
    SecretFrom,
    /// A secret with `sharing=`.
    #[error("secret mount should not define sharing")]
    SecretSharing,
    /// A secret with neither source, target nor id.
    #[error("invalid secret mount. one of source, target required")]
    SecretUnnamed,
    /// A secret with both source and id.
    #[error("both source and id can't be set")]
    SecretSourceAndId,
    /// `sharing=` on something else than a cache.
    #[error("invalid cache sharing set for {0} mount")]
    SharingNotCache(&'static str),
    /// A value that does not expand.
    #[error(transparent)]
    Expand(#[from] ExpandError),
}

/// Expands one value of a spec with the stage's variables.
pub type Expander<'a> = &'a dyn Fn(&str) -> Result<String, ExpandError>;

/// Parses one `--mount` value. Without `expand` (parse time) only `from` is
/// checked and the result holds defaults for everything else.
pub fn parse_mount(value: &str, expand: Option<Expander<'_>>) -> Result<Mount, MountError> {
    let fields = csv_fields(value)?;
    let mut m = Mount {
        mount_type: MountType::Bind,
        from: String::new(),
        source: String::new(),
        target: String::new(),
        read_only: false,
        size_limit: 0,
        id: String::new(),
        sharing: None,
        required: false,
        env: None,
        mode: None,
        uid: None,
        gid: None,
    };
    let mut ro_auto = true;
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), v.to_string()),
            None => {
                if expand.is_none() {
                    continue;
                }
                match field.to_ascii_lowercase().as_str() {
                    "readonly" | "ro" => {
                        m.read_only = true;
                        ro_auto = false;
                    }
                    "readwrite" | "rw" => {
                        m.read_only = false;
                        ro_auto = false;
                    }
                    "required" if matches!(m.mount_type, MountType::Secret | MountType::Ssh) => {
                        m.required = true
                    }
                    "required" => {
                        return Err(MountError::KeyForType {
                            key: "required".into(),
                            mount_type: m.mount_type.as_str(),
                        })
                    }
                    _ => return Err(MountError::NotKeyValue(field.clone())),
                }
                continue;
            }
        };
        let value = match expand {
            Some(expand) => expand(&value)?,
            // Parse time: `from` names a stage and is taken now (it cannot
            // expand); everything else waits for the expander.
            None if key == "from" => {
                if let Some(idx) = value.find('$') {
                    if idx != value.len() - 1 {
                        return Err(MountError::FromExpansion);
                    }
                }
                value
            }
            None => continue,
        };
        let invalid = || MountError::InvalidValue {
            key: key.clone(),
            value: value.clone(),
        };
        match key.as_str() {
            "type" => {
                m.mount_type = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => return Err(MountError::UnsupportedType(value)),
                }
            }
            "from" => m.from = value,
            "source" | "src" => m.source = value,
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.read_only = go_parse_bool(&value).ok_or_else(invalid)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.read_only = !go_parse_bool(&value).ok_or_else(invalid)?;
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.mount_type, MountType::Secret | MountType::Ssh) {
                    return Err(MountError::KeyForType {
                        key,
                        mount_type: m.mount_type.as_str(),
                    });
                }
                m.required = go_parse_bool(&value).ok_or_else(invalid)?;
            }
            "size" => {
                if m.mount_type != MountType::Tmpfs {
                    return Err(MountError::KeyForType {
                        key,
                        mount_type: m.mount_type.as_str(),
                    });
                }
                m.size_limit = berth_docker::size::parse_bytes(&value).map_err(|_| invalid())?;
            }
            "id" => m.id = value,
            "sharing" => {
                m.sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => return Err(MountError::UnsupportedSharing(value)),
                })
            }
            "mode" => {
                m.mode =
                    Some(
                        u32::from_str_radix(&value, 8).map_err(|_| MountError::InvalidNumber {
                            key: "mode",
                            value: value.clone(),
                        })?,
                    )
            }
            "uid" => {
                m.uid = Some(value.parse().map_err(|_| MountError::InvalidNumber {
                    key: "uid",
                    value: value.clone(),
                })?)
            }
            "gid" => {
                m.gid = Some(value.parse().map_err(|_| MountError::InvalidNumber {
                    key: "gid",
                    value: value.clone(),
                })?)
            }
            "env" => m.env = Some(value),
            _ => {
                return Err(MountError::UnknownKey {
                    key,
                    field: field.clone(),
                })
            }
        }
    }
    let ty = m.mount_type.as_str();
    if !matches!(
        m.mount_type,
        MountType::Secret | MountType::Ssh | MountType::Cache
    ) {
        for (what, set) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if set {
                return Err(MountError::FileInfoNotAllowed {
                    what,
                    mount_type: ty,
                });
            }
        }
    }
    if ro_auto {
        m.read_only = !matches!(m.mount_type, MountType::Cache | MountType::Tmpfs);
    }
    if m.mount_type == MountType::Secret {
        if !m.from.is_empty() {
            return Err(MountError::SecretFrom);
        }
        if m.sharing.is_some() {
            return Err(MountError::SecretSharing);
        }
        if m.source.is_empty() && m.target.is_empty() && m.id.is_empty() {
            return Err(MountError::SecretUnnamed);
        }
        if !m.source.is_empty() && !m.id.is_empty() {
            return Err(MountError::SecretSourceAndId);
        }
    }
    if m.sharing.is_some() && m.mount_type != MountType::Cache {
        return Err(MountError::SharingNotCache(ty));
    }
    Ok(m)
}

/// Go's `strconv.ParseBool`.
pub(crate) fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// One CSV record as Go's `encoding/csv` reads it: fields separated by `,`,
/// a field starting with `"` is quoted (`""` is a quote inside), a quote
/// inside an unquoted field is an error.
fn csv_fields(s: &str) -> Result<Vec<String>, MountError> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err(MountError::Csv(
                            "extraneous or missing \" in quoted-field".into(),
                        ))
                    }
                    Some('"') => match chars.peek() {
                        Some('"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some(',') | None => break,
                        Some(_) => {
                            return Err(MountError::Csv(
                                "extraneous or missing \" in quoted-field".into(),
                            ))
                        }
                    },
                    Some(c) => field.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    return Err(MountError::Csv("bare \" in non-quoted-field".into()));
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
        match chars.next() {
            Some(',') => continue,
            _ => return Ok(fields),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(spec: &str) -> Result<Mount, MountError> {
        let id = |s: &str| -> Result<String, ExpandError> { Ok(s.replace("$V", "x")) };
        parse_mount(spec, Some(&id))
    }

    #[test]
    fn defaults_per_type() {
        let m = eval("target=/t").unwrap();
        assert_eq!((m.mount_type, m.read_only), (MountType::Bind, true));
        let m = eval("type=cache,target=/c").unwrap();
        assert_eq!((m.mount_type, m.read_only), (MountType::Cache, false));
        let m = eval("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!((m.read_only, m.size_limit), (false, 64 << 20));
        let m = eval("type=secret,id=s").unwrap();
        assert_eq!(
            (m.mount_type, m.read_only, m.id.as_str()),
            (MountType::Secret, true, "s")
        );
        let m = eval("type=ssh").unwrap();
        assert!(m.read_only);
    }

    #[test]
    fn options() {
        let m = eval("type=cache,id=$V,target=/root/.cache,sharing=locked,mode=0700,uid=1000,gid=1000,rw=false").unwrap();
        assert_eq!(m.id, "x");
        assert_eq!(m.sharing, Some(Sharing::Locked));
        assert_eq!(
            (m.mode, m.uid, m.gid),
            (Some(0o700), Some(1000), Some(1000))
        );
        assert!(m.read_only);
        let m = eval("type=bind,from=build,source=/out,dst=/in,rw").unwrap();
        assert_eq!(
            (
                m.from.as_str(),
                m.source.as_str(),
                m.target.as_str(),
                m.read_only
            ),
            ("build", "/out", "/in", false)
        );
        let m = eval("type=secret,id=tok,env=TOKEN,required").unwrap();
        assert_eq!((m.env.as_deref(), m.required), (Some("TOKEN"), true));
        let m = eval("\"type=bind,source=a,b\",target=/x").unwrap_err();
        assert_eq!(m, MountError::UnsupportedType("bind,source=a,b".into()));
    }

    #[test]
    fn errors_are_buildkits() {
        for (spec, msg) in [
            ("type=volume", "unsupported mount type \"volume\""),
            (
                "type=cache,sharing=never",
                "unsupported sharing value \"never\"",
            ),
            (
                "type=bind,sharing=shared",
                "invalid cache sharing set for bind mount",
            ),
            (
                "type=bind,mode=0755",
                "mode not allowed for \"bind\" type mounts",
            ),
            (
                "type=tmpfs,uid=1",
                "uid not allowed for \"tmpfs\" type mounts",
            ),
            (
                "type=cache,size=1m",
                "unexpected key 'size' for mount type 'cache'",
            ),
            (
                "required",
                "unexpected key 'required' for mount type 'bind'",
            ),
            (
                "type=secret",
                "invalid secret mount. one of source, target required",
            ),
            (
                "type=secret,id=a,source=b",
                "both source and id can't be set",
            ),
            (
                "type=secret,id=a,from=b",
                "secret mount should not have a from",
            ),
            ("type=cache,mode=9", "invalid value 9 for mode"),
            ("type=cache,uid=x", "invalid value x for uid"),
            ("ro=maybe", "invalid value for ro: maybe"),
            ("bogus", "invalid field 'bogus' must be a key=value pair"),
            ("colour=red", "unexpected key 'colour' in 'colour=red'"),
            (
                "a\"b",
                "failed to parse csv mounts: bare \" in non-quoted-field",
            ),
        ] {
            assert_eq!(eval(spec).unwrap_err().to_string(), msg, "{spec}");
        }
    }

    #[test]
    fn parse_time_checks_only_from() {
        assert_eq!(
            parse_mount("type=bind,from=$STAGE", None).unwrap_err(),
            MountError::FromExpansion
        );
        // A trailing `$` is no expansion; everything else waits for the expander.
        assert_eq!(parse_mount("from=a$", None).unwrap().from, "a$");
        assert_eq!(
            parse_mount("type=cache,from=build,target=$T", None)
                .unwrap()
                .from,
            "build"
        );
        assert!(parse_mount("type=$T,bogus,colour=red", None).is_ok());
    }
}
