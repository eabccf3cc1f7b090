//! The args reader: turns an args.nix or JSON file into the input model.
//!
//! It checks shape and types only (unknown keys, wrong types, malformed
//! modes and sizes); the rules of urunc and of image formats are applied
//! later by `validate`. All problems are collected and reported together,
//! each at `file:line:col` with the key at fault.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::model::spec::{FileSpec, FsType, Locations, RootfsSpec, RootfsType, Spec};
use crate::model::urunc;
use crate::model::value::{Field, Kind, Pos, Value};
use crate::rules::suggest::did_you_mean;

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
        Syntax::Json => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {shown}"))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{shown}:{}:{}: invalid JSON: {e}", e.line(), e.column()))?;
            from_json(&json).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?
        }
    };
    to_spec(&value, shown, &base)
}

/// Turns an evaluated args value into a `Spec`.
pub fn to_spec(value: &Value, file: String, base: &Path) -> Result<Spec> {
    let mut r = Reader { loc: Locations { file, keys: BTreeMap::new() }, base: base.to_path_buf(), errors: Vec::new() };
    let spec = r.spec(value);
    if !r.errors.is_empty() {
        bail!("{}", r.errors.join("\n"));
    }
    spec.context("internal: reader produced no spec and no error")
}

/// Converts JSON into the value tree (without positions).
fn from_json(json: &serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    let kind = match json {
        J::Null => Kind::Null,
        J::Bool(b) => Kind::Bool(*b),
        J::Number(n) => Kind::Int(n.as_i64().ok_or_else(|| format!("{n} is not a whole number"))?),
        J::String(s) => Kind::Str(s.clone()),
        J::Array(items) => Kind::List(items.iter().map(from_json).collect::<Result<_, _>>()?),
        J::Object(map) => Kind::Attrs(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), Field { key_pos: None, value: from_json(v)? })))
                .collect::<Result<_, String>>()?,
        ),
    };
    Ok(Value { kind, pos: None })
}

struct Reader {
    loc: Locations,
    base: PathBuf,
    errors: Vec<String>,
}

impl Reader {
    /// Records an error about the value at `key`, positioned at the value.
    fn err(&mut self, key: &str, pos: Option<Pos>, msg: impl std::fmt::Display) {
        let at = match pos.or_else(|| self.loc.pos(key)) {
            Some(p) => format!("{}:{p}: {key}", self.loc.file),
            None => format!("{}: {key}", self.loc.file),
        };
        self.errors.push(format!("{at}: {msg}"));
    }

    /// Records the positions of an attribute set's keys under `prefix`.
    fn note_keys(&mut self, prefix: &str, attrs: &BTreeMap<String, Field>) {
        for (k, f) in attrs {
            if let Some(p) = f.key_pos {
                self.loc.keys.insert(join(prefix, k), p);
            }
        }
    }

    /// Reports keys not in `allowed`, with a suggestion.
    fn unknown_keys(&mut self, prefix: &str, attrs: &BTreeMap<String, Field>, allowed: &[&str]) {
        for (k, f) in attrs {
            if !allowed.contains(&k.as_str()) {
                let hint = match did_you_mean(k, allowed) {
                    Some(s) => format!("; did you mean {s:?}?"),
                    None => format!("; allowed: {}", allowed.join(", ")),
                };
                self.err(&join(prefix, k), f.key_pos, format_args!("unknown key{hint}"));
            }
        }
    }

