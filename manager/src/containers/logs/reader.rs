//! The reading loop behind [`read_logs`](super::read_logs), run on a
//! blocking thread: files are read with plain `read`s and the follower
//! sleeps in `poll(2)`, neither of which belongs on the async runtime.
//!
//! The loop holds one file open (the cursor) and reads it forward, cutting
//! what it reads into lines. At the end of the file it asks whether a newer
//! file exists (the cursor's file was rotated away); if so it reads the
//! cursor's file to its end once more (entries written just before the
//! rotation) and moves on to the newer file, from its start. The last
//! file's end is where a non-following reader stops; a follower waits
//! there for more (see [`DirWatch`]) until told to stop, and then makes one
//! last pass, begun only after the stop was seen, so that everything the
//! shim flushed before signalling is read.
//!
//! The shim truncates the live file in place when max-file is 1. The reader
//! sees that as the file shrinking under the cursor, or, when the shim has
//! already written past the old position again, as the file's first bytes
//! no longer being those it read there (entries start with their text and
//! a nanosecond time, so new content differs); either way reading restarts
//! at the beginning. Nothing is read twice and nothing is skipped, except
//! files that rotation deleted before they were reached (a writer faster
//! than max-file allows for; docker loses them too).

use std::collections::VecDeque;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;

use super::entry::{decode_entry, decode_local};
use super::files::{LogFileSet, OpenLogFile};
use super::tail::{find_tail_start, find_tail_start_framed};
use super::watch::{DirWatch, StopBell};
use super::{LogEntry, LogError, LogFormat, LogOptions, LogStream};

/// Bytes read at a time.
const CHUNK: usize = 64 * 1024;

/// What the reader sends: entries and per-line errors in batches, one
/// batch per chunk read at most, so that a big log costs one channel
/// hand-over per chunk rather than per entry.
pub type Batch = Vec<Result<LogEntry, LogError>>;

/// Most items in one batch.
const CHANNEL_BATCH: usize = 1024;

/// Longest line taken for an entry. Entries hold at most 16 KiB of output
/// (docker's line split, shim/src/jsonlog.rs), six bytes per byte escaped,
/// plus attributes: anything longer is not an entry, and is skipped rather
/// than buffered.
pub const MAX_ENTRY_LINE: usize = 1 << 20;

/// Whether to go on after handling something.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    /// The receiver is gone or `--until` was passed.
    End,
}

/// A file being read forward.
struct Cursor {
    file: OpenLogFile,
    /// Where the next read starts.
    read_pos: u64,
    /// Bytes read but not yet cut into lines.
    pending: Vec<u8>,
    /// Discarding an over-long line up to its `\n`.
    skipping: bool,
    /// The file's first bytes as they were when read (up to [`HEAD`]), to
    /// notice a truncation the size does not show.
    head: Vec<u8>,
}

/// How many of a file's first bytes are kept to notice truncation.
const HEAD: usize = 128;

impl Cursor {
    fn new(file: OpenLogFile, offset: u64) -> Cursor {
        Cursor {
            file,
            read_pos: offset,
            pending: Vec::new(),
            skipping: false,
            head: Vec::new(),
        }
    }

    /// Whether the file was truncated (and maybe written again) since it
    /// was read: it is shorter than what was read, or starts differently.
    fn truncated(&mut self) -> std::io::Result<bool> {
        let len = self.file.file.metadata()?.len();
        if len < self.read_pos {
            return Ok(true);
        }
        let want = self.read_pos.min(HEAD as u64) as usize;
        let mut now = vec![0u8; want];
        let got = self.file.file.read_at(&mut now, 0)?;
        now.truncate(got);
        let common = now.len().min(self.head.len());
        if now.len() < self.head.len() || now[..common] != self.head[..common] {
            return Ok(true);
        }
        if now.len() > self.head.len() {
            // More of the start seen (reading began mid-file, or the file
            // was short at the last look): remember it.
            self.head = now;
        }
        Ok(false)
    }

    /// Reads the file again from its start.
    fn restart(&mut self) {
        self.read_pos = 0;
        self.pending.clear();
        self.skipping = false;
        self.head.clear();
    }

    /// The file offset of `pending[0]`.
    fn pending_offset(&self) -> u64 {
        self.read_pos - self.pending.len() as u64
    }
}

