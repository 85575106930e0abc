//! `ps [--format table|json] ID [PS_ARGS...]`: the processes in the
//! container's cgroup. `json` prints their pids; `table` runs the host's
//! `ps` (with `-ef` unless other arguments are given) and keeps the header and
//! the container's lines, as runc does.

use std::process::Command;

use crate::cli::Parsed;
use crate::container::ContainerRecord;
use crate::error::{Context, Error, Result};
use crate::{cgroups, Runtime};

/// `ps`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let (id, ps_args) = flags
        .positional
        .split_first()
        .ok_or_else(|| Error::Usage("ps: a container id is required".into()))?;
    let record = ContainerRecord::load(&rt.root, id)?;
    let pids = cgroups::require(&record)?.pids()?;
    match flags.value("format").unwrap_or("table") {
        "json" => {
            println!("{}", serde_json::to_string(&pids).expect("json"));
        }
        "table" => {
            let args: Vec<&str> = if ps_args.is_empty() {
                vec!["-ef"]
            } else {
                ps_args.iter().map(String::as_str).collect()
            };
            let out = Command::new("ps")
                .args(&args)
                .output()
                .context(|| "run ps".into())?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let pid_col = header
                .split_whitespace()
                .position(|c| c == "PID")
                .ok_or_else(|| Error::Invalid("ps output has no PID column".into()))?;
            println!("{header}");
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(pid_col)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{line}");
                }
            }
        }
        other => {
            return Err(Error::Usage(format!(
                "ps: invalid format {other:?} (want table or json)"
            )))
        }
    }
    Ok(0)
}
