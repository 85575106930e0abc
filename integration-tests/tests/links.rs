//! `--link` and `--link-local-ip` (issue 14).
//!
//! On a user network both engines are driven with the same command lines
//! (a private dockerd 20.10 with runc): a link alias resolves through the
//! embedded DNS server for the linking container alone, inspect shows the
//! links and link-local addresses where docker does, and the refusals
//! read and exit as docker's. The private dockerd has no default bridge
//! (`--bridge=none`), so the legacy links of the default bridge are checked
//! on berth alone, against what docker 20.10 gave for the same links on a
//! machine with its bridge (the variables of a target exposing 53/udp, 80
//! and 8000-8002, the /etc/hosts line, the start refusal).

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::engines::{Dockerd, Runtime, IMAGE};
use berth_integration_tests::stderr;

/// The lines a user reads, with docker's name, the daemon prefix, the
/// `--help` hint and trailing full stops taken out.
fn normalized(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            l.replace("docker", "berth")
                .replace("Error response from daemon: ", "")
                .trim_end_matches('.')
                .to_string()
        })
        .filter(|l| !l.is_empty())
        .filter(|l| !(l.starts_with("See '") && l.ends_with(" --help'")))
        .filter(|l| !l.starts_with("time=\""))
        // The private dockerd runs without IP forwarding, and says so.
        .filter(|l| !l.starts_with("WARNING: IPv4 forwarding is disabled"))
        .collect()
}

/// A command line run by one engine: its exit code, stdout and stderr.
type Run<'a> = Box<dyn Fn(&[&str]) -> (i32, String, String) + 'a>;

#[test]
fn links_and_link_local_ips_on_a_user_network_like_docker() {
    let f = Fixture::new();
    let dockerd = Dockerd::new(Runtime::Runc);
    let docker: Run = Box::new(|args: &[&str]| {
        let r = dockerd.docker(args);
        (r.code(), r.stdout(), r.stderr())
    });
    let berth: Run = Box::new(|args: &[&str]| {
        let o = f.berth(args);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        (o.status.code().unwrap_or(-1), out, stderr(&o))
    });
    let net = f.name("lknet");
    let target = f.name("lktarget");
    let user = f.name("lkuser");
    let mut seen = Vec::new();
    for (engine, image, run, subnet) in [
        ("docker", IMAGE, &docker, "10.213.9.0/24"),
        ("berth", "busybox", &berth, "10.213.10.0/24"),
    ] {
        let ok = |args: &[&str]| {
            let (code, out, err) = run(args);
            assert_eq!(code, 0, "{engine} {args:?}: {err}");
            out.trim_end().to_string()
        };
        let mut outputs = Vec::new();
        ok(&["network", "create", "--subnet", subnet, &net]);
        ok(&[
            "run",
            "-d",
            "--name",
            &target,
            "--network",
            &net,
            image,
            "sleep",
            "300",
        ]);
        // The alias answers for the linking container; a link to a
        // container that does not exist is accepted (a name only).
        outputs.push(ok(&[
            "run",
            "--rm",
            "--network",
            &net,
            "--link",
            &format!("{target}:db"),
            "--link",
            "bt-nosuch:zz",
            "--link-local-ip",
            "169.254.10.6",
            image,
            "sh",
            "-c",
            "nslookup db 127.0.0.11 >/dev/null && echo db-resolves; \
             nslookup zz 127.0.0.11 >/dev/null 2>&1 || echo zz-does-not; \
             env | grep -c _PORT; ip -4 addr show eth0 | grep -o 'inet 169[^ ]*'",
        ]));
        // Another container on the network does not know the alias.
        let (code, _, _) = run(&[
            "run",
            "--rm",
            "--network",
            &net,
            image,
            "nslookup",
            "db",
            "127.0.0.11",
        ]);
        outputs.push(format!("unlinked lookup exit {}", code != 0));
        ok(&[
            "create",
            "--name",
            &user,
            "--network",
            &net,
            "--ip",
            &subnet.replace(".0/24", ".50"),
            "--link",
            &format!("{target}:db"),
            "--link-local-ip",
            "169.254.3.3",
            image,
            "true",
        ]);
        let inspect: serde_json::Value =
            serde_json::from_str(&ok(&["inspect", &user])).expect("inspect JSON");
        outputs.push(inspect[0]["HostConfig"]["Links"].to_string());
        // The top-level address fields are the default bridge's only.
        outputs.push(format!(
            "top-level {} {}",
            inspect[0]["NetworkSettings"]["IPAddress"], inspect[0]["NetworkSettings"]["Gateway"]
        ));
        let endpoint = &inspect[0]["NetworkSettings"]["Networks"][&net];
        outputs.push(endpoint["Links"].to_string().replace(&target, "TARGET"));
        outputs.push(
            endpoint["IPAMConfig"]
                .to_string()
                .replace(&subnet.replace(".0/24", ""), "SUBNET"),
        );
        for bad in [
            vec!["--link", "a:b:c"],
            vec!["--link", ""],
            vec!["--network", "host", "--link", "x"],
            vec!["--network", "none", "--link", "x"],
            vec!["--network", &net, "--link-local-ip", "bogus"],
            vec!["--network", &net, "--link-local-ip", "10.9.9.9"],
        ] {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(&bad);
            args.extend_from_slice(&[image, "true"]);
            let (code, _, err) = run(&args);
            outputs.push(format!("{bad:?}: {code} {:?}", normalized(&err)));
        }
        ok(&["rm", "-f", &user, &target]);
        ok(&["network", "rm", &net]);
        seen.push(outputs.join("\n"));
    }
    assert_eq!(seen[1], seen[0], "berth's, then docker's");
    assert!(f.all_names().is_empty(), "{:?}", f.all_names());
}

