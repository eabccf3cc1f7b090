//! Documents attached to an image, not mixed into it: the SBOM
//! ([`sbom`](super::sbom)) and the build attestation
//! ([`provenance`](super::provenance)), each an OCI 1.1 artifact manifest
//! whose `subject` is the image manifest, so the image's own manifest and
//! digest are the same with or without them.
//!
//! An OCI layout has no referrers API, so the documents are found the way
//! a registry without one finds them (OCI distribution 1.1's fallback): an
//! image index tagged `sha256-<hex of the image manifest>` in `index.json`
//! lists every artifact manifest whose subject is that image.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::image::plan::Plan;
use crate::model::fstree::{COPY_BUFFER, Content, Node};
use crate::model::metadata;
use crate::model::oci::{self, Descriptor};

/// Media type of the empty config (`{}`) of an artifact manifest.
pub const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// Media type (and artifact type) of a CycloneDX JSON SBOM.
pub const CYCLONEDX_TYPE: &str = "application/vnd.cyclonedx+json";
/// Media type (and artifact type) of an unsigned in-toto statement.
pub const IN_TOTO_TYPE: &str = "application/vnd.in-toto+json";
/// The annotation naming an in-toto statement's predicate type, as
/// BuildKit and cosign write it.
pub const PREDICATE_TYPE_KEY: &str = "in-toto.io/predicate-type";

/// What to attach to a built image, and what the documents say beyond
/// what the plan holds.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Attach a CycloneDX SBOM.
    pub sbom: bool,
    /// Attach an in-toto statement with a SLSA provenance predicate.
    pub provenance: bool,
    /// What each of the image's own files is, by tree path: `kernel`,
    /// `initrd`, `block image`, `urunc.json`; others are `rootfs entry`.
    pub roles: BTreeMap<String, &'static str>,
    /// The urunc versions the image was checked against.
    pub urunc: Vec<String>,
    /// The input file (args.nix, Containerfile, bunnyfile): its name and
    /// `sha256:<hex>`.
    pub input: Option<(String, String)>,
    /// The build's settings, as the attestation's external parameters.
    pub parameters: BTreeMap<String, Value>,
    /// Store paths of the image's sources -> the derivation that built
    /// them, where the Nix functions passed it.
    pub derivers: BTreeMap<String, String>,
}

impl Request {
    /// Whether any document is asked for.
    pub fn any(&self) -> bool {
        self.sbom || self.provenance
    }
}

/// The role of a file that is none of the listed ones.
pub const ROOTFS_ENTRY: &str = "rootfs entry";

/// One regular file of the image's own layers.
#[derive(Clone, Debug)]
pub struct FileFact {
    /// The absolute path in the image (`/unikernel/hello`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    /// `kernel`, `initrd`, `block image`, `urunc.json` or `rootfs entry`.
    pub role: &'static str,
    /// The Nix store path the file came from, if it did.
    pub store_path: Option<String>,
    /// Files inside it, for a generated initrd or block image.
    pub inside: Vec<FileFact>,
}

/// Everything the documents state about the image.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    /// The plan the image was written from.
    pub plan: &'a Plan,
    /// The image manifest.
    pub manifest: &'a Descriptor,
    /// The image's own regular files (not the base's), by path.
    pub files: Vec<FileFact>,
    /// The base image, as `(name, manifest digest)`.
    pub base: Option<(Option<String>, Option<String>)>,
}

/// The bimanix version that writes the documents.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The blobs of the attached documents (artifact manifests, their
/// layers, the empty config and the referrers index), and the
/// `index.json` entry tagging the referrers index.
#[derive(Debug, Default)]
pub struct Attached {
    /// Every blob to store, in a fixed order.
    pub blobs: Vec<(Descriptor, Vec<u8>)>,
    /// The `index.json` entry of the referrers index, when there is one.
    pub tag_entry: Option<Value>,
    /// How many documents (artifact manifests) there are.
    pub documents: usize,
}

