//! `--security-opt`: what Berth applies (`seccomp=unconfined|builtin|
//! <profile>`, `no-new-privileges[=|:true|false]`, `systempaths=unconfined`)
//! and a clear refusal of what it does not (`apparmor=`, `label=`: Berth
//! applies no AppArmor or SELinux, see README).
//!
//! Docker's CLI reads `seccomp=FILE` and sends the file's contents; so does
//! Berth's: the contents arrive in [`super::ContainerOptions::seccomp_profile`],
//! or inline as `seccomp={...json...}` (docker's API form).

use super::SpecError;

/// Which seccomp filter a container gets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SeccompChoice {
    /// Docker's default profile.
    #[default]
    Default,
    /// None at all (`seccomp=unconfined`).
    Unconfined,
    /// The contents of a user's profile file (engine format).
    Profile(Vec<u8>),
}

/// The parsed `--security-opt` values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityOptions {
    pub seccomp: SeccompChoice,
    /// `process.noNewPrivileges`.
    pub no_new_privileges: bool,
    /// `systempaths=unconfined`: no masked or read-only /proc and /sys paths.
    pub unmask_system_paths: bool,
}

/// A boolean option value: absent or `true` is true.
fn flag_value(key: &str, value: Option<&str>) -> Result<bool, SpecError> {
    match value {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(v) => Err(SpecError::invalid(format!(
            "invalid --security-opt {key}: {v:?}: must be true or false"
        ))),
    }
}

/// Parses `--security-opt` values (`key=value` or docker's older
/// `key:value`) with the profile file contents the CLI read, if any.
pub fn parse_security_options(
    opts: &[String],
    profile_file: Option<&[u8]>,
) -> Result<SecurityOptions, SpecError> {
    let mut out = SecurityOptions::default();
    if let Some(bytes) = profile_file {
        out.seccomp = SeccompChoice::Profile(bytes.to_vec());
    }
    for opt in opts {
        let (key, value) = match opt.find(['=', ':']) {
            Some(i) => (&opt[..i], Some(&opt[i + 1..])),
            None => (opt.as_str(), None),
        };
        match (key, value) {
            ("seccomp", Some("unconfined")) => out.seccomp = SeccompChoice::Unconfined,
            ("seccomp", Some("builtin")) => out.seccomp = SeccompChoice::Default,
            ("seccomp", Some(v)) if v.trim_start().starts_with('{') => {
                out.seccomp = SeccompChoice::Profile(v.as_bytes().to_vec())
            }
            ("seccomp", Some(file)) => {
                if profile_file.is_none() {
                    return Err(SpecError::invalid(format!(
                        "seccomp profile {file:?} was not read: the client must send the file's contents"
                    )));
                }
            }
            ("no-new-privileges", v) => out.no_new_privileges = flag_value(key, v)?,
            ("systempaths", Some("unconfined")) => out.unmask_system_paths = true,
            ("apparmor", _) | ("label", _) => {
                return Err(SpecError::invalid(format!(
                    "--security-opt {opt:?} is not supported: berth applies no AppArmor or SELinux labels"
                )))
            }
            _ => {
                return Err(SpecError::invalid(format!("invalid --security-opt: {opt:?}")));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str], file: Option<&[u8]>) -> Result<SecurityOptions, SpecError> {
        let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        parse_security_options(&v, file)
    }

    #[test]
    fn accepted_options() {
        assert_eq!(parse(&[], None).unwrap(), SecurityOptions::default());
        let o = parse(&["seccomp=unconfined", "no-new-privileges"], None).unwrap();
        assert_eq!(o.seccomp, SeccompChoice::Unconfined);
        assert!(o.no_new_privileges);
        let o = parse(&["no-new-privileges:false", "systempaths=unconfined"], None).unwrap();
        assert!(!o.no_new_privileges && o.unmask_system_paths);
        let o = parse(&["seccomp=/p.json"], Some(b"{}")).unwrap();
        assert_eq!(o.seccomp, SeccompChoice::Profile(b"{}".to_vec()));
        let o = parse(&["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"], None).unwrap();
        assert!(matches!(o.seccomp, SeccompChoice::Profile(_)));
    }

    #[test]
    fn refused_options() {
        for (opt, msg) in [
            ("apparmor=unconfined", "is not supported"),
            ("label=disable", "is not supported"),
            ("bogus", "invalid --security-opt: \"bogus\""),
            ("no-new-privileges=maybe", "must be true or false"),
            ("seccomp=/p.json", "was not read"),
        ] {
            let e = parse(&[opt], None).unwrap_err().to_string();
            assert!(e.contains(msg), "{opt}: {e}");
        }
    }
}
