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

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::Sha256;

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
    /// Not implemented yet.
    #[error("not implemented: {1} (ingest {0:?})")]
    NotImplemented(String, &'static str),
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
    #[allow(dead_code)]
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

impl ContentStore {
    /// Opens (creating its directories if needed) the content store under `root`
    /// (the berthd root: the store lives in `root/content`).
    pub fn open(root: &Path) -> Result<ContentStore, ContentError> {
        let _ = root;
        Err(ContentError::NotImplemented(String::new(), "content store"))
    }

    /// The path of the blob with this digest (whether or not it exists). Blobs are read-only;
    /// the path is for callers that hand the file to another process or `sendfile` it.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Information about a committed blob; [`ContentError::NotFound`] if there is none.
    pub fn info(&self, digest: &Digest) -> Result<Info, ContentError> {
        Err(ContentError::NotFound(digest.clone()))
    }

    /// Whether a blob with this digest is committed.
    pub fn exists(&self, digest: &Digest) -> bool {
        self.blob_path(digest).exists()
    }

    /// Every committed blob, in digest order.
    pub fn list(&self) -> Result<Vec<Info>, ContentError> {
        Err(ContentError::NotImplemented(String::new(), "list"))
    }

    /// Deletes a committed blob; [`ContentError::NotFound`] if there is none. Callers that must
    /// not delete referenced blobs go through [`crate::gc`].
    pub fn delete(&self, digest: &Digest) -> Result<(), ContentError> {
        Err(ContentError::NotFound(digest.clone()))
    }

    /// Opens a committed blob for reading (and seeking).
    pub fn reader(&self, digest: &Digest) -> Result<BlobReader, ContentError> {
        Err(ContentError::NotFound(digest.clone()))
    }

    /// Reads a whole committed blob into memory (manifests, configs, indexes).
    pub fn read_all(&self, digest: &Digest) -> Result<Vec<u8>, ContentError> {
        Err(ContentError::NotFound(digest.clone()))
    }

    /// Stores `data` (already in memory) as a blob in one call and returns its digest; a blob
    /// already present is left as it is.
    pub fn write_all(&self, data: &[u8]) -> Result<Digest, ContentError> {
        let _ = data;
        Err(ContentError::NotImplemented(String::new(), "write_all"))
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
        let _ = (expected, expected_size);
        Err(ContentError::NotImplemented(
            reference.to_string(),
            "writer",
        ))
    }

    /// The status of one ingest; [`ContentError::IngestNotFound`] if there is none.
    pub fn ingest_status(&self, reference: &str) -> Result<IngestStatus, ContentError> {
        Err(ContentError::IngestNotFound(reference.to_string()))
    }

    /// Every in-progress ingest.
    pub fn ingests(&self) -> Result<Vec<IngestStatus>, ContentError> {
        Err(ContentError::NotImplemented(String::new(), "ingests"))
    }

    /// Removes an ingest and its bytes; [`ContentError::IngestNotFound`] if there is none,
    /// [`ContentError::Locked`] while a writer holds it.
    pub fn abort(&self, reference: &str) -> Result<(), ContentError> {
        Err(ContentError::IngestNotFound(reference.to_string()))
    }
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
/// keeps the ingest for a later resume (see [`ContentStore::abort`] to drop it).
pub struct ContentWriter {
    store: ContentStore,
    reference: String,
    dir: PathBuf,
    file: File,
    hasher: Sha256,
    offset: u64,
    expected: Option<Digest>,
    expected_size: Option<u64>,
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

    /// Discards everything written so far (the ingest restarts at offset 0), e.g. when a
    /// registry ignores a `Range` request and sends the whole blob.
    pub fn truncate(&mut self) -> Result<(), ContentError> {
        Err(ContentError::NotImplemented(
            self.reference.clone(),
            "truncate",
        ))
    }

    /// Verifies and commits the ingest as a blob: fsync, check size and digest (the ones given
    /// here, else those given to [`ContentStore::writer`]; at least a digest must be known from
    /// one of them, or the computed one is used), chmod 0444, rename into `blobs/`, fsync the
    /// directory. If the blob already exists, the ingest is dropped and the existing blob's info
    /// returned. On a mismatch the ingest is removed and nothing becomes visible.
    pub fn commit(
        self,
        expected_size: Option<u64>,
        expected: Option<&Digest>,
    ) -> Result<Info, ContentError> {
        let _ = (
            expected_size,
            expected,
            &self.store,
            &self.dir,
            &self.file,
            &self.expected,
            self.expected_size,
        );
        Err(ContentError::NotImplemented(
            self.reference.clone(),
            "commit",
        ))
    }
}

impl Write for ContentWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = buf;
        Err(io::Error::other("not implemented: content writer"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
