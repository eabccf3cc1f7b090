//! An image in parts, as the Nix store keeps it: each artifact layer
//! written on its own ([`write_parts`]: one derivation per artifact), then a
//! small description of the whole image ([`describe`]) that names those
//! blobs by path and holds the rest itself (the top layer, config,
//! manifest). [`stream`] writes from a description the very archive
//! [`archive::write`] writes from the plan, and [`layout`] the OCI layout;
//! both check every blob they read against the digest it was described
//! with, before the documents that name it are written.
//!
//! A layer written apart is found again by its key: the digest of a
//! listing of everything that decides its bytes (paths, modes, sizes, the
//! host file each entry's bytes come from, a generated rootfs's plan, the
//! mtime and the compression), made from the plan without reading a file.
//! In the Nix store the host files are store paths, whose bytes never
//! change, so one key is one blob. A layer whose key is not among the
//! given parts is written into the description instead: the image is
//! right either way, only bigger.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::filesystem::tar::{BLOCK, EntryType, header};
use crate::image::archive::{self, Documents, Format, LayerSource};
use crate::image::blob::LayerBlob;
use crate::image::index::{self, IndexPlan};
use crate::image::layers;
use crate::image::plan::{Plan, RootfsPlan};
use crate::image::rootfs;
use crate::image::sink::write_hashed_to;
use crate::imageread::Image;
use crate::model::fstree::{Content, FILE_MODE, HardLinks, Node, Tree};
use crate::model::oci::{self, Descriptor, Hashing, sha256_digest};

/// The file listing the parts in a directory of layers.
pub const PARTS: &str = "layers.json";
/// The description's file in its directory.
pub const DESCRIPTION: &str = "image.json";
/// An index description's file in its directory.
pub const INDEX_DESCRIPTION: &str = "index-description.json";
/// The most a description, a list of parts or a document may hold.
const MAX_DOCUMENT: u64 = 64 << 20;

/// Reads one of the JSON files of a description.
fn read_json(path: &Path) -> Result<Vec<u8>> {
    crate::model::hostfile::read_regular(path, MAX_DOCUMENT, "image descriptions")
}

/// One layer written apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    /// What decides the layer's bytes (see the module doc); empty for a
    /// layer that is not to be shared.
    pub key: String,
    /// The blob's media type.
    pub media_type: String,
    /// The blob's digest.
    pub digest: String,
    /// The blob's size.
    pub size: u64,
    /// The digest of the uncompressed tar.
    pub diff_id: String,
    /// The blob's path; absent when only its digest was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<PathBuf>,
}

impl Part {
    fn of(key: String, blob: &LayerBlob, path: Option<PathBuf>) -> Part {
        let d = &blob.descriptor;
        Part {
            key,
            media_type: d.media_type.clone(),
            digest: d.digest.clone(),
            size: d.size,
            diff_id: blob.diff_id.clone(),
            blob: path,
        }
    }

    fn layer_blob(&self) -> LayerBlob {
        let descriptor =
            Descriptor { media_type: self.media_type.clone(), digest: self.digest.clone(), size: self.size };
        LayerBlob { descriptor, diff_id: self.diff_id.clone() }
    }

    fn descriptor(&self) -> Descriptor {
        self.layer_blob().descriptor
    }
}

/// A document of the description, stored as a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stored {
    /// Its media type.
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// Where it is.
    pub path: PathBuf,
}

/// Everything needed to write the image, without the layer bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Description {
    /// The image name.
    pub name: String,
    /// The image tag.
    pub tag: String,
    /// The mtime of the archive's entries.
    pub mtime: u64,
    /// The layers, lowest first, each with its blob's path.
    pub layers: Vec<Part>,
    /// The image config.
    pub config: Stored,
    /// The image manifest.
    pub manifest: Stored,
    /// `index.json`.
    pub index: PathBuf,
}

