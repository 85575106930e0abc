//! The container filesystem operations over gRPC streams: `diff`, `cp` in
//! both directions and `export` (the archive module does the work, on the
//! container's mounted rootfs, in blocking threads).

use super::service::{is_mounted, ContainerService};
use super::ContainerError;
use berth_docker::archive::{self, ExtractOptions};
use berth_proto::v1 as pb;
use berth_store::mount::mount_all;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;
use tonic::Status;

impl From<archive::ArchiveError> for ContainerError {
    fn from(e: archive::ArchiveError) -> Self {
        match e {
            archive::ArchiveError::NotFound(_) => ContainerError::PathNotFound(e.to_string()),
            archive::ArchiveError::Io { .. } => ContainerError::Internal(e.to_string()),
            other => ContainerError::InvalidArgument(other.to_string()),
        }
    }
}

/// Sends what is written as messages made by `wrap`, from a blocking thread.
struct ChannelWriter<T> {
    tx: mpsc::Sender<Result<T, Status>>,
    wrap: fn(Vec<u8>) -> T,
}

impl<T> Write for ChannelWriter<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(Ok((self.wrap)(buf.to_vec())))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads the data messages of a client stream, from a blocking thread.
struct StreamReader {
    rx: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for StreamReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.blocking_recv() {
                Some(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn stat_to_pb(s: &archive::PathStat) -> pb::PathStat {
    pb::PathStat {
        name: s.name.clone(),
        size: s.size,
        mode: s.mode,
        mtime: s
            .mtime
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
        link_target: s.link_target.clone(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ContainerError> + Send + 'static,
) -> Result<T, ContainerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ContainerError::Internal(format!("task failed: {e}")))?
}

impl ContainerService {
    /// The container's rootfs, mounted (it stays mounted from create to
    /// removal; after a reboot it is mounted again here).
    async fn mounted_rootfs(&self, input: &str) -> Result<(String, PathBuf), ContainerError> {
        let record = self.resolve(input)?;
        let rootfs = self.paths.rootfs(&record.id);
        if !is_mounted(&rootfs) {
            std::fs::create_dir_all(&rootfs).map_err(|e| {
                ContainerError::Internal(format!("create {}: {e}", rootfs.display()))
            })?;
            let mounts = self
                .images
                .snapshotter()
                .mounts(&record.snapshot_key)
                .map_err(|e| ContainerError::Internal(e.to_string()))?;
            mount_all(&mounts, &rootfs).map_err(|e| ContainerError::Internal(e.to_string()))?;
        }
        Ok((record.id, rootfs))
    }

    /// The tree `cp` works on: a running container's own view
    /// (`/proc/<init>/root`, which includes its volumes and bind mounts, as
    /// docker's cp does), else the mounted rootfs.
    async fn copy_root(&self, input: &str) -> Result<PathBuf, ContainerError> {
        let record = self.resolve(input)?;
        if record.state.status.is_live() && record.state.pid > 0 {
            let view = PathBuf::from(format!("/proc/{}/root", record.state.pid));
            if view.exists() {
                return Ok(view);
            }
        }
        Ok(self.mounted_rootfs(input).await?.1)
    }

    /// docker diff.
    pub async fn diff(&self, input: &str) -> Result<Vec<pb::Change>, ContainerError> {
        let record = self.resolve(input)?;
        let snapshotter = self.images.snapshotter().clone();
        let key = record.snapshot_key.clone();
        blocking(move || {
            let (lowers, upper) = snapshotter
                .diff_dirs(&key)
                .map_err(|e| ContainerError::Internal(e.to_string()))?;
            let changes = super::archive::changes(&lowers, &upper)?;
            Ok(changes
                .into_iter()
                .map(|c| pb::Change {
                    kind: c.kind.code() as i32,
                    path: c.path,
                })
                .collect())
        })
        .await
    }

    /// docker cp CONTAINER:PATH -: the path's stat, then its tar.
    pub async fn copy_from(
        &self,
        input: &str,
        path: &str,
        follow_link: bool,
    ) -> Result<mpsc::Receiver<Result<pb::CopyChunk, Status>>, ContainerError> {
        let rootfs = self.copy_root(input).await?;
        let mut path = path.to_string();
        let stat = {
            let rootfs = rootfs.clone();
            let p = path.clone();
            blocking(move || Ok(archive::stat_path(&rootfs, &p)?)).await?
        };
        // -L: copy what the link points to (resolved inside the rootfs).
        if follow_link && !stat.link_target.is_empty() {
            path = stat.link_target.clone();
        }
        let (tx, rx) = mpsc::channel(16);
        tx.send(Ok(pb::CopyChunk {
            stat: Some(stat_to_pb(&stat)),
            data: Vec::new(),
        }))
        .await
        .ok();
        tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter {
                tx: tx.clone(),
                wrap: |data| pb::CopyChunk { stat: None, data },
            };
            if let Err(e) = archive::archive_path(&rootfs, &path, &mut out) {
                let _ = tx.blocking_send(Err(super::super::api::containers::container_status(
                    &e.into(),
                )));
            }
        });
        Ok(rx)
    }

    /// docker cp - CONTAINER:DIR: extracts the client's tar into DIR.
    pub async fn copy_to(
        &self,
        options: pb::CopyToOptions,
        mut requests: tonic::Streaming<pb::CopyToRequest>,
    ) -> Result<(), ContainerError> {
        let rootfs = self.copy_root(&options.id).await?;
        let (dtx, drx) = mpsc::channel::<Vec<u8>>(16);
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir: options.no_overwrite_dir_non_dir,
            copy_uid_gid: options.copy_uid_gid,
        };
        let dst = options.path.clone();
        let extract = tokio::task::spawn_blocking(move || {
            let reader = StreamReader {
                rx: drx,
                buf: Vec::new(),
                pos: 0,
            };
            archive::extract_into(&rootfs, &dst, reader, opts)
        });
        while let Some(msg) = requests
            .message()
            .await
            .map_err(|s| ContainerError::InvalidArgument(format!("copy: {}", s.message())))?
        {
            if let Some(pb::copy_to_request::Request::Data(d)) = msg.request {
                if dtx.send(d).await.is_err() {
                    break;
                }
            }
        }
        drop(dtx);
        extract
            .await
            .map_err(|e| ContainerError::Internal(format!("task failed: {e}")))??;
        Ok(())
    }

