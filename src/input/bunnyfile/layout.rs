//! `kernel` and `rootfs`: where each comes from, and where it goes in the
//! image, following bunny's table (which image is the base, what is copied
//! to `/.boot/kernel` and `/.boot/rootfs`, which annotations say so).

use std::path::{Path, PathBuf};

use super::{Fields, Reader};
use crate::input::args::DEFAULT_ROOTFS_TARGET;
use crate::input::context;
use crate::input::foreign::{image_path, normalize};
use crate::model::spec::{FileSpec, FsType, RootfsSpec, RootfsType};
use crate::model::value::{Kind, Pos, Value};
use crate::rules::suggest::did_you_mean;

/// Where bunny puts a kernel it copies.
const KERNEL_PATH: &str = "/.boot/kernel";

/// Where something comes from: the build context or an image archive.
#[derive(Clone, Debug)]
pub(super) enum Origin {
    Local,
    /// The reference as written and the archive `--base` gives it.
    Image(String, PathBuf),
}

/// The `kernel` mapping, read.
pub(super) struct Kernel {
    origin: Origin,
    path: String,
    path_pos: Pos,
    from_pos: Pos,
}

/// The rootfs types bunny knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Type {
    Initrd,
    Block,
    Raw,
}

/// The `rootfs` mapping, read.
pub(super) struct Rootfs {
    /// `None` for `scratch`.
    origin: Option<Origin>,
    from_pos: Pos,
    path: Option<(String, Pos)>,
    kind: Type,
    type_pos: Pos,
    includes: Vec<FileSpec>,
    pos: Pos,
}

impl Reader {
    /// `from` as an origin: `local`, or an image reference `--base` gives
    /// an archive for.
    fn origin(&mut self, key: &str, from: &str, pos: Pos) -> Option<Origin> {
        if from == "local" {
            return Some(Origin::Local);
        }
        match self.bases.archive(from) {
            Ok(archive) => Some(Origin::Image(from.to_string(), archive)),
            Err(e) => {
                self.err(key, Some(pos), e);
                None
            }
        }
    }

    pub(super) fn kernel(&mut self, v: &Value) -> Option<Kernel> {
        let map = self.map("kernel", v, &["from", "path"])?;
        let from = self.required("kernel", map, "from", v.pos);
        let path = self.required("kernel", map, "path", v.pos);
        let (from, from_pos) = from?;
        let origin = self.origin("kernel.from", &from, from_pos)?;
        let (path, path_pos) = path?;
        Some(Kernel { origin, path, path_pos, from_pos })
    }

    pub(super) fn rootfs(&mut self, v: &Value, framework: &str) -> Option<Rootfs> {
        let map = self.map("rootfs", v, &["from", "path", "type", "include"])?;
        let pos = v.pos.unwrap_or(Pos { line: 1, col: 1 });
        let (from, from_pos) =
            self.string("rootfs", map, "from").filter(|(s, _)| !s.is_empty()).unwrap_or(("scratch".into(), pos));
        let path = self.string("rootfs", map, "path").filter(|(s, _)| !s.is_empty());
        let origin = if from == "scratch" { None } else { Some(self.origin("rootfs.from", &from, from_pos)?) };
        let (kind, type_pos) = self.rootfs_type(map, framework, path.is_some(), pos)?;
        let includes = match map.get("include") {
            Some(f) => self.includes(&f.value)?,
            None => Vec::new(),
        };
        let rootfs = Rootfs { origin, from_pos, path, kind, type_pos, includes, pos };
        self.rootfs_rules(&rootfs).then_some(rootfs)
    }

    /// `rootfs.type`, or the framework's default as bunny has it: initrd
    /// for unikraft, raw for the others. A file given by `path` with no
    /// type would be a raw rootfs that ignores the file, so its type must
    /// be written.
    fn rootfs_type(&mut self, map: Fields, framework: &str, has_path: bool, pos: Pos) -> Option<(Type, Pos)> {
        let Some((t, type_pos)) = self.string("rootfs", map, "type").filter(|(s, _)| !s.is_empty()) else {
            if framework == "unikraft" {
                return Some((Type::Initrd, pos));
            }
            if has_path {
                self.err("rootfs.type", Some(pos), "missing; say what rootfs.path holds: type: initrd or type: block (bunny would take it as raw and ignore the file)");
                return None;
            }
            return Some((Type::Raw, pos));
        };
        match t.as_str() {
            "initrd" => Some((Type::Initrd, type_pos)),
            "block" => Some((Type::Block, type_pos)),
            "raw" => Some((Type::Raw, type_pos)),
            other => {
                let hint = did_you_mean(other, &["initrd", "block", "raw"])
                    .map_or(String::new(), |s| format!("did you mean {s}? "));
                self.err(
                    "rootfs.type",
                    Some(type_pos),
                    format_args!("{other:?} is not a rootfs type; {hint}use initrd, block or raw"),
                );
                None
            }
        }
    }

