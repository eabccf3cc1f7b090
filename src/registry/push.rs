//! A push, in the order that keeps a registry consistent: ask which blobs
//! the registry lacks (HEAD), check each of those against its digest (and a
//! layer against its diff_id) before anything is sent, upload them, then
//! put the documents, each index after the manifests it lists and the
//! image's own document last, under the tag.

use std::collections::BTreeSet;
use std::io::{BufReader, Read, Seek, SeekFrom};

use anyhow::{Context, Result};

use super::client::Client;
use super::plan::{Blob, Document, Plan, Source};
use crate::imageread::{Expected, Store};

/// What a push is doing, for progress output.
#[derive(Debug)]
pub enum Event<'a> {
    /// The registry holds the blob already; it is not sent.
    Exists(&'a Blob),
    /// The blobs to upload are being checked against their digests.
    Checking {
        /// How many blobs.
        count: usize,
        /// Their total size.
        bytes: u64,
    },
    /// An upload starts, or starts over after a transient failure.
    Upload(&'a Blob),
    /// So many bytes of the blob have been sent.
    Sent(&'a Blob, u64),
    /// The registry has the blob now.
    Uploaded(&'a Blob),
    /// A manifest or index was put, under a tag or its digest.
    Put(&'a Document, &'a str),
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The digest of the image's own manifest or index.
    pub digest: String,
    /// Blobs sent.
    pub uploaded: usize,
    /// Their bytes.
    pub uploaded_bytes: u64,
    /// Blobs the registry already had.
    pub existing: usize,
}

/// Pushes `plan` (read from `store`) through `client`, the image's own
/// document under `tag_or_digest`.
pub fn push(
    store: &Store,
    plan: &Plan,
    client: &mut Client,
    tag_or_digest: &str,
    report: &mut dyn FnMut(Event),
) -> Result<Pushed> {
    let mut seen = BTreeSet::new();
    let mut missing = Vec::new();
    let mut existing = 0;
    for blob in plan.documents.iter().flat_map(|d| &d.blobs) {
        if !seen.insert(blob.digest.as_str()) {
            continue;
        }
        if client.has_blob(&blob.digest)? {
            existing += 1;
            report(Event::Exists(blob));
        } else {
            missing.push(blob);
        }
    }
    let unchecked: Vec<&Blob> = missing.iter().copied().filter(|b| !b.checked).collect();
    if !unchecked.is_empty() {
        report(Event::Checking { count: unchecked.len(), bytes: unchecked.iter().map(|b| b.size).sum() });
        for blob in unchecked {
            check(store, blob).context("the image fails its own digest check; nothing was pushed")?;
        }
    }
    for blob in &missing {
        upload(store, client, blob, report)?;
    }
    let last = plan.documents.len().saturating_sub(1);
    for (i, document) in plan.documents.iter().enumerate() {
        let target = if i == last { tag_or_digest } else { document.digest.as_str() };
        client.put_manifest(target, &document.media_type, &document.bytes, &document.digest)?;
        report(Event::Put(document, target));
    }
    Ok(Pushed {
        digest: plan.top().digest.clone(),
        uploaded: missing.len(),
        uploaded_bytes: missing.iter().map(|b| b.size).sum(),
        existing,
    })
}

/// Checks an archive blob against its digest and size, and a layer against
/// its diff_id.
fn check(store: &Store, blob: &Blob) -> Result<()> {
    if let Source::Archive(name) = &blob.source {
        let expected = Expected { digest: Some(&blob.digest), size: Some(blob.size), diff_id: blob.diff_id.as_deref() };
        store.check(name, &blob.what, expected)?;
    }
    Ok(())
}

fn upload(store: &Store, client: &mut Client, blob: &Blob, report: &mut dyn FnMut(Event)) -> Result<()> {
    let mut open = || -> Result<Box<dyn Read + '_>> {
        match &blob.source {
            Source::Archive(name) => Ok(store.open(name)?.0),
            Source::File(file) => {
                let mut file = file.try_clone().context("cannot reopen a temporary file")?;
                file.seek(SeekFrom::Start(0)).context("cannot rewind a temporary file")?;
                Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
            }
        }
    };
    report(Event::Upload(blob));
    client
        .upload_blob(&blob.digest, blob.size, &mut open, &mut |sent| report(Event::Sent(blob, sent)))
        .with_context(|| format!("{} ({})", blob.what, blob.digest))?;
    report(Event::Uploaded(blob));
    Ok(())
}
