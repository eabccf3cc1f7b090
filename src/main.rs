//! The `bimanix` command line: `build`, `check`, `inspect`, `convert`,
//! `index` and `push`, with `completions` and `manpage` for packagers.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use bimanix::commands::status::Verbosity;
use bimanix::commands::{self, UsageError, examples, report};
use bimanix::image::archive::Format;
use bimanix::image::compress::Compression;
use bimanix::imageread::Platform;
use bimanix::input::detect::{self, Kind};
use bimanix::input::foreign;
use bimanix::model::hostfile;
use bimanix::model::progress;
use bimanix::model::reference::{self, Reference};
use bimanix::model::spec::LayerMode;
use bimanix::registry::client::Connect;
use bimanix::registry::timeouts::Timeouts;
use bimanix::registry::tls::TlsOptions;
use bimanix::rules::compat::Options;
use bimanix::rules::versions::Targets;

/// Package unikernels and Linux guests as reproducible container images for urunc.
#[derive(Parser)]
#[command(name = "bimanix", version = env!("BIMANIX_VERSION"), about, long_about = None,
          after_help = examples::TOP)]
struct Cli {
    /// Print errors and warnings only: no status lines, no progress.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print the progress of long steps as lines where no bar is drawn
    /// (a pipe, a CI log).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an image archive from an args file, a Containerfile or a bunnyfile.
    #[command(after_help = examples::BUILD)]
    Build {
        #[command(flatten)]
        input: Input,
        #[command(flatten)]
        platform: PlatformArg,
        /// Output path; `-` writes to standard output (not a terminal).
        /// [default: <name>-<tag>.tar, runs of characters other than
        /// letters, digits, `.`, `_` and `-` turned into one `-`]
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
        /// How the files are cut into layers: auto puts each large artifact
        /// in a layer of its own, single writes one layer; overrides the
        /// args file's `layers`. [default: the args file's, else auto]
        #[arg(long, value_enum, value_name = "LAYERS")]
        layers: Option<LayersArg>,
        /// Attach an SBOM of the image (CycloneDX 1.6 JSON) beside it, as
        /// an OCI artifact whose subject is the image; oci-archive and
        /// oci-layout only.
        #[arg(long, value_enum, value_name = "FORMAT")]
        sbom: Option<SbomArg>,
        /// Attach a build attestation (an unsigned in-toto statement with a
        /// SLSA provenance v1 predicate) beside the image; oci-archive and
        /// oci-layout only.
        #[arg(long)]
        provenance: bool,
        /// Write the manifest digest (sha256:...) to FILE (`-` is standard
        /// output).
        #[arg(long, value_name = "FILE")]
        digestfile: Option<PathBuf>,
        /// Write what was built to FILE as JSON: name, tags, the manifest,
        /// config and layer digests and sizes, the platform, and docker
        /// buildx's keys (containerimage.digest, ...).
        #[arg(long, value_name = "FILE")]
        metadata_file: Option<PathBuf>,
    },
    /// Check an input file as `build` does, writing nothing.
    #[command(after_help = examples::CHECK)]
    Check {
        #[command(flatten)]
        input: Input,
        #[command(flatten)]
        platform: PlatformArg,
    },
    /// Print the args.nix that a Containerfile, bunnyfile or JSON args file
    /// stands for; building it gives the same image, byte for byte.
    #[command(after_help = examples::CONVERT)]
    Convert {
        #[command(flatten)]
        source: Source,
        /// Write to OUT instead of standard output (`-` is standard
        /// output); paths in it are then relative to OUT's directory.
        #[arg(short, long, value_name = "OUT")]
        output: Option<String>,
        /// Replace OUT if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Show an image archive or OCI layout (from any tool) and check it
    /// against urunc's rules. Exits 1 when the image is broken or urunc
    /// would reject it.
    #[command(after_help = examples::INSPECT)]
    Inspect {
        /// A docker-archive, OCI archive or OCI layout directory.
        image: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Inspect only the image for this platform (os/arch or
        /// os/arch/variant, e.g. linux/arm64) of a multi-platform index;
        /// without it, every image of the archive is inspected.
        #[arg(long, value_name = "PLATFORM", value_parser = platform)]
        platform: Option<String>,
        /// Accept unikernel types, hypervisors and pairs that a targeted
        /// urunc version does not run (warnings instead of errors).
        #[arg(long)]
        no_pair_check: bool,
        /// The urunc versions to judge the image for (the compatibility
        /// table always covers every known version).
        #[arg(long, value_name = "VERSIONS", default_value_t = Targets::default(), long_help = URUNC_HELP)]
        urunc: Targets,
    },
    /// Combine single-platform images (of bimanix or any tool) into one
    /// multi-platform OCI image index under one name and tag. Blobs are
    /// copied as they are, and so are the documents attached to the images
    /// (SBOM, attestation), each image's listed by its sha256-<hex> tag.
    #[command(after_help = examples::INDEX)]
    Index {
        /// The images: docker-archives, OCI archives or OCI layouts, one
        /// platform each, all of one name.
        #[arg(value_name = "IMAGE", required = true)]
        images: Vec<PathBuf>,
        /// Output path; `-` writes to standard output (not a terminal).
        /// [default: <name>-<tag>.tar, runs of characters other than
        /// letters, digits, `.`, `_` and `-` turned into one `-`]
        #[arg(short, long, value_name = "OUT")]
        output: Option<String>,
        /// oci-archive writes one tar (podman, skopeo oci-archive:,
        /// containerd); oci-layout writes a directory (skopeo oci:).
        #[arg(long, value_enum, default_value_t = IndexFormatArg::OciArchive)]
        format: IndexFormatArg,
        /// The index's name. [default: the name the images share]
        #[arg(long, value_name = "NAME", value_parser = image_name)]
        name: Option<String>,
        /// The index's tag. [default: the tag the images share, else latest]
        #[arg(long, value_name = "TAG", value_parser = image_tag)]
        tag: Option<String>,
        /// An annotation on the index itself, e.g.
        /// org.opencontainers.image.description=TEXT (GHCR shows a
        /// multi-platform package's description from it); repeat for more.
        #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = annotation)]
        annotations: Vec<(String, String)>,
    },
    /// Push an image archive or OCI layout to a registry: only the blobs
    /// the registry lacks are uploaded, and the manifest goes byte for byte.
    #[command(after_help = examples::PUSH)]
    Push(Box<PushArgs>),
    /// Writes the artifact layers of a partial args file (a builder of
    /// nix/image.nix).
    #[command(hide = true)]
    Layer {
        /// The environment variable holding the path of the JSON args.
        #[arg(long, value_name = "VAR")]
        args_from_env: String,
        /// An image path that gets a layer of its own whatever its size.
        #[arg(long = "artifact", value_name = "PATH")]
        artifacts: Vec<String>,
        /// Keep only the layers' digests, not their blobs.
        #[arg(long)]
        digest_only: bool,
        /// The directory to create.
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
    },
    /// Checks and plans an image as `build` does and writes its
    /// description, naming layers written by `layer` (a builder of
    /// nix/image.nix).
    #[command(hide = true)]
    Describe {
        #[command(flatten)]
        input: Input,
        /// A directory written by `layer`. Repeatable.
        #[arg(long = "parts", value_name = "DIR")]
        parts: Vec<PathBuf>,
        /// As for `build`.
        #[arg(long, value_enum, value_name = "COMPRESSION")]
        compression: Option<CompressionArg>,
        /// As for `build`.
        #[arg(long, value_enum, value_name = "LAYERS")]
        layers: Option<LayersArg>,
        /// The directory to create.
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        /// Also write the `stream` program for the description here.
        #[arg(long, value_name = "FILE")]
        stream: Option<PathBuf>,
        /// The archive format `--stream` writes.
        #[arg(long, value_enum, default_value_t = FormatArg::DockerArchive)]
        stream_format: FormatArg,
    },
    /// Describes the multi-platform index of images described by
    /// `describe` (a builder of nix/index.nix).
    #[command(hide = true)]
    DescribeIndex {
        /// A description directory, one per platform.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// The index's name.
        #[arg(long)]
        name: String,
        /// The index's tag.
        #[arg(long)]
        tag: String,
        /// As for `index`.
        #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = annotation)]
        annotations: Vec<(String, String)>,
        /// The directory to create.
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        /// Also write the `stream` program here.
        #[arg(long, value_name = "FILE")]
        stream: Option<PathBuf>,
        /// The archive format `--stream` writes: an index is an oci-archive.
        #[arg(long, value_enum, default_value_t = FormatArg::OciArchive)]
        stream_format: FormatArg,
    },
    /// Writes a `stream` or `copyTo*` program for a description (a
    /// builder of nix/image.nix).
    #[command(hide = true)]
    Launcher {
        /// stream, copyToRegistry, copyToDockerDaemon, copyToPodman or copyTo.
        #[arg(long, value_name = "PROGRAM")]
        run: String,
        /// The description's directory.
        #[arg(long, value_name = "DIR")]
        image: PathBuf,
        /// The archive format `stream` writes.
        #[arg(long, value_enum, default_value_t = FormatArg::DockerArchive)]
        format: FormatArg,
        /// Where the program goes (`stream`), or the directory whose bin/ gets it.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
    },
    /// Runs a `stream` or `copyTo*` program of nix/image.nix (its `#!` line).
    #[command(hide = true)]
    Launch {
        /// The program's script.
        script: PathBuf,
        /// Its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print a shell completion script.
    #[command(after_help = examples::COMPLETIONS)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (troff), or write one per command to a
    /// directory.
    #[command(after_help = examples::MANPAGE)]
    Manpage {
        /// Write bimanix.1 and bimanix-COMMAND.1 into DIR instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// `--platform` of build and check.
#[derive(clap::Args)]
struct PlatformArg {
    /// The image's platform, linux/ARCH (e.g. linux/arm64): sets the
    /// architecture over the input's; refused when the kernel is built
    /// for another. [default: the kernel's]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_parser = target_platform)]
    platform: Option<String>,
}

fn target_platform(text: &str) -> Result<String, String> {
    commands::target_platform(text).map_err(|e| format!("{e:#}"))
}

#[derive(Clone, Copy, ValueEnum)]
enum IndexFormatArg {
    OciArchive,
    OciLayout,
}

/// The long help of `--urunc`.
const URUNC_HELP: &str = "The urunc versions the image must work on: 0.5, 0.6, 0.7, 0.8 or main, a comma list \
(0.5,0.8) or a range (0.6-main). Errors for what one of them would reject or misread, warnings for what one would \
ignore. Default: the newest release, 0.8 (for build and check: the args file's `urunc`, if set).";

#[derive(clap::Args)]
struct Input {
    #[command(flatten)]
    source: Source,
    /// Accept unikernel types, hypervisors and pairs that a targeted urunc
    /// version does not run (warnings instead of errors).
    #[arg(long)]
    no_pair_check: bool,
    /// The urunc versions the image must work on [default: the args file's
    /// `urunc`, else 0.8].
    #[arg(long, value_name = "VERSIONS", long_help = URUNC_HELP)]
    urunc: Option<Targets>,
}

#[derive(clap::Args)]
struct Source {
    /// The input file: args.nix, a .json file with the same fields, a
    /// Containerfile/Dockerfile or a bunnyfile (told by name, else by
    /// content); or a directory, the build context, holding one of them
    /// (or the context of -f); `-` reads it from standard input, with paths
    /// relative to the current directory. [default: args.nix]
    #[arg(value_name = "FILE", conflicts_with = "args_from_env")]
    args: Option<PathBuf>,
    /// The Containerfile or bunnyfile, with FILE as its build context
    /// directory (as `docker build -f` and `bima build -f`); `-` reads it
    /// from standard input.
    #[arg(short = 'f', long = "file", value_name = "PATH", conflicts_with = "args_from_env")]
    file: Option<PathBuf>,
    /// Read the path of a JSON args file from environment variable VAR.
    /// This is how the Nix builder calls bimanix (passAsFile).
    #[arg(long, value_name = "VAR")]
    args_from_env: Option<String>,
    /// The kind of FILE, when its name and content do not tell.
    #[arg(long, value_enum, value_name = "KIND", conflicts_with = "args_from_env")]
    input_format: Option<KindArg>,
    /// Image name and tag (default tag: latest). A Containerfile or
    /// bunnyfile carries none: without --tag the image is named after the
    /// build context directory. For an args file it overrides name and tag.
    #[arg(short, long, value_name = "NAME[:TAG]", value_parser = tag, conflicts_with = "args_from_env")]
    tag: Option<(String, String)>,
    /// The image archive (docker-archive, OCI archive or layout) for an
    /// image reference that a FROM, COPY --from or bunnyfile `from:` names;
    /// bimanix never pulls. Repeatable.
    #[arg(long, value_name = "REFERENCE=ARCHIVE", value_parser = base, conflicts_with = "args_from_env")]
    base: Vec<(String, PathBuf)>,
    /// A Containerfile ARG value (NAME alone takes it from the environment;
    /// unset there, the ARG default applies). Repeatable.
    #[arg(long, value_name = "NAME=VALUE", value_parser = build_arg, conflicts_with = "args_from_env")]
    build_arg: Vec<(String, Option<String>)>,
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Nix,
    Json,
    Containerfile,
    Bunnyfile,
}

fn tag(text: &str) -> Result<(String, String), String> {
    foreign::parse_tag(text).map_err(|e| format!("{e:#}"))
}

fn base(text: &str) -> Result<(String, PathBuf), String> {
    foreign::parse_base(text).map_err(|e| format!("{e:#}"))
}

fn build_arg(text: &str) -> Result<(String, Option<String>), String> {
    foreign::parse_build_arg(text).map_err(|e| format!("{e:#}"))
}

fn image_name(text: &str) -> Result<String, String> {
    reference::check_name(text).map(|()| text.to_string())
}

fn image_tag(text: &str) -> Result<String, String> {
    reference::check_tag(text).map(|()| text.to_string())
}

fn platform(text: &str) -> Result<String, String> {
    Platform::parse(text).map(|_| text.to_string()).map_err(|e| format!("{e:#}"))
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    DockerArchive,
    OciArchive,
    OciLayout,
}

#[derive(Clone, Copy, ValueEnum)]
enum SbomArg {
    Cyclonedx,
}

#[derive(Clone, Copy, ValueEnum)]
enum LayersArg {
    Auto,
    Single,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::DockerArchive => Format::DockerArchive,
            FormatArg::OciArchive => Format::OciArchive,
            FormatArg::OciLayout => Format::OciLayout,
        }
    }
}

impl From<LayersArg> for LayerMode {
    fn from(l: LayersArg) -> LayerMode {
        match l {
            LayersArg::Auto => LayerMode::Auto,
            LayersArg::Single => LayerMode::Single,
        }
    }
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
    let matches = Cli::command().color(report::clap_colour()).try_get_matches().unwrap_or_else(|e| usage_exit(e));
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| usage_exit(e));
    commands::status::init(match (cli.quiet, cli.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    });
    match run(cli.command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) if e.downcast_ref::<detect::Misfit>().is_some() || e.downcast_ref::<UsageError>().is_some() => {
            usage(&format!("{e:#}"))
        }
        Err(e) => {
            eprint!("{}", report::render(&e, report::colour()));
            ExitCode::from(1)
        }
    }
}

fn run(command: Command) -> Result<bool> {
    match command {
        Command::Build {
            input,
            platform,
            output,
            format,
            compression,
            layers,
            sbom,
            provenance,
            digestfile,
            metadata_file,
        } => {
            let format = match format {
                FormatArg::DockerArchive => Format::DockerArchive,
                FormatArg::OciArchive => Format::OciArchive,
                FormatArg::OciLayout => Format::OciLayout,
            };
            let layers = layers.map(|l| match l {
                LayersArg::Auto => LayerMode::Auto,
                LayersArg::Single => LayerMode::Single,
            });
            let sbom = sbom.is_some();
            if (sbom || provenance) && format == Format::DockerArchive {
                usage(
                    "--sbom and --provenance attach documents beside the image, which a docker-archive cannot \
                     carry (docker load drops them); add --format oci-archive or --format oci-layout",
                );
            }
            let settings = commands::build::Settings {
                format,
                compression: compression.map(Compression::from),
                layers,
                sbom,
                provenance,
                digestfile,
                metadata_file,
            };
            commands::build::run(&input.into_checked(platform.platform), output.as_deref(), &settings)?;
            Ok(true)
        }
        Command::Check { input, platform } => {
            commands::check::run(&input.into_checked(platform.platform))?;
            Ok(true)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "bimanix", &mut std::io::stdout());
            Ok(true)
        }
        Command::Manpage { dir } => {
            let cmd = Cli::command();
            match dir {
                Some(dir) => clap_mangen::generate_to(cmd, &dir)
                    .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?,
                None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout()).context("writing the manual page")?,
            }
            Ok(true)
        }
        Command::Push(args) => {
            commands::push::run(&args.into_options()?)?;
            Ok(true)
        }
        Command::Convert { source, output, force } => {
            let input = Input { source, no_pair_check: false, urunc: None };
            commands::convert::run(&input.into_checked(None), output.as_deref(), force)?;
            Ok(true)
        }
        Command::Inspect { image, json, platform, no_pair_check, urunc } => {
            let opts = Options { targets: urunc, pair_check: !no_pair_check };
            let step = progress::step(|| format!("inspecting {}", image.display()), None, progress::Counted::Output);
            let inspected = commands::inspect::inspect_path(&image, &opts, platform.as_deref())
                .with_context(|| format!("inspecting {}", image.display()))?;
            drop(step);
            print!("{}", commands::inspect::render_inspected(&inspected, json));
            Ok(inspected.ok())
        }
        Command::Layer { args_from_env, artifacts, digest_only, output } => {
            commands::store::layer(&args_from_env, &artifacts, &output, !digest_only)?;
            Ok(true)
        }
        Command::Describe { input, parts, compression, layers, output, stream, stream_format } => {
            let settings = commands::build::Settings {
                format: Format::DockerArchive,
                compression: compression.map(Compression::from),
                layers: layers.map(LayerMode::from),
                sbom: false,
                provenance: false,
                digestfile: None,
                metadata_file: None,
            };
            commands::store::describe(&input.into_checked(None), &parts, &settings, &output)?;
            if let Some(stream) = stream {
                commands::store::launcher("stream", &output, stream_format.into(), &stream)?;
            }
            Ok(true)
        }
        Command::DescribeIndex { images, name, tag, annotations, output, stream, stream_format } => {
            if !matches!(stream_format, FormatArg::OciArchive) {
                usage("describe-index: an index streams as an oci-archive (--stream-format oci-archive)");
            }
            commands::store::describe_index(&images, &name, &tag, unique_annotations(annotations), &output)?;
            if let Some(stream) = stream {
                commands::store::launcher("stream", &output, Format::OciArchive, &stream)?;
            }
            Ok(true)
        }
        Command::Launcher { run, image, format, output } => {
            commands::store::launcher(&run, &image, format.into(), &output)?;
            Ok(true)
        }
        Command::Launch { script, args } => launch(&script, args),
        Command::Index { images, output, format, name, tag, annotations } => {
            let format = match format {
                IndexFormatArg::OciArchive => Format::OciArchive,
                IndexFormatArg::OciLayout => Format::OciLayout,
            };
            let annotations = unique_annotations(annotations);
            commands::index::run(&commands::index::Request { images, output, format, name, tag, annotations })?;
            Ok(true)
        }
    }
}

