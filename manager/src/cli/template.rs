//! `--format`: the subset of Go's `text/template` that docker's CLI offers,
//! over `serde_json::Value` data.
//!
//! docker parses `--format` with `text/template` plus its own functions
//! (docker/cli `templates/templates.go`): `json`, `split`, `join`, `title`,
//! `lower`, `upper`, `pad`, `truncate`, and Go's builtins (`index`, `len`,
//! `print`, `printf`, `println`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `and`,
//! `or`, `not`). This module implements that language: text and `{{...}}`
//! actions with `{{-`/`-}}` trimming and `{{/* comments */}}`, field chains
//! (`.A.B`, `$.A`, `$v.A`, `(pipeline).A`), literals, pipelines with `|`,
//! variables (`$v := ...`), and `if`/`else if`/`else`, `range` (with
//! `$i, $e :=`) and `with` blocks.
//!
//! Data is JSON, as in docker's raw-inspect fallback (`tryRawInspectFallback`
//! with `missingkey=error`): a field missing from a map is an error, a JSON
//! `null` prints `<no value>`, maps print as Go prints them (`map[k:v]`,
//! keys sorted) and lists as `[a b]`.
//!
//! [`ListFormat`] is docker's formatter (`cli/command/formatter`) for list
//! commands (`images`, `ps`): `table` (a header row rendered from the same
//! template over header names, laid out by [`super::tabwriter`] with docker's
//! settings), `json` (one JSON object per line) or a raw template, with the
//! two-character sequences `\t` and `\n` turned into a tab and a newline.
//!
//! Errors read as docker's: `template parsing error: template: :1: ...`.

use super::tabwriter::TabWriter;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A template that failed to parse or to execute, worded as docker words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template text is not valid (docker's `inspect` exits 64 for it).
    #[error("template parsing error: template: :{line}: {message}")]
    Parse { line: usize, message: String },
    /// The template is valid but could not be applied to the data.
    #[error(
        "template parsing error: template: :{line}:{col}: executing \"\" at <{action}>: {message}"
    )]
    Exec {
        line: usize,
        col: usize,
        action: String,
        message: String,
    },
}

/// Where a node starts in the template text (1-based line, 0-based column,
/// as Go reports them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Pos {
    line: usize,
    col: usize,
}

/// One argument of a command.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `.A.B` (empty chain: `.`).
    Field(Vec<String>),
    /// `$name.A.B` (`$` alone is the root data).
    Variable(String, Vec<String>),
    /// `(pipeline).A.B`.
    Group(Box<Pipeline>, Vec<String>),
    /// A function name.
    Function(String),
    /// A string, number, bool or nil literal.
    Literal(Value),
}

/// Operands separated by spaces: a function call or a single value.
#[derive(Debug, Clone, PartialEq)]
struct Command {
    operands: Vec<Operand>,
}

/// `$a, $b := cmd | cmd ...`.
#[derive(Debug, Clone, PartialEq)]
struct Pipeline {
    declarations: Vec<String>,
    /// `=` (assign to an existing variable) rather than `:=`.
    assign: bool,
    commands: Vec<Command>,
    /// The action's text, for error messages.
    text: String,
    pos: Pos,
}

/// A parsed template node.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Pipeline),
    If {
        pipeline: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        pipeline: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipeline: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Break(Pos),
    Continue(Pos),
}

/// A parsed template, ready to run over any number of values.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

/// A lexical token inside an action.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Field(Vec<String>),
    Variable(String, Vec<String>),
    Identifier(String),
    Literal(Value),
    Pipe,
    LeftParen,
    /// `)` and the field chain right after it.
    RightParen(Vec<String>),
    Declare,
    Assign,
    Comma,
}

/// One `{{...}}` or text piece of the source.
enum Piece {
    Text(String),
    Action { body: String, pos: Pos },
}

fn parse_error(pos: Pos, message: impl Into<String>) -> TemplateError {
    TemplateError::Parse {
        line: pos.line,
        message: message.into(),
    }
}

