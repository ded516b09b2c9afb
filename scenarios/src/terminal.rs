//! The operator's screen: a vt100 terminal fed with everything the SSH client receives, which
//! also answers the queries a real terminal answers (cursor position, status, device attributes,
//! colours), because vt100 answers none and programs on the target wait for those replies.
//! Invariant: every query in the output stream is answered exactly once and in order, however the
//! stream is split across `feed` calls, and a reply describes the screen as it was when the query
//! arrived (the screen has processed exactly the bytes up to the end of the query).

use std::num::NonZeroU16;

/// The operator's terminal as the SSH client would drive it.
pub struct OperatorTerminal {
    parser: vt100::Parser,
    queries: QueryScanner,
}

impl OperatorTerminal {
    /// A blank terminal; a zero size is taken as 1, since no terminal has zero rows or columns.
    pub fn new(rows: u16, cols: u16) -> Self {
        Self {
            parser: vt100::Parser::new(at_least_one(rows), at_least_one(cols), 0),
            queries: QueryScanner::default(),
        }
    }

    /// Feed output the operator's terminal received; returns the bytes the terminal sends back
    /// (replies to queries found in `bytes`), in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut replies = Vec::new();
        let mut rest = bytes;
        while let Some((end, query)) = self.queries.find(rest) {
            let (through_query, after) = rest.split_at(end);
            self.parser.process(through_query);
            self.reply(query, &mut replies);
            rest = after;
        }
        self.parser.process(rest);
        replies
    }

    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.parser.set_size(at_least_one(rows), at_least_one(cols));
    }

    /// The whole screen as text, rows joined with '\n', trailing blanks trimmed per row.
    pub fn contents(&self) -> String {
        self.rows().collect::<Vec<_>>().join("\n")
    }

    /// One row (0-based), trailing blanks trimmed; empty for a row past the bottom.
    pub fn row(&self, row: u16) -> String {
        self.rows().nth(usize::from(row)).unwrap_or_default()
    }

    /// (row, col), 0-based.
    pub fn cursor(&self) -> (u16, u16) {
        self.parser.screen().cursor_position()
    }

    pub fn bracketed_paste(&self) -> bool {
        self.parser.screen().bracketed_paste()
    }

    pub fn application_cursor(&self) -> bool {
        self.parser.screen().application_cursor()
    }

    fn rows(&self) -> impl Iterator<Item = String> + '_ {
        let (_, cols) = self.parser.screen().size();
        self.parser
            .screen()
            .rows(0, cols.get())
            .map(|row| row.trim_end_matches(' ').to_owned())
    }

    fn reply(&self, query: Query, replies: &mut Vec<u8>) {
        let reply = match query {
            Query::CursorPosition => {
                let (row, col) = self.cursor();
                // After writing the last column vt100 may hold the cursor one past it (pending
                // wrap); a real terminal reports the last column then.
                let (_, cols) = self.parser.screen().size();
                let col = col.min(cols.get() - 1);
                format!("\x1b[{};{}R", u32::from(row) + 1, u32::from(col) + 1)
            }
            Query::Status => "\x1b[0n".to_owned(),
            // A VT100 with the advanced video option, what xterm says with no other setting.
            Query::PrimaryAttributes => "\x1b[?1;2c".to_owned(),
            Query::SecondaryAttributes => "\x1b[>0;95;0c".to_owned(),
            Query::Foreground(end) => format!("\x1b]10;rgb:ffff/ffff/ffff{}", end.as_str()),
            Query::Background(end) => format!("\x1b]11;rgb:0000/0000/0000{}", end.as_str()),
        };
        replies.extend_from_slice(reply.as_bytes());
    }
}

fn at_least_one(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN)
}

