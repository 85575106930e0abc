//! The containers domain through its Rust API with a fake [`Task`] in place
//! of berth-shim (the Task seam): what the lifecycle decides on a start, a
//! failed start, an exit, an OOM kill, a kill, a restart policy and a health
//! probe, with no shim, runtime or container process.
//!
//! The store is real (a native snapshotter in a temp dir, whose rootfs is a
//! bind mount: root only, like the rest of the suite in CI).

use berth_docker::manifest::Platform;
use berth_manager::containers::config::{ContainerConfig, RestartPolicy};
use berth_manager::containers::health::HealthConfig;
use berth_manager::containers::record::Status;
use berth_manager::containers::service::{
    ContainerDeps, ContainerIndex, ContainerPaths, ContainerSettings, Runtimes,
};
use berth_manager::containers::spec::ContainerOptions;
use berth_manager::containers::task::{
    EventStream, OutputChunk, OutputStream, StdStream, StdinSource, Task, TaskError, TaskEvent,
    TaskExit, TaskFuture, TaskLaunch, TaskLauncher, TaskLog, TaskState, TaskStats, TaskStatus,
};
use berth_manager::containers::{ContainerError, ContainerService};
use berth_manager::events::EventBus;
use berth_manager::images::import::ImportOptions;
use berth_manager::images::{ImageService, ImageStores};
use berth_manager::networks::{NetworkConfig, NetworkService};
use berth_manager::registry::RegistryConfig;
use berth_manager::volumes::VolumeService;
use berth_store::content::ContentStore;
use berth_store::metadata::MetadataStore;
use berth_store::snapshot::native::NativeSnapshotter;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::layer_tar;
use tokio::sync::{mpsc, watch};

mod support;

/// How the fake's main process behaves.
#[derive(Clone)]
enum Plan {
    /// Runs until the test ends it (`Fake::exit`) or it is killed.
    Run,
    /// Exits with this code as soon as it is waited for.
    ExitAt(i32),
    /// The runtime refuses to start it with this message.
    FailStart(&'static str),
}

/// Everything the fake tasks were asked, and the knobs of the next ones.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
    plans: Mutex<Vec<Plan>>,
    /// The exit code of every exec'd process (health probes).
    exec_code: Mutex<i32>,
    /// Ends the running main processes: (generation, code).
    exits: Mutex<Option<watch::Sender<Option<i32>>>>,
    /// OOM events to send to the task's event stream.
    oom: Mutex<Option<mpsc::Sender<TaskEvent>>>,
}

impl Fake {
    fn call(&self, what: String) {
        self.calls.lock().unwrap().push(what);
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn count(&self, prefix: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }

    /// Makes the running main process exit with `code`.
    fn exit(&self, code: i32) {
        if let Some(tx) = self.exits.lock().unwrap().as_ref() {
            tx.send_replace(Some(code));
        }
    }
}

struct FakeLauncher(Arc<Fake>);

impl TaskLauncher for FakeLauncher {
    fn spawn<'a>(&'a self, launch: &'a TaskLaunch<'a>) -> TaskFuture<'a, PathBuf> {
        self.0.call(format!("spawn {}", launch.id));
        Box::pin(async move { Ok(PathBuf::from(format!("/fake/{}.sock", launch.id))) })
    }

    fn connect<'a>(
        &'a self,
        id: &'a str,
        _address: &'a Path,
        _state_dir: &'a Path,
    ) -> TaskFuture<'a, Arc<dyn Task>> {
        let fake = self.0.clone();
        Box::pin(async move {
            let plan = {
                let mut plans = fake.plans.lock().unwrap();
                if plans.is_empty() {
                    Plan::Run
                } else {
                    plans.remove(0)
                }
            };
            let (tx, rx) = watch::channel(None);
            *fake.exits.lock().unwrap() = Some(tx);
            Ok(Arc::new(FakeTask {
                fake,
                id: id.to_string(),
                plan,
                exit: rx,
            }) as Arc<dyn Task>)
        })
    }
}

struct FakeTask {
    fake: Arc<Fake>,
    id: String,
    plan: Plan,
    exit: watch::Receiver<Option<i32>>,
}

fn ok<'a, T: Send + 'a>(value: T) -> TaskFuture<'a, T> {
    Box::pin(async move { Ok(value) })
}

