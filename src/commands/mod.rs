//! The commands, on top of the stages: [`build`] reads, checks, plans and
//! writes an image; [`check`] does all of that short of writing;
//! [`inspect`] reads an image of any tool and checks it against urunc's
//! rules.

pub mod build;
pub mod check;
pub mod inspect;
#[cfg(test)]
mod regressions;

use std::path::PathBuf;

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

impl Input {
    /// The args file read: `args`, or the file the environment names.
    pub fn args_file(&self) -> Result<PathBuf> {
        match &self.args_from_env {
            Some(var) => std::env::var_os(var)
                .map(PathBuf::from)
                .with_context(|| format!("environment variable {var} (from --args-from-env) is not set")),
            None => Ok(self.args.clone()),
        }
    }
}

/// Reads and validates the input, printing the warnings.
pub fn load(input: &Input) -> Result<Checked> {
    let file = input.args_file()?;
    let spec = match &input.args_from_env {
        Some(_) => args::read_as(&file, Syntax::Json, "mkUruncImage arguments".to_string())?,
        None => args::read(&file, Syntax::of(&file))?,
    };
    let opts =
        validate::Options { pair_check: input.pair_check, source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok() };
    let checked = validate::validate(spec, &opts)?;
    for w in &checked.warnings {
        eprintln!("bimanix: warning: {w}");
    }
    Ok(checked)
}
