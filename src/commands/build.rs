//! `bimanix build`: reads and checks the input, plans the image and writes
//! it, then says where it went and the manifest digest.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::commands::{Input, load};
use crate::image::archive::Format;
use crate::image::compress::Compression;
use crate::image::output::{self, Output, Protected};
use crate::image::plan::Checked;

/// Builds the image `input` describes into `output` (default:
/// `<name>-<tag>.tar`, or `<name>-<tag>` for a layout; `-` is standard
/// output), its layers compressed with `compression` when given, else as
/// the args file says.
pub fn run(input: &Input, output: Option<&str>, format: Format, compression: Option<Compression>) -> Result<()> {
    crate::image::temp::remove_on_signals()?;
    // `loaded` keeps files copied out of images until the image is written.
    let loaded = load(input)?;
    let checked = loaded.checked;
    let out = match output {
        Some(arg) => Output::named(arg),
        None => Output::Path(PathBuf::from(format!(
            "{}-{}{}",
            checked.spec.name.replace('/', "-"),
            checked.spec.tag,
            if format == Format::OciLayout { "" } else { ".tar" }
        ))),
    };
    let which = if output.is_none() { "the default output name (give another with -o)" } else { "-o" };
    output::precheck(&out, format == Format::OciLayout).context(which)?;
    output::refuse_inputs(&out, &inputs(input, &checked)?).context(which)?;
    let (name, tag) = (checked.spec.name.clone(), checked.spec.tag.clone());
    let mut plan = crate::image::plan::plan(checked)?;
    if let Some(compression) = compression {
        plan.compression = compression;
    }
    let written = crate::image::rootfs::write(plan, format, &out)?;
    let shown = match &out {
        Output::Path(p) => p.display().to_string(),
        _ => "standard output".to_string(),
    };
    eprintln!("bimanix: wrote {name}:{tag} to {shown} (manifest {})", written.manifest.digest);
    Ok(())
}

/// Everything the build reads, which the output must not overwrite.
fn inputs(input: &Input, checked: &Checked) -> Result<Vec<Protected>> {
    let spec = &checked.spec;
    let entry = |path: &PathBuf, what: &str| Protected { path: path.clone(), what: what.to_string() };
    let mut inputs = vec![entry(&crate::commands::input_file(input)?, "the input file")];
    let rootfs = spec.rootfs.as_ref();
    for f in spec.files.iter().chain(rootfs.iter().flat_map(|r| &r.files)) {
        inputs.push(entry(&f.source, &f.key));
    }
    inputs.extend(spec.from_image.iter().map(|p| entry(p, "fromImage")));
    inputs.extend(rootfs.and_then(|r| r.from_image.as_ref()).map(|p| entry(p, "rootfs.fromImage")));
    Ok(inputs)
}
