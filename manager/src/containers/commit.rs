//! `commit`: a new image from a container's changes, as docker's
//! `CreateImageFromContainer` (moby `daemon/commit.go`).
//!
//! * The layer is the container's snapshot diff: an overlay upper dir is written as it is
//!   (no walk of the whole tree; whiteout devices and opaque directories become `.wh.`
//!   entries), through berth-store's one diff writer. Volumes and bind mounts are other
//!   filesystems mounted over the rootfs, so their contents are never in it; the mount
//!   targets the runtime makes (`/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`, `/proc`,
//!   `/sys`, `/dev/pts`...) are left out, as docker keeps them in its "init" layer below the
//!   container's, together with directories in the upper dir only because one was made
//!   inside them ([`MOUNT_TARGETS`]).
//! * A running container is paused while its layer is taken (docker's `--pause`, on by
//!   default; the `pause` and `unpause` events are docker's too), and unpaused after the
//!   image is made.
//! * The config is the container's (docker's `Config` of `inspect`) with the `--change`
//!   instructions applied by the Dockerfile frontend (berth-dockerfile), only those docker
//!   allows (docker 20.10: CMD ENTRYPOINT ENV EXPOSE HEALTHCHECK LABEL ONBUILD USER VOLUME
//!   WORKDIR);
//!   `container_config` is the container's config unchanged.
//! * Every input is checked before anything is paused or written: the reference, the
//!   changes, the container's state and its image.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_docker::reference::Reference;
use berth_docker::types::container::{Config, Empty, HealthConfig as DockerHealthConfig};
use berth_dockerfile::env::EnvList;
use berth_dockerfile::eval::{self, BuildOptions, EvalErrorKind, ImageConfig, StageStart};
use berth_dockerfile::instruction::{self, From, HealthConfig, Statement};
use berth_dockerfile::stages::{Dockerfile, Stage};
use berth_store::layer::{write_diff_filtered, Keep};

use super::archive::MOUNT_TARGETS;
use super::record::Status;
use super::{ContainerError, ContainerService};
use crate::images::commit::ChildImage;

/// What `commit` is asked for.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The container (ID, prefix or name).
    pub container: String,
    /// `REPO[:TAG]` (empty: the image gets no name).
    pub reference: String,
    /// `--author`.
    pub author: String,
    /// `--message`.
    pub comment: String,
    /// `--change`, one instruction each.
    pub changes: Vec<String>,
    /// `--pause`.
    pub pause: bool,
}

/// The instructions docker 20.10's commit takes (moby `validCommitCommands`: not
/// STOPSIGNAL, SHELL or MAINTAINER, which it refuses as "not a valid change command").
const CHANGE_INSTRUCTIONS: &[&str] = &[
    "cmd",
    "entrypoint",
    "env",
    "expose",
    "healthcheck",
    "label",
    "onbuild",
    "user",
    "volume",
    "workdir",
];

impl ContainerService {
    /// docker commit: the new image's ID.
    pub async fn commit(
        self: &Arc<Self>,
        options: CommitOptions,
    ) -> Result<String, ContainerError> {
        let record = self.resolve(&options.container)?;
        let reference = parse_reference(&options.reference)?;
        match record.state.status {
            Status::Dead => {
                return Err(ContainerError::Conflict(format!(
                    "You cannot commit container {} which is Dead",
                    record.id
                )))
            }
            Status::Removing => {
                return Err(ContainerError::Conflict(format!(
                    "You cannot commit container {} which is being removed",
                    record.id
                )))
            }
            _ => {}
        }
        let container_config = self.inspect(&record.id, false)?.config;
        let config = apply_changes(&container_config, &options.changes)?;
        let parent = self
            .images
            .lookup(&record.image_id)
            .map_err(|e| ContainerError::Image(Box::new(e)))?
            .resolved;
        let created_by = container_config.cmd.clone().unwrap_or_default().join(" ");
        let child = ChildImage {
            reference: reference.clone(),
            author: options.author.clone(),
            comment: options.comment.clone(),
            created_by,
            config: serde_json::to_value(&config).expect("serialise config"),
            container_config: serde_json::to_value(&container_config).expect("serialise config"),
            container_id: record.id.clone(),
        };

        // docker pauses a running container that is not paused yet, and ignores a
        // failure to (the commit goes on unpaused).
        let paused = options.pause
            && record.state.status == Status::Running
            && self.pause(&record.id).await.is_ok();
        let images = self.images.clone();
        let snapshotter = self.images.snapshotter().clone();
        let key = record.snapshot_key.clone();
        let made = tokio::task::spawn_blocking(move || {
            let (lowers, upper) = snapshotter.diff_dirs(&key)?;
            let layer = Box::new(move |out: &mut dyn std::io::Write| {
                let keep = |rel: &str, meta: Option<&Metadata>| keep_in_layer(&lowers, rel, meta);
                write_diff_filtered(&lowers, &upper.dir, upper.whiteouts, &keep, out)
            });
            images
                .commit_blocking(&parent, layer, &child)
                .map_err(|e| ContainerError::Image(Box::new(e)))
        })
        .await
        .map_err(ContainerError::from)
        .and_then(|r| r);
        if let Ok(id) = &made {
            let image_ref = reference.map(|r| r.familiar()).unwrap_or_default();
            self.publish(
                &record,
                "commit",
                &[
                    ("comment", options.comment.clone()),
                    ("imageID", id.clone()),
                    ("imageRef", image_ref),
                ],
            );
        }
        if paused {
            if let Err(e) = self.unpause(&record.id).await {
                tracing::warn!(container = %record.id, error = %e, "unpause after commit");
            }
        }
        made
    }
}

