//! The runner's third-party path, used as a third party uses it: `conformance run --launch`
//! starts each proxy as a separate process, in front of the runner's mock target and
//! WebSocket approver, and writes a JSON report. sshgate must pass every required case; the
//! pass-through control must fail every one; the naive design of DESIGN.md section 5 must
//! fail the bypasses it is known to fail, and the report must name them.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;
use sshgate_tests::launch_lines::{sshgate, template, NAIVE_BYPASSES, NAIVE_FLAGS};
use sshgate_tests::process::binary;

/// Run `conformance run --launch LAUNCH ARGS..` with a JSON report, telling the runner the
/// proxy's approval time-out is 1 s; its exit code and report.
fn launched(launch: &str, args: &[&str]) -> (Option<i32>, Value) {
    launched_as_is(launch, &with_approval_timeout(args))
}

/// `args` telling the runner that the proxy's approval time-out is 1 s.
fn with_approval_timeout<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut with_timeout = vec!["--approval-timeout", "1"];
    with_timeout.extend_from_slice(args);
    with_timeout
}

fn launched_as_is(launch: &str, args: &[&str]) -> (Option<i32>, Value) {
    let (code, report, _) = launched_saying(launch, args);
    (code, report)
}

/// The same, with what the runner said on stderr.
fn launched_saying(launch: &str, args: &[&str]) -> (Option<i32>, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let output = Command::new(binary("conformance"))
        .args(["run", "--launch", launch])
        .args(args)
        .args(["--format", "json", "--out"])
        .arg(&out)
        .output()
        .expect("the runner starts");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report = std::fs::read_to_string(&out)
        .unwrap_or_else(|error| panic!("no report ({error}); the runner said: {stderr}"));
    (
        output.status.code(),
        serde_json::from_str(&report).unwrap(),
        stderr,
    )
}

/// The one line of `stderr` that holds `text`.
fn the_line<'a>(stderr: &'a str, text: &str) -> &'a str {
    let lines: Vec<&str> = stderr.lines().filter(|line| line.contains(text)).collect();
    assert_eq!(lines.len(), 1, "{text:?} in {stderr}");
    lines[0]
}

