//! Parsing: template text into nodes. The source is split into text and
//! `{{...}}` actions (trim markers and comments handled there), each action
//! is lexed into tokens and parsed into a pipeline or a block keyword, and
//! blocks (`if`, `range`, `with`) are nested by their `else`/`end`.

use super::TemplateError;
use serde_json::Value;

/// Where a node starts in the template text (1-based line, 0-based column,
/// as Go reports them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) line: usize,
    pub(super) col: usize,
}

/// One argument of a command.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
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
pub(super) struct Command {
    pub(super) operands: Vec<Operand>,
}

/// `$a, $b := cmd | cmd ...`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Pipeline {
    pub(super) declarations: Vec<String>,
    /// `=` (assign to an existing variable) rather than `:=`.
    pub(super) assign: bool,
    pub(super) commands: Vec<Command>,
    /// The action's text, for error messages.
    pub(super) text: String,
    pub(super) pos: Pos,
}

/// A parsed template node.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
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

/// Parses Go template text into nodes.
pub(super) fn parse_nodes(source: &str) -> Result<Vec<Node>, TemplateError> {
    let pieces = split_pieces(source)?;
    let mut parser = Parser {
        pieces: pieces.into_iter(),
        range_depth: 0,
    };
    let (nodes, term, pos) = parser.list()?;
    match term {
        Terminator::Eof => Ok(nodes),
        Terminator::End => Err(parse_error(pos, "unexpected {{end}}")),
        _ => Err(parse_error(pos, "unexpected {{else}}")),
    }
}

/// Checks that every function a template calls exists, at parse time (Go
/// rejects unknown functions when parsing).
pub(super) fn check_functions(nodes: &[Node]) -> Result<(), TemplateError> {
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
