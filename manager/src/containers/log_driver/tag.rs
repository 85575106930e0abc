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
//! Actions are Go template pipelines with docker 20.10's functions
//! (daemon/logger/templates): `split S SEP`, `join LIST SEP`, `title`,
//! `lower`, `upper`, `pad S PREFIX SUFFIX`, `truncate S N`, `json V`;
//! arguments are fields, string literals (`"..."`, `` `...` ``), integers
//! and parenthesized pipelines, and `A | f x` passes A as f's last
//! argument, as text/template does. A list prints as Go's fmt does
//! (`[a b]`). Other template constructs (`if`, `range`, variables,
//! text/template's own functions such as `printf`) fail with `not
//! implemented`.

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

/// One operand of a command.
#[derive(Clone, Debug)]
enum Arg {
    Field(String),
    Str(String),
    Int(i64),
    Func(String),
    Pipe(Vec<Vec<Arg>>),
}

enum Piece<'a> {
    Text(&'a str),
    /// A pipeline: commands, each a list of operands.
    Action(&'a str, Vec<Vec<Arg>>),
}

/// A value while a pipeline runs.
#[derive(Clone, Debug)]
enum Value {
    Str(String),
    Int(i64),
    List(Vec<String>),
}

impl Value {
    /// As text/template prints it (fmt's `%v`).
    fn print(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::List(l) => format!("[{}]", l.join(" ")),
        }
    }
}

const FUNCS: [&str; 8] = [
    "json", "split", "join", "title", "lower", "upper", "pad", "truncate",
];

fn unsupported(action: &str) -> LogConfigError {
    LogConfigError::OptionNotImplemented(format!(
        "log tag template action {{{{{action}}}}} (fields, functions and pipelines only)"
    ))
}

fn exec_error(action: &str, what: String) -> LogConfigError {
    LogConfigError::Invalid(format!(
        "template: log-tag:1: executing \"log-tag\" at <{action}>: {what}"
    ))
}

/// Cuts a pipeline's text into commands of operands.
fn parse_pipeline(action: &str, text: &str) -> Result<(Vec<Vec<Arg>>, usize), LogConfigError> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut commands = vec![Vec::new()];
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'|' => {
                commands.push(Vec::new());
                i += 1;
            }
            b')' => return Ok((commands, i + 1)),
            b'(' => {
                let (inner, used) = parse_pipeline(action, &text[i + 1..])?;
                commands.last_mut().unwrap().push(Arg::Pipe(inner));
                i += 1 + used;
            }
            b'"' => {
                let mut out = String::new();
                let mut j = i + 1;
                loop {
                    let Some(&b) = bytes.get(j) else {
                        return Err(LogConfigError::Invalid(format!(
                            "template: log-tag:1: unterminated quoted string in {action:?}"
                        )));
                    };
                    match b {
                        b'"' => break,
                        b'\\' => {
                            let e = bytes.get(j + 1).copied().unwrap_or(b'\\');
                            out.push(match e {
                                b'n' => '\n',
                                b't' => '\t',
                                b'r' => '\r',
                                other => other as char,
                            });
                            j += 2;
                        }
                        _ => {
                            let ch = text[j..].chars().next().unwrap();
                            out.push(ch);
                            j += ch.len_utf8();
                        }
                    }
                }
                commands.last_mut().unwrap().push(Arg::Str(out));
                i = j + 1;
            }
            b'`' => {
                let Some(close) = text[i + 1..].find('`') else {
                    return Err(LogConfigError::Invalid(format!(
                        "template: log-tag:1: unterminated raw quoted string in {action:?}"
                    )));
                };
                let s = text[i + 1..i + 1 + close].to_string();
                commands.last_mut().unwrap().push(Arg::Str(s));
                i += close + 2;
            }
            _ => {
                let end = text[i..]
                    .find(|ch: char| ch.is_whitespace() || "|()\"`".contains(ch))
                    .map_or(text.len(), |e| i + e);
                let word = &text[i..end];
                let arg = if let Some(field) = word.strip_prefix('.') {
                    if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric()) {
                        return Err(unsupported(action));
                    }
                    Arg::Field(field.to_string())
                } else if let Ok(n) = word.parse::<i64>() {
                    Arg::Int(n)
                } else if FUNCS.contains(&word) {
                    Arg::Func(word.to_string())
                } else if word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    // Keywords and text/template's own functions.
                    const GO: [&str; 30] = [
                        "if", "range", "with", "define", "template", "block", "end", "else", "nil",
                        "true", "false", "and", "or", "not", "len", "index", "print", "printf",
                        "println", "html", "js", "urlquery", "call", "slice", "eq", "ne", "lt",
                        "le", "gt", "ge",
                    ];
                    if GO.contains(&word) {
                        return Err(unsupported(action));
                    }
                    return Err(LogConfigError::Invalid(format!(
                        "template: log-tag:1: function {word:?} not defined"
                    )));
                } else {
                    return Err(unsupported(action));
                };
                commands.last_mut().unwrap().push(arg);
                i = end;
            }
        }
    }
    Ok((commands, i))
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
        let (commands, used) = parse_pipeline(action, action)?;
        if used < action.len() {
            return Err(LogConfigError::Invalid(format!(
                "template: log-tag:1: unexpected \")\" in {action:?}"
            )));
        }
        if commands.iter().any(Vec::is_empty) {
            return Err(LogConfigError::Invalid(format!(
                "template: log-tag:1: missing command in {action:?}"
            )));
        }
        pieces.push(Piece::Action(action, commands));
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

