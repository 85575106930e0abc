//! From the Dockerfile's text to a list of [`Node`]s, one per instruction, as
//! BuildKit's `frontend/dockerfile/parser` does it:
//!
//! * lines end at `\n` (a `\r` before it is dropped); a UTF-8 byte-order mark
//!   on the first line is dropped; parser directives are read first
//!   ([`crate::directives`]);
//! * a line ending in the escape token (spaces after it allowed, an escaped
//!   escape token excepted) continues on the next; comment lines inside a
//!   continuation are skipped, empty ones too (BuildKit warns about those:
//!   [`Ast::warnings`]); the first line of an instruction loses its leading
//!   whitespace, continuation lines keep theirs;
//! * the first word is the instruction, then the `--flags` (quotes and the
//!   escape token processed), then the arguments, split by the instruction's
//!   rule: JSON array or shell form for RUN/CMD/ENTRYPOINT/SHELL, JSON or
//!   whitespace-separated for ADD/COPY/VOLUME, `key=value` words (or the
//!   legacy `key value`) for ENV/LABEL, words for ARG, whitespace-separated
//!   for FROM/EXPOSE, the rest of the line for the others; ONBUILD parses its
//!   trigger as an instruction of its own;
//! * RUN, COPY and ADD (also as an ONBUILD trigger) in shell form may have
//!   heredocs: each `<<WORD` (`<<-WORD` strips leading tabs, a quoted word
//!   turns expansion of the body off, `3<<EOF` names a descriptor) takes the
//!   following lines up to the line that is exactly `WORD`, in order.
//!
//! An unknown instruction is parsed (no arguments) and refused by the
//! instruction model, with its line.

use crate::directives::{DirectiveParser, Directives};
use crate::env::NoEnv;
use crate::error::{SyntaxError, SyntaxErrorKind};
use crate::lexer::Lexer;

/// One instruction as written, before it is typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// The instruction word as written (`RUN`, `run`).
    pub instruction: String,
    /// The `--flags` before the arguments, quotes and escapes processed.
    pub flags: Vec<String>,
    /// The arguments, split by the instruction's rule (see the module doc).
    /// ENV and LABEL give triples: key, value, then `=` or `` (legacy form).
    /// ONBUILD gives its trigger's instruction then the trigger's arguments.
    pub args: Vec<String>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// ONBUILD's trigger.
    pub trigger: Option<Box<Node>>,
    /// The heredocs the instruction takes, in order.
    pub heredocs: Vec<Heredoc>,
    /// The instruction's text, continuations joined.
    pub original: String,
    /// First line (1-based).
    pub start_line: usize,
    /// Last line, heredoc bodies included.
    pub end_line: usize,
    /// The comment lines right above the instruction.
    pub comments: Vec<String>,
}

/// A heredoc attached to an instruction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heredoc {
    /// The terminator word, quotes removed.
    pub name: String,
    /// The descriptor of `3<<EOF` (0 when none is written).
    pub fd: u32,
    /// Whether `$` in the body expands: not when any part of the word was
    /// quoted (`<<'EOF'`, `<<"EOF"`, `<<E"O"F`).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body's lines (and the
    /// terminator line may be indented with tabs).
    pub chomp: bool,
    /// The body, each line with its newline.
    pub content: String,
}

impl Heredoc {
    /// The body as the instruction uses it: with leading tabs removed from
    /// each line when `chomp`.
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|line| line.trim_start_matches('\t'))
            .collect()
    }
}

/// A warning BuildKit prints and builds anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The line it is about.
    pub line: usize,
    /// What to show.
    pub message: String,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ast {
    /// The instructions in order.
    pub nodes: Vec<Node>,
    /// The escape token in force (`\` unless `# escape=` said otherwise).
    pub escape: char,
    /// The parser directives found.
    pub directives: Directives,
    /// Empty continuation lines (BuildKit: "will become errors").
    pub warnings: Vec<Warning>,
}

/// Parses a Dockerfile's bytes.
pub fn parse(source: &[u8]) -> Result<Ast, SyntaxError> {
    let text = std::str::from_utf8(source).map_err(|_| SyntaxError {
        line: 1,
        kind: SyntaxErrorKind::NotUtf8,
    })?;
    Parser::new(text).run()
}

