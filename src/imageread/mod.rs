//! Reads container images written by any tool, for `inspect` and for
//! building a rootfs from an existing image; [`Store`] gives `push` the
//! blobs as stored.
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
//! some tools mislabel it. The documents attached to an image (an SBOM,
//! an attestation) are found and checked by `referrers`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::model::fstree::Tree;
use crate::model::oci;

mod blobs;
mod documents;
pub mod extract;
mod layers;
mod load;
mod referrers;
mod source;
#[cfg(test)]
pub(crate) mod tests;

pub use blobs::{DockerEntry, Expected, Measured, Store, open_store, open_store_mapped};
use documents::*;
use load::*;
use source::*;

pub use layers::FileStore;
pub use referrers::{Referrer, is_fallback_tag};

/// The largest JSON document (index, manifest, config) read into memory:
/// containerd refuses configs and manifests over 4 MiB too.
const MAX_JSON: u64 = 4 << 20;
/// How deep image indexes may nest (an index of indexes of manifests).
const MAX_INDEX_DEPTH: usize = 4;
/// How many descriptors all the indexes of an archive may list together;
/// each index blob is read once however often it is listed.
const MAX_INDEX_ENTRIES: usize = 4096;
/// How many layers an image may have (Docker runs no more than 125).
const MAX_LAYERS: usize = 128;
/// How many entries the outer tar of an archive may hold: a few per layer.
const MAX_ARCHIVE_ENTRIES: usize = 65536;
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
pub use crate::model::oci::Compression;

/// An OS, architecture and optional variant, as in OCI platform objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
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

    /// The platform with the variant its architecture implies when it names
    /// none (`linux/arm64` is `linux/arm64/v8`), as containerd takes it and
    /// `bimanix index` writes it: the form every platform is shown in.
    pub fn with_default_variant(mut self) -> Platform {
        if self.variant.is_none() {
            self.variant = oci::default_variant(&self.architecture).map(str::to_string);
        }
        self
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
    /// The config's platform, with the variant its architecture implies
    /// when the config names none.
    pub fn platform(&self) -> Platform {
        Platform { os: self.os.clone(), architecture: self.architecture.clone(), variant: self.variant.clone() }
            .with_default_variant()
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
    /// How the whole archive was compressed (`None` for most).
    pub compression: Compression,
    /// `RepoTags` of a docker-archive, else the image name from the OCI index.
    pub repo_tags: Vec<String>,
    /// The manifest's digest, for OCI layouts.
    pub manifest_digest: Option<String>,
    /// The manifest's `annotations` (OCI layouts only; urunc reads these).
    pub manifest_annotations: BTreeMap<String, String>,
    /// The digest of the image index `index.json` names when the image is
    /// one of its platforms: what a tag names after a push or an import.
    /// `None` when `index.json` names the manifest itself, or there is none.
    pub index_digest: Option<String>,
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
    /// Where the config is in the archive.
    config_name: String,
    /// Where the OCI manifest is, when there is one.
    manifest_name: Option<String>,
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
    /// For each path of `tree` that a layer after the first shows, that
    /// layer (0-based): the highest layer that wrote it (for a directory
    /// that no layer wrote, the first that put something in it). Paths it
    /// lacks come from the first layer; leaving them out keeps a big base
    /// layer from doubling the memory the listing takes.
    pub layer_of: BTreeMap<bstr::BString, usize>,
    /// The layer (0-based) the paths `layer_of` lacks come from: the first,
    /// or the last copy of it when copies of it follow it directly.
    pub first_layer: usize,
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

/// The error for an archive that holds several images (an index of several
/// platforms) when no platform chose one; callers that know how their
/// input chooses say so (see [`several_images`]).
#[derive(Debug)]
pub struct SeveralImages {
    /// The images, as `name (platform)`, comma-separated.
    pub images: String,
}

impl fmt::Display for SeveralImages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the archive holds several images: {}; choose one by tag or platform", self.images)
    }
}

impl std::error::Error for SeveralImages {}

