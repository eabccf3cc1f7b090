//! The commands, on top of the stages: [`build`] reads, checks, plans and
//! writes an image; [`check`] does all of that short of writing;
//! [`inspect`] reads an image of any tool and checks it against urunc's
//! rules; [`convert`] writes the args.nix a Containerfile or bunnyfile
//! stands for; [`index`] combines images of several platforms into one;
//! [`push`] publishes an image to a registry; [`report`] prints errors
//! as rustc does; [`status`] is what they say besides errors (status lines
//! and progress, by `-q`/`-v`); [`examples`] end each command's `--help`;
//! [`store`] builds and runs the Nix store's parts of an image (its
//! layers, `stream`, `copyTo*`).

pub mod build;
pub mod check;
pub mod convert;
pub mod examples;
pub mod index;
pub mod inspect;
pub mod push;
#[cfg(test)]
mod regressions;
pub mod report;
pub mod status;
pub mod store;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::image::archive::Format;
use crate::image::output::{self, Output, Protected};
use crate::image::plan::Checked;
use crate::input::args;
use crate::input::detect::{self, Kind};
use crate::input::foreign::{self, Read};
use crate::model::diagnostic::Diagnostics;
use crate::model::hostfile;
use crate::model::progress::Counted;
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
    /// `--platform`: the architecture, over the input's; the kernel's
    /// must agree.
    pub architecture: Option<String>,
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

/// Reads the input into the input model, printing the reader's warnings;
/// any error of the reader is an error.
pub fn read(input: &Input) -> Result<Spec> {
    let spec = read_unchecked(input)?;
    Diagnostics(spec.locations.errors.clone()).into_result()?;
    Ok(spec)
}

/// Reads the input, leaving in the spec the reader's errors that still
/// gave one, for validation to report with its own.
fn read_unchecked(input: &Input) -> Result<Spec> {
    let read = match &input.args_from_env {
        Some(var) => {
            let p = std::env::var_os(var)
                .with_context(|| format!("environment variable {var} (from --args-from-env) is not set"))?;
            // The arguments carry where their keys were written (nix/positions.nix).
            let spec = args::read_nix_json(Path::new(&p), "mkUruncImage arguments".to_string())?;
            Read { spec, warnings: Vec::new() }
        }
        None => {
            let (file, context) = locate(input)?;
            if file == Path::new("-") {
                let bytes = hostfile::read_stdin(crate::input::MAX_ARGS_FILE, "the input file", false, None)
                    .with_context(|| format!("cannot read {}", crate::input::STDIN))?;
                let _ = STDIN_DIGEST.set(crate::model::oci::sha256_digest(&bytes));
                detect::read_stdin(bytes, context.as_deref(), input.kind, &input.options)?
            } else {
                let kind = input.kind.unwrap_or_else(|| Kind::of(&file));
                let _step =
                    crate::model::progress::step(|| format!("reading {}", file.display()), None, Counted::Output);
                detect::read(&file, context.as_deref(), kind, &input.options)?
            }
        }
    };
    for w in &read.warnings {
        eprintln!("bimanix: warning: {w}");
    }
    Ok(read.spec)
}

/// The file the input is read from: the args file, Containerfile or
/// bunnyfile (not the build context around it, which only the files a
/// spec copies come from); `/dev/stdin` for `-`, which is the file
/// standard input was redirected from.
pub fn input_file(input: &Input) -> Result<PathBuf> {
    match &input.args_from_env {
        Some(var) => std::env::var_os(var)
            .map(PathBuf::from)
            .with_context(|| format!("environment variable {var} (from --args-from-env) is not set")),
        None => match locate(input)?.0 {
            stdin if stdin == Path::new("-") => Ok(PathBuf::from("/dev/stdin")),
            file => Ok(file),
        },
    }
}

/// The digest of the input read from standard input, which cannot be read
/// twice, for the attestation (see `build`'s input digest).
pub static STDIN_DIGEST: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The names a build context directory is searched for, as `docker build .`
/// looks for its Dockerfile.
const CONTEXT_FILES: &[&str] = &["Containerfile", "Dockerfile", "bunnyfile", "args.nix"];

