//! The `bimanix` command line: `build`, `check` and `inspect`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use bimanix::commands;
use bimanix::image::archive::Format;
use bimanix::image::compress::Compression;
use bimanix::rules::urunc::Options;

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
        /// Layer compression; overrides the args file's `compression`.
        /// [default: the args file's, else none]
        #[arg(long, value_enum, value_name = "COMPRESSION")]
        compression: Option<CompressionArg>,
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

#[derive(Clone, Copy, ValueEnum)]
enum CompressionArg {
    None,
    Gzip,
    Zstd,
}

impl From<CompressionArg> for Compression {
    fn from(c: CompressionArg) -> Compression {
        match c {
            CompressionArg::None => Compression::None,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        }
    }
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
        Command::Build { input, output, format, compression } => {
            let format = match format {
                FormatArg::DockerArchive => Format::DockerArchive,
                FormatArg::OciArchive => Format::OciArchive,
                FormatArg::OciLayout => Format::OciLayout,
            };
            commands::build::run(&input.into(), output.as_deref(), format, compression.map(Compression::from))?;
            Ok(true)
        }
        Command::Check { input } => {
            commands::check::run(&input.into())?;
            Ok(true)
        }
        Command::Inspect { image, json, no_pair_check } => {
            let report = commands::inspect::inspect(&image, &Options { pair_check: !no_pair_check })
                .with_context(|| format!("inspecting {}", image.display()))?;
            let text =
                if json { commands::inspect::render_json(&report) } else { commands::inspect::render_text(&report) };
            print!("{text}");
            Ok(report.ok())
        }
    }
}

impl From<Input> for commands::Input {
    fn from(input: Input) -> commands::Input {
        commands::Input { args: input.args, args_from_env: input.args_from_env, pair_check: !input.no_pair_check }
    }
}
