//! `bimanix build`: reads and checks the input, plans the image and writes
//! it, then says where it went and the manifest digest, and writes the
//! digest and metadata files asked for.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::commands::{Input, image_output, load, side_output, status, write_side};
use crate::image::archive::{Format, Written};
use crate::image::compress::Compression;
use crate::model::spec::LayerMode;

/// How `build` writes the image, beyond what the input says.
#[derive(Clone, Debug)]
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
    /// `--digestfile`: where to write the manifest digest.
    pub digestfile: Option<PathBuf>,
    /// `--metadata-file`: where to write what was built, as JSON.
    pub metadata_file: Option<PathBuf>,
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
    let architecture = checked.architecture.clone();
    let (out, shown) = image_output(output, (&name, &tag), format, &inputs)?;
    let targets = crate::commands::targets(input, &checked.spec)?;
    // Settled before the build, so that a wrong one costs nothing.
    let side = |path: &Option<PathBuf>, flag: &str| -> Result<_> {
        path.as_ref().map(|p| side_output(p, &inputs, Some(&out)).context(flag.to_string())).transpose()
    };
    let digest_out = side(&settings.digestfile, "--digestfile")?;
    let metadata_out = side(&settings.metadata_file, "--metadata-file")?;
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
    status::status(&format!("wrote {name}:{tag} to {shown} (manifest {})", written.manifest.digest));
    if attached {
        let tag = crate::image::attach::fallback_tag(&written.manifest.digest);
        status::status(&format!("attached documents are listed by the index tagged {tag}"));
    }
    if let Some(side) = &digest_out {
        write_side(side, written.manifest.digest.as_bytes()).context("--digestfile")?;
    }
    if let Some(side) = &metadata_out {
        let text = metadata(&name, &tag, &architecture, &written);
        write_side(side, text.as_bytes()).context("--metadata-file")?;
    }
    Ok(())
}

/// The input file's name (without its directory, which differs from
/// machine to machine) and digest.
fn input_digest(input: &Input) -> Result<(String, String)> {
    if input.args_from_env.is_none() && crate::commands::locate(input)?.0 == std::path::Path::new("-") {
        let digest = crate::commands::STDIN_DIGEST.get().context("internal: standard input was not read")?;
        return Ok((crate::input::STDIN.to_string(), digest.clone()));
    }
    let path = crate::commands::input_file(input)?;
    let bytes = crate::model::hostfile::read_regular(&path, crate::input::MAX_ARGS_FILE, "input files")
        .with_context(|| format!("cannot read {}", path.display()))?;
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
    let text =
        crate::model::hostfile::read_regular(std::path::Path::new(&path), crate::input::MAX_ARGS_FILE, "input files")
            .with_context(|| format!("cannot read {DERIVERS_VAR}"))?;
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

/// The `--metadata-file` JSON: docker buildx's keys for the digests
/// (`containerimage.digest`, `containerimage.config.digest`,
/// `containerimage.descriptor`, and `image.name`, the qualified name as
/// index.json has it), then name, tags, the
/// manifest's, config's and layers' descriptors, and the platform.
fn metadata(name: &str, tag: &str, architecture: &str, written: &Written) -> String {
    let descriptor =
        |d: &crate::model::oci::Descriptor| json!({ "mediaType": d.media_type, "digest": d.digest, "size": d.size });
    let layers: Vec<_> = written
        .layers
        .iter()
        .map(|l| {
            let mut d = descriptor(&l.descriptor);
            d["diffID"] = json!(l.diff_id);
            d
        })
        .collect();
    let value = json!({
        "containerimage.digest": written.manifest.digest,
        "containerimage.config.digest": written.config.digest,
        "containerimage.descriptor": descriptor(&written.manifest),
        "image.name": format!("{}:{tag}", crate::model::reference::qualified(name)),
        "name": name,
        "tags": [tag],
        "manifest": descriptor(&written.manifest),
        "config": descriptor(&written.config),
        "layers": layers,
        "platform": { "os": "linux", "architecture": architecture },
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}
