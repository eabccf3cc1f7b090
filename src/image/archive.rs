//! The archive writer: writes a planned image as a docker-archive (Docker
//! 25+'s hybrid of `manifest.json` and an OCI layout in one tar), an OCI
//! archive, or an OCI layout directory.
//!
//! The layers are cut by `layers`' rule and each is streamed straight into
//! the output while it is hashed (`blob`, `sink`): its tar header is
//! written as a placeholder and filled in once the digest is known, so
//! every input byte is read once and memory stays flat whatever the image
//! size. Where the bytes land is `output`'s business. Documents attached
//! beside the image (`attach`) go in after its manifest, and `index.json`
//! tags their referrers index.

use std::fs::{self, File};
use std::io::{BufWriter, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::filesystem::tar::{BLOCK, EntryType, TarWriter, header};
use crate::image::attach;
use crate::image::blob::{self, LayerBlob};
use crate::image::compress::Compression;
use crate::image::layers;
use crate::image::output::{self, Output};
use crate::image::plan::Plan;
use crate::model::fstree::{Node, Tree};
use crate::model::oci::{self, Descriptor};
use crate::model::progress::{self, Counted, Step};

/// The kind of output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One tar with `manifest.json` and an OCI layout: loads everywhere.
    DockerArchive,
    /// One tar with an OCI layout only.
    OciArchive,
    /// A directory with an OCI layout.
    OciLayout,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Written {
    /// The manifest's descriptor.
    pub manifest: Descriptor,
    /// The config's descriptor.
    pub config: Descriptor,
    /// The layers in order.
    pub layers: Vec<LayerBlob>,
}

/// Writes `plan` in `format` to `out`.
pub fn write(plan: &Plan, format: Format, out: &Output) -> Result<Written> {
    match (format, out) {
        (Format::OciLayout, Output::Stdout) => {
            bail!("an OCI layout is a directory; it cannot go to standard output (use -o DIR)")
        }
        (Format::OciLayout, Output::Path(dir)) => output::directory(dir, |tmp| write_layout(plan, tmp)),
        (_, out) => output::file(out, |file| write_tar(plan, format, file)),
    }
}

/// Writes the whole image as one tar into `file`.
fn write_tar(plan: &Plan, format: Format, file: &mut File) -> Result<Written> {
    let file = &*file;
    let mtime = plan.mtime;
    (&mut &*file).write_all(&tar_head(mtime)?).context("writing the archive")?;
    let mut layers = Vec::new();
    let sources = layer_sources(plan)?;
    for (i, source) in sources.iter().enumerate() {
        let _step = source.step(plan, i, sources.len());
        layers.push(blob_entry(file, mtime, |file| source.write(plan, file))?);
    }
    let docs = Documents::new(plan, &layers)?;
    let blobs: Vec<Descriptor> = layers.iter().map(|l| l.descriptor.clone()).collect();
    let mut out = BufWriter::new(file);
    tar_tail(&mut out, mtime, format, &format!("{}:{}", plan.name, plan.tag), &docs, &blobs)?;
    out.flush().context("writing the archive")?;
    Ok(Written { manifest: docs.manifest_desc, config: docs.config_desc, layers })
}

/// The entries an archive opens with, before the layer blobs: the
/// directories they go in.
pub fn tar_head(mtime: u64) -> Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut dirs = TarWriter::new(&mut head, mtime);
    dirs.dir("blobs", 0o755)?;
    dirs.dir("blobs/sha256", 0o755)?;
    Ok(head)
}

