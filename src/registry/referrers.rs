//! The documents attached to an image (an SBOM, an attestation: artifact
//! manifests whose `subject` is one of the image's manifests), as `push`
//! sends them after the image: each artifact manifest and its blobs by
//! digest, then the list of referrers. A registry with the referrers API
//! (`GET /v2/<name>/referrers/<digest>` answers an OCI index) keeps that
//! list itself; for any other (distribution 2.8/3.0, GHCR) the list is the
//! index under the fallback tag `sha256-<hex of the subject>`, read first
//! and merged: every entry already there (another tool's: cosign's, oras')
//! kept as it was and in its place, ours added after it, none listed twice.
//!
//! The documents are found in the archive or layout as `build --sbom`,
//! cosign and oras write them: listed by a `sha256-<hex>` index named in
//! `index.json`, or named in `index.json` with an `artifactType`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use super::client::{Client, Fetched};
use super::plan::{Blob, Document, Plan, manifest_blobs};
use super::push::{Event, Settings, push as push_documents};
use crate::image::attach;
use crate::imageread::{Store, is_fallback_tag};
use crate::model::oci;

/// How many documents may be attached to one push's image.
const MAX_ATTACHED: usize = 256;

/// The documents attached to the image of a push.
#[derive(Debug)]
pub struct Attached {
    /// The artifact manifests with their blobs, in the order found.
    pub plan: Plan,
    /// For each subject (a manifest digest of the image), the referrer
    /// descriptors of its documents, as the referrers API lists them.
    subjects: BTreeMap<String, Vec<Value>>,
}

/// What pushing the attached documents did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listed {
    /// Artifact manifests put.
    pub documents: usize,
    /// Subjects whose referrers the registry lists itself (referrers API).
    pub by_api: Vec<String>,
    /// Fallback tags written, with how many entries of other tools each kept.
    pub by_tag: Vec<(String, usize)>,
    /// Fallback tags that listed every document already.
    pub unchanged: Vec<String>,
}

impl Attached {
    /// Whether there is nothing attached.
    pub fn is_empty(&self) -> bool {
        self.plan.documents.is_empty()
    }

    /// Fails when the push would put the image under other manifest digests
    /// than the documents name as their subject (its layers were encoded
    /// anew): they would describe an image the registry does not hold.
    pub fn check_subjects(&self, plan: &Plan) -> Result<()> {
        let pushed: BTreeSet<&str> = plan.documents.iter().map(|d| d.digest.as_str()).collect();
        match self.subjects.keys().find(|s| !pushed.contains(s.as_str())) {
            None => Ok(()),
            Some(subject) => bail!(
                "the image's attached documents (SBOM, attestation) describe manifest {subject}, but with its layers \
                 encoded anew the image pushed is {}: build the image with that --compression instead, so the \
                 documents describe what is pushed",
                plan.top().digest
            ),
        }
    }
}

/// Reads the documents attached to the manifests of `image` (the plan of
/// the image as stored) in `store`. Each artifact manifest is checked
/// against its digest, and one a referrers index lists against its subject.
pub fn read(store: &Store, image: &Plan) -> Result<Attached> {
    let mut attached = Attached { plan: Plan { documents: Vec::new(), synthesized: false }, subjects: BTreeMap::new() };
    let Some(index_json) = store.index_json()? else { return Ok(attached) };
    let index: Value = serde_json::from_slice(&index_json).context("index.json is not JSON")?;
    let subjects: BTreeSet<&str> = image.documents.iter().map(|d| d.digest.as_str()).collect();
    for entry in index.get("manifests").and_then(Value::as_array).into_iter().flatten() {
        let name = entry.pointer("/annotations/org.opencontainers.image.ref.name").and_then(Value::as_str);
        if let Some(tag) = name.filter(|n| is_fallback_tag(n)) {
            let subject = tag.replacen('-', ":", 1);
            if !subjects.contains(subject.as_str()) {
                continue;
            }
            let (_, listing) = read_checked(store, entry).with_context(|| format!("the referrers index {tag}"))?;
            let children = listing.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
            for child in &children {
                attached.add(store, child, &subject).with_context(|| format!("the referrers index {tag}"))?;
            }
        } else if entry.get("artifactType").is_some() {
            let (_, manifest) = read_checked(store, entry).context("index.json")?;
            let subject = manifest.pointer("/subject/digest").and_then(Value::as_str).unwrap_or_default();
            if subjects.contains(subject) {
                attached.add(store, entry, subject).context("index.json")?;
            }
        }
    }
    Ok(attached)
}

