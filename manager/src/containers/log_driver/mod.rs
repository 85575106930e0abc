//! A container's log driver and its options, as docker 20.10 decides them
//! at create (daemon/create.go `mergeAndVerifyLogConfig`,
//! daemon/logger/factory.go `ValidateLogOpts` and each driver's
//! `ValidateLogOpt`):
//!
//! 1. no `--log-driver`: daemon.json's `log-driver` (default `json-file`);
//! 2. when the driver is daemon.json's, its `log-opts` fill in what the
//!    user did not give; the dual-logging cache options (`cache-*`) are
//!    filled in for every driver;
//! 3. `none` takes anything; otherwise `mode` must be `blocking` or
//!    `non-blocking`, `max-buffer-size` needs `mode=non-blocking` and a
//!    size, `cache-disabled` a boolean; the driver must exist and know every
//!    other key.
//!
//! Docker checks the values of a driver's own options (`max-size=abc`)
//! only when the container starts, leaving a created container behind;
//! berthd checks them here too, with the same messages, so that a bad value
//! fails `create` and leaves nothing.
//!
//! The options are kept as given (inspect's `HostConfig.LogConfig.Config`
//! shows `max-size: 1k`, not bytes); [`LogConfig`] also carries what they
//! parse to for the shim. [`tag`] renders the `tag` template and the
//! `labels`/`env` attributes at start, from the container's record.

pub mod tag;

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::config::LogConfig;
use super::record::ContainerRecord;
use super::task::TaskLog;

/// daemon.json's `log-driver` and `log-opts`.
#[derive(Clone, Debug, Default)]
pub struct LogDefaults {
    /// Empty: `json-file`.
    pub driver: String,
    pub opts: BTreeMap<String, String>,
}

/// Why a log configuration was refused (docker's messages).
#[derive(Debug, thiserror::Error)]
pub enum LogConfigError {
    #[error("{0}")]
    Invalid(String),
    /// A driver docker has and berth does not (yet).
    #[error("not implemented: log driver {0}")]
    NotImplemented(String),
    /// A value berth does not support (json-file's `compress=true`).
    #[error("not implemented: {0}")]
    OptionNotImplemented(String),
}

/// The drivers berth-shim writes.
const SUPPORTED: [&str; 5] = ["json-file", "local", "syslog", "journald", "none"];
/// Docker 20.10's other drivers on Linux: known, not built.
const NOT_BUILT: [&str; 6] = [
    "awslogs",
    "fluentd",
    "gcplogs",
    "gelf",
    "logentries",
    "splunk",
];
/// Options every driver takes (factory.go `builtInLogOpts`, and the
/// dual-logging cache's, loggerutils/cache).
const BUILT_IN: [&str; 6] = [
    "mode",
    "max-buffer-size",
    "cache-disabled",
    "cache-max-size",
    "cache-max-file",
    "cache-compress",
];

fn invalid(msg: impl Into<String>) -> LogConfigError {
    LogConfigError::Invalid(msg.into())
}

/// Go's strconv messages, which docker passes on as they are.
fn go_atoi_error(v: &str) -> LogConfigError {
    invalid(format!("strconv.Atoi: parsing {v:?}: invalid syntax"))
}

fn go_parse_bool(v: &str) -> Result<bool, LogConfigError> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(invalid(format!(
            "strconv.ParseBool: parsing {v:?}: invalid syntax"
        ))),
    }
}

