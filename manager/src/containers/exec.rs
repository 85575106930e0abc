//! `exec` and `attach`: processes added to a running container, and the
//! stdio of its main process.
//!
//! An exec'd process runs with the container's own process settings (from
//! the bundle's config.json: capabilities, seccomp, rlimits, apparmor ...)
//! with the user's command, env, working dir, user and tty on top, as
//! docker does; `--privileged` gives it every capability.

use super::service::{is_mounted, ContainerService, Entry};
use super::spec;
use super::task::{OutputStream, StdinSource, Task};
use super::ContainerError;
use std::sync::Arc;
use std::time::Duration;

/// How long an exit waits for berthd's output relays while none of them
/// moves: a client that takes nothing for this long (a stopped `berth
/// run`, a reader that never reads) no longer holds up the exit; its relay
/// then ends with an error when the shim goes, which the client is told.
const RELAY_DRAIN_STALL: Duration = Duration::from_secs(30);

/// berthd's relays of one container's main output, and how far they got.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RelayCount {
    /// Relays still reading the shim's output stream.
    pub open: usize,
    /// Messages they read, all together (a change is progress).
    pub read: u64,
}

/// One relay of the main process's output from its shim to a client
/// (`attach`, `run`, `start -a`). While it lives, the container's exit is
/// not handled: the exit's Delete makes the shim end its streams, and a
/// relay paced by a slow client would lose the tail the shim still holds
/// for it. Taken before the shim's stream is opened (a process that exits
/// at once must find it), dropped when the relay read the stream's end.
pub struct OutputRelay {
    entry: Arc<Entry>,
}

impl OutputRelay {
    /// Notes that the relay read a message (progress, see
    /// [`drain_output_relays`]).
    pub fn read_one(&self) {
        self.entry.output_relays.send_modify(|c| c.read += 1);
    }
}

impl Drop for OutputRelay {
    fn drop(&mut self) {
        self.entry.output_relays.send_modify(|c| c.open -= 1);
    }
}

/// Waits until every relay of the container's main output read to its end,
/// as long as they move: [`RELAY_DRAIN_STALL`] without a message read by any
/// of them ends the wait.
pub(crate) async fn drain_output_relays(id: &str, entry: &Entry) {
    let mut counts = entry.output_relays.subscribe();
    loop {
        if counts.borrow_and_update().open == 0 {
            return;
        }
        match tokio::time::timeout(RELAY_DRAIN_STALL, counts.changed()).await {
            Ok(Ok(())) => continue,
            Ok(Err(_)) => return,
            Err(_) => {
                tracing::warn!(
                    id,
                    "an attached client took no output for {RELAY_DRAIN_STALL:?} after the exit: handling the exit without it"
                );
                return;
            }
        }
    }
}

/// What `exec` runs.
pub struct ExecOptions {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub tty: bool,
    pub privileged: bool,
    /// The client's stdin, when attached (`-i`).
    pub stdin: Option<StdinSource>,
    pub width: u32,
    pub height: u32,
}

/// A started exec'd process.
pub struct StartedExec {
    pub container_id: String,
    pub exec_id: String,
    /// Its output (none when not attached).
    pub output: Option<OutputStream>,
    task: Arc<dyn Task>,
    /// Publishes `exec_die` when the process has been waited for.
    on_exit: Box<dyn FnOnce(i32) + Send>,
}

impl StartedExec {
    /// Waits for the process to exit, forgets it in the shim, and answers
    /// its exit code.
    pub async fn wait(self) -> Result<i32, ContainerError> {
        let code = self.task.wait(&self.exec_id).await?.code;
        let _ = self.task.delete(&self.exec_id).await;
        (self.on_exit)(code);
        Ok(code)
    }
}

/// Overrides `KEY=VALUE` entries of `base` by key with `extra`.
fn merge_env(base: &mut Vec<String>, extra: &[String]) {
    for e in extra {
        let key = e.split('=').next().unwrap_or(e);
        base.retain(|b| b.split('=').next() != Some(key));
        base.push(e.clone());
    }
}