/// A query the terminal answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Query {
    /// DSR 6: `ESC [ 6 n`.
    CursorPosition,
    /// DSR 5: `ESC [ 5 n`.
    Status,
    /// DA1: `ESC [ c` or `ESC [ 0 c`.
    PrimaryAttributes,
    /// DA2: `ESC [ > c` or `ESC [ > 0 c`.
    SecondaryAttributes,
    /// `ESC ] 10 ; ?`, answered with the same terminator.
    Foreground(OscEnd),
    /// `ESC ] 11 ; ?`, answered with the same terminator.
    Background(OscEnd),
}

/// How an OSC string ended; replies use the same terminator, as xterm does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OscEnd {
    Bel,
    St,
}

impl OscEnd {
    fn as_str(self) -> &'static str {
        match self {
            OscEnd::Bel => "\x07",
            OscEnd::St => "\x1b\\",
        }
    }
}

/// Where the scanner is in the output stream; kept across `feed` calls so a query split between
/// two packets is still seen once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ScanState {
    #[default]
    Ground,
    Escape,
    Csi,
    Osc,
    /// An ESC inside an OSC string: `\` makes it the ST terminator.
    OscEscape,
}

/// Finds queries in terminal output, following the same ECMA-48 structure the vt100 parser does.
#[derive(Debug, Default)]
struct QueryScanner {
    state: ScanState,
    /// The parameter bytes of the CSI or the payload of the OSC seen so far, capped at
    /// `MAX_BODY`: every query is shorter, so a capped body can never be mistaken for one, and a
    /// hostile endless OSC string costs no memory.
    body: Vec<u8>,
}

const MAX_BODY: usize = 16;
const CAN: u8 = 0x18;
const SUB: u8 = 0x1a;
const ESC: u8 = 0x1b;

impl QueryScanner {
    /// Scans `bytes` for the end of the next query; returns the length of the prefix that ends
    /// with it. Without a query, the whole of `bytes` has been scanned.
    fn find(&mut self, bytes: &[u8]) -> Option<(usize, Query)> {
        bytes
            .iter()
            .enumerate()
            .find_map(|(i, &byte)| self.advance(byte).map(|query| (i + 1, query)))
    }

    fn advance(&mut self, byte: u8) -> Option<Query> {
        match (self.state, byte) {
            // CAN and SUB abort any sequence; ESC starts a new one wherever it appears.
            (_, CAN | SUB) => self.state = ScanState::Ground,
            (ScanState::Osc, ESC) => self.state = ScanState::OscEscape,
            (ScanState::OscEscape, b'\\') => return self.finish_osc(OscEnd::St),
            (_, ESC) => self.state = ScanState::Escape,
            (ScanState::Ground, _) => {}
            (ScanState::Escape, b'[') => self.start(ScanState::Csi),
            (ScanState::Escape, b']') => self.start(ScanState::Osc),
            // Other C0 controls are executed without ending the sequence.
            (ScanState::Escape | ScanState::Csi, 0x00..=0x1f) => {}
            (ScanState::Escape, _) => self.state = ScanState::Ground,
            (ScanState::Csi, 0x20..=0x3f) => self.push(byte),
            (ScanState::Csi, 0x40..=0x7e) => {
                self.state = ScanState::Ground;
                return csi_query(&self.body, byte);
            }
            (ScanState::Csi, _) => {}
            (ScanState::Osc, 0x07) => return self.finish_osc(OscEnd::Bel),
            (ScanState::Osc, 0x00..=0x1f) => {}
            (ScanState::Osc, _) => self.push(byte),
            // ESC then anything but `\` ended the OSC string, and that byte follows an ESC.
            (ScanState::OscEscape, _) => {
                self.state = ScanState::Escape;
                return self.advance(byte);
            }
        }
        None
    }

    fn start(&mut self, state: ScanState) {
        self.state = state;
        self.body.clear();
    }

    fn push(&mut self, byte: u8) {
        if self.body.len() < MAX_BODY {
            self.body.push(byte);
        }
    }

