//! `--change`: Dockerfile instructions applied to an image config, as docker's
//! `BuildFromConfig` (moby `builder/dockerfile/builder.go`) does for `commit` and
//! `import`. The instructions are parsed and evaluated by the Dockerfile frontend
//! (berth-dockerfile), so a change means what the same line means in a Dockerfile
//! (variables expanded from the config's Env, shell form wrapped in `/bin/sh -c`,
//! WORKDIR relative to the current one, ENTRYPOINT clearing an inherited CMD); only
//! those docker 20.10 takes are allowed, and errors are docker's words.

use berth_docker::types::container::{Config, Empty, HealthConfig as DockerHealthConfig};
use berth_dockerfile::env::EnvList;
use berth_dockerfile::eval::{self, BuildOptions, EvalErrorKind, ImageConfig, StageStart};
use berth_dockerfile::instruction::{self, From, HealthConfig, Statement};
use berth_dockerfile::stages::{Dockerfile, Stage};

use super::ImageError;

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

/// docker's `BuildFromConfig`: the `--change` instructions applied to `config` by the
/// Dockerfile frontend. Errors are docker's words: a syntax error with its line, `X is
/// not a valid change command`, an instruction's own failure.
pub fn apply_changes(config: &Config, changes: &[String]) -> Result<Config, ImageError> {
    if changes.is_empty() {
        return Ok(config.clone());
    }
    let invalid = |e: String| ImageError::InvalidArgument(e);
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
pub(crate) fn image_config_of(c: &Config) -> ImageConfig {
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
pub(crate) fn with_image_config(c: &Config, image: &ImageConfig) -> Config {
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
        // Only a build's SHELL changes it (commit refuses SHELL): the config's own otherwise.
        shell: (!image.shell.is_empty())
            .then(|| image.shell.clone())
            .or_else(|| c.shell.clone()),
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
                "ENV LEGACY two words".into(),
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
        assert_eq!(
            c.env.unwrap(),
            [
                "PATH=/bin",
                "A=1",
                "B=two words",
                "C=1-x",
                "LEGACY=two words"
            ]
        );
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
