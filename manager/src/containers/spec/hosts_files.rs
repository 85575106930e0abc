//! `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` of a container:
//! files the containers service keeps in the container's state directory
//! and [`super::build_spec`] bind-mounts over the image's, as docker does
//! (moby `container.NetworkMounts`), so the image's own files stay
//! untouched and every container gets its name.
//!
//! The service calls [`HostsFiles::write`] with a directory of its own
//! (e.g. `/run/berth/tasks/<id>/`) before `build_spec`, and passes the
//! result in [`super::SpecContext::hosts_files`]. Contents:
//!
//! * hostname: the container's hostname and a newline;
//! * hosts: docker's loopback entries, the container's own name on its
//!   address (allocated at create on a bridge network; 127.0.1.1 without
//!   one, which keeps `hostname -i` and self lookups working), and
//!   `--add-host` entries; with `--network host` a copy of the host's
//!   /etc/hosts plus `--add-host` entries. Written once: the names of other
//!   containers come from the embedded DNS server, never from this file;
//! * resolv.conf: the host's without loopback nameservers (`--dns`
//!   replaces the nameservers; `--network host` keeps the host's as is);
//!   on a user network, docker's form pointing at the embedded server
//!   (`nameserver 127.0.0.11`, `options ndots:0`; crate::networks::dns).
//!   With `--dns-search` or `--dns-option` the file is rebuilt as docker's
//!   libnetwork `resolvconf.Build` writes it: a `search` line (the given
//!   domains, or the host's; `.` alone means none), the nameservers, an
//!   `options` line (the given options, or the host's); on a user network
//!   that is the source of the embedded server's form.

use std::path::{Path, PathBuf};

use berth_oci::Mount;

use super::{NetworkMode, SpecError};

/// What the user asked of the container's resolv.conf (`--dns`,
/// `--dns-search`, `--dns-option`); empty lists keep the host's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resolver<'a> {
    pub servers: &'a [String],
    pub search: &'a [String],
    pub options: &'a [String],
}

impl<'a> Resolver<'a> {
    /// Only `--dns` servers.
    pub fn servers(servers: &'a [String]) -> Resolver<'a> {
        Resolver {
            servers,
            ..Default::default()
        }
    }

    /// docker's `resolvconf.Build` over `base` (the file with the servers
    /// already chosen) when search domains or options were given.
    fn rebuild(&self, base: String) -> String {
        if self.search.is_empty() && self.options.is_empty() {
            return base;
        }
        let words = |key: &str| -> Vec<String> {
            base.lines()
                .filter_map(|l| {
                    let mut w = l.split_whitespace();
                    (w.next() == Some(key)).then(|| w.map(str::to_string).collect::<Vec<_>>())
                })
                .flatten()
                .collect()
        };
        let search = if self.search.is_empty() {
            words("search")
        } else {
            self.search.to_vec()
        };
        let options = if self.options.is_empty() {
            words("options")
        } else {
            self.options.to_vec()
        };
        let mut out = String::new();
        let search = search.join(" ");
        if !search.is_empty() && search.trim() != "." {
            out.push_str(&format!("search {search}\n"));
        }
        for server in words("nameserver") {
            out.push_str(&format!("nameserver {server}\n"));
        }
        if !options.is_empty() {
            out.push_str(&format!("options {}\n", options.join(" ")));
        }
        out
    }
}

/// Paths of the three files, on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsFiles {
    pub hostname: PathBuf,
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
}

/// Docker's loopback lines of /etc/hosts.
const LOOPBACK_HOSTS: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// Parses an `--add-host NAME:IP` entry into `(name, ip)`; the IP may be v6
/// (`h:::1`). Errors `invalid IP address in add-host: "x"`.
pub fn parse_extra_host(spec: &str) -> Result<(String, std::net::IpAddr), SpecError> {
    let (name, ip) = spec
        .split_once(':')
        .filter(|(n, _)| !n.is_empty())
        .ok_or_else(|| SpecError::invalid(format!("bad format for add-host: {spec:?}")))?;
    let ip = ip
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| SpecError::invalid(format!("invalid IP address in add-host: {ip:?}")))?;
    Ok((name.to_string(), ip))
}

