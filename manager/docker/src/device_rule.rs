//! `--device-cgroup-rule` values (docker's `validateDeviceCgroupRule`): a
//! type `a`, `b` or `c`, `MAJOR:MINOR` with numbers or `*`, and one to
//! three of `rwm`, e.g. `c 1:3 rwm`. Checked by the CLI while it reads the
//! flags, as docker's does, and by berthd, which makes the OCI rule.

/// A parsed rule; `None` is `*` (any number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCgroupRule {
    pub kind: String,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

/// A value that is not a rule (docker's words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid device cgroup format '{0}'")]
pub struct InvalidDeviceCgroupRule(pub String);

/// Whether `mode` is one to three distinct letters of `rwm`.
pub fn valid_access(mode: &str) -> bool {
    !mode.is_empty()
        && mode.len() <= 3
        && mode.chars().all(|c| "rwm".contains(c))
        && mode
            .chars()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            == mode.len()
}

/// Parses `value` as docker does.
pub fn parse(value: &str) -> Result<DeviceCgroupRule, InvalidDeviceCgroupRule> {
    let bad = || InvalidDeviceCgroupRule(value.to_string());
    let words: Vec<&str> = value.split(' ').collect();
    let [kind, numbers, access] = words[..] else {
        return Err(bad());
    };
    if !matches!(kind, "a" | "b" | "c") || !valid_access(access) {
        return Err(bad());
    }
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let number = |n: &str| match n {
        "*" => Ok(None),
        n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            n.parse().map(Some).map_err(|_| bad())
        }
        _ => Err(bad()),
    };
    Ok(DeviceCgroupRule {
        kind: kind.to_string(),
        major: number(major)?,
        minor: number(minor)?,
        access: access.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_as_docker_reads_them() {
        assert_eq!(
            parse("c 1:3 rwm").unwrap(),
            DeviceCgroupRule {
                kind: "c".into(),
                major: Some(1),
                minor: Some(3),
                access: "rwm".into()
            }
        );
        assert_eq!(parse("a *:* r").unwrap().major, None);
        for bad in [
            "c 1:3",
            "x 1:3 r",
            "c 1-3 r",
            "c 1:3 rwz",
            "c 1:3 rr",
            "c :3 r",
            "c 1:3  r",
        ] {
            assert_eq!(
                parse(bad),
                Err(InvalidDeviceCgroupRule(bad.into())),
                "{bad}"
            );
        }
    }
}
