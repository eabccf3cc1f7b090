//! Reads container images written by any tool, for `inspect` and for
//! building a rootfs from an existing image.
//!
//! Four layouts are understood: a docker-archive (`manifest.json`, a config
//! and layer tars, as `docker save` before Docker 25 writes it), the hybrid
//! that Docker 25+ saves (a docker-archive that is also an OCI layout), an
//! OCI archive (a tar of an OCI layout) and an OCI layout directory. A tar
//! archive is scanned once to index its entries (name -> offset and size)
//! and then read by random access, so a layer is streamed from disk and
//! never held in memory. A whole archive compressed with gzip or zstd,
//! which `docker load` accepts, is first decompressed into an anonymous
//! temporary file. Layers may be uncompressed, gzip or zstd; the
//! compression is told from the bytes, not from the media type, because
//! some tools mislabel it.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tar::EntryType;

use crate::model::fstree::{Content, Node, Tree};
use crate::model::oci::{hex, sha256_digest};

/// The largest JSON document (index, manifest, config) read into memory.
const MAX_JSON: u64 = 64 << 20;
/// How deep image indexes may nest (an index of indexes of manifests).
const MAX_INDEX_DEPTH: usize = 4;
/// How many links are followed to find an entry of the outer archive.
const MAX_LINKS: usize = 16;

/// The layout an image was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `docker save` before Docker 25: `manifest.json`, config and layer tars.
    DockerArchive,
    /// `docker save` since Docker 25: a docker-archive that is also an OCI layout.
    DockerOciArchive,
    /// A tar of an OCI image layout, without `manifest.json`.
    OciArchive,
    /// An OCI image layout directory.
    OciDir,
}

impl Format {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::DockerArchive => "docker-archive",
            Format::DockerOciArchive => "docker-archive with OCI layout",
            Format::OciArchive => "oci-archive",
            Format::OciDir => "oci-dir",
        }
    }
}

/// How a layer or a whole archive is compressed, told from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed.
    Plain,
    /// gzip (magic `1f 8b`).
    Gzip,
    /// Zstandard (magic `28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// `none`, `gzip` or `zstd`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Plain => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::Plain
        }
    }
}

/// An OS, architecture and optional variant, as in OCI platform objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Platform {
    /// `linux` for every image urunc runs.
    #[serde(default)]
    pub os: String,
    /// Go's name: `amd64`, `arm64`, `riscv64`, ...
    #[serde(default)]
    pub architecture: String,
    /// `v7`, `v8`, ... when the architecture has variants.
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `arch`, `os/arch` or `os/arch/variant` (`arch` alone means
    /// `linux/arch`).
    pub fn parse(text: &str) -> Result<Platform> {
        let parts: Vec<&str> = text.split('/').collect();
        let (os, architecture, variant) = match parts.as_slice() {
            [arch] => ("linux", *arch, None),
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(variant.to_string())),
            _ => bail!("platform {text:?} is not of the form os/arch or os/arch/variant (e.g. linux/arm64)"),
        };
        if os.is_empty() || architecture.is_empty() || variant.as_deref() == Some("") {
            bail!("platform {text:?} has an empty part; write it as os/arch or os/arch/variant (e.g. linux/arm64)");
        }
        Ok(Platform { os: os.to_string(), architecture: architecture.to_string(), variant })
    }

    /// Whether this platform is what `wanted` asks for (any variant when
    /// `wanted` names none).
    fn satisfies(&self, wanted: &Platform) -> bool {
        self.os == wanted.os
            && self.architecture == wanted.architecture
            && (wanted.variant.is_none() || self.variant == wanted.variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |s: &str| if s.is_empty() { "?".to_string() } else { s.to_string() };
        write!(f, "{}/{}", show(&self.os), show(&self.architecture))?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// Which image to read from an archive that holds several.
#[derive(Clone, Debug, Default)]
pub struct Select {
    /// `os/arch[/variant]`; needed when an index lists several platforms.
    pub platform: Option<String>,
    /// A repository tag or OCI ref name (`hello:1.0`, `docker.io/library/hello:1.0`,
    /// `1.0`); needed when an archive holds several images.
    pub tag: Option<String>,
}

/// The parts of an image config that matter to urunc and to users.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Empty when the config has none (which is an error for every consumer).
    pub architecture: String,
    /// Empty when the config has none.
    pub os: String,
    /// The architecture variant, if any.
    pub variant: Option<String>,
    /// The creation time as written (RFC 3339).
    pub created: Option<String>,
    /// `config.Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `config.Cmd`.
    pub cmd: Option<Vec<String>>,
    /// `config.Env`.
    pub env: Vec<String>,
    /// `config.WorkingDir`, when not empty.
    pub working_dir: Option<String>,
    /// `config.Labels`.
    pub labels: BTreeMap<String, String>,
}

impl Config {
    /// The config's platform.
    pub fn platform(&self) -> Platform {
        Platform { os: self.os.clone(), architecture: self.architecture.clone(), variant: self.variant.clone() }
    }
}

/// One layer of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// The digest of the stored (possibly compressed) blob, when the archive
    /// declares one (OCI manifests, `blobs/sha256/<hex>` names).
    pub digest: Option<String>,
    /// The digest of the uncompressed tar, from the config's `rootfs.diff_ids`.
    pub diff_id: String,
    /// The media type from the OCI manifest, if any.
    pub media_type: Option<String>,
    /// The stored size in bytes.
    pub size: u64,
    /// The compression, told from the blob's first bytes.
    pub compression: Compression,
    /// The size the manifest declares, if any.
    declared_size: Option<u64>,
    /// Where the blob is inside the archive or directory.
    name: String,
}

/// An image opened for reading; blobs are read from `path` on demand.
#[derive(Debug)]
pub struct Image {
    /// The archive or directory the image was read from.
    pub path: PathBuf,
    /// Its layout.
    pub format: Format,
    /// How the whole archive was compressed (`Plain` for most).
    pub compression: Compression,
    /// `RepoTags` of a docker-archive, else the image name from the OCI index.
    pub repo_tags: Vec<String>,
    /// The manifest's digest, for OCI layouts.
    pub manifest_digest: Option<String>,
    /// The manifest's `annotations` (OCI layouts only; urunc reads these).
    pub manifest_annotations: BTreeMap<String, String>,
    /// The config's digest: as declared, or computed when nothing declares it.
    pub config_digest: String,
    /// The decoded config.
    pub config: Config,
    /// The config as written.
    pub config_json: Value,
    /// The layers, lowest first.
    pub layers: Vec<Layer>,
    source: Source,
    /// Index, manifest and config blobs whose digest or size `verify` checks.
    blobs: Vec<BlobCheck>,
}

/// The layers of an image applied into one filesystem.
#[derive(Debug)]
pub struct Flattened {
    /// The resulting filesystem.
    pub tree: Tree,
    /// Entries left out: device nodes and fifos, as `/path (kind, layer N)`.
    pub skipped: Vec<String>,
    /// How many entries each layer's tar holds, in layer order.
    pub layer_entries: Vec<usize>,
}

/// A JSON blob whose digest and size `verify` checks.
#[derive(Clone, Debug)]
struct BlobCheck {
    what: String,
    name: String,
    digest: Option<String>,
    size: Option<u64>,
}

/// Opens the image at `path` (archive file or OCI layout directory),
/// choosing one image by `select` when the archive holds several. Reads
/// only the small JSON documents; layers are read later, on demand.
pub fn open(path: &Path, select: &Select) -> Result<Image> {
    open_inner(path, select).with_context(|| format!("cannot read image {}", path.display()))
}

impl Image {
    /// Opens an image to build on: the only one in the archive, or the one
    /// for `linux/<architecture>` when the archive holds several platforms.
    pub fn open_for(path: &Path, architecture: Option<&str>) -> Result<Image> {
        open(path, &Select { platform: architecture.map(|a| format!("linux/{a}")), tag: None })
    }
}

