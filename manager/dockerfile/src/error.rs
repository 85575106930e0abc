//! What is wrong with a Dockerfile as written, found while parsing it, before
//! anything is built: always tied to the line where the instruction starts,
//! shown as docker 20.10 shows it (`dockerfile parse error line 3: unknown
//! instruction: FOO`). The messages after the prefix are BuildKit's.
//!
//! Errors found later, while a stage is evaluated (a `${V:?}` that fails, an
//! unknown `--target`), are in [`crate::eval`] and [`crate::stages`].

use crate::lexer::ExpandError;
use crate::mount::MountError;

/// A syntax error at a line of the Dockerfile (1-based: the first line of the
/// instruction).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error line {line}: {kind}")]
pub struct SyntaxError {
    /// The line the instruction starts on.
    pub line: usize,
    /// What is wrong.
    pub kind: SyntaxErrorKind,
}

/// The kinds of syntax error, one variant per rule of the parser and of the
/// instruction model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxErrorKind {
    /// The Dockerfile's bytes are not UTF-8.
    #[error("the Dockerfile is not valid UTF-8")]
    NotUtf8,
    /// Nothing but comments and blank lines.
    #[error("file with no instructions")]
    NoInstructions,
    /// A parser directive given twice.
    #[error("only one {0} parser directive can be used")]
    DuplicateDirective(String),
    /// `# escape=` with something else than a backslash or a backtick.
    #[error("invalid escape token '{0}' does not match ` or \\")]
    InvalidEscape(String),
    /// A JSON array with something else than strings.
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    NotStringArray,
    /// `ENV key` without a value (the legacy `ENV key value` form).
    #[error("{0} must have two arguments")]
    TwoArguments(&'static str),
    /// `ENV a=1 b`: a word without `=` in the `key=value` form.
    #[error("Syntax error - can't find = in {}. Must be of the form: name=value", go_quote(.0))]
    MissingEquals(String),
    /// A heredoc whose terminator never comes.
    #[error("unterminated heredoc")]
    UnterminatedHeredoc,
    /// A heredoc word that does not lex.
    #[error(transparent)]
    HeredocWord(ExpandError),
    /// The two lexings of a heredoc word disagree.
    #[error("internal lexing of heredoc produced inconsistent results: {0}")]
    InconsistentHeredoc(String),
    /// Not an instruction of the Dockerfile language.
    #[error("unknown instruction: {0}")]
    UnknownInstruction(String),
    /// An instruction before the first FROM (other than ARG).
    #[error("no build stage in current context")]
    NoStage,
    /// A flag the instruction does not have.
    #[error("unknown flag: {0}")]
    UnknownFlag(String),
    /// A flag given twice.
    #[error("duplicate flag specified: {0}")]
    DuplicateFlag(String),
    /// `--chown` without `=value`, or `--link=`.
    #[error("missing a value on flag: {0}")]
    FlagMissingValue(String),
    /// `--link=maybe`.
    #[error("expecting boolean value for flag {flag}, not: {value}")]
    FlagNotBool {
        /// The flag as written (`--link`).
        flag: String,
        /// The value given.
        value: String,
    },
    /// A flag word that does not start with `--`.
    #[error("arg should start with -- : {0}")]
    FlagNotDashed(String),
    /// `EXPOSE` alone.
    #[error("{0} requires at least one argument")]
    AtLeastOneArgument(&'static str),
    /// `USER a b`.
    #[error("{0} requires exactly one argument")]
    ExactlyOneArgument(&'static str),
    /// `COPY src` alone.
    #[error("{0} requires at least two arguments, but only one was provided. Destination could not be determined")]
    NoDestination(&'static str),
    /// `COPY a <<EOF`.
    #[error("{command} cannot accept a heredoc as {what}")]
    BadHeredoc {
        /// The instruction.
        command: &'static str,
        /// What the heredoc stood for.
        what: &'static str,
    },
    /// `ENV =x`.
    #[error("{0} names can not be blank")]
    BlankNames(&'static str),
    /// `LABEL a b c` parsed into a non-multiple of key, value, separator.
    #[error("Bad input to {0}, too many arguments")]
    TooManyArguments(&'static str),
    /// `FROM a b`.
    #[error("FROM requires either one or three arguments")]
    FromArguments,
    /// `FROM x AS 1st`.
    #[error("invalid name for build stage: {}, name can't start with a number or contain symbols", go_quote(.0))]
    InvalidStageName(String),
    /// `ONBUILD ONBUILD ...`.
    #[error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChain,
    /// `ONBUILD FROM` / `ONBUILD MAINTAINER`.
    #[error("{0} isn't allowed as an ONBUILD trigger")]
    OnbuildTrigger(String),
    /// `HEALTHCHECK NONE x`.
    #[error("HEALTHCHECK NONE takes no arguments")]
    HealthcheckNoneArguments,
    /// `HEALTHCHECK CMD` alone.
    #[error("Missing command after HEALTHCHECK CMD")]
    HealthcheckMissingCommand,
    /// `HEALTHCHECK FOO`.
    #[error("Unknown type {} in HEALTHCHECK (try CMD)", go_quote(.0))]
    HealthcheckType(String),
    /// A duration that does not parse (`--interval=5x`): Go's message.
    #[error("{0}")]
    InvalidDuration(String),
    /// A duration below a millisecond.
    #[error("Interval {} cannot be less than 1ms", go_quote(.0))]
    IntervalTooShort(String),
    /// `--retries=x`.
    #[error("strconv.ParseInt: parsing {}: invalid syntax", go_quote(.0))]
    InvalidRetries(String),
    /// `--retries=-1`.
    #[error("--retries cannot be negative ({0})")]
    NegativeRetries(i64),
    /// `VOLUME ""`.
    #[error("VOLUME specified can not be an empty string")]
    EmptyVolume,
    /// `SHELL /bin/sh -c`.
    #[error("{0} requires the arguments to be in JSON form")]
    NotJson(&'static str),
    /// `RUN --network=bridge`.
    #[error("invalid network mode {}", go_quote(.0))]
    InvalidNetwork(String),
    /// A `--mount` that is wrong already before expansion.
    #[error(transparent)]
    Mount(#[from] MountError),
}

/// Go's `%q` for the strings these messages quote: double quotes, with `"`
/// and `\` escaped and control characters as escapes.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
