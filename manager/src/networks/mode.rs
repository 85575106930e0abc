//! [`NetworkMode`]: which network a container joins (`--network`).

/// A `--network` value that is not a mode.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidNetworkMode(String);

/// The network a container joins (`--network`); serialised as docker's
/// name (`"none"`, `"host"`, `"bridge"`, `"container:<id>"`, a network's
/// name) in container records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// Its own network namespace with only loopback (`--network none`; the
    /// default of records made before bridge networks existed).
    #[default]
    None,
    /// The host's network namespace and hostname (`--network host`).
    Host,
    /// Its own namespace with a veth on the default `bridge` network (the
    /// default of `run`; see crate::networks).
    Bridge,
    /// Its own namespace with a veth on the user-defined network of that
    /// name or id.
    Named(String),
    /// The network namespace (and hostname, hosts, resolv.conf) of another
    /// container, by id or name; it must be running when this one starts.
    Container(String),
}

impl NetworkMode {
    /// Parses `--network`: `none`, `host`, `bridge` (or `default`),
    /// `container:ID`, or a network's name or id.
    pub fn parse(s: &str) -> Result<NetworkMode, InvalidNetworkMode> {
        match s {
            "none" => Ok(NetworkMode::None),
            "host" => Ok(NetworkMode::Host),
            "" | "bridge" | "default" => Ok(NetworkMode::Bridge),
            s => match s.strip_prefix("container:") {
                Some("") => Err(InvalidNetworkMode(
                    "invalid network mode: container: needs a container id or name".into(),
                )),
                Some(c) => Ok(NetworkMode::Container(c.to_string())),
                None => Ok(NetworkMode::Named(s.to_string())),
            },
        }
    }

    /// Docker's name of the mode (`ps`, `inspect` HostConfig.NetworkMode).
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        match self {
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Bridge => "bridge".into(),
            NetworkMode::Named(n) => n.as_str().into(),
            NetworkMode::Container(c) => format!("container:{c}").into(),
        }
    }

    /// Whether the container gets a network namespace of its own (not the
    /// host's, not another container's).
    pub fn has_own_namespace(&self) -> bool {
        matches!(
            self,
            NetworkMode::None | NetworkMode::Bridge | NetworkMode::Named(_)
        )
    }
}

impl serde::Serialize for NetworkMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for NetworkMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NetworkMode, D::Error> {
        let s = String::deserialize(d)?;
        NetworkMode::parse(&s).map_err(serde::de::Error::custom)
    }
}
