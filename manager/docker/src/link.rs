//! `--link NAME[:ALIAS]`: docker's legacy container links, as the docker
//! 20.10 CLI parses them and its daemon turns them into a container's
//! environment and /etc/hosts lines (moby `opts.ParseLink`, `daemon/links`).
//!
//! On the default bridge a link gives the linking container, at each start,
//! one /etc/hosts line for the target (`IP\tALIAS HOSTNAME NAME`) and
//! environment variables naming the target's address, its exposed ports and
//! its own environment ([`link_env`]). On a user-defined network a link is
//! only a name: the alias resolves to the target through the embedded DNS
//! server, for the linking container alone, and no variables are set.

/// Why a `--link` value was refused (docker's words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("empty string specified for links")]
    Empty,
    #[error("bad format for links: {0}")]
    BadFormat(String),
}

/// `NAME[:ALIAS]` -> (name, alias); the alias defaults to the name. The
/// stored form `/NAME:/PARENT/ALIAS` (docker's inspect output, which API
/// clients send back) is read too.
pub fn parse_link(value: &str) -> Result<(String, String), LinkError> {
    if value.is_empty() {
        return Err(LinkError::Empty);
    }
    let parts: Vec<&str> = value.split(':').collect();
    match parts[..] {
        [name] => Ok((name.to_string(), name.to_string())),
        [name, alias] => match name.strip_prefix('/') {
            Some(name) => {
                let alias = alias.rsplit('/').next().unwrap_or(alias);
                Ok((name.to_string(), alias.to_string()))
            }
            None => Ok((name.to_string(), alias.to_string())),
        },
        _ => Err(LinkError::BadFormat(value.to_string())),
    }
}

/// An exposed port of the link's target: number and protocol (`tcp`,
/// `udp`, `sctp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposedPort {
    pub port: u16,
    pub proto: String,
}

impl ExposedPort {
    /// `80/tcp`, `53/udp`, or `80` (tcp); `None` for anything else.
    pub fn parse(spec: &str) -> Option<ExposedPort> {
        let (port, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
        Some(ExposedPort {
            port: port.parse().ok()?,
            proto: proto.to_ascii_lowercase(),
        })
    }
}

/// What a link knows of its target when the linking container starts.
#[derive(Debug, Clone)]
pub struct LinkTarget<'a> {
    /// The link's full name, `/PARENT/ALIAS` (`ALIAS_NAME`).
    pub link_name: &'a str,
    /// The target's address on the default bridge.
    pub address: &'a str,
    /// The target's environment (image's and its own), `KEY=VALUE`.
    pub env: &'a [String],
    /// The target's exposed ports, in any order.
    pub ports: &'a [ExposedPort],
}

/// docker's port order for links: by number, tcp first among equal
/// numbers (moby `links.withTCPPriority` as 20.10 sorts).
fn sort_ports(ports: &mut [ExposedPort]) {
    ports.sort_by(|a, b| {
        a.port
            .cmp(&b.port)
            .then_with(|| (b.proto == "tcp").cmp(&(a.proto == "tcp")))
    });
}

/// The index of the last port of the run of consecutive numbers starting
/// at `index` (docker's `nextContiguous`: the protocol is not compared).
fn next_contiguous(ports: &[ExposedPort], index: usize) -> usize {
    let first = u32::from(ports[index].port);
    // The k-th port after `index` continues the run if it is at most
    // first + k (docker compares with a counter, not with its neighbour).
    ports[index + 1..]
        .iter()
        .zip(1u32..)
        .position(|(p, k)| u32::from(p.port) > first + k)
        .map_or(ports.len() - 1, |i| index + i)
}

/// The environment a link gives the linking container, in docker's order
/// (moby `Link.ToEnv`): `ALIAS_PORT` (the first port), `_START`/`_END`
/// variables for every run of three or more consecutive ports (its first
/// port's `_ADDR`/`_PROTO` come with the per-port ones), four
/// variables per port, `ALIAS_NAME`, and `ALIAS_ENV_KEY` for the target's
/// variables except `HOME` and `PATH`. `ALIAS` is the alias upper-cased
/// with `-` as `_`.
pub fn link_env(target: &LinkTarget) -> Vec<String> {
    let alias = target
        .link_name
        .rsplit('/')
        .next()
        .unwrap_or(target.link_name)
        .to_ascii_uppercase()
        .replace('-', "_");
    let ip = target.address;
    let mut ports = target.ports.to_vec();
    sort_ports(&mut ports);
    let mut env = Vec::new();
    if let Some(p) = ports.first() {
        env.push(format!("{alias}_PORT={}://{ip}:{}", p.proto, p.port));
    }
    let mut i = 0;
    while i < ports.len() {
        let j = next_contiguous(&ports, i);
        if j > i + 1 {
            let (p, q) = (&ports[i], &ports[j]);
            let key = format!("{alias}_PORT_{}_{}", p.port, p.proto.to_ascii_uppercase());
            env.push(format!("{key}_START={}://{ip}:{}", p.proto, p.port));
            env.push(format!("{key}_PORT_START={}", p.port));
            let end = format!("{alias}_PORT_{}_{}", p.port, q.proto.to_ascii_uppercase());
            env.push(format!("{end}_END={}://{ip}:{}", q.proto, q.port));
            env.push(format!("{end}_PORT_END={}", q.port));
            i = j + 1;
        } else {
            i += 1;
        }
    }
    for p in &ports {
        let key = format!("{alias}_PORT_{}_{}", p.port, p.proto.to_ascii_uppercase());
        env.push(format!("{key}={}://{ip}:{}", p.proto, p.port));
        env.push(format!("{key}_ADDR={ip}"));
        env.push(format!("{key}_PORT={}", p.port));
        env.push(format!("{key}_PROTO={}", p.proto));
    }
    env.push(format!("{alias}_NAME={}", target.link_name));
    for entry in target.env {
        let Some((key, value)) = entry.split_once('=') else {
            continue;
        };
        if key == "HOME" || key == "PATH" {
            continue;
        }
        env.push(format!("{alias}_ENV_{key}={value}"));
    }
    env
}