    fn finish_osc(&mut self, end: OscEnd) -> Option<Query> {
        self.state = ScanState::Ground;
        match self.body.as_slice() {
            b"10;?" => Some(Query::Foreground(end)),
            b"11;?" => Some(Query::Background(end)),
            _ => None,
        }
    }
}

fn csi_query(params: &[u8], final_byte: u8) -> Option<Query> {
    match (params, final_byte) {
        (b"6", b'n') => Some(Query::CursorPosition),
        (b"5", b'n') => Some(Query::Status),
        (b"" | b"0", b'c') => Some(Query::PrimaryAttributes),
        (b">" | b">0", b'c') => Some(Query::SecondaryAttributes),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::cursor_position(b"\x1b[6n", b"\x1b[1;1R")]
    #[case::status(b"\x1b[5n", b"\x1b[0n")]
    #[case::primary_attributes(b"\x1b[c", b"\x1b[?1;2c")]
    #[case::primary_attributes_zero(b"\x1b[0c", b"\x1b[?1;2c")]
    #[case::secondary_attributes(b"\x1b[>c", b"\x1b[>0;95;0c")]
    #[case::secondary_attributes_zero(b"\x1b[>0c", b"\x1b[>0;95;0c")]
    #[case::foreground_bel(b"\x1b]10;?\x07", b"\x1b]10;rgb:ffff/ffff/ffff\x07")]
    #[case::foreground_st(b"\x1b]10;?\x1b\\", b"\x1b]10;rgb:ffff/ffff/ffff\x1b\\")]
    #[case::background_bel(b"\x1b]11;?\x07", b"\x1b]11;rgb:0000/0000/0000\x07")]
    #[case::background_st(b"\x1b]11;?\x1b\\", b"\x1b]11;rgb:0000/0000/0000\x1b\\")]
    fn answers_a_query_however_it_is_split(#[case] query: &[u8], #[case] reply: &[u8]) {
        for split in 0..=query.len() {
            let (head, tail) = query.split_at(split);
            let mut terminal = OperatorTerminal::new(24, 80);
            let mut replies = terminal.feed(head);
            replies.extend(terminal.feed(tail));
            assert_eq!(replies, reply, "split at {split}");
        }
        let mut terminal = OperatorTerminal::new(24, 80);
        let mut replies = Vec::new();
        for byte in query {
            replies.extend(terminal.feed(std::slice::from_ref(byte)));
        }
        assert_eq!(replies, reply, "one byte at a time");
    }

    #[rstest]
    #[case::private_dsr(b"\x1b[?6n")]
    #[case::device_status_other(b"\x1b[7n")]
    #[case::tertiary_attributes(b"\x1b[=c")]
    #[case::da1_with_parameter(b"\x1b[1c")]
    #[case::osc_title(b"\x1b]0;?\x07")]
    #[case::osc_set_colour(b"\x1b]11;rgb:1/2/3\x07")]
    #[case::osc_cursor_colour(b"\x1b]12;?\x07")]
    #[case::cancelled(b"\x1b[6\x18n")]
    #[case::restarted_by_esc(b"\x1b]11;\x1b[?\x07")]
    #[case::plain_text(b"6n c 11;?")]
    #[case::long_osc(b"\x1b]11;????????????????????????????????\x07")]
    fn ignores_what_is_not_a_query(#[case] output: &[u8]) {
        assert_eq!(OperatorTerminal::new(24, 80).feed(output), b"");
    }

    #[test]
    fn reports_the_cursor_where_it_was_when_asked() {
        let mut terminal = OperatorTerminal::new(24, 80);
        let replies = terminal.feed(b"\x1b[5;10H\x1b[6nabc\x1b[6n\r\n\x1b[6n");
        assert_eq!(replies, b"\x1b[5;10R\x1b[5;13R\x1b[6;1R");
    }

    #[test]
    fn answers_several_queries_in_order_across_packets() {
        let mut terminal = OperatorTerminal::new(24, 80);
        let mut replies = terminal.feed(b"\x1b[c\x1b]11;?\x1b");
        replies.extend(terminal.feed(b"\\\x1b[2;3H\x1b["));
        replies.extend(terminal.feed(b"6n"));
        assert_eq!(
            replies,
            b"\x1b[?1;2c\x1b]11;rgb:0000/0000/0000\x1b\\\x1b[2;3R".as_slice()
        );
    }

    #[test]
    fn replies_do_not_depend_on_chunking() {
        // Queries mixed with text, cursor moves and near-misses, cut at pseudo-random places.
        const PIECES: &[&[u8]] = &[
            b"\x1b[6n",
            b"\x1b[5n",
            b"\x1b[c",
            b"\x1b[>c",
            b"\x1b]10;?\x07",
            b"\x1b]11;?\x1b\\",
            b"\x1b[3;7H",
            b"\x1b[",
            b"\x1b]",
            b"\x1b",
            b"hello ",
            b"\r\n",
            b"\x18",
            b"\xc3\xa9",
        ];
        let mut state: u64 = 0x0123_4567_89ab_cdef;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % 1024).unwrap_or_default()
        };
        for _ in 0..200 {
            let output: Vec<u8> = (0..40)
                .flat_map(|_| {
                    PIECES
                        .get(next() % PIECES.len())
                        .copied()
                        .unwrap_or_default()
                })
                .copied()
                .collect();
            let whole = OperatorTerminal::new(24, 80).feed(&output);
            let mut terminal = OperatorTerminal::new(24, 80);
            let mut chunked = Vec::new();
            let mut rest = output.as_slice();
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at((next() % 7).min(rest.len()));
                chunked.extend(terminal.feed(chunk));
                rest = tail;
            }
            assert_eq!(chunked, whole, "{output:02x?}");
        }
    }

    #[test]
    fn reports_the_last_column_after_filling_a_row() {
        let mut terminal = OperatorTerminal::new(24, 80);
        let replies = terminal.feed(&[b"x".repeat(80), b"\x1b[6n".to_vec()].concat());
        assert_eq!(replies, b"\x1b[1;80R");
    }

    #[test]
    fn shows_contents_rows_and_cursor() {
        let mut terminal = OperatorTerminal::new(3, 20);
        let replies = terminal.feed(b"$ echo hi   \r\nhi\r\n$ ");
        assert!(replies.is_empty());
        assert_eq!(terminal.contents(), "$ echo hi\nhi\n$");
        assert_eq!(terminal.row(0), "$ echo hi");
        assert_eq!(terminal.row(1), "hi");
        assert_eq!(terminal.row(3), "");
        assert_eq!(terminal.cursor(), (2, 2));
    }

    #[test]
    fn tracks_input_modes() {
        let mut terminal = OperatorTerminal::new(24, 80);
        assert!(!terminal.bracketed_paste());
        assert!(!terminal.application_cursor());
        terminal.feed(b"\x1b[?2004h\x1b[?1h");
        assert!(terminal.bracketed_paste());
        assert!(terminal.application_cursor());
        terminal.feed(b"\x1b[?2004l\x1b[?1l");
        assert!(!terminal.bracketed_paste());
        assert!(!terminal.application_cursor());
    }

    #[test]
    fn resizes() {
        let mut terminal = OperatorTerminal::new(24, 80);
        terminal.feed(b"0123456789");
        terminal.resize(2, 5);
        assert_eq!(terminal.contents(), "01234\n");
        assert_eq!(terminal.feed(b"\x1b[99;99H\x1b[6n"), b"\x1b[2;5R");
        // A zero size is clamped to one; with the cursor on the top row the bottom row goes.
        terminal.feed(b"\x1b[H");
        terminal.resize(0, 0);
        assert_eq!(terminal.contents(), "0");
        assert_eq!(terminal.cursor(), (0, 0));
    }
}