/// Writes the artifact layers of `plan` (not its top layer) into `dir`,
/// as blobs under `blobs/sha256` when `blobs`, and lists them in
/// [`PARTS`]; returns them.
pub fn write_parts(mut plan: Plan, dir: &Path, blobs: bool) -> Result<Vec<Part>> {
    plan.tree.check_layer_names().context("a file in the image layer")?;
    let cut = cut(&plan)?;
    rootfs::generate_into(&mut plan)?;
    let sources = archive::layer_sources(&plan)?;
    fs::create_dir_all(dir.join("blobs/sha256"))?;
    let mut parts = Vec::new();
    // The last layer is the top one: the description's.
    for (source, (_, key)) in sources.iter().zip(cut).take(sources.len().saturating_sub(1)) {
        let Some(key) = key else { continue };
        let part = if blobs {
            let blob = archive::layout_blob(dir, |file| source.write(&plan, file))?;
            let path = dir.join("blobs/sha256").join(blob.descriptor.hex());
            Part::of(key, &blob, Some(path))
        } else {
            let null = File::options().write(true).open("/dev/null").context("cannot open /dev/null")?;
            Part::of(key, &source.write(&plan, &null)?, None)
        };
        parts.push(part);
    }
    fs::write(dir.join(PARTS), serde_json::to_vec_pretty(&parts)?)?;
    Ok(parts)
}

/// Reads the parts listed in the directories `dirs` (of [`write_parts`]).
pub fn read_parts(dirs: &[PathBuf]) -> Result<Vec<Part>> {
    let mut all = Vec::new();
    for dir in dirs {
        let path = dir.join(PARTS);
        let text = read_json(&path)?;
        let parts: Vec<Part> =
            serde_json::from_slice(&text).with_context(|| format!("{} is not a list of layers", path.display()))?;
        all.extend(parts);
    }
    Ok(all)
}

/// Describes the image of `plan` into the empty directory `dir`: layers
/// found among `given` by their key are named there, the others (and the
/// config, manifest and `index.json`) are written into `dir`. A generated
/// rootfs is made only when its layer is not given. `missing` hears of
/// each artifact layer written here for want of a part.
pub fn describe(mut plan: Plan, given: &[Part], dir: &Path, missing: &mut dyn FnMut(&str, u64)) -> Result<Description> {
    rootfs::check(&plan)?;
    let cut = cut(&plan)?;
    let found: Vec<Option<&Part>> = cut
        .iter()
        .map(|(_, key)| key.as_ref().and_then(|k| given.iter().find(|p| &p.key == k && p.blob.is_some())))
        .collect();
    let rootfs_found = plan.rootfs.as_ref().is_none_or(|r| {
        cut.iter().zip(&found).any(|((tree, _), part)| tree.get(r.path.as_str()).is_some() && part.is_some())
    });
    if rootfs_found {
        if let Some(r) = &plan.rootfs {
            plan.tree.insert(&r.path, placeholder())?;
        }
    } else {
        rootfs::generate_into(&mut plan)?;
    }
    let sources = archive::layer_sources(&plan)?;
    let base = sources.len() - cut.len();
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    let mut parts = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let part = match (i.checked_sub(base).and_then(|own| found[own]), source) {
            (Some(part), _) => part.clone(),
            (None, source) => {
                let blob = archive::layout_blob(dir, |file| source.write(&plan, file))?;
                let own_artifact = i >= base && i + 1 < sources.len();
                if let (true, LayerSource::Own(tree)) = (own_artifact, source) {
                    let first = tree.iter().filter(|(_, n)| matches!(n, Node::File { .. })).map(|(p, _)| p).next();
                    missing(&first.map_or_else(String::new, |p| format!("/{p}")), blob.descriptor.size);
                }
                Part::of(String::new(), &blob, Some(blobs.join(blob.descriptor.hex())))
            }
        };
        parts.push(part);
    }
    let layer_blobs: Vec<LayerBlob> = parts.iter().map(Part::layer_blob).collect();
    let docs = Documents::new(&plan, &layer_blobs)?;
    let store = |desc: &Descriptor, bytes: &[u8]| -> Result<Stored> {
        let path = blobs.join(desc.hex());
        fs::write(&path, bytes)?;
        Ok(Stored { media_type: desc.media_type.clone(), digest: desc.digest.clone(), size: desc.size, path })
    };
    let description = Description {
        name: plan.name.clone(),
        tag: plan.tag.clone(),
        mtime: plan.mtime,
        layers: parts,
        config: store(&docs.config_desc, &docs.config)?,
        manifest: store(&docs.manifest_desc, &docs.manifest)?,
        index: dir.join("index.json"),
    };
    fs::write(&description.index, &docs.index)?;
    fs::write(dir.join(DESCRIPTION), serde_json::to_vec_pretty(&description)?)?;
    Ok(description)
}

