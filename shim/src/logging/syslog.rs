//! Docker's `syslog` log driver (daemon/logger/syslog, over the srslog
//! client it vendors), byte for byte:
//!
//! * `syslog-address`: empty is the local syslog (`/dev/log`, then
//!   `/var/run/syslog`, `/var/run/log`; datagram, then stream), written in
//!   srslog's local form whatever `syslog-format` says; `unix://PATH`
//!   (stream), `unixgram://PATH`, `tcp://HOST[:514]`, `udp://HOST[:514]`,
//!   `tcp+tls://HOST[:514]` (`syslog-tls-ca-cert|cert|key|skip-verify`).
//! * the priority is `syslog-facility` (default daemon) with severity info
//!   for stdout, err for stderr; the content is the line with a newline
//!   appended (srslog ensures one); an empty line is not sent.
//! * `syslog-format` (srslog's formatters and docker's two own):
//!   - ``  (and the local form) `<PRI>Jan _2 15:04:05 TAG[PID]: MSG\n`
//!   - `rfc3164` `<PRI>Jan _2 15:04:05 HOSTNAME TAG[PID]: MSG\n`
//!   - `rfc5424` `<PRI>1 2006-01-02T15:04:05Z07:00 HOSTNAME TAG PID TAG - MSG\n`
//!   - `rfc5424micro` the same with microseconds.
//!
//!   Framing: octet counting (`LEN MSG`, RFC 5425) only for the rfc5424
//!   formats over tcp+tls; otherwise the message as it is (its newline ends
//!   it on a stream).
//! * PID is the writer's (dockerd's there, the shim's here); HOSTNAME is the
//!   host's name; times are local time.
//! * A write that fails reconnects once and retries, as srslog does; if
//!   that fails too the message is lost (the sink counts it).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::Arc;
use std::time::SystemTime;

use super::{errno_text, LogDriver, LogError, LogMessage, OutputStream};

/// The local syslog sockets srslog tries, in order.
const LOCAL_PATHS: [&str; 3] = ["/dev/log", "/var/run/syslog", "/var/run/log"];
/// The system's CA bundle (Debian), used when no `syslog-tls-ca-cert` is
/// given, as Go's crypto/tls uses the system roots.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Failures of the syslog driver.
#[derive(Debug, thiserror::Error)]
pub enum SyslogError {
    #[error("syslog-address should be in form proto://address, got {0}")]
    Address(String),
    #[error("invalid syslog facility")]
    Facility,
    #[error("Invalid syslog format")]
    Format,
    /// docker: "failed to initialize logging driver: dial tcp ...".
    #[error("failed to initialize logging driver: dial {proto} {address}: connect: {text}")]
    Dial {
        proto: &'static str,
        address: String,
        text: String,
    },
    #[error("failed to initialize logging driver: Unix syslog delivery error")]
    NoLocalSyslog,
    #[error("failed to initialize logging driver: syslog tls {what} {path}: {text}")]
    TlsFile {
        what: &'static str,
        path: String,
        text: String,
    },
    #[error("failed to initialize logging driver: syslog tls: {0}")]
    Tls(String),
    #[error("write to syslog {address}: {source}")]
    Write {
        address: String,
        source: std::io::Error,
    },
}

impl SyslogError {
    pub fn is_invalid_argument(&self) -> bool {
        matches!(
            self,
            SyslogError::Address(_) | SyslogError::Facility | SyslogError::Format
        )
    }
}

/// How a message is laid out (`syslog-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyslogFormat {
    /// srslog's UnixFormatter (docker's default) and its local form.
    Unix,
    Rfc3164,
    Rfc5424,
    Rfc5424Micro,
}

impl SyslogFormat {
    pub fn parse(s: &str) -> Result<SyslogFormat, SyslogError> {
        match s {
            "" => Ok(SyslogFormat::Unix),
            "rfc3164" => Ok(SyslogFormat::Rfc3164),
            "rfc5424" => Ok(SyslogFormat::Rfc5424),
            "rfc5424micro" => Ok(SyslogFormat::Rfc5424Micro),
            _ => Err(SyslogError::Format),
        }
    }
}

