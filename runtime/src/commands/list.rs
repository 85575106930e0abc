//! `list [--format table|json] [-q]`: every container under `--root`.

use crate::cli::Parsed;
use crate::container::ContainerRecord;
use crate::error::{Error, Result};
use crate::Runtime;

/// `list`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let mut records = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&rt.root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(r) = ContainerRecord::load(&rt.root, &name) {
                records.push(r);
            }
        }
    }
    records.sort_by(|a, b| a.id.cmp(&b.id));
    if flags.is_set("quiet") {
        for r in &records {
            println!("{}", r.id);
        }
        return Ok(0);
    }
    match flags.value("format").unwrap_or("table") {
        "json" => {
            let v: Vec<_> = records
                .iter()
                .map(|r| r.runc_state_json(&rt.root))
                .collect();
            println!("{}", serde_json::to_string(&v).expect("json"));
        }
        "table" => {
            let rows: Vec<[String; 6]> = records
                .iter()
                .map(|r| {
                    let st = r.runc_state_json(&rt.root);
                    [
                        r.id.clone(),
                        st["pid"].to_string(),
                        st["status"].as_str().unwrap_or("").to_string(),
                        r.bundle.clone(),
                        r.created.clone(),
                        r.owner.clone(),
                    ]
                })
                .collect();
            let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
            let mut widths = [12usize; 6];
            for row in std::iter::once(&header).chain(rows.iter()) {
                for (w, c) in widths.iter_mut().zip(row) {
                    *w = (*w).max(c.len() + 1);
                }
            }
            for row in std::iter::once(&header).chain(rows.iter()) {
                let line: String = row
                    .iter()
                    .zip(widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                println!("{}", line.trim_end());
            }
        }
        other => {
            return Err(Error::Usage(format!(
                "list: invalid format {other:?} (want table or json)"
            )))
        }
    }
    Ok(0)
}