#[test]
fn legacy_links_on_the_default_bridge() {
    let f = Fixture::new();
    let target = f.name("lgtarget");
    let parent = f.name("lgparent");
    f.ok(&[
        "run",
        "-d",
        "--name",
        &target,
        "-e",
        "FOO=bar",
        "-e",
        "HOME=/x",
        "--expose",
        "53/udp",
        "--expose",
        "80",
        "--expose",
        "8000-8002",
        "busybox",
        "sleep",
        "300",
    ]);
    let address = f.inspect(&target)["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let short = &f.inspect(&target)["Id"].as_str().unwrap()[..12].to_string();
    // What docker 20.10 sets for the same target and `--link TARGET:al`.
    let out = f.ok(&[
        "run",
        "--rm",
        "--name",
        &parent,
        "--link",
        &format!("{target}:al"),
        "-e",
        "AL_ENV_FOO=mine",
        "busybox",
        "sh",
        "-c",
        "env | grep ^AL_ | sort; tail -2 /etc/hosts",
    ]);
    let a = &address;
    let want = format!(
        "AL_ENV_FOO=mine
AL_NAME=/{parent}/al
AL_PORT=udp://{a}:53
AL_PORT_53_UDP=udp://{a}:53
AL_PORT_53_UDP_ADDR={a}
AL_PORT_53_UDP_PORT=53
AL_PORT_53_UDP_PROTO=udp
AL_PORT_8000_TCP=tcp://{a}:8000
AL_PORT_8000_TCP_ADDR={a}
AL_PORT_8000_TCP_END=tcp://{a}:8002
AL_PORT_8000_TCP_PORT=8000
AL_PORT_8000_TCP_PORT_END=8002
AL_PORT_8000_TCP_PORT_START=8000
AL_PORT_8000_TCP_PROTO=tcp
AL_PORT_8000_TCP_START=tcp://{a}:8000
AL_PORT_8001_TCP=tcp://{a}:8001
AL_PORT_8001_TCP_ADDR={a}
AL_PORT_8001_TCP_PORT=8001
AL_PORT_8001_TCP_PROTO=tcp
AL_PORT_8002_TCP=tcp://{a}:8002
AL_PORT_8002_TCP_ADDR={a}
AL_PORT_8002_TCP_PORT=8002
AL_PORT_8002_TCP_PROTO=tcp
AL_PORT_80_TCP=tcp://{a}:80
AL_PORT_80_TCP_ADDR={a}
AL_PORT_80_TCP_PORT=80
AL_PORT_80_TCP_PROTO=tcp
{a}\tal {short} {target}"
    );
    let (got, own) = out.rsplit_once('\n').unwrap();
    assert_eq!(got, want, "the container's own -e wins over the link's");
    assert!(!own.contains("\tal "), "its own line comes last: {out}");

    // Create records the link by id; inspect and ps --no-trunc show it;
    // a renamed target keeps it.
    f.ok(&[
        "create", "--name", &parent, "--link", &target, "busybox", "true",
    ]);
    assert_eq!(
        f.inspect(&parent)["HostConfig"]["Links"],
        serde_json::json!([format!("/{target}:/{parent}/{target}")])
    );
    let renamed = format!("{target}-r");
    f.ok(&["rename", &target, &renamed]);
    assert_eq!(
        f.inspect(&parent)["HostConfig"]["Links"],
        serde_json::json!([format!("/{renamed}:/{parent}/{target}")])
    );
    let names = f.ok(&[
        "ps",
        "--no-trunc",
        "--filter",
        &format!("name={renamed}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(names, format!("{renamed},{parent}/{target}"));
    let names = f.ok(&[
        "ps",
        "--filter",
        &format!("name={renamed}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(names, renamed, "truncated names hide links, as docker's");

    // A stopped target refuses the start with docker's words.
    f.ok(&["stop", "-t", "0", &renamed]);
    let o = f.berth(&["start", &parent]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "Cannot link to a non running container: /{renamed} AS /{parent}/{target}"
        )),
        "{}",
        stderr(&o)
    );
    // rm --link drops the link, not a container; then the start works.
    let o = f.berth(&["rm", "--link", &format!("{parent}/{target}")]);
    assert_ne!(o.status.code(), Some(0), "docker wants the leading /");
    f.ok(&["rm", "--link", &format!("/{parent}/{target}")]);
    assert_eq!(
        f.inspect(&parent)["HostConfig"]["Links"],
        serde_json::Value::Null
    );
    f.ok(&["start", &parent]);

    // A target that does not exist: docker's words, nothing created.
    let before = f.all_names();
    let o = f.berth(&["create", "--link", "bt-nosuch:x", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("could not get container for bt-nosuch: No such container: bt-nosuch"),
        "{}",
        stderr(&o)
    );
    assert_eq!(f.all_names(), before);
    f.ok(&["rm", "-f", &parent, &renamed]);
}
