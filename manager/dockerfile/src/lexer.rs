//! Shell-word processing as BuildKit's `frontend/dockerfile/shell` lexer: the
//! one place where quotes, escapes and `$` expansions of a Dockerfile word are
//! decided.
//!
//! * Quotes: `'...'` is literal (no escape inside), `"..."` expands `$` and
//!   lets the escape token escape only `"`, `$` and itself; outside quotes the
//!   escape token escapes any character and is dropped at the end of a word.
//! * Expansions: `$V`, `${V}`, `${V:-w}` `${V-w}` (default), `${V:+w}` `${V+w}`
//!   (alternative), `${V:?m}` `${V?m}` (error when unset or empty), and
//!   BuildKit's `${V#p}` `${V##p}` `${V%p}` `${V%%p}` `${V/p/r}` `${V//p/r}`
//!   ([`shell_pattern`]). `$1`... and the special
//!   parameters (`$@ $* $# $? $- $$ $! $0`) are never set in a Dockerfile.
//!   Anything else after `${V` (`${V:=x}`, `${V:#}`) is an error, as
//!   `${}`, `${:}` and an unterminated `${`.
//! * Words: [`Lexer::process_words`] splits on whitespace after expansion;
//!   a quoted part or an escaped space never splits, the value of an unquoted
//!   `$V` does.
//!
//! The switches are BuildKit's: `raw_quotes` keeps the quote characters,
//! `raw_escapes` keeps the escape characters, `skip_unset_env` leaves an unset
//! reference as written (`$V`, `${V:-x}`), `skip_process_quotes` treats quotes
//! as ordinary characters (heredoc bodies of `COPY <<EOF`).

use std::collections::BTreeSet;

use crate::env::Lookup;
use crate::shell_pattern::{self, PatternError};

/// What went wrong in one word; shown as BuildKit shows it:
/// `failed to process "${V:?}": V: is not allowed to be unset`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {}: {kind}", crate::error::go_quote(word))]
pub struct ExpandError {
    /// The word as given.
    pub word: String,
    /// What is wrong with it.
    pub kind: ExpandErrorKind,
}

/// The ways a word fails to expand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandErrorKind {
    /// `${` without its `}`.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${V/p` without the `/` that ends the pattern.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${}`, `${:}`, `${{V}`.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// `${V:=x}`, `${V:#p}`...: the modifier as written.
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${V?msg}` / `${V:?msg}` on an unset (or empty) variable.
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The word after `?`, or docker's default message.
        message: String,
    },
    /// A quote that is never closed.
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(&'static str),
    /// A `#`, `%` or `/` pattern that does not translate.
    #[error(transparent)]
    Pattern(#[from] PatternError),
}

/// A lexer configured with the escape token of the Dockerfile (`\` or the
/// backtick of `# escape=``) and BuildKit's switches (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    /// The escape character.
    pub escape: char,
    /// Keep quote characters in the result.
    pub raw_quotes: bool,
    /// Keep escape characters in the result.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset_env: bool,
}

/// The result of processing one word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The word with quotes and escapes processed and variables expanded,
    /// spaces kept.
    pub word: String,
    /// The same, split into shell words.
    pub words: Vec<String>,
    /// The variables that were referenced and set (the cache key of a step
    /// depends on these, and on nothing else of the build args).
    pub matched: BTreeSet<String>,
    /// The variables that were referenced and unset.
    pub unmatched: BTreeSet<String>,
}

impl Lexer {
    /// A lexer with the given escape token and every switch off.
    pub fn new(escape: char) -> Self {
        Self {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// Processes `word` as one word (spaces kept), with the variables it used.
    pub fn process(&self, word: &str, env: &dyn Lookup) -> Result<Expansion, ExpandError> {
        let mut state = WordState {
            lex: *self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        };
        let (result, words) = state
            .process_stop_on(None, self.raw_escapes)
            .map_err(|kind| ExpandError {
                word: word.to_string(),
                kind,
            })?;
        Ok(Expansion {
            word: result,
            words,
            matched: state.matched,
            unmatched: state.unmatched,
        })
    }

    /// Processes `word` as one word (BuildKit's `ProcessWord`).
    pub fn process_word(&self, word: &str, env: &dyn Lookup) -> Result<String, ExpandError> {
        Ok(self.process(word, env)?.word)
    }

    /// Processes `word` and splits the result into shell words (BuildKit's
    /// `ProcessWords`).
    pub fn process_words(&self, word: &str, env: &dyn Lookup) -> Result<Vec<String>, ExpandError> {
        Ok(self.process(word, env)?.words)
    }
}

/// Collects shell words while a word is processed: unquoted whitespace ends a
/// word, a quoted or escaped character never does.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }

    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(std::mem::take(&mut self.buf));
        }
        self.words
    }
}

struct WordState<'a> {
    lex: Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Lookup,
    raw_escapes: bool,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

type Step<T> = Result<T, ExpandErrorKind>;

