//! The key notation: every form parses to the bytes a terminal sends, errors point at where the
//! problem starts, and `render` round-trips every byte string.

use rstest::rstest;
use scenarios::notation::{parse, render, NotationError};

#[rstest]
// Text, including non-ASCII and literal newlines and tabs from the TOML string.
#[case::ascii("echo hi", b"echo hi")]
#[case::unicode("h\u{e9} \u{1f600}", "h\u{e9} \u{1f600}".as_bytes())]
#[case::literal_newline_and_tab("a\nb\tc", b"a\nb\tc")]
#[case::lone_greater_than("a > b", b"a > b")]
// Backslash escapes.
#[case::backslash("\\\\", b"\\")]
#[case::less_than("\\<Enter>", b"<Enter>")]
#[case::hex_byte("\\x1b\\xff\\x00", b"\x1b\xff\x00")]
#[case::hex_byte_upper("\\xAB", b"\xab")]
#[case::hex_then_text("\\x41BC", b"ABC")]
#[case::unicode_escape("\\u{1F600}", "\u{1f600}".as_bytes())]
#[case::unicode_escape_short("\\u{41}", b"A")]
#[case::cr_lf_tab_esc("\\r\\n\\t\\e", b"\r\n\t\x1b")]
// Single-byte keys.
#[case::enter("<Enter>", b"\r")]
#[case::return_("<Return>", b"\r")]
#[case::lf("<LF>", b"\n")]
#[case::tab("<Tab>", b"\t")]
#[case::esc("<Esc>", b"\x1b")]
#[case::bs("<BS>", b"\x7f")]
#[case::ctrl_h("<C-h>", b"\x08")]
#[case::space("<Space>", b" ")]
#[case::lt("<lt>", b"<")]
#[case::nul("<NUL>", b"\0")]
#[case::names_ignore_case("<enter><TAB><bs>", b"\r\t\x7f")]
// Control keys.
#[case::ctrl_a("<C-a>", b"\x01")]
#[case::ctrl_z("<C-z>", b"\x1a")]
#[case::ctrl_upper_letter("<C-W>", b"\x17")]
#[case::ctrl_lower_prefix("<c-u>", b"\x15")]
#[case::ctrl_at("<C-@>", b"\0")]
#[case::ctrl_space("<C-Space>", b"\0")]
#[case::ctrl_bracket("<C-[>", b"\x1b")]
#[case::ctrl_backslash("<C-\\>", b"\x1c")]
#[case::ctrl_close_bracket("<C-]>", b"\x1d")]
#[case::ctrl_caret("<C-^>", b"\x1e")]
#[case::ctrl_underscore("<C-_>", b"\x1f")]
#[case::ctrl_question("<C-?>", b"\x7f")]
// Meta.
#[case::meta_letter("<M-b>", b"\x1bb")]
#[case::meta_upper("<M-B>", b"\x1bB")]
#[case::meta_dot("<M-.>", b"\x1b.")]
#[case::meta_greater("<M->>", b"\x1b>")]
#[case::meta_less("<M-<>", b"\x1b<")]
#[case::meta_dash("<M-->", b"\x1b-")]
#[case::meta_unicode("<M-\u{e9}>", "\x1b\u{e9}".as_bytes())]
#[case::meta_ctrl("<M-C-h>", b"\x1b\x08")]
#[case::ctrl_meta("<C-M-h>", b"\x1b\x08")]
#[case::meta_bs("<M-BS>", b"\x1b\x7f")]
#[case::meta_enter("<M-Enter>", b"\x1b\r")]
// Named keys.
#[case::up("<Up>", b"\x1b[A")]
#[case::down("<Down>", b"\x1b[B")]
#[case::right("<Right>", b"\x1b[C")]
#[case::left("<Left>", b"\x1b[D")]
#[case::home("<Home>", b"\x1b[H")]
#[case::end("<End>", b"\x1b[F")]
#[case::ins("<Ins>", b"\x1b[2~")]
#[case::insert("<Insert>", b"\x1b[2~")]
#[case::del("<Del>", b"\x1b[3~")]
#[case::delete("<Delete>", b"\x1b[3~")]
#[case::pgup("<PgUp>", b"\x1b[5~")]
#[case::pageup("<PageUp>", b"\x1b[5~")]
#[case::pgdn("<PgDn>", b"\x1b[6~")]
#[case::pagedown("<PageDown>", b"\x1b[6~")]
#[case::f1("<F1>", b"\x1bOP")]
#[case::f2("<F2>", b"\x1bOQ")]
#[case::f3("<F3>", b"\x1bOR")]
#[case::f4("<F4>", b"\x1bOS")]
#[case::f5("<F5>", b"\x1b[15~")]
#[case::f6("<F6>", b"\x1b[17~")]
#[case::f7("<F7>", b"\x1b[18~")]
#[case::f8("<F8>", b"\x1b[19~")]
#[case::f9("<F9>", b"\x1b[20~")]
#[case::f10("<F10>", b"\x1b[21~")]
#[case::f11("<F11>", b"\x1b[23~")]
#[case::f12("<F12>", b"\x1b[24~")]
#[case::backtab("<BackTab>", b"\x1b[Z")]
#[case::shift_tab("<S-Tab>", b"\x1b[Z")]
// Encoding suffixes.
#[case::up_app("<Up:app>", b"\x1bOA")]
#[case::down_app("<Down:app>", b"\x1bOB")]
#[case::right_app("<Right:app>", b"\x1bOC")]
#[case::left_app("<Left:app>", b"\x1bOD")]
#[case::home_app("<Home:app>", b"\x1bOH")]
#[case::end_app("<End:app>", b"\x1bOF")]
#[case::home_tmux("<Home:tmux>", b"\x1b[1~")]
#[case::end_tmux("<End:tmux>", b"\x1b[4~")]
#[case::home_rxvt("<Home:rxvt>", b"\x1b[7~")]
#[case::end_rxvt("<End:rxvt>", b"\x1b[8~")]
// Modifiers on named keys.
#[case::ctrl_left("<C-Left>", b"\x1b[1;5D")]
#[case::shift_left("<S-Left>", b"\x1b[1;2D")]
#[case::meta_left("<M-Left>", b"\x1b[1;3D")]
#[case::ctrl_shift_left("<C-S-Left>", b"\x1b[1;6D")]
#[case::ctrl_meta_shift_right("<C-M-S-Right>", b"\x1b[1;8C")]
#[case::ctrl_home("<C-Home>", b"\x1b[1;5H")]
#[case::ctrl_del("<C-Del>", b"\x1b[3;5~")]
#[case::shift_f5("<S-F5>", b"\x1b[15;2~")]
#[case::ctrl_f1("<C-F1>", b"\x1b[1;5P")]
// Extended keys.
#[case::csiu("<CSIu 13 5>", b"\x1b[13;5u")]
#[case::csiu_no_modifier("<CSIu 13>", b"\x1b[13u")]
#[case::key27("<Key27 5 13>", b"\x1b[27;5;13~")]
// Bracketed paste, focus.
#[case::paste("<Paste>ls<Enter></Paste>", b"\x1b[200~ls\r\x1b[201~")]
#[case::unpaired_paste_end("</Paste>", b"\x1b[201~")]
#[case::focus_in("<FocusIn>", b"\x1b[I")]
#[case::focus_out("<FocusOut>", b"\x1b[O")]
// Terminal replies.
#[case::cpr("<CPR 12 5>", b"\x1b[12;5R")]
#[case::da1("<DA1 64;1;2>", b"\x1b[?64;1;2c")]
#[case::da2("<DA2 41;354;0>", b"\x1b[>41;354;0c")]
#[case::osc("<OSC 11;rgb:0000/0000/0000>", b"\x1b]11;rgb:0000/0000/0000\x07")]
#[case::osc_st("<OSC-ST 11;rgb:0000/0000/0000>", b"\x1b]11;rgb:0000/0000/0000\x1b\\")]
#[case::sgr_mouse_press("<SGRMouse 0 10 5 M>", b"\x1b[<0;10;5M")]
#[case::sgr_mouse_release("<SGRMouse 0 10 5 m>", b"\x1b[<0;10;5m")]
#[case::x10_mouse("<X10Mouse 0 10 5>", b"\x1b[M *%")]
#[case::x10_mouse_largest("<X10Mouse 223 0 1>", b"\x1b[M\xff !")]
// A whole line.
#[case::line("echo hi<Left><C-w><Enter>", b"echo hi\x1b[D\x17\r")]
fn parses(#[case] notation: &str, #[case] bytes: &[u8]) {
    assert_eq!(parse(notation), Ok(bytes.to_vec()), "{notation}");
}