/// Runs the launcher `script` of nix/image.nix with the user's `args`.
fn launch(script: &std::path::Path, mut args: Vec<String>) -> Result<bool> {
    use commands::store::copy;
    let launch = commands::store::read_launcher(script)?;
    let image = &launch.image;
    let program = launch.command.as_str();
    let no_args = |args: &[String]| {
        if let Some(first) = args.first() {
            usage(&format!("{program} takes no arguments, not {first:?}"));
        }
    };
    match program {
        "stream" => {
            no_args(&args);
            copy::stream(image, commands::store::format_named(&launch.format)?)?;
        }
        "copyToDockerDaemon" | "copyToPodman" => {
            no_args(&args);
            copy::to_engine(image, if program == "copyToPodman" { "podman" } else { "docker" })?;
        }
        "copyToRegistry" => {
            let reference = match args.first() {
                Some(first) if !first.starts_with('-') => args.remove(0),
                _ => copy::default_reference(image)?,
            };
            push_to(image, &reference, args)?;
        }
        "copyTo" => {
            if args.is_empty() {
                usage("copyTo needs a DESTINATION: docker-archive:PATH, oci-archive:PATH, oci:DIR or docker://REF");
            }
            let destination = args.remove(0);
            match destination.strip_prefix("docker://") {
                Some(_) => push_to(image, &destination, args)?,
                None => {
                    no_args(&args);
                    let name = copy::to_destination(image, &destination)?;
                    eprintln!("bimanix: wrote {name} to {destination}");
                }
            }
        }
        other => bail!("{}: unknown program {other:?}", script.display()),
    }
    Ok(true)
}

