//! The container filesystem operations and logs as byte and entry streams:
//! `diff`, `cp` in both directions, `export` (the archive module does the
//! work, on the container's mounted rootfs, in blocking threads) and `logs`.
//! Streams are bounded channels: a slow client slows the producer.

use super::logs::LogEntry;
use super::service::{is_mounted, ContainerService};
use super::ContainerError;
use berth_docker::archive::{self, ExtractOptions};
use berth_store::mount::mount_all;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::mpsc;

/// Bytes made on a blocking thread, in order, or why they stopped.
pub type ByteStream = mpsc::Receiver<Result<Vec<u8>, ContainerError>>;

/// docker cp - CONTAINER:DIR: where and how a tar is extracted.
#[derive(Debug, Clone, Default)]
pub struct CopyToOptions {
    /// The container (id, name or prefix).
    pub id: String,
    /// The directory inside it.
    pub path: String,
    /// docker's `NoOverwriteDirNonDir`.
    pub no_overwrite_dir_non_dir: bool,
    /// `cp -a`: keep the archive's uid/gid.
    pub copy_uid_gid: bool,
}

/// docker logs: which entries of a container's log.
#[derive(Debug, Clone, Default)]
pub struct LogsQuery {
    pub id: String,
    /// New entries until the container exits.
    pub follow: bool,
    /// The last n entries only.
    pub tail: Option<usize>,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    pub stdout: bool,
    pub stderr: bool,
}

impl From<archive::ArchiveError> for ContainerError {
    fn from(e: archive::ArchiveError) -> Self {
        match e {
            archive::ArchiveError::NotFound(_) => ContainerError::PathNotFound(e.to_string()),
            archive::ArchiveError::Io { op, path, source } => ContainerError::Io {
                op,
                path: path.into(),
                source,
            },
            other => ContainerError::InvalidArgument(other.to_string()),
        }
    }
}

/// Sends what is written into a [`ByteStream`], from a blocking thread.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Vec<u8>, ContainerError>>,
}

/// Bytes per message of an archive sent to a client. The archivers write
/// a tar header, then a file's data in 8 KiB pieces; sent as they came,
/// each piece was one gRPC message (issue 21: 123k writes for 500 MB).
const FRAME: usize = 256 * 1024;

impl ChannelWriter {
    /// A writer that sends `FRAME`-sized messages; flush it at the end.
    fn framed(tx: mpsc::Sender<Result<Vec<u8>, ContainerError>>) -> io::BufWriter<ChannelWriter> {
        io::BufWriter::with_capacity(FRAME, ChannelWriter { tx })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(Ok(buf.to_vec()))
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

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ContainerError> + Send + 'static,
) -> Result<T, ContainerError> {
    tokio::task::spawn_blocking(f).await?
}

impl ContainerService {
    /// The container's rootfs, mounted (it stays mounted from create to
    /// removal; after a reboot it is mounted again here).
    async fn mounted_rootfs(&self, input: &str) -> Result<(String, PathBuf), ContainerError> {
        let record = self.resolve(input)?;
        let rootfs = self.paths.rootfs(&record.id);
        if !is_mounted(&rootfs) {
            std::fs::create_dir_all(&rootfs).map_err(|source| ContainerError::Io {
                op: "create directory",
                path: rootfs.clone(),
                source,
            })?;
            let mounts = self.images.snapshotter().mounts(&record.snapshot_key)?;
            mount_all(&mounts, &rootfs)?;
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
    pub async fn diff(&self, input: &str) -> Result<Vec<super::archive::Change>, ContainerError> {
        let record = self.resolve(input)?;
        let snapshotter = self.images.snapshotter().clone();
        let key = record.snapshot_key.clone();
        blocking(move || {
            let (lowers, upper) = snapshotter.diff_dirs(&key)?;
            Ok(super::archive::changes(&lowers, &upper)?)
        })
        .await
    }

    /// docker cp's stat of a path in the container (the Docker API's
    /// `HEAD /containers/{id}/archive`), resolved inside its root.
    pub async fn stat_path(
        &self,
        input: &str,
        path: &str,
    ) -> Result<archive::PathStat, ContainerError> {
        let rootfs = self.copy_root(input).await?;
        let path = path.to_string();
        blocking(move || Ok(archive::stat_path(&rootfs, &path)?)).await
    }

    /// docker cp CONTAINER:PATH -: the path's stat, then its tar.
    pub async fn copy_from(
        &self,
        input: &str,
        path: &str,
        follow_link: bool,
    ) -> Result<(archive::PathStat, ByteStream), ContainerError> {
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
        tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter::framed(tx.clone());
            match archive::archive_path(&rootfs, &path, &mut out) {
                // A client gone before the end is not an error to report.
                Ok(_) => drop(out.flush()),
                Err(e) => {
                    let _ = tx.blocking_send(Err(e.into()));
                }
            }
        });
        Ok((stat, rx))
    }

