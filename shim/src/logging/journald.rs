//! docker's `journald` log driver (daemon/logger/journald, go-systemd's
//! journal.Send): each message is one datagram of the journal's native
//! protocol on `/run/systemd/journal/socket`
//! (<https://systemd.io/JOURNAL_NATIVE_PROTOCOL/>).
//!
//! * Fields: `MESSAGE` (the line, no newline), `PRIORITY` (6 for stdout, 3
//!   for stderr), `CONTAINER_ID` (12 digits), `CONTAINER_ID_FULL`,
//!   `CONTAINER_NAME`, `CONTAINER_TAG` and `SYSLOG_IDENTIFIER` (the rendered
//!   tag), `IMAGE_NAME`, the `labels`/`env`/`env-regex` attributes (berthd
//!   renders all of these, the attributes' keys uppercased and sanitised as
//!   docker's `sanitizeKeyMod`, and sends them as the LogConfig's attrs), and
//!   for the pieces of a line longer than 16 KiB `CONTAINER_PARTIAL_ID`,
//!   `CONTAINER_PARTIAL_ORDINAL`, `CONTAINER_PARTIAL_LAST` and, on every
//!   piece but the last, `CONTAINER_PARTIAL_MESSAGE=true` (docker 20.10).
//! * A value with a newline uses the binary form (`NAME\n`, a 64-bit
//!   little-endian length, the bytes, `\n`), as go-systemd writes it.
//! * An entry too big for one datagram (`EMSGSIZE`, `ENOBUFS`) goes as the
//!   protocol allows: written to a memfd, sealed (journald refuses an
//!   unsealed memfd), and its descriptor sent alone with `SCM_RIGHTS`.
//! * The socket must answer at start, or the container does not start:
//!   docker's "journald is not enabled on this host". A journald that goes
//!   away later costs the lines sent meanwhile (counted as failed), never
//!   the container.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use super::partial::PartialTracker;
use super::{LogDriver, LogError, LogMessage, OutputStream};

/// Where journald listens for native-protocol datagrams.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Failures of the journald driver.
#[derive(Debug, thiserror::Error)]
pub enum JournaldError {
    /// docker: `failed to initialize logging driver: journald is not
    /// enabled on this host` (go-systemd's `Enabled()` dials the socket).
    #[error("failed to initialize logging driver: journald is not enabled on this host")]
    NotEnabled,
    #[error("send to journald on {path}: {source}")]
    Send {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("pass a large entry to journald through a memfd: {0}")]
    Memfd(std::io::Error),
}

/// The driver: a datagram socket connected to journald and the fields
/// every entry carries, encoded once.
pub struct Journald {
    socket: UnixDatagram,
    path: PathBuf,
    /// The constant fields, encoded.
    common: Vec<u8>,
    partials: PartialTracker,
    /// The entry being built, reused.
    buf: Vec<u8>,
}

impl Journald {
    /// Connects to the journal's socket at `path` (see [`JOURNAL_SOCKET`]);
    /// `fields` go into every entry (berthd rendered them: docker's
    /// CONTAINER_*, IMAGE_NAME, SYSLOG_IDENTIFIER and the attributes).
    pub fn open(path: &Path, fields: &BTreeMap<String, String>) -> Result<Journald, JournaldError> {
        let socket = UnixDatagram::unbound().map_err(|_| JournaldError::NotEnabled)?;
        socket
            .connect(path)
            .map_err(|_| JournaldError::NotEnabled)?;
        let mut common = Vec::new();
        for (k, v) in fields {
            append_field(&mut common, k, v.as_bytes());
        }
        Ok(Journald {
            socket,
            path: path.to_path_buf(),
            common,
            partials: PartialTracker::default(),
            buf: Vec::with_capacity(4096),
        })
    }