#[rstest]
#[case::unknown_key("ls <Foo>", 1, 4, "unknown key `<Foo>`; write `\\<` for a literal `<`")]
#[case::unknown_key_second_line("ls\n  a<b>", 2, 4, "unknown key `<b>`")]
#[case::unknown_key_after_unicode("\u{e9}\u{e9}<Nope>", 1, 3, "unknown key `<Nope>`")]
#[case::empty_key("<>", 1, 1, "unknown key `<>`")]
#[case::unterminated("a < b", 1, 3, "unterminated `<`")]
#[case::unterminated_before_newline("<Enter\n>", 1, 1, "unterminated `<`")]
#[case::unknown_escape("ab\\q", 1, 3, "unknown escape `\\q`")]
#[case::lone_backslash("ab\\", 1, 3, "lone `\\`")]
#[case::short_hex("\\x1", 1, 1, "`\\x` needs exactly two hex digits")]
#[case::bad_hex("x\\xg0", 1, 2, "`\\x` needs exactly two hex digits")]
#[case::unicode_no_brace("\\u41", 1, 1, "`\\u` needs")]
#[case::unicode_surrogate("\\u{D800}", 1, 1, "`\\u` needs")]
#[case::unicode_too_long("\\u{0000041}", 1, 1, "`\\u` needs")]
#[case::unicode_empty("\\u{}", 1, 1, "`\\u` needs")]
#[case::unicode_sign("\\u{+41}", 1, 1, "`\\u` needs")]
#[case::no_control_code("<C-1>", 1, 1, "`<C-1>`: no control code")]
#[case::shift_char("<S-a>", 1, 1, "Shift applies to named keys")]
#[case::ctrl_enter("<C-Enter>", 1, 1, "`<C-Enter>`: Ctrl applies to Space")]
#[case::shift_enter("<S-Enter>", 1, 1, "Shift applies to Tab")]
#[case::unknown_encoding("<Home:vt52>", 1, 1, "unknown encoding `:vt52`")]
#[case::app_on_del("<Del:app>", 1, 1, "`:app` applies to Up")]
#[case::tmux_on_up("<Up:tmux>", 1, 1, "`:tmux` applies to Home and End")]
#[case::suffix_and_modifier("<C-Left:app>", 1, 1, "cannot be combined with modifiers")]
#[case::modifier_on_fixed("<C-Paste>", 1, 1, "takes no modifiers")]
#[case::modifier_on_reply("<C-CPR 1 2>", 1, 1, "modifiers do not apply")]
#[case::arguments_on_key("<Enter 2>", 1, 1, "takes no arguments")]
#[case::missing_arguments("<CPR>", 1, 1, "needs arguments, as in `<CPR row column>`")]
#[case::too_few_arguments("<CPR 1>", 1, 1, "expected `<CPR row column>`")]
#[case::too_many_arguments("<CSIu 1 2 3>", 1, 1, "expected `<CSIu codepoint>`")]
#[case::bad_number("x<CPR 1 y>", 1, 9, "bad number `y`")]
#[case::negative_number("<CSIu -1>", 1, 7, "bad number `-1`")]
#[case::number_too_large("<CSIu 99999999999>", 1, 7, "bad number `99999999999`")]
#[case::x10_too_large("<X10Mouse 0 224 1>", 1, 13, "up to 223")]
#[case::sgr_bad_action("<SGRMouse 0 1 1 X>", 1, 17, "expected `M` (press) or `m` (release)")]
#[case::da_bad_parameters("<DA1 6a>", 1, 6, "parameters `6a` may hold only digits")]
fn reports_errors_where_they_start(
    #[case] notation: &str,
    #[case] line: usize,
    #[case] column: usize,
    #[case] message: &str,
) {
    let error: NotationError = parse(notation).expect_err(notation);
    assert_eq!((error.line, error.column), (line, column), "{error}");
    assert!(
        error.message.contains(message),
        "{error:?} lacks {message:?}"
    );
    assert!(error
        .to_string()
        .starts_with(&format!("line {line}, column {column}: ")));
}

