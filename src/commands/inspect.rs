//! `bimanix inspect`: what an image of any tool holds, and whether urunc
//! would run it.
//!
//! The report shows the image's metadata, the urunc keys in each of the
//! places an image carries them (config Labels, manifest annotations,
//! `/urunc.json`), its layers and the files of its flattened root
//! filesystem, then the problems found: broken digests, keys urunc would
//! reject, the places disagreeing with each other, and a platform that
//! does not match the kernel.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use crate::imageread::{self, Compression, Flattened, Image, Select};
use crate::model::fstree::{Content, Node, Tree};
use crate::model::urunc;
use crate::rules;
use crate::rules::arch;
use crate::rules::urunc::{FileKind, Options, Problem, Severity};

/// The largest `/urunc.json` read; urunc's are a few hundred bytes.
const MAX_URUNC_JSON: u64 = 1 << 20;
/// How many symlinks are followed to resolve one path, as Linux allows.
const MAX_SYMLINKS: usize = 40;

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
    /// cannot be read).
    pub files: Vec<FileReport>,
    /// Layer entries left out of the filesystem (devices, fifos).
    pub skipped: Vec<String>,
    /// Whether every digest, size and diff_id matched.
    pub digests_ok: bool,
    /// Everything wrong, errors and warnings, in the order found.
    pub problems: Vec<ProblemReport>,
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
}

/// One entry of the flattened root filesystem.
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    /// Absolute path in the image.
    pub path: String,
    /// `file`, `dir` or `symlink`.
    pub kind: String,
    /// Permission bits in octal (`0755`).
    pub mode: String,
    /// Size in bytes, for files.
    pub size: Option<u64>,
    /// Target, for symlinks.
    pub target: Option<String>,
}

/// One problem.
#[derive(Clone, Debug, Serialize)]
pub struct ProblemReport {
    /// `error` or `warning`.
    pub severity: String,
    /// What was checked: `image`, `annotations` (labels and manifest
    /// annotations) or `urunc.json`.
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
    let config = &image.config;

    let verified = image.verify()?;
    for message in &verified {
        problems.error("image", None, message.clone());
    }
    check_platform(image, &mut problems);
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

    let labels = urunc_keys(&config.labels);
    let annotations = urunc_keys(&image.manifest_annotations);
    for (key, label) in &labels {
        if let Some(annotation) = annotations.get(key)
            && annotation != label
        {
            problems.warning(
                "annotations",
                urunc::short_key(key),
                format!(
                    "the config label is `{}` but the manifest annotation is `{}`; urunc uses the annotation",
                    label.escape_debug(),
                    annotation.escape_debug()
                ),
            );
        }
    }
    let mut merged = labels;
    merged.extend(annotations);

