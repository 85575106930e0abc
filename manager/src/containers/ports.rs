//! A container's published ports, as the containers service drives them:
//! parsed at create ([`container_ports`]), published once the container
//! has its address (start), unpublished at every exit (stop, kill, its own
//! exit, rm -f), and rebuilt from the records when berthd starts. The
//! mechanics (host port reservations, nftables rules) are
//! `crate::networks::ports` and `crate::networks::firewall`.

use super::config::ContainerConfig;
use super::record::ContainerRecord;
use super::service::ContainerService;
use super::spec::{ImageRuntimeConfig, NetworkMode};
use super::ContainerError;
use crate::networks::firewall::BridgeRules;
use crate::networks::ports::{parse_expose, ContainerPorts, PortError, PortPublisher, Protocol};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// docker's warning for `-p` with `--network host`.
pub const HOST_NETWORK_WARNING: &str = "Published ports are discarded when using host network mode";

/// Parses `-p`/`-P`/`--expose` at create: a bad spec is InvalidArgument
/// (naming the spec), IPv6 host addresses are NotImplemented. Answers the
/// ports and the warnings for the user.
pub(crate) fn container_ports(
    config: &ContainerConfig,
    image: &ImageRuntimeConfig,
) -> Result<(ContainerPorts, Vec<String>), ContainerError> {
    let o = &config.options;
    let ports =
        ContainerPorts::from_options(&o.publish, o.publish_all, &o.expose, &image.exposed_ports)
            .map_err(|e| match e {
                PortError::NotImplemented(m) => ContainerError::NotImplemented(m),
                other => ContainerError::InvalidArgument(other.to_string()),
            })?;
    let mut warnings = Vec::new();
    if o.network == NetworkMode::Host && (!o.publish.is_empty() || o.publish_all) {
        warnings.push(HOST_NETWORK_WARNING.to_string());
    }
    Ok((ports, warnings))
}

/// The ports of a `publish=`/`expose=` filter (`80`, `80/udp`,
/// `8000-8080/tcp`): none when the filter is not given.
pub(crate) fn port_filter(
    values: Option<&Vec<String>>,
) -> Result<Option<BTreeSet<(u16, Protocol)>>, ContainerError> {
    let Some(values) = values.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let mut out = BTreeSet::new();
    for v in values {
        out.extend(parse_expose(v).map_err(|e| ContainerError::InvalidArgument(e.to_string()))?);
    }
    Ok(Some(out))
}

/// The ports `ps` shows for a container (docker's `Ports`): while it runs,
/// every published binding and every exposed port not published;
/// nothing once stopped. (host IP, container port, host port or 0, proto).
pub fn listed_ports(r: &ContainerRecord) -> Vec<(String, u16, u16, Protocol)> {
    if !r.state.status.is_live() {
        return Vec::new();
    }
    let mut out: Vec<(String, u16, u16, Protocol)> = r
        .ports
        .published
        .iter()
        .map(|p| {
            (
                p.host_ip.to_string(),
                p.container_port,
                p.host_port,
                p.proto,
            )
        })
        .collect();
    for &(port, proto) in &r.ports.exposed {
        if !r
            .ports
            .published
            .iter()
            .any(|p| p.container_port == port && p.proto == proto)
        {
            out.push((String::new(), port, 0, proto));
        }
    }
    out
}

impl ContainerService {
    /// The port publisher (none: ports are recorded, never published;
    /// tests of the domain without nftables).
    pub fn port_publisher(&self) -> Option<Arc<PortPublisher>> {
        self.port_publisher.clone()
    }

    /// Publishes the ports of `record` to `container_ip` (call once the
    /// container has its address, before its process starts). With
    /// `--network host`/`none` nothing is published (docker). On failure
    /// nothing is left (no socket, no rule), the error is recorded in the
    /// container's state and returned as docker words it.
    pub async fn publish_ports(
        &self,
        record: &ContainerRecord,
        container_ip: Ipv4Addr,
    ) -> Result<(), ContainerError> {
        if matches!(
            record.config.options.network,
            NetworkMode::Host | NetworkMode::None
        ) {
            return Ok(());
        }
        let wanted = record.ports.wanted();
        if wanted.is_empty() {
            return Ok(());
        }
        let Some(publisher) = self.port_publisher() else {
            return Err(ContainerError::Internal(
                "publish ports: berthd has no port publisher".into(),
            ));
        };
        let id = record.id.clone();
        let previous = record.ports.published.clone();
        let result = tokio::task::spawn_blocking(move || {
            publisher.publish(&id, container_ip, &wanted, &previous)
        })
        .await?;
        match result {
            Ok(published) => {
                self.update(&record.id, |r| {
                    r.ports.container_ip = Some(container_ip);
                    r.ports.published = published;
                })?;
                Ok(())
            }
            Err(e) => {
                let message = format!(
                    "driver failed programming external connectivity on endpoint {} ({}): {e}",
                    record.name, record.id
                );
                let _ = self.update(&record.id, |r| r.state.error = message.clone());
                Err(ContainerError::FailedPrecondition(message))
            }
        }
    }

