//! `bimanix convert`: the args.nix that a Containerfile, bunnyfile or JSON
//! args file stands for, so that users can move to the Nix workflow.
//! Building it gives the same image, byte for byte.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::commands::{Input, locate, read};

/// Writes the args.nix for `input` to `output` (standard output when
/// `None`). Paths in it are relative to the directory it goes to; on
/// standard output, to the input file's directory. An existing file is
/// replaced only with `force`, and never the input itself.
pub fn run(input: &Input, output: Option<&Path>, force: bool) -> Result<()> {
    let spec = read(input)?;
    let (file, _) = locate(input)?;
    let source = std::path::absolute(&file)?;
    let dir = match output {
        Some(out) => std::path::absolute(out)?.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
        None => source.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
    };
    let shown = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let header = vec![
        format!("Converted by `bimanix convert` from {shown}."),
        "Build it with `bimanix build args.nix` or `nix-build --arg args ./args.nix`.".to_string(),
    ];
    let text = crate::input::nixwrite::write(&spec, &dir, &header)?;
    let Some(out) = output else {
        std::io::stdout().write_all(text.as_bytes()).context("writing to standard output")?;
        return Ok(());
    };
    let target = std::path::absolute(out)?;
    let same = match (std::fs::canonicalize(&target), std::fs::canonicalize(&source)) {
        (Ok(a), Ok(b)) => a == b,
        _ => target == source,
    };
    if same {
        bail!("{}: the output would replace the input; write it elsewhere", out.display());
    }
    if target.exists() && !force {
        bail!(
            "{} exists; bimanix does not replace a file it may not have written (--force replaces it)",
            out.display()
        );
    }
    // Written like an image: never a device or a link replaced, nothing
    // left behind by a failure or a signal.
    crate::image::temp::remove_on_signals()?;
    crate::image::output::file(&crate::image::output::Output::Path(target), |f| {
        f.write_all(text.as_bytes()).with_context(|| format!("writing {}", out.display()))
    })?;
    eprintln!("bimanix: wrote {}", out.display());
    Ok(())
}
