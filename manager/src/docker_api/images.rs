//! `/images/...`: docker's image list, tag and delete over the images
//! domain ([`ImageService`]). Inspect, pull, push, save/load and history
//! are not served yet (README's not-implemented list).

use super::error::ApiError;
use super::server::{empty, json, ApiRequest, Reply};
use super::DockerApi;
use crate::images::filter::ImageFilters;
use crate::images::{ImageError, ImageService, Removed};
use hyper::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

async fn blocking<T: Send + 'static>(
    service: &Arc<ImageService>,
    f: impl FnOnce(&ImageService) -> Result<T, ImageError> + Send + 'static,
) -> Result<T, ApiError> {
    let service = service.clone();
    tokio::task::spawn_blocking(move || f(&service))
        .await
        .map_err(|e| ApiError::internal(format!("background job: {e}")))?
        .map_err(ApiError::from)
}

/// `GET /images/json?filters=`: docker's `ImageSummary`, one per image
/// id with all its tags, newest first.
pub async fn list(api: &DockerApi, req: &ApiRequest) -> Reply {
    let filters: Vec<String> = req
        .query
        .filters()?
        .into_iter()
        .flat_map(|(k, vs)| vs.into_iter().map(move |v| format!("{k}={v}")))
        .collect();
    let list = blocking(&api.images, move |s| {
        s.list(None, &ImageFilters::parse(&filters)?)
    })
    .await?;
    let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
    for s in &list {
        let id = s.resolved.id();
        let entry = by_id.entry(id.clone()).or_insert_with(|| {
            let config: Value =
                serde_json::from_slice(&s.resolved.config_bytes).unwrap_or_default();
            let created = s
                .resolved
                .config
                .created
                .as_deref()
                .and_then(|c| humantime::parse_rfc3339_weak(c).ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            json!({
                "Containers": -1,
                "Created": created,
                "Id": id,
                "Labels": config["config"]["Labels"],
                "ParentId": "",
                "RepoDigests": [],
                "RepoTags": [],
                "SharedSize": -1,
                "Size": s.size,
                "VirtualSize": s.size,
            })
        });
        if !s.name.is_empty() {
            entry["RepoTags"]
                .as_array_mut()
                .expect("array")
                .push(json!(s.name));
        }
        for d in &s.repo_digests {
            let digests = entry["RepoDigests"].as_array_mut().expect("array");
            if !digests.contains(&json!(d)) {
                digests.push(json!(d));
            }
        }
    }
    let mut rows: Vec<Value> = by_id.into_values().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r["Created"].as_i64().unwrap_or(0)));
    json(StatusCode::OK, &rows)
}

/// `POST /images/{name}/tag?repo=&tag=`.
pub async fn tag(api: &DockerApi, name: &str, req: &ApiRequest) -> Reply {
    let repo = req
        .query
        .string("repo")
        .ok_or_else(|| ApiError::bad_request("repository name must have at least one component"))?;
    let target = match req.query.string("tag") {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo,
    };
    let source = name.to_string();
    blocking(&api.images, move |s| s.tag(&source, &target)).await?;
    empty(StatusCode::CREATED)
}

/// `DELETE /images/{name}?force=&noprune=`: docker's list of what was
/// untagged and deleted.
pub async fn remove(api: &DockerApi, name: &str, req: &ApiRequest) -> Reply {
    let items = api
        .images
        .remove(name, req.query.bool("force"), !req.query.bool("noprune"))
        .await?;
    let items: Vec<Value> = items
        .into_iter()
        .map(|r| match r {
            Removed::Untagged(s) => json!({ "Untagged": s }),
            Removed::Deleted(s) => json!({ "Deleted": s }),
        })
        .collect();
    json(StatusCode::OK, &items)
}
