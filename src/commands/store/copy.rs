//! Where `stream` and the `copyTo*` programs put an image described in the
//! store: standard output, an archive file, an OCI layout, the local
//! Docker or podman engine (`docker load` / `podman load` fed through a
//! pipe, no archive on disk), or a registry (`bimanix push` of a layout
//! whose blobs are links to the store). Every blob read is checked against
//! its described digest before any manifest goes out.

use std::fs;
use std::io::{self, BufWriter, IsTerminal};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::commands::push;
use crate::image::archive::Format;
use crate::image::output::{self, Output};
use crate::image::parts::{self, Description};
use crate::model::oci::{Hashing, OCI_LAYOUT};

/// How long `docker load` or `podman load` may take to finish once the
/// whole archive went in.
const LOAD_DEADLINE: Duration = Duration::from_secs(600);

/// Writes the archive to standard output, which must not be a terminal.
pub fn stream(image: &Path, format: Format) -> Result<()> {
    let description = parts::read_description(image)?;
    let stdout = io::stdout();
    if stdout.is_terminal() {
        bail!(
            "standard output is a terminal; pipe the image into a program, e.g. `$(nix-build -A stream) | docker load`"
        );
    }
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    parts::stream(&description, format, &mut out)
}

/// `copyTo DESTINATION`: `docker-archive:PATH`, `oci-archive:PATH` or
/// `oci:DIR`; `docker://` destinations go to [`registry`].
pub fn to_destination(image: &Path, destination: &str) -> Result<String> {
    let description = parts::read_description(image)?;
    let (transport, path) = destination.split_once(':').unwrap_or(("", destination));
    match transport {
        "docker-archive" | "oci-archive" => {
            let format = if transport == "oci-archive" { Format::OciArchive } else { Format::DockerArchive };
            let out = Output::named(path);
            output::precheck(&out, false)?;
            output::file(&out, |file| parts::stream(&description, format, file))?;
        }
        "oci" => {
            output::directory(Path::new(path), |dir| parts::layout(&description, dir))?;
        }
        _ => bail!(
            "unknown destination {destination:?}; give docker-archive:PATH, oci-archive:PATH, oci:DIR or \
             docker://REGISTRY/NAME[:TAG]"
        ),
    }
    Ok(format!("{}:{}", description.name, description.tag))
}

/// Loads the image into `engine` (`docker` or `podman`), streamed into
/// `ENGINE load` through a pipe.
pub fn to_engine(image: &Path, engine: &str) -> Result<()> {
    let description = parts::read_description(image)?;
    let mut child = Command::new(engine)
        .arg("load")
        .stdin(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run `{engine} load` (is {engine} installed and on PATH?)"))?;
    let streamed = {
        let stdin = child.stdin.take().context("internal: no pipe to the engine")?;
        let mut pipe = BufWriter::with_capacity(1 << 20, stdin);
        parts::stream(&description, Format::DockerArchive, &mut pipe)
        // The pipe closes here: the engine sees the end of the archive.
    };
    let status = wait(&mut child, engine)?;
    streamed.with_context(|| format!("the image was not loaded into {engine}"))?;
    if !status.success() {
        bail!("`{engine} load` failed ({status})");
    }
    eprintln!("bimanix: loaded {}:{} into {engine}", description.name, description.tag);
    Ok(())
}

/// Waits for `child` within [`LOAD_DEADLINE`], killing it past that.
fn wait(child: &mut std::process::Child, engine: &str) -> Result<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if start.elapsed() > LOAD_DEADLINE {
            child.kill().ok();
            child.wait().ok();
            bail!("`{engine} load` did not finish within {} s; stopped it", LOAD_DEADLINE.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Pushes the image with `options` (those of `bimanix push`, whose image
/// is replaced by a layout of links to the store's blobs).
pub fn registry(image: &Path, mut options: push::Options) -> Result<()> {
    let description = parts::read_description(image)?;
    parts::documents(&description)?;
    let layout = tempfile::Builder::new()
        .prefix("bimanix-push-")
        .tempdir()
        .context("cannot create a temporary directory (check TMPDIR)")?;
    link_layout(&description, layout.path())?;
    options.image = layout.path().to_path_buf();
    push::run(&options).map(|_| ()).map_err(|e| name_store_path(e, &description))
}

/// Lays `description` out as an OCI layout in `dir` whose blobs are hard
/// links to the described files (copies where the store is on another
/// file system): push reads a layout's own files only, never through a
/// symbolic link out of it.
fn link_layout(d: &Description, dir: &Path) -> Result<()> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    let hex = |digest: &str| digest.trim_start_matches("sha256:").to_string();
    for part in &d.layers {
        let target = part.blob.as_ref().context("internal: a described layer without its blob")?;
        let link = blobs.join(hex(&part.digest));
        if !link.exists() {
            place(target, &link)?;
        }
    }
    place(&d.config.path, &blobs.join(hex(&d.config.digest)))?;
    place(&d.manifest.path, &blobs.join(hex(&d.manifest.digest)))?;
    place(&d.index, &dir.join("index.json"))?;
    fs::write(dir.join("oci-layout"), OCI_LAYOUT)?;
    Ok(())
}

/// Puts the store file `target` at `at`: a hard link, else a copy.
fn place(target: &Path, at: &Path) -> Result<()> {
    if fs::hard_link(target, at).is_err() {
        fs::copy(target, at).with_context(|| format!("cannot copy {} to {}", target.display(), at.display()))?;
    }
    Ok(())
}

/// A push refused for a blob that fails its digest check names the store
/// path it came from and both digests.
fn name_store_path(e: anyhow::Error, d: &Description) -> anyhow::Error {
    let text = format!("{e:#}");
    for part in &d.layers {
        let Some(path) = &part.blob else { continue };
        if !text.contains(&part.digest) {
            continue;
        }
        let Ok(file) = fs::File::open(path) else { continue };
        let mut hashing = Hashing::new(io::BufReader::new(file));
        if io::copy(&mut hashing, &mut io::sink()).is_ok() {
            let (actual, _) = hashing.finish();
            if actual != part.digest {
                return e.context(format!("{}; nothing was pushed", parts::mismatch(path, &actual, &part.digest)));
            }
        }
    }
    e
}

/// The default reference of `copyToRegistry`: the image's name and tag.
pub fn default_reference(image: &Path) -> Result<String> {
    let d = parts::read_description(image)?;
    Ok(format!("{}:{}", d.name, d.tag))
}