/// `REPO[:TAG]` as the docker client checks it: a name, no digest.
fn parse_reference(input: &str) -> Result<Option<Reference>, ContainerError> {
    if input.is_empty() {
        return Ok(None);
    }
    let reference =
        Reference::parse(input).map_err(|e| ContainerError::InvalidArgument(e.to_string()))?;
    if reference.digest.is_some() {
        return Err(ContainerError::InvalidArgument(
            "refusing to create a tag with a digest reference".into(),
        ));
    }
    Ok(Some(reference))
}

/// Whether the layer keeps the change at `rel` (a path under the root, `etc/hosts`):
/// not the mount targets docker's init layer holds, nor what is under them; a directory
/// above one of them only if something else under it is kept or its own mode or owner
/// differs from the image's (it is in the upper dir because a target was made inside).
fn keep_in_layer(lowers: &[PathBuf], rel: &str, meta: Option<&Metadata>) -> Keep {
    let path = format!("/{rel}");
    let under = |path: &str, dir: &str| {
        path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
    };
    if MOUNT_TARGETS.iter().any(|t| path == *t || under(&path, t)) {
        return Keep::Skip;
    }
    let Some(meta) = meta.filter(|m| m.is_dir()) else {
        return Keep::Entry;
    };
    if !MOUNT_TARGETS.iter().any(|t| under(t, &path)) {
        return Keep::Entry;
    }
    match lower_metadata(lowers, rel) {
        Some(low)
            if low.is_dir()
                && low.mode() == meta.mode()
                && low.uid() == meta.uid()
                && low.gid() == meta.gid() =>
        {
            Keep::IfHolding
        }
        // New in the container (the runtime made it for a target, docker's init layer
        // would hold it) unless something else is kept under it.
        None => Keep::IfHolding,
        Some(_) => Keep::Entry,
    }
}

/// The image's entry at `rel` (nearest layer first), as overlayfs shows it.
fn lower_metadata(lowers: &[PathBuf], rel: &str) -> Option<Metadata> {
    let comps: Vec<&std::ffi::OsStr> = Path::new(rel)
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    super::archive::lookup_in_lowers(lowers, &comps)
        .ok()
        .flatten()
}

/// docker's `BuildFromConfig`: the `--change` instructions applied to `config` by the
/// Dockerfile frontend. Errors are docker's words: a syntax error with its line, `X is
/// not a valid change command`, an instruction's own failure.
pub fn apply_changes(config: &Config, changes: &[String]) -> Result<Config, ContainerError> {
    if changes.is_empty() {
        return Ok(config.clone());
    }
    let invalid = |e: String| ContainerError::InvalidArgument(e);
    let ast = berth_dockerfile::parser::parse(changes.join("\n").as_bytes())
        .map_err(|e| invalid(e.to_string()))?;
    for node in &ast.nodes {
        let name = node.instruction.to_ascii_lowercase();
        if !CHANGE_INSTRUCTIONS.contains(&name.as_str()) {
            return Err(invalid(format!("{name} is not a valid change command")));
        }
    }
    let mut statements = Vec::with_capacity(ast.nodes.len());
    for node in &ast.nodes {
        // docker's commit words an instruction's error without the line (moby
        // `instructions.ParseCommand`, not the parser).
        let instruction = instruction::from_node(node).map_err(|kind| invalid(kind.to_string()))?;
        statements.push(Statement {
            line: node.start_line,
            end_line: node.end_line,
            source: node.original.clone(),
            instruction,
        });
    }
    let dockerfile = Dockerfile {
        directives: ast.directives.clone(),
        escape: ast.escape,
        meta_args: Vec::new(),
        stages: Vec::new(),
        warnings: Vec::new(),
    };
    let stage = Stage {
        index: 0,
        from: From {
            base: "scratch".into(),
            name: None,
            platform: None,
        },
        line: 1,
        source: String::new(),
        statements,
    };
    let start = image_config_of(config);
    let env = start.env.clone();
    let evaluated = eval::evaluate_stage(
        &dockerfile,
        &stage,
        StageStart {
            config: start,
            env,
            triggers: Vec::new(),
        },
        &EnvList::new(),
        &BuildOptions::default(),
    )
    .map_err(|e| match e.kind {
        // docker's classic dispatcher, which commit uses, words it so (nat.ParsePortSpec)
        // and names no line.
        EvalErrorKind::Port(port) => invalid(format!("Invalid containerPort: {port}")),
        kind => invalid(kind.to_string()),
    })?;
    Ok(with_image_config(config, &evaluated.config))
}

