//! Embeds the scenario corpus in this crate, so that a program built on it (the `conformance`
//! runner, installed with `cargo install`) needs no source tree: every
//! `corpus/<category>/<name>.toml` becomes an entry of [`corpus::EMBEDDED`]
//! (relative path, contents).
//!
//! The corpus lives inside this package, so `cargo package` carries it in the `.crate` file
//! with no `include` rule and no second copy: a packaged crate builds the same table as a
//! checkout.

use std::path::{Path, PathBuf};

fn main() {
    // Read when the script runs, not when it was compiled: a build directory reused by a
    // checkout elsewhere keeps the compiled script.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let corpus = Path::new(&manifest_dir).join("corpus");
    println!("cargo::rerun-if-changed={}", corpus.display());
    let mut files = Vec::new();
    collect(&corpus, &mut files);
    files.sort();
    let mut out = String::from("/// The corpus built into this crate: (path below the corpus folder, file contents).\npub const EMBEDDED: &[(&str, &str)] = &[\n");
    for file in &files {
        println!("cargo::rerun-if-changed={}", file.display());
        let relative = file.strip_prefix(&corpus).expect("below the corpus");
        out.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            relative.to_string_lossy(),
            file.canonicalize().expect("corpus file").to_string_lossy()
        ));
    }
    out.push_str("];\n");
    let target =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("corpus.rs");
    std::fs::write(target, out).expect("write the embedded corpus");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            files.push(path);
        }
    }
}
