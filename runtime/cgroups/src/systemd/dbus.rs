//! A minimal D-Bus client: just enough of the wire protocol (D-Bus
//! Specification, "Message Protocol") to call systemd's manager methods
//! synchronously from a single-threaded runtime, without pulling in a
//! D-Bus library and its async runtime.
//!
//! * Transport: a unix socket. systemd's private socket
//!   (`/run/systemd/private`, root only, peer-to-peer: no bus daemon, no
//!   `Hello`) is tried first, then the system bus
//!   (`/run/dbus/system_bus_socket`, via dbus-daemon: `Hello` first).
//! * Authentication: `EXTERNAL` with our uid (the kernel vouches for it
//!   through `SO_PEERCRED`).
//! * Messages: little-endian, method calls out, method returns and errors
//!   in; signals and unrelated replies are skipped while waiting.
//!
//! [`BodyWriter`] marshals the argument types the manager calls use
//! (`s o g b u t ay au a(sv) a(sa(sv))` and variants of them) with the
//! spec's alignment rules; [`MessageReader`] reads what replies need.

use crate::errno::Errno;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long a call may wait for its reply.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong talking D-Bus.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    /// Connecting, reading or writing the socket failed.
    #[error("d-bus {op} {path}: {errno}")]
    Io {
        op: &'static str,
        path: String,
        errno: Errno,
    },
    /// The peer refused authentication or spoke something else.
    #[error("d-bus authentication on {path} failed: {reply:?}")]
    Auth { path: String, reply: String },
    /// A reply could not be parsed.
    #[error("d-bus: malformed message from {path}: {what}")]
    Malformed { path: String, what: &'static str },
    /// The called method returned a D-Bus error.
    #[error("d-bus {member} failed: {name}: {message}")]
    Remote {
        member: String,
        name: String,
        message: String,
    },
}

/// D-Bus message types.
const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;

/// Header field codes.
const FIELD_PATH: u8 = 1;
const FIELD_INTERFACE: u8 = 2;
const FIELD_MEMBER: u8 = 3;
const FIELD_ERROR_NAME: u8 = 4;
const FIELD_REPLY_SERIAL: u8 = 5;
const FIELD_DESTINATION: u8 = 6;
const FIELD_SIGNATURE: u8 = 8;

/// Marshals values into a message body (or header), tracking alignment
/// from the start of the buffer, which is 8-aligned in the message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BodyWriter {
    pub buf: Vec<u8>,
}

impl BodyWriter {
    /// An empty body.
    pub fn new() -> BodyWriter {
        BodyWriter::default()
    }

    /// Pads with zeros to a multiple of `n`.
    pub fn align(&mut self, n: usize) {
        while !self.buf.len().is_multiple_of(n) {
            self.buf.push(0);
        }
    }