/// Splits the source into text and action bodies, applying `{{-`/`-}}`
/// trimming and dropping comments.
fn split_pieces(source: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = source;
    let mut consumed = 0usize;
    let pos_of = |offset: usize| {
        let before = &source[..offset];
        Pos {
            line: before.matches('\n').count() + 1,
            col: offset - before.rfind('\n').map(|i| i + 1).unwrap_or(0),
        }
    };
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_string();
        if trim_next {
            text = text.trim_start().to_string();
        }
        let after = &rest[start + 2..];
        // "{{- " trims the text before; the dash needs a space after it.
        let trim_before = after.starts_with("- ")
            || after.starts_with("-\t")
            || after.starts_with("-\n")
            || after.starts_with("-\r");
        if trim_before {
            text = text.trim_end().to_string();
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        let body_start = if trim_before { 1 } else { 0 };
        let inner = &after[body_start..];
        // Go reports the position of the action's first token.
        let leading = inner.len() - inner.trim_start().len();
        let pos = pos_of(consumed + start + 2 + body_start + leading);
        // Find the closing "}}" outside string literals.
        let end = find_close(inner).ok_or_else(|| parse_error(pos, "unclosed action"))?;
        let mut body = &inner[..end];
        trim_next = false;
        if body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-") {
            body = &body[..body.len() - 1];
            trim_next = true;
        }
        let trimmed = body.trim();
        if trimmed.starts_with("/*") {
            if !trimmed.ends_with("*/") {
                return Err(parse_error(pos, "unclosed comment"));
            }
        } else {
            pieces.push(Piece::Action {
                body: body.to_string(),
                pos,
            });
        }
        let advance = start + 2 + body_start + end + 2;
        consumed += advance;
        rest = &rest[advance..];
    }
    let mut text = rest.to_string();
    if trim_next {
        text = text.trim_start().to_string();
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Offset of the `}}` closing an action body, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Reads `.A.B.C` starting at a '.', returns the chain and the new index.
fn read_chain(chars: &[char], mut i: usize) -> (Vec<String>, usize) {
    let mut chain = Vec::new();
    while i < chars.len() && chars[i] == '.' {
        let start = i + 1;
        let mut j = start;
        while j < chars.len() && is_ident_char(chars[j]) {
            j += 1;
        }
        if j == start {
            break;
        }
        chain.push(chars[start..j].iter().collect());
        i = j;
    }
    (chain, i)
}

/// Splits an action body into tokens.
fn lex(body: &str, pos: Pos) -> Result<Vec<Token>, TemplateError> {
    let chars: Vec<char> = body.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                tokens.push(Token::Pipe);
                i += 1
            }
            '(' => {
                tokens.push(Token::LeftParen);
                i += 1
            }
            ')' => {
                let (chain, next) = read_chain(&chars, i + 1);
                tokens.push(Token::RightParen(chain));
                i = next;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Declare);
                i += 2
            }
            '=' => {
                tokens.push(Token::Assign);
                i += 1
            }
            '.' => {
                if chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
                    let (v, next) = lex_number(&chars, i, pos)?;
                    tokens.push(Token::Literal(v));
                    i = next;
                    continue;
                }
                let (chain, next) = read_chain(&chars, i);
                if next == i {
                    // A lone dot.
                    i += 1;
                } else {
                    i = next;
                }
                if chars.get(i).is_some_and(|c| is_ident_char(*c) || *c == '.') {
                    return Err(parse_error(
                        pos,
                        format!("bad character {:?} in field", chars[i]),
                    ));
                }
                tokens.push(Token::Field(chain));
            }
            '$' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && is_ident_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                let (chain, next) = read_chain(&chars, j);
                tokens.push(Token::Variable(format!("${name}"), chain));
                i = next;
            }
            '"' => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    let Some(&c) = chars.get(j) else {
                        return Err(parse_error(pos, "unterminated quoted string"));
                    };
                    match c {
                        '"' => break,
                        '\\' => {
                            j += 1;
                            match chars.get(j) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some('r') => s.push('\r'),
                                Some('\\') => s.push('\\'),
                                Some('"') => s.push('"'),
                                Some('\'') => s.push('\''),
                                Some('0') => s.push('\0'),
                                other => {
                                    return Err(parse_error(
                                        pos,
                                        format!(
                                            "invalid syntax: unknown escape \\{}",
                                            other.copied().unwrap_or(' ')
                                        ),
                                    ))
                                }
                            }
                        }
                        '\n' => return Err(parse_error(pos, "unterminated quoted string")),
                        c => s.push(c),
                    }
                    j += 1;
                }
                tokens.push(Token::Literal(Value::String(s)));
                i = j + 1;
            }
            '`' => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|&c| c == '`')
                    .ok_or_else(|| parse_error(pos, "unterminated raw quoted string"))?;
                tokens.push(Token::Literal(Value::String(
                    chars[start..start + end].iter().collect(),
                )));
                i = start + end + 1;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+')
                    && chars
                        .get(i + 1)
                        .is_some_and(|d| d.is_ascii_digit() || *d == '.')) =>
            {
                let (v, next) = lex_number(&chars, i, pos)?;
                tokens.push(Token::Literal(v));
                i = next;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push(match word.as_str() {
                    "true" => Token::Literal(Value::Bool(true)),
                    "false" => Token::Literal(Value::Bool(false)),
                    "nil" => Token::Literal(Value::Null),
                    _ => Token::Identifier(word),
                });
                if chars.get(i) == Some(&'.') {
                    return Err(parse_error(
                        pos,
                        format!(
                            "unexpected . after term {:?}",
                            chars[start..i].iter().collect::<String>()
                        ),
                    ));
                }
            }
            other => return Err(parse_error(pos, format!("unexpected {other:?} in command"))),
        }
    }
    Ok(tokens)
}

