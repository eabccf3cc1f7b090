//! Writes an input model back as args.nix, for `bimanix convert`.
//!
//! The text is canonical: two-space indentation, one field per line in the
//! order of the README's table, annotations in urunc's order, strings
//! escaped so that Nix (and `nixeval`) reads back exactly the same
//! characters (`"`, `\`, `${`, CR, LF and tab escaped). `files` is written
//! in the list form, which keeps the order, allows the same source twice
//! and carries `fromImage`. Paths are Nix path literals relative to the
//! directory the args file goes to, or the same relative paths as strings
//! when a path literal cannot spell them. `env` is a list, so its order is
//! kept.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::model::spec::{FileSpec, FsType, LayerMode, RootfsSpec, RootfsType, Spec};
use crate::model::urunc;

/// The args.nix text for `spec`, with paths relative to `dir` (the
/// directory the file will be in). `header` lines become comments on top.
pub fn write(spec: &Spec, dir: &Path, header: &[String]) -> Result<String> {
    let mut w = Writer { out: String::new(), dir: dir.to_path_buf() };
    for line in header {
        w.out.push_str(&format!("# {line}\n"));
    }
    w.out.push_str("{\n");
    w.field(1, "name", &string(&spec.name)?);
    w.field(1, "tag", &string(&spec.tag)?);
    if let Some(urunc) = &spec.urunc {
        w.field(1, "urunc", &string(urunc)?);
    }
    if let Some(from) = &spec.from_image {
        w.field(1, "fromImage", &w.path(from)?);
    }
    if !spec.files.is_empty() {
        w.files(1, &spec.files)?;
    }
    w.annotations(spec)?;
    w.list_field(1, "entrypoint", spec.entrypoint.as_deref())?;
    w.list_field(1, "cmd", spec.cmd.as_deref())?;
    if !spec.env.is_empty() {
        w.list_field(1, "env", Some(&spec.env))?;
    }
    if let Some(wd) = &spec.working_dir {
        w.field(1, "workingDir", &string(wd)?);
    }
    if !spec.labels.is_empty() {
        w.open(1, "labels", "{");
        for (k, v) in &spec.labels {
            w.field(2, &attr_name(k)?, &string(v)?);
        }
        w.close(1, "};");
    }
    if let Some(arch) = &spec.architecture {
        w.field(1, "architecture", &string(arch)?);
    }
    if let Some(t) = spec.created {
        w.field(1, "created", &string(&crate::model::time::format_rfc3339(t))?);
    }
    if let Some(rootfs) = &spec.rootfs {
        w.rootfs(rootfs)?;
    }
    if spec.layers != LayerMode::default() {
        w.field(1, "layers", &string(spec.layers.name())?);
    }
    if let Some(compression) = spec.compression {
        w.field(1, "compression", &string(compression.name())?);
    }
    w.out.push_str("}\n");
    Ok(w.out)
}

struct Writer {
    out: String,
    dir: PathBuf,
}

impl Writer {
    fn indent(&mut self, depth: usize) {
        self.out.push_str(&"  ".repeat(depth));
    }

    fn field(&mut self, depth: usize, name: &str, value: &str) {
        self.indent(depth);
        let _ = writeln!(self.out, "{name} = {value};");
    }

    fn open(&mut self, depth: usize, name: &str, bracket: &str) {
        self.indent(depth);
        let _ = writeln!(self.out, "{name} = {bracket}");
    }

    fn close(&mut self, depth: usize, bracket: &str) {
        self.indent(depth);
        let _ = writeln!(self.out, "{bracket}");
    }

