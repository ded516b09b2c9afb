//! Integration tests for the keystroke reconstructor, through its public API only.
//! `support` holds the key notation and the replay helpers every module uses.

mod bypass;
mod editing;
mod history_expansion;
mod invariant;
mod paste_text;
mod shell_syntax;
mod submit_keys;
mod support;
mod utf8;

/// README.md shows examples/gate.rs; the copy there must be the file as it is.
#[test]
fn readme_quotes_the_gate_example_as_it_is() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let example = std::fs::read_to_string(dir.join("examples/gate.rs")).unwrap();
    let code: String = example
        .lines()
        .skip_while(|line| line.starts_with("//!") || line.is_empty())
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(
        readme.contains(&format!("```rust\n{code}```")),
        "keystroke/README.md does not quote examples/gate.rs as it is:\n{code}"
    );
}
