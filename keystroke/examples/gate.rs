//! A proxy's input gate built on the reconstructor, as another proxy would write it: every
//! byte the operator sends goes through [`Reconstructor::push`]; a submit is held, with all
//! input after it, until an approver decides. README.md quotes this file; `cargo test` builds it.
//!
//! `cargo run -p sshgate-keystroke --example gate`

use sshgate_keystroke::{ByteAction, Reconstructor};

/// Stands for the approver: deny any command that runs sudo.
fn approve(line: &str, certain: bool) -> bool {
    certain && !line.split_whitespace().any(|word| word == "sudo")
}

fn main() {
    let mut keys = Reconstructor::new();
    // The target printed ESC[?2004h (its readline takes a paste as text); a proxy watches the
    // target's output for it and for ESC[?2004l.
    keys.set_bracketed_paste(true);
    // What the operator typed: a line, then one edited with C-a to put `sudo ` in front.
    let typed = b"uptime\rrm -rf /srv/cache\x01sudo \r";
    let mut to_target: Vec<u8> = Vec::new();
    for &byte in typed {
        match keys.push(byte) {
            // Ctrl+C goes through: the shell drops its line, and so does the model.
            ByteAction::Forward | ByteAction::Interrupt => to_target.push(byte),
            // The rest of a paste whose line was denied.
            ByteAction::Discard => {}
            ByteAction::Submit(submit) => {
                // Here a real proxy stops reading the operator's input until the decision.
                let approved = approve(&submit.line, submit.certain);
                println!(
                    "asked about {:?} ({:?}): {approved}",
                    submit.line, submit.key
                );
                if approved {
                    to_target.push(byte);
                    keys.accepted();
                } else {
                    // Keys that make the shell discard its whole line, wherever the cursor is.
                    to_target.extend(keys.denied());
                }
            }
        }
    }
    println!(
        "sent to the target: {:?}",
        String::from_utf8_lossy(&to_target)
    );
}