fn lex_number(chars: &[char], start: usize, pos: Pos) -> Result<(Value, usize), TemplateError> {
    let mut i = start;
    if chars[i] == '-' || chars[i] == '+' {
        i += 1;
    }
    while i < chars.len()
        && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_')
    {
        i += 1;
    }
    let text: String = chars[start..i].iter().filter(|c| **c != '_').collect();
    let value = if let Ok(n) = text.parse::<i64>() {
        Value::from(n)
    } else if let Ok(f) = text.parse::<f64>() {
        Value::from(f)
    } else {
        return Err(parse_error(pos, format!("bad number syntax: {text:?}")));
    };
    Ok((value, i))
}

/// A cursor over an action's tokens.
struct TokenStream<'a> {
    tokens: &'a [Token],
    at: usize,
    pos: Pos,
    text: &'a str,
}

impl TokenStream<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn error(&self, message: impl Into<String>) -> TemplateError {
        parse_error(self.pos, message)
    }

    /// A pipeline up to the end or a `)`, with optional declarations.
    fn pipeline(&mut self, allow_decl: bool, allow_two: bool) -> Result<Pipeline, TemplateError> {
        let mut declarations = Vec::new();
        let mut assign = false;
        if allow_decl {
            // Look ahead for `$a :=`, `$a, $b :=` or `$a =`.
            let save = self.at;
            let mut names = Vec::new();
            loop {
                match self.next() {
                    Some(Token::Variable(name, chain)) if chain.is_empty() => names.push(name),
                    _ => {
                        names.clear();
                        break;
                    }
                }
                match self.next() {
                    Some(Token::Comma) if allow_two && names.len() == 1 => continue,
                    Some(Token::Declare) => break,
                    Some(Token::Assign) if names.len() == 1 => {
                        assign = true;
                        break;
                    }
                    _ => {
                        names.clear();
                        break;
                    }
                }
            }
            if names.is_empty() {
                self.at = save;
                assign = false;
            } else {
                declarations = names;
            }
        }
        let mut commands = Vec::new();
        loop {
            let mut operands = Vec::new();
            while let Some(t) = self.peek() {
                match t {
                    Token::Pipe | Token::RightParen(_) => break,
                    _ => operands.push(self.operand()?),
                }
            }
            if operands.is_empty() {
                return Err(self.error(if commands.is_empty() {
                    "missing value for command".to_string()
                } else {
                    "missing command after |".to_string()
                }));
            }
            commands.push(Command { operands });
            if self.peek() == Some(&Token::Pipe) {
                self.next();
                continue;
            }
            break;
        }
        Ok(Pipeline {
            declarations,
            assign,
            commands,
            text: self.text.trim().to_string(),
            pos: self.pos,
        })
    }

    fn operand(&mut self) -> Result<Operand, TemplateError> {
        match self.next() {
            Some(Token::Field(chain)) => Ok(Operand::Field(chain)),
            Some(Token::Variable(name, chain)) => Ok(Operand::Variable(name, chain)),
            Some(Token::Identifier(name)) => Ok(Operand::Function(name)),
            Some(Token::Literal(v)) => Ok(Operand::Literal(v)),
            Some(Token::LeftParen) => {
                let inner = self.pipeline(false, false)?;
                match self.next() {
                    Some(Token::RightParen(chain)) => Ok(Operand::Group(Box::new(inner), chain)),
                    _ => Err(self.error("unclosed left paren")),
                }
            }
            Some(Token::RightParen(_)) => Err(self.error("unexpected right paren")),
            Some(Token::Declare) | Some(Token::Assign) => {
                Err(self.error("unexpected \":=\" in operand"))
            }
            Some(Token::Comma) => Err(self.error("unexpected \",\" in operand")),
            Some(Token::Pipe) => Err(self.error("unexpected \"|\" in operand")),
            None => Err(self.error("missing value for command")),
        }
    }
}