fn field(info: &TagInfo, f: &str) -> Result<Value, LogConfigError> {
    let short = |s: &str| s.chars().take(12).collect::<String>();
    Ok(Value::Str(match f {
        "ID" => short(&info.full_id),
        "FullID" => info.full_id.clone(),
        "Name" => info.name.trim_start_matches('/').to_string(),
        "ImageID" => short(&info.image_full_id),
        "ImageFullID" => info.image_full_id.clone(),
        "ImageName" => info.image_name.clone(),
        "DaemonName" => info.daemon_name.clone(),
        "Command" => info.command.clone(),
        "Hostname" => info.hostname.clone(),
        _ => {
            return Err(LogConfigError::Invalid(format!(
                "template: log-tag:1:2: executing \"log-tag\" at <.{f}>: can't evaluate field {f} in type *logger.Info"
            )))
        }
    }))
}

fn eval_arg(arg: &Arg, info: &TagInfo, action: &str) -> Result<Value, LogConfigError> {
    match arg {
        Arg::Field(f) => field(info, f),
        Arg::Str(s) => Ok(Value::Str(s.clone())),
        Arg::Int(n) => Ok(Value::Int(*n)),
        Arg::Pipe(p) => eval_pipeline(p, info, action),
        Arg::Func(name) => call(name, Vec::new(), action),
    }
}

fn eval_pipeline(
    commands: &[Vec<Arg>],
    info: &TagInfo,
    action: &str,
) -> Result<Value, LogConfigError> {
    let mut prev: Option<Value> = None;
    for command in commands {
        let value = match &command[0] {
            Arg::Func(name) => {
                let mut args = command[1..]
                    .iter()
                    .map(|a| eval_arg(a, info, action))
                    .collect::<Result<Vec<_>, _>>()?;
                args.extend(prev.take());
                call(name, args, action)?
            }
            operand => {
                if command.len() > 1 || prev.is_some() {
                    return Err(exec_error(
                        action,
                        "can't give argument to non-function".to_string(),
                    ));
                }
                eval_arg(operand, info, action)?
            }
        };
        prev = Some(value);
    }
    Ok(prev.expect("a pipeline has a command"))
}

fn want_str(v: &Value, func: &str, action: &str) -> Result<String, LogConfigError> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        other => Err(exec_error(
            action,
            format!("error calling {func}: wrong type for value; expected string; got {other:?}"),
        )),
    }
}

