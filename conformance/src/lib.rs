//! The conformance runner: grades an SSH approval proxy against the scenario corpus, the way
//! h2spec grades HTTP/2 servers, with a report in human, JSON, JUnit XML and HTML form.
//!
//! Layout:
//! - [`suite`]: the corpus built into the binary, extra scenario folders, `--cases` selection.
//! - [`runner`]: replays the selected cases concurrently under every chunking, with
//!   [`progress`] on stderr.
//! - [`report`]: grading (pass, fail, skip, informational), the verdict, and the report's
//!   forms (human, JSON, JUnit XML, HTML).
//! - [`matrix`]: `conformance matrix`, several proxies side by side.
//! - [`catalogue`]: the case list (`conformance list`), also as the Markdown of `docs/cases.md`.
//! - [`self_run`]: sshgate started in-process, for the default run.
//! - [`external`]: `conformance run`, against a proxy in another process, with
//!   [`launch`] (starting it from `--launch`) and [`probe`] (its version, key and
//!   capabilities).
//! - [`real_shell`]: `--target-shell`, a real shell behind a private OpenSSH sshd as the
//!   target (a fresh one per replay), for in-process sshgate or, through [`target_relay`], a
//!   proxy in another process. sshgate's real-shell tests use the same harness.

pub mod catalogue;
pub mod external;
pub mod launch;
pub mod matrix;
pub mod probe;
pub mod progress;
pub mod real_shell;
pub mod report;
pub mod runner;
pub mod self_run;
pub mod suite;
pub mod target_relay;
