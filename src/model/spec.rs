//! The input model: what an args file asks for, after the reader has
//! checked its shape and types.
//!
//! Paths to sources are absolute; annotation keys are short (`binary`);
//! unset values are absent. `Locations` remembers where each key stood so
//! that later checks can point at `file:line:col`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::model::diagnostic::{Diagnostic, split_help};
use crate::model::oci::Compression;
use crate::model::value::Pos;

/// One image to build.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// Image name, e.g. `hello-rumprun` or `ghcr.io/me/hello`.
    pub name: String,
    /// Image tag.
    pub tag: String,
    /// Files to copy into the image's rootfs.
    pub files: Vec<FileSpec>,
    /// urunc annotations that are set: short key -> plain value.
    pub annotations: BTreeMap<String, String>,
    /// Image Entrypoint, when given.
    pub entrypoint: Option<Vec<String>>,
    /// Image Cmd, when given.
    pub cmd: Option<Vec<String>>,
    /// Environment, as `KEY=VALUE`.
    pub env: Vec<String>,
    /// Working directory.
    pub working_dir: Option<String>,
    /// Extra OCI labels.
    pub labels: BTreeMap<String, String>,
    /// Architecture given by the user, overriding detection.
    pub architecture: Option<String>,
    /// Creation time from the `created` field, seconds since the epoch.
    pub created: Option<i64>,
    /// A root filesystem image to generate into the image.
    pub rootfs: Option<RootfsSpec>,
    /// A base image whose layers and config the image builds on.
    pub from_image: Option<PathBuf>,
    /// How the image's files are cut into layers.
    pub layers: LayerMode,
    /// How layers are compressed, when the args file says.
    pub compression: Option<Compression>,
    /// The urunc versions the image must work on, as written (`0.8`,
    /// `0.6-main`); checked by the reader.
    pub urunc: Option<String>,
    /// Where things stood in the args file.
    pub locations: Locations,
}

/// How the image's own files are cut into layers (the `layers` field).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LayerMode {
    /// Each large artifact in a layer of its own, the rest in one top layer.
    #[default]
    Auto,
    /// Everything in one layer.
    Single,
}

impl LayerMode {
    /// Every mode, as documented.
    pub const ALL: [LayerMode; 2] = [LayerMode::Auto, LayerMode::Single];

    /// `auto` or `single`.
    pub fn name(self) -> &'static str {
        match self {
            LayerMode::Auto => "auto",
            LayerMode::Single => "single",
        }
    }
}

/// One `files` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct FileSpec {
    /// Absolute path of the source on the host (file, directory or link),
    /// or, with `from_image`, the absolute path inside that image.
    pub source: PathBuf,
    /// An image archive (or OCI layout) to copy `source` out of, as
    /// `COPY --from` does; `None` for a host file.
    pub from_image: Option<PathBuf>,
    /// With `from_image`: the architecture of the image to copy out of
    /// when the archive holds several platforms (`COPY --from` a stage with
    /// `FROM --platform`); `None`: the image's own architecture.
    pub architecture: Option<String>,
    /// Absolute target path in the image rootfs, as written.
    pub target: String,
    /// Mode given by the user, overriding the executable-bit rule.
    pub mode: Option<u32>,
    /// The key path of this entry, for messages (`files."./hello"`).
    pub key: String,
}

/// What kind of root filesystem to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootfsType {
    /// An uncompressed newc cpio archive.
    Initrd,
    /// An ext2 or ext4 filesystem image.
    Block,
}

/// The filesystem of a generated block image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsType {
    /// ext2 (what rumprun reads).
    Ext2,
    /// ext4 without a journal.
    Ext4,
}

/// The `rootfs` field.
#[derive(Clone, Debug, PartialEq)]
pub struct RootfsSpec {
    /// initrd or block.
    pub kind: RootfsType,
    /// Where the generated file goes in the image rootfs.
    pub target: String,
    /// Files to put into the generated filesystem.
    pub files: Vec<FileSpec>,
    /// An image whose flattened filesystem is the base.
    pub from_image: Option<PathBuf>,
    /// Block images only: the filesystem.
    pub fs_type: FsType,
    /// Block images only: the size in bytes, when given.
    pub size: Option<u64>,
}

/// Where each key of an args file stood.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Locations {
    /// The args file as the user named it.
    pub file: String,
    /// Key path (`annotations.binary`) -> position of the key.
    pub keys: BTreeMap<String, Pos>,
    /// Key path -> how the input file says it, when it is not an args file
    /// (`annotations.hypervisor` is `platforms.monitor` in a bunnyfile).
    pub names: BTreeMap<String, String>,
    /// Errors the reader found that still left a spec (an unknown
    /// top-level key): validation reports them with its own, so that one
    /// run shows every error; a spec with errors is never built.
    pub errors: Vec<Diagnostic>,
}

impl Locations {
    /// `file:line:col: key` for a key path, or `file: key` when the
    /// position is unknown (JSON input).
    pub fn at(&self, key: &str) -> String {
        let shown = self.names.get(key).map_or(key, String::as_str);
        match self.pos(key) {
            Some(pos) => format!("{}:{pos}: {shown}", self.file),
            None => format!("{}: {shown}", self.file),
        }
    }

    /// An error about a key path: at the key's position (or its nearest
    /// enclosing key's), the message after the key as the input file says
    /// it, a trailing "did you mean" as the suggestion.
    pub fn diag(&self, key: &str, message: impl std::fmt::Display) -> Diagnostic {
        let shown = self.names.get(key).map_or(key, String::as_str);
        let (message, help) = split_help(&message.to_string());
        Diagnostic::new(&self.file, self.pos(key), format_args!("{shown}: {message}")).help(help)
    }

    /// The position of a key, or of the nearest enclosing key that has one
    /// (a missing `annotations.binary` points at `annotations`, and
    /// `files[2]` at `files`).
    pub fn pos(&self, key: &str) -> Option<Pos> {
        let mut key = key;
        loop {
            if let Some(pos) = self.keys.get(key) {
                return Some(*pos);
            }
            key = &key[..key.rfind(['.', '['])?];
        }
    }
}