impl HostsFiles {
    /// Writes the three files into `dir` (which must exist) and returns
    /// their paths; `address` is the container's on its first network.
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        dir: &Path,
        hostname: &str,
        domainname: Option<&str>,
        network: &NetworkMode,
        address: Option<std::net::Ipv4Addr>,
        extra_hosts: &[String],
        link_lines: &[String],
        resolver: &Resolver,
    ) -> Result<HostsFiles, SpecError> {
        let dns = resolver.servers;
        let extra = extra_hosts
            .iter()
            .map(|h| parse_extra_host(h))
            .collect::<Result<Vec<_>, _>>()?;
        let files = HostsFiles {
            hostname: dir.join("hostname"),
            hosts: dir.join("hosts"),
            resolv_conf: dir.join("resolv.conf"),
        };
        // docker's order: the defaults, `--add-host` lines, links' lines,
        // then the container's own (libnetwork builds the file from the
        // extra hosts and appends the sandbox's own entry).
        let mut hosts = match network {
            NetworkMode::Host => std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
            _ => LOOPBACK_HOSTS.to_string(),
        };
        if !hosts.is_empty() && !hosts.ends_with('\n') {
            hosts.push('\n');
        }
        for (name, ip) in extra {
            hosts.push_str(&format!("{ip}\t{name}\n"));
        }
        for line in link_lines {
            hosts.push_str(line);
            hosts.push('\n');
        }
        if *network != NetworkMode::Host {
            let fqdn = match domainname {
                Some(d) if !d.is_empty() => format!("{hostname}.{d} {hostname}"),
                _ => hostname.to_string(),
            };
            let own = address.map_or_else(|| "127.0.1.1".to_string(), |a| a.to_string());
            hosts.push_str(&format!("{own}\t{fqdn}\n"));
        }
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let resolv = match network {
            NetworkMode::Host if dns.is_empty() => resolver.rebuild(host_resolv),
            NetworkMode::Named(_) => {
                let own = resolver.rebuild(crate::networks::hosts::container_resolv_conf(
                    &host_resolv,
                    dns,
                ));
                crate::networks::dns::resolv_conf::embedded(&own).0
            }
            _ => resolver.rebuild(crate::networks::hosts::container_resolv_conf(
                &host_resolv,
                dns,
            )),
        };
        for (path, text) in [
            (&files.hostname, format!("{hostname}\n")),
            (&files.hosts, hosts),
            (&files.resolv_conf, resolv),
        ] {
            std::fs::write(path, text).map_err(|source| SpecError::Io {
                what: "write",
                path: path.display().to_string(),
                source,
            })?;
        }
        Ok(files)
    }

    /// Bind mounts of the files at /etc/{hostname,hosts,resolv.conf};
    /// read-only when the root is.
    pub fn mounts(&self, read_only: bool) -> Vec<Mount> {
        [
            ("/etc/hostname", &self.hostname),
            ("/etc/hosts", &self.hosts),
            ("/etc/resolv.conf", &self.resolv_conf),
        ]
        .into_iter()
        .map(|(dest, src)| {
            let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
            if read_only {
                options.push("ro".into());
            }
            Mount {
                destination: dest.into(),
                kind: Some("bind".into()),
                source: Some(src.display().to_string()),
                options,
                ..Default::default()
            }
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_hosts_parse() {
        let (n, ip) = parse_extra_host("db:10.0.0.2").unwrap();
        assert_eq!((n.as_str(), ip.to_string().as_str()), ("db", "10.0.0.2"));
        let (_, ip) = parse_extra_host("v6:::1").unwrap();
        assert!(ip.is_ipv6());
        assert!(parse_extra_host("db:notanip").is_err());
        assert!(parse_extra_host("noport").is_err());
    }

    #[test]
    fn writes_three_files() {
        let dir = std::env::temp_dir().join(format!("bt-spec-hosts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = HostsFiles::write(
            &dir,
            "abc",
            Some("example.org"),
            &NetworkMode::None,
            None,
            &["db:10.0.0.2".into()],
            &["10.0.0.3\tal 0123456789ab c1".into()],
            &Resolver::default(),
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&f.hostname).unwrap(), "abc\n");
        let hosts = std::fs::read_to_string(&f.hosts).unwrap();
        assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"));
        // docker's order: --add-host, links, the container's own line.
        assert!(
            hosts.ends_with(
                "ff02::2\tip6-allrouters\n10.0.0.2\tdb\n10.0.0.3\tal 0123456789ab c1\n127.0.1.1\tabc.example.org abc\n"
            ),
            "{hosts}"
        );
        assert!(f.resolv_conf.exists());
        let m = f.mounts(true);
        assert_eq!(m[1].destination, "/etc/hosts");
        assert_eq!(m[1].options, ["rbind", "rprivate", "ro"]);
        assert!(HostsFiles::write(
            &dir,
            "a",
            None,
            &NetworkMode::None,
            None,
            &["x".into()],
            &[],
            &Resolver::default()
        )
        .is_err());
        // On a user network: its address, docker's resolv.conf.
        let f = HostsFiles::write(
            &dir,
            "web",
            None,
            &NetworkMode::Named("front".into()),
            Some("172.20.0.2".parse().unwrap()),
            &[],
            &[],
            &Resolver::servers(&["192.0.2.1".into()]),
        )
        .unwrap();
        let hosts = std::fs::read_to_string(&f.hosts).unwrap();
        assert!(
            hosts.ends_with("ff02::2\tip6-allrouters\n172.20.0.2\tweb\n"),
            "{hosts}"
        );
        let resolv = std::fs::read_to_string(&f.resolv_conf).unwrap();
        assert!(resolv.contains("nameserver 127.0.0.11\n"), "{resolv}");
        assert!(!resolv.contains("192.0.2.1"), "{resolv}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn search_and_options_rebuild_the_file_as_docker() {
        let base = "# generated\nsearch host.example\nnameserver 10.0.0.1\noptions ndots:2\n";
        let search = vec!["a.example".to_string(), "b.example".to_string()];
        let options = vec!["ndots:3".to_string(), "timeout:1".to_string()];
        let r = Resolver {
            servers: &[],
            search: &search,
            options: &options,
        };
        assert_eq!(
            r.rebuild(base.into()),
            "search a.example b.example\nnameserver 10.0.0.1\noptions ndots:3 timeout:1\n"
        );
        let dot = vec![".".to_string()];
        let r = Resolver {
            search: &dot,
            ..Default::default()
        };
        assert_eq!(
            r.rebuild(base.into()),
            "nameserver 10.0.0.1\noptions ndots:2\n"
        );
        assert_eq!(Resolver::default().rebuild(base.into()), base);
    }
}
