//! `berth inspect` (containers and images, container first like docker) and
//! `berth container inspect`: docker's JSON (berthd builds a container's
//! `ContainerJSON`; images use the image inspect module), printed as one
//! array indented like docker's, or one `--format` rendering per object.

use super::client;
use crate::context::Context;
use crate::template;
use crate::{connection, CliError};
use berth_docker::types::container::ContainerJson;
use berth_proto::v1 as pb;
use clap::Args;
use serde::Serialize;
use serde_json::Value;

/// docker's exit code for a `--format` that does not parse.
const EXIT_TEMPLATE_PARSE: i32 = 64;

/// `berth inspect` / `berth container inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template).
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes if the type is container.
    #[arg(short = 's', long)]
    pub size: bool,
    /// Return JSON for specified type (container, image, volume).
    #[arg(long = "type")]
    pub kind: Option<String>,
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// Which kinds of object to look a name up as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kinds {
    Any,
    Container,
    Image,
    Volume,
}

/// JSON as docker prints it: four-space indentation.
fn to_docker_json(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut ser).expect("serialise JSON value");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// One inspected object: docker's JSON (what is printed) and the value
/// templates run over (every field of docker's Go struct, `omitempty` ones
/// too: see `berth_docker::types`).
struct Inspected {
    json: Value,
    template: Value,
}

impl Inspected {
    fn typed<T: Serialize>(object: &T) -> Inspected {
        Inspected {
            json: serde_json::to_value(object).unwrap_or(Value::Null),
            template: berth_docker::types::template_value(object),
        }
    }

    fn untyped(json: Value) -> Inspected {
        Inspected {
            template: json.clone(),
            json,
        }
    }
}

/// Looks `name` up as a container (if wanted) then as an image (if
/// wanted). `Ok(None)`: no such object.
async fn lookup(
    ctx: &Context,
    name: &str,
    kinds: Kinds,
    size: bool,
) -> Result<Option<Inspected>, CliError> {
    if matches!(kinds, Kinds::Any | Kinds::Container) {
        match client(&ctx.host)
            .await?
            .inspect(pb::InspectContainerRequest {
                id: name.to_string(),
                size,
            })
            .await
        {
            Ok(r) => {
                let json = r.into_inner().json;
                let container: ContainerJson = serde_json::from_str(&json).map_err(|e| {
                    CliError::Other(format!("inspect {name}: bad JSON from berthd: {e}"))
                })?;
                return Ok(Some(Inspected::typed(&container)));
            }
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => return Err(s.into()),
        }
    }
    if matches!(kinds, Kinds::Any | Kinds::Image) {
        match connection::images(&ctx.host)
            .await?
            .inspect(pb::InspectImageRequest {
                reference: name.to_string(),
            })
            .await
        {
            Ok(r) => {
                return Ok(Some(Inspected::typed(&crate::inspect::image_inspect(
                    &r.into_inner(),
                ))))
            }
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => return Err(s.into()),
        }
    }
    if matches!(kinds, Kinds::Any | Kinds::Volume) {
        if let Some(v) = crate::volume::lookup(ctx, name).await? {
            return Ok(Some(Inspected::untyped(v)));
        }
    }
    Ok(None)
}

/// Runs `inspect`; `container_only` for `berth container inspect`.
pub async fn inspect(ctx: &Context, a: InspectArgs, container_only: bool) -> Result<i32, CliError> {
    let kinds = match (container_only, a.kind.as_deref()) {
        (true, _) => Kinds::Container,
        (false, None) => Kinds::Any,
        (false, Some("container")) => Kinds::Container,
        (false, Some("image")) => Kinds::Image,
        (false, Some("volume")) => Kinds::Volume,
        (false, Some(other)) => {
            return Err(CliError::Usage(format!(
                "\"{other}\" is not a valid value for --type"
            )))
        }
    };
    let template = match a.format.as_deref() {
        None | Some("") | Some("json") => None,
        Some(f) => match template::parse(f) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("{e}");
                return Ok(EXIT_TEMPLATE_PARSE);
            }
        },
    };
    let mut found = Vec::new();
    let mut code = 0;
    for name in &a.names {
        match lookup(ctx, name, kinds, a.size).await? {
            Some(v) => found.push(v),
            None => {
                let what = match kinds {
                    Kinds::Any => "object",
                    Kinds::Container => "container",
                    Kinds::Image => "image",
                    Kinds::Volume => "volume",
                };
                eprintln!("Error: No such {what}: {name}");
                code = 1;
            }
        }
    }
    match (&template, a.format.as_deref()) {
        (Some(t), _) => {
            for v in &found {
                match t.execute_typed(&v.template, &v.json) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("{e}");
                        return Ok(1);
                    }
                }
            }
        }
        (None, Some("json")) => {
            for v in &found {
                println!("{}", serde_json::to_string(&v.json).unwrap_or_default());
            }
        }
        (None, _) => println!(
            "{}",
            to_docker_json(&Value::Array(found.into_iter().map(|v| v.json).collect()))
        ),
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_indented_like_docker() {
        let v = serde_json::json!([{"Id": "x", "State": {"Status": "running"}}]);
        assert_eq!(
            to_docker_json(&v),
            "[\n    {\n        \"Id\": \"x\",\n        \"State\": {\n            \"Status\": \"running\"\n        }\n    }\n]"
        );
    }
}
