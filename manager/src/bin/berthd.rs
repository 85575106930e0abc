//! berthd: the Berth daemon. See `berth_manager::daemon`.

use anyhow::Context;
use berth_manager::daemon::args::BerthdArgs as Args;
use berth_manager::daemon::{self, Daemon, DaemonConfig, DaemonOptions};
use clap::Parser;
use std::path::PathBuf;

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("berthd: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let (config_path, explicit) = match &args.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(daemon::DEFAULT_CONFIG), false),
    };
    let config = DaemonConfig::load(&config_path, explicit)?;
    let filter = args
        .log_level
        .clone()
        .or_else(|| config.log_level.clone())
        .or_else(|| std::env::var("BERTH_LOG").ok())
        .unwrap_or_else(|| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter)
                .with_context(|| format!("invalid log level {filter:?}"))?,
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    daemon::allocator::limit_arenas();
    daemon::limits::raise_open_files();
    // Two workers: berthd is mostly idle and must stay small (RSS target
    // 20 MiB); heavy work (unpacking) runs on blocking threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .context("start tokio runtime")?;
    // Default: beside the state (/run/berth/docker.sock); "" turns it off.
    let docker_address = args
        .docker_address
        .clone()
        .or_else(|| config.docker_address.clone())
        .unwrap_or_else(|| args.state.join("docker.sock"));
    let docker_address = (!docker_address.as_os_str().is_empty()).then_some(docker_address);
    // The same for the CRI socket (/run/berth/cri.sock).
    let cri_address = args
        .cri_address
        .clone()
        .or_else(|| config.cri_address.clone())
        .unwrap_or_else(|| args.state.join("cri.sock"));
    let cri_address = (!cri_address.as_os_str().is_empty()).then_some(cri_address);
    let options = DaemonOptions {
        docker_address,
        cri_address,
        root: args.root,
        state: args.state,
        address: args.address,
        socket_group: args.group,
        config,
    };
    runtime.block_on(async move {
        let daemon = Daemon::open(options)?;
        daemon.serve().await
    })?;
    Ok(())
}
