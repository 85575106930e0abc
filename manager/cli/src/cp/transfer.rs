//! `berth cp` over gRPC: the copy rules are applied by the `cp` module
//! ([`crate::cp`], with berth-docker's `cp_path`: which directory to extract
//! into, what the archive's top entry is called); this file moves the bytes. A container path is
//! stat'ed with the first chunk of a `CopyFrom` (its stat), the tar of a
//! source streams from `CopyFrom` into a blocking unpack, and a local tar
//! streams from a blocking archiver into `CopyTo`.

use crate::container::client;
use crate::context::Context;
use crate::cp::{self, CopyPlan, CpArgs, FromContainer, ToContainer};
use crate::CliError;
use berth_docker::archive::PathStat;
use berth_proto::v1 as pb;
use berth_proto::v1::containers_client::ContainersClient;
use std::io::{Read, Write};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

/// A container path's stat as the archive rules take it.
fn path_stat(s: &pb::PathStat) -> PathStat {
    PathStat {
        name: s.name.clone(),
        size: s.size,
        mode: s.mode,
        mtime: std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.mtime.max(0) as u64),
        link_target: s.link_target.clone(),
    }
}

/// Whether berthd's NotFound is about the container itself (else it is
/// about the path inside it).
fn container_missing(status: &tonic::Status) -> bool {
    berth_proto::status::missing(status) == Some(berth_proto::status::MISSING_CONTAINER)
}

/// The error docker prints for a container path that does not exist.
fn no_such_path(container: &str, path: &str) -> CliError {
    CliError::Other(format!("Error: No such container:path: {container}:{path}"))
}

/// Stats a container path: the first chunk of a `CopyFrom` (the stream is
/// dropped after it). `None`: the path does not exist.
async fn stat_container_path(
    c: &mut ContainersClient<Channel>,
    container: &str,
    path: &str,
) -> Result<Option<PathStat>, CliError> {
    let mut stream = match c
        .copy_from(pb::CopyFromRequest {
            id: container.to_string(),
            path: path.to_string(),
            follow_link: false,
        })
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) if s.code() == tonic::Code::NotFound && !container_missing(&s) => return Ok(None),
        Err(s) => return Err(s.into()),
    };
    match stream.next().await {
        Some(Ok(chunk)) => Ok(chunk.stat.as_ref().map(path_stat)),
        Some(Err(s)) if s.code() == tonic::Code::NotFound && !container_missing(&s) => Ok(None),
        Some(Err(s)) => Err(s.into()),
        None => Ok(None),
    }
}

/// A `Read` over byte chunks arriving on a channel (the tar a blocking
/// extraction consumes while the gRPC stream delivers it).
struct ChunkReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Bytes per `CopyTo` data message.
const FRAME: usize = 256 * 1024;

/// A `Write` that sends what a blocking archiver writes as `CopyTo` data.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<pb::CopyToRequest>,
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.tx
            .blocking_send(pb::CopyToRequest {
                request: Some(pb::copy_to_request::Request::Data(data.to_vec())),
            })
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn cp_error(e: cp::CpError) -> CliError {
    CliError::Other(format!("Error: {e}"))
}

