//! `berth system df`: the space images, containers, local volumes and the
//! build cache take, as docker 20.10 prints it (cli/command/formatter
//! `disk_usage.go`).
//!
//! The figures are berthd's: an image's size is its layers' unpacked size
//! (shared with another image when both hold a layer of the same chain id),
//! a container's the usage of its writable snapshot, a volume's the bytes of
//! its files, the build cache's the usage of each entry's own layer (an
//! entry is in use while an image holds its layer).

use super::container::ps;
use super::context::Context;
use super::images::{image_headers, image_row};
use super::template::{self, ListFormat};
use super::volume::{volume_headers, volume_row};
use super::{connection, CliError};
use berth_docker::humanize;
use berth_proto::v1 as pb;
use clap::Args;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// `system df`'s flags.
#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage.
    #[arg(short, long)]
    pub verbose: bool,
    /// Pretty-print the summary using a Go template ({{.Type}},
    /// {{.TotalCount}}, {{.Active}}, {{.Size}}, {{.Reclaimable}}).
    #[arg(long)]
    pub format: Option<String>,
}

/// docker's summary table.
const SUMMARY_TABLE: &str =
    "table {{.Type}}\\t{{.TotalCount}}\\t{{.Active}}\\t{{.Size}}\\t{{.Reclaimable}}";
/// docker's `-v` tables, one per section.
const IMAGES_TABLE: &str = "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}\\t{{.SharedSize}}\\t{{.UniqueSize}}\\t{{.Containers}}";
const CONTAINERS_TABLE: &str = "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.LocalVolumes}}\\t{{.Size}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Names}}";
const VOLUMES_TABLE: &str = "table {{.Name}}\\t{{.Links}}\\t{{.Size}}";
const BUILD_CACHE_TABLE: &str = "table {{.ID}}\\t{{.CacheType}}\\t{{.Size}}\\t{{.CreatedSince}}\\t{{.LastUsedSince}}\\t{{.UsageCount}}\\t{{.Shared}}";
/// docker 20.10's `-v --format raw` (`NewDiskUsageFormat`): each section's
/// raw format (images with digests, containers with their size) in a range.
const VERBOSE_RAW: &str = "{{range .Images}}type: Image
repository: {{ .Repository }}
tag: {{.Tag}}
digest: {{.Digest}}
image_id: {{.ID}}
created_at: {{.CreatedAt}}
virtual_size: {{.Size}}

{{end -}}
{{range .Containers}}type: Container
container_id: {{.ID}}
image: {{.Image}}
command: {{.Command}}
created_at: {{.CreatedAt}}
state: {{- pad .State 1 0}}
status: {{- pad .Status 1 0}}
names: {{.Names}}
labels: {{- pad .Labels 1 0}}
ports: {{- pad .Ports 1 0}}
size: {{.Size}}

{{end -}}
{{range .Volumes}}type: Volume
name: {{.Name}}
driver: {{.Driver}}

{{end -}}
{{range .BuildCache}}type: Build Cache
{{end -}}";

/// One image (by ID) with what `df` says of it.
struct ImageUsage {
    /// The image's first name as listed (newest first).
    image: pb::Image,
    /// Bytes of its layers that another image holds too.
    shared: i64,
    /// Containers created from it (any state).
    containers: usize,
}

/// Everything `df` reports, gathered from berthd.
struct Usage {
    images: Vec<ImageUsage>,
    /// Unpacked bytes of every distinct layer.
    layers_size: i64,
    containers: Vec<pb::ContainerSummary>,
    volumes: Vec<pb::Volume>,
    /// berthd's build cache entries.
    build_cache: Vec<pb::BuildCacheEntry>,
}

/// docker's `isActive` for a container: running, paused or restarting.
fn active(c: &pb::ContainerSummary) -> bool {
    matches!(c.state.as_str(), "running" | "paused" | "restarting")
}

/// `reclaimable` of `total` as docker prints it: `SIZE (P%)` when there is
/// anything at all, else only the size.
fn reclaimable_text(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!(
            "{} ({}%)",
            humanize::size(reclaimable),
            reclaimable * 100 / total
        )
    } else {
        humanize::size(reclaimable)
    }
}