/// Pushes the described `image` to `reference` with `flags`, which are
/// read as `bimanix push` reads its own.
fn push_to(image: &std::path::Path, reference: &str, flags: Vec<String>) -> Result<()> {
    let argv = ["bimanix".to_string(), "push".to_string(), image.display().to_string(), reference.to_string()];
    let cli = Cli::try_parse_from(argv.into_iter().chain(flags)).unwrap_or_else(|e| e.exit());
    let Command::Push(args) = cli.command else { bail!("internal: not a push") };
    commands::store::copy::registry(image, args.into_options()?)
}

impl Input {
    /// The input options, once the flags that clap cannot relate are
    /// checked (a usage error exits with 2).
    fn into_checked(self, architecture: Option<String>) -> commands::Input {
        let Input { source: s, no_pair_check, urunc } = self;
        if let Err(e) = foreign::check_bases(&s.base) {
            usage(&format!("{e:#}"));
        }
        let kind = s.input_format.map(|k| match k {
            KindArg::Nix => Kind::Nix,
            KindArg::Json => Kind::Json,
            KindArg::Containerfile => Kind::Containerfile,
            KindArg::Bunnyfile => Kind::Bunnyfile,
        });
        commands::Input {
            args: s.args,
            file: s.file,
            args_from_env: s.args_from_env,
            pair_check: !no_pair_check,
            urunc,
            kind,
            options: foreign::Options { tag: s.tag, bases: s.base, build_args: s.build_arg },
            architecture,
        }
    }
}

