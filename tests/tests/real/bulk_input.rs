//! Bulk input through an approved exec, as `tar c . | ssh bastion 'tar x -C /srv'` sends it:
//! OpenSSH's `ssh` into the built sshgate binary (a process of its own, so that its peak
//! memory can be read), in front of the real sshd. A pseudo-random stream into `sha256sum`
//! must arrive intact, and so must a small tree through a genuine `tar` pipe; a command that
//! reads late must slow the client down, not fill sshgate.
//!
//! The stream is `SSHGATE_STREAM_MIB` MiB (64 unless set; CI's cost is that stream twice,
//! through sshgate and straight to sshd, a few seconds each). Each run prints how long the
//! stream took each way and sshgate's peak RSS; `SSHGATE_STREAM_MIB=1024 cargo test -p
//! sshgate-tests --test real bulk_input -- --nocapture` measures the gigabyte. The tar pipe's
//! tree holds a file of `SSHGATE_TAR_MIB` MiB besides (none unless set): with 1024, a
//! gigabyte through a genuine `tar c | ssh 'tar x'`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use real_target::{RealTarget, TargetOptions};
use russh::keys::ssh_key::LineEnding;
use russh::keys::PrivateKey;
use sha2::{Digest, Sha256};
use sshgate::credentials::generate_host_key;
use sshgate_tests::process::{ssh_options, Server};
use sshgate_tests::pseudo_random::PseudoRandom;

/// The stream's size when `SSHGATE_STREAM_MIB` is not set.
const DEFAULT_STREAM_MIB: usize = 64;

/// The late reader's stream, which would fit in the time it waits several times over.
const LATE_STREAM_MIB: usize = 64;
const LATE_READER_SECONDS: u32 = 3;

/// The pseudo-random bytes the stream repeats: far longer than any compressor's window.
const PATTERN_MIB: usize = 8;

/// sshgate's peak memory may not grow with the stream: what it holds is bounded by russh's
/// queues and windows (a few MiB per channel). Far below any stream this test sends.
const PEAK_RSS_LIMIT_KIB: u64 = 48 << 10;

/// The real sshd, the mock approver (which approves what does not contain DENY) and the
/// sshgate binary between them, with OpenSSH's files for both hops in `dir`.
struct Bastion {
    dir: tempfile::TempDir,
    /// What `ssh` needs to reach sshd straight: its own `operator_key` and `known_hosts`.
    straight: tempfile::TempDir,
    target: RealTarget,
    proxy: Server,
    _approver: Server,
}

fn write_key(path: &Path, key: &PrivateKey) {
    key.write_openssh_file(path, LineEnding::LF).unwrap();
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

impl Bastion {
    fn start() -> Option<Bastion> {
        let target = sshgate_tests::skip::real_target_or_skip(TargetOptions::default())?;
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        let operator_key = generate_host_key();
        write_key(&path("operator_key"), &operator_key);
        std::fs::write(
            path("authorized_keys"),
            operator_key.public_key().to_openssh().unwrap() + "\n",
        )
        .unwrap();
        let proxy_key = generate_host_key();
        write_key(&path("proxy_host_key"), &proxy_key);
        write_key(&path("target_identity"), target.client_key());

        let approver = Server::start("mock-approver", &["--listen", "127.0.0.1:0"]);
        let approver_url = format!("ws://127.0.0.1:{}", approver.port());
        let target_address = target.addr().to_string();
        let proxy = Server::start(
            "sshgate",
            &[
                "--listen",
                "127.0.0.1:0",
                "--target",
                &target_address,
                "--approver",
                &approver_url,
                "--host-key",
                path_str(&path("proxy_host_key")),
                "--authorized-keys",
                path_str(&path("authorized_keys")),
                "--identity",
                path_str(&path("target_identity")),
                "--target-user",
                target.user(),
                "--target-known-hosts",
                path_str(&target.known_hosts_path()),
            ],
        );
        std::fs::write(
            path("known_hosts"),
            format!(
                "[127.0.0.1]:{} {}\n",
                proxy.port(),
                proxy_key.public_key().to_openssh().unwrap()
            ),
        )
        .unwrap();

        let straight = tempfile::tempdir().unwrap();
        write_key(&straight.path().join("operator_key"), target.client_key());
        std::fs::copy(
            target.known_hosts_path(),
            straight.path().join("known_hosts"),
        )
        .unwrap();
        Some(Bastion {
            dir,
            straight,
            target,
            proxy,
            _approver: approver,
        })
    }

    /// `ssh ... REMOTE` through sshgate.
    fn through_sshgate(&self, remote: &str) -> Command {
        ssh(self.dir.path(), self.proxy.port(), "operator", remote)
    }

    /// `ssh ... REMOTE` straight to sshd, the baseline.
    fn straight_to_sshd(&self, remote: &str) -> Command {
        ssh(
            self.straight.path(),
            self.target.addr().port(),
            self.target.user(),
            remote,
        )
    }

    /// sshgate's peak resident memory so far, in KiB (`VmHWM`).
    fn proxy_peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.proxy.pid()))
            .expect("sshgate is running");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmHWM in {status}"))
    }
}