/// The [`SeveralImages`] error behind `e`, if that is what it is.
pub fn several_images(e: &anyhow::Error) -> Option<&SeveralImages> {
    e.downcast_ref::<SeveralImages>()
}

impl Image {
    /// Opens an image to build on: the only one in the archive, or the one
    /// for `linux/<architecture>` when the archive holds several platforms.
    pub fn open_for(path: &Path, architecture: Option<&str>) -> Result<Image> {
        open(path, &Select { platform: architecture.map(|a| format!("linux/{a}")), tag: None })
    }
}

/// Opens every image the archive or layout holds, in the order it lists
/// them: each platform of an image index, each entry of `manifest.json`.
pub fn open_all(path: &Path) -> Result<Vec<Image>> {
    let opened = || -> Result<Vec<Image>> {
        let (source, compression, format) = read_source(path)?;
        let all = if source.contains("index.json") { all_oci(&source, format)? } else { all_docker(&source)? };
        all.into_iter().map(|loaded| Ok(image(path, format, compression, source.try_clone()?, loaded))).collect()
    };
    opened().with_context(|| format!("cannot read image {}", path.display()))
}

/// Opens the one image of the OCI layout directory `dir` whose files named
/// in `files` (`blobs/sha256/<hex>`) are at the paths given there: an image
/// described in the Nix store, its layers in store paths of their own.
pub fn open_mapped(dir: &Path, files: BTreeMap<String, PathBuf>) -> Result<Image> {
    let opened = || -> Result<Image> {
        let source = Source::mapped(dir, files)?;
        let loaded = open_oci(&source, Format::OciDir, None, None)?;
        Ok(image(dir, Format::OciDir, Compression::None, source, loaded))
    };
    opened().with_context(|| format!("cannot read image {}", dir.display()))
}

fn open_inner(path: &Path, select: &Select) -> Result<Image> {
    let wanted = select.platform.as_deref().map(Platform::parse).transpose()?;
    let (source, compression, format) = read_source(path)?;
    let loaded = if source.contains("index.json") {
        open_oci(&source, format, select.tag.as_deref(), wanted.as_ref())?
    } else {
        open_docker(&source, select.tag.as_deref(), wanted.as_ref())?
    };
    Ok(image(path, format, compression, source, loaded))
}

/// Opens the archive or directory at `path` and tells its layout.
fn read_source(path: &Path) -> Result<(Source, Compression, Format)> {
    let (source, compression) =
        if path.is_dir() { (Source::dir(path)?, Compression::None) } else { Source::open_tar(path)? };
    let has_manifest = source.contains("manifest.json");
    let has_index = source.contains("index.json");
    let format = match (has_manifest, has_index, &source) {
        (true, true, _) => Format::DockerOciArchive,
        (true, false, _) => Format::DockerArchive,
        (false, true, Source::Dir(_) | Source::Mapped { .. }) => Format::OciDir,
        (false, true, Source::Tar { .. }) => Format::OciArchive,
        (false, false, Source::Dir(_) | Source::Mapped { .. }) => {
            bail!("the directory has no index.json, so it is not an OCI image layout")
        }
        (false, false, Source::Tar { .. }) => {
            bail!("the archive has neither manifest.json (docker-archive) nor index.json (OCI layout) at its root")
        }
    };
    Ok((source, compression, format))
}

fn image(path: &Path, format: Format, compression: Compression, source: Source, loaded: Loaded) -> Image {
    Image {
        path: path.to_path_buf(),
        format,
        compression,
        repo_tags: loaded.repo_tags,
        manifest_digest: loaded.manifest_digest,
        manifest_annotations: loaded.manifest_annotations,
        index_digest: loaded.index_digest,
        config_digest: loaded.config_digest,
        config: loaded.parsed.config,
        config_json: loaded.parsed.json,
        layers: loaded.layers,
        source,
        blobs: loaded.blobs,
        config_name: loaded.config_name,
        manifest_name: loaded.manifest_name,
    }
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
    config_name: String,
    manifest_name: Option<String>,
    index_digest: Option<String>,
}