impl Attached {
    /// Adds the artifact manifest `desc` names, whose subject must be
    /// `subject`, unless added already.
    fn add(&mut self, store: &Store, desc: &Value, subject: &str) -> Result<()> {
        let digest = desc.get("digest").and_then(Value::as_str).ok_or_else(|| anyhow!("an entry without a digest"))?;
        if self.plan.documents.iter().any(|d| d.digest == digest) {
            return Ok(());
        }
        if self.plan.documents.len() >= MAX_ATTACHED {
            bail!("more than {MAX_ATTACHED} documents are attached to the image");
        }
        let (bytes, manifest) = read_checked(store, desc)?;
        let theirs = manifest.pointer("/subject/digest").and_then(Value::as_str);
        if theirs != Some(subject) {
            bail!(
                "it lists {digest}, whose subject is {}, not {subject}; refusing to push it as a document of this \
                 image",
                theirs.unwrap_or("missing")
            );
        }
        let artifact_type = manifest
            .get("artifactType")
            .or_else(|| manifest.pointer("/config/mediaType"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let media_type = manifest.get("mediaType").and_then(Value::as_str).unwrap_or(oci::MANIFEST_TYPE).to_string();
        let what = format!("document {artifact_type}");
        let mut blobs = manifest_blobs(store, &manifest, "").with_context(|| format!("{what} {digest}"))?;
        for blob in &mut blobs {
            blob.what = format!("{what}: {}", blob.what);
        }
        let mut entry =
            json!({ "mediaType": media_type, "digest": digest, "size": bytes.len(), "artifactType": artifact_type });
        if let Some(annotations) = manifest.get("annotations").filter(|a| a.as_object().is_some_and(|o| !o.is_empty()))
        {
            entry["annotations"] = annotations.clone();
        }
        self.subjects.entry(subject.to_string()).or_default().push(entry);
        self.plan.documents.push(Document { bytes, digest: digest.to_string(), media_type, what, blobs });
        Ok(())
    }
}

/// Reads the JSON document the descriptor `desc` names, checked against
/// its digest: its bytes and its value.
fn read_checked(store: &Store, desc: &Value) -> Result<(Vec<u8>, Value)> {
    let digest = desc.get("digest").and_then(Value::as_str).ok_or_else(|| anyhow!("an entry without a digest"))?;
    let bytes = store.read(&Store::blob_name(digest)?)?;
    if oci::sha256_digest(&bytes) != digest {
        bail!("{digest}: the archive's copy does not hash to its digest: corrupted or edited");
    }
    let value = serde_json::from_slice(&bytes).with_context(|| format!("{digest} is not JSON"))?;
    Ok((bytes, value))
}

/// Pushes the attached documents through `client`, after the image: the
/// artifacts (blobs first), then for each subject the fallback index when
/// the registry has no referrers API.
pub fn push(store: &Store, attached: &Attached, client: &mut Client, report: &mut dyn FnMut(Event)) -> Result<Listed> {
    let mut listed = Listed::default();
    if attached.is_empty() {
        return Ok(listed);
    }
    let plan = &attached.plan;
    // Each by its digest: the last one too.
    let last = plan.top().digest.clone();
    let pushed = "the image was pushed, but not its attached documents";
    let tags = [last];
    // A few small blobs: one at a time, each uploaded.
    let settings = Settings { tags: &tags, jobs: 1, sources: &|_| Vec::new() };
    push_documents(store, plan, client, &settings, report).context(pushed)?;
    listed.documents = plan.documents.len();
    let unlisted =
        "the image and its attached documents were pushed, but the documents are not listed as its referrers";
    list(attached, client, report, &mut listed).context(unlisted)?;
    Ok(listed)
}

/// Lists the pushed documents of each subject: by the registry's referrers
/// API, else in the merged fallback index.
fn list(attached: &Attached, client: &mut Client, report: &mut dyn FnMut(Event), listed: &mut Listed) -> Result<()> {
    for (subject, entries) in &attached.subjects {
        // An answer that is not an index (a proxy's page) is no API: the tag is still right.
        if client.get_referrers(subject)?.is_some_and(|answer| manifests_of(&answer).is_ok()) {
            listed.by_api.push(subject.clone());
            continue;
        }
        let tag = attach::fallback_tag(subject);
        let existing = match client.get_manifest(&tag, oci::INDEX_TYPE)? {
            Some(answer) => manifests_of(&answer).with_context(|| {
                format!(
                    "the registry holds {tag}, the referrers fallback tag of {subject}, but not as a referrers index"
                )
            })?,
            None => Vec::new(),
        };
        let known: BTreeSet<&str> = existing.iter().filter_map(|m| m.get("digest")?.as_str()).collect();
        if entries.iter().all(|e| e.get("digest").and_then(Value::as_str).is_some_and(|d| known.contains(d))) {
            listed.unchanged.push(tag);
            continue;
        }
        let kept = existing.len();
        let bytes = attach::referrers_index(existing, entries.clone());
        let digest = oci::sha256_digest(&bytes);
        client.put_manifest(&tag, oci::INDEX_TYPE, &bytes, &digest)?;
        let document = Document {
            bytes,
            digest,
            media_type: oci::INDEX_TYPE.to_string(),
            what: "referrers index".into(),
            blobs: vec![],
        };
        report(Event::Put(&document, &tag));
        listed.by_tag.push((tag, kept));
    }
    Ok(())
}

/// The `manifests` of an OCI index the registry answered with.
fn manifests_of(answer: &Fetched) -> Result<Vec<Value>> {
    let value: Value = serde_json::from_slice(&answer.bytes).context("not JSON")?;
    let is_index =
        value.get("mediaType").and_then(Value::as_str).or(answer.media_type.as_deref()) == Some(oci::INDEX_TYPE);
    match value.get("manifests").and_then(Value::as_array) {
        Some(manifests) if is_index => Ok(manifests.clone()),
        _ => bail!("not an OCI image index ({})", answer.media_type.as_deref().unwrap_or("no media type")),
    }
}

/// Whether a manifest of `plan` names an uncompressed layer.
fn uncompressed(plan: &Plan) -> bool {
    plan.documents.iter().flat_map(|d| &d.blobs).any(Blob::is_uncompressed_layer)
}

/// The line that says, after a push, where the attached documents went;
/// `kept`: the image, whose layers were pushed as built for them.
pub fn summary(listed: &Listed, kept: Option<&Plan>) -> String {
    let mut parts =
        vec![format!("{} attached document{} pushed", listed.documents, if listed.documents == 1 { "" } else { "s" })];
    if !listed.by_api.is_empty() {
        parts.push("listed by the registry's referrers API".to_string());
    }
    for (tag, kept) in &listed.by_tag {
        let others = if *kept == 0 { String::new() } else { format!(", keeping the {kept} entries already there") };
        parts.push(format!("listed by the index tagged {tag}{others}"));
    }
    for tag in &listed.unchanged {
        parts.push(format!("already listed by the index tagged {tag}"));
    }
    if kept.is_some_and(uncompressed) {
        parts.push(
            "the layers went as built, so that the documents describe the manifest pushed (build with --compression \
             gzip for gzip layers)"
                .to_string(),
        );
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(body: &str, media_type: Option<&str>) -> Fetched {
        Fetched { bytes: body.as_bytes().to_vec(), media_type: media_type.map(str::to_string) }
    }

    #[test]
    fn only_an_oci_index_is_a_referrers_list() {
        let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:aa"}]}"#;
        assert_eq!(manifests_of(&fetched(index, None)).unwrap().len(), 1);
        let untyped = r#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(manifests_of(&fetched(untyped, Some(oci::INDEX_TYPE))).unwrap().is_empty(), "typed by its header");
        assert!(manifests_of(&fetched(untyped, Some("application/json"))).is_err(), "no index type anywhere");
        let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;
        assert!(manifests_of(&fetched(manifest, None)).is_err(), "an image manifest under the tag");
        assert!(manifests_of(&fetched("<html>", Some("text/html"))).is_err());
    }

    #[test]
    fn the_summary_says_where_the_documents_went() {
        let listed = Listed {
            documents: 2,
            by_api: Vec::new(),
            by_tag: vec![("sha256-ab".into(), 1)],
            unchanged: vec!["sha256-cd".into()],
        };
        assert_eq!(
            summary(&listed, None),
            "2 attached documents pushed; listed by the index tagged sha256-ab, keeping the 1 entries already there; \
             already listed by the index tagged sha256-cd"
        );
        let api = Listed { documents: 1, by_api: vec!["sha256:ab".into()], ..Listed::default() };
        assert_eq!(summary(&api, None), "1 attached document pushed; listed by the registry's referrers API");
    }
}
