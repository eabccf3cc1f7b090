//! Strings: escapes of `"..."` strings, and the pieces and indentation
//! stripping of `''...''` strings, as Nix's lexer does them.

use rnix::ast::{self, AstToken, InterpolPart};
use rowan::ast::AstNode;

/// A piece of an indented string, as Nix's lexer splits it.
enum Piece {
    /// Text as written, which counts for indentation.
    Source(String),
    /// The text of an escape (`''$`, `'''`, `''\n`), which does not.
    Escape(String),
    Interpolation(ast::Interpol),
}

/// The text and interpolations of a string, with escapes undone and, for an
/// indented string, indentation stripped.
pub(super) fn string_parts(s: &ast::Str) -> Vec<InterpolPart<String>> {
    let indented = s.syntax().first_token().is_some_and(|t| t.text() == "''");
    if indented {
        return strip_indentation(indented_pieces(s));
    }
    s.parts()
        .map(|part| match part {
            InterpolPart::Literal(text) => InterpolPart::Literal(unescape(text.syntax().text())),
            InterpolPart::Interpolation(interpol) => InterpolPart::Interpolation(interpol),
        })
        .collect()
}

/// Undoes the escapes of a `"..."` string.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => {}
            },
            // Nix reads a CR or CR LF written in a plain string as LF.
            '\r' => {
                out.push('\n');
                if chars.as_str().starts_with('\n') {
                    chars.next();
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Splits an indented string into source text, escapes and interpolations.
fn indented_pieces(s: &ast::Str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for (i, part) in s.parts().enumerate() {
        let literal = match part {
            InterpolPart::Literal(literal) => literal,
            InterpolPart::Interpolation(interpol) => {
                pieces.push(Piece::Interpolation(interpol));
                continue;
            }
        };
        let mut rest = literal.syntax().text();
        // Nix's lexer takes a first line of only spaces as part of the `''`.
        if i == 0
            && let Some(after) = rest.trim_start_matches(' ').strip_prefix('\n')
        {
            rest = after;
        }
        let mut source = String::new();
        while let Some(c) = rest.chars().next() {
            let (escaped, after) = if let Some(after) = rest.strip_prefix("'''") {
                ("''".to_string(), after)
            } else if let Some(after) = rest.strip_prefix("''$") {
                ("$".to_string(), after)
            } else if let Some(after) = rest.strip_prefix("''\\") {
                let mut chars = after.chars();
                let escaped = match chars.next() {
                    Some('n') => "\n".to_string(),
                    Some('t') => "\t".to_string(),
                    Some('r') => "\r".to_string(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                (escaped, chars.as_str())
            } else {
                source.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            };
            if !source.is_empty() {
                pieces.push(Piece::Source(std::mem::take(&mut source)));
            }
            pieces.push(Piece::Escape(escaped));
            rest = after;
        }
        if !source.is_empty() {
            pieces.push(Piece::Source(source));
        }
    }
    pieces
}

/// Strips the common indentation from an indented string the way Nix does:
/// only spaces count; lines of only spaces do not set the indentation;
/// escapes and interpolations end a line's indentation; a last line of only
/// spaces is dropped. As in Nix, an escaped newline (`''\n`) starts a line
/// whose indentation is stripped although it did not count.
fn strip_indentation(pieces: Vec<Piece>) -> Vec<InterpolPart<String>> {
    let mut at_line_start = true;
    let mut indent = 0;
    let mut min_indent = usize::MAX;
    for piece in &pieces {
        let Piece::Source(text) = piece else {
            if at_line_start {
                at_line_start = false;
                min_indent = min_indent.min(indent);
            }
            continue;
        };
        for c in text.chars() {
            match (at_line_start, c) {
                (true, ' ') => indent += 1,
                (true, '\n') => indent = 0,
                (true, _) => {
                    at_line_start = false;
                    min_indent = min_indent.min(indent);
                }
                (false, '\n') => {
                    at_line_start = true;
                    indent = 0;
                }
                (false, _) => {}
            }
        }
    }

    let mut parts = Vec::with_capacity(pieces.len());
    let last = pieces.len().saturating_sub(1);
    at_line_start = true;
    let mut dropped = 0;
    for (i, piece) in pieces.into_iter().enumerate() {
        let text = match piece {
            Piece::Source(text) | Piece::Escape(text) => text,
            Piece::Interpolation(interpol) => {
                at_line_start = false;
                dropped = 0;
                parts.push(InterpolPart::Interpolation(interpol));
                continue;
            }
        };
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if at_line_start && c == ' ' {
                if dropped >= min_indent {
                    out.push(c);
                }
                dropped += 1;
                continue;
            }
            if c == '\n' {
                dropped = 0;
            }
            at_line_start = c == '\n';
            out.push(c);
        }
        if i == last
            && let Some(newline) = out.rfind('\n')
            && out[newline + 1..].chars().all(|c| c == ' ')
        {
            out.truncate(newline + 1);
        }
        parts.push(InterpolPart::Literal(out));
    }
    parts
}
