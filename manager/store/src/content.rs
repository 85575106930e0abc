//! The content store: immutable blobs addressed by their sha256 digest.
//!
//! Layout under `<root>/content`:
//!
//! ```text
//! blobs/sha256/<hex>          committed blob, mode 0444, bytes hash to <hex>
//! ingest/<sha256(ref)>/ref    the ingest's reference string (refs may hold '/' and ':')
//! ingest/<sha256(ref)>/data   bytes written so far
//! ```
//!
//! A write goes to an ingest file, is hashed while written, and on [`ContentWriter::commit`] is
//! fsynced, checked against the expected size and digest, made read-only and renamed into
//! `blobs/` (rename is atomic within one filesystem, and the blob directory is fsynced after it).
//! So a blob is never visible under a digest its bytes do not have, and a crash leaves at most an
//! ingest behind. An ingest that was interrupted (dropped writer, crash, lost connection) is kept
//! and can be resumed: [`ContentStore::writer`] with the same ref re-hashes what is there and
//! continues at its end. A ref is locked (`flock`) by its writer, so two writers of one ref fail
//! fast instead of interleaving bytes. A wrong digest, a wrong size or a full disk removes the
//! ingest: its bytes are useless (or the space is needed).
//!
//! Modelled on containerd's content/local store.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use rustix::fs::{FlockOperation, Timestamps};
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;

/// A content store failure. Messages name the digest, ref or path involved.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// No blob with this digest.
    #[error("content {0} not found")]
    NotFound(Digest),
    /// No ingest with this ref.
    #[error("ingest {0:?} not found")]
    IngestNotFound(String),
    /// Another writer holds this ref.
    #[error("ingest {0:?} is locked by another writer")]
    Locked(String),
    /// The ref is empty or too long.
    #[error("invalid ingest ref {0:?}: must be 1 to 1024 bytes")]
    InvalidRef(String),
    /// The written bytes do not hash to the expected digest; the ingest was removed.
    #[error("ingest {reference:?}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The ingest ref.
        reference: String,
        /// The digest the caller expected.
        expected: Digest,
        /// The digest of the bytes actually written.
        actual: Digest,
    },
    /// The written byte count differs from the expected size; the ingest was removed.
    #[error("ingest {reference:?}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The ingest ref.
        reference: String,
        /// The size the caller expected.
        expected: u64,
        /// The number of bytes actually written.
        actual: u64,
    },
    /// Writing more than the expected size.
    #[error("ingest {reference:?}: write past expected size {expected}")]
    TooLarge {
        /// The ingest ref.
        reference: String,
        /// The size the caller expected.
        expected: u64,
    },
    /// The writer failed earlier (full disk) and its ingest is gone.
    #[error("ingest {0:?}: writer failed earlier and was discarded")]
    Discarded(String),
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("write", "rename", ...).
        op: &'static str,
        /// The path it was done on.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl ContentError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> ContentError {
        ContentError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What the store knows about one committed blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// When the blob was committed (its file's mtime).
    pub committed_at: SystemTime,
}

/// The state of an in-progress ingest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestStatus {
    /// The ingest's ref, as the writer named it.
    pub reference: String,
    /// Bytes written so far: where a resumed writer continues.
    pub offset: u64,
    /// When the ingest was last written.
    pub updated_at: SystemTime,
}

/// A content store rooted at `<root>/content`. Cheap to clone; all state is on disk, so any
/// number of handles (and threads) may use one store at once.
#[derive(Clone, Debug)]
pub struct ContentStore {
    root: PathBuf,
}

/// Size of the writer's buffer: few large writes instead of many small ones.
const WRITE_BUFFER: usize = 256 * 1024;

/// Longest ingest ref accepted.
const MAX_REF_LEN: usize = 1024;

