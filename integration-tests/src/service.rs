//! berthd as a service (`tests/service.rs`): the package's init script,
//! `dist/init.d/berthd`, run as `service` runs it (empty environment but
//! PATH), pointed at a private berthd through its defaults file
//! (`BERTHD_DEFAULTS`): root, state, socket, pidfile, log and daemon.json in
//! a temp dir, a unique socket group, bridge and nftables table. It never
//! touches the machine's /run/berth or /etc/default/berthd.
//!
//! Users: a unique group, a member of it and a user outside it, created with
//! groupadd/useradd and deleted on drop. Dropping the fixture force-removes
//! the containers, stops berthd by its pidfile (through the script, then by
//! pid), deletes the bridge and nft table, unmounts and removes the dir.

use crate::berthd::unmount_under;
use crate::registry::tar_dir;
use crate::{bin, busybox_rootfs, stderr, stdout, TestDir};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// A private berthd managed by the init script, and its users.
pub struct Service {
    pub dir: TestDir,
    pub socket: PathBuf,
    pub pidfile: PathBuf,
    pub log: PathBuf,
    pub config: PathBuf,
    pub root: PathBuf,
    pub state: PathBuf,
    /// The socket's group (`berthd --group`).
    pub group: String,
    /// A member of `group`.
    pub member: String,
    /// A user outside `group`.
    pub outsider: String,
    pub bridge: String,
    pub nft_table: String,
}

/// Runs a system tool that must succeed (user and group management).
fn must(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        stderr(&out)
    );
}

impl Service {
    /// Writes the defaults file and daemon.json and creates the users;
    /// berthd is not started.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Service {
        crate::require_root();
        let dir = TestDir::new("svc");
        // Short, unique host names: group and user names and an interface
        // name (15 bytes at most).
        // Unique per fixture, not only per process: the tests of one binary
        // run in parallel, each with its own users, bridge and table.
        static SERVICES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let tag = format!(
            "bs{}x{}",
            std::process::id() % 100_000,
            SERVICES.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let s = Service {
            // Inside the state dir, as /run/berth/berthd.sock is.
            socket: dir.join("state/b.sock"),
            pidfile: dir.join("berthd.pid"),
            log: dir.join("log/berthd.log"),
            config: dir.join("daemon.json"),
            root: dir.join("root"),
            state: dir.join("state"),
            group: format!("{tag}g"),
            member: format!("{tag}m"),
            outsider: format!("{tag}o"),
            bridge: format!("{tag}br"),
            nft_table: format!("{tag}_nft"),
            dir,
        };
        // Leftovers of an earlier run with the same pid would make useradd fail.
        s.delete_users();
        must("groupadd", &[&s.group]);
        must(
            "useradd",
            &["-M", "-N", "-s", "/bin/sh", "-G", &s.group, &s.member],
        );
        must("useradd", &["-M", "-N", "-s", "/bin/sh", &s.outsider]);
        // Non-root users must reach the socket and run the CLI from here.
        std::fs::set_permissions(&s.dir.path, std::fs::Permissions::from_mode(0o755)).unwrap();
        s.write_config(&format!(
            r#"{{"bridge": "{}", "nft-table": "{}"}}"#,
            s.bridge, s.nft_table
        ));
        let opts = format!(
            "--root {} --state {} --address {} --config {} --group {} --log-level debug",
            s.root.display(),
            s.state.display(),
            s.socket.display(),
            s.config.display(),
            s.group
        );
        std::fs::write(
            s.dir.join("default"),
            format!(
                "BERTHD={}\nBERTHD_OPTS=\"{opts}\"\nBERTHD_PIDFILE={}\nBERTHD_LOGFILE={}\n",
                bin("berthd").display(),
                s.pidfile.display(),
                s.log.display()
            ),
        )
        .unwrap();
        s
    }

    /// Replaces daemon.json.
    pub fn write_config(&self, text: &str) {
        std::fs::write(&self.config, text).unwrap();
    }

    /// `/etc/init.d/berthd ACTION` as `service` runs it: no environment but
    /// PATH (and the defaults file this test points it at).
    pub fn script(&self, action: &str) -> Output {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist/init.d/berthd");
        let out = Command::new(script)
            .arg(action)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("BERTHD_DEFAULTS", self.dir.join("default"))
            .stdin(Stdio::null())
            .output()
            .expect("run dist/init.d/berthd");
        eprintln!(
            "$ berthd {action}\n{}\n{}\n(exit {:?})",
            stdout(&out),
            stderr(&out),
            out.status.code()
        );
        out
    }

    /// berthd's pid from the pidfile, if it names a live berthd.
    pub fn pid(&self) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(&self.pidfile)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        process_alive(pid).then_some(pid)
    }

    /// `berth ARGS` as root.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_as(None, args)
    }

    /// `PROGRAM ARGS` as `user`, with the groups /etc/group gives it.
    pub fn as_user(&self, user: &str, command: &[&str]) -> Output {
        self.user_command(user, command)
            .output()
            .expect("run setpriv")
    }

    fn user_command(&self, user: &str, command: &[&str]) -> Command {
        let gid = Command::new("id").args(["-g", user]).output().unwrap();
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid",
            user,
            "--regid",
            &stdout(&gid),
            "--init-groups",
            "--",
        ])
        .args(command);
        c
    }

    /// `berth ARGS` as `user` (with the groups /etc/group gives it), or as
    /// root.
    pub fn berth_as(&self, user: Option<&str>, args: &[&str]) -> Output {
        let berth = bin("berth");
        let mut cmd = match user {
            Some(user) => self.user_command(user, &[berth.to_str().unwrap()]),
            None => Command::new(&berth),
        };
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .env_remove("BERTH_HOST")
            .env("HOME", "/nonexistent")
            .env("BERTH_CONFIG", self.dir.join("client"))
            .stdin(Stdio::null());
        let out = cmd.output().expect("run berth");
        eprintln!(
            "$ [{}] berth {}\n{}\n{}\n(exit {:?})",
            user.unwrap_or("root"),
            args.join(" "),
            stdout(&out),
            stderr(&out),
            out.status.code()
        );
        out
    }

    /// `berth ARGS` as root, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {} failed: {}\nberthd log:\n{}",
            args.join(" "),
            stderr(&out),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        stdout(&out)
    }

    /// Imports `busybox:latest` from Debian's busybox-static.
    pub fn import_busybox(&self) {
        let rootfs = self.dir.join("busybox");
        busybox_rootfs(&rootfs);
        let tarball = self.dir.join("busybox.tar");
        tar_dir(&rootfs, &tarball);
        self.ok(&[
            "import",
            "-c",
            "CMD [\"/bin/sh\"]",
            tarball.to_str().unwrap(),
            "busybox:latest",
        ]);
    }

    fn delete_users(&self) {
        for user in [&self.member, &self.outsider] {
            let _ = Command::new("userdel")
                .arg(user)
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("groupdel")
            .arg(&self.group)
            .stderr(Stdio::null())
            .status();
    }
}

/// Whether `pid` is a live process (not a zombie: PID 1 reaps slowly here).
pub fn process_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(") ")
                .map(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
        })
        .unwrap_or(false)
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.pid().is_some() {
            let ids = stdout(&self.berth(&["ps", "-aq", "--no-trunc"]));
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.berth(&args);
            }
            let _ = self.script("stop");
        }
        if let Some(pid) = self.pid() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = Command::new("ip")
            .args(["link", "delete", &self.bridge])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.nft_table])
            .stderr(Stdio::null())
            .status();
        unmount_under(&self.dir.path);
        self.delete_users();
    }
}
