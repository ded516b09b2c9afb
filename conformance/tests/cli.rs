//! The `conformance` binary as a user runs it: the case list, the catalogue in docs/cases.md,
//! reports in each format, and usage errors.

use std::path::Path;
use std::process::Command;

const CONFORMANCE: &str = env!("CARGO_BIN_EXE_conformance");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(CONFORMANCE)
        .args(args)
        .output()
        .expect("conformance runs")
}

#[test]
fn docs_cases_md_is_the_generated_catalogue() {
    let output = run(&["list", "--format", "markdown"]);
    assert_eq!(output.status.code(), Some(0));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cases.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == String::from_utf8_lossy(&output.stdout),
        "docs/cases.md is out of date: run \
         `cargo run --bin conformance -- list --format markdown > docs/cases.md`"
    );
}

#[test]
fn list_names_each_selected_case_with_its_requirement() {
    let output = run(&["list", "--cases", "bypass"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.lines().count() >= 16, "{text}");
    assert!(
        text.lines().all(|line| line.starts_with("bypass/")),
        "{text}"
    );
    assert!(text.contains("MUST"), "{text}");
}

#[test]
fn json_report_names_the_proxy_and_grades_each_case() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let output = run(&[
        "--cases",
        "basic",
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["proxy"]["ssh_version"], "SSH-2.0-sshgate_0.1.0");
    assert_eq!(report["target"], "mock");
    assert!(report["proxy"]["host_key_fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("SHA256:"));
    let cases = report["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    assert!(cases
        .iter()
        .all(|case| case["grade"] == "pass" && case["time_ms"].is_u64()));
    assert!(cases.iter().all(|case| case["target"] == "mock"));
}

#[test]
fn junit_report_parses_as_junit_xml() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.xml");
    let output = run(&[
        "--cases",
        "exec/*",
        "--format",
        "junit",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0));
    let xml = std::fs::read_to_string(&out).unwrap();
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("JUnit XML");
    let cases: usize = report
        .test_suites
        .iter()
        .map(|suite| suite.test_cases.len())
        .sum();
    assert!(cases >= 10, "{xml}");
    // Every case says which target it ran against.
    let targets: usize = report
        .test_suites
        .iter()
        .flat_map(|suite| &suite.test_cases)
        .filter(|case| {
            case.properties
                .iter()
                .any(|p| p.name.as_str() == "target" && p.value.as_str() == "mock")
        })
        .count();
    assert_eq!(targets, cases, "{xml}");
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    for args in [
        &["--cases", "no-such-case"][..],
        &["--cases", "["],
        &["--bogus"],
        &["--jobs", "0"],
        &["--timeout", "-1"],
        &["run"],
        &["run", "--proxy", "not an address"],
        &["run", "--launch", "proxy {listne}"],
        &["run", "--launch", "proxy --timeout {approval_timeout}"],
        // No such shell; a selection of mock cases only; replays at once on one sshd user.
        &["--target-shell", "ksh"],
        &["--target-shell", "bash", "--cases", "basic"],
        &[
            "run",
            "--target-shell",
            "bash",
            "--jobs",
            "2",
            "--proxy",
            "127.0.0.1:1",
        ],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    }
}

#[test]
fn a_proxy_that_never_comes_up_exits_2_with_its_output() {
    let output = run(&[
        "run",
        "--launch",
        "echo starting {listen}; echo cannot bind >&2; exit 3",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("never came up"), "{stderr}");
    assert!(stderr.contains("exit status: 3"), "{stderr}");
    assert!(stderr.contains("cannot bind"), "{stderr}");
}

#[test]
fn a_proxy_address_where_nothing_listens_exits_2() {
    let port = portpicker::pick_unused_port().expect("a free port");
    let address = format!("127.0.0.1:{port}");
    let output = run(&["run", "--proxy", &address, "--startup-timeout", "0.2"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("never came up"), "{stderr}");
    // The user starting a proxy by hand is told where the target and approver are.
    assert!(
        stderr.contains("target") && stderr.contains("ws://127.0.0.1:"),
        "{stderr}"
    );
}

/// The report tests' own cases (`report/...`): one passes, one fails with markup in what it
/// typed, one is informational.
fn report_cases() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/report-cases")
}

fn stdout_json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not one JSON report ({error}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[test]
fn reports_of_real_runs_match_the_published_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let cases = report_cases();
    let failing = run(&[
        "--scenarios",
        cases.to_str().unwrap(),
        "--cases",
        "report",
        "--timeout",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(failing.status.code(), Some(1));
    let passing = run(&["--cases", "basic/approve-echo", "--format", "json"]);
    assert_eq!(passing.status.code(), Some(0));
    for output in [&failing, &passing] {
        let report = stdout_json(output);
        let errors: Vec<String> = validator
            .iter_errors(&report)
            .map(|error| error.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{report:#}");
    }
    // The schema is strict enough to catch a report that lost a part.
    let mut broken = stdout_json(&failing);
    broken["cases"][0]
        .as_object_mut()
        .unwrap()
        .remove("chunkings");
    assert!(!validator.is_valid(&broken));

    // The failure's transcript is a timeline of structured events.
    let report = stdout_json(&failing);
    let failed = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|case| case["grade"] == "fail")
        .expect("a failed case");
    let transcript = failed["failure"]["transcript"].as_array().unwrap();
    let first = |key: &str| {
        transcript
            .iter()
            .find(|moment| moment.get(key).is_some())
            .unwrap_or_else(|| panic!("no {key:?} in {transcript:#?}"))
    };
    let markup = "<img src=x onerror=alert(1)><script>alert(2)</script>";
    assert!(first("sent")["sent"].as_str().unwrap().contains("echo '"));
    assert_eq!(first("request")["step"], 3);
    assert_eq!(
        first("request")["request"]["command"],
        format!("echo '{markup}'")
    );
    assert_eq!(first("decision")["decision"]["answer"], "approve");
    assert_eq!(first("executed")["executed"], format!("echo '{markup}'"));
    let positions: Vec<usize> = ["sent", "request", "decision", "executed"]
        .iter()
        .map(|key| {
            transcript
                .iter()
                .position(|moment| moment.get(*key).is_some())
                .unwrap()
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{transcript:#?}");
    assert_eq!(report["totals"]["fail"], 1, "{report:#}");
    assert_eq!(report["totals"]["pass"], 1);
    assert_eq!(report["totals"]["informational"], 1);
    assert_eq!(report["verdict"]["ok"], false);
}

#[test]
fn a_run_that_grades_no_required_case_exits_1_and_says_why() {
    // Only an informational case: nothing required was graded.
    let output = run(&[
        "--scenarios",
        report_cases().to_str().unwrap(),
        "--cases",
        "report/informational",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().last(),
        Some("no required case was graded: the 1 case(s) selected are all informational"),
        "{stdout}"
    );
    // Said on stderr too when the report goes elsewhere, in one line.
    let output = run(&[
        "--scenarios",
        report_cases().to_str().unwrap(),
        "--cases",
        "report/informational",
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let verdicts: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("no required case was graded"))
        .collect();
    assert_eq!(verdicts.len(), 1, "{stderr}");
    assert_eq!(stdout_json(&output)["verdict"]["ok"], false);
}

#[test]
fn progress_lines_go_to_stderr_and_the_report_on_stdout_stays_clean() {
    let output = run(&[
        "--cases",
        "basic",
        "--chunking",
        "one-packet",
        "--format",
        "json",
        "--progress-every",
        "0.05",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let report = stdout_json(&output);
    let cases = report["cases"].as_array().unwrap().len();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .filter(|line| line.starts_with("conformance: "))
        .rfind(|line| line.contains("cases done"))
        .unwrap_or_else(|| panic!("no progress line: {stderr}"));
    assert!(last.starts_with("conformance: finished: "), "{stderr}");
    assert!(
        last.contains(&format!(
            "{cases}/{cases} cases done: {cases} passed, 0 failed"
        )),
        "{stderr}"
    );
}

#[test]
fn html_report_is_one_page_with_every_case() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.html");
    let output = run(&[
        "--cases",
        "basic",
        "--chunking",
        "one-packet",
        "--format",
        "html",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0));
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("basic/approve-echo"));
    assert!(page.contains("id=\"summary\""));
    // The rendered page is checked in a browser by tests/tests/corpus/html_report.rs.
}

#[test]
fn a_reader_that_stops_early_is_no_error() {
    use std::io::Read as _;
    use std::process::Stdio;
    // `conformance list | head -1`: the pipe is closed after the first bytes.
    let mut child = Command::new(CONFORMANCE)
        .args(["list", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("conformance runs");
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}
