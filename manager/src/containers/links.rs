//! `--link NAME[:ALIAS]`: docker's legacy links, kept as docker 20.10's
//! daemon keeps them.
//!
//! | network of the linking container | create | start | inspect |
//! |---|---|---|---|
//! | default bridge, none | each target must exist ([`register`]: docker's `registerLinks`); recorded by id as a [`LegacyLink`], the first of two equal aliases kept | each target must run and be on the default bridge; its /etc/hosts line and variables ([`at_start`], `berth_docker::link`) | `HostConfig.Links` `/TARGET:/NAME/ALIAS` ([`host_config_links`]) |
//! | a user network | not checked | nothing here: the alias is a name the embedded DNS server answers for this container alone (the endpoint's `links`) | `Networks.N.Links` as given |
//! | host, container: | refused: docker's "conflicting options" | | |
//!
//! Links are by id, so a renamed target keeps its links and a removed one
//! drops them (docker's link graph forgets a removed child); `rm --link
//! /NAME/ALIAS` removes one ([`ContainerService::remove_link`]). `ps` shows a
//! target's link names with `--no-trunc` ([`link_names`]).

use super::record::ContainerRecord;
use super::spec::ContainerOptions;
use super::{ContainerError, ContainerService};
use crate::networks::NetworkMode;
use berth_docker::link::{self, ExposedPort, LinkTarget};

use std::collections::BTreeMap;

/// A link recorded at create on the default bridge: the target's id and
/// the alias the linking container knows it by.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LegacyLink {
    pub target: String,
    pub alias: String,
}

/// What a container's links give it at start: variables (before the
/// image's and its own, which override them, as docker's
/// `CreateDaemonEnvironment`) and /etc/hosts lines (`IP\tNAMES`).
#[derive(Debug, Default, Clone)]
pub struct LinkContext {
    pub env: Vec<String>,
    pub hosts: Vec<String>,
}

const HOST_AND_LINKS: &str =
    "conflicting options: host type networking can't be used with links. This would result in undefined behavior";
const CONTAINER_AND_LINKS: &str =
    "conflicting options: container type network can't be used with links. This would result in undefined behavior";

/// Create: the links of a container on the default bridge (or none),
/// resolved to their targets; nothing for a user network, whose links are
/// names only. Refuses links with host or container: networking, and a
/// target that does not exist or uses the host's network.
pub fn register(
    containers: &ContainerService,
    o: &ContainerOptions,
) -> Result<Vec<LegacyLink>, ContainerError> {
    if o.links.is_empty() {
        return Ok(Vec::new());
    }
    let mut parsed = Vec::new();
    for value in &o.links {
        let (name, alias) =
            link::parse_link(value).map_err(|e| ContainerError::InvalidArgument(e.to_string()))?;
        parsed.push((name, alias));
    }
    match &o.network {
        NetworkMode::Host => return Err(ContainerError::InvalidArgument(HOST_AND_LINKS.into())),
        NetworkMode::Container(_) => {
            return Err(ContainerError::InvalidArgument(CONTAINER_AND_LINKS.into()))
        }
        NetworkMode::Named(_) => return Ok(Vec::new()),
        NetworkMode::Bridge | NetworkMode::None => {}
    }
    let mut links: Vec<LegacyLink> = Vec::new();
    for (name, alias) in parsed {
        let mut target = containers.resolve(&name).map_err(|e| match e {
            ContainerError::NotFound(_) => ContainerError::InvalidArgument(format!(
                "could not get container for {name}: No such container: {name}"
            )),
            other => other,
        })?;
        // A target sharing another's namespace is linked through the
        // namespace's owner (docker follows the chain too).
        while let NetworkMode::Container(owner) = &target.config.options.network {
            target = containers.resolve(owner).map_err(|_| {
                ContainerError::InvalidArgument(format!("Could not get container for {owner}"))
            })?;
        }
        if target.config.options.network == NetworkMode::Host {
            return Err(ContainerError::InvalidArgument(HOST_AND_LINKS.into()));
        }
        if !links.iter().any(|l| l.alias == alias) {
            links.push(LegacyLink {
                target: target.id,
                alias,
            });
        }
    }
    Ok(links)
}

