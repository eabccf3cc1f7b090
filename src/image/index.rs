//! The multi-platform writer: combines single-platform images (bimanix's
//! or any other tool's) into one OCI image index under one name and tag,
//! written as an OCI archive or layout.
//!
//! Every blob is copied as it is stored, compressed or not, and checked
//! against its digest on the way; the manifests keep their bytes, so each
//! platform's image keeps its manifest digest. A docker-archive from before
//! Docker 25 has no manifest; one is made for it (config and layers as
//! they are, media types by their bytes). The index lists the manifests
//! sorted by platform, each with `os`, `architecture` and the `variant`
//! the architecture has (`v8` for arm64) and the `org.opencontainers.image.*`
//! labels the images share as its annotations, and `index.json` names the index
//! the way containerd and Docker 25+ do, followed by the referrers fallback
//! index of each image that has attached documents, which are copied
//! along ([`carry`]). Two images for one platform, or images of different
//! names, are errors.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::filesystem::tar::{BLOCK, EntryType, TarWriter, header};
use crate::image::archive::{self, Format};
use crate::image::attach::{self, Attached};
use crate::image::carry;
use crate::image::output::{self, Output};
use crate::image::parts;
use crate::image::sink;
use crate::imageread::{Image, Platform};
use crate::model::metadata;
use crate::model::oci::{self, Descriptor, IndexEntry};
use crate::model::progress::{self, Counted};
use crate::model::reference;

/// The images of an index, checked, with the name and tag it goes under.
#[derive(Debug)]
pub struct IndexPlan {
    /// Image name.
    pub name: String,
    /// Tag.
    pub tag: String,
    /// The images, sorted by platform.
    pub members: Vec<Member>,
    /// The index's own annotations (GHCR shows a multi-platform package's
    /// `org.opencontainers.image.description` from here).
    pub annotations: BTreeMap<String, String>,
}

/// One image of an index.
#[derive(Debug)]
pub struct Member {
    /// The image.
    pub image: Image,
    /// Its platform, with the variant as the config says or as the
    /// architecture implies.
    pub platform: Platform,
}

impl Member {
    /// `os/architecture[/variant]`.
    pub fn platform(&self) -> String {
        self.platform.to_string()
    }

