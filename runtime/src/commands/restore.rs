//! `restore [flags] ID`: bring a checkpointed container back from CRIU's
//! images (see [`crate::criu`]), as runc does: the bundle's config and
//! rootfs, a fresh cgroup that CRIU restores the tasks into, bind mounts and
//! masked files given back as external mounts, the caller's stdio for the
//! pipes listed in `descriptors.json`. With `--detach` it returns once the
//! container runs; otherwise it waits for the init like `run` (as a child
//! subreaper: the restored tree is reparented to us when CRIU exits),
//! forwards signals to it, returns its exit code and deletes it.
//!
//! Where CRIU cannot work on this kernel, it fails with CRIU's own reason
//! and leaves nothing behind (no state dir, no cgroup, no mount).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cli::Parsed;
use crate::commands::{create, delete};
use crate::container::{self, ContainerRecord};
use crate::criu::{self, CriuOptions, DESCRIPTORS_FILE};
use crate::error::{Context, Error, Result};
use crate::{cgroups, signals, sys, Runtime};

/// What a failed restore must undo.
struct Undo {
    state_dir: PathBuf,
    criu_root: Option<PathBuf>,
    cgroup: Option<berth_cgroups::Cgroup>,
    armed: bool,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(root) = self.criu_root.take() {
            if let Ok(c) = sys::cstr(&root) {
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        if !self.armed {
            return;
        }
        // CRIU kills what it restored when it fails; the cgroup may hold
        // others' processes (a cgroupsPath shared with a live container), so
        // nothing is signalled here: only the dirs we made are removed.
        if let Some(cg) = &self.cgroup {
            let _ = cg.destroy();
        }
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// `restore`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let id = super::one_id("restore", flags)?;
    container::validate_id(id)?;
    let bundle = flags.value("bundle").unwrap_or(".");
    let bundle = std::fs::canonicalize(bundle)
        .map_err(|e| Error::Invalid(format!("bundle {bundle}: {e}")))?;
    let (spec, rootfs) = create::load_bundle(&bundle)?;
    if flags.value("console-socket").is_some() || spec.process.as_ref().is_some_and(|p| p.terminal)
    {
        return Err(Error::NotImplemented(
            "restore of a container with a terminal".into(),
        ));
    }
    if rt.systemd_cgroup {
        return Err(Error::NotImplemented(
            "restore with --systemd-cgroup".into(),
        ));
    }
    let opts = CriuOptions::from_flags(flags, rt.criu.as_deref())?;
    let descriptors_path = opts.image_path.join(DESCRIPTORS_FILE);
    let descriptors: Vec<String> = serde_json::from_slice(
        &std::fs::read(&descriptors_path)
            .context(|| format!("read {}", descriptors_path.display()))?,
    )
    .map_err(|e| Error::Invalid(format!("parse {}: {e}", descriptors_path.display())))?;
    std::fs::create_dir_all(&opts.work_path)
        .context(|| format!("create {}", opts.work_path.display()))?;

    std::fs::create_dir_all(&rt.root)
        .context(|| format!("create state root {}", rt.root.display()))?;
    let state_dir = container::state_dir(&rt.root, id);
    match std::fs::create_dir(&state_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::Exists(id.clone()))
        }
        Err(e) => return Err(e).context(|| format!("create state dir {}", state_dir.display())),
    }
    let mut undo = Undo {
        state_dir: state_dir.clone(),
        criu_root: None,
        cgroup: None,
        armed: true,
    };
    let cgroup_root = match cgroups::plan(&spec, id, false, &rt.log)? {
        cgroups::CgroupPlan::Cgroupfs(cg) => {
            let rel = cg.path().as_relative().to_string();
            undo.cgroup = Some(cg);
            Some(rel)
        }
        _ => None,
    };
    // CRIU's root must be a mount point: the rootfs bound onto a dir in the
    // state dir, as runc binds it.
    let criu_root = state_dir.join("criu-root");
    std::fs::create_dir(&criu_root).context(|| format!("create {}", criu_root.display()))?;
    let (src, dst) = (
        sys::cstr(&rootfs).context(|| format!("path {}", rootfs.display()))?,
        sys::cstr(&criu_root).context(|| format!("path {}", criu_root.display()))?,
    );
    sys::mount(Some(&src), &dst, None, libc::MS_BIND | libc::MS_REC, None)
        .context(|| format!("bind {} on {}", rootfs.display(), criu_root.display()))?;
    undo.criu_root = Some(criu_root.clone());

    let pid_path = state_dir.join("criu.pid");
    let mut extra: Vec<OsString> = vec![
        "--root".into(),
        criu_root.clone().into(),
        "--restore-detached".into(),
        "--pidfile".into(),
        pid_path.clone().into(),
    ];
    if let Some(rel) = &cgroup_root {
        extra.push("--cgroup-root".into());
        extra.push(rel.into());
    }
    let mounts = criu::external_mounts(&spec, &rootfs);
    extra.extend(criu::external_args(&mounts, true));
    // The container's stdio pipes become ours (runc's InheritFd).
    for (fd, what) in descriptors.iter().enumerate() {
        if what.starts_with("pipe:") {
            extra.push("--inherit-fd".into());
            extra.push(format!("fd[{fd}]:{what}").into());
        }
    }
    let detach = flags.is_set("detach");
    if !detach && !flags.is_set("no-subreaper") {
        // The restored init is CRIU's child until CRIU exits, then ours.
        sys::check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) })
            .context(|| "become a child subreaper".into())?;
    }
    rt.log
        .debug(|| format!("restore: container {id} from {}", opts.image_path.display()));
    opts.run("restore", "restore.log", &extra)?;
    let pid: i32 = std::fs::read_to_string(&pid_path)
        .context(|| format!("read {}", pid_path.display()))?
        .trim()
        .parse()
        .map_err(|_| Error::Container(format!("criu wrote a bad pid to {}", pid_path.display())))?;
    let (_, start_time) = container::proc_stat(pid)
        .ok_or_else(|| Error::Container(format!("the restored init (pid {pid}) is gone")))?;
    let record = ContainerRecord {
        id: id.clone(),
        pid,
        pid_start_time: start_time,
        bundle: bundle.display().to_string(),
        rootfs: rootfs.display().to_string(),
        created: crate::clock::now_rfc3339(),
        owner: String::new(),
        cgroup: undo.cgroup.as_ref().map(cgroups::to_record),
        systemd_cgroup: false,
        config: spec,
    };
    record.save(&rt.root)?;
    if let Some(p) = flags.value("pid-file") {
        create::write_pid_file(Path::new(p), pid)?;
    }
    undo.armed = false;
    drop(undo);
    if detach {
        return Ok(0);
    }
    let _old = signals::block_all();
    let status = signals::forward_until_exit(pid)?;
    delete::destroy(rt, &record)?;
    Ok(sys::exit_code(status))
}
