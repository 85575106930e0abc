//! Docker fidelity (issue 14): what a docker user meets in the first hour,
//! as docker 20.10 does it. The bugs (`rm -f` of a container with a restart
//! policy, `image prune`'s question, loopback in every network mode,
//! templates over fields Berth once left out, `stats` NET I/O) each against
//! a private berthd; and one differential scenario that runs the same
//! commands against a private dockerd (Debian's docker.io) and berthd and
//! compares exit codes, table headers, the messages of the common mistakes
//! and every key path and JSON type of `inspect` for containers, images,
//! volumes and networks.

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::engines::{Dockerd, Runtime, IMAGE};
use berth_integration_tests::shapes::shape_differences;
use berth_integration_tests::{stderr, stdout};
use serde_json::Value;
use std::io::Write;
use std::process::{Output, Stdio};
use std::time::Duration;

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// `berth ARGS` with `input` on its stdin (a pipe, not a terminal).
fn berth_with_stdin(f: &Fixture, args: &[&str], input: &str) -> Output {
    let mut child =
        f.d.berth_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait berth")
}

/// Bug 2: `rm -f` removes a running container whatever its restart policy,
/// and the policy does not bring it back.
#[test]
fn rm_force_removes_a_running_container_with_a_restart_policy() {
    let f = Fixture::new();
    for policy in ["always", "unless-stopped", "on-failure"] {
        let name = f.name("ra");
        f.ok(&[
            "run",
            "-d",
            "--restart",
            policy,
            "--name",
            &name,
            "busybox",
            "sleep",
            "1000",
        ]);
        let out = f.berth(&["rm", "-f", &name]);
        assert_eq!(
            code(&out),
            0,
            "rm -f with --restart {policy}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), name);
        // Nothing restarts it afterwards (the policy's delay is 100 ms at first).
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            !f.all_names().contains(&name),
            "{name} (--restart {policy}) still listed after rm -f"
        );
        let out = f.berth(&["inspect", &name]);
        assert_eq!(code(&out), 1);
    }
}

/// Bug 3: `image prune` asks docker's question on stdout, reads the answer
/// from stdin whatever it is, and deletes nothing unless told `y`.
#[test]
fn image_prune_asks_before_deleting() {
    let f = Fixture::new();
    let tarball = f.work.join("rootfs.tar");
    // Importing twice under one tag leaves the first image dangling.
    for _ in 0..2 {
        f.ok(&["import", tarball.to_str().unwrap(), "bt-prune:latest"]);
        std::thread::sleep(Duration::from_millis(1100));
    }
    let dangling = || f.ok(&["images", "-q", "--filter", "dangling=true"]);
    assert!(!dangling().is_empty(), "no dangling image to prune");

    for answer in ["n\n", ""] {
        let out = berth_with_stdin(&f, &["image", "prune"], answer);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] Total reclaimed space: 0B",
            "answer {answer:?}"
        );
        assert!(
            !dangling().is_empty(),
            "answer {answer:?} deleted the image"
        );
    }
    let out = berth_with_stdin(&f, &["image", "prune"], "y\n");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("deleted: sha256:"),
        "{}",
        stdout(&out)
    );
    assert!(dangling().is_empty(), "y did not prune");
    f.ok(&["rmi", "bt-prune:latest"]);
}

/// Bug 4: `lo` is up with 127.0.0.1 in every network mode with a namespace
/// of the container's own (none, the default bridge, a user network) and in
/// one joined with `container:`, and a server on 127.0.0.1 is reachable.
#[test]
fn loopback_is_up_in_every_network_mode() {
    let f = Fixture::new();
    let net = f.name("lonet");
    f.ok(&["network", "create", &net]);
    let base = f.name("lobase");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &base,
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    let joined = format!("container:{base}");
    let script =
        "ip addr show lo; nc -l -p 7777 -e echo pong & sleep 0.3; nc 127.0.0.1 7777 </dev/null";
    for mode in ["none", "bridge", net.as_str(), joined.as_str()] {
        let out = f.berth(&[
            "run",
            "--rm",
            "--network",
            mode,
            "busybox",
            "sh",
            "-c",
            script,
        ]);
        let text = stdout(&out);
        assert_eq!(code(&out), 0, "--network {mode}: {text} {}", stderr(&out));
        assert!(text.contains(",UP"), "--network {mode}: lo is down: {text}");
        assert!(
            text.contains("inet 127.0.0.1/8"),
            "--network {mode}: {text}"
        );
        assert!(
            text.ends_with("pong"),
            "--network {mode}: no answer on 127.0.0.1: {text}"
        );
    }
    f.ok(&["rm", "-f", &base]);
    f.ok(&["network", "rm", &net]);
}

