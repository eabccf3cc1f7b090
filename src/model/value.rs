//! The data tree that the args readers (args.nix and JSON) produce.
//!
//! Every value remembers where it stood in the source file, when the source
//! has positions (args.nix does, JSON does not), so that later checks can
//! point at `file:line:col`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// A 1-based line and column in an args file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    /// Line, counting from 1.
    pub line: u32,
    /// Column in characters, counting from 1.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A value with the position it came from, if known.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// What the value is.
    pub kind: Kind,
    /// Where the value's expression starts in the source.
    pub pos: Option<Pos>,
}

/// An attribute of an attribute set: its value and where its name stood.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Where the attribute's name starts in the source.
    pub key_pos: Option<Pos>,
    /// The attribute's value.
    pub value: Value,
}

/// The kinds of value the data subset of Nix (and JSON) can express.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string, with interpolations already done.
    Str(String),
    /// A Nix path literal, made absolute against the args file's directory
    /// and cleaned lexically (no `.` or `..` components left).
    Path(PathBuf),
    /// A list.
    List(Vec<Value>),
    /// An attribute set, sorted by name.
    Attrs(BTreeMap<String, Field>),
}

impl Kind {
    /// The name of this kind as a user would say it, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Str(_) => "a string",
            Kind::Path(_) => "a path",
            Kind::List(_) => "a list",
            Kind::Attrs(_) => "an attribute set",
        }
    }
}