/// Reads the description in `dir`.
pub fn read_description(dir: &Path) -> Result<Description> {
    let path = dir.join(DESCRIPTION);
    let text = read_json(&path)?;
    serde_json::from_slice(&text).with_context(|| format!("{} is not an image description", path.display()))
}

/// The files of `description` outside its directory, by their names in an
/// OCI layout (`blobs/sha256/<hex>`), each at its store path: with them the
/// description's directory reads as the image's layout, no blob copied.
pub fn files(d: &Description) -> BTreeMap<String, PathBuf> {
    let name = |digest: &str| format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    let mut files: BTreeMap<String, PathBuf> =
        d.layers.iter().filter_map(|p| Some((name(&p.digest), p.blob.clone()?))).collect();
    for s in [&d.config, &d.manifest] {
        files.insert(name(&s.digest), s.path.clone());
    }
    files
}

/// A multi-platform index described in the store: its images'
/// descriptions and its own documents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexDescription {
    /// The index's name.
    pub name: String,
    /// Its tag.
    pub tag: String,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// The description directories of its images, as given.
    pub images: Vec<PathBuf>,
    /// The image index.
    pub index: Stored,
}

/// What a description directory holds: one image, or an index of several.
#[derive(Clone, Debug)]
pub enum Described {
    /// One image ([`describe`]).
    Image(Description),
    /// An index of images ([`describe_index`]).
    Index(IndexDescription),
}

/// Reads the description in `dir`, of an image or of an index.
pub fn read_described(dir: &Path) -> Result<Described> {
    let path = dir.join(INDEX_DESCRIPTION);
    if !path.exists() {
        return read_description(dir).map(Described::Image);
    }
    let text = read_json(&path)?;
    let index =
        serde_json::from_slice(&text).with_context(|| format!("{} is not an index description", path.display()))?;
    Ok(Described::Index(index))
}

/// The images of an index description, each read through its layout with
/// its blobs at their store paths.
pub fn index_images(images: &[PathBuf]) -> Result<Vec<Image>> {
    images.iter().map(|dir| crate::imageread::open_mapped(dir, files(&read_description(dir)?))).collect()
}

/// The plan of the index of `d`, whose documents must be the described ones.
pub fn index_plan(d: &IndexDescription) -> Result<IndexPlan> {
    let plan = index::plan(index_images(&d.images)?, Some(&d.name), Some(&d.tag), d.annotations.clone())?;
    let (desc, _, _) = index::documents(&plan)?;
    if desc.digest != d.index.digest {
        bail!(mismatch(&d.index.path, &desc.digest, &d.index.digest));
    }
    Ok(plan)
}

/// The files of the index `d` outside its directory (see [`files`]): every
/// blob of every image.
pub fn index_files(d: &IndexDescription) -> Result<BTreeMap<String, PathBuf>> {
    let mut all = BTreeMap::new();
    for dir in &d.images {
        all.extend(files(&read_description(dir)?));
    }
    Ok(all)
}

/// Describes the index of the images described in `images` into the new
/// directory `dir`: the checks and documents of `bimanix index` with
/// `name`, `tag` and `annotations`, no blob copied.
pub fn describe_index(
    images: &[PathBuf],
    name: &str,
    tag: &str,
    annotations: BTreeMap<String, String>,
    dir: &Path,
) -> Result<IndexDescription> {
    let plan = index::plan(index_images(images)?, Some(name), Some(tag), annotations.clone())?;
    let (desc, index, index_json) = index::documents(&plan)?;
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    let path = blobs.join(desc.hex());
    fs::write(&path, &index)?;
    fs::write(dir.join("index.json"), &index_json)?;
    fs::write(dir.join("oci-layout"), oci::OCI_LAYOUT)?;
    let d = IndexDescription {
        name: plan.name.clone(),
        tag: plan.tag.clone(),
        annotations,
        images: images.to_vec(),
        index: Stored { media_type: desc.media_type.clone(), digest: desc.digest.clone(), size: desc.size, path },
    };
    fs::write(dir.join(INDEX_DESCRIPTION), serde_json::to_vec_pretty(&d)?)?;
    Ok(d)
}

