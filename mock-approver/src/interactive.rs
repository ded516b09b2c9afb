//! A person decides at a terminal: each request is shown as a readable block and the answer is
//! read from the terminal.
//!
//! Invariant: only an explicit `y` or `yes` approves; anything else, a read error or end of input
//! denies. Requests are asked one at a time, in the order they were put to the [`Operator`]; once
//! input has ended every later request is denied with [`CLOSED_REASON`] without asking. Text from
//! the proxy is shown with control characters escaped, so a command cannot drive the terminal.

use sshgate_wire::{ApprovalRequest, Decision};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// The reason given when the operator's input has ended (or failed).
pub const CLOSED_REASON: &str = "approver closed";

/// The reason given when the operator denies without typing one.
pub const OPERATOR_DENY_REASON: &str = "denied by operator";

/// The terminal prompt for a decision.
pub const APPROVE_PROMPT: &str = "approve? [y/N] ";

/// The terminal prompt for a deny reason.
pub const REASON_PROMPT: &str = "reason (enter for none): ";

/// One terminal (any line reader and writer) at which a person decides.
pub struct Terminal<R, W> {
    reader: R,
    writer: W,
    closed: bool,
}

impl<R, W> Terminal<R, W>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    pub fn new(reader: R, writer: W) -> Self {
        Terminal {
            reader,
            writer,
            closed: false,
        }
    }

    /// Whether input has ended; from then on every request is denied without asking.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Shows `request`, asks for a decision and returns it.
    ///
    /// Not cancel safe in one respect: dropping this future mid-read loses what was read of the
    /// current line (a terminal delivers whole lines, so in practice nothing).
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

    /// Writes `text`, reads one line. `None` (and closed from then on) at end of input or on an
    /// I/O error.
    async fn prompt(&mut self, text: &str) -> Option<String> {
        if self.write(text).await.is_err() {
            self.closed = true;
            return None;
        }
        let mut line = String::new();
        match self.reader.read_line(&mut line).await {
            Ok(0) | Err(_) => {
                self.closed = true;
                // End the prompt's line so whatever is printed next starts cleanly.
                let _ = self.write("\n").await;
                None
            }
            Ok(_) => Some(line),
        }
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

/// `text` with control characters shown as escapes (`\u{1b}`, `\r`, ...).
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
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
    pub fn spawn<R, W>(reader: R, writer: W) -> Self
    where
        R: AsyncBufRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (questions, mut queue) = mpsc::channel::<Question>(QUEUE_CAPACITY);
        let mut terminal = Terminal::new(reader, writer);
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
    /// tokio reads stdin with a blocking read that cannot be cancelled: a program using this
    /// should end with `std::process::exit` rather than wait for the runtime to shut down.
    pub fn stdio() -> Self {
        Self::spawn(BufReader::new(tokio::io::stdin()), tokio::io::stdout())
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

#[cfg(test)]
mod tests {
    use super::*;
    use sshgate_wire::RequestKind;
    use tokio::io::{duplex, AsyncReadExt};

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
            typed: None,
        }
    }

    async fn run(input: &str, requests: &[ApprovalRequest]) -> (Vec<Decision>, String) {
        let mut output = Vec::new();
        let mut terminal = Terminal::new(input.as_bytes(), &mut output);
        let mut decisions = Vec::new();
        for request in requests {
            decisions.push(terminal.decide(request).await);
        }
        (decisions, String::from_utf8(output).unwrap())
    }

    #[tokio::test]
    async fn yes_approves_and_the_block_is_readable() {
        let (decisions, output) = run("y\n", &[request("r1", "rm -rf /tmp/x")]).await;
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

    #[tokio::test]
    async fn yes_in_any_case_approves_and_anything_else_denies() {
        let reqs = [request("a", "x"), request("b", "y"), request("c", "z")];
        let (decisions, output) = run(" YES \nno\nnot today\nsure\n\n", &reqs).await;
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
        let (decisions, output) = run("", &reqs).await;
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
        let (decisions, _) = run("n\n", &[request("a", "x"), request("b", "y")]).await;
        assert_eq!(
            decisions,
            vec![
                Decision::deny("a", OPERATOR_DENY_REASON),
                Decision::deny("b", CLOSED_REASON)
            ]
        );
    }

    #[tokio::test]
    async fn operator_asks_in_order_and_skips_withdrawn_questions() {
        let (input, mut keyboard) = duplex(1024);
        let (screen, mut display) = duplex(64 * 1024);
        let operator = Operator::spawn(BufReader::new(input), screen);

        let first = tokio::spawn({
            let op = operator.clone();
            async move { op.ask(request("r1", "one")).await }
        });
        // Wait until the first question is on screen before queueing more.
        let mut seen = String::new();
        while !seen.contains(APPROVE_PROMPT) {
            let mut buf = [0u8; 1024];
            let n = display.read(&mut buf).await.unwrap();
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(seen.contains("command: one"));
        let withdrawn = tokio::spawn({
            let op = operator.clone();
            async move { op.ask(request("r2", "two")).await }
        });
        let third = tokio::spawn({
            let op = operator.clone();
            async move { op.ask(request("r3", "three")).await }
        });
        tokio::task::yield_now().await;
        withdrawn.abort();
        let _ = withdrawn.await;

        keyboard.write_all(b"y\nn\nnope\n").await.unwrap();
        assert_eq!(first.await.unwrap(), Decision::approve("r1"));
        assert_eq!(third.await.unwrap(), Decision::deny("r3", "nope"));

        drop(keyboard);
        drop(operator);
        let mut rest = String::new();
        display.read_to_string(&mut rest).await.unwrap();
        assert!(!rest.contains("command: two"), "{rest}");
        assert!(rest.contains("command: three"), "{rest}");
    }
}
