//! The container's log: the seam between the stdio pump and the log
//! drivers, as docker's daemon/logger is (copier, ring buffer, drivers).
//!
//! ```text
//! pipe/pty read (stdio.rs) -> copier::LineSplitter -> Batch of lines
//!     -> sink::LogSink (blocking: bounded queue, the pump waits;
//!                       non-blocking: max-buffer-size bytes, overflow dropped and counted)
//!     -> one worker thread -> dyn LogDriver (jsonfile, local, syslog, journald)
//!                                 (syslog -> dual: also a local-format cache)
//!                                 (jsonfile, local -> logfile: rotation, gzip)
//! ```
//!
//! * The pump never calls a driver itself: a driver may block (a syslog
//!   server that stops reading, a TCP connect timing out), and the shim has
//!   one current-thread runtime that also serves gRPC. Drivers run on one
//!   plain thread of their own, fed through a channel.
//! * `mode=blocking` (docker's default) keeps docker's guarantee that no line
//!   is lost: the queue is short and the pump awaits room, so a slow sink
//!   slows the container's writes (through the pipe), never the shim.
//! * `mode=non-blocking` keeps at most `max-buffer-size` bytes (docker's
//!   default 1 MB) queued; what does not fit is dropped and counted, as
//!   docker's ring buffer does. Lines a driver fails to deliver (the sink went
//!   away) are counted too; both figures are in the shim's State and the
//!   init's exit event, and berthd logs them.
//! * Which driver: berthd validated the options (docker's messages) and sends
//!   them as given with what it rendered for them (tag, extra attributes);
//!   each driver re-reads only its own keys.
//!
//! `none` writes nothing and needs no module: no sink is made.

pub mod copier;
pub mod dual;
pub mod journald;
pub mod jsonfile;
pub mod local;
pub mod logfile;
pub mod partial;
pub mod sink;
pub mod syslog;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

pub use copier::{Batch, LineSpan, LineSplitter, MAX_LINE};
pub use sink::{LogCounters, LogHandle, LogMode, LogSink};

/// Which of a process's output streams a piece of output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

impl OutputStream {
    /// The `stream` field's value (docker's `Source`).
    pub fn name(self) -> &'static str {
        match self {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        }
    }
}

/// One log message as drivers see it: a line without its newline, or a
/// piece of a longer line (`partial`: no newline ends it; docker's
/// PLogMetaData), read at `time`.
#[derive(Clone, Copy, Debug)]
pub struct LogMessage<'a> {
    pub stream: OutputStream,
    pub line: &'a [u8],
    pub partial: bool,
    pub time: SystemTime,
}

