//! `bimanix check`: everything `build` does short of writing.

use anyhow::Result;

use crate::commands::{Input, load, status, targets};
use crate::image::archive::Format;
use crate::image::output::Output;

/// Checks the input and builds the image as `build` does — reading every
/// source, generating the rootfs, copying base layers — throwing the
/// archive away, so that whatever `build` would refuse, `check` refuses.
pub fn run(input: &Input) -> Result<()> {
    crate::image::temp::remove_on_signals()?;
    let loaded = load(input)?;
    let checked = loaded.checked;
    let summary = format!(
        "{} is valid: {}:{} for linux/{}, urunc {}",
        checked.spec.locations.file,
        checked.spec.name,
        checked.spec.tag,
        checked.architecture,
        targets(input, &checked.spec)?
    );
    let plan = crate::image::plan::plan(checked)?;
    crate::image::rootfs::write(plan, Format::DockerArchive, &Output::Discard)?;
    status::status(&summary);
    Ok(())
}
