//! `bimanix push`: publishes an image archive or OCI layout to a registry.
//! Everything that can fail without the network is settled first (the
//! credentials, the digest file's place, the reference, the image's
//! documents, the digest a `@digest` reference pins); then the registry is asked
//! which blobs it lacks, those are checked and uploaded, and the manifests
//! are put.

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
use crate::registry::plan::{Plan, plan};
use crate::registry::push::{Pushed, push};
use crate::registry::recompress::{Layers, recompress};
use crate::registry::referrers;
use progress::Progress;

/// What `push` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The docker-archive, OCI archive or OCI layout directory.
    pub image: PathBuf,
    /// Where to.
    pub reference: Reference,
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
}

/// Pushes the image and prints the reference it went to, with its digest.
pub fn run(options: &Options) -> Result<Pushed> {
    run_from(options, || open_store(&options.image), false)
}

/// Pushes the image `open` gives (`options.image` names it in messages and
/// is what `--digestfile` must not be): a layout whose blobs are read
/// where they are, such as an image described in the Nix store. With
/// `as_built` and no `--compression`, the layers go as they are stored (the
/// digests known when the image was built), none gzipped on the way.
pub fn run_from(options: &Options, open: impl FnOnce() -> Result<Store>, as_built: bool) -> Result<Pushed> {
    let reference = &options.reference;
    let places = Places::from_env();
    let identity = identity(options, &places)?;
    let digest_out = match &options.digestfile {
        Some(path) => Some(check_digestfile(path, &options.image, &places, &identity.1).context("--digestfile")?),
        None => None,
    };
    let identity = identity.0;
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
    // The encoders `build --compression` writes with, so the bytes are the same.
    if !(kept || (as_built && options.compression.is_none())) {
        plan = recompress(&store, plan, compression, which)
            .with_context(|| format!("cannot recompress {} with {}", options.image.display(), compression.name()))?;
    }
    attached.check_subjects(&plan)?;
    let digest = plan.top().digest.clone();
    if let Some(pinned) = &reference.digest
        && *pinned != digest
    {
        let hint =
            if *pinned == local { " (the local image's is the pinned one: --compression none keeps it)" } else { "" };
        bail!("{reference} pins digest {pinned}, but the image's {} is {digest} as pushed{hint}", plan.top().what);
    }
    let target = reference.tag.clone().unwrap_or_else(|| reference.digest.clone().unwrap_or("latest".to_string()));
    let mut progress = Progress::new();
    announce(&plan, &progress);
    let mut client = Client::connect(reference, &options.connect, identity, progress.notice())
        .map_err(|e| if options.connect.plain_http { hints::plain_http(e, reference.api_host()) } else { e })?;
    let pushed = push(&store, &plan, &mut client, &target, &mut |event| progress.event(event))?;
    let listed = referrers::push(&store, &attached, &mut client, &mut |event| progress.event(event))?;
    progress.finish();
    progress.line(&format!(
        "{} blob{} uploaded ({}), {} already in the registry",
        pushed.uploaded,
        if pushed.uploaded == 1 { "" } else { "s" },
        indicatif::HumanBytes(pushed.uploaded_bytes),
        pushed.existing
    ));
    if !attached.is_empty() {
        progress.line(&referrers::summary(&listed, kept.then_some(&plan)));
    }
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
    let shown =
        Reference { tag: Some(target).filter(|t| !t.starts_with("sha256:")), digest: None, ..reference.clone() };
    // When the digest went to standard output, it stays alone there.
    match digest_out {
        Some(Output::Stdout) if status::level() == status::Verbosity::Quiet => {}
        Some(Output::Stdout) => eprintln!("{shown}@{}", pushed.digest),
        _ => println!("{shown}@{}", pushed.digest),
    }
    Ok(pushed)
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

/// The credentials to use: `--creds` (with `--password-stdin`), else the
/// auth files and helpers of `places`; and the helpers that ran.
fn identity(options: &Options, places: &Places) -> Result<(Identity, Vec<PathBuf>)> {
    let Some((username, password)) = &options.creds else {
        let found = credentials::find(places, &options.reference.registry, &options.reference.repository)?;
        return Ok((Identity { credentials: found.credentials, searched: found.searched }, found.helpers));
    };
    let secret = Secret::Password { username: username.clone(), password: password.clone() };
    let source = if options.password_stdin { "--creds and --password-stdin" } else { "--creds" };
    let credentials = Some(Credentials { secret, source: source.to_string() });
    Ok((Identity { credentials, searched: Vec::new() }, Vec::new()))
}