impl WordState<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    /// Processes up to `stop` (consumed) or the end of input; `raw_escapes`
    /// applies while this part is processed (patterns keep their escapes).
    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Step<(String, Vec<String>)> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let result = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn process_stop_on_inner(&mut self, stop: Option<char>) -> Step<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                    words.add_string(&value);
                }
                '<' => {
                    let value = self.process_possible_heredoc();
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                '\'' if !self.lex.skip_process_quotes => {
                    let value = self.process_single_quote()?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                '"' if !self.lex.skip_process_quotes => {
                    let value = self.process_double_quote()?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                _ => {
                    self.next();
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        // The escape escapes anything, and is dropped at the end.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(ExpandErrorKind::Unterminated(match stop {
                '}' => "}",
                '/' => "/",
                _ => "character",
            }));
        }
        Ok((result, words.finish()))
    }

    fn process_single_quote(&mut self) -> Step<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => return Err(ExpandErrorKind::Unterminated("single-quote")),
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(ch) => result.push(ch),
            }
        }
    }

    fn process_double_quote(&mut self) -> Step<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err(ExpandErrorKind::Unterminated("double-quote")),
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or_default();
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // An escape at the end: the quote is unterminated.
                            None => continue,
                            // Only these can be escaped inside double quotes.
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                self.next();
                                ch = c;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.next();
        // A heredoc may have whitespace between << and its word.
        let mut result = "<<".to_string();
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            result.push(c);
            self.next();
        }
        result
    }

    fn process_dollar(&mut self) -> Step<String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.get_env(&name) {
                Some(value) => value,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err(ExpandErrorKind::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandErrorKind::BadSubstitution),
            Some(_) => {}
        }
        let name = self.process_name();
        // BuildKit reports an unterminated `${V` as an unsupported modifier
        // named by U+FFFD; the missing brace says what is wrong.
        let Some(mut ch) = self.next() else {
            return Err(ExpandErrorKind::MissingBrace);
        };
        let mut modifier = ch.to_string();
        let mut null_is_unset = false;
        match ch {
            '}' => Ok(match self.get_env(&name) {
                Some(value) => value,
                None if self.lex.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                if ch == ':' {
                    null_is_unset = true;
                    ch = self.next().unwrap_or('\u{FFFD}');
                    modifier.push(ch);
                }
                let pattern_like = ch == '#' || ch == '%';
                if null_is_unset && pattern_like {
                    return Err(ExpandErrorKind::UnsupportedModifier(modifier));
                }
                let word = match self.process_stop_on(Some('}'), pattern_like) {
                    Ok((word, _)) => word,
                    Err(_) if self.peek().is_none() => return Err(ExpandErrorKind::MissingBrace),
                    Err(e) => return Err(e),
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{modifier}{word}}}"));
                }
                let unset_or_null = match &value {
                    None => true,
                    Some(v) => null_is_unset && v.is_empty(),
                };
                match ch {
                    '-' => Ok(if unset_or_null {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    '+' => Ok(if unset_or_null { String::new() } else { word }),
                    '?' => match value {
                        None => Err(ExpandErrorKind::Required {
                            name,
                            message: if word.is_empty() {
                                "is not allowed to be unset".to_string()
                            } else {
                                word
                            },
                        }),
                        Some(v) if null_is_unset && v.is_empty() => {
                            Err(ExpandErrorKind::Required {
                                name,
                                message: if word.is_empty() {
                                    "is not allowed to be empty".to_string()
                                } else {
                                    word
                                },
                            })
                        }
                        Some(v) => Ok(v),
                    },
                    '#' | '%' => {
                        let value = value.unwrap_or_default();
                        let (greedy, pattern) = match word.strip_prefix(ch) {
                            Some(rest) => (true, rest),
                            None => (false, word.as_str()),
                        };
                        Ok(if ch == '%' {
                            shell_pattern::trim_suffix(pattern, &value, greedy)?
                        } else {
                            shell_pattern::trim_prefix(pattern, &value, greedy)?
                        })
                    }
                    _ => Err(ExpandErrorKind::UnsupportedModifier(modifier)),
                }
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((p, _)) => p,
                    Err(_) if self.peek().is_none() => return Err(ExpandErrorKind::MissingSlash),
                    Err(e) => return Err(e),
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((r, _)) => r,
                    Err(_) if self.peek().is_none() => return Err(ExpandErrorKind::MissingBrace),
                    Err(e) => return Err(e),
                };
                let Some(value) = self.get_env(&name) else {
                    if self.lex.skip_unset_env {
                        return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                    }
                    return Ok(shell_pattern::replace(&pattern, "", &replacement, all)?);
                };
                Ok(shell_pattern::replace(&pattern, &value, &replacement, all)?)
            }
            _ => Err(ExpandErrorKind::UnsupportedModifier(modifier)),
        }
    }

    /// A variable name: letters, digits and `_`; or all the digits of a
    /// positional parameter; or one special parameter character.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(d) = self.peek().filter(|c| c.is_numeric()) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphabetic() && !ch.is_numeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        match self.env.lookup(name) {
            Some(v) => {
                self.matched.insert(name.to_string());
                Some(v.to_string())
            }
            None => {
                self.unmatched.insert(name.to_string());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
