//! IPv4 address management: subnets, the pool new networks take theirs
//! from, and handing out addresses inside a subnet.
//!
//! Pure logic (no host access): the networks service feeds it the subnets
//! already in use (its own networks and the host's IPv4 routes) and the
//! addresses already allocated on a network, and persists what it answers.
//!
//! Rules (docker's, libnetwork `ipamutils` and `ipams/default`):
//! * the pool is 172.17.0.0/16 ... 172.31.0.0/16, then 192.168.0.0/20,
//!   192.168.16.0/20 ... 192.168.240.0/20; a network takes the first that
//!   overlaps nothing in use;
//! * the gateway is the first host address of the subnet unless given;
//! * containers get the lowest free host address (never the network
//!   address, the broadcast address or the gateway); a requested address
//!   must be inside the subnet and free.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;

/// What IPAM refuses; the service wraps it into its own error with the
/// network's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("invalid subnet {0:?}: want an IPv4 CIDR such as 172.20.0.0/16")]
    InvalidSubnet(String),
    #[error("invalid address {0:?}: want an IPv4 address such as 172.20.0.5")]
    InvalidAddress(String),
    #[error("no free address in {0}")]
    Exhausted(Subnet),
    #[error("address {address} is not in subnet {subnet}")]
    OutsideSubnet { address: Ipv4Addr, subnet: Subnet },
    #[error("address {0} is already in use")]
    InUse(Ipv4Addr),
    #[error("address {0} is reserved (network, broadcast or gateway address)")]
    Reserved(Ipv4Addr),
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    PoolExhausted,
}

/// An IPv4 subnet in CIDR form, its address masked (`172.18.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl serde::Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        Subnet::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

impl Subnet {
    /// A subnet from an address (its host bits are cleared) and a prefix
    /// length (0-32).
    pub fn new(address: Ipv4Addr, prefix: u8) -> Subnet {
        let prefix = prefix.min(32);
        Subnet {
            network: Ipv4Addr::from(u32::from(address) & mask(prefix)),
            prefix,
        }
    }

    /// Parses `A.B.C.D/N`; host bits must be zero (docker refuses
    /// `172.20.0.1/16` as a subnet too).
    pub fn parse(s: &str) -> Result<Subnet, IpamError> {
        let (address, prefix) = parse_cidr(s).ok_or_else(|| IpamError::InvalidSubnet(s.into()))?;
        let subnet = Subnet::new(address, prefix);
        if subnet.network != address {
            return Err(IpamError::InvalidSubnet(s.into()));
        }
        Ok(subnet)
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The broadcast address (the last one).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix))
    }

    /// Whether `address` is inside.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & mask(self.prefix) == u32::from(self.network)
    }

    /// Whether the two share any address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The first host address: the default gateway.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }
}

/// Parses `A.B.C.D/N` into its address (host bits kept) and prefix.
pub fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, p) = s.split_once('/')?;
    let address: Ipv4Addr = a.parse().ok()?;
    let prefix: u8 = p.parse().ok()?;
    (prefix <= 32).then_some((address, prefix))
}

/// Parses an IPv4 address given by the user (`--ip`, `--gateway`).
pub fn parse_address(s: &str) -> Result<Ipv4Addr, IpamError> {
    s.parse()
        .map_err(|_| IpamError::InvalidAddress(s.to_string()))
}

