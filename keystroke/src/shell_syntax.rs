//! Whether a POSIX-ish shell (bash, dash, zsh in sh-like terms) runs the text it has read at the
//! next newline or keeps reading, and the text it reads. The proxy gates each submitted *line*,
//! but a shell runs *commands*: `mark DE\` then `NY` runs `mark DENY`.
//!
//! Invariant: any input, however malformed, is scanned once, left to right, with an explicit
//! stack (no recursion, no backtracking), so it can neither panic nor loop. Where the scanner is
//! unsure (syntax errors, constructs it does not model) it leans to "open": a command reported
//! open only makes the proxy wait for more lines, one reported complete too early would let its
//! tail through on its own.
//!
//! Known limits, all leaning open: a syntax error the shell rejects at once (`echo (`, `fi`
//! outside `if`) can be reported open; bash 5.2 ends a here-document inside `$( )` at a line like
//! `EOF)`, which is reported open; here-documents inside backquotes are not seen, as backquoted
//! text is only scanned for its closing backquote (which is what decides whether bash keeps
//! reading). A case pattern's `)` inside `$( )` is exact: `$( )` runs the same parser as the top
//! level, so the `case` on top of the stack takes the `)`.

use std::mem;

/// Why a shell keeps reading after a newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Open {
    /// The line ends in an unquoted backslash: a line continuation.
    Backslash,
    SingleQuote,
    DoubleQuote,
    Backquote,
    /// `$'...'` (bash, zsh).
    DollarSingleQuote,
    /// An unclosed `$( )`, `( )` subshell, `${ }`, `$(( ))`, `(( ))`, `$[ ]`, `<( )`, `>( )` or
    /// array assignment `a=( )`.
    Substitution,
    /// A `<<` or `<<-` here-document whose body has not ended.
    HereDocument {
        delimiter: String,
    },
    /// A compound command waiting for its closing word, named by the last keyword read: `if`,
    /// `then`, `elif`, `else` (need `fi`); `while`, `until`, `for`, `select`, `do` (need `done`);
    /// `case` (needs `esac`); `{` (needs `}`); `function` (a definition waiting for its body).
    Compound {
        keyword: String,
    },
    /// A trailing `|`, `&&`, `||` or `|&` waiting for its command.
    Operator {
        operator: String,
    },
}

/// Given the text the shell has read so far for one command (every line the operator submitted
/// since the shell's last primary prompt, joined with '\n', no trailing newline), returns `None`
/// when the shell runs it at the next newline, or the innermost reason it keeps reading.
pub fn open_construct(source: &str) -> Option<Open> {
    Scanner::run(source).open
}

/// The command as the shell reads it: backslash-newline pairs removed where the shell removes
/// them (everywhere but inside single quotes, `$'...'`, comments and the bodies of here-documents
/// whose delimiter was quoted), lines otherwise joined with '\n'.
pub fn as_read(source: &str) -> String {
    Scanner::run(source).read
}

/// Where the commands of a command line start, for telling a command of the line from the same
/// text in a comment, in quotes, in a here-document's body or inside `$( )`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandStarts {
    /// The line as the shell reads it ([`as_read`]).
    pub read: String,
    /// Byte offsets into `read` of each word in command position that the shell itself runs:
    /// at the top level, or in a `{ }` group, `if`, loop or `case` body; not inside a subshell,
    /// a command or process substitution, a function's body, quotes, a comment or a
    /// here-document. Reserved words (`if`, `!`) in command position are among them.
    pub starts: Vec<usize>,
}

/// The commands of `source`, as [`CommandStarts`].
pub fn command_starts(source: &str) -> CommandStarts {
    let outcome = Scanner::run(source);
    CommandStarts {
        read: outcome.read,
        starts: outcome.starts,
    }
}

struct Outcome {
    open: Option<Open>,
    read: String,
    starts: Vec<usize>,
}

/// What the scanner is inside. A `List` marker stands for the innermost entry of
/// `Scanner::nested`; the others are parts of a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    List,
    SingleQuote,
    DollarSingleQuote,
    DoubleQuote,
    Backquote,
    Parameter,
    /// `(( ))`, `$(( ))` and `$[ ]`. Parentheses are counted from two, so `$((a); (b))`, which
    /// bash reads as a command substitution, still closes where bash closes it.
    Arithmetic {
        open: char,
        close: char,
        depth: usize,
    },
}

/// The kind of command list being read, and so the word that ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Top,
    Subshell,
    /// `$( )`, `<( )`, `>( )`: a parser of its own, so here-documents wait for its own newline.
    CommandSub,
    Array,
    Brace,
    If(&'static str),
    Loop {
        keyword: &'static str,
        body: bool,
    },
    Case(CaseStage),
    /// A function definition waiting for its body.
    Function(Parens),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaseStage {
    Subject,
    In,
    Pattern,
    Body,
}

/// The optional `()` of `function f ()` and the required one of `f ()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parens {
    None,
    Open,
    Closed,
}

/// Where the next word stands: reserved words count only in command position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    Command,
    Argument,
    FunctionName,
}

#[derive(Debug, Default)]
struct Word {
    /// The text after quote removal, which is what a here-document delimiter is compared with.
    text: String,
    started: bool,
    quoted: bool,
    expanded: bool,
}

