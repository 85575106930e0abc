//! `inspect` / `image inspect`: docker's image JSON, built from what berthd
//! returns (the config blob's bytes as stored, so Docker-only fields such as
//! `Healthcheck` show up), and `--format` with simple template paths.

use super::images::Context;
use super::{connection, CliError, InspectArgs};
use berth_proto::v1 as pb;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Docker's `ImageInspect`, field order kept.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImageInspect {
    id: String,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
    parent: String,
    comment: String,
    created: String,
    docker_version: String,
    author: String,
    config: Value,
    architecture: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    variant: String,
    os: String,
    size: i64,
    graph_driver: GraphDriver,
    #[serde(rename = "RootFS")]
    root_fs: RootFs,
    metadata: Metadata,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GraphDriver {
    data: Map<String, Value>,
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RootFs {
    #[serde(rename = "Type")]
    kind: String,
    layers: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Metadata {
    last_tag_time: String,
}

fn str_field(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or("").to_string()
}

/// Builds docker's JSON for one inspected image.
pub fn image_json(detail: &pb::InspectImageResponse) -> Value {
    let config: Value = serde_json::from_slice(&detail.config).unwrap_or(Value::Null);
    let image = detail.image.clone().unwrap_or_default();
    let mut data = Map::new();
    for (k, v) in &detail.graph_driver_data {
        data.insert(k.clone(), json!(v));
    }
    let inspect = ImageInspect {
        id: image.id.clone(),
        repo_tags: detail
            .repo_tags
            .iter()
            .map(|t| crate::images::familiar(t))
            .collect(),
        repo_digests: detail
            .repo_digests
            .iter()
            .map(|t| crate::images::familiar(t))
            .collect(),
        parent: str_field(&config, "parent"),
        comment: str_field(&config, "comment"),
        created: str_field(&config, "created"),
        docker_version: str_field(&config, "docker_version"),
        author: str_field(&config, "author"),
        config: config.get("config").cloned().unwrap_or(Value::Null),
        architecture: str_field(&config, "architecture"),
        variant: str_field(&config, "variant"),
        os: str_field(&config, "os"),
        size: image.size,
        graph_driver: GraphDriver {
            data,
            name: detail.snapshotter.clone(),
        },
        root_fs: RootFs {
            kind: config["rootfs"]["type"]
                .as_str()
                .unwrap_or("layers")
                .to_string(),
            layers: config["rootfs"]["diff_ids"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|d| d.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        },
        metadata: Metadata {
            last_tag_time: if image.record_updated > 0 {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_secs(image.record_updated as u64),
                )
                .to_string()
            } else {
                "0001-01-01T00:00:00Z".into()
            },
        },
    };
    serde_json::to_value(inspect).expect("serialise inspect")
}

/// Renders a Go-template-like format: `{{.A.B}}` prints a field (strings
/// raw, anything else as JSON), `{{json .A}}` prints JSON; other text is
/// copied. Returns an error naming an unsupported action.
pub fn render_format(format: &str, value: &Value) -> Result<String, CliError> {
    let mut out = String::new();
    let mut rest = format;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| CliError::Usage(format!("template: unclosed action in {format:?}")))?;
        let action = after[..end].trim();
        let (as_json, path) = match action.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, action),
        };
        if !path.starts_with('.') {
            return Err(CliError::Usage(format!(
                "template: unsupported action {action:?} (only {{{{.Field}}}} and {{{{json .Field}}}})"
            )));
        }
        let mut v = value;
        for key in path[1..].split('.').filter(|k| !k.is_empty()) {
            v = v
                .get(key)
                .ok_or_else(|| CliError::Usage(format!("template: {path}: no field {key:?}")))?;
        }
        match (as_json, v) {
            (false, Value::String(s)) => out.push_str(s),
            (false, Value::Null) => out.push_str("<no value>"),
            _ => out.push_str(&v.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
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
            Ok(resp) => results.push(image_json(&resp.into_inner())),
            Err(s) => {
                eprintln!("Error: No such image: {name}");
                if s.code() != tonic::Code::NotFound {
                    eprintln!("Error response from daemon: {}", s.message());
                }
                code = 1;
            }
        }
    }
    match &a.format {
        Some(f) => {
            for r in &results {
                println!("{}", render_format(f, r)?);
            }
        }
        None => println!(
            "{}",
            serde_json::to_string_pretty(&Value::Array(results)).unwrap()
        ),
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_paths_and_json() {
        let v = json!({"Id": "sha256:x", "Config": {"Cmd": ["sh"], "User": ""}, "Size": 3});
        assert_eq!(render_format("{{.Id}}", &v).unwrap(), "sha256:x");
        assert_eq!(
            render_format("id={{ .Id }} n={{.Size}}", &v).unwrap(),
            "id=sha256:x n=3"
        );
        assert_eq!(
            render_format("{{json .Config.Cmd}}", &v).unwrap(),
            r#"["sh"]"#
        );
        assert!(render_format("{{.Nope}}", &v).is_err());
        assert!(render_format("{{if .Id}}", &v).is_err());
        assert!(render_format("{{.Id", &v).is_err());
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
