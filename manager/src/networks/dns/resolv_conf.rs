//! resolv.conf of a container on a user network, as docker 20.10's
//! libnetwork writes it (`sandbox.setupDNS` then `rebuildDNS`): the
//! nameservers become `127.0.0.11` (IPv6 nameservers stay listed after
//! it), `search` and `options` are kept, and `ndots:0` is added unless the
//! source already sets `ndots` > 0. The IPv4 nameservers (at most three)
//! are what the embedded server forwards to.

use super::server::{ResolverConfig, MAX_UPSTREAMS, RESOLVER_ADDRESS};
use std::net::IpAddr;

/// The nameservers, search domains and options of resolv.conf text.
fn parse(text: &str) -> (Vec<IpAddr>, Vec<String>, Vec<String>) {
    let (mut servers, mut search, mut options) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ip) = words.next().and_then(|w| w.parse().ok()) {
                    servers.push(ip);
                }
            }
            // The last search/domain line wins (resolv.conf(5)).
            Some("search") | Some("domain") => search = words.map(str::to_string).collect(),
            Some("options") => options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    (servers, search, options)
}

/// Whether `options` set `ndots` above 0.
fn ndots_set(options: &[String]) -> bool {
    options.iter().any(|o| {
        o.strip_prefix("ndots:")
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n > 0)
    })
}

/// From `source` (the resolv.conf the container would have without the
/// embedded server: the host's without loopback nameservers, or `--dns`):
/// the text to write and what the resolver forwards to.
pub fn embedded(source: &str) -> (String, ResolverConfig) {
    let (servers, search, mut options) = parse(source);
    let mut out = String::new();
    if !search.is_empty() && search.join(" ").trim() != "." {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    out.push_str(&format!("nameserver {RESOLVER_ADDRESS}\n"));
    for s in servers.iter().filter(|s| s.is_ipv6()) {
        out.push_str(&format!("nameserver {s}\n"));
    }
    let ndots = ndots_set(&options);
    if !ndots {
        options.push("ndots:0".into());
    }
    out.push_str(&format!("options {}\n", options.join(" ")));
    let upstreams = servers
        .into_iter()
        .filter(|s| s.is_ipv4())
        .take(MAX_UPSTREAMS)
        .collect();
    (
        out,
        ResolverConfig {
            upstreams,
            ndots_set: ndots,
        },
    )
}

/// Whether resolv.conf text already points at the embedded server.
pub fn is_embedded(text: &str) -> bool {
    parse(text).0.first() == Some(&IpAddr::from(RESOLVER_ADDRESS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_form_with_upstreams() {
        let src = "# made by dhcp\nsearch lan example.org\nnameserver 192.0.2.1\nnameserver fd00::53\noptions edns0\n";
        let (text, cfg) = embedded(src);
        assert_eq!(
            text,
            "search lan example.org\nnameserver 127.0.0.11\nnameserver fd00::53\noptions edns0 ndots:0\n"
        );
        assert_eq!(cfg.upstreams, ["192.0.2.1".parse::<IpAddr>().unwrap()]);
        assert!(!cfg.ndots_set);
        assert!(is_embedded(&text));
        assert!(!is_embedded(src));
    }

    #[test]
    fn user_ndots_is_kept_and_at_most_three_upstreams() {
        let src = "nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\noptions ndots:2\n";
        let (text, cfg) = embedded(src);
        assert_eq!(text, "nameserver 127.0.0.11\noptions ndots:2\n");
        assert_eq!(cfg.upstreams.len(), 3);
        assert!(cfg.ndots_set);
        let (text, cfg) = embedded("");
        assert_eq!(text, "nameserver 127.0.0.11\noptions ndots:0\n");
        assert!(cfg.upstreams.is_empty());
    }
}