/// The stand-in for a generated rootfs while layers are cut and keyed.
fn placeholder() -> Node {
    Node::File { content: Content::Inline(Vec::new()), size: 0, mode: FILE_MODE, link: None }
}

/// The image's own layers as the writer cuts them, each with its key
/// (`None`: not to be shared), a generated rootfs standing in as a
/// placeholder.
fn cut(plan: &Plan) -> Result<Vec<(Tree, Option<String>)>> {
    let mut tree = plan.tree.clone();
    if let Some(r) = &plan.rootfs {
        tree.insert(&r.path, placeholder())?;
    }
    let own = layers::split(&tree, &plan.artifacts, plan.layer_mode)?;
    Ok(own
        .into_iter()
        .map(|t| {
            let k = key(&t, plan);
            (t, k)
        })
        .collect())
}

/// The key of `layer`: the digest of what decides its bytes, or `None`
/// when some of them come from a temporary file.
fn key(layer: &Tree, plan: &Plan) -> Option<String> {
    let rootfs = plan.rootfs.as_ref();
    let mut listing = vec![json!(["bimanix layer", 1, plan.mtime, plan.compression.name()])];
    let links = layer.hard_links();
    for (path, node) in layer.iter() {
        match (rootfs, node) {
            (Some(r), Node::File { mode, .. }) if path == r.path.as_str() => {
                listing.push(json!(["rootfs", format!("{path:?}"), mode, rootfs_listing(r)?]));
            }
            _ => listing.push(entry(path, node, &links)?),
        }
    }
    Some(sha256_digest(Value::Array(listing).to_string().as_bytes()))
}

/// What decides a generated rootfs's bytes.
fn rootfs_listing(r: &RootfsPlan) -> Option<Value> {
    let links = r.tree.hard_links();
    let files: Option<Vec<Value>> = r.tree.iter().map(|(path, node)| entry(path, node, &links)).collect();
    let from = r.from_image.as_ref().map(|p| json!([format!("{p:?}"), r.architecture]));
    Some(json!([format!("{:?}", r.kind), format!("{:?}", r.fs_type), r.size, from, files?]))
}

/// One entry of a listing; a hard-linked file names the first path of its
/// group, as the writers link the others to it.
fn entry(path: &bstr::BStr, node: &Node, links: &HardLinks) -> Option<Value> {
    let first = links.of(node).map(|group| format!("{:?}", group[0]));
    let path = format!("{path:?}");
    Some(match node {
        Node::Dir { mode } => json!(["dir", path, mode]),
        Node::Symlink { target } => json!(["link", path, format!("{target:?}")]),
        Node::File { content: Content::Host(host), size, mode, .. } => {
            json!(["file", path, mode, size, format!("{host:?}"), first])
        }
        Node::File { content: Content::Inline(bytes), size, mode, .. } => {
            json!(["bytes", path, mode, size, sha256_digest(bytes), first])
        }
        Node::File { content: Content::Range { .. }, .. } => return None,
    })
}

/// Writes the archive of `description` in `format` (docker-archive or
/// oci-archive) to `out`: the bytes `build` writes for the same image.
/// Every blob is checked while it streams; one whose bytes are not the
/// described ones stops the archive before its documents are written.
pub fn stream(description: &Description, format: Format, out: &mut dyn Write) -> Result<()> {
    let d = description;
    if format == Format::OciLayout {
        bail!("an OCI layout is a directory; it cannot be streamed");
    }
    out.write_all(&archive::tar_head(d.mtime)?)?;
    for part in &d.layers {
        let h = header(
            &format!("blobs/sha256/{}", part.descriptor().hex()),
            "",
            EntryType::File,
            0o644,
            part.size,
            "",
            d.mtime,
        );
        out.write_all(&h)?;
        copy_checked(part, out)?;
        let rem = part.size % BLOCK;
        if rem != 0 {
            out.write_all(&vec![0; (BLOCK - rem) as usize])?;
        }
    }
    let docs = documents(d)?;
    let layers: Vec<Descriptor> = d.layers.iter().map(Part::descriptor).collect();
    archive::tar_tail(out, d.mtime, format, &format!("{}:{}", d.name, d.tag), &docs, &layers)?;
    out.flush()?;
    Ok(())
}

