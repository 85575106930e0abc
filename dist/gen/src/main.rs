//! `berth-dist OUT_DIR DATE`: writes the man pages (dated DATE,
//! `YYYY-MM-DD`) and shell completions of berth, berthd and berth-runtime
//! under OUT_DIR (see the library).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, date] = &args[..] else {
        eprintln!("usage: berth-dist OUT_DIR YYYY-MM-DD");
        std::process::exit(2);
    };
    match berth_dist::write_all(std::path::Path::new(out), date) {
        Ok(w) => println!(
            "berth-dist: {} man pages, {} completion files in {}",
            w.man_pages.len(),
            w.completions.len(),
            std::path::Path::new(&out).display()
        ),
        Err(e) => {
            eprintln!("berth-dist: {e}");
            std::process::exit(1);
        }
    }
}