/// Bug 5: templates see every field docker's objects have, with docker's
/// zero values: a bind mount's `Name`, `Gateway` with no network.
#[test]
fn templates_see_every_field_with_its_zero_value() {
    let f = Fixture::new();
    let name = f.name("tpl");
    let dir = f.work.join("bind");
    std::fs::create_dir_all(&dir).unwrap();
    let bind = format!("{}:/data:ro", dir.display());
    f.ok(&[
        "create",
        "--name",
        &name,
        "--network",
        "none",
        "-v",
        &bind,
        "busybox",
        "true",
    ]);
    let render = |format: &str| {
        let out = f.berth(&["inspect", "-f", format, &name]);
        assert_eq!(code(&out), 0, "{format}: {}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(
        render("{{range .Mounts}}[{{.Name}}|{{.Mode}}|{{.RW}}]{{end}}"),
        "[|ro|false]"
    );
    assert_eq!(render("[{{.NetworkSettings.Gateway}}]"), "[]");
    assert_eq!(
        render("[{{.HostConfig.CgroupParent}}|{{.Config.StopSignal}}]"),
        "[|]"
    );
    assert_eq!(
        render("{{.HostConfig.OomScoreAdj}} {{.HostConfig.Privileged}}"),
        "0 false"
    );
    // docker's key order, also inside {{json}}.
    let config = render("{{json .Config}}");
    assert!(config.starts_with(r#"{"Hostname":"#), "{config}");
    f.ok(&["rm", &name]);
}

/// Bug 6: `stats` NET I/O counts the container's own interfaces.
#[test]
fn stats_net_io_counts_the_containers_traffic() {
    let f = Fixture::new();
    let name = f.name("netio");
    f.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]);
    let gateway = f.ok(&["inspect", "-f", "{{.NetworkSettings.Gateway}}", &name]);
    assert!(!gateway.is_empty(), "no gateway on the default bridge");
    let out = f.berth(&["exec", &name, "ping", "-c", "3", "-s", "1000", &gateway]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let net_io = f.ok(&["stats", "--no-stream", "--format", "{{.NetIO}}", &name]);
    let (rx, tx) = net_io.split_once(" / ").expect("rx / tx");
    assert_ne!(rx, "0B", "{net_io}");
    assert_ne!(tx, "0B", "{net_io}");
    // 3 pings of 1000 bytes each way: a few kB.
    assert!(rx.ends_with("kB") && tx.ends_with("kB"), "{net_io}");
    f.ok(&["rm", "-f", &name]);
}

fn first_object(text: &str) -> Value {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v[0].clone()
}

/// The first line of a table's output: its headers, spacing ignored.
fn headers(text: &str) -> Vec<String> {
    text.lines()
        .next()
        .unwrap_or("")
        .split("  ")
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect()
}

/// Sorts the mounts inside the key list of a container's inspect JSON
/// (each mount's keys from its `Type` on, between `Mounts` and the next
/// top-level `Config`), leaving every key list within a mount as it was.
fn canonical_mount_order(keys: &mut Vec<String>) {
    let Some(start) = keys.iter().position(|k| k == "Mounts") else {
        return;
    };
    let Some(len) = keys[start + 1..].iter().position(|k| k == "Config") else {
        return;
    };
    let section: Vec<String> = keys.drain(start + 1..start + 1 + len).collect();
    let mut mounts: Vec<Vec<String>> = Vec::new();
    for key in section {
        match mounts.last_mut() {
            Some(mount) if key != "Type" => mount.push(key),
            _ => mounts.push(vec![key]),
        }
    }
    mounts.sort();
    let tail = keys.split_off(start + 1);
    keys.extend(mounts.into_iter().flatten());
    keys.extend(tail);
}

/// The differential scenario (issue 14, Tests): the same commands against
/// a private dockerd 20.10 and a private berthd, on the same busybox image
/// (imported from the same tarball with the same `ENV PATH=/bin`).
#[test]
fn berth_matches_docker_on_the_same_scenario() {
    let f = Fixture::new();
    let dockerd = Dockerd::new(Runtime::Runc);
    let tarball = f.work.join("rootfs.tar");
    f.ok(&[
        "import",
        "-c",
        "ENV PATH=/bin",
        tarball.to_str().unwrap(),
        IMAGE,
    ]);
    let bind = f.work.join("bind");
    std::fs::create_dir_all(&bind).unwrap();
    let bind_spec = format!("{}:/b:ro", bind.display());
    let volume = f.name("dvol");
    let name = f.name("dc");
    let network = f.name("dnet");
    let docker = |args: &[&str]| dockerd.docker_command(args).output().expect("run docker");
    let berth = |args: &[&str]| f.berth(args);
    // Two subnets: docker's bridge for its network is on the host too.
    for (run, subnet) in [
        (&docker as &dyn Fn(&[&str]) -> Output, "10.213.7.0/24"),
        (&berth, "10.213.8.0/24"),
    ] {
        let out = run(&["volume", "create", &volume]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let out = run(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "-v",
            &format!("{volume}:/data"),
            "-v",
            &bind_spec,
            "--log-opt",
            "max-size=1k",
            "-l",
            "a=b",
            "--ulimit",
            "nofile=20000:20000",
            IMAGE,
            "sleep",
            "1000",
        ]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let out = run(&["network", "create", "--subnet", subnet, &network]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }

    // inspect: every key path docker has, with docker's JSON type.
    for (what, docker_args, berth_args) in [
        ("container", vec!["inspect", &name], vec!["inspect", &name]),
        (
            "image",
            vec!["image", "inspect", IMAGE],
            vec!["image", "inspect", IMAGE],
        ),
        (
            "volume",
            vec!["volume", "inspect", &volume],
            vec!["volume", "inspect", &volume],
        ),
        (
            "network",
            vec!["network", "inspect", &network],
            vec!["network", "inspect", &network],
        ),
    ] {
        let d = docker(&docker_args);
        let b = berth(&berth_args);
        assert_eq!(code(&d), 0, "docker {what}: {}", stderr(&d));
        assert_eq!(code(&b), 0, "berth {what}: {}", stderr(&b));
        let differences = shape_differences(&first_object(&stdout(&d)), &first_object(&stdout(&b)));
        assert!(
            differences.is_empty(),
            "{what} inspect differs from docker's:\n{}",
            differences.join("\n")
        );
    }
    // docker's key order (Id first, every nested object's keys too): the
    // keys of the container's inspect JSON as they come in the text
    // (serde_json's map here would sort them). docker lists `Mounts` in
    // the iteration order of a Go map, a different one each time: the
    // mounts' key lists are compared as a set.
    {
        let args = ["inspect", name.as_str()];
        let keys = |out: Output| -> Vec<String> {
            let mut keys: Vec<String> = stdout(&out)
                .split('"')
                .collect::<Vec<_>>()
                .windows(2)
                .filter(|w| w[1].starts_with(':'))
                .map(|w| w[0].to_string())
                .collect();
            canonical_mount_order(&mut keys);
            keys
        };
        let d = keys(docker(&args));
        let b = keys(berth(&args));
        assert_eq!(d, b, "key order of {args:?}");
    }

    // Table headers.
    for args in [
        vec!["ps", "-a"],
        vec!["images"],
        vec!["volume", "ls"],
        vec!["network", "ls"],
        vec!["stats", "--no-stream", &name],
    ] {
        let d = headers(&stdout(&docker(&args)));
        let b = headers(&stdout(&berth(&args)));
        assert_eq!(d, b, "headers of {args:?}");
    }

    // The common mistakes: exit codes, and messages with docker -> berth.
    let nosuch = "bt-nosuch";
    for args in [
        vec!["run"],
        vec!["exec", &name],
        vec!["frobnicate"],
        vec!["container", "inspect", nosuch],
        vec!["image", "inspect", nosuch],
        vec!["volume", "inspect", nosuch],
        vec!["network", "inspect", nosuch],
        vec!["volume", "rm", nosuch],
        vec!["network", "rm", nosuch],
    ] {
        let d = docker(&args);
        let b = berth(&args);
        assert_eq!(
            code(&d),
            code(&b),
            "exit code of {args:?}: docker {}",
            stderr(&d)
        );
        let first = |out: &Output| {
            stderr(out)
                .lines()
                .next()
                .unwrap_or("")
                .replace("docker", "berth")
        };
        assert_eq!(first(&d), first(&b), "message of {args:?}");
    }

    for run in [&docker as &dyn Fn(&[&str]) -> Output, &berth] {
        run(&["rm", "-f", &name]);
        run(&["volume", "rm", &volume]);
        run(&["network", "rm", &network]);
    }
}

/// A private dockerd and a private berthd, each with [`IMAGE`] imported
/// from the same busybox tree (`ENV PATH=/bin`), and nothing else: berth's
/// fixture image (`busybox:latest`) is removed so both hold one image.
struct Pair {
    f: Fixture,
    dockerd: Dockerd,
}

impl Pair {
    fn new() -> Pair {
        let f = Fixture::new();
        let dockerd = Dockerd::new(Runtime::Runc);
        let tarball = f.work.join("rootfs.tar");
        f.ok(&[
            "import",
            "-c",
            "ENV PATH=/bin",
            tarball.to_str().unwrap(),
            IMAGE,
        ]);
        f.ok(&["rmi", "busybox:latest"]);
        Pair { f, dockerd }
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.dockerd
            .docker_command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.f
            .d
            .berth_cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }

    /// `args` on docker (`docker`) or berth.
    fn on(&self, docker: bool, args: &[&str]) -> Output {
        if docker {
            self.docker(args)
        } else {
            self.berth(args)
        }
    }

    /// The same command on both: (docker's, berth's).
    fn both(&self, args: &[&str]) -> (Output, Output) {
        (self.docker(args), self.berth(args))
    }

    /// Runs `args` on both and checks that each succeeded.
    fn both_ok(&self, args: &[&str]) -> (String, String) {
        let (d, b) = self.both(args);
        assert_eq!(code(&d), 0, "docker {args:?}: {}", stderr(&d));
        assert_eq!(code(&b), 0, "berth {args:?}: {}", stderr(&b));
        (stdout(&d), stdout(&b))
    }
}

/// docker's words with berth's name for itself.
fn as_berth(text: &str) -> String {
    text.replace("docker", "berth")
}

/// `system df` and `system df -v`: the same rows, counts and sizes as
/// docker's for the same image, containers (one running that wrote 5000
/// bytes, one created) and a volume holding 3 bytes; the build cache row
/// and section empty (Berth has no build cache).
#[test]
fn system_df_matches_docker() {
    let p = Pair::new();
    let volume = p.f.name("dfvol");
    let running = p.f.name("dfrun");
    let created = p.f.name("dfnew");
    let write = "echo hi > /data/x; head -c 5000 /dev/zero > /big; sleep 1000";
    for docker in [true, false] {
        let run = |a: &[&str]| p.on(docker, a);
        for args in [
            vec!["volume", "create", &volume],
            vec![
                "run",
                "-d",
                "--network",
                "none",
                "--name",
                &running,
                "-v",
                &format!("{volume}:/data"),
                IMAGE,
                "sh",
                "-c",
                write,
            ],
            vec![
                "create",
                "--network",
                "none",
                "--name",
                &created,
                IMAGE,
                "true",
            ],
        ] {
            let out = run(&args);
            assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        }
    }
    // The writes are done once the file has its size.
    for docker in [true, false] {
        let what = if docker { "docker" } else { "berth" };
        let mut tries = 0;
        while stdout(&p.on(docker, &["exec", &running, "sh", "-c", "wc -c < /big"])) != "5000" {
            tries += 1;
            assert!(tries < 100, "{what}: /big never reached 5000 bytes");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // The columns of each line. Ids and ages differ between the two
    // daemons and are left out. Image and container sizes are each
    // daemon's own measure (docker: the files' bytes; Berth: the blocks
    // of the layer and of the writable snapshot), so in the image and
    // container rows and sections a size reads as `SIZE`; the volumes'
    // sizes (their files' bytes in both) are compared as they are.
    let columns = |text: &str| -> Vec<Vec<String>> {
        let is_size = |c: &str| {
            let c = c.split(" (").next().unwrap_or(c);
            let digits = c.trim_end_matches(|x: char| x.is_ascii_alphabetic());
            !digits.is_empty()
                && digits.parse::<f64>().is_ok()
                && ["B", "kB", "MB", "GB"].contains(&&c[digits.len()..])
        };
        let mut section = "";
        text.lines()
            .map(|l| {
                if l.ends_with("space usage:") || l.starts_with("Build cache") {
                    section = if l.starts_with("Images") || l.starts_with("Containers") {
                        "measured"
                    } else {
                        "exact"
                    };
                }
                let measured =
                    section == "measured" || l.starts_with("Images") || l.starts_with("Containers");
                l.split("  ")
                    .flat_map(|c| c.split(": "))
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .filter(|c| !c.ends_with(" ago") && !c.starts_with("Up "))
                    .filter(|c| !(c.len() == 12 && c.chars().all(|x| x.is_ascii_hexdigit())))
                    .map(|c| if measured && is_size(c) { "SIZE" } else { c })
                    .map(str::to_string)
                    .collect()
            })
            .collect()
    };
    let (d, b) = p.both_ok(&["system", "df"]);
    assert_eq!(columns(&d), columns(&b), "system df:\n{d}\n---\n{b}");
    let (d, b) = p.both_ok(&["system", "df", "-v"]);
    assert_eq!(columns(&d), columns(&b), "system df -v:\n{d}\n---\n{b}");
    // A summary template, as docker applies it to each row.
    let (d, b) = p.both_ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}: {{.TotalCount}}: {{.Active}}: {{.Size}}",
    ]);
    assert_eq!(
        columns(&d),
        columns(&b),
        "system df --format:\n{d}\n---\n{b}"
    );
    // -v with a template: one execution over the whole usage, rows
    // untruncated; the same sections and row keys as docker's.
    let (d, b) = p.both_ok(&["system", "df", "-v", "--format", "{{json .}}"]);
    let shape = |text: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let mut out = Vec::new();
        for section in ["Images", "Containers", "Volumes", "BuildCache"] {
            let rows = v[section].as_array().expect("a list per section");
            let keys: Vec<String> = rows
                .first()
                .and_then(Value::as_object)
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            out.push(format!("{section}: {} rows, keys {keys:?}", rows.len()));
            if let Some(id) = rows.first().and_then(|r| r["ID"].as_str()) {
                out.push(format!("{section} full id: {}", id.len() >= 64));
            }
        }
        out
    };
    assert_eq!(
        shape(&d),
        shape(&b),
        "system df -v {{{{json .}}}}:\n{d}\n---\n{b}"
    );
    let keys = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split(':').next().unwrap_or("").to_string())
            .collect()
    };
    let (d, b) = p.both_ok(&["system", "df", "-v", "--format", "raw"]);
    assert_eq!(
        keys(&d),
        keys(&b),
        "system df -v --format raw:\n{d}\n---\n{b}"
    );
    let (d, b) = p.both_ok(&[
        "system",
        "df",
        "-v",
        "--format",
        "{{range .Containers}}{{.State}} {{end}}",
    ]);
    let mut d: Vec<&str> = d.split_whitespace().collect();
    let mut b: Vec<&str> = b.split_whitespace().collect();
    d.sort();
    b.sort();
    assert_eq!(d, b, "system df -v --format range");

    for docker in [true, false] {
        let run = |a: &[&str]| p.on(docker, a);
        run(&["rm", "-f", &running, &created]);
        run(&["volume", "rm", &volume]);
    }
}