#[derive(Debug)]
struct List {
    kind: Kind,
    position: Position,
    /// Words of the current simple command so far (`f (` defines a function, `echo f (` errs).
    words: usize,
    word: Word,
    /// An operator waiting for the command after it; newlines do not satisfy it.
    pending: Option<&'static str>,
    /// The next word is a here-document delimiter; `true` for `<<-`.
    delimiter_next: Option<bool>,
    /// Inside `[[ ]]`, where `(`, `)`, `<`, `>` and `|` are parts of words.
    condition: bool,
    /// A function's body (which took the place of its head): defined, not run, here.
    function_body: bool,
}

impl List {
    fn new(kind: Kind) -> Self {
        let position = match kind {
            Kind::Array | Kind::Case(_) | Kind::Loop { .. } => Position::Argument,
            _ => Position::Command,
        };
        List {
            kind,
            position,
            words: 0,
            word: Word::default(),
            pending: None,
            delimiter_next: None,
            condition: false,
            function_body: false,
        }
    }
}

struct HereDoc {
    delimiter: String,
    quoted: bool,
    strip_tabs: bool,
    /// How many `$( )` parsers deep the `<<` was: the body starts at a newline of that parser.
    level: usize,
}

struct Scanner {
    chars: Vec<char>,
    pos: usize,
    read: String,
    frames: Vec<Frame>,
    top: List,
    nested: Vec<List>,
    level: usize,
    heredocs: Vec<HereDoc>,
    open_heredoc: Option<String>,
    /// The input ended in a backslash-newline the shell removes: it reads another line.
    continued: bool,
    /// See [`CommandStarts::starts`].
    starts: Vec<usize>,
}

impl Scanner {
    fn run(source: &str) -> Outcome {
        let mut chars: Vec<char> = source.chars().collect();
        // The newline the operator submits, which is when the shell decides.
        chars.push('\n');
        let mut scanner = Scanner {
            chars,
            pos: 0,
            read: String::with_capacity(source.len() + 1),
            frames: Vec::new(),
            top: List::new(Kind::Top),
            nested: Vec::new(),
            level: 0,
            heredocs: Vec::new(),
            open_heredoc: None,
            continued: false,
            starts: Vec::new(),
        };
        while let Some(c) = scanner.next() {
            scanner.step(c);
        }
        scanner.finish()
    }

    fn finish(mut self) -> Outcome {
        let open = match self.open_heredoc.take() {
            Some(delimiter) => Some(Open::HereDocument { delimiter }),
            None if self.continued => Some(Open::Backslash),
            None => self.innermost(),
        };
        // Give back what the operator typed at the end, not the newline added for the decision.
        if self.continued {
            self.read.push('\\');
        } else {
            self.read.pop();
        }
        Outcome {
            open,
            read: self.read,
            starts: self.starts,
        }
    }

    fn innermost(&self) -> Option<Open> {
        let frame = self.frames.last().copied().unwrap_or(Frame::List);
        let compound = |keyword: &str| {
            Some(Open::Compound {
                keyword: keyword.to_string(),
            })
        };
        match frame {
            Frame::SingleQuote => Some(Open::SingleQuote),
            Frame::DollarSingleQuote => Some(Open::DollarSingleQuote),
            Frame::DoubleQuote => Some(Open::DoubleQuote),
            Frame::Backquote => Some(Open::Backquote),
            Frame::Parameter | Frame::Arithmetic { .. } => Some(Open::Substitution),
            Frame::List => {
                let list = self.nested.last().unwrap_or(&self.top);
                if let Some(operator) = list.pending {
                    return Some(Open::Operator {
                        operator: operator.to_string(),
                    });
                }
                match list.kind {
                    Kind::Top => None,
                    Kind::Subshell | Kind::CommandSub | Kind::Array => Some(Open::Substitution),
                    Kind::Brace => compound("{"),
                    Kind::If(keyword) => compound(keyword),
                    Kind::Loop { body: true, .. } => compound("do"),
                    Kind::Loop { keyword, .. } => compound(keyword),
                    Kind::Case(_) => compound("case"),
                    Kind::Function(_) => compound("function"),
                }
            }
        }
    }

    // ---- input -------------------------------------------------------------------------------

    /// Backslash-newline is removed before tokens are formed everywhere but in single quotes.
    fn joins_lines(&self) -> bool {
        !matches!(
            self.frames.last(),
            Some(Frame::SingleQuote | Frame::DollarSingleQuote)
        )
    }

    fn is_join(&self, at: usize) -> bool {
        self.chars.get(at) == Some(&'\\') && self.chars.get(at + 1) == Some(&'\n')
    }

    fn next(&mut self) -> Option<char> {
        while self.joins_lines() && self.is_join(self.pos) {
            self.pos += 2;
            self.continued = self.pos == self.chars.len();
        }
        self.next_raw()
    }

    /// The next character as typed: an escaped character, or one inside a comment.
    fn next_raw(&mut self) -> Option<char> {
        let c = *self.chars.get(self.pos)?;
        self.pos += 1;
        self.read.push(c);
        Some(c)
    }

