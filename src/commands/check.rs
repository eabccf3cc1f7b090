//! `bimanix check`: everything `build` does short of writing.

use anyhow::Result;

use crate::commands::{Input, load, targets};

/// Checks the input and plans the image, writing nothing.
pub fn run(input: &Input) -> Result<()> {
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
    // Planning walks the sources, which finds collisions inside copied
    // directories; it reads no file contents and writes nothing.
    crate::image::plan::plan(checked)?;
    eprintln!("bimanix: {summary}");
    Ok(())
}
