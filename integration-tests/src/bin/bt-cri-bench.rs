//! bt-cri-bench: drives a CRI socket for bench/cri.sh (berthd and
//! containerd's CRI plugin side by side), with the same generated client
//! the tests use.
//!
//!   bt-cri-bench SOCKET cycle N   N x (RunPodSandbox until ready, Stop,
//!                                 Remove); prints the median and total ms
//!   bt-cri-bench SOCKET start N   starts N pods; prints the total ms
//!   bt-cri-bench SOCKET clean     stops and removes every pod
//!
//! Pods are named bt-bench-<pid>-<i>; a failed call exits 1 with its status.

use berth_integration_tests::cri::{self, CriClient};
use std::time::Instant;

fn config(i: usize) -> cri::PodSandboxConfig {
    let name = format!("bt-bench-{}-{i}", std::process::id());
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            uid: format!("uid-{name}"),
            name: name.clone(),
            namespace: "bt-bench".into(),
            attempt: 0,
        }),
        hostname: name,
        linux: Some(cri::LinuxPodSandboxConfig {
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    pid: cri::NamespaceMode::Container as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn die(what: &str, e: tonic::Status) -> ! {
    eprintln!("bt-cri-bench: {what}: {:?}: {}", e.code(), e.message());
    std::process::exit(1);
}

fn run(c: &mut CriClient, i: usize) -> String {
    let id = c
        .call(|c| {
            c.runtime.run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config(i)),
                runtime_handler: String::new(),
            })
        })
        .unwrap_or_else(|e| die("RunPodSandbox", e))
        .pod_sandbox_id;
    let status = c
        .call(|c| {
            c.runtime.pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: id.clone(),
                verbose: false,
            })
        })
        .unwrap_or_else(|e| die("PodSandboxStatus", e));
    if status.status.map(|s| s.state) != Some(cri::PodSandboxState::SandboxReady as i32) {
        eprintln!("bt-cri-bench: pod {id} is not ready after RunPodSandbox");
        std::process::exit(1);
    }
    id
}

fn stop_and_remove(c: &mut CriClient, id: &str) {
    c.call(|c| {
        c.runtime.stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: id.into(),
        })
    })
    .unwrap_or_else(|e| die("StopPodSandbox", e));
    c.call(|c| {
        c.runtime.remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: id.into(),
        })
    })
    .unwrap_or_else(|e| die("RemovePodSandbox", e));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!("usage: bt-cri-bench SOCKET cycle N | start N | clean");
        std::process::exit(2);
    };
    if args.len() < 3 {
        usage();
    }
    let mut c = CriClient::connect(std::path::Path::new(&args[1]));
    let n = || -> usize {
        args.get(3)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| usage())
    };
    match args[2].as_str() {
        "cycle" => {
            let mut times = Vec::new();
            let all = Instant::now();
            for i in 0..n() {
                let t = Instant::now();
                let id = run(&mut c, i);
                stop_and_remove(&mut c, &id);
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "median_ms={:.1} total_ms={:.1}",
                times[times.len() / 2],
                all.elapsed().as_secs_f64() * 1000.0
            );
        }
        "start" => {
            let all = Instant::now();
            for i in 0..n() {
                run(&mut c, i);
            }
            println!("total_ms={:.1}", all.elapsed().as_secs_f64() * 1000.0);
        }
        "clean" => {
            let pods = c
                .call(|c| {
                    c.runtime
                        .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
                })
                .unwrap_or_else(|e| die("ListPodSandbox", e))
                .items;
            for p in pods {
                stop_and_remove(&mut c, &p.id);
            }
        }
        _ => usage(),
    }
}