/// `version --format` and `info --format` run docker's Go templates over
/// the version and info structs: the fields scripts use, `{{json .}}`, and
/// docker's exit codes for a template that fails (1) or does not parse (64).
#[test]
fn version_and_info_format_like_docker() {
    let p = Pair::new();
    let (d, b) = p.both_ok(&[
        "version",
        "--format",
        "{{.Server.Version}}|{{.Client.APIVersion}}",
    ]);
    for (what, text) in [("docker", &d), ("berth", &b)] {
        let parts: Vec<&str> = text.split('|').collect();
        assert!(
            parts.len() == 2 && parts.iter().all(|x| !x.is_empty()),
            "{what} version --format: {text:?}"
        );
    }
    let (_, b) = p.both_ok(&["version", "--format", "{{json .}}"]);
    let v: Value = serde_json::from_str(&b).unwrap_or_else(|e| panic!("{e}: {b}"));
    assert!(
        v["Server"]["Version"].is_string() && v["Client"]["Version"].is_string(),
        "{b}"
    );

    // The same counts from both daemons for the same objects.
    let (d, b) = p.both_ok(&[
        "info",
        "--format",
        "{{.Containers}} {{.ContainersRunning}} {{.Images}} {{.OSType}} {{.NCPU}} {{.MemTotal}}",
    ]);
    assert_eq!(d, b, "info --format");
    let (_, b) = p.both_ok(&["info", "--format", "{{json .}}"]);
    let v: Value = serde_json::from_str(&b).unwrap_or_else(|e| panic!("{e}: {b}"));
    assert!(
        v["ServerVersion"].is_string() && v["Driver"].is_string(),
        "{b}"
    );

    for command in ["version", "info"] {
        for template in ["{{.Nope}}", "{{.Server"] {
            let (d, b) = p.both(&[command, "--format", template]);
            assert_eq!(
                code(&d),
                code(&b),
                "{command} --format {template}: docker {}, berth {}",
                stderr(&d),
                stderr(&b)
            );
        }
    }
}

