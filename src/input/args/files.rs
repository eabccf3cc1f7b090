//! `files` (and `rootfs.files`): the attribute set `source = target` (or
//! `{ target; mode; }`) and the list of `{ source; target; mode; }`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::clean;
use super::reader::{Reader, quote_key};
use crate::model::spec::FileSpec;
use crate::model::value::{Field, Kind, Value};

impl Reader {
    /// `files`: an attribute set `source = target` (or `{ target; mode; }`),
    /// or a list of `{ source; target; mode; }`.
    pub(super) fn files(&mut self, key: &str, v: &Value) -> Option<Vec<FileSpec>> {
        let entries: Vec<Option<FileSpec>> = match &v.kind {
            Kind::Attrs(attrs) => {
                self.note_keys(key, attrs);
                attrs.iter().map(|(src, f)| self.file_from_attr(key, src, f)).collect()
            }
            Kind::List(items) => items.iter().enumerate().map(|(i, item)| self.file_from_list(key, i, item)).collect(),
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
        };
        // Every entry is read, so that all problems are reported together.
        entries.into_iter().collect()
    }

    /// One `"./source" = "/target";` (or `= { target; mode; };`) entry.
    fn file_from_attr(&mut self, key: &str, src: &str, f: &Field) -> Option<FileSpec> {
        let entry_key = format!("{key}.{}", quote_key(src));
        let source = clean(&self.base.join(src));
        let (target, mode) = self.target_and_mode(&entry_key, &f.value)?;
        Some(FileSpec { source, from_image: None, architecture: None, target, mode, key: entry_key })
    }

    /// One `{ source; target; mode; }` entry of the list form; with
    /// `fromImage`, `source` is an absolute path inside that image, and
    /// `architecture` may pick the image of a multi-platform archive.
    fn file_from_list(&mut self, key: &str, i: usize, item: &Value) -> Option<FileSpec> {
        let entry_key = format!("{key}[{i}]");
        let Kind::Attrs(attrs) = &item.kind else {
            self.err(&entry_key, item.pos, "must be { source = ...; target = \"/...\"; }");
            return None;
        };
        // Messages about the entry as a whole (its source cannot be read, its image cannot be opened) point at it.
        if let Some(pos) = item.pos {
            self.loc.keys.insert(entry_key.clone(), pos);
        }
        self.note_keys(&entry_key, attrs);
        self.unknown_keys(&entry_key, attrs, &["source", "target", "mode", "fromImage", "architecture"]);
        let from_image = match attrs.get("fromImage") {
            Some(f) => Some(self.path(&format!("{entry_key}.fromImage"), &f.value)?),
            None => None,
        };
        let source = match (attrs.get("source"), &from_image) {
            (Some(f), Some(_)) => self.image_path(&format!("{entry_key}.source"), &f.value),
            (Some(f), _) => self.path(&format!("{entry_key}.source"), &f.value),
            (None, _) => {
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
        let architecture = match (attrs.get("architecture"), &from_image) {
            (None, _) => Some(None),
            (Some(f), Some(_)) => self.image_architecture(&format!("{entry_key}.architecture"), &f.value).map(Some),
            (Some(f), _) => {
                let at = format!("{entry_key}.architecture");
                self.err(
                    &at,
                    f.value.pos,
                    "picks the image of a multi-platform fromImage; this entry has no fromImage",
                );
                None
            }
        };
        Some(FileSpec {
            source: source?,
            from_image,
            architecture: architecture?,
            target: target?,
            mode: mode?,
            key: entry_key,
        })
    }

    /// The `architecture` of an entry with `fromImage`: one bimanix knows.
    fn image_architecture(&mut self, key: &str, v: &Value) -> Option<String> {
        let arch = self.string(key, v)?;
        if !crate::rules::arch::KNOWN.contains(&arch.as_str()) {
            let known = crate::rules::arch::KNOWN.join(", ");
            self.err(key, v.pos, format_args!("unknown architecture {arch:?}; bimanix knows {known}"));
            return None;
        }
        Some(arch)
    }

    /// The `source` of an entry with `fromImage`: an absolute path in that image.
    fn image_path(&mut self, key: &str, v: &Value) -> Option<PathBuf> {
        match &v.kind {
            Kind::Str(s) if s.starts_with('/') => Some(clean(Path::new(s))),
            _ => {
                self.err(
                    key,
                    v.pos,
                    "with fromImage, must be an absolute path in that image as a string, e.g. \"/urunit\"",
                );
                None
            }
        }
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
            Kind::Str(s) => match crate::input::octal_mode(s) {
                Some(m) => Some(Some(m)),
                None => {
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
}