async fn gather(ctx: &Context) -> Result<Usage, CliError> {
    let mut images_client = connection::images(&ctx.host).await?;
    let listed = images_client
        .list(pb::ListImagesRequest {
            reference: String::new(),
            all: false,
            filters: Vec::new(),
        })
        .await?
        .into_inner()
        .images;
    // One entry per image ID, under its first (newest) name.
    let mut by_id: Vec<pb::Image> = Vec::new();
    for i in listed {
        if !by_id.iter().any(|seen| seen.id == i.id) {
            by_id.push(i);
        }
    }
    // Each image's layers (chain id, unpacked size).
    let mut layers: Vec<Vec<(String, i64)>> = Vec::with_capacity(by_id.len());
    for i in &by_id {
        let detail = images_client
            .inspect(pb::InspectImageRequest {
                reference: i.id.clone(),
            })
            .await?
            .into_inner();
        layers.push(
            detail
                .layers
                .iter()
                .map(|l| (l.chain_id.clone(), l.unpacked_size))
                .collect(),
        );
    }
    let mut holders: HashMap<&str, (usize, i64)> = HashMap::new();
    for image_layers in &layers {
        for (chain, size) in image_layers {
            let e = holders.entry(chain.as_str()).or_insert((0, *size));
            e.0 += 1;
        }
    }
    let layers_size = holders.values().map(|(_, size)| size).sum();
    let containers = super::container::client(&ctx.host)
        .await?
        .list(pb::ListContainersRequest {
            all: true,
            last: -1,
            size: true,
            filters: HashMap::new(),
        })
        .await?
        .into_inner()
        .containers;
    let images = by_id
        .into_iter()
        .zip(&layers)
        .map(|(image, image_layers)| ImageUsage {
            shared: image_layers
                .iter()
                .filter(|(chain, _)| holders.get(chain.as_str()).is_some_and(|h| h.0 > 1))
                .map(|(_, size)| size)
                .sum(),
            containers: containers.iter().filter(|c| c.image_id == image.id).count(),
            image,
        })
        .collect();
    let mut volumes = super::volume::client(&ctx.host)
        .await?
        .list(pb::ListVolumesRequest {
            filters: Vec::new(),
            size: true,
        })
        .await?
        .into_inner()
        .volumes;
    volumes.sort_by(|a, b| a.name.cmp(&b.name));
    let build_cache = connection::builder(&ctx.host)
        .await?
        .cache_usage(pb::BuildCacheUsageRequest {})
        .await?
        .into_inner()
        .entries;
    Ok(Usage {
        images,
        layers_size,
        containers,
        volumes,
        build_cache,
    })
}

/// The four summary rows (docker's `diskUsage*Context`s).
fn summary_rows(u: &Usage) -> Vec<Value> {
    let row = |kind: &str, total: usize, active: usize, size: String, reclaimable: String| {
        template::row(BTreeMap::from([
            ("Type", kind.to_string()),
            ("TotalCount", total.to_string()),
            ("Active", active.to_string()),
            ("Size", size),
            ("Reclaimable", reclaimable),
        ]))
    };
    let used: i64 = u
        .images
        .iter()
        .filter(|i| i.containers > 0)
        .map(|i| i.image.size - i.shared)
        .sum();
    let images = row(
        "Images",
        u.images.len(),
        u.images.iter().filter(|i| i.containers > 0).count(),
        humanize::size(u.layers_size),
        reclaimable_text(u.layers_size - used, u.layers_size),
    );
    let containers_size: i64 = u.containers.iter().map(|c| c.size_rw).sum();
    let containers_idle: i64 = u
        .containers
        .iter()
        .filter(|c| !active(c))
        .map(|c| c.size_rw)
        .sum();
    let containers = row(
        "Containers",
        u.containers.len(),
        u.containers.iter().filter(|c| active(c)).count(),
        humanize::size(containers_size),
        reclaimable_text(containers_idle, containers_size),
    );
    let measured = || u.volumes.iter().filter(|v| v.size >= 0);
    let volumes_size: i64 = measured().map(|v| v.size).sum();
    let volumes_unused: i64 = measured()
        .filter(|v| v.containers.is_empty())
        .map(|v| v.size)
        .sum();
    let volumes = row(
        "Local Volumes",
        u.volumes.len(),
        u.volumes
            .iter()
            .filter(|v| !v.containers.is_empty())
            .count(),
        humanize::size(volumes_size),
        reclaimable_text(volumes_unused, volumes_size),
    );
    // docker prints the builder's row without a percentage.
    let cache_size: i64 = u.build_cache.iter().map(|e| e.size as i64).sum();
    let cache_unused: i64 = u
        .build_cache
        .iter()
        .filter(|e| !e.in_use)
        .map(|e| e.size as i64)
        .sum();
    let build_cache = row(
        "Build Cache",
        u.build_cache.len(),
        u.build_cache.iter().filter(|e| e.in_use).count(),
        humanize::size(cache_size),
        humanize::size(cache_unused),
    );
    vec![images, containers, volumes, build_cache]
}

