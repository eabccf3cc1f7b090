//! `bimanix push`: publishes an image archive or OCI layout to a registry,
//! under one reference or several. Everything that can fail without the
//! network is settled first (the credentials, the digest file's place, the
//! references, the image's documents, the digests `@digest` references
//! pin); then, for each repository named, the registry is asked which
//! blobs it lacks, those are checked and mounted or uploaded, and the
//! manifests are put, the image's own under each tag given for that
//! repository. A repository pushed earlier in the same run, a
//! `--mount-from` one and those the blob record remembers (see
//! [`mounts`](crate::registry::mounts)) are where blobs are mounted from.

pub mod hints;
mod progress;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::commands::{side_output, status, write_side};
use crate::image::compress::Compression;
use crate::image::output::{Output, Protected};
use crate::imageread::{Store, open_store};
use crate::model::reference::Reference;
use crate::registry::client::{Client, Connect, Identity};
use crate::registry::credentials::{self, Credentials, Places, Secret};
use crate::registry::mounts::{self, Seen};
use crate::registry::plan::{Plan, Source, plan};
use crate::registry::push::{Pushed, Settings, push};
use crate::registry::recompress::{Layers, Stale, recompress};
use crate::registry::referrers::{self, Attached};
use indicatif::HumanBytes;
use progress::Progress;

/// What `push` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The docker-archive, OCI archive or OCI layout directory.
    pub image: PathBuf,
    /// Where to: one reference or several (at least one).
    pub references: Vec<Reference>,
    /// `--creds`: the user name and password.
    pub creds: Option<(String, String)>,
    /// `--password-stdin`: the password came from standard input.
    pub password_stdin: bool,
    /// TLS or plain HTTP.
    pub connect: Connect,
    /// `--compression`: every layer encoded anew. Without it, the layers
    /// stored uncompressed are gzipped and compressed ones go as they are.
    pub compression: Option<Compression>,
    /// `--digestfile`: where to write the digest pushed.
    pub digestfile: Option<PathBuf>,
    /// `--jobs`: how many blobs go at once.
    pub jobs: usize,
    /// `--mount-from`: repositories of each reference's registry to mount blobs from.
    pub mount_from: Vec<String>,
    /// `--chunk-size`: blobs bigger than this go in chunks of this size.
    pub chunk_size: u64,
}

/// What each repository gets: the image as pushed and its attached documents.
struct Image<'a> {
    store: &'a Store,
    plan: &'a Plan,
    attached: &'a Attached,
    /// The layers go as built because documents describe them so.
    kept: bool,
}

/// One repository pushed to, with the tags (or the digest) it gets.
struct Target {
    reference: Reference,
    tags: Vec<String>,
}

/// Pushes the image, repository by repository, and prints each reference
/// it went to, with its digest.
pub fn run(options: &Options) -> Result<Pushed> {
    run_from(options, || open_store(&options.image), false)
}

