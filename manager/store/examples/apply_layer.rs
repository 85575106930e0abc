//! Applies a layer tar from stdin to a directory, for benchmarks (bench/store-apply.sh):
//! `apply_layer DIR [overlay|delete] [--gzip]`. With `--gzip` the layer is gunzipped in this
//! process (as a pull does), on the reading side of apply's pipeline. Prints the diff ID,
//! size and time.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use berth_store::layer::{apply_tar, ApplyOptions, WhiteoutStyle};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: apply_layer DIR [overlay|delete] [--gzip] < layer.tar");
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
    let gzip = args.iter().any(|a| a == "--gzip");
    let start = Instant::now();
    let stdin = std::io::stdin().lock();
    let input: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::with_capacity(256 * 1024, stdin),
        ))
    } else {
        Box::new(stdin)
    };
    match apply_tar(input, Path::new(dir), ApplyOptions { whiteouts }) {
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
