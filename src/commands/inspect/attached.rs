//! The documents attached to an image (SBOMs, attestations, signatures
//! stored as OCI artifacts whose subject is the image), as `inspect`
//! lists them, with what is wrong with each as a warning: they do not
//! change how urunc runs the image.

use serde::Serialize;

use crate::imageread::Image;

use super::Problems;

/// One attached document.
#[derive(Clone, Debug, Serialize)]
pub struct AttachedReport {
    /// The artifact manifest's digest.
    pub digest: String,
    /// What it is (`application/vnd.cyclonedx+json`, ...).
    pub artifact_type: String,
    /// Its blobs, as `media type digest (size bytes)`.
    pub blobs: Vec<String>,
    /// Where it was found: the `sha256-<hex>` referrers index, or
    /// `index.json` itself.
    pub found: String,
    /// Whether its subject is this image and its blobs are intact.
    pub ok: bool,
}

/// The image's attached documents; their problems become warnings.
pub fn attached(image: &Image, problems: &mut Problems) -> Vec<AttachedReport> {
    let referrers = match image.referrers() {
        Ok(r) => r,
        Err(e) => {
            problems.warning("attached", None, format!("cannot read the attached documents: {e:#}"));
            return Vec::new();
        }
    };
    referrers
        .into_iter()
        .map(|r| {
            for p in &r.problems {
                problems.warning("attached", None, format!("document {} ({}): {p}", r.digest, r.artifact_type));
            }
            AttachedReport {
                blobs: r.blobs.iter().map(|b| format!("{} {} ({} bytes)", b.media_type, b.digest, b.size)).collect(),
                ok: r.problems.is_empty(),
                digest: r.digest,
                artifact_type: r.artifact_type,
                found: r.found,
            }
        })
        .collect()
}
