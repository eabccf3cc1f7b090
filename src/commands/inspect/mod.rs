//! `bimanix inspect`: what an image of any tool holds, and whether urunc
//! would run it.
//!
//! The report shows the image's metadata, the urunc keys in each of the
//! places an image carries them (config Labels, manifest annotations,
//! `/urunc.json`), its layers and the files of its flattened root
//! filesystem, then the problems found: broken digests, keys urunc would
//! reject, the places disagreeing with each other, and a platform that
//! does not match the kernel; the documents attached to it (SBOM,
//! attestations) with their subjects checked; and last how each known urunc
//! version would take the image (`versions`), with the problems of the
//! targeted ones, and which places each version reads under each consumer
//! (`consumers`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::Result;
use bstr::{BString, ByteSlice};
use serde::Serialize;

use crate::imageread::{self, Compression, Flattened, Image, Select};
use crate::model::fstree::{Content, Node, Tree};
use crate::model::urunc;
use crate::rules;
use crate::rules::arch;
use crate::rules::compat::Options;
use crate::rules::readers::{Places, Target};
use crate::rules::urunc::{FileKind, Problem, Severity};

/// The largest `/urunc.json` read; urunc's are a few hundred bytes.
const MAX_URUNC_JSON: u64 = 1 << 20;
/// How many entries of the flattened filesystem the report lists: enough
/// for any unikernel or guest image, while a hostile layer of millions of
/// entries costs no more memory than the tree itself.
pub const MAX_LISTED_FILES: usize = 100_000;
/// How many symlinks are followed to resolve one path, as Linux allows.
const MAX_SYMLINKS: usize = 40;

mod attached;
mod consumers;
mod many;
mod render;
#[cfg(test)]
mod tests;
mod versions;

pub use attached::AttachedReport;
pub use consumers::{ConsumerReport, Ignored};
pub use many::{Inspected, ManyReport, inspect_path};
pub use render::{render_inspected, render_json, render_text};
pub use versions::VersionReport;

/// Everything `inspect` found, ready to render as text or JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The archive or directory inspected.
    pub path: String,
    /// `docker-archive`, `oci-archive`, ...
    pub format: String,
    /// How the whole archive is compressed (`none` for most).
    pub archive_compression: String,
    /// Repository tags or the OCI image name.
    pub tags: Vec<String>,
    /// The manifest digest (OCI layouts only).
    pub manifest_digest: Option<String>,
    /// The config digest (the image ID).
    pub config_digest: String,
    /// `os/architecture[/variant]`.
    pub platform: String,
    /// The config's creation time as written.
    pub created: Option<String>,
    /// `config.Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `config.Cmd`.
    pub cmd: Option<Vec<String>>,
    /// `config.Env`.
    pub env: Vec<String>,
    /// `config.WorkingDir`.
    pub working_dir: Option<String>,
    /// `config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// The manifest's annotations.
    pub manifest_annotations: BTreeMap<String, String>,
    /// The documents attached to the image (OCI artifacts whose subject
    /// is its manifest).
    pub attached: Vec<AttachedReport>,
    /// `/urunc.json`, decoded.
    pub urunc_json: UruncJson,
    /// The urunc keys urunc would use (full names, plain values).
    pub effective: BTreeMap<String, String>,
    /// Where `effective` comes from.
    pub effective_source: String,
    /// The architecture the binary's headers say, when they say one.
    pub binary_architecture: Option<String>,
    /// The layers, lowest first.
    pub layers: Vec<LayerReport>,
    /// The flattened root filesystem, sorted by path (empty when the layers
    /// cannot be read); the first [`MAX_LISTED_FILES`] entries.
    pub files: Vec<FileReport>,
    /// How many entries of the filesystem `files` leaves out.
    pub files_omitted: usize,
    /// Layer entries left out of the filesystem (devices, fifos).
    pub skipped: Vec<String>,
    /// Whether every digest, size and diff_id matched.
    pub digests_ok: bool,
    /// Everything wrong, errors and warnings, in the order found.
    pub problems: Vec<ProblemReport>,
    /// The urunc versions the problems are for (`--urunc`).
    pub targets: String,
    /// How each known urunc version would take the image under ctr,
    /// nerdctl and Kubernetes, oldest first.
    pub compatibility: Vec<VersionReport>,
    /// What the image's tag names once pushed or imported: `manifest`, or
    /// `index` for one platform of an image index (a urunc 0.8 shim then
    /// reads no manifest annotations).
    pub tag_names: String,
    /// Every urunc version (oldest first) by every consumer (`docker`,
    /// `docker-containerd`, `nerdctl`, `ctr`, `kubernetes`): the places it
    /// reads, the ones it takes, the keys and the verdict.
    pub consumers: Vec<ConsumerReport>,
}

