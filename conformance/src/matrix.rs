//! `conformance matrix`: several proxies graded in one run and shown side by side, the way
//! toml-test-matrix and wpt.fyi show implementations: a table of categories × proxies, and a
//! page per proxy with every case, each in Markdown and in HTML.
//!
//! Invariant: the pages hold nothing that changes from run to run (no time, date, port, host
//! key or launch command line), so that a committed matrix can be checked for staleness by
//! generating it again.

use std::fmt::Write as _;
use std::path::Path;

use scenarios::Scenario;

use crate::external::{run_against, StartError, Target};
use crate::report::html::escape;
use crate::report::{CaseResult, Grade, Report};
use crate::runner::RunOptions;

/// One proxy's column: its report, or why it could not be graded.
pub struct Column {
    pub name: String,
    pub graded: Result<Report, String>,
}

/// What every page says about the run.
pub struct About {
    pub suite_version: String,
    /// What the proxies had behind them (`mock`, or a real shell).
    pub target: String,
    /// The chunkings each case ran under, as the report names them.
    pub chunkings: Vec<String>,
}

/// A file of the matrix, named relative to the output folder.
pub struct Page {
    pub file: String,
    pub text: String,
}

/// Grade each proxy in turn on the same cases, in the order given. A proxy that never comes up
/// gets a column that says why; a launch command the runner cannot use stops the run (`Err`,
/// one line naming the proxy).
pub async fn grade(
    cases: &[Scenario],
    proxies: Vec<(String, Target)>,
    options: &RunOptions,
) -> Result<Vec<Column>, String> {
    let mut columns = Vec::new();
    for (name, target) in proxies {
        eprintln!("conformance: grading {name}");
        let graded = match run_against(cases.to_vec(), &target, options.clone()).await {
            Ok(report) => Ok(report),
            Err(StartError::Usage(message)) => return Err(format!("--proxy {name}: {message}")),
            Err(StartError::NeverCameUp { reason, .. }) => {
                eprintln!("conformance: {name} never came up: {reason}");
                Err(format!("it never came up: {reason}"))
            }
        };
        columns.push(Column { name, graded });
    }
    Ok(columns)
}

/// Write every page into `dir`, created if missing.
pub fn write(dir: &Path, columns: &[Column], about: &About) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for page in pages(columns, about) {
        std::fs::write(dir.join(&page.file), page.text)?;
    }
    Ok(())
}

/// Whether `name` can name a column and its pages: a file name stem anyone can type.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Every page: `matrix.md`, `matrix.html`, and `matrix-NAME.md` and `.html` per proxy.
pub fn pages(columns: &[Column], about: &About) -> Vec<Page> {
    let mut pages = vec![
        Page {
            file: "matrix.md".into(),
            text: markdown_matrix(columns, about),
        },
        Page {
            file: "matrix.html".into(),
            text: html_matrix(columns, about),
        },
    ];
    for column in columns {
        pages.push(Page {
            file: format!("matrix-{}.md", column.name),
            text: markdown_detail(column, about),
        });
        pages.push(Page {
            file: format!("matrix-{}.html", column.name),
            text: html_detail(column, about),
        });
    }
    pages
}

/// The categories of every graded column, in the suite's order.
fn categories(columns: &[Column]) -> Vec<String> {
    let mut categories: Vec<String> = Vec::new();
    for report in columns
        .iter()
        .filter_map(|column| column.graded.as_ref().ok())
    {
        for case in &report.cases {
            if !categories.contains(&case.category) {
                categories.push(case.category.clone());
            }
        }
    }
    categories
}

/// How one proxy did on some cases: required cases passed of those graded, and the rest.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
    informational: usize,
}

