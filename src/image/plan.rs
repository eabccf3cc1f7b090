//! The plan: everything the writers need, laid out from a validated spec.
//!
//! It walks the sources into the layer's filesystem tree (and a generated
//! rootfs's tree), adds `/urunc.json`, and settles the config fields and
//! manifest annotations. It reads directories and file sizes, never file
//! contents: the writers stream those.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::imageread::Image;
use crate::model::fstree::{Content, DIR_MODE, EXEC_MODE, FILE_MODE, Link, Node, Tree, rel};
use crate::model::metadata;
use crate::model::oci::{Compression, ConfigFields};
use crate::model::spec::{FileSpec, FsType, LayerMode, RootfsType, Spec};
use crate::model::urunc;

/// A base image (top-level `fromImage`), opened and listed.
#[derive(Debug)]
pub struct Base {
    /// The image, for its layers and config.
    pub image: Image,
    /// Its flattened filesystem; file contents are not kept.
    pub listing: Tree,
}

/// A spec that passed validation, with everything settled.
#[derive(Debug)]
pub struct Checked {
    /// The spec, with annotations completed from `rootfs`.
    pub spec: Spec,
    /// The image architecture (OCI name).
    pub architecture: String,
    /// Entrypoint as written.
    pub entrypoint: Option<Vec<String>>,
    /// Cmd as written, or split from `cmdline`.
    pub cmd: Option<Vec<String>>,
    /// Creation time, seconds since the epoch; also every file's mtime.
    pub created: i64,
    /// Problems that do not stop the build.
    pub warnings: Vec<String>,
    /// The base image of a top-level `fromImage`.
    pub base: Option<Base>,
}

/// A generated root filesystem image.
#[derive(Clone, Debug)]
pub struct RootfsPlan {
    /// Where the generated file goes in the layer (relative path).
    pub path: String,
    /// initrd or block.
    pub kind: RootfsType,
    /// What the generated filesystem holds.
    pub tree: Tree,
    /// Block images: the filesystem.
    pub fs_type: FsType,
    /// Block images: the size, when given.
    pub size: Option<u64>,
    /// An image whose flattened filesystem lies under `tree`.
    pub from_image: Option<PathBuf>,
    /// The architecture to pick from a multi-platform `from_image`.
    pub architecture: String,
}

/// Everything the archive writer needs.
#[derive(Debug)]
pub struct Plan {
    /// Image name.
    pub name: String,
    /// Image tag.
    pub tag: String,
    /// The layer's files, `urunc.json` included; a generated rootfs is
    /// added by the writer once it exists.
    pub tree: Tree,
    /// A root filesystem image to generate, if any.
    pub rootfs: Option<RootfsPlan>,
    /// The config fields.
    pub config: ConfigFields,
    /// OCI manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// The one mtime of every entry, seconds since the epoch.
    pub mtime: u64,
    /// A base image whose layers go below ours.
    pub base: Option<Image>,
    /// Tree paths that get a layer of their own when they are regular
    /// files: the binary, initrd and block image, and the generated rootfs.
    pub artifacts: BTreeSet<String>,
    /// How the tree is cut into layers.
    pub layer_mode: LayerMode,
    /// How the layers are compressed.
    pub compression: Compression,
    /// The documents to attach beside the image (none unless asked), with
    /// the role of each file of the layer.
    pub attach: crate::image::attach::Request,
}