    /// `y`.
    pub fn byte(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// `u`.
    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// `t`.
    pub fn u64(&mut self, v: u64) {
        self.align(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// `b` (a 32-bit 0 or 1).
    pub fn bool(&mut self, v: bool) {
        self.u32(v as u32);
    }

    /// `s` (and `o`, which has the same layout).
    pub fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// `g`: one length byte, the signature, NUL.
    pub fn signature(&mut self, sig: &str) {
        self.buf.push(sig.len() as u8);
        self.buf.extend_from_slice(sig.as_bytes());
        self.buf.push(0);
    }

    /// An array whose elements align to `elem_align`; `f` writes the
    /// elements. The length excludes the padding before the first element.
    pub fn array(&mut self, elem_align: usize, f: impl FnOnce(&mut BodyWriter)) {
        self.align(4);
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        self.align(elem_align);
        let start = self.buf.len();
        f(self);
        let len = (self.buf.len() - start) as u32;
        self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    }

    /// A struct (8-aligned); `f` writes the members.
    pub fn structure(&mut self, f: impl FnOnce(&mut BodyWriter)) {
        self.align(8);
        f(self);
    }

    /// A variant of signature `sig`; `f` writes the value.
    pub fn variant(&mut self, sig: &str, f: impl FnOnce(&mut BodyWriter)) {
        self.signature(sig);
        f(self);
    }
}

/// Reads values from a little-endian message part.
pub struct MessageReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> MessageReader<'a> {
    /// Reads `buf` from its start (which must be 8-aligned in the message).
    pub fn new(buf: &'a [u8]) -> MessageReader<'a> {
        MessageReader { buf, pos: 0 }
    }

    fn align(&mut self, n: usize) {
        self.pos = self.pos.div_ceil(n) * n;
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some(s)
    }

    /// `y`.
    pub fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    /// `u`.
    pub fn u32(&mut self) -> Option<u32> {
        self.align(4);
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    /// `s` or `o`.
    pub fn string(&mut self) -> Option<&'a str> {
        let len = self.u32()? as usize;
        let s = self.take(len)?;
        self.take(1)?;
        std::str::from_utf8(s).ok()
    }

    /// `g`.
    pub fn signature(&mut self) -> Option<&'a str> {
        let len = self.byte()? as usize;
        let s = self.take(len)?;
        self.take(1)?;
        std::str::from_utf8(s).ok()
    }

    /// Whether everything was read.
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

/// A received message: its type, header fields that matter, and body.
#[derive(Debug, Default)]
pub struct Message {
    pub kind: u8,
    pub serial: u32,
    pub reply_serial: Option<u32>,
    pub error_name: Option<String>,
    pub signature: String,
    pub body: Vec<u8>,
}

impl Message {
    /// The first argument, when it is a string (the text of an error, the
    /// object path of a job).
    pub fn first_string(&self) -> Option<&str> {
        match self.signature.as_bytes().first() {
            Some(b's' | b'o') => MessageReader::new(&self.body).string(),
            _ => None,
        }
    }
}

/// Builds a complete method-call message.
pub fn method_call(
    serial: u32,
    destination: Option<&str>,
    path: &str,
    interface: &str,
    member: &str,
    signature: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut m = BodyWriter::new();
    m.byte(b'l');
    m.byte(METHOD_CALL);
    m.byte(0);
    m.byte(1);
    m.u32(body.len() as u32);
    m.u32(serial);
    m.array(8, |w| {
        let mut field = |code: u8, sig: &str, value: &str| {
            w.structure(|w| {
                w.byte(code);
                w.variant(sig, |w| match sig {
                    "g" => w.signature(value),
                    _ => w.string(value),
                });
            });
        };
        field(FIELD_PATH, "o", path);
        field(FIELD_INTERFACE, "s", interface);
        field(FIELD_MEMBER, "s", member);
        if let Some(d) = destination {
            field(FIELD_DESTINATION, "s", d);
        }
        if !signature.is_empty() {
            field(FIELD_SIGNATURE, "g", signature);
        }
    });
    m.align(8);
    m.buf.extend_from_slice(body);
    m.buf
}

/// Parses the header of a received message (`fixed` is its first 16
/// bytes, `fields` the header-field array that follows).
fn parse_header(fixed: &[u8; 16], fields: &[u8]) -> Option<Message> {
    if fixed[0] != b'l' {
        return None;
    }
    let mut msg = Message {
        kind: fixed[1],
        serial: u32::from_le_bytes(fixed[8..12].try_into().ok()?),
        ..Default::default()
    };
    // Field offsets are relative to the message start; fields begin at 16,
    // which is 8-aligned, so aligning relative to `fields` is the same.
    let mut r = MessageReader::new(fields);
    while !r.at_end() {
        r.align(8);
        if r.at_end() {
            break;
        }
        let code = r.byte()?;
        let sig = r.signature()?;
        match (code, sig) {
            (FIELD_REPLY_SERIAL, "u") => msg.reply_serial = Some(r.u32()?),
            (FIELD_ERROR_NAME, "s") => msg.error_name = Some(r.string()?.to_string()),
            (FIELD_SIGNATURE, "g") => msg.signature = r.signature()?.to_string(),
            (_, "s" | "o") => {
                r.string()?;
            }
            (_, "g") => {
                r.signature()?;
            }
            (_, "u") => {
                r.u32()?;
            }
            _ => return None,
        }
    }
    Some(msg)
}

/// One authenticated connection.
pub struct Connection {
    stream: UnixStream,
    path: String,
    serial: u32,
    /// Whether calls go through a bus daemon and need a destination.
    via_bus: bool,
}

impl Connection {
    /// Connects to the unix socket at `path`, authenticates, and on a bus
    /// (`via_bus`) says `Hello`.
    pub fn open(path: &Path, via_bus: bool) -> Result<Connection, DbusError> {
        let display = path.display().to_string();
        let io = |op: &'static str, e: std::io::Error| DbusError::Io {
            op,
            path: display.clone(),
            errno: Errno::from_io(&e),
        };
        let stream = UnixStream::connect(path).map_err(|e| io("connect", e))?;
        stream
            .set_read_timeout(Some(CALL_TIMEOUT))
            .map_err(|e| io("set timeout on", e))?;
        let mut conn = Connection {
            stream,
            path: display.clone(),
            serial: 0,
            via_bus,
        };
        conn.authenticate()?;
        if via_bus {
            conn.call(
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "Hello",
                "",
                &[],
                Some("org.freedesktop.DBus"),
            )?;
        }
        Ok(conn)
    }

    fn io_error(&self, op: &'static str, e: std::io::Error) -> DbusError {
        DbusError::Io {
            op,
            path: self.path.clone(),
            errno: Errno::from_io(&e),
        }
    }

    fn authenticate(&mut self) -> Result<(), DbusError> {
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() }.to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        let hello = format!("\0AUTH EXTERNAL {hex}\r\n");
        self.stream
            .write_all(hello.as_bytes())
            .map_err(|e| self.io_error("write to", e))?;
        let line = self.read_line()?;
        if !line.starts_with("OK ") {
            return Err(DbusError::Auth {
                path: self.path.clone(),
                reply: line,
            });
        }
        self.stream
            .write_all(b"BEGIN\r\n")
            .map_err(|e| self.io_error("write to", e))
    }

    /// Reads one `\r\n`-terminated line of the auth conversation, byte by
    /// byte so nothing after it is consumed.
    fn read_line(&mut self) -> Result<String, DbusError> {
        let mut line = Vec::with_capacity(64);
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if line.len() > 512 {
                break;
            }
            match self.stream.read(&mut byte) {
                Ok(0) => break,
                Ok(_) => line.push(byte[0]),
                Err(e) => return Err(self.io_error("read from", e)),
            }
        }
        Ok(String::from_utf8_lossy(&line).trim_end().to_string())
    }