impl ContentStore {
    /// Opens (creating its directories if needed) the content store under `root`
    /// (the berthd root: the store lives in `root/content`).
    pub fn open(root: &Path) -> Result<ContentStore, ContentError> {
        let root = root.join("content");
        for dir in [root.join("blobs/sha256"), root.join("ingest")] {
            fs::create_dir_all(&dir).map_err(|e| ContentError::io("create directory", &dir, e))?;
        }
        Ok(ContentStore { root })
    }

    /// The path of the blob with this digest (whether or not it exists). Blobs are read-only;
    /// the path is for callers that hand the file to another process or `sendfile` it.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    /// The ingest directory of `reference`: named by the ref's sha256, as refs may hold any
    /// character (containerd does the same).
    fn ingest_dir(&self, reference: &str) -> PathBuf {
        self.root
            .join("ingest")
            .join(Digest::of(reference.as_bytes()).hex())
    }

    /// Information about a committed blob; [`ContentError::NotFound`] if there is none.
    pub fn info(&self, digest: &Digest) -> Result<Info, ContentError> {
        let path = self.blob_path(digest);
        match fs::symlink_metadata(&path) {
            Ok(m) => Ok(Info {
                digest: digest.clone(),
                size: m.len(),
                committed_at: mtime(&m),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(digest.clone()))
            }
            Err(e) => Err(ContentError::io("stat", &path, e)),
        }
    }

    /// Whether a blob with this digest is committed.
    pub fn exists(&self, digest: &Digest) -> bool {
        self.blob_path(digest).exists()
    }

