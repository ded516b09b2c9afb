//! A person decides at a terminal: each request is shown as a readable block and the answer is
//! read from the terminal.
//!
//! Invariant: only an explicit `y` or `yes` approves; anything else, a read error or end of input
//! denies. An answer counts only for the prompt it was typed under: whatever was typed before a
//! prompt was on the screen (a `y` meant for a request that was withdrawn meanwhile, a line typed
//! ahead) is thrown away when the prompt is shown, never read as its answer. Requests are asked
//! one at a time, in the order they were put to the [`Operator`]; once input has ended every
//! later request is denied with [`CLOSED_REASON`] without asking. Text from the proxy is shown
//! with control characters and the Unicode characters that reorder or hide text escaped, so a
//! command cannot drive the terminal or disguise itself.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use sshgate_wire::{ApprovalRequest, Decision};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};
use tokio::sync::{mpsc, oneshot};

/// The reason given when the operator's input has ended (or failed).
pub const CLOSED_REASON: &str = "approver closed";

/// The reason given when the operator denies without typing one.
pub const OPERATOR_DENY_REASON: &str = "denied by operator";

/// The terminal prompt for a decision.
pub const APPROVE_PROMPT: &str = "approve? [y/N] ";

/// The terminal prompt for a deny reason.
pub const REASON_PROMPT: &str = "reason (enter for none): ";

/// What a person types: lines, each there to be read as soon as it is complete.
pub trait Keyboard {
    /// Throws away, without waiting, everything typed and not read yet. `false` once input has
    /// ended (or failed).
    fn discard_typed(&mut self) -> bool;

    /// The next line typed; `None` at end of input or on an error.
    fn next_line(&mut self) -> impl Future<Output = Option<String>> + Send;
}

/// Any line reader: what it can hand over without waiting counts as typed.
impl<R: AsyncBufRead + Unpin + Send> Keyboard for R {
    fn discard_typed(&mut self) -> bool {
        let mut context = Context::from_waker(Waker::noop());
        loop {
            match Pin::new(&mut *self).poll_fill_buf(&mut context) {
                Poll::Pending => return true,
                Poll::Ready(Ok([])) | Poll::Ready(Err(_)) => return false,
                Poll::Ready(Ok(typed)) => {
                    let length = typed.len();
                    Pin::new(&mut *self).consume(length);
                }
            }
        }
    }

    async fn next_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.read_line(&mut line).await {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line),
        }
    }
}

/// This process's standard input, read by a thread of its own that always waits in a read, so
/// that a line is here as soon as the terminal hands it over (tokio's stdin starts a read only
/// when asked, and could not tell a line typed ahead from one typed under the prompt).
pub struct Stdin {
    lines: mpsc::UnboundedReceiver<String>,
}

