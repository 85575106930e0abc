//! `/_ping`, `/version` and `/info`: the system domain's answers
//! ([`crate::system::SystemService`], the same that `berth version` and
//! `berth info` show) in docker's shapes.

use super::error::ApiError;
use super::server::{full, json, Reply};
use super::{DockerApi, API_VERSION, MIN_API_VERSION};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use hyper::{Response, StatusCode};
use serde_json::json;

/// `GET|HEAD /_ping`: `OK` (no body for HEAD); no `Builder-Version`
/// header, so clients use the classic builder.
pub fn ping(head: bool) -> Reply {
    let mut r = Response::new(full(if head { "" } else { "OK" }));
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(r)
}

/// `GET /version`: docker's `types.Version`.
pub fn version(api: &DockerApi) -> Reply {
    let v = api.system.version();
    let details = json!({
        "ApiVersion": API_VERSION,
        "Arch": v.arch,
        "BuildTime": "",
        "Experimental": "false",
        "GitCommit": v.git_commit,
        "GoVersion": "",
        "KernelVersion": v.kernel_version,
        "MinAPIVersion": MIN_API_VERSION,
        "Os": v.os,
    });
    json(
        StatusCode::OK,
        &json!({
            "Platform": {"Name": "Berth"},
            "Components": [{"Name": "Engine", "Version": v.version, "Details": details}],
            "Version": v.version,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": v.git_commit,
            "GoVersion": "",
            "Os": v.os,
            "Arch": v.arch,
            "KernelVersion": v.kernel_version,
            "BuildTime": "",
        }),
    )
}

/// Open descriptors and threads of berthd (docker's `NFd` and, for want
/// of goroutines, `NGoroutines`).
fn process_counts() -> (usize, i64) {
    let fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0);
    let threads = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0);
    (fds, threads)
}

/// `GET /info`: docker's `types.Info`, from the system domain.
pub async fn info(api: &DockerApi) -> Reply {
    let system = api.system.clone();
    let i = tokio::task::spawn_blocking(move || system.info_blocking())
        .await
        .map_err(|e| ApiError::internal(format!("info: {e}")))?;
    let runtimes = api.containers.runtimes();
    let (nfd, threads) = process_counts();
    let (all, running, paused, stopped) = i.containers;
    let now = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
    json(
        StatusCode::OK,
        &json!({
            "ID": "",
            "Containers": all,
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": stopped,
            "Images": i.images,
            "Driver": i.snapshotter,
            "DriverStatus": [["Root Dir", i.root_dir.join("snapshots").display().to_string()]],
            "Plugins": {
                "Volume": ["local"],
                "Network": ["bridge", "host", "null"],
                "Authorization": null,
                "Log": ["json-file", "local", "syslog", "journald", "none"],
            },
            "MemoryLimit": true,
            "SwapLimit": true,
            "KernelMemory": false,
            "KernelMemoryTCP": false,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "CPUShares": true,
            "CPUSet": true,
            "PidsLimit": true,
            "IPv4Forwarding": true,
            "BridgeNfIptables": false,
            "BridgeNfIp6tables": false,
            "Debug": false,
            "NFd": nfd,
            "OomKillDisable": false,
            "NGoroutines": threads,
            "SystemTime": now,
            "LoggingDriver": "json-file",
            "CgroupDriver": i.cgroup_driver,
            "CgroupVersion": i.cgroup_version,
            "NEventsListener": 0,
            "KernelVersion": i.kernel_version,
            "OperatingSystem": i.operating_system,
            "OSVersion": "",
            "OSType": i.os_type,
            "Architecture": i.architecture,
            "IndexServerAddress": "",
            "RegistryConfig": {
                "AllowNondistributableArtifactsCIDRs": [],
                "AllowNondistributableArtifactsHostnames": [],
                // Loopback registries are always plain HTTP (crate::registry).
                "InsecureRegistryCIDRs": ["127.0.0.0/8"],
                "IndexConfigs": i.insecure_registries.iter().map(|name| {
                    (name.clone(), json!({"Name": name, "Mirrors": [], "Secure": false, "Official": false}))
                }).collect::<serde_json::Map<_, _>>(),
                "Mirrors": [],
            },
            "NCPU": i.ncpu,
            "MemTotal": i.mem_total,
            "GenericResources": null,
            "DockerRootDir": i.root_dir.display().to_string(),
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": i.name,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": runtimes.paths.iter().map(|(name, path)| {
                (name.clone(), json!({"path": path.display().to_string()}))
            }).collect::<serde_json::Map<_, _>>(),
            "DefaultRuntime": runtimes.default,
            "Swarm": {
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": "inactive",
                "ControlAvailable": false,
                "Error": "",
                "RemoteManagers": null,
            },
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "tini",
            "ContainerdCommit": {"ID": "", "Expected": ""},
            "RuncCommit": {"ID": "", "Expected": ""},
            "InitCommit": {"ID": "", "Expected": ""},
            "SecurityOptions": ["name=seccomp,profile=default"],
            "Warnings": null,
        }),
    )
}