    /// Every committed blob, in digest order.
    pub fn list(&self) -> Result<Vec<Info>, ContentError> {
        let dir = self.blobs_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| ContentError::io("read directory", &dir, e))? {
            let entry = entry.map_err(|e| ContentError::io("read directory", &dir, e))?;
            // Anything not named by a valid digest is not a blob (never made by this store).
            let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            else {
                continue;
            };
            match self.info(&digest) {
                Ok(info) => out.push(info),
                Err(ContentError::NotFound(_)) => {} // deleted meanwhile
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }

    /// Deletes a committed blob; [`ContentError::NotFound`] if there is none. Callers that must
    /// not delete referenced blobs go through [`crate::gc`].
    pub fn delete(&self, digest: &Digest) -> Result<(), ContentError> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(digest.clone()))
            }
            Err(e) => Err(ContentError::io("remove", &path, e)),
        }
    }

    /// Opens a committed blob for reading (and seeking).
    pub fn reader(&self, digest: &Digest) -> Result<BlobReader, ContentError> {
        let path = self.blob_path(digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ContentError::NotFound(digest.clone()))
            }
            Err(e) => return Err(ContentError::io("open", &path, e)),
        };
        let size = file
            .metadata()
            .map_err(|e| ContentError::io("stat", &path, e))?
            .len();
        Ok(BlobReader { file, size })
    }

    /// Reads a whole committed blob into memory (manifests, configs, indexes).
    pub fn read_all(&self, digest: &Digest) -> Result<Vec<u8>, ContentError> {
        let mut reader = self.reader(digest)?;
        let mut data = Vec::with_capacity(reader.size() as usize);
        reader
            .read_to_end(&mut data)
            .map_err(|e| ContentError::io("read", &self.blob_path(digest), e))?;
        Ok(data)
    }

    /// Stores `data` (already in memory) as a blob in one call and returns its digest; a blob
    /// already present is left as it is.
    pub fn write_all(&self, data: &[u8]) -> Result<Digest, ContentError> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let digest = Digest::of(data);
        if self.exists(&digest) {
            return Ok(digest);
        }
        // A private ref: two callers storing the same bytes must not lock each other out.
        let reference = format!(
            "write-all-{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            digest.hex()
        );
        let mut writer = self.writer(&reference, Some(&digest), Some(data.len() as u64))?;
        if let Err(e) = writer.write_all(data) {
            let _ = self.abort(&reference);
            return Err(into_content_error(e, &self.ingest_dir(&reference)));
        }
        writer.commit(None, None)?;
        Ok(digest)
    }

    /// Opens a writer for the ingest `reference` (any string of 1 to 1024 bytes that names the
    /// download, e.g. `"pull-<digest>"`). If an ingest with this ref exists, the writer resumes
    /// it: it re-hashes the bytes there and [`ContentWriter::offset`] says where to continue
    /// (e.g. an HTTP `Range: bytes=<offset>-` request). `expected` and `expected_size`, when
    /// given, are checked at commit (and the size also on every write).
    /// Fails with [`ContentError::Locked`] while another writer holds the ref.
    pub fn writer(
        &self,
        reference: &str,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<ContentWriter, ContentError> {
        if reference.is_empty() || reference.len() > MAX_REF_LEN {
            return Err(ContentError::InvalidRef(reference.to_string()));
        }
        let dir = self.ingest_dir(reference);
        let data_path = dir.join("data");
        let file = loop {
            fs::create_dir_all(&dir).map_err(|e| ContentError::io("create directory", &dir, e))?;
            let ref_path = dir.join("ref");
            if !ref_path.exists() {
                fs::write(&ref_path, reference)
                    .map_err(|e| ContentError::io("write", &ref_path, e))?;
            }
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(&data_path)
            {
                Ok(f) => f,
                // Removed by a concurrent commit or abort between mkdir and open: start over.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ContentError::io("open", &data_path, e)),
            };
            lock_ingest(&file, reference, &data_path)?;
            // The lock holder may have committed (renamed `data` into blobs/) or aborted
            // between our open and our lock: then our fd is not the ingest any more (it may
            // even be a committed blob), so never write through it.
            let ours = file
                .metadata()
                .map_err(|e| ContentError::io("stat", &data_path, e))?;
            match fs::symlink_metadata(&data_path) {
                Ok(m) if m.ino() == ours.ino() && m.dev() == ours.dev() => break file,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ContentError::io("stat", &data_path, e)),
            }
        };
        let mut writer = ContentWriter {
            store: self.clone(),
            reference: reference.to_string(),
            dir,
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            hasher: Sha256::new(),
            offset: 0,
            expected: expected.cloned(),
            expected_size,
            discarded: false,
        };
        writer.rehash()?;
        if expected_size.is_some_and(|size| writer.offset > size) {
            // More bytes than the blob has: they cannot be a prefix of it.
            writer.truncate()?;
        }
        Ok(writer)
    }

    /// The status of one ingest; [`ContentError::IngestNotFound`] if there is none.
    pub fn ingest_status(&self, reference: &str) -> Result<IngestStatus, ContentError> {
        let data = self.ingest_dir(reference).join("data");
        match fs::metadata(&data) {
            Ok(m) => Ok(IngestStatus {
                reference: reference.to_string(),
                offset: m.len(),
                updated_at: mtime(&m),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::IngestNotFound(reference.to_string()))
            }
            Err(e) => Err(ContentError::io("stat", &data, e)),
        }
    }

    /// Every in-progress ingest.
    pub fn ingests(&self) -> Result<Vec<IngestStatus>, ContentError> {
        let dir = self.root.join("ingest");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| ContentError::io("read directory", &dir, e))? {
            let entry = entry.map_err(|e| ContentError::io("read directory", &dir, e))?;
            let Ok(reference) = fs::read_to_string(entry.path().join("ref")) else {
                continue; // being created or removed
            };
            match self.ingest_status(&reference) {
                Ok(status) => out.push(status),
                Err(ContentError::IngestNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(out)
    }

    /// Removes an ingest and its bytes; [`ContentError::IngestNotFound`] if there is none,
    /// [`ContentError::Locked`] while a writer holds it.
    pub fn abort(&self, reference: &str) -> Result<(), ContentError> {
        let dir = self.ingest_dir(reference);
        let data_path = dir.join("data");
        let file = match File::open(&data_path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ContentError::IngestNotFound(reference.to_string()))
            }
            Err(e) => return Err(ContentError::io("open", &data_path, e)),
        };
        lock_ingest(&file, reference, &data_path)?;
        remove_ingest_dir(&dir)
    }
}

