//! A container's resolv.conf without the embedded DNS server (default
//! bridge, `--network none`), and the one in-place rewrite of a file berthd
//! bind-mounted into a container. Names between containers of a user
//! network are answered by the embedded DNS server ([`super::dns`]).

use std::io::Write;
use std::path::Path;

/// Rewrites `path` in place (same inode: the container's bind mount pins
/// the inode it was given at start, so a renamed-over file would never be
/// seen inside) with `contents`; a missing file is left missing.
pub fn rewrite_in_place(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut f = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    f.write_all(contents.as_bytes())?;
    let len = contents.len() as u64;
    f.set_len(len)?;
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
