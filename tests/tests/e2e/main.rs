//! End-to-end tests: an operator client, a proxy, the mock target and an approver, all
//! in-process on loopback, plus the real OpenSSH client and the built binaries.

mod connections;
mod failures;
mod faithful;
mod flow_control;
mod gating;
mod hardening;
mod logs;
mod openssh;
