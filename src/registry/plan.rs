//! What a push sends, read from the image as stored: the documents to put
//! (an image manifest; or an index, its manifests first), each with the
//! blobs it names. OCI layouts are copied byte for byte. An old-style
//! docker-archive has no manifest to copy, so one is written for it (an
//! OCI manifest over its config and layers, canonical JSON); its digest is
//! new, since no tool made one before.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::imageread::{Compression, DockerEntry, Expected, Store};
use crate::model::oci::{self, Descriptor};

/// How deep indexes may nest (an index of indexes of manifests).
const MAX_DEPTH: usize = 4;
/// How many distinct manifests and indexes one push may send (and so one
/// index may list): a multi-platform image has a few dozen at most.
const MAX_DOCUMENTS: usize = 1024;
/// Docker's media type of an image manifest (schema 2).
pub const DOCKER_MANIFEST_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Everything a push sends.
#[derive(Debug)]
pub struct Plan {
    /// The documents, in the order they are put: each index after the
    /// manifests it lists; the last one is the image itself.
    pub documents: Vec<Document>,
    /// Whether the manifest was written here (old-style docker-archive).
    pub synthesized: bool,
}

/// A manifest or index to put, as bytes.
#[derive(Debug)]
pub struct Document {
    /// The bytes, sent unchanged.
    pub bytes: Vec<u8>,
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
    /// Its media type (the `Content-Type` of the PUT).
    pub media_type: String,
    /// What it is, for messages: `manifest`, `manifest linux/arm64`, `index`.
    pub what: String,
    /// The blobs an image manifest names: config first, then the layers.
    pub blobs: Vec<Blob>,
}

/// A blob the registry must hold.
#[derive(Debug)]
pub struct Blob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// What it is, for messages: `config`, `layer 2`, `layer 1 (linux/arm64)`.
    pub what: String,
    /// Where its bytes are.
    pub source: Source,
    /// For a layer: the config's diff_id, which its uncompressed tar must hash to.
    pub diff_id: Option<String>,
    /// Whether its bytes were already checked against `digest`.
    pub checked: bool,
}

impl Blob {
    /// Whether it is a layer stored uncompressed: its digest is its tar's.
    pub fn is_uncompressed_layer(&self) -> bool {
        self.diff_id.as_ref() == Some(&self.digest)
    }
}

/// Where a blob's bytes are.
#[derive(Debug)]
pub enum Source {
    /// An entry of the archive or layout, by name.
    Archive(String),
    /// A file written for this push (a recompressed layer).
    File(File),
    /// A layer of the archive (by name, stored as `stored`) whose encoding
    /// with `compression` the blob record knows: the blob's digest and size
    /// are the record's, and it is encoded, and checked against them, only
    /// when a registry lacks it.
    Encode {
        /// The archive entry.
        name: String,
        /// The layer's digest as stored.
        stored: String,
        /// The encoding.
        compression: Compression,
    },
}

impl Plan {
    /// The image's own document: the manifest, or the top index.
    pub fn top(&self) -> &Document {
        // A plan always holds at least one document (see `plan`).
        &self.documents[self.documents.len() - 1]
    }
}

/// Reads what a push of the image in `store` sends.
pub fn plan(store: &Store) -> Result<Plan> {
    match store.index_json()? {
        Some(index) => {
            let top = top_descriptor(&index)?;
            let mut walk = Walk::default();
            walk.add(store, &top, "", 0)?;
            Ok(Plan { documents: walk.documents, synthesized: false })
        }
        None => {
            let entries = store.docker_entries()?.unwrap_or_default();
            let entry = match <[DockerEntry; 1]>::try_from(entries) {
                Ok([entry]) => entry,
                Err(entries) if entries.is_empty() => bail!("manifest.json lists no image"),
                Err(entries) => bail!(
                    "manifest.json lists {} images ({}); push pushes one image, so save one image per archive",
                    entries.len(),
                    entries.iter().map(|e| e.repo_tags.join(" ")).collect::<Vec<_>>().join(", ")
                ),
            };
            Ok(Plan { documents: vec![synthesize(store, &entry)?], synthesized: true })
        }
    }
}

/// A descriptor of index.json, as far as a push needs it.
#[derive(Clone, Debug)]
struct Desc {
    digest: String,
    size: Option<u64>,
    media_type: Option<String>,
    platform: Option<String>,
}