fn open_inner(path: &Path, select: &Select) -> Result<Image> {
    let wanted = select.platform.as_deref().map(Platform::parse).transpose()?;
    let (source, compression) =
        if path.is_dir() { (Source::Dir(path.to_path_buf()), Compression::Plain) } else { Source::open_tar(path)? };
    let has_manifest = source.contains("manifest.json");
    let has_index = source.contains("index.json");
    let format = match (has_manifest, has_index, &source) {
        (true, true, _) => Format::DockerOciArchive,
        (true, false, _) => Format::DockerArchive,
        (false, true, Source::Dir(_)) => Format::OciDir,
        (false, true, Source::Tar { .. }) => Format::OciArchive,
        (false, false, Source::Dir(_)) => {
            bail!("the directory has no index.json, so it is not an OCI image layout")
        }
        (false, false, Source::Tar { .. }) => {
            bail!("the archive has neither manifest.json (docker-archive) nor index.json (OCI layout) at its root")
        }
    };
    let loaded = if has_index {
        open_oci(&source, format, select.tag.as_deref(), wanted.as_ref())?
    } else {
        open_docker(&source, select.tag.as_deref(), wanted.as_ref())?
    };
    Ok(Image {
        path: path.to_path_buf(),
        format,
        compression,
        repo_tags: loaded.repo_tags,
        manifest_digest: loaded.manifest_digest,
        manifest_annotations: loaded.manifest_annotations,
        config_digest: loaded.config_digest,
        config: loaded.parsed.config,
        config_json: loaded.parsed.json,
        layers: loaded.layers,
        source,
        blobs: loaded.blobs,
    })
}

/// What the format-specific readers find, before it becomes an `Image`.
struct Loaded {
    repo_tags: Vec<String>,
    manifest_digest: Option<String>,
    manifest_annotations: BTreeMap<String, String>,
    config_digest: String,
    parsed: ParsedConfig,
    layers: Vec<Layer>,
    blobs: Vec<BlobCheck>,
}

// ---------------------------------------------------------------------------
// Where blobs come from.

/// A directory, or a tar file indexed by entry name.
#[derive(Debug)]
enum Source {
    Dir(PathBuf),
    Tar { file: File, entries: BTreeMap<String, TarItem> },
}

#[derive(Debug)]
enum TarItem {
    Data { offset: u64, size: u64 },
    Link(String),
}

impl Source {
    /// Indexes the tar at `path`, decompressing it first when the whole
    /// archive is compressed.
    fn open_tar(path: &Path) -> Result<(Source, Compression)> {
        let file = File::open(path).context("cannot open it")?;
        let mut head = [0u8; 4];
        let got = file.read_at(&mut head, 0).context("cannot read it")?;
        let compression = Compression::sniff(head.get(..got).unwrap_or_default());
        let file = if compression == Compression::Plain {
            file
        } else {
            let mut plain = tempfile::tempfile().context("cannot create a temporary file")?;
            let mut decoder = decompressor(compression, BufReader::new(file));
            io::copy(&mut decoder, &mut plain)
                .with_context(|| format!("cannot decompress the {}-compressed archive", compression.name()))?;
            plain
        };
        // The tar crate's own message quotes raw header bytes; say it plainly.
        let entries = index_tar(&file).map_err(|_| anyhow!("it is not a tar archive (nor an OCI layout directory)"))?;
        Ok((Source::Tar { file, entries }, compression))
    }

    fn contains(&self, name: &str) -> bool {
        match self {
            Source::Dir(root) => root.join(name).is_file(),
            Source::Tar { entries, .. } => entries.contains_key(name),
        }
    }

    /// Opens the blob or file `name` (a clean relative path) and gives its size.
    fn open(&self, name: &str) -> Result<(Box<dyn Read + '_>, u64)> {
        match self {
            Source::Dir(root) => {
                let path = root.join(name);
                let file = File::open(&path).with_context(|| format!("{name} is missing or unreadable"))?;
                let size = file.metadata().with_context(|| format!("cannot stat {name}"))?.len();
                Ok((Box::new(BufReader::with_capacity(1 << 16, file)), size))
            }
            Source::Tar { file, entries } => {
                let mut current = name.to_string();
                for _ in 0..MAX_LINKS {
                    match entries.get(&current) {
                        None if current == name => bail!("{name} is missing from the archive"),
                        None => bail!("{name} is a link to {current}, which is missing from the archive"),
                        Some(TarItem::Link(target)) => current = target.clone(),
                        Some(TarItem::Data { offset, size }) => {
                            let section = Section { file, pos: *offset, end: offset.saturating_add(*size) };
                            return Ok((Box::new(BufReader::with_capacity(1 << 16, section)), *size));
                        }
                    }
                }
                bail!("{name}: more than {MAX_LINKS} links to follow in the archive")
            }
        }
    }

    fn size(&self, name: &str) -> Result<u64> {
        Ok(self.open(name)?.1)
    }

    /// Reads a small document (JSON) whole.
    fn read_small(&self, name: &str) -> Result<Vec<u8>> {
        let (reader, size) = self.open(name)?;
        if size > MAX_JSON {
            bail!("{name} is {size} bytes, too large for a JSON document (at most {MAX_JSON})");
        }
        let mut bytes = Vec::new();
        reader.take(MAX_JSON).read_to_end(&mut bytes).with_context(|| format!("cannot read {name}"))?;
        Ok(bytes)
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let bytes = self.read_small(name)?;
        serde_json::from_slice(&bytes).with_context(|| format!("{name} is not the JSON document expected"))
    }
}

/// Scans a tar once, recording where each file's bytes are.
fn index_tar(mut file: &File) -> Result<BTreeMap<String, TarItem>> {
    file.rewind()?;
    let mut archive = tar::Archive::new(file);
    let mut entries = BTreeMap::new();
    for entry in archive.entries_with_seek()? {
        let entry = entry?;
        let raw = entry.path_bytes();
        let Some(name) = std::str::from_utf8(&raw).ok().and_then(|p| join_clean("", p)) else {
            continue;
        };
        let link = || entry.link_name_bytes().and_then(|l| String::from_utf8(l.into_owned()).ok());
        let item = match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous => {
                TarItem::Data { offset: entry.raw_file_position(), size: entry.size() }
            }
            EntryType::Symlink => {
                let Some(target) = link() else { continue };
                let base = if target.starts_with('/') { "" } else { parent_of(&name) };
                let Some(target) = join_clean(base, &target) else {
                    continue;
                };
                TarItem::Link(target)
            }
            EntryType::Link => {
                let Some(target) = link().and_then(|t| join_clean("", &t)) else {
                    continue;
                };
                TarItem::Link(target)
            }
            _ => continue,
        };
        entries.insert(name, item);
    }
    Ok(entries)
}

/// `base/rel` with `.` and `..` resolved and no leading `/`; `None` when it
/// is empty or climbs above the root.
fn join_clean(base: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(rel.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn parent_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// A byte range of a shared file, read with `pread` so that several readers
/// can use one file at once.
struct Section<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut buf[..want], self.pos)?;
        if got == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the archive is truncated"));
        }
        self.pos += got as u64;
        Ok(got)
    }
}

// ---------------------------------------------------------------------------
// Decompression.

/// Tells the compression of `raw` from its first bytes and decompresses it.
fn decompress<'a>(mut raw: impl Read + 'a) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut head = Vec::with_capacity(4);
    (&mut raw).take(4).read_to_end(&mut head)?;
    let compression = Compression::sniff(&head);
    let whole = io::Cursor::new(head).chain(raw);
    Ok((compression, decompressor(compression, whole)))
}

fn decompressor<'a>(compression: Compression, raw: impl Read + 'a) -> Box<dyn Read + 'a> {
    match compression {
        Compression::Plain => Box::new(raw),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Compression::Zstd => {
            Box::new(ZstdFrames { source: BufReader::new(raw), decoder: FrameDecoder::new(), in_frame: false })
        }
    }
}

/// A zstd stream of any number of frames, skipping skippable frames (as
/// zstd:chunked layers have); ruzstd's own reader stops after one frame.
struct ZstdFrames<R: Read> {
    source: BufReader<R>,
    decoder: FrameDecoder,
    in_frame: bool,
}

impl<R: Read> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                while self.decoder.can_collect() == 0 && !self.decoder.is_finished() {
                    self.decoder
                        .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                        .map_err(io::Error::other)?;
                }
                let got = self.decoder.read(buf)?;
                if got > 0 {
                    return Ok(got);
                }
                self.in_frame = false;
            }
            if self.source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => self.in_frame = true,
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame { length, .. })) => {
                    let skipped = io::copy(&mut (&mut self.source).take(u64::from(length)), &mut io::sink())?;
                    if skipped < u64::from(length) {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated zstd skippable frame"));
                    }
                }
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// JSON documents.