impl Stdin {
    /// Starts the reading thread. Its read cannot be cancelled: a program using this should end
    /// with `std::process::exit` rather than wait for the thread.
    pub fn spawn() -> Stdin {
        let (sender, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            loop {
                let mut line = String::new();
                match std::io::BufRead::read_line(&mut stdin, &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if sender.send(line).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Stdin { lines }
    }
}

impl Keyboard for Stdin {
    fn discard_typed(&mut self) -> bool {
        loop {
            match self.lines.try_recv() {
                Ok(_) => {}
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
    }

    async fn next_line(&mut self) -> Option<String> {
        self.lines.recv().await
    }
}

/// One terminal (a [`Keyboard`] and a writer) at which a person decides.
pub struct Terminal<K, W> {
    keyboard: K,
    writer: W,
    closed: bool,
}

impl<K, W> Terminal<K, W>
where
    K: Keyboard,
    W: AsyncWrite + Unpin,
{
    pub fn new(keyboard: K, writer: W) -> Self {
        Terminal {
            keyboard,
            writer,
            closed: false,
        }
    }

    /// Whether input has ended; from then on every request is denied without asking.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Shows `request`, asks for a decision and returns it. Dropping this future mid-read loses
    /// nothing that could count: what was typed under this prompt answers no other.
    pub async fn decide(&mut self, request: &ApprovalRequest) -> Decision {
        if self.closed {
            return Decision::deny(&request.id, CLOSED_REASON);
        }
        let block = format!("{}{APPROVE_PROMPT}", render(request));
        let Some(answer) = self.prompt(&block).await else {
            return Decision::deny(&request.id, CLOSED_REASON);
        };
        if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Decision::approve(&request.id);
        }
        // The operator said no; if input ends now, the no still stands.
        let reason = self.prompt(REASON_PROMPT).await.unwrap_or_default();
        let reason = reason.trim();
        let reason = if reason.is_empty() {
            OPERATOR_DENY_REASON
        } else {
            reason
        };
        Decision::deny(&request.id, reason)
    }

    /// Tells the operator a request they were being asked about was withdrawn.
    pub async fn withdrawn(&mut self, request: &ApprovalRequest) {
        let text = format!(
            "\n(request {} was cancelled by the proxy; no answer needed)\n",
            printable(&request.id)
        );
        if self.write(&text).await.is_err() {
            self.closed = true;
        }
    }

    /// Writes `text`, then reads one line typed under it. `None` (and closed from then on) at end
    /// of input or on an I/O error.
    async fn prompt(&mut self, text: &str) -> Option<String> {
        // What was typed before the prompt is on the screen answers nothing. It is thrown away
        // as the prompt starts to be written, not once the write is done: a quick reader may
        // answer before the writing task hears that its write is done.
        let open = self.keyboard.discard_typed();
        if self.write(text).await.is_err() {
            self.closed = true;
            return None;
        }
        let line = if open {
            self.keyboard.next_line().await
        } else {
            None
        };
        if line.is_none() {
            self.closed = true;
            // End the prompt's line so whatever is printed next starts cleanly.
            let _ = self.write("\n").await;
        }
        line
    }

    async fn write(&mut self, text: &str) -> std::io::Result<()> {
        self.writer.write_all(text.as_bytes()).await?;
        self.writer.flush().await
    }
}

/// The readable block shown for one request (without the prompt).
pub fn render(request: &ApprovalRequest) -> String {
    let certain = if request.certain {
        "yes".to_string()
    } else {
        "no (the proxy cannot be sure this is what will run)".to_string()
    };
    let mut out = format!(
        "\n=== approval request {id} ===\n  user:    {user}\n  client:  {client}\n  target:  {target}\n  session: {session}\n  kind:    {kind}\n  command: {command}\n  certain: {certain}\n",
        id = printable(&request.id),
        user = printable(&request.user),
        client = printable(&request.client),
        target = printable(&request.target),
        session = printable(&request.session),
        kind = request.kind,
        command = printable(&request.command),
    );
    if let Some(typed) = &request.typed {
        out.push_str(&format!("  typed:   {}\n", printable(typed)));
    }
    if let Some(line) = &request.continuation {
        out.push_str(&format!(
            "  new line: {} (the command continues over several lines)\n",
            printable(line)
        ));
    }
    for warning in &request.warnings {
        out.push_str(&format!("  WARNING: {}\n", printable(warning)));
    }
    if request.context.is_empty() {
        out.push_str("  context: (none)\n");
    } else {
        out.push_str("  context:\n");
        for line in &request.context {
            out.push_str("    | ");
            out.push_str(&printable(line));
            out.push('\n');
        }
    }
    out
}

/// `text` with control characters (`\u{1b}`, `\r`, ...) and the characters that reorder, hide or
/// disguise text (bidi controls, zero-width characters, separators, unusual spaces, combining
/// marks) shown as escapes: what Rust's debug form escapes, except quotes and backslashes.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\\' | '"' | '\'' => c.to_string(),
            c => c.escape_debug().to_string(),
        })
        .collect()
}

/// How many requests may wait for the operator. When full, the requests' answering tasks wait
/// for room (their answer is simply later); connection loops are never blocked by it.
const QUEUE_CAPACITY: usize = 256;

struct Question {
    request: ApprovalRequest,
    reply: oneshot::Sender<Decision>,
}

/// A handle to a person deciding at one terminal; cloning shares the person (and the queue).
/// Dropping every handle ends the terminal task once the queue is empty.
#[derive(Clone)]
pub struct Operator {
    questions: mpsc::Sender<Question>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Operator")
    }
}

impl PartialEq for Operator {
    /// Two handles are equal when they ask the same person.
    fn eq(&self, other: &Self) -> bool {
        self.questions.same_channel(&other.questions)
    }
}

