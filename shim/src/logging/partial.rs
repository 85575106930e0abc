//! docker's partial-message metadata (`PLogMetaData`): the pieces of one
//! line longer than 16 KiB share a random 64-hex-digit ID, are numbered
//! from 1, and the piece that ends the line is marked last (numbered one
//! past the piece before it). The copier
//! (daemon/logger/copier.go) gives the piece that ends a line metadata
//! only when pieces came before it; a line that fits has none. Drivers
//! that store it (local, journald) keep one tracker per stream.

use std::time::SystemTime;

use super::{LogMessage, OutputStream};

/// A piece's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartialMeta {
    pub id: String,
    pub ordinal: u32,
    pub last: bool,
    /// The first piece's time, which docker gives every piece.
    pub time: SystemTime,
}

/// The open partial line of each stream.
#[derive(Default)]
pub struct PartialTracker {
    open: [Option<(String, u32, SystemTime)>; 2],
}

impl PartialTracker {
    /// The metadata of `msg` (`None` for a line that came whole).
    pub fn track(&mut self, msg: &LogMessage<'_>) -> Option<PartialMeta> {
        let slot = &mut self.open[match msg.stream {
            OutputStream::Stdout => 0,
            OutputStream::Stderr => 1,
        }];
        if msg.partial {
            let (id, ordinal, time) = slot.get_or_insert_with(|| (random_id(), 0, msg.time));
            *ordinal += 1;
            return Some(PartialMeta {
                id: id.clone(),
                ordinal: *ordinal,
                last: false,
                time: *time,
            });
        }
        let (id, ordinal, time) = slot.take()?;
        Some(PartialMeta {
            id,
            // docker's counter moved on past the last piece.
            ordinal: ordinal + 1,
            last: true,
            time,
        })
    }
}

/// docker's `stringid.GenerateRandomID`: 32 random bytes in hex.
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: writes at most the rest of `bytes`.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n <= 0 {
            // No entropy source: the time and pid still make IDs distinct
            // enough to group pieces.
            let t = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            for (i, b) in t
                .to_le_bytes()
                .iter()
                .chain(&std::process::id().to_le_bytes())
                .enumerate()
            {
                bytes[i] ^= b;
            }
            break;
        }
        filled += n as usize;
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn msg(stream: OutputStream, partial: bool, secs: u64) -> LogMessage<'static> {
        LogMessage {
            stream,
            line: b"x",
            partial,
            time: UNIX_EPOCH + Duration::from_secs(secs),
        }
    }

    #[test]
    fn pieces_share_an_id_and_count_from_one() {
        let mut t = PartialTracker::default();
        assert_eq!(t.track(&msg(OutputStream::Stdout, false, 1)), None);
        let a = t.track(&msg(OutputStream::Stdout, true, 2)).unwrap();
        // The other stream's pieces are apart.
        assert_eq!(t.track(&msg(OutputStream::Stderr, false, 3)), None);
        let b = t.track(&msg(OutputStream::Stdout, true, 4)).unwrap();
        let c = t.track(&msg(OutputStream::Stdout, false, 5)).unwrap();
        assert_eq!(a.id.len(), 64);
        assert_eq!((a.ordinal, a.last), (1, false));
        assert_eq!((b.ordinal, b.last, &b.id), (2, false, &a.id));
        assert_eq!((c.ordinal, c.last, &c.id), (3, true, &a.id));
        assert_eq!(c.time, UNIX_EPOCH + Duration::from_secs(2));
        assert_eq!(t.track(&msg(OutputStream::Stdout, false, 6)), None);
        let d = t.track(&msg(OutputStream::Stdout, true, 7)).unwrap();
        assert_ne!(d.id, a.id);
    }
}
