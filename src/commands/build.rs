//! `bimanix build`: reads and checks the input, plans the image and writes
//! it, then says where it went and the manifest digest.

use std::path::PathBuf;

use anyhow::Result;

use crate::commands::{Input, load};
use crate::image::archive::Format;
use crate::image::compress::Compression;
use crate::image::output::Output;

/// Builds the image `input` describes into `output` (default:
/// `<name>-<tag>.tar`, or `<name>-<tag>` for a layout; `-` is standard
/// output), its layers compressed with `compression` when given, else as
/// the args file says.
pub fn run(input: &Input, output: Option<&str>, format: Format, compression: Option<Compression>) -> Result<()> {
    let loaded = load(input)?;
    let checked = loaded.checked;
    let out = match output {
        Some("-") => Output::Stdout,
        Some(p) => Output::Path(PathBuf::from(p)),
        None => Output::Path(PathBuf::from(format!(
            "{}-{}{}",
            checked.spec.name.replace('/', "-"),
            checked.spec.tag,
            if format == Format::OciLayout { "" } else { ".tar" }
        ))),
    };
    let (name, tag) = (checked.spec.name.clone(), checked.spec.tag.clone());
    let mut plan = crate::image::plan::plan(checked)?;
    if let Some(compression) = compression {
        plan.compression = compression;
    }
    let written = crate::image::rootfs::write(plan, format, &out)?;
    let shown = match &out {
        Output::Path(p) => p.display().to_string(),
        Output::Stdout => "standard output".to_string(),
    };
    eprintln!("bimanix: wrote {name}:{tag} to {shown} (manifest {})", written.manifest.digest);
    Ok(())
}
