//! Output cut into log messages, as docker's log copier
//! (daemon/logger/copier.go) does: a message per line, its newline removed;
//! a line longer than [`MAX_LINE`] bytes goes in pieces of that size, each
//! marked partial but the one its newline ends. What is left without a
//! newline when the stream ends is a last, partial message.
//!
//! One read of the pipe becomes one [`Batch`] (the lines share one buffer),
//! so the queue to the log worker moves a few batches, not every line.

use std::time::SystemTime;

use super::{LogMessage, OutputStream};

/// Docker splits log lines at 16 KiB (daemon/logger/copier.go `bufSize`).
pub const MAX_LINE: usize = 16 * 1024;

/// Where one message lies in its batch's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineSpan {
    pub start: u32,
    pub end: u32,
    /// No newline ended it (a 16 KiB piece, or the stream's unfinished end).
    pub partial: bool,
}

/// The messages cut from one read of one stream.
#[derive(Debug)]
pub struct Batch {
    pub stream: OutputStream,
    pub time: SystemTime,
    pub data: Vec<u8>,
    pub lines: Vec<LineSpan>,
}

impl Batch {
    /// The batch's messages, in order.
    pub fn messages(&self) -> impl Iterator<Item = LogMessage<'_>> {
        self.lines.iter().map(move |l| LogMessage {
            stream: self.stream,
            line: &self.data[l.start as usize..l.end as usize],
            partial: l.partial,
            time: self.time,
        })
    }

    /// The bytes the batch holds (what counts against max-buffer-size).
    pub fn size(&self) -> usize {
        self.data.len()
    }
}

/// Cuts one stream's output into messages, keeping the unfinished line
/// between reads.
#[derive(Debug)]
pub struct LineSplitter {
    stream: OutputStream,
    carry: Vec<u8>,
}

impl LineSplitter {
    pub fn new(stream: OutputStream) -> LineSplitter {
        LineSplitter {
            stream,
            carry: Vec::new(),
        }
    }

    /// The messages that `chunk` completes; `None` if it completes none.
    pub fn split(&mut self, chunk: &[u8], time: SystemTime) -> Option<Batch> {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(chunk);
        let mut lines = Vec::new();
        let mut start = 0usize;
        loop {
            let rest = &data[start..];
            let window = &rest[..rest.len().min(MAX_LINE)];
            match window.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    lines.push(span(start, start + nl, false));
                    start += nl + 1;
                }
                None if window.len() == MAX_LINE => {
                    lines.push(span(start, start + MAX_LINE, true));
                    start += MAX_LINE;
                }
                None => break,
            }
        }
        self.carry = data[start..].to_vec();
        if lines.is_empty() {
            return None;
        }
        Some(Batch {
            stream: self.stream,
            time,
            data,
            lines,
        })
    }

    /// The stream ended: what is left of its last line, as a partial
    /// message.
    pub fn finish(&mut self, time: SystemTime) -> Option<Batch> {
        let data = std::mem::take(&mut self.carry);
        if data.is_empty() {
            return None;
        }
        Some(Batch {
            stream: self.stream,
            time,
            lines: vec![span(0, data.len(), true)],
            data,
        })
    }
}

fn span(start: usize, end: usize, partial: bool) -> LineSpan {
    LineSpan {
        start: start as u32,
        end: end as u32,
        partial,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn lines(b: &Batch) -> Vec<(String, bool)> {
        b.messages()
            .map(|m| (String::from_utf8_lossy(m.line).into_owned(), m.partial))
            .collect()
    }

    #[test]
    fn lines_without_newlines_and_carry() {
        let mut s = LineSplitter::new(OutputStream::Stdout);
        let b = s.split(b"one\ntw", UNIX_EPOCH).unwrap();
        assert_eq!(lines(&b), [("one".to_string(), false)]);
        assert!(s.split(b"o", UNIX_EPOCH).is_none());
        let b = s.split(b"o\n\nthree", UNIX_EPOCH).unwrap();
        assert_eq!(
            lines(&b),
            [("twoo".to_string(), false), (String::new(), false)]
        );
        let b = s.finish(UNIX_EPOCH).unwrap();
        assert_eq!(lines(&b), [("three".to_string(), true)]);
        assert!(s.finish(UNIX_EPOCH).is_none());
    }

    #[test]
    fn long_lines_in_16k_pieces() {
        let mut s = LineSplitter::new(OutputStream::Stderr);
        let mut line = vec![b'x'; 40_000];
        line.push(b'\n');
        let mut got = Vec::new();
        for piece in line.chunks(7_001) {
            if let Some(b) = s.split(piece, UNIX_EPOCH) {
                got.extend(b.messages().map(|m| (m.line.len(), m.partial)));
            }
        }
        assert_eq!(
            got,
            [
                (MAX_LINE, true),
                (MAX_LINE, true),
                (40_000 - 2 * MAX_LINE, false)
            ]
        );
    }

    #[test]
    fn exactly_16k_then_newline_is_a_piece_and_an_empty_line() {
        let mut s = LineSplitter::new(OutputStream::Stdout);
        let mut data = vec![b'y'; MAX_LINE];
        data.push(b'\n');
        let b = s.split(&data, UNIX_EPOCH).unwrap();
        let got: Vec<(usize, bool)> = b.messages().map(|m| (m.line.len(), m.partial)).collect();
        assert_eq!(got, [(MAX_LINE, true), (0, false)]);
    }
}