/// What an action is, structurally.
enum ActionKind {
    Plain(Pipeline),
    If(Pipeline),
    Range(Pipeline),
    With(Pipeline),
    ElseIf(Pipeline),
    ElseWith(Pipeline),
    Else,
    End,
    Break,
    Continue,
}

fn classify(body: &str, pos: Pos) -> Result<ActionKind, TemplateError> {
    let tokens = lex(body, pos)?;
    if tokens.is_empty() {
        return Err(parse_error(pos, "missing value for command"));
    }
    let mut stream = TokenStream {
        tokens: &tokens,
        at: 0,
        pos,
        text: body,
    };
    let keyword = match tokens.first() {
        Some(Token::Identifier(w)) => w.as_str(),
        _ => "",
    };
    let rest = |stream: &mut TokenStream, allow_decl: bool, allow_two: bool| {
        stream.next();
        let p = stream.pipeline(allow_decl, allow_two)?;
        if stream.peek().is_some() {
            return Err(stream.error("unexpected \")\" in command"));
        }
        Ok(p)
    };
    Ok(match keyword {
        "if" => ActionKind::If(rest(&mut stream, true, false)?),
        "range" => ActionKind::Range(rest(&mut stream, true, true)?),
        "with" => ActionKind::With(rest(&mut stream, true, false)?),
        "end" | "break" | "continue" if tokens.len() > 1 => {
            return Err(parse_error(
                pos,
                format!("unexpected {:?} in {keyword}", tokens[1]),
            ))
        }
        "end" => ActionKind::End,
        "break" => ActionKind::Break,
        "continue" => ActionKind::Continue,
        "else" => match tokens.get(1) {
            None => ActionKind::Else,
            Some(Token::Identifier(w)) if w == "if" => {
                stream.next();
                ActionKind::ElseIf(rest(&mut stream, true, false)?)
            }
            Some(Token::Identifier(w)) if w == "with" => {
                stream.next();
                ActionKind::ElseWith(rest(&mut stream, true, false)?)
            }
            Some(_) => return Err(parse_error(pos, "unexpected token in else")),
        },
        "define" | "template" | "block" => {
            return Err(parse_error(
                pos,
                format!("{keyword:?} is not supported by berth's templates"),
            ))
        }
        _ => {
            let p = stream.pipeline(true, false)?;
            if stream.peek().is_some() {
                return Err(stream.error("unexpected \")\" in operand"));
            }
            ActionKind::Plain(p)
        }
    })
}

/// How a list of nodes ended.
enum Terminator {
    Eof,
    End,
    Else,
    ElseIf(Pipeline),
    ElseWith(Pipeline),
}