impl Desc {
    fn from_json(value: &Value, at: &str) -> Result<Desc> {
        let digest = value.get("digest").and_then(Value::as_str).ok_or_else(|| anyhow!("{at}: no digest"))?;
        let platform = value.get("platform").map(|p| {
            let part = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
            let variant = p.get("variant").and_then(Value::as_str).map(|v| format!("/{v}")).unwrap_or_default();
            format!("{}/{}{variant}", part("os"), part("architecture"))
        });
        Ok(Desc {
            digest: digest.to_string(),
            size: value.get("size").and_then(Value::as_u64),
            media_type: value.get("mediaType").and_then(Value::as_str).map(str::to_string),
            platform,
        })
    }
}

/// The one image index.json names. An OCI layout may name several (by
/// tag or platform); a push sends one image, so that is refused. The
/// documents attached beside it (a `sha256-<hex>` referrers index, an
/// artifact) are not images and are left out.
fn top_descriptor(index: &[u8]) -> Result<Desc> {
    let index: Value = serde_json::from_slice(index).context("index.json is not JSON")?;
    let mut manifests = index.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
    manifests.retain(|m| {
        let name = m.pointer("/annotations/org.opencontainers.image.ref.name").and_then(Value::as_str);
        m.get("artifactType").is_none() && !name.is_some_and(crate::imageread::is_fallback_tag)
    });
    match manifests.as_slice() {
        [] => bail!("index.json lists no image"),
        [one] => Desc::from_json(one, "index.json: manifests[0]"),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|m| {
                    let name = m.pointer("/annotations/org.opencontainers.image.ref.name").and_then(Value::as_str);
                    let digest = m.get("digest").and_then(Value::as_str).unwrap_or("?");
                    name.map_or(digest.to_string(), |n| format!("{n} ({digest})"))
                })
                .collect();
            bail!(
                "index.json lists {} images ({}); push pushes one image (a multi-platform image is one index), \
                 so write one image per layout",
                many.len(),
                names.join(", ")
            )
        }
    }
}

/// The documents read so far, each distinct one once: an index that lists
/// the same manifest many times, or indexes that share children, cost
/// what their distinct content costs, however the layout is drawn.
#[derive(Default)]
struct Walk {
    /// In the order they are put.
    documents: Vec<Document>,
    /// The digests in `documents`.
    done: BTreeSet<String>,
    /// The indexes being read, to name a cycle.
    open: BTreeSet<String>,
}

impl Walk {
    /// Reads the manifest or index `desc` names, unless read already, and
    /// appends it after the documents it lists.
    fn add(&mut self, store: &Store, desc: &Desc, platform: &str, depth: usize) -> Result<()> {
        if self.done.contains(&desc.digest) {
            return Ok(());
        }
        if self.open.contains(&desc.digest) {
            bail!("index {} lists itself, through the indexes it lists", desc.digest);
        }
        if self.done.len() + self.open.len() >= MAX_DOCUMENTS {
            bail!("the image holds more than {MAX_DOCUMENTS} distinct manifests and indexes; a push sends one image");
        }
        let name = Store::blob_name(&desc.digest)?;
        let what = desc.platform.as_ref().map_or(String::new(), |p| format!(" {p}"));
        let bytes = store.read(&name).with_context(|| format!("manifest{what} {}", desc.digest))?;
        let measured = oci::sha256_digest(&bytes);
        if measured != desc.digest || desc.size.is_some_and(|s| s != bytes.len() as u64) {
            bail!(
                "manifest{what} {}: the archive's copy hashes to {measured} ({} bytes): corrupted or edited",
                desc.digest,
                bytes.len()
            );
        }
        let value: Value =
            serde_json::from_slice(&bytes).with_context(|| format!("manifest{what} {} is not JSON", desc.digest))?;
        let platform = desc.platform.as_deref().unwrap_or(platform);
        let media_type = media_type(&value, desc);
        let document = if let Some(children) = value.get("manifests").and_then(Value::as_array) {
            if depth >= MAX_DEPTH {
                bail!("index {}: indexes nest more than {MAX_DEPTH} deep", desc.digest);
            }
            self.open.insert(desc.digest.clone());
            for (i, child) in children.iter().enumerate() {
                let child = Desc::from_json(child, &format!("index {}: manifests[{i}]", desc.digest))?;
                self.add(store, &child, platform, depth + 1)
                    .with_context(|| format!("index {} lists it", desc.digest))?;
            }
            self.open.remove(&desc.digest);
            Document { bytes, digest: measured, media_type, what: "index".to_string(), blobs: Vec::new() }
        } else {
            let blobs = manifest_blobs(store, &value, platform).with_context(|| format!("manifest {}", desc.digest))?;
            let what = if platform.is_empty() { "manifest".to_string() } else { format!("manifest {platform}") };
            Document { bytes, digest: measured, media_type, what, blobs }
        };
        self.done.insert(document.digest.clone());
        self.documents.push(document);
        Ok(())
    }
}

