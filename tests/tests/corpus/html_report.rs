//! The HTML report as a person sees it: headless Chromium loads a report of a real run (sshgate
//! in-process, with the report tests' own cases: one passes, one fails with markup in what it
//! typed, one is informational) and the test reads the rendered page, not the HTML text: the
//! failed case's expected and actual are on screen, the `#failed` filter hides the passing
//! case, and the markup shows as text without becoming an element.
//!
//! The page is probed from a second page that frames it (Chromium's `--dump-dom` then prints
//! what the probe measured), so the check does not rely on the report's own script telling
//! the truth about itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sshgate_tests::process::binary;
use sshgate_tests::skip::skip;

/// Debian's package installs `chromium`; other systems name it otherwise.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Frames `report.html` twice, with the `#failed` filter and without, and writes what each
/// frame shows as JSON into `#probe` (`<`, `>` and `&` as `\u` escapes, so that the dumped
/// DOM holds the JSON as it is).
const PROBE: &str = r#"<!DOCTYPE html>
<html><body>
<iframe id="failed" src="report.html#failed" width="1200" height="900"></iframe>
<iframe id="all" src="report.html" width="1200" height="900"></iframe>
<pre id="probe">pending</pre>
<script>
"use strict";
var results = {};
function shown(view, element) {
  if (!element) return false;
  var style = view.getComputedStyle(element);
  var box = element.getBoundingClientRect();
  return element.getClientRects().length > 0 && style.visibility !== "hidden" && box.width > 0 && box.height > 0;
}
function measure(frame) {
  var doc = frame.contentDocument, view = frame.contentWindow;
  var text = function (element) { return element ? element.innerText : null; };
  return {
    cases: Array.prototype.map.call(doc.querySelectorAll("[data-case]"), function (item) {
      return {
        id: item.getAttribute("data-case"),
        grade: item.getAttribute("data-grade"),
        visible: shown(view, item),
        diff_visible: shown(view, item.querySelector(".diff")),
        expected: text(item.querySelector(".side.expected pre")),
        actual: text(item.querySelector(".side.actual pre")),
        timeline: Array.prototype.map.call(item.querySelectorAll(".timeline tbody tr"), text),
        screen_visible: shown(view, item.querySelector(".screen")),
        screen: text(item.querySelector(".screen"))
      };
    }),
    summary_visible: shown(view, doc.getElementById("summary")),
    images: doc.images.length,
    scripts: doc.scripts.length
  };
}
function done() {
  document.getElementById("probe").textContent = JSON.stringify(results).replace(/[<>&]/g, function (c) {
    return "\\u00" + c.charCodeAt(0).toString(16);
  });
}
["failed", "all"].forEach(function (name) {
  var frame = document.getElementById(name);
  frame.addEventListener("load", function () {
    try { results[name] = measure(frame); } catch (error) { results[name] = { error: String(error) }; }
    if (Object.keys(results).length === 2) done();
  });
});
</script>
</body></html>
"#;

/// Load `probe.html` in `dir` in headless Chromium; what the probe measured.
fn probe(chromium: &Path, dir: &Path) -> Value {
    std::fs::write(dir.join("probe.html"), PROBE).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            // The probe reads the framed report: both are files, which Chromium otherwise
            // keeps apart.
            "--allow-file-access-from-files",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", dir.join("probe.html").display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    let json = dom
        .split_once("<pre id=\"probe\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(json, _)| json)
        .unwrap_or_else(|| {
            panic!(
                "no probe in the dumped DOM ({}); stderr: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        });
    serde_json::from_str(json).unwrap_or_else(|error| panic!("{error}: the probe wrote {json}"))
}

fn case<'a>(frame: &'a Value, grade: &str) -> &'a Value {
    frame["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("no cases: {frame:#}"))
        .iter()
        .find(|case| case["grade"] == grade)
        .unwrap_or_else(|| panic!("no {grade} case: {frame:#}"))
}

#[test]
fn html_report_renders_the_failure_and_filters_in_a_browser() {
    let Some(chromium) = chromium() else {
        skip("chromium is not installed (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/tests/report-cases");
    let output = Command::new(binary("conformance"))
        .arg("--scenarios")
        .arg(&cases)
        .args(["--cases", "report", "--timeout", "2", "--format", "html"])
        .arg("--out")
        .arg(dir.path().join("report.html"))
        .output()
        .expect("the runner starts");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rendered = probe(&chromium, dir.path());
    let markup = "<img src=x onerror=alert(1)><script>alert(2)</script>";

    // Without a filter every case shows, the summary too.
    let all = &rendered["all"];
    assert_eq!(all["summary_visible"], true, "{all:#}");
    for grade in ["pass", "fail", "informational"] {
        assert_eq!(case(all, grade)["visible"], true, "{grade}: {all:#}");
    }

    // #failed: the failed case and its diff on screen, the passing and informational hidden.
    let failed_only = &rendered["failed"];
    let failed = case(failed_only, "fail");
    assert_eq!(failed["visible"], true, "{failed_only:#}");
    assert_eq!(failed["diff_visible"], true, "{failed:#}");
    assert_eq!(failed["screen_visible"], true, "{failed:#}");
    assert_eq!(
        failed["expected"],
        "the target runs \"echo 'a line never typed'\""
    );
    assert!(
        failed["actual"]
            .as_str()
            .unwrap_or_default()
            .contains("executed"),
        "{failed:#}"
    );
    assert_eq!(
        case(failed_only, "pass")["visible"],
        false,
        "{failed_only:#}"
    );
    assert_eq!(
        case(failed_only, "informational")["visible"],
        false,
        "{failed_only:#}"
    );

    // The markup the operator typed is text in the timeline and on the screen, not elements.
    let timeline: Vec<&str> = failed["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for kind in ["sent", "request", "decision", "executed"] {
        assert!(
            timeline.iter().any(|row| row.contains(kind)),
            "no {kind} in {timeline:#?}"
        );
    }
    assert!(
        timeline
            .iter()
            .any(|row| row.contains("executed") && row.contains(markup)),
        "{timeline:#?}"
    );
    assert!(
        failed["screen"]
            .as_str()
            .unwrap_or_default()
            .contains(markup),
        "{failed:#}"
    );
    for frame in [all, failed_only] {
        assert_eq!(frame["images"], 0, "{frame:#}");
        assert_eq!(frame["scripts"], 1, "{frame:#}");
    }
}