/// Case id to grade.
fn grades(report: &Value) -> BTreeMap<String, String> {
    report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|case| {
            (
                case["id"].as_str().unwrap().to_string(),
                case["grade"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn ids_graded<'a>(grades: &'a BTreeMap<String, String>, grade: &str) -> Vec<&'a str> {
    grades
        .iter()
        .filter(|(_, graded)| graded.as_str() == grade)
        .map(|(id, _)| id.as_str())
        .collect()
}

#[test]
fn sshgate_launched_as_a_process_passes_every_required_case() {
    let launch = sshgate("{approval_timeout}");
    // One chunking: the in-process runs cover all three; this one is about the process.
    let (code, report) = launched(&launch, &["--chunking", "one-packet"]);
    let grades = grades(&report);
    assert_eq!(ids_graded(&grades, "fail"), Vec::<&str>::new());
    assert_eq!(ids_graded(&grades, "skip"), Vec::<&str>::new());
    assert!(ids_graded(&grades, "pass").len() > 150, "{grades:?}");
    assert_eq!(code, Some(0));
    let proxy = &report["proxy"];
    let version = proxy["ssh_version"].as_str().unwrap_or_default();
    assert!(version.starts_with("SSH-2.0-sshgate"), "{proxy}");
    let host_key = proxy["host_key_fingerprint"].as_str().unwrap_or_default();
    assert!(host_key.starts_with("SHA256:"), "{proxy}");
    // The proxy's own output is kept for the report, from its readiness line on.
    let output = proxy["output"].as_str().unwrap_or_default();
    assert!(
        output.contains("sshgate listening on"),
        "{}",
        &output[..output.len().min(2000)]
    );
}

#[test]
fn the_pass_through_fails_every_required_case() {
    let launch = template("passthrough-proxy", "");
    // Against a relay every step waiting for a request times out: keep it short. One
    // chunking: what fails here fails before any key is sent twice.
    let args = [
        "--chunking",
        "one-packet",
        "--timeout",
        "0.5",
        "--jobs",
        "256",
    ];
    let (code, report) = launched(&launch, &args);
    let grades = grades(&report);
    assert_eq!(ids_graded(&grades, "pass"), Vec::<&str>::new());
    assert_eq!(ids_graded(&grades, "skip"), Vec::<&str>::new());
    assert!(ids_graded(&grades, "fail").len() > 150, "{grades:?}");
    assert_eq!(code, Some(1));
    for case in report["cases"].as_array().unwrap() {
        if case["grade"] == "fail" {
            let failure = &case["failure"];
            assert!(failure["expected"].is_string(), "{case}");
            assert!(case["requirement"].as_str().is_some_and(|r| !r.is_empty()));
        }
    }
}

#[test]
fn the_naive_design_fails_its_known_bypasses() {
    let launch = template("naive-proxy", NAIVE_FLAGS);
    // One chunking is enough to show each flaw; many at once, as most cases wait to fail.
    let args = [
        "--chunking",
        "one-packet",
        "--timeout",
        "2",
        "--jobs",
        "256",
    ];
    let (code, report) = launched(&launch, &args);
    let grades = grades(&report);
    let failed = ids_graded(&grades, "fail");
    let missed: Vec<&&str> = NAIVE_BYPASSES
        .iter()
        .filter(|id| !failed.contains(id))
        .collect();
    assert!(missed.is_empty(), "the naive proxy passed {missed:?}");
    // What the design does get right still passes: the failures above are its flaws, not a
    // proxy that fails everything.
    for id in ["basic/approve-echo", "basic/deny-echo", "exec/denied"] {
        assert_eq!(grades.get(id).map(String::as_str), Some("pass"), "{id}");
    }
    assert_eq!(code, Some(1));
}

/// Grade by id, with the skip reason of skipped cases.
fn skip_reasons(report: &Value) -> BTreeMap<String, String> {
    report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|case| case["grade"] == "skip")
        .map(|case| {
            let reason = case["skip_reason"].as_str().unwrap_or_default();
            (case["id"].as_str().unwrap().to_string(), reason.to_string())
        })
        .collect()
}

#[test]
fn cases_needing_what_the_proxy_lacks_are_skipped_with_the_reason() {
    // A proxy that refuses exec, and a runner not told the proxy's approval time-out.
    let launch = template("naive-proxy", "--approval-timeout 1 --refuse-exec");
    let args = [
        "--cases",
        "failure/*",
        "--chunking",
        "one-packet",
        "--timeout",
        "1",
    ];
    let (_, report) = launched_as_is(&launch, &args);
    let skipped = skip_reasons(&report);
    for id in [
        "failure/approver-drop-denies-exec",
        "failure/malformed-answer-denies-exec",
    ] {
        let reason = skipped.get(id).map(String::as_str).unwrap_or("not skipped");
        assert!(reason.contains("refuses exec"), "{id}: {reason}");
    }
    let reason = skipped
        .get("failure/never-answered-shell-line-times-out")
        .map(String::as_str)
        .unwrap_or("not skipped");
    assert!(reason.contains("--approval-timeout"), "{reason}");
    // The shell cases that need neither still run and are graded.
    let graded = grades(&report);
    assert_eq!(
        graded
            .get("failure/malformed-answer-denies-shell-line")
            .map(String::as_str),
        Some("pass")
    );
}

#[test]
fn skipped_required_cases_fail_the_run_unless_skips_are_allowed() {
    // sshgate passes every case; a runner not told its approval time-out skips the cases that
    // wait for it, and grades the rest.
    let launch = sshgate("1");
    let args = ["--cases", "failure/*", "--chunking", "one-packet"];
    let (code, report, stderr) = launched_saying(&launch, &args);
    let grades = grades(&report);
    let skipped = ids_graded(&grades, "skip").len();
    assert!(skipped > 0, "{grades:?}");
    assert!(!ids_graded(&grades, "pass").is_empty(), "{grades:?}");
    assert_eq!(ids_graded(&grades, "fail"), Vec::<&str>::new());
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(report["totals"]["skip"], skipped);
    the_line(
        &stderr,
        &format!("conformance: {skipped} required case(s) skipped: not graded, so not a pass"),
    );

    let allowed: Vec<&str> = args.iter().copied().chain(["--allow-skip"]).collect();
    let (code, report, stderr) = launched_saying(&launch, &allowed);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["allow_skip"], true);
    assert!(the_line(&stderr, "every required case graded passed").contains("--allow-skip"));
}

#[test]
fn a_run_whose_required_cases_were_all_skipped_exits_1_and_says_why() {
    // Every exec case needs exec, which this proxy refuses; not even --allow-skip makes a run
    // that graded nothing a pass.
    let launch = template(
        "naive-proxy",
        "--approval-timeout {approval_timeout} --refuse-exec",
    );
    for allow in [None, Some("--allow-skip")] {
        let args: Vec<&str> = ["--cases", "exec/*", "--chunking", "one-packet"]
            .into_iter()
            .chain(allow)
            .collect();
        let (code, report, stderr) = launched_saying(&launch, &with_approval_timeout(&args));
        let grades = grades(&report);
        assert!(grades.values().all(|grade| grade == "skip"), "{grades:?}");
        assert_eq!(code, Some(1), "{stderr}");
        let line = the_line(&stderr, "no required case was graded");
        assert_eq!(
            line,
            format!(
                "conformance: no required case was graded: all {} required case(s) were \
                 skipped (the proxy refuses exec requests)",
                grades.len()
            )
        );
        assert_eq!(report["verdict"]["ok"], false);
    }
}