/// `network ls` lists docker's predefined `host` and `none` networks (by
/// name, with their drivers, filters apply to them), `network inspect`
/// shows them with docker's key paths and types, `network rm` refuses
/// them with docker's message, and `run --network host|none` still work.
#[test]
fn predefined_networks_like_docker() {
    let p = Pair::new();
    // docker runs here without its bridge: compare everything but berth's
    // default `bridge` network.
    let format = "{{.Name}} {{.Driver}} {{.Scope}}";
    let (d, b) = p.both_ok(&["network", "ls", "--format", format]);
    let b: Vec<&str> = b.lines().filter(|l| !l.starts_with("bridge ")).collect();
    assert_eq!(d.lines().collect::<Vec<_>>(), b, "network ls");
    for filter in ["driver=null", "name=ho", "type=builtin", "type=custom"] {
        let (d, b) = p.both_ok(&["network", "ls", "-f", filter, "--format", format]);
        let b: Vec<&str> = b.lines().filter(|l| !l.starts_with("bridge ")).collect();
        assert_eq!(d.lines().collect::<Vec<_>>(), b, "network ls -f {filter}");
    }
    for name in ["host", "none"] {
        let (d, b) = p.both_ok(&["network", "inspect", name]);
        let differences = shape_differences(&first_object(&d), &first_object(&b));
        assert!(
            differences.is_empty(),
            "network inspect {name}:\n{}",
            differences.join("\n")
        );
        let fields =
            "{{.Name}} {{.Driver}} {{.Scope}} {{.IPAM.Driver}} {{len .IPAM.Config}} {{.Internal}}";
        let (d, b) = p.both_ok(&["network", "inspect", "-f", fields, name]);
        assert_eq!(d, b, "network inspect {name}");
        // The id `ls` shows names the same network in berth (docker
        // 20.10 cannot inspect its predefined networks by id).
        let id = stdout(&p.berth(&["network", "ls", "-q", "-f", &format!("name={name}")]));
        let by_id = p.berth(&["network", "inspect", "-f", "{{.Name}}", id.trim()]);
        assert_eq!(stdout(&by_id), name, "{}", stderr(&by_id));
        let (d, b) = p.both(&["network", "rm", name]);
        assert_eq!(
            (code(&d), as_berth(&stderr(&d))),
            (code(&b), stderr(&b)),
            "network rm {name}"
        );
    }
    for mode in ["host", "none"] {
        let (d, b) = p.both_ok(&[
            "run",
            "--rm",
            "--network",
            mode,
            IMAGE,
            "sh",
            "-c",
            "ip -o link | grep -c lo:",
        ]);
        assert_eq!(d, b, "run --network {mode}");
    }
}