    fn shown(&self) -> String {
        self.image.path.display().to_string()
    }
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Written {
    /// The image index's descriptor.
    pub index: Descriptor,
    /// How many attached documents of the images were carried along.
    pub documents: usize,
}

/// Checks `images` and settles the name and tag: `name` when given (every
/// image that has a name must have this one), else the name they share;
/// `tag` when given, else the tag they share, else `latest`. `annotations`
/// go on the index itself.
pub fn plan(
    images: Vec<Image>,
    name: Option<&str>,
    tag: Option<&str>,
    annotations: BTreeMap<String, String>,
) -> Result<IndexPlan> {
    if images.is_empty() {
        bail!("an index needs at least one image");
    }
    let mut members: Vec<Member> = images.into_iter().map(member).collect::<Result<_>>()?;
    members.sort_by(|a, b| a.platform.cmp(&b.platform));
    for pair in members.windows(2) {
        if pair[0].platform() == pair[1].platform() {
            bail!(
                "{} and {} are both for {}; an index holds one image per platform",
                pair[0].shown(),
                pair[1].shown(),
                pair[0].platform()
            );
        }
    }
    let name = settle_name(&members, name)?;
    let tag = settle_tag(&members, tag)?;
    reference::check(&name, &tag).map_err(anyhow::Error::msg)?;
    Ok(IndexPlan { name, tag, members, annotations })
}

fn member(image: Image) -> Result<Member> {
    let c = &image.config;
    if c.os.is_empty() || c.architecture.is_empty() {
        bail!("{}: the config has no os or architecture, so its platform is unknown", image.path.display());
    }
    Ok(Member { platform: c.platform(), image })
}

/// The image's name and tag from its first reference.
fn reference_of(m: &Member) -> (Option<String>, Option<String>) {
    let Some(first) = m.image.repo_tags.first() else {
        return (None, None);
    };
    let (name, tag) = reference::split(first);
    (name.map(reference::qualified), tag.map(str::to_string))
}

fn settle_name(members: &[Member], given: Option<&str>) -> Result<String> {
    let named: Vec<(&Member, String)> =
        members.iter().filter_map(|m| reference_of(m).0.map(|name| (m, name))).collect();
    if let Some(given) = given {
        let wanted = reference::qualified(given);
        if let Some((m, name)) = named.iter().find(|(_, name)| *name != wanted) {
            bail!("{} is named {name}, not {given}; an index holds images of one name", m.shown());
        }
        return Ok(given.to_string());
    }
    match named.as_slice() {
        [] => bail!("none of the images carries a name; give one with --name"),
        [(first, name), rest @ ..] => {
            if let Some((m, other)) = rest.iter().find(|(_, other)| other != name) {
                bail!(
                    "{} is named {name} but {} is named {other}; an index holds images of one name",
                    first.shown(),
                    m.shown()
                );
            }
            Ok(short_name(name).to_string())
        }
    }
}

/// `docker.io/library/hello` is written `hello`, as users write it.
fn short_name(qualified: &str) -> &str {
    qualified.strip_prefix("docker.io/library/").or_else(|| qualified.strip_prefix("docker.io/")).unwrap_or(qualified)
}

fn settle_tag(members: &[Member], given: Option<&str>) -> Result<String> {
    if let Some(given) = given {
        return Ok(given.to_string());
    }
    let tags: BTreeSet<String> = members.iter().filter_map(|m| reference_of(m).1).collect();
    match tags.len() {
        0 => Ok("latest".to_string()),
        1 => Ok(tags.into_iter().next().unwrap_or_default()),
        _ => bail!(
            "the images have different tags ({}); give the index's tag with --tag",
            tags.into_iter().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Writes the index in `format` (an OCI archive or layout) to `out`.
pub fn write(plan: &IndexPlan, format: Format, out: &Output) -> Result<Written> {
    match (format, out) {
        (Format::DockerArchive, _) => {
            bail!("a multi-platform index goes into an oci-archive or an oci-layout; docker load reads one platform")
        }
        (Format::OciLayout, Output::Stdout | Output::Discard) => {
            bail!("an OCI layout is a directory; it cannot go to standard output (use -o DIR)")
        }
        (Format::OciLayout, Output::Path(dir)) => output::directory(dir, |tmp| {
            fs::create_dir_all(tmp.join("blobs/sha256"))?;
            write_with(plan, &mut DirStore(tmp))
        }),
        (Format::OciArchive, out) => output::file(out, |file| {
            let mut store = TarStore::new(file)?;
            let written = write_with(plan, &mut store)?;
            store.finish()?;
            Ok(written)
        }),
    }
}

/// The `org.opencontainers.image.*` keys every member carries with the
/// same value (in its config labels or manifest annotations): what
/// describes the index as a whole. `created`, which every bimanix
/// manifest carries, is left out, so that an index of images without OCI
/// labels keeps the bytes it had before these keys were shared.
fn shared_metadata(members: &[Member]) -> BTreeMap<String, String> {
    let keys = |m: &Member| {
        let mut keys = metadata::of(&m.image.manifest_annotations);
        keys.extend(metadata::of(&m.image.config.labels));
        keys.remove(metadata::CREATED);
        keys
    };
    let mut shared = members.first().map(keys).unwrap_or_default();
    for m in members {
        let theirs = keys(m);
        shared.retain(|k, v| theirs.get(k) == Some(v));
    }
    shared
}

/// Where blobs go: an archive or a layout directory.
trait Store {
    /// Writes layer `i` of `image` unless a blob of its declared digest is
    /// already there; returns its descriptor.
    fn layer(&mut self, image: &Image, i: usize) -> Result<Descriptor>;
    /// Writes a small blob unless it is already there.
    fn small(&mut self, desc: &Descriptor, bytes: &[u8]) -> Result<()>;
    /// Writes `index.json` and `oci-layout`.
    fn close(&mut self, index_json: &[u8]) -> Result<()>;
}

fn write_with(plan: &IndexPlan, store: &mut dyn Store) -> Result<Written> {
    let mut entries = Vec::new();
    let mut tags = Vec::new();
    let mut documents = 0;
    for m in &plan.members {
        let manifest = copy_image(&m.image, store).with_context(|| format!("copying {}", m.shown()))?;
        let attached = carry::carried(&m.image, &manifest).with_context(|| m.shown())?;
        documents += copy_attached(&attached, store)?;
        tags.extend(attached.tag_entry);
        entries.push(entry(m, manifest));
    }
    let (index_desc, index, index_json) = index_documents(plan, &entries);
    store.small(&index_desc, &index)?;
    store.close(&attach::with_tag_entries(&index_json, &tags)?)?;
    Ok(Written { index: index_desc, documents })
}

/// Stores the blobs of a member's attached documents; returns how many
/// documents there are.
fn copy_attached(attached: &Attached, store: &mut dyn Store) -> Result<usize> {
    for (desc, bytes) in &attached.blobs {
        store.small(desc, bytes)?;
    }
    Ok(attached.documents)
}

fn entry(m: &Member, manifest: Descriptor) -> IndexEntry {
    let Platform { os, architecture, variant } = m.platform.clone();
    IndexEntry { manifest, os, architecture, variant }
}

/// The image index of `entries` (its descriptor and bytes) and `index.json`.
fn index_documents(plan: &IndexPlan, entries: &[IndexEntry]) -> (Descriptor, Vec<u8>, Vec<u8>) {
    // The members' shared OCI keys, then the index's own --annotation values, which win.
    let mut annotations = shared_metadata(&plan.members);
    annotations.extend(plan.annotations.clone());
    let index = oci::image_index(entries, &annotations);
    let index_desc = Descriptor::of(oci::INDEX_TYPE, &index);
    let index_json = oci::index(&index_desc, &reference::qualified(&plan.name), &plan.tag);
    (index_desc, index, index_json)
}

/// The documents of the index `write` writes, without copying a blob: the
/// image index's descriptor and bytes and `index.json`, which names no
/// attached document (the Nix descriptions this serves hold none; the
/// image index is the same either way). Every image must carry its
/// manifest (as bimanix's do).
pub fn documents(plan: &IndexPlan) -> Result<(Descriptor, Vec<u8>, Vec<u8>)> {
    let mut entries = Vec::new();
    for m in &plan.members {
        let bytes = m.image.manifest_bytes()?.with_context(|| format!("{} has no OCI manifest", m.shown()))?;
        let (_, manifest) = manifest_descriptor(&m.image, bytes)?;
        entries.push(entry(m, manifest));
    }
    Ok(index_documents(plan, &entries))
}

/// Writes the OCI archive of `plan` to `out` as [`write`] writes it, for
/// images whose every layer declares its digest (OCI layouts): each blob's
/// header goes out before its bytes, which are checked while they stream;
/// one whose bytes differ stops the archive before the manifest that names
/// it. `located(image, i)` names where layer `i` of `image` is read from.
pub fn stream(plan: &IndexPlan, out: &mut dyn Write, located: &dyn Fn(&Image, usize) -> String) -> Result<Written> {
    let mut head = Vec::new();
    let mut dirs = TarWriter::new(&mut head, 0);
    dirs.dir("blobs", 0o755)?;
    dirs.dir("blobs/sha256", 0o755)?;
    out.write_all(&head)?;
    let mut store = StreamStore { out: &mut *out, written: BTreeSet::new(), located };
    let written = write_with(plan, &mut store)?;
    TarWriter::new(&mut *out, 0).finish()?;
    out.flush()?;
    Ok(written)
}

/// Copies an image's blobs and returns its manifest's descriptor.
fn copy_image(image: &Image, store: &mut dyn Store) -> Result<Descriptor> {
    let layers: Vec<Descriptor> = (0..image.layers.len()).map(|i| store.layer(image, i)).collect::<Result<_>>()?;
    let config = image.config_bytes()?;
    let config_desc = Descriptor::of(oci::CONFIG_TYPE, &config);
    if config_desc.digest != image.config_digest {
        bail!("the config hashes to {}, not {} (corrupted or edited)", config_desc.digest, image.config_digest);
    }
    store.small(&config_desc, &config)?;
    let bytes = match image.manifest_bytes()? {
        Some(bytes) => bytes,
        None => oci::manifest(&config_desc, &layers, &Default::default()),
    };
    let (manifest, manifest_desc) = manifest_descriptor(image, bytes)?;
    store.small(&manifest_desc, &manifest)?;
    Ok(manifest_desc)
}

/// The manifest `bytes` of `image` with its descriptor (media type as the
/// manifest says), checked against the digest the image declares.
fn manifest_descriptor(image: &Image, bytes: Vec<u8>) -> Result<(Vec<u8>, Descriptor)> {
    let value: Value = serde_json::from_slice(&bytes).context("the manifest is not JSON")?;
    let media_type = value["mediaType"].as_str().unwrap_or(oci::MANIFEST_TYPE).to_string();
    let manifest_desc = Descriptor::of(&media_type, &bytes);
    if let Some(declared) = &image.manifest_digest
        && *declared != manifest_desc.digest
    {
        bail!("the manifest hashes to {}, not {declared} (corrupted or edited)", manifest_desc.digest);
    }
    Ok((bytes, manifest_desc))
}

/// Copies the stored bytes of layer `i` at the cursor of `file`, checking
/// them against the declared digest.
fn copy_layer(file: &File, image: &Image, i: usize) -> Result<Descriptor> {
    let layer = &image.layers[i];
    let (mut reader, _) = image.layer_blob(i)?;
    let _step = progress::step(|| format!("copying {}", image.layer_label(i)), Some(layer.size), Counted::Output);
    let ((), hashed) = sink::write_hashed(file, |sink| {
        io::copy(&mut reader, sink).with_context(|| format!("copying {}", image.layer_label(i)))?;
        Ok(())
    })?;
    if let Some(declared) = &layer.digest
        && *declared != hashed.digest
    {
        bail!("{} is corrupt: it hashes to {}", image.layer_label(i), hashed.digest);
    }
    let media_type = layer.media_type.clone().unwrap_or_else(|| layer.compression.layer_media_type().to_string());
    Ok(Descriptor { media_type, digest: hashed.digest, size: hashed.size })
}

/// An OCI archive being written.
struct TarStore<'f> {
    file: &'f File,
    written: BTreeSet<String>,
}

impl<'f> TarStore<'f> {
    fn new(file: &'f mut File) -> Result<TarStore<'f>> {
        let file = &*file;
        let mut head = Vec::new();
        let mut dirs = TarWriter::new(&mut head, 0);
        dirs.dir("blobs", 0o755)?;
        dirs.dir("blobs/sha256", 0o755)?;
        (&mut &*file).write_all(&head).context("writing the archive")?;
        Ok(TarStore { file, written: BTreeSet::new() })
    }

    fn finish(self) -> Result<()> {
        let mut out = BufWriter::new(self.file);
        TarWriter::new(&mut out, 0).finish()?;
        out.flush().context("writing the archive")
    }

    fn entry(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let mut out = BufWriter::new(self.file);
        TarWriter::new(&mut out, 0).file_bytes(name, 0o644, bytes)?;
        out.flush().context("writing the archive")
    }
}

impl Store for TarStore<'_> {
    fn layer(&mut self, image: &Image, i: usize) -> Result<Descriptor> {
        if let Some(desc) = already(&self.written, image, i) {
            return Ok(desc);
        }
        let desc = archive::blob_entry(self.file, 0, |file| copy_layer(file, image, i))?;
        self.written.insert(desc.digest.clone());
        Ok(desc)
    }

    fn small(&mut self, desc: &Descriptor, bytes: &[u8]) -> Result<()> {
        if self.written.insert(desc.digest.clone()) {
            self.entry(&format!("blobs/sha256/{}", desc.hex()), bytes)?;
        }
        Ok(())
    }

    fn close(&mut self, index_json: &[u8]) -> Result<()> {
        self.entry("index.json", index_json)?;
        self.entry("oci-layout", oci::OCI_LAYOUT)
    }
}

/// The descriptor of a layer whose declared digest was written before.
fn already(written: &BTreeSet<String>, image: &Image, i: usize) -> Option<Descriptor> {
    let layer = &image.layers[i];
    let digest = layer.digest.as_ref().filter(|d| written.contains(*d))?;
    let media_type = layer.media_type.clone().unwrap_or_else(|| layer.compression.layer_media_type().to_string());
    Some(Descriptor { media_type, digest: digest.clone(), size: layer.size })
}

/// An OCI layout directory being written.
struct DirStore<'d>(&'d Path);

impl DirStore<'_> {
    fn has(&self, digest: &str) -> bool {
        self.0.join("blobs/sha256").join(digest.trim_start_matches("sha256:")).exists()
    }
}

impl Store for DirStore<'_> {
    fn layer(&mut self, image: &Image, i: usize) -> Result<Descriptor> {
        let there: BTreeSet<String> = image.layers[i].digest.iter().filter(|d| self.has(d)).cloned().collect();
        match already(&there, image, i) {
            Some(desc) => Ok(desc),
            None => archive::layout_blob(self.0, |file| copy_layer(file, image, i)),
        }
    }

