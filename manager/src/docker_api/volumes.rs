//! `/volumes/...`: docker's volume endpoints over the volumes domain
//! ([`VolumeService`]), answering docker's `types.Volume`.

use super::error::ApiError;
use super::server::{empty, json, ApiRequest, Reply};
use super::DockerApi;
use crate::volumes::filter::VolumeFilters;
use crate::volumes::service::{apparent_size, VolumeInfo};
use crate::volumes::{VolumeError, VolumeService};
use berth_docker::types::volume::{UsageData, Volume};
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

async fn blocking<T: Send + 'static>(
    service: &Arc<VolumeService>,
    f: impl FnOnce(&VolumeService) -> Result<T, VolumeError> + Send + 'static,
) -> Result<T, ApiError> {
    let service = service.clone();
    tokio::task::spawn_blocking(move || f(&service))
        .await
        .map_err(|e| ApiError::internal(format!("background job: {e}")))?
        .map_err(ApiError::from)
}

/// docker's Volume of a volume.
fn volume(v: VolumeInfo) -> Volume {
    Volume {
        created_at: v.record.created_at,
        driver: v.record.driver,
        labels: Some(v.record.labels.into_iter().collect()),
        mountpoint: v.mountpoint.to_string_lossy().into_owned(),
        name: v.record.name,
        options: Some(v.record.options.into_iter().collect()),
        scope: "local".into(),
        usage_data: None,
    }
}

/// Every volume with docker's `UsageData` (bytes of its files, how many
/// containers name it): `/system/df`.
pub async fn usage(api: &DockerApi) -> Result<Vec<Volume>, ApiError> {
    blocking(&api.volumes, |s| {
        let mut list = s.list(&VolumeFilters::default())?;
        list.sort_by(|a, b| a.record.name.cmp(&b.record.name));
        Ok(list
            .into_iter()
            .map(|v| {
                let usage = UsageData {
                    size: apparent_size(&v.mountpoint) as i64,
                    ref_count: v.containers.len() as i64,
                };
                Volume {
                    usage_data: Some(usage),
                    ..volume(v)
                }
            })
            .collect())
    })
    .await
}

/// `POST /volumes/prune?filters=`: every local volume no container names
/// (API 1.41: named ones too, as docker 20.10), matching the `label`
/// filters; docker's `VolumesDeleted` and `SpaceReclaimed`.
pub async fn prune(api: &DockerApi, req: &ApiRequest) -> Reply {
    let mut filters = Vec::new();
    for (key, values) in req.query.filters()? {
        if key != "label" && key != "label!" {
            return Err(ApiError::bad_request(format!(
                "invalid filter '{key}' (volume prune takes label and label!)"
            )));
        }
        filters.extend(values.into_iter().map(|v| format!("{key}={v}")));
    }
    let (deleted, reclaimed) = blocking(&api.volumes, move |s| {
        let filters = VolumeFilters::parse(&filters)?;
        s.prune(true, &filters)
    })
    .await?;
    json(
        StatusCode::OK,
        &json!({
            "VolumesDeleted": if deleted.is_empty() { serde_json::Value::Null } else { json!(deleted) },
            "SpaceReclaimed": reclaimed,
        }),
    )
}

/// `GET /volumes?filters=`: `{"Volumes": [...], "Warnings": null}`.
pub async fn list(api: &DockerApi, req: &ApiRequest) -> Reply {
    let filters: Vec<String> = req
        .query
        .filters()?
        .into_iter()
        .flat_map(|(k, vs)| vs.into_iter().map(move |v| format!("{k}={v}")))
        .collect();
    let volumes = blocking(&api.volumes, move |s| {
        let filters = VolumeFilters::parse(&filters)?;
        Ok(s.list(&filters)?
            .into_iter()
            .map(volume)
            .collect::<Vec<_>>())
    })
    .await?;
    json(
        StatusCode::OK,
        &json!({"Volumes": volumes, "Warnings": null}),
    )
}

/// `POST /volumes/create`: docker's `VolumeCreateBody`.
pub async fn create(api: &DockerApi, mut req: ApiRequest) -> Reply {
    #[derive(Default, Deserialize)]
    #[serde(rename_all = "PascalCase", default)]
    struct Body {
        name: String,
        driver: String,
        driver_opts: Option<BTreeMap<String, String>>,
        labels: Option<BTreeMap<String, String>>,
    }
    let raw = req.body().await?;
    let body: Body = if raw.iter().all(u8::is_ascii_whitespace) {
        Body::default()
    } else {
        let mut de = serde_json::Deserializer::from_slice(&raw);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            ApiError::bad_request(format!(
                "invalid JSON body: field {}: {}",
                e.path(),
                e.inner()
            ))
        })?
    };
    let v = blocking(&api.volumes, move |s| {
        let record = s.create(
            Some(&body.name),
            Some(body.driver.as_str()).filter(|d| !d.is_empty()),
            body.labels.unwrap_or_default(),
            body.driver_opts.unwrap_or_default(),
        )?;
        s.inspect(&record.name)
    })
    .await?;
    json(StatusCode::CREATED, &volume(v))
}

/// `GET /volumes/{name}`.
pub async fn inspect(api: &DockerApi, name: &str) -> Reply {
    let name = name.to_string();
    let v = blocking(&api.volumes, move |s| s.inspect(&name)).await?;
    json(StatusCode::OK, &volume(v))
}

/// `DELETE /volumes/{name}?force=`.
pub async fn remove(api: &DockerApi, name: &str, req: &ApiRequest) -> Reply {
    let (name, force) = (name.to_string(), req.query.bool("force"));
    blocking(&api.volumes, move |s| s.remove(&name, force)).await?;
    empty(StatusCode::NO_CONTENT)
}