/// Exit codes and messages of the common mistakes, as docker 20.10's:
/// `exec` of a missing binary (126), `run -it` without a terminal (1, `the
/// input device is not a TTY`), `logs --tail abc` (the whole log), `-v
/// :/data`, `No such container`/`No such image` of rm, logs, exec, wait
/// and rmi, `rm` of a running container, a registry's `manifest unknown`.
#[test]
fn mistakes_exit_and_read_like_docker() {
    let p = Pair::new();
    let registry = berth_integration_tests::registry::Registry::start();
    let name = p.f.name("mk");
    let logged = p.f.name("mklog");
    let mut ids = Vec::new();
    for docker in [true, false] {
        let run = |a: &[&str]| p.on(docker, a);
        let out = run(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            &name,
            IMAGE,
            "sleep",
            "1000",
        ]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        ids.push(stdout(&out));
        let out = run(&[
            "run",
            "--network",
            "none",
            "--name",
            &logged,
            IMAGE,
            "seq",
            "1",
            "5",
        ]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    // Each daemon's full id of the running container reads as ID.
    let normal =
        |text: String| -> String { ids.iter().fold(text, |t, id| t.replace(id.as_str(), "ID")) };
    let missing = format!("{}/bt-nosuch:v1", registry.host());
    let cases: Vec<Vec<&str>> = vec![
        vec!["exec", &name, "/nonexistent"],
        vec!["exec", &name, "nonexistent"],
        vec!["run", "-it", "--network", "none", IMAGE, "true"],
        vec!["logs", "--tail", "abc", &logged],
        vec!["logs", "--tail", "2", &logged],
        vec!["rm", "bt-nosuch"],
        vec!["rm", "bt-nosuch", "bt-nosuch2"],
        vec!["logs", "bt-nosuch"],
        vec!["exec", "bt-nosuch", "true"],
        vec!["wait", "bt-nosuch"],
        vec!["rmi", "bt-nosuch"],
        vec!["rm", &name],
        vec!["pull", &missing],
        vec!["kill", "bt-nosuch"],
        vec!["start", "bt-nosuch"],
        vec!["stop", "bt-nosuch"],
        vec!["port", "bt-nosuch"],
        vec!["rename", "bt-nosuch", "bt-renamed"],
        vec!["cp", "bt-nosuch:/a", "-"],
        vec!["tag", "bt-nosuch", "bt-other"],
        vec!["history", "bt-nosuch"],
    ];
    for args in &cases {
        let (d, b) = p.both(args);
        assert_eq!(
            code(&d),
            code(&b),
            "exit code of {args:?}: docker {}, berth {}",
            stderr(&d),
            stderr(&b)
        );
        // An exec that cannot start: docker writes the error into the
        // exec's output (stdout); after its first words it is the
        // runtime's own text (runc's, berth-runtime's).
        let (d_out, b_out) = if args[0] == "exec" && args[1] == name {
            let words = |o: &Output| stdout(o).split(' ').take(4).collect::<Vec<_>>().join(" ");
            (words(&d), words(&b))
        } else {
            (stdout(&d), stdout(&b))
        };
        assert_eq!(d_out, b_out, "output of {args:?}");
        // The runtime's own error text after docker's prefix differs
        // (runc's words, berth-runtime's): the first words must match.
        let first = |out: &Output, words: usize| -> String {
            let line = stderr(out).lines().next().unwrap_or("").to_string();
            normal(line)
                .split(' ')
                .take(words)
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            as_berth(&first(&d, usize::MAX)),
            first(&b, usize::MAX),
            "message of {args:?}"
        );
        // Every line, where docker prints more than one.
        assert_eq!(
            normal(as_berth(&stderr(&d))),
            normal(stderr(&b)),
            "messages of {args:?}"
        );
    }
    // `-v :/data` is accepted as an anonymous volume, which the container
    // sees at `/:/data` (docker's CLI takes the whole spec as the
    // destination; Berth's inspect shows it absolute, `/:/data`).
    let (d, b) = p.both(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        ":/data",
        IMAGE,
        "sh",
        "-c",
        "mount | grep -c ' /:/data '",
    ]);
    assert_eq!(
        (code(&d), stdout(&d)),
        (0, "1".to_string()),
        "docker -v :/data: {}",
        stderr(&d)
    );
    assert_eq!(
        (code(&b), stdout(&b)),
        (0, "1".to_string()),
        "berth -v :/data: {}",
        stderr(&b)
    );
    for docker in [true, false] {
        let run = |a: &[&str]| p.on(docker, a);
        run(&["rm", "-f", &name, &logged]);
    }
}

/// `create -a` and `-i` set `Config.AttachStdin/Stdout/Stderr`,
/// `OpenStdin` and `StdinOnce` as docker's CLI does; `run -d` attaches none.
#[test]
fn attach_flags_recorded_like_docker() {
    let p = Pair::new();
    let probe = "{{.Config.AttachStdin}} {{.Config.AttachStdout}} {{.Config.AttachStderr}} {{.Config.OpenStdin}} {{.Config.StdinOnce}}";
    for flags in [
        vec!["create"],
        vec!["create", "-a", "stdout"],
        vec!["create", "-a", "stdin"],
        vec!["create", "-a", "stderr", "-a", "stdout"],
        vec!["create", "-i"],
        vec!["run", "-d"],
        vec!["run", "-d", "-i"],
    ] {
        let mut shown = Vec::new();
        for docker in [true, false] {
            let run = |a: &[&str]| p.on(docker, a);
            let mut args = flags.clone();
            args.extend(["--network", "none", IMAGE, "true"]);
            let out = run(&args);
            assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
            let id = stdout(&out);
            shown.push(stdout(&run(&["inspect", "-f", probe, &id])));
            run(&["rm", "-f", &id]);
        }
        assert_eq!(shown[0], shown[1], "{flags:?}");
    }
}

/// `import` records docker's history: no `CREATED BY`, the message as the
/// comment, else `Imported from -`.
#[test]
fn import_history_like_docker() {
    let p = Pair::new();
    let format = "{{.CreatedBy}}|{{.Comment}}";
    let (d, b) = p.both_ok(&["history", "--format", format, IMAGE]);
    assert_eq!(d, b, "history of an import");
}

/// An image's `GraphDriver.Data` names its layers' directories as docker's
/// overlay2 does: `UpperDir` holds the top layer's files (here the only
/// layer: busybox), with no `LowerDir` for a one-layer image.
#[test]
fn image_graph_driver_names_the_layer_dirs() {
    let p = Pair::new();
    let (d, b) = p.both_ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .GraphDriver.Data}}",
        IMAGE,
    ]);
    for (what, text) in [("docker", &d), ("berth", &b)] {
        let data: Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
        let upper = data["UpperDir"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no UpperDir: {text}"));
        assert!(
            std::path::Path::new(upper).join("bin/busybox").is_file(),
            "{what}: UpperDir {upper:?} lacks bin/busybox"
        );
        assert!(
            data.get("LowerDir").is_none(),
            "{what}: LowerDir of a one-layer image: {text}"
        );
    }
}