#[derive(Clone, Debug, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct IndexJson {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ManifestJson {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// The name of a blob in an OCI layout.
fn blob_name(digest: &str) -> Result<String> {
    let Some(hex) = digest.strip_prefix("sha256:") else {
        bail!("digest {digest:?} is not a sha256 digest (only sha256 is supported)");
    };
    if !is_sha256_hex(hex) {
        bail!("digest {digest:?} does not have 64 lowercase hex digits after sha256:");
    }
    Ok(format!("blobs/sha256/{hex}"))
}

fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The digest a docker-archive file name implies: `blobs/sha256/<hex>`
/// (Docker 25+) or a config named `<hex>.json` (older Docker).
fn digest_of_name(name: &str) -> Option<String> {
    let hex = name.strip_prefix("blobs/sha256/").or_else(|| name.strip_suffix(".json").filter(|s| !s.contains('/')))?;
    is_sha256_hex(hex).then(|| format!("sha256:{hex}"))
}

/// A docker-archive path from manifest.json, checked to stay inside the archive.
fn archive_path(raw: &str, what: &str) -> Result<String> {
    match join_clean("", raw) {
        Some(clean) if !raw.split('/').any(|p| p == "..") => Ok(clean),
        _ => bail!("manifest.json: {what} path {raw:?} is not a relative path inside the archive"),
    }
}

/// The image names an index.json descriptor carries.
fn names_of(desc: &Descriptor) -> Vec<String> {
    let Some(annotations) = &desc.annotations else {
        return Vec::new();
    };
    ["io.containerd.image.name", "org.opencontainers.image.ref.name"]
        .iter()
        .filter_map(|key| annotations.get(*key).cloned())
        .collect()
}

/// Whether image reference `name` is what the user asked for with `tag`.
fn same_reference(name: &str, tag: &str) -> bool {
    fn normal(r: &str) -> String {
        let r = r.strip_prefix("docker.io/").unwrap_or(r);
        let r = r.strip_prefix("library/").unwrap_or(r);
        let last = r.rsplit('/').next().unwrap_or(r);
        if last.contains(':') || last.contains('@') { r.to_string() } else { format!("{r}:latest") }
    }
    name == tag || normal(name) == normal(tag)
}

/// The fields of a config, decoded with errors that name the field.
struct ParsedConfig {
    config: Config,
    json: Value,
    diff_ids: Vec<String>,
}

fn parse_config(bytes: &[u8], name: &str) -> Result<ParsedConfig> {
    let json: Value = serde_json::from_slice(bytes).with_context(|| format!("config {name} is not valid JSON"))?;
    if !json.is_object() {
        bail!("config {name} is not a JSON object");
    }
    let at = |field: &str| format!("config {name}: {field}");
    let inner = json.get("config").cloned().unwrap_or(Value::Null);
    if !(inner.is_object() || inner.is_null()) {
        bail!("{} must be an object", at("config"));
    }
    let config = Config {
        architecture: opt_string(&json, "architecture", &at("architecture"))?.unwrap_or_default(),
        os: opt_string(&json, "os", &at("os"))?.unwrap_or_default(),
        variant: opt_string(&json, "variant", &at("variant"))?.filter(|v| !v.is_empty()),
        created: opt_string(&json, "created", &at("created"))?,
        entrypoint: opt_strings(&inner, "Entrypoint", &at("config.Entrypoint"))?,
        cmd: opt_strings(&inner, "Cmd", &at("config.Cmd"))?,
        env: opt_strings(&inner, "Env", &at("config.Env"))?.unwrap_or_default(),
        working_dir: opt_string(&inner, "WorkingDir", &at("config.WorkingDir"))?.filter(|w| !w.is_empty()),
        labels: string_map(&inner, "Labels", &at("config.Labels"))?,
    };
    let rootfs = json.get("rootfs").cloned().unwrap_or(Value::Null);
    let diff_ids = opt_strings(&rootfs, "diff_ids", &at("rootfs.diff_ids"))?
        .ok_or_else(|| anyhow!("{} is missing; every consumer needs it", at("rootfs.diff_ids")))?;
    Ok(ParsedConfig { config, json, diff_ids })
}

fn opt_string(obj: &Value, key: &str, what: &str) -> Result<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => bail!("{what} must be a string, not {other}"),
    }
}

fn opt_strings(obj: &Value, key: &str, what: &str) -> Result<Option<Vec<String>>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => bail!("{what} must be a list of strings, but holds {other}"),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(other) => bail!("{what} must be a list of strings, not {other}"),
    }
}

fn string_map(obj: &Value, key: &str, what: &str) -> Result<BTreeMap<String, String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => bail!("{what}: {k} must be a string, not {other}"),
            })
            .collect(),
        Some(other) => bail!("{what} must be an object of strings, not {other}"),
    }
}

// ---------------------------------------------------------------------------
// Choosing and loading the image.

/// A manifest an OCI index leads to.
struct Candidate {
    names: Vec<String>,
    manifest: Descriptor,
    /// Nested indexes on the way, for `verify`.
    parents: Vec<BlobCheck>,
    platform: Option<Platform>,
}

impl Candidate {
    fn describe(&self) -> String {
        let platform = self.platform.as_ref().map_or("?".to_string(), Platform::to_string);
        match self.names.first() {
            Some(name) => format!("{name} ({platform})"),
            None => format!("{} ({platform})", self.manifest.digest),
        }
    }
}

fn open_oci(source: &Source, format: Format, tag: Option<&str>, wanted: Option<&Platform>) -> Result<Loaded> {
    let index: IndexJson = source.read_json("index.json")?;
    let mut all = Vec::new();
    for desc in index.manifests {
        let names = names_of(&desc);
        expand(source, desc, &names, Vec::new(), 0, &mut all)?;
    }
    if all.is_empty() {
        bail!("index.json lists no image manifests");
    }
    let listing = |cands: &[Candidate]| cands.iter().map(Candidate::describe).collect::<Vec<_>>().join(", ");
    let mut chosen: Vec<Candidate> = match tag {
        Some(tag) => {
            let (hit, miss): (Vec<_>, Vec<_>) =
                all.into_iter().partition(|c| c.names.iter().any(|n| same_reference(n, tag)));
            if hit.is_empty() {
                bail!("no image tagged {tag:?}; the archive holds {}", listing(&miss));
            }
            hit
        }
        None => all,
    };
    for cand in &mut chosen {
        if cand.platform.is_none() {
            cand.platform = Some(manifest_platform(source, &cand.manifest)?);
        }
    }
    if let Some(wanted) = wanted {
        let (hit, miss): (Vec<_>, Vec<_>) =
            chosen.into_iter().partition(|c| c.platform.as_ref().is_some_and(|p| p.satisfies(wanted)));
        if hit.is_empty() {
            bail!("no image for platform {wanted}; the archive holds {}", listing(&miss));
        }
        chosen = hit;
    }
    let cand = match <[Candidate; 1]>::try_from(chosen) {
        Ok([one]) => one,
        Err(many) => bail!("the archive holds several images: {}; choose one by tag or platform", listing(&many)),
    };
    load_oci(source, format, cand)
}

/// Follows `desc` (a manifest or a nested index) to the image manifests it
/// leads to, skipping attestations (BuildKit's `unknown/unknown` entries).
fn expand(
    source: &Source,
    desc: Descriptor,
    names: &[String],
    parents: Vec<BlobCheck>,
    depth: usize,
    out: &mut Vec<Candidate>,
) -> Result<()> {
    let attestation = desc.annotations.as_ref().is_some_and(|a| a.contains_key("vnd.docker.reference.type"))
        || desc.platform.as_ref().is_some_and(|p| p.os == "unknown");
    if attestation {
        return Ok(());
    }
    let name = blob_name(&desc.digest)?;
    let value: Value = source.read_json(&name)?;
    if value.get("manifests").is_none() {
        let platform = desc.platform.clone();
        out.push(Candidate { names: names.to_vec(), manifest: desc, parents, platform });
        return Ok(());
    }
    if depth >= MAX_INDEX_DEPTH {
        bail!("{name}: image indexes nest more than {MAX_INDEX_DEPTH} deep");
    }
    let index: IndexJson =
        serde_json::from_value(value).with_context(|| format!("{name} is not a valid image index"))?;
    let mut parents = parents;
    parents.push(BlobCheck {
        what: format!("index {}", desc.digest),
        name,
        digest: Some(desc.digest),
        size: desc.size,
    });
    for child in index.manifests {
        expand(source, child, names, parents.clone(), depth + 1, out)?;
    }
    Ok(())
}

