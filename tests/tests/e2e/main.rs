//! End-to-end tests: an operator client, a proxy, the mock target and an approver, all
//! in-process on loopback, plus the real OpenSSH client and the built binaries.

mod audit;
mod balancer;
mod connections;
mod failures;
mod faithful;
mod flow_control;
mod gating;
mod hardening;
mod keys;
mod logs;
mod openssh;
mod recording;
