//! The line the target shows, against real bash: keys that make readline put text on the line
//! that no key spelled (TAB completion, history recall, reverse search) are shown to the
//! approver as the line bash displays, marked uncertain, with the model's text beside it; and
//! that displayed line is exactly what bash then runs.

use real_target::{Record, TargetOptions};
use sshgate::ClientAuth;
use sshgate_tests::operator::Shell;

use crate::Front;

/// Type `keys` at the prompt, wait for bash to run the line and show its next prompt, and
/// return the line bash ran. (Keys typed before the prompt shows would be echoed by the tty
/// ahead of it, and the screen would not show the line as bash holds it.)
async fn run(front: &Front, shell: &mut Shell, keys: &[u8]) -> String {
    let mark = shell.mark();
    shell.send(keys).await.unwrap();
    let ran = front.target.next_line().await.unwrap();
    assert_eq!(front.target.next_record().await.unwrap(), Record::Prompt);
    shell.expect_after(mark, "\r\n\x1b[?2004h$ ").await.unwrap();
    ran
}

/// The last request the approver saw.
fn last_request(front: &Front) -> sshgate_wire::ApprovalRequest {
    front.approvals.requests().pop().expect("a request")
}

#[tokio::test]
async fn tab_completion_is_shown_as_the_completed_line() {
    let Some(front) = Front::start(TargetOptions::default(), ClientAuth::InsecureAcceptAny).await
    else {
        return;
    };
    let mut shell = front.shell_at_prompt().await;
    let ran = run(&front, &mut shell, b"ech\thi\r").await;
    assert_eq!(ran, "echo hi");
    let request = last_request(&front);
    assert_eq!(request.command, "echo hi", "{request:?}");
    assert!(!request.certain);
    // Beside it, what the keys alone spell (the model cannot know what TAB inserts).
    let typed = request
        .typed
        .expect("the model's text beside the displayed line");
    assert!(
        typed.starts_with("ech") && typed.ends_with("hi"),
        "{typed:?}"
    );
}

#[tokio::test]
async fn history_recall_is_shown_as_the_recalled_line() {
    let Some(front) = Front::start(TargetOptions::default(), ClientAuth::InsecureAcceptAny).await
    else {
        return;
    };
    let mut shell = front.shell_at_prompt().await;
    assert_eq!(run(&front, &mut shell, b"echo first\r").await, "echo first");
    // Up arrow, then Enter: bash runs the previous line again.
    let ran = run(&front, &mut shell, b"\x1b[A\r").await;
    assert_eq!(ran, "echo first");
    let request = last_request(&front);
    assert_eq!(request.command, "echo first", "{request:?}");
    assert!(!request.certain);
}

#[tokio::test]
async fn reverse_search_is_shown_as_the_line_found() {
    let Some(front) = Front::start(TargetOptions::default(), ClientAuth::InsecureAcceptAny).await
    else {
        return;
    };
    let mut shell = front.shell_at_prompt().await;
    assert_eq!(run(&front, &mut shell, b"echo first\r").await, "echo first");
    assert_eq!(
        run(&front, &mut shell, b"echo second\r").await,
        "echo second"
    );
    // C-r "firs", then Enter: bash runs the line the search found.
    let ran = run(&front, &mut shell, b"\x12firs\r").await;
    assert_eq!(ran, "echo first");
    let request = last_request(&front);
    assert_eq!(request.command, "echo first", "{request:?}");
    assert!(!request.certain);
}