/// The platform of a manifest whose descriptor names none, from its config.
fn manifest_platform(source: &Source, desc: &Descriptor) -> Result<Platform> {
    let manifest: ManifestJson = source.read_json(&blob_name(&desc.digest)?)?;
    let name = blob_name(&manifest.config.digest)?;
    let value: Value = source.read_json(&name)?;
    serde_json::from_value(value).with_context(|| format!("config {name}: os/architecture/variant must be strings"))
}

fn load_oci(source: &Source, format: Format, cand: Candidate) -> Result<Loaded> {
    let manifest_name = blob_name(&cand.manifest.digest)?;
    let manifest: ManifestJson = source.read_json(&manifest_name)?;
    let config_name = blob_name(&manifest.config.digest)?;
    let parsed = parse_config(&source.read_small(&config_name)?, &config_name)?;
    if manifest.layers.len() != parsed.diff_ids.len() {
        bail!(
            "manifest {manifest_name} lists {} layers but config {config_name} has {} rootfs.diff_ids",
            manifest.layers.len(),
            parsed.diff_ids.len()
        );
    }
    let mut layers = Vec::new();
    for (desc, diff_id) in manifest.layers.iter().zip(&parsed.diff_ids) {
        let name = blob_name(&desc.digest)?;
        layers.push(Layer {
            digest: Some(desc.digest.clone()),
            diff_id: diff_id.clone(),
            media_type: desc.media_type.clone(),
            size: source.size(&name)?,
            compression: sniff_blob(source, &name)?,
            declared_size: desc.size,
            name,
        });
    }
    let repo_tags = if format == Format::DockerOciArchive {
        let entries: Vec<DockerManifestEntry> = source.read_json("manifest.json")?;
        entries
            .into_iter()
            .find(|e| join_clean("", &e.config).as_deref() == Some(&config_name))
            .and_then(|e| e.repo_tags)
    } else {
        None
    };
    let repo_tags = repo_tags.unwrap_or_else(|| cand.names.into_iter().take(1).collect());
    let mut blobs = cand.parents;
    blobs.push(BlobCheck {
        what: format!("manifest {}", cand.manifest.digest),
        name: manifest_name,
        digest: Some(cand.manifest.digest.clone()),
        size: cand.manifest.size,
    });
    blobs.push(BlobCheck {
        what: format!("config {}", manifest.config.digest),
        name: config_name,
        digest: Some(manifest.config.digest.clone()),
        size: manifest.config.size,
    });
    Ok(Loaded {
        repo_tags,
        manifest_digest: Some(cand.manifest.digest),
        manifest_annotations: manifest.annotations.unwrap_or_default(),
        config_digest: manifest.config.digest,
        parsed,
        layers,
        blobs,
    })
}