impl Operator {
    /// Starts a task asking at the terminal made of `reader` and `writer`. Needs a tokio runtime.
    pub fn spawn<K, W>(keyboard: K, writer: W) -> Self
    where
        K: Keyboard + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (questions, mut queue) = mpsc::channel::<Question>(QUEUE_CAPACITY);
        let mut terminal = Terminal::new(keyboard, writer);
        tokio::spawn(async move {
            while let Some(Question { request, mut reply }) = queue.recv().await {
                // Withdrawn (cancelled, or the proxy gave up) while waiting its turn.
                if reply.is_closed() {
                    continue;
                }
                let decision = tokio::select! {
                    decision = terminal.decide(&request) => Some(decision),
                    () = reply.closed() => None,
                };
                match decision {
                    Some(decision) => {
                        let _ = reply.send(decision);
                    }
                    None => terminal.withdrawn(&request).await,
                }
            }
        });
        Operator { questions }
    }

    /// The person at this process's stdin and stdout.
    ///
    /// stdin is read by a thread whose read cannot be cancelled ([`Stdin`]): a program using
    /// this should end with `std::process::exit` rather than wait for the runtime to shut down.
    pub fn stdio() -> Self {
        Self::spawn(Stdin::spawn(), tokio::io::stdout())
    }

    /// A person who types each of `answers` only once its prompt is on the screen, then ends
    /// input; for tests and demonstrations.
    pub fn scripted(answers: &[&str]) -> Self {
        let (keyboard, typing) = tokio::io::duplex(1024);
        let (screen, display) = tokio::io::duplex(64 * 1024);
        let answers = answers.iter().map(|answer| answer.to_string()).collect();
        tokio::spawn(answer_each_prompt(display, typing, answers));
        Self::spawn(tokio::io::BufReader::new(keyboard), screen)
    }

    /// Asks the operator about `request` and waits for the answer. Dropping the returned future
    /// withdraws the question. Denies with [`CLOSED_REASON`] if the terminal task is gone.
    pub async fn ask(&self, request: ApprovalRequest) -> Decision {
        let id = request.id.clone();
        let (reply, answer) = oneshot::channel();
        if self
            .questions
            .send(Question { request, reply })
            .await
            .is_err()
        {
            return Decision::deny(id, CLOSED_REASON);
        }
        answer
            .await
            .unwrap_or_else(|_| Decision::deny(id, CLOSED_REASON))
    }
}

