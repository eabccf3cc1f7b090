//! How errors reach the user, as rustc shows them: each error of an input
//! file on its own, its plain `bimanix: error: file:line:col: message`
//! line first (what scripts grep), then the source line with a caret
//! under the offending text and a `help:` line with the suggestion;
//! clap's usage errors in the same form. Colour only on a terminal, and
//! never when `NO_COLOR` is set (to any value).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use crate::model::diagnostic::{Diagnostic, Diagnostics};

/// The prefix of every error line.
const ERROR: &str = "bimanix: error";

/// Whether standard error gets colour: a terminal, and no `NO_COLOR`.
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// clap's colour setting for help (usage errors are rendered here): never
/// with `NO_COLOR`, else on a terminal, which clap tells for the stream it
/// writes to (help goes to standard output).
pub fn clap_colour() -> clap::ColorChoice {
    if std::env::var_os("NO_COLOR").is_some() { clap::ColorChoice::Never } else { clap::ColorChoice::Auto }
}

/// An error as it is printed on standard error, ending in a line break.
/// The errors of an input file are rendered with their source lines; any
/// other error is one `bimanix: error:` line per line of its text.
pub fn render(error: &anyhow::Error, colour: bool) -> String {
    let renderer = renderer(colour);
    let Some(found) = error.chain().position(|e| e.is::<Diagnostics>()) else {
        return prefixed(&format!("{error:#}"), &renderer);
    };
    // What the error was wrapped in on its way up, said before the diagnostics.
    let context: Vec<String> = error.chain().take(found).map(ToString::to_string).collect();
    let mut out = if context.is_empty() { String::new() } else { prefixed(&context.join(": "), &renderer) };
    let diagnostics = error.chain().nth(found).and_then(|e| e.downcast_ref::<Diagnostics>());
    let mut sources = Sources::default();
    for d in diagnostics.map_or(&[][..], |d| &d.0) {
        out.push_str(&diagnostic(d, &mut sources, &renderer));
    }
    out
}

/// A clap error (a usage error, exit status 2) in the form of ours: its
/// message as the `bimanix: error:` line, its tip as `help:`, the usage as
/// `usage:`.
pub fn render_usage(error: &clap::Error, colour: bool) -> String {
    let text = error.render().to_string();
    let mut title = Vec::new();
    let mut notes: Vec<(Level, String)> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(message) = line.strip_prefix("error: ") {
            title.push(message.to_string());
        } else if let Some(tip) = line.strip_prefix("tip: ") {
            notes.push((Level::HELP, tip.to_string()));
        } else if let Some(usage) = line.strip_prefix("Usage: ") {
            notes.push((Level::NOTE.with_name("usage"), usage.to_string()));
        } else if line.starts_with("For more information") {
            notes.push((Level::HELP, line.to_string()));
        } else if notes.is_empty() {
            // The rest of the message: the missing arguments, one a line.
            title.push(line.to_string());
        } else {
            notes.push((Level::NOTE.no_name(), line.to_string()));
        }
    }
    // "...not provided:" then the arguments: one line.
    let title = match title.split_first() {
        Some((first, rest)) if !rest.is_empty() => format!("{first} {}", rest.join(", ")),
        _ => title.concat(),
    };
    let group = Level::ERROR
        .with_name(ERROR)
        .primary_title(title)
        .elements(notes.into_iter().map(|(level, text)| level.message(text)));
    finish(renderer(colour).render(&[group]))
}

fn renderer(colour: bool) -> Renderer {
    if colour { Renderer::styled() } else { Renderer::plain() }
}

/// Every line of `text` as a `bimanix: error:` line.
fn prefixed(text: &str, renderer: &Renderer) -> String {
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(&finish(renderer.render(&[Group::with_title(Level::ERROR.with_name(ERROR).primary_title(line))])));
    }
    out
}

/// One diagnostic: its line, its source line with a caret, its help.
fn diagnostic(d: &Diagnostic, sources: &mut Sources, renderer: &Renderer) -> String {
    let mut group = Group::with_title(Level::ERROR.with_name(ERROR).primary_title(d.headline()));
    if let Some(pos) = d.pos
        && let Some(line) = sources.line(&d.file, pos.line)
    {
        let span = token(line, pos.col as usize);
        let snippet =
            Snippet::source(line).line_start(pos.line as usize).annotation(AnnotationKind::Primary.span(span));
        group = group.element(snippet);
    }
    if let Some(help) = &d.help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    finish(renderer.render(&[group]))
}

