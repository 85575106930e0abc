//! `berth run -it` in a real terminal (tmux, on a private server socket):
//! the prompt, typing, the window size and its changes, ctrl-p ctrl-q
//! detaching, and `berth attach` back.

use berth_integration_tests::berthd::Berthd;
use berth_integration_tests::bundle::busybox_rootfs;
use berth_integration_tests::{bin, have_program, require_root, unique_name, TestDir};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A private tmux server; killed (by its socket) on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        Tmux {
            socket: unique_name("bt-tmux"),
        }
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn capture(&self, target: &str) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", target]).stdout)
            .into_owned()
    }

    fn wait_for(&self, target: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.capture(target);
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?} in pane {target}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self, target: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", target];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn import_busybox(d: &Berthd) {
    let work = TestDir::new("ttyimg");
    let rootfs = work.join("rootfs");
    busybox_rootfs(&rootfs);
    let tarball = work.join("busybox.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap()
        .success();
    assert!(ok);
    d.ok(&["import", tarball.to_str().unwrap(), "busybox:latest"]);
}

#[test]
fn run_it_in_tmux_types_resizes_detaches_and_attaches_back() {
    require_root();
    if !have_program("tmux") {
        panic!("tmux missing: apt-get install tmux");
    }
    let d = Berthd::start();
    import_busybox(&d);
    let name = unique_name("bt-tty");
    let berth = bin("berth");
    let host = d.host();
    let tmux = Tmux::new();
    let run = format!(
        "{} -H {host} run -it --name {name} busybox sh; echo client-exit=$?; sleep 1000",
        berth.display()
    );
    let started = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "100",
        "-y",
        "30",
        &run,
    ]);
    assert!(started.status.success(), "{started:?}");
    tmux.wait_for("t", "/ #");

    // Typing reaches the shell and its output comes back.
    tmux.keys("t", &["echo typed-$((6*7))", "Enter"]);
    tmux.wait_for("t", "typed-42");

    // The container's tty has the window's size, and follows a resize.
    tmux.keys("t", &["stty size", "Enter"]);
    tmux.wait_for("t", "30 100");
    assert!(tmux
        .cmd(&["resize-window", "-t", "t", "-x", "120", "-y", "40"])
        .status
        .success());
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys("t", &["clear; stty size", "Enter"]);
    tmux.wait_for("t", "40 120");

    // ctrl-p ctrl-q detaches: the client exits 0, the container runs on.
    tmux.keys("t", &["C-p", "C-q"]);
    tmux.wait_for("t", "client-exit=0");
    let state = d.ok(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(state.trim(), "running");

    // attach gets the shell back.
    let attach = format!(
        "{} -H {host} attach {name}; echo attach-exit=$?; sleep 1000",
        berth.display()
    );
    assert!(tmux
        .cmd(&["new-window", "-t", "t", "-n", "a", &attach])
        .status
        .success());
    std::thread::sleep(Duration::from_millis(500));
    tmux.keys("t:a", &["echo back-$((40+2))", "Enter"]);
    tmux.wait_for("t:a", "back-42");
    tmux.keys("t:a", &["exit 3", "Enter"]);
    tmux.wait_for("t:a", "attach-exit=3");
    let state = d.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        &name,
    ]);
    assert_eq!(state.trim(), "exited 3");
    d.ok(&["rm", &name]);
}