/// docker's facility names, and 0..=23.
pub fn parse_facility(s: &str) -> Result<u8, SyslogError> {
    const NAMES: [(&str, u8); 20] = [
        ("kern", 0),
        ("user", 1),
        ("mail", 2),
        ("daemon", 3),
        ("auth", 4),
        ("syslog", 5),
        ("lpr", 6),
        ("news", 7),
        ("uucp", 8),
        ("cron", 9),
        ("authpriv", 10),
        ("ftp", 11),
        ("local0", 16),
        ("local1", 17),
        ("local2", 18),
        ("local3", 19),
        ("local4", 20),
        ("local5", 21),
        ("local6", 22),
        ("local7", 23),
    ];
    if s.is_empty() {
        return Ok(3 << 3);
    }
    if let Some((_, n)) = NAMES.iter().find(|(name, _)| *name == s) {
        return Ok(n << 3);
    }
    match s.parse::<i64>() {
        Ok(n) if (0..=23).contains(&n) => Ok((n as u8) << 3),
        _ => Err(SyslogError::Facility),
    }
}

/// Where messages go (`syslog-address`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyslogAddress {
    Local,
    Unix(String),
    Unixgram(String),
    Tcp(String),
    Udp(String),
    TcpTls(String),
}

impl SyslogAddress {
    /// docker's parseAddress, without its stat of a unix path (berthd did
    /// that at create; here a missing socket fails the dial).
    pub fn parse(s: &str) -> Result<SyslogAddress, SyslogError> {
        if s.is_empty() {
            return Ok(SyslogAddress::Local);
        }
        let bad = || SyslogError::Address(s.to_string());
        let (scheme, rest) = s.split_once("://").ok_or_else(bad)?;
        let host = |rest: &str| {
            let host = rest.split('/').next().unwrap_or("");
            let has_port = match host.rsplit_once(':') {
                Some((h, p)) => {
                    !p.is_empty()
                        && p.bytes().all(|b| b.is_ascii_digit())
                        && (!h.contains(':') || h.ends_with(']'))
                }
                None => false,
            };
            if has_port {
                host.to_string()
            } else {
                format!("{host}:514")
            }
        };
        match scheme {
            "unix" => Ok(SyslogAddress::Unix(url_path(rest))),
            "unixgram" => Ok(SyslogAddress::Unixgram(url_path(rest))),
            "tcp" => Ok(SyslogAddress::Tcp(host(rest))),
            "udp" => Ok(SyslogAddress::Udp(host(rest))),
            "tcp+tls" => Ok(SyslogAddress::TcpTls(host(rest))),
            _ => Err(bad()),
        }
    }

    fn proto(&self) -> &'static str {
        match self {
            SyslogAddress::Local => "unixgram",
            SyslogAddress::Unix(_) => "unix",
            SyslogAddress::Unixgram(_) => "unixgram",
            SyslogAddress::Tcp(_) | SyslogAddress::TcpTls(_) => "tcp",
            SyslogAddress::Udp(_) => "udp",
        }
    }

    fn target(&self) -> &str {
        match self {
            SyslogAddress::Local => LOCAL_PATHS[0],
            SyslogAddress::Unix(a)
            | SyslogAddress::Unixgram(a)
            | SyslogAddress::Tcp(a)
            | SyslogAddress::Udp(a)
            | SyslogAddress::TcpTls(a) => a,
        }
    }
}

/// The path of `unix://PATH` as Go's url.Parse gives it (`unix:///x` and
/// `unix://x` alike name a path; the host part of the latter is kept).
fn url_path(rest: &str) -> String {
    rest.to_string()
}

/// The TLS options (`syslog-tls-*`).
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    pub ca_cert: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub skip_verify: bool,
}

/// Everything the driver needs, from the options.
#[derive(Clone, Debug)]
pub struct SyslogConfig {
    pub address: SyslogAddress,
    pub facility: u8,
    pub format: SyslogFormat,
    pub tag: String,
    pub tls: TlsOptions,
}

