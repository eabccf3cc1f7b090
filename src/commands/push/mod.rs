//! `bimanix push`: publishes an image archive or OCI layout to a registry.
//! Everything that can fail without the network is settled first (the
//! digest file's place, the reference, the image's documents, the digest a
//! `@digest` reference pins, the credentials); then the registry is asked
//! which blobs it lacks, those are checked and uploaded, and the manifests
//! are put.

pub mod hints;
mod progress;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::commands::{status, side_output, write_side};
use crate::image::compress::Compression;
use crate::image::output::{Output, Protected};
use crate::imageread::open_store;
use crate::model::reference::Reference;
use crate::registry::client::{Client, Connect, Identity};
use crate::registry::credentials::{self, Credentials, Places, Secret};
use crate::registry::plan::{Plan, plan};
use crate::registry::push::{Pushed, push};
use crate::registry::recompress::recompress;
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
    /// `--compression`: the layers encoded anew.
    pub compression: Option<Compression>,
    /// `--digestfile`: where to write the digest pushed.
    pub digestfile: Option<PathBuf>,
}

/// Pushes the image and prints the reference it went to, with its digest.
pub fn run(options: &Options) -> Result<Pushed> {
    let reference = &options.reference;
    let digest_out = match &options.digestfile {
        Some(path) => Some(check_digestfile(path, &options.image).context("--digestfile")?),
        None => None,
    };
    let store = open_store(&options.image)?;
    let mut plan = plan(&store).with_context(|| format!("cannot push {}", options.image.display()))?;
    if let Some(compression) = options.compression {
        // The encoders `build --compression` writes with, so the bytes are the same.
        plan = recompress(&store, plan, compression)
            .with_context(|| format!("cannot recompress {} with {}", options.image.display(), compression.name()))?;
    }
    let digest = plan.top().digest.clone();
    if let Some(pinned) = &reference.digest
        && *pinned != digest
    {
        bail!("{reference} pins digest {pinned}, but the image's {} is {digest}", plan.top().what);
    }
    let target = reference.tag.clone().unwrap_or_else(|| reference.digest.clone().unwrap_or("latest".to_string()));
    let identity = identity(options)?;
    let mut progress = Progress::new();
    announce(&plan, &progress);
    let mut client = Client::connect(reference, &options.connect, identity, progress.notice())
        .map_err(|e| if options.connect.plain_http { hints::plain_http(e, reference.api_host()) } else { e })?;
    let pushed = push(&store, &plan, &mut client, &target, &mut |event| progress.event(event))?;
    progress.finish();
    progress.line(&format!(
        "{} blob{} uploaded ({}), {} already in the registry",
        pushed.uploaded,
        if pushed.uploaded == 1 { "" } else { "s" },
        indicatif::HumanBytes(pushed.uploaded_bytes),
        pushed.existing
    ));
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
/// the image.
fn check_digestfile(path: &Path, image: &Path) -> Result<Output> {
    let image = Protected { path: image.to_path_buf(), what: "the image to push".to_string() };
    side_output(path, &[image], None)
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
/// auth files and helpers.
fn identity(options: &Options) -> Result<Identity> {
    let Some((username, password)) = &options.creds else {
        let found = credentials::find(&Places::from_env(), &options.reference.registry, &options.reference.repository)?;
        return Ok(Identity { credentials: found.credentials, searched: found.searched });
    };
    let secret = Secret::Password { username: username.clone(), password: password.clone() };
    let source = if options.password_stdin { "--creds and --password-stdin" } else { "--creds" };
    Ok(Identity { credentials: Some(Credentials { secret, source: source.to_string() }), searched: Vec::new() })
}