fn open_docker(source: &Source, tag: Option<&str>, wanted: Option<&Platform>) -> Result<Loaded> {
    let entries: Vec<DockerManifestEntry> = source.read_json("manifest.json")?;
    let listing = |entries: &[DockerManifestEntry]| {
        entries
            .iter()
            .map(|e| match e.repo_tags.as_deref() {
                Some([]) | None => format!("untagged {}", e.config),
                Some(tags) => tags.join(" "),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen: Vec<DockerManifestEntry> = match tag {
        Some(tag) => {
            let (hit, miss): (Vec<_>, Vec<_>) =
                entries.into_iter().partition(|e| e.repo_tags.iter().flatten().any(|t| same_reference(t, tag)));
            if hit.is_empty() {
                bail!("no image tagged {tag:?}; manifest.json lists {}", listing(&miss));
            }
            hit
        }
        None => entries,
    };
    let entry = match <[DockerManifestEntry; 1]>::try_from(chosen) {
        Ok([one]) => one,
        Err(none) if none.is_empty() => bail!("manifest.json lists no images"),
        Err(many) => bail!("manifest.json lists several images: {}; choose one by tag", listing(&many)),
    };
    let config_name = archive_path(&entry.config, "Config")?;
    let config_bytes = source.read_small(&config_name)?;
    let parsed = parse_config(&config_bytes, &config_name)?;
    if let Some(wanted) = wanted {
        let have = parsed.config.platform();
        if !have.satisfies(wanted) {
            bail!("the image is for {have}, not {wanted}");
        }
    }
    if entry.layers.len() != parsed.diff_ids.len() {
        bail!(
            "manifest.json lists {} Layers but config {config_name} has {} rootfs.diff_ids (docker load refuses this)",
            entry.layers.len(),
            parsed.diff_ids.len()
        );
    }
    let mut layers = Vec::new();
    for (raw, diff_id) in entry.layers.iter().zip(&parsed.diff_ids) {
        let name = archive_path(raw, "Layers")?;
        layers.push(Layer {
            digest: digest_of_name(&name).filter(|_| name.starts_with("blobs/")),
            diff_id: diff_id.clone(),
            media_type: None,
            size: source.size(&name)?,
            compression: sniff_blob(source, &name)?,
            declared_size: None,
            name,
        });
    }
    let declared = digest_of_name(&config_name);
    let config_digest = declared.clone().unwrap_or_else(|| sha256_digest(&config_bytes));
    Ok(Loaded {
        repo_tags: entry.repo_tags.unwrap_or_default(),
        manifest_digest: None,
        manifest_annotations: BTreeMap::new(),
        config_digest,
        parsed,
        layers,
        blobs: vec![BlobCheck {
            what: format!("config {config_name}"),
            name: config_name,
            digest: declared,
            size: None,
        }],
    })
}

fn sniff_blob(source: &Source, name: &str) -> Result<Compression> {
    let (reader, _) = source.open(name)?;
    let mut head = Vec::with_capacity(4);
    reader.take(4).read_to_end(&mut head).with_context(|| format!("cannot read {name}"))?;
    Ok(Compression::sniff(&head))
}

// ---------------------------------------------------------------------------
// Hashing.

/// Passes bytes through while hashing and counting them.
struct Tee<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = self.inner.read(buf)?;
        self.hasher.update(&buf[..got]);
        self.len += got as u64;
        Ok(got)
    }
}

fn hash_stream(reader: impl Read) -> io::Result<(String, u64)> {
    let mut tee = Tee { inner: reader, hasher: Sha256::new(), len: 0 };
    io::copy(&mut tee, &mut io::sink())?;
    Ok((format!("sha256:{}", hex(&tee.hasher.finalize())), tee.len))
}

// ---------------------------------------------------------------------------
// Reading layers.

impl Image {
    /// `layer N (digest)`, 1-based, for messages.
    pub fn layer_label(&self, i: usize) -> String {
        match self.layers.get(i) {
            Some(layer) => format!("layer {} ({})", i + 1, layer.digest.as_deref().unwrap_or(&layer.name)),
            None => format!("layer {}", i + 1),
        }
    }

    /// Checks every blob's sha256 and size against what the manifest
    /// declares and every layer's uncompressed sha256 against its diff_id,
    /// streaming. Returns the problems found, one sentence each (empty:
    /// everything matches).
    pub fn verify(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        for blob in &self.blobs {
            let (reader, _) = self.source.open(&blob.name)?;
            let (actual, len) = hash_stream(reader).with_context(|| format!("cannot read {}", blob.name))?;
            check_blob(&mut problems, &blob.what, blob.digest.as_deref(), blob.size, &actual, len);
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let what = self.layer_label(i);
            let (raw, _) = self.source.open(&layer.name)?;
            let mut tee = Tee { inner: raw, hasher: Sha256::new(), len: 0 };
            let plain = match layer.compression {
                // An uncompressed blob is its own tar: one hash serves both checks.
                Compression::Plain => Ok(None),
                _ => decompress(&mut tee).and_then(|(_, plain)| hash_stream(plain)).map(Some),
            };
            // Hash whatever the decompressor left unread, so that the blob digest covers every byte.
            let drained = io::copy(&mut tee, &mut io::sink());
            match (plain, drained) {
                (Ok(plain), Ok(_)) => {
                    let actual = format!("sha256:{}", hex(&tee.hasher.finalize()));
                    check_blob(&mut problems, &what, layer.digest.as_deref(), layer.declared_size, &actual, tee.len);
                    let diff_id = plain.map_or(actual, |(diff_id, _)| diff_id);
                    if diff_id != layer.diff_id {
                        problems.push(format!(
                            "{what}: its uncompressed tar hashes to {diff_id}, but the config's diff_id is {} \
                             (docker load refuses this)",
                            layer.diff_id
                        ));
                    }
                }
                (Err(e), _) | (_, Err(e)) => problems.push(match layer.compression {
                    Compression::Plain => format!("{what}: cannot be read: {e}"),
                    other => format!("{what}: cannot be decompressed as {}: {e}", other.name()),
                }),
            }
        }
        Ok(problems)
    }

    /// The decompressed tar stream of layer `i` (0-based).
    pub fn layer_reader(&self, i: usize) -> Result<Box<dyn Read + '_>> {
        let layer = self.layers.get(i).ok_or_else(|| anyhow!("the image has no layer {}", i + 1))?;
        let (raw, _) = self.source.open(&layer.name)?;
        let (_, plain) = decompress(raw).with_context(|| format!("cannot read {}", self.layer_label(i)))?;
        Ok(plain)
    }

    /// Applies the layers in order into one filesystem, as a container
    /// runtime would: whiteouts (`.wh.name`) and opaque directories
    /// (`.wh..wh..opq`) hide what lower layers hold; hard links become
    /// copies of their target; device nodes and fifos are skipped and
    /// listed. Files and directories keep the layer's permission bits;
    /// symlinks keep their target as written.
    ///
    /// For each regular file, `store(path, reader, size)` is called with the
    /// clean relative path (`usr/bin/x`), a reader of exactly `size` bytes
    /// and the size, and returns the `Content` to record in the tree. A file
    /// that a later layer replaces or hides has still been stored once.
    pub fn flatten(&self, store: &mut dyn FnMut(&str, &mut dyn Read, u64) -> Result<Content>) -> Result<Flattened> {
        let mut tree = Tree::new();
        let mut skipped = Vec::new();
        let mut layer_entries = Vec::new();
        for i in 0..self.layers.len() {
            let label = self.layer_label(i);
            let changes = self
                .read_changes(i, &tree, store, &mut skipped)
                .with_context(|| format!("image {}: {label}", self.path.display()))?;
            layer_entries.push(changes.entries);
            for dir in &changes.opaque {
                if dir.is_empty() {
                    tree = Tree::new();
                } else {
                    tree.remove_children(dir);
                }
            }
            for path in &changes.whiteouts {
                tree.remove(path);
            }
            for (path, node) in changes.additions {
                tree.replace(&path, node)
                    .with_context(|| format!("image {}: {label}: cannot apply /{path}", self.path.display()))?;
            }
        }
        Ok(Flattened { tree, skipped, layer_entries })
    }

    /// Reads layer `i` into the changes it makes. Whiteouts only hide what
    /// lower layers hold, so they are collected and applied before the
    /// layer's own entries, wherever they appear in the tar.
    fn read_changes(
        &self,
        i: usize,
        lower: &Tree,
        store: &mut dyn FnMut(&str, &mut dyn Read, u64) -> Result<Content>,
        skipped: &mut Vec<String>,
    ) -> Result<Changes> {
        let mut changes = Changes::default();
        let mut latest: BTreeMap<String, usize> = BTreeMap::new();
        let mut archive = tar::Archive::new(self.layer_reader(i)?);
        for entry in archive.entries().context("cannot read it as a tar")? {
            let mut entry = entry.context("cannot read the next tar entry")?;
            let kind = entry.header().entry_type();
            if matches!(
                kind,
                EntryType::XGlobalHeader | EntryType::XHeader | EntryType::GNULongName | EntryType::GNULongLink
            ) {
                continue;
            }
            changes.entries += 1;
            let raw = entry.path_bytes().into_owned();
            let shown = String::from_utf8_lossy(&raw).into_owned();
            let Some(path) = layer_path(&raw).with_context(|| format!("entry {shown:?}"))? else {
                continue;
            };
            let (dir, base) = match path.rfind('/') {
                Some(at) => (&path[..at], &path[at + 1..]),
                None => ("", path.as_str()),
            };
            if let Some(hidden) = base.strip_prefix(".wh.") {
                if hidden == ".wh..opq" {
                    changes.opaque.push(dir.to_string());
                } else if !hidden.is_empty() && !hidden.starts_with(".wh.") {
                    changes.whiteouts.push(if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") });
                }
                continue;
            }
            let mode = entry.header().mode().with_context(|| format!("entry /{path}: bad mode field"))? & 0o7777;
            let node = match kind {
                EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                    let size = entry.size();
                    let content = store(&path, &mut entry, size).with_context(|| format!("entry /{path}"))?;
                    Node::File { content, size, mode }
                }
                EntryType::Directory => Node::Dir { mode },
                EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .and_then(|t| String::from_utf8(t.into_owned()).ok())
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| anyhow!("entry /{path}: symlink target is empty or not UTF-8"))?;
                    Node::Symlink { target }
                }
                EntryType::Link => {
                    let raw_target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                    let target = link_path(&raw_target).with_context(|| format!("entry /{path} (hard link)"))?;
                    let found = match latest.get(&target) {
                        Some(&at) => changes.additions.get(at).map(|(_, node)| node.clone()),
                        None => lower.get(&target).cloned(),
                    };
                    found
                        .ok_or_else(|| anyhow!("entry /{path}: hard link to /{target}, which no layer so far holds"))?
                }
                EntryType::Char | EntryType::Block | EntryType::Fifo => {
                    let what = match kind {
                        EntryType::Char => "character device",
                        EntryType::Block => "block device",
                        _ => "fifo",
                    };
                    skipped.push(format!("/{path} ({what}, layer {})", i + 1));
                    continue;
                }
                other => bail!("entry /{path}: unsupported tar entry type {other:?}"),
            };
            latest.insert(path.clone(), changes.additions.len());
            changes.additions.push((path, node));
        }
        Ok(changes)
    }
}

/// What one layer does to the layers below it.
#[derive(Default)]
struct Changes {
    /// Directories whose lower contents are hidden (`""` is the root).
    opaque: Vec<String>,
    /// Paths hidden by `.wh.` files.
    whiteouts: Vec<String>,
    /// The layer's entries in tar order.
    additions: Vec<(String, Node)>,
    entries: usize,
}

