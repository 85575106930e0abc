//! Execution: running parsed nodes over JSON data, with Go's printing
//! rules and the functions docker's templates offer.

use super::parse::{Command, Node, Operand, Pipeline};
use super::{Template, TemplateError};
use serde_json::{Map, Value};
use std::fmt::Write as _;

impl Template {
    /// Runs the template over `data`.
    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        self.run(data, false)
    }

    /// Runs the template over a row of a list command (docker's formatter
    /// contexts: `ps`, `images`, `system df` rows): as there, `{{json .}}`
    /// escapes `<`, `>` and `&` (the contexts' `MarshalJSON` uses Go's
    /// `json.Marshal`, which does), where `inspect` prints them as they are.
    pub fn execute_row(&self, data: &Value) -> Result<String, TemplateError> {
        let mut exec = Executor {
            root: data,
            json_form: None,
            vars: vec![("$".to_string(), data.clone())],
            out: String::new(),
            header: false,
            escape_html: true,
        };
        exec.nodes(&self.nodes, data)?;
        Ok(exec.out)
    }

    /// Runs the template over a table's header names: docker's header
    /// functions (`json`, `lower`, `pad`, ...) pass their first argument
    /// through unchanged, and unknown fields print `<no value>`.
    pub fn execute_header(&self, headers: &Value) -> Result<String, TemplateError> {
        self.run(headers, true)
    }

    /// Runs the template over `data` (every field of docker's Go struct,
    /// for field access) where `json_form` is the same object as docker
    /// marshals it (its `omitempty` fields left out when empty): `{{json
    /// .Config}}` prints the part of `json_form` at that path, as docker's
    /// `json` marshals the Go struct.
    pub fn execute_typed(&self, data: &Value, json_form: &Value) -> Result<String, TemplateError> {
        let mut exec = Executor {
            root: data,
            json_form: Some(json_form),
            vars: vec![("$".to_string(), data.clone())],
            out: String::new(),
            header: false,
            escape_html: false,
        };
        exec.nodes(&self.nodes, data)?;
        Ok(exec.out)
    }

    fn run(&self, data: &Value, header: bool) -> Result<String, TemplateError> {
        let mut exec = Executor {
            root: data,
            json_form: None,
            vars: vec![("$".to_string(), data.clone())],
            out: String::new(),
            header,
            escape_html: false,
        };
        match exec.nodes(&self.nodes, data)? {
            Flow::Normal => Ok(exec.out),
            Flow::Break | Flow::Continue => Ok(exec.out),
        }
    }
}

/// Control flow out of a list of nodes.
enum Flow {
    Normal,
    Break,
    Continue,
}

struct Executor<'a> {
    root: &'a Value,
    /// The root as docker's JSON has it (see [`Template::execute_typed`]).
    json_form: Option<&'a Value>,
    vars: Vec<(String, Value)>,
    out: String,
    header: bool,
    /// `json` escapes HTML characters (see [`Template::execute_row`]).
    escape_html: bool,
}

/// Go's `json.Marshal` escaping of `<`, `>`, `&`, U+2028 and U+2029 (in
/// JSON text they can only occur inside strings, so replacing them in the
/// serialised text is exact).
pub fn escape_html(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Go's truth: false, 0, nil, and empty strings, lists and maps are false.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Prints a value as Go's `fmt` prints an `interface{}` decoded from JSON.
pub fn go_string(v: &Value) -> String {
    fn inner(v: &Value, out: &mut String) {
        match v {
            Value::Null => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::String(s) => out.push_str(s),
            Value::Array(a) => {
                out.push('[');
                for (i, e) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    inner(e, out);
                }
                out.push(']');
            }
            Value::Object(m) => {
                out.push_str("map[");
                // Go prints a map's keys sorted.
                for (i, (k, e)) in sorted_entries(m).into_iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    inner(e, out);
                }
                out.push(']');
            }
        }
    }
    let mut s = String::new();
    inner(v, &mut s);
    s
}