/// The names of a link's /etc/hosts line (after the address): the alias,
/// the target's hostname, and its name unless that is the alias (moby
/// `buildSandboxOptions`).
pub fn hosts_names(alias: &str, target_hostname: &str, target_name: &str) -> String {
    let mut names = format!("{alias} {target_hostname}");
    if alias != target_name {
        names.push(' ');
        names.push_str(target_name);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(specs: &[&str]) -> Vec<ExposedPort> {
        specs
            .iter()
            .map(|s| ExposedPort::parse(s).unwrap())
            .collect()
    }

    #[test]
    fn parses_as_docker() {
        let p = |s| parse_link(s);
        assert_eq!(p("c1"), Ok(("c1".into(), "c1".into())));
        assert_eq!(p("c1:al"), Ok(("c1".into(), "al".into())));
        assert_eq!(p("/c1:/p/al"), Ok(("c1".into(), "al".into())));
        assert_eq!(
            p("").unwrap_err().to_string(),
            "empty string specified for links"
        );
        assert_eq!(
            p("c1:a:b").unwrap_err().to_string(),
            "bad format for links: c1:a:b"
        );
    }

    /// What docker 20.10 set for `--link c3:b` with c3 exposing 80,
    /// 7000-7001/tcp and 7002/udp (read off a real container's `env`).
    #[test]
    fn env_matches_docker_with_a_mixed_run_of_ports() {
        let env = link_env(&LinkTarget {
            link_name: "/zealous_lehmann/b",
            address: "10.251.0.3",
            env: &["PATH=/bin".into()],
            ports: &ports(&["7002/udp", "80/tcp", "7001/tcp", "7000/tcp"]),
        });
        let mut sorted = env.clone();
        sorted.sort();
        let want = [
            "B_NAME=/zealous_lehmann/b",
            "B_PORT=tcp://10.251.0.3:80",
            "B_PORT_7000_TCP=tcp://10.251.0.3:7000",
            "B_PORT_7000_TCP_ADDR=10.251.0.3",
            "B_PORT_7000_TCP_PORT=7000",
            "B_PORT_7000_TCP_PORT_START=7000",
            "B_PORT_7000_TCP_PROTO=tcp",
            "B_PORT_7000_TCP_START=tcp://10.251.0.3:7000",
            "B_PORT_7000_UDP_END=udp://10.251.0.3:7002",
            "B_PORT_7000_UDP_PORT_END=7002",
            "B_PORT_7001_TCP=tcp://10.251.0.3:7001",
            "B_PORT_7001_TCP_ADDR=10.251.0.3",
            "B_PORT_7001_TCP_PORT=7001",
            "B_PORT_7001_TCP_PROTO=tcp",
            "B_PORT_7002_UDP=udp://10.251.0.3:7002",
            "B_PORT_7002_UDP_ADDR=10.251.0.3",
            "B_PORT_7002_UDP_PORT=7002",
            "B_PORT_7002_UDP_PROTO=udp",
            "B_PORT_80_TCP=tcp://10.251.0.3:80",
            "B_PORT_80_TCP_ADDR=10.251.0.3",
            "B_PORT_80_TCP_PORT=80",
            "B_PORT_80_TCP_PROTO=tcp",
        ];
        assert_eq!(sorted, want);
        assert_eq!(env[0], "B_PORT=tcp://10.251.0.3:80");
    }

    #[test]
    fn env_names_the_lowest_port_first_and_copies_the_environment() {
        let env = link_env(&LinkTarget {
            link_name: "/p1/my-db",
            address: "10.0.0.2",
            env: &[
                "FOO=bar".into(),
                "HOME=/x".into(),
                "PATH=/bin".into(),
                "BARE".into(),
            ],
            ports: &ports(&["80/tcp", "53/udp", "53/tcp", "54/tcp"]),
        });
        assert_eq!(env[0], "MY_DB_PORT=tcp://10.0.0.2:53");
        // 53/tcp, 53/udp, 54/tcp: a run of three (docker ignores the protocol).
        assert!(env.contains(&"MY_DB_PORT_53_TCP_START=tcp://10.0.0.2:53".to_string()));
        assert!(env.contains(&"MY_DB_PORT_53_TCP_END=tcp://10.0.0.2:54".to_string()));
        assert!(env.contains(&"MY_DB_NAME=/p1/my-db".to_string()));
        assert!(env.contains(&"MY_DB_ENV_FOO=bar".to_string()));
        assert!(!env
            .iter()
            .any(|e| e.contains("_ENV_HOME") || e.contains("_ENV_PATH")));
        // Two consecutive ports are no run.
        let two = link_env(&LinkTarget {
            link_name: "/p/a",
            address: "10.0.0.2",
            env: &[],
            ports: &ports(&["8000", "8001"]),
        });
        assert!(!two.iter().any(|e| e.contains("_START")));
        assert_eq!(two.len(), 1 + 8 + 1);
    }

    #[test]
    fn hosts_line_names() {
        assert_eq!(
            hosts_names("al", "249768012d6b", "c1"),
            "al 249768012d6b c1"
        );
        assert_eq!(hosts_names("c1", "249768012d6b", "c1"), "c1 249768012d6b");
    }
}