    /// Removes the DNAT rules of container `id` and frees its host ports
    /// (at every exit; best effort: a failure is logged, the exit goes on).
    pub(crate) async fn unpublish_ports(&self, id: &str) {
        let Some(publisher) = self.port_publisher() else {
            return;
        };
        let had = self
            .get(id)
            .map(|r| r.ports.container_ip.is_some() || !r.ports.published.is_empty())
            .unwrap_or(true);
        // Nothing was published (no -p/-P): no nftables work at all (an
        // `nft -j list table` per exit cost 4-5 ms of CPU).
        if !had {
            return;
        }
        let owned = id.to_string();
        let result = tokio::task::spawn_blocking(move || publisher.unpublish(&owned)).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(id, error = %e, "unpublish ports"),
            Err(e) => tracing::warn!(id, error = %e, "unpublish ports"),
        }
        let _ = self.update(id, |r| {
            r.ports.container_ip = None;
            r.ports.published.clear();
        });
    }

    /// At berthd start, after the running containers are known: makes the
    /// nftables table anew with `bridges` and the recorded ports of every
    /// running container, re-binding their host ports.
    pub async fn rebuild_published_ports(
        &self,
        bridges: Vec<BridgeRules>,
    ) -> Result<(), ContainerError> {
        let Some(publisher) = self.port_publisher() else {
            return Ok(());
        };
        let running: Vec<(String, ContainerPorts)> = self
            .records()?
            .into_iter()
            .filter(|r| r.state.status.is_live() && r.ports.container_ip.is_some())
            .map(|r| (r.id, r.ports))
            .collect();
        let failures =
            tokio::task::spawn_blocking(move || publisher.rebuild(&bridges, &running)).await??;
        for (id, e) in failures {
            tracing::warn!(id, error = %e, "could not re-bind a published port after restart");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::spec::ContainerOptions;

    fn config(options: ContainerOptions) -> ContainerConfig {
        ContainerConfig {
            image: "busybox".into(),
            options,
            log: Default::default(),
            auto_remove: false,
            runtime: None,
            stop_timeout: None,
            restart: Default::default(),
        }
    }

    #[test]
    fn create_parses_ports_and_maps_errors() {
        let mut image = ImageRuntimeConfig::default();
        image.exposed_ports.insert("53/udp".into());
        let (ports, warnings) = container_ports(
            &config(ContainerOptions {
                publish: vec!["8080:80".into()],
                publish_all: true,
                ..Default::default()
            }),
            &image,
        )
        .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(ports.bindings.len(), 1);
        assert_eq!(ports.wanted().len(), 2);
        let bad = container_ports(
            &config(ContainerOptions {
                publish: vec!["99999:80".into()],
                ..Default::default()
            }),
            &image,
        );
        assert!(
            matches!(&bad, Err(ContainerError::InvalidArgument(m)) if m.contains("99999:80")),
            "{bad:?}"
        );
        let v6 = container_ports(
            &config(ContainerOptions {
                publish: vec!["[::1]:80:80".into()],
                ..Default::default()
            }),
            &image,
        );
        assert!(
            matches!(v6, Err(ContainerError::NotImplemented(_))),
            "{v6:?}"
        );
        let (_, warnings) = container_ports(
            &config(ContainerOptions {
                publish: vec!["80".into()],
                network: NetworkMode::Host,
                ..Default::default()
            }),
            &image,
        )
        .unwrap();
        assert_eq!(warnings, vec![HOST_NETWORK_WARNING.to_string()]);
    }

    #[test]
    fn port_filters_parse_ports_and_ranges() {
        assert!(port_filter(None).unwrap().is_none());
        let f = port_filter(Some(&vec!["80".into(), "9000-9001/udp".into()]))
            .unwrap()
            .unwrap();
        assert!(f.contains(&(80, Protocol::Tcp)));
        assert!(f.contains(&(9001, Protocol::Udp)));
        assert!(port_filter(Some(&vec!["x".into()])).is_err());
    }
}
