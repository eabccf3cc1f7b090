//! `files` entries that copy out of an image (`fromImage` in a files
//! entry; `COPY --from` in a Containerfile; a bunnyfile's kernel in an
//! image): before the rules see the spec, each is extracted into a scratch
//! directory and becomes an ordinary host entry, so that checks, planning
//! and writing treat it like any other file. A file keeps its permission
//! bits from the image unless the entry gives a mode.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};

use crate::image::temp::{self, Named};
use crate::imageread::Image;
use crate::imageread::extract::resolve;
use crate::model::spec::{FileSpec, Locations, Spec};

/// Extracts every entry of `spec` (top-level and rootfs files) that names
/// an image, rewriting it to point at the copy. Returns the scratch
/// directory, which must outlive the build, or `None` when no entry names
/// an image. The directory is in TMPDIR, removed when dropped and on
/// SIGINT or SIGTERM (see `image::temp`).
pub fn extract(spec: &mut Spec) -> Result<Option<Named>> {
    let loc = spec.locations.clone();
    let architecture = spec.architecture.clone();
    let mut entries: Vec<&mut FileSpec> = spec.files.iter_mut().collect();
    if let Some(rootfs) = &mut spec.rootfs {
        entries.extend(rootfs.files.iter_mut());
    }
    // By archive and the architecture picked in it: an entry's own, else the image's.
    let mut by_image: BTreeMap<(PathBuf, Option<String>), Vec<&mut FileSpec>> = BTreeMap::new();
    for f in entries {
        if let Some(image) = f.from_image.clone() {
            let arch = f.architecture.clone().or_else(|| architecture.clone());
            by_image.entry((image, arch)).or_default().push(f);
        }
    }
    if by_image.is_empty() {
        return Ok(None);
    }
    let scratch = temp::dir_in(&std::env::temp_dir(), "extract").context("check TMPDIR")?;
    for (n, ((image_path, arch), files)) in by_image.into_iter().enumerate() {
        // An entry's own `architecture` picked the image: a platform missing from the archive is its fault.
        let own = format!("{}.architecture", files[0].key);
        let at = if loc.keys.contains_key(&own) { loc.at(&own) } else { loc.at(&files[0].key) };
        let image = Image::open_for(&image_path, arch.as_deref()).map_err(|e| open_error(e, &image_path, &at, &loc))?;
        let listing = image.listing().with_context(|| at.clone())?;
        let mut resolved = Vec::new();
        for f in &files {
            let path = f.source.display().to_string();
            let r = resolve(&listing, &path)
                .map_err(|e| anyhow!("{}: {path} in image {}: {e:#}", loc.at(&f.key), image_path.display()))?;
            resolved.push(r);
        }
        let dest = scratch.path().join(n.to_string());
        std::fs::create_dir(&dest).with_context(|| format!("cannot create {}", dest.display()))?;
        let extracted = image.extract(&resolved, &dest)?;
        for (f, copy) in files.into_iter().zip(extracted) {
            f.source = copy.host;
            f.from_image = None;
            f.architecture = None;
            f.mode = f.mode.or(copy.mode);
        }
    }
    Ok(Some(scratch))
}

/// An image that cannot be opened, at `at`; for an archive of several
/// platforms, with the field that picks one.
fn open_error(e: anyhow::Error, image: &Path, at: &str, loc: &Locations) -> anyhow::Error {
    let fallback = "`architecture`, for the image or on this files entry";
    match crate::rules::validate::several_images(&e, image, loc, fallback) {
        Some(message) => anyhow!("{at}: {message}"),
        None => e.context(at.to_string()),
    }
}