/// What `/urunc.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct UruncJson {
    /// `ok`, `missing`, `invalid` or `unread` (the layers could not be read).
    pub status: String,
    /// Full key -> decoded value, when `ok`.
    pub values: BTreeMap<String, String>,
}

/// One layer.
#[derive(Clone, Debug, Serialize)]
pub struct LayerReport {
    /// The blob digest, when the archive declares one.
    pub digest: Option<String>,
    /// The uncompressed tar's digest from the config.
    pub diff_id: String,
    /// The manifest's media type, if any.
    pub media_type: Option<String>,
    /// Stored size in bytes.
    pub size: u64,
    /// `none`, `gzip` or `zstd`, from the bytes.
    pub compression: String,
    /// Entries in the layer's tar, when it could be read.
    pub entries: Option<usize>,
    /// The files and symlinks of the flattened filesystem that come from
    /// this layer (directories left out), sorted.
    pub files: Vec<String>,
}

/// One entry of the flattened root filesystem.
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    /// Absolute path in the image; bytes that are not UTF-8 (a Latin-1
    /// name, say), control characters and `\\` are escaped (`caf\\xE9`).
    pub path: String,
    /// `file`, `dir` or `symlink`.
    pub kind: String,
    /// Permission bits in octal (`0755`).
    pub mode: String,
    /// Size in bytes, for files.
    pub size: Option<u64>,
    /// Target, for symlinks.
    pub target: Option<String>,
    /// The layer (1-based) whose entry this is: the highest that wrote it.
    pub layer: usize,
}

/// One problem.
#[derive(Clone, Debug, Serialize)]
pub struct ProblemReport {
    /// `error` or `warning`.
    pub severity: String,
    /// What was checked: `image`, `annotations` (labels and manifest
    /// annotations), `urunc.json`, or `versions` (what a targeted urunc
    /// version would reject, misread or ignore).
    pub source: String,
    /// urunc's short key, when the problem is about one.
    pub key: Option<String>,
    /// What is wrong, and what would be right.
    pub message: String,
}

impl Report {
    /// False when the image is broken or urunc would reject it: any
    /// error-severity problem.
    pub fn ok(&self) -> bool {
        !self.problems.iter().any(|p| p.severity == "error")
    }
}

/// Inspects the image at `path` (the only image in it; see [`inspect_image`]
/// for archives holding several).
pub fn inspect(path: &Path, opts: &Options) -> Result<Report> {
    inspect_image(&imageread::open(path, &Select::default())?, opts)
}

/// Inspects an opened image.
pub fn inspect_image(image: &Image, opts: &Options) -> Result<Report> {
    let mut problems = Problems::default();
    let verified = image.verify()?;
    for message in &verified {
        problems.error("image", None, message.clone());
    }
    check_platform(image, &mut problems);
    check_media_types(image, &mut problems);
    let labels = urunc_keys(&image.config.labels);
    let annotations = urunc_keys(&image.manifest_annotations);
    let mut merged = labels.clone();
    merged.extend(annotations.clone());
    let fs = Filesystem::read(image, &merged);
    let places = Places {
        labels: &labels,
        annotations: &annotations,
        urunc_json: match &fs.json {
            JsonState::Ok(values) => Some(values),
            _ => None,
        },
    };
    let target = if image.index_digest.is_some() { Target::Index } else { Target::Manifest };
    let consumers = consumers::table(image, places, target, opts);
    consumers::disagreements(places, &merged, &consumers, &mut problems);
    if target == Target::Index {
        consumers::index_labels(places, &consumers, &mut problems);
    }
    check_keys(&fs, &merged, &mut problems);
    let binary_architecture = check_architecture(image, &fs, &mut problems);
    check_arguments(image, &fs.effective, &mut problems);
    let compatibility = versions::table(image, &fs, places, target, opts, &mut problems);
    let attached = attached::attached(image, &mut problems);
    let checked =
        Checked { binary_architecture, digests_ok: verified.is_empty(), compatibility, consumers, target, attached };
    Ok(report(image, fs, checked, problems, opts))
}