    /// bunny's rules for a rootfs, with bimanix's extensions: `include` on
    /// an image rootfs works for every type.
    fn rootfs_rules(&mut self, r: &Rootfs) -> bool {
        let problem = match (&r.origin, &r.path, r.kind) {
            (None, Some(_), _) => {
                Some(("rootfs.path", "with from: scratch there is no file to name; use from: local or an image"))
            }
            (_, Some(_), Type::Raw) => {
                Some(("rootfs.path", "a raw rootfs is a whole image; drop path, or use type: initrd or block"))
            }
            (Some(Origin::Local), _, Type::Raw) => {
                Some(("rootfs.type", "a raw rootfs cannot come from local; name an image in from"))
            }
            (Some(Origin::Local), None, _) => Some(("rootfs.path", "is required with from: local")),
            (Some(Origin::Local), Some(_), _) if !r.includes.is_empty() => Some((
                "rootfs.include",
                "cannot add files to a local rootfs file; build it with them, or use from: scratch",
            )),
            (Some(Origin::Image(..)), Some(_), _) if !r.includes.is_empty() => Some((
                "rootfs.include",
                "cannot add files to a rootfs file inside an image; drop path so bimanix builds the rootfs from the image",
            )),
            (None, None, _) if r.includes.is_empty() => Some((
                "rootfs",
                "from: scratch with nothing to include is no rootfs; add include entries, or remove rootfs",
            )),
            _ => None,
        };
        if let Some((key, msg)) = problem {
            let pos = match key {
                "rootfs.path" => r.path.as_ref().map(|p| p.1),
                "rootfs.type" => Some(r.type_pos),
                _ => Some(r.pos),
            };
            self.err(key, pos, msg);
        }
        problem.is_none()
    }

    /// `rootfs.include`: `"src:dst"` strings and `{from, source, destination}` mappings.
    fn includes(&mut self, v: &Value) -> Option<Vec<FileSpec>> {
        let Kind::List(items) = &v.kind else {
            self.err(
                "rootfs.include",
                v.pos,
                "must be a list of \"source:destination\" or { source, destination, from }",
            );
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let key = format!("rootfs.include[{i}]");
            let pos = item.pos.unwrap_or(Pos { line: 1, col: 1 });
            self.loc.keys.insert(key.clone(), pos);
            if let Some(f) = self.include(&key, item, pos) {
                out.push(f);
            }
        }
        (out.len() == items.len()).then_some(out)
    }

    fn include(&mut self, key: &str, item: &Value, pos: Pos) -> Option<FileSpec> {
        let (origin, source, target) = match &item.kind {
            Kind::Str(s) => {
                let (src, dst) = s.split_once(':').unwrap_or((s, ""));
                let dst = if dst.is_empty() { src } else { dst };
                (Origin::Local, src.to_string(), dst.to_string())
            }
            Kind::Attrs(_) => {
                let map = self.map(key, item, &["from", "source", "destination"])?;
                let origin = match self.string(key, map, "from").filter(|(s, _)| !s.is_empty()) {
                    Some((from, at)) => self.origin(&format!("{key}.from"), &from, at)?,
                    None => Origin::Local,
                };
                let source = self.required(key, map, "source", Some(pos))?.0;
                let target = self.required(key, map, "destination", Some(pos))?.0;
                (origin, source, target)
            }
            other => {
                self.err(
                    key,
                    Some(pos),
                    format_args!(
                        "must be \"source:destination\" or {{ source, destination, from }}, not {}",
                        other.type_name()
                    ),
                );
                return None;
            }
        };
        if source.is_empty() {
            self.err(key, Some(pos), "the source is empty");
            return None;
        }
        let target = image_path("/", &target);
        let (source, from_image) = match origin {
            Origin::Local => (self.local(key, pos, &source)?, None),
            Origin::Image(_, archive) => (PathBuf::from(image_path("/", &source)), Some(archive)),
        };
        Some(FileSpec { source, from_image, architecture: None, target, mode: None, key: key.to_string() })
    }

    /// A `from: local` path: relative to the build context and resolved
    /// inside it (see `input::context`), so that nothing outside the
    /// context reaches the image.
    fn local(&mut self, key: &str, pos: Pos, path: &str) -> Option<PathBuf> {
        let context = self.context.display().to_string();
        if path.starts_with('/') {
            let msg = format!("{path} is an absolute path; a local path is relative to the build context {context}");
            self.err(key, Some(pos), msg);
            return None;
        }
        if context::climbs_out(path) {
            self.err(key, Some(pos), format_args!("{path} is outside the build context {context}"));
            return None;
        }
        match context::resolve(&self.context, Path::new(path)) {
            Ok(r) if r.via_link && !r.host.exists() => {
                self.err(key, Some(pos), r.missing(path));
                None
            }
            Ok(r) => Some(r.host),
            Err(e) => {
                self.err(key, Some(pos), format_args!("{path}: {e}"));
                None
            }
        }
    }