/// Takes the ingest's exclusive lock without waiting: a second writer of one ref is an error
/// the caller sees at once (containerd answers "ref locked" the same way).
fn lock_ingest(file: &File, reference: &str, path: &Path) -> Result<(), ContentError> {
    match rustix::fs::flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(ContentError::Locked(reference.to_string())),
        Err(e) => Err(ContentError::io("lock", path, e.into())),
    }
}

fn remove_ingest_dir(dir: &Path) -> Result<(), ContentError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ContentError::io("remove", dir, e)),
    }
}

fn mtime(m: &fs::Metadata) -> SystemTime {
    m.modified().unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Whether an error means the filesystem is full (or the quota reached).
fn is_full_disk(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// Recovers the [`ContentError`] a writer wrapped in an `io::Error`, or wraps a plain one.
fn into_content_error(e: io::Error, dir: &Path) -> ContentError {
    if e.get_ref().is_some_and(|inner| inner.is::<ContentError>()) {
        return *e.into_inner().unwrap().downcast::<ContentError>().unwrap();
    }
    ContentError::io("write", &dir.join("data"), e)
}

/// A committed blob opened for reading: a plain file, so `Read`, `Seek` and positional
/// range reads ([`BlobReader::read_at`]) all work.
#[derive(Debug)]
pub struct BlobReader {
    file: File,
    size: u64,
}

impl BlobReader {
    /// The blob's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads up to `buf.len()` bytes at `offset` without moving the cursor (`pread`).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.file, buf, offset)
    }

    /// The open file, e.g. to `sendfile` it.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

/// A writer into one ingest. Bytes are hashed as they are written; nothing is visible under a
/// digest until [`ContentWriter::commit`] verifies it. Dropping a writer without committing
/// keeps the ingest for a later resume (see [`ContentStore::abort`] to drop it). Writes are
/// buffered; errors of `write` carry a [`ContentError`] inside the `io::Error`.
pub struct ContentWriter {
    store: ContentStore,
    reference: String,
    dir: PathBuf,
    file: BufWriter<File>,
    hasher: Sha256,
    offset: u64,
    expected: Option<Digest>,
    expected_size: Option<u64>,
    /// Set once the ingest was removed after a failure: nothing more may be written.
    discarded: bool,
}

impl ContentWriter {
    /// The ingest's ref.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// Bytes written so far, including those a resumed ingest already held.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The digest of the bytes written so far.
    pub fn digest(&self) -> Digest {
        Digest::from_sha256(self.hasher.clone())
    }

    fn data_path(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Hashes the bytes an existing ingest holds and positions the writer after them.
    fn rehash(&mut self) -> Result<(), ContentError> {
        let path = self.data_path();
        let file = self.file.get_mut();
        file.seek(SeekFrom::Start(0))
            .map_err(|e| ContentError::io("seek", &path, e))?;
        let mut buf = vec![0u8; WRITE_BUFFER];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ContentError::io("read", &path, e)),
            };
            self.hasher.update(&buf[..n]);
            self.offset += n as u64;
        }
        Ok(())
    }

    /// Discards everything written so far (the ingest restarts at offset 0), e.g. when a
    /// registry ignores a `Range` request and sends the whole blob.
    pub fn truncate(&mut self) -> Result<(), ContentError> {
        if self.discarded {
            return Err(ContentError::Discarded(self.reference.clone()));
        }
        let path = self.data_path();
        self.file
            .flush()
            .map_err(|e| ContentError::io("write", &path, e))?;
        let file = self.file.get_mut();
        file.set_len(0)
            .map_err(|e| ContentError::io("truncate", &path, e))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| ContentError::io("seek", &path, e))?;
        self.hasher = Sha256::new();
        self.offset = 0;
        Ok(())
    }

    /// Removes the ingest after a failure that makes its bytes useless.
    fn discard(&mut self) {
        self.discarded = true;
        // Free the space now, not when the writer is dropped: on a full disk it is needed.
        let _ = self.file.get_ref().set_len(0);
        let _ = remove_ingest_dir(&self.dir);
    }

    /// Maps a write/flush/fsync error: on a full disk the ingest is removed (its space is
    /// needed, and a half-written blob must not linger), otherwise it stays for a resume.
    fn fail(&mut self, op: &'static str, e: io::Error) -> ContentError {
        if is_full_disk(&e) {
            self.discard();
        }
        ContentError::io(op, &self.data_path(), e)
    }

    /// Verifies and commits the ingest as a blob: fsync, check size and digest (the ones given
    /// here, else those given to [`ContentStore::writer`]; without either, the computed digest
    /// is used), chmod 0444, rename into `blobs/`, fsync the directory. If the blob already
    /// exists, the ingest is dropped and the existing blob's info returned. On a mismatch the
    /// ingest is removed and nothing becomes visible.
    pub fn commit(
        mut self,
        expected_size: Option<u64>,
        expected: Option<&Digest>,
    ) -> Result<Info, ContentError> {
        if self.discarded {
            return Err(ContentError::Discarded(self.reference.clone()));
        }
        if let Err(e) = self.file.flush() {
            return Err(self.fail("write", e));
        }
        if let Some(want) = expected_size.or(self.expected_size) {
            if want != self.offset {
                self.discard();
                return Err(ContentError::SizeMismatch {
                    reference: self.reference.clone(),
                    expected: want,
                    actual: self.offset,
                });
            }
        }
        let actual = self.digest();
        if let Some(want) = expected.or(self.expected.as_ref()).cloned() {
            if want != actual {
                self.discard();
                return Err(ContentError::DigestMismatch {
                    reference: self.reference.clone(),
                    expected: want,
                    actual,
                });
            }
        }
        let data_path = self.data_path();
        let target = self.store.blob_path(&actual);
        if let Ok(info) = self.store.info(&actual) {
            self.discard();
            return Ok(info);
        }
        if let Err(e) = self.file.get_ref().sync_all() {
            return Err(self.fail("fsync", e));
        }
        let file = self.file.get_ref();
        // The commit time, not the last write, is what gc compares with its start time.
        rustix::fs::futimens(
            file,
            &Timestamps {
                last_access: now_ts(),
                last_modification: now_ts(),
            },
        )
        .map_err(|e| ContentError::io("set times", &data_path, e.into()))?;
        file.set_permissions(fs::Permissions::from_mode(0o444))
            .map_err(|e| ContentError::io("chmod", &data_path, e))?;
        fs::rename(&data_path, &target)
            .map_err(|e| ContentError::io("rename to blob", &target, e))?;
        // The rename is durable only once the directory is synced.
        let blobs = self.store.blobs_dir();
        File::open(&blobs)
            .and_then(|d| d.sync_all())
            .map_err(|e| ContentError::io("fsync", &blobs, e))?;
        let _ = remove_ingest_dir(&self.dir);
        self.discarded = true; // nothing left to flush on drop
        Ok(Info {
            digest: actual,
            size: self.offset,
            committed_at: SystemTime::now(),
        })
    }
}

fn now_ts() -> rustix::fs::Timespec {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    rustix::fs::Timespec {
        tv_sec: d.as_secs() as _,
        tv_nsec: d.subsec_nanos() as _,
    }
}

impl Write for ContentWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.discarded {
            return Err(io::Error::other(ContentError::Discarded(
                self.reference.clone(),
            )));
        }
        if let Some(size) = self.expected_size {
            if self.offset + buf.len() as u64 > size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    ContentError::TooLarge {
                        reference: self.reference.clone(),
                        expected: size,
                    },
                ));
            }
        }
        match self.file.write(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.offset += n as u64;
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                Err(io::Error::new(kind, self.fail("write", e)))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.discarded {
            return Ok(());
        }
        self.file.flush().map_err(|e| {
            let kind = e.kind();
            io::Error::new(kind, self.fail("write", e))
        })
    }
}
