//! Every binary prints a completion script for each shell clap_complete knows and a man page,
//! as its `completions SHELL` and `man` commands (documented in README.md).

use std::process::Command;

use sshgate_tests::process::binary;

/// The binaries a user installs.
const BINARIES: [&str; 4] = ["sshgate", "conformance", "mock-target", "mock-approver"];
const SHELLS: [&str; 5] = ["bash", "zsh", "fish", "elvish", "powershell"];

/// Whether `program` is on the PATH.
pub fn has(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn run(name: &str, args: &[&str]) -> String {
    let output = Command::new(binary(name)).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn every_binary_prints_completions_for_every_shell() {
    for name in BINARIES {
        for shell in SHELLS {
            let script = run(name, &["completions", shell]);
            assert!(
                script.contains(name),
                "{name} completions {shell}:\n{script}"
            );
            assert!(
                script.contains("help"),
                "{name} completions {shell}:\n{script}"
            );
        }
    }
}

#[test]
fn bash_loads_each_completion_script_and_it_completes_a_flag() {
    if !has("bash") {
        return;
    }
    for name in BINARIES {
        let script = run(name, &["completions", "bash"]);
        // Load the script, then ask its function what `NAME --he<TAB>` completes to.
        let probe = format!(
            "{script}\nCOMP_WORDS=({name} --he); COMP_CWORD=1; COMP_LINE='{name} --he'; \
             COMP_POINT=${{#COMP_LINE}}\n\
             \"$(complete -p {name} | sed -E 's/.* -F ([^ ]+) .*/\\1/')\" {name} --he {name}\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let output = Command::new("bash").arg("-c").arg(&probe).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.lines().any(|line| line.trim() == "--help"),
            "{name}: bash completed `--he` to {stdout:?}; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn every_binary_prints_its_man_page() {
    for name in BINARIES {
        let page = run(name, &["man"]);
        assert!(
            page.starts_with(".ie") || page.starts_with(".TH"),
            "{name} man:\n{page}"
        );
        assert!(page.contains(&format!(".TH {name}")), "{name} man:\n{page}");
        assert!(page.contains("\\-\\-help"), "{name} man:\n{page}");
    }
}