/// A warning for each layer whose media type names another compression
/// than its bytes have.
fn check_media_types(image: &Image, problems: &mut Problems) {
    for (i, layer) in image.layers.iter().enumerate() {
        if let Some(declared) = layer.media_type.as_deref().map(declared_compression)
            && declared != layer.compression
        {
            problems.warning(
                "image",
                None,
                format!(
                    "{}: the media type says {} but the blob is {}; containerd unpacks by media type",
                    image.layer_label(i),
                    declared.name(),
                    layer.compression.name()
                ),
            );
        }
    }
}

/// The image's flattened filesystem and what urunc would take from it.
struct Filesystem {
    /// The flattened layers, or why they could not be read.
    flat: Result<Flattened>,
    /// What `/urunc.json` holds.
    json: JsonState,
    /// The urunc keys urunc would use.
    effective: BTreeMap<String, String>,
    /// Where `effective` comes from.
    effective_source: &'static str,
    /// The binary's clean relative path, symlinks followed, when it exists.
    binary: Option<BString>,
}

impl Filesystem {
    /// Flattens the layers keeping the binary's head, which takes a second
    /// pass when the binary is only known from urunc.json or through a symlink.
    fn read(image: &Image, merged: &BTreeMap<String, String>) -> Filesystem {
        let mut wanted: Vec<BString> = merged.get("binary").map(|b| clean(b.as_bytes())).into_iter().collect();
        let mut flat = flatten_keeping(image, &wanted);
        let json = match &flat {
            Ok(flat) => read_urunc_json(&flat.tree),
            Err(_) => JsonState::Unread,
        };
        let (effective, effective_source) = match (&json, merged.is_empty()) {
            (_, false) => (merged.clone(), "labels and manifest annotations"),
            (JsonState::Ok(values), true) => (values.clone(), "urunc.json"),
            (_, true) => (BTreeMap::new(), "none"),
        };
        let binary = match (&flat, effective.get("binary")) {
            (Ok(done), Some(binary)) => match resolve(&done.tree, binary.as_bytes()) {
                Resolved::Found(path) => Some(path),
                Resolved::Missing | Resolved::Loop => None,
            },
            _ => None,
        };
        if let Some(path) = &binary
            && !wanted.contains(path)
        {
            wanted.push(path.clone());
            flat = flatten_keeping(image, &wanted);
        }
        Filesystem { flat, json, effective, effective_source, binary }
    }

    /// Where problems with the effective keys are reported.
    fn source(&self) -> &'static str {
        if self.effective_source == "urunc.json" { "urunc.json" } else { "annotations" }
    }
}

/// Checks `/urunc.json` and the effective keys against urunc's rules and
/// against each other.
fn check_keys(fs: &Filesystem, merged: &BTreeMap<String, String>, problems: &mut Problems) {
    let unknown_tree = Tree::new();
    let tree = match &fs.flat {
        Ok(flat) => &flat.tree,
        Err(e) => {
            problems.error("image", None, format!("cannot flatten the layers: {e:#}"));
            &unknown_tree
        }
    };
    let file_kind = |path: &str| match &fs.flat {
        Ok(_) => kind_at(tree, path),
        // Without the filesystem, only the keys' own rules can be checked.
        Err(_) => FileKind::File,
    };
    match &fs.json {
        JsonState::Unread => {}
        JsonState::Missing => problems.warning(
            "urunc.json",
            None,
            "/urunc.json is missing: urunc 0.5-0.7 read nothing else of an image, and neither does urunc \
             0.8-main under Docker (see the consumers)"
                .to_string(),
        ),
        JsonState::Invalid(message) => problems.error("urunc.json", None, message.clone()),
        JsonState::Ok(values) => {
            if fs.effective_source != "urunc.json" && values != merged {
                problems.extend("urunc.json", rules::urunc::check(values, &file_kind));
            }
        }
    }
    problems.extend(fs.source(), rules::urunc::check(&fs.effective, &file_kind));
    if fs.flat.is_ok() {
        for key in ["binary", "initrd", "block"] {
            if let Some(path) = fs.effective.get(key) {
                note_symlink(tree, key, path, fs.source(), problems);
            }
        }
    }
}

