//! `version` and `info`, as text or through `--format`.
//!
//! With `--format`, docker runs the template over its `versionInfo`
//! (`{{.Server.Version}}`, `{{.Client.APIVersion}}`) and `info` structs
//! (`{{.Driver}}`, `{{.NCPU}}`); the values here carry the fields of those
//! structs that berthd can answer truthfully, under docker's Go field names
//! (what a template names), so that the usual scripts work unchanged.

use super::context::Context;
use super::inspect::EXIT_TEMPLATE_PARSE;
use super::template;
use super::{connection, CliError};
use berth_docker::humanize;
use berth_proto::v1 as pb;
use clap::Args;
use serde_json::{json, Value};

/// `version`'s and `info`'s flags.
#[derive(Args, Debug, Default)]
pub struct FormatArgs {
    /// Format the output using the given Go template.
    #[arg(short, long)]
    pub format: Option<String>,
}

/// The client's and berthd's versions as docker's `versionInfo`.
fn version_value(v: &pb::VersionResponse) -> Value {
    let arch = berth_docker::manifest::Platform::host().architecture;
    json!({
        "Client": {
            "Platform": {"Name": "Berth"},
            "Version": env!("CARGO_PKG_VERSION"),
            "APIVersion": "1",
            "DefaultAPIVersion": "1",
            "Os": std::env::consts::OS,
            "Arch": arch,
        },
        "Server": {
            "Platform": {"Name": "Berth Engine"},
            "Components": [{
                "Name": "Engine",
                "Version": v.version,
                "Details": {
                    "ApiVersion": v.api_version,
                    "GitCommit": v.git_commit,
                    "Os": v.os,
                    "Arch": v.arch,
                    "KernelVersion": v.kernel_version,
                },
            }],
            "Version": v.version,
            "APIVersion": v.api_version,
            "GitCommit": v.git_commit,
            "Os": v.os,
            "Arch": v.arch,
            "KernelVersion": v.kernel_version,
        },
    })
}

/// berthd's information as docker's `info` struct (`types.Info` with the
/// client's part under `ClientInfo`).
fn info_value(i: &pb::InfoResponse) -> Value {
    json!({
        "Containers": i.containers,
        "ContainersRunning": i.containers_running,
        "ContainersPaused": i.containers_paused,
        "ContainersStopped": i.containers_stopped,
        "Images": i.images,
        "Driver": i.snapshotter,
        "CgroupDriver": i.cgroup_driver,
        "CgroupVersion": i.cgroup_version,
        "KernelVersion": i.kernel_version,
        "OperatingSystem": i.operating_system,
        "OSType": i.os_type,
        "Architecture": i.architecture,
        "RegistryConfig": {"InsecureRegistryCIDRs": i.insecure_registries},
        "NCPU": i.ncpu,
        "MemTotal": i.mem_total,
        "DockerRootDir": i.root_dir,
        "Name": i.name,
        "ServerVersion": i.server_version,
        "ClientInfo": {"Debug": false},
    })
}

/// Parses `--format` as docker's `version`/`info` do: a template that does
/// not parse exits 64.
fn format_template(format: &str) -> Result<template::Template, CliError> {
    template::parse(format).map_err(|e| CliError::Status {
        code: EXIT_TEMPLATE_PARSE,
        message: e.to_string(),
    })
}

/// Prints `data` through `t` and a newline (docker writes the newline also
/// when the template fails); a failing template exits 1.
fn print_formatted(t: &template::Template, data: &Value) -> Result<i32, CliError> {
    match t.execute(data) {
        Ok(text) => {
            println!("{text}");
            Ok(0)
        }
        Err(e) => {
            println!();
            Err(CliError::Other(e.to_string()))
        }
    }
}

/// `berth version`: client and server versions.
pub async fn version(ctx: &Context, a: FormatArgs) -> Result<i32, CliError> {
    if let Some(format) = a.format.as_deref().filter(|f| !f.is_empty()) {
        let t = format_template(format)?;
        let mut client = connection::system(&ctx.host).await?;
        let v = client.version(pb::VersionRequest {}).await?.into_inner();
        return print_formatted(&t, &version_value(&v));
    }
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
pub async fn info(ctx: &Context, a: FormatArgs) -> Result<i32, CliError> {
    let template = match a.format.as_deref().filter(|f| !f.is_empty()) {
        Some(format) => Some(format_template(format)?),
        None => None,
    };
    let mut client = connection::system(&ctx.host).await?;
    let i = client.info(pb::InfoRequest {}).await?.into_inner();
    if let Some(t) = template {
        return print_formatted(&t, &info_value(&i));
    }
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