/// The media type to put a document with: its own `mediaType`, else its
/// descriptor's, else what its shape says.
fn media_type(value: &Value, desc: &Desc) -> String {
    value
        .get("mediaType")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| desc.media_type.clone())
        .unwrap_or_else(|| {
            if value.get("manifests").is_some() { oci::INDEX_TYPE } else { oci::MANIFEST_TYPE }.to_string()
        })
}

/// The config and layers an image manifest names; a layer's diff_id comes
/// from the config when the config is an image config.
pub(super) fn manifest_blobs(store: &Store, manifest: &Value, platform: &str) -> Result<Vec<Blob>> {
    let config = manifest.get("config").ok_or_else(|| anyhow!("it has no config"))?;
    let config = Desc::from_json(config, "config")?;
    let layers: Vec<Desc> = match manifest.get("layers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(layers)) => layers
            .iter()
            .enumerate()
            .map(|(i, l)| Desc::from_json(l, &format!("layers[{i}]")))
            .collect::<Result<_>>()?,
        Some(_) => bail!("its layers are not a list"),
    };
    let config_bytes = store.read(&Store::blob_name(&config.digest)?).context("its config")?;
    let diff_ids = diff_ids(&config_bytes);
    if diff_ids.as_ref().is_some_and(|d| d.len() != layers.len()) {
        bail!(
            "it lists {} layers but its config has {} rootfs.diff_ids",
            layers.len(),
            diff_ids.unwrap_or_default().len()
        );
    }
    let suffix = if platform.is_empty() { String::new() } else { format!(" ({platform})") };
    let mut blobs = vec![Blob {
        digest: config.digest.clone(),
        size: config.size.unwrap_or(config_bytes.len() as u64),
        what: format!("config{suffix}"),
        source: Source::Archive(Store::blob_name(&config.digest)?),
        diff_id: None,
        checked: false,
    }];
    for (i, layer) in layers.iter().enumerate() {
        let name = Store::blob_name(&layer.digest)?;
        let size = match layer.size {
            Some(size) => size,
            None => store.open(&name)?.1,
        };
        blobs.push(Blob {
            digest: layer.digest.clone(),
            size,
            what: format!("layer {}{suffix}", i + 1),
            source: Source::Archive(name),
            diff_id: diff_ids.as_ref().and_then(|d| d.get(i).cloned()),
            checked: false,
        });
    }
    Ok(blobs)
}

/// `rootfs.diff_ids` of an image config; `None` for other configs (an
/// artifact's), whose layers are then checked by digest only.
fn diff_ids(config: &[u8]) -> Option<Vec<String>> {
    let value: Value = serde_json::from_slice(config).ok()?;
    let ids = value.pointer("/rootfs/diff_ids")?.as_array()?;
    ids.iter().map(|id| id.as_str().map(str::to_string)).collect()
}

/// Writes an OCI manifest for an old-style docker-archive image: its
/// config, and each layer measured (digest, size, compression) and checked
/// against its diff_id.
fn synthesize(store: &Store, entry: &DockerEntry) -> Result<Document> {
    let config_bytes = store.read(&entry.config).with_context(|| format!("config {}", entry.config))?;
    let config = Descriptor::of(oci::CONFIG_TYPE, &config_bytes);
    let ids = diff_ids(&config_bytes).ok_or_else(|| anyhow!("config {}: no rootfs.diff_ids", entry.config))?;
    if ids.len() != entry.layers.len() {
        bail!("manifest.json lists {} layers but the config has {} rootfs.diff_ids", entry.layers.len(), ids.len());
    }
    let mut blobs = vec![Blob {
        digest: config.digest.clone(),
        size: config.size,
        what: "config".to_string(),
        source: Source::Archive(entry.config.clone()),
        diff_id: None,
        checked: true,
    }];
    let mut layers = Vec::new();
    for (i, (name, diff_id)) in entry.layers.iter().zip(&ids).enumerate() {
        let what = format!("layer {}", i + 1);
        let expected = Expected { diff_id: Some(diff_id), ..Default::default() };
        let measured = store.check(name, &what, expected)?;
        let media_type = layer_media_type(measured.compression, oci::MANIFEST_TYPE)?;
        layers.push(Descriptor {
            media_type: media_type.to_string(),
            digest: measured.digest.clone(),
            size: measured.size,
        });
        blobs.push(Blob {
            digest: measured.digest,
            size: measured.size,
            what,
            source: Source::Archive(name.clone()),
            diff_id: Some(diff_id.clone()),
            checked: true,
        });
    }
    let bytes = oci::manifest(&config, &layers, &BTreeMap::new());
    let digest = oci::sha256_digest(&bytes);
    Ok(Document { bytes, digest, media_type: oci::MANIFEST_TYPE.to_string(), what: "manifest".to_string(), blobs })
}

