//! `berth container prune` and `berth system prune`, with docker's warning
//! and `[y/N]` confirmation. Like docker's `PromptForConfirmation`, the
//! answer is read from stdin whatever it is: anything but `y`/`Y`
//! (including end of input, e.g. no stdin in a script) cancels, and the
//! command then removes nothing and exits 0. `-f` skips the question.

use super::{client, parse_filters};
use crate::context::Context;
use crate::{connection, CliError};
use berth_docker::humanize;
use berth_proto::v1 as pb;
use clap::Args;
use std::io::Write;

/// `berth container prune`.
#[derive(Args, Debug)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (until=<timestamp>, label=<key>[=<value>]).
    #[arg(long)]
    pub filter: Vec<String>,
}

/// `berth system prune`.
#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (until=<timestamp>, label=<key>[=<value>]).
    #[arg(long)]
    pub filter: Vec<String>,
    /// Prune anonymous volumes too.
    #[arg(long)]
    pub volumes: bool,
}

/// Prints `warning` and the question; true when the user answers y/Y.
pub(crate) fn confirm(warning: &str) -> bool {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y")
}

/// Removes the stopped containers; prints docker's "Deleted Containers:"
/// block; returns the space reclaimed.
async fn prune_containers(ctx: &Context, filter: &[String]) -> Result<u64, CliError> {
    let filters = parse_filters(filter)?;
    let r = client(&ctx.host)
        .await?
        .prune(pb::PruneContainersRequest { filters })
        .await?
        .into_inner();
    if !r.deleted.is_empty() {
        println!("Deleted Containers:");
        for id in &r.deleted {
            println!("{id}");
        }
        println!();
    }
    Ok(r.space_reclaimed)
}

/// `berth container prune`.
pub async fn container_prune(ctx: &Context, a: ContainerPruneArgs) -> Result<i32, CliError> {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let space = prune_containers(ctx, &a.filter).await?;
    println!("Total reclaimed space: {}", humanize::size(space as i64));
    Ok(0)
}

/// `berth system prune`: stopped containers, then dangling (or, with `-a`,
/// all unused) images.
pub async fn system_prune(ctx: &Context, a: SystemPruneArgs) -> Result<i32, CliError> {
    let images = if a.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    let volumes = if a.volumes {
        "  - all anonymous volumes not used by at least one container\n"
    } else {
        ""
    };
    let warning =
        format!("WARNING! This will remove:\n  - all stopped containers\n{volumes}  - {images}\n");
    if !a.force && !confirm(&warning) {
        return Ok(0);
    }
    let mut space = prune_containers(ctx, &a.filter).await?;
    if a.volumes {
        space += crate::volume::prune_volumes(ctx, false, Vec::new()).await?;
    }
    let r = connection::images(&ctx.host)
        .await?
        .prune(pb::PruneImagesRequest { all: a.all })
        .await?
        .into_inner();
    if !r.items.is_empty() {
        println!("Deleted Images:");
        for item in &r.items {
            match &item.item {
                Some(pb::removed_item::Item::Untagged(s)) => println!("untagged: {s}"),
                Some(pb::removed_item::Item::Deleted(s)) => println!("deleted: {s}"),
                None => {}
            }
        }
        println!();
    }
    space += r.space_reclaimed.max(0) as u64;
    println!("Total reclaimed space: {}", humanize::size(space as i64));
    Ok(0)
}
