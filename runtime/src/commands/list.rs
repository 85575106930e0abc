//! `list [--format table|json] [-q]`: every container under `--root`, as
//! runc lists them: sorted by id, the JSON an array of runc's state objects
//! in runc's key order with `owner` set to the user owning the state dir
//! (`null` when there is none, as runc's nil slice prints), the table laid
//! out like Go's tabwriter with runc's settings (columns at least 12 wide,
//! 3 spaces of padding).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_oci::RuncState;

use crate::cli::Parsed;
use crate::container::{state_dir, ContainerRecord};
use crate::error::{Error, Result};
use crate::Runtime;

/// `list`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let format = flags.value("format").unwrap_or("table");
    if format != "json" && format != "table" {
        return Err(Error::Usage(format!(
            "list: invalid format option {format:?} (want table or json)"
        )));
    }
    let mut states: Vec<RuncState> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&rt.root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(r) = ContainerRecord::load(&rt.root, &name) {
                let mut st = r.runc_state(&rt.root);
                st.owner = owner_of(&state_dir(&rt.root, &r.id));
                states.push(st);
            }
        }
    }
    states.sort_by(|a, b| a.id.cmp(&b.id));
    if flags.is_set("quiet") {
        for st in &states {
            println!("{}", st.id);
        }
        return Ok(0);
    }
    if format == "json" {
        if states.is_empty() {
            println!("null");
        } else {
            println!("{}", serde_json::to_string(&states).expect("json"));
        }
        return Ok(0);
    }
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
    let rows: Vec<[String; 6]> = states
        .into_iter()
        .map(|st| {
            [
                st.id,
                st.pid.to_string(),
                st.status.as_str().to_string(),
                st.bundle,
                st.created,
                st.owner,
            ]
        })
        .collect();
    // tabwriter.NewWriter(out, 12, 1, 3, ' ', 0): a cell is padded to at
    // least 12 and to its column's widest cell plus 3; the last cell of a
    // line is not padded.
    let mut widths = [12usize; 5];
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len() + 3);
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (c, w) in row.iter().zip(widths) {
            out.push_str(&format!("{c:<w$}"));
        }
        out.push_str(&row[5]);
        out.push('\n');
    }
    print!("{out}");
    Ok(0)
}

/// The name of the user owning `dir`, from /etc/passwd as runc looks it
/// up, or `#UID` when the uid has no entry.
fn owner_of(dir: &Path) -> String {
    let Ok(meta) = std::fs::metadata(dir) else {
        return String::new();
    };
    let uid = meta.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id: u32 = f.nth(1)?.parse().ok()?;
            (id == uid).then(|| name.to_string())
        })
        .next()
        .unwrap_or_else(|| format!("#{uid}"))
}