/// The architecture the binary's headers tell, an error when the config
/// says another.
fn check_architecture(image: &Image, fs: &Filesystem, problems: &mut Problems) -> Option<&'static str> {
    let tree = &fs.flat.as_ref().ok()?.tree;
    let detected = fs.binary.as_ref().and_then(|path| head_of(tree, path)).and_then(arch::detect)?;
    let declared = &image.config.architecture;
    if !declared.is_empty() && detected != declared {
        problems.error(
            "image",
            None,
            format!(
                "the image says architecture {declared} but the binary is {detected}: containerd and Kubernetes \
                 would pick this image for the wrong machines"
            ),
        );
    }
    Some(detected)
}

/// A warning when the guest gets no arguments at all.
fn check_arguments(image: &Image, effective: &BTreeMap<String, String>, problems: &mut Problems) {
    let config = &image.config;
    let no_args = config.entrypoint.as_ref().is_none_or(Vec::is_empty) && config.cmd.as_ref().is_none_or(Vec::is_empty);
    if no_args && effective.get("cmdline").is_none_or(|c| c.is_empty()) {
        problems.warning("image", None, "no Entrypoint, Cmd or cmdline: the guest gets no arguments".to_string());
    }
}

/// What the checks found besides problems.
struct Checked {
    binary_architecture: Option<&'static str>,
    digests_ok: bool,
    compatibility: Vec<VersionReport>,
    consumers: Vec<ConsumerReport>,
    target: Target,
    attached: Vec<AttachedReport>,
}

/// Puts the report together.
fn report(image: &Image, fs: Filesystem, checked: Checked, problems: Problems, opts: &Options) -> Report {
    let config = &image.config;
    let entries = fs.flat.as_ref().ok().map(|f| f.layer_entries.clone());
    let files = fs.flat.as_ref().map(files_of).unwrap_or_default();
    let layers = image
        .layers
        .iter()
        .enumerate()
        .map(|(i, layer)| LayerReport {
            digest: layer.digest.clone(),
            diff_id: layer.diff_id.clone(),
            media_type: layer.media_type.clone(),
            size: layer.size,
            compression: layer.compression.name().to_string(),
            entries: entries.as_ref().and_then(|e| e.get(i).copied()),
            files: files.iter().filter(|f| f.layer == i + 1 && f.kind != "dir").map(|f| f.path.clone()).collect(),
        })
        .collect();
    let (urunc_status, urunc_values) = match fs.json {
        JsonState::Ok(values) => ("ok", urunc::labels(&values)),
        JsonState::Missing => ("missing", BTreeMap::new()),
        JsonState::Invalid(_) => ("invalid", BTreeMap::new()),
        JsonState::Unread => ("unread", BTreeMap::new()),
    };
    Report {
        path: image.path.display().to_string(),
        format: image.format.name().to_string(),
        archive_compression: image.compression.name().to_string(),
        tags: image.repo_tags.clone(),
        manifest_digest: image.manifest_digest.clone(),
        config_digest: image.config_digest.clone(),
        platform: config.platform().to_string(),
        created: config.created.clone(),
        entrypoint: config.entrypoint.clone(),
        cmd: config.cmd.clone(),
        env: config.env.clone(),
        working_dir: config.working_dir.clone(),
        labels: config.labels.clone(),
        manifest_annotations: image.manifest_annotations.clone(),
        attached: checked.attached,
        urunc_json: UruncJson { status: urunc_status.to_string(), values: urunc_values },
        effective: urunc::labels(&fs.effective),
        effective_source: fs.effective_source.to_string(),
        binary_architecture: checked.binary_architecture.map(str::to_string),
        layers,
        files,
        files_omitted: fs.flat.as_ref().map_or(0, |f| f.tree.len().saturating_sub(MAX_LISTED_FILES)),
        skipped: fs.flat.as_ref().map(|f| f.skipped.clone()).unwrap_or_default(),
        digests_ok: checked.digests_ok,
        problems: problems.0,
        targets: opts.targets.to_string(),
        compatibility: checked.compatibility,
        tag_names: match checked.target {
            Target::Manifest => "manifest",
            Target::Index => "index",
        }
        .to_string(),
        consumers: checked.consumers,
    }
}