fn ssh(dir: &Path, port: u16, user: &str, remote: &str) -> Command {
    let mut command = Command::new("ssh");
    command
        .args(ssh_options(dir, port))
        .arg(format!("{user}@127.0.0.1"))
        .arg(remote);
    command
}

fn stream_mib() -> usize {
    match std::env::var("SSHGATE_STREAM_MIB") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("SSHGATE_STREAM_MIB={text:?} is not a number of MiB")),
        Err(_) => DEFAULT_STREAM_MIB,
    }
}

/// Feeds `mib` MiB of pseudo-random bytes to `command` (`sha256sum` on the far side); the
/// digest it printed, the digest of what was sent, and how long it took.
fn digest_through(mut command: Command, mib: usize) -> (String, String, Duration) {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh runs");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || {
        // Made once and sent over and over, a MiB at a time: making the bytes (in this
        // unoptimised test crate) is then not what the test measures.
        let mut pattern = vec![0; PATTERN_MIB << 20];
        PseudoRandom::new(5).fill(&mut pattern);
        let mut digest = Sha256::new();
        for (_, chunk) in (0..mib).zip(pattern.chunks(1 << 20).cycle()) {
            digest.update(chunk);
            stdin.write_all(chunk).expect("ssh takes the stream");
        }
        hex::encode(digest.finalize())
    });
    let mut printed = String::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut printed)
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let elapsed = started.elapsed();
    let sent = writer.join().expect("the writer finished");
    assert!(
        output.status.success(),
        "ssh failed: {:?}, stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    (printed, sent, elapsed)
}

fn rate(mib: usize, elapsed: Duration) -> String {
    let megabytes = (mib << 20) as f64 / 1e6;
    format!(
        "{mib} MiB in {:.2} s, {:.0} MB/s",
        elapsed.as_secs_f64(),
        megabytes / elapsed.as_secs_f64()
    )
}

#[test]
fn a_large_stream_into_an_approved_exec_arrives_intact_in_bounded_memory() {
    let _alone = crate::TIMING_SENSITIVE.blocking_lock();
    let Some(bastion) = Bastion::start() else {
        return;
    };
    let mib = stream_mib();
    let (printed, sent, through) = digest_through(bastion.through_sshgate("sha256sum"), mib);
    assert_eq!(printed, format!("{sent}  -\n"));
    let peak = bastion.proxy_peak_rss_kib();
    let (printed, sent, straight) = digest_through(bastion.straight_to_sshd("sha256sum"), mib);
    assert_eq!(printed, format!("{sent}  -\n"));
    eprintln!(
        "through sshgate: {}; straight to sshd: {}; sshgate's peak RSS {} MiB",
        rate(mib, through),
        rate(mib, straight),
        peak >> 10
    );
    assert!(
        peak < PEAK_RSS_LIMIT_KIB,
        "sshgate's peak RSS was {peak} KiB for a {mib} MiB stream"
    );
}

