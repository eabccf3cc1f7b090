//! The documents attached to the images of an index (SBOMs, attestations,
//! signatures: artifact manifests whose `subject` is an image's manifest),
//! carried into the index as they are. The artifact manifests and their
//! blobs keep their bytes and digests, which is right because the index
//! keeps each image's manifest byte for byte; each image's documents are
//! listed by its own referrers fallback index (`sha256-<hex>`), made as
//! `build` makes one ([`attach::fallback_index`]).

use anyhow::{Context, Result, bail};

use crate::image::attach::{self, Attached};
use crate::imageread::{Image, Referrer};
use crate::model::oci::Descriptor;

/// The documents attached to `image`, whose manifest the index holds as
/// `manifest`: every blob to store (configs and documents, the artifact
/// manifests, the fallback index) and the fallback index's `index.json`
/// entry. A document with a problem (a subject that is not the image, a
/// blob missing or corrupt) or an image whose manifest would not be the
/// one the documents name is refused, not carried silently.
pub fn carried(image: &Image, manifest: &Descriptor) -> Result<Attached> {
    let referrers = image.referrers().context("reading its attached documents")?;
    if referrers.is_empty() {
        return Ok(Attached::default());
    }
    let declared = image.manifest_digest.as_deref().unwrap_or("none");
    if declared != manifest.digest {
        bail!(
            "its attached documents describe manifest {declared}, but the index would hold its manifest as {}; \
             they would describe an image the index does not hold",
            manifest.digest
        );
    }
    let mut blobs = Vec::new();
    let mut entries = Vec::new();
    for r in &referrers {
        let what = || format!("document {} ({})", r.digest, r.artifact_type);
        let desc = document(image, r, &mut blobs).with_context(what)?;
        entries.push(attach::referrer_entry(&desc, &r.artifact_type, &r.annotations));
    }
    let (index_desc, index, tag_entry) = attach::fallback_index(&manifest.digest, entries);
    blobs.push((index_desc, index));
    Ok(Attached { blobs, tag_entry: Some(tag_entry), documents: referrers.len() })
}

/// Adds the blobs of one attached document to `blobs`, its artifact
/// manifest last, each checked against its digest; returns the artifact
/// manifest's descriptor.
fn document(image: &Image, r: &Referrer, blobs: &mut Vec<(Descriptor, Vec<u8>)>) -> Result<Descriptor> {
    if let Some(problem) = r.problems.first() {
        bail!("{problem}; refusing to carry it into the index");
    }
    for desc in r.config.iter().chain(&r.blobs) {
        blobs.push((desc.clone(), image.document_blob(&desc.digest)?));
    }
    let bytes = image.document_blob(&r.digest)?;
    let desc = Descriptor::of(&r.media_type, &bytes);
    blobs.push((desc.clone(), bytes));
    Ok(desc)
}