/// One reader of one log.
pub struct Reader {
    pub files: LogFileSet,
    pub format: LogFormat,
    /// The time of the last entry read (to find the place again when the
    /// file being read was compressed under the reader).
    pub seen: Option<SystemTime>,
    pub opts: LogOptions,
    pub tx: mpsc::Sender<Batch>,
    /// Set once the caller's stop future resolved (following only).
    pub stop: Arc<AtomicBool>,
    /// Rung with `stop` set, or when the consumer goes away.
    pub bell: Arc<StopBell>,
    /// Items not yet sent.
    pub batch: Batch,
}

impl Reader {
    /// Reads until done; a fatal error is sent as the last item.
    pub fn run(mut self) {
        let result = self.read();
        if self.flush() == Flow::Continue {
            if let Err(e) = result {
                let _ = self.tx.blocking_send(vec![Err(e)]);
            }
        }
    }

    /// Whether a follower must make its last pass: told to stop, or past
    /// `--until` (nothing later will be shown).
    fn must_stop(&self) -> bool {
        self.stop.load(Ordering::Acquire)
            || self.opts.until.is_some_and(|u| SystemTime::now() > u)
            || self.tx.is_closed()
    }

    fn read(&mut self) -> Result<(), LogError> {
        let watch = self
            .opts
            .follow
            .then(|| DirWatch::new(self.files.live_path().parent().unwrap_or(".".as_ref())));
        // Open the files there are (waiting for the first one when following).
        let mut waited = false;
        let (mut queue, offset) = loop {
            let stopping = !self.opts.follow || self.must_stop();
            let files = self.files.open_all()?;
            if !files.is_empty() {
                let (skip, offset) = match self.opts.tail {
                    // A log that appeared while we waited is all new.
                    Some(n) if !waited => {
                        let refs: Vec<&std::fs::File> = files.iter().map(|f| &f.file).collect();
                        let start = match self.format {
                            LogFormat::JsonFile => find_tail_start(&refs, n),
                            LogFormat::Local => find_tail_start_framed(&refs, n),
                        };
                        let start = start.map_err(|source| LogError::Read {
                            path: self.files.live_path().to_path_buf(),
                            source,
                        })?;
                        (start.file, start.offset)
                    }
                    _ => (0, 0),
                };
                break (
                    files.into_iter().skip(skip).collect::<VecDeque<_>>(),
                    offset,
                );
            }
            if stopping {
                return Ok(());
            }
            if let Some(w) = &watch {
                w.wait(&self.bell);
            }
            waited = true;
        };
        let first = queue.pop_front().expect("open_all gave files");
        let mut cursor = Cursor::new(first, offset);
        loop {
            // Seen before the pass: a stop means the pass below reads all
            // that was written before it.
            let stopping = !self.opts.follow || self.must_stop();
            if self.read_to_end(&mut cursor)? == Flow::End {
                return Ok(());
            }
            let newer = match queue.pop_front() {
                Some(f) => Some(f),
                None => self.newer_than(&cursor)?,
            };
            if let Some(newer) = newer {
                // Entries written between our last read and the rotation.
                if self.read_to_end(&mut cursor)? == Flow::End {
                    return Ok(());
                }
                // A torn last line of a rotated file is dropped with it.
                cursor = Cursor::new(newer, 0);
                continue;
            }
            let truncated = cursor.truncated().map_err(|source| LogError::Read {
                path: cursor.file.path.clone(),
                source,
            })?;
            if truncated {
                // Truncated in place (max-file 1): start over.
                cursor.restart();
                continue;
            }
            if stopping {
                // A partial last line is skipped without error.
                return Ok(());
            }
            if let Some(w) = &watch {
                w.wait(&self.bell);
            }
        }
    }

    /// The file after the cursor's, when the cursor's is no longer the
    /// newest.
    fn newer_than(&self, cursor: &Cursor) -> Result<Option<OpenLogFile>, LogError> {
        // The common case costs one stat: the cursor is on the live file.
        if self.files.live_id()? == Some(cursor.file.id) {
            return Ok(None);
        }
        Ok(self.files.open_successor(cursor.file.id, self.seen)?)
    }