/// Start: the variables and hosts lines of `r`'s links on the default
/// bridge (none elsewhere: docker reads them from the bridge endpoints).
/// A target that no longer exists is skipped; one that is not running,
/// or not on the default bridge, fails the start with docker's words.
pub fn at_start(
    containers: &ContainerService,
    r: &ContainerRecord,
) -> Result<LinkContext, ContainerError> {
    let links = &r.config.options.legacy_links;
    let mut out = LinkContext::default();
    if links.is_empty() || r.config.options.network != NetworkMode::Bridge {
        return Ok(out);
    }
    for l in links {
        let Ok(target) = containers.get(&l.target) else {
            continue;
        };
        if !target.state.status.is_live() {
            return Err(ContainerError::FailedPrecondition(format!(
                "Cannot link to a non running container: /{} AS /{}/{}",
                target.name, r.name, l.alias
            )));
        }
        let address = containers
            .networks
            .endpoints_of(&target.id)
            .into_iter()
            .find(|(n, _)| n.default)
            .map(|(_, e)| e.address)
            .ok_or_else(|| {
                ContainerError::FailedPrecondition(format!(
                    "container {} not attached to default bridge network",
                    target.id
                ))
            })?
            .to_string();
        let ports: Vec<ExposedPort> = target
            .ports
            .exposed
            .iter()
            .map(|(port, proto)| ExposedPort {
                port: *port,
                proto: proto.as_str().to_string(),
            })
            .collect();
        let link_name = format!("/{}/{}", r.name, l.alias);
        out.env.extend(link::link_env(&LinkTarget {
            link_name: &link_name,
            address: &address,
            env: &containers.config_env(&target),
            ports: &ports,
        }));
        out.hosts.push(format!(
            "{address}\t{}",
            link::hosts_names(&l.alias, &target.hostname, &target.name)
        ));
    }
    Ok(out)
}

/// inspect's `HostConfig.Links`: `/TARGET:/NAME/ALIAS` for each link whose
/// target still exists; `None` (docker's null) when there is none.
pub fn host_config_links(
    containers: &ContainerService,
    r: &ContainerRecord,
) -> Option<Vec<String>> {
    let out: Vec<String> = r
        .config
        .options
        .legacy_links
        .iter()
        .filter_map(|l| {
            let target = containers.get(&l.target).ok()?;
            Some(format!("/{}:/{}/{}", target.name, r.name, l.alias))
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

/// The names containers link to others by, per target id (`/NAME/ALIAS`):
/// `ps --no-trunc` and the Docker API list them after the target's own.
pub fn link_names(records: &[ContainerRecord]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in records {
        for l in &r.config.options.legacy_links {
            out.entry(l.target.clone())
                .or_default()
                .push(format!("/{}/{}", r.name, l.alias));
        }
    }
    out
}

impl ContainerService {
    /// `rm --link /NAME/ALIAS`: removes that link of container NAME (docker's
    /// `rmLink`); the containers stay.
    pub fn remove_link(&self, full_name: &str) -> Result<(), ContainerError> {
        let not_found = || ContainerError::NotFound(full_name.to_string());
        let Some(trimmed) = full_name.strip_prefix('/') else {
            // A container's own name is its "default link name".
            return match full_name.contains('/') {
                false if self.resolve(full_name).is_ok() => Err(ContainerError::InvalidArgument(
                    "Conflict, cannot remove the default link name of the container".into(),
                )),
                _ => Err(not_found()),
            };
        };
        let (parent, alias) = trimmed
            .split_once('/')
            .filter(|(p, a)| !p.is_empty() && !a.is_empty() && !a.contains('/'))
            .ok_or_else(not_found)?;
        let parent = self.resolve(parent).map_err(|_| not_found())?;
        if !parent
            .config
            .options
            .legacy_links
            .iter()
            .any(|l| l.alias == alias)
        {
            return Err(not_found());
        }
        self.update(&parent.id, |r| {
            r.config.options.legacy_links.retain(|l| l.alias != alias)
        })?;
        Ok(())
    }
}