/// The rendered text with exactly one final line break.
fn finish(mut text: String) -> String {
    text.truncate(text.trim_end().len());
    text.push('\n');
    text
}

/// The byte range, in `line`, of the token that starts at the 1-based
/// character column `col`: a quoted string up to its closing quote, else
/// a run of characters up to a space or a Nix/YAML delimiter; at least
/// one character (the column past the end underlines the end).
fn token(line: &str, col: usize) -> std::ops::Range<usize> {
    let start = line.char_indices().nth(col.saturating_sub(1)).map_or(line.len(), |(i, _)| i);
    let rest = &line[start..];
    let mut chars = rest.char_indices();
    let len = match chars.next() {
        None => 0,
        Some((_, quote @ ('"' | '\''))) => {
            let mut escaped = false;
            let close = chars.find(|&(_, c)| {
                let end = c == quote && !escaped;
                escaped = c == '\\' && !escaped;
                end
            });
            close.map_or(rest.len(), |(i, c)| i + c.len_utf8())
        }
        Some((_, c)) if is_delimiter(c) => c.len_utf8(),
        Some((_, c)) if c.is_whitespace() => c.len_utf8(),
        Some(_) => rest.find(|c: char| c.is_whitespace() || is_delimiter(c)).unwrap_or(rest.len()),
    };
    start..start + len
}

fn is_delimiter(c: char) -> bool {
    matches!(c, '=' | ';' | ',' | ':' | '[' | ']' | '{' | '}' | '(' | ')')
}

/// The source files of the diagnostics, read once each.
#[derive(Default)]
struct Sources(BTreeMap<String, Option<String>>);

impl Sources {
    /// Line `n` (1-based) of the file named `file`, when it can be read
    /// (it cannot inside a Nix build, which names the args file but has
    /// only its JSON form).
    fn line(&mut self, file: &str, n: u32) -> Option<&str> {
        let text = self.0.entry(file.to_string()).or_insert_with(|| {
            let bytes =
                crate::model::hostfile::read_regular(Path::new(file), crate::input::MAX_ARGS_FILE, "input files")
                    .ok()?;
            String::from_utf8(bytes).ok()
        });
        text.as_deref()?.lines().nth(n.checked_sub(1)? as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::value::Pos;

    #[test]
    fn tokens() {
        let line = r#"    hypervisor = "qe\"muu"; x"#;
        assert_eq!(&line[token(line, 5)], "hypervisor");
        assert_eq!(&line[token(line, 18)], r#""qe\"muu""#);
        assert_eq!(&line[token(line, 16)], "=");
        assert_eq!(&line[token(line, 4)], " ");
        assert_eq!(token(line, 99), line.len()..line.len());
        assert_eq!(&"  é: [a]"[token("  é: [a]", 3)], "é");
    }

    #[test]
    fn a_diagnostic_shows_its_line_a_caret_and_its_help() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("args.nix");
        std::fs::write(&file, "{\n  annotations = {\n    hypervisor = \"qemuu\";\n  };\n}\n").unwrap();
        let shown = file.display().to_string();
        let d = Diagnostic::new(&shown, Some(Pos { line: 3, col: 18 }), "annotations.hypervisor: unknown `qemuu`")
            .help("did you mean `qemu`?".to_string());
        let text = render(&Diagnostics(vec![d.clone(), d]).into(), false);
        let one = format!(
            "bimanix: error: {shown}:3:18: annotations.hypervisor: unknown `qemuu`\n  |\n3 |     hypervisor = \"qemuu\";\n  |                  ^^^^^^^\n  |\n  = help: did you mean `qemu`?\n"
        );
        assert_eq!(text, format!("{one}{one}"));
    }

    #[test]
    fn other_errors_prefix_every_line() {
        let e = anyhow::anyhow!("one\ntwo").context("reading x");
        assert_eq!(render(&e, false), "bimanix: error: reading x: one\nbimanix: error: two\n");
        let unreadable = Diagnostic::new("/nonexistent/args.nix", Some(Pos { line: 1, col: 1 }), "name: missing");
        let e = anyhow::Error::from(Diagnostics(vec![unreadable])).context("in y");
        assert_eq!(
            render(&e, false),
            "bimanix: error: in y\nbimanix: error: /nonexistent/args.nix:1:1: name: missing\n"
        );
    }
}
