//! docs/matrix*: the conformance matrix of sshgate, the naive proxy and the pass-through, as
//! `conformance matrix` writes it. When a page is stale (a case added or renamed, a grade
//! changed) this fails; `SSHGATE_UPDATE_MATRIX=1` writes the new pages into docs/ instead.
//!
//! A test binary of its own, so that it runs alone: beside the corpus self-run (hundreds of
//! replays at once), the naive proxy's grade on a timing-sensitive case could change.

use std::path::{Path, PathBuf};
use std::process::Command;

use sshgate_tests::process::binary;

use sshgate_tests::launch_lines::{sshgate, template, NAIVE_BYPASSES, NAIVE_FLAGS};

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

/// The pages in `dir`: every `matrix*` file, by name.
fn pages(dir: &Path) -> Vec<(String, String)> {
    let mut pages: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("matrix"))
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(&name)).unwrap();
            (name, text)
        })
        .collect();
    pages.sort();
    pages
}

#[test]
fn docs_matrix_is_what_the_runner_writes() {
    let out = tempfile::tempdir().unwrap();
    // The launched tests' options: one chunking, the approval time-out the proxies are given.
    let status = Command::new(binary("conformance"))
        .args([
            "matrix",
            "--chunking",
            "one-packet",
            "--approval-timeout",
            "1",
        ])
        .arg("--out")
        .arg(out.path())
        .arg("--proxy")
        .arg(format!("sshgate={}", sshgate("{approval_timeout}")))
        .arg("--proxy")
        .arg(format!("naive={}", template("naive-proxy", NAIVE_FLAGS)))
        .arg("--proxy")
        .arg(format!(
            "pass-through={}",
            template("passthrough-proxy", "")
        ))
        .status()
        .expect("the runner starts");
    assert!(status.success(), "{status:?}");
    let written = pages(out.path());

    // What the matrix must show, whatever is committed.
    let page = |name: &str| {
        let found = written.iter().find(|(file, _)| file == name);
        found.map(|(_, text)| text.as_str()).unwrap_or_default()
    };
    let total = page("matrix.md")
        .lines()
        .find(|line| line.starts_with("| **total**"))
        .unwrap_or_default()
        .to_string();
    let cells: Vec<&str> = total.split('|').map(str::trim).collect();
    assert!(cells[2].starts_with("**✅ "), "sshgate: {total}");
    assert!(cells[4].starts_with("**❌ 0/"), "the pass-through: {total}");
    let naive = page("matrix-naive.md");
    for id in NAIVE_BYPASSES {
        assert!(
            naive.contains(&format!("| `{id}` | FAIL |")),
            "{id}:\n{naive}"
        );
    }

    if std::env::var_os("SSHGATE_UPDATE_MATRIX").is_some() {
        for (name, _) in pages(&docs()) {
            std::fs::remove_file(docs().join(name)).unwrap();
        }
        for (name, text) in &written {
            std::fs::write(docs().join(name), text).unwrap();
        }
        return;
    }
    let committed = pages(&docs());
    let stale: Vec<&str> = written
        .iter()
        .filter(|page| !committed.contains(page))
        .map(|(name, _)| name.as_str())
        .chain(
            committed
                .iter()
                .filter(|(name, _)| !written.iter().any(|(other, _)| other == name))
                .map(|(name, _)| name.as_str()),
        )
        .collect();
    assert!(
        stale.is_empty(),
        "docs/ is out of date: {stale:?}; write it anew with \
         SSHGATE_UPDATE_MATRIX=1 cargo test -p sshgate-tests --test matrix"
    );
}
