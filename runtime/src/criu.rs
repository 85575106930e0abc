//! CRIU for `checkpoint` and `restore`, driven through its command line
//! (`criu dump|pre-dump|restore`), not runc's RPC over `criu swrk`: the
//! options are the same ones runc sets in its RPC request (runc
//! libcontainer/container_linux.go `Checkpoint`/`Restore`), and the CLI
//! needs no protobuf code in a runtime that must stay small and fast.
//!
//! What is shared by both directions lives here: the options runc's flags
//! map to, the mounts CRIU must treat as external (bind mounts, and masked
//! paths, which are /dev/null bound over a file), the stdio descriptors
//! file runc writes beside the images (`descriptors.json`), and turning a
//! failed run into an error that carries CRIU's own reason: the `Error`
//! lines of its log, which say what CRIU could not do on this kernel.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_oci::Spec;

use crate::cli::Parsed;
use crate::error::{Context, Error, Result};

/// The file, beside the images, that records where the container's stdio
/// pointed (runc's name and format: a JSON array of `readlink` results of
/// fds 0-2), so `restore` can reconnect pipes.
pub const DESCRIPTORS_FILE: &str = "descriptors.json";

/// How many of CRIU's `Error` lines an error message carries at most.
const REASON_LINES: usize = 6;

/// The options of `checkpoint` and `restore` that turn into CRIU options.
pub struct CriuOptions {
    /// `--criu` (global): the binary.
    pub binary: PathBuf,
    pub image_path: PathBuf,
    pub work_path: PathBuf,
    pub args: Vec<OsString>,
}

impl CriuOptions {
    /// Reads the flags both commands share. `--image-path` defaults to
    /// `./checkpoint` (runc's default), `--work-path` to the image path.
    pub fn from_flags(flags: &Parsed, criu_binary: Option<&str>) -> Result<CriuOptions> {
        let cwd = std::env::current_dir().context(|| "current directory".into())?;
        let image_path = flags
            .value("image-path")
            .map_or_else(|| cwd.join("checkpoint"), |p| cwd.join(p));
        let work_path = flags
            .value("work-path")
            .map_or_else(|| image_path.clone(), |p| cwd.join(p));
        let mut args: Vec<OsString> = Vec::new();
        for (flag, criu) in [
            ("tcp-established", "--tcp-established"),
            ("ext-unix-sk", "--ext-unix-sk"),
            ("shell-job", "--shell-job"),
            ("file-locks", "--file-locks"),
            ("auto-dedup", "--auto-dedup"),
        ] {
            if flags.is_set(flag) {
                args.push(criu.into());
            }
        }
        if let Some(mode) = flags.value("manage-cgroups-mode") {
            match mode {
                "soft" | "full" | "strict" | "ignore" => {
                    args.push(format!("--manage-cgroups={mode}").into())
                }
                other => {
                    return Err(Error::Usage(format!(
                        "invalid manage cgroups mode {other:?} (want soft, full, strict or ignore)"
                    )))
                }
            }
        } else {
            args.push("--manage-cgroups".into());
        }
        for unsupported in ["lazy-pages", "page-server", "status-fd", "empty-ns"] {
            if flags.value(unsupported).is_some() {
                return Err(Error::NotImplemented(format!("--{unsupported} with CRIU")));
            }
        }
        Ok(CriuOptions {
            binary: PathBuf::from(criu_binary.unwrap_or("criu")),
            image_path,
            work_path,
            args,
        })
    }

    /// Makes the image and work dirs (0700: images hold the container's
    /// memory).
    pub fn make_dirs(&self) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        for dir in [&self.image_path, &self.work_path] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .context(|| format!("create {}", dir.display()))?;
        }
        Ok(())
    }

    /// Runs `criu ACTION` with the common options plus `extra`; on failure
    /// the error carries the `Error` lines of `LOG_NAME` in the work dir.
    pub fn run(&self, action: &'static str, log_name: &str, extra: &[OsString]) -> Result<()> {
        let log = self.work_path.join(log_name);
        let mut cmd = Command::new(&self.binary);
        cmd.arg(action)
            .arg("--images-dir")
            .arg(&self.image_path)
            .arg("--work-dir")
            .arg(&self.work_path)
            .arg("--log-file")
            .arg(log_name)
            .arg("-v4")
            .args(&self.args)
            .args(extra);
        let out = cmd
            .output()
            .context(|| format!("run {} {action}", self.binary.display()))?;
        if out.status.success() {
            return Ok(());
        }
        let mut reason = criu_errors(&log);
        if reason.is_empty() {
            reason = String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', "; ");
        }
        Err(Error::Criu {
            action,
            log: log.display().to_string(),
            reason,
        })
    }
}

/// The last `Error` lines of a CRIU log, without their timestamps, joined
/// by "; ".
pub fn criu_errors(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Error ("))
        .map(|l| match l.split_once(") ") {
            Some((stamp, rest)) if stamp.starts_with('(') => rest,
            _ => l,
        })
        .collect();
    lines[lines.len().saturating_sub(REASON_LINES)..].join("; ")
}

/// The mounts CRIU cannot dump or restore itself and must be told are
/// external, as runc tells it: every bind mount (its destination, and its
/// host source for restore), and every masked path that is a file (a bind
/// of /dev/null).
pub fn external_mounts(spec: &Spec, rootfs: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for m in &spec.mounts {
        let bind = m.kind.as_deref() == Some("bind")
            || m.options.iter().any(|o| o == "bind" || o == "rbind");
        if bind {
            if let Some(src) = &m.source {
                out.push((m.destination.clone(), src.clone()));
            }
        }
    }
    if let Some(linux) = &spec.linux {
        for p in &linux.masked_paths {
            let in_root = rootfs.join(p.trim_start_matches('/'));
            if std::fs::metadata(&in_root).is_ok_and(|m| !m.is_dir()) {
                out.push((p.clone(), "/dev/null".to_string()));
            }
        }
    }
    out
}

/// `--external mnt[DEST]:VALUE` arguments; `dump` passes the destination as
/// the key's value, `restore` the host source.
pub fn external_args(mounts: &[(String, String)], for_restore: bool) -> Vec<OsString> {
    let mut args = Vec::new();
    for (dest, src) in mounts {
        args.push("--external".into());
        let value = if for_restore { src } else { dest };
        args.push(format!("mnt[{dest}]:{value}").into());
    }
    args
}