/// Pushes the image `open` gives (`options.image` names it in messages and
/// is what `--digestfile` must not be): a layout whose blobs are read
/// where they are, such as an image described in the Nix store. With
/// `as_built` and no `--compression`, the layers go as they are stored (the
/// digests known when the image was built), none gzipped on the way.
pub fn run_from(options: &Options, open: impl FnOnce() -> Result<Store>, as_built: bool) -> Result<Pushed> {
    let places = Places::from_env();
    let targets = targets(&options.references);
    let identities =
        targets.iter().map(|t| identity(options, &places, &t.reference)).collect::<Result<Vec<_>>>()?;
    let helpers: Vec<PathBuf> = identities.iter().flat_map(|(_, h)| h.clone()).collect();
    let digest_out = match &options.digestfile {
        Some(path) => Some(check_digestfile(path, &options.image, &places, &helpers).context("--digestfile")?),
        None => None,
    };
    let store = open()?;
    let mut plan = plan(&store).with_context(|| format!("cannot push {}", options.image.display()))?;
    let local = plan.top().digest.clone();
    // As docker and skopeo push: a registry's users pull gzip, not plain tar.
    let (compression, which) =
        options.compression.map_or((Compression::Gzip, Layers::Uncompressed), |c| (c, Layers::Every));
    // Documents attached describe the image as built: its layers go as they are, unless asked.
    let attached =
        referrers::read(&store, &plan).with_context(|| format!("cannot push {}", options.image.display()))?;
    let kept = options.compression.is_none() && !attached.is_empty();
    let mut progress = Progress::new();
    let (mut seen, warning) = Seen::load(mounts::default_path());
    if let Some(warning) = warning {
        progress.line(&format!("warning: starting a new blob record: {warning}"));
    }
    // The encoders `build --compression` writes with, so the bytes are the same.
    if !(kept || (as_built && options.compression.is_none())) {
        plan = recompress(&store, plan, compression, which, &mut seen)
            .with_context(|| format!("cannot recompress {} with {}", options.image.display(), compression.name()))?;
        announce_known(&plan, &seen, &progress);
    }
    attached.check_subjects(&plan)?;
    check_pins(&options.references, &plan, &local)?;
    announce(&plan, &progress);
    if options.compression.is_none() {
        note_uncompressed(&plan, &progress);
    }
    let image = Image { store: &store, plan: &plan, attached: &attached, kept };
    let mut done: Vec<&Reference> = Vec::new();
    let mut total: Option<Pushed> = None;
    for (target, (identity, _)) in targets.iter().zip(identities) {
        if targets.len() > 1 {
            progress.line(&format!("pushing to {}/{}", target.reference.registry, target.reference.repository));
        }
        let earlier: Vec<String> = done
            .iter()
            .filter(|r| r.registry == target.reference.registry)
            .map(|r| r.repository.clone())
            .chain(options.mount_from.iter().cloned())
            .collect();
        let pushed = push_target(&image, target, identity, options, &earlier, &mut seen, &mut progress)?;
        done.push(&target.reference);
        total = Some(pushed);
    }
    let pushed = total.context("internal: no reference to push to")?;
    if pushed.digest != local {
        let how = match options.compression {
            None => "its uncompressed layers were gzipped, as docker and skopeo push them (--compression none keeps \
                     them as built)"
                .to_string(),
            Some(c) => format!("its layers were encoded with --compression {}", c.name()),
        };
        progress.line(&format!("the pushed digest {} differs from the local image's {local}: {how}", pushed.digest));
    }
    if let (Some(out), Some(path)) = (&digest_out, &options.digestfile) {
        write_side(out, pushed.digest.as_bytes())
            .with_context(|| format!("the image was pushed, but the digest file {} was not written", path.display()))?;
    }
    for reference in &options.references {
        let target = reference.tag.clone().or_else(|| reference.digest.clone()).unwrap_or("latest".to_string());
        let shown =
            Reference { tag: Some(target).filter(|t| !t.starts_with("sha256:")), digest: None, ..reference.clone() };
        // When the digest went to standard output, it stays alone there.
        match digest_out {
            Some(Output::Stdout) if status::level() == status::Verbosity::Quiet => {}
            Some(Output::Stdout) => eprintln!("{shown}@{}", pushed.digest),
            _ => println!("{shown}@{}", pushed.digest),
        }
    }
    Ok(pushed)
}

/// Refuses, before the network, a reference whose `@DIGEST` is not the
/// image's as pushed (`local` is the image's before any recompression).
fn check_pins(references: &[Reference], plan: &Plan, local: &str) -> Result<()> {
    let digest = &plan.top().digest;
    for reference in references {
        if let Some(pinned) = &reference.digest
            && pinned != digest
        {
            let hint =
                if pinned == local { " (the local image's is the pinned one: --compression none keeps it)" } else { "" };
            bail!("{reference} pins digest {pinned}, but the image's {} is {digest} as pushed{hint}", plan.top().what);
        }
    }
    Ok(())
}