/// The entries an archive closes with, after the layer blobs `layers`:
/// config, manifest, `index.json`, a docker-archive's `manifest.json`
/// (naming the image `repo_tag`) and `oci-layout`, then the tar's end.
pub fn tar_tail(
    out: &mut dyn Write,
    mtime: u64,
    format: Format,
    repo_tag: &str,
    docs: &Documents,
    layers: &[Descriptor],
) -> Result<()> {
    let mut outer = TarWriter::new(out, mtime);
    outer.file_bytes(&format!("blobs/sha256/{}", docs.config_desc.hex()), 0o644, &docs.config)?;
    outer.file_bytes(&format!("blobs/sha256/{}", docs.manifest_desc.hex()), 0o644, &docs.manifest)?;
    for (desc, bytes) in &docs.attached {
        outer.file_bytes(&format!("blobs/sha256/{}", desc.hex()), 0o644, bytes)?;
    }
    outer.file_bytes("index.json", 0o644, &docs.index)?;
    if format == Format::DockerArchive {
        outer.file_bytes("manifest.json", 0o644, &oci::docker_manifest(&docs.config_desc, layers, repo_tag))?;
    }
    outer.file_bytes("oci-layout", 0o644, oci::OCI_LAYOUT)?;
    outer.finish()?;
    Ok(())
}

/// Writes one `blobs/sha256/<hex>` tar entry whose content `body` writes
/// at the cursor: a placeholder header first, filled in once the digest is
/// known, then the padding.
pub fn blob_entry<T: AsRef<Descriptor>>(file: &File, mtime: u64, body: impl FnOnce(&File) -> Result<T>) -> Result<T> {
    let mut cursor = file;
    let start = cursor.stream_position()?;
    cursor.write_all(&[0; BLOCK as usize])?;
    let blob = body(file)?;
    let d = blob.as_ref();
    let real = header(&format!("blobs/sha256/{}", d.hex()), "", EntryType::File, 0o644, d.size, "", mtime);
    file.write_all_at(&real, start)?;
    let rem = d.size % BLOCK;
    if rem != 0 {
        cursor.write_all(&vec![0; (BLOCK - rem) as usize])?;
    }
    Ok(blob)
}

/// Where a layer's bytes come from.
pub enum LayerSource {
    /// Layer `i` of the base image.
    Base(usize),
    /// Some of our own files.
    Own(Tree),
}

/// The layers in order: the base image's, then ours as the layer rule
/// cuts them.
pub fn layer_sources(plan: &Plan) -> Result<Vec<LayerSource>> {
    let base = plan.base.as_ref().map_or(0, |b| b.layers.len());
    let own = layers::split(&plan.tree, &plan.artifacts, plan.layer_mode)?;
    Ok((0..base).map(LayerSource::Base).chain(own.into_iter().map(LayerSource::Own)).collect())
}

impl LayerSource {
    /// The progress step of writing layer `i` of `count`: it counts the
    /// tar's bytes (those fed to the encoder, when compressed), out of its
    /// estimated size when the layer is our own.
    fn step(&self, plan: &Plan, i: usize, count: usize) -> Step {
        let compressed = plan.compression != Compression::None;
        let counted = if compressed { Counted::Input } else { Counted::Output };
        let total = match self {
            LayerSource::Base(_) => None,
            LayerSource::Own(tree) => Some(tar_size(tree)),
        };
        let what = || {
            let verb = if compressed { format!("compressing ({})", plan.compression.name()) } else { "writing".into() };
            format!("{verb} layer {}/{count}", i + 1)
        };
        progress::step(what, total, counted)
    }

    /// Writes the layer at the cursor of `file`, compressed as planned.
    pub fn write(&self, plan: &Plan, file: &File) -> Result<LayerBlob> {
        match (self, &plan.base) {
            (LayerSource::Base(i), Some(base)) => {
                let mut reader = base.layer_reader(*i)?;
                let blob = blob::write_stream(file, &mut reader, plan.compression)
                    .with_context(|| format!("copying {}", base.layer_label(*i)))?;
                // A base layer must hash to its diff_id, or consumers refuse the image.
                if base.layers[*i].diff_id != blob.diff_id {
                    bail!(
                        "{} is corrupt: its content hashes to {}, not its diff_id {}",
                        base.layer_label(*i),
                        blob.diff_id,
                        base.layers[*i].diff_id
                    );
                }
                Ok(blob)
            }
            (LayerSource::Base(_), None) => bail!("internal: a base layer without a base image"),
            (LayerSource::Own(tree), _) => blob::write_tree(file, tree, plan.mtime, plan.compression),
        }
    }
}