    /// docker export: the whole filesystem as a tar.
    pub async fn export(
        self: &Arc<Self>,
        input: &str,
    ) -> Result<mpsc::Receiver<Result<pb::DataChunk, Status>>, ContainerError> {
        let (id, rootfs) = self.mounted_rootfs(input).await?;
        let (tx, rx) = mpsc::channel(16);
        let service = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter {
                tx: tx.clone(),
                wrap: |data| pb::DataChunk { data },
            };
            match archive::export(&rootfs, &mut out) {
                Ok(()) => {
                    if let Ok(r) = service.get(&id) {
                        service.publish(&r, "export", &[]);
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(super::super::api::containers::container_status(
                        &e.into(),
                    )));
                }
            }
        });
        Ok(rx)
    }
}

impl ContainerService {
    /// docker logs: the container's json-file log, filtered; with `follow`,
    /// new lines until the container exits (then what is left is drained).
    pub async fn logs(
        &self,
        req: pb::LogsRequest,
    ) -> Result<mpsc::Receiver<Result<pb::LogChunk, Status>>, ContainerError> {
        use super::logs::{read_logs, LogOptions, LogStream};
        let record = self.resolve(&req.id)?;
        if record.config.log.driver != "json-file" {
            return Err(ContainerError::FailedPrecondition(format!(
                "configured logging driver does not support reading: {}",
                record.config.log.driver
            )));
        }
        let at = |nanos: i64| {
            (nanos > 0).then(|| {
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(nanos as u64)
            })
        };
        let (stdout, stderr) = if !req.stdout && !req.stderr {
            (true, true)
        } else {
            (req.stdout, req.stderr)
        };
        let opts = LogOptions {
            follow: req.follow && record.state.status.is_live(),
            tail: (req.tail >= 0).then_some(req.tail as usize),
            since: at(req.since),
            until: at(req.until),
            stdout,
            stderr,
        };
        // Following ends when the current run exits.
        let entry = self.entry(&record.id);
        let seen = entry.exits.borrow().0;
        let mut exits = entry.exits.subscribe();
        let stop = async move {
            let _ = exits.wait_for(|(g, _)| *g > seen).await;
        };
        let path = self.paths.log_path(&record.id);
        let mut reader = read_logs(&path, opts, stop)
            .map_err(|e| ContainerError::Internal(format!("read logs of {}: {e}", record.id)))?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    next = reader.next_entry() => match next {
                        Some(Ok(e)) => {
                            let chunk = pb::LogChunk {
                                stream: match e.stream {
                                    LogStream::Stderr => pb::OutputStream::Stderr as i32,
                                    _ => pb::OutputStream::Stdout as i32,
                                },
                                data: e.line,
                                time: e
                                    .time
                                    .duration_since(std::time::SystemTime::UNIX_EPOCH)
                                    .map(|d| d.as_nanos() as i64)
                                    .unwrap_or(0),
                            };
                            if tx.send(Ok(chunk)).await.is_err() {
                                return;
                            }
                        }
                        Some(Err(e)) => {
                            if !e.is_per_line() {
                                let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                                return;
                            }
                        }
                        None => return,
                    },
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(rx)
    }
}