struct Parser {
    pieces: std::vec::IntoIter<Piece>,
    range_depth: usize,
}

impl Parser {
    fn list(&mut self) -> Result<(Vec<Node>, Terminator, Pos), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(piece) = self.pieces.next() {
            let (body, pos) = match piece {
                Piece::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Piece::Action { body, pos } => (body, pos),
            };
            match classify(&body, pos)? {
                ActionKind::Plain(p) => nodes.push(Node::Action(p)),
                ActionKind::If(p) => nodes.push(self.if_node(p)?),
                ActionKind::With(p) => nodes.push(self.with_node(p)?),
                ActionKind::Range(pipeline) => {
                    self.range_depth += 1;
                    let (body, term, pos) = self.list()?;
                    self.range_depth -= 1;
                    let otherwise = match term {
                        Terminator::End => Vec::new(),
                        Terminator::Else => self.until_end(pos)?,
                        Terminator::Eof => return Err(parse_error(pipeline.pos, "unexpected EOF")),
                        _ => return Err(parse_error(pos, "unexpected else if in range")),
                    };
                    nodes.push(Node::Range {
                        pipeline,
                        body,
                        otherwise,
                    });
                }
                ActionKind::Break if self.range_depth > 0 => nodes.push(Node::Break(pos)),
                ActionKind::Continue if self.range_depth > 0 => nodes.push(Node::Continue(pos)),
                ActionKind::Break | ActionKind::Continue => {
                    return Err(parse_error(pos, "break or continue outside range"))
                }
                ActionKind::End => return Ok((nodes, Terminator::End, pos)),
                ActionKind::Else => return Ok((nodes, Terminator::Else, pos)),
                ActionKind::ElseIf(p) => return Ok((nodes, Terminator::ElseIf(p), pos)),
                ActionKind::ElseWith(p) => return Ok((nodes, Terminator::ElseWith(p), pos)),
            }
        }
        Ok((nodes, Terminator::Eof, Pos::default()))
    }

    fn until_end(&mut self, pos: Pos) -> Result<Vec<Node>, TemplateError> {
        match self.list()? {
            (nodes, Terminator::End, _) => Ok(nodes),
            (_, Terminator::Eof, _) => Err(parse_error(pos, "unexpected EOF")),
            (_, _, pos) => Err(parse_error(pos, "expected end; found else")),
        }
    }

    fn branches(&mut self) -> Result<(Vec<Node>, Vec<Node>), TemplateError> {
        let (then, term, pos) = self.list()?;
        let otherwise = match term {
            Terminator::End => Vec::new(),
            Terminator::Else => self.until_end(pos)?,
            // `else if` / `else with` chain: the rest is one nested node
            // sharing this block's `end`.
            Terminator::ElseIf(p) => vec![self.if_node(p)?],
            Terminator::ElseWith(p) => vec![self.with_node(p)?],
            Terminator::Eof => return Err(parse_error(pos, "unexpected EOF")),
        };
        Ok((then, otherwise))
    }

    fn if_node(&mut self, pipeline: Pipeline) -> Result<Node, TemplateError> {
        let pos = pipeline.pos;
        let (then, otherwise) = self.branches().map_err(|e| eof_at(e, pos))?;
        Ok(Node::If {
            pipeline,
            then,
            otherwise,
        })
    }

    fn with_node(&mut self, pipeline: Pipeline) -> Result<Node, TemplateError> {
        let pos = pipeline.pos;
        let (body, otherwise) = self.branches().map_err(|e| eof_at(e, pos))?;
        Ok(Node::With {
            pipeline,
            body,
            otherwise,
        })
    }
}

/// An "unexpected EOF" is reported at the block that was left open.
fn eof_at(e: TemplateError, pos: Pos) -> TemplateError {
    match e {
        TemplateError::Parse { message, line } if message == "unexpected EOF" && line == 0 => {
            parse_error(pos, message)
        }
        other => other,
    }
}