    fn spec(&mut self, v: &Value) -> Option<Spec> {
        let Kind::Attrs(top) = &v.kind else {
            self.err("(top level)", v.pos, format_args!("must be an attribute set, not {}", v.kind.type_name()));
            return None;
        };
        self.note_keys("", top);
        self.unknown_keys("", top, FIELDS);
        let get = |k: &str| top.get(k).map(|f| &f.value);
        let name = match get("name") {
            None => {
                self.err("name", v.pos, "missing; give the image name, e.g. name = \"hello\";");
                None
            }
            Some(n) => self.string("name", n),
        };
        let tag = match get("tag") {
            None => Some("latest".to_string()),
            Some(t) => self.string("tag", t),
        };
        let files = match get("files") {
            None => Some(Vec::new()),
            Some(f) => self.files("files", f),
        };
        let annotations = match get("annotations") {
            None => {
                self.err("annotations", v.pos, "missing; urunc needs at least unikernelType, hypervisor and binary");
                None
            }
            Some(a) => self.annotations(a),
        };
        let entrypoint = get("entrypoint").map(|e| self.strings("entrypoint", e));
        let cmd = get("cmd").map(|c| self.strings("cmd", c));
        let env = get("env").map(|e| self.env(e)).unwrap_or(Some(Vec::new()));
        let working_dir = get("workingDir").map(|w| self.string("workingDir", w));
        let labels = get("labels").map(|l| self.labels(l)).unwrap_or(Some(BTreeMap::new()));
        let architecture = get("architecture").map(|a| self.string("architecture", a));
        let created = get("created").map(|c| self.created(c));
        let rootfs = get("rootfs").map(|r| self.rootfs(r));
        let from_image = get("fromImage").map(|f| self.path("fromImage", f));
        Some(Spec {
            name: name?,
            tag: tag?,
            files: files?,
            annotations: annotations?,
            entrypoint: optional(entrypoint)?,
            cmd: optional(cmd)?,
            env: env?,
            working_dir: optional(working_dir)?,
            labels: labels?,
            architecture: optional(architecture)?,
            created: optional(created)?,
            rootfs: optional(rootfs)?,
            from_image: optional(from_image)?,
            locations: self.loc.clone(),
        })
    }

    fn string(&mut self, key: &str, v: &Value) -> Option<String> {
        match &v.kind {
            Kind::Str(s) => Some(s.clone()),
            other => {
                self.err(key, v.pos, format_args!("must be a string, not {}", other.type_name()));
                None
            }
        }
    }

    fn strings(&mut self, key: &str, v: &Value) -> Option<Vec<String>> {
        let Kind::List(items) = &v.kind else {
            self.err(key, v.pos, format_args!("must be a list of strings, not {}", v.kind.type_name()));
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            out.push(self.string(&format!("{key}[{i}]"), item));
        }
        out.into_iter().collect()
    }

    /// A source path: a Nix path, or a string relative to the args file.
    fn path(&mut self, key: &str, v: &Value) -> Option<PathBuf> {
        match &v.kind {
            Kind::Path(p) => Some(p.clone()),
            Kind::Str(s) if !s.is_empty() => Some(clean(&self.base.join(s))),
            Kind::Str(_) => {
                self.err(key, v.pos, "is empty; give a path");
                None
            }
            other => {
                self.err(key, v.pos, format_args!("must be a path or a non-empty string, not {}", other.type_name()));
                None
            }
        }
    }

