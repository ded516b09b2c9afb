//! README.md's "The three binaries together", block by block, on an empty HOME.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sshgate_tests::process::binary;

/// How long a server may take to print its readiness line.
const READY: Duration = Duration::from_secs(30);
/// The ports the README uses, in the order they are replaced.
const README_PORTS: [&str; 3] = ["2200", "2201", "2222"];

/// The indented code blocks of the README section titled `title`, each as its lines with the
/// four spaces of indentation removed.
fn blocks(readme: &str, title: &str) -> Vec<String> {
    let section = readme
        .split("\n## ")
        .find(|section| section.starts_with(title))
        .unwrap_or_else(|| panic!("README.md has no section {title:?}"));
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        match line.strip_prefix("    ") {
            Some(code) => current
                .get_or_insert_with(String::new)
                .push_str(&format!("{code}\n")),
            None if line.trim().is_empty() => {}
            None => blocks.extend(current.take()),
        }
    }
    blocks.extend(current);
    blocks
}

/// One block's commands: lines joined at a trailing backslash, each with the comment lines
/// after it (`#   expected output`), comments stripped of `#` and spaces.
fn commands(block: &str) -> Vec<(String, Vec<String>)> {
    let mut commands: Vec<(String, Vec<String>)> = Vec::new();
    let mut continued = false;
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix('#') {
            let (_, expected) = commands.last_mut().expect("a comment after a command");
            expected.push(comment.trim().to_string());
        } else if continued {
            let (command, _) = commands.last_mut().expect("a continued command");
            command.push('\n');
            command.push_str(line);
        } else {
            commands.push((line.to_string(), Vec::new()));
        }
        continued = line.ends_with('\\');
    }
    commands
}

/// A scratch machine: an empty HOME, and a folder standing for the checkout whose
/// `target/release` holds this build's binaries.
struct Machine {
    _dir: tempfile::TempDir,
    home: PathBuf,
    checkout: PathBuf,
    ports: Vec<String>,
}

impl Machine {
    fn new() -> Machine {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let checkout = dir.path().join("checkout");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(checkout.join("target")).unwrap();
        let built = binary("sshgate");
        std::os::unix::fs::symlink(built.parent().unwrap(), checkout.join("target/release"))
            .unwrap();
        let mut ports: Vec<String> = Vec::new();
        while ports.len() < README_PORTS.len() {
            let port = portpicker::pick_unused_port()
                .expect("a free port")
                .to_string();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        Machine {
            _dir: dir,
            home,
            checkout,
            ports,
        }
    }

    /// `text` with the README's ports replaced by this machine's.
    fn ported(&self, text: &str) -> String {
        README_PORTS
            .iter()
            .zip(&self.ports)
            .fold(text.to_string(), |text, (from, to)| text.replace(from, to))
    }

    /// A bash running `script` as a newcomer's terminal would: in the checkout, HOME empty.
    fn shell(&self, script: &str) -> Command {
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(self.ported(script))
            .current_dir(&self.checkout)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("USER", "newcomer")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null());
        command
    }

    /// Start a server block and wait for the readiness line the README says it prints.
    fn start(&self, block: &str) -> Running {
        let (command, expected) = commands(block).remove(0);
        let ready = self.ported(expected.first().expect("the readiness line, as a comment"));
        // `exec`: the server is the shell's process, so stopping the child stops it.
        let mut child = self
            .shell(&format!("exec {command}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let running = Running(child);
        let line = rx
            .recv_timeout(READY)
            .unwrap_or_else(|_| panic!("no readiness line from:\n{command}"));
        assert_eq!(line, ready, "the readiness line of:\n{command}");
        running
    }
}

/// A server started from a block, stopped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap()
}

#[test]
fn three_binaries_together_work_as_pasted_on_a_fresh_home() {
    if !crate::completions::has("ssh") || !crate::completions::has("ssh-keygen") {
        assert!(
            std::env::var_os("CI").is_none(),
            "ssh and ssh-keygen are needed"
        );
        eprintln!("skipped: OpenSSH's ssh and ssh-keygen are not installed");
        return;
    }
    // The section goes on about other things (the throughput benchmark's block) after these.
    let blocks = blocks(&readme(), "The three binaries together");
    let [setup, target, approver, proxy, operator, ..] = blocks.as_slice() else {
        panic!("expected five blocks (setup, three servers, ssh), found {blocks:#?}");
    };
    let machine = Machine::new();

    // The build is done: the rest of the setup block runs as it stands.
    let setup: String = setup
        .lines()
        .filter(|line| !line.starts_with("cargo build"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(setup.contains("ssh-keygen"), "{setup}");
    let output = machine.shell(&format!("set -e\n{setup}")).output().unwrap();
    assert!(
        output.status.success(),
        "the setup block failed:\n{setup}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let _target = machine.start(target);
    let _approver = machine.start(approver);
    let _proxy = machine.start(proxy);

    let commands = commands(operator);
    assert_eq!(commands.len(), 2, "{operator}");
    for (command, expected) in &commands {
        let output = machine.shell(command).output().unwrap();
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for line in expected {
            assert!(
                printed.lines().any(|printed| printed == line),
                "`{command}` printed\n{printed}\nnot the line the README shows: {line}"
            );
        }
        let denied = command.contains("DENY");
        assert_eq!(
            output.status.code(),
            Some(if denied { 1 } else { 0 }),
            "exit status of `{command}`; it printed\n{printed}"
        );
    }

    // What the README says the events show: the approved command ran, the denied one never
    // reached the target.
    let events =
        std::fs::read_to_string(machine.home.join("sshgate-try/target.jsonl")).unwrap_or_default();
    assert!(events.contains(r#""command":"echo hi""#), "{events}");
    assert!(!events.contains("DENY"), "{events}");
}

#[test]
fn blocks_and_commands_are_read_as_a_reader_sees_them() {
    let readme =
        "# x\n\n## Try\n\nText.\n\n    one \\\n      two\n    #   out\n\nMore.\n\n    three\n";
    let blocks = blocks(readme, "Try");
    assert_eq!(blocks, ["one \\\n  two\n#   out\n", "three\n"]);
    assert_eq!(
        commands(&blocks[0]),
        [("one \\\n  two".to_string(), vec!["out".to_string()])]
    );
}