/// The fields of a container's config a Dockerfile instruction can set.
fn image_config_of(c: &Config) -> ImageConfig {
    ImageConfig {
        user: c.user.clone(),
        exposed_ports: c
            .exposed_ports
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect(),
        env: EnvList::from_strings(c.env.as_deref().unwrap_or_default()),
        entrypoint: c.entrypoint.clone(),
        cmd: c.cmd.clone(),
        healthcheck: c.healthcheck.as_ref().map(|h| HealthConfig {
            test: h.test.clone().unwrap_or_default(),
            interval: h.interval,
            timeout: h.timeout,
            start_period: h.start_period,
            start_interval: 0,
            retries: h.retries,
        }),
        volumes: c.volumes.iter().flatten().map(|(k, _)| k.clone()).collect(),
        working_dir: c.working_dir.clone(),
        labels: c.labels.clone().unwrap_or_default(),
        stop_signal: (!c.stop_signal.is_empty()).then(|| c.stop_signal.clone()),
        shell: c.shell.clone().unwrap_or_default(),
        on_build: c.on_build.clone().unwrap_or_default(),
        author: None,
    }
}

/// `c` with the fields of `image` a commit change can set.
fn with_image_config(c: &Config, image: &ImageConfig) -> Config {
    let set = |s: &std::collections::BTreeSet<String>| {
        (!s.is_empty()).then(|| s.iter().map(|k| (k.clone(), Empty {})).collect())
    };
    Config {
        user: image.user.clone(),
        exposed_ports: set(&image.exposed_ports),
        env: (!image.env.is_empty()).then(|| image.env.to_strings()),
        entrypoint: image.entrypoint.clone(),
        cmd: image.cmd.clone(),
        healthcheck: image.healthcheck.as_ref().map(|h| DockerHealthConfig {
            test: Some(h.test.clone()),
            interval: h.interval,
            timeout: h.timeout,
            start_period: h.start_period,
            retries: h.retries,
        }),
        volumes: set(&image.volumes),
        working_dir: image.working_dir.clone(),
        labels: if image.labels.is_empty() && c.labels.is_none() {
            None
        } else {
            Some(image.labels.clone())
        },
        stop_signal: image.stop_signal.clone().unwrap_or_default(),
        on_build: (!image.on_build.is_empty()).then(|| image.on_build.clone()),
        ..c.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Config {
        Config {
            env: Some(vec!["PATH=/bin".into()]),
            cmd: Some(vec!["sh".into()]),
            image: "busybox".into(),
            ..Config::default()
        }
    }

    #[test]
    fn changes_set_the_config_as_docker_does() {
        let c = apply_changes(
            &base(),
            &[
                r#"CMD ["/bin/sh","-c","echo hi"]"#.into(),
                "ENV A=1 B=\"two words\"".into(),
                "ENV C $A-x".into(),
                "WORKDIR /tmp".into(),
                "WORKDIR sub".into(),
                "LABEL x=y".into(),
                "EXPOSE 80 53/udp".into(),
                "VOLUME /data".into(),
                "USER nobody".into(),
                "ONBUILD RUN echo hi".into(),
                "HEALTHCHECK --interval=5s CMD true".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.cmd.unwrap(), ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.env.unwrap(), ["PATH=/bin", "A=1", "B=two words", "C=1-x"]);
        assert_eq!(c.working_dir, "/tmp/sub");
        assert_eq!(c.labels.unwrap()["x"], "y");
        let ports: Vec<String> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp"]);
        assert!(c.volumes.unwrap().contains_key("/data"));
        assert_eq!(c.user, "nobody");
        assert_eq!(c.on_build.unwrap(), ["RUN echo hi"]);
        assert_eq!(c.image, "busybox");
        let health = c.healthcheck.unwrap();
        assert_eq!(health.test.unwrap(), ["CMD-SHELL", "true"]);
        assert_eq!(health.interval, 5_000_000_000);
    }

    #[test]
    fn entrypoint_clears_the_inherited_cmd() {
        let c = apply_changes(&base(), &["ENTRYPOINT /bin/true".into()]).unwrap();
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "/bin/true"]);
        assert_eq!(c.cmd, None);
    }

    #[test]
    fn bad_changes_are_docker_errors() {
        let err = |c: &str| apply_changes(&base(), &[c.into()]).unwrap_err().to_string();
        assert_eq!(err("RUN echo"), "run is not a valid change command");
        assert_eq!(err("FROM busybox"), "from is not a valid change command");
        assert_eq!(err("BOGUS x"), "bogus is not a valid change command");
        assert_eq!(
            err("STOPSIGNAL SIGUSR1"),
            "stopsignal is not a valid change command"
        );
        assert_eq!(err("EXPOSE notaport"), "Invalid containerPort: notaport");
    }
}
