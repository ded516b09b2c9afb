//! `--target-shell`: the conformance runner grading a proxy in front of a real shell behind
//! sshd, as a third party runs it. The self-run (sshgate in-process) and `run --launch` with
//! sshgate as a process pass and say which target every case ran against; the pass-through
//! control launched the same way fails, so the grading can fail.
//!
//! Kept small (one case, one or three chunkings): the real-shell tier runs every case already.

use std::path::Path;

use assert_cmd::Command;
use real_target::Shell;
use serde_json::Value;
use sshgate_tests::process::binary;
use sshgate_tests::skip::real_shell_or_skip;

/// A case that runs on bash, zsh and dash and that a pass-through fails.
const CASE: &str = "multiline/shells-backslash-continuation";

/// Run the conformance binary with `args` and a JSON report; its exit code and report.
fn conformance(args: &[&str]) -> (Option<i32>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let output = Command::new(binary("conformance"))
        .args(args)
        .args(["--format", "json", "--out"])
        .arg(&out)
        .output()
        .expect("the runner starts");
    let report = std::fs::read_to_string(&out).unwrap_or_else(|error| {
        panic!(
            "no report ({error}); the runner said: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), serde_json::from_str(&report).unwrap())
}

/// The report's cases, each with the target it names.
fn cases(report: &Value, target: &str) -> Vec<Value> {
    assert_eq!(report["target"], target, "{report:#}");
    let cases = report["cases"].as_array().expect("cases").clone();
    assert!(!cases.is_empty(), "{report:#}");
    for case in &cases {
        assert_eq!(case["target"], target, "{case:#}");
    }
    cases
}

/// `--launch` for a proxy binary of this workspace in front of the runner's relay.
fn launch(proxy: &Path, extra: &str) -> String {
    format!(
        "{} --listen {{listen}} --target {{target}} --identity {{target_identity}} \
         --approver {{approver}} {extra}",
        proxy.display()
    )
}

#[test]
fn self_run_on_dash_passes_and_names_the_target() {
    if !real_shell_or_skip(Shell::Dash) {
        return;
    }
    let (code, report) = conformance(&["--target-shell", "dash", "--cases", CASE]);
    for case in cases(&report, "dash behind OpenSSH sshd") {
        assert_eq!(case["grade"], "pass", "{case:#}");
    }
    assert_eq!(code, Some(0));
}

#[test]
fn sshgate_launched_in_front_of_bash_passes() {
    if !real_shell_or_skip(Shell::Bash) {
        return;
    }
    let sshgate = launch(
        &binary("sshgate"),
        "--authorized-keys {authorized_keys} --target-known-hosts {target_known_hosts} \
         --host-key {dir}/host_key",
    );
    let (code, report) = conformance(&[
        "run",
        "--target-shell",
        "bash",
        "--cases",
        CASE,
        "--chunking",
        "one-packet",
        "--launch",
        &sshgate,
    ]);
    for case in cases(&report, "bash behind OpenSSH sshd") {
        assert_eq!(case["grade"], "pass", "{case:#}");
    }
    assert!(
        report["proxy"]["ssh_version"]
            .as_str()
            .is_some_and(|version| version.starts_with("SSH-2.0-sshgate")),
        "{report:#}"
    );
    assert_eq!(code, Some(0));
}

#[test]
fn the_pass_through_launched_in_front_of_bash_fails() {
    if !real_shell_or_skip(Shell::Bash) {
        return;
    }
    let passthrough = launch(&binary("passthrough-proxy"), "");
    // The step waiting for a request that never comes fails after --timeout.
    let (code, report) = conformance(&[
        "run",
        "--target-shell",
        "bash",
        "--cases",
        CASE,
        "--chunking",
        "one-packet",
        "--timeout",
        "2",
        "--launch",
        &passthrough,
    ]);
    for case in cases(&report, "bash behind OpenSSH sshd") {
        assert_eq!(case["grade"], "fail", "{case:#}");
    }
    assert_eq!(code, Some(1));
}

/// The guarded tier, as a third party runs it: sshgate launched in front of bash with the
/// guard installed answers it and passes the guard cases; each case says its tier.
#[test]
fn sshgate_launched_in_front_of_guarded_bash_passes_the_guard_cases() {
    if !real_shell_or_skip(Shell::Bash) {
        return;
    }
    let sshgate = launch(
        &binary("sshgate"),
        "--authorized-keys {authorized_keys} --target-known-hosts {target_known_hosts} \
         --host-key {dir}/host_key",
    );
    let (code, report) = conformance(&[
        "run",
        "--target-shell",
        "bash",
        "--guarded",
        "--cases",
        "guard/alias-defined-earlier",
        "--chunking",
        "one-packet",
        "--launch",
        &sshgate,
    ]);
    for case in cases(&report, "bash with sshgate's guard behind OpenSSH sshd") {
        assert_eq!(case["grade"], "pass", "{case:#}");
        assert_eq!(case["tier"], "guarded", "{case:#}");
        assert_eq!(case["required"], true, "{case:#}");
    }
    assert_eq!(code, Some(0));
}

/// The same case without the guard is informational: keystroke gating cannot pass it.
#[test]
fn a_guard_case_is_informational_without_the_guard() {
    if !real_shell_or_skip(Shell::Bash) {
        return;
    }
    let (_, report) = conformance(&[
        "--target-shell",
        "bash",
        "--cases",
        "guard/alias-defined-earlier",
        "--chunking",
        "one-packet",
        "--timeout",
        "2",
    ]);
    for case in cases(&report, "bash behind OpenSSH sshd") {
        assert_eq!(case["grade"], "informational", "{case:#}");
        assert_eq!(case["tier"], "unguarded", "{case:#}");
        assert_eq!(case["held"], false, "{case:#}");
    }
}
