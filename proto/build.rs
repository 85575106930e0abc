//! Compiles every `.proto` file under `proto/berth/` (Berth's own APIs) and
//! `proto/k8s/` (Kubernetes' CRI `runtime.v1`, vendored) into tonic/prost
//! code. Each versioned package (`berth.shim.v1`, `berth.v1`, `runtime.v1`)
//! is included by `src/lib.rs`.
//!
//! The .proto files are parsed by protox, a protobuf compiler written in
//! Rust that carries Google's well-known types (`google/protobuf/*.proto`)
//! itself, so the build needs no system `protoc` and no `libprotobuf-dev`
//! include files (a fresh Debian root has neither; issue 12). protox yields
//! the same `FileDescriptorSet` protoc would, and tonic-prost-build turns it
//! into the same generated API.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut protos = Vec::new();
    for dir in ["berth", "k8s"] {
        collect(Path::new(dir), &mut protos);
        println!("cargo:rerun-if-changed={dir}");
    }
    protos.sort();
    for p in &protos {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    if protos.is_empty() {
        return Ok(());
    }
    let descriptors = protox::compile(&protos, [PathBuf::from(".")])?;
    // The CRI's comments are Go-flavoured prose with indented blocks that
    // rustdoc would run as doctests; the .proto file keeps them for readers.
    tonic_prost_build::configure()
        .disable_comments([".runtime.v1"])
        .compile_fds(descriptors)?;
    Ok(())
}
