//! `bimanix build`: reads and checks the input, plans the image and writes
//! it, then says where it went and the manifest digest.

use anyhow::Result;

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
    let (out, shown) = image_output(output, (&name, &tag), format, &inputs)?;
    let mut plan = crate::image::plan::plan(checked)?;
    if let Some(compression) = settings.compression {
        plan.compression = compression;
    }
    if let Some(layers) = settings.layers {
        plan.layer_mode = layers;
    }
    let written = crate::image::rootfs::write(plan, format, &out)?;
    eprintln!("bimanix: wrote {name}:{tag} to {shown} (manifest {})", written.manifest.digest);
    Ok(())
}
