//! `--authorized-keys-command`: keys from a program, as sshd's `AuthorizedKeysCommand`.
//!
//! Invariant: the program runs without a shell (its template is split into arguments once,
//! at start, and each argument's tokens are expanded on its own, so a user name or key cannot
//! add arguments), with nothing on its stdin, and within its time-out; a failure, a non-zero
//! exit or a time-out gives no key and is logged. Its output is read as authorized_keys lines.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use russh::keys::PublicKey;

use crate::authorized_keys::{self, AuthorizedKey};
use crate::credentials::fingerprint;
use crate::log_text::quoted;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Output beyond this is refused: authorized_keys lines for one user are a few KiB at most.
const OUTPUT_LIMIT: usize = 1024 * 1024;

/// The name its keys are logged under, with the output's line number.
const SOURCE: &str = "authorized-keys-command";

/// The tokens of sshd_config(5) that mean something for a proxy's operators.
const TOKENS: &str = "%u (user), %f (fingerprint), %k (base64 key), %t (key type), %%";

#[derive(Debug, Clone)]
pub struct KeysCommand {
    /// The program and its arguments, tokens not yet expanded.
    template: Vec<String>,
    timeout: Duration,
}

impl KeysCommand {
    /// Check `template` (`PROGRAM ARG...` with tokens); Err says what is wrong in one line.
    pub fn new(template: &str, timeout: Duration) -> Result<KeysCommand, String> {
        let template = shell_words::split(template).map_err(|error| error.to_string())?;
        if template.is_empty() {
            return Err("no program given".into());
        }
        for argument in &template {
            expand(argument, &Expansions::default())?;
        }
        // A mistyped program would refuse every key at every login; say so at start.
        if !runnable(&template[0]) {
            return Err(format!(
                "{:?} is not an executable file (nor one found in PATH)",
                template[0]
            ));
        }
        Ok(KeysCommand { template, timeout })
    }

    /// The authorized_keys lines the program prints for `user` offering `key`.
    pub async fn keys(&self, user: &str, key: &PublicKey) -> Vec<AuthorizedKey> {
        if !could_be_an_account(user) {
            tracing::warn!(
                user = %quoted(user),
                "--authorized-keys-command not run: no account can have this user name"
            );
            return Vec::new();
        }
        let openssh = key.to_openssh().unwrap_or_default();
        let algorithm = key.algorithm();
        let expansions = Expansions {
            user,
            fingerprint: &fingerprint(key),
            key: openssh.split(' ').nth(1).unwrap_or_default(),
            kind: algorithm.as_str(),
        };
        let argv: Vec<String> = self
            .template
            .iter()
            .map(|argument| expand(argument, &expansions).unwrap_or_default())
            .collect();
        let problem = match tokio::time::timeout(self.timeout, run(&argv)).await {
            Err(_) => format!("no answer within {:?}: killed", self.timeout),
            Ok(Ok(text)) => return self.parsed(&text),
            Ok(Err(problem)) => problem,
        };
        tracing::warn!(
            program = %quoted(&argv[0]),
            user = %quoted(user),
            problem = %quoted(problem),
            "--authorized-keys-command failed: no key from it"
        );
        Vec::new()
    }

    fn parsed(&self, text: &str) -> Vec<AuthorizedKey> {
        let parsed = authorized_keys::parse(SOURCE, text);
        for refused in &parsed.refused {
            tracing::warn!(
                source = SOURCE,
                line = refused.line,
                reason = %quoted(&refused.reason),
                "authorized_keys line refused: its key cannot log in"
            );
        }
        parsed.keys
    }
}

