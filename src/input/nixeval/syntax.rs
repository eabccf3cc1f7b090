//! rnix's syntax errors in words: the text at fault (a character that
//! cannot start a token is named with its code point) and what was
//! expected, instead of token kind names.

use rnix::{ParseError, SyntaxKind, TextRange, TextSize};

/// The offset of a syntax error and what it says.
pub(super) fn describe(err: &ParseError, src: &str) -> (TextSize, String) {
    let text = |range: &TextRange| src.get(usize::from(range.start())..usize::from(range.end())).unwrap_or_default();
    match err {
        ParseError::Unexpected(range) => (range.start(), format!("unexpected {}", quote(text(range)))),
        ParseError::UnexpectedExtra(range) => {
            (range.start(), format!("unexpected {} after the expression", quote(text(range))))
        }
        ParseError::UnexpectedWanted(got, range, wanted) => {
            // The range spans everything rnix skipped; the first word is what it met.
            let first = text(range).split_whitespace().next().unwrap_or_default();
            let got = if *got == SyntaxKind::TOKEN_ERROR { quote_char(first) } else { quote(first) };
            (range.start(), format!("unexpected {got}, expected {}", any_of(wanted)))
        }
        ParseError::UnexpectedEOFWanted(wanted) => {
            (TextSize::of(src), format!("unexpected end of file, expected {}", any_of(wanted)))
        }
        ParseError::UnexpectedDoubleBind(range) => (range.start(), "unexpected double bind".to_string()),
        ParseError::DuplicatedArgs(range, name) => (range.start(), format!("argument `{name}` is duplicated")),
        other => (TextSize::of(src), other.to_string()),
    }
}

/// Source text as a message shows it: in backticks, cut short.
fn quote(text: &str) -> String {
    let short: String = text.chars().take(40).collect();
    let cut = if short.len() < text.len() { "..." } else { "" };
    format!("`{}{cut}`", short.escape_debug())
}

/// The first character of `text`, which no token starts with.
fn quote_char(text: &str) -> String {
    match text.chars().next() {
        Some(c) => format!("character {c:?} (U+{:04X})", c as u32),
        None => "end of file".to_string(),
    }
}

/// `a`, `a or b`, `a, b or c`.
fn any_of(kinds: &[SyntaxKind]) -> String {
    let names: Vec<&str> = kinds.iter().map(|k| name(*k)).collect();
    match names.split_last() {
        None => "something else".to_string(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// A token kind as a user would say it.
fn name(kind: SyntaxKind) -> &'static str {
    use SyntaxKind::*;
    match kind {
        TOKEN_IDENT => "a name",
        TOKEN_INTEGER => "an integer",
        TOKEN_FLOAT => "a number",
        TOKEN_STRING_START => "a string",
        TOKEN_STRING_END => "the end of the string",
        TOKEN_STRING_CONTENT => "string text",
        TOKEN_INTERPOL_START => "`${`",
        TOKEN_INTERPOL_END => "`}`",
        TOKEN_PATH_ABS | TOKEN_PATH_REL | TOKEN_PATH_HOME | TOKEN_PATH_SEARCH => "a path",
        TOKEN_URI => "a URL",
        TOKEN_ASSIGN => "`=`",
        TOKEN_SEMICOLON => "`;`",
        TOKEN_COLON => "`:`",
        TOKEN_COMMA => "`,`",
        TOKEN_DOT => "`.`",
        TOKEN_AT => "`@`",
        TOKEN_ELLIPSIS => "`...`",
        TOKEN_QUESTION => "`?`",
        TOKEN_L_BRACE => "`{`",
        TOKEN_R_BRACE => "`}`",
        TOKEN_L_BRACK => "`[`",
        TOKEN_R_BRACK => "`]`",
        TOKEN_L_PAREN => "`(`",
        TOKEN_R_PAREN => "`)`",
        TOKEN_LET => "`let`",
        TOKEN_IN => "`in`",
        TOKEN_INHERIT => "`inherit`",
        TOKEN_REC => "`rec`",
        TOKEN_OR => "`or`",
        TOKEN_IF => "`if`",
        TOKEN_THEN => "`then`",
        TOKEN_ELSE => "`else`",
        TOKEN_WITH => "`with`",
        TOKEN_ASSERT => "`assert`",
        TOKEN_CUR_POS => "`__curPos`",
        _ => "an operator",
    }
}