    /// docker cp - CONTAINER:DIR: extracts the client's tar into DIR. An
    /// error in `data` (the client's stream broke) ends the copy with it.
    pub async fn copy_to(
        &self,
        options: CopyToOptions,
        mut data: mpsc::Receiver<Result<Vec<u8>, ContainerError>>,
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
        while let Some(chunk) = data.recv().await {
            match chunk {
                Ok(d) => {
                    if dtx.send(d).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    drop(dtx);
                    let _ = extract.await;
                    return Err(e);
                }
            }
        }
        drop(dtx);
        extract.await??;
        Ok(())
    }

    /// docker export: the whole filesystem as a tar.
    pub async fn export(self: &Arc<Self>, input: &str) -> Result<ByteStream, ContainerError> {
        let (id, rootfs) = self.mounted_rootfs(input).await?;
        let (tx, rx) = mpsc::channel(16);
        let service = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter::framed(tx.clone());
            match archive::export(&rootfs, &mut out) {
                // Not flushed: the client went away before the end.
                Ok(()) if out.flush().is_err() => {}
                Ok(()) => {
                    if let Ok(r) = service.get(&id) {
                        service.publish(&r, "export", &[]);
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e.into()));
                }
            }
        });
        Ok(rx)
    }
}

impl ContainerService {
    /// docker logs: the container's json-file or local log or its journal
    /// entries, filtered; with `follow`,
    /// new lines until the container exits (then what is left is drained).
    pub async fn logs(
        &self,
        query: LogsQuery,
    ) -> Result<mpsc::Receiver<Result<LogEntry, ContainerError>>, ContainerError> {
        use super::logs::{journal::read_journal, read_logs, LogFormat, LogOptions};
        let record = self.resolve(&query.id)?;
        let file = match record.config.log.driver.as_str() {
            "json-file" => Some((self.paths.log_path(&record.id), LogFormat::JsonFile)),
            "local" => Some((self.paths.local_log_path(&record.id), LogFormat::Local)),
            "journald" => None,
            _ if super::log_driver::uses_cache(&record.config.log) => {
                Some((self.paths.cached_log_path(&record.id), LogFormat::Local))
            }
            other => {
                return Err(ContainerError::FailedPrecondition(format!(
                    "configured logging driver does not support reading: {other}"
                )))
            }
        };
        let opts = LogOptions {
            follow: query.follow && record.state.status.is_live(),
            tail: query.tail,
            since: query.since,
            until: query.until,
            stdout: query.stdout,
            stderr: query.stderr,
        };
        // Following ends when the current run exits.
        let entry = self.entry(&record.id);
        let seen = entry.exits.borrow().0;
        let mut exits = entry.exits.subscribe();
        let stop = async move {
            let _ = exits.wait_for(|(g, _)| *g > seen).await;
        };
        let reader = match file {
            Some((path, format)) => read_logs(&path, format, opts, stop),
            None => read_journal(&record.id, opts, stop),
        };
        let mut reader = reader.map_err(|source| ContainerError::Logs {
            id: record.id.clone(),
            source,
        })?;
        let (tx, rx) = mpsc::channel(64);
        let id = record.id.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    next = reader.next_entry() => match next {
                        Some(Ok(e)) => {
                            if tx.send(Ok(e)).await.is_err() {
                                return;
                            }
                        }
                        Some(Err(e)) => {
                            if !e.is_per_line() {
                                let id = id.clone();
                                let _ = tx.send(Err(ContainerError::Logs { id, source: e })).await;
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