    fn small(&mut self, desc: &Descriptor, bytes: &[u8]) -> Result<()> {
        if !self.has(&desc.digest) {
            fs::write(self.0.join("blobs/sha256").join(desc.hex()), bytes)?;
        }
        Ok(())
    }

    fn close(&mut self, index_json: &[u8]) -> Result<()> {
        fs::write(self.0.join("index.json"), index_json)?;
        fs::write(self.0.join("oci-layout"), oci::OCI_LAYOUT)?;
        Ok(())
    }
}

/// An OCI archive streamed to a writer that cannot seek: every layer
/// declares its digest, so its header goes out first.
struct StreamStore<'o> {
    out: &'o mut dyn Write,
    written: BTreeSet<String>,
    located: &'o dyn Fn(&Image, usize) -> String,
}

impl Store for StreamStore<'_> {
    fn layer(&mut self, image: &Image, i: usize) -> Result<Descriptor> {
        if let Some(desc) = already(&self.written, image, i) {
            return Ok(desc);
        }
        let layer = &image.layers[i];
        let digest = layer.digest.clone().with_context(|| format!("{} declares no digest", image.layer_label(i)))?;
        let media_type = layer.media_type.clone().unwrap_or_else(|| layer.compression.layer_media_type().to_string());
        let desc = Descriptor { media_type, digest, size: layer.size };
        let name = format!("blobs/sha256/{}", desc.hex());
        self.out.write_all(&header(&name, "", EntryType::File, 0o644, desc.size, "", 0))?;
        let (reader, _) = image.layer_blob(i)?;
        let mut hashing = oci::Hashing::new(reader.take(desc.size));
        let copied = io::copy(&mut hashing, &mut *self.out)
            .with_context(|| format!("cannot read {}", (self.located)(image, i)))?;
        let (actual, _) = hashing.finish();
        if copied != desc.size || actual != desc.digest {
            bail!(parts::mismatch(Path::new(&(self.located)(image, i)), &actual, &desc.digest));
        }
        let rem = desc.size % BLOCK;
        if rem != 0 {
            self.out.write_all(&vec![0; (BLOCK - rem) as usize])?;
        }
        self.written.insert(desc.digest.clone());
        Ok(desc)
    }

    fn small(&mut self, desc: &Descriptor, bytes: &[u8]) -> Result<()> {
        if self.written.insert(desc.digest.clone()) {
            TarWriter::new(&mut *self.out, 0).file_bytes(&format!("blobs/sha256/{}", desc.hex()), 0o644, bytes)?;
        }
        Ok(())
    }

    fn close(&mut self, index_json: &[u8]) -> Result<()> {
        TarWriter::new(&mut *self.out, 0).file_bytes("index.json", 0o644, index_json)?;
        TarWriter::new(&mut *self.out, 0).file_bytes("oci-layout", 0o644, oci::OCI_LAYOUT)
    }
}
