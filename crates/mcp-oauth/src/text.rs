//! Text from servers, made safe to show on a terminal.
//!
//! Everything a server or an authorization server writes (tool names and
//! results, `serverInfo`, error messages, scopes, client ids) may carry
//! characters a terminal obeys instead of showing: an escape sequence that
//! retitles the window or clears the screen, a carriage return that
//! overwrites what came before, a bidi override that makes text read
//! backwards. This module is the one rule for which characters those are and
//! how they are shown instead; the library's [`Error`](crate::Error)
//! messages and sign-in notices go through it, and so does every line the
//! `mcp-oauth` command prints.

use std::borrow::Cow;

/// Whether a terminal would act on `ch` rather than show it: the C0
/// controls (U+0000–U+001F, newline and tab included), DEL (U+007F), the C1
/// controls (U+0080–U+009F, among them U+009B, a one-character escape
/// sequence), and the Unicode bidi controls (U+061C, U+200E, U+200F,
/// U+202A–U+202E, U+2066–U+2069), which reorder what follows them.
///
/// ```
/// use mcp_oauth::is_terminal_control;
///
/// assert!(is_terminal_control('\u{1b}'));
/// assert!(is_terminal_control('\u{202e}'));
/// assert!(!is_terminal_control('é'));
/// ```
pub fn is_terminal_control(ch: char) -> bool {
    matches!(
        ch,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// `text` as a terminal shows it, lines kept: newlines and tabs stay (a
/// `\r\n` line end becomes `\n`), and every other character
/// [`is_terminal_control`] says a terminal would act on is written as a
/// visible escape instead: `\xNN` for the ASCII ones (C0 and DEL, e.g.
/// `\x1b`, a lone carriage return as `\x0d`), `\u{NNNN}` for the others (C1
/// and bidi controls, e.g. `\u{9b}`, `\u{202e}`). Everything else, letters
/// of every script included, is left as it is; so are backslashes, so the
/// escapes are for reading, not for decoding back.
///
/// For multi-line text such as a tool's result. Text borrowed back means
/// nothing needed escaping.
///
/// ```
/// use mcp_oauth::terminal_safe;
///
/// let result = "done\r\n\u{1b}]0;pwned\u{7}Caf\u{e9} \u{202e}txt.exe";
/// assert_eq!(terminal_safe(result), "done\n\\x1b]0;pwned\\x07Café \\u{202e}txt.exe");
/// assert_eq!(terminal_safe("line one\n\tline two"), "line one\n\tline two");
/// ```
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_terminal_control) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\n' | '\t' => shown.push(ch),
            '\r' if chars.peek() == Some(&'\n') => {}
            ch => push_shown(&mut shown, ch),
        }
    }
    Cow::Owned(shown)
}

/// `text` on one line, as a terminal shows it: each run of line breaks,
/// tabs and spaces (Unicode spaces and line separators too) becomes one
/// space, the ends are trimmed, and every other character a terminal would
/// act on is escaped as [`terminal_safe`] does.
///
/// For a name, a version, a scope or an error message inside a line of
/// one's own: a server cannot start a line of its own in it.
///
/// ```
/// use mcp_oauth::terminal_safe_line;
///
/// assert_eq!(terminal_safe_line(" read\r\n  write\u{9b}31m "), "read write\\u{9b}31m");
/// assert_eq!(terminal_safe_line("日本\u{0}"), "日本\\x00");
/// ```
pub fn terminal_safe_line(text: &str) -> String {
    bounded_line(text, usize::MAX)
}

/// [`terminal_safe_line`], cut to at most `max_chars` characters (plus `…`
/// when cut), never inside an escape.
pub(crate) fn bounded_line(text: &str, max_chars: usize) -> String {
    let mut shown = String::new();
    let mut count = 0;
    let mut space_pending = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        let is_break = match ch {
            '\r' => chars.peek() == Some(&'\n'),
            // NEL is a C1 control as well as a line break: escaped.
            '\u{85}' => false,
            ch => ch.is_whitespace() && (ch == '\n' || ch == '\t' || !is_terminal_control(ch)),
        };
        if is_break {
            space_pending = !shown.is_empty();
            continue;
        }
        let mut piece = String::new();
        if space_pending {
            piece.push(' ');
            space_pending = false;
        }
        push_shown(&mut piece, ch);
        let length = piece.chars().count();
        if count + length > max_chars {
            shown.push('…');
            break;
        }
        count += length;
        shown.push_str(&piece);
    }
    shown
}

