//! Shared support for the end-to-end tests: an operator client, the two control proxies
//! (pass-through and naive, also built as the `passthrough-proxy` and `naive-proxy` binaries
//! for the conformance runner's `--launch`), a helper that starts target, approver and proxy
//! together in-process, one that starts the built binaries as processes, incompressible test
//! streams, and the skip rule of
//! the tests that need a real target (OpenSSH's sshd with a shell behind it, the
//! `real-target` crate).
//!
//! The tests themselves live in `tests/tests/`; this library is test code only.

pub mod launch_lines;
pub mod launchers;
pub mod naive;
pub mod operator;
pub mod passthrough;
pub mod process;
pub mod pseudo_random;
pub mod skip;
pub mod stack;