struct Parser<'a> {
    lines: Vec<&'a str>,
    next: usize,
    escape: char,
    directives: DirectiveParser,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Self {
            lines: text.split_inclusive('\n').collect(),
            next: 0,
            escape: '\\',
            directives: DirectiveParser::default(),
        }
    }

    fn next_line(&mut self) -> Option<&'a str> {
        let line = self.lines.get(self.next).copied();
        if line.is_some() {
            self.next += 1;
        }
        line
    }

    /// Trims the newline, checks for a directive, drops a comment line to
    /// nothing. Returns the line and whether it was a directive.
    fn process_line(
        &mut self,
        raw: &'a str,
        strip_left: bool,
        line_no: usize,
    ) -> Result<(&'a str, bool), SyntaxError> {
        let mut token = trim_newline(raw);
        if strip_left {
            token = token.trim_start();
        }
        let directive = self
            .directives
            .parse_line(token)
            .map_err(|kind| SyntaxError {
                line: line_no,
                kind,
            })?;
        if directive {
            if let Some(esc) = &self.directives.found.escape {
                self.escape = esc.chars().next().unwrap_or('\\');
            }
        }
        Ok((if is_comment(token) { "" } else { token }, directive))
    }

    fn run(mut self) -> Result<Ast, SyntaxError> {
        let mut nodes = Vec::new();
        let mut warnings = Vec::new();
        let mut comments: Vec<String> = Vec::new();
        let mut current_line = 0;
        while let Some(raw) = self.next_line() {
            if is_comment(raw) {
                // BuildKit takes the comment text after the line's first byte.
                let comment = raw[1..].trim();
                if comment.is_empty() {
                    comments.clear();
                } else {
                    comments.push(comment.to_string());
                }
            }
            let (line, directive) = self.process_line(raw, true, current_line + 1)?;
            if directive {
                comments.pop();
            }
            current_line += 1;
            let start_line = current_line;
            let (line, mut end) = self.trim_continuation(line);
            if end && line.is_empty() {
                continue;
            }
            let mut buf = line.to_string();
            let mut empty_continuation = false;
            while !end {
                let Some(raw) = self.next_line() else { break };
                let (line, _) = self.process_line(raw, false, current_line + 1)?;
                current_line += 1;
                if is_comment(raw) {
                    continue;
                }
                if line.trim_start().is_empty() {
                    empty_continuation = true;
                    continue;
                }
                let (line, e) = self.trim_continuation(line);
                end = e;
                buf.push_str(line);
            }
            if empty_continuation {
                warnings.push(Warning {
                    line: current_line,
                    message: format!("Empty continuation line found in: {buf}"),
                });
            }
            let at = |kind| SyntaxError {
                line: start_line,
                kind,
            };
            let mut node =
                node_from_line(&buf, self.escape, std::mem::take(&mut comments)).map_err(at)?;
            if can_contain_heredoc(&node) && buf.contains("<<") {
                let mut heredocs = heredocs_from_line(&buf).map_err(at)?;
                for heredoc in &mut heredocs {
                    let mut terminated = false;
                    let mut content = String::new();
                    while let Some(raw) = self.next_line() {
                        current_line += 1;
                        let mut candidate = trim_newline(raw);
                        if heredoc.chomp {
                            candidate = candidate.trim_start_matches('\t');
                        }
                        if candidate == heredoc.name {
                            terminated = true;
                            break;
                        }
                        content.push_str(raw);
                    }
                    if !terminated {
                        return Err(at(SyntaxErrorKind::UnterminatedHeredoc));
                    }
                    heredoc.content = content;
                }
                node.heredocs = heredocs;
            }
            node.start_line = start_line;
            node.end_line = current_line;
            nodes.push(node);
        }
        if nodes.is_empty() {
            return Err(SyntaxError {
                line: current_line.max(1),
                kind: SyntaxErrorKind::NoInstructions,
            });
        }
        Ok(Ast {
            nodes,
            escape: self.escape,
            directives: self.directives.found,
            warnings,
        })
    }

    /// A line ending in the escape token (spaces and tabs after it allowed)
    /// continues, unless the token is itself escaped; the token and what
    /// follows it are dropped. Returns the line and whether it ends the
    /// instruction.
    fn trim_continuation(&self, line: &'a str) -> (&'a str, bool) {
        let body = line.trim_end_matches([' ', '\t']);
        let Some(before) = body.strip_suffix(self.escape) else {
            return (line, true);
        };
        if before.ends_with(self.escape) {
            return (line, true);
        }
        (before, false)
    }
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// BuildKit's whitespace for splitting instructions: `[\t\v\f\r ]+`.
fn is_split_space(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits at the first run of split-whitespace.
fn split_once_space(s: &str) -> Option<(&str, &str)> {
    let start = s.find(is_split_space)?;
    let rest = &s[start..];
    let end = rest.find(|c| !is_split_space(c)).unwrap_or(rest.len());
    Some((&s[..start], &rest[end..]))
}

fn node_from_line(
    line: &str,
    escape: char,
    comments: Vec<String>,
) -> Result<Node, SyntaxErrorKind> {
    let trimmed = line.trim();
    let (cmd, args, flags) = match split_once_space(trimmed) {
        Some((cmd, rest)) => {
            let (args, flags) = extract_builder_flags(rest, escape);
            (cmd, args, flags)
        }
        None => (trimmed, String::new(), Vec::new()),
    };
    let args = args.trim();
    let mut node = Node {
        instruction: cmd.to_string(),
        flags,
        original: line.to_string(),
        comments,
        ..Node::default()
    };
    match cmd.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => {
            (node.args, node.json) = maybe_json_to_list(args)?;
        }
        "cmd" | "entrypoint" | "run" | "shell" => {
            (node.args, node.json) = maybe_json(args)?;
        }
        "arg" => node.args = parse_words(args, escape),
        "env" => node.args = name_values(args, "ENV", escape)?,
        "label" => node.args = name_values(args, "LABEL", escape)?,
        "expose" | "from" => node.args = whitespace_delimited(args),
        "maintainer" | "stopsignal" | "user" | "workdir" if !args.is_empty() => {
            node.args = vec![args.to_string()];
        }
        "healthcheck" => (node.args, node.json) = health_config(args)?,
        "onbuild" if !args.is_empty() => {
            let trigger = node_from_line(args, escape, Vec::new())?;
            node.args.push(trigger.instruction.clone());
            node.args.extend(trigger.args.iter().cloned());
            node.trigger = Some(Box::new(trigger));
        }
        // Unknown instructions keep no arguments; the instruction model refuses them.
        _ => {}
    }
    Ok(node)
}

