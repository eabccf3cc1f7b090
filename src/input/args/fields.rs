//! The image config fields: `annotations`, `env`, `labels`, `created`; the
//! urunc versions the image targets (`urunc`); and the two choices of how
//! the image is written, `layers` and `compression`.

use std::collections::BTreeMap;

use super::reader::{Reader, quote_key};
use crate::model::oci::Compression;
use crate::model::spec::LayerMode;
use crate::model::urunc;
use crate::model::value::{Kind, Pos, Value};
use crate::rules::suggest::did_you_mean;
use crate::rules::versions::Targets;

impl Reader {
    pub(super) fn annotations(&mut self, v: &Value) -> Option<BTreeMap<String, String>> {
        let Kind::Attrs(attrs) = &v.kind else {
            self.err("annotations", v.pos, format_args!("must be an attribute set, not {}", v.kind.type_name()));
            return None;
        };
        self.note_keys("annotations", attrs);
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, f) in attrs {
            let key = format!("annotations.{}", quote_key(k));
            if let Some(why) = urunc::runtime_only(k) {
                self.err(&key, f.key_pos, format_args!("{why}"));
                ok = false;
                continue;
            }
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

    pub(super) fn env(&mut self, v: &Value) -> Option<Vec<String>> {
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

    pub(super) fn labels(&mut self, v: &Value) -> Option<BTreeMap<String, String>> {
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

    /// `urunc = "0.8";`: the versions the image must work on.
    pub(super) fn urunc(&mut self, v: &Value) -> Option<String> {
        let text = self.string("urunc", v)?;
        match Targets::parse(&text) {
            Ok(_) => Some(text),
            Err(e) => {
                self.err("urunc", v.pos, e);
                None
            }
        }
    }

    pub(super) fn created(&mut self, v: &Value) -> Option<i64> {
        let s = self.string("created", v)?;
        match crate::model::time::parse_rfc3339(&s) {
            Ok(t) => Some(t),
            Err(e) => {
                self.err("created", v.pos, e);
                None
            }
        }
    }

    pub(super) fn layer_mode(&mut self, v: &Value) -> Option<LayerMode> {
        let names = LayerMode::ALL.map(LayerMode::name);
        let name = self.choice("layers", v, &names)?;
        LayerMode::ALL.into_iter().find(|m| m.name() == name)
    }

    pub(super) fn compression(&mut self, v: &Value) -> Option<Compression> {
        let names = Compression::ALL.map(Compression::name);
        Compression::parse(&self.choice("compression", v, &names)?)
    }

    /// A string that must be one of `allowed`.
    fn choice(&mut self, key: &str, v: &Value, allowed: &[&str]) -> Option<String> {
        let s = self.string(key, v)?;
        if allowed.contains(&s.as_str()) {
            return Some(s);
        }
        let hint = match did_you_mean(&s, allowed) {
            Some(m) => format!("; did you mean {m:?}?"),
            None => String::new(),
        };
        let quoted: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
        self.err(key, v.pos, format_args!("unknown value {s:?}; allowed: {}{hint}", quoted.join(", ")));
        None
    }
}
