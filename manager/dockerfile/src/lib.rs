//! The Dockerfile frontend (crate doc written below).

pub mod directives;
pub mod env;
pub mod error;
pub mod lexer;
pub mod mount;
pub mod parser;
pub mod shell_pattern;