/// A map's entries sorted by key, as Go prints and ranges over maps (the
/// CLI's JSON maps keep document order: docker's struct field order).
pub fn sorted_entries(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// What a template action prints for a value: `<no value>` for nil, as
/// text/template does.
fn printed(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_string(),
        other => go_string(other),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn as_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => go_string(other),
    }
}

/// Go's `strings.Title`: the first letter of each word upper-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

/// Go's `fmt.Sprint`: spaces only between operands that are not strings.
fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&as_str(a));
    }
    out
}

/// Go's `fmt.Sprintf` for the common verbs (`%s %v %d %q %t %f %x %%`,
/// with an optional `-`, width and `.precision`: at most that many
/// characters of a string, at least that many digits of an integer, that
/// many decimals of a float).
fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut width = String::new();
        while let Some(&f) = chars.peek() {
            if f == '-' {
                left = true;
                chars.next();
            } else if f.is_ascii_digit() {
                width.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut digits = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(d);
                chars.next();
            }
            precision = Some(digits.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        let truncated = |text: String| match precision {
            Some(p) => text.chars().take(p).collect(),
            None => text,
        };
        let text = match verb {
            's' | 'v' => truncated(as_str(arg)),
            'd' => match as_int(arg) {
                Some(n) if arg.is_number() => {
                    let digits = n.unsigned_abs().to_string();
                    let zeros = "0".repeat(precision.unwrap_or(0).saturating_sub(digits.len()));
                    format!("{}{zeros}{digits}", if n < 0 { "-" } else { "" })
                }
                _ => format!("%!d({})", as_str(arg)),
            },
            // Go's fmt refuses %f of an integer (`%!f(int=2)`).
            'f' => match arg {
                Value::Number(n) if n.is_f64() => {
                    format!("{:.*}", precision.unwrap_or(6), n.as_f64().unwrap_or(0.0))
                }
                Value::Number(n) => format!("%!f(int={n})"),
                other => format!("%!f({})", as_str(other)),
            },
            'x' => match (as_int(arg), arg) {
                (Some(n), Value::Number(_)) if n >= 0 => format!("{n:x}"),
                (_, Value::String(text)) => text.bytes().map(|b| format!("{b:02x}")).collect(),
                _ => format!("%!x({})", as_str(arg)),
            },
            'q' => {
                serde_json::to_string(&Value::String(truncated(as_str(arg)))).unwrap_or_default()
            }
            't' => match arg {
                Value::Bool(b) => b.to_string(),
                other => format!("%!t({})", as_str(other)),
            },
            other => format!("%!{other}({})", as_str(arg)),
        };
        let w: usize = width.parse().unwrap_or(0);
        let len = text.chars().count();
        if len < w {
            let pad = " ".repeat(w - len);
            if left {
                out.push_str(&text);
                out.push_str(&pad);
            } else {
                out.push_str(&pad);
                out.push_str(&text);
            }
        } else {
            out.push_str(&text);
        }
    }
    let extra: Vec<String> = args.map(as_str).collect();
    if !extra.is_empty() {
        let _ = write!(out, "%!(EXTRA {})", extra.join(", "));
    }
    out
}

/// Compares two values for `eq`/`lt` and friends: numbers numerically,
/// strings by bytes, anything else only for equality.
fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