impl Tally {
    fn of<'a>(cases: impl Iterator<Item = &'a CaseResult>) -> Self {
        let mut tally = Tally::default();
        for case in cases {
            match case.grade {
                Grade::Pass => tally.passed += 1,
                Grade::Fail => tally.failed += 1,
                Grade::Skip => tally.skipped += 1,
                Grade::Informational => tally.informational += 1,
            }
        }
        tally
    }

    /// `14/14`, `3/14`, with skips said: passed of the required cases graded.
    fn text(&self) -> String {
        let graded = self.passed + self.failed;
        let mut text = if graded == 0 && self.informational > 0 {
            format!("{} informational", self.informational)
        } else if graded == 0 {
            "none graded".to_string()
        } else {
            format!("{}/{graded}", self.passed)
        };
        if self.skipped > 0 {
            let _ = write!(text, ", {} skipped", self.skipped);
        }
        text
    }

    /// A mark for the cell: every required case passed, some failed, or nothing to say.
    fn mark(&self) -> &'static str {
        match (self.failed, self.passed) {
            (0, 0) => "",
            (0, _) => "✅ ",
            _ => "❌ ",
        }
    }
}

fn tally(report: &Report, category: Option<&str>) -> Tally {
    Tally::of(
        report
            .cases
            .iter()
            .filter(|case| category.is_none_or(|category| case.category == category)),
    )
}

fn cell(column: &Column, category: Option<&str>) -> String {
    match &column.graded {
        Ok(report) => {
            let tally = tally(report, category);
            format!("{}{}", tally.mark(), tally.text())
        }
        Err(_) => "not graded".into(),
    }
}

fn about_line(about: &About) -> String {
    format!(
        "Conformance suite {}; target: {}; chunking: {}.",
        about.suite_version,
        about.target,
        about.chunkings.join(", ")
    )
}

const HOW: &str = "Each cell counts the required cases that passed of those graded in the \
    category; skipped cases (the proxy lacks what they need) are counted apart, and \
    informational cases (documented limits) are on each proxy's page. Generated by \
    `conformance matrix` (see conformance/README.md).";

/// A Markdown table cell: no line break, no column separator.
fn md(text: &str) -> String {
    text.replace('\n', " ").replace('|', "\\|")
}

fn markdown_matrix(columns: &[Column], about: &About) -> String {
    let mut out = format!("# Conformance matrix\n\n{}\n\n{HOW}\n\n", about_line(about));
    let _ = write!(out, "| category |");
    for column in columns {
        let _ = write!(out, " [{0}](matrix-{0}.md) |", column.name);
    }
    let _ = write!(out, "\n|---|");
    for _ in columns {
        out.push_str("---|");
    }
    out.push('\n');
    for category in categories(columns) {
        let _ = write!(out, "| {} |", md(&category));
        for column in columns {
            let _ = write!(out, " {} |", cell(column, Some(&category)));
        }
        out.push('\n');
    }
    out.push_str("| **total** |");
    for column in columns {
        let _ = write!(out, " **{}** |", cell(column, None));
    }
    out.push('\n');
    for column in columns {
        if let Err(reason) = &column.graded {
            let _ = write!(out, "\n{} was not graded: {}\n", column.name, md(reason));
        }
    }
    out
}

/// A case's grade in words, the same in both forms of the page.
fn grade_text(case: &CaseResult) -> String {
    match case.grade {
        Grade::Pass => "pass".into(),
        Grade::Fail => "FAIL".into(),
        Grade::Skip => match &case.skip_reason {
            Some(reason) => format!("skip: {reason}"),
            None => "skip".into(),
        },
        Grade::Informational => match case.held {
            Some(true) => "informational: held".into(),
            Some(false) => "informational: did not hold".into(),
            None => "informational".into(),
        },
    }
}

fn version_line(report: &Report) -> String {
    format!(
        "It said it is `{}`.",
        report
            .proxy
            .ssh_version
            .as_deref()
            .unwrap_or("(no SSH version)")
    )
}

