//! Exec: docker's two steps (`POST /containers/{id}/exec` makes an exec
//! instance, `POST /exec/{id}/start` runs it on a hijacked connection) over
//! the domain's one (`ContainerService::exec` starts at once). The
//! instances live here, in the adapter, until their container is removed
//! or berthd stops; `GET /exec/{id}/json` reports their state and exit
//! code, as the docker CLI reads it when the stream ends.

use super::error::ApiError;
use super::hijack::{copy_output, pump_stdin, stdin_channel, upgrade_response, Wanted};
use super::server::{empty, json, ApiRequest, Reply};
use super::DockerApi;
use crate::containers::exec::ExecOptions;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;

/// The exec instances, by the id `exec create` answered.
pub(crate) type ExecInstances = Mutex<HashMap<String, ExecInstance>>;

/// What `exec create` asked for, and how its run went.
#[derive(Debug, Clone)]
pub(crate) struct ExecInstance {
    container_id: String,
    config: ExecConfig,
    /// The domain's id of the running process (for resize).
    process_id: Option<String>,
    running: bool,
    exit_code: Option<i32>,
}

/// docker's `types.ExecConfig`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    pub user: String,
    pub privileged: bool,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stderr: bool,
    pub attach_stdout: bool,
    pub detach: bool,
    pub detach_keys: String,
    pub env: Option<Vec<String>>,
    pub working_dir: String,
    pub cmd: Option<Vec<String>>,
    pub console_size: Option<[u32; 2]>,
}

fn instances(api: &DockerApi) -> std::sync::MutexGuard<'_, HashMap<String, ExecInstance>> {
    api.execs.lock().unwrap_or_else(|e| e.into_inner())
}

fn no_such_exec(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("No such exec instance: {id}"),
    )
}

/// `POST /containers/{id}/exec`.
pub async fn create(api: &DockerApi, container: &str, mut req: ApiRequest) -> Reply {
    let body = req.body().await?;
    let mut value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    if let Some(s) = value
        .get("Cmd")
        .and_then(|c| c.as_str())
        .map(str::to_string)
    {
        value["Cmd"] = json!([s]);
    }
    let config: ExecConfig = serde_path_to_error::deserialize(value).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid JSON body: field {}: {}",
            e.path(),
            e.inner()
        ))
    })?;
    if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let record = api.containers.resolve(container)?;
    if !record.state.status.is_live() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Container {} is not running", record.id),
        ));
    }
    let id = crate::ids::new_id();
    // Instances of containers that are gone are dropped as new ones come.
    let live: std::collections::HashSet<String> = api
        .containers
        .list_records()
        .map(|l| l.into_iter().map(|r| r.id).collect())
        .unwrap_or_default();
    let mut all = instances(api);
    all.retain(|_, e| live.contains(&e.container_id));
    all.insert(
        id.clone(),
        ExecInstance {
            container_id: record.id,
            config,
            process_id: None,
            running: false,
            exit_code: None,
        },
    );
    json(StatusCode::CREATED, &json!({ "Id": id }))
}