    // The binary's head is kept while flattening; when the binary is only
    // known from urunc.json or through a symlink, a second pass fetches it.
    let mut wanted: Vec<String> = merged.get("binary").map(|b| clean(b)).into_iter().collect();
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
        (Ok(done), Some(binary)) => match resolve(&done.tree, binary) {
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

    let unknown_tree = Tree::new();
    let tree = match &flat {
        Ok(flat) => &flat.tree,
        Err(e) => {
            problems.error("image", None, format!("cannot flatten the layers: {e:#}"));
            &unknown_tree
        }
    };
    let file_kind = |path: &str| match &flat {
        Ok(_) => kind_at(tree, path),
        // Without the filesystem, only the keys' own rules can be checked.
        Err(_) => FileKind::File,
    };

    match &json {
        JsonState::Unread => {}
        JsonState::Missing => problems.warning(
            "urunc.json",
            None,
            "/urunc.json is missing: urunc needs it when the runtime does not pass annotations on \
             (Docker, nerdctl, ctr)"
                .to_string(),
        ),
        JsonState::Invalid(message) => problems.error("urunc.json", None, message.clone()),
        JsonState::Ok(values) => {
            if !merged.is_empty() {
                compare(&merged, values, &mut problems);
            }
            if effective_source != "urunc.json" && values != &merged {
                problems.extend("urunc.json", rules::urunc::check(values, &file_kind, opts));
            }
        }
    }
    let source = if effective_source == "urunc.json" { "urunc.json" } else { "annotations" };
    problems.extend(source, rules::urunc::check(&effective, &file_kind, opts));
    if flat.is_ok() {
        for key in ["binary", "initrd", "block"] {
            if let Some(path) = effective.get(key) {
                note_symlink(tree, key, path, source, &mut problems);
            }
        }
    }

    let binary_architecture = binary.as_deref().and_then(|path| head_of(tree, path)).and_then(arch::detect);
    if let Some(detected) = binary_architecture
        && !config.architecture.is_empty()
        && detected != config.architecture
    {
        problems.error(
            "image",
            None,
            format!(
                "the image says architecture {} but the binary is {detected}: containerd and Kubernetes \
                 would pick this image for the wrong machines",
                config.architecture
            ),
        );
    }

    let no_args = config.entrypoint.as_ref().is_none_or(Vec::is_empty) && config.cmd.as_ref().is_none_or(Vec::is_empty);
    if no_args && effective.get("cmdline").is_none_or(|c| c.is_empty()) {
        problems.warning("image", None, "no Entrypoint, Cmd or cmdline: the guest gets no arguments".to_string());
    }

    let entries = flat.as_ref().ok().map(|f| f.layer_entries.clone());
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
        })
        .collect();
    let (urunc_status, urunc_values) = match json {
        JsonState::Ok(values) => ("ok", urunc::labels(&values)),
        JsonState::Missing => ("missing", BTreeMap::new()),
        JsonState::Invalid(_) => ("invalid", BTreeMap::new()),
        JsonState::Unread => ("unread", BTreeMap::new()),
    };
    Ok(Report {
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
        urunc_json: UruncJson { status: urunc_status.to_string(), values: urunc_values },
        effective: urunc::labels(&effective),
        effective_source: effective_source.to_string(),
        binary_architecture: binary_architecture.map(str::to_string),
        layers,
        files: flat.as_ref().map(|f| files_of(&f.tree)).unwrap_or_default(),
        skipped: flat.as_ref().map(|f| f.skipped.clone()).unwrap_or_default(),
        digests_ok: verified.is_empty(),
        problems: problems.0,
    })
}

/// The report as JSON: an object with sorted keys and an `ok` field,
/// pretty-printed, ending in a newline.
pub fn render_json(report: &Report) -> String {
    let mut value = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("ok".to_string(), Value::Bool(report.ok()));
    }
    let value = sort_keys(value);
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// The report as text for people.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let compressed = match report.archive_compression.as_str() {
        "none" => String::new(),
        other => format!(" ({other}-compressed)"),
    };
    let mut fields = vec![
        ("image:", report.path.clone()),
        ("format:", format!("{}{compressed}", report.format)),
        ("tags:", or_none(&report.tags.join(" "))),
    ];
    if let Some(digest) = &report.manifest_digest {
        fields.push(("manifest:", digest.clone()));
    }
    fields.extend([
        ("config:", report.config_digest.clone()),
        ("platform:", report.platform.clone()),
        ("created:", or_none(report.created.as_deref().unwrap_or_default())),
        ("entrypoint:", list(&report.entrypoint)),
        ("cmd:", list(&report.cmd)),
        ("workdir:", or_none(report.working_dir.as_deref().unwrap_or_default())),
    ]);
    for (label, value) in fields {
        out.push_str(&format!("{label:<11} {value}\n"));
    }
    section(&mut out, "env", report.env.iter().map(String::to_string));
    section(&mut out, "labels", pairs(&report.labels));
    section(&mut out, "manifest annotations", pairs(&report.manifest_annotations));
    let json_title = format!("urunc.json ({})", report.urunc_json.status);
    section(&mut out, &json_title, pairs(&report.urunc_json.values));
    let effective_title = format!("urunc keys in effect (from {})", report.effective_source);
    section(&mut out, &effective_title, pairs(&report.effective));
    out.push_str(&format!(
        "binary architecture: {}\n",
        report.binary_architecture.as_deref().unwrap_or("(not recognised)")
    ));
    section(
        &mut out,
        "layers",
        report.layers.iter().enumerate().map(|(i, layer)| {
            let entries = layer.entries.map_or("?".to_string(), |n| n.to_string());
            format!(
                "{}. {} ({} bytes, compression {}, {entries} entries)\n     diff_id {}",
                i + 1,
                layer.digest.as_deref().unwrap_or("(no digest)"),
                layer.size,
                layer.compression,
                layer.diff_id
            )
        }),
    );
    section(
        &mut out,
        "files",
        report.files.iter().map(|f| {
            let size = f.size.map_or("-".to_string(), |s| s.to_string());
            let target = f.target.as_ref().map_or(String::new(), |t| format!(" -> {t}"));
            format!("{:<7} {} {size:>10}  {}{target}", f.kind, f.mode, printable(&f.path))
        }),
    );
    if !report.skipped.is_empty() {
        section(&mut out, "skipped", report.skipped.iter().map(String::to_string));
    }
    out.push_str(&format!(
        "{:<11} {}\n",
        "digests:",
        if report.digests_ok { "all match" } else { "MISMATCH (see problems)" }
    ));
    section(
        &mut out,
        "problems",
        report.problems.iter().map(|p| {
            let key = p.key.as_ref().map_or(String::new(), |k| format!(" {k}:"));
            format!("{} [{}]{key} {}", p.severity, p.source, p.message)
        }),
    );
    let count = |severity: &str| report.problems.iter().filter(|p| p.severity == severity).count();
    out.push_str(&format!(
        "{:<11} {} ({} errors, {} warnings)\n",
        "result:",
        if report.ok() { "ok" } else { "NOT OK" },
        count("error"),
        count("warning")
    ));
    out
}