/// Writes the OCI layout of `description` into the empty directory `dir`,
/// checking every blob as [`stream`] does.
pub fn layout(description: &Description, dir: &Path) -> Result<()> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    for part in &description.layers {
        let mut file = File::create(blobs.join(part.descriptor().hex()))?;
        copy_checked(part, &mut file)?;
    }
    let docs = documents(description)?;
    fs::write(blobs.join(docs.config_desc.hex()), &docs.config)?;
    fs::write(blobs.join(docs.manifest_desc.hex()), &docs.manifest)?;
    fs::write(dir.join("index.json"), &docs.index)?;
    fs::write(dir.join("oci-layout"), oci::OCI_LAYOUT)?;
    Ok(())
}

/// The description's documents, each checked against its digest.
pub fn documents(d: &Description) -> Result<Documents> {
    let read = |s: &Stored| -> Result<(Vec<u8>, Descriptor)> {
        let bytes = read_json(&s.path)?;
        let got = Descriptor::of(&s.media_type, &bytes);
        if got.digest != s.digest {
            bail!(mismatch(&s.path, &got.digest, &s.digest));
        }
        Ok((bytes, got))
    };
    let (config, config_desc) = read(&d.config)?;
    let (manifest, manifest_desc) = read(&d.manifest)?;
    let index = read_json(&d.index)?;
    Ok(Documents { config, config_desc, manifest, manifest_desc, index, attached: Vec::new() })
}

/// Copies the blob of `part` to `out`, hashing it on the side, failing
/// when its bytes are not the described ones.
fn copy_checked(part: &Part, out: &mut dyn Write) -> Result<()> {
    let path = part.blob.as_ref().context("internal: a described layer without its blob")?;
    let file = crate::model::hostfile::open_regular(path)?;
    let (copied, hashed) = write_hashed_to(out, |sink| {
        sink.copy_file(&file, 0, part.size).with_context(|| format!("cannot read {}", path.display()))
    })?;
    let size = file.metadata()?.len();
    if copied != part.size || size != part.size || hashed.digest != part.digest {
        // A longer file is hashed whole, so that the message gives its digest.
        let actual = if size == copied { hashed.digest } else { whole_digest(&file)? };
        bail!(mismatch(path, &actual, &part.digest));
    }
    Ok(())
}

/// The digest of a whole file.
fn whole_digest(file: &File) -> Result<String> {
    let mut hashing = Hashing::new(BufReader::new(file));
    std::io::copy(&mut hashing, &mut std::io::sink())?;
    Ok(hashing.finish().0)
}