#[derive(clap::Args)]
struct PushArgs {
    /// A docker-archive, OCI archive or OCI layout directory (bimanix's, a
    /// multi-platform one, or any single image `inspect` reads).
    image: PathBuf,
    /// Where to: [docker://]REGISTRY/NAME[:TAG][@DIGEST]. Without a
    /// registry, Docker Hub (`hello` is docker.io/library/hello); without
    /// a tag, `latest`. Several references push once and tag each: the
    /// blobs go once per repository, mounted from the first repository of
    /// the same registry where the registry allows.
    #[arg(required = true, num_args = 1.., value_name = "REFERENCE")]
    references: Vec<String>,
    /// Credentials: USER:PASSWORD, or USER with --password-stdin, or USER
    /// alone to be asked for the password on the terminal.
    /// [default: from the auth files and credential helpers docker and podman use]
    #[arg(long, value_name = "USER[:PASSWORD]")]
    creds: Option<String>,
    /// Read the password for --creds USER from standard input.
    #[arg(long, requires = "creds")]
    password_stdin: bool,
    /// A directory of CA certificates (*.crt) to trust besides the
    /// system's, and a client certificate (NAME.cert with NAME.key).
    /// [default: /etc/containers/certs.d/REGISTRY, /etc/docker/certs.d/REGISTRY]
    #[arg(long, value_name = "DIR", conflicts_with = "plain_http")]
    cert_dir: Option<PathBuf>,
    /// Verify the registry's TLS certificate; --tls-verify=false turns it off.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    tls_verify: bool,
    /// Speak plain HTTP to the registry instead of HTTPS.
    #[arg(long)]
    plain_http: bool,
    /// The longest wait for any progress from the registry or its token
    /// service (connecting, the TLS handshake, each read and write): SECONDS,
    /// or a number with ms, s or m. A request must end within 4 times it (a
    /// blob upload gets its size at 64 KiB/s more), and a failed request is
    /// not retried once 4 times it have passed.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout)]
    timeout: std::time::Duration,
    /// Encode every layer for the push with the bytes `bimanix build
    /// --compression` writes; none pushes them uncompressed, so an image
    /// built uncompressed keeps its local digest. [default: layers stored
    /// uncompressed are gzipped and
    /// compressed ones go as they are, as docker and skopeo push; the
    /// digest then differs from an uncompressed build's, and push says so]
    #[arg(long, value_enum)]
    compression: Option<CompressionArg>,
    /// Write the digest of the pushed manifest (or index) to FILE.
    #[arg(long, value_name = "FILE")]
    digestfile: Option<PathBuf>,
    /// How many blobs to send at once (1 to 32).
    #[arg(long, value_name = "N", default_value_t = bimanix::registry::push::DEFAULT_JOBS,
          value_parser = clap::value_parser!(u16).range(1..=32))]
    jobs: u16,
    /// A repository of the same registry that may hold the image's blobs:
    /// the registry is asked to mount them from there instead of receiving
    /// them again (it refuses when it does not hold them, and they are
    /// uploaded). Repeatable. [besides: repositories pushed earlier in the
    /// same run, and those bimanix remembers pushing the blobs to, in
    /// $XDG_CACHE_HOME/bimanix/blobs.json]
    #[arg(long = "mount-from", value_name = "REPOSITORY", value_parser = parse_repository)]
    mount_from: Vec<String>,
    /// Blobs bigger than SIZE go in chunks of SIZE (a PATCH each), and an
    /// upload cut off by a reset or a server error goes on where the
    /// registry's upload stands; smaller blobs go in one request. SIZE in
    /// bytes, or with K, M or G (binary), from 1M to 4G; at least what the
    /// registry asks for (OCI-Chunk-Min-Length).
    #[arg(long, value_name = "SIZE", default_value = "32M", value_parser = parse_size)]
    chunk_size: u64,
}

