//! The archive writer: writes a planned image as a docker-archive (Docker
//! 25+'s hybrid of `manifest.json` and an OCI layout in one tar), an OCI
//! archive, or an OCI layout directory.
//!
//! The layer is streamed straight into the output while it is hashed: its
//! tar header is written as a placeholder and filled in once the digest is
//! known, so every input byte is read once and memory stays flat whatever
//! the image size. Where the bytes land is `output`'s business.

use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::filesystem::tar::{BLOCK, EntryType, TarWriter, header};
use crate::image::output::{self, Output};
use crate::image::plan::Plan;
use crate::model::fstree::{Node, Tree};
use crate::model::oci::{self, Descriptor};

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
    /// Total size of the layer blobs.
    pub layer_bytes: u64,
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
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mtime = plan.mtime;
    // Directory entries first; blobs are added with `write_blob` and the
    // closing documents with a second writer over the same stream.
    let mut dirs = TarWriter::new(&mut out, mtime);
    dirs.dir("blobs", 0o755)?;
    dirs.dir("blobs/sha256", 0o755)?;

    let mut layers = Vec::new();
    for layer in layer_sources(plan) {
        layers.push(write_blob(&mut out, mtime, |w| layer.write_to(plan, w))?);
        layer.check(plan, layers.last())?;
    }

    let docs = Documents::new(plan, &layers);
    let mut outer = TarWriter::new(&mut out, mtime);
    outer.file_bytes(&format!("blobs/sha256/{}", docs.config_desc.hex()), 0o644, &docs.config)?;
    outer.file_bytes(&format!("blobs/sha256/{}", docs.manifest_desc.hex()), 0o644, &docs.manifest)?;
    outer.file_bytes("index.json", 0o644, &docs.index)?;
    if format == Format::DockerArchive {
        let repo_tag = format!("{}:{}", plan.name, plan.tag);
        outer.file_bytes("manifest.json", 0o644, &oci::docker_manifest(&docs.config_desc, &layers, &repo_tag))?;
    }
    outer.file_bytes("oci-layout", 0o644, oci::OCI_LAYOUT)?;
    outer.finish()?;
    out.flush().context("writing the archive")?;
    Ok(Written { manifest: docs.manifest_desc, layer_bytes: layers.iter().map(|l| l.size).sum() })
}

/// Writes one blob entry whose content `body` streams: a placeholder
/// header first, then the body while it is hashed, then the real header.
fn write_blob<W: Write + Seek>(
    out: &mut W,
    mtime: u64,
    body: impl FnOnce(&mut HashingWriter<&mut W>) -> Result<()>,
) -> Result<Descriptor> {
    let start = out.stream_position()?;
    out.write_all(&[0; BLOCK as usize])?;
    let mut hashing = HashingWriter::new(&mut *out);
    body(&mut hashing)?;
    let blob = hashing.descriptor(oci::LAYER_TYPE);
    let end = out.stream_position()?;
    let real = header(&format!("blobs/sha256/{}", blob.hex()), "", EntryType::File, 0o644, blob.size, "", mtime);
    out.seek(SeekFrom::Start(start))?;
    out.write_all(&real)?;
    out.seek(SeekFrom::Start(end))?;
    let rem = blob.size % BLOCK;
    if rem != 0 {
        out.write_all(&vec![0; (BLOCK - rem) as usize])?;
    }
    Ok(blob)
}

/// Where a layer's bytes come from.
#[derive(Clone, Copy)]
enum LayerSource {
    /// Layer `i` of the base image, written uncompressed.
    Base(usize),
    /// Our own files.
    Ours,
}

/// The layers in order: the base image's, then ours.
fn layer_sources(plan: &Plan) -> Vec<LayerSource> {
    let base = plan.base.as_ref().map_or(0, |b| b.layers.len());
    (0..base).map(LayerSource::Base).chain([LayerSource::Ours]).collect()
}

