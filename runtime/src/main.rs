fn main() {
    eprintln!("berth-runtime: not implemented yet");
    std::process::exit(1);
}
