//! `berth compose` (issue 18): Debian's docker-compose 1.29.2 run against
//! berthd's Docker API socket on a project with a healthchecked
//! dependency, a named volume, a network alias, an env_file and a restart
//! policy: up -d, ps, logs, exec, run --rm, a second up -d that recreates
//! nothing, stop/start, down -v.

use berth_integration_tests::containers::Fixture;
use berth_integration_tests::engines::{require_program, run_with_input};
use berth_integration_tests::{stderr, stdout};
use std::process::{Command, Output};
use std::time::Duration;

const PROJECT: &str = r#"services:
  db:
    image: busybox
    command: ["sh", "-c", "echo db-up; touch /data/ready; exec sleep 1000"]
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD", "test", "-f", "/data/ready"]
      interval: 1s
      retries: 30
    networks:
      back:
        aliases: [database]
  web:
    image: busybox
    command: ["sh", "-c", "echo web-up $$GREETING; exec sleep 1000"]
    env_file: [web.env]
    depends_on:
      db:
        condition: service_healthy
    networks: [back]
    restart: unless-stopped
volumes:
  data: {}
networks:
  back: {}
"#;

#[test]
fn docker_compose_runs_a_project_on_berthd() {
    require_program("docker-compose", "docker-compose");
    let f = Fixture::new();
    let dir = f.work.join("project");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("docker-compose.yml"), PROJECT).unwrap();
    std::fs::write(dir.join("web.env"), "GREETING=hello\n").unwrap();
    let project = f.name("cmp").replace('-', "");
    let compose = |args: &[&str]| -> Output {
        let mut cmd = Command::new(berth_integration_tests::bin_dir().join("berth"));
        cmd.current_dir(&dir)
            .arg("-H")
            .arg(f.d.host())
            .args([
                "compose",
                "--docker-host",
                &f.d.docker_host(),
                "-p",
                &project,
            ])
            .args(args);
        run_with_input(&mut cmd, None, Duration::from_secs(120))
    };
    let ok = |args: &[&str]| -> Output {
        let out = compose(args);
        assert!(
            out.status.success(),
            "compose {args:?}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
        out
    };
    ok(&["up", "-d"]);
    let ps = stdout(&ok(&["ps"]));
    assert_eq!(ps.matches("Up").count(), 2, "{ps}");
    let logs = stdout(&ok(&["logs", "web"]));
    assert!(logs.contains("web-up hello"), "{logs}");
    // The alias resolves on the project's network.
    ok(&[
        "exec", "-T", "web", "ping", "-c", "1", "-W", "5", "database",
    ]);
    assert_eq!(
        stdout(&ok(&["run", "--rm", "-T", "web", "echo", "ran"])),
        "ran"
    );
    // Nothing changed: nothing recreated.
    let again = ok(&["up", "-d"]);
    let text = stderr(&again);
    assert_eq!(text.matches("is up-to-date").count(), 2, "{text}");
    ok(&["stop"]);
    assert_eq!(stdout(&ok(&["ps", "-q"])).lines().count(), 2);
    ok(&["start"]);
    ok(&["down", "-v"]);
    assert_eq!(f.ok(&["ps", "-aq"]), "");
    let volumes = f.ok(&["volume", "ls", "-q"]);
    assert!(!volumes.contains(&project), "{volumes}");
}

#[test]
fn berth_compose_says_how_to_get_docker_compose() {
    let f = Fixture::new();
    let empty = f.work.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = Command::new(berth_integration_tests::bin_dir().join("berth"));
    cmd.env("PATH", &empty).args(["compose", "ps"]);
    let out = run_with_input(&mut cmd, None, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("apt-get install docker-compose"),
        "{}",
        stderr(&out)
    );
}
