//! Where `stream` and the `copyTo*` programs put an image or a
//! multi-platform index described in the store: standard output, an
//! archive file, an OCI layout, the local Docker or podman engine (`docker
//! load` / `podman load` fed through a pipe, no archive on disk; of an
//! index, this machine's platform), or a registry (`bimanix push` reading
//! the blobs at their store paths). Every blob read is checked against its
//! described digest before any manifest goes out.

use std::fs;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::commands::push;
use crate::image::archive::Format;
use crate::image::index;
use crate::image::output::{self, Output};
use crate::image::parts::{self, Described, Description, IndexDescription, Part};
use crate::imageread::{Image, open_store_mapped};
use crate::input::foreign::oci_arch;
use crate::model::oci::Hashing;

/// How long `docker load` or `podman load` may take to finish once the
/// whole archive went in.
const LOAD_DEADLINE: Duration = Duration::from_secs(600);

/// Writes the archive to standard output, which must not be a terminal.
pub fn stream(image: &Path, format: Format) -> Result<()> {
    let described = parts::read_described(image)?;
    let stdout = io::stdout();
    if stdout.is_terminal() {
        bail!(
            "standard output is a terminal; pipe the image into a program, e.g. `$(nix-build -A stream) | docker load`"
        );
    }
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    match described {
        Described::Image(d) => parts::stream(&d, format, &mut out),
        Described::Index(d) => stream_index(&d, &mut out),
    }
}

/// Writes the OCI archive of an index described in the store to `out`.
fn stream_index(d: &IndexDescription, out: &mut dyn Write) -> Result<()> {
    let plan = parts::index_plan(d)?;
    let files = parts::index_files(d)?;
    let located = |image: &Image, i: usize| {
        let stored = image.layers[i].digest.as_deref().and_then(|digest| files.get(&blob_name(digest)));
        stored.map_or_else(|| image.layer_label(i), |path| path.display().to_string())
    };
    index::stream(&plan, out, &located).map(|_| ())
}

fn blob_name(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// `copyTo DESTINATION`: `docker-archive:PATH`, `oci-archive:PATH` or
/// `oci:DIR`; `docker://` destinations go to [`registry`].
pub fn to_destination(image: &Path, destination: &str) -> Result<String> {
    let described = parts::read_described(image)?;
    let (transport, path) = destination.split_once(':').unwrap_or(("", destination));
    let format = match transport {
        "docker-archive" => Format::DockerArchive,
        "oci-archive" => Format::OciArchive,
        "oci" => Format::OciLayout,
        _ => bail!(
            "unknown destination {destination:?}; give docker-archive:PATH, oci-archive:PATH, oci:DIR or \
             docker://REGISTRY/NAME[:TAG]"
        ),
    };
    let out = Output::named(path);
    if format != Format::OciLayout {
        output::precheck(&out, false)?;
    }
    let (name, tag) = match &described {
        Described::Image(d) => (&d.name, &d.tag),
        Described::Index(d) => (&d.name, &d.tag),
    };
    match (described.clone(), format) {
        (Described::Image(d), Format::OciLayout) => output::directory(Path::new(path), |dir| parts::layout(&d, dir))?,
        (Described::Image(d), format) => output::file(&out, |file| parts::stream(&d, format, file))?,
        (Described::Index(_), Format::DockerArchive) => bail!(
            "{destination}: a docker-archive holds one platform's image, this is a multi-platform index; give \
             oci-archive:PATH or oci:DIR (copyToDockerDaemon loads this machine's platform)"
        ),
        (Described::Index(d), Format::OciLayout) => {
            index::write(&parts::index_plan(&d)?, Format::OciLayout, &out).map(|_| ())?
        }
        (Described::Index(d), _) => output::file(&out, |file| stream_index(&d, file))?,
    }
    Ok(format!("{name}:{tag}"))
}

/// Loads the image into `engine` (`docker` or `podman`), streamed into
/// `ENGINE load` through a pipe. Of an index, the image for this machine's
/// platform is loaded, under the index's name and tag, as `docker pull`
/// picks it.
pub fn to_engine(image: &Path, engine: &str) -> Result<()> {
    let description = match parts::read_described(image)? {
        Described::Image(d) => d,
        Described::Index(d) => host_image(&d)?,
    };
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

/// The image of the index `d` for this machine (linux and its
/// architecture), named as the index is.
fn host_image(d: &IndexDescription) -> Result<Description> {
    let arch = oci_arch(std::env::consts::ARCH);
    let plan = parts::index_plan(d)?;
    let Some(member) = plan.members.iter().find(|m| m.platform.os == "linux" && m.platform.architecture == arch) else {
        let platforms: Vec<String> = plan.members.iter().map(|m| m.platform()).collect();
        bail!(
            "{}:{} has no image for this machine (linux/{arch}), only for {}; a container engine loads one \
             platform's image: use copyTo oci-archive:PATH or copyToRegistry for the whole index",
            d.name,
            d.tag,
            platforms.join(", ")
        );
    };
    let mut description = parts::read_description(&member.image.path)?;
    description.name.clone_from(&d.name);
    description.tag.clone_from(&d.tag);
    Ok(description)
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

/// Pushes the image with `options` (those of `bimanix push`): the
/// description's directory read as an OCI layout whose blobs are at their
/// store paths, each checked against its digest as it is sent. Without
/// `--compression` the layers go as built (the image's `compression`), so
/// the pushed digest is the one `stream` and the archive carry and an
/// unchanged layer is never read again.
pub fn registry(image: &Path, mut options: push::Options) -> Result<()> {
    let (files, layers) = match parts::read_described(image)? {
        Described::Image(d) => {
            parts::documents(&d)?;
            (parts::files(&d), d.layers)
        }
        Described::Index(d) => {
            parts::index_plan(&d)?;
            let mut layers = Vec::new();
            for dir in &d.images {
                layers.extend(parts::read_description(dir)?.layers);
            }
            (parts::index_files(&d)?, layers)
        }
    };
    options.image = image.to_path_buf();
    push::run_from(&options, || open_store_mapped(image, files), true).map(|_| ()).map_err(|e| name_store_path(e, &layers))
}

/// A push refused for a blob that fails its digest check names the store
/// path it came from and both digests.
fn name_store_path(e: anyhow::Error, layers: &[Part]) -> anyhow::Error {
    let text = format!("{e:#}");
    for part in layers {
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
    Ok(match parts::read_described(image)? {
        Described::Image(d) => format!("{}:{}", d.name, d.tag),
        Described::Index(d) => format!("{}:{}", d.name, d.tag),
    })
}
