//! The layer pipeline shared by pull, load and import: readers that carry
//! bytes from an async download to a blocking unpacking thread, copy them
//! into a content ingest as they pass (so hashing, storing, decompressing
//! and unpacking are one streaming pass), and undo the layer's compression.
//!
//! Unpacking itself is `berth_store::layer::unpack_layer`, which applies the
//! tar to a snapshot named by chain ID and checks the diff ID.

use super::progress::{BlobState, ProgressSink, Throttle};
use super::pull::LeaseGuard;
use super::{ImageError, ImageService};
use berth_docker::manifest::Compression;
use berth_store::digest::Digest;
use berth_store::metadata::LeaseResource;
use bytes::Bytes;
use std::io::{self, BufRead, BufReader, Read, Write};
use tokio::sync::mpsc;

/// Reads what an async task sends over a channel, from a blocking thread.
/// The channel is bounded, so a slow unpacker slows the download (TCP
/// backpressure) instead of buffering a layer in memory. An error sent is
/// returned by every later read too: a failed download never looks like a
/// short one that ended (which would hide its cause behind "truncated").
pub struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
    failed: Option<(io::ErrorKind, String)>,
}

impl ChannelReader {
    /// A reader over `rx`; end of stream is the sender being dropped.
    pub fn new(rx: mpsc::Receiver<io::Result<Bytes>>) -> ChannelReader {
        ChannelReader {
            rx,
            current: Bytes::new(),
            failed: None,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if let Some((kind, message)) = &self.failed {
                return Err(io::Error::new(*kind, message.clone()));
            }
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => {
                    self.failed = Some((e.kind(), e.to_string()));
                    return Err(e);
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Copies every byte read from `inner` into `sink` (a content writer, which
/// hashes what it stores), counting them and reporting progress.
pub struct TeeReader<'a, R: Read> {
    inner: R,
    sink: &'a mut dyn Write,
    /// Bytes read so far (including a resumed ingest's `start`).
    pub count: u64,
    /// Bytes that came from `inner`, including a last chunk the sink
    /// refused (an ingest that would grow past its expected size): tells
    /// a source that sent too much from one that sent too little.
    pub received: u64,
    progress: Option<TeeProgress>,
}

struct TeeProgress {
    sink: ProgressSink,
    digest: String,
    state: BlobState,
    total: u64,
    throttle: Throttle,
}

impl<'a, R: Read> TeeReader<'a, R> {
    /// A tee of `inner` into `sink`, starting the count at `start`.
    pub fn new(inner: R, sink: &'a mut dyn Write, start: u64) -> TeeReader<'a, R> {
        TeeReader {
            inner,
            sink,
            count: start,
            received: start,
            progress: None,
        }
    }

    /// Reports `state` with the byte count as bytes pass.
    pub fn with_progress(
        mut self,
        sink: ProgressSink,
        digest: &str,
        state: BlobState,
        total: u64,
    ) -> Self {
        self.progress = Some(TeeProgress {
            sink,
            digest: digest.to_string(),
            state,
            total,
            throttle: Throttle::default(),
        });
        self
    }

    /// Reads and stores everything left (what follows the tar's end: padding,
    /// the gzip trailer), so the whole blob is hashed.
    pub fn drain(&mut self) -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        while self.read(&mut buf)? > 0 {}
        Ok(())
    }
}

impl<R: Read> Read for TeeReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.received += n as u64;
            self.sink.write_all(&buf[..n])?;
            self.count += n as u64;
            if let Some(p) = &mut self.progress {
                if p.throttle.due() {
                    p.sink.blob(&p.digest, p.state, self.count, p.total);
                }
            }
        }
        Ok(n)
    }
}

/// Counts bytes read and reports progress (for unpacking a stored blob).
pub struct CountingReader<R: Read> {
    inner: R,
    pub count: u64,
    sink: ProgressSink,
    digest: String,
    state: BlobState,
    total: u64,
    throttle: Throttle,
}

impl<R: Read> CountingReader<R> {
    /// Reports `state` for `digest` as bytes are read.
    pub fn new(inner: R, sink: ProgressSink, digest: &str, state: BlobState, total: u64) -> Self {
        CountingReader {
            inner,
            count: 0,
            sink,
            digest: digest.to_string(),
            state,
            total,
            throttle: Throttle::default(),
        }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if n > 0 && self.throttle.due() {
            self.sink
                .blob(&self.digest, self.state, self.count, self.total);
        }
        Ok(n)
    }
}

/// What the first bytes of a stream say its compression is.
pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Wraps `reader` in the decompressor its first bytes call for (media
/// types are checked by the caller; the bytes decide, as containerd's
/// `compression.DecompressStream` does, so a mislabelled layer still
/// unpacks and a wrong diff ID still fails).
pub fn decompress<'a, R: Read + 'a>(reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let head = buffered.fill_buf()?;
    Ok(match sniff(head) {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
        Compression::None => Box::new(buffered),
    })
}

/// A `Write` that only counts (to size a decompressed layer before writing
/// its tar header).
#[derive(Default)]
pub struct CountingSink(pub u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A layer to unpack: its snapshot name, parent and expected diff ID.
#[derive(Debug, Clone)]
pub struct UnpackJob {
    pub chain_id: String,
    pub parent: Option<String>,
    pub diff_id: Digest,
}

impl ImageService {
    pub(crate) fn snapshot_committed(&self, chain_id: &str) -> bool {
        self.snapshotter
            .stat(chain_id)
            .map(|s| s.kind == berth_store::snapshot::SnapshotKind::Committed)
            .unwrap_or(false)
    }

    /// Decompresses `reader` and unpacks it as `job`'s snapshot.
    pub(crate) fn unpack_reader<R: Read>(
        &self,
        reader: R,
        job: &UnpackJob,
        lease: &LeaseGuard,
    ) -> Result<(), ImageError> {
        self.unpack_reader_checked(reader, job, lease, true)
    }

    /// [`ImageService::unpack_reader`] of an uncompressed layer blob whose digest (checked
    /// by the content store as it was written) is its diff ID: the tar is not hashed again.
    pub(crate) fn unpack_plain_blob<R: Read>(
        &self,
        reader: R,
        job: &UnpackJob,
        lease: &LeaseGuard,
    ) -> Result<(), ImageError> {
        self.unpack_reader_checked(reader, job, lease, false)
    }

    fn unpack_reader_checked<R: Read>(
        &self,
        reader: R,
        job: &UnpackJob,
        lease: &LeaseGuard,
        check_diff_id: bool,
    ) -> Result<(), ImageError> {
        let chain = Digest::parse(&job.chain_id)?;
        let key = format!("extract-{}-{}", super::random_hex(), job.chain_id);
        lease.add(LeaseResource::Snapshot(
            self.snapshotter.name().to_string(),
            key.clone(),
        ))?;
        lease.add(LeaseResource::Snapshot(
            self.snapshotter.name().to_string(),
            job.chain_id.clone(),
        ))?;
        let mut tar = decompress(reader).map_err(|e| ImageError::Io {
            op: "decompress layer",
            path: job.chain_id.clone().into(),
            source: e,
        })?;
        berth_store::layer::unpack_layer(
            self.snapshotter.as_ref(),
            job.parent.as_deref(),
            &chain,
            check_diff_id.then_some(&job.diff_id),
            &key,
            &mut tar,
        )?;
        Ok(())
    }
}

/// What became of a layer unpacked while its parent was still unpacking.
pub(crate) enum DetachedOutcome {
    /// Unpacked into a scratch directory, to be committed once the parent is.
    Unpacked(berth_store::layer::DetachedLayer),
    /// The layer refers to its parent's files: unpack it over the committed parent.
    NeedsParent,
}

impl ImageService {
    /// Whether layers can be unpacked before their parent is committed: an
    /// overlayfs upper directory holds only the layer's own changes
    /// (deletions as whiteouts), so it does not depend on the parent's
    /// tree; a native snapshot is a full copy and does
    /// (`Snapshotter::prepare_scratch`).
    pub(crate) fn detached_unpack_supported(&self) -> bool {
        self.snapshotter.name() == "overlayfs"
    }

    /// Decompresses `reader` and unpacks it into a scratch directory of the
    /// snapshotter, before the layer's parent is committed, and checks its
    /// diff ID (`berth_store::layer::unpack_detached`).
    pub(crate) fn unpack_detached_reader<R: Read>(
        &self,
        reader: R,
        job: &UnpackJob,
    ) -> Result<DetachedOutcome, ImageError> {
        let chain = Digest::parse(&job.chain_id)?;
        let mut tar = decompress(reader).map_err(|e| ImageError::Io {
            op: "decompress layer",
            path: job.chain_id.clone().into(),
            source: e,
        })?;
        match berth_store::layer::unpack_detached(
            self.snapshotter.as_ref(),
            &chain,
            Some(&job.diff_id),
            &mut tar,
        ) {
            Ok(layer) => Ok(DetachedOutcome::Unpacked(layer)),
            Err(berth_store::layer::LayerError::NeedsParent { entry, reason }) => {
                tracing::debug!(chain_id = %job.chain_id, entry, reason, "detached unpack needs the parent");
                Ok(DetachedOutcome::NeedsParent)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Commits a detached unpack as the layer's snapshot on its (now
    /// committed) parent. Returns false when the layer must be unpacked over
    /// the parent instead (`LayerError::NeedsParent`); the scratch directory
    /// is gone after the call either way.
    pub(crate) fn commit_detached(
        &self,
        layer: berth_store::layer::DetachedLayer,
        job: &UnpackJob,
        lease: &LeaseGuard,
    ) -> Result<bool, ImageError> {
        if self.snapshot_committed(&job.chain_id) {
            berth_store::layer::discard_detached(self.snapshotter.as_ref(), layer);
            return Ok(true);
        }
        let key = format!("extract-{}-{}", super::random_hex(), job.chain_id);
        lease.add(LeaseResource::Snapshot(
            self.snapshotter.name().to_string(),
            key.clone(),
        ))?;
        match berth_store::layer::commit_detached(
            self.snapshotter.as_ref(),
            layer,
            job.parent.as_deref(),
            &key,
        ) {
            Ok(_) => {
                tracing::debug!(chain_id = %job.chain_id, "committed a detached unpack");
                Ok(true)
            }
            Err(berth_store::layer::LayerError::NeedsParent { entry, reason }) => {
                tracing::debug!(chain_id = %job.chain_id, entry, reason, "detached unpack needs the parent");
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_error_is_returned_by_every_later_read() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"ab"))).unwrap();
        tx.try_send(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "download: timed out",
        )))
        .unwrap();
        drop(tx);
        let mut r = ChannelReader::new(rx);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        for _ in 0..2 {
            let e = r.read(&mut buf).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
            assert_eq!(e.to_string(), "download: timed out");
        }
    }

    #[test]
    fn sniffs_compressions() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd]), Compression::Zstd);
        assert_eq!(sniff(b"ustar"), Compression::None);
        assert_eq!(sniff(b""), Compression::None);
    }

    #[test]
    fn decompresses_gzip_and_zstd_and_plain() {
        let data = b"hello layer".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::encode_all(&data[..], 1).unwrap();
        for input in [gz, zs, data.clone()] {
            let mut out = Vec::new();
            decompress(&input[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data);
        }
    }

    #[test]
    fn tee_copies_and_counts() {
        let mut sink = Vec::new();
        let mut tee = TeeReader::new(&b"abcdef"[..], &mut sink, 10);
        let mut buf = [0u8; 4];
        tee.read_exact(&mut buf).unwrap();
        tee.drain().unwrap();
        assert_eq!(tee.count, 16);
        assert_eq!(sink, b"abcdef");
    }

    #[test]
    fn channel_reader_reads_across_chunks_and_errors() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"ab"))).unwrap();
        tx.try_send(Ok(Bytes::from_static(b"cd"))).unwrap();
        drop(tx);
        let mut s = String::new();
        ChannelReader::new(rx).read_to_string(&mut s).unwrap();
        assert_eq!(s, "abcd");
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Err(io::Error::other("boom"))).unwrap();
        let err = ChannelReader::new(rx).read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.to_string(), "boom");
    }
}
