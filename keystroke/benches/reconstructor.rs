//! Throughput of the [`Reconstructor`], in input bytes per second, on three streams a proxy
//! sees: keys typed at a prompt (editing keys, submits, each approved), one large bracketed
//! paste, and a stream heavy with escape sequences (arrows, modified keys, mouse reports,
//! focus events, terminal replies). The paste is measured twice: byte by byte through `push`,
//! as sshgate's gate feeds it today, and through `push_paste_text`, the fast path for runs of
//! pasted text.
//!
//! `cargo bench -p sshgate-keystroke --bench reconstructor`; criterion prints `thrpt` in
//! MiB/s or GiB/s (binary units: 200 MB/s is 190.7 MiB/s).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sshgate_keystroke::{ByteAction, Reconstructor};

/// Feed `input` one byte at a time as the gate does, approving every submit at once.
fn feed(reconstructor: &mut Reconstructor, input: &[u8]) -> usize {
    let mut submits = 0;
    for &byte in input {
        if let ByteAction::Submit(submit) = reconstructor.push(byte) {
            black_box(&submit);
            reconstructor.accepted();
            submits += 1;
        }
    }
    submits
}

/// As [`feed`], taking runs of pasted text through `push_paste_text` (the fast path).
fn feed_fast(reconstructor: &mut Reconstructor, input: &[u8]) -> usize {
    let mut submits = 0;
    let mut at = 0;
    while at < input.len() {
        at += reconstructor.push_paste_text(&input[at..]);
        let Some(&byte) = input.get(at) else { break };
        at += 1;
        if let ByteAction::Submit(submit) = reconstructor.push(byte) {
            black_box(&submit);
            reconstructor.accepted();
            submits += 1;
        }
    }
    submits
}

/// Shell lines typed with the editing keys people use, each ending in Enter.
fn typed(bytes: usize) -> Vec<u8> {
    let lines: [&[u8]; 6] = [
        b"ls -la /var/log\r",
        b"git status\x7f\x7f\x7f\x7f\x7f\x7fstatus --short\r",
        b"echo hello wrold\x02\x02\x02\x14\x05 again\r",
        b"tail -f /var/log/syslog | grep -i error\x01sudo \r",
        b"for f in *.txt; do wc -l \"$f\"; done\r",
        b"cd /srv/app && make -j4 \x17\x17install\r",
    ];
    lines
        .iter()
        .copied()
        .cycle()
        .flatten()
        .copied()
        .take(bytes)
        .collect()
}

/// One bracketed paste of `bytes` bytes of a script (lines of text, LF-separated), to a shell
/// that enabled bracketed paste mode, then its Enter.
fn paste(bytes: usize) -> Vec<u8> {
    let text = b"for host in web1 web2 db1; do ssh \"$host\" uptime; done # a pasted line\n";
    let mut input = b"\x1b[200~".to_vec();
    input.extend(text.iter().cycle().take(bytes));
    input.extend_from_slice(b"\x1b[201~\r");
    input
}

/// Text mixed with arrows, Home/End, Ctrl+arrows, Meta keys, SGR and X10 mouse reports, focus
/// events, cursor position and device attribute replies, and OSC replies.
fn escape_heavy(bytes: usize) -> Vec<u8> {
    let chunks: [&[u8]; 14] = [
        b"ab",
        b"\x1b[D",
        b"\x1bOC",
        b"\x1b[1;5D",
        b"\x1b[H",
        b"\x1b[4~",
        b"\x1bf",
        b"\x1b[<0;12;7M\x1b[<0;12;7m",
        b"\x1b[M !!",
        b"\x1b[I\x1b[O",
        b"\x1b[24;80R",
        b"\x1b[?64;1;2c",
        b"\x1b]11;rgb:0000/0000/0000\x1b\\",
        b"\x1b[3~",
    ];
    let mut input: Vec<u8> = chunks
        .iter()
        .copied()
        .cycle()
        .flatten()
        .copied()
        .take(bytes)
        .collect();
    // End on a whole sequence, then run the line.
    while input.last() != Some(&b'~') && !input.is_empty() {
        input.pop();
    }
    input.push(b'\r');
    input
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("reconstructor");
    type Feed = fn(&mut Reconstructor, &[u8]) -> usize;
    let streams: [(&str, Vec<u8>, bool, Feed); 4] = [
        ("typed", typed(256 * 1024), false, feed),
        ("paste-1MiB", paste(1 << 20), true, feed),
        ("paste-1MiB-fast-path", paste(1 << 20), true, feed_fast),
        ("escape-heavy", escape_heavy(256 * 1024), false, feed),
    ];
    for (name, input, bracketed, feed) in streams {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || {
                    let mut reconstructor = Reconstructor::new();
                    reconstructor.set_bracketed_paste(bracketed);
                    reconstructor
                },
                |reconstructor| feed(reconstructor, black_box(&input)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