/// Reads `--chunk-size`: bytes, or a number with K, M or G (KiB, MiB, GiB).
fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a size: write 33554432, 32M or 1G"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        other => return Err(format!("{other:?} is not a unit of size: use K, M or G")),
    };
    let bytes = number.checked_mul(scale).ok_or_else(|| format!("{text:?} is too large"))?;
    if !(1 << 20..=4 << 30).contains(&bytes) {
        return Err(format!("{text:?}: the chunk size must be between 1M and 4G"));
    }
    Ok(bytes)
}

/// Reads `--mount-from`: a repository path, without a registry.
fn parse_repository(text: &str) -> std::result::Result<String, String> {
    bimanix::model::reference::check_name(text)?;
    let first = text.split('/').next().unwrap_or_default();
    if text.contains('/') && (first.contains(['.', ':']) || first == "localhost") {
        return Err(format!(
            "{text:?} names a registry; give the repository alone (the registry is each REFERENCE's)"
        ));
    }
    Ok(text.to_string())
}

fn annotation(text: &str) -> std::result::Result<(String, String), String> {
    bimanix::model::oci::parse_annotation(text)
}

/// The annotations as a map; a key given twice is a usage error.
fn unique_annotations(given: Vec<(String, String)>) -> std::collections::BTreeMap<String, String> {
    let mut annotations = std::collections::BTreeMap::new();
    for (key, value) in given {
        if annotations.insert(key.clone(), value).is_some() {
            usage(&format!("--annotation {key} is given twice; give each key once"));
        }
    }
    annotations
}