/// Pushes the image, then its attached documents, to one repository,
/// mounting blobs from `earlier` (repositories of this run on the same
/// registry, then `--mount-from` ones) and from those `seen` remembers;
/// records what the repository holds then.
fn push_target(
    image: &Image,
    target: &Target,
    identity: Identity,
    options: &Options,
    earlier: &[String],
    seen: &mut Seen,
    progress: &mut Progress,
) -> Result<Pushed> {
    let reference = &target.reference;
    let mut client = Client::connect(reference, &options.connect, identity, progress.notice())
        .map_err(|e| if options.connect.plain_http { hints::plain_http(e, reference.api_host()) } else { e })?;
    client.set_chunk_size(options.chunk_size);
    let remembered: &Seen = seen;
    let sources = |digest: &str| {
        let mut unique: Vec<String> = Vec::new();
        for repo in earlier.iter().cloned().chain(remembered.sources(&reference.registry, digest)) {
            if repo != reference.repository && !unique.contains(&repo) {
                unique.push(repo);
            }
        }
        unique
    };
    let settings = Settings { tags: &target.tags, jobs: options.jobs, sources: &sources };
    let pushed = push(image.store, image.plan, &mut client, &settings, &mut |event| progress.event(event));
    let listed = match &pushed {
        Ok(_) => Some(referrers::push(image.store, image.attached, &mut client, &mut |event| progress.event(event))),
        Err(_) => None,
    };
    progress.finish();
    let pushed = pushed.map_err(|e| forget_stale(e, seen, image.plan))?;
    for blob in &pushed.held {
        seen.record(&reference.registry, &reference.repository, blob);
    }
    if let Err(e) = seen.save() {
        progress.line(&format!("warning: cannot keep the blob record (for later mounts): {e:#}"));
    }
    progress.line(&summary(&pushed));
    if let Some(listed) = listed.transpose()?
        && !image.attached.is_empty()
    {
        progress.line(&referrers::summary(&listed, image.kept.then_some(image.plan)));
    }
    Ok(pushed)
}

/// After a [`Stale`] error, drops from the record every encoding the plan
/// took from it (one wrong, the others are suspect), and says so with the
/// error.
fn forget_stale(error: anyhow::Error, seen: &mut Seen, plan: &Plan) -> anyhow::Error {
    if error.downcast_ref::<Stale>().is_none() {
        return error;
    }
    for blob in plan.documents.iter().flat_map(|d| &d.blobs) {
        if let Source::Encode { stored, compression, .. } = &blob.source {
            seen.forget(stored, compression.name());
        }
    }
    let place = seen.path().map_or("the blob record".to_string(), |p| p.display().to_string());
    let dropped = match seen.save() {
        Ok(()) => format!("what it said of this image's layers is dropped from {place}; pushing again encodes them"),
        Err(e) => format!("delete {place} ({e:#}) and push again"),
    };
    error.context(format!("the blob record is stale: {dropped}"))
}

/// Says when layers are named as the blob record remembers their
/// encoding, not encoded: they are only if a registry lacks them.
fn announce_known(plan: &Plan, seen: &Seen, progress: &Progress) {
    let mut known: Vec<&str> = plan
        .documents
        .iter()
        .flat_map(|d| &d.blobs)
        .filter(|b| matches!(b.source, Source::Encode { .. }))
        .map(|b| b.digest.as_str())
        .collect();
    known.sort_unstable();
    known.dedup();
    if let (n @ 1.., Some(path)) = (known.len(), seen.path()) {
        progress.line(&format!(
            "{n} layer{} not encoded: the blob record ({}) knows what {} to; encoded only if a registry lacks {}",
            if n == 1 { "" } else { "s" },
            path.display(),
            if n == 1 { "it encodes" } else { "they encode" },
            if n == 1 { "it" } else { "them" }
        ));
    }
}

