//! `bimanix build`: reads and checks the input, plans the image and writes
//! it, then says where it went and the manifest digest.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::commands::{Input, image_output, load};
use crate::image::archive::Format;
use crate::image::compress::Compression;
use crate::model::spec::LayerMode;

/// How `build` writes the image, beyond what the input says.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The archive format.
    pub format: Format,
    /// `--compression`: overrides the input's `compression`.
    pub compression: Option<Compression>,
    /// `--layers`: overrides the input's `layers`.
    pub layers: Option<LayerMode>,
    /// `--sbom cyclonedx`: attach an SBOM.
    pub sbom: bool,
    /// `--provenance`: attach a build attestation.
    pub provenance: bool,
}

/// Builds the image `input` describes into `output` (default:
/// `<name>-<tag>.tar`, or `<name>-<tag>` for a layout; `-` is standard
/// output), in `settings.format`, its layers cut and compressed as
/// `settings` says when it does, else as the input says.
pub fn run(input: &Input, output: Option<&str>, settings: &Settings) -> Result<()> {
    let format = settings.format;
    if (settings.sbom || settings.provenance) && format == Format::DockerArchive {
        bail!("--sbom and --provenance need --format oci-archive or oci-layout; a docker-archive cannot carry them");
    }
    crate::image::temp::remove_on_signals()?;
    // `loaded` keeps files copied out of images until the image is written.
    let loaded = load(input)?;
    let (checked, inputs) = (loaded.checked, loaded.inputs);
    let (name, tag) = (checked.spec.name.clone(), checked.spec.tag.clone());
    let (out, shown) = image_output(output, (&name, &tag), format, &inputs)?;
    let targets = crate::commands::targets(input, &checked.spec)?;
    let mut plan = crate::image::plan::plan(checked)?;
    if let Some(compression) = settings.compression {
        plan.compression = compression;
    }
    if let Some(layers) = settings.layers {
        plan.layer_mode = layers;
    }
    if settings.sbom || settings.provenance {
        let parameters = parameters(input, settings, &plan);
        let a = &mut plan.attach;
        (a.sbom, a.provenance) = (settings.sbom, settings.provenance);
        a.urunc = targets.versions().iter().map(ToString::to_string).collect();
        a.input = Some(input_digest(input)?);
        a.parameters = parameters;
        a.derivers = derivers(input)?;
    }
    let attached = plan.attach.any();
    let written = crate::image::rootfs::write(plan, format, &out)?;
    eprintln!("bimanix: wrote {name}:{tag} to {shown} (manifest {})", written.manifest.digest);
    if attached {
        let tag = crate::image::attach::fallback_tag(&written.manifest.digest);
        eprintln!("bimanix: attached documents are listed by the index tagged {tag}");
    }
    Ok(())
}

/// The input file's name (without its directory, which differs from
/// machine to machine) and digest.
fn input_digest(input: &Input) -> Result<(String, String)> {
    let path = crate::commands::input_file(input)?;
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = match &input.args_from_env {
        Some(_) => "mkUruncImage arguments (JSON)".to_string(),
        None => path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned()),
    };
    Ok((name, crate::model::oci::sha256_digest(&bytes)))
}

/// The environment variable the Nix functions name the file of derivers
/// in: a JSON object of store path -> derivation (`.drv`) path.
const DERIVERS_VAR: &str = "bimanixDeriversPath";

/// The derivations of the store paths the image's files come from, which
/// the Nix functions pass (a Nix builder cannot ask the store); empty
/// outside a Nix build.
fn derivers(input: &Input) -> Result<BTreeMap<String, String>> {
    let Some(path) = input.args_from_env.as_ref().and_then(|_| std::env::var_os(DERIVERS_VAR)) else {
        return Ok(BTreeMap::new());
    };
    let text = std::fs::read(&path).with_context(|| format!("cannot read {DERIVERS_VAR}"))?;
    serde_json::from_slice(&text).with_context(|| format!("{DERIVERS_VAR}: not a JSON object of strings"))
}

/// The settings of the build, as the attestation's external parameters.
fn parameters(input: &Input, settings: &Settings, plan: &crate::image::plan::Plan) -> BTreeMap<String, Value> {
    let format = match settings.format {
        Format::DockerArchive => "docker-archive",
        Format::OciArchive => "oci-archive",
        Format::OciLayout => "oci-layout",
    };
    let mut p = BTreeMap::new();
    p.insert("format".to_string(), json!(format));
    p.insert("compression".to_string(), json!(plan.compression.name()));
    p.insert("layers".to_string(), json!(plan.layer_mode.name()));
    p.insert("pairCheck".to_string(), json!(input.pair_check));
    p
}
