//! `berth diff`, `berth cp` and `berth export` end to end, on running and stopped busybox
//! containers of a private berthd: docker's outputs and copy rules, and the escapes a hostile
//! container could try (symlinks it makes to the host's `/`, tar entries with `..`), which
//! must never read or write a host file.

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::{stderr, stdout, unique_name, TestDir};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `berth ARGS` with `input` on stdin.
fn berth_with_stdin(f: &Fixture, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child =
        f.d.berth_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A tar with one regular file whose name is written raw (tar tools refuse `..` names).
fn tar_with_name(name: &str, data: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..107].copy_from_slice(b"0000644");
    header[108..115].copy_from_slice(b"0000000");
    header[116..123].copy_from_slice(b"0000000");
    header[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
    header[136..147].copy_from_slice(b"13000000000");
    header[156] = b'0';
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| b as u32).sum();
    header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

#[test]
fn diff_prints_what_docker_prints() {
    let f = Fixture::new();
    let name = f.name("diff");
    f.run_detached(&name, &["sleep", "1000"]);
    // A container that changed nothing has no changes (docker hides its own init files too).
    assert_eq!(f.ok(&["diff", &name]), "");
    f.ok(&["exec", &name, "touch", "/tmp/x"]);
    assert_eq!(f.ok(&["diff", &name]), "C /tmp\nA /tmp/x");
    // An opaque directory: the image's /home is gone, a new one took its place.
    f.ok(&[
        "exec",
        &name,
        "sh",
        "-c",
        "rm -rf /home && mkdir /home && touch /home/new",
    ]);
    f.ok(&["exec", &name, "rm", "/etc/passwd"]);
    assert_eq!(
        f.ok(&["diff", &name]),
        "C /etc\nD /etc/passwd\nD /home\nA /home/new\nC /tmp\nA /tmp/x"
    );
    // The same after the container stopped.
    f.ok(&["stop", "-t", "0", &name]);
    assert_eq!(
        f.ok(&["diff", &name]),
        "C /etc\nD /etc/passwd\nD /home\nA /home/new\nC /tmp\nA /tmp/x"
    );
    let out = f.berth(&["diff", "bt-no-such-container"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("bt-no-such-container"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cp_never_reads_or_writes_the_host_through_container_symlinks() {
    let f = Fixture::new();
    let name = f.name("esc");
    let marker = unique_name("marker");
    let local = TestDir::new("esc");
    // A file only the host has, at a path the container lacks.
    std::fs::write(local.join("host-only"), "host secret").unwrap();
    let script = format!(
        "echo in-container > /{marker}; ln -s / /tmp/up; ln -s ../../../../../../.. /tmp/rel; \
         touch /tmp/ready; sleep 1000"
    );
    f.run_detached(&name, &["sh", "-c", &script]);
    f.eventually(10, "the container made its symlinks", || {
        f.berth(&["exec", &name, "test", "-e", "/tmp/ready"])
            .status
            .success()
    });

    // Out: through `up -> /` and `rel -> ../..`, the container's own file.
    for via in ["/tmp/up", "/tmp/rel"] {
        let dst = local.join(&format!("out{}", via.replace('/', "-")));
        f.ok(&[
            "cp",
            &format!("{name}:{via}/{marker}"),
            dst.to_str().unwrap(),
        ]);
        assert_eq!(read(&dst), "in-container\n", "via {via}");
    }
    // A host-only path through the symlink does not exist in the container.
    let leak = local.join("leak");
    let src = format!("{name}:/tmp/up{}", local.join("host-only").display());
    let out = f.berth(&["cp", &src, leak.to_str().unwrap()]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(
        !leak.exists(),
        "read a host file through a container symlink"
    );

    // In: writing through the symlink lands in the container's /, never the host's.
    std::fs::write(local.join("payload"), "payload").unwrap();
    let evil = format!("{marker}-in");
    f.ok(&[
        "cp",
        local.join("payload").to_str().unwrap(),
        &format!("{name}:/tmp/up/{evil}"),
    ]);
    assert!(
        !Path::new("/").join(&evil).exists(),
        "wrote to the host's /"
    );
    assert_eq!(
        f.ok(&["exec", &name, "cat", &format!("/{evil}")]),
        "payload"
    );

    // A tar whose entry climbs out with `..`: refused, nothing written anywhere.
    let escape = format!("../../../../{marker}-dots");
    let out = berth_with_stdin(
        &f,
        &["cp", "-", &format!("{name}:/tmp")],
        &tar_with_name(&escape, b"x"),
    );
    assert_eq!(code(&out), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("outside the destination"),
        "{}",
        stderr(&out)
    );
    assert!(!Path::new("/").join(format!("{marker}-dots")).exists());
    let listing = f.ok(&["exec", &name, "ls", "/"]);
    assert!(!listing.contains(&format!("{marker}-dots")), "{listing}");
}

#[test]
fn cp_follows_dockers_copy_rules_running_or_stopped() {
    let f = Fixture::new();
    let name = f.name("rules");
    f.run_detached(&name, &["sleep", "1000"]);
    let local = TestDir::new("rules");
    let l = |p: &str| local.join(p).to_str().unwrap().to_string();

    // A directory to a new name, and a directory's contents (`/.`) into an existing one.
    f.ok(&["cp", &format!("{name}:/etc"), &l("etc-copy")]);
    assert!(read(&local.join("etc-copy/passwd")).starts_with("root:x:0:0"));
    std::fs::create_dir(local.join("existing")).unwrap();
    f.ok(&["cp", &format!("{name}:/etc/."), &l("existing")]);
    assert!(local.join("existing/group").is_file());
    // A file to a missing directory (trailing `/`): docker's error, nothing made.
    let out = f.berth(&[
        "cp",
        &format!("{name}:/etc/passwd"),
        &format!("{}/", l("nodir")),
    ]);
    assert_eq!(code(&out), Some(1));
    assert!(!local.join("nodir").exists());
    // A symlink is copied as one; -L copies what it points to.
    f.ok(&["cp", &format!("{name}:/bin/sh"), &l("sh-link")]);
    assert_eq!(
        std::fs::read_link(local.join("sh-link")).unwrap(),
        Path::new("busybox")
    );
    f.ok(&["cp", "-L", &format!("{name}:/bin/sh"), &l("sh-file")]);
    let meta = std::fs::symlink_metadata(local.join("sh-file")).unwrap();
    assert!(meta.is_file() && meta.len() > 100_000, "{meta:?}");
    // `-` writes the tar to stdout.
    let out = f.berth(&["cp", &format!("{name}:/etc/passwd"), "-"]);
    assert_eq!(code(&out), Some(0));
    let tar = local.join("passwd.tar");
    std::fs::write(&tar, &out.stdout).unwrap();
    let listing = Command::new("tar").arg("-tf").arg(&tar).output().unwrap();
    assert_eq!(stdout(&listing), "passwd");

    // Into the container: a directory to a new name; ownership only with -a.
    std::fs::create_dir_all(local.join("tree/sub")).unwrap();
    std::fs::write(local.join("tree/sub/file"), "in tree").unwrap();
    std::os::unix::fs::chown(local.join("tree/sub/file"), Some(1234), Some(4321)).unwrap();
    f.ok(&["cp", &l("tree"), &format!("{name}:/tmp/newtree")]);
    assert_eq!(
        f.ok(&["exec", &name, "cat", "/tmp/newtree/sub/file"]),
        "in tree"
    );
    assert_eq!(
        f.ok(&[
            "exec",
            &name,
            "stat",
            "-c",
            "%u:%g",
            "/tmp/newtree/sub/file"
        ]),
        "0:0"
    );
    f.ok(&["cp", "-a", &l("tree"), &format!("{name}:/tmp/kept")]);
    assert_eq!(
        f.ok(&["exec", &name, "stat", "-c", "%u:%g", "/tmp/kept/sub/file"]),
        "1234:4321"
    );
    // A directory onto a file: docker's error.
    let out = f.berth(&["cp", &l("tree"), &format!("{name}:/etc/passwd")]);
    assert_eq!(code(&out), Some(1));

    // Stopped: the same paths, through the rootfs berthd mounts for the call.
    f.ok(&["stop", "-t", "0", &name]);
    std::fs::write(local.join("late"), "while stopped").unwrap();
    f.ok(&["cp", &l("late"), &format!("{name}:/tmp/")]);
    f.ok(&["cp", &format!("{name}:/tmp/late"), &l("late-back")]);
    assert_eq!(read(&local.join("late-back")), "while stopped");
    f.ok(&["start", &name]);
    assert_eq!(f.ok(&["exec", &name, "cat", "/tmp/late"]), "while stopped");
    let out = f.berth(&["cp", &format!("{name}:/bt/no/such/path"), &l("x")]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("/bt/no/such/path"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn export_is_the_whole_filesystem_and_imports_back() {
    let f = Fixture::new();
    let name = f.name("export");
    f.run_detached(
        &name,
        &[
            "sh",
            "-c",
            "echo kept > /tmp/kept; chown 1234:4321 /tmp/kept; sleep 1000",
        ],
    );
    f.eventually(10, "the container wrote its file", || {
        f.berth(&["exec", &name, "test", "-e", "/tmp/kept"])
            .status
            .success()
    });
    let tar = f.work.join("export.tar");
    assert_eq!(f.ok(&["export", "-o", tar.to_str().unwrap(), &name]), "");
    let listing = Command::new("tar")
        .arg("-tvf")
        .arg(&tar)
        .arg("--numeric-owner")
        .output()
        .unwrap();
    let listing = stdout(&listing);
    assert!(
        listing.lines().any(|l| l.ends_with(" bin/busybox")),
        "{listing}"
    );
    let kept = listing
        .lines()
        .find(|l| l.ends_with(" tmp/kept"))
        .expect("tmp/kept exported");
    assert!(kept.contains("1234/4321"), "numeric owners: {kept}");
    // No file of the container's /proc or /sys (kernel filesystems are not its files).
    assert!(
        !listing
            .lines()
            .any(|l| l.contains(" proc/") && !l.ends_with(" proc/")),
        "{listing}"
    );

    // The export is a rootfs: importing it gives an image that runs, with the change.
    f.ok(&[
        "import",
        tar.to_str().unwrap(),
        &format!("{name}-img:latest"),
    ]);
    let out = f.berth(&[
        "run",
        "--rm",
        &format!("{name}-img:latest"),
        "cat",
        "/tmp/kept",
    ]);
    assert_eq!(stdout(&out), "kept", "{}", stderr(&out));
    let _ = f.berth(&["rmi", &format!("{name}-img:latest")]);

    // Export of a stopped container to stdout is the same tree.
    f.ok(&["stop", "-t", "0", &name]);
    let out = f.berth(&["export", &name]);
    assert_eq!(code(&out), Some(0));
    let again = f.work.join("again.tar");
    std::fs::write(&again, &out.stdout).unwrap();
    assert!(std::fs::metadata(&again).unwrap().size() > 100_000);
}
