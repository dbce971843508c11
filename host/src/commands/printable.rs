//! Text from actors (log messages, manifest names, error strings) made safe to print: one line,
//! no terminal control. A message with `\n[other 0badc0de] stopped` in it cannot print a line
//! that looks like another actor's, and ANSI escapes or NUL bytes cannot reach the terminal.

use std::borrow::Cow;
use std::fmt::Write;

/// `s` with every control character (newlines, tabs, ESC, NUL, C1 controls) and every
/// invisible line or direction changer (U+2028, U+2029, bidi overrides and isolates, LRM/RLM)
/// written as a Rust escape (`\n`, `\u{1b}`); other text is unchanged.
pub(crate) fn escaped(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// First 8 characters of an id, as printed in log lines.
pub(crate) fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_line_breaks_are_escaped() {
        assert!(matches!(escaped("plain text, ünïcode"), Cow::Borrowed(_)));
        assert_eq!(
            escaped("a\n[steady 0badc0de] stopped"),
            "a\\n[steady 0badc0de] stopped"
        );
        assert_eq!(escaped("\u{1b}[31mred\0"), "\\u{1b}[31mred\\u{0}");
        assert_eq!(escaped("x\r\ty"), "x\\r\\ty");
        assert_eq!(escaped("a\u{2028}b\u{202e}c"), "a\\u{2028}b\\u{202e}c");
        assert_eq!(short("0123456789"), "01234567");
        assert_eq!(short("abc"), "abc");
    }
}
