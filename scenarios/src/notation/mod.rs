//! The key notation scenarios are written in: readable text such as `echo hi<Left><C-w><Enter>`
//! that stands for the exact bytes a terminal would send. [`parse`] turns notation into bytes and
//! [`render`] turns any bytes back into notation. Invariant: `parse(&render(bytes)) == Ok(bytes)`
//! for every byte string, so a captured input stream can be pasted into a scenario and replays
//! byte for byte; `render` only writes a `<Name>` for a sequence after checking that parsing the
//! name gives back exactly those bytes.

mod keys;
mod parse;
mod render;

pub use render::render;

/// The escape byte that starts every sequence.
pub(crate) const ESC: u8 = 0x1b;

/// Where and why a piece of notation could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct NotationError {
    /// 1-based line of the character where the problem starts.
    pub line: usize,
    /// 1-based column of that character, counted in chars rather than bytes.
    pub column: usize,
    pub message: String,
}

/// Turn notation into the bytes a terminal would send.
pub fn parse(text: &str) -> Result<Vec<u8>, NotationError> {
    parse::Parser::new(text).run()
}