/// docker's default local address pools, in the order they are tried.
pub fn default_pool() -> impl Iterator<Item = Subnet> {
    let big = (17u8..=31).map(|b| Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let small = (0u8..16).map(|i| Subnet::new(Ipv4Addr::new(192, 168, i * 16, 0), 20));
    big.chain(small)
}

/// The first pool subnet that overlaps none of `in_use`.
pub fn pick_subnet(in_use: &[Subnet]) -> Result<Subnet, IpamError> {
    default_pool()
        .find(|candidate| !in_use.iter().any(|u| u.overlaps(candidate)))
        .ok_or(IpamError::PoolExhausted)
}

/// Checks that `address` can be given to a container on `subnet` whose
/// gateway is `gateway`, with `used` already handed out.
pub fn check_requested(
    subnet: &Subnet,
    gateway: Ipv4Addr,
    used: &BTreeSet<Ipv4Addr>,
    address: Ipv4Addr,
) -> Result<(), IpamError> {
    if !subnet.contains(address) {
        return Err(IpamError::OutsideSubnet {
            address,
            subnet: *subnet,
        });
    }
    if address == subnet.network() || address == subnet.broadcast() || address == gateway {
        return Err(IpamError::Reserved(address));
    }
    if used.contains(&address) {
        return Err(IpamError::InUse(address));
    }
    Ok(())
}

/// The lowest free host address of `subnet`.
pub fn next_free(
    subnet: &Subnet,
    gateway: Ipv4Addr,
    used: &BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr, IpamError> {
    let first = u32::from(subnet.network()) + 1;
    let last = u32::from(subnet.broadcast());
    (first..last)
        .map(Ipv4Addr::from)
        .find(|a| *a != gateway && !used.contains(a))
        .ok_or(IpamError::Exhausted(*subnet))
}

/// docker's MAC for an address: 02:42 then the four address bytes (a
/// locally administered unicast address, unique while the address is).
pub fn mac_for(address: Ipv4Addr) -> [u8; 6] {
    let o = address.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `aa:bb:cc:dd:ee:ff` (`--mac-address`); a multicast address
/// (low bit of the first byte) cannot be a host's.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *m = u8::from_str_radix(p, 16).ok()?;
    }
    (mac[0] & 1 == 0).then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn subnets_parse_and_compare() {
        let s = Subnet::parse("172.20.0.0/16").unwrap();
        assert_eq!(s.to_string(), "172.20.0.0/16");
        assert_eq!(s.first_host(), ip("172.20.0.1"));
        assert_eq!(s.broadcast(), ip("172.20.255.255"));
        assert!(s.contains(ip("172.20.3.4")));
        assert!(!s.contains(ip("172.21.0.1")));
        assert!(Subnet::parse("172.20.0.1/16").is_err());
        assert!(Subnet::parse("172.20.0.0").is_err());
        assert!(Subnet::parse("172.20.0.0/33").is_err());
        assert!(Subnet::parse("nope/8").is_err());
        let small = Subnet::parse("172.20.5.0/24").unwrap();
        assert!(s.overlaps(&small) && small.overlaps(&s));
        assert!(!small.overlaps(&Subnet::parse("172.20.6.0/24").unwrap()));
        let json = serde_json::to_string(&small).unwrap();
        assert_eq!(serde_json::from_str::<Subnet>(&json).unwrap(), small);
    }

    #[test]
    fn the_pool_skips_what_is_in_use() {
        assert_eq!(pick_subnet(&[]).unwrap().to_string(), "172.17.0.0/16");
        let used = [
            Subnet::parse("172.17.5.0/24").unwrap(),
            Subnet::parse("172.18.0.0/16").unwrap(),
        ];
        assert_eq!(pick_subnet(&used).unwrap().to_string(), "172.19.0.0/16");
        let all172 = [Subnet::parse("172.16.0.0/12").unwrap()];
        assert_eq!(pick_subnet(&all172).unwrap().to_string(), "192.168.0.0/20");
        let everything = [Subnet::parse("0.0.0.0/0").unwrap()];
        assert_eq!(pick_subnet(&everything), Err(IpamError::PoolExhausted));
    }

    #[test]
    fn addresses_are_handed_out_lowest_first_and_never_twice() {
        let s = Subnet::parse("10.9.0.0/30").unwrap();
        let gw = s.first_host();
        let mut used = BTreeSet::new();
        let a = next_free(&s, gw, &used).unwrap();
        assert_eq!(a, ip("10.9.0.2"));
        used.insert(a);
        assert_eq!(next_free(&s, gw, &used), Err(IpamError::Exhausted(s)));
        assert_eq!(check_requested(&s, gw, &used, a), Err(IpamError::InUse(a)));
        assert_eq!(
            check_requested(&s, gw, &used, gw),
            Err(IpamError::Reserved(gw))
        );
        assert!(matches!(
            check_requested(&s, gw, &used, ip("10.9.1.2")),
            Err(IpamError::OutsideSubnet { .. })
        ));
    }

    #[test]
    fn macs_follow_docker() {
        let mac = mac_for(ip("172.17.0.2"));
        assert_eq!(format_mac(&mac), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:ac:11:00:02"), Some(mac));
        assert_eq!(parse_mac("01:00:00:00:00:00"), None);
        assert_eq!(parse_mac("02:42:ac:11:00"), None);
        assert_eq!(parse_mac("zz:42:ac:11:00:02"), None);
    }
}
