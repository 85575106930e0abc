//! The mount table as `/proc/self/mountinfo` shows it (proc(5)), for the
//! decisions the init makes from the mounts it can see (`--no-pivot`'s
//! detaching of the host's proc and sysfs).

use std::path::PathBuf;

/// The fields of one mountinfo line the runtime uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// The path inside its file system that is mounted (`/` for a full
    /// mount of the file system).
    pub root: String,
    /// Where it is mounted, relative to the reader's root.
    pub mount_point: PathBuf,
    pub fstype: String,
}

/// Parses mountinfo text (`id parent major:minor root mount-point options
/// [optional...] - fstype source super-options`); malformed lines are
/// skipped.
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut left = left.split(' ');
            let root = left.nth(3)?;
            let mount_point = left.next()?;
            let fstype = right.split(' ').next()?;
            Some(MountEntry {
                root: unescape(root),
                mount_point: PathBuf::from(unescape(mount_point)),
                fstype: fstype.to_string(),
            })
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` space, `\011` tab, `\012`
/// newline, `\134` backslash).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            if let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 4])
                .ok()
                .and_then(|oct| u8::from_str_radix(oct, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_roots_mount_points_and_types() {
        let text = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
23 1 0:22 / /sys rw - sysfs sysfs rw
40 22 0:35 / /proc/sys/fs/binfmt_misc rw shared:9 - autofs systemd-1 rw
50 1 0:21 /sys /mnt/with\\040space rw - proc proc rw
garbage
";
        let m = parse(text);
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].root, "/");
        assert_eq!(m[0].mount_point, PathBuf::from("/proc"));
        assert_eq!(m[0].fstype, "proc");
        assert_eq!(m[2].fstype, "autofs");
        assert_eq!(m[3].root, "/sys");
        assert_eq!(m[3].mount_point, PathBuf::from("/mnt/with space"));
    }
}
