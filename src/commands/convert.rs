//! `bimanix convert`: the args.nix that a Containerfile, bunnyfile or JSON
//! args file stands for, so that users can move to the Nix workflow.
//! Building it gives the same image, byte for byte.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::commands::{Input, locate, protected, read, status};
use crate::image::output::{self, Output};

/// Writes the args.nix for `input` to `output` (standard output when
/// `None` or `-`). Paths in it are relative to the directory it goes to; on
/// standard output, to the input file's directory. An existing file is
/// replaced only with `force`, and never one the input reads (the input
/// file, a source, an image archive).
pub fn run(input: &Input, output: Option<&str>, force: bool) -> Result<()> {
    let spec = read(input)?;
    let inputs = protected(input, &spec)?;
    let (file, _) = locate(input)?;
    let source = std::path::absolute(&file)?;
    let out = output.map_or(Output::Stdout, Output::named);
    let dir = match &out {
        Output::Path(p) => std::path::absolute(p)?.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
        _ => source.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
    };
    let shown = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let header = vec![
        format!("Converted by `bimanix convert` from {shown}."),
        "Build it with `bimanix build args.nix` or `nix-build --arg args ./args.nix`.".to_string(),
    ];
    let text = crate::input::nixwrite::write(&spec, &dir, &header)?;
    output::refuse_inputs(&out, &inputs).context("-o")?;
    let Output::Path(target) = out else {
        std::io::stdout().write_all(text.as_bytes()).context("writing to standard output")?;
        return Ok(());
    };
    if target.exists() && !force {
        bail!(
            "{} exists; bimanix does not replace a file it may not have written (--force replaces it)",
            target.display()
        );
    }
    // Written like an image: never a device or a link replaced, nothing
    // left behind by a failure or a signal.
    crate::image::temp::remove_on_signals()?;
    output::file(&Output::Path(target.clone()), |f| {
        f.write_all(text.as_bytes()).with_context(|| format!("writing {}", target.display()))
    })?;
    status::status(&format!("wrote {}", target.display()));
    Ok(())
}