/// The references grouped by repository, in the order first named; each
/// repository with its tags (or the digest, for a reference with none).
fn targets(references: &[Reference]) -> Vec<Target> {
    let mut targets: Vec<Target> = Vec::new();
    for reference in references {
        let tag = reference.tag.clone().unwrap_or_else(|| reference.digest.clone().unwrap_or("latest".to_string()));
        let same = |t: &&mut Target| {
            t.reference.registry == reference.registry && t.reference.repository == reference.repository
        };
        match targets.iter_mut().find(|t| same(t)) {
            Some(target) if target.tags.contains(&tag) => {}
            Some(target) => target.tags.push(tag),
            None => targets.push(Target { reference: reference.clone(), tags: vec![tag] }),
        }
    }
    targets
}

/// `2 blobs uploaded (1.0 GiB), 1 mounted, 3 already in the registry`.
fn summary(pushed: &Pushed) -> String {
    let resent = pushed.sent_bytes.saturating_sub(pushed.uploaded_bytes);
    let resent = if resent > 0 { format!(", {} of it sent again after failures", HumanBytes(resent)) } else { String::new() };
    let mounted = if pushed.mounted > 0 { format!(", {} mounted from another repository", pushed.mounted) } else { String::new() };
    format!(
        "{} blob{} uploaded ({}{resent}){mounted}, {} already in the registry",
        pushed.uploaded,
        if pushed.uploaded == 1 { "" } else { "s" },
        HumanBytes(pushed.uploaded_bytes),
        pushed.existing
    )
}

/// Refuses, before the image is read or the registry asked, a digest file
/// that could not be written after the push, and one that is or is inside
/// the image, or is a credentials file: an auth file or docker config
/// (read or not), or a credential helper that ran.
fn check_digestfile(path: &Path, image: &Path, places: &Places, helpers: &[PathBuf]) -> Result<Output> {
    let entry = |path: &Path, what: &str| Protected { path: path.to_path_buf(), what: what.to_string() };
    let mut inputs = vec![entry(image, "the image to push")];
    inputs.extend(places.files.iter().map(|f| entry(f, "an auth file")));
    inputs.extend(helpers.iter().map(|h| entry(h, "a credential helper")));
    side_output(path, &inputs, None)
}

/// Says, once, when the manifest is written here rather than copied.
fn announce(plan: &Plan, progress: &Progress) {
    if plan.synthesized {
        progress.line(&format!(
            "the archive is an old-style docker-archive with no OCI manifest; pushing an OCI manifest written for \
             it ({}), whose digest no tool has printed before",
            plan.top().digest
        ));
    }
}

/// Above this, an uncompressed layer pushed as built gets a note.
const BIG_UNCOMPRESSED: u64 = 64 << 20;

/// Notes each big layer that goes uncompressed because it is pushed as
/// built (by copyToRegistry, or with documents attached): every node pulls
/// all of it, where gzip often makes a mostly empty block image megabytes.
fn note_uncompressed(plan: &Plan, progress: &Progress) {
    let layers = plan.documents.iter().flat_map(|d| &d.blobs);
    for blob in layers.filter(|b| b.size > BIG_UNCOMPRESSED && b.is_uncompressed_layer()) {
        progress.line(&format!(
            "note: {} goes uncompressed, as built ({}): every node pulls all of it; an image built with gzip \
             compression is usually much smaller to store and pull",
            blob.what,
            HumanBytes(blob.size)
        ));
    }
}

/// The credentials to use: `--creds` (with `--password-stdin`), else the
/// auth files and helpers of `places`; and the helpers that ran.
fn identity(options: &Options, places: &Places, reference: &Reference) -> Result<(Identity, Vec<PathBuf>)> {
    let Some((username, password)) = &options.creds else {
        let found = credentials::find(places, &reference.registry, &reference.repository)?;
        return Ok((Identity { credentials: found.credentials, searched: found.searched }, found.helpers));
    };
    let secret = Secret::Password { username: username.clone(), password: password.clone() };
    let source = if options.password_stdin { "--creds and --password-stdin" } else { "--creds" };
    let credentials = Some(Credentials { secret, source: source.to_string() });
    Ok((Identity { credentials, searched: Vec::new() }, Vec::new()))
}