impl SyslogConfig {
    pub fn from_options(
        options: &BTreeMap<String, String>,
        tag: &str,
    ) -> Result<SyslogConfig, SyslogError> {
        let get = |k: &str| options.get(k).map(String::as_str).unwrap_or("");
        Ok(SyslogConfig {
            address: SyslogAddress::parse(get("syslog-address"))?,
            facility: parse_facility(get("syslog-facility"))?,
            format: SyslogFormat::parse(get("syslog-format"))?,
            tag: tag.to_string(),
            tls: TlsOptions {
                ca_cert: options.get("syslog-tls-ca-cert").cloned(),
                cert: options.get("syslog-tls-cert").cloned(),
                key: options.get("syslog-tls-key").cloned(),
                skip_verify: options.contains_key("syslog-tls-skip-verify"),
            },
        })
    }
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

enum Conn {
    UnixStream(UnixStream),
    UnixDgram(UnixDatagram),
    Tcp(TcpStream),
    Udp(UdpSocket),
    Tls(Box<TlsStream>),
}

impl Conn {
    fn send(&mut self, msg: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::UnixStream(s) => s.write_all(msg),
            Conn::UnixDgram(s) => s.send(msg).map(|_| ()),
            Conn::Tcp(s) => s.write_all(msg),
            Conn::Udp(s) => s.send(msg).map(|_| ()),
            Conn::Tls(s) => {
                s.write_all(msg)?;
                s.flush()
            }
        }
    }
}

/// An open syslog driver.
pub struct Syslog {
    config: SyslogConfig,
    /// srslog's local form (the default address).
    local: bool,
    hostname: String,
    pid: u32,
    tls: Option<Arc<rustls::ClientConfig>>,
    conn: Option<Conn>,
    buf: Vec<u8>,
}

impl Syslog {
    /// Parses the options and connects (a sink that is not there fails
    /// here, as docker's New does).
    pub fn open(options: &BTreeMap<String, String>, tag: &str) -> Result<Syslog, SyslogError> {
        let config = SyslogConfig::from_options(options, tag)?;
        let tls = match &config.address {
            SyslogAddress::TcpTls(_) => Some(Arc::new(tls_config(&config.tls)?)),
            _ => None,
        };
        let mut s = Syslog {
            local: config.address == SyslogAddress::Local,
            config,
            hostname: rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
            pid: std::process::id(),
            tls,
            conn: None,
            buf: Vec::with_capacity(1024),
        };
        s.conn = Some(s.connect()?);
        Ok(s)
    }