fn markdown_detail(column: &Column, about: &About) -> String {
    let mut out = format!(
        "# {} in the conformance matrix\n\n{} [The matrix](matrix.md).\n\n",
        column.name,
        about_line(about)
    );
    let report = match &column.graded {
        Ok(report) => report,
        Err(reason) => {
            let _ = writeln!(out, "Not graded: {}", md(reason));
            return out;
        }
    };
    let _ = write!(
        out,
        "{} Required cases passed: {}. For each failure's expected and actual, transcript and \
         last screen, run the suite against this proxy alone (`conformance run`).\n\n\
         | case | grade | requirement |\n|---|---|---|\n",
        version_line(report),
        tally(report, None).text()
    );
    for case in &report.cases {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            case.id,
            md(&grade_text(case)),
            md(&case.requirement)
        );
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}\
    table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;\
    text-align:left;vertical-align:top}.pass{background:#e6f4ea}.fail{background:#fce8e6}\
    .other{background:#f1f3f4}code{font-size:.95em}";

fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// The class that colours a cell: all required passed, some failed, or neither.
fn cell_class(column: &Column, category: Option<&str>) -> &'static str {
    match &column.graded {
        Ok(report) => {
            let tally = tally(report, category);
            match (tally.failed, tally.passed) {
                (0, 0) => "other",
                (0, _) => "pass",
                _ => "fail",
            }
        }
        Err(_) => "fail",
    }
}

fn html_matrix(columns: &[Column], about: &About) -> String {
    let mut body = format!(
        "<h1>Conformance matrix</h1>\n<p>{}</p>\n<p>{}</p>\n<table>\n<tr><th>category</th>",
        escape(&about_line(about)),
        escape(HOW)
    );
    for column in columns {
        let name = escape(&column.name);
        let _ = write!(body, "<th><a href=\"matrix-{name}.html\">{name}</a></th>");
    }
    body.push_str("</tr>\n");
    let rows = categories(columns)
        .into_iter()
        .map(Some)
        .chain(std::iter::once(None));
    for category in rows {
        let label = category.as_deref().unwrap_or("total");
        let _ = write!(body, "<tr><th>{}</th>", escape(label));
        for column in columns {
            let _ = write!(
                body,
                "<td class=\"{}\">{}</td>",
                cell_class(column, category.as_deref()),
                escape(&cell(column, category.as_deref()))
            );
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</table>\n");
    for column in columns {
        if let Err(reason) = &column.graded {
            let _ = writeln!(
                body,
                "<p>{} was not graded: {}</p>",
                escape(&column.name),
                escape(reason)
            );
        }
    }
    html_page("Conformance matrix", &body)
}

fn html_detail(column: &Column, about: &About) -> String {
    let title = format!("{} in the conformance matrix", column.name);
    let mut body = format!(
        "<h1>{}</h1>\n<p>{} <a href=\"matrix.html\">The matrix</a>.</p>\n",
        escape(&title),
        escape(&about_line(about))
    );
    match &column.graded {
        Err(reason) => {
            let _ = writeln!(body, "<p>Not graded: {}</p>", escape(reason));
        }
        Ok(report) => {
            let _ = write!(
                body,
                "<p>{} Required cases passed: {}.</p>\n<table>\n\
                 <tr><th>case</th><th>grade</th><th>requirement</th></tr>\n",
                escape(&version_line(report).replace('`', "")),
                escape(&tally(report, None).text())
            );
            for case in &report.cases {
                let class = match case.grade {
                    Grade::Pass => "pass",
                    Grade::Fail => "fail",
                    Grade::Skip | Grade::Informational => "other",
                };
                let _ = writeln!(
                    body,
                    "<tr class=\"{class}\"><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                    escape(&case.id),
                    escape(&grade_text(case)),
                    escape(&case.requirement)
                );
            }
            body.push_str("</table>\n");
        }
    }
    html_page(&title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ProxyInfo;

    fn case(id: &str, grade: Grade) -> CaseResult {
        CaseResult {
            id: id.into(),
            category: id.split('/').next().unwrap().into(),
            requirement: "It MUST hold | <b>".into(),
            required: grade != Grade::Informational,
            grade,
            target: "mock".into(),
            tier: "unguarded".into(),
            held: (grade == Grade::Informational).then_some(false),
            time_ms: 7,
            chunkings: Vec::new(),
            failure: None,
            skip_reason: (grade == Grade::Skip).then(|| "needs exec".into()),
        }
    }

    fn report(cases: Vec<CaseResult>) -> Report {
        Report {
            suite_version: "0.1.0".into(),
            proxy: ProxyInfo {
                description: "a proxy at 127.0.0.1:4022".into(),
                ssh_version: Some("SSH-2.0-x".into()),
                ..ProxyInfo::default()
            },
            target: "mock".into(),
            date: "2026-12-06T00:00:00Z".into(),
            total_ms: 1234,
            allow_skip: false,
            cases,
        }
    }

    fn about() -> About {
        About {
            suite_version: "0.1.0".into(),
            target: "mock".into(),
            chunkings: vec!["one-packet".into()],
        }
    }

    fn columns() -> Vec<Column> {
        vec![
            Column {
                name: "good".into(),
                graded: Ok(report(vec![
                    case("basic/a", Grade::Pass),
                    case("basic/b", Grade::Pass),
                    case("bypass/c", Grade::Pass),
                    case("bypass/d", Grade::Informational),
                ])),
            },
            Column {
                name: "bad".into(),
                graded: Ok(report(vec![
                    case("basic/a", Grade::Pass),
                    case("basic/b", Grade::Skip),
                    case("bypass/c", Grade::Fail),
                    case("bypass/d", Grade::Informational),
                ])),
            },
            Column {
                name: "absent".into(),
                graded: Err("it never came up".into()),
            },
        ]
    }

    fn page<'a>(pages: &'a [Page], file: &str) -> &'a str {
        &pages.iter().find(|page| page.file == file).unwrap().text
    }

    #[test]
    fn the_matrix_counts_each_category_per_proxy() {
        let pages = pages(&columns(), &about());
        let files: Vec<&str> = pages.iter().map(|page| page.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "matrix.md",
                "matrix.html",
                "matrix-good.md",
                "matrix-good.html",
                "matrix-bad.md",
                "matrix-bad.html",
                "matrix-absent.md",
                "matrix-absent.html"
            ]
        );
        let matrix = page(&pages, "matrix.md");
        assert!(
            matrix.contains("| basic | ✅ 2/2 | ✅ 1/1, 1 skipped | not graded |"),
            "{matrix}"
        );
        assert!(
            matrix.contains("| bypass | ✅ 1/1 | ❌ 0/1 | not graded |"),
            "{matrix}"
        );
        assert!(
            matrix.contains("| **total** | **✅ 3/3** | **❌ 1/2, 1 skipped** |"),
            "{matrix}"
        );
        assert!(matrix.contains("absent was not graded: it never came up"));
        let informational_only = Column {
            name: "x".into(),
            graded: Ok(report(vec![case("fullscreen/a", Grade::Informational)])),
        };
        assert_eq!(
            cell(&informational_only, Some("fullscreen")),
            "1 informational"
        );
    }

    #[test]
    fn nothing_that_changes_between_runs_is_written() {
        for page in pages(&columns(), &about()) {
            for varying in ["127.0.0.1", "2026-12-06", "1234", "7 ms"] {
                assert!(!page.text.contains(varying), "{}: {varying}", page.file);
            }
        }
    }

    #[test]
    fn the_detail_pages_grade_every_case_and_escape_its_text() {
        let pages = pages(&columns(), &about());
        let detail = page(&pages, "matrix-bad.md");
        assert!(detail.contains("| `bypass/c` | FAIL | It MUST hold \\| <b> |"));
        assert!(detail.contains("| `basic/b` | skip: needs exec |"));
        assert!(detail.contains("| `bypass/d` | informational: did not hold |"));
        let html = page(&pages, "matrix-bad.html");
        assert!(html.contains("It MUST hold | &lt;b&gt;"), "{html}");
        assert!(!html.contains("<b>"));
        let matrix = page(&pages, "matrix.html");
        assert!(
            matrix.contains("<td class=\"fail\">❌ 0/1</td>"),
            "{matrix}"
        );
    }

    #[test]
    fn names_are_file_name_stems() {
        for good in ["sshgate", "pass-through", "naive_2", "v1.2"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "../x", "a/b", "-x", ".hidden", "a b", "ü"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
