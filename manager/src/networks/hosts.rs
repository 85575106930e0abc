//! Name resolution between containers: each container's `/etc/hosts`
//! (the file berthd keeps at `<root>/containers/<id>/hosts` and bind-mounts
//! into the container) lists, for every user-defined network it is on,
//! every other attached container there by name, aliases and short id.
//!
//! There is no DNS server: busybox, musl and glibc all read /etc/hosts
//! first. Tools that speak DNS only (`nslookup`, `dig`) do not see these
//! names (docs/networking.md).
//!
//! The file is rewritten in place (truncate + write on the same inode),
//! never replaced by a rename: the container's bind mount pins the inode it
//! was given at start, so a renamed-over file would never be seen inside.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;

/// Docker's loopback lines of /etc/hosts.
pub const LOOPBACK_HOSTS: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// One line of a hosts file: an address and its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub address: Ipv4Addr,
    pub names: Vec<String>,
}

/// The contents of a bridge-networked container's /etc/hosts: loopback,
/// its own address with its hostname (and `hostname.domain`), the peers,
/// then `--add-host` lines (`extra`, already `ip\tname`).
pub fn render_hosts(
    own: Option<Ipv4Addr>,
    hostname: &str,
    domainname: Option<&str>,
    peers: &[HostEntry],
    extra: &[(String, std::net::IpAddr)],
) -> String {
    let mut out = String::from(LOOPBACK_HOSTS);
    let fqdn = match domainname {
        Some(d) if !d.is_empty() => format!("{hostname}.{d} {hostname}"),
        _ => hostname.to_string(),
    };
    match own {
        Some(a) => out.push_str(&format!("{a}\t{fqdn}\n")),
        None => out.push_str(&format!("127.0.1.1\t{fqdn}\n")),
    }
    for p in peers {
        out.push_str(&format!("{}\t{}\n", p.address, p.names.join(" ")));
    }
    for (name, ip) in extra {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    out
}

/// Rewrites `path` in place (same inode) with `contents`; a missing file is
/// left missing (the container is gone).
pub fn rewrite_in_place(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut f = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    f.set_len(0)?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

/// A container's resolv.conf as docker makes it: the host's, without
/// loopback nameservers (they would point into the container's own
/// namespace); `dns` (from `--dns`) replaces the nameservers.
pub fn container_resolv_conf(host: &str, dns: &[String]) -> String {
    let mut out = String::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let server = words.next().unwrap_or("");
            let loopback = server
                .parse::<std::net::IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false);
            if loopback || !dns.is_empty() {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    for d in dns {
        out.push_str(&format!("nameserver {d}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_list_self_peers_and_extras() {
        let peers = [HostEntry {
            address: "172.20.0.3".parse().unwrap(),
            names: vec!["db".into(), "database".into(), "0123456789ab".into()],
        }];
        let extra = [("gw".to_string(), "10.0.0.1".parse().unwrap())];
        let text = render_hosts(
            Some("172.20.0.2".parse().unwrap()),
            "web1",
            Some("example.org"),
            &peers,
            &extra,
        );
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(text.contains("172.20.0.2\tweb1.example.org web1\n"));
        assert!(text.contains("172.20.0.3\tdb database 0123456789ab\n"));
        assert!(text.ends_with("10.0.0.1\tgw\n"));
        let alone = render_hosts(None, "x1", None, &[], &[]);
        assert!(alone.ends_with("127.0.1.1\tx1\n"));
    }

    #[test]
    fn rewrites_keep_the_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts");
        std::fs::write(&p, "a long first version of the file\n").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        rewrite_in_place(&p, "short\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "short\n");
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);
        rewrite_in_place(&dir.path().join("gone"), "x").unwrap();
        assert!(!dir.path().join("gone").exists());
    }

    #[test]
    fn resolv_conf_drops_loopback_and_honours_dns() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch lan\n";
        assert_eq!(
            container_resolv_conf(host, &[]),
            "# generated\nnameserver 192.0.2.1\nsearch lan\n"
        );
        assert_eq!(
            container_resolv_conf(host, &["10.1.1.1".into()]),
            "# generated\nsearch lan\nnameserver 10.1.1.1\n"
        );
    }
}