    fn connect(&self) -> Result<Conn, SyslogError> {
        let addr = &self.config.address;
        let dial_err = |e: std::io::Error| SyslogError::Dial {
            proto: addr.proto(),
            address: addr.target().to_string(),
            text: errno_text(&e),
        };
        match addr {
            SyslogAddress::Local => {
                for path in LOCAL_PATHS {
                    if let Ok(s) = UnixDatagram::unbound().and_then(|s| s.connect(path).map(|_| s))
                    {
                        return Ok(Conn::UnixDgram(s));
                    }
                    if let Ok(s) = UnixStream::connect(path) {
                        return Ok(Conn::UnixStream(s));
                    }
                }
                Err(SyslogError::NoLocalSyslog)
            }
            SyslogAddress::Unix(p) => UnixStream::connect(p)
                .map(Conn::UnixStream)
                .map_err(dial_err),
            SyslogAddress::Unixgram(p) => UnixDatagram::unbound()
                .and_then(|s| s.connect(p).map(|_| s))
                .map(Conn::UnixDgram)
                .map_err(dial_err),
            SyslogAddress::Tcp(a) => TcpStream::connect(a).map(Conn::Tcp).map_err(dial_err),
            SyslogAddress::Udp(a) => UdpSocket::bind(if a.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            })
            .and_then(|s| s.connect(a).map(|_| s))
            .map(Conn::Udp)
            .map_err(dial_err),
            SyslogAddress::TcpTls(a) => {
                let tcp = TcpStream::connect(a).map_err(dial_err)?;
                let host = a
                    .rsplit_once(':')
                    .map(|(h, _)| h)
                    .unwrap_or(a)
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                let name = rustls::pki_types::ServerName::try_from(host.to_string())
                    .map_err(|e| SyslogError::Tls(format!("server name {host}: {e}")))?;
                let config = self.tls.clone().expect("tls config made for tcp+tls");
                let conn = rustls::ClientConnection::new(config, name)
                    .map_err(|e| SyslogError::Tls(e.to_string()))?;
                let mut stream = rustls::StreamOwned::new(conn, tcp);
                // Handshake now, so that a bad certificate fails the start
                // as Go's tls.Dial does.
                while stream.conn.is_handshaking() {
                    stream
                        .conn
                        .complete_io(&mut stream.sock)
                        .map_err(|e| SyslogError::Tls(e.to_string()))?;
                }
                Ok(Conn::Tls(Box::new(stream)))
            }
        }
    }

    /// Lays out one message (see the module docs) into `self.buf`.
    pub fn format(&mut self, msg: &LogMessage<'_>, now: SystemTime) {
        let severity = match msg.stream {
            OutputStream::Stdout => 6,
            OutputStream::Stderr => 3,
        };
        let pri = self.config.facility | severity;
        let tag = &self.config.tag;
        let time = LocalTime::of(now);
        let mut head = match (self.local, self.config.format) {
            (true, _) | (false, SyslogFormat::Unix) => {
                format!("<{pri}>{} {tag}[{}]: ", time.stamp(), self.pid)
            }
            (false, SyslogFormat::Rfc3164) => format!(
                "<{pri}>{} {} {tag}[{}]: ",
                time.stamp(),
                self.hostname,
                self.pid
            ),
            (false, SyslogFormat::Rfc5424) => format!(
                "<{pri}>1 {} {} {tag} {} {tag} - ",
                time.rfc3339(false),
                self.hostname,
                self.pid
            ),
            (false, SyslogFormat::Rfc5424Micro) => format!(
                "<{pri}>1 {} {} {tag} {} {tag} - ",
                time.rfc3339(true),
                self.hostname,
                self.pid
            ),
        };
        let octets = !self.local
            && matches!(self.config.address, SyslogAddress::TcpTls(_))
            && matches!(
                self.config.format,
                SyslogFormat::Rfc5424 | SyslogFormat::Rfc5424Micro
            );
        self.buf.clear();
        if octets {
            let len = head.len() + msg.line.len() + 1;
            head.insert_str(0, &format!("{len} "));
        }
        self.buf.extend_from_slice(head.as_bytes());
        self.buf.extend_from_slice(msg.line);
        self.buf.push(b'\n');
    }

    /// The last formatted message.
    pub fn formatted(&self) -> &[u8] {
        &self.buf
    }
}

impl Conn {
    /// Closes the connection so that the receiver keeps what was sent. A
    /// TLS 1.3 server sends session tickets after the handshake, which a
    /// syslog client never reads; a socket closed with unread bytes makes
    /// the kernel send a reset instead of a FIN, and the receiving kernel
    /// then drops what its application had not read yet: the last messages
    /// before the container exited were lost. So: close_notify, then read
    /// and discard what is pending, then close.
    fn close(self) {
        if let Conn::Tls(mut s) = self {
            s.conn.send_close_notify();
            let _ = s.flush();
            let _ = s.sock.shutdown(std::net::Shutdown::Write);
            if s.sock.set_nonblocking(true).is_ok() {
                let mut scratch = [0u8; 4096];
                while matches!(std::io::Read::read(&mut s.sock, &mut scratch), Ok(n) if n > 0) {}
            }
        }
    }
}

impl Drop for Syslog {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.close();
        }
    }
}

