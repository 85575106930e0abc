//! The Dockerfile frontend (crate doc written below).

pub mod directives;
pub mod dockerignore;
pub mod env;
pub mod error;
pub mod eval;
mod flags;
pub mod instruction;
pub mod lexer;
pub mod mount;
pub mod parser;
pub mod shell_pattern;
pub mod stages;
