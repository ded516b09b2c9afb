//! The corpus: every scenario file under a folder, loaded and checked together.
//!
//! Invariant: ids are unique and each file's id matches its place (`corpus/<category>/<name>.toml`
//! holds `category/name`), so a failure report leads straight to its file.

use std::path::{Path, PathBuf};

use crate::format::{self, FormatError, Scenario};

include!(concat!(env!("OUT_DIR"), "/corpus.rs"));

/// The corpus shipped with this crate, as files (a checkout or an unpacked package). A
/// program that may run far from its source, such as an installed `conformance`, reads
/// [`EMBEDDED`] instead.
pub fn builtin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// Load every `*.toml` below `dir`, sorted by id.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, FormatError> {
    load_matching(dir, "")
}

/// Load the files below `dir` whose id starts with `prefix` (a category, `editing/`, or one
/// case), sorted by id; other files are not read at all.
pub fn load_matching(dir: &Path, prefix: &str) -> Result<Vec<Scenario>, FormatError> {
    let mut files = Vec::new();
    collect(dir, &mut files).map_err(|error| FormatError::Toml {
        file: dir.display().to_string(),
        message: error.to_string(),
    })?;
    let mut scenarios = Vec::new();
    for file in files {
        let expected = expected_id(dir, &file);
        if !expected.starts_with(prefix) {
            continue;
        }
        let scenario = format::load(&file)?;
        if scenario.id != expected {
            return Err(FormatError::Invalid {
                file: file.display().to_string(),
                message: format!(
                    "id {:?} does not match the file's place ({expected})",
                    scenario.id
                ),
            });
        }
        scenarios.push(scenario);
    }
    scenarios.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(scenarios)
}

fn expected_id(dir: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(dir).unwrap_or(file).with_extension("");
    relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            files.push(path);
        }
    }
    Ok(())
}
