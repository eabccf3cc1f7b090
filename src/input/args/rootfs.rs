//! `rootfs`: a root filesystem image to generate, and its size.

use super::reader::{Reader, optional};
use super::{DEFAULT_ROOTFS_TARGET, ROOTFS_FIELDS};
use crate::model::spec::{FsType, RootfsSpec, RootfsType};
use crate::model::value::{Kind, Value};

impl Reader {
    pub(super) fn rootfs(&mut self, v: &Value) -> Option<RootfsSpec> {
        let Kind::Attrs(attrs) = &v.kind else {
            self.err("rootfs", v.pos, format_args!("must be an attribute set, not {}", v.kind.type_name()));
            return None;
        };
        self.note_keys("rootfs", attrs);
        self.unknown_keys("rootfs", attrs, ROOTFS_FIELDS);
        let get = |k: &str| attrs.get(k).map(|f| &f.value);
        let kind = self.rootfs_type(v, get("type"));
        let target =
            get("target").map(|t| self.string("rootfs.target", t)).unwrap_or(Some(DEFAULT_ROOTFS_TARGET.to_string()));
        let files = get("files").map(|f| self.files("rootfs.files", f)).unwrap_or(Some(Vec::new()));
        let from_image = optional(get("fromImage").map(|f| self.path("rootfs.fromImage", f)));
        let fs_type = self.fs_type(get("fsType"));
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

    /// `rootfs.type`, required: `"initrd"` or `"block"`; `v` is the rootfs
    /// set, for the position of a missing type.
    fn rootfs_type(&mut self, v: &Value, given: Option<&Value>) -> Option<RootfsType> {
        let Some(given) = given else {
            self.err("rootfs.type", v.pos, "missing; use \"initrd\" or \"block\"");
            return None;
        };
        match self.string("rootfs.type", given)?.as_str() {
            "initrd" => Some(RootfsType::Initrd),
            "block" => Some(RootfsType::Block),
            t => {
                self.err(
                    "rootfs.type",
                    given.pos,
                    format_args!("{t:?} is not a rootfs type; use \"initrd\" or \"block\""),
                );
                None
            }
        }
    }

    /// `rootfs.fsType`: `"ext2"` (the default) or `"ext4"`.
    fn fs_type(&mut self, given: Option<&Value>) -> Option<FsType> {
        let Some(given) = given else { return Some(FsType::Ext2) };
        match self.string("rootfs.fsType", given)?.as_str() {
            "ext2" => Some(FsType::Ext2),
            "ext4" => Some(FsType::Ext4),
            other => {
                self.err(
                    "rootfs.fsType",
                    given.pos,
                    format_args!("{other:?} is not supported; use \"ext2\" or \"ext4\""),
                );
                None
            }
        }
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
