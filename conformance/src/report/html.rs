//! The HTML report: one self-contained page (its style and script inline, nothing fetched) with
//! a summary table by category, then every case with its requirement and its outcome under
//! each chunking; a failure shows expected against actual side by side, the replay's timeline
//! and the operator's last screen. Checkboxes (or the URL fragment, as in `report.html#failed`)
//! show only the grades wanted.
//!
//! Invariant: every text that comes from the run (the proxy's and the target's output, the
//! commands, even case ids) goes through [`escape`]; and the page's Content-Security-Policy
//! lets nothing load and only its own style and script (by hash) apply, so that a text that
//! slipped through could still not run.

use std::fmt::Write as _;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::diff::{side_by_side, Piece};
use super::{CaseResult, FailureDetail, Grade, Report, Totals};

const STYLE: &str = r#"
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem 2rem; color: #1d1d1f; background: #fff; }
code, pre, .timeline td { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1rem; margin: 0 0 .25rem; }
h4 { font-size: .85rem; margin: .75rem 0 .25rem; color: #555; text-transform: uppercase; letter-spacing: .03em; }
dl.run { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; margin: .5rem 0; }
dl.run dt { color: #555; } dl.run dd { margin: 0; }
.verdict { font-weight: 600; padding: .5rem .75rem; border-radius: 4px; }
.verdict.ok { background: #e6f4ea; color: #136c2e; } .verdict.not-ok { background: #fce8e6; color: #a50e0e; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: .15rem .6rem; vertical-align: top; }
#summary td.count, #summary th.count { text-align: right; }
#summary tbody tr:nth-child(odd) { background: #f6f6f6; }
#summary tfoot { font-weight: 600; border-top: 1px solid #999; }
#filters { position: sticky; top: 0; background: #fff; padding: .5rem 0; border-bottom: 1px solid #ddd; z-index: 1; }
#filters label { margin-right: 1rem; white-space: nowrap; }
#filters a { margin-left: .5rem; }
.case { border: 1px solid #ddd; border-left-width: 6px; border-radius: 4px; padding: .6rem .9rem; margin: .6rem 0; }
.case[data-grade=pass] { border-left-color: #34a853; } .case[data-grade=fail] { border-left-color: #d93025; }
.case[data-grade=skip] { border-left-color: #f9ab00; } .case[data-grade=informational] { border-left-color: #4285f4; }
.grade { display: inline-block; min-width: 5.5rem; font-size: .75rem; font-weight: 700; text-transform: uppercase; }
.grade-pass { color: #137333; } .grade-fail { color: #c5221f; } .grade-skip { color: #b06000; } .grade-informational { color: #1967d2; }
.requirement { margin: .2rem 0; } .meta { color: #555; margin: .2rem 0; font-size: .85rem; }
.chunkings td, .chunkings th { font-size: .85rem; padding: 0 .6rem 0 0; }
.outcome-pass { color: #137333; } .outcome-fail { color: #c5221f; }
.diff { display: grid; grid-template-columns: 1fr 1fr; gap: .75rem; }
.side { border: 1px solid #ddd; border-radius: 4px; padding: .4rem .6rem; min-width: 0; }
.side.expected { background: #fff5f5; } .side.actual { background: #f3fbf5; }
del { background: #f9c6c3; text-decoration: none; } ins { background: #b7e4c2; text-decoration: none; }
.timeline { width: 100%; } .timeline td { padding: .05rem .5rem; border-bottom: 1px solid #eee; }
.timeline td:nth-child(-n+2) { color: #777; text-align: right; white-space: nowrap; }
.timeline td:nth-child(3) { white-space: nowrap; font-weight: 600; }
.timeline td:nth-child(4) { overflow-wrap: anywhere; white-space: pre-wrap; }
.moment-sent td:nth-child(3) { color: #1967d2; } .moment-request td:nth-child(3) { color: #b06000; }
.moment-decision td:nth-child(3) { color: #8430ce; } .moment-executed td:nth-child(3), .moment-exec td:nth-child(3) { color: #c5221f; }
.moment-received td, .moment-target td, .moment-target-input td { color: #666; }
.screen { background: #1d1d1f; color: #e8eaed; padding: .5rem; border-radius: 4px; display: inline-block; min-width: 40ch; }
.skip-reason { color: #b06000; }
"#;

const SCRIPT: &str = r##"
(function () {
  "use strict";
  var ALIASES = { passed: "pass", failed: "fail", skipped: "skip", info: "informational" };
  var boxes = Array.prototype.slice.call(document.querySelectorAll("#filters input[name=grade]"));
  var values = function (list) { return list.map(function (box) { return box.value; }); };
  // The grades a fragment such as #failed or #fail,skip names; null when it names none.
  function fromFragment() {
    var words = decodeURIComponent(location.hash.replace(/^#/, "")).split(/[,+ ]/);
    if (words.indexOf("all") >= 0) return values(boxes);
    var wanted = words.map(function (word) { return ALIASES[word] || word; })
      .filter(function (word) { return values(boxes).indexOf(word) >= 0; });
    return wanted.length ? wanted : null;
  }
  function apply() {
    var shown = values(boxes.filter(function (box) { return box.checked; }));
    document.querySelectorAll(".case").forEach(function (item) {
      item.hidden = shown.indexOf(item.getAttribute("data-grade")) < 0;
    });
    document.querySelectorAll(".category").forEach(function (section) {
      section.hidden = !section.querySelector(".case:not([hidden])");
    });
    document.getElementById("nothing-shown").hidden = !!document.querySelector(".case:not([hidden])");
    document.body.setAttribute("data-showing", shown.join(","));
  }
  function fromUrl() {
    var wanted = fromFragment();
    if (wanted) boxes.forEach(function (box) { box.checked = wanted.indexOf(box.value) >= 0; });
    apply();
  }
  boxes.forEach(function (box) {
    box.addEventListener("change", function () {
      apply();
      var shown = values(boxes.filter(function (b) { return b.checked; }));
      history.replaceState(null, "", "#" + (shown.length === boxes.length ? "all" : shown.join(",")));
    });
  });
  window.addEventListener("hashchange", fromUrl);
  fromUrl();
})();
"##;

/// `text` safe as HTML text and inside a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A CSP source for an inline element holding exactly `content`.
fn hash_source(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// How the filters and the summary name a grade.
fn label(grade: Grade) -> &'static str {
    match grade {
        Grade::Pass => "passed",
        Grade::Fail => "failed",
        Grade::Skip => "skipped",
        Grade::Informational => "informational",
    }
}

const GRADES: [Grade; 4] = [Grade::Pass, Grade::Fail, Grade::Skip, Grade::Informational];

impl Report {
    /// The report as one HTML page.
    pub fn to_html(&self) -> String {
        let mut page = String::new();
        let policy = format!(
            "default-src 'none'; style-src {}; script-src {}; base-uri 'none'; form-action 'none'",
            hash_source(STYLE),
            hash_source(SCRIPT)
        );
        let _ = write!(
            page,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>Conformance report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
            policy,
            escape(&self.proxy.description)
        );
        self.header(&mut page);
        self.summary(&mut page);
        self.filters(&mut page);
        page.push_str("<main>\n<p id=\"nothing-shown\" hidden>No case of the grades chosen.</p>\n");
        for category in self.categories() {
            let _ = writeln!(
                page,
                "<section class=\"category\" data-category=\"{0}\">\n<h2 id=\"category-{0}\">{0}</h2>",
                escape(category)
            );
            for case in self.cases.iter().filter(|case| case.category == category) {
                case_html(&mut page, case);
            }
            page.push_str("</section>\n");
        }
        page.push_str("</main>\n");
        if let Some(output) = &self.proxy.output {
            let _ = writeln!(
                page,
                "<details class=\"proxy-output\"><summary>What the proxy printed (the end of \
                 it)</summary><pre>{}</pre></details>",
                escape(output)
            );
        }
        let _ = write!(page, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
        page
    }

    fn header(&self, page: &mut String) {
        let verdict = self.verdict();
        let unknown = |value: &Option<String>| escape(value.as_deref().unwrap_or("(unknown)"));
        let _ = writeln!(
            page,
            "<header>\n<h1>sshgate conformance suite {}</h1>\n<dl class=\"run\">\
             <dt>proxy</dt><dd>{}</dd><dt>SSH version</dt><dd><code>{}</code></dd>\
             <dt>host key</dt><dd><code>{}</code></dd><dt>target</dt><dd>{}</dd>\
             <dt>date</dt><dd>{}</dd><dt>time</dt><dd>{:.2} s</dd></dl>\n\
             <p id=\"verdict\" class=\"verdict {}\">{}</p>\n</header>",
            escape(&self.suite_version),
            escape(&self.proxy.description),
            unknown(&self.proxy.ssh_version),
            unknown(&self.proxy.host_key_fingerprint),
            escape(&self.target),
            escape(&self.date),
            self.total_ms as f64 / 1000.0,
            if verdict.ok() { "ok" } else { "not-ok" },
            escape(&verdict.summary())
        );
    }

    fn summary(&self, page: &mut String) {
        page.push_str("<section id=\"summary\">\n<h2>Summary by category</h2>\n<table>\n<thead><tr><th>category</th>");
        for grade in GRADES {
            let _ = write!(page, "<th class=\"count\">{}</th>", label(grade));
        }
        page.push_str("</tr></thead>\n<tbody>\n");
        let row = |page: &mut String, name: String, totals: Totals| {
            let _ = write!(page, "<tr><td>{name}</td>");
            for grade in GRADES {
                let _ = write!(
                    page,
                    "<td class=\"count grade-{}\">{}</td>",
                    grade.name(),
                    totals.count(grade)
                );
            }
            page.push_str("</tr>\n");
        };
        for category in self.categories() {
            let link = format!("<a href=\"#category-{0}\">{0}</a>", escape(category));
            row(page, link, self.totals_of(category));
        }
        page.push_str("</tbody>\n<tfoot>");
        row(page, "total".into(), self.totals());
        page.push_str("</tfoot>\n</table>\n</section>\n");
    }

    fn filters(&self, page: &mut String) {
        let totals = self.totals();
        page.push_str("<nav id=\"filters\"><strong>Show:</strong> ");
        for grade in GRADES {
            let _ = write!(
                page,
                "<label><input type=\"checkbox\" name=\"grade\" value=\"{}\" checked> {} ({})</label>",
                grade.name(),
                label(grade),
                totals.count(grade)
            );
        }
        page.push_str(
            "<a href=\"#failed\">only failed</a><a href=\"#failed,skipped,informational\">all \
             but passed</a><a href=\"#all\">all</a></nav>\n",
        );
    }
}

fn case_html(page: &mut String, case: &CaseResult) {
    let _ = writeln!(
        page,
        "<article class=\"case\" id=\"case-{id}\" data-case=\"{id}\" data-grade=\"{grade}\">\n\
         <h3><span class=\"grade grade-{grade}\">{label}</span> <code>{id}</code></h3>\n\
         <p class=\"requirement\">{requirement}</p>",
        id = escape(&case.id),
        grade = case.grade.name(),
        label = label(case.grade),
        requirement = escape(&case.requirement),
    );
    let mut meta = format!("target {} · {} ms", escape(&case.target), case.time_ms);
    match case.held {
        Some(true) => meta.push_str(" · informational: the behaviour described held"),
        Some(false) => meta.push_str(" · informational: the behaviour described did not hold"),
        None if !case.required => meta.push_str(" · informational"),
        None => {}
    }
    let _ = writeln!(page, "<p class=\"meta\">{meta}</p>");
    if let Some(reason) = &case.skip_reason {
        let _ = writeln!(
            page,
            "<p class=\"skip-reason\">Skipped: {}</p>",
            escape(reason)
        );
    }
    if !case.chunkings.is_empty() {
        page.push_str("<table class=\"chunkings\"><tr><th>chunking</th>");
        for chunking in &case.chunkings {
            let _ = write!(page, "<td>{}</td>", escape(&chunking.chunking));
        }
        page.push_str("</tr><tr><th>outcome</th>");
        for chunking in &case.chunkings {
            let (class, text) = match chunking.passed {
                true => ("pass", "pass"),
                false => ("fail", "fail"),
            };
            let _ = write!(
                page,
                "<td class=\"outcome-{class}\">{text} ({} ms)</td>",
                chunking.time_ms
            );
        }
        page.push_str("</tr></table>\n");
    }
    if let Some(failure) = &case.failure {
        failure_html(page, failure);
    }
    page.push_str("</article>\n");
}

fn failure_html(page: &mut String, failure: &FailureDetail) {
    let side = |pieces: &[Piece], mark: &str| -> String {
        pieces
            .iter()
            .map(|piece| match piece.changed {
                true => format!("<{mark}>{}</{mark}>", escape(piece.text)),
                false => escape(piece.text),
            })
            .collect()
    };
    let sides = side_by_side(&failure.expected, &failure.actual);
    let _ = writeln!(
        page,
        "<details class=\"failure\" open>\n<summary>Failed under {} at step {}</summary>\n\
         <div class=\"diff\"><div class=\"side expected\"><h4>expected</h4><pre>{}</pre></div>\
         <div class=\"side actual\"><h4>actual</h4><pre>{}</pre></div></div>",
        escape(&failure.chunking),
        failure.step,
        side(&sides.expected, "del"),
        side(&sides.actual, "ins"),
    );
    page.push_str(
        "<h4>timeline</h4>\n<table class=\"timeline\"><thead><tr><th>step</th><th>ms</th>\
         <th>what</th><th></th></tr></thead><tbody>\n",
    );
    for moment in &failure.transcript {
        let (kind, what) = moment.event.describe();
        let _ = writeln!(
            page,
            "<tr class=\"moment moment-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            kind.replace(' ', "-"),
            moment.step,
            moment.at_ms,
            kind,
            escape(&what)
        );
    }
    let _ = writeln!(
        page,
        "</tbody></table>\n<h4>the operator's last screen</h4>\n<pre class=\"screen\">{}</pre>\n</details>",
        escape(&failure.screen)
    );
}

#[cfg(test)]
mod tests {
    use super::super::tests::failed_report;
    use super::*;

    #[test]
    fn text_from_the_run_is_escaped() {
        assert_eq!(
            escape(r#"<img src=x onerror='alert(1)'> & "q""#),
            "&lt;img src=x onerror=&#39;alert(1)&#39;&gt; &amp; &quot;q&quot;"
        );
        let mut report = failed_report();
        let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
        report.proxy.description = hostile.into();
        report.cases[1].id = format!("basic/{hostile}");
        let failure = report.cases[1].failure.as_mut().unwrap();
        failure.actual = hostile.into();
        failure.screen = hostile.into();
        let page = report.to_html();
        assert!(!page.contains("<img"), "{page}");
        assert_eq!(page.matches("<script>").count(), 1, "only the page's own");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn the_page_fetches_nothing_and_runs_only_its_own_script() {
        let page = failed_report().to_html();
        assert!(page.contains(&format!("script-src {}", hash_source(SCRIPT))));
        assert!(page.contains("default-src 'none'"));
        for fetch in ["src=\"http", "href=\"http", "@import", "url("] {
            assert!(!page.contains(fetch), "{fetch}");
        }
    }
}
