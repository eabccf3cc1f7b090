//! Errors about an input file, in a structured form: the file, the position
//! of what is at fault, the message and a suggestion. The readers and the
//! rules collect them ([`Diagnostics`] is an error `anyhow` carries); the
//! commands stage renders them with the source line and a caret, and their
//! `Display` is the plain `file:line:col: message; help` line.

use std::fmt;

use crate::model::value::Pos;

/// One error in an input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as messages name it (as the user wrote it).
    pub file: String,
    /// Where the offending text starts, when the input has positions.
    pub pos: Option<Pos>,
    /// What is wrong, starting with the key or instruction at fault
    /// (`annotations.hypervisor: unknown `qemuu``).
    pub message: String,
    /// What to do instead (`did you mean `qemu`?`), when known.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `pos` in `file`.
    pub fn new(file: &str, pos: Option<Pos>, message: impl fmt::Display) -> Diagnostic {
        Diagnostic { file: file.to_string(), pos, message: message.to_string(), help: None }
    }

    /// The same error with a suggestion.
    pub fn help(mut self, help: impl Into<Option<String>>) -> Diagnostic {
        self.help = help.into();
        self
    }

    /// `file:line:col: message` (or `file: message` without a position):
    /// the first line of a rendered error, the line scripts grep.
    pub fn headline(&self) -> String {
        match self.pos {
            Some(pos) => format!("{}:{pos}: {}", self.file, self.message),
            None => format!("{}: {}", self.file, self.message),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.help {
            Some(help) => write!(f, "{}; {help}", self.headline()),
            None => f.write_str(&self.headline()),
        }
    }
}

/// Every error found in one input, in the order found; an `anyhow` error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// `Err(self)` when any error was found.
    pub fn into_result(self) -> anyhow::Result<()> {
        if self.0.is_empty() { Ok(()) } else { Err(self.into()) }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Splits a message that ends in a suggestion (`...; did you mean `x`?`)
/// into the message and the suggestion, so that producers that build one
/// string can still hand the renderer a `help:` line.
pub fn split_help(message: &str) -> (String, Option<String>) {
    match message.rfind("; did you mean ") {
        Some(i) => (message[..i].to_string(), Some(message[i + 2..].to_string())),
        None => (message.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_plain_line_with_the_suggestion() {
        let d = Diagnostic::new("args.nix", Some(Pos { line: 9, col: 5 }), "annotations.hypervisor: unknown `qemuu`")
            .help("did you mean `qemu`?".to_string());
        assert_eq!(d.headline(), "args.nix:9:5: annotations.hypervisor: unknown `qemuu`");
        assert_eq!(d.to_string(), "args.nix:9:5: annotations.hypervisor: unknown `qemuu`; did you mean `qemu`?");
        let none = Diagnostic::new("args.json", None, "name: missing");
        assert_eq!(
            Diagnostics(vec![none.clone(), none]).to_string(),
            "args.json: name: missing\nargs.json: name: missing"
        );
    }

    #[test]
    fn split_help_takes_the_last_suggestion() {
        assert_eq!(
            split_help("unknown `qemuu`; urunc knows qemu, hvt; did you mean `qemu`?"),
            ("unknown `qemuu`; urunc knows qemu, hvt".to_string(), Some("did you mean `qemu`?".to_string()))
        );
        assert_eq!(split_help("must be a string"), ("must be a string".to_string(), None));
    }
}