/// The problems found so far.
#[derive(Default)]
struct Problems(Vec<ProblemReport>);

impl Problems {
    fn push(&mut self, severity: Severity, source: &str, key: Option<&str>, message: String) {
        let severity = match severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        self.0.push(ProblemReport {
            severity: severity.to_string(),
            source: source.to_string(),
            key: key.map(str::to_string),
            message,
        });
    }

    fn error(&mut self, source: &str, key: Option<&str>, message: String) {
        self.push(Severity::Error, source, key, message);
    }

    fn warning(&mut self, source: &str, key: Option<&str>, message: String) {
        self.push(Severity::Warning, source, key, message);
    }

    fn extend(&mut self, source: &str, found: Vec<Problem>) {
        for problem in found {
            self.push(problem.severity, source, problem.key, problem.message);
        }
    }
}

fn check_platform(image: &Image, problems: &mut Problems) {
    let config = &image.config;
    if config.os != "linux" {
        let os = if config.os.is_empty() { "missing" } else { config.os.as_str() };
        problems.error("image", None, format!("os is {os}; urunc images must be os linux"));
    }
    if config.architecture.is_empty() {
        problems.error(
            "image",
            None,
            "architecture is missing; containerd and Kubernetes pick images by it".to_string(),
        );
    } else if !arch::KNOWN.contains(&config.architecture.as_str()) {
        problems.warning(
            "image",
            None,
            format!("architecture {} is not one of {}", config.architecture, arch::KNOWN.join(", ")),
        );
    }
}

