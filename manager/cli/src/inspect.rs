//! `inspect` / `image inspect`: docker's image JSON, built from what berthd
//! returns (the config blob's bytes as stored, so Docker-only fields such as
//! `Healthcheck` show up), and `--format` through [`super::template`]
//! (`json` prints the array on one line, as docker does).

use super::context::Context;
use super::{connection, template, CliError, InspectArgs};
use berth_docker::types::container::Config;
use berth_docker::types::image::{GraphDriver, ImageInspect, Metadata, RootFs};
use berth_proto::v1 as pb;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

fn str_field(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or("").to_string()
}

/// docker's exit code for a `--format` template that does not parse.
pub const EXIT_TEMPLATE_PARSE: i32 = 64;

/// JSON indented by four spaces, as docker's `inspect` prints it.
pub fn indented_json(v: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    v.serialize(&mut ser).expect("serialise JSON");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// A `container.Config` of the image config blob (`config`,
/// `container_config`); docker's all-zero `Config` when absent.
fn docker_config(config: Option<&Value>) -> Config {
    config
        .filter(|c| c.is_object())
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default()
}

/// Builds docker's `ImageInspect` for one inspected image.
pub fn image_inspect(detail: &pb::InspectImageResponse) -> ImageInspect {
    let config: Value = serde_json::from_slice(&detail.config).unwrap_or(Value::Null);
    let image = detail.image.clone().unwrap_or_default();
    let data: BTreeMap<String, String> = detail
        .graph_driver_data
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    ImageInspect {
        id: image.id.clone(),
        repo_tags: detail
            .repo_tags
            .iter()
            .map(|t| berth_docker::reference::familiar(t))
            .collect(),
        repo_digests: detail
            .repo_digests
            .iter()
            .map(|t| berth_docker::reference::familiar(t))
            .collect(),
        parent: str_field(&config, "parent"),
        comment: str_field(&config, "comment"),
        created: str_field(&config, "created"),
        container: str_field(&config, "container"),
        container_config: docker_config(config.get("container_config")),
        docker_version: str_field(&config, "docker_version"),
        author: str_field(&config, "author"),
        config: docker_config(config.get("config")),
        architecture: str_field(&config, "architecture"),
        variant: str_field(&config, "variant"),
        os: str_field(&config, "os"),
        os_version: str_field(&config, "os.version"),
        size: image.size,
        virtual_size: image.size,
        graph_driver: GraphDriver {
            data: Some(data),
            name: detail.snapshotter.clone(),
        },
        root_fs: RootFs {
            kind: config["rootfs"]["type"]
                .as_str()
                .unwrap_or("layers")
                .to_string(),
            layers: Some(
                config["rootfs"]["diff_ids"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|d| d.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            base_layer: String::new(),
        },
        metadata: Metadata {
            last_tag_time: if image.record_updated > 0 {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_secs(image.record_updated as u64),
                )
                .to_string()
            } else {
                berth_docker::types::ZERO_TIME.into()
            },
        },
    }
}

/// docker's JSON for one inspected image.
pub fn image_json(detail: &pb::InspectImageResponse) -> Value {
    serde_json::to_value(image_inspect(detail)).expect("serialise inspect")
}

/// The template of an inspect command's `--format`: `None` for JSON output
/// (no format, `""` or `json`). docker/cli `inspect.Inspect`: a template
/// that does not parse exits 64.
pub fn inspect_template(format: Option<&str>) -> Result<Option<template::Template>, CliError> {
    match format {
        None | Some("") | Some("json") => Ok(None),
        Some(f) => Ok(Some(template::parse(f).map_err(|e| CliError::Status {
            code: EXIT_TEMPLATE_PARSE,
            message: e.to_string(),
        })?)),
    }
}

/// Prints inspected objects as docker does: one line per object through
/// `template`, else one JSON array (compact for `--format json`, indented
/// otherwise). A template that fails on an object is that object's error:
/// returns 1 then, else 0.
pub fn print_inspected(
    template: Option<&template::Template>,
    format: Option<&str>,
    results: Vec<Value>,
) -> i32 {
    let mut code = 0;
    match (template, format) {
        (Some(t), _) => {
            for r in &results {
                match t.execute(r) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("{e}");
                        code = 1;
                    }
                }
            }
        }
        (None, Some("json")) => println!("{}", Value::Array(results)),
        (None, _) => println!("{}", indented_json(&Value::Array(results))),
    }
    code
}

fn images_json(images: &[ImageInspect]) -> Value {
    serde_json::to_value(images).expect("serialise inspect")
}

/// `berth inspect` / `berth image inspect`: a JSON array, or one `--format` line per image.
pub async fn inspect(ctx: &Context, a: InspectArgs) -> Result<i32, CliError> {
    if let Some(kind) = &a.kind {
        if kind != "image" {
            return Err(CliError::Other(format!(
                "not implemented: inspect --type {kind} (only images so far)"
            )));
        }
    }
    // docker/cli `inspect.Inspect`: a template that does not parse exits
    // 64; a template that fails on an image is that image's error (exit 1).
    let template = inspect_template(a.format.as_deref())?;
    let mut client = connection::images(&ctx.host).await?;
    let mut results = Vec::new();
    let mut code = 0;
    for name in &a.names {
        match client
            .inspect(pb::InspectImageRequest {
                reference: name.clone(),
            })
            .await
        {
            Ok(resp) => results.push(image_inspect(&resp.into_inner())),
            Err(s) => {
                if s.code() == tonic::Code::NotFound {
                    eprintln!("Error: No such image: {name}");
                } else {
                    eprintln!("Error response from daemon: {}", s.message());
                }
                code = 1;
            }
        }
    }
    match (&template, a.format.as_deref()) {
        (Some(t), _) => {
            let mut out = String::new();
            for r in &results {
                match t.execute(&berth_docker::types::template_value(r)) {
                    Ok(text) => {
                        out.push_str(&text);
                        out.push('\n');
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        code = 1;
                    }
                }
            }
            // docker prints an empty line when nothing was rendered.
            if out.is_empty() {
                out.push('\n');
            }
            print!("{out}");
        }
        (None, Some("json")) => println!("{}", images_json(&results)),
        (None, _) => println!("{}", indented_json(&images_json(&results))),
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_is_indented_by_four_spaces() {
        assert_eq!(
            indented_json(&json!([{"a": 1}])),
            "[\n    {\n        \"a\": 1\n    }\n]"
        );
    }

    #[test]
    fn keeps_docker_only_config_fields() {
        let config = br#"{"architecture":"amd64","os":"linux","config":{"Healthcheck":{"Test":["CMD","true"]}},"rootfs":{"type":"layers","diff_ids":["sha256:a"]}}"#;
        let detail = pb::InspectImageResponse {
            config: config.to_vec(),
            image: Some(pb::Image {
                id: "sha256:c".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = image_json(&detail);
        assert_eq!(v["Config"]["Healthcheck"]["Test"], json!(["CMD", "true"]));
        assert_eq!(v["RootFS"]["Layers"], json!(["sha256:a"]));
        assert_eq!(v["Id"], "sha256:c");
    }
}