/// Lays out the image for a validated spec.
pub fn plan(checked: Checked) -> Result<Plan> {
    let spec = &checked.spec;
    let mut tree = Tree::new();
    for f in &spec.files {
        add_source(&mut tree, f).with_context(|| spec.locations.at(&f.key))?;
    }
    let urunc_json = urunc::urunc_json(&spec.annotations);
    let size = urunc_json.len() as u64;
    tree.insert("urunc.json", Node::File { content: Content::Inline(urunc_json), size, mode: FILE_MODE, link: None })?;

    let rootfs = match &spec.rootfs {
        None => None,
        Some(r) => {
            let mut rtree = Tree::new();
            for f in &r.files {
                add_source(&mut rtree, f).with_context(|| spec.locations.at(&f.key))?;
            }
            if tree.get(rel(&r.target)).is_some() {
                bail!("{}: {} is already taken in the image", spec.locations.at("rootfs.target"), r.target);
            }
            Some(RootfsPlan {
                path: rel(&r.target).to_string(),
                kind: r.kind,
                tree: rtree,
                fs_type: r.fs_type,
                size: r.size,
                from_image: r.from_image.clone(),
                architecture: checked.architecture.clone(),
            })
        }
    };

    let urunc_labels = urunc::labels(&spec.annotations);
    let created = crate::model::time::format_rfc3339(checked.created);
    let mut config = ConfigFields {
        architecture: checked.architecture.clone(),
        created,
        entrypoint: checked.entrypoint.clone(),
        cmd: checked.cmd.clone(),
        env: spec.env.clone(),
        working_dir: spec.working_dir.clone(),
        labels: urunc_labels,
        base_history: Vec::new(),
    };
    let (name, tag, mtime) = (spec.name.clone(), spec.tag.clone(), checked.created as u64);
    config.labels.extend(spec.labels.clone());
    let base = checked.base.map(|b| b.image);
    if let Some(image) = &base {
        inherit(&mut config, image);
        describe_base(&mut config.labels, image);
    }
    // The manifest carries urunc's keys (urunc reads them there) and the
    // OCI pre-defined ones, as the config's labels have them, and the
    // creation time, which the config holds in its own `created` (a label
    // too would change the bytes of every image bimanix 0.1 wrote).
    let mut annotations = urunc::labels(&spec.annotations);
    annotations.extend(metadata::of(&config.labels));
    annotations.insert(metadata::CREATED.into(), config.created.clone());
    add_default_path(&mut config.env);
    let artifacts = ["binary", "initrd", "block"]
        .iter()
        .filter_map(|key| spec.annotations.get(*key))
        .map(|path| rel(path).to_string())
        .chain(rootfs.as_ref().map(|r| r.path.clone()))
        .collect();
    let (layer_mode, compression) = (spec.layers, spec.compression.unwrap_or_default());
    let attach = crate::image::attach::Request { roles: roles(spec, rootfs.as_ref()), ..Default::default() };
    Ok(Plan { name, tag, tree, rootfs, config, annotations, mtime, base, artifacts, layer_mode, compression, attach })
}

/// What each named file of the layer is, by tree path: the `binary`
/// annotation's file is the kernel, then the initrd, the block image
/// (given or generated) and `urunc.json`.
fn roles(spec: &Spec, rootfs: Option<&RootfsPlan>) -> BTreeMap<String, &'static str> {
    let mut roles: BTreeMap<String, &'static str> =
        [("binary", "kernel"), ("initrd", "initrd"), ("block", "block image")]
            .into_iter()
            .filter_map(|(key, role)| spec.annotations.get(key).map(|path| (rel(path).to_string(), role)))
            .collect();
    if let Some(r) = rootfs {
        let role = if r.kind == RootfsType::Initrd { "initrd" } else { "block image" };
        roles.insert(r.path.clone(), role);
    }
    roles.insert("urunc.json".to_string(), "urunc.json");
    roles
}

