//! The suite: the corpus built into the binary (`scenarios::corpus::EMBEDDED`), plus any
//! scenario folders the user adds, and the selection of cases by glob.
//!
//! Invariant: every case id appears once; a user's scenario with the id of a built-in one is an
//! error, not a silent replacement.

use std::path::Path;

use globset::{Glob, GlobMatcher};
use scenarios::format::{self, FormatError};
use scenarios::Scenario;

/// The version of the suite: the cases change with the crate's version.
pub const SUITE_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("--cases {0:?}: {1}")]
    Glob(String, String),
    #[error("{0}: the case id {1:?} is already in the suite")]
    Duplicate(String, String),
}

/// The built-in cases.
pub fn builtin() -> Result<Vec<Scenario>, SuiteError> {
    scenarios::corpus::EMBEDDED
        .iter()
        .map(|(path, text)| Ok(format::parse(&format!("corpus/{path}"), text)?))
        .collect()
}

/// The built-in cases, then those under each of `extra`, sorted by id.
pub fn load(extra: &[impl AsRef<Path>]) -> Result<Vec<Scenario>, SuiteError> {
    let mut cases = builtin()?;
    for dir in extra {
        for scenario in scenarios::corpus::load_dir(dir.as_ref())? {
            if cases.iter().any(|case| case.id == scenario.id) {
                return Err(SuiteError::Duplicate(
                    dir.as_ref().display().to_string(),
                    scenario.id,
                ));
            }
            cases.push(scenario);
        }
    }
    cases.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(cases)
}

/// Which cases a `--cases` pattern picks: a glob over ids (`editing/*`, `*ctrl-c*`), where a
/// bare category (`bypass`) means all of it.
pub struct Selection {
    matcher: Option<GlobMatcher>,
}

impl Selection {
    pub fn all() -> Self {
        Selection { matcher: None }
    }

    pub fn parse(pattern: &str) -> Result<Self, SuiteError> {
        let pattern = if pattern.contains(['*', '?', '[', '/']) {
            pattern.to_string()
        } else {
            format!("{pattern}/*")
        };
        let matcher = Glob::new(&pattern)
            .map_err(|error| SuiteError::Glob(pattern.clone(), error.to_string()))?
            .compile_matcher();
        Ok(Selection {
            matcher: Some(matcher),
        })
    }

    pub fn picks(&self, scenario: &Scenario) -> bool {
        self.matcher
            .as_ref()
            .is_none_or(|matcher| matcher.is_match(&scenario.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_corpus_parses_and_is_large() {
        let cases = builtin().unwrap();
        assert!(cases.len() >= 150, "{} cases", cases.len());
        let mut ids: Vec<_> = cases.iter().map(|case| case.id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), cases.len());
    }

    #[test]
    fn selection_by_category_and_glob() {
        let cases = builtin().unwrap();
        let count = |pattern: &str| {
            let selection = Selection::parse(pattern).unwrap();
            cases.iter().filter(|case| selection.picks(case)).count()
        };
        let bypass = cases
            .iter()
            .filter(|case| case.category() == "bypass")
            .count();
        assert_eq!(count("bypass"), bypass);
        assert_eq!(count("bypass/*"), bypass);
        assert_eq!(count("basic/approve-echo"), 1);
        assert_eq!(count("nothing-like-this"), 0);
        assert!(Selection::parse("[").is_err());
    }
}