/// What `argv` prints on stdout, when it exits 0 having printed UTF-8 text of at most
/// [`OUTPUT_LIMIT`] bytes; it is killed when dropped (a time-out).
async fn run(argv: &[String]) -> Result<String, String> {
    use tokio::io::AsyncReadExt;
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| format!("cannot run it: {error}"))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("its output cannot be read".into());
    };
    let limit = OUTPUT_LIMIT as u64;
    // Its stderr is read on the side, so that a full stderr pipe cannot stall it, and only
    // waited for when it failed.
    let errors = tokio::spawn(async move {
        let mut errors = Vec::new();
        let _ = stderr.take(limit).read_to_end(&mut errors).await;
        errors
    });
    let _stop_reading = AbortOnDrop(errors.abort_handle());
    let mut output = Vec::new();
    // One byte over the limit tells a long output from one of exactly the limit.
    stdout
        .take(limit + 1)
        .read_to_end(&mut output)
        .await
        .map_err(|error| format!("cannot read its output: {error}"))?;
    if output.len() > OUTPUT_LIMIT {
        return Err(format!("it printed more than {} KiB", OUTPUT_LIMIT / 1024));
    }
    let status = child
        .wait()
        .await
        .map_err(|error| format!("cannot wait for it: {error}"))?;
    if !status.success() {
        let errors = errors.await.unwrap_or_default();
        return Err(format!(
            "{status}; stderr: {}",
            String::from_utf8_lossy(&errors).trim_end()
        ));
    }
    String::from_utf8(output).map_err(|_| "its output is not UTF-8 text".into())
}

/// Stops a side task when the run ends, however it ends.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether `program` names an executable file, directly or through PATH (as the spawn
/// will look it up).
fn runnable(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &Path| {
        std::fs::metadata(path)
            .map(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        return executable(Path::new(program));
    }
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|folder| executable(&folder.join(program)))
    })
}

/// Whether `user` could name an account, as %u always does in sshd, which runs its
/// AuthorizedKeysCommand only for an existing user. An operator's name is any text: a name
/// with `/`, a leading `-`, `.` or `..`, or a character useradd would refuse, would reach the
/// program as a path out of a keys directory (`cat /etc/keys/%u`) or as an option; `$`
/// would be expanded by a template that runs a shell (`sh -c 'grep %u ...'`).
fn could_be_an_account(user: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._@+-".contains(c);
    !user.is_empty()
        && !user.starts_with('-')
        && user != "."
        && user != ".."
        && user.chars().all(allowed)
}

#[derive(Default)]
struct Expansions<'a> {
    user: &'a str,
    fingerprint: &'a str,
    key: &'a str,
    kind: &'a str,
}

