//! `version` and `info`.

use super::context::Context;
use super::{connection, CliError};
use berth_docker::humanize;
use berth_proto::v1 as pb;

/// `berth version`: client and server versions.
pub async fn version(ctx: &Context) -> Result<i32, CliError> {
    println!("Client:");
    println!(" Version:           {}", env!("CARGO_PKG_VERSION"));
    println!(" API version:       1");
    println!(
        " OS/Arch:           {}/{}",
        std::env::consts::OS,
        berth_docker::manifest::Platform::host().architecture
    );
    println!();
    let mut client = connection::system(&ctx.host).await?;
    let v = client.version(pb::VersionRequest {}).await?.into_inner();
    println!("Server: Berth Engine");
    println!(" Engine:");
    println!("  Version:          {}", v.version);
    println!("  API version:      {}", v.api_version);
    println!("  Git commit:       {}", v.git_commit);
    println!("  OS/Arch:          {}/{}", v.os, v.arch);
    println!("  Kernel Version:   {}", v.kernel_version);
    Ok(0)
}

/// `berth info`: what berthd reports about itself and its store.
pub async fn info(ctx: &Context) -> Result<i32, CliError> {
    let mut client = connection::system(&ctx.host).await?;
    let i = client.info(pb::InfoRequest {}).await?.into_inner();
    println!("Client:");
    println!(" Version:    {}", env!("CARGO_PKG_VERSION"));
    println!();
    println!("Server:");
    println!(" Containers: {}", i.containers);
    println!("  Running: {}", i.containers_running);
    println!("  Paused: {}", i.containers_paused);
    println!("  Stopped: {}", i.containers_stopped);
    println!(" Images: {}", i.images);
    println!(" Server Version: {}", i.server_version);
    println!(" Storage Driver: {}", i.snapshotter);
    println!("  Content Size: {}", humanize::size(i.content_size));
    println!("  Snapshots Size: {}", humanize::size(i.snapshots_size));
    println!(" Cgroup Driver: {}", i.cgroup_driver);
    println!(" Cgroup Version: {}", i.cgroup_version);
    println!(" Kernel Version: {}", i.kernel_version);
    println!(" Operating System: {}", i.operating_system);
    println!(" OSType: {}", i.os_type);
    println!(" Architecture: {}", i.architecture);
    println!(" CPUs: {}", i.ncpu);
    println!(" Total Memory: {}", humanize::size(i.mem_total));
    println!(" Name: {}", i.name);
    println!(" Berth Root Dir: {}", i.root_dir);
    println!(" Berth State Dir: {}", i.state_dir);
    println!(" Daemon Address: unix://{}", i.address);
    println!(" Daemon PID: {}", i.pid);
    if !i.insecure_registries.is_empty() {
        println!(" Insecure Registries:");
        for r in &i.insecure_registries {
            println!("  {r}");
        }
    }
    Ok(0)
}
