//! `bimanix check`: everything `build` does short of writing.

use anyhow::Result;

use crate::commands::{Input, load};

/// Checks the input and plans the image, writing nothing.
pub fn run(input: &Input) -> Result<()> {
    let loaded = load(input)?;
    let checked = loaded.checked;
    let summary = format!(
        "{} is valid: {}:{} for linux/{}",
        checked.spec.locations.file, checked.spec.name, checked.spec.tag, checked.architecture
    );
    // Planning walks the sources, which finds collisions inside copied
    // directories; it reads no file contents and writes nothing.
    crate::image::plan::plan(checked)?;
    eprintln!("bimanix: {summary}");
    Ok(())
}