/// Reads what the terminal shows from `display`; each time a new prompt is the last thing on it,
/// types the next of `answers` on `keyboard`, and ends input after the last one. Returns
/// everything shown, once the terminal is gone.
pub async fn answer_each_prompt<D, K>(mut display: D, keyboard: K, answers: Vec<String>) -> String
where
    D: AsyncRead + Unpin,
    K: AsyncWrite + Unpin,
{
    let mut keyboard = Some(keyboard).filter(|_| !answers.is_empty());
    let mut answers = answers.into_iter();
    let mut shown = String::new();
    let mut answered = 0;
    let mut buffer = [0u8; 4096];
    while let Ok(read @ 1..) = display.read(&mut buffer).await {
        shown.push_str(&String::from_utf8_lossy(&buffer[..read]));
        let prompts = shown.matches(APPROVE_PROMPT).count() + shown.matches(REASON_PROMPT).count();
        let at_prompt = shown.ends_with(APPROVE_PROMPT) || shown.ends_with(REASON_PROMPT);
        if prompts > answered && at_prompt {
            answered = prompts;
            if let (Some(typing), Some(answer)) = (keyboard.as_mut(), answers.next()) {
                let _ = typing.write_all(format!("{answer}\n").as_bytes()).await;
                let _ = typing.flush().await;
            }
            if answers.len() == 0 {
                keyboard = None;
            }
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use sshgate_wire::RequestKind;
    use std::time::Duration;
    use tokio::io::{duplex, AsyncReadExt, BufReader, DuplexStream};

    fn request(id: &str, command: &str) -> ApprovalRequest {
        ApprovalRequest {
            id: id.into(),
            session: "s1".into(),
            kind: RequestKind::Exec,
            command: command.into(),
            user: "alice".into(),
            client: "127.0.0.1:5000".into(),
            target: "10.0.0.1:22".into(),
            certain: false,
            context: vec!["$ cd /tmp".into(), "\x1b[31mred".into()],
            ..ApprovalRequest::default()
        }
    }

    /// The decisions on `requests` of a person who typed `typed_ahead` before the first one was
    /// shown, then types each of `answers` under its prompt; and what the terminal showed.
    async fn run_typed_ahead(
        typed_ahead: &str,
        answers: &[&str],
        requests: &[ApprovalRequest],
    ) -> (Vec<Decision>, String) {
        let (keyboard, mut typing) = duplex(1024);
        let (screen, display) = duplex(64 * 1024);
        typing.write_all(typed_ahead.as_bytes()).await.unwrap();
        let answers = answers.iter().map(|answer| answer.to_string()).collect();
        let person = tokio::spawn(answer_each_prompt(display, typing, answers));
        let mut terminal = Terminal::new(BufReader::new(keyboard), screen);
        let mut decisions = Vec::new();
        for request in requests {
            decisions.push(terminal.decide(request).await);
        }
        drop(terminal);
        (decisions, person.await.unwrap())
    }

    async fn run(answers: &[&str], requests: &[ApprovalRequest]) -> (Vec<Decision>, String) {
        run_typed_ahead("", answers, requests).await
    }

    #[tokio::test]
    async fn yes_approves_and_the_block_is_readable() {
        let (decisions, output) = run(&["y"], &[request("r1", "rm -rf /tmp/x")]).await;
        assert_eq!(decisions, vec![Decision::approve("r1")]);
        for expected in [
            "user:    alice",
            "client:  127.0.0.1:5000",
            "target:  10.0.0.1:22",
            "kind:    exec",
            "command: rm -rf /tmp/x",
            "certain: no",
            "    | $ cd /tmp",
            "    | \\u{1b}[31mred",
        ] {
            assert!(output.contains(expected), "{expected:?} not in {output}");
        }
        assert!(output.ends_with(APPROVE_PROMPT), "{output}");
        assert!(!output.contains('\x1b'), "escape reached the terminal");
    }

    #[test]
    fn text_that_reorders_or_hides_itself_is_shown_escaped() {
        // A right-to-left override would show `rm -rf / #txt.exe` reversed after it.
        let command = "ls \u{202e}fdp.exe\u{202c} \u{200b}x\u{2028}y\r\u{9b}2K 'a' \"b\" c\\d é";
        let shown = render(&request("r1", command));
        assert!(
            shown.contains(
                r#"command: ls \u{202e}fdp.exe\u{202c} \u{200b}x\u{2028}y\r\u{9b}2K 'a' "b" c\d é"#
            ),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn yes_in_any_case_approves_and_anything_else_denies() {
        let reqs = [request("a", "x"), request("b", "y"), request("c", "z")];
        let (decisions, output) = run(&[" YES ", "no", "not today", "sure", ""], &reqs).await;
        assert_eq!(
            decisions,
            vec![
                Decision::approve("a"),
                Decision::deny("b", "not today"),
                Decision::deny("c", OPERATOR_DENY_REASON),
            ]
        );
        assert_eq!(output.matches(REASON_PROMPT).count(), 2);
    }

    #[tokio::test]
    async fn end_of_input_denies_everything_as_closed() {
        let reqs = [request("a", "x"), request("b", "y")];
        let (decisions, output) = run(&[], &reqs).await;
        assert_eq!(
            decisions,
            vec![
                Decision::deny("a", CLOSED_REASON),
                Decision::deny("b", CLOSED_REASON)
            ]
        );
        // The second request is not even shown: nobody is there to answer.
        assert_eq!(output.matches(APPROVE_PROMPT).count(), 1);
    }

    #[tokio::test]
    async fn end_of_input_at_the_reason_keeps_the_no() {
        let (decisions, _) = run(&["n"], &[request("a", "x"), request("b", "y")]).await;
        assert_eq!(
            decisions,
            vec![
                Decision::deny("a", OPERATOR_DENY_REASON),
                Decision::deny("b", CLOSED_REASON)
            ]
        );
    }

    #[tokio::test]
    async fn lines_typed_before_a_prompt_is_shown_answer_nothing() {
        // Typed ahead: a yes, and a reason. Neither was typed under a prompt.
        let (decisions, output) = run_typed_ahead(
            "y\nsome reason\n",
            &["n", "", "yes"],
            &[request("a", "x"), request("b", "y")],
        )
        .await;
        assert_eq!(
            decisions,
            vec![
                Decision::deny("a", OPERATOR_DENY_REASON),
                Decision::approve("b")
            ]
        );
        assert_eq!(output.matches(REASON_PROMPT).count(), 1);
    }

    /// Reads `display` into `shown` until `done` holds (at most a few seconds).
    async fn read_until(
        display: &mut DuplexStream,
        shown: &mut String,
        done: impl Fn(&str) -> bool,
    ) -> Result<(), String> {
        let reading = async {
            while !done(shown) {
                let mut buffer = [0u8; 1024];
                let read = display.read(&mut buffer).await.unwrap();
                assert!(read > 0, "the screen closed; shown: {shown}");
                shown.push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        };
        tokio::time::timeout(Duration::from_secs(5), reading)
            .await
            .map_err(|_| format!("not shown in time; shown: {shown}"))
    }

    fn asked(operator: &Operator, id: &str, command: &str) -> tokio::task::JoinHandle<Decision> {
        let operator = operator.clone();
        let request = request(id, command);
        tokio::spawn(async move { operator.ask(request).await })
    }

    #[tokio::test]
    async fn a_yes_typed_after_a_request_was_withdrawn_does_not_answer_the_next() {
        let (input, mut keyboard) = duplex(1024);
        let (screen, mut display) = duplex(64 * 1024);
        let operator = Operator::spawn(BufReader::new(input), screen);
        let mut shown = String::new();

        let first = asked(&operator, "r1", "one");
        read_until(&mut display, &mut shown, |s| s.ends_with(APPROVE_PROMPT))
            .await
            .unwrap();
        // The proxy cancels r1 while it is on the screen; the person, a moment late, says yes.
        first.abort();
        let _ = first.await;
        read_until(&mut display, &mut shown, |s| {
            s.contains("request r1 was cancelled")
        })
        .await
        .unwrap();
        keyboard.write_all(b"y\n").await.unwrap();

        // r2 is shown after that yes: it waits for an answer typed under it.
        let second = asked(&operator, "r2", "two");
        read_until(&mut display, &mut shown, |s| {
            s.contains("command: two") && s.ends_with(APPROVE_PROMPT)
        })
        .await
        .unwrap();
        keyboard.write_all(b"n\n").await.unwrap();
        let at_reason = read_until(&mut display, &mut shown, |s| s.ends_with(REASON_PROMPT)).await;
        if let Err(failure) = at_reason {
            second.abort();
            let decided = second.await;
            panic!("the yes typed before r2 was shown answered it ({decided:?}); {failure}");
        }
        keyboard.write_all(b"\n").await.unwrap();
        assert_eq!(
            second.await.unwrap(),
            Decision::deny("r2", OPERATOR_DENY_REASON)
        );
    }

    #[tokio::test]
    async fn operator_asks_in_order_and_skips_withdrawn_questions() {
        let (input, mut keyboard) = duplex(1024);
        let (screen, mut display) = duplex(64 * 1024);
        let operator = Operator::spawn(BufReader::new(input), screen);
        let mut shown = String::new();

        let first = asked(&operator, "r1", "one");
        // Wait until the first question is on screen before queueing more.
        read_until(&mut display, &mut shown, |s| s.ends_with(APPROVE_PROMPT))
            .await
            .unwrap();
        assert!(shown.contains("command: one"));
        let withdrawn = asked(&operator, "r2", "two");
        let third = asked(&operator, "r3", "three");
        tokio::task::yield_now().await;
        withdrawn.abort();
        let _ = withdrawn.await;

        keyboard.write_all(b"y\n").await.unwrap();
        assert_eq!(first.await.unwrap(), Decision::approve("r1"));
        read_until(&mut display, &mut shown, |s| {
            s.contains("command: three") && s.ends_with(APPROVE_PROMPT)
        })
        .await
        .unwrap();
        keyboard.write_all(b"n\n").await.unwrap();
        read_until(&mut display, &mut shown, |s| s.ends_with(REASON_PROMPT))
            .await
            .unwrap();
        keyboard.write_all(b"nope\n").await.unwrap();
        assert_eq!(third.await.unwrap(), Decision::deny("r3", "nope"));

        drop(keyboard);
        drop(operator);
        display.read_to_string(&mut shown).await.unwrap();
        assert!(!shown.contains("command: two"), "{shown}");
    }

    #[tokio::test]
    async fn a_scripted_person_answers_each_prompt_in_turn() {
        let operator = Operator::scripted(&["n", "risky", "y"]);
        assert_eq!(
            operator.ask(request("a", "x")).await,
            Decision::deny("a", "risky")
        );
        assert_eq!(
            operator.ask(request("b", "y")).await,
            Decision::approve("b")
        );
        // Input has ended.
        assert_eq!(
            operator.ask(request("c", "z")).await,
            Decision::deny("c", CLOSED_REASON)
        );
    }
}