/// `{{json .Config}}` leaves out what docker's `omitempty` leaves out when
/// empty (`ExposedPorts`, `Healthcheck`, `MacAddress`, `StopSignal`,
/// `StopTimeout`, `Shell`...), while `{{.Config.MacAddress}}` still prints
/// the empty value.
#[test]
fn json_of_config_omits_what_docker_omits() {
    let p = Pair::new();
    let name = p.f.name("cfg");
    let keys = |text: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        v.as_object().expect("object").keys().cloned().collect()
    };
    for docker in [true, false] {
        let run = |a: &[&str]| p.on(docker, a);
        let out = run(&[
            "create",
            "--network",
            "none",
            "--name",
            &name,
            IMAGE,
            "true",
        ]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let (d, b) = p.both_ok(&["inspect", "-f", "{{json .Config}}", &name]);
    let (mut dk, mut bk) = (keys(&d), keys(&b));
    dk.sort();
    bk.sort();
    assert_eq!(
        dk, bk,
        "keys of {{{{json .Config}}}}:\ndocker {d}\nberth  {b}"
    );
    let (d, b) = p.both_ok(&[
        "inspect",
        "-f",
        "[{{.Config.MacAddress}}][{{.Config.StopSignal}}]",
        &name,
    ]);
    assert_eq!(d, b);
    for docker in [true, false] {
        let run = |a: &[&str]| p.on(docker, a);
        run(&["rm", "-f", &name]);
    }
}

/// `--ipc host` shows the host's /dev/mqueue and /dev/shm as docker's do
/// (same mounts, same flags); inspect's `HostConfig.Devices` and
/// `BlkioDevice*` lists are filled from the flags as docker fills them;
/// `--cpu-rt-runtime`, which this kernel refuses for a container cgroup,
/// fails in both with exit 125 naming `cpu.rt_runtime_us`.
#[test]
fn ipc_host_devices_blkio_and_rt_like_docker() {
    let p = Pair::new();
    let (d, b) = p.both_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--ipc",
        "host",
        IMAGE,
        "sh",
        "-c",
        "grep -E ' /dev/(mqueue|shm) ' /proc/mounts",
    ]);
    assert_eq!(d, b, "--ipc host mounts");
    let probe = "{{json .HostConfig.Devices}} {{json .HostConfig.BlkioDeviceReadBps}} {{json .HostConfig.BlkioDeviceWriteBps}} {{json .HostConfig.BlkioDeviceReadIOps}} {{json .HostConfig.BlkioDeviceWriteIOps}} {{json .HostConfig.BlkioWeightDevice}}";
    for flags in [
        vec![],
        vec![
            "--device",
            "/dev/null:/dev/xnull:rw",
            "--device",
            "/dev/zero",
            "--device-read-bps",
            "/dev/null:1mb",
            "--device-write-bps",
            "/dev/null:2kb",
            "--device-read-iops",
            "/dev/null:100",
            "--device-write-iops",
            "/dev/null:7",
        ],
    ] {
        let mut shown = Vec::new();
        for docker in [true, false] {
            let mut args = vec!["create", "--network", "none"];
            args.extend(&flags);
            args.extend([IMAGE, "true"]);
            let out = p.on(docker, &args);
            assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
            let id = stdout(&out);
            shown.push(stdout(&p.on(docker, &["inspect", "-f", probe, &id])));
            p.on(docker, &["rm", &id]);
        }
        assert_eq!(shown[0], shown[1], "{flags:?}");
    }
    let (d, b) = p.both(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--cpu-rt-runtime",
        "1000",
        IMAGE,
        "true",
    ]);
    assert_eq!(
        (code(&d), code(&b)),
        (125, 125),
        "docker {}\nberth {}",
        stderr(&d),
        stderr(&b)
    );
    for (what, out) in [("docker", &d), ("berth", &b)] {
        assert!(
            stderr(out).contains("cpu.rt_runtime_us"),
            "{what}: {}",
            stderr(out)
        );
    }
}