    fn peek(&self) -> Option<char> {
        let mut at = self.pos;
        while self.joins_lines() && self.is_join(at) {
            at += 2;
        }
        self.chars.get(at).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.next();
        }
        found
    }

    // ---- dispatch ----------------------------------------------------------------------------

    fn list(&mut self) -> &mut List {
        self.nested.last_mut().unwrap_or(&mut self.top)
    }

    fn word(&mut self) -> &mut Word {
        &mut self.list().word
    }

    fn step(&mut self, c: char) {
        match self.frames.last().copied() {
            None | Some(Frame::List) => self.list_char(c),
            Some(frame) => self.word_part_char(frame, c),
        }
    }

    fn list_char(&mut self, c: char) {
        let condition = self.list().condition;
        match c {
            '\n' => {
                self.end_word();
                self.newline();
            }
            ' ' | '\t' => self.end_word(),
            '#' if !self.word().started => self.skip_comment(),
            ';' => {
                self.end_word();
                self.semicolon();
            }
            '&' => {
                self.end_word();
                if self.eat('&') {
                    self.operator("&&");
                } else if self.eat('>') {
                    self.eat('>');
                } else {
                    self.separator();
                }
            }
            '|' if condition && self.peek() != Some('|') => self.word_char(c),
            '|' => {
                self.end_word();
                if self.eat('|') {
                    self.operator("||");
                } else if self.eat('&') {
                    self.operator("|&");
                } else if self.list().kind != Kind::Case(CaseStage::Pattern) {
                    self.operator("|");
                }
            }
            '(' | ')' | '<' | '>' if condition => self.word_char(c),
            '(' => self.open_paren(),
            ')' => {
                self.end_word();
                self.close_paren();
            }
            '<' | '>' => {
                self.end_word();
                self.redirection(c);
            }
            '\\' => {
                self.begin_word();
                self.word().quoted = true;
                if let Some(escaped) = self.next_raw() {
                    self.word().text.push(escaped);
                }
            }
            '\'' => self.push_quote(Frame::SingleQuote),
            '"' => self.push_quote(Frame::DoubleQuote),
            '`' => self.push_expansion(Frame::Backquote),
            '$' => {
                self.begin_word();
                self.dollar(true);
            }
            _ => self.word_char(c),
        }
    }

    /// A character inside quotes or an expansion that is part of a word.
    fn word_part_char(&mut self, frame: Frame, c: char) {
        use Frame::*;
        match (frame, c) {
            (SingleQuote | DollarSingleQuote, '\'') | (DoubleQuote, '"') | (Backquote, '`') => {
                self.frames.pop();
            }
            (Parameter, '}') => {
                self.frames.pop();
            }
            (DoubleQuote, '\\') => {
                // Inside double quotes a backslash escapes only these; otherwise it is literal.
                if matches!(self.peek(), Some('$' | '`' | '"' | '\\')) {
                    if let Some(escaped) = self.next_raw() {
                        self.word().text.push(escaped);
                    }
                } else {
                    self.word().text.push(c);
                }
            }
            (DollarSingleQuote | Backquote | Parameter | Arithmetic { .. }, '\\') => {
                self.word().text.push(c);
                if let Some(escaped) = self.next_raw() {
                    self.word().text.push(escaped);
                }
            }
            (DoubleQuote | Parameter | Arithmetic { .. }, '$') => self.dollar(frame != DoubleQuote),
            (DoubleQuote | Parameter | Arithmetic { .. }, '`') => self.push_expansion(Backquote),
            // bash takes single quotes inside `${ }` as quotes even between double quotes.
            (Parameter | Arithmetic { .. }, '\'') => self.push_quote(SingleQuote),
            (Parameter | Arithmetic { .. }, '"') => self.push_quote(DoubleQuote),
            (Arithmetic { open, close, depth }, _) if c == open || c == close => {
                let depth = if c == open { depth + 1 } else { depth - 1 };
                self.frames.pop();
                if depth > 0 {
                    self.frames.push(Arithmetic { open, close, depth });
                }
            }
            _ => self.word().text.push(c),
        }
    }

    // ---- words -------------------------------------------------------------------------------

    fn begin_word(&mut self) {
        // Called with the word's first character read last.
        let shell_level = self.frames.iter().all(|frame| *frame == Frame::List)
            && self.nested.iter().all(|list| {
                !list.function_body
                    && matches!(
                        list.kind,
                        Kind::Brace | Kind::If(_) | Kind::Loop { .. } | Kind::Case(_)
                    )
            });
        let list = self.list();
        if shell_level && !list.word.started && list.position == Position::Command {
            let first = self.read.chars().next_back().map_or(0, char::len_utf8);
            self.starts.push(self.read.len() - first);
        }
        let list = self.list();
        list.word.started = true;
        list.pending = None;
    }

    fn word_char(&mut self, c: char) {
        self.begin_word();
        self.word().text.push(c);
    }

    fn push_quote(&mut self, frame: Frame) {
        self.begin_word();
        self.word().quoted = true;
        self.frames.push(frame);
    }

    fn push_expansion(&mut self, frame: Frame) {
        self.begin_word();
        self.word().expanded = true;
        self.frames.push(frame);
    }

    /// After a `$`: which expansion, if any, it opens.
    fn dollar(&mut self, ansi_quotes: bool) {
        self.word().text.push('$');
        match self.peek() {
            Some('(') => {
                self.next();
                if self.eat('(') {
                    self.push_expansion(Frame::Arithmetic {
                        open: '(',
                        close: ')',
                        depth: 2,
                    });
                } else {
                    self.word().expanded = true;
                    self.push_list(Kind::CommandSub);
                }
            }
            Some('{') => {
                self.next();
                self.push_expansion(Frame::Parameter);
            }
            Some('[') => {
                self.next();
                self.push_expansion(Frame::Arithmetic {
                    open: '[',
                    close: ']',
                    depth: 1,
                });
            }
            Some('\'') if ansi_quotes => {
                self.next();
                self.push_quote(Frame::DollarSingleQuote);
            }
            _ => {}
        }
    }

    fn skip_comment(&mut self) {
        while self.chars.get(self.pos).is_some_and(|&c| c != '\n') {
            self.next_raw();
        }
    }

    /// A word ended: a here-document delimiter, a reserved word, or an ordinary word.
    fn end_word(&mut self) {
        let list = self.list();
        if !list.word.started {
            return;
        }
        let word = mem::take(&mut list.word);
        if let Some(strip_tabs) = list.delimiter_next.take() {
            self.heredocs.push(HereDoc {
                delimiter: word.text,
                quoted: word.quoted,
                strip_tabs,
                level: self.level,
            });
            return;
        }
        let literal = !word.quoted && !word.expanded;
        let text = if literal { word.text.as_str() } else { "" };
        if list.condition && text == "]]" {
            list.condition = false;
            list.position = Position::Argument;
            return;
        }
        match (list.kind, list.position) {
            (_, Position::FunctionName) => {
                list.position = Position::Argument;
                self.push_list(Kind::Function(Parens::None));
            }
            (Kind::Case(CaseStage::Subject), _) => list.kind = Kind::Case(CaseStage::In),
            (Kind::Case(CaseStage::In), _) if text == "in" => {
                list.kind = Kind::Case(CaseStage::Pattern);
                list.words = 0;
            }
            (Kind::Case(CaseStage::Pattern), _) if list.words == 0 && text == "esac" => {
                self.pop_list()
            }
            (Kind::Case(CaseStage::In | CaseStage::Pattern), _) => list.words += 1,
            // `for name do`: `do` right after the name, with no `;` or newline.
            (
                Kind::Loop {
                    keyword,
                    body: false,
                },
                _,
            ) if matches!(keyword, "for" | "select") && list.words == 1 && text == "do" => {
                list.kind = Kind::Loop {
                    keyword,
                    body: true,
                };
                list.position = Position::Command;
                list.words = 0;
            }
            (_, Position::Command) if self.reserved_word(text) => {}
            _ => {
                let list = self.list();
                list.position = Position::Argument;
                list.words += 1;
            }
        }
    }

    /// Applies `text` as a reserved word in command position; false when it is not one here.
    fn reserved_word(&mut self, text: &str) -> bool {
        let list = self.list();
        match (text, list.kind) {
            ("if", _) => self.push_list(Kind::If("if")),
            ("then" | "elif" | "else", Kind::If(_)) => {
                list.kind = Kind::If(match text {
                    "then" => "then",
                    "elif" => "elif",
                    _ => "else",
                });
                list.words = 0;
            }
            ("fi", Kind::If(_))
            | ("done", Kind::Loop { body: true, .. })
            | ("esac", Kind::Case(CaseStage::Body))
            | ("}", Kind::Brace) => self.pop_list(),
            ("while" | "until" | "for" | "select", _) => {
                let keyword = match text {
                    "while" => "while",
                    "until" => "until",
                    "for" => "for",
                    _ => "select",
                };
                self.push_list(Kind::Loop {
                    keyword,
                    body: false,
                });
                if matches!(keyword, "while" | "until") {
                    self.list().position = Position::Command;
                }
            }
            (
                "do",
                Kind::Loop {
                    keyword,
                    body: false,
                },
            ) => {
                list.kind = Kind::Loop {
                    keyword,
                    body: true,
                };
                list.words = 0;
            }
            ("case", _) => self.push_list(Kind::Case(CaseStage::Subject)),
            ("{", _) => self.push_list(Kind::Brace),
            // Prefixes: the command position goes on (`! if` and `time if` open an `if`).
            ("!" | "time", _) => {}
            ("function", _) => list.position = Position::FunctionName,
            ("[[", _) => {
                list.condition = true;
                list.position = Position::Argument;
            }
            _ => return false,
        }
        true
    }

    // ---- operators ---------------------------------------------------------------------------

    fn separator(&mut self) {
        let list = self.list();
        list.position = Position::Command;
        list.words = 0;
        list.delimiter_next = None;
        list.condition = false;
    }

    /// `|`, `&&`, `||`, `|&`: the shell reads on, across newlines, until a command follows.
    fn operator(&mut self, operator: &'static str) {
        let list = self.list();
        list.pending = Some(operator);
        list.words = 0;
        list.delimiter_next = None;
        // Inside `[[ ]]`, `&&` and `||` join conditions, not commands.
        if !list.condition {
            list.position = Position::Command;
        }
    }

    fn semicolon(&mut self) {
        let case_break = if self.eat(';') {
            self.eat('&');
            true
        } else {
            self.eat('&')
        };
        if !case_break {
            self.separator();
        } else if self.list().kind == Kind::Case(CaseStage::Body) {
            let list = self.list();
            list.kind = Kind::Case(CaseStage::Pattern);
            list.words = 0;
        }
    }

    fn newline(&mut self) {
        let list = self.list();
        list.delimiter_next = None;
        if list.pending.is_none() {
            list.condition = false;
        }
        if !list.condition && list.kind != Kind::Array {
            list.position = Position::Command;
            list.words = 0;
        }
        self.read_heredoc_bodies();
    }

    fn redirection(&mut self, c: char) {
        if self.peek() == Some('(') {
            // Process substitution, read like `$( )`.
            self.next();
            self.begin_word();
            self.word().expanded = true;
            self.push_list(Kind::CommandSub);
        } else if c == '<' && self.eat('<') {
            // `<<<` is a here-string; `<<` and `<<-` announce a here-document.
            if !self.eat('<') {
                let strip_tabs = self.eat('-');
                self.list().delimiter_next = Some(strip_tabs);
            }
        } else if c == '<' {
            let _ = self.eat('>') || self.eat('&');
        } else {
            let _ = self.eat('>') || self.eat('|') || self.eat('&');
        }
    }

    fn open_paren(&mut self) {
        let word = &self.list().word;
        if word.started && !word.quoted && word.text.ends_with('=') {
            self.word().expanded = true;
            self.push_list(Kind::Array);
            return;
        }
        self.end_word();
        let next_is_paren = self.peek() == Some('(');
        let list = self.list();
        let words = list.words;
        let arithmetic_allowed = list.position == Position::Command
            || (list.kind
                == Kind::Loop {
                    keyword: "for",
                    body: false,
                }
                && list.words == 0);
        match (list.kind, list.position) {
            // A pattern's optional opening parenthesis.
            (Kind::Case(CaseStage::Pattern), _) => {}
            (Kind::Function(Parens::None), _) => list.kind = Kind::Function(Parens::Open),
            _ if arithmetic_allowed && next_is_paren => {
                self.next();
                self.push_expansion(Frame::Arithmetic {
                    open: '(',
                    close: ')',
                    depth: 2,
                });
            }
            (_, Position::Argument) if words == 1 => self.push_list(Kind::Function(Parens::Open)),
            // In command position a subshell; elsewhere a syntax error, read as one (open).
            _ => self.push_list(Kind::Subshell),
        }
    }

    fn close_paren(&mut self) {
        let list = self.list();
        match list.kind {
            Kind::Case(CaseStage::Pattern) => {
                list.kind = Kind::Case(CaseStage::Body);
                list.position = Position::Command;
                list.words = 0;
            }
            Kind::Function(Parens::Open) => {
                list.kind = Kind::Function(Parens::Closed);
                list.position = Position::Command;
            }
            Kind::Subshell | Kind::CommandSub | Kind::Array => self.pop_list(),
            // A syntax error for the shell; ignoring it leans open.
            _ => {}
        }
    }

    // ---- nesting -----------------------------------------------------------------------------

    fn push_list(&mut self, kind: Kind) {
        let outer = self.list();
        outer.pending = None;
        // A function's body takes the place of its head, so the body's end ends the definition.
        let function_body = matches!(outer.kind, Kind::Function(_)) && kind != Kind::CommandSub;
        if function_body {
            self.nested.pop();
            self.frames.pop();
        }
        if kind == Kind::CommandSub {
            self.level += 1;
        }
        let mut list = List::new(kind);
        list.function_body = function_body;
        self.nested.push(list);
        self.frames.push(Frame::List);
    }

    fn pop_list(&mut self) {
        let Some(list) = self.nested.pop() else {
            return;
        };
        self.frames.pop();
        if list.kind == Kind::CommandSub {
            self.level -= 1;
            // A here-document announced inside `$( )` that closed on the same line waits for
            // the enclosing parser's newline, as in bash.
            // Pending levels never decrease along the list, so only its tail can be deeper.
            let level = self.level;
            for heredoc in self.heredocs.iter_mut().rev() {
                if heredoc.level <= level {
                    break;
                }
                heredoc.level = level;
            }
        }
        // After a compound command only redirections and operators may follow; an expansion
        // is part of a word that goes on.
        if !matches!(list.kind, Kind::CommandSub | Kind::Array) {
            self.list().position = Position::Argument;
        }
    }

    // ---- here-documents ----------------------------------------------------------------------

    /// At a newline of the parser that announced them, here-document bodies follow in order.
    fn read_heredoc_bodies(&mut self) {
        // Pending levels never decrease along the list and never exceed the current one, so
        // the due here-documents are its tail.
        let level = self.level;
        let start = self
            .heredocs
            .partition_point(|heredoc| heredoc.level < level);
        let due = self.heredocs.split_off(start);
        for heredoc in due {
            loop {
                let Some(line) = self.body_line(heredoc.quoted) else {
                    self.open_heredoc = Some(heredoc.delimiter);
                    return;
                };
                let line = if heredoc.strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    &line
                };
                if line == heredoc.delimiter {
                    break;
                }
            }
        }
    }

    /// One body line, joined with the next at a backslash-newline unless the delimiter was
    /// quoted; `None` when the input ends first.
    fn body_line(&mut self, quoted: bool) -> Option<String> {
        let mut line = String::new();
        loop {
            if !quoted && self.is_join(self.pos) {
                self.pos += 2;
                self.continued = self.pos == self.chars.len();
                continue;
            }
            match self.next_raw()? {
                '\n' => return Some(line),
                '\\' if !quoted => {
                    // An escaped backslash cannot join lines.
                    line.push('\\');
                    if self.chars.get(self.pos) == Some(&'\\') {
                        line.extend(self.next_raw());
                    }
                }
                c => line.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn compound(keyword: &str) -> Option<Open> {
        Some(Open::Compound {
            keyword: keyword.to_string(),
        })
    }

    fn operator(operator: &str) -> Option<Open> {
        Some(Open::Operator {
            operator: operator.to_string(),
        })
    }

    fn heredoc(delimiter: &str) -> Option<Open> {
        Some(Open::HereDocument {
            delimiter: delimiter.to_string(),
        })
    }

    #[rstest]
    #[case::empty("", None)]
    #[case::simple("echo a", None)]
    // Quoting.
    #[case::backslash_continues("mark DE\\", Some(Open::Backslash))]
    #[case::continued_then_complete("mark DE\\\nNY", None)]
    #[case::escaped_backslash_does_not("echo a\\\\", None)]
    #[case::third_backslash_does("echo a\\\\\\", Some(Open::Backslash))]
    #[case::backslash_then_blank("echo a\\ ", None)]
    #[case::single_quote("echo 'a", Some(Open::SingleQuote))]
    #[case::single_quote_closed_later("echo 'a\nb'", None)]
    #[case::no_escape_in_single_quotes("echo 'a\\'", None)]
    #[case::double_quote("echo \"a", Some(Open::DoubleQuote))]
    #[case::escaped_double_quote("echo \"a\\\"", Some(Open::DoubleQuote))]
    #[case::other_backslash_literal_in_double_quotes("echo \"a\\'\"", None)]
    #[case::backslash_in_double_quotes("echo \"a\\", Some(Open::Backslash))]
    #[case::single_quote_inside_double("echo \"'\"", None)]
    #[case::dollar_single_quote("echo $'a", Some(Open::DollarSingleQuote))]
    #[case::dollar_single_quote_escape("echo $'a\\'b", Some(Open::DollarSingleQuote))]
    #[case::dollar_single_quote_escaped_quote("echo $'\\''", None)]
    #[case::dollar_quote_plain_in_double_quotes("echo \"$'\"", None)]
    #[case::backquote("echo `a", Some(Open::Backquote))]
    #[case::escaped_backquote_nests("echo `echo \\`echo\\``", None)]
    #[case::escaped_backquote_open("echo `a\\`", Some(Open::Backquote))]
    #[case::backquote_ignores_double_quotes("echo `echo \"`", None)]
    #[case::backquote_ignores_comments("echo `#`", None)]
    #[case::backquote_in_double_quotes("echo \"`\"", Some(Open::Backquote))]
    // Comments.
    #[case::hash_inside_word("echo a#b\\", Some(Open::Backslash))]
    #[case::comment_backslash("echo a #b\\", None)]
    #[case::comment_quote("echo a #'", None)]
    #[case::comment_after_semicolon("echo a;#\\", None)]
    #[case::quoted_hash("echo '#'b'", Some(Open::SingleQuote))]
    #[case::escaped_hash("echo \\#\\", Some(Open::Backslash))]
    #[case::dollar_hash("echo $#\\", Some(Open::Backslash))]
    #[case::comment_hides_paren("echo $( # )\n)", None)]
    // Substitutions.
    #[case::command_sub("echo $(", Some(Open::Substitution))]
    #[case::nested_command_sub("echo $(echo $(", Some(Open::Substitution))]
    #[case::quoted_paren_in_command_sub("echo $(echo \")\")", None)]
    #[case::escaped_paren_in_command_sub("echo $(echo \\))", None)]
    #[case::quote_in_command_sub("echo \"$(echo \"", Some(Open::DoubleQuote))]
    #[case::parameter("echo ${a", Some(Open::Substitution))]
    #[case::parameter_quoted_brace("echo ${a:-\"}\"", Some(Open::Substitution))]
    #[case::parameter_single_quotes("echo \"${a:-'}\"", Some(Open::SingleQuote))]
    #[case::parameter_no_brace_count("echo ${a:-{}", None)]
    #[case::parameter_length("echo ${#a}", None)]
    #[case::subshell("( echo", Some(Open::Substitution))]
    #[case::process_substitution("cat <(echo", Some(Open::Substitution))]
    #[case::array("a=(1 2", Some(Open::Substitution))]
    #[case::array_closed("a=(1\n2)", None)]
    #[case::arithmetic("((1+", Some(Open::Substitution))]
    #[case::arithmetic_closed("(( (1) ))", None)]
    #[case::dollar_arithmetic("echo $(( (1", Some(Open::Substitution))]
    #[case::arithmetic_as_command_sub("x=$((echo a); (echo b))", None)]
    #[case::dollar_bracket("echo $[1+", Some(Open::Substitution))]
    #[case::conditional("[[ a =~ (a|b) ]]", None)]
    #[case::conditional_paren("[[ a == ( ]]", None)]
    #[case::conditional_and("[[ a &&", operator("&&"))]
    #[case::conditional_and_continues("[[ a &&\nb ]]", None)]
    #[case::conditional_newline_errs("[[ a", None)]
    // Here-documents.
    #[case::heredoc("cat <<EOF", heredoc("EOF"))]
    #[case::heredoc_ended("cat <<EOF\nx\nEOF", None)]
    #[case::heredoc_blank_after_delimiter("cat <<EOF\nEOF ", heredoc("EOF"))]
    #[case::heredoc_spaced("cat << EOF\nEOF", None)]
    #[case::heredoc_tab_not_stripped("cat <<EOF\n\tEOF", heredoc("EOF"))]
    #[case::heredoc_dash_strips_tabs("cat <<-EOF\n\tEOF", None)]
    #[case::heredoc_dash_keeps_spaces("cat <<-EOF\n\t EOF", heredoc("EOF"))]
    #[case::heredoc_single_quoted("cat <<'EOF'\nEOF", None)]
    #[case::heredoc_partly_quoted("cat <<\"E\"OF\nEOF", None)]
    #[case::heredoc_escaped("cat <<\\EOF\nEOF", None)]
    #[case::heredoc_dollar("cat <<$E\n$E", None)]
    #[case::heredoc_two("cat <<EOF <<END\nEOF", heredoc("END"))]
    #[case::heredoc_two_ended("cat <<EOF <<END\nEOF\nEND", None)]
    #[case::heredoc_body_joins("cat <<EOF\na\\\nEOF", heredoc("EOF"))]
    #[case::heredoc_escaped_backslash("cat <<EOF\na\\\\\nEOF", None)]
    #[case::heredoc_quoted_no_join("cat <<\"EOF\"\na\\\nEOF", None)]
    #[case::heredoc_body_continued("cat <<EOF\na\\", heredoc("EOF"))]
    #[case::heredoc_body_raw("cat <<EOF\n$(\n`\n\"\nEOF", None)]
    #[case::heredoc_after_quote_newline("cat <<EOF; echo \"a\nb\"", heredoc("EOF"))]
    #[case::heredoc_inside_command_sub("echo $(cat <<EOF\nx\nEOF\n)", None)]
    #[case::heredoc_waits_for_outer_newline("cat <<EOF $(echo\n)", heredoc("EOF"))]
    #[case::heredoc_from_closed_command_sub("echo $(cat <<EOF)", heredoc("EOF"))]
    #[case::heredoc_before_compound("cat <<EOF; if\nEOF", compound("if"))]
    #[case::heredoc_delimiter_joined("cat <<E\\\nOF\nEOF", None)]
    #[case::here_string("cat <<<EOF", None)]
    #[case::here_string_quote("cat <<< \"b", Some(Open::DoubleQuote))]
    // Compound commands.
    #[case::if_open("if true", compound("if"))]
    #[case::then_open("if true; then", compound("then"))]
    #[case::elif_open("if a; then :; elif", compound("elif"))]
    #[case::else_open("if a; then :; else", compound("else"))]
    #[case::if_closed("if true; then echo; fi", None)]
    #[case::if_word_as_argument("echo if", None)]
    #[case::if_after_assignment("x=1 if", None)]
    #[case::quoted_if("\"if\" true", None)]
    #[case::if_joined("i\\\nf true", compound("if"))]
    #[case::if_after_newline("echo a\nif", compound("if"))]
    #[case::if_after_background("echo a&if", compound("if"))]
    #[case::if_after_or("echo a||if", compound("if"))]
    #[case::if_after_bang("! if", compound("if"))]
    #[case::if_after_time("time if", compound("if"))]
    #[case::nested_if("if a; then if b; then :; fi", compound("then"))]
    #[case::fi_as_argument("if a; then echo fi", compound("then"))]
    #[case::while_open("while", compound("while"))]
    #[case::while_do("while true; do", compound("do"))]
    #[case::until_done("until false; do :; done", None)]
    #[case::for_head("for i in a b", compound("for"))]
    #[case::for_do_word("for i in a do", compound("for"))]
    #[case::for_done("for i in a b; do :; done", None)]
    #[case::for_name_do("for i do :; done", None)]
    #[case::for_newline_do("for i\ndo", compound("do"))]
    #[case::for_arithmetic("for ((i=0;i<1;i++)); do", compound("do"))]
    #[case::for_arithmetic_open("for ((i=0;", Some(Open::Substitution))]
    #[case::select("select x in a; do", compound("do"))]
    #[case::brace("{ echo;", compound("{"))]
    #[case::brace_closed("{ echo; }", None)]
    #[case::brace_needs_command_position("{ echo }", compound("{"))]
    #[case::brace_glued_is_a_word("{echo;", None)]
    #[case::brace_as_argument("echo { }", None)]
    #[case::case_open("case a in", compound("case"))]
    #[case::case_subject_keyword("case if in", compound("case"))]
    #[case::case_pattern("case a in a)", compound("case"))]
    #[case::case_body("case a in a) echo;;", compound("case"))]
    #[case::case_closed("case a in a|b) echo ;; esac", None)]
    #[case::case_empty("case a in esac", None)]
    #[case::case_paren_pattern("case a in (a) echo;; (b) ;; esac", None)]
    #[case::case_fallthrough("case a in a) echo ;& esac", None)]
    #[case::case_last_without_break("case a in a) echo; esac", None)]
    #[case::esac_as_argument("case a in a) echo esac", compound("case"))]
    #[case::nested_case("case a in a) case b in b) ;; esac", compound("case"))]
    #[case::case_in_command_sub("echo $(case a in a) echo;; esac)", None)]
    #[case::case_in_command_sub_open("echo $(case a in a) echo", compound("case"))]
    #[case::subshell_in_case("case a in a) (echo) ;; esac", None)]
    #[case::function("f() {", compound("{"))]
    #[case::function_head("f()", compound("function"))]
    #[case::function_spaced("f ( )", compound("function"))]
    #[case::function_body_next_line("f()\n{", compound("{"))]
    #[case::function_defined("f() {\necho;\n}", None)]
    #[case::function_subshell_body("f() ( echo", Some(Open::Substitution))]
    #[case::function_keyword("function f {", compound("{"))]
    #[case::function_keyword_head("function f", compound("function"))]
    #[case::function_keyword_parens("function f ( )", compound("function"))]
    #[case::function_keyword_defined("function f() ( echo )", None)]
    #[case::function_keyword_alone("function", None)]
    #[case::function_then_pipe("f() { echo; } |", operator("|"))]
    // Operators.
    #[case::pipe("echo a |", operator("|"))]
    #[case::pipe_comment("echo a | # c", operator("|"))]
    #[case::pipe_blank_line("echo a |\n", operator("|"))]
    #[case::pipe_satisfied("echo a |\nb", None)]
    #[case::and("echo a &&", operator("&&"))]
    #[case::or("echo ||", operator("||"))]
    #[case::pipe_stderr("echo a |&", operator("|&"))]
    #[case::pipe_inside("if true; then echo |", operator("|"))]
    #[case::pipe_in_command_sub("echo $(echo |", operator("|"))]
    #[case::compound_then_pipe("if true; then :; fi |", operator("|"))]
    #[case::semicolon("echo a;", None)]
    #[case::background("echo a &", None)]
    #[case::redirect_and("echo a >& b", None)]
    #[case::bang("!", None)]
    fn open_construct_follows_the_shell(#[case] source: &str, #[case] expected: Option<Open>) {
        assert_eq!(open_construct(source), expected, "{source:?}");
    }

    /// Syntax errors the shell rejects at once: leaning open costs a wait, never a bypass.
    #[rstest]
    #[case::paren_argument("echo (")]
    #[case::stray_paren("if true; then echo )")]
    #[case::case_pattern_newline("echo $(case a in a")]
    fn syntax_errors_lean_open(#[case] source: &str) {
        assert!(open_construct(source).is_some(), "{source:?}");
    }

    #[rstest]
    #[case::plain("a; b && c | d", &[0, 3, 8, 12])]
    #[case::reserved_words("if ! a; then b; fi", &[0, 3, 5, 8, 13, 16])]
    #[case::group_and_loop("{ a; }; for x in 1; do b; done", &[0, 2, 5, 8, 20, 23, 26])]
    #[case::not_in_comments_or_quotes("a # ; b\necho 'x; c' \"; d\"", &[0, 8])]
    #[case::not_in_a_here_document("cat <<E\nb\nE\nc", &[0, 12])]
    #[case::not_in_substitutions_or_subshells("x $(a; b) (c; d) <(e)", &[0])]
    #[case::not_in_a_function_body("f() { a; }; g", &[0, 12])]
    fn command_starts_are_the_commands_the_shell_runs(
        #[case] source: &str,
        #[case] expected: &[usize],
    ) {
        assert_eq!(command_starts(source).starts, expected, "{source:?}");
    }

    #[rstest]
    #[case::join("mark DE\\\nNY", "mark DENY")]
    #[case::plain_lines("a\nb", "a\nb")]
    #[case::single_quotes_keep("echo 'a\\\nb'", "echo 'a\\\nb'")]
    #[case::dollar_single_quotes_keep("echo $'a\\\nb'", "echo $'a\\\nb'")]
    #[case::double_quotes_join("echo \"c\\\nd\"", "echo \"cd\"")]
    #[case::backquotes_join("echo `echo e\\\nf`", "echo `echo ef`")]
    #[case::command_sub_joins("echo $(echo g\\\nh)", "echo $(echo gh)")]
    #[case::escaped_backslash("echo a\\\\\nb", "echo a\\\\\nb")]
    #[case::comment_keeps("echo o # p\\\necho q", "echo o # p\\\necho q")]
    #[case::heredoc_joins("cat <<E\nk\\\nl\nE", "cat <<E\nkl\nE")]
    #[case::quoted_heredoc_keeps("cat <<'E'\nm\\\nn\nE", "cat <<'E'\nm\\\nn\nE")]
    #[case::trailing_backslash_kept("mark DE\\", "mark DE\\")]
    #[case::trailing_newline_kept("echo |\n", "echo |\n")]
    fn as_read_removes_what_the_shell_removes(#[case] source: &str, #[case] expected: &str) {
        assert_eq!(as_read(source), expected);
    }

    #[rstest]
    #[case::controls("\u{0}\u{1b}[A\u{7f}\r'\u{fffd}")]
    #[case::closers(")))}}}]]]fi done esac ;; ;& | || && >>& <<<")]
    #[case::openers("$($(${$((((`'\"$'$[")]
    #[case::dangling_escapes("\\\\\\")]
    #[case::heredoc_markers("<<<<-<<\n<<-\n")]
    fn never_panics(#[case] source: &str) {
        let _ = open_construct(source);
        assert!(as_read(source).len() <= source.len());
    }

    #[test]
    fn long_and_deep_input_is_linear() {
        let deep = "$(\"${".repeat(100_000);
        assert_eq!(open_construct(&deep), Some(Open::Substitution));
        let long = format!("echo {}", "a\\\n".repeat(100_000));
        assert_eq!(open_construct(&long), None);
        assert_eq!(as_read(&long).len(), "echo ".len() + 100_000);
    }
}