    /// `files`: an attribute set `source = target` (or `{ target; mode; }`),
    /// or a list of `{ source; target; mode; }`.
    fn files(&mut self, key: &str, v: &Value) -> Option<Vec<FileSpec>> {
        let mut out = Vec::new();
        let mut ok = true;
        match &v.kind {
            Kind::Attrs(attrs) => {
                self.note_keys(key, attrs);
                for (src, f) in attrs {
                    let entry_key = format!("{key}.{}", quote_key(src));
                    let source = clean(&self.base.join(src));
                    match self.target_and_mode(&entry_key, &f.value) {
                        Some((target, mode)) => out.push(FileSpec { source, target, mode, key: entry_key }),
                        None => ok = false,
                    }
                }
            }
            Kind::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    let entry_key = format!("{key}[{i}]");
                    let Kind::Attrs(attrs) = &item.kind else {
                        self.err(&entry_key, item.pos, "must be { source = ...; target = \"/...\"; }");
                        ok = false;
                        continue;
                    };
                    self.note_keys(&entry_key, attrs);
                    self.unknown_keys(&entry_key, attrs, &["source", "target", "mode"]);
                    let source = match attrs.get("source") {
                        Some(f) => self.path(&format!("{entry_key}.source"), &f.value),
                        None => {
                            self.err(&entry_key, item.pos, "missing source");
                            None
                        }
                    };
                    let target = match attrs.get("target") {
                        Some(f) => self.string(&format!("{entry_key}.target"), &f.value),
                        None => {
                            self.err(&entry_key, item.pos, "missing target");
                            None
                        }
                    };
                    let mode = self.mode(&entry_key, attrs);
                    match (source, target, mode) {
                        (Some(source), Some(target), Some(mode)) => {
                            out.push(FileSpec { source, target, mode, key: entry_key })
                        }
                        _ => ok = false,
                    }
                }
            }
            other => {
                self.err(
                    key,
                    v.pos,
                    format_args!(
                        "must be an attribute set {{ \"./source\" = \"/target\"; }} or a list, not {}",
                        other.type_name()
                    ),
                );
                return None;
            }
        }
        ok.then_some(out)
    }

    fn target_and_mode(&mut self, key: &str, v: &Value) -> Option<(String, Option<u32>)> {
        match &v.kind {
            Kind::Str(t) => Some((t.clone(), None)),
            Kind::Attrs(attrs) => {
                self.note_keys(key, attrs);
                self.unknown_keys(key, attrs, &["target", "mode"]);
                let target = match attrs.get("target") {
                    Some(f) => self.string(&format!("{key}.target"), &f.value),
                    None => {
                        self.err(key, v.pos, "missing target");
                        None
                    }
                };
                let mode = self.mode(key, attrs);
                Some((target?, mode?))
            }
            other => {
                self.err(
                    key,
                    v.pos,
                    format_args!(
                        "must be a target path string or {{ target = \"/...\"; mode = \"0755\"; }}, not {}",
                        other.type_name()
                    ),
                );
                None
            }
        }
    }

    /// The optional `mode` attribute: an octal string such as "0755".
    fn mode(&mut self, key: &str, attrs: &BTreeMap<String, Field>) -> Option<Option<u32>> {
        let Some(f) = attrs.get("mode") else { return Some(None) };
        let key = format!("{key}.mode");
        match &f.value.kind {
            Kind::Null => Some(None),
            Kind::Str(s) => match u32::from_str_radix(s, 8) {
                Ok(m) if !s.is_empty() && m <= 0o7777 => Some(Some(m)),
                _ => {
                    self.err(
                        &key,
                        f.value.pos,
                        format_args!("{s:?} is not an octal mode such as \"0644\" or \"0755\""),
                    );
                    None
                }
            },
            Kind::Int(i) => {
                self.err(
                    &key,
                    f.value.pos,
                    format_args!("write the mode as an octal string, \"{i:04}\", not an integer"),
                );
                None
            }
            other => {
                self.err(
                    &key,
                    f.value.pos,
                    format_args!("must be an octal string such as \"0755\", not {}", other.type_name()),
                );
                None
            }
        }
    }

    fn annotations(&mut self, v: &Value) -> Option<BTreeMap<String, String>> {
        let Kind::Attrs(attrs) = &v.kind else {
            self.err("annotations", v.pos, format_args!("must be an attribute set, not {}", v.kind.type_name()));
            return None;
        };
        self.note_keys("annotations", attrs);
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, f) in attrs {
            let key = format!("annotations.{}", quote_key(k));
            let Some(short) = urunc::short_key(k) else {
                let hint = match did_you_mean(k.strip_prefix(urunc::PREFIX).unwrap_or(k), urunc::KEYS) {
                    Some(s) => format!("did you mean {s:?}?"),
                    None => format!("urunc reads {}", urunc::KEYS.join(", ")),
                };
                self.err(&key, f.key_pos, format_args!("unknown urunc annotation; {hint}"));
                ok = false;
                continue;
            };
            if short != k {
                self.loc
                    .keys
                    .entry(format!("annotations.{short}"))
                    .or_insert(f.key_pos.unwrap_or(Pos { line: 0, col: 0 }));
            }
            let value = match &f.value.kind {
                Kind::Str(s) => s.clone(),
                Kind::Null => String::new(),
                Kind::Bool(b) if matches!(short, "useDMBlock" | "mountRootfs") => b.to_string(),
                other => {
                    self.err(&key, f.value.pos, format_args!("must be a string, not {}", other.type_name()));
                    ok = false;
                    continue;
                }
            };
            if value.is_empty() {
                continue;
            }
            if out.insert(short.to_string(), value).is_some() {
                self.err(&key, f.key_pos, format_args!("given twice, as {short} and as {}", urunc::full_key(short)));
                ok = false;
            }
        }
        ok.then_some(out)
    }

    fn env(&mut self, v: &Value) -> Option<Vec<String>> {
        match &v.kind {
            Kind::Attrs(attrs) => {
                self.note_keys("env", attrs);
                let mut out = Vec::new();
                for (k, f) in attrs {
                    if k.is_empty() || k.contains('=') {
                        self.err(
                            &format!("env.{}", quote_key(k)),
                            f.key_pos,
                            "a variable name must be non-empty and hold no '='",
                        );
                        return None;
                    }
                    out.push(format!("{k}={}", self.string(&format!("env.{k}"), &f.value)?));
                }
                Some(out)
            }
            Kind::List(values) => {
                let items = self.strings("env", v)?;
                for (i, (item, value)) in items.iter().zip(values).enumerate() {
                    if item.split_once('=').is_none_or(|(k, _)| k.is_empty()) {
                        self.err(&format!("env[{i}]"), value.pos, format_args!("{item:?} is not KEY=VALUE"));
                        return None;
                    }
                }
                Some(items)
            }
            other => {
                self.err(
                    "env",
                    v.pos,
                    format_args!("must be an attribute set or a list of \"KEY=VALUE\", not {}", other.type_name()),
                );
                None
            }
        }
    }

    fn labels(&mut self, v: &Value) -> Option<BTreeMap<String, String>> {
        let Kind::Attrs(attrs) = &v.kind else {
            self.err("labels", v.pos, format_args!("must be an attribute set of strings, not {}", v.kind.type_name()));
            return None;
        };
        self.note_keys("labels", attrs);
        let mut out = BTreeMap::new();
        for (k, f) in attrs {
            let key = format!("labels.{}", quote_key(k));
            if k.starts_with(urunc::PREFIX) {
                self.err(&key, f.key_pos, "urunc keys belong in annotations, which also sets them as labels");
                return None;
            }
            out.insert(k.clone(), self.string(&key, &f.value)?);
        }
        Some(out)
    }

    fn created(&mut self, v: &Value) -> Option<i64> {
        let s = self.string("created", v)?;
        match crate::model::time::parse_rfc3339(&s) {
            Ok(t) => Some(t),
            Err(e) => {
                self.err("created", v.pos, e);
                None
            }
        }
    }

    fn rootfs(&mut self, v: &Value) -> Option<RootfsSpec> {
        let Kind::Attrs(attrs) = &v.kind else {
            self.err("rootfs", v.pos, format_args!("must be an attribute set, not {}", v.kind.type_name()));
            return None;
        };
        self.note_keys("rootfs", attrs);
        self.unknown_keys("rootfs", attrs, ROOTFS_FIELDS);
        let get = |k: &str| attrs.get(k).map(|f| &f.value);
        let kind = match get("type").map(|t| (t, self.string("rootfs.type", t))) {
            None => {
                self.err("rootfs.type", v.pos, "missing; use \"initrd\" or \"block\"");
                None
            }
            Some((_, None)) => None,
            Some((_, Some(t))) if t == "initrd" => Some(RootfsType::Initrd),
            Some((_, Some(t))) if t == "block" => Some(RootfsType::Block),
            Some((val, Some(t))) => {
                self.err(
                    "rootfs.type",
                    val.pos,
                    format_args!("{t:?} is not a rootfs type; use \"initrd\" or \"block\""),
                );
                None
            }
        };
        let target =
            get("target").map(|t| self.string("rootfs.target", t)).unwrap_or(Some(DEFAULT_ROOTFS_TARGET.to_string()));
        let files = get("files").map(|f| self.files("rootfs.files", f)).unwrap_or(Some(Vec::new()));
        let from_image = optional(get("fromImage").map(|f| self.path("rootfs.fromImage", f)));
        let fs_type = match get("fsType") {
            None => Some(FsType::Ext2),
            Some(f) => match self.string("rootfs.fsType", f).as_deref() {
                Some("ext2") => Some(FsType::Ext2),
                Some("ext4") => Some(FsType::Ext4),
                Some(other) => {
                    self.err(
                        "rootfs.fsType",
                        f.pos,
                        format_args!("{other:?} is not supported; use \"ext2\" or \"ext4\""),
                    );
                    None
                }
                None => None,
            },
        };
        let size = optional(get("size").map(|s| self.size(s)));
        if kind == Some(RootfsType::Initrd) {
            for k in ["fsType", "size"] {
                if let Some(f) = attrs.get(k) {
                    self.err(&format!("rootfs.{k}"), f.key_pos, "applies to type = \"block\" only");
                }
            }
        }
        Some(RootfsSpec {
            kind: kind?,
            target: target?,
            files: files?,
            from_image: from_image?,
            fs_type: fs_type?,
            size: size?,
        })
    }

    /// A size: bytes as an integer, or a string with an optional K/M/G/T
    /// suffix (powers of 1024).
    fn size(&mut self, v: &Value) -> Option<u64> {
        let parsed = match &v.kind {
            Kind::Int(i) if *i > 0 => Some(*i as u64),
            Kind::Str(s) => parse_size(s),
            _ => None,
        };
        if parsed.is_none() {
            self.err("rootfs.size", v.pos, "must be a positive size such as \"256M\", \"2G\" or a number of bytes");
        }
        parsed
    }
}

