//! The args reader: turns an args.nix or JSON file into the input model.
//!
//! It checks shape and types only (unknown keys, wrong types, malformed
//! modes and sizes); the rules of urunc and of image formats are applied
//! later by `rules::validate`. All problems are collected and reported
//! together, each at `file:line:col` with the key at fault. The reader is
//! cut by field group: the top level and shared helpers (`reader`),
//! `files` (`files`), the image config fields (`fields`) and `rootfs`
//! (`rootfs`); `json` turns a JSON file into the same value tree that
//! args.nix evaluates to; `positions` reads the JSON of the Nix side with
//! the args.nix positions it carries.

mod fields;
mod files;
mod json;
mod positions;
mod reader;
mod rootfs;

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use crate::model::diagnostic::Diagnostics;
use crate::model::spec::{Locations, Spec};
use crate::model::value::Value;

pub use positions::read_nix_json;
pub use rootfs::parse_size;

/// The top-level fields an args file may have.
pub const FIELDS: &[&str] = &[
    "name",
    "tag",
    "files",
    "annotations",
    "entrypoint",
    "cmd",
    "env",
    "workingDir",
    "labels",
    "architecture",
    "created",
    "rootfs",
    "fromImage",
    "layers",
    "compression",
    "urunc",
];

/// The fields of `rootfs`.
pub const ROOTFS_FIELDS: &[&str] = &["type", "target", "files", "fromImage", "fsType", "size"];

/// Where a generated rootfs goes when `rootfs.target` is not given.
pub const DEFAULT_ROOTFS_TARGET: &str = "/.boot/rootfs";

/// How to read an args file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// The data subset of Nix.
    Nix,
    /// JSON with the same fields.
    Json,
}

impl Syntax {
    /// JSON for files ending in `.json`, Nix for everything else.
    pub fn of(path: &Path) -> Syntax {
        if path.extension().is_some_and(|e| e == "json") { Syntax::Json } else { Syntax::Nix }
    }
}

/// Reads an args file. Relative source paths resolve against the file's
/// directory.
pub fn read(path: &Path, syntax: Syntax) -> Result<Spec> {
    read_as(path, syntax, path.display().to_string())
}

/// Reads an args file, naming it `shown` in messages (the Nix builder's
/// args file has a meaningless temporary name).
pub fn read_as(path: &Path, syntax: Syntax, shown: String) -> Result<Spec> {
    let base = std::path::absolute(path)
        .with_context(|| format!("{shown}: cannot make the path absolute"))?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let value = match syntax {
        Syntax::Nix => crate::input::nixeval::eval_file(path)?,
        Syntax::Json => json::read(path, &shown)?,
    };
    spec_of(&value, Locations { file: shown, ..Locations::default() }, &base)
}

/// Parses the text of a JSON args file into the value tree (what
/// `nixeval::eval_str` is for args.nix); errors start with `shown:line:col`.
pub fn parse_json(bytes: &[u8], shown: &str) -> Result<Value> {
    json::parse(bytes).map_err(|e| anyhow::anyhow!("{shown}:{e}"))
}

/// Turns an evaluated args value into a `Spec`.
pub fn to_spec(value: &Value, file: String, base: &Path) -> Result<Spec> {
    spec_of(value, Locations { file, ..Locations::default() }, base)
}

/// Turns an evaluated args value into a `Spec`, starting from `loc`.
fn spec_of(value: &Value, loc: Locations, base: &Path) -> Result<Spec> {
    let mut r = reader::Reader { loc, base: base.to_path_buf(), errors: Vec::new() };
    let spec = r.spec(value);
    let errors = std::mem::take(&mut r.errors);
    match spec {
        Some(mut spec) => {
            spec.locations.errors = errors;
            Ok(spec)
        }
        None => {
            Diagnostics(errors).into_result()?;
            anyhow::bail!("internal: reader produced no spec and no error")
        }
    }
}

/// Cleans a path lexically: drops `.`, resolves `..` against what precedes it.
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