fn want_int(v: &Value, func: &str, action: &str) -> Result<i64, LogConfigError> {
    match v {
        Value::Int(n) => Ok(*n),
        other => Err(exec_error(
            action,
            format!("error calling {func}: wrong type for value; expected int; got {other:?}"),
        )),
    }
}

/// docker 20.10's template functions (daemon/logger/templates).
fn call(name: &str, args: Vec<Value>, action: &str) -> Result<Value, LogConfigError> {
    let want = match name {
        "json" | "title" | "lower" | "upper" => 1,
        "split" | "join" | "truncate" => 2,
        _ => 3,
    };
    if args.len() != want {
        return Err(exec_error(
            action,
            format!(
                "wrong number of args for {name}: want {want} got {}",
                args.len()
            ),
        ));
    }
    Ok(match name {
        "json" => Value::Str(match &args[0] {
            Value::Str(s) => serde_json::to_string(s).unwrap_or_default(),
            Value::Int(n) => n.to_string(),
            Value::List(l) => serde_json::to_string(l).unwrap_or_default(),
        }),
        "split" => {
            let (s, sep) = (
                want_str(&args[0], name, action)?,
                want_str(&args[1], name, action)?,
            );
            Value::List(go_split(&s, &sep))
        }
        "join" => {
            let Value::List(l) = &args[0] else {
                return Err(exec_error(
                    action,
                    "error calling join: wrong type for value; expected []string".to_string(),
                ));
            };
            Value::Str(l.join(&want_str(&args[1], name, action)?))
        }
        "title" => Value::Str(go_title(&want_str(&args[0], name, action)?)),
        "lower" => Value::Str(want_str(&args[0], name, action)?.to_lowercase()),
        "upper" => Value::Str(want_str(&args[0], name, action)?.to_uppercase()),
        "pad" => {
            let s = want_str(&args[0], name, action)?;
            let (pre, suf) = (
                want_int(&args[1], name, action)?,
                want_int(&args[2], name, action)?,
            );
            if s.is_empty() {
                Value::Str(s)
            } else {
                Value::Str(format!(
                    "{}{s}{}",
                    " ".repeat(pre.max(0) as usize),
                    " ".repeat(suf.max(0) as usize)
                ))
            }
        }
        _ => {
            // truncate: bytes, as Go slices a string.
            let s = want_str(&args[0], name, action)?;
            let n = want_int(&args[1], name, action)?.max(0) as usize;
            if s.len() < n {
                Value::Str(s)
            } else {
                Value::Str(String::from_utf8_lossy(&s.as_bytes()[..n]).into_owned())
            }
        }
    })
}

/// Go's strings.Split: an empty separator splits after each character.
fn go_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(str::to_string).collect()
}

/// Go's strings.Title: a letter after a separator (not a letter, digit or
/// `_`) is upper-cased.
fn go_title(s: &str) -> String {
    let mut prev_sep = true;
    s.chars()
        .map(|c| {
            let out = if prev_sep {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c
            };
            prev_sep = !(c.is_alphanumeric() || c == '_');
            out
        })
        .collect()
}

/// Checks a template at create: it parses, and runs on a sample container
/// (unknown fields, functions and wrong arguments fail here).
pub fn check_template(template: &str) -> Result<(), LogConfigError> {
    for piece in parse(template)? {
        if let Piece::Action(action, commands) = piece {
            check_fields(&commands)?;
            eval_pipeline(&commands, &TagInfo::default(), action)?;
        }
    }
    Ok(())
}

fn check_fields(commands: &[Vec<Arg>]) -> Result<(), LogConfigError> {
    for arg in commands.iter().flatten() {
        match arg {
            Arg::Field(f) if !FIELDS.contains(&f.as_str()) => {
                return Err(LogConfigError::Invalid(format!(
                    "template: log-tag:1:2: executing \"log-tag\" at <.{f}>: can't evaluate field {f} in type *logger.Info"
                )))
            }
            Arg::Pipe(p) => check_fields(p)?,
            _ => {}
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
    let mut out = String::new();
    for piece in parse(template)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Action(action, commands) => {
                out.push_str(&eval_pipeline(&commands, info, action)?.print())
            }
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