fn parse_timeout(text: &str) -> std::result::Result<std::time::Duration, String> {
    bimanix::registry::timeouts::parse(text)
}

impl PushArgs {
    /// The options, once the flags that clap cannot relate are checked
    /// (a usage error exits with 2).
    fn into_options(self) -> Result<commands::push::Options> {
        for reference in &self.references {
            // `--tls-verify false` leaves `false` to be read as a Docker Hub image.
            if reference == "true" || reference == "false" {
                usage(&format!(
                    "unexpected argument '{reference}' after the reference: --tls-verify takes its value with =, as \
                     --tls-verify={reference}"
                ));
            }
            if let Err(e) = commands::push::hints::check_order(&self.image, reference) {
                usage(&e.0);
            }
        }
        let references: Vec<Reference> = self
            .references
            .iter()
            .map(|text| {
                Reference::parse(text).unwrap_or_else(|e| {
                    usage_exit(Cli::command().error(
                        clap::error::ErrorKind::ValueValidation,
                        format!("invalid value '{text}' for '<REFERENCE>': {e}"),
                    ))
                })
            })
            .collect();
        let reference = &references[0];
        if self.creds.is_some() && references.iter().any(|r| r.registry != reference.registry) {
            usage(&format!(
                "--creds gives the credentials of one registry, and the references name several ({} and {}); \
                 push to each registry on its own, or keep the credentials in an auth file (docker login)",
                reference.registry,
                references.iter().find(|r| r.registry != reference.registry).map_or("", |r| r.registry.as_str())
            ));
        }
        let creds = match self.creds.as_deref().map(|c| c.split_once(':').map_or((c, None), |(u, p)| (u, Some(p)))) {
            Some(("", _)) => usage("--creds needs a user name: --creds USER:PASSWORD"),
            Some((_, Some(_))) if self.password_stdin => {
                usage("--password-stdin reads the password, so --creds takes the user name only")
            }
            Some((user, None)) if !self.password_stdin => {
                Some((user.to_string(), password_from_terminal(user, reference)?))
            }
            Some((user, Some(password))) => Some((user.to_string(), password.to_string())),
            Some((user, None)) => Some((user.to_string(), password_from_stdin()?)),
            None => None,
        };
        Ok(commands::push::Options {
            image: self.image,
            references: references.clone(),
            creds,
            password_stdin: self.password_stdin,
            connect: Connect {
                tls: TlsOptions { verify: self.tls_verify, cert_dir: self.cert_dir },
                plain_http: self.plain_http,
                timeouts: Timeouts { idle: self.timeout },
            },
            compression: self.compression.map(Compression::from),
            digestfile: self.digestfile,
            jobs: usize::from(self.jobs),
            mount_from: self.mount_from,
            chunk_size: self.chunk_size,
        })
    }
}