    /// Calls `interface.member` on the object `path` of `destination`
    /// (systemd's manager unless given) and waits for its reply.
    pub fn call(
        &mut self,
        path: &str,
        interface: &str,
        member: &str,
        signature: &str,
        body: &[u8],
        destination: Option<&str>,
    ) -> Result<Message, DbusError> {
        self.serial += 1;
        let serial = self.serial;
        let destination = match destination {
            Some(d) => Some(d),
            None if self.via_bus => Some("org.freedesktop.systemd1"),
            None => None,
        };
        let msg = method_call(
            serial,
            destination,
            path,
            interface,
            member,
            signature,
            body,
        );
        self.stream
            .write_all(&msg)
            .map_err(|e| self.io_error("write to", e))?;
        loop {
            let reply = self.read_message()?;
            if reply.reply_serial != Some(serial) {
                continue; // a signal, or NameAcquired after Hello
            }
            return match reply.kind {
                METHOD_RETURN => Ok(reply),
                ERROR => Err(DbusError::Remote {
                    member: member.to_string(),
                    name: reply.error_name.clone().unwrap_or_default(),
                    message: reply.first_string().unwrap_or("").to_string(),
                }),
                _ => continue,
            };
        }
    }

    fn read_message(&mut self) -> Result<Message, DbusError> {
        let malformed = |what| DbusError::Malformed {
            path: self.path.clone(),
            what,
        };
        let mut fixed = [0u8; 16];
        self.stream
            .read_exact(&mut fixed)
            .map_err(|e| self.io_error("read from", e))?;
        let body_len = u32::from_le_bytes(fixed[4..8].try_into().unwrap()) as usize;
        let fields_len = u32::from_le_bytes(fixed[12..16].try_into().unwrap()) as usize;
        if fixed[0] != b'l' {
            return Err(malformed("not little-endian"));
        }
        if body_len > 1 << 26 || fields_len > 1 << 26 {
            return Err(malformed("message too large"));
        }
        let padded = (16 + fields_len).div_ceil(8) * 8 - 16;
        let mut rest = vec![0u8; padded + body_len];
        self.stream
            .read_exact(&mut rest)
            .map_err(|e| self.io_error("read from", e))?;
        let mut msg =
            parse_header(&fixed, &rest[..fields_len]).ok_or_else(|| malformed("bad header"))?;
        msg.body = rest.split_off(padded);
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_record_their_length_without_leading_padding() {
        let mut w = BodyWriter::new();
        w.byte(7);
        w.array(8, |w| w.u64(1));
        // byte, pad to 4, length 8, pad to 8, the u64.
        assert_eq!(w.buf.len(), 16);
        assert_eq!(&w.buf[4..8], &8u32.to_le_bytes());
        assert_eq!(&w.buf[8..16], &1u64.to_le_bytes());
    }

    #[test]
    fn strings_and_signatures_are_nul_terminated() {
        let mut w = BodyWriter::new();
        w.string("ab");
        w.signature("s");
        assert_eq!(w.buf, [2, 0, 0, 0, b'a', b'b', 0, 1, b's', 0]);
    }

    #[test]
    fn a_method_call_parses_back() {
        let mut body = BodyWriter::new();
        body.string("x.scope");
        let msg = method_call(
            7,
            Some("org.freedesktop.systemd1"),
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "StopUnit",
            "s",
            &body.buf,
        );
        assert_eq!(msg.len() % 8, (body.buf.len()) % 8);
        let fixed: [u8; 16] = msg[..16].try_into().unwrap();
        let fields_len = u32::from_le_bytes(msg[12..16].try_into().unwrap()) as usize;
        let parsed = parse_header(&fixed, &msg[16..16 + fields_len]).unwrap();
        assert_eq!(parsed.kind, METHOD_CALL);
        assert_eq!(parsed.serial, 7);
        assert_eq!(parsed.signature, "s");
        let body_start = (16 + fields_len).div_ceil(8) * 8;
        assert_eq!(
            MessageReader::new(&msg[body_start..]).string(),
            Some("x.scope")
        );
    }
}