    fn send(&self) -> Result<(), JournaldError> {
        match self.socket.send(&self.buf) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMSGSIZE | libc::ENOBUFS)) => {
                self.send_memfd()
            }
            Err(source) => Err(JournaldError::Send {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// The protocol's way for a big entry: a sealed memfd holding it, sent
    /// as the only thing in an otherwise empty datagram.
    fn send_memfd(&self) -> Result<(), JournaldError> {
        let fd = unsafe {
            libc::memfd_create(
                c"berth-journal".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if fd < 0 {
            return Err(JournaldError::Memfd(std::io::Error::last_os_error()));
        }
        // SAFETY: memfd_create just returned this descriptor, owned here.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut file = std::fs::File::from(fd);
        file.write_all(&self.buf).map_err(JournaldError::Memfd)?;
        let seals =
            libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
            return Err(JournaldError::Memfd(std::io::Error::last_os_error()));
        }
        send_fd(&self.socket, file.as_raw_fd()).map_err(|source| JournaldError::Send {
            path: self.path.clone(),
            source,
        })
    }
}

/// sendmsg(2) of no bytes and one descriptor (`SCM_RIGHTS`).
fn send_fd(socket: &UnixDatagram, fd: i32) -> std::io::Result<()> {
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msghdr is plain data; the control buffer outlives the call
    // and is CMSG_SPACE bytes for one int, as CMSG_FIRSTHDR expects.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as _;
        std::ptr::copy_nonoverlapping(
            (&fd as *const i32).cast::<u8>(),
            libc::CMSG_DATA(cmsg),
            std::mem::size_of::<i32>(),
        );
        if libc::sendmsg(socket.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// One field in the native protocol (go-systemd's `appendVariable`).
fn append_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    if value.contains(&b'\n') {
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    } else {
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value);
        out.push(b'\n');
    }
}

impl LogDriver for Journald {
    fn name(&self) -> &'static str {
        "journald"
    }

    fn log(&mut self, msg: &LogMessage<'_>) -> Result<(), LogError> {
        let meta = self.partials.track(msg);
        self.buf.clear();
        append_field(&mut self.buf, "MESSAGE", msg.line);
        let priority: &[u8] = match msg.stream {
            OutputStream::Stdout => b"6",
            OutputStream::Stderr => b"3",
        };
        append_field(&mut self.buf, "PRIORITY", priority);
        self.buf.extend_from_slice(&self.common);
        if let Some(meta) = meta {
            append_field(&mut self.buf, "CONTAINER_PARTIAL_ID", meta.id.as_bytes());
            append_field(
                &mut self.buf,
                "CONTAINER_PARTIAL_ORDINAL",
                meta.ordinal.to_string().as_bytes(),
            );
            let last: &[u8] = if meta.last { b"true" } else { b"false" };
            append_field(&mut self.buf, "CONTAINER_PARTIAL_LAST", last);
            if !meta.last {
                append_field(&mut self.buf, "CONTAINER_PARTIAL_MESSAGE", b"true");
            }
        }
        self.send().map_err(LogError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn fields_use_the_binary_form_only_with_a_newline() {
        let mut out = Vec::new();
        append_field(&mut out, "A", b"x y");
        append_field(&mut out, "B", b"1\n2");
        let mut want = b"A=x y\nB\n".to_vec();
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(b"1\n2\n");
        assert_eq!(out, want);
    }

    #[test]
    fn entries_carry_dockers_fields_and_big_ones_go_through_a_memfd() {
        let dir = std::env::temp_dir().join(format!("bt{}-journald", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("socket");
        let server = UnixDatagram::bind(&path).unwrap();
        let fields: BTreeMap<String, String> = [
            ("CONTAINER_ID", "0123456789ab"),
            ("CONTAINER_NAME", "web"),
            ("STAGE", "prod"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut j = Journald::open(&path, &fields).unwrap();
        let line = b"hello".to_vec();
        j.log(&LogMessage {
            stream: OutputStream::Stderr,
            line: &line,
            partial: false,
            time: SystemTime::now(),
        })
        .unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let n = server.recv(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        for f in [
            "MESSAGE=hello\n",
            "PRIORITY=3\n",
            "CONTAINER_ID=0123456789ab\n",
            "CONTAINER_NAME=web\n",
            "STAGE=prod\n",
        ] {
            assert!(text.contains(f), "{f:?} not in {text:?}");
        }
        assert!(!text.contains("CONTAINER_PARTIAL"));
        // Bigger than any datagram the socket takes: a memfd, no bytes.
        server.set_nonblocking(true).unwrap();
        let big = vec![b'x'; 4 << 20];
        j.log(&LogMessage {
            stream: OutputStream::Stdout,
            line: &big,
            partial: true,
            time: SystemTime::now(),
        })
        .unwrap();
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(n, 0, "the big entry came as bytes");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_socket_is_dockers_error() {
        let e = Journald::open(Path::new("/nonexistent/socket"), &BTreeMap::new())
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "failed to initialize logging driver: journald is not enabled on this host"
        );
    }
}