/// Parses `256M`, `2G`, `1048576`, `512K` (powers of 1024; an optional
/// trailing `i`/`iB`/`B` is accepted).
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let t = t.strip_suffix("iB").or_else(|| t.strip_suffix('B')).or_else(|| t.strip_suffix('i')).unwrap_or(t);
    let (digits, shift) = match t.char_indices().last()? {
        (i, 'K' | 'k') => (&t[..i], 10),
        (i, 'M' | 'm') => (&t[..i], 20),
        (i, 'G' | 'g') => (&t[..i], 30),
        (i, 'T' | 't') => (&t[..i], 40),
        _ => (t, 0),
    };
    let n: u64 = digits.parse().ok()?;
    let bytes = n.checked_mul(1u64 << shift)?;
    (bytes > 0).then_some(bytes)
}

/// `prefix.key`, or just `key` at the top level.
fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { quote_key(key) } else { format!("{prefix}.{}", quote_key(key)) }
}

/// Quotes a key for messages when it is not a plain identifier.
fn quote_key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        format!("{k:?}")
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

/// The result of reading an optional field: absent is fine (`Some(None)`),
/// present but wrong is a reported error (`None`).
fn optional<T>(read: Option<Option<T>>) -> Option<Option<T>> {
    match read {
        None => Some(None),
        Some(None) => None,
        Some(Some(v)) => Some(Some(v)),
    }
}
