//! The Nix store's side of an image (`nix/image.nix`): the builders of
//! its derivations and the programs they leave.
//!
//! - [`layer`] writes the artifact layers of one `files` entry or of the
//!   generated rootfs (a derivation of its own per artifact, whose inputs
//!   are that artifact's alone);
//! - [`describe`] checks and plans the whole image as `build` does, and
//!   writes its description: those layers by store path, the top layer,
//!   config and manifest;
//! - [`describe_index`] describes a multi-platform index of described
//!   images (its documents only);
//! - [`launcher`] writes `stream` and the `copyTo*` programs: a script
//!   whose `#!` line runs this bimanix, so no shell is needed;
//! - [`copy`] runs them: the archive to standard output or a file, an OCI
//!   layout, `docker load`, `podman load`, a registry push.

pub mod copy;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::commands::build::Settings;
use crate::commands::{Input, load};
use crate::image::archive::Format;
use crate::image::parts;
use crate::image::plan::{Checked, Plan, plan};
use crate::input::args::{self, Syntax};

/// What a launcher runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Launch {
    /// `stream`, `copyToRegistry`, `copyToDockerDaemon`, `copyToPodman`
    /// or `copyTo`.
    pub command: String,
    /// The description's directory.
    pub image: PathBuf,
    /// The archive format `stream` writes.
    pub format: String,
}

/// The programs a launcher can be.
pub const COMMANDS: &[&str] = &["stream", "copyToRegistry", "copyToDockerDaemon", "copyToPodman", "copyTo"];

/// `bimanix layer`: writes the artifact layers of the partial args file in
/// environment variable `var` into the new directory `out`; `artifacts`
/// are the image paths (binary, initrd, block) that get a layer of their
/// own whatever their size. Only the digests are kept when `!blobs`.
///
/// Input this layer cannot be read or laid out from is left to `describe`,
/// which checks the whole image and says where in the args file the
/// problem is: the layer derivation then lists no layer (and keeps the
/// message beside the list), and fails only on what goes wrong while it
/// writes.
pub fn layer(var: &str, artifacts: &[String], out: &Path, blobs: bool) -> Result<()> {
    let planned = layer_plan(var, artifacts);
    fs::create_dir(out).with_context(|| format!("cannot create {}", out.display()))?;
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => {
            let message = format!("{e:#}");
            fs::write(out.join("error"), &message)?;
            fs::write(out.join(parts::PARTS), "[]")?;
            eprintln!(
                "bimanix: warning: {message}; no layer written (describe reports it, or writes the layer itself)"
            );
            return Ok(());
        }
    };
    let parts = parts::write_parts(plan, out, blobs)?;
    let bytes: u64 = parts.iter().map(|p| p.size).sum();
    eprintln!("bimanix: wrote {} layer{} ({bytes} bytes) to {}", parts.len(), plural(parts.len()), out.display());
    Ok(())
}

/// The plan of a layer's partial args file.
fn layer_plan(var: &str, artifacts: &[String]) -> Result<Plan> {
    let path = std::env::var_os(var).with_context(|| format!("environment variable {var} is not set"))?;
    let spec = args::read_as(Path::new(&path), Syntax::Json, "layer arguments".to_string())?;
    // The layer's own fields only: the image's checks are `describe`'s.
    let checked = Checked {
        architecture: spec.architecture.clone().unwrap_or_default(),
        entrypoint: None,
        cmd: None,
        created: spec.created.unwrap_or(0).max(0),
        warnings: Vec::new(),
        base: None,
        spec,
    };
    let mut plan = plan(checked)?;
    plan.artifacts.extend(artifacts.iter().map(|a| crate::model::fstree::rel(a).to_string()));
    plan.tree.check_layer_names().context("a file in the image layer")?;
    Ok(plan)
}

