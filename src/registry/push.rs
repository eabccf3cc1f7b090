//! A push, in the order that keeps a registry consistent: ask which blobs
//! the registry lacks (HEAD), check each of those against its digest (and a
//! layer against its diff_id) before anything is sent, mount or upload
//! them, several at once, then put the documents, each index after the
//! manifests it lists and the image's own document last, under each tag.
//! A layer whose encoding came from the blob record is mounted first when
//! it may be, and only the ones still lacking are encoded, each checked
//! against what the record said before anything is uploaded.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

use anyhow::{Context, Result};

use super::client::Client;
use super::plan::{Blob, Document, Plan, Source};
use super::recompress::encode_known;
use super::upload::Sent;
use crate::imageread::{Expected, Store};

/// The default `--jobs`: blobs sent at once.
pub const DEFAULT_JOBS: u16 = 4;

/// What a push is doing, for progress output.
#[derive(Debug)]
pub enum Event<'a> {
    /// The distinct blobs of the image, in the order of the plan (the
    /// order in which progress lines are best shown).
    Planned(Vec<&'a Blob>),
    /// The registry holds the blob already; it is not sent.
    Exists(&'a Blob),
    /// A layer whose encoding came from the blob record is encoded, the
    /// registry lacking it.
    Encoding(&'a Blob),
    /// The blobs to upload are being checked against their digests.
    Checking {
        /// How many blobs.
        count: usize,
        /// Their total size.
        bytes: u64,
    },
    /// A mount or an upload starts.
    Upload(&'a Blob),
    /// So many bytes of the blob have been sent (from its start; fewer
    /// than before when an upload starts over).
    Sent(&'a Blob, u64),
    /// The registry has the blob now, uploaded.
    Uploaded(&'a Blob),
    /// The registry has the blob now, mounted from this repository.
    Mounted(&'a Blob, String),
    /// A manifest or index was put, under a tag or its digest.
    Put(&'a Document, &'a str),
}

/// How to push.
pub struct Settings<'a> {
    /// The tags (or the digest) the image's own document goes under; at least one.
    pub tags: &'a [String],
    /// How many blobs go at once (at least 1).
    pub jobs: usize,
    /// The repositories of the same registry a blob may be mounted from, best first.
    pub sources: &'a (dyn Fn(&str) -> Vec<String> + Sync),
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The digest of the image's own manifest or index.
    pub digest: String,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Their bytes.
    pub uploaded_bytes: u64,
    /// The bytes sent for them in all, retries included.
    pub sent_bytes: u64,
    /// Blobs mounted from another repository.
    pub mounted: usize,
    /// Blobs the registry already had.
    pub existing: usize,
    /// The digests of every blob of the image, which the repository now holds.
    pub held: Vec<String>,
}

/// Pushes `plan` (read from `store`) through `client`, the image's own
/// document under each of `settings.tags`.
pub fn push(
    store: &Store,
    plan: &Plan,
    client: &mut Client,
    settings: &Settings,
    report: &mut dyn FnMut(Event),
) -> Result<Pushed> {
    let mut seen = BTreeSet::new();
    let blobs: Vec<&Blob> =
        plan.documents.iter().flat_map(|d| &d.blobs).filter(|b| seen.insert(b.digest.as_str())).collect();
    report(Event::Planned(blobs.clone()));
    let present = each(client, settings.jobs, &blobs, report, |c, blob, tell| {
        let present = c.has_blob(&blob.digest)?;
        if present {
            tell(Event::Exists(blob));
        }
        Ok(present)
    })?;
    let missing: Vec<&Blob> = blobs.iter().zip(&present).filter(|(_, p)| !**p).map(|(b, _)| *b).collect();
    let sources: Vec<Vec<String>> = missing.iter().map(|b| (settings.sources)(&b.digest)).collect();
    let mounted = mount_known(client, settings.jobs, &missing, &sources, report)?;
    // What is left to send, and where each may be mounted from (the known layers tried already).
    let (todo, from): (Vec<&Blob>, Vec<&[String]>) = missing
        .iter()
        .zip(&sources)
        .zip(&mounted)
        .filter(|(_, mounted)| mounted.is_none())
        .map(|((b, s), _)| (*b, if matches!(b.source, Source::Encode { .. }) { &[][..] } else { s }))
        .unzip();
    let encoded = encode_lacking(store, &todo, report)
        .context("encoding the layers the registry lacks (nothing was uploaded)")?;
    let unchecked: Vec<&Blob> =
        todo.iter().copied().filter(|b| !b.checked && matches!(b.source, Source::Archive(_))).collect();
    if !unchecked.is_empty() {
        report(Event::Checking { count: unchecked.len(), bytes: unchecked.iter().map(|b| b.size).sum() });
        for blob in unchecked {
            check(store, blob).context("the image fails its own digest check; nothing was pushed")?;
        }
    }
    let sent = each(client, settings.jobs, &todo, report, |c, blob, tell| {
        let at = todo.iter().position(|b| std::ptr::eq(*b, blob)).unwrap_or(0);
        transfer(store, c, blob, from[at], encoded[at].as_ref(), tell)
    })?;
    let last = plan.documents.len().saturating_sub(1);
    for (i, document) in plan.documents.iter().enumerate() {
        let targets = if i == last { settings.tags } else { std::slice::from_ref(&document.digest) };
        for target in targets {
            client.put_manifest(target, &document.media_type, &document.bytes, &document.digest)?;
            report(Event::Put(document, target));
        }
    }
    let uploaded: Vec<(&Blob, u64)> = todo
        .iter()
        .zip(&sent)
        .filter_map(|(b, s)| if let Sent::Uploaded(n) = s { Some((*b, *n)) } else { None })
        .collect();
    Ok(Pushed {
        digest: plan.top().digest.clone(),
        uploaded: uploaded.len(),
        uploaded_bytes: uploaded.iter().map(|(b, _)| b.size).sum(),
        sent_bytes: uploaded.iter().map(|(_, n)| n).sum(),
        mounted: missing.len() - uploaded.len(),
        existing: blobs.len() - missing.len(),
        held: blobs.iter().map(|b| b.digest.clone()).collect(),
    })
}

/// Runs `work` on each blob, `jobs` at a time, each worker with its own
/// clone of `client`; the events they tell reach `report` on this thread.
/// After a failure no new blob is started; the first failure in the order
/// of `blobs` is the error.
fn each<'b, R: Send>(
    client: &Client,
    jobs: usize,
    blobs: &[&'b Blob],
    report: &mut dyn FnMut(Event<'b>),
    work: impl Fn(&mut Client, &'b Blob, &dyn Fn(Event<'b>)) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel();
    let (next, failed, work) = (&next, &failed, &work);
    let mut results: Vec<(usize, Result<R>)> = thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.clamp(1, blobs.len().max(1)))
            .map(|_| {
                let (tx, mut client) = (tx.clone(), client.clone());
                scope.spawn(move || {
                    let tell = |event| {
                        let _ = tx.send(event);
                    };
                    let mut done = Vec::new();
                    while !failed.load(Ordering::SeqCst) {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(blob) = blobs.get(i) else { break };
                        let result = work(&mut client, blob, &tell);
                        failed.fetch_or(result.is_err(), Ordering::SeqCst);
                        done.push((i, result));
                    }
                    done
                })
            })
            .collect();
        drop(tx);
        for event in rx {
            report(event);
        }
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Mounts the layers of `missing` whose encoding came from the blob record
/// from the repositories `sources` names for them (in the same order),
/// before any of them is encoded: for each of `missing`, the repository it
/// was mounted from.
fn mount_known<'b>(
    client: &Client,
    jobs: usize,
    missing: &[&'b Blob],
    sources: &[Vec<String>],
    report: &mut dyn FnMut(Event<'b>),
) -> Result<Vec<Option<String>>> {
    let at = |blob: &Blob| missing.iter().position(|b| std::ptr::eq(*b, blob)).unwrap_or(0);
    let known: Vec<&Blob> = missing
        .iter()
        .copied()
        .filter(|b| matches!(b.source, Source::Encode { .. }) && !sources[at(b)].is_empty())
        .collect();
    let tried = each(client, jobs, &known, report, |c, blob, tell| {
        let mounted = c
            .mount_blob(&blob.digest, &sources[at(blob)])
            .with_context(|| format!("{} ({})", blob.what, blob.digest))?;
        if let Some(from) = &mounted {
            tell(Event::Mounted(blob, from.clone()));
        }
        Ok(mounted)
    })?;
    let mut mounted = vec![None; missing.len()];
    for (blob, from) in known.into_iter().zip(tried) {
        mounted[at(blob)] = from;
    }
    Ok(mounted)
}

/// Encodes the layers of `blobs` whose encoding came from the blob record,
/// each checked against it: for each of `blobs`, its file if it was one.
fn encode_lacking<'b>(
    store: &Store,
    blobs: &[&'b Blob],
    report: &mut dyn FnMut(Event<'b>),
) -> Result<Vec<Option<File>>> {
    let mut files = Vec::new();
    for blob in blobs {
        let file = match blob.source {
            Source::Encode { .. } => {
                report(Event::Encoding(blob));
                Some(encode_known(store, blob)?)
            }
            _ => None,
        };
        files.push(file);
    }
    Ok(files)
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

/// Mounts or uploads one blob, read from `file` when it was encoded for this push.
fn transfer<'b>(
    store: &Store,
    client: &mut Client,
    blob: &'b Blob,
    from: &[String],
    file: Option<&File>,
    tell: &dyn Fn(Event<'b>),
) -> Result<Sent> {
    let mut open = || -> Result<Box<dyn Read + '_>> {
        match (file, &blob.source) {
            (Some(file), _) | (None, Source::File(file)) => {
                let mut file = file.try_clone().context("cannot reopen a temporary file")?;
                file.seek(SeekFrom::Start(0)).context("cannot rewind a temporary file")?;
                Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
            }
            (None, Source::Archive(name)) => Ok(store.open(name)?.0),
            (None, Source::Encode { .. }) => anyhow::bail!("internal: {} was not encoded", blob.what),
        }
    };
    tell(Event::Upload(blob));
    let sent = client
        .push_blob(&blob.digest, blob.size, from, &mut open, &mut |n| tell(Event::Sent(blob, n)))
        .with_context(|| format!("{} ({})", blob.what, blob.digest))?;
    match &sent {
        Sent::Mounted(from) => tell(Event::Mounted(blob, from.clone())),
        Sent::Uploaded(_) => tell(Event::Uploaded(blob)),
    }
    Ok(sent)
}
