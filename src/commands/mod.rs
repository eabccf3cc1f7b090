//! The commands, on top of the stages: [`build`] reads, checks, plans and
//! writes an image; [`check`] does all of that short of writing;
//! [`inspect`] reads an image of any tool and checks it against urunc's
//! rules; [`convert`] writes the args.nix a Containerfile or bunnyfile
//! stands for; [`index`] combines images of several platforms into one;
//! [`push`] publishes an image to a registry; [`store`] builds and runs
//! the Nix store's parts of an image (its layers, `stream`, `copyTo*`).

pub mod build;
pub mod check;
pub mod convert;
pub mod index;
pub mod inspect;
pub mod push;
#[cfg(test)]
mod regressions;
pub mod store;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::image::archive::Format;
use crate::image::output::{self, Output, Protected};
use crate::image::plan::Checked;
use crate::input::args;
use crate::input::detect::{self, Kind};
use crate::input::foreign::{self, Read};
use crate::model::spec::Spec;
use crate::rules::compat;
use crate::rules::validate;
use crate::rules::versions::Targets;

/// Where `build` and `check` read their input from, and how strictly.
#[derive(Clone, Debug)]
pub struct Input {
    /// The input file: args.nix, a `.json` file with the same fields, a
    /// Containerfile or a bunnyfile; or, as for `docker build`, a directory
    /// (the build context) holding one of them, or the context of `file`.
    pub args: Option<PathBuf>,
    /// `-f FILE`: the Containerfile or bunnyfile, when `args` is the
    /// build context directory.
    pub file: Option<PathBuf>,
    /// An environment variable holding the path of a JSON args file (the
    /// Nix builder's way in); overrides `args`.
    pub args_from_env: Option<String>,
    /// Refuse unikernel type / hypervisor pairs urunc does not run.
    pub pair_check: bool,
    /// The urunc versions the image must work on (`--urunc`); overrides the
    /// args file's `urunc`. Neither: the newest release.
    pub urunc: Option<Targets>,
    /// The kind of `args` (`--input-format`); told from its name or
    /// content when `None`.
    pub kind: Option<Kind>,
    /// `--tag`, `--base`, `--build-arg`.
    pub options: foreign::Options,
}

/// A checked input, with the scratch directory of files copied out of
/// images, which must live until the image is written.
pub struct Loaded {
    /// The checked spec.
    pub checked: Checked,
    /// Every file the input reads, which an output must not replace.
    pub inputs: Vec<Protected>,
    /// Files copied out of images (removed when dropped).
    _extracted: Option<crate::image::temp::Named>,
}

/// Reads the input into the input model, printing the reader's warnings.
pub fn read(input: &Input) -> Result<Spec> {
    let read = match &input.args_from_env {
        Some(var) => {
            let p = std::env::var_os(var)
                .with_context(|| format!("environment variable {var} (from --args-from-env) is not set"))?;
            let spec = args::read_nix_json(Path::new(&p), "mkUruncImage arguments".to_string())?;
            Read { spec, warnings: Vec::new() }
        }
        None => {
            let (file, context) = locate(input)?;
            let kind = input.kind.unwrap_or_else(|| Kind::of(&file));
            detect::read(&file, context.as_deref(), kind, &input.options)?
        }
    };
    for w in &read.warnings {
        eprintln!("bimanix: warning: {w}");
    }
    Ok(read.spec)
}

/// The file the input is read from: the args file, Containerfile or
/// bunnyfile (not the build context around it, which only the files a
/// spec copies come from).
pub fn input_file(input: &Input) -> Result<PathBuf> {
    match &input.args_from_env {
        Some(var) => std::env::var_os(var)
            .map(PathBuf::from)
            .with_context(|| format!("environment variable {var} (from --args-from-env) is not set")),
        None => Ok(locate(input)?.0),
    }
}

/// The names a build context directory is searched for, as `docker build .`
/// looks for its Dockerfile.
const CONTEXT_FILES: &[&str] = &["Containerfile", "Dockerfile", "bunnyfile", "args.nix"];

