//! The urunc versions a build targets, applied to an args file: the legacy
//! `cmdline` bimanix writes only for a targeted version that reads nothing
//! else, and the problems `rules::compat` finds for each targeted version,
//! placed at the args file's keys.

use std::collections::BTreeMap;

use crate::image::plan::{Base, inherit};
use crate::model::oci::ConfigFields;
use crate::model::spec::{Locations, Spec};
use crate::rules::compat::{self, Guest, Options, Verdict};
use crate::rules::urunc::Severity;
use crate::rules::versions::{self, ArgSource, Version};

/// Checks `spec` against the targeted versions, adding the legacy `cmdline`
/// when one of them needs it. `cmd` is the Cmd validation settled on;
/// `base` the top-level base image, whose config the image inherits.
pub fn apply(
    spec: &mut Spec,
    cmd: Option<&[String]>,
    base: Option<&Base>,
    opts: &Options,
    errors: &mut Vec<crate::model::diagnostic::Diagnostic>,
    warnings: &mut Vec<String>,
) {
    let mut config = ConfigFields {
        entrypoint: spec.entrypoint.clone(),
        cmd: cmd.map(<[String]>::to_vec),
        env: spec.env.clone(),
        working_dir: spec.working_dir.clone(),
        ..ConfigFields::default()
    };
    if let Some(base) = base {
        inherit(&mut config, &base.image);
    }
    let (entrypoint, cmd) = (config.entrypoint.unwrap_or_default(), config.cmd.unwrap_or_default());
    legacy_cmdline(&mut spec.annotations, &entrypoint, &cmd, opts, &spec.locations, warnings);
    let guest = Guest {
        keys: &spec.annotations,
        entrypoint: &entrypoint,
        cmd: &cmd,
        env: &config.env,
        working_dir: config.working_dir.as_deref(),
        user: None,
    };
    let verdicts: Vec<Verdict> = opts.targets.versions().iter().map(|&v| compat::evaluate(v, &guest)).collect();
    for problem in compat::problems(&verdicts, opts.pair_check) {
        let key = match (problem.key, problem.field) {
            (Some(key), _) => format!("annotations.{key}"),
            (None, Some(field)) => field.to_string(),
            (None, None) => "annotations".to_string(),
        };
        match problem.severity {
            Severity::Error => errors.push(spec.locations.diag(&key, &problem.message)),
            Severity::Warning => warnings.push(format!("{}: {}", spec.locations.at(&key), problem.message)),
        }
    }
}

/// Sets `cmdline` to Entrypoint + Cmd joined by spaces when it is unset and
/// a targeted version takes the guest's arguments from nothing else (urunc
/// 0.5): other versions read Entrypoint + Cmd, and an image without
/// `cmdline` is what they expect.
fn legacy_cmdline(
    annotations: &mut BTreeMap<String, String>,
    entrypoint: &[String],
    cmd: &[String],
    opts: &Options,
    loc: &Locations,
    warnings: &mut Vec<String>,
) {
    let readers: Vec<Version> =
        opts.targets.versions().iter().copied().filter(|v| v.facts().args == ArgSource::Cmdline).collect();
    let words: Vec<&String> = entrypoint.iter().chain(cmd).collect();
    if annotations.contains_key("cmdline") || readers.is_empty() || words.is_empty() {
        return;
    }
    if let Some(word) = words.iter().find(|w| w.is_empty() || w.contains(char::is_whitespace)) {
        warnings.push(format!(
            "{}: urunc {} reads the arguments only from `cmdline`, which bimanix sets to entrypoint and cmd joined \
             by spaces: the argument {word:?} gets split there",
            loc.at("annotations"),
            versions::names(&readers)
        ));
    }
    let line: Vec<&str> = words.iter().map(|w| w.as_str()).collect();
    annotations.insert("cmdline".to_string(), line.join(" "));
}
