//! `.env` files: reading them for `confmgr import` and writing KEY=value lines for
//! `export --format dotenv` and `--format env`.
//!
//! What is written can be both `source`d by a POSIX shell and read back by [`parse`]
//! unchanged, whatever the value holds (spaces, quotes, `#`, `=`, `$`, newlines, unicode):
//! - values made only of `A-Z a-z 0-9 _ - . / : @ % + , =` are written bare;
//! - other values without a single quote go in single quotes, where nothing is special;
//! - values with a single quote go in double quotes with `\`, `"`, `$` and `` ` `` escaped
//!   by a backslash (newlines stay literal, which both shells and dotenv readers keep).
//!
//! What is read: blank lines, `# comments`, `KEY=value` and `export KEY=value`, where KEY is
//! a shell variable name. A bare value runs to the end of the line, less a ` #comment` and
//! surrounding blanks. A single-quoted value is literal and may span lines. A double-quoted
//! value may span lines and knows the escapes `\n \r \t \\ \" \$ \``; any other backslash is
//! kept. Nothing is expanded (`$HOME` stays `$HOME`). A key given twice is an error.

use std::fmt;

/// One `KEY=value` of a file, with the line it starts on (from 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Where and why a file cannot be read. Never holds a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A shell variable name: a letter or `_`, then letters, digits or `_`.
pub fn is_name(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn bare_safe(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '_' | '-' | '.' | '/' | ':' | '@' | '%' | '+' | ',' | '=')
}

/// A value as it is written after `KEY=` (see the module documentation).
pub fn quote(value: &str) -> String {
    if !value.is_empty() && value.chars().all(bare_safe) {
        return value.to_owned();
    }
    if !value.contains('\'') {
        return format!("'{value}'");
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Why a key cannot be written as an environment variable, without showing the value.
pub fn check_entry(key: &str, value: &str) -> Result<(), String> {
    if !is_name(key) {
        return Err(format!(
            "key {key:?} is not a valid environment variable name (letters, digits and _, \
             not starting with a digit)"
        ));
    }
    if value.contains('\0') {
        return Err(format!(
            "the value of {key} contains a NUL character, which an environment variable cannot hold"
        ));
    }
    Ok(())
}

/// `KEY=value` lines in the given order. Fails on the first key that is not a variable name.
pub fn render<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<String, String> {
    let mut out = String::new();
    for (key, value) in entries {
        check_entry(key, value)?;
        out.push_str(key);
        out.push('=');
        out.push_str(&quote(value));
        out.push('\n');
    }
    Ok(out)
}

struct Cursor<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl Cursor<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.chars.next();
        if c == Some('\n') {
            self.line += 1;
        }
        c
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.next();
        }
    }

    /// Skips the rest of the line (its newline too).
    fn skip_line(&mut self) {
        while let Some(c) = self.next() {
            if c == '\n' {
                break;
            }
        }
    }

    /// At the end of a line: nothing but blanks and an optional comment remain.
    fn end_of_line(&mut self, line: usize, after: &str) -> Result<(), ParseError> {
        self.skip_blanks();
        match self.peek() {
            None | Some('\n') | Some('#') => {
                self.skip_line();
                Ok(())
            }
            Some('\r') => {
                self.next();
                if matches!(self.peek(), None | Some('\n')) {
                    self.skip_line();
                    Ok(())
                } else {
                    Err(error(line, format!("unexpected text after {after}")))
                }
            }
            Some(_) => Err(error(
                line,
                format!("unexpected text after {after} (quote the whole value)"),
            )),
        }
    }
}