    /// Places the kernel and the rootfs in the spec and sets what urunc
    /// needs to find them.
    pub(super) fn place(&mut self, kernel: Kernel, rootfs: Option<Rootfs>, framework: &str) {
        let image_rootfs = rootfs.as_ref().and_then(|r| match &r.origin {
            Some(Origin::Image(reference, archive)) if r.kind == Type::Raw || r.path.is_some() => {
                Some((reference.clone(), archive.clone(), r.from_pos, "rootfs.from"))
            }
            _ => None,
        });
        let raw = rootfs.as_ref().is_some_and(|r| r.kind == Type::Raw);
        let base = match (&image_rootfs, &kernel.origin) {
            (Some(b), _) => Some(b.clone()),
            (None, Origin::Image(reference, archive)) if !raw => {
                Some((reference.clone(), archive.clone(), kernel.from_pos, "kernel.from"))
            }
            _ => None,
        };
        if let Some((_, archive, pos, field)) = &base {
            self.spec.from_image = Some(archive.clone());
            self.loc.keys.insert("fromImage".into(), *pos);
            self.loc.names.insert("fromImage".into(), field.to_string());
        }
        self.place_kernel(&kernel, base.as_ref().map(|b| b.0.as_str()));
        if let Some(r) = rootfs {
            self.place_rootfs(r, framework);
        }
    }

    /// The kernel: in place in the base image, else copied to `/.boot/kernel`.
    fn place_kernel(&mut self, kernel: &Kernel, base: Option<&str>) {
        let (binary, file) = match &kernel.origin {
            Origin::Image(reference, _) if base.is_some_and(|b| normalize(b) == normalize(reference)) => {
                (image_path("/", &kernel.path), None)
            }
            Origin::Image(_, archive) => {
                (KERNEL_PATH.to_string(), Some((PathBuf::from(image_path("/", &kernel.path)), Some(archive.clone()))))
            }
            Origin::Local => match self.local("kernel.path", kernel.path_pos, &kernel.path) {
                Some(source) => (KERNEL_PATH.to_string(), Some((source, None))),
                None => return,
            },
        };
        if let Some((source, from_image)) = file {
            self.loc.keys.insert("kernel.path".into(), kernel.path_pos);
            self.spec.files.push(FileSpec {
                source,
                from_image,
                architecture: None,
                target: KERNEL_PATH.into(),
                mode: None,
                key: "kernel.path".into(),
            });
        }
        self.annotate("binary", binary, kernel.path_pos, "kernel.path");
    }

    fn place_rootfs(&mut self, r: Rootfs, framework: &str) {
        for key in ["initrd", "block", "blkMntPoint", "mountRootfs"] {
            self.loc.keys.insert(format!("annotations.{key}"), r.type_pos);
            self.loc.names.insert(format!("annotations.{key}"), "rootfs.type".into());
        }
        let mount_point = if framework == "rumprun" { "/data" } else { "/" };
        match (&r.origin, r.path, r.kind) {
            (_, _, Type::Raw) => {
                self.spec.annotations.insert("mountRootfs".into(), "true".into());
                self.spec.files.extend(r.includes);
            }
            (Some(origin), Some((path, pos)), kind) => {
                let at = match origin {
                    Origin::Local => {
                        let Some(source) = self.local("rootfs.path", pos, &path) else { return };
                        self.loc.keys.insert("rootfs.path".into(), pos);
                        let f = FileSpec {
                            source,
                            from_image: None,
                            architecture: None,
                            target: DEFAULT_ROOTFS_TARGET.into(),
                            mode: None,
                            key: "rootfs.path".into(),
                        };
                        self.spec.files.push(f);
                        DEFAULT_ROOTFS_TARGET.to_string()
                    }
                    Origin::Image(..) => image_path("/", &path),
                };
                if kind == Type::Initrd {
                    self.spec.annotations.insert("initrd".into(), at);
                } else {
                    self.spec.annotations.insert("block".into(), at);
                    self.spec.annotations.insert("blkMntPoint".into(), mount_point.into());
                }
            }
            // No path: bimanix generates the rootfs (a path with scratch was refused).
            (origin, _, kind) => {
                let from_image = match origin {
                    Some(Origin::Image(_, archive)) => Some(archive.clone()),
                    _ => None,
                };
                self.loc.keys.insert("rootfs.type".into(), r.type_pos);
                self.loc.keys.insert("rootfs.fromImage".into(), r.from_pos);
                self.loc.names.insert("rootfs.fromImage".into(), "rootfs.from".into());
                self.loc.keys.insert("rootfs.target".into(), r.pos);
                self.loc.names.insert("rootfs.target".into(), "rootfs".into());
                self.spec.rootfs = Some(RootfsSpec {
                    kind: if kind == Type::Initrd { RootfsType::Initrd } else { RootfsType::Block },
                    target: DEFAULT_ROOTFS_TARGET.into(),
                    files: r.includes,
                    from_image,
                    fs_type: FsType::Ext2,
                    size: None,
                });
            }
        }
    }
}
