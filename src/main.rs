//! The `bimanix` command line: `build`, `check` and `inspect`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use bimanix::archive::{self, Output};
use bimanix::args::{self, Syntax};
use bimanix::validate::{self, Checked};

/// Package unikernels and Linux guests as reproducible container images for urunc.
#[derive(Parser)]
#[command(name = "bimanix", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an image archive from an args file.
    Build {
        #[command(flatten)]
        input: Input,
        /// Output path; `-` writes to standard output.
        /// [default: <name>-<tag>.tar, with `/` in the name turned into `-`]
        #[arg(short, long, value_name = "OUT")]
        output: Option<String>,
        /// Archive format: docker-archive loads in docker, podman, skopeo and
        /// containerd; oci-archive is the same without manifest.json;
        /// oci-layout writes a directory.
        #[arg(long, value_enum, default_value_t = FormatArg::DockerArchive)]
        format: FormatArg,
    },
    /// Check an args file as `build` does, writing nothing.
    Check {
        #[command(flatten)]
        input: Input,
    },
    /// Show an image archive or OCI layout (from any tool) and check it
    /// against urunc's rules. Exits 1 when the image is broken or urunc
    /// would reject it.
    Inspect {
        /// A docker-archive, OCI archive or OCI layout directory.
        image: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Accept unikernel type / hypervisor pairs that this urunc table
        /// does not list (for newer urunc).
        #[arg(long)]
        no_pair_check: bool,
    },
}

#[derive(clap::Args)]
struct Input {
    /// The args file: args.nix, or a .json file with the same fields.
    #[arg(value_name = "ARGS", default_value = "args.nix", conflicts_with = "args_from_env")]
    args: PathBuf,
    /// Read the path of a JSON args file from environment variable VAR.
    /// This is how the Nix builder calls bimanix (passAsFile).
    #[arg(long, value_name = "VAR")]
    args_from_env: Option<String>,
    /// Accept unikernel type / hypervisor pairs that this urunc table does
    /// not list (for newer urunc).
    #[arg(long)]
    no_pair_check: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    DockerArchive,
    OciArchive,
    OciLayout,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("bimanix: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(command: Command) -> Result<bool> {
    match command {
        Command::Build { input, output, format } => {
            let checked = load(&input)?;
            let format = match format {
                FormatArg::DockerArchive => archive::Format::DockerArchive,
                FormatArg::OciArchive => archive::Format::OciArchive,
                FormatArg::OciLayout => archive::Format::OciLayout,
            };
            let out = match output.as_deref() {
                Some("-") => Output::Stdout,
                Some(p) => Output::Path(PathBuf::from(p)),
                None => Output::Path(PathBuf::from(format!(
                    "{}-{}{}",
                    checked.spec.name.replace('/', "-"),
                    checked.spec.tag,
                    if matches!(format, archive::Format::OciLayout) { "" } else { ".tar" }
                ))),
            };
            let (name, tag) = (checked.spec.name.clone(), checked.spec.tag.clone());
            let plan = bimanix::plan::plan(checked)?;
            let written = bimanix::build::write(plan, format, &out)?;
            let shown = match &out {
                Output::Path(p) => p.display().to_string(),
                Output::Stdout => "standard output".to_string(),
            };
            eprintln!("bimanix: wrote {name}:{tag} to {shown} (manifest {})", written.manifest.digest);
            Ok(true)
        }
        Command::Check { input } => {
            let checked = load(&input)?;
            let summary = format!(
                "{} is valid: {}:{} for linux/{}",
                checked.spec.locations.file, checked.spec.name, checked.spec.tag, checked.architecture
            );
            // Planning walks the sources, which finds collisions inside
            // copied directories; it reads no file contents and writes nothing.
            bimanix::plan::plan(checked)?;
            eprintln!("bimanix: {summary}");
            Ok(true)
        }
        Command::Inspect { image, json, no_pair_check } => {
            let report = bimanix::inspect::inspect(&image, &bimanix::urunc::Options { pair_check: !no_pair_check })
                .with_context(|| format!("inspecting {}", image.display()))?;
            let text =
                if json { bimanix::inspect::render_json(&report) } else { bimanix::inspect::render_text(&report) };
            print!("{text}");
            Ok(report.ok())
        }
    }
}

/// Reads and validates the args file named on the command line.
fn load(input: &Input) -> Result<Checked> {
    let spec = match &input.args_from_env {
        Some(var) => {
            let p = std::env::var_os(var)
                .with_context(|| format!("environment variable {var} (from --args-from-env) is not set"))?;
            args::read_as(Path::new(&p), Syntax::Json, "mkUruncImage arguments".to_string())?
        }
        None => args::read(&input.args, Syntax::of(&input.args))?,
    };
    let opts = validate::Options {
        pair_check: !input.no_pair_check,
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok(),
    };
    let checked = validate::validate(spec, &opts)?;
    for w in &checked.warnings {
        eprintln!("bimanix: warning: {w}");
    }
    Ok(checked)
}