/// `GET /system/df`: docker's `types.DiskUsage` from the domains: images
/// (their unpacked layers; `SharedSize` the bytes of layers another image
/// holds too), containers (writable layer, `SizeRootFs` that plus the
/// image), local volumes (bytes and users), the builder's cache entries
/// (`Shared` when an image holds the entry's layer).
pub async fn df(api: &DockerApi) -> Reply {
    use std::collections::HashMap;
    let containers =
        super::containers::rows(api, &super::query::Query::parse(Some("all=1&size=1"))).await?;
    let mut images = super::images::summaries(api, Default::default()).await?;
    let ids: Vec<String> = images
        .iter()
        .filter_map(|i| i["Id"].as_str().map(str::to_string))
        .collect();
    let service = api.images.clone();
    let layers: Vec<Vec<(String, i64)>> = tokio::task::spawn_blocking(move || {
        ids.iter()
            .map(|id| {
                service
                    .inspect(id)
                    .map(|d| {
                        d.layers
                            .iter()
                            .map(|l| (l.chain_id.clone(), l.unpacked_size as i64))
                            .collect()
                    })
                    .unwrap_or_default() // removed meanwhile
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::internal(format!("df: {e}")))?;
    let mut holders: HashMap<&str, (usize, i64)> = HashMap::new();
    for image_layers in &layers {
        for (chain, size) in image_layers {
            holders.entry(chain.as_str()).or_insert((0, *size)).0 += 1;
        }
    }
    let layers_size: i64 = holders.values().map(|(_, size)| size).sum();
    let mut image_sizes = HashMap::new();
    for (image, image_layers) in images.iter_mut().zip(&layers) {
        let shared: i64 = image_layers
            .iter()
            .filter(|(chain, _)| holders.get(chain.as_str()).is_some_and(|h| h.0 > 1))
            .map(|(_, size)| size)
            .sum();
        let users = containers
            .iter()
            .filter(|c| c["ImageID"] == image["Id"])
            .count();
        image["SharedSize"] = json!(shared);
        image["Containers"] = json!(users);
        image_sizes.insert(image["Id"].clone(), image["Size"].as_i64().unwrap_or(0));
    }
    let containers: Vec<_> = containers
        .into_iter()
        .map(|mut c| {
            let rw = c["SizeRw"].as_i64().unwrap_or(0);
            let image = image_sizes.get(&c["ImageID"]).copied().unwrap_or(0);
            c["SizeRw"] = json!(rw);
            c["SizeRootFs"] = json!(rw + image);
            c
        })
        .collect();
    let volumes = super::volumes::usage(api).await?;
    let builder = api.builder.clone();
    let cache = tokio::task::spawn_blocking(move || builder.cache_entries())
        .await
        .map_err(|e| ApiError::internal(format!("df: {e}")))?
        .map_err(ApiError::from)?;
    let held: std::collections::HashSet<&str> = holders.keys().copied().collect();
    let cache: Vec<_> = cache
        .iter()
        .map(|e| {
            json!({
                "ID": e.key,
                "Parent": "",
                "Type": "regular",
                "Description": e.description,
                "InUse": false,
                "Shared": e.chain_id.as_deref().is_some_and(|c| held.contains(c)),
                "Size": e.size,
                "CreatedAt": humantime::format_rfc3339_seconds(e.created_at).to_string(),
                "LastUsedAt": null,
                "UsageCount": 0,
            })
        })
        .collect();
    json(
        StatusCode::OK,
        &json!({
            "LayersSize": layers_size,
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            "BuildCache": cache,
        }),
    )
}

/// `POST /auth`: docker's `AuthConfig` checked against its registry
/// (the images domain's login); `{"Status": "Login Succeeded"}`.
pub async fn auth(api: &DockerApi, mut req: super::server::ApiRequest) -> Reply {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct AuthConfig {
        username: String,
        password: String,
        serveraddress: String,
        identitytoken: String,
    }
    let body = req.body().await?;
    let config: AuthConfig = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid auth body: {e}")))?;
    let credentials = crate::registry::auth::Credentials {
        username: config.username,
        password: config.password,
        identity_token: config.identitytoken,
    };
    api.images
        .check_login(&config.serveraddress, credentials)
        .await?;
    json(
        StatusCode::OK,
        &json!({ "Status": "Login Succeeded", "IdentityToken": "" }),
    )
}