/// The layer media type for `compression` in a manifest of `manifest_type`.
pub fn layer_media_type(compression: Compression, manifest_type: &str) -> Result<&'static str> {
    let docker = manifest_type == DOCKER_MANIFEST_TYPE;
    Ok(match compression {
        Compression::Gzip if docker => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        Compression::Zstd if docker => bail!("a Docker schema 2 manifest cannot hold zstd layers; use gzip"),
        _ if docker => "application/vnd.docker.image.rootfs.diff.tar",
        _ => compression.layer_media_type(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;
    use crate::imageread::open_store;
    use crate::imageread::tests::{E, TestImage, blob_path, gzip, layer, sha, write_dir, write_tar};

    fn hello() -> Vec<u8> {
        layer(&[E::File("hello", b"hello\n", 0o755)])
    }

    fn file<'a>(files: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
        &files.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn copies_an_oci_layout_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let mut image = TestImage::new(vec![hello()]);
        image.annotations = [("com.urunc.unikernel.hypervisor".to_string(), "qemu".to_string())].into();
        let files = image.hybrid();
        write_tar(&dir.path().join("i.tar"), &files);
        let plan = plan(&open_store(&dir.path().join("i.tar")).unwrap()).unwrap();
        let index: Value = serde_json::from_slice(file(&files, "index.json")).unwrap();
        let digest = index["manifests"][0]["digest"].as_str().unwrap();
        assert!(!plan.synthesized);
        assert_eq!(plan.documents.len(), 1);
        let top = plan.top();
        assert_eq!(top.digest, digest);
        assert_eq!(top.bytes, file(&files, &blob_path(&top.bytes)));
        assert_eq!(top.media_type, oci::MANIFEST_TYPE);
        let blobs: Vec<(&str, &str, Option<&str>)> =
            top.blobs.iter().map(|b| (b.what.as_str(), b.digest.as_str(), b.diff_id.as_deref())).collect();
        let (config, layer) = (sha(&image.config_bytes()), sha(&hello()));
        assert_eq!(blobs, [("config", config.as_str(), None), ("layer 1", layer.as_str(), Some(layer.as_str()))]);
        assert_eq!(top.blobs[1].size, hello().len() as u64);
    }

    #[test]
    fn writes_an_oci_manifest_for_an_old_docker_archive() {
        let dir = tempfile::tempdir().unwrap();
        let mut image = TestImage::new(vec![hello()]);
        image.compress = gzip;
        write_tar(&dir.path().join("d.tar"), &image.docker());
        let plan = plan(&open_store(&dir.path().join("d.tar")).unwrap()).unwrap();
        assert!(plan.synthesized);
        let top = plan.top();
        assert_eq!(top.digest, oci::sha256_digest(&top.bytes));
        let manifest: Value = serde_json::from_slice(&top.bytes).unwrap();
        let config = image.config_bytes();
        assert_eq!(
            manifest,
            json!({"schemaVersion": 2, "mediaType": oci::MANIFEST_TYPE,
                   "config": {"mediaType": oci::CONFIG_TYPE, "digest": sha(&config), "size": config.len()},
                   "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                               "digest": sha(&gzip(&hello())), "size": gzip(&hello()).len()}]})
        );
        assert!(top.blobs.iter().all(|b| b.checked));
    }

    /// Two platforms under a nested index, as Docker 25+ saves them.
    pub(crate) fn multi_platform(dir: &std::path::Path) -> Vec<u8> {
        let mut files = Vec::new();
        let mut entries = Vec::new();
        for arch in ["amd64", "arm64"] {
            let mut image = TestImage::new(vec![layer(&[E::File("k", arch.as_bytes(), 0o644)])]);
            image.architecture = arch;
            let oci = image.oci();
            let index: Value = serde_json::from_slice(file(&oci, "index.json")).unwrap();
            let mut entry = index["manifests"][0].clone();
            entry["platform"] = json!({"os": "linux", "architecture": arch});
            entry.as_object_mut().unwrap().remove("annotations");
            entries.push(entry);
            files.extend(oci.into_iter().filter(|(n, _)| n.starts_with("blobs/")));
        }
        let nested =
            serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": oci::INDEX_TYPE, "manifests": entries}))
                .unwrap();
        files.push((blob_path(&nested), nested.clone()));
        let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": oci::INDEX_TYPE, "digest": sha(&nested),
            "size": nested.len(), "annotations": {"org.opencontainers.image.ref.name": "1.0"}}]});
        files.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
        write_dir(dir, &files);
        nested
    }

    #[test]
    fn puts_each_manifest_before_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let nested = multi_platform(dir.path());
        let plan = plan(&open_store(dir.path()).unwrap()).unwrap();
        let shown: Vec<(&str, usize)> = plan.documents.iter().map(|d| (d.what.as_str(), d.blobs.len())).collect();
        assert_eq!(shown, [("manifest linux/amd64", 2), ("manifest linux/arm64", 2), ("index", 0)]);
        assert_eq!(plan.top().bytes, nested);
        assert_eq!(plan.top().media_type, oci::INDEX_TYPE);
        assert_eq!(plan.documents[1].blobs[1].what, "layer 1 (linux/arm64)");
    }

    /// Indexes 4 deep, each listing the one below 40 times: 40^4 paths to
    /// one manifest, planned as 5 documents, each read once.
    #[test]
    fn plans_each_distinct_document_once_however_the_layout_is_drawn() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = TestImage::new(vec![hello()]).oci();
        let index: Value = serde_json::from_slice(file(&files, "index.json")).unwrap();
        let mut entry = index["manifests"][0].clone();
        entry.as_object_mut().unwrap().remove("annotations");
        for _ in 0..4 {
            let nested = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": oci::INDEX_TYPE,
                "manifests": vec![entry.clone(); 40]}))
            .unwrap();
            entry = json!({"mediaType": oci::INDEX_TYPE, "digest": sha(&nested), "size": nested.len()});
            files.push((blob_path(&nested), nested));
        }
        files.push((
            "index.json".into(),
            serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [entry]})).unwrap(),
        ));
        write_dir(dir.path(), &files);
        let plan = plan(&open_store(dir.path()).unwrap()).unwrap();
        let shown: Vec<&str> = plan.documents.iter().map(|d| d.what.as_str()).collect();
        assert_eq!(shown, ["manifest", "index", "index", "index", "index"]);
        assert_eq!(plan.documents.iter().map(|d| d.blobs.len()).sum::<usize>(), 2);
    }

    #[test]
    fn refuses_what_it_cannot_push_faithfully() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = TestImage::new(vec![hello()]).oci();
        let mut index: Value = serde_json::from_slice(file(&files, "index.json")).unwrap();
        let entry = index["manifests"][0].clone();
        index["manifests"] = json!([entry.clone(), entry]);
        files.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
        write_dir(dir.path(), &files);
        let err = format!("{:#}", plan(&open_store(dir.path()).unwrap()).unwrap_err());
        assert!(err.contains("index.json lists 2 images (1.0 (sha256:"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let mut files = TestImage::new(vec![hello()]).oci();
        let index = file(&files, "index.json").to_vec();
        let digest = serde_json::from_slice::<Value>(&index).unwrap()["manifests"][0]["digest"].clone();
        let name = format!("blobs/sha256/{}", &digest.as_str().unwrap()[7..]);
        files.iter_mut().find(|(n, _)| *n == name).unwrap().1.push(b' ');
        write_dir(dir.path(), &files);
        let err = format!("{:#}", plan(&open_store(dir.path()).unwrap()).unwrap_err());
        assert!(err.contains("corrupted or edited"), "{err}");
    }

    #[test]
    fn names_layer_media_types() {
        assert_eq!(
            layer_media_type(Compression::Gzip, oci::MANIFEST_TYPE).unwrap(),
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert_eq!(
            layer_media_type(Compression::Zstd, oci::MANIFEST_TYPE).unwrap(),
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
        assert_eq!(
            layer_media_type(Compression::Gzip, DOCKER_MANIFEST_TYPE).unwrap(),
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
        assert!(layer_media_type(Compression::Zstd, DOCKER_MANIFEST_TYPE).is_err());
    }
}