impl LogDriver for Syslog {
    fn name(&self) -> &'static str {
        "syslog"
    }

    fn log(&mut self, msg: &LogMessage<'_>) -> Result<(), LogError> {
        if msg.line.is_empty() {
            return Ok(());
        }
        self.format(msg, SystemTime::now());
        if let Some(conn) = &mut self.conn {
            if conn.send(&self.buf).is_ok() {
                return Ok(());
            }
        }
        // srslog: reconnect once and retry.
        if let Some(old) = self.conn.take() {
            old.close();
        }
        let mut conn = self.connect()?;
        let sent = conn.send(&self.buf);
        self.conn = Some(conn);
        sent.map_err(|source| {
            SyslogError::Write {
                address: self.config.address.target().to_string(),
                source,
            }
            .into()
        })
    }
}

/// Client TLS as docker's tlsconfig.Client: the CA file (else the system
/// roots), an optional client certificate and key, or no verification at
/// all with `syslog-tls-skip-verify`.
fn tls_config(opts: &TlsOptions) -> Result<rustls::ClientConfig, SyslogError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| SyslogError::Tls(e.to_string()))?;
    let builder = if opts.skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let ca = opts.ca_cert.as_deref().unwrap_or(SYSTEM_CA_BUNDLE);
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca).map_err(|e| SyslogError::TlsFile {
            what: "ca-cert",
            path: ca.to_string(),
            text: e.to_string(),
        })?;
        for cert in certs {
            let cert = cert.map_err(|e| SyslogError::TlsFile {
                what: "ca-cert",
                path: ca.to_string(),
                text: e.to_string(),
            })?;
            roots.add(cert).map_err(|e| SyslogError::TlsFile {
                what: "ca-cert",
                path: ca.to_string(),
                text: e.to_string(),
            })?;
        }
        builder.with_root_certificates(roots)
    };
    match (&opts.cert, &opts.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| SyslogError::TlsFile {
                    what: "cert",
                    path: cert.clone(),
                    text: e.to_string(),
                })?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| SyslogError::TlsFile {
                what: "key",
                path: key.clone(),
                text: e.to_string(),
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| SyslogError::Tls(e.to_string()))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(SyslogError::Tls(
            "syslog-tls-cert and syslog-tls-key must be given together".to_string(),
        )),
    }
}

/// `syslog-tls-skip-verify`: Go's InsecureSkipVerify (signatures are still
/// checked, the certificate is not).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A time in the host's time zone, for Go's layouts.
struct LocalTime {
    tm: libc::tm,
    micros: u32,
}

impl LocalTime {
    fn of(t: SystemTime) -> LocalTime {
        let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let secs = d.as_secs() as libc::time_t;
        // SAFETY: localtime_r writes only into `tm`, which outlives the call.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        unsafe { libc::localtime_r(&secs, &mut tm) };
        LocalTime {
            tm,
            micros: d.subsec_micros(),
        }
    }