/// The message for a stored blob whose bytes are not the described ones.
pub fn mismatch(path: &Path, actual: &str, expected: &str) -> String {
    format!(
        "{}: its content hashes to {actual}, not to {expected}, the digest the image was built with (the store \
         path is corrupted or was not built reproducibly; `nix-store --verify-path` and `--repair-path` check and \
         mend it); stopped before the manifest",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::output::Output;
    use crate::model::oci::ConfigFields;
    use std::collections::BTreeMap;

    /// An image with a 5000-byte kernel (an artifact), a small file and
    /// `cmd`.
    fn plan(dir: &Path, cmd: &str, mtime: u64) -> Plan {
        let kernel = dir.join("kernel");
        if !kernel.exists() {
            fs::write(&kernel, vec![7u8; 5000]).unwrap();
        }
        let mut tree = Tree::new();
        tree.insert("boot/kernel", Node::File { content: Content::Host(kernel), size: 5000, mode: 0o755, link: None })
            .unwrap();
        let urunc = format!("{{\"cmd\":\"{cmd}\"}}").into_bytes();
        tree.insert(
            "urunc.json",
            Node::File { size: urunc.len() as u64, content: Content::Inline(urunc), mode: 0o644, link: None },
        )
        .unwrap();
        Plan {
            name: "hello".into(),
            tag: "v1".into(),
            tree,
            rootfs: None,
            config: ConfigFields {
                architecture: "amd64".into(),
                created: "1970-01-01T00:00:00Z".into(),
                entrypoint: None,
                cmd: Some(vec![cmd.to_string()]),
                env: Vec::new(),
                working_dir: None,
                labels: BTreeMap::new(),
                base_history: Vec::new(),
            },
            annotations: BTreeMap::new(),
            mtime,
            base: None,
            artifacts: ["boot/kernel".to_string()].into(),
            layer_mode: Default::default(),
            compression: Default::default(),
            attach: Default::default(),
        }
    }

    fn archive(plan: Plan, dir: &Path) -> Vec<u8> {
        let path = dir.join("built.tar");
        archive::write(&plan, Format::DockerArchive, &Output::Path(path.clone())).unwrap();
        fs::read(path).unwrap()
    }

    fn described(dir: &Path, cmd: &str) -> (Description, Vec<Part>) {
        let parts = write_parts(plan(dir, cmd, 0), &dir.join(format!("layers-{cmd}")), true).unwrap();
        let mut missing = Vec::new();
        let d = describe(plan(dir, cmd, 0), &parts, &dir.join(format!("desc-{cmd}")), &mut |p, _| {
            missing.push(p.to_string())
        })
        .unwrap();
        assert!(missing.is_empty(), "{missing:?}");
        (d, parts)
    }

    #[test]
    fn the_stream_of_a_description_is_the_archive_and_names_the_layer_written_apart() {
        let dir = tempfile::tempdir().unwrap();
        let (d, parts) = described(dir.path(), "one");
        assert_eq!(parts.len(), 1);
        assert_eq!(d.layers[0], parts[0]);
        let mut streamed = Vec::new();
        stream(&d, Format::DockerArchive, &mut streamed).unwrap();
        assert_eq!(streamed, archive(plan(dir.path(), "one", 0), dir.path()));
        // The description holds the top layer and documents, not the kernel.
        let held: u64 = fs::read_dir(dir.path().join("desc-one/blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(held < 5000, "{held}");
    }

    #[test]
    fn a_change_outside_a_layer_keeps_its_key_and_a_change_inside_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let (one, _) = described(dir.path(), "one");
        let (two, _) = described(dir.path(), "two");
        assert_eq!(one.layers[0].key, two.layers[0].key);
        assert_ne!(one.manifest.digest, two.manifest.digest);
        let later = cut(&plan(dir.path(), "one", 60)).unwrap();
        assert_ne!(later[0].1.as_deref(), Some(one.layers[0].key.as_str()));
    }

    #[test]
    fn a_layer_not_given_is_written_into_the_description() {
        let dir = tempfile::tempdir().unwrap();
        let mut missing = Vec::new();
        let d = describe(plan(dir.path(), "one", 0), &[], &dir.path().join("desc"), &mut |p, size| {
            missing.push((p.to_string(), size))
        })
        .unwrap();
        // Two headers, 5000 bytes padded to 5120, the two end blocks.
        assert_eq!(missing, [("/boot/kernel".to_string(), 7168)]);
        let mut streamed = Vec::new();
        stream(&d, Format::DockerArchive, &mut streamed).unwrap();
        assert_eq!(streamed, archive(plan(dir.path(), "one", 0), dir.path()));
    }

    #[test]
    fn a_blob_whose_bytes_differ_stops_the_stream_before_the_documents() {
        let dir = tempfile::tempdir().unwrap();
        let (d, parts) = described(dir.path(), "one");
        let blob = parts[0].blob.clone().unwrap();
        let mut bytes = fs::read(&blob).unwrap();
        bytes[700] ^= 1;
        fs::write(&blob, &bytes).unwrap();
        let mut streamed = Vec::new();
        let err = format!("{:#}", stream(&d, Format::DockerArchive, &mut streamed).unwrap_err());
        assert!(err.contains(&blob.display().to_string()), "{err}");
        assert!(err.contains(&parts[0].digest) && err.contains(&sha256_digest(&bytes)), "{err}");
        let text = String::from_utf8_lossy(&streamed);
        assert!(!text.contains("manifest.json") && !text.contains("index.json"), "documents were written");
        let err = layout(&d, &dir.path().join("layout")).unwrap_err();
        assert!(format!("{err:#}").contains("stopped before the manifest"), "{err:#}");
    }
}
