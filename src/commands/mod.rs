//! The commands, on top of the stages: [`build`] reads, checks, plans and
//! writes an image; [`check`] does all of that short of writing;
//! [`inspect`] reads an image of any tool and checks it against urunc's
//! rules; [`index`] combines images of several platforms into one.

pub mod build;
pub mod check;
pub mod index;
pub mod inspect;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::image::plan::Checked;
use crate::input::args::{self, Syntax};
use crate::rules::validate;

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
    let opts =
        validate::Options { pair_check: input.pair_check, source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok() };
    let checked = validate::validate(spec, &opts)?;
    for w in &checked.warnings {
        eprintln!("bimanix: warning: {w}");
    }
    Ok(checked)
}