#[rstest]
#[case::text(b"ls -l".as_slice(), "ls -l")]
#[case::specials(b"<a\\b>".as_slice(), "<lt>a\\\\b>")]
#[case::controls(b"\r\n\t\x7f\0\x08\x01\x1c\x1f\x1b".as_slice(), "<Enter><LF><Tab><BS><NUL><C-h><C-a><C-\\><C-_><Esc>")]
#[case::invalid_utf8(b"a\xff\xc3".as_slice(), "a\\xff\\xc3")]
#[case::unicode("\u{e9}\u{1f600}".as_bytes(), "\u{e9}\u{1f600}")]
#[case::invisible("a\u{202e}b\u{a0}\u{85}".as_bytes(), "a\\u{202e}b\\u{a0}\\u{85}")]
#[case::arrows(b"\x1b[A\x1bOD\x1b[1;5D\x1b[3;5~".as_slice(), "<Up><Left:app><C-Left><C-Del>")]
#[case::home_end(b"\x1b[1~\x1b[8~\x1bOH".as_slice(), "<Home:tmux><End:rxvt><Home:app>")]
#[case::paste(b"\x1b[200~ls\r\x1b[201~".as_slice(), "<Paste>ls<Enter></Paste>")]
#[case::meta(b"\x1bb\x1b\x7f\x1b\r\x1b\x08\x1b ".as_slice(), "<M-b><M-BS><M-Enter><M-C-h><M-Space>")]
#[case::esc_before_sequence_byte(b"\x1b[\x1bO".as_slice(), "<Esc>[<Esc>O")]
#[case::replies(b"\x1b[12;5R\x1b[?64;1c\x1b[>0;95;0c".as_slice(), "<CPR 12 5><DA1 64;1><DA2 0;95;0>")]
#[case::osc(b"\x1b]11;rgb:0/0/0\x07\x1b]10;?\x1b\\".as_slice(), "<OSC 11;rgb:0/0/0><OSC-ST 10;?>")]
#[case::mouse(b"\x1b[<0;10;5M\x1b[M *%".as_slice(), "<SGRMouse 0 10 5 M><X10Mouse 0 10 5>")]
#[case::extended_keys(b"\x1b[13;5u\x1b[27;5;13~".as_slice(), "<CSIu 13 5><Key27 5 13>")]
#[case::non_canonical_number_stays_raw(b"\x1b[013u".as_slice(), "<Esc>[013u")]
#[case::focus(b"\x1b[I\x1b[O".as_slice(), "<FocusIn><FocusOut>")]
fn renders_canonically(#[case] bytes: &[u8], #[case] notation: &str) {
    assert_eq!(render(bytes), notation);
    assert_eq!(parse(notation), Ok(bytes.to_vec()));
}