impl ContainerService {
    /// Creates and starts an exec'd process in a running container.
    pub async fn exec(
        &self,
        input: &str,
        opts: ExecOptions,
    ) -> Result<StartedExec, ContainerError> {
        let record = self.resolve(input)?;
        if opts.cmd.is_empty() {
            return Err(ContainerError::InvalidArgument(
                "no exec command specified".into(),
            ));
        }
        let entry = self.entry(&record.id);
        let task = entry.task().filter(|_| record.state.status.is_live());
        let Some(task) = task else {
            return Err(ContainerError::FailedPrecondition(format!(
                "container {} is not running",
                record.id
            )));
        };
        if record.state.status == super::record::Status::Paused {
            return Err(ContainerError::FailedPrecondition(format!(
                "container {} is paused, unpause the container before exec",
                record.id
            )));
        }
        let bundle = self.paths.bundle(&record.id);
        let config_path = bundle.join("config.json");
        if !config_path.exists() {
            // `update` drops the spec so the next start rebuilds it.
            self.ensure_bundle(&record, None).await?;
        }
        let bytes = std::fs::read(&config_path).map_err(|source| ContainerError::Io {
            op: "read",
            path: config_path.clone(),
            source,
        })?;
        let container_spec: berth_oci::Spec = serde_json::from_slice(&bytes).map_err(|e| {
            ContainerError::Internal(format!("parse {}: {e}", config_path.display()))
        })?;
        let mut process = container_spec.process.unwrap_or_default();
        process.args = opts.cmd.clone();
        process.terminal = opts.tty;
        merge_env(&mut process.env, &opts.env);
        if opts.tty && !process.env.iter().any(|e| e.starts_with("TERM=")) {
            process.env.push("TERM=xterm".into());
        }
        if !opts.working_dir.is_empty() {
            process.cwd = opts.working_dir.clone();
        }
        let rootfs = bundle.join("rootfs");
        if !opts.user.is_empty() && is_mounted(&rootfs) {
            let user = spec::user::resolve_user(&rootfs, &opts.user, &[])?;
            process.user.uid = user.uid;
            process.user.gid = user.gid;
            process.user.additional_gids = user.additional_gids;
        }
        if opts.privileged {
            let all = spec::capabilities::grantable_capabilities();
            process.capabilities = Some(berth_oci::LinuxCapabilities {
                bounding: all.clone(),
                effective: all.clone(),
                permitted: all,
                ..Default::default()
            });
        }
        process.console_size = None;
        let exec_id = format!("exec-{}", &crate::images::random_hex()[..12]);
        let process_json = serde_json::to_vec(&process).expect("process serialises");
        task.exec(&exec_id, process_json, opts.stdin.is_some())
            .await?;
        let short: String = opts.cmd.join(" ");
        self.publish(
            &record,
            &format!("exec_create: {short}"),
            &[("execID", exec_id.clone())],
        );
        let output = task.attach(&exec_id, opts.stdin.clone()).await?;
        if let Err(e) = task.start(&exec_id).await {
            let _ = task.delete(&exec_id).await;
            return Err(ContainerError::ExecFailed(e.to_string()));
        }
        if opts.tty && opts.width > 0 && opts.height > 0 {
            let _ = task.resize_pty(&exec_id, opts.width, opts.height).await;
        }
        self.publish(
            &record,
            &format!("exec_start: {short}"),
            &[("execID", exec_id.clone())],
        );
        let events = self.events.clone();
        let (exit_record, exit_exec_id) = (record.clone(), exec_id.clone());
        let on_exit = Box::new(move |code: i32| {
            let mut attributes = std::collections::BTreeMap::from([
                ("name".to_string(), exit_record.name.clone()),
                ("image".to_string(), exit_record.image.clone()),
                ("execID".to_string(), exit_exec_id),
                ("exitCode".to_string(), code.to_string()),
            ]);
            attributes.extend(exit_record.config.options.labels.clone());
            events.publish(crate::events::Event::now(
                "container",
                "exec_die",
                exit_record.id.clone(),
                attributes,
            ));
        });
        Ok(StartedExec {
            container_id: record.id,
            exec_id,
            output: Some(output),
            task,
            on_exit,
        })
    }

    /// Registers a relay of container `id`'s main output (see
    /// [`OutputRelay`]).
    pub fn output_relay(&self, id: &str) -> OutputRelay {
        let entry = self.entry(id);
        entry.output_relays.send_modify(|c| c.open += 1);
        OutputRelay { entry }
    }

    /// Attaches to a running container's main process.
    pub async fn attach(
        &self,
        input: &str,
        stdin: Option<StdinSource>,
    ) -> Result<(String, OutputStream), ContainerError> {
        let record = self.resolve(input)?;
        let entry = self.entry(&record.id);
        let Some(task) = entry.task().filter(|_| record.state.status.is_live()) else {
            return Err(ContainerError::FailedPrecondition(
                "You cannot attach to a stopped container, start it first".into(),
            ));
        };
        if record.state.status == super::record::Status::Paused {
            return Err(ContainerError::FailedPrecondition(
                "You cannot attach to a paused container, unpause it first".into(),
            ));
        }
        let stdin = stdin.filter(|_| record.config.options.open_stdin);
        let stream = task.attach("", stdin).await?;
        self.publish(&record, "attach", &[]);
        Ok((record.id, stream))
    }

    /// Resizes the tty of the main process (`exec_id` empty) or an exec.
    pub async fn resize(&self, id: &str, exec_id: &str, width: u32, height: u32) {
        if let Some(task) = self.entry(id).task() {
            let _ = task.resize_pty(exec_id, width, height).await;
        }
    }

    /// The exit generation now (to wait for the exit of the run that starts
    /// after it).
    pub fn exit_generation(&self, id: &str) -> u64 {
        self.entry(id).exits.borrow().0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_by_key() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        merge_env(&mut env, &["A=2".to_string(), "B=3".to_string()]);
        assert_eq!(env, vec!["PATH=/bin", "A=2", "B=3"]);
    }
}