    /// Go's `time.Stamp`: `Jan _2 15:04:05`.
    fn stamp(&self) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let t = &self.tm;
        format!(
            "{} {:>2} {:02}:{:02}:{:02}",
            MONTHS[t.tm_mon as usize % 12],
            t.tm_mday,
            t.tm_hour,
            t.tm_min,
            t.tm_sec
        )
    }

    /// Go's `time.RFC3339` (`2006-01-02T15:04:05Z07:00`), or with
    /// `.000000` microseconds.
    fn rfc3339(&self, micros: bool) -> String {
        let t = &self.tm;
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.tm_year + 1900,
            t.tm_mon + 1,
            t.tm_mday,
            t.tm_hour,
            t.tm_min,
            t.tm_sec
        );
        if micros {
            s.push_str(&format!(".{:06}", self.micros));
        }
        let off = t.tm_gmtoff;
        if off == 0 {
            s.push('Z');
        } else {
            let sign = if off < 0 { '-' } else { '+' };
            let off = off.abs();
            s.push_str(&format!("{sign}{:02}:{:02}", off / 3600, off % 3600 / 60));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_docker_parses_them() {
        use SyslogAddress::*;
        assert_eq!(SyslogAddress::parse("").unwrap(), Local);
        assert_eq!(
            SyslogAddress::parse("tcp://127.0.0.1").unwrap(),
            Tcp("127.0.0.1:514".into())
        );
        assert_eq!(
            SyslogAddress::parse("udp://[::1]:600").unwrap(),
            Udp("[::1]:600".into())
        );
        assert_eq!(
            SyslogAddress::parse("tcp+tls://h:6514").unwrap(),
            TcpTls("h:6514".into())
        );
        assert_eq!(
            SyslogAddress::parse("unix:///dev/log").unwrap(),
            Unix("/dev/log".into())
        );
        let e = SyslogAddress::parse("localhost:514").unwrap_err();
        assert_eq!(
            e.to_string(),
            "syslog-address should be in form proto://address, got localhost:514"
        );
        assert!(SyslogAddress::parse("http://x").is_err());
    }

    #[test]
    fn facilities() {
        assert_eq!(parse_facility("").unwrap(), 24);
        assert_eq!(parse_facility("local7").unwrap(), 23 << 3);
        assert_eq!(parse_facility("23").unwrap(), 23 << 3);
        for bad in ["24", "-1", "locl0"] {
            assert_eq!(
                parse_facility(bad).unwrap_err().to_string(),
                "invalid syslog facility"
            );
        }
    }

    fn driver(format: &str, address: SyslogAddress) -> Syslog {
        let mut options = BTreeMap::new();
        options.insert("syslog-format".to_string(), format.to_string());
        options.insert("syslog-facility".to_string(), "local3".to_string());
        Syslog {
            local: address == SyslogAddress::Local,
            config: SyslogConfig {
                address,
                ..SyslogConfig::from_options(&options, "tag1").unwrap()
            },
            hostname: "host".to_string(),
            pid: 42,
            tls: None,
            conn: None,
            buf: Vec::new(),
        }
    }

    #[test]
    fn formats_and_framing() {
        std::env::set_var("TZ", "UTC");
        // 2023-11-14T22:13:20.000005Z
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 5_000);
        let msg = |stream| LogMessage {
            stream,
            line: b"hi there",
            partial: false,
            time: now,
        };
        let tcp = || SyslogAddress::Tcp("x:1".into());
        let tls = || SyslogAddress::TcpTls("x:1".into());
        let cases = [
            (
                "",
                tcp(),
                OutputStream::Stdout,
                "<158>Nov 14 22:13:20 tag1[42]: hi there\n",
            ),
            (
                "rfc5424",
                SyslogAddress::Local,
                OutputStream::Stderr,
                "<155>Nov 14 22:13:20 tag1[42]: hi there\n",
            ),
            (
                "rfc3164",
                tcp(),
                OutputStream::Stderr,
                "<155>Nov 14 22:13:20 host tag1[42]: hi there\n",
            ),
            (
                "rfc5424",
                tcp(),
                OutputStream::Stdout,
                "<158>1 2023-11-14T22:13:20Z host tag1 42 tag1 - hi there\n",
            ),
            (
                "rfc5424micro",
                tcp(),
                OutputStream::Stdout,
                "<158>1 2023-11-14T22:13:20.000005Z host tag1 42 tag1 - hi there\n",
            ),
            (
                "rfc5424",
                tls(),
                OutputStream::Stdout,
                "57 <158>1 2023-11-14T22:13:20Z host tag1 42 tag1 - hi there\n",
            ),
            (
                "rfc3164",
                tls(),
                OutputStream::Stdout,
                "<158>Nov 14 22:13:20 host tag1[42]: hi there\n",
            ),
        ];
        for (format, address, stream, want) in cases {
            let mut d = driver(format, address);
            d.format(&msg(stream), now);
            assert_eq!(String::from_utf8_lossy(d.formatted()), want, "{format}");
        }
        let mut d = driver("", SyslogAddress::Local);
        let early = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86400 * 3);
        d.format(&msg(OutputStream::Stdout), early);
        assert!(String::from_utf8_lossy(d.formatted()).starts_with("<158>Jan  4 00:00:00 "));
    }
}