/// The `--flag` words at the start of the arguments (quotes and the escape
/// token processed) and the rest of the line. `--` alone ends the flags.
fn extract_builder_flags(line: &str, escape: char) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        let Some(&(offset, ch)) = chars.get(i) else {
            if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            return (String::new(), words);
        };
        match phase {
            Phase::Spaces => {
                if ch.is_whitespace() {
                    i += 1;
                    continue;
                }
                if ch != '-' || chars.get(i + 1).map(|c| c.1) != Some('-') {
                    return (line[offset..].to_string(), words);
                }
                phase = Phase::Word;
                continue;
            }
            Phase::Word => {
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (line[offset..].to_string(), words);
                    }
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                    i += 1;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                    i += 1;
                    continue;
                }
                if ch == escape {
                    if i + 1 == chars.len() {
                        i += 1;
                        continue;
                    }
                    i += 1;
                    word.push(chars[i].1);
                    i += 1;
                    continue;
                }
                word.push(ch);
                i += 1;
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                    i += 1;
                    continue;
                }
                if ch == escape {
                    if i + 1 == chars.len() {
                        phase = Phase::Word;
                        i += 1;
                        continue;
                    }
                    i += 1;
                    word.push(chars[i].1);
                    i += 1;
                    continue;
                }
                word.push(ch);
                i += 1;
            }
        }
    }
}

/// Words separated by whitespace, quotes and escapes kept in the words (they
/// are processed when the word is expanded): ARG, and ENV/LABEL's pairs.
fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut blank_ok = false;
    let mut i = 0;
    while i <= chars.len() {
        let at_end = i == chars.len();
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if chars[i].is_whitespace() {
                i += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        let ch = chars[i];
        match phase {
            Phase::Word => {
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    i += 1;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                }
                if ch == escape {
                    if i + 1 == chars.len() {
                        // An escape token at the end of the line is dropped.
                        i += 1;
                        continue;
                    }
                    // Unquoted, the escape and the next character stay
                    // together, even a quote.
                    word.push(ch);
                    i += 1;
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
                word.push(ch);
                i += 1;
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                }
                // Inside single quotes nothing is escaped.
                if ch == escape && q != '\'' {
                    if i + 1 == chars.len() {
                        phase = Phase::Word;
                        i += 1;
                        continue;
                    }
                    word.push(ch);
                    i += 1;
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
                word.push(ch);
                i += 1;
            }
            Phase::Spaces => unreachable!("handled above"),
        }
    }
    words
}