/// Docker's default `PATH`, which Docker and BuildKit write into every
/// image's Env that sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Puts [`DEFAULT_PATH`] first in an Env that has variables but no `PATH`.
/// containerd adds its default PATH only to an empty Env, so without this
/// the guest of an image that sets any variable would get no PATH at all.
pub fn add_default_path(env: &mut Vec<String>) {
    if !env.is_empty() && !env.iter().any(|kv| kv.split_once('=').is_some_and(|(k, _)| k == "PATH")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
}

/// Fills what the spec leaves unset from a base image's config. Ours win
/// field by field (Env by variable); setting an Entrypoint drops the base's
/// Cmd, as Docker does. The base's urunc labels are dropped: our
/// annotations describe the image whole, and urunc.json must agree. So are
/// its `org.opencontainers.image.*` labels, which describe the base (its
/// title, version, revision), not this image; [`describe_base`] names it.
pub fn inherit(config: &mut ConfigFields, base: &Image) {
    let b = &base.config;
    if config.entrypoint.is_none() && config.cmd.is_none() {
        config.cmd = b.cmd.clone();
    }
    if config.entrypoint.is_none() {
        config.entrypoint = b.entrypoint.clone();
    }
    let ours = std::mem::take(&mut config.env);
    let name = |kv: &str| kv.split_once('=').map_or(kv, |(k, _)| k).to_string();
    let mut env: Vec<String> = b.env.iter().filter(|kv| !ours.iter().any(|o| name(o) == name(kv))).cloned().collect();
    env.extend(ours);
    config.env = env;
    if config.working_dir.is_none() {
        config.working_dir = b.working_dir.clone();
    }
    let mut labels: BTreeMap<String, String> = b
        .labels
        .iter()
        .filter(|(k, _)| !k.starts_with(urunc::PREFIX) && !metadata::is_oci(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.append(&mut config.labels);
    config.labels = labels;
    if let Some(history) = base.config_json.get("history").and_then(|h| h.as_array()) {
        config.base_history = history.clone();
    }
}

/// Sets `org.opencontainers.image.base.name` and `.base.digest` from the
/// base image, where the spec did not set them: the name only when the
/// archive gives a full reference (a bare OCI tag names no repository), the
/// digest only when it has an OCI manifest (a docker-archive has none).
fn describe_base(labels: &mut BTreeMap<String, String>, base: &Image) {
    let reference = base.repo_tags.first().map(|r| crate::model::reference::split(r));
    if let Some((Some(name), tag)) = reference {
        let name = crate::model::reference::qualified(name);
        let full = tag.map_or(name.clone(), |tag| format!("{name}:{tag}"));
        labels.entry(metadata::BASE_NAME.into()).or_insert(full);
    }
    if let Some(digest) = &base.manifest_digest {
        labels.entry(metadata::BASE_DIGEST.into()).or_insert_with(|| digest.clone());
    }
}

/// The hard links met while copying one host directory: the files seen
/// with a link count above 1, by device and inode, so that every path of
/// one host file in the directory shares a [`Link`]. (As `cp -a` does, two
/// copies of a directory are copies: each `files` entry has its own.)
///
/// Files in the Nix store are left out: the store holds no hard links of
/// its own (a NAR has none); those it has come from `nix-store --optimise`
/// (or `auto-optimise-store`), which links unrelated files that happen to
/// be equal, on some machines and not others. Keeping them would make the
/// image depend on the build machine and join files the guest may write
/// separately.
#[derive(Debug, Default)]
struct HostLinks {
    seen: HashMap<(u64, u64), Link>,
}

impl HostLinks {
    /// The link identity of the host file `meta` describes, when it has
    /// other names and lies outside the Nix store.
    fn of(&mut self, meta: &fs::Metadata, in_store: bool) -> Option<Link> {
        if meta.nlink() < 2 || in_store {
            return None;
        }
        Some(*self.seen.entry((meta.dev(), meta.ino())).or_insert_with(Link::new))
    }
}

/// The Nix store directory: `NIX_STORE_DIR` when set, else `/nix/store`.
fn nix_store() -> PathBuf {
    std::env::var_os("NIX_STORE_DIR").map_or_else(|| PathBuf::from("/nix/store"), PathBuf::from)
}

/// Adds one `files` entry: a file, or a directory copied recursively with
/// symlinks kept and hard links between its files kept (see [`HostLinks`];
/// a file named on its own is a copy). A directory may go to `/`. A link
/// named directly is followed, like `cp` does.
pub fn add_source(tree: &mut Tree, f: &FileSpec) -> Result<()> {
    let meta = fs::metadata(&f.source).with_context(|| format!("cannot read {}", f.source.display()))?;
    let target = rel(&f.target);
    if meta.is_dir() {
        // A directory copied to "/" fills the root, which has no entry of its own.
        if !target.is_empty() {
            tree.insert(target, Node::Dir { mode: f.mode.unwrap_or(DIR_MODE) })?;
        }
        let in_store = fs::canonicalize(&f.source).is_ok_and(|p| p.starts_with(nix_store()));
        Walk { tree, links: HostLinks::default(), in_store }.dir(&f.source, target.as_bytes())
    } else if meta.is_file() {
        tree.insert(target, file_node(&f.source, &meta, f.mode, None))
    } else {
        bail!("{} is not a regular file or directory", f.source.display())
    }
}

/// A host directory being copied into a tree.
struct Walk<'a> {
    tree: &'a mut Tree,
    links: HostLinks,
    /// Whether the directory is in the Nix store.
    in_store: bool,
}

impl Walk<'_> {
    /// Adds what directory `dir` holds under `target` (a tree path, empty
    /// for the root). Names are bytes, carried as the file system holds them.
    fn dir(&mut self, dir: &Path, target: &[u8]) -> Result<()> {
        crate::model::hostfile::refuse_pseudo_dir(dir)?;
        let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let path = entry.path();
            let name = entry.file_name();
            let child =
                if target.is_empty() { name.as_bytes().to_vec() } else { [target, b"/", name.as_bytes()].concat() };
            let meta = fs::symlink_metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let ft = meta.file_type();
            if ft.is_symlink() {
                let link = fs::read_link(&path).with_context(|| format!("cannot read link {}", path.display()))?;
                self.tree.insert(&child, Node::Symlink { target: link.into_os_string().into_vec().into() })?;
            } else if ft.is_dir() {
                self.tree.insert(&child, Node::Dir { mode: DIR_MODE })?;
                self.dir(&path, &child)?;
            } else if ft.is_file() {
                let link = self.links.of(&meta, self.in_store);
                self.tree.insert(&child, file_node(&path, &meta, None, link))?;
            } else {
                bail!("{} is not a regular file, directory or symlink; bimanix copies only those", path.display());
            }
        }
        Ok(())
    }
}

/// A host file: only its executable bit counts, unless a mode is given.
fn file_node(path: &Path, meta: &fs::Metadata, mode: Option<u32>, link: Option<Link>) -> Node {
    let exec = meta.permissions().mode() & 0o111 != 0;
    let mode = mode.unwrap_or(if exec { EXEC_MODE } else { FILE_MODE });
    Node::File { content: Content::Host(path.to_path_buf()), size: meta.len(), mode, link }
}
