//! berth: the Berth command line. See the `berth_cli` library.

fn main() {
    std::process::exit(berth_cli::main());
}