/// ENV and LABEL: `key=value ...` (each word must have `=`) or the legacy
/// `key value with spaces`, as triples key, value, separator.
fn name_values(
    rest: &str,
    instruction: &'static str,
    escape: char,
) -> Result<Vec<String>, SyntaxErrorKind> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let Some((key, value)) = split_once_space(rest) else {
            return Err(SyntaxErrorKind::TwoArguments(instruction));
        };
        return Ok(vec![key.to_string(), value.to_string(), String::new()]);
    }
    let mut out = Vec::with_capacity(words.len() * 3);
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(SyntaxErrorKind::MissingEquals(word));
        };
        out.extend([key.to_string(), value.to_string(), "=".to_string()]);
    }
    Ok(out)
}

fn whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    rest.split(is_split_space)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

enum JsonForm {
    Array(Vec<String>),
    NotArray,
}

/// A JSON array of strings; anything that is not a JSON array is shell form,
/// but an array with a non-string in it is an error.
fn parse_json(rest: &str) -> Result<JsonForm, SyntaxErrorKind> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(JsonForm::NotArray);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(JsonForm::NotArray);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(SyntaxErrorKind::NotStringArray),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(JsonForm::Array)
}

fn maybe_json(rest: &str) -> Result<(Vec<String>, bool), SyntaxErrorKind> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    Ok(match parse_json(rest)? {
        JsonForm::Array(v) => (v, true),
        JsonForm::NotArray => (vec![rest.to_string()], false),
    })
}

fn maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), SyntaxErrorKind> {
    Ok(match parse_json(rest)? {
        JsonForm::Array(v) => (v, true),
        JsonForm::NotArray => (whitespace_delimited(rest), false),
    })
}

/// HEALTHCHECK: the type word, then CMD's arguments in either form.
fn health_config(rest: &str) -> Result<(Vec<String>, bool), SyntaxErrorKind> {
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if sep == 0 {
        return Ok((Vec::new(), false));
    }
    let (mut args, json) = maybe_json(rest[sep..].trim_start())?;
    args.insert(0, rest[..sep].to_string());
    Ok((args, json))
}

fn can_contain_heredoc(node: &Node) -> bool {
    let node = match (
        &node.trigger,
        node.instruction.eq_ignore_ascii_case("onbuild"),
    ) {
        (Some(trigger), true) => trigger,
        _ => node,
    };
    matches!(
        node.instruction.to_ascii_lowercase().as_str(),
        "add" | "copy" | "run"
    ) && !node.json
}

/// The heredocs a line opens, in order. The line is lexed with quotes and
/// escapes kept so that each `<<WORD` stays one word; a line that does not
/// lex opens none.
fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, SyntaxErrorKind> {
    let mut lex = Lexer::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    let words = lex.process_words(line, &NoEnv).unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Whether `word` is a heredoc opener (`<<EOF`, `<<-EOF`, `2<<"EOF"`) and
/// which: BuildKit's `^(\d*)<<(-?)\s*([^<]*)$`, where the word after `<<` must
/// lex to exactly one word.
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, SyntaxErrorKind> {
    let digits_end = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    let Some(rest) = word[digits_end..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\x0c', '\r']);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let fd = word[..digits_end].parse().unwrap_or(0);
    let mut lex = Lexer::new('\\');
    lex.skip_unset_env = true;
    let words = lex
        .process_words(rest, &NoEnv)
        .map_err(SyntaxErrorKind::HeredocWord)?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex
        .process_words(rest, &NoEnv)
        .map_err(SyntaxErrorKind::HeredocWord)?;
    if raw.len() != words.len() {
        return Err(SyntaxErrorKind::InconsistentHeredoc(rest.to_string()));
    }
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    Ok(Some(Heredoc {
        expand: quotes(&words[0]) == quotes(&raw[0]),
        name: words[0].clone(),
        fd,
        chomp,
        content: String::new(),
    }))
}

#[cfg(test)]
mod tests;