impl Template {
    /// Parses Go template text.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let pieces = split_pieces(source)?;
        let mut parser = Parser {
            pieces: pieces.into_iter(),
            range_depth: 0,
        };
        let (nodes, term, pos) = parser.list()?;
        match term {
            Terminator::Eof => Ok(Template { nodes }),
            Terminator::End => Err(parse_error(pos, "unexpected {{end}}")),
            _ => Err(parse_error(pos, "unexpected {{else}}")),
        }
    }

    /// Runs the template over `data`.
    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        self.run(data, false)
    }

    /// Runs the template over a table's header names: docker's header
    /// functions (`json`, `lower`, `pad`, ...) pass their first argument
    /// through unchanged, and unknown fields print `<no value>`.
    pub fn execute_header(&self, headers: &Value) -> Result<String, TemplateError> {
        self.run(headers, true)
    }

    fn run(&self, data: &Value, header: bool) -> Result<String, TemplateError> {
        let mut exec = Executor {
            root: data,
            vars: vec![("$".to_string(), data.clone())],
            out: String::new(),
            header,
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
    vars: Vec<(String, Value)>,
    out: String,
    header: bool,
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
                // serde_json's map is sorted by key, as Go prints maps.
                for (i, (k, e)) in m.iter().enumerate() {
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

/// Go's `fmt.Sprintf` for the common verbs (`%s %v %d %q %t %%`, with
/// an optional width and `-`).
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
        let text = match verb {
            's' | 'v' => as_str(arg),
            'd' => match as_int(arg) {
                Some(n) if arg.is_number() => n.to_string(),
                _ => format!("%!d({})", as_str(arg)),
            },
            'q' => serde_json::to_string(&Value::String(as_str(arg))).unwrap_or_default(),
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
                        Value::Object(m) => m
                            .iter()
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
                Value::String(serde_json::to_string(&args[0]).unwrap_or_default())
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

/// Checks that every function a template calls exists, at parse time (Go
/// rejects unknown functions when parsing).
fn check_functions(nodes: &[Node]) -> Result<(), TemplateError> {
    const KNOWN: &[&str] = &[
        "json", "lower", "upper", "title", "split", "join", "pad", "truncate", "len", "index",
        "print", "println", "printf", "not", "and", "or", "eq", "ne", "lt", "le", "gt", "ge",
    ];
    fn pipeline(p: &Pipeline) -> Result<(), TemplateError> {
        for cmd in &p.commands {
            for op in &cmd.operands {
                match op {
                    Operand::Function(name) if !KNOWN.contains(&name.as_str()) => {
                        return Err(parse_error(p.pos, format!("function {name:?} not defined")))
                    }
                    Operand::Group(inner, _) => pipeline(inner)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }
    for node in nodes {
        match node {
            Node::Action(p) => pipeline(p)?,
            Node::If {
                pipeline: p,
                then: a,
                otherwise: b,
            }
            | Node::Range {
                pipeline: p,
                body: a,
                otherwise: b,
            }
            | Node::With {
                pipeline: p,
                body: a,
                otherwise: b,
            } => {
                pipeline(p)?;
                check_functions(a)?;
                check_functions(b)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Parses a template the way docker's `templates.Parse` does: unknown
/// functions are parse errors.
pub fn parse(source: &str) -> Result<Template, TemplateError> {
    let t = Template::parse(source)?;
    check_functions(&t.nodes)?;
    Ok(t)
}

/// How a list command prints its rows (docker's `formatter.Format`).
#[derive(Debug, Clone)]
pub enum ListFormat {
    /// `table ...`: a header row, then one row per item, aligned.
    Table(Template),
    /// `json`: each item as one line of JSON.
    Json,
    /// Any other template: one rendering per item, each followed by a newline.
    Raw(Template),
}

impl ListFormat {
    /// Parses `--format` for a list command. An empty format or `table`
    /// alone means `default_table` (the command's own table layout).
    pub fn parse(format: &str, default_table: &str) -> Result<ListFormat, TemplateError> {
        let format = if format.is_empty() || format == "table" {
            default_table
        } else {
            format
        };
        if format == "json" {
            return Ok(ListFormat::Json);
        }
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) => (true, rest),
            None => (false, format),
        };
        // docker/cli formatter `preFormat`: trim spaces, then the
        // two-character sequences `\t` and `\n` become a tab and a newline.
        let body = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let template = parse(&body)?;
        Ok(if table {
            ListFormat::Table(template)
        } else {
            ListFormat::Raw(template)
        })
    }

    /// Renders every row; `headers` maps field names to column titles
    /// (`{"ID": "IMAGE ID", ...}`) for the table header.
    pub fn render(
        &self,
        rows: &[Value],
        headers: &Map<String, Value>,
    ) -> Result<String, TemplateError> {
        match self {
            ListFormat::Json => Ok(rows
                .iter()
                .map(|r| serde_json::to_string(r).unwrap_or_default() + "\n")
                .collect()),
            ListFormat::Raw(t) => {
                let mut out = String::new();
                for r in rows {
                    out.push_str(&t.execute(r)?);
                    out.push('\n');
                }
                Ok(out)
            }
            ListFormat::Table(t) => {
                let mut text = t.execute_header(&Value::Object(headers.clone()))?;
                text.push('\n');
                for r in rows {
                    text.push_str(&t.execute(r)?);
                    text.push('\n');
                }
                // docker/cli: tabwriter.NewWriter(out, 10, 1, 3, ' ', 0).
                Ok(TabWriter::docker().format(&text))
            }
        }
    }
}

/// Header names keyed by field, from `(field, title)` pairs.
pub fn headers(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

/// A row keyed by field name, from `(field, text)` pairs (docker's list
/// contexts give every field as a string, also in `--format json`).
pub fn row(pairs: BTreeMap<&str, String>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
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
    fn parse_errors_are_one_line_like_docker() {
        for bad in [
            "{{.Id",
            "{{if .Id}}x",
            "{{end}}",
            "{{nosuch .Id}}",
            "{{.Id | }}",
            "{{\"x}}",
            "{{else}}",
        ] {
            let e = parse(bad).unwrap_err();
            let s = e.to_string();
            assert!(matches!(e, TemplateError::Parse { .. }), "{bad}: {s}");
            assert!(
                s.starts_with("template parsing error: template: :1: "),
                "{bad}: {s}"
            );
            assert!(!s.contains('\n'), "{s}");
        }
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

    #[test]
    fn list_formats_table_json_and_raw() {
        let headers = headers(&[
            ("Repository", "REPOSITORY"),
            ("ID", "IMAGE ID"),
            ("Size", "SIZE"),
        ]);
        let rows = vec![
            json!({"Repository": "busybox", "ID": "0123456789ab", "Size": "4.26MB"}),
            json!({"Repository": "a", "ID": "ba9876543210", "Size": "1kB"}),
        ];
        let f = ListFormat::parse("table {{.Repository}}\\t{{.ID}}\\t{{.Size}}", "").unwrap();
        assert_eq!(
            f.render(&rows, &headers).unwrap(),
            "REPOSITORY   IMAGE ID       SIZE\n\
             busybox      0123456789ab   4.26MB\n\
             a            ba9876543210   1kB\n"
        );
        // "table" alone is the command's default table.
        let f = ListFormat::parse("table", "table {{.ID}}").unwrap();
        assert_eq!(
            f.render(&rows[..1], &headers).unwrap(),
            "IMAGE ID\n0123456789ab\n"
        );
        // Header functions pass the title through.
        let f = ListFormat::parse("table {{lower .ID}}\\t{{.Nope}}", "").unwrap();
        assert!(f
            .render(&[], &headers)
            .unwrap()
            .starts_with("IMAGE ID   <no value>"));
        let f = ListFormat::parse("{{.Repository}}:{{.Size}}", "").unwrap();
        assert_eq!(
            f.render(&rows, &headers).unwrap(),
            "busybox:4.26MB\na:1kB\n"
        );
        let f = ListFormat::parse("json", "").unwrap();
        assert_eq!(
            f.render(&rows[1..], &headers).unwrap(),
            "{\"ID\":\"ba9876543210\",\"Repository\":\"a\",\"Size\":\"1kB\"}\n"
        );
        assert!(ListFormat::parse("table {{.X", "").is_err());
    }
}