/// `ch`, or its visible escape when a terminal would act on it.
fn push_shown(shown: &mut String, ch: char) {
    use std::fmt::Write as _;
    if !is_terminal_control(ch) {
        shown.push(ch);
    } else if ch.is_ascii() {
        let _ = write!(shown, "\\x{:02x}", u32::from(ch));
    } else {
        let _ = write!(shown, "\\u{{{:x}}}", u32::from(ch));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each class a terminal acts on, with its escape.
    const CLASSES: [(char, &str); 14] = [
        ('\u{0}', "\\x00"),
        ('\u{7}', "\\x07"),
        ('\u{8}', "\\x08"),
        ('\u{b}', "\\x0b"),
        ('\u{1b}', "\\x1b"),
        ('\u{7f}', "\\x7f"),
        ('\u{80}', "\\u{80}"),
        ('\u{9b}', "\\u{9b}"),
        ('\u{9f}', "\\u{9f}"),
        ('\u{61c}', "\\u{61c}"),
        ('\u{200e}', "\\u{200e}"),
        ('\u{200f}', "\\u{200f}"),
        ('\u{202e}', "\\u{202e}"),
        ('\u{2067}', "\\u{2067}"),
    ];

    #[test]
    fn every_class_is_escaped_visibly() {
        for (ch, escape) in CLASSES {
            assert!(is_terminal_control(ch), "{ch:?}");
            let text = format!("a{ch}b");
            assert_eq!(terminal_safe(&text), format!("a{escape}b"), "{ch:?}");
            assert_eq!(terminal_safe_line(&text), format!("a{escape}b"), "{ch:?}");
        }
        for ch in ('\u{0}'..='\u{1f}').chain('\u{7f}'..='\u{9f}') {
            assert!(is_terminal_control(ch), "{ch:?}");
        }
        for ch in ('\u{202a}'..='\u{202e}').chain('\u{2066}'..='\u{2069}') {
            assert!(is_terminal_control(ch), "{ch:?}");
        }
    }

    #[test]
    fn plain_text_and_every_script_are_left_alone() {
        for text in [
            "plain text, 42 (ok)!",
            "Café, naïve, é",
            "日本語のテキスト",
            "Ελληνικά, русский, עברית, العربية",
            "emoji 🦀 and a path C:\\temp\\x1b",
            "",
        ] {
            assert!(matches!(terminal_safe(text), Cow::Borrowed(_)), "{text}");
            assert_eq!(terminal_safe(text), text);
            assert_eq!(terminal_safe_line(text), text);
        }
        for ch in ['é', '日', '本', ' ', '~', '\u{a0}', '\u{2028}', '\u{200b}'] {
            assert!(!is_terminal_control(ch), "{ch:?}");
        }
    }

    #[test]
    fn lines_keep_newlines_and_tabs_but_not_lone_carriage_returns() {
        assert_eq!(terminal_safe("a\n\tb\r\nc"), "a\n\tb\nc");
        assert_eq!(terminal_safe("progress 50%\rdone"), "progress 50%\\x0ddone");
        assert_eq!(terminal_safe("trailing\r"), "trailing\\x0d");
    }

    #[test]
    fn one_line_squeezes_breaks_and_escapes_the_rest() {
        assert_eq!(terminal_safe_line("  a\n\n  b\tc\r\nd  "), "a b c d");
        assert_eq!(terminal_safe_line("a\u{2028}b\u{a0}c"), "a b c");
        assert_eq!(terminal_safe_line("a\rb"), "a\\x0db");
        assert_eq!(terminal_safe_line("a\u{85}b"), "a\\u{85}b");
        assert_eq!(terminal_safe_line("a\u{c}b"), "a\\x0cb");
    }

    #[test]
    fn escaping_twice_changes_nothing_more() {
        let hostile = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}\u{0}\r!";
        let once = terminal_safe(hostile).into_owned();
        assert_eq!(
            once,
            "\\x1b]0;pwned\\x07\\x1b[2J\\u{9b}31m\\u{202e}\\x00\\x0d!"
        );
        assert_eq!(terminal_safe(&once), once);
        let line = terminal_safe_line(hostile);
        assert_eq!(terminal_safe_line(&line), line);
    }

    #[test]
    fn a_bounded_line_is_never_cut_inside_an_escape() {
        assert_eq!(bounded_line("abcdef", 3), "abc…");
        assert_eq!(bounded_line("ab\u{1b}cd", 4), "ab…");
        assert_eq!(bounded_line("ab\u{1b}cd", 6), "ab\\x1b…");
        assert_eq!(bounded_line("a b", 2), "a…");
        assert_eq!(bounded_line("abc", 3), "abc");
    }
}
