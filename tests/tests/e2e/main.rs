//! End-to-end tests: an operator client, a proxy, the mock target and an approver, all
//! in-process on loopback, plus the real OpenSSH client and the built binaries.

mod audit;
mod connections;
mod failures;
mod faithful;
mod gating;
mod hardening;
mod logs;
mod openssh;