    fn list_field(&mut self, depth: usize, name: &str, items: Option<&[String]>) -> Result<()> {
        let Some(items) = items else { return Ok(()) };
        let words: Vec<String> = items.iter().map(|s| string(s)).collect::<Result<_>>()?;
        let one_line = format!("[ {} ]", words.join(" "));
        if items.is_empty() {
            self.field(depth, name, "[ ]");
        } else if one_line.len() + name.len() + 2 * depth <= 100 {
            self.field(depth, name, &one_line);
        } else {
            self.open(depth, name, "[");
            for word in words {
                self.indent(depth + 1);
                let _ = writeln!(self.out, "{word}");
            }
            self.close(depth, "];");
        }
        Ok(())
    }

    fn files(&mut self, depth: usize, files: &[FileSpec]) -> Result<()> {
        self.open(depth, "files", "[");
        for f in files {
            let mut parts = Vec::new();
            match &f.from_image {
                Some(image) => {
                    parts.push(format!("fromImage = {};", self.path(image)?));
                    if let Some(arch) = &f.architecture {
                        parts.push(format!("architecture = {};", string(arch)?));
                    }
                    parts.push(format!("source = {};", string(utf8(&f.source)?)?));
                }
                None => parts.push(format!("source = {};", self.path(&f.source)?)),
            }
            parts.push(format!("target = {};", string(&f.target)?));
            if let Some(mode) = f.mode {
                parts.push(format!("mode = \"{mode:04o}\";"));
            }
            self.indent(depth + 1);
            let _ = writeln!(self.out, "{{ {} }}", parts.join(" "));
        }
        self.close(depth, "];");
        Ok(())
    }

    fn annotations(&mut self, spec: &Spec) -> Result<()> {
        self.open(1, "annotations", "{");
        for key in urunc::KEYS {
            if let Some(v) = spec.annotations.get(*key) {
                self.field(2, key, &string(v)?);
            }
        }
        for (k, v) in spec.annotations.iter().filter(|(k, _)| !urunc::KEYS.contains(&k.as_str())) {
            self.field(2, &attr_name(k)?, &string(v)?);
        }
        self.close(1, "};");
        Ok(())
    }

    fn rootfs(&mut self, rootfs: &RootfsSpec) -> Result<()> {
        self.open(1, "rootfs", "{");
        let kind = match rootfs.kind {
            RootfsType::Initrd => "initrd",
            RootfsType::Block => "block",
        };
        self.field(2, "type", &string(kind)?);
        self.field(2, "target", &string(&rootfs.target)?);
        if let Some(from) = &rootfs.from_image {
            self.field(2, "fromImage", &self.path(from)?);
        }
        if !rootfs.files.is_empty() {
            self.files(2, &rootfs.files)?;
        }
        if rootfs.kind == RootfsType::Block {
            if rootfs.fs_type == FsType::Ext4 {
                self.field(2, "fsType", "\"ext4\"");
            }
            if let Some(size) = rootfs.size {
                self.field(2, "size", &size.to_string());
            }
        }
        self.close(1, "};");
        Ok(())
    }

    /// A host path as a Nix path literal relative to the output directory
    /// (absolute when it is not below the output directory's parent chain
    /// in a way a literal can say). A name no path literal can spell (a
    /// space, `@`, a quote) is written as the same path in a string, which
    /// the args reader (and the Nix side) resolve against the args file's
    /// directory just as they do a literal.
    fn path(&self, p: &Path) -> Result<String> {
        let text = match relative(p, &self.dir) {
            Some(r) if r.starts_with("..") => utf8(&r)?.to_string(),
            Some(r) => format!("./{}", utf8(&r)?),
            None => utf8(p)?.to_string(),
        };
        if path_literal_ok(&text) { Ok(text) } else { string(&text) }
    }
}

/// `p` as text: an args file is UTF-8, so a name that is not cannot be
/// written into one (a lossy spelling would name another file).
fn utf8(p: &Path) -> Result<&str> {
    p.to_str().with_context(|| format!("{}: the name is not UTF-8, which an args file cannot spell", p.display()))
}

