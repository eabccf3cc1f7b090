//! The `bimanix` command line: `build`, `check`, `inspect` and `index`.

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
        /// Inspect only the image for this platform (os/arch or
        /// os/arch/variant, e.g. linux/arm64) of a multi-platform index;
        /// without it, every image of the archive is inspected.
        #[arg(long, value_name = "PLATFORM")]
        platform: Option<String>,
        /// Accept unikernel type / hypervisor pairs that this urunc table
        /// does not list (for newer urunc).
        #[arg(long)]
        no_pair_check: bool,
    },
    /// Combine single-platform images (of bimanix or any tool) into one
    /// multi-platform OCI image index under one name and tag. Blobs are
    /// copied as they are.
    Index {
        /// The images: docker-archives, OCI archives or OCI layouts, one
        /// platform each, all of one name.
        #[arg(value_name = "IMAGE", required = true)]
        images: Vec<PathBuf>,
        /// Output path; `-` writes to standard output.
        /// [default: <name>-<tag>.tar, with `/` in the name turned into `-`]
        #[arg(short, long, value_name = "OUT")]
        output: Option<String>,
        /// oci-archive writes one tar (podman, skopeo oci-archive:,
        /// containerd); oci-layout writes a directory (skopeo oci:).
        #[arg(long, value_enum, default_value_t = IndexFormatArg::OciArchive)]
        format: IndexFormatArg,
        /// The index's name. [default: the name the images share]
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// The index's tag. [default: the tag the images share, else latest]
        #[arg(long, value_name = "TAG")]
        tag: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum IndexFormatArg {
    OciArchive,
    OciLayout,
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
        Command::Inspect { image, json, platform, no_pair_check } => {
            let opts = Options { pair_check: !no_pair_check };
            let inspected = commands::inspect::inspect_path(&image, &opts, platform.as_deref())
                .with_context(|| format!("inspecting {}", image.display()))?;
            print!("{}", commands::inspect::render_inspected(&inspected, json));
            Ok(inspected.ok())
        }
        Command::Index { images, output, format, name, tag } => {
            let format = match format {
                IndexFormatArg::OciArchive => Format::OciArchive,
                IndexFormatArg::OciLayout => Format::OciLayout,
            };
            commands::index::run(&commands::index::Request { images, output, format, name, tag })?;
            Ok(true)
        }
    }
}

impl From<Input> for commands::Input {
    fn from(input: Input) -> commands::Input {
        commands::Input { args: input.args, args_from_env: input.args_from_env, pair_check: !input.no_pair_check }
    }
}