impl Executor<'_> {
    fn error(&self, p: &Pipeline, message: impl Into<String>) -> TemplateError {
        TemplateError::Exec {
            line: p.pos.line,
            col: p.pos.col,
            action: p.text.clone(),
            message: message.into(),
        }
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        for node in nodes {
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.declarations.is_empty() {
                        self.out.push_str(&printed(&v));
                    }
                }
                Node::If {
                    pipeline,
                    then,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let v = self.pipeline(pipeline, dot)?;
                    let flow = if truthy(&v) {
                        self.nodes(then, dot)?
                    } else {
                        self.nodes(otherwise, dot)?
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::With {
                    pipeline,
                    body,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let v = self.pipeline(pipeline, dot)?;
                    let flow = if truthy(&v) {
                        self.nodes(body, &v)?
                    } else {
                        self.nodes(otherwise, dot)?
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range {
                    pipeline,
                    body,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let mut plain = pipeline.clone();
                    plain.declarations.clear();
                    let v = self.pipeline(&plain, dot)?;
                    let items: Vec<(Value, Value)> = match &v {
                        Value::Array(a) => a
                            .iter()
                            .enumerate()
                            .map(|(i, e)| (Value::from(i), e.clone()))
                            .collect(),
                        // Go ranges over a map in sorted key order.
                        Value::Object(m) => sorted_entries(m)
                            .into_iter()
                            .map(|(k, e)| (Value::String(k.clone()), e.clone()))
                            .collect(),
                        Value::Null => Vec::new(),
                        Value::Number(n) if n.as_i64().is_some() => (0..n.as_i64().unwrap_or(0))
                            .map(|i| (Value::from(i), Value::from(i)))
                            .collect(),
                        other => {
                            return Err(self.error(
                                pipeline,
                                format!("range can't iterate over {}", go_string(other)),
                            ))
                        }
                    };
                    if items.is_empty() {
                        let flow = self.nodes(otherwise, dot)?;
                        self.vars.truncate(mark);
                        if !matches!(flow, Flow::Normal) {
                            return Ok(flow);
                        }
                        continue;
                    }
                    for (key, elem) in items {
                        let inner = self.vars.len();
                        match pipeline.declarations.as_slice() {
                            [] => {}
                            [e] => self.vars.push((e.clone(), elem.clone())),
                            [k, e, ..] => {
                                self.vars.push((k.clone(), key));
                                self.vars.push((e.clone(), elem.clone()));
                            }
                        }
                        let flow = self.nodes(body, &elem)?;
                        self.vars.truncate(inner);
                        if matches!(flow, Flow::Break) {
                            break;
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Break(_) => return Ok(Flow::Break),
                Node::Continue(_) => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
        let mut value: Option<Value> = None;
        for cmd in &p.commands {
            value = Some(self.command(p, cmd, dot, value)?);
        }
        let v = value.unwrap_or(Value::Null);
        if p.assign {
            let name = &p.declarations[0];
            match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = v.clone(),
                None => return Err(self.error(p, format!("undefined variable: {name}"))),
            }
        } else {
            for name in &p.declarations {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn command(
        &mut self,
        p: &Pipeline,
        cmd: &Command,
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, TemplateError> {
        if let Operand::Function(name) = &cmd.operands[0] {
            if let Some(v) = self.json_of_path(name, cmd, dot, piped.is_some()) {
                return Ok(Value::String(serde_json::to_string(&v).unwrap_or_default()));
            }
            let mut args = Vec::new();
            // `and`/`or` short-circuit in Go; evaluating all is equivalent
            // for data without side effects.
            for op in &cmd.operands[1..] {
                args.push(self.operand(p, op, dot)?);
            }
            if let Some(v) = piped {
                args.push(v);
            }
            return self.call(p, name, args);
        }
        if cmd.operands.len() > 1 {
            return Err(self.error(
                p,
                format!(
                    "can't give argument to non-function {}",
                    operand_text(&cmd.operands[0])
                ),
            ));
        }
        if piped.is_some() {
            return Err(self.error(
                p,
                format!(
                    "can't give argument to non-function {}",
                    operand_text(&cmd.operands[0])
                ),
            ));
        }
        self.operand(p, &cmd.operands[0], dot)
    }

    /// `{{json .A.B}}` (or `$.A.B`) on the root: the value at that path of
    /// docker's JSON form, when the template runs over a typed object and
    /// the path is there (a field docker omits is not: then the value with
    /// every field is marshalled, as for any other argument).
    fn json_of_path(&self, name: &str, cmd: &Command, dot: &Value, piped: bool) -> Option<Value> {
        let form = self.json_form?;
        if name != "json" || piped || cmd.operands.len() != 2 {
            return None;
        }
        let chain = match &cmd.operands[1] {
            Operand::Field(chain) if std::ptr::eq(dot, self.root) => chain,
            Operand::Variable(v, chain) if v == "$" => chain,
            _ => return None,
        };
        let mut v = form;
        for key in chain {
            v = v.as_object()?.get(key)?;
        }
        Some(v.clone())
    }

    fn field(&self, p: &Pipeline, base: Value, chain: &[String]) -> Result<Value, TemplateError> {
        let mut v = base;
        for key in chain {
            v = match v {
                Value::Object(mut m) => match m.remove(key) {
                    Some(x) => x,
                    None if self.header => Value::Null,
                    None => return Err(self.error(p, format!("map has no entry for key {key:?}"))),
                },
                Value::Null => {
                    return Err(
                        self.error(p, format!("nil pointer evaluating interface {{}}.{key}"))
                    )
                }
                other => {
                    return Err(self.error(
                        p,
                        format!("can't evaluate field {key} in type {}", type_name(&other)),
                    ))
                }
            };
        }
        Ok(v)
    }

    fn operand(&mut self, p: &Pipeline, op: &Operand, dot: &Value) -> Result<Value, TemplateError> {
        match op {
            Operand::Field(chain) => self.field(p, dot.clone(), chain),
            Operand::Variable(name, chain) => {
                let base = if name == "$" {
                    self.root.clone()
                } else {
                    self.vars
                        .iter()
                        .rev()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| self.error(p, format!("undefined variable: {name}")))?
                };
                self.field(p, base, chain)
            }
            Operand::Group(inner, chain) => {
                let v = self.pipeline(inner, dot)?;
                self.field(p, v, chain)
            }
            Operand::Function(name) => self.call(p, name, Vec::new()),
            Operand::Literal(v) => Ok(v.clone()),
        }
    }

    fn call(&mut self, p: &Pipeline, name: &str, args: Vec<Value>) -> Result<Value, TemplateError> {
        // docker's header functions: identity on the header name.
        if self.header
            && matches!(
                name,
                "json" | "split" | "join" | "title" | "lower" | "upper" | "pad" | "truncate"
            )
        {
            return Ok(args.into_iter().next().unwrap_or(Value::Null));
        }
        let want = |n: usize| -> Result<(), TemplateError> {
            if args.len() == n {
                Ok(())
            } else {
                Err(self.error(
                    p,
                    format!(
                        "error calling {name}: wrong number of args for {name}: want {n} got {}",
                        args.len()
                    ),
                ))
            }
        };
        Ok(match name {
            "json" => {
                want(1)?;
                let text = serde_json::to_string(&args[0]).unwrap_or_default();
                Value::String(if self.escape_html {
                    escape_html(&text)
                } else {
                    text
                })
            }
            "lower" => {
                want(1)?;
                Value::String(as_str(&args[0]).to_lowercase())
            }
            "upper" => {
                want(1)?;
                Value::String(as_str(&args[0]).to_uppercase())
            }
            "title" => {
                want(1)?;
                Value::String(title(&as_str(&args[0])))
            }
            "split" => {
                want(2)?;
                let (s, sep) = (as_str(&args[0]), as_str(&args[1]));
                let parts: Vec<Value> = if sep.is_empty() {
                    s.chars().map(|c| Value::String(c.to_string())).collect()
                } else {
                    s.split(sep.as_str())
                        .map(|x| Value::String(x.into()))
                        .collect()
                };
                Value::Array(parts)
            }
            "join" => {
                want(2)?;
                let items: Vec<String> = match &args[0] {
                    Value::Array(a) => a.iter().map(as_str).collect(),
                    Value::Null => Vec::new(),
                    other => {
                        return Err(self.error(
                            p,
                            format!(
                            "error calling join: wrong type for value; expected []string; got {}",
                            type_name(other)
                        ),
                        ))
                    }
                };
                Value::String(items.join(&as_str(&args[1])))
            }
            "pad" => {
                want(3)?;
                let s = as_str(&args[0]);
                if s.is_empty() {
                    Value::String(s)
                } else {
                    let pre = as_int(&args[1]).unwrap_or(0).max(0) as usize;
                    let post = as_int(&args[2]).unwrap_or(0).max(0) as usize;
                    Value::String(format!("{}{s}{}", " ".repeat(pre), " ".repeat(post)))
                }
            }
            "truncate" => {
                want(2)?;
                let s = as_str(&args[0]);
                let n = as_int(&args[1]).unwrap_or(0).max(0) as usize;
                Value::String(s.chars().take(n).collect())
            }
            "len" => {
                want(1)?;
                match &args[0] {
                    Value::String(s) => Value::from(s.len()),
                    Value::Array(a) => Value::from(a.len()),
                    Value::Object(m) => Value::from(m.len()),
                    Value::Null => Value::from(0),
                    other => {
                        return Err(self.error(
                            p,
                            format!("error calling len: len of type {}", type_name(other)),
                        ))
                    }
                }
            }
            "index" => {
                if args.is_empty() {
                    want(1)?;
                }
                let mut v = args[0].clone();
                for key in &args[1..] {
                    v = match (&v, key) {
                        (Value::Object(m), k) => m.get(&as_str(k)).cloned().unwrap_or(Value::Null),
                        (Value::Array(a), k) => {
                            let i = as_int(k).filter(|i| *i >= 0 && (*i as usize) < a.len());
                            match i {
                                Some(i) => a[i as usize].clone(),
                                None => {
                                    return Err(self.error(
                                        p,
                                        format!(
                                            "error calling index: index out of range: {}",
                                            as_str(k)
                                        ),
                                    ))
                                }
                            }
                        }
                        (Value::Null, _) => {
                            return Err(self.error(p, "error calling index: index of untyped nil"))
                        }
                        (other, _) => {
                            return Err(self.error(
                                p,
                                format!(
                                    "error calling index: can't index item of type {}",
                                    type_name(other)
                                ),
                            ))
                        }
                    };
                }
                v
            }
            "print" => Value::String(sprint(&args)),
            "println" => {
                let parts: Vec<String> = args.iter().map(as_str).collect();
                Value::String(parts.join(" ") + "\n")
            }
            "printf" => {
                if args.is_empty() {
                    return Err(
                        self.error(p, "wrong number of args for printf: want at least 1 got 0")
                    );
                }
                Value::String(sprintf(&as_str(&args[0]), &args[1..]))
            }
            "not" => {
                want(1)?;
                Value::Bool(!truthy(&args[0]))
            }
            "and" => {
                if args.is_empty() {
                    want(1)?;
                }
                args.iter()
                    .find(|a| !truthy(a))
                    .or(args.last())
                    .cloned()
                    .unwrap_or(Value::Null)
            }
            "or" => {
                if args.is_empty() {
                    want(1)?;
                }
                args.iter()
                    .find(|a| truthy(a))
                    .or(args.last())
                    .cloned()
                    .unwrap_or(Value::Null)
            }
            "eq" => {
                if args.len() < 2 {
                    want(2)?;
                }
                let first = &args[0];
                Value::Bool(args[1..].iter().any(|b| {
                    compare(first, b) == Some(std::cmp::Ordering::Equal)
                        || (compare(first, b).is_none() && first == b)
                }))
            }
            "ne" | "lt" | "le" | "gt" | "ge" => {
                want(2)?;
                let ord = compare(&args[0], &args[1]);
                if name == "ne" {
                    Value::Bool(
                        ord.map(|o| o != std::cmp::Ordering::Equal)
                            .unwrap_or(args[0] != args[1]),
                    )
                } else {
                    let Some(o) = ord else {
                        return Err(self.error(
                            p,
                            format!("error calling {name}: incompatible types for comparison"),
                        ));
                    };
                    Value::Bool(match name {
                        "lt" => o.is_lt(),
                        "le" => o.is_le(),
                        "gt" => o.is_gt(),
                        _ => o.is_ge(),
                    })
                }
            }
            other => {
                return Err(TemplateError::Parse {
                    line: p.pos.line,
                    message: format!("function {other:?} not defined"),
                })
            }
        })
    }
}

fn operand_text(op: &Operand) -> String {
    match op {
        Operand::Field(chain) => format!(".{}", chain.join(".")),
        Operand::Variable(name, chain) if chain.is_empty() => name.clone(),
        Operand::Variable(name, chain) => format!("{name}.{}", chain.join(".")),
        Operand::Group(_, _) => "(...)".into(),
        Operand::Function(n) => n.clone(),
        Operand::Literal(v) => go_string(v),
    }
}

#[cfg(test)]
mod tests {
    use crate::template::parse;

    use super::*;
    use serde_json::json;

    fn render(t: &str, v: &Value) -> String {
        parse(t).unwrap().execute(v).unwrap()
    }

    fn data() -> Value {
        json!({
            "Id": "sha256:abc",
            "Size": 4261,
            "Config": {"Cmd": ["sh", "-c", "x"], "Env": [], "Labels": {"b": "2", "a": "1"}, "User": "", "Entrypoint": null},
            "RepoTags": ["busybox:latest", "busybox:1"],
            "Flag": true,
            "Name": "hello world",
        })
    }

    #[test]
    fn fields_json_and_go_printing() {
        let v = data();
        assert_eq!(render("{{.Id}}", &v), "sha256:abc");
        assert_eq!(
            render("id={{ .Id }} n={{.Size}}", &v),
            "id=sha256:abc n=4261"
        );
        assert_eq!(render("{{json .Config.Cmd}}", &v), r#"["sh","-c","x"]"#);
        assert_eq!(render("{{.Config.Cmd}}", &v), "[sh -c x]");
        assert_eq!(render("{{.Config.Labels}}", &v), "map[a:1 b:2]");
        assert_eq!(render("{{.Config.Env}}", &v), "[]");
        assert_eq!(render("{{.Config.Entrypoint}}", &v), "<no value>");
        assert_eq!(render("{{.}}", &json!([1, null, "x"])), "[1 <nil> x]");
        assert_eq!(render("{{json .}}", &json!({"a": [1]})), r#"{"a":[1]}"#);
        assert_eq!(render("{{.Flag}}", &v), "true");
    }

    #[test]
    fn index_len_join_split_and_string_functions() {
        let v = data();
        assert_eq!(render(r#"{{index .Config.Labels "a"}}"#, &v), "1");
        assert_eq!(render(r#"{{index .Config.Labels "zz"}}"#, &v), "<no value>");
        assert_eq!(render("{{index .RepoTags 1}}", &v), "busybox:1");
        assert_eq!(render("{{len .RepoTags}} {{len .Id}}", &v), "2 10");
        assert_eq!(
            render(r#"{{join .RepoTags ","}}"#, &v),
            "busybox:latest,busybox:1"
        );
        assert_eq!(render(r#"{{split .Id ":"}}"#, &v), "[sha256 abc]");
        assert_eq!(render(r#"{{index (split .Id ":") 1}}"#, &v), "abc");
        assert_eq!(
            render("{{upper .Id}} {{lower \"AbC\"}}", &v),
            "SHA256:ABC abc"
        );
        assert_eq!(render("{{title .Name}}", &v), "Hello World");
        assert_eq!(
            render("{{truncate .Id 6}}|{{pad .Id 1 2}}|", &v),
            "sha256| sha256:abc  |"
        );
        assert_eq!(render("{{.Id | upper}}", &v), "SHA256:ABC");
        assert_eq!(render(r#"{{"x" | printf "%s-%s" "a"}}"#, &v), "a-x");
        assert_eq!(render("{{println .Id}}", &v), "sha256:abc\n");
        assert_eq!(
            render(r#"{{printf "%-5s|%d" "ab" .Size}}"#, &v),
            "ab   |4261"
        );
        assert_eq!(render(r#"{{print "a" 1 2 "b"}}"#, &v), "a1 2b");
        // Go's precision: characters of a string, digits of an integer,
        // decimals of a float.
        assert_eq!(
            render(
                r#"{{printf "%.4s|%8.3s|%.6d|%.2f|%f|%f" .Id .Id .Size 1.5 2.0 2}}"#,
                &v
            ),
            "sha2|     sha|004261|1.50|2.000000|%!f(int=2)"
        );
        assert_eq!(
            render(r#"{{printf "%.3q|%x|%x" .Id 255 "hi"}}"#, &v),
            r#""sha"|ff|6869"#
        );
    }

    #[test]
    fn control_structures_and_variables() {
        let v = data();
        assert_eq!(
            render("{{range .RepoTags}}<{{.}}>{{end}}", &v),
            "<busybox:latest><busybox:1>"
        );
        assert_eq!(
            render("{{range $i, $t := .RepoTags}}{{$i}}={{$t}} {{end}}", &v),
            "0=busybox:latest 1=busybox:1 "
        );
        assert_eq!(
            render(
                "{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}};{{end}}",
                &v
            ),
            "a:1;b:2;"
        );
        assert_eq!(
            render("{{range .Config.Env}}x{{else}}empty{{end}}", &v),
            "empty"
        );
        assert_eq!(
            render("{{range .RepoTags}}{{.}}{{break}}{{end}}", &v),
            "busybox:latest"
        );
        assert_eq!(render("{{if .Flag}}yes{{else}}no{{end}}", &v), "yes");
        assert_eq!(
            render("{{if .Config.User}}u{{else if .Flag}}f{{else}}n{{end}}", &v),
            "f"
        );
        assert_eq!(render("{{if not .Config.User}}root{{end}}", &v), "root");
        assert_eq!(
            render(
                r#"{{if eq .Size 4261}}big{{end}}{{if ne .Id "x"}}!{{end}}"#,
                &v
            ),
            "big!"
        );
        assert_eq!(
            render(
                "{{if and .Flag .Id}}both{{end}}{{if or .Config.User .Id}}one{{end}}",
                &v
            ),
            "bothone"
        );
        assert_eq!(
            render("{{with .Config}}{{.User}}[{{len .Cmd}}]{{end}}", &v),
            "[3]"
        );
        assert_eq!(
            render("{{with .Config.User}}x{{else}}none{{end}}", &v),
            "none"
        );
        assert_eq!(
            render("{{$id := .Id}}{{range .RepoTags}}{{$id}} {{end}}", &v),
            "sha256:abc sha256:abc "
        );
        assert_eq!(
            render("{{range .RepoTags}}{{$.Size}}{{end}}", &v),
            "42614261"
        );
        assert_eq!(render("{{(index .RepoTags 0)}}", &v), "busybox:latest");
        assert_eq!(render("{{/* a comment */}}x", &v), "x");
        assert_eq!(render("a  {{- .Size -}}  b", &v), "a4261b");
        assert_eq!(render("{{`raw\\n`}}", &v), "raw\\n");
    }

    #[test]
    fn json_of_a_typed_object_leaves_out_what_docker_omits() {
        let every = json!({"Config": {"Image": "x", "MacAddress": ""}});
        let form = json!({"Config": {"Image": "x"}});
        let t = parse("{{json .Config}}|{{.Config.MacAddress}}|{{json $.Config}}").unwrap();
        assert_eq!(
            t.execute_typed(&every, &form).unwrap(),
            r#"{"Image":"x"}||{"Image":"x"}"#
        );
        // Without the JSON form every field is marshalled.
        assert_eq!(
            parse("{{json .Config}}").unwrap().execute(&every).unwrap(),
            r#"{"Image":"x","MacAddress":""}"#
        );
    }

    #[test]
    fn execution_errors_name_the_action() {
        let v = data();
        let e = parse("x {{.Nope}}").unwrap().execute(&v).unwrap_err();
        assert_eq!(
            e.to_string(),
            "template parsing error: template: :1:4: executing \"\" at <.Nope>: map has no entry for key \"Nope\""
        );
        assert!(parse("{{.Id.X}}").unwrap().execute(&v).is_err());
        assert!(parse("{{index .RepoTags 5}}").unwrap().execute(&v).is_err());
        assert!(parse("{{.Id 1}}").unwrap().execute(&v).is_err());
        assert!(parse("{{range .Id}}{{end}}").unwrap().execute(&v).is_err());
    }
}