/// Containers on `host` and `none` have docker's endpoint there: the
/// network's id once started, an endpoint id while running (the same one
/// `network inspect` lists under `Containers`), none when stopped; the
/// `SandboxID` is made at start and kept after the container exits.
#[test]
fn predefined_network_endpoints_like_docker() {
    let p = Pair::new();
    let name = p.f.name("pdrun");
    let created = p.f.name("pdnew");
    let mut seen = Vec::new();
    for docker in [true, false] {
        let ok = |args: &[&str]| -> String {
            let o = p.on(docker, args);
            assert!(o.status.success(), "{docker} {args:?}: {}", stderr(&o));
            String::from_utf8_lossy(&o.stdout).trim_end().to_string()
        };
        let mut facts = Vec::new();
        for mode in ["host", "none"] {
            ok(&[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                mode,
                IMAGE,
                "sleep",
                "300",
            ]);
            ok(&[
                "create",
                "--name",
                &created,
                "--network",
                mode,
                IMAGE,
                "true",
            ]);
            let network: Value = serde_json::from_str(&ok(&["network", "inspect", mode])).unwrap();
            let network = &network[0];
            let c: Value = serde_json::from_str(&ok(&["inspect", &name])).unwrap();
            let id = c[0]["Id"].as_str().unwrap();
            let endpoint = &c[0]["NetworkSettings"]["Networks"][mode];
            let listed = &network["Containers"][id];
            facts.push(format!(
                "{mode}: sandbox {} network id {} endpoint {} listed {} name {}",
                c[0]["NetworkSettings"]["SandboxID"].as_str().unwrap().len(),
                endpoint["NetworkID"] == network["Id"],
                endpoint["EndpointID"].as_str().unwrap().len(),
                listed["EndpointID"] == endpoint["EndpointID"],
                listed["Name"] == Value::String(name.clone()),
            ));
            let new: Value = serde_json::from_str(&ok(&["inspect", &created])).unwrap();
            facts.push(format!(
                "{mode} created: {}",
                new[0]["NetworkSettings"]["Networks"][mode]
            ));
            ok(&["stop", "-t", "0", &name]);
            let c: Value = serde_json::from_str(&ok(&["inspect", &name])).unwrap();
            let endpoint = &c[0]["NetworkSettings"]["Networks"][mode];
            facts.push(format!(
                "{mode} stopped: sandbox {} network id {} endpoint {:?}",
                c[0]["NetworkSettings"]["SandboxID"].as_str().unwrap().len(),
                endpoint["NetworkID"] == network["Id"],
                endpoint["EndpointID"],
            ));
            ok(&["rm", "-f", &name, &created]);
        }
        seen.push(facts.join("\n"));
    }
    assert_eq!(seen[1], seen[0], "berth's, then docker's");
}
