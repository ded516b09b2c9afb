//! The documentation as a newcomer uses it: README.md's "three binaries together" blocks run
//! as they stand (a fresh, empty home folder, the binaries of this build in `target/release`
//! of a scratch folder, no network), and every binary's shell completions and man page.
//!
//! The README's blocks are read from the file, not copied here, so a block that stops working
//! as pasted fails this test. Only two things are changed: the `cargo build` line is left out
//! (the binaries are built already) and the three fixed ports are replaced by free ones, so
//! that runs at once on one machine do not collide.

mod completions;
mod readme;