/// A layer entry's path, clean and relative; `None` for the root itself.
fn layer_path(raw: &[u8]) -> Result<Option<String>> {
    let text = std::str::from_utf8(raw).map_err(|_| anyhow!("the path is not UTF-8"))?;
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => bail!("the path contains `..`, which would leave the image root"),
            name => parts.push(name),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// A hard link's target: relative to the image root, like entry paths.
fn link_path(raw: &[u8]) -> Result<String> {
    let shown = String::from_utf8_lossy(raw);
    if raw.starts_with(b"/") {
        bail!("the link target {shown:?} is absolute; hard link targets must be relative to the image root");
    }
    layer_path(raw)
        .with_context(|| format!("link target {shown:?}"))?
        .ok_or_else(|| anyhow!("the link target {shown:?} is empty or the root"))
}

fn check_blob(problems: &mut Vec<String>, what: &str, digest: Option<&str>, size: Option<u64>, actual: &str, len: u64) {
    if let Some(digest) = digest
        && digest != actual
    {
        problems.push(format!("{what}: the content hashes to {actual}, not to its digest (corrupted or edited)"));
    }
    if let Some(size) = size
        && size != len
    {
        problems.push(format!("{what}: the manifest says {size} bytes but it holds {len}"));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Builders for small test images, shared with `inspect`'s tests.

    use std::io::Write;

    use serde_json::json;

    use super::*;

    /// One entry of a test layer; names and link names are written raw, so
    /// that malformed ones can be made.
    pub(crate) enum E<'a> {
        File(&'a str, &'a [u8], u32),
        Dir(&'a str, u32),
        Symlink(&'a str, &'a str),
        Hardlink(&'a str, &'a str),
        Fifo(&'a str),
    }

    pub(crate) fn layer(entries: &[E]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in entries {
            let mut header = tar::Header::new_gnu();
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            let (name, kind, mode, data, link): (&str, EntryType, u32, &[u8], &str) = match entry {
                E::File(n, data, mode) => (n, EntryType::Regular, *mode, data, ""),
                E::Dir(n, mode) => (n, EntryType::Directory, *mode, b"", ""),
                E::Symlink(n, to) => (n, EntryType::Symlink, 0o777, b"", to),
                E::Hardlink(n, to) => (n, EntryType::Link, 0o644, b"", to),
                E::Fifo(n) => (n, EntryType::Fifo, 0o644, b"", ""),
            };
            header.set_entry_type(kind);
            header.set_mode(mode);
            header.set_size(data.len() as u64);
            let gnu = header.as_gnu_mut().unwrap();
            gnu.name = [0; 100];
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            gnu.linkname = [0; 100];
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
            header.set_cksum();
            builder.append(&header, data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    pub(crate) fn zstd(bytes: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
    }

    /// sha256 of `bytes`, computed here independently of the reader.
    pub(crate) fn sha(bytes: &[u8]) -> String {
        format!("sha256:{}", Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    /// A test image: uncompressed layer tars and what to write around them.
    pub(crate) struct TestImage {
        pub layers: Vec<Vec<u8>>,
        pub compress: fn(&[u8]) -> Vec<u8>,
        pub config: Value,
        pub architecture: &'static str,
        pub annotations: BTreeMap<String, String>,
        pub tag: &'static str,
        /// Every layer's media type; by default the one its bytes call for.
        pub media_type: Option<&'static str>,
    }

    impl TestImage {
        pub(crate) fn new(layers: Vec<Vec<u8>>) -> TestImage {
            TestImage {
                layers,
                compress: |b| b.to_vec(),
                config: json!({"Cmd": ["/hello"]}),
                architecture: "amd64",
                annotations: BTreeMap::new(),
                tag: "hello:1.0",
                media_type: None,
            }
        }

        fn stored(&self) -> Vec<Vec<u8>> {
            self.layers.iter().map(|l| (self.compress)(l)).collect()
        }

        pub(crate) fn config_bytes(&self) -> Vec<u8> {
            let diff_ids: Vec<String> = self.layers.iter().map(|l| sha(l)).collect();
            serde_json::to_vec(&json!({
                "architecture": self.architecture, "os": "linux", "created": "1970-01-01T00:00:01Z",
                "config": self.config, "rootfs": {"type": "layers", "diff_ids": diff_ids},
            }))
            .unwrap()
        }

        /// An OCI layout's files.
        pub(crate) fn oci(&self) -> Vec<(String, Vec<u8>)> {
            let config = self.config_bytes();
            let mut files = vec![("oci-layout".to_string(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec())];
            let mut layers = Vec::new();
            for blob in self.stored() {
                let media_type = self.media_type.unwrap_or(match Compression::sniff(&blob) {
                    Compression::Plain => "application/vnd.oci.image.layer.v1.tar",
                    Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
                    Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
                });
                layers.push(json!({"mediaType": media_type, "digest": sha(&blob), "size": blob.len()}));
                files.push((blob_path(&blob), blob));
            }
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
                "layers": layers, "annotations": self.annotations,
            }))
            .unwrap();
            let index = json!({"schemaVersion": 2, "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(&manifest), "size": manifest.len(),
                "annotations": {"io.containerd.image.name": format!("docker.io/library/{}", self.tag),
                                "org.opencontainers.image.ref.name": self.tag.rsplit(':').next().unwrap()}}]});
            files.push((blob_path(&config), config));
            files.push((blob_path(&manifest), manifest));
            files.push(("index.json".to_string(), serde_json::to_vec(&index).unwrap()));
            files
        }

        /// A docker-archive as Docker < 25 writes it.
        pub(crate) fn docker(&self) -> Vec<(String, Vec<u8>)> {
            let config = self.config_bytes();
            let config_name = format!("{}.json", &sha(&config)[7..]);
            let mut files = Vec::new();
            let mut names = Vec::new();
            for (i, blob) in self.stored().into_iter().enumerate() {
                names.push(format!("{i:064x}/layer.tar"));
                files.push((format!("{i:064x}/layer.tar"), blob));
            }
            let manifest = json!([{"Config": config_name, "RepoTags": [self.tag], "Layers": names}]);
            files.push((config_name, config));
            files.push(("manifest.json".to_string(), serde_json::to_vec(&manifest).unwrap()));
            files
        }

        /// What Docker 25+ saves: an OCI layout plus manifest.json.
        pub(crate) fn hybrid(&self) -> Vec<(String, Vec<u8>)> {
            let mut files = self.oci();
            let config = blob_path(&self.config_bytes());
            let layers: Vec<String> = self.stored().iter().map(|b| blob_path(b)).collect();
            let manifest = json!([{"Config": config, "RepoTags": [self.tag], "Layers": layers}]);
            files.push(("manifest.json".to_string(), serde_json::to_vec(&manifest).unwrap()));
            files
        }
    }

    pub(crate) fn blob_path(bytes: &[u8]) -> String {
        format!("blobs/sha256/{}", &sha(bytes)[7..])
    }

    pub(crate) fn write_tar(path: &Path, files: &[(String, Vec<u8>)]) {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, name, data.as_slice()).unwrap();
        }
        std::fs::write(path, builder.into_inner().unwrap()).unwrap();
    }

    pub(crate) fn write_dir(path: &Path, files: &[(String, Vec<u8>)]) {
        for (name, data) in files {
            let file = path.join(name);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, data).unwrap();
        }
    }

    /// Flattens keeping every file's bytes inline.
    pub(crate) fn flatten_inline(image: &Image) -> Result<Flattened> {
        image.flatten(&mut |_, reader, _| {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes)?;
            Ok(Content::Inline(bytes))
        })
    }

    fn file_bytes(flat: &Flattened, path: &str) -> Option<Vec<u8>> {
        match flat.tree.get(path) {
            Some(Node::File { content: Content::Inline(bytes), .. }) => Some(bytes.clone()),
            _ => None,
        }
    }

    fn hello_layer() -> Vec<u8> {
        layer(&[
            E::Dir("unikernel/", 0o755),
            E::File("unikernel/hello", b"\x7fELF kernel", 0o755),
            E::File("urunc.json", b"{}", 0o644),
        ])
    }

    #[test]
    fn reads_a_docker_archive_with_a_gzip_layer() {
        let dir = tempfile::tempdir().unwrap();
        let mut test = TestImage::new(vec![hello_layer()]);
        test.compress = gzip;
        let path = dir.path().join("x.tar");
        write_tar(&path, &test.docker());
        let image = open(&path, &Select::default()).unwrap();
        assert_eq!(image.format, Format::DockerArchive);
        assert_eq!(image.repo_tags, vec!["hello:1.0"]);
        assert_eq!(image.config_digest, sha(&test.config_bytes()));
        assert_eq!(image.config.architecture, "amd64");
        assert_eq!(image.config.cmd, Some(vec!["/hello".to_string()]));
        assert_eq!(image.config.created.as_deref(), Some("1970-01-01T00:00:01Z"));
        assert_eq!(image.layers.len(), 1);
        assert_eq!(image.layers[0].compression, Compression::Gzip);
        assert_eq!(image.layers[0].digest, None);
        assert_eq!(image.layers[0].diff_id, sha(&hello_layer()));
        assert_eq!(image.verify().unwrap(), Vec::<String>::new());
        let flat = flatten_inline(&image).unwrap();
        assert_eq!(file_bytes(&flat, "unikernel/hello").unwrap(), b"\x7fELF kernel");
        assert_eq!(flat.tree.get("unikernel"), Some(&Node::Dir { mode: 0o755 }));
        assert_eq!(flat.layer_entries, vec![3]);
        let mut plain = Vec::new();
        image.layer_reader(0).unwrap().read_to_end(&mut plain).unwrap();
        assert_eq!(plain, hello_layer());
    }

    #[test]
    fn reads_an_oci_layout_directory_with_a_zstd_layer() {
        let dir = tempfile::tempdir().unwrap();
        let mut test = TestImage::new(vec![hello_layer()]);
        test.compress = zstd;
        test.annotations.insert("com.urunc.unikernel.hypervisor".into(), "qemu".into());
        write_dir(dir.path(), &test.oci());
        let image = open(dir.path(), &Select::default()).unwrap();
        assert_eq!(image.format, Format::OciDir);
        assert_eq!(image.repo_tags, vec!["docker.io/library/hello:1.0"]);
        assert_eq!(image.manifest_annotations.get("com.urunc.unikernel.hypervisor").map(String::as_str), Some("qemu"));
        assert_eq!(image.layers[0].compression, Compression::Zstd);
        assert_eq!(image.layers[0].digest, Some(sha(&zstd(&hello_layer()))));
        assert_eq!(image.verify().unwrap(), Vec::<String>::new());
        let flat = flatten_inline(&image).unwrap();
        assert_eq!(file_bytes(&flat, "unikernel/hello").unwrap(), b"\x7fELF kernel");
    }

    #[test]
    fn reads_a_hybrid_archive_and_a_compressed_oci_archive() {
        let dir = tempfile::tempdir().unwrap();
        let mut test = TestImage::new(vec![hello_layer()]);
        test.annotations.insert("a".into(), "b".into());
        test.tag = "other:2";
        let hybrid = dir.path().join("hybrid.tar");
        write_tar(&hybrid, &test.hybrid());
        let image = open(&hybrid, &Select::default()).unwrap();
        assert_eq!(image.format, Format::DockerOciArchive);
        assert_eq!(image.repo_tags, vec!["other:2"]);
        assert_eq!(image.manifest_annotations.get("a").map(String::as_str), Some("b"));
        assert_eq!(image.layers[0].digest, Some(sha(&hello_layer())));
        assert_eq!(image.verify().unwrap(), Vec::<String>::new());

        let oci = dir.path().join("oci.tar");
        write_tar(&oci, &test.oci());
        std::fs::write(&oci, gzip(&std::fs::read(&oci).unwrap())).unwrap();
        let image = open(&oci, &Select { tag: Some("other:2".into()), platform: None }).unwrap();
        assert_eq!(image.format, Format::OciArchive);
        assert_eq!(image.compression, Compression::Gzip);
        assert_eq!(image.verify().unwrap(), Vec::<String>::new());
        let err = open(&oci, &Select { tag: Some("nope".into()), platform: None }).unwrap_err();
        assert!(format!("{err:#}").contains("no image tagged \"nope\""), "{err:#}");
    }

    #[test]
    fn applies_whiteouts_and_opaque_directories_to_lower_layers_only() {
        let lower = layer(&[
            E::File("a/x", b"x", 0o644),
            E::File("a/y", b"y", 0o644),
            E::File("b/z", b"z", 0o644),
            E::File("b/keep", b"k", 0o600),
            E::File("c", b"c", 0o644),
            E::File("d/old", b"o", 0o644),
        ]);
        let upper = layer(&[
            E::File("a/new", b"n", 0o755),
            E::File("a/.wh..wh..opq", b"", 0o644),
            E::File("b/.wh.z", b"", 0o644),
            E::File(".wh.c", b"", 0o644),
            E::File("d/mine", b"m", 0o644),
            E::File("d/.wh.mine", b"", 0o644),
            E::Dir("d", 0o700),
        ]);
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), &TestImage::new(vec![lower, upper]).oci());
        let flat = flatten_inline(&open(dir.path(), &Select::default()).unwrap()).unwrap();
        let paths: Vec<&str> = flat.tree.iter().map(|(p, _)| p).collect();
        assert_eq!(paths, vec!["a", "a/new", "b", "b/keep", "d", "d/mine", "d/old"]);
        assert!(matches!(flat.tree.get("b/keep"), Some(Node::File { mode: 0o600, size: 1, .. })));
        assert!(matches!(flat.tree.get("a/new"), Some(Node::File { mode: 0o755, .. })));
        assert_eq!(flat.tree.get("d"), Some(&Node::Dir { mode: 0o700 }));
    }

    #[test]
    fn opaque_root_and_file_replacing_a_directory() {
        let lower = layer(&[E::File("a/x", b"x", 0o644), E::File("top", b"t", 0o644)]);
        let middle = layer(&[E::File(".wh..wh..opq", b"", 0o644), E::File("kept", b"k", 0o644)]);
        let upper = layer(&[E::File("kept", b"file now", 0o644), E::Symlink("link", "/kept")]);
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), &TestImage::new(vec![lower, middle, upper]).oci());
        let flat = flatten_inline(&open(dir.path(), &Select::default()).unwrap()).unwrap();
        let paths: Vec<&str> = flat.tree.iter().map(|(p, _)| p).collect();
        assert_eq!(paths, vec!["kept", "link"]);
        assert_eq!(file_bytes(&flat, "kept").unwrap(), b"file now");
        assert_eq!(flat.tree.get("link"), Some(&Node::Symlink { target: "/kept".into() }));
    }

    #[test]
    fn hard_links_become_copies_and_devices_are_skipped() {
        let lower = layer(&[E::File("bin/busybox", b"bb", 0o755)]);
        let upper = layer(&[
            E::Hardlink("bin/sh", "bin/busybox"),
            E::File("etc/a", b"aa", 0o640),
            E::Hardlink("./etc/b", "./etc/a"),
            E::Fifo("dev/pipe"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), &TestImage::new(vec![lower, upper]).oci());
        let flat = flatten_inline(&open(dir.path(), &Select::default()).unwrap()).unwrap();
        assert_eq!(file_bytes(&flat, "bin/sh").unwrap(), b"bb");
        assert!(matches!(flat.tree.get("etc/b"), Some(Node::File { mode: 0o640, size: 2, .. })));
        assert_eq!(file_bytes(&flat, "etc/b").unwrap(), b"aa");
        assert_eq!(flat.skipped, vec!["/dev/pipe (fifo, layer 2)"]);
        assert!(flat.tree.get("dev/pipe").is_none());
    }

    #[test]
    fn reports_a_corrupted_blob_and_a_wrong_diff_id() {
        let dir = tempfile::tempdir().unwrap();
        let test = TestImage::new(vec![hello_layer()]);
        let mut files = test.oci();
        let layer_name = blob_path(&hello_layer());
        let entry = files.iter_mut().find(|(n, _)| *n == layer_name).unwrap();
        let at = entry.1.iter().position(|&b| b == b'k').unwrap();
        entry.1[at] = b'K';
        write_dir(dir.path(), &files);
        let problems = open(dir.path(), &Select::default()).unwrap().verify().unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("not to its digest") && problems[0].starts_with("layer 1"), "{problems:?}");
        assert!(problems[1].contains("diff_id"), "{problems:?}");

        let dir = tempfile::tempdir().unwrap();
        let mut test = TestImage::new(vec![hello_layer()]);
        test.compress = gzip;
        let mut files = test.docker();
        let config_at = files.iter().position(|(n, _)| n.ends_with(".json") && n != "manifest.json").unwrap();
        let wrong =
            String::from_utf8(files[config_at].1.clone()).unwrap().replace(&sha(&hello_layer()), &sha(b"other"));
        files[config_at].1 = wrong.into_bytes();
        write_tar(&dir.path().join("x.tar"), &files);
        let problems = open(&dir.path().join("x.tar"), &Select::default()).unwrap().verify().unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("config") && problems[0].contains("not to its digest"), "{problems:?}");
        assert!(problems[1].contains(&format!("diff_id is {}", sha(b"other"))), "{problems:?}");
    }

    #[test]
    fn reports_a_truncated_gzip_layer_without_failing() {
        let dir = tempfile::tempdir().unwrap();
        let mut test = TestImage::new(vec![hello_layer()]);
        test.compress = |b| {
            let whole = gzip(b);
            whole[..whole.len() / 2].to_vec()
        };
        write_dir(dir.path(), &test.oci());
        let image = open(dir.path(), &Select::default()).unwrap();
        let problems = image.verify().unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("layer 1 (") && problems[0].contains("cannot be decompressed as gzip"));
        let err = format!("{:#}", flatten_inline(&image).unwrap_err());
        assert!(err.contains("layer 1"), "{err}");
    }

    #[test]
    fn rejects_malformed_archives_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let not_tar = dir.path().join("notes.txt");
        std::fs::write(&not_tar, "hello, this is not a tar archive at all\n".repeat(40)).unwrap();
        let err = format!("{:#}", open(&not_tar, &Select::default()).unwrap_err());
        assert!(err.contains("notes.txt") && err.contains("not a tar archive"), "{err}");

        let test = TestImage::new(vec![hello_layer()]);
        let mut files = test.docker();
        files.retain(|(n, _)| !n.ends_with("layer.tar"));
        write_tar(&dir.path().join("missing.tar"), &files);
        let err = format!("{:#}", open(&dir.path().join("missing.tar"), &Select::default()).unwrap_err());
        assert!(err.contains("layer.tar is missing from the archive"), "{err}");

        let mut files = test.docker();
        files.retain(|(n, _)| n != "manifest.json");
        files.push(("manifest.json".into(), b"[{\"Config\": 5}]".to_vec()));
        write_tar(&dir.path().join("badjson.tar"), &files);
        let err = format!("{:#}", open(&dir.path().join("badjson.tar"), &Select::default()).unwrap_err());
        assert!(err.contains("manifest.json is not the JSON document expected"), "{err}");

        let two = TestImage::new(vec![hello_layer(), hello_layer()]);
        let mut files = test.docker();
        let config = two.config_bytes();
        for (name, data) in files.iter_mut() {
            if name.ends_with(".json") && name != "manifest.json" {
                *data = config.clone();
            }
        }
        write_tar(&dir.path().join("count.tar"), &files);
        let err = format!("{:#}", open(&dir.path().join("count.tar"), &Select::default()).unwrap_err());
        assert!(err.contains("lists 1 Layers but config") && err.contains("has 2 rootfs.diff_ids"), "{err}");

        let mut bad = TestImage::new(vec![hello_layer()]);
        bad.config = json!({"Cmd": "/hello"});
        write_tar(&dir.path().join("cmd.tar"), &bad.docker());
        let err = format!("{:#}", open(&dir.path().join("cmd.tar"), &Select::default()).unwrap_err());
        assert!(err.contains("config.Cmd must be a list of strings"), "{err}");
    }

    #[test]
    fn rejects_path_traversal_and_absolute_hard_links() {
        let dir = tempfile::tempdir().unwrap();
        let evil = layer(&[E::File("ok", b"1", 0o644), E::File("a/../../etc/passwd", b"x", 0o644)]);
        write_dir(dir.path(), &TestImage::new(vec![evil]).oci());
        let err = format!("{:#}", flatten_inline(&open(dir.path(), &Select::default()).unwrap()).unwrap_err());
        assert!(err.contains("layer 1") && err.contains("a/../../etc/passwd") && err.contains("`..`"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let abs = layer(&[E::File("ok", b"1", 0o644), E::Hardlink("two", "/ok")]);
        write_dir(dir.path(), &TestImage::new(vec![abs]).oci());
        let err = format!("{:#}", flatten_inline(&open(dir.path(), &Select::default()).unwrap()).unwrap_err());
        assert!(err.contains("/two (hard link)") && err.contains("absolute"), "{err}");
    }

    #[test]
    fn chooses_a_platform_from_a_nested_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        let mut entries = Vec::new();
        for arch in ["amd64", "arm64"] {
            let mut test = TestImage::new(vec![layer(&[E::File("k", arch.as_bytes(), 0o644)])]);
            test.architecture = arch;
            let oci = test.oci();
            let index: Value = serde_json::from_slice(&oci.iter().find(|(n, _)| n == "index.json").unwrap().1).unwrap();
            let mut desc = index["manifests"][0].clone();
            desc["platform"] = json!({"os": "linux", "architecture": arch});
            entries.push(desc);
            files.extend(oci.into_iter().filter(|(n, _)| n.starts_with("blobs/")));
        }
        entries.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(b"attestation"),
            "size": 11, "platform": {"os": "unknown", "architecture": "unknown"}}));
        let nested = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": entries})).unwrap();
        files.push((blob_path(&nested), nested.clone()));
        let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": sha(&nested), "size": nested.len()}]});
        files.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
        write_dir(dir.path(), &files);

        let err = format!("{:#}", open(dir.path(), &Select::default()).unwrap_err());
        assert!(err.contains("several images") && err.contains("linux/amd64") && err.contains("linux/arm64"), "{err}");
        assert!(!err.contains("unknown"), "{err}");
        let image = open(dir.path(), &Select { platform: Some("linux/arm64".into()), tag: None }).unwrap();
        assert_eq!(image.config.architecture, "arm64");
        assert_eq!(image.verify().unwrap(), Vec::<String>::new());
        let err =
            format!("{:#}", open(dir.path(), &Select { platform: Some("riscv64".into()), tag: None }).unwrap_err());
        assert!(err.contains("no image for platform linux/riscv64"), "{err}");
    }

    #[test]
    fn reads_linked_layers_and_multi_frame_zstd() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let test = TestImage::new(vec![hello_layer(), hello_layer()]);
        for (name, data) in test.docker() {
            let mut header = tar::Header::new_ustar();
            header.set_mode(0o644);
            if name.starts_with(&format!("{:064x}", 1)) {
                header.set_entry_type(EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, &name, format!("../{:064x}/layer.tar", 0)).unwrap();
            } else {
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, &name, data.as_slice()).unwrap();
            }
        }
        let path = dir.path().join("linked.tar");
        std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
        let image = open(&path, &Select::default()).unwrap();
        assert_eq!(image.verify().unwrap(), Vec::<String>::new());

        let mut stream = zstd(b"first ");
        stream.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
        stream.extend(zstd(b"second"));
        let mut out = String::new();
        decompress(stream.as_slice()).unwrap().1.read_to_string(&mut out).unwrap();
        assert_eq!(out, "first second");
    }

    /// Another tool's writers: skopeo turns our OCI layout into a
    /// docker-archive and a zstd oci-archive. CI installs skopeo; elsewhere
    /// (a Nix sandbox) it may be absent, and the test says it did nothing.
    #[test]
    fn reads_what_skopeo_writes() {
        let Ok(status) = std::process::Command::new("skopeo").arg("--version").output() else {
            assert!(std::env::var_os("CI").is_none(), "skopeo is needed in CI (apt-get install skopeo)");
            eprintln!("skopeo not installed; this test checked nothing");
            return;
        };
        assert!(status.status.success());
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        let mut test = TestImage::new(vec![hello_layer(), layer(&[E::File("etc/motd", b"hi", 0o600)])]);
        test.compress = gzip;
        write_dir(&layout, &test.oci());
        let skopeo = |from: String, to: String, extra: &[&str]| {
            let out = std::process::Command::new("skopeo")
                .args(["--insecure-policy", "copy", "-q"])
                .args(extra)
                .args([&from, &to])
                .output()
                .unwrap();
            assert!(out.status.success(), "skopeo copy {from} {to}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let source = format!("oci:{}:1.0", layout.display());
        let docker = dir.path().join("docker.tar");
        skopeo(source.clone(), format!("docker-archive:{}:hello:1.0", docker.display()), &[]);
        let zstd_archive = dir.path().join("oci-zstd.tar");
        skopeo(
            source,
            format!("oci-archive:{}:hello:1.0", zstd_archive.display()),
            &["--dest-compress-format", "zstd"],
        );
        for (path, format, compression) in [
            (&docker, Format::DockerArchive, Compression::Plain),
            (&zstd_archive, Format::OciArchive, Compression::Zstd),
        ] {
            let image = open(path, &Select::default()).unwrap();
            assert_eq!(image.format, format);
            assert_eq!(image.layers.len(), 2);
            assert_eq!(image.layers[1].compression, compression);
            assert_eq!(image.layers[1].diff_id, sha(&test.layers[1]));
            assert_eq!(image.config.cmd, Some(vec!["/hello".to_string()]));
            assert_eq!(image.verify().unwrap(), Vec::<String>::new(), "{}", path.display());
            let flat = flatten_inline(&image).unwrap();
            assert_eq!(file_bytes(&flat, "etc/motd").unwrap(), b"hi");
            assert!(matches!(flat.tree.get("etc/motd"), Some(Node::File { mode: 0o600, .. })));
            assert_eq!(file_bytes(&flat, "unikernel/hello").unwrap(), b"\x7fELF kernel");
        }
    }

    #[test]
    fn parses_platforms() {
        assert_eq!(Platform::parse("arm64").unwrap().to_string(), "linux/arm64");
        assert_eq!(Platform::parse("linux/arm/v7").unwrap().variant.as_deref(), Some("v7"));
        assert!(Platform::parse("linux//").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        assert!(same_reference("docker.io/library/hello:latest", "hello"));
        assert!(!same_reference("docker.io/library/hello:1", "hello"));
    }
}
