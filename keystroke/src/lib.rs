//! Rebuilds the command line a shell will run from the raw keystrokes of a PTY session, so an
//! approval proxy can hold each submit until a human decides.
//!
//! Layout, bottom up:
//! - [`key`]: the [`KeyEvent`] vocabulary shared by the two layers below.
//! - [`tokenizer`] (with the private `utf8` decoder and `sequence` tables): bytes to key
//!   events, one byte at a time, so packet boundaries can never change the result.
//! - [`line_model`] (with the private `line_buffer`): GNU readline's default emacs semantics
//!   applied to key events, with a flag that drops to "uncertain" for anything not modelled.
//! - [`reconstructor`]: the seam the gate uses. It owns the safety invariant that every CR, LF
//!   and Ctrl+O byte is a submit unless it is text inside a bracketed paste.
//! - [`shell_syntax`]: beside the layers, not on them: whether the text a shell has read for one
//!   command makes it run at the next newline or keep reading (`mark DE\` then `NY`).
//! - [`history_expansion`]: beside the layers, not on them: what bash's history expansion
//!   (`!!NY`, `^DE^XX`) turns a submitted line into, rebuilt from the lines the proxy forwarded.

pub mod history_expansion;
pub mod key;
pub mod line_model;
pub mod reconstructor;
pub mod shell_syntax;
pub mod tokenizer;

mod line_buffer;
mod sequence;
mod utf8;

pub use history_expansion::{expand, expand_from, Expansion, LineStart};
pub use key::{KeyEvent, Modifiers, NamedKey, NotKey};
pub use line_model::LineModel;
pub use reconstructor::{ByteAction, Reconstructor, Submit, SubmitKey};
pub use shell_syntax::{as_read, command_starts, open_construct, CommandStarts, Open};
pub use tokenizer::Tokenizer;
