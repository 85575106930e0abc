//! `berth top`: the container's processes as host `ps` sees them (berthd
//! runs ps and keeps the container's rows), printed in docker's columns.

use super::client;
use crate::context::Context;
use crate::tabwriter::TabWriter;
use crate::CliError;
use berth_proto::v1 as pb;
use clap::Args;

/// `berth top`.
#[derive(Args, Debug)]
pub struct TopArgs {
    pub container: String,
    /// ps options (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `berth top`.
pub async fn top(ctx: &Context, a: TopArgs) -> Result<i32, CliError> {
    let r = client(&ctx.host)
        .await?
        .top(pb::TopRequest {
            id: a.container,
            ps_args: a.ps_args.join(" "),
        })
        .await?
        .into_inner();
    let mut text = r.titles.join("\t");
    text.push('\n');
    for p in &r.processes {
        text.push_str(&p.columns.join("\t"));
        text.push('\n');
    }
    // docker/cli top: tabwriter.NewWriter(out, 20, 1, 3, ' ', 0).
    print!(
        "{}",
        TabWriter {
            min_width: 20,
            padding: 3
        }
        .format(&text)
    );
    Ok(0)
}