impl Task for FakeTask {
    fn create(&self, stdin: bool, log: &TaskLog) -> TaskFuture<'_, u32> {
        self.fake.call(format!(
            "create {} stdin={stdin} log={}",
            self.id, log.driver
        ));
        // The "init" is this test process: the domain opens the init's
        // network namespace at start (loopback up with --network none), and
        // ours is the host's, whose lo is up already.
        ok(std::process::id())
    }

    fn start<'a>(&'a self, exec_id: &'a str) -> TaskFuture<'a, u32> {
        self.fake.call(format!("start {exec_id}"));
        match (&self.plan, exec_id) {
            (Plan::FailStart(message), "") => {
                let message = message.to_string();
                Box::pin(async move { Err(TaskError::Failed(message)) })
            }
            _ => ok(101),
        }
    }

    fn state<'a>(&'a self, _exec_id: &'a str) -> TaskFuture<'a, TaskState> {
        ok(TaskState {
            log_lost: 0,
            pid: 101,
            status: TaskStatus::Running,
        })
    }

    fn kill<'a>(&'a self, exec_id: &'a str, signal: i32, all: bool) -> TaskFuture<'a, ()> {
        self.fake
            .call(format!("kill {exec_id} signal={signal} all={all}"));
        if exec_id.is_empty() && signal == libc::SIGKILL {
            self.fake.exit(128 + signal);
        }
        ok(())
    }

    fn wait<'a>(&'a self, exec_id: &'a str) -> TaskFuture<'a, TaskExit> {
        let fake = self.fake.clone();
        let plan = self.plan.clone();
        let mut exit = self.exit.clone();
        Box::pin(async move {
            let code = if !exec_id.is_empty() {
                *fake.exec_code.lock().unwrap()
            } else if let Plan::ExitAt(code) = plan {
                code
            } else {
                let done = exit.wait_for(Option::is_some).await;
                done.map(|c| c.unwrap_or(0))
                    .map_err(|_| TaskError::Unavailable("fake task gone".into()))?
            };
            Ok(TaskExit {
                code,
                exited_at: None,
                oom_killed: false,
            })
        })
    }

    fn delete<'a>(&'a self, exec_id: &'a str) -> TaskFuture<'a, ()> {
        self.fake.call(format!("delete {exec_id}"));
        ok(())
    }

    fn exec<'a>(&'a self, _exec_id: &'a str, process: Vec<u8>, _stdin: bool) -> TaskFuture<'a, ()> {
        let process: serde_json::Value = serde_json::from_slice(&process).unwrap();
        self.fake.call(format!("exec {}", process["args"]));
        ok(())
    }

    fn resize_pty<'a>(&'a self, _exec_id: &'a str, _w: u32, _h: u32) -> TaskFuture<'a, ()> {
        ok(())
    }

    fn attach<'a>(
        &'a self,
        _exec_id: &'a str,
        _stdin: Option<StdinSource>,
    ) -> TaskFuture<'a, OutputStream> {
        let chunk = OutputChunk {
            stream: StdStream::Stdout,
            data: b"probe says hi\n".to_vec(),
        };
        ok(Box::pin(tokio_stream::iter([Ok(chunk)])) as OutputStream)
    }

    fn pids(&self) -> TaskFuture<'_, Vec<u32>> {
        ok(vec![101])
    }

    fn stats(&self) -> TaskFuture<'_, TaskStats> {
        ok(TaskStats::default())
    }

    fn pause(&self) -> TaskFuture<'_, ()> {
        self.fake.call("pause".into());
        ok(())
    }

    fn resume(&self) -> TaskFuture<'_, ()> {
        self.fake.call("resume".into());
        ok(())
    }

    fn update(&self, _resources: Vec<u8>) -> TaskFuture<'_, ()> {
        ok(())
    }

    fn events(&self) -> TaskFuture<'_, EventStream> {
        let (tx, rx) = mpsc::channel(4);
        *self.fake.oom.lock().unwrap() = Some(tx);
        ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)) as EventStream)
    }

    fn shutdown(&self, now: bool) -> TaskFuture<'_, ()> {
        self.fake.call(format!("shutdown now={now}"));
        ok(())
    }
}

/// A containers service over a store in a temp dir, an image `t:latest`
/// and the fake tasks.
struct Domain {
    service: Arc<ContainerService>,
    fake: Arc<Fake>,
    dir: PathBuf,
}

