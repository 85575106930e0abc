//! Applies an uncompressed layer tar from stdin to a directory, for benchmarks
//! (bench/store-apply.sh): `apply_layer DIR [overlay|delete]`. Prints the diff ID, size and time.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use berth_store::layer::{apply_tar, ApplyOptions, WhiteoutStyle};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: apply_layer DIR [overlay|delete] < layer.tar");
        std::process::exit(2);
    };
    let whiteouts = match args.get(2).map(String::as_str) {
        Some("overlay") => WhiteoutStyle::Overlay,
        None | Some("delete") => WhiteoutStyle::Delete,
        Some(other) => {
            eprintln!("apply_layer: unknown whiteout style {other:?}");
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    let stdin = std::io::stdin().lock();
    match apply_tar(
        stdin.take(u64::MAX),
        Path::new(dir),
        ApplyOptions { whiteouts },
    ) {
        Ok(applied) => println!(
            "{} {} bytes {:.3}s",
            applied.diff_id,
            applied.size,
            start.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("apply_layer: {e}");
            std::process::exit(1);
        }
    }
}