/// About the size of the tar of `tree`: a header per entry and each
/// file's content in whole blocks (long names add a few blocks more).
fn tar_size(tree: &Tree) -> u64 {
    let blocks = |size: u64| size.div_ceil(BLOCK) * BLOCK;
    tree.iter().map(|(_, node)| BLOCK + if let Node::File { size, .. } = node { blocks(*size) } else { 0 }).sum::<u64>()
        + 2 * BLOCK
}

/// The JSON documents that follow from the layers.
#[derive(Clone, Debug)]
pub struct Documents {
    /// The image config.
    pub config: Vec<u8>,
    /// Its descriptor.
    pub config_desc: Descriptor,
    /// The image manifest.
    pub manifest: Vec<u8>,
    /// Its descriptor.
    pub manifest_desc: Descriptor,
    /// `index.json`, naming the manifest by the image's name and tag (and
    /// the referrers index of the attached documents by its fallback tag).
    pub index: Vec<u8>,
    /// The blobs of the documents attached beside the image.
    pub attached: Vec<(Descriptor, Vec<u8>)>,
}

impl Documents {
    /// The documents of `plan` with `layers`.
    pub fn new(plan: &Plan, layers: &[LayerBlob]) -> Result<Documents> {
        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let blobs: Vec<Descriptor> = layers.iter().map(|l| l.descriptor.clone()).collect();
        let config = oci::config(&plan.config, &diff_ids);
        let config_desc = Descriptor::of(oci::CONFIG_TYPE, &config);
        let manifest = oci::manifest(&config_desc, &blobs, &plan.annotations);
        let manifest_desc = Descriptor::of(oci::MANIFEST_TYPE, &manifest);
        let index = oci::index(&manifest_desc, &crate::model::reference::qualified(&plan.name), &plan.tag);
        let attached = attach::documents(plan, &manifest_desc)?;
        let index = attach::with_tag_entries(&index, attached.tag_entry.as_slice())?;
        Ok(Documents { config, config_desc, manifest, manifest_desc, index, attached: attached.blobs })
    }
}

/// Writes an OCI layout into the empty directory `dir`.
fn write_layout(plan: &Plan, dir: &Path) -> Result<Written> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    let mut layers = Vec::new();
    let sources = layer_sources(plan)?;
    for (i, source) in sources.iter().enumerate() {
        let _step = source.step(plan, i, sources.len());
        layers.push(layout_blob(dir, |file| source.write(plan, file))?);
    }
    let docs = Documents::new(plan, &layers)?;
    fs::write(blobs.join(docs.config_desc.hex()), &docs.config)?;
    fs::write(blobs.join(docs.manifest_desc.hex()), &docs.manifest)?;
    for (desc, bytes) in &docs.attached {
        fs::write(blobs.join(desc.hex()), bytes)?;
    }
    fs::write(dir.join("index.json"), &docs.index)?;
    fs::write(dir.join("oci-layout"), oci::OCI_LAYOUT)?;
    Ok(Written { manifest: docs.manifest_desc, config: docs.config_desc, layers })
}

/// Writes one blob of the OCI layout in `dir` with `body`, into a
/// temporary name first, then under its digest.
pub fn layout_blob<T: AsRef<Descriptor>>(dir: &Path, body: impl FnOnce(&File) -> Result<T>) -> Result<T> {
    let partial = dir.join("blobs/sha256/blob.partial");
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let blob = body(&file)?;
    fs::rename(&partial, dir.join("blobs/sha256").join(blob.as_ref().hex()))?;
    Ok(blob)
}