fn or_none(text: &str) -> String {
    if text.is_empty() { "(none)".to_string() } else { text.to_string() }
}

fn list(items: &Option<Vec<String>>) -> String {
    match items {
        None => "(none)".to_string(),
        Some(items) => serde_json::to_string(items).unwrap_or_default(),
    }
}

fn pairs(map: &BTreeMap<String, String>) -> impl Iterator<Item = String> + '_ {
    map.iter().map(|(k, v)| format!("{}={}", printable(k), printable(v)))
}

/// `text` with control characters escaped, so that one value stays on one line.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect()
}

fn section(out: &mut String, title: &str, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        out.push_str(&format!("{title}: (none)\n"));
        return;
    }
    out.push_str(&format!("{title}:\n"));
    for item in items {
        out.push_str(&format!("  {item}\n"));
    }
}

/// Rebuilds every object with its keys in sorted order, whatever order
/// serde_json's map keeps.
fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> = map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

// ---------------------------------------------------------------------------
// Checks.

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
        Compression::Plain
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

/// Errors for each key on which urunc.json and the labels/annotations differ:
/// runtimes that pass annotations and runtimes that do not would run
/// different things.
fn compare(merged: &BTreeMap<String, String>, json: &BTreeMap<String, String>, problems: &mut Problems) {
    let keys: std::collections::BTreeSet<&String> = merged.keys().chain(json.keys()).collect();
    let shown = |value: Option<&String>| value.map_or("unset".to_string(), |v| format!("`{}`", v.escape_debug()));
    for key in keys {
        let (a, b) = (merged.get(key), json.get(key));
        if a != b {
            problems.error(
                "urunc.json",
                urunc::short_key(key),
                format!(
                    "urunc.json says {} but the labels/annotations say {}; Docker, nerdctl and ctr use \
                     urunc.json, runtimes that pass annotations use the other",
                    shown(b),
                    shown(a)
                ),
            );
        }
    }
}