/// Makes the requested documents for the image `manifest` of `plan`.
pub fn documents(plan: &Plan, manifest: &Descriptor) -> Result<Attached> {
    let request = &plan.attach;
    if !request.any() {
        return Ok(Attached::default());
    }
    let facts = Facts { plan, manifest, files: file_facts(plan)?, base: base_facts(plan) };
    let created = plan.config.created.clone();
    let mut docs: Vec<(&str, Vec<u8>, BTreeMap<String, String>)> = Vec::new();
    if request.sbom {
        docs.push((CYCLONEDX_TYPE, super::sbom::cyclonedx(&facts), BTreeMap::new()));
    }
    if request.provenance {
        let extra = [(PREDICATE_TYPE_KEY.to_string(), super::provenance::PREDICATE_TYPE.to_string())].into();
        docs.push((IN_TOTO_TYPE, super::provenance::statement(&facts), extra));
    }
    let empty = Descriptor::of(EMPTY_TYPE, b"{}");
    let mut blobs = vec![(empty.clone(), b"{}".to_vec())];
    let mut referrers = Vec::new();
    let documents = docs.len();
    for (artifact_type, bytes, extra) in docs {
        let layer = Descriptor::of(artifact_type, &bytes);
        let mut annotations = extra;
        annotations.insert(metadata::CREATED.to_string(), created.clone());
        let artifact = artifact_manifest(artifact_type, &empty, &layer, manifest, &annotations);
        let desc = Descriptor::of(oci::MANIFEST_TYPE, &artifact);
        referrers.push(referrer_entry(&desc, artifact_type, &annotations));
        blobs.push((layer, bytes));
        blobs.push((desc, artifact));
    }
    let (index_desc, index, tag_entry) = fallback_index(&manifest.digest, referrers);
    blobs.push((index_desc, index));
    Ok(Attached { blobs, tag_entry: Some(tag_entry), documents })
}

/// The referrers fallback index of the manifest `subject`, listing
/// `referrers` (made by [`referrer_entry`]) in their order: its descriptor,
/// its bytes and the `index.json` entry that tags it `sha256-<hex>`.
pub fn fallback_index(subject: &str, referrers: Vec<Value>) -> (Descriptor, Vec<u8>, Value) {
    let index = referrers_index(Vec::new(), referrers);
    let index_desc = Descriptor::of(oci::INDEX_TYPE, &index);
    let tag_entry = json!({
        "mediaType": oci::INDEX_TYPE,
        "digest": index_desc.digest,
        "size": index_desc.size,
        "annotations": { metadata::REF_NAME: fallback_tag(subject) },
    });
    (index_desc, index, tag_entry)
}

/// The tag of the referrers fallback index of `digest`: `sha256-<hex>`.
pub fn fallback_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// An OCI 1.1 artifact manifest: the empty config, the document as its
/// one layer, the image as its subject.
fn artifact_manifest(
    artifact_type: &str,
    empty: &Descriptor,
    layer: &Descriptor,
    subject: &Descriptor,
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    let d = |d: &Descriptor| json!({ "mediaType": d.media_type, "digest": d.digest, "size": d.size });
    to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": oci::MANIFEST_TYPE,
        "artifactType": artifact_type,
        "config": d(empty),
        "layers": [d(layer)],
        "subject": d(subject),
        "annotations": annotations,
    }))
}

/// A referrers-list entry for an artifact manifest, as the referrers API
/// answers it: with its artifact type and annotations.
pub fn referrer_entry(desc: &Descriptor, artifact_type: &str, annotations: &BTreeMap<String, String>) -> Value {
    json!({
        "mediaType": desc.media_type,
        "digest": desc.digest,
        "size": desc.size,
        "artifactType": artifact_type,
        "annotations": annotations,
    })
}

/// The referrers index: the entries of an existing one (another tool's,
/// kept as they are, in their order) followed by `new` ones it does not
/// list yet; a digest listed twice is kept at its first place only.
pub fn referrers_index(existing: Vec<Value>, new: Vec<Value>) -> Vec<u8> {
    let mut manifests: Vec<Value> = Vec::new();
    for entry in existing.into_iter().chain(new) {
        if !manifests.iter().any(|m| m.get("digest") == entry.get("digest")) {
            manifests.push(entry);
        }
    }
    to_bytes(&json!({ "schemaVersion": 2, "mediaType": oci::INDEX_TYPE, "manifests": manifests }))
}

/// `index.json` with the referrers indexes' entries added, in their
/// order, after the image's (or the image index's).
pub fn with_tag_entries(index_json: &[u8], entries: &[Value]) -> Result<Vec<u8>> {
    if entries.is_empty() {
        return Ok(index_json.to_vec());
    }
    let mut index: Value = serde_json::from_slice(index_json)?;
    if let Some(manifests) = index.get_mut("manifests").and_then(Value::as_array_mut) {
        manifests.extend(entries.iter().cloned());
    }
    Ok(to_bytes(&index))
}