/// The input file and, with `-f`, the build context directory it is read
/// in; `-` is standard input.
pub fn locate(input: &Input) -> Result<(PathBuf, Option<PathBuf>)> {
    match (&input.args, &input.file) {
        (None, None) => Ok((PathBuf::from("args.nix"), None)),
        (None, Some(file)) => Ok((file.clone(), None)),
        (Some(dir), Some(file)) if dir.is_dir() => Ok((file.clone(), Some(dir.clone()))),
        (Some(other), Some(_)) => bail!("{}: with -f, give the build context directory", other.display()),
        (Some(dir), None) if dir.is_dir() => {
            // A name that is there but not a file is found, to be refused as what it is.
            let found: Vec<&str> = CONTEXT_FILES.iter().copied().filter(|n| dir.join(n).exists()).collect();
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
    let mut spec = read_unchecked(input)?;
    if let Some(arch) = &input.architecture {
        spec.architecture = Some(arch.clone());
        // Errors about it name the flag, not the file's field.
        spec.locations.keys.remove("architecture");
        spec.locations.names.insert("architecture".to_string(), format!("--platform linux/{arch}"));
    }
    // The reader's errors come first: a step before validation may fail because of them.
    let pending = spec.locations.errors.clone();
    let first = |e: anyhow::Error| if pending.is_empty() { e } else { Diagnostics(pending.clone()).into() };
    // Before extraction turns files in images into scratch copies.
    let inputs = protected(input, &spec).map_err(first)?;
    let file = spec.locations.file.clone();
    let step = crate::model::progress::step(|| format!("checking {file}"), None, Counted::Output);
    let extracted = crate::input::image_files::extract(&mut spec).map_err(first)?;
    let targets = targets(input, &spec).map_err(first)?;
    let opts = validate::Options {
        urunc: compat::Options { targets, pair_check: input.pair_check },
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok(),
    };
    let checked = validate::validate(spec, &opts)?;
    drop(step);
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
        None => Output::Path(PathBuf::from(default_name(name, tag, layout))),
    };
    let which = if arg.is_none() { "the default output name (give another with -o)" } else { "-o" };
    if !layout && is_terminal(&out) {
        let to = if out == Output::Stdout { "standard output" } else { "-o" };
        return Err(UsageError(format!(
            "cowardly refusing to write an image archive to a terminal ({to}); redirect it (> image.tar, | docker \
             load) or name a file with -o"
        ))
        .into());
    }
    output::precheck(&out, layout).context(which)?;
    output::refuse_inputs(&out, inputs).context(which)?;
    let shown = match &out {
        Output::Path(p) => p.display().to_string(),
        _ => "standard output".to_string(),
    };
    Ok((out, shown))
}

/// The architecture `--platform OS/ARCH[/VARIANT]` names for `build` and
/// `check`: OS must be linux (urunc boots Linux-style guests), ARCH an OCI
/// name (or x86_64, aarch64), and VARIANT, when given, the one images of
/// ARCH have without saying (v8 for arm64), since the config bimanix
/// writes names none.
pub fn target_platform(text: &str) -> Result<String> {
    let platform = crate::imageread::Platform::parse(text)?;
    if platform.os != "linux" {
        bail!("platform {text:?}: urunc images are linux/<arch> (e.g. linux/arm64), not {}", platform.os);
    }
    let arch = foreign::oci_arch(&platform.architecture);
    if !crate::rules::arch::KNOWN.contains(&arch.as_str()) {
        let hint = crate::rules::suggest::did_you_mean(&arch, crate::rules::arch::KNOWN)
            .map(|s| format!("did you mean {s:?}? "))
            .unwrap_or_default();
        bail!(
            "platform {text:?}: {arch:?} is not an OCI architecture; {hint}allowed: {}",
            crate::rules::arch::KNOWN.join(", ")
        );
    }
    if let Some(variant) = &platform.variant {
        match crate::model::oci::default_variant(&arch) {
            Some(implied) if implied == variant => {}
            Some(implied) => bail!(
                "platform {text:?}: bimanix writes linux/{arch} images, whose variant is {implied}; {variant} is not \
                 supported (write linux/{arch})"
            ),
            None => bail!("platform {text:?}: {arch} has no variants; write linux/{arch}"),
        }
    }
    Ok(arch)
}

/// The default output name of image `name:tag`: `<name>-<tag>.tar` (no
/// `.tar` for a layout directory) with every run of characters other than
/// letters, digits, `.`, `_` and `-` turned into one `-`, so that the name
/// holds no `/`, and no `:` or `@`, which image transports read as
/// separators (`skopeo oci-archive:PATH:REF`): `127.0.0.1:5000/team/app`
/// tag `1.0` gives `127.0.0.1-5000-team-app-1.0.tar`. The Nix builders
/// name their store paths by the same rule.
pub fn default_name(name: &str, tag: &str, layout: bool) -> String {
    let mut out = String::new();
    for c in format!("{name}-{tag}").chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    if !layout {
        out.push_str(".tar");
    }
    out
}

/// Whether an output is a terminal: standard output on one, or `-o` naming
/// a terminal device.
fn is_terminal(out: &Output) -> bool {
    use std::io::IsTerminal;
    match out {
        Output::Stdout => std::io::stdout().is_terminal(),
        Output::Discard => false,
        Output::Path(path) => {
            use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
            let char_device = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device());
            // Opening a terminal without becoming its controlling process changes nothing.
            char_device
                && std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
                    .open(path)
                    .is_ok_and(|f| f.is_terminal())
        }
    }
}

/// A usage error found past clap (exit status 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Checks, before anything is built, a small file written beside the image
/// (`--digestfile`, `--metadata-file`; `-` is standard output): writable,
/// not one of `inputs`, and not `image` (the image's own output).
pub fn side_output(path: &Path, inputs: &[Protected], image: Option<&Output>) -> Result<Output> {
    let out = path.to_str().map_or_else(|| Output::Path(path.to_path_buf()), Output::named);
    output::precheck(&out, false)?;
    output::refuse_inputs(&out, inputs)?;
    if let Some(image) = image
        && same_output(&out, image)
    {
        bail!("it is also where the image goes; name another file");
    }
    Ok(out)
}

/// Whether two outputs are one place: both standard output, or paths that
/// lead to one file (or to one new name).
fn same_output(a: &Output, b: &Output) -> bool {
    match (a, b) {
        (Output::Stdout, Output::Stdout) => true,
        (Output::Path(a), Output::Path(b)) => {
            let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
            let new = |p: &Path| std::path::absolute(p).ok();
            match (id(a), id(b)) {
                (Some(x), Some(y)) => x == y,
                _ => new(a).is_some() && new(a) == new(b),
            }
        }
        _ => false,
    }
}

/// Writes a small file checked by [`side_output`] as any output is
/// written: a regular file (or a new one) is replaced as a whole, never
/// left half-written; a device or FIFO (a pipe) is written into.
pub fn write_side(out: &Output, bytes: &[u8]) -> Result<()> {
    output::file(out, |file| Ok(std::io::Write::write_all(file, bytes)?))
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
