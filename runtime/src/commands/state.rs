//! `state ID`: the container's state JSON, as runc prints it (the OCI
//! state plus `rootfs`, `created` and `owner`, in runc's key order,
//! indented by two spaces).

use crate::cli::Parsed;
use crate::container::ContainerRecord;
use crate::error::Result;
use crate::Runtime;

/// `state ID`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let id = super::one_id("state", flags)?;
    let record = ContainerRecord::load(&rt.root, id)?;
    let st = record.runc_state(&rt.root);
    println!("{}", serde_json::to_string_pretty(&st).expect("json"));
    Ok(0)
}