    /// Reads the cursor's file to its current end, handling every complete
    /// line.
    fn read_to_end(&mut self, cursor: &mut Cursor) -> Result<Flow, LogError> {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = cursor
                .file
                .file
                .read_at(&mut buf, cursor.read_pos)
                .map_err(|source| LogError::Read {
                    path: cursor.file.path.clone(),
                    source,
                })?;
            if n == 0 {
                return Ok(Flow::Continue);
            }
            if cursor.read_pos == 0 {
                if cursor.head.len() < n.min(HEAD) {
                    cursor.head = buf[..n.min(HEAD)].to_vec();
                }
            } else {
                // What was just read must come from the content the cursor
                // has been reading, not from a truncated and refilled file.
                let truncated = cursor.truncated().map_err(|source| LogError::Read {
                    path: cursor.file.path.clone(),
                    source,
                })?;
                if truncated {
                    cursor.restart();
                    continue;
                }
            }
            cursor.read_pos += n as u64;
            cursor.pending.extend_from_slice(&buf[..n]);
            if self.cut_lines(cursor) == Flow::End || self.flush() == Flow::End {
                return Ok(Flow::End);
            }
        }
    }

    /// Handles the complete entries in `pending` and keeps the rest.
    fn cut_lines(&mut self, cursor: &mut Cursor) -> Flow {
        if self.format == LogFormat::Local {
            return self.cut_frames(cursor);
        }
        let base = cursor.pending_offset();
        let mut start = 0;
        let mut flow = Flow::Continue;
        while let Some(nl) = cursor.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl;
            if cursor.skipping {
                cursor.skipping = false;
            } else if self.handle_line(&cursor.pending[start..end], cursor, base + start as u64)
                == Flow::End
            {
                flow = Flow::End;
                start = end + 1;
                break;
            }
            start = end + 1;
        }
        cursor.pending.drain(..start);
        if flow == Flow::Continue && cursor.pending.len() > MAX_ENTRY_LINE && !cursor.skipping {
            let err = LogError::TooLong {
                path: cursor.file.path.clone(),
                offset: cursor.pending_offset(),
                limit: MAX_ENTRY_LINE,
            };
            if self.send(Err(err)) == Flow::End {
                return Flow::End;
            }
            cursor.skipping = true;
        }
        if cursor.skipping {
            cursor.pending.clear();
        }
        flow
    }

    /// Cuts local-format frames (`[size][entry][size]`) from `pending`.
    /// A frame whose sizes disagree or exceed [`MAX_ENTRY_LINE`] ends the
    /// stream with [`LogError::Frame`]: nothing after it can be found.
    fn cut_frames(&mut self, cursor: &mut Cursor) -> Flow {
        let base = cursor.pending_offset();
        let mut start = 0;
        let mut flow = Flow::Continue;
        while cursor.pending.len() - start >= 4 {
            let p = &cursor.pending[start..];
            let size = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize;
            if size > MAX_ENTRY_LINE {
                flow = self.frame_error(cursor, base + start as u64, "entry too large");
                start = cursor.pending.len();
                break;
            }
            if p.len() < size + 8 {
                break;
            }
            let footer = u32::from_be_bytes([p[size + 4], p[size + 5], p[size + 6], p[size + 7]]);
            if footer as usize != size {
                flow =
                    self.frame_error(cursor, base + start as u64, "sizes before and after differ");
                start = cursor.pending.len();
                break;
            }
            let body = p[4..4 + size].to_vec();
            let offset = base + start as u64;
            start += size + 8;
            let decoded = decode_local(&body);
            if self.handle_decoded(decoded, cursor, offset) == Flow::End {
                flow = Flow::End;
                break;
            }
        }
        cursor.pending.drain(..start);
        flow
    }

    /// A corrupt frame: reported as the stream's last item.
    fn frame_error(&mut self, cursor: &mut Cursor, offset: u64, what: &'static str) -> Flow {
        let err = LogError::Frame {
            path: cursor.file.path.clone(),
            offset,
            what,
        };
        let _ = self.send(Err(err));
        Flow::End
    }

    /// Decodes, filters and sends one line.
    fn handle_line(&mut self, line: &[u8], cursor: &Cursor, offset: u64) -> Flow {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Flow::Continue;
        }
        self.handle_decoded(decode_entry(line), cursor, offset)
    }

    /// Filters and sends one decoded entry.
    fn handle_decoded(
        &mut self,
        decoded: Result<LogEntry, super::EntryError>,
        cursor: &Cursor,
        offset: u64,
    ) -> Flow {
        let entry = match decoded {
            Ok(e) => e,
            Err(source) => {
                let err = LogError::Malformed {
                    path: cursor.file.path.clone(),
                    offset,
                    source,
                };
                return self.send(Err(err));
            }
        };
        self.seen = Some(entry.time);
        if self.opts.since.is_some_and(|since| entry.time < since) {
            return Flow::Continue;
        }
        if self.opts.until.is_some_and(|until| entry.time > until) {
            return Flow::End;
        }
        let wanted = match entry.stream {
            LogStream::Stdout => self.opts.stdout,
            LogStream::Stderr => self.opts.stderr,
        };
        if !wanted {
            return Flow::Continue;
        }
        self.send(Ok(entry))
    }

    /// Queues an item; sends the batch when it is full.
    fn send(&mut self, item: Result<LogEntry, LogError>) -> Flow {
        self.batch.push(item);
        if self.batch.len() >= CHANNEL_BATCH {
            return self.flush();
        }
        Flow::Continue
    }

    /// Sends what is queued; `End` when the receiver is gone.
    fn flush(&mut self) -> Flow {
        if self.batch.is_empty() {
            return Flow::Continue;
        }
        match self.tx.blocking_send(std::mem::take(&mut self.batch)) {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::End,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::logs::scratch::ScratchDir;
    use berth_docker::timestamp::format_timestamp;
    use std::io::Write;
    use std::time::{Duration, UNIX_EPOCH};

    fn entries(range: std::ops::Range<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        for i in range {
            let time = format_timestamp(UNIX_EPOCH + Duration::from_secs(1_795_341_600 + i));
            writeln!(
                out,
                "{{\"log\":\"{i}\\n\",\"stream\":\"stdout\",\"time\":\"{time}\"}}"
            )
            .unwrap();
        }
        out
    }

    /// The lines of the batches sent so far.
    fn numbers(rx: &mut mpsc::Receiver<Batch>) -> Vec<String> {
        let mut got = Vec::new();
        while let Ok(batch) = rx.try_recv() {
            for item in batch {
                got.push(String::from_utf8(item.unwrap().line).unwrap());
            }
        }
        got
    }

    /// The reader's view of one file, driven step by step: the truncation
    /// race that a live follower only sometimes meets, forced.
    #[test]
    fn a_truncated_and_refilled_file_is_read_from_its_start() {
        let dir = ScratchDir::new("reader-trunc");
        let path = dir.join("log");
        std::fs::write(&path, entries(0..3)).unwrap();
        let files = LogFileSet::new(&path).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let mut reader = Reader {
            files: files.clone(),
            format: LogFormat::JsonFile,
            seen: None,
            opts: LogOptions::default(),
            tx,
            stop: Arc::default(),
            bell: Arc::default(),
            batch: Vec::new(),
        };
        let mut cursor = Cursor::new(files.open_all().unwrap().remove(0), 0);
        assert_eq!(reader.read_to_end(&mut cursor).unwrap(), Flow::Continue);
        assert_eq!(numbers(&mut rx), ["0\n", "1\n", "2\n"]);
        // Truncated and written past the old end between two looks.
        let refill = entries(3..10);
        assert!(refill.len() as u64 > cursor.read_pos);
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(0).unwrap();
        f.write_all_at(&refill, 0).unwrap();
        assert_eq!(reader.read_to_end(&mut cursor).unwrap(), Flow::Continue);
        let want: Vec<String> = (3..10).map(|i| format!("{i}\n")).collect();
        assert_eq!(numbers(&mut rx), want);
        // Truncated to less than was read: seen at the end of the file.
        f.set_len(0).unwrap();
        f.write_all_at(&entries(10..11), 0).unwrap();
        assert_eq!(reader.read_to_end(&mut cursor).unwrap(), Flow::Continue);
        assert!(numbers(&mut rx).is_empty());
        assert!(cursor.truncated().unwrap());
        cursor.restart();
        assert_eq!(reader.read_to_end(&mut cursor).unwrap(), Flow::Continue);
        assert_eq!(numbers(&mut rx), ["10\n"]);
    }
}
