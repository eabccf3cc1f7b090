//! `bimanix build`: reads and checks the input, plans the image and writes
//! it, then says where it went and the manifest digest, and writes the
//! digest and metadata files asked for.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;

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
    crate::image::temp::remove_on_signals()?;
    // `loaded` keeps files copied out of images until the image is written.
    let loaded = load(input)?;
    let (checked, inputs) = (loaded.checked, loaded.inputs);
    let (name, tag) = (checked.spec.name.clone(), checked.spec.tag.clone());
    let architecture = checked.architecture.clone();
    let (out, shown) = image_output(output, (&name, &tag), format, &inputs)?;
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
    let written = crate::image::rootfs::write(plan, format, &out)?;
    status::status(&format!("wrote {name}:{tag} to {shown} (manifest {})", written.manifest.digest));
    if let Some(side) = &digest_out {
        write_side(side, written.manifest.digest.as_bytes()).context("--digestfile")?;
    }
    if let Some(side) = &metadata_out {
        let text = metadata(&name, &tag, &architecture, &written);
        write_side(side, text.as_bytes()).context("--metadata-file")?;
    }
    Ok(())
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