/// The input file and, with `-f`, the build context directory it is read in.
pub fn locate(input: &Input) -> Result<(PathBuf, Option<PathBuf>)> {
    match (&input.args, &input.file) {
        (None, None) => Ok((PathBuf::from("args.nix"), None)),
        (None, Some(file)) => Ok((file.clone(), None)),
        (Some(dir), Some(file)) if dir.is_dir() => Ok((file.clone(), Some(dir.clone()))),
        (Some(other), Some(_)) => bail!("{}: with -f, give the build context directory", other.display()),
        (Some(dir), None) if dir.is_dir() => {
            let found: Vec<&str> = CONTEXT_FILES.iter().copied().filter(|n| dir.join(n).is_file()).collect();
            match found.as_slice() {
                [one] => Ok((dir.join(one), None)),
                [] => bail!("{} holds none of {}; name the file (or use -f)", dir.display(), CONTEXT_FILES.join(", ")),
                several => {
                    bail!("{} holds {}; name the one to build (or use -f)", dir.display(), several.join(" and "))
                }
            }
        }
        (Some(file), None) => Ok((file.clone(), None)),
    }
}

/// Reads and validates the input, printing the warnings.
pub fn load(input: &Input) -> Result<Loaded> {
    let mut spec = read(input)?;
    // Before extraction turns files in images into scratch copies.
    let inputs = protected(input, &spec)?;
    let extracted = crate::input::image_files::extract(&mut spec)?;
    let targets = targets(input, &spec)?;
    let opts = validate::Options {
        urunc: compat::Options { targets, pair_check: input.pair_check },
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok(),
    };
    let checked = validate::validate(spec, &opts)?;
    for w in &checked.warnings {
        eprintln!("bimanix: warning: {w}");
    }
    Ok(Loaded { checked, inputs, _extracted: extracted })
}

/// Where `build` or `index` writes the image `name:tag`: `-o` (`arg`), else
/// `<name>-<tag>.tar` (a directory for a layout), checked, before anything
/// is written, to be writable and to replace none of `inputs`; with the
/// way messages show it.
pub fn image_output(
    arg: Option<&str>,
    (name, tag): (&str, &str),
    format: Format,
    inputs: &[Protected],
) -> Result<(Output, String)> {
    let layout = format == Format::OciLayout;
    let out = match arg {
        Some(arg) => Output::named(arg),
        None => {
            Output::Path(PathBuf::from(format!("{}-{tag}{}", name.replace('/', "-"), if layout { "" } else { ".tar" })))
        }
    };
    let which = if arg.is_none() { "the default output name (give another with -o)" } else { "-o" };
    output::precheck(&out, layout).context(which)?;
    output::refuse_inputs(&out, inputs).context(which)?;
    let shown = match &out {
        Output::Path(p) => p.display().to_string(),
        _ => "standard output".to_string(),
    };
    Ok((out, shown))
}

/// Everything `spec` (read from `input`) reads, which an output must not
/// replace: the input file, every host source, every image archive a file
/// is copied out of, the base images.
pub fn protected(input: &Input, spec: &Spec) -> Result<Vec<Protected>> {
    // Named as the input file says them, with their position.
    let at = |key: &str| spec.locations.at(key);
    let entry = |path: &Path, what: String| Protected { path: path.to_path_buf(), what };
    let mut inputs = vec![entry(&input_file(input)?, "the input file".to_string())];
    let rootfs = spec.rootfs.as_ref();
    for f in spec.files.iter().chain(rootfs.iter().flat_map(|r| &r.files)) {
        match &f.from_image {
            Some(image) => inputs.push(entry(image, format!("{} (its image)", at(&f.key)))),
            None => inputs.push(entry(&f.source, at(&f.key))),
        }
    }
    inputs.extend(spec.from_image.iter().map(|p| entry(p, at("fromImage"))));
    inputs.extend(rootfs.and_then(|r| r.from_image.as_ref()).map(|p| entry(p, at("rootfs.fromImage"))));
    Ok(inputs)
}

/// The urunc versions to check for: `--urunc`, else the args file's
/// `urunc`, else the newest release.
pub fn targets(input: &Input, spec: &Spec) -> Result<Targets> {
    Ok(match (&input.urunc, &spec.urunc) {
        (Some(targets), _) => targets.clone(),
        // The reader has checked it already.
        (None, Some(text)) => Targets::parse(text).map_err(anyhow::Error::msg)?,
        (None, None) => Targets::default(),
    })
}
