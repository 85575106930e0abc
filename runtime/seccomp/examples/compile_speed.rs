//! Measures how long compiling podman's default profile takes (it is on the
//! container start path) and how long the program is. Not a test: figures
//! depend on the machine. Run:
//!
//! ```text
//! cargo run --release -p berth-seccomp --example compile_speed
//! ```

use std::hint::black_box;
use std::time::Instant;

#[path = "../src/tests/engine_profile.rs"]
#[allow(dead_code)]
mod engine_profile;

fn main() {
    let profile = engine_profile::podman_default();
    let filter = berth_seccomp::compile(&profile).expect("podman's profile compiles");
    let rounds = 5000;
    for _ in 0..200 {
        black_box(berth_seccomp::compile(black_box(&profile)).unwrap());
    }
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(berth_seccomp::compile(black_box(&profile)).unwrap());
    }
    let per = start.elapsed() / rounds;
    println!(
        "podman default profile ({} rules, {} names): {} instructions, compiled in {:.1} us (mean of {rounds})",
        profile.syscalls.len(),
        profile.syscalls.iter().map(|s| s.names.len()).sum::<usize>(),
        filter.len(),
        per.as_secs_f64() * 1e6
    );
}