/// Warns when a path key names a symlink: the check follows it, but urunc
/// may copy or move the path itself.
fn note_symlink(tree: &Tree, key: &str, path: &str, source: &str, problems: &mut Problems) {
    let Some(Node::Symlink { target }) = tree.get(&clean(path)) else {
        return;
    };
    let message = match resolve(tree, path) {
        Resolved::Found(to) => format!(
            "`{path}` is a symlink to `{target}` (the file /{to}); name the file itself, as urunc may copy \
             or move the path it is given"
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
fn flatten_keeping(image: &Image, wanted: &[String]) -> Result<Flattened> {
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
fn clean(path: &str) -> String {
    path.split('/').filter(|p| !p.is_empty() && *p != ".").collect::<Vec<_>>().join("/")
}

/// Where a path leads in the image.
enum Resolved {
    /// The clean relative path of what it names (`""` is the root).
    Found(String),
    Missing,
    Loop,
}

/// Follows `path` through `tree` as the guest's kernel would, symlinks in
/// every component included; `..` at the root stays at the root, so nothing
/// leads outside the image.
fn resolve(tree: &Tree, path: &str) -> Resolved {
    let mut todo: Vec<String> = path.split('/').rev().map(str::to_string).collect();
    let mut at: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "" | "." => {}
            ".." => {
                at.pop();
            }
            name => {
                at.push(name.to_string());
                match tree.get(&at.join("/")) {
                    None => return Resolved::Missing,
                    Some(Node::Symlink { target }) => {
                        links += 1;
                        if links > MAX_SYMLINKS {
                            return Resolved::Loop;
                        }
                        at.pop();
                        if target.starts_with('/') {
                            at.clear();
                        }
                        todo.extend(target.split('/').rev().map(str::to_string));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    Resolved::Found(at.join("/"))
}

/// What `urunc::check` is told about an absolute path: symlinks are followed.
fn kind_at(tree: &Tree, path: &str) -> FileKind {
    match resolve(tree, path) {
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
fn head_of<'a>(tree: &'a Tree, path: &str) -> Option<&'a [u8]> {
    match tree.get(path) {
        Some(Node::File { content: Content::Inline(bytes), .. }) if !bytes.is_empty() => Some(bytes),
        _ => None,
    }
}

fn files_of(tree: &Tree) -> Vec<FileReport> {
    tree.iter()
        .map(|(path, node)| {
            let (kind, mode, size, target) = match node {
                Node::Dir { mode } => ("dir", format!("{mode:04o}"), None, None),
                Node::File { size, mode, .. } => ("file", format!("{mode:04o}"), Some(*size), None),
                Node::Symlink { target } => ("symlink", "0777".to_string(), None, Some(target.clone())),
            };
            FileReport { path: format!("/{path}"), kind: kind.to_string(), mode, size, target }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::imageread::tests::{E, TestImage, layer, write_dir, write_tar};

    /// A 64-byte ELF header for x86-64 (e_machine 62), padded.
    fn elf_amd64() -> Vec<u8> {
        let mut head = vec![0u8; 256];
        head[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        head[16] = 2;
        head[18] = 62;
        head[20] = 1;
        head
    }

    fn keys(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn linux_keys() -> BTreeMap<String, String> {
        keys(&[("unikernelType", "linux"), ("hypervisor", "qemu"), ("binary", "/kernel")])
    }

    /// An image holding `/kernel` (x86-64 ELF), `extra` entries and
    /// `urunc_json` (when given), labelled with `labels` (short keys).
    fn image(labels: &BTreeMap<String, String>, urunc_json: Option<&[u8]>, extra: &[E]) -> TestImage {
        let kernel = elf_amd64();
        let mut entries = vec![E::File("kernel", &kernel, 0o755)];
        if let Some(bytes) = urunc_json {
            entries.push(E::File("urunc.json", bytes, 0o644));
        }
        let mut test = TestImage::new(vec![layer(&entries), layer(extra)]);
        test.config = json!({"Cmd": ["/init", "x"], "Labels": urunc::labels(labels)});
        test
    }

    fn run(test: &TestImage) -> Report {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.tar");
        write_tar(&path, &test.hybrid());
        inspect(&path, &Options { pair_check: true }).unwrap()
    }

    fn messages(report: &Report, severity: &str) -> Vec<String> {
        report
            .problems
            .iter()
            .filter(|p| p.severity == severity)
            .map(|p| format!("[{}] {}: {}", p.source, p.key.as_deref().unwrap_or("-"), p.message))
            .collect()
    }

    #[test]
    fn a_good_image_has_no_problems() {
        assert_eq!(arch::detect(&elf_amd64()), Some("amd64"));
        let json = urunc::urunc_json(&linux_keys());
        let mut test = image(&linux_keys(), Some(&json), &[E::Symlink("sbin/init", "/kernel")]);
        test.annotations = urunc::labels(&linux_keys());
        let report = run(&test);
        assert_eq!(report.problems.len(), 0, "{:?}", report.problems);
        assert!(report.ok());
        assert!(report.digests_ok);
        assert_eq!(report.format, "docker-archive with OCI layout");
        assert_eq!(report.tags, vec!["hello:1.0"]);
        assert_eq!(report.binary_architecture.as_deref(), Some("amd64"));
        assert_eq!(report.urunc_json.status, "ok");
        assert_eq!(report.effective, urunc::labels(&linux_keys()));
        assert_eq!(report.layers.iter().map(|l| l.entries).collect::<Vec<_>>(), vec![Some(2), Some(1)]);
        let paths: Vec<&str> = report.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, vec!["/kernel", "/sbin", "/sbin/init", "/urunc.json"]);
        assert_eq!(report.files[0].mode, "0755");
        assert_eq!(report.files[0].size, Some(256));

        let text = render_text(&report);
        assert!(text.contains("file    0755        256  /kernel\n"), "{text}");
        assert!(text.contains("symlink 0777          -  /sbin/init -> /kernel\n"), "{text}");
        assert!(text.contains("com.urunc.unikernel.binary=/kernel"), "{text}");
        assert!(text.ends_with("result:     ok (0 errors, 0 warnings)\n"), "{text}");

        let rendered = render_json(&report);
        let value: Value = serde_json::from_str(&rendered).unwrap();
        assert_eq!(value["ok"], json!(true));
        assert_eq!(value["platform"], json!("linux/amd64"));
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(rendered.find("\"archive_compression\"").unwrap() < rendered.find("\"binary_architecture\"").unwrap());
    }

    #[test]
    fn a_non_string_urunc_json_value_is_an_error() {
        let bad = br#"{"com.urunc.unikernel.binary": 5}"#;
        let report = run(&image(&linux_keys(), Some(bad), &[]));
        assert!(!report.ok());
        assert_eq!(report.urunc_json.status, "invalid");
        let errors = messages(&report, "error");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("[urunc.json]") && errors[0].contains("not a base64 string"), "{errors:?}");
        assert!(errors[0].contains("fall back to runc"), "{errors:?}");
    }

    #[test]
    fn base64_in_labels_is_flagged() {
        let mut labels = linux_keys();
        labels.insert("hypervisor".into(), "cWVtdQ==".into());
        let json = urunc::urunc_json(&labels);
        let report = run(&image(&labels, Some(&json), &[]));
        assert!(!report.ok());
        let errors = messages(&report, "error");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("[annotations] hypervisor:") && e.contains("looks base64-encoded, for `qemu`")),
            "{errors:?}"
        );
    }

    #[test]
    fn a_missing_urunc_json_is_a_warning() {
        let report = run(&image(&linux_keys(), None, &[]));
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!(report.urunc_json.status, "missing");
        let warnings = messages(&report, "warning");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("/urunc.json is missing") && warnings[0].contains("Docker"), "{warnings:?}");
    }

    #[test]
    fn urunc_json_disagreeing_with_labels_is_an_error() {
        let mut in_json = linux_keys();
        in_json.insert("hypervisor".into(), "firecracker".into());
        in_json.insert("initrd".into(), "/nope".into());
        let json = urunc::urunc_json(&in_json);
        let report = run(&image(&linux_keys(), Some(&json), &[]));
        let errors = messages(&report, "error");
        assert!(
            errors.iter().any(|e| e.starts_with("[urunc.json] hypervisor:")
                && e.contains("urunc.json says `firecracker` but the labels/annotations say `qemu`")),
            "{errors:?}"
        );
        assert!(errors.iter().any(|e| e.contains("says `/nope` but the labels/annotations say unset")), "{errors:?}");
        // urunc.json is checked on its own too, since Docker would use it.
        assert!(
            errors.iter().any(|e| e.starts_with("[urunc.json] initrd:") && e.contains("not in the image")),
            "{errors:?}"
        );
    }

    #[test]
    fn labels_and_annotations_disagreeing_is_a_warning() {
        let mut test = image(&linux_keys(), Some(&urunc::urunc_json(&linux_keys())), &[]);
        let mut annotations = linux_keys();
        annotations.insert("binary".into(), "/other".into());
        test.annotations = urunc::labels(&annotations);
        let report = run(&test);
        let warnings = messages(&report, "warning");
        assert!(
            warnings.iter().any(|w| w.contains("label is `/kernel` but the manifest annotation is `/other`")),
            "{warnings:?}"
        );
        let errors = messages(&report, "error");
        assert!(
            errors.iter().any(|e| e.starts_with("[annotations] binary:") && e.contains("`/other` is not in the image")),
            "{errors:?}"
        );
    }

    #[test]
    fn platform_problems() {
        let json = urunc::urunc_json(&linux_keys());
        let mut test = image(&linux_keys(), Some(&json), &[]);
        test.architecture = "arm64";
        let errors = messages(&run(&test), "error");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("architecture arm64 but the binary is amd64"), "{errors:?}");

        test.architecture = "";
        let errors = messages(&run(&test), "error");
        assert!(errors.iter().any(|e| e.contains("architecture is missing")), "{errors:?}");
    }

    #[test]
    fn os_other_than_linux_is_an_error() {
        let json = urunc::urunc_json(&linux_keys());
        let test = image(&linux_keys(), Some(&json), &[]);
        let mut files = test.hybrid();
        let config = test.config_bytes();
        let windows = String::from_utf8(config.clone()).unwrap().replace("\"os\":\"linux\"", "\"os\":\"windows\"");
        assert_ne!(windows.as_bytes(), config.as_slice());
        for (_, data) in files.iter_mut() {
            if *data == config {
                *data = windows.clone().into_bytes();
            }
        }
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), &files);
        let report = inspect(dir.path(), &Options { pair_check: true }).unwrap();
        let errors = messages(&report, "error");
        assert!(errors.iter().any(|e| e.contains("os is windows")), "{errors:?}");
        // The config was edited, so its digest no longer matches.
        assert!(!report.digests_ok);
        assert!(errors.iter().any(|e| e.starts_with("[image] -: config sha256:")), "{errors:?}");
    }

    #[test]
    fn a_mislabelled_layer_compression_is_a_warning() {
        let json = urunc::urunc_json(&linux_keys());
        let mut test = image(&linux_keys(), Some(&json), &[]);
        test.compress = crate::imageread::tests::zstd;
        test.media_type = Some("application/vnd.docker.image.rootfs.diff.tar.gzip");
        let report = run(&test);
        assert!(report.ok());
        assert_eq!(report.layers[0].compression, "zstd");
        let warnings = messages(&report, "warning");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("layer 1 (") && warnings[0].contains("says gzip but the blob is zstd"),
            "{warnings:?}"
        );
    }

    #[test]
    fn no_arguments_is_a_warning() {
        let json = urunc::urunc_json(&linux_keys());
        let mut test = image(&linux_keys(), Some(&json), &[]);
        test.config = json!({"Labels": urunc::labels(&linux_keys())});
        let report = run(&test);
        assert!(report.ok());
        let warnings = messages(&report, "warning");
        assert!(warnings.iter().any(|w| w.contains("no Entrypoint, Cmd or cmdline")), "{warnings:?}");

        let mut with_cmdline = linux_keys();
        with_cmdline.insert("cmdline".into(), "/init".into());
        let json = urunc::urunc_json(&with_cmdline);
        let mut test = image(&with_cmdline, Some(&json), &[]);
        test.config = json!({"Labels": urunc::labels(&with_cmdline)});
        assert!(messages(&run(&test), "warning").is_empty());
    }

    #[test]
    fn binary_symlinks_are_followed_or_reported() {
        let mut labels = linux_keys();
        labels.insert("binary".into(), "/boot/vmlinuz".into());
        let json = urunc::urunc_json(&labels);
        let report = run(&image(&labels, Some(&json), &[E::Symlink("boot/vmlinuz", "../kernel")]));
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!(report.binary_architecture.as_deref(), Some("amd64"));
        let warnings = messages(&report, "warning");
        assert!(warnings.iter().any(|w| w.contains("is a symlink to `../kernel` (the file /kernel)")), "{warnings:?}");

        let report = run(&image(&labels, Some(&json), &[E::Symlink("boot/vmlinuz", "/gone")]));
        let errors = messages(&report, "error");
        assert!(errors.iter().any(|e| e.contains("`/boot/vmlinuz` is not in the image")), "{errors:?}");
        let warnings = messages(&report, "warning");
        assert!(warnings.iter().any(|w| w.contains("does not lead to anything")), "{warnings:?}");
    }

    #[test]
    fn urunc_json_alone_is_used_and_its_binary_read() {
        let json = urunc::urunc_json(&linux_keys());
        let mut test = image(&BTreeMap::new(), Some(&json), &[]);
        test.architecture = "arm64";
        let report = run(&test);
        assert_eq!(report.effective_source, "urunc.json");
        assert_eq!(report.binary_architecture.as_deref(), Some("amd64"));
        let errors = messages(&report, "error");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("binary is amd64"), "{errors:?}");
    }

    #[test]
    fn corrupted_layers_are_reported_not_fatal() {
        let json = urunc::urunc_json(&linux_keys());
        let test = image(&linux_keys(), Some(&json), &[E::File("a/../../x", b"x", 0o644)]);
        let report = run(&test);
        assert!(!report.ok());
        assert!(report.files.is_empty());
        assert_eq!(report.urunc_json.status, "unread");
        let errors = messages(&report, "error");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("cannot flatten the layers") && errors[0].contains("a/../../x"), "{errors:?}");
    }
}
