//! The reader's state and shared helpers (errors with positions, unknown
//! keys, strings, paths), and the top level of an args file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{FIELDS, clean};
use crate::model::diagnostic::{Diagnostic, split_help};
use crate::model::spec::{LayerMode, Locations, Spec};
use crate::model::value::{Field, Kind, Pos, Value};
use crate::rules::suggest::did_you_mean;

pub(super) struct Reader {
    pub(super) loc: Locations,
    pub(super) base: PathBuf,
    pub(super) errors: Vec<Diagnostic>,
}

impl Reader {
    /// Records an error about the value at `key`, positioned at the value.
    pub(super) fn err(&mut self, key: &str, pos: Option<Pos>, msg: impl std::fmt::Display) {
        let (msg, help) = split_help(&msg.to_string());
        let pos = pos.or_else(|| self.loc.pos(key));
        self.errors.push(Diagnostic::new(&self.loc.file, pos, format_args!("{key}: {msg}")).help(help));
    }

    /// Records the positions of an attribute set's keys under `prefix`.
    pub(super) fn note_keys(&mut self, prefix: &str, attrs: &BTreeMap<String, Field>) {
        for (k, f) in attrs {
            if let Some(p) = f.key_pos {
                self.loc.keys.insert(join(prefix, k), p);
            }
        }
    }

    /// Reports keys not in `allowed`, with a suggestion.
    pub(super) fn unknown_keys(&mut self, prefix: &str, attrs: &BTreeMap<String, Field>, allowed: &[&str]) {
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

    pub(super) fn spec(&mut self, v: &Value) -> Option<Spec> {
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
        let layers = get("layers").map(|l| self.layer_mode(l)).unwrap_or(Some(LayerMode::Auto));
        let compression = get("compression").map(|c| self.compression(c));
        let urunc = get("urunc").map(|u| self.urunc(u));
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
            layers: layers?,
            compression: optional(compression)?,
            urunc: optional(urunc)?,
            locations: self.loc.clone(),
        })
    }

    pub(super) fn string(&mut self, key: &str, v: &Value) -> Option<String> {
        match &v.kind {
            Kind::Str(s) => Some(s.clone()),
            other => {
                self.err(key, v.pos, format_args!("must be a string, not {}", other.type_name()));
                None
            }
        }
    }

    pub(super) fn strings(&mut self, key: &str, v: &Value) -> Option<Vec<String>> {
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
    pub(super) fn path(&mut self, key: &str, v: &Value) -> Option<PathBuf> {
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
}

/// `prefix.key`, or just `key` at the top level.
pub(super) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { quote_key(key) } else { format!("{prefix}.{}", quote_key(key)) }
}

/// Quotes a key for messages when it is not a plain identifier.
pub(super) fn quote_key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

/// The result of reading an optional field: absent is fine (`Some(None)`),
/// present but wrong is a reported error (`None`).
pub(super) fn optional<T>(read: Option<Option<T>>) -> Option<Option<T>> {
    match read {
        None => Some(None),
        Some(None) => None,
        Some(Some(v)) => Some(Some(v)),
    }
}