#[test]
fn a_target_that_reads_late_slows_the_client_instead_of_filling_sshgate() {
    let _alone = crate::TIMING_SENSITIVE.blocking_lock();
    let Some(bastion) = Bastion::start() else {
        return;
    };
    // The command reads nothing for its first seconds (a slow target, not a wait for a
    // server): a proxy that kept reading the client meanwhile would hold all of the stream,
    // far past the limit, instead of letting SSH flow control stop the client.
    let late_reader = format!("sleep {}; sha256sum", LATE_READER_SECONDS);
    let (printed, sent, _) = digest_through(bastion.through_sshgate(&late_reader), LATE_STREAM_MIB);
    assert_eq!(printed, format!("{sent}  -\n"));
    let peak = bastion.proxy_peak_rss_kib();
    assert!(
        peak < PEAK_RSS_LIMIT_KIB,
        "sshgate's peak RSS was {peak} KiB while the target did not read"
    );
}

/// A small tree with what tar must keep: nested folders, an empty file, three megabytes
/// of incompressible bytes, a name with a space; and `big_mib` MiB of them in one more file.
fn make_tree(root: &Path, big_mib: usize) -> Vec<PathBuf> {
    let mut random = PseudoRandom::new(9);
    let mut large = vec![0; 3 << 20];
    random.fill(&mut large);
    let files: [(&str, Vec<u8>); 4] = [
        ("a/b/c/deep.txt", b"deep\n".to_vec()),
        ("empty", Vec::new()),
        ("with space.bin", large),
        ("a/notes.txt", b"one\ntwo\n".to_vec()),
    ];
    let mut names: Vec<PathBuf> = files
        .into_iter()
        .map(|(name, bytes)| {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
            PathBuf::from(name)
        })
        .collect();
    if big_mib > 0 {
        let mut file = std::fs::File::create(root.join("big.bin")).unwrap();
        let mut block = vec![0; 1 << 20];
        for _ in 0..big_mib {
            random.fill(&mut block);
            file.write_all(&block).unwrap();
        }
        names.push(PathBuf::from("big.bin"));
    }
    names
}

#[test]
fn a_tar_pipe_through_sshgate_unpacks_the_same_tree() {
    let _alone = crate::TIMING_SENSITIVE.blocking_lock();
    let Some(bastion) = Bastion::start() else {
        return;
    };
    let source = tempfile::tempdir().unwrap();
    let destination = tempfile::tempdir().unwrap();
    let big_mib = match std::env::var("SSHGATE_TAR_MIB") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("SSHGATE_TAR_MIB={text:?} is not a number of MiB")),
        Err(_) => 0,
    };
    let files = make_tree(source.path(), big_mib);
    let started = Instant::now();
    let unpack = format!("tar x -C '{}'", destination.path().display());
    let mut ssh = bastion.through_sshgate(&unpack);
    let mut tar = Command::new("tar")
        .arg("c")
        .arg("-C")
        .arg(source.path())
        .arg(".")
        .stdout(Stdio::piped())
        .spawn()
        .expect("tar runs");
    let output = ssh
        .stdin(tar.stdout.take().expect("piped stdout"))
        .output()
        .expect("ssh runs");
    assert!(tar.wait().unwrap().success());
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "tar pipe through sshgate: {} MiB of tree in {:.1?}",
        3 + big_mib,
        started.elapsed()
    );
    for file in files {
        let sent = std::fs::read(source.path().join(&file)).unwrap();
        let unpacked = std::fs::read(destination.path().join(&file))
            .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        assert!(sent == unpacked, "{} differs", file.display());
    }
}