/// `-v --format F`: docker runs one template over the whole usage (its
/// `diskUsageContext`), `raw` being its own composite format.
fn verbose_template(format: &str) -> Result<template::Template, CliError> {
    let body = if format == "raw" { VERBOSE_RAW } else { format };
    // docker/cli `preFormat`, as for the list formats.
    let body = body
        .trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n");
    template::parse(&body).map_err(|e| CliError::Other(e.to_string()))
}

/// The rows of `-v`'s sections; `trunc` (the tables) shortens ids and
/// commands and hides link names, as docker's formatter does for tables.
fn verbose_rows(u: &Usage, trunc: bool) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let images = u
        .images
        .iter()
        .map(|i| {
            let mut row = image_row(&i.image, !trunc);
            if let Value::Object(m) = &mut row {
                // df's image rows carry no digest (docker sets none there).
                m.insert("Digest".into(), "".into());
                m.insert("SharedSize".into(), humanize::size(i.shared).into());
                m.insert(
                    "UniqueSize".into(),
                    humanize::size(i.image.size - i.shared).into(),
                );
                m.insert("Containers".into(), i.containers.to_string().into());
            }
            row
        })
        .collect();
    let containers = u.containers.iter().map(|c| ps::row(c, trunc)).collect();
    let volumes = u.volumes.iter().map(volume_row).collect();
    (images, containers, volumes)
}

/// docker's `diskUsageContext` of `-v --format`: the four sections' rows,
/// untruncated (`{{json .}}` prints it whole).
fn verbose_object(u: &Usage) -> Value {
    let (images, containers, volumes) = verbose_rows(u, false);
    serde_json::json!({
        "Images": images,
        "Containers": containers,
        "Volumes": volumes,
        "BuildCache": [],
    })
}

fn render(
    format: &str,
    rows: &[Value],
    headers: &serde_json::Map<String, Value>,
) -> Result<String, CliError> {
    ListFormat::parse(format, format)
        .and_then(|f| f.render(rows, headers))
        .map_err(|e| CliError::Other(e.to_string()))
}

/// `berth system df [-v]`.
pub async fn df(ctx: &Context, a: DfArgs) -> Result<i32, CliError> {
    let format = a.format.clone().unwrap_or_default();
    // A template that does not parse fails before berthd is asked.
    let verbose_template = if a.verbose && !format.is_empty() && format != "table" {
        Some(verbose_template(&format)?)
    } else {
        None
    };
    if !a.verbose {
        ListFormat::parse(&format, SUMMARY_TABLE).map_err(|e| CliError::Other(e.to_string()))?;
    }
    let usage = gather(ctx).await?;
    if let Some(template) = verbose_template {
        let text = template
            .execute_row(&verbose_object(&usage))
            .map_err(|e| CliError::Other(e.to_string()))?;
        print!("{text}");
        return Ok(0);
    }
    if !a.verbose {
        let headers = template::headers(&[
            ("Type", "TYPE"),
            ("TotalCount", "TOTAL"),
            ("Active", "ACTIVE"),
            ("Size", "SIZE"),
            ("Reclaimable", "RECLAIMABLE"),
        ]);
        let format = if format.is_empty() || format == "table" {
            SUMMARY_TABLE
        } else {
            &format
        };
        print!("{}", render(format, &summary_rows(&usage), &headers)?);
        return Ok(0);
    }
    let (images, containers, volumes) = verbose_rows(&usage, true);
    let mut out = String::from("Images space usage:\n\n");
    out += &render(IMAGES_TABLE, &images, &image_headers())?;
    out += "\nContainers space usage:\n\n";
    out += &render(
        CONTAINERS_TABLE,
        &containers,
        &template::headers(ps::HEADERS),
    )?;
    out += "\nLocal Volumes space usage:\n\n";
    out += &render(VOLUMES_TABLE, &volumes, &volume_headers())?;
    out += &format!("\nBuild cache usage: {}\n\n", humanize::size(0));
    let cache_headers = template::headers(&[
        ("ID", "CACHE ID"),
        ("CacheType", "CACHE TYPE"),
        ("Size", "SIZE"),
        ("CreatedSince", "CREATED"),
        ("LastUsedSince", "LAST USED"),
        ("UsageCount", "USAGE"),
        ("Shared", "SHARED"),
    ]);
    out += &render(BUILD_CACHE_TABLE, &[], &cache_headers)?;
    print!("{out}");
    Ok(0)
}
