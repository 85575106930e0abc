//! `/networks/...`: docker's network endpoints over the networks domain
//! ([`NetworkService`]; connect and disconnect are container operations
//! of the containers domain), answering docker's `NetworkResource`.

use super::error::ApiError;
use super::server::{empty, json, ApiRequest, Reply};
use super::DockerApi;
use crate::networks::{view, CreateNetwork, EndpointRequest};
use hyper::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A JSON body as `T`; a wrong type is a 400 naming the field.
fn body_as<T: DeserializeOwned + Default>(raw: &[u8]) -> Result<T, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let mut de = serde_json::Deserializer::from_slice(raw);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid JSON body: field {}: {}",
            e.path(),
            e.inner()
        ))
    })
}

/// Container id to current name (inspect's `Containers` entries).
fn names(api: &DockerApi) -> BTreeMap<String, String> {
    api.containers
        .list_records()
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect()
}

/// `GET /networks?filters=`: docker's list (each network's resource, its
/// `Containers` empty as docker's list leaves it), by name.
pub async fn list(api: &DockerApi, req: &ApiRequest) -> Reply {
    let filters = req.query.filters()?;
    let mut out: Vec<(String, Value)> = Vec::new();
    for p in api.networks.predefined() {
        if view::matches(&p.filter_view(), &filters).map_err(ApiError::bad_request)? {
            let v = serde_json::to_value(api.networks.inspect_predefined(&p))
                .map_err(|e| ApiError::internal(e.to_string()))?;
            out.push((p.name.to_string(), v));
        }
    }
    let names = BTreeMap::new();
    for n in api.networks.list()? {
        if view::matches(&view::FilterView::of(&n), &filters).map_err(ApiError::bad_request)? {
            let v = serde_json::to_value(view::inspect(&n, &names))
                .map_err(|e| ApiError::internal(e.to_string()))?;
            out.push((n.name.clone(), v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let list: Vec<Value> = out
        .into_iter()
        .map(|(_, mut v)| {
            v["Containers"] = json!({});
            v
        })
        .collect();
    json(StatusCode::OK, &list)
}

/// `GET /networks/{id}`.
pub async fn inspect(api: &DockerApi, id: &str) -> Reply {
    if let Some(p) = api.networks.find_predefined(id) {
        return json(StatusCode::OK, &api.networks.inspect_predefined(&p));
    }
    let n = api.networks.resolve(id)?;
    json(StatusCode::OK, &view::inspect(&n, &names(api)))
}

/// `POST /networks/create`: docker's `NetworkCreateRequest`.
pub async fn create(api: &DockerApi, mut req: ApiRequest) -> Reply {
    #[derive(Default, Deserialize)]
    #[serde(rename_all = "PascalCase", default)]
    struct IpamConfig {
        subnet: String,
        gateway: String,
        #[serde(rename = "IPRange")]
        ip_range: String,
    }
    #[derive(Default, Deserialize)]
    #[serde(rename_all = "PascalCase", default)]
    struct Ipam {
        driver: String,
        config: Option<Vec<IpamConfig>>,
    }
    #[derive(Default, Deserialize)]
    #[serde(rename_all = "PascalCase", default)]
    struct Body {
        name: String,
        driver: String,
        internal: bool,
        #[serde(rename = "EnableIPv6")]
        enable_ipv6: bool,
        #[serde(rename = "IPAM")]
        ipam: Option<Ipam>,
        options: Option<BTreeMap<String, String>>,
        labels: Option<BTreeMap<String, String>>,
    }
    let body: Body = body_as(&req.body().await?)?;
    if body.enable_ipv6 {
        return Err(ApiError::not_implemented("IPv6 networks (EnableIPv6)"));
    }
    let ipam = body.ipam.unwrap_or_default();
    if !ipam.driver.is_empty() && ipam.driver != "default" {
        return Err(ApiError::not_implemented(format!(
            "IPAM driver {:?}",
            ipam.driver
        )));
    }
    let mut configs = ipam.config.unwrap_or_default();
    if configs.len() > 1 {
        return Err(ApiError::not_implemented("more than one IPAM config"));
    }
    let config = configs.pop().unwrap_or_default();
    if !config.ip_range.is_empty() {
        return Err(ApiError::not_implemented("IPAM IPRange"));
    }
    let record = api
        .networks
        .create(CreateNetwork {
            name: body.name,
            driver: body.driver,
            subnet: (!config.subnet.is_empty()).then_some(config.subnet),
            gateway: (!config.gateway.is_empty()).then_some(config.gateway),
            labels: body.labels.unwrap_or_default(),
            options: body.options.unwrap_or_default(),
            internal: body.internal,
        })
        .await?;
    json(
        StatusCode::CREATED,
        &json!({"Id": record.id, "Warning": ""}),
    )
}

/// `DELETE /networks/{id}`.
pub async fn remove(api: &DockerApi, id: &str) -> Reply {
    if let Some(p) = api.networks.find_predefined(id) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} is a pre-defined network and cannot be removed", p.name),
        ));
    }
    api.networks.remove(id).await?;
    empty(StatusCode::NO_CONTENT)
}

/// `POST /networks/{id}/connect`: `{"Container": ..., "EndpointConfig":
/// {"Aliases": [...], "IPAMConfig": {"IPv4Address": ...}}}`.
pub async fn connect(api: &DockerApi, id: &str, mut req: ApiRequest) -> Reply {
    #[derive(Default, Deserialize)]
    #[serde(rename_all = "PascalCase", default)]
    struct Body {
        container: String,
        endpoint_config: Option<super::create::EndpointConfig>,
    }
    let body: Body = body_as(&req.body().await?)?;
    let endpoint = body.endpoint_config.unwrap_or_default();
    let ipam = endpoint.ipam_config.unwrap_or_default();
    let request = EndpointRequest {
        aliases: endpoint.aliases.unwrap_or_default(),
        ip: Some(ipam.ipv4_address).filter(|ip| !ip.is_empty()),
        mac: None,
        links: endpoint.links.unwrap_or_default(),
        link_local_ips: ipam.link_local_ips.unwrap_or_default(),
    };
    api.containers
        .connect_network(id, &body.container, &request)
        .await?;
    empty(StatusCode::OK)
}

/// `POST /networks/{id}/disconnect`: `{"Container": ..., "Force": bool}`.
pub async fn disconnect(api: &DockerApi, id: &str, mut req: ApiRequest) -> Reply {
    #[derive(Default, Deserialize)]
    #[serde(rename_all = "PascalCase", default)]
    struct Body {
        container: String,
        force: bool,
    }
    let body: Body = body_as(&req.body().await?)?;
    api.containers
        .disconnect_network(id, &body.container, body.force)
        .await?;
    empty(StatusCode::OK)
}

/// `POST /networks/prune`: every user network no container is on;
/// docker's `NetworksDeleted`.
pub async fn prune(api: &DockerApi, req: &ApiRequest) -> Reply {
    if let Some(key) = req.query.filters()?.into_keys().next() {
        return Err(ApiError::not_implemented(format!(
            "the network prune filter {key:?}"
        )));
    }
    let deleted = api.networks.prune().await?;
    json(
        StatusCode::OK,
        &serde_json::json!({
            "NetworksDeleted": if deleted.is_empty() { serde_json::Value::Null } else { serde_json::json!(deleted) },
        }),
    )
}
