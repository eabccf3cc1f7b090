//! The commands, on top of the stages: [`build`] reads, checks, plans and
//! writes an image; [`check`] does all of that short of writing;
//! [`inspect`] reads an image of any tool and checks it against urunc's
//! rules; [`push`] publishes an image to a registry.

pub mod build;
pub mod check;
pub mod inspect;
pub mod push;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::image::plan::Checked;
use crate::input::args::{self, Syntax};
use crate::model::spec::Spec;
use crate::rules::compat;
use crate::rules::validate;
use crate::rules::versions::Targets;

/// Where `build` and `check` read their input from, and how strictly.
#[derive(Clone, Debug)]
pub struct Input {
    /// The args file: args.nix, or a `.json` file with the same fields.
    pub args: PathBuf,
    /// An environment variable holding the path of a JSON args file (the
    /// Nix builder's way in); overrides `args`.
    pub args_from_env: Option<String>,
    /// Refuse unikernel type / hypervisor pairs urunc does not run.
    pub pair_check: bool,
    /// The urunc versions the image must work on (`--urunc`); overrides the
    /// args file's `urunc`. Neither: the newest release.
    pub urunc: Option<Targets>,
}

/// Reads and validates the input, printing the warnings.
pub fn load(input: &Input) -> Result<Checked> {
    let spec = match &input.args_from_env {
        Some(var) => {
            let p = std::env::var_os(var)
                .with_context(|| format!("environment variable {var} (from --args-from-env) is not set"))?;
            args::read_as(Path::new(&p), Syntax::Json, "mkUruncImage arguments".to_string())?
        }
        None => args::read(&input.args, Syntax::of(&input.args))?,
    };
    let targets = targets(input, &spec)?;
    let opts = validate::Options {
        urunc: compat::Options { targets, pair_check: input.pair_check },
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok(),
    };
    let checked = validate::validate(spec, &opts)?;
    for w in &checked.warnings {
        eprintln!("bimanix: warning: {w}");
    }
    Ok(checked)
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