fn assert_round_trip(bytes: &[u8]) {
    let notation = render(bytes);
    assert!(
        !notation.chars().any(char::is_control),
        "{notation:?} holds a raw control character"
    );
    assert_eq!(
        parse(&notation),
        Ok(bytes.to_vec()),
        "{bytes:02x?} rendered as {notation:?}"
    );
}

#[test]
fn round_trips_every_single_byte() {
    for byte in 0..=u8::MAX {
        assert_round_trip(&[byte]);
    }
}

#[test]
fn round_trips_every_pair_of_bytes() {
    for first in 0..=u8::MAX {
        for second in 0..=u8::MAX {
            assert_round_trip(&[first, second]);
        }
    }
}

#[rstest]
#[case::mixed_scripts("grüß 你好 ¿qué? \u{1f600}\u{fe0f} \u{202e}evil")]
#[case::sequences_in_text("\x1b[A\x1b[200~ x \x1b]11;?\x07 \x1b[<0;1;1M \x1b[M!!! \x1b[5;5R")]
#[case::notation_lookalikes("<Enter>\\x1b\\\\<lt> \\u{41} <M->>")]
fn round_trips_text(#[case] text: &str) {
    assert_round_trip(text.as_bytes());
}

/// xorshift64: a fixed, dependency-free stream of pseudo-random numbers.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn round_trips_pseudo_random_strings() {
    // Biased towards the bytes sequences are made of, so that near-misses of named keys occur.
    const ALPHABET: &[u8] =
        b"\x1b\x1b\x1b[[]O;;0123456789~?<>MRcum\x07\\ \r\n\x7f\x80\xc3\xa9\xe2\x82\xac\xf0\x9f";
    let mut rng = XorShift(0x5eed_1234_abcd_ef01);
    for _ in 0..2000 {
        let len = usize::try_from(rng.next() % 200).unwrap_or_default();
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let n = rng.next();
                if n.is_multiple_of(3) {
                    n.to_le_bytes()[1]
                } else {
                    let index = usize::try_from(n >> 8).unwrap_or_default() % ALPHABET.len();
                    ALPHABET.get(index).copied().unwrap_or_default()
                }
            })
            .collect();
        assert_round_trip(&bytes);
    }
}

#[test]
fn parse_never_panics_on_pseudo_random_notation() {
    const PIECES: &[&str] = &[
        "<",
        ">",
        "\\",
        "\\x",
        "\\u{",
        "}",
        "C-",
        "M-",
        "S-",
        "-",
        " ",
        "\n",
        "a",
        "1",
        "9",
        ";",
        ":app",
        "Left",
        "CPR",
        "X10Mouse",
        "OSC",
        "DA1",
        "CSIu",
        "é",
        "\u{1f600}",
    ];
    let mut rng = XorShift(0xdead_beef_0bad_f00d);
    for _ in 0..20_000 {
        let len = rng.next() % 12;
        let text: String = (0..len)
            .map(|_| {
                let index = usize::try_from(rng.next()).unwrap_or_default() % PIECES.len();
                PIECES.get(index).copied().unwrap_or_default()
            })
            .collect();
        if let Err(error) = parse(&text) {
            let lines = text.split('\n').count();
            assert!((1..=lines).contains(&error.line), "{text:?}: {error}");
            assert!(error.column >= 1, "{text:?}: {error}");
        }
    }
}