fn error(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

/// Every entry of a `.env` file, or the first problem with its line number.
pub fn parse(text: &str) -> Result<Vec<Entry>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut cursor = Cursor {
        chars: text.chars().peekable(),
        line: 1,
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    loop {
        cursor.skip_blanks();
        let line = cursor.line;
        match cursor.peek() {
            None => break,
            Some('\n') => {
                cursor.next();
                continue;
            }
            Some('\r') => {
                cursor.next();
                if matches!(cursor.peek(), None | Some('\n')) {
                    continue;
                }
                return Err(error(line, "stray carriage return"));
            }
            Some('#') => {
                cursor.skip_line();
                continue;
            }
            Some(_) => {}
        }
        let mut key = word(&mut cursor);
        if key == "export" && matches!(cursor.peek(), Some(' ' | '\t')) {
            cursor.skip_blanks();
            key = word(&mut cursor);
        }
        cursor.skip_blanks();
        // A malformed line may be a stray secret (an unquoted multi-line value, a pasted
        // token): its text is never repeated in the message.
        if key.is_empty() || cursor.peek() != Some('=') {
            return Err(error(
                line,
                "expected KEY=value (quote a value that spans lines)",
            ));
        }
        if !is_name(&key) {
            return Err(error(
                line,
                "the name before `=` is not a valid variable name (letters, digits and _, \
                 not starting with a digit); use a JSON or YAML file for other key names",
            ));
        }
        cursor.next(); // '='
        cursor.skip_blanks();
        let value = match cursor.peek() {
            Some('\'') => {
                cursor.next();
                let mut value = String::new();
                loop {
                    match cursor.next() {
                        None => {
                            return Err(error(
                                line,
                                format!("the single quote opened for {key} is never closed"),
                            ))
                        }
                        Some('\'') => break,
                        Some(c) => value.push(c),
                    }
                }
                cursor.end_of_line(line, &format!("the closing quote of {key}"))?;
                value
            }
            Some('"') => {
                cursor.next();
                let mut value = String::new();
                loop {
                    match cursor.next() {
                        None => {
                            return Err(error(
                                line,
                                format!("the double quote opened for {key} is never closed"),
                            ))
                        }
                        Some('"') => break,
                        Some('\\') => match cursor.next() {
                            None => {
                                return Err(error(
                                    line,
                                    format!("the double quote opened for {key} is never closed"),
                                ))
                            }
                            Some('n') => value.push('\n'),
                            Some('r') => value.push('\r'),
                            Some('t') => value.push('\t'),
                            Some(c @ ('\\' | '"' | '$' | '`')) => value.push(c),
                            Some(c) => {
                                value.push('\\');
                                value.push(c);
                            }
                        },
                        Some(c) => value.push(c),
                    }
                }
                cursor.end_of_line(line, &format!("the closing quote of {key}"))?;
                value
            }
            _ => {
                let mut value = String::new();
                while let Some(c) = cursor.peek() {
                    if c == '\n' {
                        break;
                    }
                    if c == '#' && (value.is_empty() || value.ends_with([' ', '\t'])) {
                        cursor.skip_line();
                        break;
                    }
                    value.push(c);
                    cursor.next();
                }
                if cursor.peek() == Some('\n') {
                    cursor.next();
                }
                let trimmed = value.trim_end_matches([' ', '\t', '\r']);
                trimmed.to_owned()
            }
        };
        if let Some(first) = seen.get(&key) {
            return Err(error(
                line,
                format!("{key} is set again (first on line {first})"),
            ));
        }
        seen.insert(key.clone(), line);
        entries.push(Entry { key, value, line });
    }
    Ok(entries)
}

/// Characters up to a blank, `=` or the end of the line.
fn word(cursor: &mut Cursor<'_>) -> String {
    let mut out = String::new();
    while let Some(c) = cursor.peek() {
        if matches!(c, ' ' | '\t' | '=' | '\n' | '\r') {
            break;
        }
        out.push(c);
        cursor.next();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect()
    }

    fn p(key: &str, value: &str) -> (String, String) {
        (key.to_owned(), value.to_owned())
    }

    #[test]
    fn reads_the_common_shapes() {
        let text = "\
# a comment
\u{20}
PLAIN=value
export EXPORTED=yes
SPACED = around  # trailing comment
HASH=a#b
EMPTY=
SINGLE='it is $HOME # not a comment'
DOUBLE=\"line\\none \\\"q\\\" \\$x \\\\ \\d\"  # comment
MULTI='first
second'
CRLF=x\r
";
        assert_eq!(
            pairs(text),
            [
                p("PLAIN", "value"),
                p("EXPORTED", "yes"),
                p("SPACED", "around"),
                p("HASH", "a#b"),
                p("EMPTY", ""),
                p("SINGLE", "it is $HOME # not a comment"),
                p("DOUBLE", "line\none \"q\" $x \\ \\d"),
                p("MULTI", "first\nsecond"),
                p("CRLF", "x"),
            ]
        );
        let lines: Vec<usize> = parse(text).unwrap().iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7, 8, 9, 10, 12]);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("A=1\nnot a pair\n", 2, "expected KEY=value"),
            ("A=1\n\nB='open\nC=2\n", 3, "single quote opened for B"),
            ("A=\"open\n", 1, "double quote opened for A"),
            (
                "A='x' y\n",
                1,
                "unexpected text after the closing quote of A",
            ),
            ("1A=x\n", 1, "not a valid variable name"),
            ("A-B=x\n", 1, "not a valid variable name"),
            ("A=1\nA=2\n", 2, "A is set again (first on line 1)"),
            ("=x\n", 1, "expected KEY=value"),
        ];
        for (text, line, needle) in cases {
            let error = parse(text).unwrap_err();
            assert_eq!(error.line, line, "{text:?}: {error}");
            assert!(error.message.contains(needle), "{text:?}: {error}");
        }
        // No value, nor any text of a malformed line, appears in an error.
        for text in [
            "A='s3cret value\n",
            "s3cret\n",
            "s3cret+x==\n",
            "a-s3cret=x\n",
        ] {
            let error = parse(text).unwrap_err().to_string();
            assert!(!error.contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("abc-1.2/x:y@z%+,=="), "abc-1.2/x:y@z%+,==");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("$HOME"), "'$HOME'");
        assert_eq!(
            quote("it's $x \"q\" `c` \\"),
            "\"it's \\$x \\\"q\\\" \\`c\\` \\\\\""
        );
        assert_eq!(quote("~"), "'~'");
    }

    #[test]
    fn round_trip() {
        let values = [
            "plain",
            "",
            " leading and trailing ",
            "with spaces",
            "single ' quote",
            "double \" quote",
            "both ' and \" quotes",
            "hash # here",
            "#start",
            "a=b=c",
            "line one\nline two\n",
            "\r\ncrlf\r\n",
            "tab\there",
            "backslash \\ and \\n literal",
            "dollar $HOME ${X} $(id) `id`",
            "it's \\n not a newline",
            "unicode: héllo wörld 日本語 🔑",
            "'",
            "\"",
            "\\",
            "export X=1",
        ];
        let keys: Vec<String> = (0..values.len()).map(|i| format!("K_{i}")).collect();
        let text = render(keys.iter().map(String::as_str).zip(values)).unwrap();
        let back = pairs(&text);
        assert_eq!(back.len(), values.len(), "{text}");
        for ((key, value), expected) in back.iter().zip(values) {
            assert_eq!(value, expected, "{key} in:\n{text}");
        }
    }

    #[test]
    fn names() {
        assert!(is_name("DB_URL"));
        assert!(is_name("_x1"));
        assert!(!is_name("1X"));
        assert!(!is_name("a-b"));
        assert!(!is_name("a.b"));
        assert!(!is_name(""));
        let error = render([("a b", "secret")]).unwrap_err();
        assert!(error.contains("\"a b\""), "{error}");
        let error = render([("A", "x\0y")]).unwrap_err();
        assert!(error.contains("NUL"), "{error}");
    }
}
