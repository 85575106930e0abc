//! Helpers of the restart policy and health check tests
//! (`tests/restart_health.rs`): a container's state as inspect shows it,
//! its events with their times, and a docker-archive image with a
//! HEALTHCHECK built from the busybox rootfs.

use crate::containers::Fixture;
use crate::registry::{sha256_hex, tar_dir};
use crate::TestDir;

/// What inspect says of a container's run state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunState {
    pub status: String,
    pub restart_count: u64,
    pub exit_code: i64,
    pub started_at: String,
}

/// `State.Status`, `RestartCount`, `State.ExitCode`, `State.StartedAt`.
pub fn run_state(f: &Fixture, name: &str) -> RunState {
    let v = f.inspect(name);
    RunState {
        status: v["State"]["Status"].as_str().unwrap_or("").to_string(),
        restart_count: v["RestartCount"].as_u64().unwrap_or(u64::MAX),
        exit_code: v["State"]["ExitCode"].as_i64().unwrap_or(-1),
        started_at: v["State"]["StartedAt"].as_str().unwrap_or("").to_string(),
    }
}

/// The container events of `name` of the last minute: (unix nanos, action).
pub fn events_of(f: &Fixture, name: &str) -> Vec<(i64, String)> {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let out = f.ok(&[
        "events",
        "--since",
        "2m",
        "--until",
        &until.to_string(),
        "--filter",
        &format!("container={name}"),
        "--format",
        "{{.TimeNano}} {{.Action}}",
    ]);
    out.lines()
        .filter_map(|l| {
            let (t, action) = l.split_once(' ')?;
            Some((t.parse().ok()?, action.to_string()))
        })
        .collect()
}

/// How many of `events` are `action`.
pub fn count_action(events: &[(i64, String)], action: &str) -> usize {
    events.iter().filter(|(_, a)| a == action).count()
}

/// Loads `tag`: the busybox rootfs as one layer, CMD ["/bin/sh"], and
/// `healthcheck` (docker's HealthConfig JSON) in its config, as a
/// docker-archive tarball (`berth load`).
pub fn load_image_with_healthcheck(f: &Fixture, tag: &str, healthcheck: serde_json::Value) {
    let work = TestDir::new("hcimg");
    crate::busybox_rootfs(&work.join("rootfs"));
    let archive = work.join("archive");
    std::fs::create_dir_all(&archive).unwrap();
    let layer = archive.join("layer.tar");
    tar_dir(&work.join("rootfs"), &layer);
    let diff_id = format!("sha256:{}", sha256_hex(&std::fs::read(&layer).unwrap()));
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Cmd": ["/bin/sh"],
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Healthcheck": healthcheck,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "berth integration test"}],
    });
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", sha256_hex(&config_bytes));
    std::fs::write(archive.join(&config_name), &config_bytes).unwrap();
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [tag],
        "Layers": ["layer.tar"],
    }]);
    std::fs::write(
        archive.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let tarball = work.join("image.tar");
    tar_dir(&archive, &tarball);
    f.ok(&["load", "-i", tarball.to_str().unwrap()]);
}