/// A log driver: where the container's lines go. Called from the log
/// worker thread only, never from the stdio pump, so it may block.
pub trait LogDriver: Send {
    /// The driver's name (`json-file`, `syslog`), for messages.
    fn name(&self) -> &'static str;
    /// Logs one message.
    fn log(&mut self, msg: &LogMessage<'_>) -> Result<(), LogError>;
    /// The end of a batch: write out what was buffered.
    fn flush(&mut self) -> Result<(), LogError> {
        Ok(())
    }
}

/// Where and how the container's output is logged (the Create call's
/// LogConfig).
#[derive(Clone, Debug, Default)]
pub struct LogSettings {
    /// `json-file`, `local`, `syslog`, `none`; empty: json-file when a path
    /// is given.
    pub driver: String,
    /// The json-file or local log's live file.
    pub path: String,
    pub max_size: u64,
    pub max_file: u32,
    /// The options as the user gave them (`--log-opt`).
    pub options: BTreeMap<String, String>,
    /// The tag berthd rendered from the `tag` template.
    pub tag: String,
    /// docker's extra attributes (`labels`, `env`, `env-regex`) as berthd
    /// rendered them; for journald every field of an entry but MESSAGE,
    /// PRIORITY and the partial-line ones.
    pub attrs: BTreeMap<String, String>,
    /// `mode=non-blocking`, with `max-buffer-size` (0: docker's default).
    pub non_blocking: bool,
    pub max_buffer_size: u64,
}

impl LogSettings {
    /// A boolean option as Go's strconv.ParseBool reads it (berthd
    /// checked it), or `default` when not given.
    pub fn bool_option(&self, key: &str, default: bool) -> Result<bool, LogError> {
        match self.options.get(key).map(String::as_str) {
            None | Some("") => Ok(default),
            Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
            Some(other) => Err(LogError::InvalidOption(format!(
                "invalid boolean value for {key}: {other:?}"
            ))),
        }
    }
}

/// Failures of the log drivers.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    JsonFile(#[from] jsonfile::JsonLogError),
    #[error(transparent)]
    Local(#[from] local::LocalLogError),
    #[error(transparent)]
    Syslog(#[from] syslog::SyslogError),
    #[error(transparent)]
    Journald(#[from] journald::JournaldError),
    #[error("{0}")]
    InvalidOption(String),
    #[error("not implemented: log driver {0} in berth-shim")]
    UnknownDriver(String),
    #[error("start log worker for {driver}: {source}")]
    Worker {
        driver: &'static str,
        source: std::io::Error,
    },
}

impl LogError {
    /// Whether the caller asked for something wrong (rather than a sink that
    /// failed).
    pub fn is_invalid_argument(&self) -> bool {
        match self {
            LogError::InvalidOption(_) | LogError::UnknownDriver(_) => true,
            LogError::JsonFile(e) => matches!(
                e,
                jsonfile::JsonLogError::MaxFileWithoutMaxSize { .. }
                    | jsonfile::JsonLogError::File(logfile::LogFileError::Open { .. })
            ),
            LogError::Local(local::LocalLogError::File(e)) => {
                matches!(e, logfile::LogFileError::Open { .. })
            }
            LogError::Syslog(e) => e.is_invalid_argument(),
            LogError::Worker { .. } | LogError::Journald(_) => false,
        }
    }
}

/// Opens the driver the settings name and its sink; `None` for `none`.
/// A sink that cannot be reached fails here, before the container exists
/// (docker's "failed to initialize logging driver").
pub fn open(settings: &LogSettings) -> Result<Option<LogSink>, LogError> {
    let driver: Box<dyn LogDriver> = match (settings.driver.as_str(), settings.path.is_empty()) {
        ("none", _) | ("", true) => return Ok(None),
        ("json-file", true) => {
            return Err(LogError::InvalidOption(
                "log driver json-file needs a path".to_string(),
            ))
        }
        ("json-file" | "", false) => {
            Box::new(jsonfile::JsonFileLog::open(jsonfile::JsonLogOptions {
                path: PathBuf::from(&settings.path),
                max_size: settings.max_size,
                max_file: settings.max_file,
                compress: settings.bool_option("compress", false)?,
                attrs: settings.attrs.clone(),
            })?)
        }
        ("local", true) => {
            return Err(LogError::InvalidOption(
                "log driver local needs a path".to_string(),
            ))
        }
        ("local", false) => Box::new(local::LocalLog::open(
            PathBuf::from(&settings.path),
            logfile::Rotation {
                // docker's local driver rotates at any max-size, 0 too.
                max_size: Some(settings.max_size),
                max_file: settings.max_file,
                compress: settings.bool_option("compress", true)?,
            },
        )?),
        ("syslog", true) => Box::new(syslog::Syslog::open(&settings.options, &settings.tag)?),
        // A path: berthd asked for the dual-logging cache there.
        ("syslog", false) => Box::new(dual::DualLog {
            driver: Box::new(syslog::Syslog::open(&settings.options, &settings.tag)?),
            cache: local::LocalLog::open(
                PathBuf::from(&settings.path),
                logfile::Rotation {
                    max_size: Some(settings.max_size),
                    max_file: settings.max_file,
                    compress: settings.bool_option("cache-compress", true)?,
                },
            )?,
        }),
        ("journald", _) => Box::new(journald::Journald::open(
            std::path::Path::new(journald::JOURNAL_SOCKET),
            &settings.attrs,
        )?),
        (other, _) => return Err(LogError::UnknownDriver(other.to_string())),
    };
    let mode = if settings.non_blocking {
        LogMode::NonBlocking {
            max_buffer: match settings.max_buffer_size {
                0 => sink::DEFAULT_MAX_BUFFER,
                n => n as usize,
            },
        }
    } else {
        LogMode::Blocking
    };
    Ok(Some(LogSink::start(driver, mode)?))
}

/// Go's text for an errno ("connection refused"), as docker's messages
/// carry it: the C library's, first letter lower-cased.
pub fn errno_text(e: &std::io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    // std prints "Connection refused (os error 111)": keep strerror's part.
    let text = std::io::Error::from_raw_os_error(code).to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text,
    }
}