/// The password for `--creds USER`, asked on the terminal without echo, as
/// skopeo does; without a terminal, a usage error that says how to pass it.
fn password_from_terminal(user: &str, reference: &Reference) -> Result<String> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        usage(&format!(
            "--creds {user} needs the password, and standard input is not a terminal to ask on: pass it with \
             --password-stdin (printf %s \"$PASSWORD\" | bimanix push ... --creds {user} --password-stdin)"
        ));
    }
    let prompt = format!("Password for {user} at {}: ", reference.registry);
    let password = rpassword::prompt_password(prompt).context("cannot read the password from the terminal")?;
    if password.is_empty() {
        usage("--creds: no password was typed");
    }
    Ok(password)
}

/// The most `--password-stdin` reads: tokens used as passwords run to a
/// few KiB.
const MAX_PASSWORD: u64 = 64 << 10;

/// How long `--password-stdin` waits for the password's line.
const PASSWORD_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The password `--password-stdin` reads: the first line of standard input
/// (without its line break), at most [`MAX_PASSWORD`] bytes, within
/// [`PASSWORD_WAIT`]. An empty one is a usage error, as `docker login` has
/// it. No message shows a byte of it.
fn password_from_stdin() -> Result<String> {
    let bytes =
        hostfile::read_stdin(MAX_PASSWORD, "the password", true, Some(PASSWORD_WAIT)).context("--password-stdin")?;
    let text =
        String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("--password-stdin: the password is not UTF-8 text"))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let password = text.strip_suffix('\r').unwrap_or(text);
    if password.is_empty() {
        usage(
            "--password-stdin: standard input holds no password; pipe it in, e.g. printf %s \"$PASSWORD\" | bimanix push ...",
        );
    }
    Ok(password.to_string())
}

/// Exits with a usage error (status 2).
fn usage(message: &str) -> ! {
    usage_exit(Cli::command().error(clap::error::ErrorKind::ArgumentConflict, message))
}

/// Exits as clap does (help and version on standard output, status 0), but
/// with usage errors in the form of bimanix's other errors.
fn usage_exit(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if !e.use_stderr() || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        e.exit()
    }
    eprint!("{}", report::render_usage(&e, report::colour()));
    std::process::exit(2)
}
