//! berth: the Berth command line. See `berth_manager::cli`.

fn main() {
    std::process::exit(berth_manager::cli::main());
}
