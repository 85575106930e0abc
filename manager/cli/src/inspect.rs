//! `inspect` / `image inspect`: docker's image JSON, built from what berthd
//! returns (the config blob's bytes as stored, so Docker-only fields such as
//! `Healthcheck` show up), and `--format` through [`super::template`]
//! (`json` prints the array on one line, as docker does).

use super::context::Context;
use super::{connection, template, CliError, InspectArgs};
use berth_docker::types::image::{ImageFacts, ImageInspect};
use berth_proto::v1 as pb;
use serde::Serialize;
use serde_json::Value;

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

/// Builds docker's `ImageInspect` for one inspected image (the same
/// object berthd's Docker API serves: [`ImageInspect::new`]).
pub fn image_inspect(detail: &pb::InspectImageResponse) -> ImageInspect {
    let image = detail.image.clone().unwrap_or_default();
    ImageInspect::new(&ImageFacts {
        id: &image.id,
        config: &detail.config,
        repo_tags: &detail.repo_tags,
        repo_digests: &detail.repo_digests,
        size: image.size,
        snapshotter: &detail.snapshotter,
        graph_driver_data: detail
            .graph_driver_data
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        last_tag_time: image.record_updated,
    })
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
