//! The `bimanix` command line: `build`, `check`, `inspect` and `push`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{ArgAction, CommandFactory, Parser, Subcommand, ValueEnum};

use bimanix::commands;
use bimanix::image::archive::Format;
use bimanix::model::reference::Reference;
use bimanix::registry::client::Connect;
use bimanix::registry::tls::TlsOptions;
use bimanix::rules::compat::Options;
use bimanix::rules::versions::Targets;

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
        /// Accept unikernel types, hypervisors and pairs that a targeted
        /// urunc version does not run (warnings instead of errors).
        #[arg(long)]
        no_pair_check: bool,
        /// The urunc versions to judge the image for (the compatibility
        /// table always covers every known version).
        #[arg(long, value_name = "VERSIONS", default_value_t = Targets::default(), long_help = URUNC_HELP)]
        urunc: Targets,
    },
    /// Push an image archive or OCI layout to a registry: only the blobs
    /// the registry lacks are uploaded, and the manifest goes byte for byte.
    Push(Box<PushArgs>),
}

/// The long help of `--urunc`.
const URUNC_HELP: &str = "The urunc versions the image must work on: 0.5, 0.6, 0.7, 0.8 or main, a comma list \
(0.5,0.8) or a range (0.6-main). Errors for what one of them would reject or misread, warnings for what one would \
ignore. Default: the newest release, 0.8 (for build and check: the args file's `urunc`, if set).";

#[derive(clap::Args)]
struct Input {
    /// The args file: args.nix, or a .json file with the same fields.
    #[arg(value_name = "ARGS", default_value = "args.nix", conflicts_with = "args_from_env")]
    args: PathBuf,
    /// Read the path of a JSON args file from environment variable VAR.
    /// This is how the Nix builder calls bimanix (passAsFile).
    #[arg(long, value_name = "VAR")]
    args_from_env: Option<String>,
    /// Accept unikernel types, hypervisors and pairs that a targeted urunc
    /// version does not run (warnings instead of errors).
    #[arg(long)]
    no_pair_check: bool,
    /// The urunc versions the image must work on [default: the args file's
    /// `urunc`, else 0.8].
    #[arg(long, value_name = "VERSIONS", long_help = URUNC_HELP)]
    urunc: Option<Targets>,
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
            let format = match format {
                FormatArg::DockerArchive => Format::DockerArchive,
                FormatArg::OciArchive => Format::OciArchive,
                FormatArg::OciLayout => Format::OciLayout,
            };
            commands::build::run(&input.into(), output.as_deref(), format)?;
            Ok(true)
        }
        Command::Check { input } => {
            commands::check::run(&input.into())?;
            Ok(true)
        }
        Command::Push(args) => {
            commands::push::run(&args.into_options()?)?;
            Ok(true)
        }
        Command::Inspect { image, json, no_pair_check, urunc } => {
            let report = commands::inspect::inspect(&image, &Options { targets: urunc, pair_check: !no_pair_check })
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
        commands::Input {
            args: input.args,
            args_from_env: input.args_from_env,
            pair_check: !input.no_pair_check,
            urunc: input.urunc,
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
    /// a tag, `latest`.
    #[arg(value_parser = parse_reference)]
    reference: Reference,
    /// Credentials: USER:PASSWORD, or USER with --password-stdin.
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
    /// Recompress the layers for the push, with the bytes `bimanix build
    /// --compression` writes (the manifest digest changes).
    #[arg(long, value_enum)]
    compression: Option<CompressionArg>,
    /// Write the digest of the pushed manifest (or index) to FILE.
    #[arg(long, value_name = "FILE")]
    digestfile: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum CompressionArg {
    None,
    Gzip,
    Zstd,
}

fn parse_reference(text: &str) -> std::result::Result<Reference, String> {
    Reference::parse(text)
}

impl PushArgs {
    /// The options, once the flags that clap cannot relate are checked
    /// (a usage error exits with 2).
    fn into_options(self) -> Result<commands::push::Options> {
        let creds = match self.creds.as_deref().map(|c| c.split_once(':').map_or((c, None), |(u, p)| (u, Some(p)))) {
            Some(("", _)) => usage("--creds needs a user name: --creds USER:PASSWORD"),
            Some((_, Some(_))) if self.password_stdin => {
                usage("--password-stdin reads the password, so --creds takes the user name only")
            }
            Some((_, None)) if !self.password_stdin => {
                usage("--creds USER needs the password: --creds USER:PASSWORD, or --creds USER --password-stdin")
            }
            other => other.map(|(u, p)| (u.to_string(), p.map(str::to_string))),
        };
        Ok(commands::push::Options {
            image: self.image,
            reference: self.reference,
            creds,
            password_stdin: self.password_stdin,
            connect: Connect {
                tls: TlsOptions { verify: self.tls_verify, cert_dir: self.cert_dir },
                plain_http: self.plain_http,
            },
            compression: self
                .compression
                .map(|c| c.to_possible_value().map_or(String::new(), |v| v.get_name().to_string())),
            digestfile: self.digestfile,
        })
    }
}

/// Exits with clap's usage error (status 2).
fn usage(message: &str) -> ! {
    Cli::command().error(clap::error::ErrorKind::ArgumentConflict, message).exit()
}