fn to_bytes(v: &Value) -> Vec<u8> {
    // Serializing a Value to a Vec cannot fail: all keys are strings.
    serde_json::to_vec(v).unwrap_or_default()
}

/// The image's own regular files, each hashed; a generated rootfs lists
/// the files put into it.
fn file_facts(plan: &Plan) -> Result<Vec<FileFact>> {
    let mut files = facts_of(&plan.tree, &plan.attach.roles)?;
    if let Some(rootfs) = &plan.rootfs {
        let inside = facts_of(&rootfs.tree, &BTreeMap::new())?;
        if let Some(f) = files.iter_mut().find(|f| f.path[1..] == rootfs.path) {
            f.inside = inside;
        }
    }
    Ok(files)
}

fn facts_of(tree: &crate::model::fstree::Tree, roles: &BTreeMap<String, &'static str>) -> Result<Vec<FileFact>> {
    let mut buf = vec![0; COPY_BUFFER];
    let mut out = Vec::new();
    for (path, node) in tree.iter() {
        let Node::File { content, size, .. } = node else { continue };
        let mut hasher = Sha256::new();
        content.copy_to(*size, path, &mut HashWriter(&mut hasher), &mut buf)?;
        let path = path.to_string();
        out.push(FileFact {
            size: *size,
            sha256: oci::hex(&hasher.finalize()),
            role: roles.get(&path).copied().unwrap_or(ROOTFS_ENTRY),
            store_path: store_path(content),
            path: format!("/{path}"),
            inside: Vec::new(),
        });
    }
    Ok(out)
}

/// `/nix/store/<hash>-<name>` of a host file in the Nix store.
fn store_path(content: &Content) -> Option<String> {
    let Content::Host(host) = content else { return None };
    let rest = host.to_str()?.strip_prefix("/nix/store/")?;
    let top = rest.split('/').next().filter(|t| !t.is_empty())?;
    Some(format!("/nix/store/{top}"))
}

/// The base image's name (as the labels give it) and manifest digest.
fn base_facts(plan: &Plan) -> Option<(Option<String>, Option<String>)> {
    let base = plan.base.as_ref()?;
    let label = |k: &str| plan.config.labels.get(k).cloned();
    Some((label(metadata::BASE_NAME), base.manifest_digest.clone().or_else(|| label(metadata::BASE_DIGEST))))
}

/// Feeds written bytes into a hasher.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(digest: &str, artifact_type: &str) -> Value {
        json!({ "mediaType": oci::MANIFEST_TYPE, "digest": digest, "size": 1, "artifactType": artifact_type })
    }

    #[test]
    fn the_referrers_index_keeps_what_another_tool_listed() {
        let theirs = entry("sha256:aa", "application/vnd.dev.cosign.artifact.sig.v1+json");
        let ours = entry("sha256:bb", CYCLONEDX_TYPE);
        let twice = theirs.clone();
        let merged = referrers_index(vec![theirs, ours.clone(), twice], vec![ours, entry("sha256:cc", IN_TOTO_TYPE)]);
        let merged: Value = serde_json::from_slice(&merged).unwrap();
        let digests: Vec<&str> =
            merged["manifests"].as_array().unwrap().iter().map(|m| m["digest"].as_str().unwrap()).collect();
        assert_eq!(digests, ["sha256:aa", "sha256:bb", "sha256:cc"], "kept, not doubled, appended");
        assert_eq!(merged["mediaType"], oci::INDEX_TYPE);
    }

    #[test]
    fn index_json_lists_the_image_first_and_tags_the_referrers_index() {
        let image = Descriptor::of(oci::MANIFEST_TYPE, b"{}");
        let index = oci::index(&image, "docker.io/library/x", "1.0");
        assert_eq!(with_tag_entries(&index, &[]).unwrap(), index);
        let tag = json!({ "digest": "sha256:dd", "annotations": { metadata::REF_NAME: fallback_tag(&image.digest) } });
        let both: Value = serde_json::from_slice(&with_tag_entries(&index, &[tag]).unwrap()).unwrap();
        assert_eq!(both["manifests"][0]["digest"], image.digest);
        assert_eq!(both["manifests"][1]["annotations"][metadata::REF_NAME], format!("sha256-{}", image.hex()));
    }
}
