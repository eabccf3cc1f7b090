//! The documents attached to an image in its OCI layout: artifact
//! manifests whose `subject` is the image manifest, found through the
//! referrers fallback index tagged `sha256-<hex>` in `index.json` (as
//! bimanix, cosign and oras write it) or listed in `index.json` directly
//! with an `artifactType` (as `oras` writes an OCI layout). Each is read
//! and checked: its digest, its subject, its blobs' digests.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::{Image, IndexJson, blob_name, names_of};
use crate::model::oci::{Descriptor as OciDescriptor, Hashing};

/// One document attached to an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    /// The artifact manifest's digest.
    pub digest: String,
    /// The artifact manifest's own media type.
    pub media_type: String,
    /// Its `artifactType` (or its config's media type when it has none).
    pub artifact_type: String,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// Its config blob (the empty `{}` of an OCI 1.1 artifact).
    pub config: Option<OciDescriptor>,
    /// The document blobs it carries: media type, digest, size.
    pub blobs: Vec<OciDescriptor>,
    /// How it was found: `sha256-<hex> index` or `index.json`.
    pub found: String,
    /// What is wrong with it: a subject that is not this image, a blob
    /// that is missing or does not hash to its digest.
    pub problems: Vec<String>,
}

#[derive(Deserialize)]
struct ArtifactManifest {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(rename = "artifactType", default)]
    artifact_type: Option<String>,
    config: super::Descriptor,
    #[serde(default)]
    layers: Vec<super::Descriptor>,
    #[serde(default)]
    subject: Option<super::Descriptor>,
}

/// Whether `name` is a referrers fallback tag: `sha256-` and 64 hex digits.
pub fn is_fallback_tag(name: &str) -> bool {
    name.strip_prefix("sha256-").is_some_and(super::is_sha256_hex)
}

/// The largest document blob whose digest is checked.
const MAX_DOCUMENT: u64 = 256 << 20;

impl Image {
    /// The documents attached to this image in its archive or layout, in
    /// the order they are listed. An image without an OCI manifest (an old
    /// docker-archive) has none.
    pub fn referrers(&self) -> Result<Vec<Referrer>> {
        let Some(digest) = &self.manifest_digest else { return Ok(Vec::new()) };
        if !self.source.contains("index.json") {
            return Ok(Vec::new());
        }
        let tag = digest.replacen(':', "-", 1);
        let index: IndexJson = self.source.read_json("index.json")?;
        let mut out = Vec::new();
        for entry in index.manifests {
            if names_of(&entry).contains(&tag) {
                let found = format!("{tag} index");
                let listed: IndexJson = self.source.read_json(&blob_name(&entry.digest)?)?;
                for child in listed.manifests {
                    out.push(self.referrer(&child, digest, &found, true)?);
                }
            } else if entry.artifact_type.is_some() {
                let r = self.referrer(&entry, digest, "index.json", false)?;
                if r.problems.iter().all(|p| !p.starts_with("its subject")) {
                    out.push(r);
                }
            }
        }
        out.dedup_by(|a, b| a.digest == b.digest);
        Ok(out)
    }

    /// Reads and checks the artifact manifest `desc` names; `listed`: it
    /// was listed as a referrer of `subject`, so a different subject is a
    /// problem to show.
    fn referrer(&self, desc: &super::Descriptor, subject: &str, found: &str, listed: bool) -> Result<Referrer> {
        let name = blob_name(&desc.digest)?;
        // A manifest that cannot be read is listed with what is wrong.
        let unread = |problem: String| Referrer {
            digest: desc.digest.clone(),
            media_type: desc.media_type.clone().unwrap_or_default(),
            artifact_type: desc.artifact_type.clone().unwrap_or_default(),
            annotations: BTreeMap::new(),
            config: None,
            blobs: Vec::new(),
            found: found.into(),
            problems: vec![problem],
        };
        let bytes = match self.source.read_small(&name) {
            Ok(bytes) => bytes,
            Err(e) => return Ok(unread(format!("{e:#}"))),
        };
        if crate::model::oci::sha256_digest(&bytes) != desc.digest {
            return Ok(unread(format!("{name} does not hash to its digest")));
        }
        let manifest: ArtifactManifest = match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => return Ok(unread(format!("{name} is not an image manifest: {e}"))),
        };
        let mut problems = Vec::new();
        match &manifest.subject {
            Some(s) if s.digest == subject => {}
            Some(s) => problems.push(format!("its subject is {}, not this image", s.digest)),
            None if listed => problems.push("it has no subject".to_string()),
            None => problems.push("its subject is missing, not this image".to_string()),
        }
        let mut blobs = Vec::new();
        for layer in &manifest.layers {
            if let Err(e) = self.check_blob(layer) {
                problems.push(format!("{e:#}"));
            }
            blobs.push(plain(layer));
        }
        let artifact_type = manifest
            .artifact_type
            .or_else(|| manifest.config.media_type.clone())
            .unwrap_or_else(|| "unknown".to_string());
        Ok(Referrer {
            digest: desc.digest.clone(),
            media_type: manifest.media_type.unwrap_or_else(|| crate::model::oci::MANIFEST_TYPE.to_string()),
            artifact_type,
            annotations: manifest.annotations.unwrap_or_default(),
            config: Some(plain(&manifest.config)),
            blobs,
            found: found.into(),
            problems,
        })
    }

    /// The bytes of a blob of an attached document (an artifact manifest,
    /// its config or a document), checked against `digest`.
    pub fn document_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let name = blob_name(digest)?;
        let (reader, size) = self.source.open(&name)?;
        if size > MAX_DOCUMENT {
            bail!("{name} is {size} bytes; an attached document may have at most {MAX_DOCUMENT}");
        }
        let mut bytes = Vec::new();
        reader.take(MAX_DOCUMENT).read_to_end(&mut bytes).with_context(|| format!("cannot read {name}"))?;
        if crate::model::oci::sha256_digest(&bytes) != digest {
            bail!("{name} does not hash to its digest");
        }
        Ok(bytes)
    }

    /// Checks that a document blob is there and hashes to its digest.
    fn check_blob(&self, desc: &super::Descriptor) -> Result<()> {
        let name = blob_name(&desc.digest)?;
        let (reader, size) = self.source.open(&name)?;
        if desc.size.is_some_and(|s| s != size) {
            bail!("{name} is {size} bytes, not the {} its descriptor says", desc.size.unwrap_or(0));
        }
        if size > MAX_DOCUMENT {
            return Ok(());
        }
        let mut hashing = Hashing::new(reader.take(MAX_DOCUMENT));
        std::io::copy(&mut hashing, &mut std::io::sink())?;
        if hashing.finish().0 != desc.digest {
            bail!("{name} does not hash to its digest");
        }
        Ok(())
    }
}

/// A descriptor as `model::oci` holds it: a missing media type is empty,
/// a missing size 0.
fn plain(desc: &super::Descriptor) -> OciDescriptor {
    OciDescriptor {
        media_type: desc.media_type.clone().unwrap_or_default(),
        digest: desc.digest.clone(),
        size: desc.size.unwrap_or(0),
    }
}