fn expand(argument: &str, values: &Expansions) -> Result<String, String> {
    let mut expanded = String::new();
    let mut chars = argument.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            expanded.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => expanded.push('%'),
            Some('u') => expanded.push_str(values.user),
            Some('f') => expanded.push_str(values.fingerprint),
            Some('k') => expanded.push_str(values.key),
            Some('t') => expanded.push_str(values.kind),
            Some(other) => {
                return Err(format!("unknown token %{other}; sshgate supports {TOKENS}"))
            }
            None => return Err(format!("a lone % ends {argument:?}; write %% for a %")),
        }
    }
    Ok(expanded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("true %u", None)]
    #[case("/bin/sh '%u %f' %k%t %%", None)]
    #[case("", Some("no program"))]
    #[case("true %h", Some("unknown token %h"))]
    #[case("true 100%", Some("lone %"))]
    #[case("true 'open", Some("quote"))]
    #[case("/nonexistent/keys %u", Some("not an executable file"))]
    #[case("sshgate-no-such-program %u", Some("not an executable file"))]
    #[case("/etc/passwd %u", Some("not an executable file"))]
    fn templates(#[case] template: &str, #[case] error: Option<&str>) {
        match (KeysCommand::new(template, DEFAULT_TIMEOUT), error) {
            (Ok(_), None) => {}
            (Err(message), Some(expected)) => assert!(message.contains(expected), "{message}"),
            (outcome, _) => panic!("{template:?}: {outcome:?}"),
        }
    }

    #[test]
    fn tokens_expand_within_one_argument() {
        let values = Expansions {
            user: "al ice",
            fingerprint: "SHA256:abc",
            key: "AAAA",
            kind: "ssh-ed25519",
        };
        assert_eq!(
            expand("%u:%f:%k:%t:%%u", &values).unwrap(),
            "al ice:SHA256:abc:AAAA:ssh-ed25519:%u"
        );
    }

    fn script(dir: &std::path::Path, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("keys.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.to_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn output_is_read_as_authorized_keys_and_failures_give_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::credentials::generate_host_key().public_key().clone();
        let line = key.to_openssh().unwrap();
        let prints = script(
            dir.path(),
            &format!("[ \"$1\" = alice ] && echo 'no-pty {line}'"),
        );
        let command = KeysCommand::new(&format!("{prints} %u"), DEFAULT_TIMEOUT).unwrap();
        let keys = command.keys("alice", &key).await;
        assert_eq!(keys.len(), 1);
        assert!(!keys[0].options.pty);
        assert_eq!(keys[0].options.origin, "authorized-keys-command line 1");
        // The script exits 1 for another user: no key.
        assert!(command.keys("bob", &key).await.is_empty());
    }

    /// sshd expands %u only for an existing account (it runs no AuthorizedKeysCommand for an
    /// unknown user), so the name is never a path or an option there. An operator's name is
    /// any text: one that no account could have must not reach the program.
    #[rstest]
    #[case::climbs_out_of_the_keys_directory("../elsewhere")]
    #[case::absolute_path("/tmp/elsewhere")]
    #[case::an_option("-n")]
    #[case::long_option("--all")]
    #[case::dot_dot("..")]
    #[case::empty("")]
    #[case::newline("alice\nbob")]
    #[case::shell_variable("alice$HOME")]
    #[tokio::test]
    async fn a_user_name_no_account_can_have_never_reaches_the_program(#[case] user: &str) {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::credentials::generate_host_key().public_key().clone();
        let line = key.to_openssh().unwrap();
        let keys_dir = dir.path().join("keys");
        std::fs::create_dir(&keys_dir).unwrap();
        std::fs::write(keys_dir.join("alice"), format!("{line}\n")).unwrap();
        // A file outside the keys directory that lists the key (anyone's writable file).
        std::fs::write(dir.path().join("elsewhere"), format!("{line}\n")).unwrap();
        let ran = dir.path().join("ran");
        let lookup = script(
            dir.path(),
            &format!(
                "echo \"$@\" >> '{}'; exec cat '{}'/\"$1\"",
                ran.display(),
                keys_dir.display()
            ),
        );
        let command = KeysCommand::new(&format!("{lookup} %u"), DEFAULT_TIMEOUT).unwrap();
        // The control: an account's name gets its keys.
        assert_eq!(command.keys("alice", &key).await.len(), 1);
        std::fs::remove_file(&ran).unwrap();
        assert!(command.keys(user, &key).await.is_empty(), "{user:?}");
        assert!(!ran.exists(), "the program ran for {user:?}");
    }

    #[tokio::test]
    async fn output_over_the_limit_gives_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::credentials::generate_host_key().public_key().clone();
        let line = key.to_openssh().unwrap();
        // The key, then comment lines past the limit.
        let body = format!(
            "echo '{line}'; i=0; while [ $i -lt 20000 ]; do echo '# {}'; i=$((i+1)); done",
            "x".repeat(60)
        );
        let long = script(dir.path(), &body);
        let error = run(std::slice::from_ref(&long)).await.unwrap_err();
        assert!(error.contains("more than 1024 KiB"), "{error}");
        let command = KeysCommand::new(&long, DEFAULT_TIMEOUT).unwrap();
        assert!(command.keys("alice", &key).await.is_empty());
        let fits = script(
            dir.path(),
            &format!("echo '{line}'; echo '# {}'", "x".repeat(60)),
        );
        let command = KeysCommand::new(&fits, DEFAULT_TIMEOUT).unwrap();
        assert_eq!(command.keys("alice", &key).await.len(), 1);
    }

    #[tokio::test]
    async fn a_program_over_its_time_is_killed_and_gives_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::credentials::generate_host_key().public_key().clone();
        let line = key.to_openssh().unwrap();
        let slow = script(dir.path(), &format!("echo '{line}'; exec sleep 30"));
        let command = KeysCommand::new(&slow, Duration::from_millis(200)).unwrap();
        let started = std::time::Instant::now();
        assert!(command.keys("alice", &key).await.is_empty());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