/// `bimanix describe`: checks and plans the image `input` describes as
/// `build` does, and writes its description into the new directory `out`,
/// naming the layers found in the `layers` directories; `settings`
/// override the input's compression and layer mode as for `build`.
pub fn describe(input: &Input, layers: &[PathBuf], settings: &Settings, out: &Path) -> Result<()> {
    crate::image::temp::remove_on_signals()?;
    let loaded = load(input)?;
    let given = parts::read_parts(layers)?;
    let mut plan = plan(loaded.checked)?;
    if let Some(compression) = settings.compression {
        plan.compression = compression;
    }
    if let Some(layers) = settings.layers {
        plan.layer_mode = layers;
    }
    fs::create_dir(out).with_context(|| format!("cannot create {}", out.display()))?;
    let description = parts::describe(plan, &given, out, &mut |path, size| {
        eprintln!(
            "bimanix: warning: the layer of {path} ({size} bytes) is not among the layer derivations; it is written \
             into the description"
        )
    })?;
    eprintln!(
        "bimanix: described {}:{} in {} (manifest {})",
        description.name,
        description.tag,
        out.display(),
        description.manifest.digest
    );
    Ok(())
}

/// `bimanix describe-index`: checks the images described in `images` as
/// `bimanix index` checks its images, and writes the index's description
/// into the new directory `out` (its documents; the images stay where
/// they are).
pub fn describe_index(
    images: &[PathBuf],
    name: &str,
    tag: &str,
    annotations: std::collections::BTreeMap<String, String>,
    out: &Path,
) -> Result<()> {
    crate::image::temp::remove_on_signals()?;
    fs::create_dir(out).with_context(|| format!("cannot create {}", out.display()))?;
    let d = parts::describe_index(images, name, tag, annotations, out)?;
    eprintln!(
        "bimanix: described the index {}:{} of {} images in {} (index {})",
        d.name,
        d.tag,
        d.images.len(),
        out.display(),
        d.index.digest
    );
    Ok(())
}

/// `bimanix launcher`: writes the program `command` for the description
/// in `image`: `out` itself for `stream`, else `out/bin/<command>`.
pub fn launcher(command: &str, image: &Path, format: Format, out: &Path) -> Result<()> {
    if !COMMANDS.contains(&command) {
        bail!("unknown launcher {command:?}; one of {}", COMMANDS.join(", "));
    }
    parts::read_described(image)?;
    let program = std::env::current_exe().context("cannot tell where this bimanix is")?;
    let launch =
        Launch { command: command.to_string(), image: image.to_path_buf(), format: format_name(format).into() };
    let path = if command == "stream" {
        out.to_path_buf()
    } else {
        fs::create_dir_all(out.join("bin"))?;
        out.join("bin").join(command)
    };
    let mut text = format!("#!{} launch\n", program.display()).into_bytes();
    serde_json::to_writer_pretty(&mut text, &launch)?;
    text.push(b'\n');
    let mut file = fs::File::create_new(&path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(&text)?;
    file.set_permissions(fs::Permissions::from_mode(0o555))?;
    Ok(())
}

/// Reads the launcher script `path`.
pub fn read_launcher(path: &Path) -> Result<Launch> {
    let text = crate::model::hostfile::read_regular(path, 1 << 20, "launchers")?;
    let body = text.splitn(2, |b| *b == b'\n').nth(1).unwrap_or_default();
    serde_json::from_slice(body).with_context(|| format!("{} is not a bimanix launcher", path.display()))
}

/// The CLI's name of an archive format.
pub fn format_name(format: Format) -> &'static str {
    match format {
        Format::DockerArchive => "docker-archive",
        Format::OciArchive => "oci-archive",
        Format::OciLayout => "oci-layout",
    }
}

/// The archive format named `name`.
pub fn format_named(name: &str) -> Result<Format> {
    Ok(match name {
        "docker-archive" => Format::DockerArchive,
        "oci-archive" => Format::OciArchive,
        "oci-layout" => Format::OciLayout,
        other => bail!("unknown format {other:?}"),
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