/// `p` relative to `dir`, both absolute and clean, with `..` steps up.
fn relative(p: &Path, dir: &Path) -> Option<PathBuf> {
    let p: Vec<Component> = p.components().collect();
    let d: Vec<Component> = dir.components().collect();
    let common = p.iter().zip(&d).take_while(|(a, b)| a == b).count();
    // Sharing only the root, an absolute literal reads better.
    if common <= 1 {
        return None;
    }
    let ups = d.len() - common;
    // Far outside the directory, an absolute literal reads better.
    if ups > 2 || p.len() == common {
        return None;
    }
    let mut out = PathBuf::new();
    for _ in 0..ups {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    Some(out)
}

/// Whether Nix reads `s` as one path literal: `[A-Za-z0-9._+-]` in each
/// of at least two components, no empty ones, no trailing slash, and none
/// longer than the args reader takes in a row outside a string.
fn path_literal_ok(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('/').or_else(|| s.strip_prefix("./")).or_else(|| s.strip_prefix("../")) else {
        return false;
    };
    !rest.is_empty()
        && rest.split('/').all(|c| {
            !c.is_empty()
                && c.len() <= super::nixeval::MAX_RUN
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
        })
}

/// A Nix string literal that reads back as exactly `s`.
pub fn string(s: &str) -> Result<String> {
    if s.contains('\0') {
        bail!("{s:?} holds a NUL character, which a Nix string cannot hold");
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// An attribute name: bare when Nix reads it as one identifier, else quoted.
fn attr_name(k: &str) -> Result<String> {
    const KEYWORDS: &[&str] = &["if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or"];
    let mut chars = k.chars();
    let bare = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '\'' | '-'))
        && !KEYWORDS.contains(&k);
    if bare { Ok(k.to_string()) } else { string(k) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::args::{self, Syntax};
    use crate::model::spec::Locations;
    use std::os::unix::ffi::OsStrExt;

    fn file(source: &str, from_image: Option<&str>, target: &str, mode: Option<u32>) -> FileSpec {
        let from_image = from_image.map(PathBuf::from);
        FileSpec {
            source: source.into(),
            from_image,
            architecture: None,
            target: target.into(),
            mode,
            key: String::new(),
        }
    }

    /// A spec with every field set, and strings Nix reads specially.
    fn full_spec(dir: &Path) -> Spec {
        let d = |p: &str| dir.join(p).display().to_string();
        let tricky = "q\"uote back\\slash ${not} $alone $${x} tab\tcr\rnl\n é";
        Spec {
            name: "ghcr.io/me/app".into(),
            tag: "v1.2".into(),
            files: vec![
                file(&d("k"), None, "/kernel", None),
                file(&d("k"), None, "/again", Some(0o600)),
                file(&d("with space"), None, "/s", None),
                file("/urunit", Some(&d("img.tar")), "/urunit", Some(0o755)),
                FileSpec { architecture: Some("arm64".into()), ..file("/k", Some(&d("multi.tar")), "/k2", None) },
            ],
            annotations: [
                ("unikernelType", "linux"),
                ("hypervisor", "qemu"),
                ("binary", "/kernel"),
                ("cmdline", tricky),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            entrypoint: Some(vec!["/init".into(), tricky.into()]),
            cmd: Some(vec![]),
            env: vec!["Z=1".into(), format!("A={tricky}")],
            working_dir: Some("/w".into()),
            labels: [("org.example.x", tricky), ("in", "kw"), ("plain", "")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            architecture: Some("arm64".into()),
            created: Some(1_700_000_000),
            rootfs: Some(RootfsSpec {
                kind: RootfsType::Block,
                target: "/.boot/rootfs".into(),
                files: vec![file(&d("r"), None, "/", None)],
                from_image: Some(PathBuf::from("/elsewhere/base.tar")),
                fs_type: FsType::Ext4,
                size: Some(1 << 30),
            }),
            from_image: Some(dir.join("base.tar")),
            urunc: Some("0.6-main".into()),
            layers: LayerMode::Single,
            compression: Some(crate::model::oci::Compression::Zstd),
            locations: Locations::default(),
        }
    }

    /// The spec without what only says where things stood.
    fn comparable(mut spec: Spec) -> Spec {
        spec.locations = Locations::default();
        for f in spec.files.iter_mut().chain(spec.rootfs.iter_mut().flat_map(|r| r.files.iter_mut())) {
            f.key = String::new();
        }
        spec
    }

    #[test]
    fn the_args_reader_reads_back_exactly_the_spec_written() {
        let dir = tempfile::tempdir().unwrap();
        let spec = full_spec(dir.path());
        let text = write(&spec, dir.path(), &["a header".to_string()]).unwrap();
        let path = dir.path().join("args.nix");
        std::fs::write(&path, &text).unwrap();
        let read = args::read(&path, Syntax::Nix).unwrap_or_else(|e| panic!("{e:#}\n{text}"));
        assert_eq!(comparable(read), comparable(spec), "{text}");
        assert!(text.starts_with("# a header\n{\n  name = \"ghcr.io/me/app\";\n"), "{text}");
    }

    #[test]
    fn strings_escape_what_nix_would_read_otherwise() {
        assert_eq!(string("plain").unwrap(), "\"plain\"");
        assert_eq!(string("a\"b\\c").unwrap(), "\"a\\\"b\\\\c\"");
        assert_eq!(string("${HOME} $x $$ $").unwrap(), "\"\\${HOME} $x $$ $\"");
        assert_eq!(string("l1\nl2\r\t").unwrap(), "\"l1\\nl2\\r\\t\"");
        assert!(string("nul\0").is_err());
    }

    #[test]
    fn attribute_names_are_quoted_unless_plain_identifiers() {
        assert_eq!(attr_name("binary").unwrap(), "binary");
        assert_eq!(attr_name("org.opencontainers.image.title").unwrap(), "\"org.opencontainers.image.title\"");
        assert_eq!(attr_name("in").unwrap(), "\"in\"");
        assert_eq!(attr_name("1x").unwrap(), "\"1x\"");
        assert_eq!(attr_name("").unwrap(), "\"\"");
    }

    #[test]
    fn paths_are_literals_relative_to_the_directory_when_they_can_be() {
        let w = Writer { out: String::new(), dir: PathBuf::from("/ctx/sub") };
        assert_eq!(w.path(Path::new("/ctx/sub/a.hvt")).unwrap(), "./a.hvt");
        assert_eq!(w.path(Path::new("/ctx/sub/d/b+c_1-2")).unwrap(), "./d/b+c_1-2");
        assert_eq!(w.path(Path::new("/ctx/other/k")).unwrap(), "../other/k");
        assert_eq!(w.path(Path::new("/elsewhere/deep/k")).unwrap(), "/elsewhere/deep/k");
        assert_eq!(w.path(Path::new("/ctx/sub/with space")).unwrap(), "\"./with space\"");
        assert_eq!(w.path(Path::new("/ctx/a@b")).unwrap(), "\"../a@b\"");
        assert_eq!(w.path(Path::new("/ctx/sub/q\"${x}")).unwrap(), "\"./q\\\"\\${x}\"");
        assert_eq!(w.path(Path::new("/elsewhere/deep/with space")).unwrap(), "\"/elsewhere/deep/with space\"");
        assert_eq!(w.path(Path::new("/ctx/sub")).unwrap(), "/ctx/sub");
        let long = format!("/ctx/sub/{}", "h".repeat(1025));
        assert_eq!(
            w.path(Path::new(&long)).unwrap(),
            format!("\"./{}\"", "h".repeat(1025)),
            "too long a run for a literal"
        );
        let latin1 = std::ffi::OsStr::from_bytes(b"/ctx/sub/caf\xe9");
        let e = w.path(Path::new(latin1)).unwrap_err().to_string();
        assert!(e.contains("is not UTF-8, which an args file cannot spell"), "{e}");
    }
}
