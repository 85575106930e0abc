//! The `tag` log option (daemon/logger/loggerutils/log_tag.go): a Go
//! template over docker's logger.Info, rendered once when the container
//! starts; and the `labels`/`labels-regex`/`env`/`env-regex` attributes
//! (logger.Info.ExtraAttributes) that journald and json-file attach.
//!
//! The fields are docker's: `{{.ID}}` (12 hex digits), `{{.FullID}}`,
//! `{{.Name}}` (no leading `/`), `{{.ImageID}}` (the first 12 characters of
//! `sha256:...`, as docker prints them), `{{.ImageFullID}}`,
//! `{{.ImageName}}` (as the user named it), `{{.DaemonName}}` (`berth`),
//! `{{.Command}}`, `{{.Hostname}}`. Text around them is kept as it is.
//!
//! The template language is Go's text/template with docker's functions
//! (`split join title lower upper pad truncate json`) and text/template's
//! own (`printf`, `eq`, `and`, `or`, `not`, `index`, `len` ...), `if`/`else`,
//! `range`, `with` and variables: [`berth_docker::template`], the engine
//! the CLI's `--format` uses. A template that does not parse fails
//! `create`; one that fails on the container's values fails its start, as
//! in docker.

use std::collections::BTreeMap;

use berth_docker::template::{self, TemplateError};

use super::LogConfigError;

/// The tag of syslog and journald when `tag` is not given
/// (loggerutils.DefaultTemplate).
pub const DEFAULT_TEMPLATE: &str = "{{.ID}}";

/// What a tag template can name.
#[derive(Clone, Debug, Default)]
pub struct TagInfo {
    pub full_id: String,
    pub name: String,
    pub image_full_id: String,
    pub image_name: String,
    pub daemon_name: String,
    /// Entrypoint and arguments, space-joined.
    pub command: String,
    pub hostname: String,
}

/// The data a tag template runs over: logger.Info's methods by name.
fn data(info: &TagInfo) -> serde_json::Value {
    let short = |s: &str| s.chars().take(12).collect::<String>();
    serde_json::json!({
        "ID": short(&info.full_id),
        "FullID": info.full_id,
        "Name": info.name.trim_start_matches('/'),
        "ImageID": short(&info.image_full_id),
        "ImageFullID": info.image_full_id,
        "ImageName": info.image_name,
        "DaemonName": info.daemon_name,
        "Command": info.command,
        "Hostname": info.hostname,
    })
}

/// A template error as docker words a tag's (its template is named
/// `log-tag`).
fn tag_error(e: TemplateError) -> LogConfigError {
    LogConfigError::Invalid(match e {
        TemplateError::Parse { line, message } => format!("template: log-tag:{line}: {message}"),
        TemplateError::Exec {
            line,
            col,
            action,
            message,
        } => format!(
            "template: log-tag:{line}:{col}: executing \"log-tag\" at <{action}>: {message}"
        ),
    })
}

/// Checks that `template` parses (at create). What it does with the
/// container's values is known only at start, as in docker.
pub fn check_template(template: &str) -> Result<(), LogConfigError> {
    template::parse(template).map(|_| ()).map_err(tag_error)
}

/// The rendered tag: the `tag` option's template, or `default` (`{{.ID}}`
/// for syslog and journald, none for json-file).
pub fn render(template: &str, default: &str, info: &TagInfo) -> Result<String, LogConfigError> {
    let template = if template.is_empty() {
        default
    } else {
        template
    };
    template::parse(template)
        .and_then(|t| t.execute(&data(info)))
        .map_err(tag_error)
}

/// logger.Info.ExtraAttributes: the labels and env variables the options
/// name (`labels`, `env`: comma-separated keys) or match (`labels-regex`,
/// `env-regex`), under `key_mod` of their name.
pub fn extra_attributes(
    opts: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    env: &[String],
    key_mod: impl Fn(&str) -> String,
) -> Result<BTreeMap<String, String>, LogConfigError> {
    let mut extra = BTreeMap::new();
    let regex = |key: &str| -> Result<Option<regex::Regex>, LogConfigError> {
        match opts.get(key).filter(|s| !s.is_empty()) {
            Some(re) => regex::Regex::new(re)
                .map(Some)
                .map_err(|e| LogConfigError::Invalid(format!("{key} {re:?}: {e}"))),
            None => Ok(None),
        }
    };
    if let Some(names) = opts.get("labels").filter(|s| !s.is_empty()) {
        for l in names.split(',') {
            if let Some(v) = labels.get(l) {
                extra.insert(key_mod(l), v.clone());
            }
        }
    }
    if let Some(re) = regex("labels-regex")? {
        for (k, v) in labels {
            if re.is_match(k) {
                extra.insert(key_mod(k), v.clone());
            }
        }
    }
    let env: BTreeMap<&str, &str> = env.iter().filter_map(|e| e.split_once('=')).collect();
    if let Some(names) = opts.get("env").filter(|s| !s.is_empty()) {
        for l in names.split(',') {
            if let Some(v) = env.get(l) {
                extra.insert(key_mod(l), v.to_string());
            }
        }
    }
    if let Some(re) = regex("env-regex")? {
        for (k, v) in &env {
            if re.is_match(k) {
                extra.insert(key_mod(k), v.to_string());
            }
        }
    }
    Ok(extra)
}
