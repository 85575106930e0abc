//! The Dockerfile frontend (crate doc written below).

pub mod env;
pub mod lexer;
pub mod shell_pattern;