/// The compression a layer media type declares.
fn declared_compression(media_type: &str) -> Compression {
    if media_type.ends_with("gzip") {
        Compression::Gzip
    } else if media_type.ends_with("zstd") {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// urunc's keys among labels or annotations: short names for the keys urunc
/// knows, full names for other keys with urunc's prefix (typos, which
/// `urunc::check` points out); keys without the prefix are not urunc's.
fn urunc_keys(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .filter(|(key, _)| key.starts_with(urunc::PREFIX))
        .map(|(key, value)| (urunc::short_key(key).map_or_else(|| key.clone(), str::to_string), value.clone()))
        .collect()
}

/// Warns when a path key names a symlink: the check follows it, but urunc
/// may copy or move the path itself.
fn note_symlink(tree: &Tree, key: &str, path: &str, source: &str, problems: &mut Problems) {
    let Some(Node::Symlink { target }) = tree.get(&clean(path.as_bytes())) else {
        return;
    };
    let target = target.escape_bytes();
    let message = match resolve(tree, path.as_bytes()) {
        Resolved::Found(to) => format!(
            "`{path}` is a symlink to `{target}` (the file /{}); name the file itself, as urunc may copy \
             or move the path it is given",
            to.escape_bytes()
        ),
        Resolved::Missing | Resolved::Loop => {
            format!("`{path}` is a symlink to `{target}`, which does not lead to anything in the image")
        }
    };
    problems.warning(source, urunc::short_key(key), message);
}

// ---------------------------------------------------------------------------
// The filesystem.

/// What `/urunc.json` turned out to be.
enum JsonState {
    Ok(BTreeMap<String, String>),
    Missing,
    Invalid(String),
    Unread,
}

/// Flattens `image`, keeping `/urunc.json` whole and the first
/// `arch::HEAD_LEN` bytes of each path in `wanted` (clean, relative);
/// other files keep no bytes.
fn flatten_keeping(image: &Image, wanted: &[BString]) -> Result<Flattened> {
    image.flatten(&mut |path, reader, _| {
        let keep = if path == "urunc.json" {
            MAX_URUNC_JSON
        } else if wanted.iter().any(|w| w == path) {
            arch::HEAD_LEN as u64
        } else {
            0
        };
        let mut bytes = Vec::new();
        reader.take(keep).read_to_end(&mut bytes)?;
        Ok(Content::Inline(bytes))
    })
}

fn read_urunc_json(tree: &Tree) -> JsonState {
    match tree.get("urunc.json") {
        None => JsonState::Missing,
        Some(Node::File { content: Content::Inline(bytes), size, .. }) if *size <= MAX_URUNC_JSON => {
            match urunc::parse_urunc_json(bytes) {
                Ok(values) => JsonState::Ok(values),
                Err(message) => {
                    JsonState::Invalid(message.strip_prefix("urunc.json: ").unwrap_or(&message).to_string())
                }
            }
        }
        Some(Node::File { size, .. }) => JsonState::Invalid(format!(
            "/urunc.json is {size} bytes, more than the {MAX_URUNC_JSON} read; it should hold a few keys"
        )),
        Some(_) => JsonState::Invalid("/urunc.json is not a regular file; urunc reads it as one".to_string()),
    }
}

/// The clean relative form of an absolute or relative image path.
fn clean(path: &[u8]) -> BString {
    bstr::join("/", path.split(|b| *b == b'/').filter(|p| !p.is_empty() && *p != b".")).into()
}

/// Where a path leads in the image.
enum Resolved {
    /// The clean relative path of what it names (`""` is the root).
    Found(BString),
    Missing,
    Loop,
}

/// Follows `path` through `tree` as the guest's kernel would, symlinks in
/// every component included; `..` at the root stays at the root, so nothing
/// leads outside the image.
fn resolve(tree: &Tree, path: &[u8]) -> Resolved {
    let components = |p: &[u8]| p.split(|b| *b == b'/').rev().map(<[u8]>::to_vec).collect::<Vec<_>>();
    let mut todo = components(path);
    let mut at: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match part.as_slice() {
            b"" | b"." => {}
            b".." => {
                at.pop();
            }
            name => {
                at.push(name.to_vec());
                match tree.get(&bstr::join("/", &at)) {
                    None => return Resolved::Missing,
                    Some(Node::Symlink { target }) => {
                        links += 1;
                        if links > MAX_SYMLINKS {
                            return Resolved::Loop;
                        }
                        at.pop();
                        if target.starts_with(b"/") {
                            at.clear();
                        }
                        todo.extend(components(target));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    Resolved::Found(bstr::join("/", &at).into())
}

/// What `urunc::check` is told about an absolute path: symlinks are followed.
fn kind_at(tree: &Tree, path: &str) -> FileKind {
    match resolve(tree, path.as_bytes()) {
        Resolved::Found(at) if at.is_empty() => FileKind::Dir,
        Resolved::Found(at) => match tree.get(&at) {
            Some(Node::File { .. }) => FileKind::File,
            Some(Node::Dir { .. }) => FileKind::Dir,
            Some(Node::Symlink { .. }) => FileKind::Other,
            None => FileKind::Missing,
        },
        Resolved::Missing => FileKind::Missing,
        Resolved::Loop => FileKind::Other,
    }
}

/// The kept first bytes of the file at clean relative `path`.
fn head_of<'a>(tree: &'a Tree, path: &[u8]) -> Option<&'a [u8]> {
    match tree.get(path) {
        Some(Node::File { content: Content::Inline(bytes), .. }) if !bytes.is_empty() => Some(bytes),
        _ => None,
    }
}

fn files_of(flat: &Flattened) -> Vec<FileReport> {
    flat.tree
        .iter()
        .take(MAX_LISTED_FILES)
        .map(|(path, node)| {
            let (kind, mode, size, target) = match node {
                Node::Dir { mode } => ("dir", format!("{mode:04o}"), None, None),
                Node::File { size, mode, .. } => ("file", format!("{mode:04o}"), Some(*size), None),
                Node::Symlink { target } => {
                    ("symlink", "0777".to_string(), None, Some(target.escape_bytes().to_string()))
                }
            };
            // layer_of leaves out what the first layer shows.
            let layer = flat.layer_of.get(path).copied().unwrap_or(flat.first_layer) + 1;
            FileReport { path: format!("/{}", path.escape_bytes()), kind: kind.to_string(), mode, size, target, layer }
        })
        .collect()
}
