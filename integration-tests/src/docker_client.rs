//! The docker CLI and raw HTTP against a berthd's Docker API socket: what
//! the Docker API tests (`tests/docker_api*.rs`) drive berthd with.

use crate::containers::Fixture;
use crate::engines::{run_with_input, DOCKER_CLI};
use crate::{stderr, stdout};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

pub const TIMEOUT: Duration = Duration::from_secs(90);

/// `/usr/bin/docker ARGS` against berthd's docker socket.
pub fn docker_cmd(f: &Fixture, args: &[&str]) -> Command {
    let mut cmd = Command::new(DOCKER_CLI);
    cmd.env("DOCKER_HOST", f.d.docker_host())
        .env("DOCKER_CONFIG", f.work.join("docker-cli"))
        .args(args);
    cmd
}

pub fn docker(f: &Fixture, args: &[&str]) -> Output {
    run_with_input(&mut docker_cmd(f, args), None, TIMEOUT)
}

pub fn docker_in(f: &Fixture, args: &[&str], input: &[u8]) -> Output {
    run_with_input(&mut docker_cmd(f, args), Some(input), TIMEOUT)
}

/// The command's stdout; panics with its stderr unless it exited 0.
pub fn docker_ok(f: &Fixture, args: &[&str]) -> String {
    let out = docker(f, args);
    assert!(
        out.status.success(),
        "docker {args:?}: {:?}\n{}",
        out.status,
        stderr(&out)
    );
    stdout(&out)
}

/// A raw HTTP/1.1 exchange on a unix socket: status, headers (lower-case
/// names) and body.
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

pub fn http(socket: &Path, method: &str, path: &str, body: Option<&str>) -> HttpAnswer {
    let mut s = UnixStream::connect(socket).expect("connect docker socket");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v == "chunked")
    {
        body = dechunk(&body);
    }
    HttpAnswer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let len =
            usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap().trim(), 16).unwrap();
        if len == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + len]);
        data = &data[eol + 4 + len..];
    }
}

/// stdout and stderr exactly as written (the lib's helpers trim).
pub fn raw_out(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn raw_err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// berthd's open descriptors come back to `baseline` (connections closed
/// by the client are let go).
pub fn fds_return_to(f: &Fixture, baseline: &[String], what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while fd_links(f.d.pid()).len() > baseline.len() {
        if std::time::Instant::now() > deadline {
            let now = fd_links(f.d.pid());
            let count = |v: &[String], l: &String| v.iter().filter(|x| *x == l).count();
            let mut extra: Vec<_> = now
                .iter()
                .filter(|l| count(&now, l) > count(baseline, l))
                .collect();
            extra.dedup();
            panic!(
                "{what}: {} descriptors, {} before; new: {extra:?}",
                now.len(),
                baseline.len()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// berthd's sockets (clients' connections, its own to shims): what a
/// hung-up client would leave open. Other descriptors (the domain's
/// pidfds and eventfds of process watchers) come and go on their own.
pub fn fd_links(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|l| l.display().to_string())
        .filter(|l| l.starts_with("socket:"))
        .collect()
}
