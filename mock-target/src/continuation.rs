//! When the mock shell reads a command over several lines, as bash does at its `PS2` prompt
//! (`> `): after a line ending in an unquoted backslash, inside an open single or double quote,
//! and until the delimiter line of a here-document (`<<WORD`, `<<-WORD`, `<<'WORD'`).
//! Compound commands (`if` ... `fi`) and trailing operators are not modelled: the mock runs
//! such lines as they come.

/// Whether the shell keeps reading after `source` (the lines read so far, joined with `\n`).
pub fn continues(source: &str) -> bool {
    let scan = scan(source);
    scan.open_quote || scan.trailing_backslash || here_document_open(source, &scan.delimiters)
}

/// The command as the shell runs it: backslash-newline pairs outside single quotes removed.
pub fn joined(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    let mut single = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => single = !single,
            '\\' if !single && chars.peek() == Some(&'\n') => {
                chars.next();
                continue;
            }
            '\\' if !single => {
                out.push(c);
                out.extend(chars.next());
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

struct Scan {
    open_quote: bool,
    trailing_backslash: bool,
    /// Here-document delimiters, in order, from the first line.
    delimiters: Vec<String>,
}

fn scan(source: &str) -> Scan {
    let first_line = source.split('\n').next().unwrap_or_default();
    let mut quote: Option<char> = None;
    let mut chars = source.chars().peekable();
    let mut trailing_backslash = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            // The escaped character is skipped; none left means the newline is escaped.
            (Some('"') | None, '\\') => trailing_backslash = chars.next().is_none(),
            _ => {}
        }
    }
    Scan {
        open_quote: quote.is_some(),
        trailing_backslash,
        delimiters: delimiters(first_line),
    }
}

/// The delimiters of the here-documents a line starts.
fn delimiters(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("<<") {
        rest = &rest[at + 2..];
        if rest.starts_with('<') {
            rest = &rest[1..]; // a here-string
            continue;
        }
        let word = rest.trim_start_matches('-').trim_start();
        let end = word
            .find(|c: char| c.is_whitespace() || matches!(c, ';' | '|' | '&' | '<' | '>'))
            .unwrap_or(word.len());
        let delimiter: String = word[..end]
            .chars()
            .filter(|&c| !matches!(c, '\'' | '"' | '\\'))
            .collect();
        if !delimiter.is_empty() {
            found.push(delimiter);
        }
        rest = &word[end..];
    }
    found
}

/// Whether the lines after the first have not yet ended every here-document.
fn here_document_open(source: &str, delimiters: &[String]) -> bool {
    let mut waiting = delimiters.iter();
    let mut current = waiting.next();
    for line in source.split('\n').skip(1) {
        if current.is_some_and(|delimiter| line.trim_start_matches('\t') == delimiter) {
            current = waiting.next();
        }
    }
    current.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_continues() {
        assert!(continues("mark DE\\"));
        assert!(!continues("mark DE\\\\"));
        assert!(continues("echo 'DE"));
        assert!(continues("echo \"DE"));
        assert!(!continues("echo 'a\"b'"));
        assert!(continues("sh <<EOF\necho DENY"));
        assert!(!continues("sh <<EOF\necho DENY\nEOF"));
        assert!(continues("cat <<'X' <<Y\nX\nb"));
        assert!(!continues("cat <<<word"));
        assert!(!continues("echo done"));
    }

    #[test]
    fn joined_removes_backslash_newlines_outside_single_quotes() {
        assert_eq!(joined("mark DE\\\nNY"), "mark DENY");
        assert_eq!(joined("echo 'a\\\nb'"), "echo 'a\\\nb'");
        assert_eq!(joined("echo 'DE\nNY'"), "echo 'DE\nNY'");
    }
}
