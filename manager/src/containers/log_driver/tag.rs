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
//! Template functions and pipelines (docker's `{{split ...}}`, `{{json
//! ...}}`) fail with `not implemented`.

use std::collections::BTreeMap;

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

enum Piece<'a> {
    Text(&'a str),
    Field(&'a str),
}

fn parse(template: &str) -> Result<Vec<Piece<'_>>, LogConfigError> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(LogConfigError::Invalid(format!(
                "template: log-tag:1: unclosed action in {template:?}"
            )));
        };
        let action = after[..close].trim();
        let field = action
            .strip_prefix('.')
            .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric()));
        match field {
            Some(f) => pieces.push(Piece::Field(f)),
            None => {
                return Err(LogConfigError::OptionNotImplemented(format!(
                    "log tag template action {{{{{action}}}}} (only fields such as {{{{.ID}}}})"
                )))
            }
        }
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

const FIELDS: [&str; 9] = [
    "ID",
    "FullID",
    "Name",
    "ImageID",
    "ImageFullID",
    "ImageName",
    "DaemonName",
    "Command",
    "Hostname",
];

/// Checks a template at create: it parses and names only known fields.
pub fn check_template(template: &str) -> Result<(), LogConfigError> {
    for piece in parse(template)? {
        if let Piece::Field(f) = piece {
            if !FIELDS.contains(&f) {
                return Err(LogConfigError::Invalid(format!(
                    "template: log-tag:1:2: executing \"log-tag\" at <.{f}>: can't evaluate field {f} in type *logger.Info"
                )));
            }
        }
    }
    Ok(())
}

/// The rendered tag: the `tag` option's template, or `default` (`{{.ID}}`
/// for syslog and journald, none for json-file).
pub fn render(template: &str, default: &str, info: &TagInfo) -> Result<String, LogConfigError> {
    let template = if template.is_empty() {
        default
    } else {
        template
    };
    check_template(template)?;
    let short = |s: &str| s.chars().take(12).collect::<String>();
    let mut out = String::new();
    for piece in parse(template)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Field(f) => out.push_str(&match f {
                "ID" => short(&info.full_id),
                "FullID" => info.full_id.clone(),
                "Name" => info.name.trim_start_matches('/').to_string(),
                "ImageID" => short(&info.image_full_id),
                "ImageFullID" => info.image_full_id.clone(),
                "ImageName" => info.image_name.clone(),
                "DaemonName" => info.daemon_name.clone(),
                "Command" => info.command.clone(),
                _ => info.hostname.clone(),
            }),
        }
    }
    Ok(out)
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
