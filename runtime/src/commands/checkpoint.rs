//! `checkpoint [flags] ID`: dump a running container's processes to images
//! with CRIU (see [`crate::criu`] for how CRIU is driven), as runc does: the
//! tree of the container's init, its rootfs as CRIU's root, the container's
//! freezer cgroup to freeze it, bind mounts and masked files as external
//! mounts, and `descriptors.json` beside the images. Without
//! `--leave-running` (or with `--pre-dump`, which always leaves it running)
//! the container is gone afterwards and its state removed, as with runc.
//!
//! Where CRIU cannot work (this project's CI kernel is newer than Debian's
//! CRIU 3.17 understands: its vDSO check fails), the command fails with
//! CRIU's own reason, exactly where runc's does.

use std::ffi::OsString;

use berth_oci::ContainerStatus;

use crate::cli::Parsed;
use crate::commands::delete;
use crate::container::ContainerRecord;
use crate::criu::{self, CriuOptions, DESCRIPTORS_FILE};
use crate::error::{Context, Error, Result};
use crate::{cgroups, Runtime};

/// `checkpoint`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let id = super::one_id("checkpoint", flags)?;
    let record = ContainerRecord::load(&rt.root, id)?;
    let status = record.status(&rt.root);
    if matches!(status, ContainerStatus::Created | ContainerStatus::Stopped) {
        return Err(Error::State {
            id: id.clone(),
            status: status.as_str(),
            why: "only a running or paused container can be checkpointed",
        });
    }
    let pre_dump = flags.is_set("pre-dump");
    let leave_running = flags.is_set("leave-running") || pre_dump;
    let opts = CriuOptions::from_flags(flags, rt.criu.as_deref())?;
    opts.make_dirs()?;
    if let Some(parent) = flags.value("parent-path") {
        check_parent_path(&opts.image_path, parent)?;
    }
    let mut extra: Vec<OsString> = vec![
        "--tree".into(),
        record.pid.to_string().into(),
        "--root".into(),
        record.rootfs.clone().into(),
    ];
    if leave_running && !pre_dump {
        extra.push("--leave-running".into());
    }
    if let Some(parent) = flags.value("parent-path") {
        // CRIU resolves it relative to the images dir, as runc documents.
        extra.push("--prev-images-dir".into());
        extra.push(parent.into());
        extra.push("--track-mem".into());
    } else if pre_dump {
        extra.push("--track-mem".into());
    }
    // CRIU freezes the tasks through the container's freezer cgroup (v1)
    // rather than with ptrace one by one, as runc has it do.
    if let Some(cg) = cgroups::of(&record)? {
        if let Some(freezer) = cg
            .dirs()
            .into_iter()
            .find(|d| d.starts_with("/sys/fs/cgroup/freezer") || d.join("cgroup.freeze").exists())
        {
            extra.push("--freeze-cgroup".into());
            extra.push(freezer.into());
        }
    }
    let mounts = criu::external_mounts(&record.config, std::path::Path::new(&record.rootfs));
    extra.extend(criu::external_args(&mounts, false));
    if !pre_dump {
        write_descriptors(&record, &opts.image_path)?;
    }
    rt.log.debug(|| {
        format!(
            "checkpoint: container {id} (pid {}) to {}",
            record.pid,
            opts.image_path.display()
        )
    });
    let (action, log) = if pre_dump {
        ("pre-dump", "predump.log")
    } else {
        ("dump", "dump.log")
    };
    opts.run(action, log, &extra)?;
    if !leave_running {
        // CRIU killed the tree after dumping it: what is left is state.
        delete::destroy(rt, &record)?;
    }
    Ok(0)
}

/// Writes where the init's stdio points (runc's `descriptors.json`), for
/// `restore` to reconnect pipes by their identity.
fn write_descriptors(record: &ContainerRecord, image_path: &std::path::Path) -> Result<()> {
    let fds: Vec<String> = (0..3)
        .map(|fd| {
            std::fs::read_link(format!("/proc/{}/fd/{fd}", record.pid))
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    let path = image_path.join(DESCRIPTORS_FILE);
    std::fs::write(&path, serde_json::to_vec(&fds).expect("json"))
        .context(|| format!("write {}", path.display()))
}

/// runc's checks of `--parent-path` before CRIU runs, with its messages
/// (scripts match `--parent-path`): relative to the images dir, and an
/// existing directory there. CRIU's own complaint names neither.
fn check_parent_path(image_path: &std::path::Path, parent: &str) -> Result<()> {
    if std::path::Path::new(parent).is_absolute() {
        return Err(Error::Usage("--parent-path must be relative".into()));
    }
    // Lexically cleaned, as Go's filepath.Join: runc's message names
    // `IMG/parent-dir` for `./parent-dir`.
    let mut real = image_path.to_path_buf();
    for c in std::path::Path::new(parent).components() {
        match c {
            std::path::Component::ParentDir => {
                real.pop();
            }
            std::path::Component::Normal(n) => real.push(n),
            _ => {}
        }
    }
    let err = match std::fs::metadata(&real) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => std::io::Error::from_raw_os_error(libc::ENOTDIR),
        Err(e) => e,
    };
    Err(Error::Usage(format!(
        "invalid --parent-path: stat {}: {}",
        real.display(),
        crate::sys::errno_text(&err)
    )))
}