/// Resolves and validates the user's `--log-driver`/`--log-opt` against
/// daemon.json's defaults (see the module docs).
pub fn resolve(
    driver: &str,
    opts: &BTreeMap<String, String>,
    defaults: &LogDefaults,
) -> Result<LogConfig, LogConfigError> {
    let default_driver = if defaults.driver.is_empty() {
        "json-file"
    } else {
        defaults.driver.as_str()
    };
    let driver = if driver.is_empty() {
        default_driver
    } else {
        driver
    };
    let mut opts = opts.clone();
    for (k, v) in &defaults.opts {
        let applies =
            driver == default_driver || (k.starts_with("cache-") && BUILT_IN.contains(&k.as_str()));
        if applies {
            opts.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut config = LogConfig {
        driver: driver.to_string(),
        opts: opts.clone(),
        ..LogConfig::default()
    };
    if driver == "none" {
        return Ok(config);
    }
    validate_built_in(&opts, &mut config)?;
    if NOT_BUILT.contains(&driver) {
        return Err(LogConfigError::NotImplemented(driver.to_string()));
    }
    if !SUPPORTED.contains(&driver) {
        // Docker looks an unknown name up as a logging plugin.
        return Err(invalid(format!(
            "error looking up logging plugin {driver}: plugin \"{driver}\" not found"
        )));
    }
    let own: BTreeMap<&str, &str> = opts
        .iter()
        .filter(|(k, _)| !BUILT_IN.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    match driver {
        "json-file" => json_file(&own, &mut config)?,
        "local" => local(&own, &mut config)?,
        "syslog" => {
            syslog(&own)?;
            if uses_cache(&config) {
                cache_rotation(&opts)?;
            }
        }
        "journald" => known_keys(
            &own,
            &["labels", "labels-regex", "env", "env-regex", "tag"],
            |k| format!("unknown log opt '{k}' for journald log driver"),
        )?,
        _ => {}
    }
    tag::check_template(own.get("tag").copied().unwrap_or(""))?;
    for key in ["labels-regex", "env-regex"] {
        if let Some(re) = own.get(key) {
            regex::Regex::new(re).map_err(|e| invalid(format!("{key} {re:?}: {e}")))?;
        }
    }
    Ok(config)
}

/// Where a container's log files are, under its directory: json-file's
/// `<id>-json.log` and local's `local-logs/container.log` (docker's names).
#[derive(Clone, Debug)]
pub struct LogPaths {
    pub json_file: PathBuf,
    pub local: PathBuf,
    /// The dual-logging cache (`container-cached.log`).
    pub cache: PathBuf,
}

/// Whether a driver's lines also go to a local-format cache that `logs`
/// reads (docker 20.10's dual logging): for drivers that cannot be read
/// back (syslog), unless `cache-disabled` is true.
pub fn uses_cache(log: &LogConfig) -> bool {
    log.driver == "syslog"
        && !log
            .opts
            .get("cache-disabled")
            .is_some_and(|v| go_parse_bool(v).unwrap_or(false))
}

/// The cache's rotation: `cache-max-size`, `cache-max-file` and
/// `cache-compress` read as the local driver reads its `max-size`,
/// `max-file` and `compress` (docker hands them to the local driver), with
/// its defaults (20 MiB, 5 files, compressed) and its messages.
fn cache_rotation(opts: &BTreeMap<String, String>) -> Result<LogConfig, LogConfigError> {
    let mut own = BTreeMap::new();
    for (from, to) in [
        ("cache-max-size", "max-size"),
        ("cache-max-file", "max-file"),
        ("cache-compress", "compress"),
    ] {
        if let Some(v) = opts.get(from) {
            own.insert(to, v.as_str());
        }
    }
    let mut config = LogConfig::default();
    local(&own, &mut config)?;
    Ok(config)
}

/// What the shim is told at start: the driver, its options, the rendered
/// tag (`{{.ID}}` unless `tag` says otherwise; json-file and local have
/// none unless asked), json-file's extra attributes (`labels`, `env`,
/// `env-regex`, and the tag, as docker's jsonfilelog.New), the log file
/// of json-file and local, and for syslog the dual-logging cache's file and
/// rotation (see [`uses_cache`]). `env` is the container's `Config.Env`.
pub fn task_log(
    record: &ContainerRecord,
    paths: &LogPaths,
    env: &[String],
) -> Result<TaskLog, LogConfigError> {
    let log = &record.config.log;
    let info = tag::TagInfo {
        full_id: record.id.clone(),
        name: record.name.clone(),
        image_full_id: record.image_id.clone(),
        image_name: record.image.clone(),
        daemon_name: "berth".to_string(),
        command: std::iter::once(record.path.as_str())
            .chain(record.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        hostname: record.hostname.clone(),
    };
    let template = log.opts.get("tag").map(String::as_str).unwrap_or("");
    let file_driver = matches!(log.driver.as_str(), "json-file" | "local");
    let default = if file_driver {
        ""
    } else {
        tag::DEFAULT_TEMPLATE
    };
    let tag = tag::render(template, default, &info)?;
    let mut attrs = BTreeMap::new();
    if log.driver == "json-file" {
        attrs = tag::extra_attributes(
            &log.opts,
            &record.config.options.labels,
            env,
            str::to_string,
        )?;
        if !tag.is_empty() {
            attrs.insert("tag".to_string(), tag.clone());
        }
    }
    if log.driver == "journald" {
        attrs = journald_fields(record, &tag, env)?;
    }
    let (mut max_size, mut max_file) = (log.max_size, log.max_file);
    if uses_cache(log) {
        let cache = cache_rotation(&log.opts)?;
        (max_size, max_file) = (cache.max_size, cache.max_file);
    }
    Ok(TaskLog {
        driver: log.driver.clone(),
        path: match log.driver.as_str() {
            "json-file" => paths.json_file.clone(),
            "local" => paths.local.clone(),
            // The shim writes the cache where it is given a path.
            _ if uses_cache(log) => paths.cache.clone(),
            _ => PathBuf::new(),
        },
        max_size,
        max_file,
        options: log.opts.clone(),
        tag,
        attrs,
        non_blocking: log.non_blocking,
        max_buffer_size: log.max_buffer_size,
    })
}

/// The fields of every journald entry but MESSAGE, PRIORITY and the
/// partial-line ones (daemon/logger/journald/journald.go New): the
/// container's, then the `labels`/`env`/`env-regex` attributes under
/// [`journald_key`], which replace a container field of the same name as
/// they do in docker's map.
fn journald_fields(
    record: &ContainerRecord,
    tag: &str,
    env: &[String],
) -> Result<BTreeMap<String, String>, LogConfigError> {
    let mut fields: BTreeMap<String, String> = [
        ("CONTAINER_ID", berth_docker::short_id::short_id(&record.id)),
        ("CONTAINER_ID_FULL", record.id.clone()),
        ("CONTAINER_NAME", record.name.clone()),
        ("CONTAINER_TAG", tag.to_string()),
        ("IMAGE_NAME", record.image.clone()),
        ("SYSLOG_IDENTIFIER", tag.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    fields.extend(tag::extra_attributes(
        &record.config.log.opts,
        &record.config.options.labels,
        env,
        journald_key,
    )?);
    Ok(fields)
}

/// docker's journald `sanitizeKeyMod`: a-z uppercased, anything but A-Z
/// and 0-9 becomes `_`, and leading `_`s are dropped (journald keeps
/// fields that start with `_` for itself).
pub fn journald_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        let c = match c {
            'a'..='z' => c.to_ascii_uppercase(),
            'A'..='Z' | '0'..='9' => c,
            _ => '_',
        };
        if !(out.is_empty() && c == '_') {
            out.push(c);
        }
    }
    out
}

/// factory.go's checks of `mode`, `max-buffer-size` and the cache's
/// `cache-disabled`.
fn validate_built_in(
    opts: &BTreeMap<String, String>,
    config: &mut LogConfig,
) -> Result<(), LogConfigError> {
    let mode = opts.get("mode").map(String::as_str).unwrap_or("");
    match mode {
        "" | "blocking" => {}
        "non-blocking" => config.non_blocking = true,
        other => {
            return Err(invalid(format!(
                "logger: logging mode not supported: {other}"
            )))
        }
    }
    if let Some(s) = opts.get("max-buffer-size") {
        if mode != "non-blocking" {
            return Err(invalid(
                "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
            ));
        }
        let n = berth_docker::size::parse_bytes(s)
            .map_err(|e| invalid(format!("error parsing option max-buffer-size: {e}")))?;
        config.max_buffer_size = n.max(0) as u64;
    }
    if let Some(v) = opts.get("cache-disabled") {
        if !v.is_empty() && go_parse_bool(v).is_err() {
            return Err(invalid(format!(
                "invalid value for option cache-disabled: {v}"
            )));
        }
    }
    Ok(())
}

/// jsonfilelog.go: its keys, then what New() checks of their values.
fn json_file(own: &BTreeMap<&str, &str>, config: &mut LogConfig) -> Result<(), LogConfigError> {
    known_keys(
        own,
        &[
            "max-file",
            "max-size",
            "compress",
            "labels",
            "labels-regex",
            "env",
            "env-regex",
            "tag",
        ],
        |k| format!("unknown log opt '{k}' for json-file log driver"),
    )?;
    let mut capacity: i64 = -1;
    if let Some(v) = own.get("max-size") {
        capacity = berth_docker::size::parse_human_size(v).map_err(|e| invalid(e.to_string()))?;
        if capacity <= 0 {
            return Err(invalid("max-size must be a positive number"));
        }
    }
    let mut max_file: i64 = 1;
    if let Some(v) = own.get("max-file") {
        max_file = v.parse().map_err(|_| go_atoi_error(v))?;
        if max_file < 1 {
            return Err(invalid("max-file cannot be less than 1"));
        }
    }
    if let Some(v) = own.get("compress") {
        if go_parse_bool(v)? && (max_file == 1 || capacity == -1) {
            return Err(invalid(
                "compress cannot be true when max-file is less than 2 or max-size is not set",
            ));
        }
    }
    // Without max-size docker never rotates, whatever max-file says.
    if capacity > 0 {
        config.max_size = capacity as u64;
        config.max_file = max_file.min(u32::MAX as i64) as u32;
    }
    Ok(())
}

/// docker 20.10's local driver: its keys (local.go `LogOptKeys`: no tag,
/// labels or env), then what New() and validateConfig check of the
/// values, with their messages. Defaults: 20 MiB, 5 files, compressed.
fn local(own: &BTreeMap<&str, &str>, config: &mut LogConfig) -> Result<(), LogConfigError> {
    known_keys(own, &["max-file", "max-size", "compress"], |k| {
        format!("unknown log opt '{k}' for log driver local")
    })?;
    let mut capacity: i64 = 20 * 1024 * 1024;
    if let Some(v) = own.get("max-size") {
        capacity = berth_docker::size::parse_human_size(v)
            .map_err(|e| invalid(format!("invalid value for max-size: {v}: {e}")))?;
    }
    let mut max_file: i64 = 5;
    if let Some(v) = own.get("max-file") {
        max_file = v.parse().map_err(|_| {
            invalid(format!(
                "invalid value for max-file: {v}: strconv.Atoi: parsing {v:?}: invalid syntax"
            ))
        })?;
    }
    let mut compress = true;
    if let Some(v) = own.get("compress") {
        compress = go_parse_bool(v)
            .map_err(|e| invalid(format!("error reading compress log option: {e}")))?;
    }
    if capacity < 0 {
        return Err(invalid("max size should be a positive number"));
    }
    if max_file < 0 {
        return Err(invalid("max file count cannot be less than 0"));
    }
    if compress && max_file <= 1 {
        return Err(invalid(
            "compression cannot be enabled when max file count is 1",
        ));
    }
    config.max_size = capacity as u64;
    config.max_file = max_file.min(u32::MAX as i64) as u32;
    Ok(())
}

/// syslog.go ValidateLogOpt: its keys, the address (a unix socket must
/// exist: docker stats it), the facility and the format.
fn syslog(own: &BTreeMap<&str, &str>) -> Result<(), LogConfigError> {
    known_keys(
        own,
        &[
            "env",
            "env-regex",
            "labels",
            "labels-regex",
            "syslog-address",
            "syslog-facility",
            "syslog-tls-ca-cert",
            "syslog-tls-cert",
            "syslog-tls-key",
            "syslog-tls-skip-verify",
            "tag",
            "syslog-format",
        ],
        |k| format!("unknown log opt '{k}' for syslog log driver"),
    )?;
    let address = own.get("syslog-address").copied().unwrap_or("");
    if !address.is_empty() {
        let scheme = ["tcp://", "tcp+tls://", "udp://", "unix://", "unixgram://"]
            .into_iter()
            .find(|p| address.starts_with(p));
        let Some(scheme) = scheme else {
            return Err(invalid(format!(
                "syslog-address should be in form proto://address, got {address}"
            )));
        };
        if scheme == "unix://" || scheme == "unixgram://" {
            let path = &address[scheme.len()..];
            if let Err(e) = std::fs::metadata(path) {
                return Err(invalid(format!("stat {path}: {}", go_errno_text(&e))));
            }
        }
    }
    let facility = own.get("syslog-facility").copied().unwrap_or("");
    const FACILITIES: [&str; 20] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
        "local7",
    ];
    let numeric = facility.parse::<i64>().is_ok_and(|n| (0..=23).contains(&n));
    if !facility.is_empty() && !FACILITIES.contains(&facility) && !numeric {
        return Err(invalid("invalid syslog facility"));
    }
    match own.get("syslog-format").copied().unwrap_or("") {
        "" | "rfc3164" | "rfc5424" | "rfc5424micro" => Ok(()),
        _ => Err(invalid("Invalid syslog format")),
    }
}

fn known_keys(
    own: &BTreeMap<&str, &str>,
    keys: &[&str],
    message: impl Fn(&str) -> String,
) -> Result<(), LogConfigError> {
    match own.keys().find(|k| !keys.contains(k)) {
        Some(k) => Err(invalid(message(k))),
        None => Ok(()),
    }
}

/// Go's text for an I/O error ("no such file or directory").
fn go_errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