/// `POST /exec/{id}/start`: runs the instance; attached, on a hijacked
/// connection that ends when the process has exited and its code is
/// recorded.
pub async fn start(api: Arc<DockerApi>, id: &str, mut req: ApiRequest) -> Reply {
    #[derive(Default, Deserialize)]
    #[serde(rename_all = "PascalCase", default)]
    struct StartBody {
        detach: bool,
        tty: bool,
    }
    let body = req.body().await?;
    let start: StartBody = if body.iter().all(u8::is_ascii_whitespace) {
        StartBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    let instance = {
        let mut all = instances(&api);
        let e = all.get_mut(id).ok_or_else(|| no_such_exec(id))?;
        if e.running || e.exit_code.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("Error: Exec command {id} has already run"),
            ));
        }
        e.running = true;
        e.clone()
    };
    let c = &instance.config;
    let attached = !start.detach;
    let (stdin_tx, stdin_src) = if attached && c.attach_stdin {
        let (tx, src) = stdin_channel();
        (Some(tx), Some(src))
    } else {
        (None, None)
    };
    let [height, width] = c.console_size.unwrap_or([0, 0]);
    let opts = ExecOptions {
        cmd: c.cmd.clone().unwrap_or_default(),
        env: c.env.clone().unwrap_or_default(),
        working_dir: c.working_dir.clone(),
        user: c.user.clone(),
        tty: c.tty || start.tty,
        privileged: c.privileged,
        stdin: stdin_src,
        width,
        height,
    };
    let wanted = Wanted {
        stdout: c.attach_stdout,
        stderr: c.attach_stderr,
        tty: c.tty || start.tty,
    };
    let id = id.to_string();
    if !attached {
        let started = match api.containers.exec(&instance.container_id, opts).await {
            Ok(s) => s,
            Err(e) => {
                finish(&api, &id, None);
                return Err(e.into());
            }
        };
        set_process(&api, &id, &started.exec_id);
        tokio::spawn(async move {
            let mut started = started;
            drop(started.output.take());
            let code = started.wait().await.unwrap_or(-1);
            finish(&api, &id, Some(code));
        });
        return empty(StatusCode::OK);
    }
    // Attached: as docker, the process starts once the connection is
    // handed over (its first output must not race the 101's headers, which
    // a client may read through a buffer), so a container that is not
    // running is refused first.
    let record = api.containers.resolve(&instance.container_id)?;
    if !record.state.status.is_live() {
        finish(&api, &id, None);
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Container {} is not running", record.id),
        ));
    }
    let response = upgrade_response(&req)?;
    let on_upgrade = hyper::upgrade::on(&mut req.inner);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            finish(&api, &id, None);
            return;
        };
        let (read, mut write) = tokio::io::split(hyper_util::rt::TokioIo::new(upgraded));
        let mut started = match api.containers.exec(&instance.container_id, opts).await {
            Ok(s) => s,
            Err(e) => {
                // As docker: the client reads why on the stream it asked
                // for; a process that could not start is exit code 126.
                let code = matches!(e, crate::containers::ContainerError::ExecFailed(_))
                    .then_some(crate::containers::EXEC_START_FAILED);
                finish(&api, &id, code);
                let line = format!("{}\r\n", ApiError::from(e).message);
                let bytes = if wanted.tty {
                    bytes::Bytes::from(line)
                } else {
                    super::containers::frame(1, line.as_bytes())
                };
                let _ = write.write_all(&bytes).await;
                let _ = write.shutdown().await;
                return;
            }
        };
        set_process(&api, &id, &started.exec_id);
        let pump = pump_stdin(read, stdin_tx);
        if let Some(output) = started.output.take() {
            copy_output(output, &mut write, wanted, None).await;
        }
        let code = started.wait().await.unwrap_or(-1);
        finish(&api, &id, Some(code));
        // Closed after the code is recorded: the CLI inspects at once.
        let _ = write.shutdown().await;
        pump.abort();
    });
    Ok(response)
}

/// Notes the domain's id of an instance's running process.
fn set_process(api: &DockerApi, id: &str, process: &str) {
    if let Some(inst) = instances(api).get_mut(id) {
        inst.process_id = Some(process.to_string());
    }
}

/// Notes that an instance's run ended (with its exit code, if it ran).
fn finish(api: &DockerApi, id: &str, code: Option<i32>) {
    if let Some(inst) = instances(api).get_mut(id) {
        inst.running = false;
        inst.exit_code = code;
    }
}

/// `GET /exec/{id}/json`.
pub fn inspect(api: &DockerApi, id: &str) -> Reply {
    let e = instances(api)
        .get(id)
        .cloned()
        .ok_or_else(|| no_such_exec(id))?;
    let cmd = e.config.cmd.clone().unwrap_or_default();
    json(
        StatusCode::OK,
        &json!({
            "CanRemove": false,
            "ContainerID": e.container_id,
            "DetachKeys": e.config.detach_keys,
            "ExitCode": e.exit_code,
            "ID": id,
            "OpenStderr": e.config.attach_stderr,
            "OpenStdin": e.config.attach_stdin,
            "OpenStdout": e.config.attach_stdout,
            "ProcessConfig": {
                "arguments": cmd.get(1..).unwrap_or_default(),
                "entrypoint": cmd.first().cloned().unwrap_or_default(),
                "privileged": e.config.privileged,
                "tty": e.config.tty,
                "user": e.config.user,
            },
            "Running": e.running,
            "Pid": 0,
        }),
    )
}

/// `POST /exec/{id}/resize?h=&w=`.
pub async fn resize(api: &DockerApi, id: &str, req: &ApiRequest) -> Reply {
    let (w, h) = super::containers::size(req)?;
    let e = instances(api)
        .get(id)
        .cloned()
        .ok_or_else(|| no_such_exec(id))?;
    let Some(process) = e.process_id.filter(|_| e.running) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("exec {id} is not running"),
        ));
    };
    api.containers.resize(&e.container_id, &process, w, h).await;
    empty(StatusCode::CREATED)
}