/// `CTR:SRC DEST`: fetch the tar and unpack it by docker's rules.
async fn copy_out(ctx: &Context, plan: FromContainer) -> Result<i32, CliError> {
    let mut c = client(&ctx.host).await?;
    let src_stat = if plan.follow_link {
        match stat_container_path(&mut c, &plan.container, &plan.src_path).await? {
            Some(s) => Some(s),
            None => return Err(no_such_path(&plan.container, &plan.src_path)),
        }
    } else {
        None
    };
    let request = plan.source_request(src_stat.as_ref());
    let mut stream = match c
        .copy_from(pb::CopyFromRequest {
            id: plan.container.clone(),
            path: request.path.clone(),
            follow_link: false,
        })
        .await
    {
        Ok(r) => r.into_inner(),
        // docker's client names the container and the path for a 404 of
        // either (`Error: No such container:path: X:/a`).
        Err(s) if s.code() == tonic::Code::NotFound => {
            return Err(no_such_path(&plan.container, &plan.src_path))
        }
        Err(s) => return Err(s.into()),
    };
    let stat = match stream.next().await {
        Some(Ok(chunk)) => match chunk.stat {
            Some(s) => path_stat(&s),
            None => {
                return Err(CliError::Daemon(
                    "copy: the archive came without a stat".into(),
                ))
            }
        },
        Some(Err(s)) if s.code() == tonic::Code::NotFound => {
            return Err(no_such_path(&plan.container, &plan.src_path))
        }
        Some(Err(s)) => return Err(s.into()),
        None => return Err(no_such_path(&plan.container, &plan.src_path)),
    };
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    let unpack = tokio::task::spawn_blocking(move || {
        let reader = ChunkReader {
            rx,
            buf: Vec::new(),
            pos: 0,
        };
        let mut stdout = std::io::stdout().lock();
        cp::receive_into_local(&plan, &request, &stat, reader, &mut stdout)
    });
    let mut failure = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                if tx.send(c.data).is_err() {
                    break;
                }
            }
            Err(s) => {
                failure = Some(s);
                break;
            }
        }
    }
    drop(tx);
    let unpacked = unpack
        .await
        .map_err(|e| CliError::Other(format!("cp: unpack task: {e}")))?;
    if let Some(s) = failure {
        return Err(s.into());
    }
    unpacked.map_err(cp_error)?;
    Ok(0)
}

/// `SRC CTR:DEST`: stat the destination, apply docker's rules, stream the
/// local tar to berthd.
async fn copy_in(ctx: &Context, plan: ToContainer) -> Result<i32, CliError> {
    let mut c = client(&ctx.host).await?;
    let mut dst_path = plan.dst_path.clone();
    let mut dst_stat = stat_container_path(&mut c, &plan.container, &dst_path).await?;
    if let Some(s) = &dst_stat {
        if !s.link_target.is_empty() {
            dst_path = s.link_target.clone();
            dst_stat = stat_container_path(&mut c, &plan.container, &dst_path).await?;
        }
    }
    let prepared = plan
        .prepare(&dst_path, dst_stat.as_ref())
        .map_err(cp_error)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::CopyToRequest>(16);
    tx.send(pb::CopyToRequest {
        request: Some(pb::copy_to_request::Request::Options(pb::CopyToOptions {
            id: plan.container.clone(),
            path: prepared.extract_dir.clone(),
            no_overwrite_dir_non_dir: true,
            copy_uid_gid: plan.copy_uid_gid,
        })),
    })
    .await
    .map_err(|_| CliError::Other("cp: request stream closed".into()))?;
    let pack = tokio::task::spawn_blocking(move || {
        // Messages of FRAME bytes: the tar writer's 8 KiB pieces, each a
        // message of its own, cost a write and a window update apiece.
        let mut out = std::io::BufWriter::with_capacity(FRAME, ChunkWriter { tx });
        let mut stdin = std::io::stdin().lock();
        cp::send_local(&prepared, &mut stdin, &mut out)?;
        out.flush().map_err(|e| cp::CpError::Io {
            op: "send",
            path: "the archive".into(),
            source: e,
        })
    });
    let sent = c
        .copy_to(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await;
    let packed = pack
        .await
        .map_err(|e| CliError::Other(format!("cp: archive task: {e}")))?;
    match sent {
        Err(s) if s.code() == tonic::Code::NotFound && !container_missing(&s) => {
            return Err(no_such_path(&plan.container, &plan.dst_path))
        }
        Err(s) => return Err(s.into()),
        Ok(_) => {}
    }
    packed.map_err(cp_error)?;
    Ok(0)
}

/// `berth cp`: between a container (running or stopped) and the local
/// filesystem, either way, with docker's rules (see the `cp` module).
pub async fn copy(ctx: &Context, a: CpArgs) -> Result<i32, CliError> {
    match cp::plan(&a).map_err(cp_error)? {
        CopyPlan::FromContainer(p) => copy_out(ctx, p).await,
        CopyPlan::ToContainer(p) => copy_in(ctx, p).await,
    }
}