impl Domain {
    fn new(what: &str) -> Option<Domain> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: the native snapshotter's bind mounts need root");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("berth-domain-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("root");
        let state = dir.join("state");
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        let meta = Arc::new(MetadataStore::open(&root.join("meta.redb")).unwrap());
        let events = Arc::new(EventBus::new());
        let index = ContainerIndex::new(meta.clone()).unwrap();
        let images = Arc::new(ImageService::new(
            ImageStores {
                content: ContentStore::open(&root).unwrap(),
                meta: meta.clone(),
                snapshotter: Arc::new(NativeSnapshotter::open(&root, meta.clone()).unwrap()),
            },
            RegistryConfig::default(),
            Platform::host(),
            index.clone(),
            events.clone(),
            root.join("tmp"),
        ));
        images
            .import_blocking(
                &mut &layer_tar()[..],
                &ImportOptions {
                    reference: Some("t:latest".into()),
                    message: String::new(),
                    changes: vec!["CMD [\"/bin/serve\"]".into()],
                    platform: None,
                },
            )
            .unwrap();
        let volumes = Arc::new(
            VolumeService::new(&root, meta.clone(), events.clone(), index.clone()).unwrap(),
        );
        let networks = Arc::new(NetworkService::new(
            meta.clone(),
            events.clone(),
            NetworkConfig {
                bridge: format!("bd{}", std::process::id() % 100000),
                bip: None,
                containers_dir: root.join("containers"),
            },
            index.clone(),
            None,
        ));
        let fake = Arc::new(Fake::default());
        let service = Arc::new(
            ContainerService::new(
                ContainerDeps {
                    images,
                    index,
                    events,
                    volumes,
                    networks,
                    launcher: Arc::new(FakeLauncher(fake.clone())),
                    port_publisher: None,
                },
                ContainerSettings {
                    paths: ContainerPaths::new(&root, &state),
                    runtimes: Runtimes::new(&BTreeMap::new(), None),
                    init_binary: None,
                    cdi_spec_dirs: Vec::new(),
                    log_defaults: Default::default(),
                },
            )
            .unwrap(),
        );
        Some(Domain { service, fake, dir })
    }

    async fn create(&self, options: ContainerOptions, restart: RestartPolicy) -> String {
        let config = ContainerConfig {
            image: "t:latest".into(),
            options,
            log: Default::default(),
            auto_remove: false,
            runtime: None,
            stop_timeout: Some(1),
            restart,
        };
        self.service.create(None, config).await.unwrap().0
    }

    fn status(&self, id: &str) -> (Status, i32) {
        let r = self.service.resolve(id).unwrap();
        (r.state.status, r.state.exit_code)
    }

    /// Polls (the domain records exits from a background task).
    async fn until(&self, what: &str, mut cond: impl FnMut() -> bool) {
        for _ in 0..200 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "timed out waiting for {what}; calls: {:?}",
            self.fake.calls()
        );
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        // Rootfs bind mounts first, then the tree.
        if let Ok(records) = self.service.list_records() {
            for r in records {
                let rootfs = self.dir.join("state/containers").join(&r.id).join("rootfs");
                let path = std::ffi::CString::new(rootfs.as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: umount2 of a path we made, MNT_DETACH.
                unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_start_creates_and_starts_the_task_and_an_exit_is_recorded_with_its_code() {
    let Some(d) = Domain::new("exit") else { return };
    runtime().block_on(async {
        let id = d
            .create(ContainerOptions::default(), RestartPolicy::default())
            .await;
        assert_eq!(d.status(&id).0, Status::Created);
        assert!(d.service.start(&id, None).await.unwrap().is_none());
        assert_eq!(d.status(&id).0, Status::Running);
        assert_eq!(d.service.resolve(&id).unwrap().state.pid, 101);
        let calls = d.fake.calls();
        assert_eq!(calls[0], format!("spawn {id}"));
        assert_eq!(calls[1], format!("create {id} stdin=false log=json-file"));
        assert_eq!(calls[2], "start ");
        d.fake.exit(3);
        d.until("the exit", || d.status(&id).0 == Status::Exited)
            .await;
        assert_eq!(d.status(&id), (Status::Exited, 3));
        assert_eq!(d.service.wait(&id, "").await.unwrap(), 3);
        // The task is deleted once its exit is recorded.
        assert!(d.fake.calls().contains(&"delete ".to_string()));
        d.service.remove(&id, false).await.unwrap();
        assert!(matches!(
            d.service.resolve(&id),
            Err(ContainerError::NotFound(_))
        ));
    });
}

#[test]
fn a_start_the_runtime_refuses_is_recorded_with_dockers_exit_code_and_the_task_goes() {
    let Some(d) = Domain::new("failstart") else {
        return;
    };
    runtime().block_on(async {
        d.fake.plans.lock().unwrap().push(Plan::FailStart(
            "exec: \"nope\": executable file not found in $PATH",
        ));
        let id = d
            .create(ContainerOptions::default(), RestartPolicy::default())
            .await;
        let Err(err) = d.service.start(&id, None).await else {
            panic!("the start succeeded");
        };
        match &err {
            ContainerError::StartFailed { code, message } => {
                assert_eq!(*code, 127);
                assert!(message.contains("executable file not found"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let r = d.service.resolve(&id).unwrap();
        assert_eq!(r.state.status, Status::Created);
        assert_eq!(r.state.exit_code, 127);
        assert!(r.state.error.contains("executable file not found"));
        assert!(r.shim.is_none());
        assert!(d.fake.calls().contains(&"shutdown now=true".to_string()));
    });
}

#[test]
fn kill_signals_the_main_process_and_stop_ends_with_sigkill_after_the_timeout() {
    let Some(d) = Domain::new("stop") else { return };
    runtime().block_on(async {
        let id = d
            .create(ContainerOptions::default(), RestartPolicy::default())
            .await;
        d.service.start(&id, None).await.unwrap();
        d.service.kill(&id, libc::SIGUSR1).await.unwrap();
        assert!(d
            .fake
            .calls()
            .contains(&"kill  signal=10 all=false".to_string()));
        assert_eq!(d.status(&id).0, Status::Running);
        // The fake ignores SIGTERM: stop's 1 s timeout ends in SIGKILL.
        d.service.stop(&id, None, None).await.unwrap();
        let calls = d.fake.calls();
        assert!(
            calls.contains(&"kill  signal=15 all=false".to_string()),
            "{calls:?}"
        );
        assert!(
            calls.contains(&"kill  signal=9 all=true".to_string()),
            "{calls:?}"
        );
        d.until("the exit", || d.status(&id).0 == Status::Exited)
            .await;
        assert_eq!(d.status(&id), (Status::Exited, 137));
        // Stopped by the user: a restart policy would not apply (docker).
        assert!(d.service.resolve(&id).unwrap().state.stopped_by_user);
    });
}

#[test]
fn an_oom_kill_is_recorded_on_the_exit() {
    let Some(d) = Domain::new("oom") else { return };
    runtime().block_on(async {
        let id = d
            .create(ContainerOptions::default(), RestartPolicy::default())
            .await;
        d.service.start(&id, None).await.unwrap();
        d.until("the event stream", || d.fake.oom.lock().unwrap().is_some())
            .await;
        let oom = d.fake.oom.lock().unwrap().clone().unwrap();
        oom.send(TaskEvent::Oom {
            exec_id: String::new(),
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        d.fake.exit(137);
        d.until("the exit", || d.status(&id).0 == Status::Exited)
            .await;
        assert!(d.service.resolve(&id).unwrap().state.oom_killed);
    });
}

#[test]
fn on_failure_restarts_a_failing_container_up_to_its_retries_and_not_a_clean_exit() {
    let Some(d) = Domain::new("restart") else {
        return;
    };
    runtime().block_on(async {
        d.fake
            .plans
            .lock()
            .unwrap()
            .extend([Plan::ExitAt(1), Plan::ExitAt(1), Plan::ExitAt(1)]);
        let policy = RestartPolicy {
            name: "on-failure".into(),
            max_retries: 2,
        };
        let id = d.create(ContainerOptions::default(), policy.clone()).await;
        d.service.start(&id, None).await.unwrap();
        d.until("two restarts", || {
            d.fake.count("spawn ") == 3 && d.status(&id).0 == Status::Exited
        })
        .await;
        // No third restart.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(d.fake.count("spawn "), 3);
        assert_eq!(d.status(&id), (Status::Exited, 1));

        // A clean exit is not a failure.
        d.fake.plans.lock().unwrap().push(Plan::ExitAt(0));
        let clean = d.create(ContainerOptions::default(), policy).await;
        d.service.start(&clean, None).await.unwrap();
        d.until("the exit", || d.status(&clean).0 == Status::Exited)
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(d.fake.count("spawn "), 4);
    });
}

#[test]
fn a_failing_probe_makes_the_container_unhealthy_after_its_retries() {
    let Some(d) = Domain::new("health") else {
        return;
    };
    runtime().block_on(async {
        let options = ContainerOptions {
            healthcheck: Some(HealthConfig {
                test: vec!["CMD".into(), "/bin/check".into()],
                interval: Duration::from_millis(100).as_nanos() as i64,
                timeout: Duration::from_secs(2).as_nanos() as i64,
                start_period: 0,
                retries: 2,
            }),
            ..Default::default()
        };
        let id = d.create(options, RestartPolicy::default()).await;
        d.service.start(&id, None).await.unwrap();
        let health = |d: &Domain| {
            let v = serde_json::to_value(d.service.inspect(&id, false).unwrap()).unwrap();
            v["State"]["Health"]["Status"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        d.until("healthy", || health(&d) == "healthy").await;
        assert!(d
            .fake
            .calls()
            .contains(&"exec [\"/bin/check\"]".to_string()));
        let v = serde_json::to_value(d.service.inspect(&id, false).unwrap()).unwrap();
        let log = &v["State"]["Health"]["Log"][0];
        assert_eq!(log["ExitCode"], 0);
        assert_eq!(log["Output"], "probe says hi\n");
        *d.fake.exec_code.lock().unwrap() = 1;
        d.until("unhealthy", || health(&d) == "unhealthy").await;
        let v = serde_json::to_value(d.service.inspect(&id, false).unwrap()).unwrap();
        assert!(v["State"]["Health"]["FailingStreak"].as_i64().unwrap() >= 2);
        d.fake.exit(0);
        d.until("the exit", || d.status(&id).0 == Status::Exited)
            .await;
    });
}
