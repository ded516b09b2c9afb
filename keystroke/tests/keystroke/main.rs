//! Integration tests for the keystroke reconstructor, through its public API only.
//! `support` holds the key notation and the replay helpers every module uses.

mod bypass;
mod editing;
mod history_expansion;
mod invariant;
mod shell_syntax;
mod submit_keys;
mod support;
mod utf8;