impl LayerSource {
    fn write_to(self, plan: &Plan, w: &mut dyn Write) -> Result<()> {
        match (self, &plan.base) {
            (LayerSource::Base(i), Some(base)) => {
                let mut reader = base.layer_reader(i)?;
                io::copy(&mut reader, w).with_context(|| format!("copying {}", base.layer_label(i)))?;
            }
            (LayerSource::Base(_), None) => bail!("internal: a base layer without a base image"),
            (LayerSource::Ours, _) => {
                write_layer(&plan.tree, w, plan.mtime)?;
            }
        }
        Ok(())
    }

    /// A base layer, written uncompressed, must hash to its diff_id.
    fn check(self, plan: &Plan, written: Option<&Descriptor>) -> Result<()> {
        if let (LayerSource::Base(i), Some(base), Some(d)) = (self, &plan.base, written)
            && base.layers[i].diff_id != d.digest
        {
            bail!(
                "{} is corrupt: its content hashes to {}, not its diff_id {}",
                base.layer_label(i),
                d.digest,
                base.layers[i].diff_id
            );
        }
        Ok(())
    }
}

/// The JSON documents that follow from the layers.
struct Documents {
    config: Vec<u8>,
    config_desc: Descriptor,
    manifest: Vec<u8>,
    manifest_desc: Descriptor,
    index: Vec<u8>,
}

impl Documents {
    fn new(plan: &Plan, layers: &[Descriptor]) -> Documents {
        let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.clone()).collect();
        let config = oci::config(&plan.config, &diff_ids);
        let config_desc = Descriptor::of(oci::CONFIG_TYPE, &config);
        let manifest = oci::manifest(&config_desc, layers, &plan.annotations);
        let manifest_desc = Descriptor::of(oci::MANIFEST_TYPE, &manifest);
        let index = oci::index(&manifest_desc, &crate::model::reference::qualified(&plan.name), &plan.tag);
        Documents { config, config_desc, manifest, manifest_desc, index }
    }
}

/// Writes an OCI layout into the empty directory `dir`.
fn write_layout(plan: &Plan, dir: &Path) -> Result<Written> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    let mut layers = Vec::new();
    for layer in layer_sources(plan) {
        let partial = blobs.join("layer.partial");
        let file = File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
        let mut hashing = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        layer.write_to(plan, &mut hashing)?;
        let blob = hashing.descriptor(oci::LAYER_TYPE);
        hashing.inner.into_inner().map_err(|e| e.into_error()).context("writing a layer")?;
        layer.check(plan, Some(&blob))?;
        fs::rename(&partial, blobs.join(blob.hex()))?;
        layers.push(blob);
    }
    let docs = Documents::new(plan, &layers);
    fs::write(blobs.join(docs.config_desc.hex()), &docs.config)?;
    fs::write(blobs.join(docs.manifest_desc.hex()), &docs.manifest)?;
    fs::write(dir.join("index.json"), &docs.index)?;
    fs::write(dir.join("oci-layout"), oci::OCI_LAYOUT)?;
    Ok(Written { manifest: docs.manifest_desc, layer_bytes: layers.iter().map(|l| l.size).sum() })
}

/// Writes a tree as a layer tar.
pub fn write_layer<W: Write>(tree: &Tree, out: W, mtime: u64) -> Result<W> {
    let mut w = TarWriter::new(out, mtime);
    for (path, node) in tree.iter() {
        match node {
            Node::Dir { mode } => w.dir(path, *mode)?,
            Node::Symlink { target } => w.symlink(path, target)?,
            Node::File { content, size, mode } => w.file(path, *mode, *size, content)?,
        }
    }
    w.finish()
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter { inner, hasher: Sha256::new(), count: 0 }
    }

    /// The descriptor of everything written so far.
    pub fn descriptor(&self, media_type: &str) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: format!("sha256:{}", oci::hex(&self.hasher.clone().finalize())),
            size: self.count,
        }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
